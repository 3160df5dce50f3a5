//! Sending a built request: redirects followed by hand so that credentials never
//! leave the origin the user named, HTTPS never downgraded, and response bodies
//! read up to a limit.

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use url::Url;

use super::request::BuiltRequest;
use super::{header, Received};
use crate::engine::outcome::ErrorKind;

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// Headers that carry credentials whatever the description says.
const ALWAYS_SECRET: &[&str] = &["authorization", "proxy-authorization", "cookie"];

type SendError = (ErrorKind, String);

/// One redirect followed (or refused) while sending a request, for traces.
#[derive(Debug, Clone)]
pub struct Hop {
    /// The redirect status (301, 302, 303, 307, 308).
    pub status: u16,
    /// The `Location` header as the server sent it.
    pub location: String,
    /// The absolute URL it resolves to (empty when it does not resolve).
    pub url: String,
}

/// `host` or `host:port` of a URL, for messages.
fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// A link-local address (169.254.0.0/16, fe80::/10, and the IPv4 ones inside
/// IPv6 forms: `::ffff:a.b.c.d`, `::a.b.c.d`, `64:ff9b::a.b.c.d`), where
/// cloud metadata services answer. The URL parser has already turned hosts
/// written as decimal, hex or octal integers into IPv4 addresses.
pub(crate) fn is_link_local(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => {
            let seg = ip.segments();
            let nat64 = seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            let embedded = if nat64 {
                let [a, b, c, d] = ip.octets()[12..] else {
                    return false;
                };
                Some(std::net::Ipv4Addr::new(a, b, c, d))
            } else {
                ip.to_ipv4()
            };
            (seg[0] & 0xffc0) == 0xfe80 || embedded.is_some_and(|v4| v4.is_link_local())
        }
        _ => false,
    }
}

/// Sends `req`, following redirects. A redirect to another origin (scheme, host,
/// port) drops `Authorization`, cookies, every header named by a security scheme
/// and every header whose value holds a secret; a redirect from https to http is
/// refused.
///
/// This is the one call through which the engine reaches HTTP: an attempt hands
/// it a built request and gets back a response (or why there is none).
pub async fn send(
    req: &BuiltRequest,
    client: &reqwest::Client,
    max_bytes: usize,
    redactor: &crate::redact::Redactor,
    hops: &mut Vec<Hop>,
) -> Result<Received, SendError> {
    let mut chain = Chain::new(req)?;
    for hop in 0..=MAX_REDIRECTS {
        let resp = chain
            .request(client)?
            .send()
            .await
            .map_err(|e| transport_error(&e, hops, &chain.url))?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
        match (redirect, location) {
            (true, Some(loc)) if hop < MAX_REDIRECTS => {
                chain.follow(status, &loc, redactor, hops)?;
            }
            _ => return read(resp, status, max_bytes, redactor).await,
        }
    }
    Err((
        ErrorKind::Response,
        format!(
            "more than {MAX_REDIRECTS} redirects (the last to {})",
            host_port(&chain.url)
        ),
    ))
}

/// A request along its redirect chain: what the next hop sends, and where the
/// chain started.
struct Chain<'r> {
    req: &'r BuiltRequest,
    /// The URL the user's description named: leaving its origin strips
    /// credentials.
    first: Url,
    method: reqwest::Method,
    url: Url,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    /// Whether the credential headers have been dropped already.
    stripped: bool,
}

