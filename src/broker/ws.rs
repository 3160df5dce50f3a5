//! WebSocket: a channel is a socket. The channel's address is joined to the
//! server's URL (an address starting with `/` replaces the URL's path, any other
//! is appended to it after one `/`), and one socket per resulting URL is opened
//! when first used, then shared by every publish and subscription on it.
//!
//! A frame carries only a payload: a message with headers is refused (the
//! correlation id must be in the payload), and received messages have none.
//! A subscription gets every text or binary frame the server sends on the socket
//! from the moment it is registered; frames that arrive while nobody subscribes are
//! not kept, so a request/reply step subscribes before it sends.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use url::Url;

use super::{
    deliver, shown, socket_url, Bindings, BrokerError, Endpoint, InMessage, OutMessage,
    Subscription, Tally,
};

/// The byte stream under a socket: plain TCP or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Ws = WebSocketStream<Box<dyn Io>>;

/// The sockets of one WebSocket server.
pub struct Connection {
    endpoint: Endpoint,
    /// Open sockets by URL; a socket whose task has ended is replaced on next use.
    sockets: Mutex<HashMap<String, Arc<Socket>>>,
}

/// One open socket: its task owns the stream, reads frames for the subscribers
/// and writes what `commands` asks.
struct Socket {
    commands: mpsc::Sender<Command>,
    subscribers: Arc<StdMutex<Vec<Subscriber>>>,
    task: JoinHandle<()>,
}

struct Subscriber {
    tx: mpsc::Sender<InMessage>,
    dropped: Arc<Tally>,
}

enum Command {
    /// Write and flush a frame; the answer says whether it worked.
    Send(Message, oneshot::Sender<Result<(), String>>),
    /// Send a close frame and end.
    Close(oneshot::Sender<()>),
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Connection {
    /// Checks the URL only (a `ws`/`wss` URL with a host): sockets are opened per
    /// channel, when first used.
    pub async fn connect(endpoint: &Endpoint) -> Result<Connection, BrokerError> {
        let url = &endpoint.url;
        if !matches!(url.scheme(), "ws" | "wss") || url.host_str().is_none_or(str::is_empty) {
            return Err(BrokerError(format!(
                "{} is not a WebSocket server URL; give ws://host[:port][/path] or wss://…",
                shown(url)
            )));
        }
        Ok(Connection {
            endpoint: endpoint.clone(),
            sockets: Mutex::new(HashMap::new()),
        })
    }

    /// Sends the payload as one text frame (binary when it is not UTF-8) on the
    /// channel's socket; returns once the frame is flushed to the network.
    pub async fn publish(
        &self,
        address: &str,
        _bindings: &Bindings,
        message: &OutMessage,
    ) -> Result<(), BrokerError> {
        let url = socket_url(&self.endpoint.url, address)?;
        if let Some((name, _)) = message.headers.first() {
            return Err(BrokerError(format!(
                "a WebSocket frame carries no headers, so header `{name}` cannot be sent to {}; \
                 put the value (e.g. the correlation id) in the payload",
                shown(&url)
            )));
        }
        let frame = match String::from_utf8(message.payload.clone()) {
            Ok(text) => Message::text(text),
            Err(e) => Message::binary(e.into_bytes()),
        };
        let socket = self.socket(&url).await?;
        let (done, answer) = oneshot::channel();
        let closed = || {
            BrokerError(format!(
                "the WebSocket to {} closed before the message was sent",
                shown(&url)
            ))
        };
        socket
            .commands
            .send(Command::Send(frame, done))
            .await
            .map_err(|_| closed())?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(BrokerError(format!(
                "sending on the WebSocket to {} failed: {why}",
                shown(&url)
            ))),
            Err(_) => Err(closed()),
        }
    }

