//! The checks in front of the MCP endpoint that the SDK does not make as the
//! JSON-RPC and MCP texts ask: a body that is not JSON is a parse error
//! (-32700), a message that is not a JSON-RPC request, notification or
//! response is an invalid request (-32600), and `tools/call` without a tool
//! name or with arguments that are not an object has invalid params (-32602).
//! A `tools/call` takes a run slot (429 when none is free), which its run
//! holds until it is over. A session's DELETE answers 204, an unknown
//! session's 404; at most [`MAX_SESSIONS`] sessions are open at once.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use rmcp::transport::common::server_side_http::SessionId;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::access_log::{holding, AccessNote};
use super::runner::SlotHandoff;

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;
/// Server error: too busy, retry later.
const BUSY: i64 = -32000;

/// Open MCP sessions at once; an `initialize` beyond them is answered 429.
/// Each holds a little state until its client deletes it or it idles out.
pub const MAX_SESSIONS: usize = 1024;

/// What the middleware checks against.
#[derive(Clone)]
pub struct Gate {
    /// The run slots, shared with REST.
    pub slots: Arc<Semaphore>,
    /// The SDK's sessions, to tell a known session from an unknown one.
    pub sessions: Arc<LocalSessionManager>,
}

/// The middleware.
pub async fn check_messages(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(SessionId::from);
    if request.method() == Method::DELETE {
        if let Some(id) = &session {
            if !gate.sessions.sessions.read().await.contains_key(id) {
                return rpc_error(
                    StatusCode::NOT_FOUND,
                    Value::Null,
                    INVALID_REQUEST,
                    "Session not found: it has ended or never existed",
                );
            }
        }
        let mut response = next.run(request).await;
        if response.status() == StatusCode::ACCEPTED {
            // The session is gone; clients take 202 for a failed termination.
            *response.status_mut() = StatusCode::NO_CONTENT;
            response.headers_mut().remove(header::CONTENT_TYPE);
            *response.body_mut() = Body::empty();
        }
        return response;
    }
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    // Other methods and media types: the SDK answers (405, 415).
    if request.method() != Method::POST || !is_json {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The guard has already read the body within the size limit.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            INVALID_REQUEST,
            "the body could not be read",
        );
    };
    let note = parts.extensions.get::<AccessNote>().cloned();
    let message = match inspect(&bytes) {
        Ok(m) => m,
        Err(reply) => return reply,
    };
    if let Some(note) = &note {
        if let Some(method) = &message.method {
            note.rpc(method);
        }
    }
    if session.is_none() && message.method.as_deref() == Some("initialize") {
        let open = gate.sessions.sessions.read().await.len();
        if open >= MAX_SESSIONS {
            let detail =
                format!("Too many sessions: {open} are open; end one (DELETE /mcp) or retry later");
            let mut response = rpc_error(StatusCode::TOO_MANY_REQUESTS, message.id, BUSY, &detail);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    }
    let mut parts = parts;
    let mut slot = None;
    if let Some(tool) = &message.tool {
        if let Some(note) = &note {
            note.workflow(tool);
        }
        match Arc::clone(&gate.slots).try_acquire_owned() {
            Ok(permit) => {
                let handoff = SlotHandoff::new(permit);
                parts.extensions.insert(handoff.clone());
                slot = Some(handoff);
            }
            Err(_) => {
                if let Some(note) = &note {
                    note.outcome("busy");
                }
                return busy(message.id);
            }
        }
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    match slot {
        // The tool call hands the slot to its run; one never taken is freed
        // once the answer (maybe on an event stream) has been sent.
        Some(permit) => {
            let (parts, body) = response.into_parts();
            Response::from_parts(parts, holding(body, permit))
        }
        None => response,
    }
}

/// What the middleware needs to know of a well-formed message.
#[derive(Debug)]
struct Message {
    id: Value,
    method: Option<String>,
    /// The tool of a `tools/call`.
    tool: Option<String>,
}

/// The message, or the error answer it gets.
fn inspect(bytes: &[u8]) -> Result<Message, Response> {
    let bad = |code, message: &str| rpc_error(StatusCode::BAD_REQUEST, Value::Null, code, message);
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        bad(
            PARSE_ERROR,
            &format!("Parse error: the body is not JSON ({e})"),
        )
    })?;
    let obj = match value {
        Value::Object(o) => o,
        Value::Array(a) if a.is_empty() => {
            return Err(bad(INVALID_REQUEST, "Invalid Request: an empty batch"));
        }
        Value::Array(_) => {
            return Err(bad(
                INVALID_REQUEST,
                "Invalid Request: MCP does not take JSON-RPC batches (since 2025-06-18); send one message per request",
            ));
        }
        _ => {
            return Err(bad(
                INVALID_REQUEST,
                "Invalid Request: a JSON-RPC message is an object",
            ))
        }
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(bad(
            INVALID_REQUEST,
            r#"Invalid Request: "jsonrpc" must be "2.0""#,
        ));
    }
    let id = obj.get("id").cloned();
    if let Some(id) = &id {
        if !(id.is_string() || id.is_i64() || id.is_u64()) {
            return Err(bad(
                INVALID_REQUEST,
                "Invalid Request: \"id\" must be a string or an integer",
            ));
        }
    }
    let Some(method) = obj.get("method") else {
        // A response to the server's own request.
        if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) {
            return Ok(Message {
                id: Value::Null,
                method: None,
                tool: None,
            });
        }
        return Err(bad(
            INVALID_REQUEST,
            "Invalid Request: no \"method\", and not a response",
        ));
    };
    let Some(method) = method.as_str() else {
        return Err(bad(
            INVALID_REQUEST,
            "Invalid Request: \"method\" must be a string",
        ));
    };
    let notification = id.is_none();
    let id = id.unwrap_or(Value::Null);
    // A notification gets no JSON-RPC answer: an HTTP error says it was not
    // taken.
    let invalid = |message: &str| {
        if notification {
            super::rest::problem(StatusCode::BAD_REQUEST, "Invalid notification", message)
        } else {
            rpc_error(StatusCode::OK, id.clone(), INVALID_PARAMS, message)
        }
    };
    let params = obj.get("params");
    if params.is_some_and(|p| !p.is_object() && !p.is_null()) {
        return Err(invalid("Invalid params: \"params\" must be an object"));
    }
    let mut tool = None;
    if method == "tools/call" {
        let params = params.and_then(Value::as_object);
        let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
            return Err(invalid(
                "Invalid params: tools/call needs \"name\", the tool to call",
            ));
        };
        let arguments = params.and_then(|p| p.get("arguments"));
        if arguments.is_some_and(|a| !a.is_object() && !a.is_null()) {
            return Err(invalid(
                "Invalid params: \"arguments\" must be an object of the tool's inputs",
            ));
        }
        tool = Some(name.to_string());
    }
    Ok(Message {
        id,
        method: Some(method.to_string()),
        tool,
    })
}

