//! A WebSocket server of our own for the tests (tokio-tungstenite, on a free port
//! of 127.0.0.1, on a thread with its own runtime): it records every handshake and
//! every frame it receives, and answers each frame with what a test-supplied
//! responder returns, optionally after a delay and after some unsolicited frames.
//!
//! ```ignore
//! let server = WsServer::builder()
//!     .respond(confirm_orders("confirmed"))        // {"correlationId":"c1",..} -> reply
//!     .unsolicited(Frame::text(r#"{"correlationId":"other"}"#))
//!     .delay(Duration::from_millis(50))
//!     .basic_auth("user", "pass")                  // 401 without these credentials
//!     .start();
//! let endpoint = server.endpoint();                // ws://127.0.0.1:PORT
//! server.wait_received(1, Duration::from_secs(5)); // [Received { path: "/orders", text, .. }]
//! server.push("/orders", Frame::text("news"));     // to every socket open on /orders
//! ```
//!
//! Each server is cheap, so each test starts its own; it stops when dropped.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use arazzo::broker::{Credentials, Endpoint, Protocol};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

/// A frame the server sends.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame: the server ends the socket after sending it.
    Close,
}

impl Frame {
    pub fn text(s: impl Into<String>) -> Frame {
        Frame::Text(s.into())
    }

    fn message(&self) -> Message {
        match self {
            Frame::Text(t) => Message::text(t.clone()),
            Frame::Binary(b) => Message::binary(b.clone()),
            Frame::Close => Message::Close(None),
        }
    }
}

/// A frame the server received.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// The socket's request path (with its query, if any), e.g. `/orders`.
    pub path: String,
    /// The payload (lossily decoded when binary).
    pub text: String,
    pub binary: bool,
}

impl Received {
    /// The payload as JSON, panicking when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("frame on {} is not JSON ({e}): {}", self.path, self.text))
    }
}

/// A WebSocket handshake the server saw (accepted or not).
#[derive(Clone, Debug, PartialEq)]
pub struct Handshake {
    pub path: String,
    /// The raw `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// What the server answers a received frame with.
pub type Responder = Arc<dyn Fn(&Received) -> Vec<Frame> + Send + Sync>;

/// A responder for request/reply: a JSON frame with a `correlationId` gets
/// `{"correlationId": <same>, "status": <status>}` back; anything else gets nothing.
pub fn confirm_orders(status: &str) -> Responder {
    let status = status.to_string();
    Arc::new(move |r: &Received| {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.text) else {
            return Vec::new();
        };
        match v.get("correlationId") {
            Some(id) => vec![Frame::text(
                serde_json::json!({"correlationId": id, "status": status}).to_string(),
            )],
            None => Vec::new(),
        }
    })
}

/// A responder that sends every frame back as it came.
pub fn echo() -> Responder {
    Arc::new(|r: &Received| {
        vec![if r.binary {
            Frame::Binary(r.text.clone().into_bytes())
        } else {
            Frame::Text(r.text.clone())
        }]
    })
}

/// How a server behaves; see the module's example.
#[derive(Clone, Default)]
pub struct WsServerBuilder {
    respond: Option<Responder>,
    delay: Duration,
    unsolicited: Vec<Frame>,
    basic_auth: Option<String>,
}

impl WsServerBuilder {
    /// Answers each received frame with `respond`'s frames (none by default).
    pub fn respond(mut self, respond: Responder) -> Self {
        self.respond = Some(respond);
        self
    }

    /// Waits this long before answering (other frames are still read meanwhile).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sends `frame` before the answer to every received frame.
    pub fn unsolicited(mut self, frame: Frame) -> Self {
        self.unsolicited.push(frame);
        self
    }

    /// Refuses a handshake (HTTP 401) without `Authorization: Basic` for these.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        let pair = format!("{user}:{password}");
        self.basic_auth = Some(format!("Basic {}", arazzo::redact::base64(pair.as_bytes())));
        self
    }

    pub fn start(self) -> WsServer {
        WsServer::start(self)
    }
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    handshakes: Vec<Handshake>,
}

struct Shared {
    log: Mutex<Log>,
    changed: Condvar,
    push: broadcast::Sender<(String, Frame)>,
    config: WsServerBuilder,
}

impl Shared {
    fn record(&self, f: impl FnOnce(&mut Log)) {
        f(&mut self.log.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.notify_all();
    }
}

/// The running server; stopped (and its sockets dropped) when this is dropped.
pub struct WsServer {
    /// `ws://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WsServer {
    pub fn builder() -> WsServerBuilder {
        WsServerBuilder::default()
    }

