//! A stateful local stand-in for the eight Composio Platform API v3
//! operations that the provisioning/teardown workflows call.
//!
//! Behaviour follows `/work/shared/reference/composio-ops.md`. The server runs
//! on its own tokio runtime, so plain (non-async) `#[test]` functions can start
//! it, point the `arazzo` binary at `base_url()`, and inspect what happened via
//! `requests()` and `state()` afterwards.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};

/// Host used to build `mcp_url` and the `commands.*` strings.
pub const MCP_URL_BASE: &str = "https://backend.composio.dev/v3/mcp/";

const AUTH_SCHEMES: &[&str] = &[
    "OAUTH2",
    "OAUTH1",
    "API_KEY",
    "BASIC",
    "BILLCOM_AUTH",
    "BEARER_TOKEN",
    "GOOGLE_SERVICE_ACCOUNT",
    "NO_AUTH",
    "BASIC_WITH_JWT",
    "CALCOM_AUTH",
    "SERVICE_ACCOUNT",
    "SAML",
    "DCR_OAUTH",
];

/// One HTTP request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path without the query string, exactly as sent (not percent-decoded).
    pub path: String,
    pub query: Option<String>,
    /// Header names are lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, when it was non-empty valid JSON.
    pub body: Option<Value>,
    pub raw_body: String,
}

impl Recorded {
    /// First value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What is currently live in the stand-in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Auth config ids that have not been deleted, in creation order.
    pub auth_configs: Vec<String>,
    /// MCP server ids that have not been (soft-)deleted, in creation order.
    pub servers: Vec<String>,
    /// `(server_id, instance_id)` for every instance on a live server.
    /// Instances of a deleted server are unreachable and therefore not listed.
    pub instances: Vec<(String, String)>,
}

impl Snapshot {
    /// True when nothing is left behind.
    pub fn is_empty(&self) -> bool {
        self.auth_configs.is_empty() && self.servers.is_empty() && self.instances.is_empty()
    }
}

struct AuthConfig {
    id: String,
    toolkit_slug: String,
}

struct Instance {
    id: String,
    instance_id: String,
    created_at: String,
    updated_at: String,
    seq: u64,
}

struct Server {
    id: String,
    name: String,
    auth_config_ids: Vec<String>,
    allowed_tools: Vec<String>,
    toolkits: Vec<String>,
    managed_auth_via_composio: bool,
    created_at: String,
    updated_at: String,
    deleted: bool,
    instances: Vec<Instance>,
}

struct Fault {
    /// `None` matches every method.
    method: Option<String>,
    path_prefix: String,
    status: u16,
    body: Value,
}

/// A request held before it is answered (a slow server).
struct Hold {
    method: String,
    path_prefix: String,
    delay: std::time::Duration,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    faults: VecDeque<Fault>,
    holds: VecDeque<Hold>,
    auth_configs: Vec<AuthConfig>,
    servers: Vec<Server>,
    next_request: u64,
    next_auth_config: u64,
    next_server: u64,
    next_instance: u64,
    clock: u64,
}

impl Inner {
    /// A fresh, strictly increasing timestamp.
    fn now(&mut self) -> String {
        self.clock += 1;
        let t = self.clock;
        format!(
            "2025-01-01T{:02}:{:02}:{:02}.000Z",
            (t / 3600) % 24,
            (t / 60) % 60,
            t % 60
        )
    }

    fn live_server(&self, id: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.id == id && !s.deleted)
    }
}

