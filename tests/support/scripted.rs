//! A local HTTP server that answers from a script, in order, and records every
//! request it receives. Unscripted requests get a 599 so a test sees them.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

pub struct Scripted {
    shared: Arc<Mutex<Shared>>,
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

async fn handle(State(shared): State<Arc<Mutex<Shared>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let reply = {
        let mut s = shared.lock().unwrap();
        s.received.push(Received {
            method: parts.method.to_string(),
            target: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
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
        });
        s.script.pop_front()
    };
    let reply = reply.unwrap_or(Reply {
        status: 599,
        headers: vec![],
        body: "unscripted request".into(),
    });
    let mut headers = HeaderMap::new();
    let mut has_type = false;
    for (k, v) in &reply.headers {
        has_type |= k.eq_ignore_ascii_case("content-type");
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    if !has_type && !reply.body.is_empty() {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        headers,
        reply.body,
    )
        .into_response()
}

impl Scripted {
    pub fn start(script: Vec<Reply>) -> Scripted {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Mutex::new(Shared {
            script: script.into(),
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
        Scripted {
            shared,
            port,
            _runtime: runtime,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    /// Replies not used by the run.
    pub fn left(&self) -> usize {
        self.shared.lock().unwrap().script.len()
    }
}
