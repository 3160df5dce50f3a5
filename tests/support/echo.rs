//! A small recording HTTP server for black-box engine tests.
//!
//! Every request is recorded as it arrived (method, raw path, raw query,
//! lower-cased headers, raw body). The answer comes from, in order:
//!
//! 1. the FIFO script of the request's route (`"METHOD /path"`, then `"/path"`),
//! 2. the static files (`path -> (content type, text)`), so a test can serve an
//!    OpenAPI or Arazzo document over http,
//! 3. the global FIFO script,
//! 4. otherwise `200 application/json` echoing
//!    `{method, path, query, headers, body}`.
//!
//! The server runs on its own tokio runtime, so plain (non-async) `#[test]`
//! functions can start it, point the `arazzo` binary at `base_url()`, and look
//! at `requests()` afterwards. Dropping it stops the server.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Map, Value};

/// One HTTP request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path without the query string, exactly as sent (not percent-decoded).
    pub path: String,
    /// The query string exactly as sent, without the `?`.
    pub query: Option<String>,
    /// Header names are lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The raw body (lossily decoded as UTF-8).
    pub body: String,
}

impl Recorded {
    /// First value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    /// Every value of the header `name` (case-insensitive), in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body parsed as JSON; panics with the text when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {:?}", self.body))
    }

    /// The query string split into percent-decoded `(name, value)` pairs
    /// (`+` is read as a space, as in HTML forms).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_pairs(self.query.as_deref().unwrap_or(""))
    }

    /// The body split into percent-decoded `(name, value)` pairs, for
    /// `application/x-www-form-urlencoded` bodies.
    pub fn form_pairs(&self) -> Vec<(String, String)> {
        form_pairs(&self.body)
    }

    /// `METHOD /path?query`, for assertion messages.
    pub fn line(&self) -> String {
        match &self.query {
            Some(q) => format!("{} {}?{q}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// A scripted response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// How long the answer waits before it goes.
    pub delay: std::time::Duration,
}

impl Reply {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: std::time::Duration::ZERO,
        }
    }

    /// `status` with `value` as an `application/json` body.
    pub fn json(status: u16, value: &Value) -> Reply {
        Reply::new(status)
            .header("content-type", "application/json")
            .body(&value.to_string())
    }

    /// `status` with `body` as text of the given media type.
    pub fn text(status: u16, content_type: &str, body: &str) -> Reply {
        Reply::new(status)
            .header("content-type", content_type)
            .body(body)
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: &str) -> Reply {
        self.body = body.to_string();
        self
    }

    /// Sends the answer only after `delay`.
    pub fn after(mut self, delay: std::time::Duration) -> Reply {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    routes: HashMap<String, VecDeque<Reply>>,
    global: VecDeque<Reply>,
    files: HashMap<String, (String, String)>,
    /// How long every answer other than a static file waits before it goes.
    delay: Option<std::time::Duration>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    // A panicking test thread must not wedge the server for later asserts.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running server.
pub struct Echo {
    shared: Shared,
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Echo {
    /// Starts a server on `127.0.0.1:<ephemeral port>`.
    pub fn start() -> Echo {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind echo to 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("set echo listener non-blocking");
        let addr = listener.local_addr().expect("echo local address");
        let shared: Shared = Arc::default();

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("echo-server")
            .enable_all()
            .build()
            .expect("build echo runtime");
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).expect("register echo listener")
        };
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Echo {
            shared,
            addr,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Serves `text` as `content_type` at `path` (exact match, any method).
    pub fn serve(&self, path: &str, content_type: &str, text: &str) {
        lock(&self.shared).files.insert(
            path.to_string(),
            (content_type.to_string(), text.to_string()),
        );
    }

    /// Queues `reply` for the next request that no route script or file answers.
    pub fn reply(&self, reply: Reply) {
        lock(&self.shared).global.push_back(reply);
    }

    /// Queues `reply` for the next request on `route`: `"/path"` (any method) or
    /// `"METHOD /path"`. The path is matched exactly, without the query.
    pub fn reply_on(&self, route: &str, reply: Reply) {
        lock(&self.shared)
            .routes
            .entry(route.to_string())
            .or_default()
            .push_back(reply);
    }

    /// Makes every answer other than a static file wait `delay` first (the
    /// requests still overlap: each waits on its own).
    pub fn delay_answers(&self, delay: std::time::Duration) {
        lock(&self.shared).delay = Some(delay);
    }

    /// Every request received so far, in arrival order (static files included).
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared).requests.clone()
    }

    /// The requests received so far, minus those for static files.
    pub fn api_requests(&self) -> Vec<Recorded> {
        let inner = lock(&self.shared);
        inner
            .requests
            .iter()
            .filter(|r| !inner.files.contains_key(&r.path))
            .cloned()
            .collect()
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn handle(State(shared): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };

    let (delay, scripted) = match answer_for(&shared, &recorded) {
        Ok(found) => found,
        Err(file) => return file,
    };
    let wait = delay.unwrap_or_default() + scripted.as_ref().map(|r| r.delay).unwrap_or_default();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if let Some(reply) = scripted {
        return respond(&reply);
    }

    let mut headers = Map::new();
    for (k, v) in &recorded.headers {
        let joined = match headers.get(k) {
            Some(Value::String(prev)) => format!("{prev}, {v}"),
            _ => v.clone(),
        };
        headers.insert(k.clone(), Value::String(joined));
    }
    respond(&Reply::json(
        200,
        &json!({
            "method": recorded.method,
            "path": recorded.path,
            "query": recorded.query,
            "headers": headers,
            "body": recorded.body,
        }),
    ))
}

/// The scripted answer to `recorded` (route scripts first, then the global
/// script) with the server's delay, or `Err` with a static file's answer.
fn answer_for(
    shared: &Shared,
    recorded: &Recorded,
) -> Result<(Option<std::time::Duration>, Option<Reply>), Response> {
    let mut inner = lock(shared);
    inner.requests.push(recorded.clone());
    let with_method = format!("{} {}", recorded.method, recorded.path);
    for key in [with_method.as_str(), recorded.path.as_str()] {
        if let Some(reply) = inner.routes.get_mut(key).and_then(VecDeque::pop_front) {
            return Ok((inner.delay, Some(reply)));
        }
    }
    if let Some((ct, text)) = inner.files.get(&recorded.path) {
        return Err(respond(&Reply::text(200, ct, text)));
    }
    Ok((inner.delay, inner.global.pop_front()))
}

fn respond(reply: &Reply) -> Response {
    let mut resp = Response::new(Body::from(reply.body.clone()));
    *resp.status_mut() = StatusCode::from_u16(reply.status).expect("scripted status is valid");
    for (k, v) in &reply.headers {
        resp.headers_mut().append(
            HeaderName::from_bytes(k.as_bytes()).expect("scripted header name is valid"),
            HeaderValue::from_bytes(v.as_bytes()).expect("scripted header value is valid"),
        );
    }
    resp
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s`; `+` is a space when `plus_is_space`.
pub fn decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}