struct Shared {
    api_key: String,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not wedge the server for later asserts.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running stand-in. Dropping it stops the server.
pub struct StandIn {
    shared: Arc<Shared>,
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl StandIn {
    /// Starts the stand-in on `127.0.0.1:<ephemeral port>`, accepting only
    /// requests whose `x-api-key` header equals `api_key`.
    pub fn start(api_key: &str) -> StandIn {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind stand-in to 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("set stand-in listener non-blocking");
        let addr = listener.local_addr().expect("stand-in local address");

        let shared = Arc::new(Shared {
            api_key: api_key.to_string(),
            inner: Mutex::new(Inner::default()),
        });

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("composio-stand-in")
            .enable_all()
            .build()
            .expect("build stand-in runtime");

        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        // Registering the listener needs the runtime's reactor.
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).expect("register stand-in listener")
        };
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        StandIn {
            shared,
            addr,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API key this instance accepts.
    pub fn api_key(&self) -> String {
        self.shared.api_key.clone()
    }

    /// Every request received so far, in arrival order (including rejected ones).
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Live auth configs, servers and instances.
    pub fn state(&self) -> Snapshot {
        let inner = self.shared.lock();
        let mut snap = Snapshot {
            auth_configs: inner.auth_configs.iter().map(|a| a.id.clone()).collect(),
            ..Snapshot::default()
        };
        for server in inner.servers.iter().filter(|s| !s.deleted) {
            snap.servers.push(server.id.clone());
            for inst in &server.instances {
                snap.instances
                    .push((server.id.clone(), inst.instance_id.clone()));
            }
        }
        snap
    }

    /// Fault injection: the next request whose path starts with `path_prefix`
    /// is answered with `status` and `body` (serialized as JSON) without
    /// touching any state. Calls queue up; each fault is used once, and the
    /// earliest-queued matching fault wins.
    pub fn fail_next(&self, path_prefix: &str, status: u16, body: Value) {
        self.shared.lock().faults.push_back(Fault {
            method: None,
            path_prefix: path_prefix.to_string(),
            status,
            body,
        });
    }

    /// Like [`StandIn::fail_next`], but only a request with this HTTP `method`
    /// (e.g. `"DELETE"`, case-insensitive) matches, so a fault can target
    /// `DELETE /api/v3/mcp/{id}` without hitting `GET /api/v3/mcp/{id}`.
    pub fn fail_next_method(&self, method: &str, path_prefix: &str, status: u16, body: Value) {
        self.shared.lock().faults.push_back(Fault {
            method: Some(method.to_ascii_uppercase()),
            path_prefix: path_prefix.to_string(),
            status,
            body,
        });
    }
}

impl StandIn {
    /// The next `method` request whose path starts with `path_prefix` is
    /// recorded at once, then held for `delay` before it is handled (and
    /// changes the state) as usual: a slow answer, or, with a long delay, a
    /// request that hangs.
    pub fn hold_next(&self, method: &str, path_prefix: &str, delay: std::time::Duration) {
        self.shared.lock().holds.push_back(Hold {
            method: method.to_ascii_uppercase(),
            path_prefix: path_prefix.to_string(),
            delay,
        });
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

// ---------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------

enum Route {
    CreateAuthConfig,
    DeleteAuthConfig(String),
    CreateServer,
    GetServer(String),
    DeleteServer(String),
    CreateInstance(String),
    ListInstances(String),
    DeleteInstance(String, String),
}

fn route(method: &str, path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/api/v3/")?;
    let segs: Vec<String> = rest.split('/').map(percent_decode).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    if segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    let r = match (method, segs.as_slice()) {
        ("POST", ["auth_configs"]) => Route::CreateAuthConfig,
        ("DELETE", ["auth_configs", id]) => Route::DeleteAuthConfig(id.to_string()),
        ("POST", ["mcp", "servers"]) => Route::CreateServer,
        ("GET", ["mcp", id]) => Route::GetServer(id.to_string()),
        ("DELETE", ["mcp", id]) => Route::DeleteServer(id.to_string()),
        ("POST", ["mcp", "servers", sid, "instances"]) => Route::CreateInstance(sid.to_string()),
        ("GET", ["mcp", "servers", sid, "instances"]) => Route::ListInstances(sid.to_string()),
        ("DELETE", ["mcp", "servers", sid, "instances", iid]) => {
            Route::DeleteInstance(sid.to_string(), iid.to_string())
        }
        _ => return None,
    };
    Some(r)
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let raw_body = String::from_utf8_lossy(&bytes).into_owned();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();

    let parsed: Option<Result<Value, ()>> = if raw_body.trim().is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&bytes).map_err(|_| ()))
    };

