//! A route-matching stand-in for the mock HTTP layer of Jentic's arazzo-runner
//! fixture harness (`runner/tests/test_fixture_discovery.py` and
//! `runner/tests/mocks/http_client.py` in jentic/arazzo-engine).
//!
//! It answers from a fixture's `custom_mocks` and records every request. Unlike the
//! harness, which registers its schema-generated mocks of each OpenAPI description
//! before that description's custom mocks (so a generated answer can shadow a custom
//! one whenever its URL pattern matches), custom mocks always come first here.
//!
//! - A mock matches on method, on path and, when the mock gives them, on
//!   `query_params`. A mock path is a path (`/pet/findByTags`) or an absolute URL
//!   whose path is used (`https://xkcd.com/info.0.json`); it may be templated
//!   (`/pet/{petId}/coupons`, a `{name}` matching any text within one segment).
//!   A request path matches the mock path as it is, or after the base path of one
//!   of the sources (`/v1` for `https://api.example.com/v1`), because the fixtures
//!   write both `/echo` and `/bnpl/v1/products` for operations under a base path.
//! - Workflow-level mocks come before fixture-level ones (the harness registers
//!   them first), and within each level a literal path is preferred over a
//!   templated one; otherwise the first mock in file order wins.
//! - `query_params` compare as the harness's `RequestMatcher` compares them (its
//!   fixture loader never passes them on, so there they are ignored): the name
//!   exactly or else case-insensitively; a list matches when it shares at least one
//!   value with the values sent (a sent value is also split at commas); a scalar
//!   matches when one sent value equals its text.
//! - A mock answers `status_code` (default 200) with `response` as JSON (default
//!   `{}`), plus `headers` and `text` when a fixture gives them (the harness drops
//!   those two; serving them is what the fixture authors meant).
//! - Keys the harness never reads are ignored here too: `url` instead of `path`
//!   (spotify), `request_params` and `request_body` (spotify, discord).
//!
//! A request no mock matches is answered the way the harness's generic mocks do:
//! for the OpenAPI operation whose path (under its source's base path) and method
//! match, status 200 with a body generated deterministically from the operation's
//! `200` (else `201`) `application/json` schema, exactly as
//! `_generate_response_data_from_schema` does it (one level deep, no `$ref`
//! resolution, `test-<name>` strings, `123` integers, …); an empty result becomes
//! `{"status": "workflow_complete"}`. A request no operation matches gets the
//! harness's default answer, 404 `{"error": "Not found"}`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

/// One `custom_mocks` entry.
#[derive(Debug, Clone)]
pub struct MockRule {
    pub method: String,
    /// The path part of the mock's `path`, possibly templated.
    pub path: String,
    pub query_params: Option<Map<String, Value>>,
    pub status: u16,
    pub response: Value,
    pub headers: Vec<(String, String)>,
    pub text: Option<String>,
}