impl<'r> Chain<'r> {
    /// The first hop: `req` as built, its method and URL checked.
    fn new(req: &'r BuiltRequest) -> Result<Chain<'r>, SendError> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|_| {
            (
                ErrorKind::Request,
                format!("`{}` is not an HTTP method", req.method),
            )
        })?;
        let first = Url::parse(&req.url)
            .map_err(|e| (ErrorKind::Request, format!("the URL is invalid: {e}")))?;
        Ok(Chain {
            req,
            url: first.clone(),
            first,
            method,
            headers: req.headers.clone(),
            body: req.body_bytes.clone(),
            stripped: false,
        })
    }

    /// The request of the current hop, its header names and values checked.
    fn request(&self, client: &reqwest::Client) -> Result<reqwest::RequestBuilder, SendError> {
        let mut rb = client.request(self.method.clone(), self.url.clone());
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                (
                    ErrorKind::Request,
                    format!("`{k}` is not a valid header name"),
                )
            })?;
            // Bytes, not `from_str`: http 1.6 made `from_str` ASCII-only,
            // while a field value may carry other bytes (RFC 9110 obs-text),
            // as non-ASCII text has always been sent.
            let value = HeaderValue::from_bytes(v.as_bytes()).map_err(|_| {
                (
                    ErrorKind::Request,
                    format!("the value of header `{k}` has characters a header cannot carry"),
                )
            })?;
            rb = rb.header(name, value);
        }
        if let Some(b) = &self.body {
            rb = rb.body(b.clone());
        }
        Ok(rb)
    }

    /// Moves the chain to the redirect (`status`) target `loc`, recorded in
    /// `hops`, or refuses it. Leaving the first origin drops the credentials;
    /// 303 (and 301/302 after a POST, as browsers do) continue with a GET.
    fn follow(
        &mut self,
        status: u16,
        loc: &str,
        redactor: &crate::redact::Redactor,
        hops: &mut Vec<Hop>,
    ) -> Result<(), SendError> {
        let next = self.url.join(loc);
        hops.push(Hop {
            status,
            location: loc.to_string(),
            url: next.as_ref().map(|u| u.to_string()).unwrap_or_default(),
        });
        let next = next.map_err(|e| {
            (
                ErrorKind::Response,
                format!("the server redirected ({status}) to an invalid URL: {e}"),
            )
        })?;
        refuse_target(&self.url, &next, status)?;
        let to_get =
            status == 303 || (matches!(status, 301 | 302) && self.method == reqwest::Method::POST);
        if next.origin() != self.first.origin() {
            self.leave_origin(&next, status, !to_get, redactor)?;
        }
        if to_get {
            self.method = reqwest::Method::GET;
            self.body = None;
            self.headers.retain(|(k, _)| {
                !k.eq_ignore_ascii_case("content-type") && !k.eq_ignore_ascii_case("content-length")
            });
        }
        self.url = next;
        Ok(())
    }

    /// A redirect to `next`, another origin than the first: refused when the
    /// body it would keep (`keeps_body`) holds a secret; otherwise the headers
    /// that carry credentials are dropped, once.
    fn leave_origin(
        &mut self,
        next: &Url,
        status: u16,
        keeps_body: bool,
        redactor: &crate::redact::Redactor,
    ) -> Result<(), SendError> {
        if keeps_body
            && self
                .body
                .as_ref()
                .is_some_and(|b| redactor.finds_secret(&String::from_utf8_lossy(b)))
        {
            return Err((
                ErrorKind::Response,
                format!(
                    "the server redirected ({status}) to another origin (`{}`) and the request body holds a secret; arazzo does not send it there",
                    next.host_str().unwrap_or("")
                ),
            ));
        }
        if !self.stripped {
            let req = self.req;
            self.headers
                .retain(|(k, v)| !carries_secret(k, v, req, redactor));
            self.stripped = true;
        }
        Ok(())
    }
}

/// Refuses a redirect (`status`) from `url` to `next` that arazzo never
/// follows: to a link-local address, from https to anything else, or to a
/// scheme other than http(s).
fn refuse_target(url: &Url, next: &Url, status: u16) -> Result<(), SendError> {
    if is_link_local(next) {
        return Err((
            ErrorKind::Response,
            format!(
                "the server redirected ({status}) to {}, a link-local address (where cloud metadata services answer); arazzo does not follow redirects there",
                host_port(next)
            ),
        ));
    }
    if url.scheme() == "https" && next.scheme() != "https" {
        return Err((
            ErrorKind::Response,
            format!(
                "the server redirected from https to {} (`{}`); arazzo refuses to downgrade a secure request",
                next.scheme(),
                next.host_str().unwrap_or("")
            ),
        ));
    }
    if !matches!(next.scheme(), "http" | "https") {
        return Err((
            ErrorKind::Response,
            format!(
                "the server redirected to a `{}` URL, which arazzo does not follow",
                next.scheme()
            ),
        ));
    }
    Ok(())
}