    // Recorded on arrival; a held request is handled after its delay.
    let hold = {
        let mut inner = shared.lock();
        inner.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body: parsed.clone().and_then(Result::ok),
            raw_body,
        });
        let pos = inner
            .holds
            .iter()
            .position(|h| path.starts_with(&h.path_prefix) && h.method == method);
        pos.and_then(|p| inner.holds.remove(p))
    };
    if let Some(hold) = hold {
        tokio::time::sleep(hold.delay).await;
    }
    let mut inner = shared.lock();
    inner.next_request += 1;
    let request_id = format!("req_{}", inner.next_request);

    if let Some(pos) = inner.faults.iter().position(|f| {
        path.starts_with(&f.path_prefix) && f.method.as_ref().is_none_or(|m| *m == method)
    }) {
        let fault = inner.faults.remove(pos).expect("fault index valid");
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return json_response(status, &fault.body);
    }

    let ctx = Ctx { request_id };

    let Some(route) = route(&method, &path) else {
        return ctx.error(
            404,
            &format!("Cannot {method} {path}"),
            "Check the HTTP method and the URL path.",
        );
    };

    let key_ok = headers
        .iter()
        .any(|(k, v)| k == "x-api-key" && *v == shared.api_key);
    if !key_ok {
        return ctx.error(
            401,
            "Invalid or missing API key",
            "Pass a valid API key in the x-api-key header.",
        );
    }

    let body = match parsed {
        Some(Err(())) => {
            return ctx.error(
                400,
                "Request body is not valid JSON",
                "Send a well-formed JSON document with Content-Type: application/json.",
            )
        }
        Some(Ok(v)) => Some(v),
        None => None,
    };

    match route {
        Route::CreateAuthConfig => create_auth_config(&mut inner, &ctx, body),
        Route::DeleteAuthConfig(id) => delete_auth_config(&mut inner, &id),
        Route::CreateServer => create_server(&mut inner, &ctx, body),
        Route::GetServer(id) => get_server(&inner, &ctx, &id),
        Route::DeleteServer(id) => delete_server(&mut inner, &id),
        Route::CreateInstance(sid) => create_instance(&mut inner, &ctx, &sid, body),
        Route::ListInstances(sid) => list_instances(&inner, &ctx, &sid, query.as_deref()),
        Route::DeleteInstance(sid, iid) => delete_instance(&mut inner, &ctx, &sid, &iid),
    }
}

struct Ctx {
    request_id: String,
}

impl Ctx {
    fn error(&self, status: u16, message: &str, suggested_fix: &str) -> Response {
        let body = json!({
            "error": {
                "message": message,
                "code": 10000 + u64::from(status),
                "status": status,
                "request_id": self.request_id,
                "suggested_fix": suggested_fix,
                "errors": [message],
            }
        });
        json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &body,
        )
    }

    fn bad_request(&self, message: &str) -> Response {
        self.error(
            400,
            message,
            "Fix the request body or parameters as described in the message.",
        )
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body.to_string()),
    )
        .into_response()
}

/// The body as a JSON object; a missing body counts as `{}`.
fn object_body(body: Option<Value>) -> Result<Map<String, Value>, String> {
    match body {
        None => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err("Request body must be a JSON object".to_string()),
    }
}