impl MockRule {
    /// Reads one `custom_mocks` entry. `default_method` is what the harness assumes
    /// when `method` is missing: `get` for fixture-level mocks, `post` for
    /// workflow-level ones. Entries without `path` are skipped, as the harness does.
    pub fn from_config(entry: &Value, default_method: &str) -> Option<MockRule> {
        let path = entry.get("path")?.as_str()?;
        let path = path_of(path);
        let headers = entry
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), scalar_text(v)))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        Some(MockRule {
            method: entry
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or(default_method)
                .to_ascii_uppercase(),
            path,
            query_params: entry
                .get("query_params")
                .and_then(Value::as_object)
                .cloned(),
            status: entry
                .get("status_code")
                .and_then(Value::as_u64)
                .map_or(200, |s| s as u16),
            response: entry.get("response").cloned().unwrap_or_else(|| json!({})),
            headers,
            text: entry
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    fn is_templated(&self) -> bool {
        self.path.contains('{')
    }
}

/// One OpenAPI source the mock stands in for.
#[derive(Debug, Clone)]
pub struct MockSource {
    /// The source description name in the Arazzo document.
    pub name: String,
    /// The path of the source's first server URL, without a trailing `/`
    /// (`/v1` for `https://api.example.com/v1/`, empty for a bare host).
    pub base_path: String,
    pub openapi: Value,
}

impl MockSource {
    pub fn new(name: &str, openapi: Value) -> MockSource {
        let server = openapi
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .unwrap_or("");
        let base_path = path_of(server).trim_end_matches('/').to_string();
        MockSource {
            name: name.to_string(),
            base_path,
            openapi,
        }
    }
}

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The query string as sent, without `?`.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// What answered: `mock <METHOD> <path>`, `generated <METHOD> <path>` or
    /// `not found`.
    pub answered_by: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `METHOD /path?query`.
    pub fn line(&self) -> String {
        match &self.query {
            Some(q) => format!("{} {}?{q}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }

    /// The query parameters, percent-decoded (`+` is a space), in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query.as_deref().map(parse_query).unwrap_or_default()
    }
}

struct Shared {
    /// Workflow-level mocks, then fixture-level mocks.
    levels: Vec<Vec<MockRule>>,
    sources: Vec<MockSource>,
    received: Vec<Received>,
}

/// The running mock server. Dropping it stops the server.
pub struct JenticMock {
    shared: Arc<Mutex<Shared>>,
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl JenticMock {
    /// Starts a server on 127.0.0.1. `workflow_mocks` take precedence over
    /// `fixture_mocks`.
    pub fn start(
        sources: Vec<MockSource>,
        fixture_mocks: Vec<MockRule>,
        workflow_mocks: Vec<MockRule>,
    ) -> JenticMock {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Mutex::new(Shared {
            levels: vec![workflow_mocks, fixture_mocks],
            sources,
            received: Vec::new(),
        }));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        JenticMock {
            shared,
            port,
            _runtime: runtime,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `--server` URL for a source: this server plus the source's base path.
    pub fn server_url(&self, source: &MockSource) -> String {
        format!("{}{}", self.base_url(), source.base_path)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    by: String,
}

async fn handle(State(shared): State<Arc<Mutex<Shared>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let answer = {
        let mut s = shared.lock().unwrap();
        let answer = answer(&s, &method, &path, query.as_deref());
        s.received.push(Received {
            method: method.clone(),
            path,
            query,
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
            answered_by: answer.by.clone(),
        });
        answer
    };
    let mut headers = HeaderMap::new();
    let mut has_type = false;
    for (k, v) in &answer.headers {
        has_type |= k.eq_ignore_ascii_case("content-type");
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    if !has_type {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    (
        StatusCode::from_u16(answer.status).unwrap(),
        headers,
        answer.body,
    )
        .into_response()
}

fn answer(s: &Shared, method: &str, path: &str, query: Option<&str>) -> Answer {
    let path = decode_path(path);
    let sent = query.map(parse_query).unwrap_or_default();
    let bases: Vec<&str> = s.sources.iter().map(|x| x.base_path.as_str()).collect();
    for level in &s.levels {
        for templated in [false, true] {
            let found = level.iter().find(|m| {
                m.is_templated() == templated
                    && m.method.eq_ignore_ascii_case(method)
                    && path_matches(&m.path, &path, &bases)
                    && m.query_params
                        .as_ref()
                        .is_none_or(|q| query_matches(q, &sent))
            });
            if let Some(m) = found {
                let body = match (&m.text, &m.response) {
                    (Some(t), Value::Object(o)) if o.is_empty() => t.clone(),
                    (_, v) => v.to_string(),
                };
                return Answer {
                    status: m.status,
                    headers: m.headers.clone(),
                    body,
                    by: format!("mock {} {}", m.method, m.path),
                };
            }
        }
    }
    if let Some((template, operation)) = find_operation(&s.sources, method, &path) {
        let mut data = generate_response_data(operation);
        if is_falsy(&data) {
            data = json!({"status": "workflow_complete"});
        }
        return Answer {
            status: 200,
            headers: vec![],
            body: data.to_string(),
            by: format!("generated {} {template}", method.to_ascii_uppercase()),
        };
    }
    Answer {
        status: 404,
        headers: vec![],
        body: json!({"error": "Not found"}).to_string(),
        by: "not found".into(),
    }
}

/// The path of a URL (`https://host/a/b` → `/a/b`), or the text itself when it is
/// not an absolute URL.
fn path_of(url: &str) -> String {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let rest = rest.split(['?', '#']).next().unwrap_or("");
            return match rest.find('/') {
                Some(i) => rest[i..].to_string(),
                None => String::new(),
            };
        }
    }
    url.split(['?', '#']).next().unwrap_or("").to_string()
}

fn decode_path(path: &str) -> String {
    path.split('/')
        .map(|seg| percent_decode_str(seg).decode_utf8_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// True when `path` is `template`, or a source base path followed by `template`.
pub fn path_matches(template: &str, path: &str, bases: &[&str]) -> bool {
    let template = template.trim_end_matches('/');
    let path = path.trim_end_matches('/');
    if template_matches(template, path) {
        return true;
    }
    bases.iter().any(|base| {
        !base.is_empty()
            && path
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with('/') && template_matches(template, rest))
    })
}

/// Segment-by-segment match where `{name}` stands for one or more characters of
/// a single segment.
pub fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| segment_matches(t, p))
}

fn segment_matches(template: &str, text: &str) -> bool {
    match template.find('{') {
        None => template == text,
        Some(open) => {
            let Some(close) = template[open..].find('}').map(|c| open + c) else {
                return template == text;
            };
            let (prefix, rest) = (&template[..open], &template[close + 1..]);
            let Some(text) = text.strip_prefix(prefix) else {
                return false;
            };
            // The placeholder takes at least one character; try every split.
            (1..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .any(|i| segment_matches(rest, &text[i..]))
        }
    }
}

fn query_matches(expected: &Map<String, Value>, sent: &[(String, String)]) -> bool {
    expected.iter().all(|(key, want)| {
        let mut values: Vec<&str> = sent
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            // The harness falls back to the first case-insensitive match.
            if let Some((k, _)) = sent.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                values = sent
                    .iter()
                    .filter(|(k2, _)| k2 == k)
                    .map(|(_, v)| v.as_str())
                    .collect();
            }
        }
        if values.is_empty() {
            return false;
        }
        match want {
            Value::Array(items) => {
                let sent: Vec<&str> = values.iter().flat_map(|v| v.split(',')).collect();
                items
                    .iter()
                    .any(|i| sent.iter().any(|s| s.trim() == scalar_text(i)))
            }
            other => values.contains(&scalar_text(other).as_str()),
        }
    })
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// The operation of any source whose path and method match, a literal path
/// before a templated one.
fn find_operation<'a>(
    sources: &'a [MockSource],
    method: &str,
    path: &str,
) -> Option<(String, &'a Value)> {
    let method = method.to_ascii_lowercase();
    if !METHODS.contains(&method.as_str()) {
        return None;
    }
    for templated in [false, true] {
        for source in sources {
            let Some(paths) = source.openapi.get("paths").and_then(Value::as_object) else {
                continue;
            };
            for (template, item) in paths {
                if template.contains('{') != templated {
                    continue;
                }
                let Some(op) = item.get(&method) else {
                    continue;
                };
                let full = format!("{}{template}", source.base_path);
                if template_matches(full.trim_end_matches('/'), path.trim_end_matches('/')) {
                    return Some((full, op));
                }
            }
        }
    }
    None
}

/// Python truthiness of a JSON value, as the harness tests `if not response_data`.
fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

/// The harness's `_generate_response_data_from_schema`, rule for rule.
pub fn generate_response_data(operation: &Value) -> Value {
    let responses = operation.get("responses");
    let pick = |code: &str| responses.and_then(|r| r.get(code)).filter(|v| !is_falsy(v));
    let Some(success) = pick("200").or_else(|| pick("201")) else {
        return json!({});
    };
    let schema = success
        .pointer("/content/application~1json/schema")
        .filter(|v| !is_falsy(v));
    let Some(schema) = schema else {
        return json!({});
    };
    let type_of = |s: &Value| s.get("type").and_then(Value::as_str).map(str::to_string);
    let properties = |s: &Value| {
        s.get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    match type_of(schema).as_deref() {
        Some("object") => {
            let mut out = Map::new();
            for (name, prop) in properties(schema) {
                let value = match type_of(&prop).as_deref() {
                    Some("string") => match prop.get("format").and_then(Value::as_str) {
                        Some("date-time") => json!("2023-01-01T12:00:00Z"),
                        Some("uuid") => json!("00000000-0000-0000-0000-000000000000"),
                        Some("email") => json!("test@example.com"),
                        _ => match prop.pointer("/enum/0") {
                            Some(first) => first.clone(),
                            None => json!(format!("test-{name}")),
                        },
                    },
                    Some("integer") => json!(123),
                    Some("number") => json!(123.45),
                    Some("boolean") => json!(true),
                    Some("array") => {
                        let items = prop.get("items").cloned().unwrap_or_else(|| json!({}));
                        match type_of(&items).as_deref() {
                            Some("string") => json!(["test-item"]),
                            Some("integer") => json!([123]),
                            Some("number") => json!([123.45]),
                            Some("boolean") => json!([true]),
                            Some("object") => json!([{"id": 1, "name": "test-object"}]),
                            _ => json!([]),
                        }
                    }
                    Some("object") => {
                        if properties(&prop).contains_key("id") {
                            json!({"id": 123})
                        } else {
                            json!({"name": format!("test-{name}")})
                        }
                    }
                    _ => continue,
                };
                out.insert(name, value);
            }
            Value::Object(out)
        }
        Some("array") => {
            let items = schema.get("items").cloned().unwrap_or_else(|| json!({}));
            match type_of(&items).as_deref() {
                Some("object") => {
                    let mut item = Map::new();
                    for (name, prop) in properties(&items) {
                        let value = match type_of(&prop).as_deref() {
                            Some("string") => json!(format!("test-{name}")),
                            Some("integer") => json!(123),
                            Some("number") => json!(123.45),
                            Some("boolean") => json!(true),
                            _ => continue,
                        };
                        item.insert(name, value);
                    }
                    json!([item])
                }
                Some("string") => json!(["test-item-1", "test-item-2"]),
                Some("integer") => json!([123, 456]),
                Some("number") => json!([123.45, 678.9]),
                Some("boolean") => json!([true, false]),
                _ => json!([]),
            }
        }
        _ => json!({"result": "success"}),
    }
}
