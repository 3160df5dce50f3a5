//! What every request to the HTTP listener passes before it reaches REST or
//! MCP: the Host and Origin checks (a web page must not drive the server
//! through a user's browser), the bearer token, and the body size limit.
//! `/healthz` needs no token, so that a load balancer can probe it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use url::{Host, Url};

use super::rest::problem;
use super::tokens::{Tokens, Verdict};

/// The checks' settings.
pub struct Guard {
    pub tokens: Tokens,
    /// `--allow-origin`, beside loopback origins.
    pub origins: Vec<String>,
    /// Names accepted in the Host header.
    pub hosts: Vec<String>,
    /// `--max-request-size`.
    pub max_body: usize,
}

/// The middleware.
pub async fn guard(State(g): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if let Some(refused) = g.refuse(&request) {
        return refused;
    }
    let request = match g.read_body(request).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    next.run(request).await
}

/// How long a client may take to send a request's body once its headers are
/// in: a client trickling bytes must not hold a connection and its buffer.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Guard {
    /// The answer to a request refused for its headers.
    fn refuse(&self, request: &Request) -> Option<Response> {
        let headers = request.headers();
        if let Some(host) = headers.get(header::HOST) {
            let host = host.to_str().unwrap_or("");
            if !self.host_allowed(host) {
                let detail = "the Host header names a host this server does not answer for \
                              (restart it with --allow-host NAME to accept it)";
                return Some(problem(StatusCode::FORBIDDEN, "Host not allowed", detail));
            }
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            if !self.origin_allowed(origin.to_str().unwrap_or("")) {
                let detail = "requests from this web origin are refused (restart the server \
                              with --allow-origin ORIGIN to accept it)";
                return Some(problem(StatusCode::FORBIDDEN, "Origin not allowed", detail));
            }
        }
        if request.uri().path() != "/healthz" {
            let auth = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
            match self.tokens.check(auth) {
                Verdict::Allowed => {}
                Verdict::Missing => return Some(unauthorized(false)),
                Verdict::Invalid => return Some(unauthorized(true)),
            }
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return Some(self.too_large());
        }
        None
    }

    /// The request with its body read into memory, at most `max_body` bytes.
    async fn read_body(&self, request: Request) -> Result<Request, Response> {
        let (parts, body) = request.into_parts();
        let read = axum::body::to_bytes(body, self.max_body);
        let Ok(read) = tokio::time::timeout(BODY_TIMEOUT, read).await else {
            return Err(problem(
                StatusCode::REQUEST_TIMEOUT,
                "Request body too slow",
                "the request body did not arrive in time; send it whole and at once",
            ));
        };
        match read {
            Ok(bytes) => Ok(Request::from_parts(parts, Body::from(bytes))),
            Err(e) if is_length_limit(&e) => Err(self.too_large()),
            Err(_) => Err(problem(
                StatusCode::BAD_REQUEST,
                "Unreadable body",
                "the request body could not be read to its end",
            )),
        }
    }

    fn too_large(&self) -> Response {
        let detail = format!(
            "the request body is larger than the server accepts ({} bytes; the operator sets \
             it with --max-request-size)",
            self.max_body
        );
        problem(StatusCode::PAYLOAD_TOO_LARGE, "Request too large", &detail)
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        self.hosts.iter().any(|h| {
            h.eq_ignore_ascii_case(host) || h.trim_matches(['[', ']']).eq_ignore_ascii_case(name)
        })
    }

    /// Loopback origins (any port), `--allow-origin` ones, nothing else.
    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim();
        if self
            .origins
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let Ok(url) = Url::parse(origin) else {
            return false;
        };
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        match url.host() {
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
    }
}

/// The host of a Host header, without its port (`[::1]:80` → `::1`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.to_string().contains("length limit exceeded") {
            return true;
        }
        source = s.source();
    }
    false
}

/// 401, with the challenge RFC 6750 asks for.
fn unauthorized(presented: bool) -> Response {
    let (challenge, detail) = if presented {
        (
            r#"Bearer realm="arazzo", error="invalid_token""#,
            "the bearer token is not one this server accepts",
        )
    } else {
        (
            r#"Bearer realm="arazzo""#,
            "this server needs a bearer token: send `Authorization: Bearer TOKEN` with a token \
             from the operator's --token-file",
        )
    };
    let mut response = problem(StatusCode::UNAUTHORIZED, "Unauthorized", detail);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(origins: &[&str]) -> Guard {
        Guard {
            tokens: Tokens::default(),
            origins: origins.iter().map(|s| s.to_string()).collect(),
            hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            max_body: 10,
        }
    }

    #[test]
    fn origins() {
        let g = guard(&["https://console.example.com"]);
        assert!(g.origin_allowed("http://localhost:6274"));
        assert!(g.origin_allowed("http://127.0.0.1"));
        assert!(g.origin_allowed("http://[::1]:3000"));
        assert!(g.origin_allowed("https://console.example.com"));
        assert!(!g.origin_allowed("https://console.example.com:8443"));
        assert!(!g.origin_allowed("https://evil.example"));
        assert!(!g.origin_allowed("http://localhost.evil.example"));
        assert!(!g.origin_allowed("null"));
        assert!(!g.origin_allowed("file://"));
    }

    #[test]
    fn hosts() {
        let g = guard(&[]);
        assert!(g.host_allowed("localhost:8080"));
        assert!(g.host_allowed("127.0.0.1"));
        assert!(g.host_allowed("[::1]:9"));
        assert!(!g.host_allowed("evil.example:8080"));
    }
}