fn string_array(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// Optional field that, when present, must be an array of strings (null rejected).
fn optional_string_array(
    obj: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, String> {
    match obj.get(field) {
        None => Ok(None),
        Some(v) => string_array(v)
            .map(Some)
            .ok_or_else(|| format!("{field}: Expected array of strings")),
    }
}

// ---- auth configs ----------------------------------------------------------

fn create_auth_config(inner: &mut Inner, ctx: &Ctx, body: Option<Value>) -> Response {
    let obj = match object_body(body) {
        Ok(o) => o,
        Err(m) => return ctx.bad_request(&m),
    };
    let slug = match obj.get("toolkit").and_then(|t| t.get("slug")) {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return ctx.bad_request("toolkit.slug: Expected string"),
        None => return ctx.bad_request("toolkit.slug: Required"),
    };

    let mut auth_scheme = "OAUTH2".to_string();
    let mut is_composio_managed = true;
    let mut restrict: Vec<String> = Vec::new();
    if let Some(ac) = obj.get("auth_config") {
        let Some(ac) = ac.as_object() else {
            return ctx.bad_request("auth_config: Expected object");
        };
        match ac.get("type").and_then(Value::as_str) {
            Some("use_composio_managed_auth") => {}
            Some("use_custom_auth") => {
                is_composio_managed = false;
                match ac.get("authScheme").and_then(Value::as_str) {
                    Some(s) if AUTH_SCHEMES.contains(&s) => auth_scheme = s.to_string(),
                    _ => {
                        return ctx.bad_request(&format!(
                            "auth_config.authScheme: Expected one of {}",
                            AUTH_SCHEMES.join(", ")
                        ))
                    }
                }
            }
            _ => {
                return ctx.bad_request(
                    "auth_config.type: Expected 'use_composio_managed_auth' | 'use_custom_auth'",
                )
            }
        }
        match optional_string_array(ac, "restrict_to_following_tools") {
            Ok(Some(v)) => restrict = v,
            Ok(None) => {}
            Err(m) => return ctx.bad_request(&m),
        }
    }

    inner.next_auth_config += 1;
    let id = format!("ac_{}", inner.next_auth_config);
    inner.auth_configs.push(AuthConfig {
        id: id.clone(),
        toolkit_slug: slug.clone(),
    });
    json_response(
        StatusCode::CREATED,
        &json!({
            "toolkit": { "slug": slug },
            "auth_config": {
                "id": id,
                "auth_scheme": auth_scheme,
                "is_composio_managed": is_composio_managed,
                "restrict_to_following_tools": restrict,
            }
        }),
    )
}

fn delete_auth_config(inner: &mut Inner, id: &str) -> Response {
    match inner.auth_configs.iter().position(|a| a.id == id) {
        Some(pos) => {
            inner.auth_configs.remove(pos);
            json_response(StatusCode::OK, &json!({}))
        }
        None => json_response(StatusCode::NOT_FOUND, &json!({})),
    }
}

// ---- MCP servers -----------------------------------------------------------

fn valid_server_name(name: &str) -> bool {
    let len = name.chars().count();
    (4..=30).contains(&len)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ')
}

fn server_json(server: &Server, include_deleted: bool) -> Value {
    let mcp_url = format!("{MCP_URL_BASE}{}", server.id);
    let command =
        |client: &str| format!("npx @composio/mcp@latest setup \"{mcp_url}\" --client {client}");
    let mut v = json!({
        "id": server.id,
        "name": server.name,
        "auth_config_ids": server.auth_config_ids,
        "allowed_tools": server.allowed_tools,
        "mcp_url": mcp_url,
        "toolkits": server.toolkits,
        "toolkit_icons": {},
        "commands": {
            "cursor": command("cursor"),
            "claude": command("claude"),
            "windsurf": command("windsurf"),
        },
        "updated_at": server.updated_at,
        "created_at": server.created_at,
        "server_instance_count": server.instances.len(),
        "managed_auth_via_composio": server.managed_auth_via_composio,
    });
    if include_deleted {
        v["deleted"] = Value::Bool(server.deleted);
    }
    v
}

fn create_server(inner: &mut Inner, ctx: &Ctx, body: Option<Value>) -> Response {
    let obj = match object_body(body) {
        Ok(o) => o,
        Err(m) => return ctx.bad_request(&m),
    };
    let name = match obj.get("name") {
        Some(Value::String(s)) if valid_server_name(s) => s.clone(),
        Some(Value::String(_)) => {
            return ctx.bad_request(
                "name: Must be 4-30 characters long and contain only letters, digits, spaces and hyphens",
            )
        }
        Some(_) => return ctx.bad_request("name: Expected string"),
        None => return ctx.bad_request("name: Required"),
    };
    let auth_config_ids = match obj.get("auth_config_ids") {
        None => return ctx.bad_request("auth_config_ids: Required"),
        Some(v) => match string_array(v) {
            Some(ids) => ids,
            None => return ctx.bad_request("auth_config_ids: Expected array of strings"),
        },
    };
    let allowed_tools = match optional_string_array(&obj, "allowed_tools") {
        Ok(v) => v.unwrap_or_default(),
        Err(m) => return ctx.bad_request(&m),
    };
    let no_auth_apps = match optional_string_array(&obj, "no_auth_apps") {
        Ok(v) => v.unwrap_or_default(),
        Err(m) => return ctx.bad_request(&m),
    };
    let managed = match obj.get("managed_auth_via_composio") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return ctx.bad_request("managed_auth_via_composio: Expected boolean"),
    };

    let mut toolkits: Vec<String> = Vec::new();
    for id in &auth_config_ids {
        let Some(ac) = inner.auth_configs.iter().find(|a| &a.id == id) else {
            return ctx.error(
                404,
                &format!("The specified auth_config_id does not exist: {id}"),
                "Create the auth config first, or pass an existing auth config id.",
            );
        };
        if !toolkits.contains(&ac.toolkit_slug) {
            toolkits.push(ac.toolkit_slug.clone());
        }
    }
    for app in no_auth_apps {
        if !toolkits.contains(&app) {
            toolkits.push(app);
        }
    }

    inner.next_server += 1;
    let id = format!("00000000-0000-4000-8000-{:012}", inner.next_server);
    let now = inner.now();
    let server = Server {
        id,
        name,
        auth_config_ids,
        allowed_tools,
        toolkits,
        managed_auth_via_composio: managed,
        created_at: now.clone(),
        updated_at: now,
        deleted: false,
        instances: Vec::new(),
    };
    let body = server_json(&server, false);
    inner.servers.push(server);
    json_response(StatusCode::CREATED, &body)
}

fn server_not_found(ctx: &Ctx, id: &str) -> Response {
    ctx.error(
        404,
        &format!("MCP server not found: {id}"),
        "Check the MCP server id; it may have been deleted.",
    )
}

fn get_server(inner: &Inner, ctx: &Ctx, id: &str) -> Response {
    match inner.live_server(id) {
        Some(i) => json_response(StatusCode::OK, &server_json(&inner.servers[i], true)),
        None => server_not_found(ctx, id),
    }
}

fn delete_server(inner: &mut Inner, id: &str) -> Response {
    match inner.live_server(id) {
        Some(i) => {
            let now = inner.now();
            let server = &mut inner.servers[i];
            server.deleted = true;
            server.updated_at = now;
            json_response(StatusCode::OK, &json!({ "id": id, "deleted": true }))
        }
        None => json_response(StatusCode::NOT_FOUND, &json!({})),
    }
}

// ---- instances -------------------------------------------------------------

fn instance_json(server_id: &str, inst: &Instance) -> Value {
    json!({
        "id": inst.id,
        "instance_id": inst.instance_id,
        "mcp_server_id": server_id,
        "created_at": inst.created_at,
        "updated_at": inst.updated_at,
    })
}

fn create_instance(inner: &mut Inner, ctx: &Ctx, server_id: &str, body: Option<Value>) -> Response {
    let obj = match object_body(body) {
        Ok(o) => o,
        Err(m) => return ctx.bad_request(&m),
    };
    let user_id = match obj.get("user_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => {
            return ctx.bad_request("user_id: String must contain at least 1 character(s)")
        }
        Some(_) => return ctx.bad_request("user_id: Expected string"),
        None => return ctx.bad_request("user_id: Required"),
    };
    let Some(si) = inner.live_server(server_id) else {
        return server_not_found(ctx, server_id);
    };
    if inner.servers[si]
        .instances
        .iter()
        .any(|i| i.instance_id == user_id)
    {
        return ctx.error(
            409,
            &format!("An instance with ID '{user_id}' already exists for this MCP server"),
            "Use the existing instance, or delete it before creating it again.",
        );
    }

    inner.next_instance += 1;
    let seq = inner.next_instance;
    let now = inner.now();
    let inst = Instance {
        id: format!("00000000-0000-4000-9000-{seq:012}"),
        instance_id: user_id,
        created_at: now.clone(),
        updated_at: now,
        seq,
    };
    let body = instance_json(server_id, &inst);
    inner.servers[si].instances.push(inst);
    json_response(StatusCode::CREATED, &body)
}