/// A request that got no response, as a transport error; after a redirect it
/// says which one was being followed.
fn transport_error(e: &reqwest::Error, hops: &[Hop], url: &Url) -> SendError {
    let why = crate::http::describe_error(e);
    match hops.last() {
        Some(h) => (
            ErrorKind::Transport,
            format!(
                "following a redirect ({}) to {}: {why}",
                h.status,
                host_port(url)
            ),
        ),
        None => (ErrorKind::Transport, why),
    }
}

fn carries_secret(
    name: &str,
    value: &str,
    req: &BuiltRequest,
    redactor: &crate::redact::Redactor,
) -> bool {
    let lname = name.to_ascii_lowercase();
    ALWAYS_SECRET.contains(&lname.as_str())
        || req.secret_headers.iter().any(|h| h == &lname)
        || req
            .secrets
            .iter()
            .any(|s| !s.is_empty() && value.contains(s.as_str()))
        || redactor.finds_secret(value)
}

async fn read(
    mut resp: reqwest::Response,
    status: u16,
    max_bytes: usize,
    redactor: &crate::redact::Redactor,
) -> Result<Received, SendError> {
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let limit = |len: Option<u64>| {
        let size = len.map(|l| format!(" ({l} bytes)")).unwrap_or_default();
        (
            ErrorKind::Response,
            format!(
                "the response body{size} is over the limit of {max_bytes} bytes (raise it with --max-response-size)"
            ),
        )
    };
    if let Some(len) = resp.content_length() {
        if len > max_bytes as u64 {
            return Err(limit(Some(len)));
        }
    }
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > max_bytes {
                    return Err(limit(None));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err((
                    ErrorKind::Transport,
                    format!(
                        "the response was cut off: {}",
                        crate::http::describe_error(&e)
                    ),
                ))
            }
        }
    }
    let content_type = header(&headers, "content-type").unwrap_or("");
    let (body, body_error) = parse_body(content_type, &bytes, redactor);
    Ok(Received {
        status,
        headers,
        body,
        body_error,
    })
}

/// How much of an unreadable body a message shows.
const SHOWN_BAD_BODY: usize = 200;

/// JSON media types (and bodies without a media type that parse as JSON) become a
/// JSON tree; anything else is kept as text. A body declared as JSON that does not
/// parse is kept as text too, with the reason it could not be read: expressions
/// into it are then errors, not undefined values.
pub fn parse_body(
    content_type: &str,
    bytes: &[u8],
    redactor: &crate::redact::Redactor,
) -> (Value, Option<String>) {
    if bytes.is_empty() {
        return (Value::Null, None);
    }
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let declared = ct == "application/json" || ct.ends_with("+json");
    let text = || String::from_utf8_lossy(bytes).into_owned();
    if !declared && !ct.is_empty() {
        return (Value::String(text()), None);
    }
    // serde_json stops at 128 levels of nesting, so a hostile body never
    // builds a value deep enough to overflow the stack.
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => (v, None),
        Err(_) if !declared => (Value::String(text()), None),
        Err(e) => {
            let text = text();
            let why = if e.to_string().starts_with("recursion limit exceeded") {
                format!(
                    "is nested more than 128 levels deep (at line {} column {}), deeper than arazzo reads",
                    e.line(),
                    e.column()
                )
            } else if e.is_eof() {
                format!("is cut off: not valid JSON ({e}), though its content type is `{ct}`")
            } else {
                format!("is not valid JSON ({e}), though its content type is `{ct}`")
            };
            let shown = redactor.redact(text.trim_start()).into_owned();
            let mut excerpt: String = shown.chars().take(SHOWN_BAD_BODY).collect();
            if excerpt.len() < shown.len() {
                excerpt.push('…');
            }
            let error = format!(
                "the response body {why}: {}",
                excerpt.replace(['\n', '\r'], " ")
            );
            (Value::String(text), Some(error))
        }
    }
}