    /// Opens (or reuses) the channel's socket and registers a subscriber: every
    /// frame read after this returns is delivered to it.
    pub async fn subscribe(
        &self,
        address: &str,
        _bindings: &Bindings,
    ) -> Result<Subscription, BrokerError> {
        let url = socket_url(&self.endpoint.url, address)?;
        let socket = self.socket(&url).await?;
        let (tx, rx) = mpsc::channel(Subscription::CAPACITY);
        let dropped = Arc::new(Tally::default());
        let subscriber = Subscriber {
            tx,
            dropped: Arc::clone(&dropped),
        };
        socket
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(subscriber);
        Ok(Subscription::new(rx, dropped, None))
    }

    /// Sends a close frame on every open socket and lets their tasks end.
    pub async fn close(&self) {
        let sockets: Vec<Arc<Socket>> = self.sockets.lock().await.drain().map(|(_, s)| s).collect();
        for socket in sockets {
            let (done, finished) = oneshot::channel();
            if socket.commands.send(Command::Close(done)).await.is_ok() {
                let _ = finished.await;
            }
        }
    }

    /// The open socket to `url`, opened now (within the endpoint's connect timeout)
    /// when there is none or the previous one has ended.
    async fn socket(&self, url: &Url) -> Result<Arc<Socket>, BrokerError> {
        let mut sockets = self.sockets.lock().await;
        if let Some(s) = sockets.get(url.as_str()) {
            if !s.task.is_finished() && !s.commands.is_closed() {
                return Ok(Arc::clone(s));
            }
        }
        let limit = self.endpoint.connect_timeout;
        let ws = match tokio::time::timeout(limit, open(&self.endpoint, url)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(BrokerError(format!(
                    "{} did not accept a WebSocket within {:.1} s",
                    shown(url),
                    limit.as_secs_f64()
                )))
            }
        };
        tracing::debug!(socket = %shown(url), "WebSocket open");
        let (commands, requests) = mpsc::channel(16);
        let subscribers = Arc::new(StdMutex::new(Vec::new()));
        let reader = Reader {
            url: url.to_string(),
            max: self.endpoint.max_message_bytes,
            subscribers: Arc::clone(&subscribers),
        };
        let task = tokio::spawn(run(ws, requests, reader));
        let socket = Arc::new(Socket {
            commands,
            subscribers,
            task,
        });
        sockets.insert(url.to_string(), Arc::clone(&socket));
        Ok(socket)
    }
}

/// Connects TCP (and TLS for wss) and does the WebSocket handshake, with HTTP
/// Basic authentication when the credentials have a username or password.
async fn open(endpoint: &Endpoint, url: &Url) -> Result<Ws, BrokerError> {
    let shown_url = shown(url);
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err(BrokerError(format!("{shown_url} names no host"))),
    };
    let tls = url.scheme() == "wss";
    let port = url.port().unwrap_or(super::Protocol::Ws.default_port(tls));
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => BrokerError(format!(
                "{shown_url} refused the connection (nothing listens there); check the server \
                 URL and that the server is running"
            )),
            _ => BrokerError(format!("{shown_url} could not be reached: {e}")),
        })?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Io> = if tls {
        let mut config = super::tls_config(&endpoint.credentials)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| BrokerError(format!("{shown_url}: `{host}` is not a TLS server name")))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| BrokerError(format!("TLS with {shown_url} failed: {e}")))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| BrokerError(format!("{shown_url} is not a WebSocket URL: {e}")))?;
    let creds = &endpoint.credentials;
    if creds.username.is_some() || creds.password.is_some() {
        let pair = format!(
            "{}:{}",
            creds.username.as_deref().unwrap_or(""),
            creds.password.as_deref().unwrap_or("")
        );
        let value =
            HeaderValue::from_str(&format!("Basic {}", crate::redact::base64(pair.as_bytes())))
                .map_err(|_| {
                    BrokerError("the WebSocket username or password has a control character".into())
                })?;
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let config = ws_config(endpoint.max_message_bytes);
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| handshake_error(&shown_url, e))?;
    Ok(ws)
}

/// The largest message the socket reads at all: four times the largest one kept
/// (so oversize ones are still read, then dropped and counted), at least 1 MiB, at
/// most tungstenite's 64 MiB. A bigger one ends the socket.
fn ws_config(max: usize) -> WebSocketConfig {
    let limit = max.saturating_mul(4).clamp(1 << 20, 64 << 20);
    WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
}