/// A JSON-RPC error answer.
fn rpc_error(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 429 for a tool call beyond the concurrent-runs limit.
fn busy(id: Value) -> Response {
    let mut response = rpc_error(
        StatusCode::TOO_MANY_REQUESTS,
        id,
        BUSY,
        "the server is running as many workflows as it allows at once; retry after a second",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Option<(u16, i64)> {
        let r = inspect(body.as_bytes()).err()?;
        let status = r.status().as_u16();
        let bytes =
            futures_util::FutureExt::now_or_never(axum::body::to_bytes(r.into_body(), 1 << 20))
                .unwrap()
                .unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        Some((status, v["error"]["code"].as_i64().unwrap()))
    }

    #[test]
    fn error_codes() {
        assert_eq!(code("{not json"), Some((400, -32700)));
        assert_eq!(code("[]"), Some((400, -32600)));
        assert_eq!(
            code(r#"[{"jsonrpc":"2.0","method":"ping","id":1}]"#),
            Some((400, -32600))
        );
        assert_eq!(
            code(r#"{"jsonrpc":"1.0","method":"ping","id":1}"#),
            Some((400, -32600))
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","method":5,"id":1}"#),
            Some((400, -32600))
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":1}"#), Some((400, -32600)));
        let call =
            |p: &str| format!(r#"{{"jsonrpc":"2.0","method":"tools/call","id":7,"params":{p}}}"#);
        assert_eq!(code(&call(r#"{"arguments":{}}"#)), Some((200, -32602)));
        assert_eq!(
            code(&call(r#"{"name":"x","arguments":[1]}"#)),
            Some((200, -32602))
        );
        assert_eq!(code(&call("[1]")), Some((200, -32602)));
        assert_eq!(code(&call(r#"{"name":"x","arguments":{"a":1}}"#)), None);
        assert_eq!(code(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#), None);
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
    }
}