fn parse_positive(name: &str, value: Option<&String>, default: u64) -> Result<u64, String> {
    let Some(raw) = value.filter(|v| !v.is_empty() && v.as_str() != "null") else {
        return Ok(default);
    };
    let n = raw
        .parse::<u64>()
        .ok()
        .or_else(|| {
            raw.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        })
        .filter(|n| *n >= 1);
    n.ok_or_else(|| format!("{name}: Expected a positive integer, got '{raw}'"))
}

fn list_instances(inner: &Inner, ctx: &Ctx, server_id: &str, query: Option<&str>) -> Response {
    let params = parse_query(query.unwrap_or(""));
    let get = |k: &str| params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v);

    let page_no = match parse_positive("page_no", get("page_no"), 1) {
        Ok(n) => n,
        Err(m) => return ctx.bad_request(&m),
    };
    let limit = match parse_positive("limit", get("limit"), 20) {
        Ok(n) => n,
        Err(m) => return ctx.bad_request(&m),
    };
    let by_created = match get("order_by").map(String::as_str) {
        None | Some("updated_at") => false,
        Some("created_at") => true,
        Some(other) => {
            return ctx.bad_request(&format!(
                "order_by: Expected 'created_at' | 'updated_at', received '{other}'"
            ))
        }
    };
    let ascending = match get("order_direction").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return ctx.bad_request(&format!(
                "order_direction: Expected 'asc' | 'desc', received '{other}'"
            ))
        }
    };
    let search = get("search").cloned().unwrap_or_default();

    let Some(si) = inner.live_server(server_id) else {
        return server_not_found(ctx, server_id);
    };
    let server = &inner.servers[si];

    let mut matching: Vec<&Instance> = server
        .instances
        .iter()
        .filter(|i| i.instance_id.contains(&search))
        .collect();
    matching.sort_by(|a, b| {
        let (ka, kb) = if by_created {
            (&a.created_at, &b.created_at)
        } else {
            (&a.updated_at, &b.updated_at)
        };
        ka.cmp(kb).then(a.seq.cmp(&b.seq))
    });
    if !ascending {
        matching.reverse();
    }

    let total = matching.len() as u64;
    let total_pages = total.div_ceil(limit);
    let start = (page_no - 1).saturating_mul(limit);
    let page: Vec<Value> = matching
        .iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|i| instance_json(&server.id, i))
        .collect();

    json_response(
        StatusCode::OK,
        &json!({
            "instances": page,
            "server_id": server.id,
            "server_name": server.name,
            "total_pages": total_pages,
            "current_page": page_no,
        }),
    )
}

fn delete_instance(inner: &mut Inner, ctx: &Ctx, server_id: &str, instance_id: &str) -> Response {
    let Some(si) = inner.live_server(server_id) else {
        return server_not_found(ctx, server_id);
    };
    let server = &mut inner.servers[si];
    let Some(pos) = server
        .instances
        .iter()
        .position(|i| i.instance_id == instance_id)
    else {
        return ctx.error(
            404,
            &format!("MCP server instance not found: {instance_id}"),
            "Check the instance id (the user_id it was created with).",
        );
    };
    server.instances.remove(pos);
    json_response(
        StatusCode::OK,
        &json!({
            "message": format!("MCP server instance '{instance_id}' deleted successfully"),
            "deleted_connected_accounts": 0,
        }),
    )
}

// ---- small URL helpers -----------------------------------------------------

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(s: &str, plus_is_space: bool) -> String {
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

fn percent_decode(s: &str) -> String {
    decode(s, false)
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}