fn handshake_error(shown_url: &str, e: WsError) -> BrokerError {
    match e {
        WsError::Http(response) => {
            let status = response.status();
            let hint = match status.as_u16() {
                401 | 403 => "; it refused the credentials: check ARAZZO_AUTH_<SOURCE>_<SCHEME>_USERNAME/PASSWORD",
                404 => "; there is no WebSocket at that path: check the channel address",
                _ => "",
            };
            BrokerError(format!(
                "{shown_url} answered the WebSocket handshake with HTTP {status}{hint}"
            ))
        }
        other => BrokerError(format!(
            "the WebSocket handshake with {shown_url} failed: {other}"
        )),
    }
}

/// Hands received frames to a socket's subscribers.
struct Reader {
    url: String,
    max: usize,
    subscribers: Arc<StdMutex<Vec<Subscriber>>>,
}

impl Reader {
    /// Delivers `payload` to every current subscriber, forgetting those that are
    /// gone (their Subscription was dropped).
    fn fan_out(&self, payload: &[u8]) {
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| {
            let message = InMessage {
                headers: Vec::new(),
                payload: payload.to_vec(),
                address: self.url.clone(),
            };
            deliver(&s.tx, &s.dropped, self.max, message)
        });
    }

    /// Counts a message the socket refused to read (over the read limit) as dropped
    /// by every subscriber.
    fn count_drop(&self) {
        let subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        for s in subs.iter() {
            s.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A socket's task: reads frames for the subscribers (pings are answered by
/// tungstenite, the pong flushed here) and writes what the connection asks, until
/// either side closes.
async fn run(mut ws: Ws, mut commands: mpsc::Receiver<Command>, reader: Reader) {
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => reader.fan_out(t.as_bytes()),
                Some(Ok(Message::Binary(b))) => reader.fan_out(&b),
                Some(Ok(Message::Ping(_))) => {
                    let _ = ws.flush().await;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(WsError::Capacity(e))) => {
                    tracing::debug!(socket = %reader.url, error = %e, "WebSocket message too large");
                    reader.count_drop();
                    break;
                }
                Some(Err(e)) => {
                    tracing::debug!(socket = %reader.url, error = %e, "WebSocket read failed");
                    break;
                }
            },
            command = commands.recv() => match command {
                Some(Command::Send(frame, done)) => {
                    let sent = ws.send(frame).await.map_err(|e| e.to_string());
                    let _ = done.send(sent);
                }
                Some(Command::Close(done)) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    let _ = done.send(());
                    break;
                }
                None => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    break;
                }
            },
        }
    }
    // Closed first, so that once a subscription sees its end, the next use of the
    // channel already finds this socket gone and opens another.
    drop(commands);
    reader
        .subscribers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    tracing::debug!(socket = %reader.url, "WebSocket closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    /// The join is [`super::socket_url`], shared with the engine's reports; these
    /// are the cases the transport relies on.
    #[test]
    fn addresses_join_the_base_path() {
        let base = url("ws://h:1/api");
        assert_eq!(
            socket_url(&base, "orders").expect("join").as_str(),
            "ws://h:1/api/orders"
        );
        assert_eq!(
            socket_url(&base, "/other").expect("join").as_str(),
            "ws://h:1/other"
        );
        let slash = url("wss://h/api/");
        assert_eq!(
            socket_url(&slash, "a/b").expect("join").as_str(),
            "wss://h/api/a/b"
        );
        assert_eq!(
            socket_url(&slash, "").expect("join").as_str(),
            "wss://h/api/"
        );
        let root = url("ws://h:1");
        assert_eq!(
            socket_url(&root, "x?y=1").expect("join").as_str(),
            "ws://h:1/x?y=1"
        );
    }

    #[test]
    fn the_read_limit_is_bounded() {
        assert_eq!(ws_config(10).max_message_size, Some(1 << 20));
        assert_eq!(ws_config(usize::MAX).max_message_size, Some(64 << 20));
    }
}