    fn start(config: WsServerBuilder) -> WsServer {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port of 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            log: Mutex::new(Log::default()),
            changed: Condvar::new(),
            push: broadcast::channel(256).0,
            config,
        });
        let (stop, stopped) = oneshot::channel();
        let state = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the WebSocket server");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                tokio::select! {
                    _ = accept_loop(listener, state) => {}
                    _ = stopped => {}
                }
            });
        });
        WsServer {
            url: format!("ws://127.0.0.1:{port}"),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// An endpoint for this server (no credentials, 5 s timeout, 64 KiB messages).
    pub fn endpoint(&self) -> Endpoint {
        endpoint(&self.url, None)
    }

    /// Every frame received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.log().received.clone()
    }

    /// Waits until at least `n` frames were received; panics with what was
    /// received when `timeout` passes first.
    pub fn wait_received(&self, n: usize, timeout: Duration) -> Vec<Received> {
        self.wait(timeout, |l| l.received.len() >= n, "frames")
            .received
    }

    /// Every handshake so far (one per socket opened), oldest first.
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.log().handshakes.clone()
    }

    /// Waits until at least `n` handshakes happened.
    pub fn wait_handshakes(&self, n: usize, timeout: Duration) -> Vec<Handshake> {
        self.wait(timeout, |l| l.handshakes.len() >= n, "handshakes")
            .handshakes
    }

    /// Sends `frame` on every socket open on `path` (e.g. `/orders`).
    pub fn push(&self, path: &str, frame: Frame) {
        let _ = self.shared.push.send((path.to_string(), frame));
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.shared.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait(&self, timeout: Duration, done: impl Fn(&Log) -> bool, what: &str) -> LogCopy {
        let deadline = Instant::now() + timeout;
        let mut log = self.log();
        while !done(&log) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "the WebSocket server did not get the {what} expected within {timeout:?}; \
                     it has handshakes {:?} and frames {:?}",
                    log.handshakes, log.received
                );
            }
            log = self
                .shared
                .changed
                .wait_timeout(log, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        LogCopy {
            received: log.received.clone(),
            handshakes: log.handshakes.clone(),
        }
    }
}

struct LogCopy {
    received: Vec<Received>,
    handshakes: Vec<Handshake>,
}

impl Drop for WsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A WebSocket endpoint for `url` (5 s connect timeout, 64 KiB message limit).
pub fn endpoint(url: &str, credentials: Option<(&str, &str)>) -> Endpoint {
    let url = url::Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
    Endpoint {
        protocol: Protocol::Ws,
        tls: url.scheme() == "wss",
        url,
        protocol_version: None,
        credentials: Credentials {
            username: credentials.map(|c| c.0.to_string()),
            password: credentials.map(|c| c.1.to_string()),
            ..Credentials::default()
        },
        connect_timeout: Duration::from_secs(5),
        client_id: format!("arazzo-test-{}", std::process::id()),
        max_message_bytes: 64 * 1024,
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve(stream, Arc::clone(&shared)));
    }
}

/// One socket: the handshake (recorded, and refused without the required
/// credentials), then frames in, answers and pushes out, until either side closes.
async fn serve(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    // Subscribed before the handshake completes, so that a push made as soon as
    // the client sees the socket open is not missed.
    let mut pushes = shared.push.subscribe();
    let seen = Arc::new(Mutex::new(String::new()));
    let path_slot = Arc::clone(&seen);
    let gate = Arc::clone(&shared);
    let check = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let authorization = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        *path_slot.lock().unwrap_or_else(|p| p.into_inner()) = path.clone();
        let allowed = match &gate.config.basic_auth {
            Some(expected) => authorization.as_deref() == Some(expected.as_str()),
            None => true,
        };
        gate.record(|l| {
            l.handshakes.push(Handshake {
                path,
                authorization,
            })
        });
        if allowed {
            Ok(resp)
        } else {
            let mut refusal = ErrorResponse::new(Some("unauthorized".into()));
            *refusal.status_mut() = StatusCode::UNAUTHORIZED;
            Err(refusal)
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    let path = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (answers, mut outgoing) = mpsc::unbounded_channel::<Frame>();
    loop {
        let frame = tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(t))) => {
                    answer(&shared, &path, t.as_str().to_string(), false, &answers);
                    continue;
                }
                Some(Ok(Message::Binary(b))) => {
                    answer(&shared, &path, String::from_utf8_lossy(&b).into_owned(), true, &answers);
                    continue;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            Some(frame) = outgoing.recv() => frame,
            pushed = pushes.recv() => match pushed {
                Ok((p, frame)) if p == path => frame,
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        let closing = frame == Frame::Close;
        if ws.send(frame.message()).await.is_err() || closing {
            break;
        }
    }
}

/// Records a received frame and queues its answer (the unsolicited frames, then the
/// responder's), after the configured delay.
fn answer(
    shared: &Arc<Shared>,
    path: &str,
    text: String,
    binary: bool,
    answers: &mpsc::UnboundedSender<Frame>,
) {
    let received = Received {
        path: path.to_string(),
        text,
        binary,
    };
    let config = &shared.config;
    let mut frames = config.unsolicited.clone();
    if let Some(respond) = &config.respond {
        frames.extend(respond(&received));
    }
    shared.record(|l| l.received.push(received));
    let delay = config.delay;
    let answers = answers.clone();
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        for f in frames {
            let _ = answers.send(f);
        }
    });
}
