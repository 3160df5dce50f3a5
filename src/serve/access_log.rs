//! One line per HTTP request on stderr: who, what, the status, how long, and
//! for a run the workflow and how it ended. The line is written when the
//! response body is over (for an MCP call answered on an event stream, when
//! the stream ends), through the same masking as everything else.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::report::printer::LineWriter;

/// What a handler learns about a request that the log line should say.
#[derive(Clone, Default)]
pub struct AccessNote(Arc<Mutex<Noted>>);

#[derive(Default)]
struct Noted {
    rpc: Option<String>,
    workflow: Option<String>,
    outcome: Option<String>,
}

impl AccessNote {
    /// The JSON-RPC method of an MCP message.
    pub fn rpc(&self, method: &str) {
        self.with(|n| n.rpc = Some(method.to_string()));
    }

    pub fn workflow(&self, id: &str) {
        self.with(|n| n.workflow = Some(id.to_string()));
    }

    /// How the run ended: `succeeded`, `failed`, `refused:inputs`, ...
    pub fn outcome(&self, outcome: &str) {
        self.with(|n| n.outcome = Some(outcome.to_string()));
    }

    fn with(&self, f: impl FnOnce(&mut Noted)) {
        if let Ok(mut n) = self.0.lock() {
            f(&mut n);
        }
    }

    fn suffix(&self) -> String {
        let Ok(n) = self.0.lock() else {
            return String::new();
        };
        let mut out = String::new();
        for (key, value) in [
            ("rpc", &n.rpc),
            ("workflow", &n.workflow),
            ("outcome", &n.outcome),
        ] {
            if let Some(v) = value {
                out.push_str(&format!(" {key}={v}"));
            }
        }
        out
    }
}

/// The middleware: notes the request, and writes its line once the response
/// body has been sent (or dropped).
pub async fn log_requests(
    State(writer): State<LineWriter>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let note = AccessNote::default();
    request.extensions_mut().insert(note.clone());
    let method = request.method().to_string();
    // The path only: a query string may carry what should not be logged.
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let pending = Pending {
        writer,
        head: format!(
            "access: {} {method} {path} {}",
            peer.ip(),
            response.status().as_u16()
        ),
        note,
        started,
    };
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, holding(body, pending))
}

/// A line waiting for the end of its response.
struct Pending {
    writer: LineWriter,
    head: String,
    note: AccessNote,
    started: Instant,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let ms = self.started.elapsed().as_millis();
        let suffix = self.note.suffix();
        self.writer.line(&format!("{} {ms}ms{suffix}", self.head));
    }
}

/// `body`, with `held` kept alive until the body has been sent or dropped:
/// a log line, a concurrency permit.
pub fn holding<T: Send + Unpin + 'static>(body: Body, held: T) -> Body {
    Body::new(Holding { body, _held: held })
}

struct Holding<T> {
    body: Body,
    _held: T,
}

impl<T: Unpin> http_body::Body for Holding<T> {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
