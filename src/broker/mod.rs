//! Message brokers (Arazzo 1.1 message steps on AsyncAPI operations): connecting to
//! one, publishing a message on a channel, and subscribing to a channel so that
//! messages are kept from the moment the subscription is in place. One file per
//! protocol; the engine sees only [`Connection`], [`OutMessage`], [`InMessage`] and
//! [`Subscription`], so a protocol's quirks (MQTT 3.1.1 has no headers, a WebSocket
//! channel is a socket, Kafka reads from offsets) stay in its file.
//!
//! Nothing here prints or reads documents: the engine builds the messages and
//! the redactor masks what is shown of them.

pub mod amqp;
pub mod kafka;
pub mod mqtt;
pub mod nats;
pub mod ws;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use url::Url;

/// The protocols message steps speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Mqtt,
    Amqp,
    Nats,
    Ws,
    Kafka,
}

/// The protocol names an AsyncAPI server's `protocol` or a `--server` URL's scheme may
/// give, for messages.
pub const SUPPORTED: &str =
    "mqtt, mqtts (secure-mqtt), amqp, amqps, nats, ws, wss, kafka, kafka-secure";

impl Protocol {
    /// The protocol of an AsyncAPI `protocol` value or URL scheme, and whether it is
    /// the TLS form. `None` for a protocol message steps do not speak.
    pub fn from_name(name: &str) -> Option<(Protocol, bool)> {
        Some(match name.to_ascii_lowercase().as_str() {
            "mqtt" | "mqtt5" => (Protocol::Mqtt, false),
            "mqtts" | "secure-mqtt" | "secure-mqtt5" | "mqtt+ssl" => (Protocol::Mqtt, true),
            "amqp" => (Protocol::Amqp, false),
            "amqps" => (Protocol::Amqp, true),
            "nats" => (Protocol::Nats, false),
            "tls" | "nats+tls" => (Protocol::Nats, true),
            "ws" => (Protocol::Ws, false),
            "wss" => (Protocol::Ws, true),
            "kafka" => (Protocol::Kafka, false),
            "kafka-secure" | "kafka+ssl" => (Protocol::Kafka, true),
            _ => return None,
        })
    }

    /// The name bindings are keyed by in AsyncAPI (`bindings.<name>`).
    pub fn binding_key(self) -> &'static str {
        match self {
            Protocol::Mqtt => "mqtt",
            Protocol::Amqp => "amqp",
            Protocol::Nats => "nats",
            Protocol::Ws => "ws",
            Protocol::Kafka => "kafka",
        }
    }

    /// The port used when the server's URL gives none.
    pub fn default_port(self, tls: bool) -> u16 {
        match (self, tls) {
            (Protocol::Mqtt, false) => 1883,
            (Protocol::Mqtt, true) => 8883,
            (Protocol::Amqp, false) => 5672,
            (Protocol::Amqp, true) => 5671,
            (Protocol::Nats, _) => 4222,
            (Protocol::Ws, false) => 80,
            (Protocol::Ws, true) => 443,
            (Protocol::Kafka, _) => 9092,
        }
    }

    /// Whether messages of the protocol carry headers (MQTT 3.1.1's do not, and a
    /// WebSocket frame is only a payload): where they do not, a correlation id
    /// must live in the payload.
    pub fn has_headers(self, version: Option<&str>) -> bool {
        match self {
            Protocol::Mqtt => !matches!(version, Some(v) if v.starts_with('3')),
            Protocol::Ws => false,
            Protocol::Amqp | Protocol::Nats | Protocol::Kafka => true,
        }
    }
}

/// Where and how to connect to a broker.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub protocol: Protocol,
    /// `scheme://host:port[/path]`, never with a user or password in it (those are
    /// in `credentials`). For WebSocket, the base the channel address is joined to.
    pub url: Url,
    /// TLS (mqtts, amqps, wss, kafka-secure, nats with `tls`).
    pub tls: bool,
    /// The AsyncAPI server's `protocolVersion`: MQTT `3.1.1` or `5` (the default).
    pub protocol_version: Option<String>,
    pub credentials: Credentials,
    /// Longest wait for the connection (and the broker's answer to it).
    pub connect_timeout: Duration,
    /// Unique per run: MQTT client ids and Kafka client ids are made from it.
    pub client_id: String,
    /// Largest message payload accepted; a larger one is dropped and counted.
    pub max_message_bytes: usize,
}

/// What the broker is told about who connects (AsyncAPI security schemes:
/// `userPassword`, `plain`/`scramSha256`/`scramSha512` SASL, `X509`).
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
    /// SASL mechanism for Kafka (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`).
    pub sasl_mechanism: Option<String>,
    /// PEM files of a client certificate and its key (mutual TLS).
    pub client_cert: Option<std::path::PathBuf>,
    pub client_key: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username.as_ref().map(|_| "…"))
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

/// The protocol's AsyncAPI bindings that apply to one channel and operation (each
/// the object under `bindings.<protocol>`), e.g. an AMQP exchange or queue, MQTT
/// `qos`, a Kafka `key`.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    pub channel: Option<Value>,
    pub operation: Option<Value>,
    pub message: Option<Value>,
}

/// A message to publish.
#[derive(Debug, Clone, Default)]
pub struct OutMessage {
    /// Application headers (MQTT 5 user properties, AMQP headers table, NATS and
    /// Kafka headers). Protocols without headers refuse a message that has some.
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
    pub content_type: Option<String>,
}

/// A message received on a subscription.
#[derive(Debug, Clone, Default)]
pub struct InMessage {
    /// Application headers, and the protocol's own properties under their usual
    /// names where it has them (`correlation_id`, `content_type`, `reply_to` for AMQP;
    /// `correlation_data`, `content_type`, `response_topic` for MQTT 5; Kafka's `key`).
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
    /// Where it arrived (topic, routing key, subject, socket URL).
    pub address: String,
}

/// Why a broker could not be reached or refused something; the text names the
/// broker (never a password) and what it said.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BrokerError(pub String);

/// What a subscription's feeder and its reader share: how many messages were
/// dropped, and how many payload bytes wait unread. It counts like an `AtomicU64`
/// (the drops), so the protocols' files bump and read it as one.
#[derive(Debug, Default)]
pub struct Tally {
    dropped: AtomicU64,
    buffered: AtomicUsize,
}

impl Tally {
    pub fn fetch_add(&self, n: u64, order: Ordering) -> u64 {
        self.dropped.fetch_add(n, order)
    }

    pub fn load(&self, order: Ordering) -> u64 {
        self.dropped.load(order)
    }
}

/// Messages arriving on a channel since the subscription was put in place, kept
/// (up to [`Subscription::CAPACITY`] messages and [`Subscription::MAX_BYTES`] of
/// payload) until taken. Dropping it stops the delivery.
pub struct Subscription {
    messages: mpsc::Receiver<InMessage>,
    /// Messages dropped, and the bytes waiting.
    tally: Arc<Tally>,
    /// The task that feeds `messages` (aborted on drop), if the protocol uses one.
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Subscription {
    /// How many unread messages a subscription keeps; later ones are dropped
    /// (and counted) until some are read.
    pub const CAPACITY: usize = 1024;

    /// How many payload bytes unread messages may hold (or one message's limit, when
    /// that is more): a flood of large messages nobody reads costs bounded memory.
    pub const MAX_BYTES: usize = 64 << 20;

    /// A subscription read from `messages`, fed by `task` (aborted when the
    /// subscription is dropped).
    pub fn new(
        messages: mpsc::Receiver<InMessage>,
        tally: Arc<Tally>,
        task: Option<tokio::task::JoinHandle<()>>,
    ) -> Subscription {
        Subscription {
            messages,
            tally,
            task,
        }
    }

    /// The next message; `None` when the delivery ended (the connection closed).
    pub async fn recv(&mut self) -> Option<InMessage> {
        let m = self.messages.recv().await?;
        self.tally
            .buffered
            .fetch_sub(m.payload.len(), Ordering::Relaxed);
        Some(m)
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Option<InMessage> {
        let m = self.messages.try_recv().ok()?;
        self.tally
            .buffered
            .fetch_sub(m.payload.len(), Ordering::Relaxed);
        Some(m)
    }

    /// The number of messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.tally.load(Ordering::Relaxed)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Hands `message` to a subscription's buffer: dropped and counted when the buffer is
/// full (in messages or bytes) or the payload is over `max` bytes. `false` when the
/// subscription is gone (the feeding task should end).
pub fn deliver(
    tx: &mpsc::Sender<InMessage>,
    tally: &Tally,
    max: usize,
    message: InMessage,
) -> bool {
    let size = message.payload.len();
    let budget = Subscription::MAX_BYTES.max(max);
    if size > max || tally.buffered.load(Ordering::Relaxed) + size > budget {
        tally.fetch_add(1, Ordering::Relaxed);
        return !tx.is_closed();
    }
    tally.buffered.fetch_add(size, Ordering::Relaxed);
    match tx.try_send(message) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tally.buffered.fetch_sub(size, Ordering::Relaxed);
            tally.fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            tally.buffered.fetch_sub(size, Ordering::Relaxed);
            false
        }
    }
}

/// A connection to one broker (for WebSocket, to one server: a socket per channel,
/// opened when first used).
pub enum Connection {
    Mqtt(mqtt::Connection),
    Amqp(amqp::Connection),
    Nats(nats::Connection),
    Ws(ws::Connection),
    Kafka(kafka::Connection),
}

impl Connection {
    /// Connects (and authenticates) within `endpoint.connect_timeout`.
    pub async fn connect(endpoint: &Endpoint) -> Result<Connection, BrokerError> {
        let limit = endpoint.connect_timeout;
        let connecting = async {
            Ok(match endpoint.protocol {
                Protocol::Mqtt => Connection::Mqtt(mqtt::Connection::connect(endpoint).await?),
                Protocol::Amqp => Connection::Amqp(amqp::Connection::connect(endpoint).await?),
                Protocol::Nats => Connection::Nats(nats::Connection::connect(endpoint).await?),
                Protocol::Ws => Connection::Ws(ws::Connection::connect(endpoint).await?),
                Protocol::Kafka => Connection::Kafka(kafka::Connection::connect(endpoint).await?),
            })
        };
        match tokio::time::timeout(limit, connecting).await {
            Ok(r) => r,
            Err(_) => Err(BrokerError(format!(
                "{} did not accept a connection within {:.1} s",
                shown(&endpoint.url),
                limit.as_secs_f64()
            ))),
        }
    }

    /// Publishes `message` on the channel at `address` (a topic, routing key,
    /// subject, path or Kafka topic) and returns once the broker has taken it (or,
    /// for protocols without acknowledgements, once it is written).
    pub async fn publish(
        &self,
        address: &str,
        bindings: &Bindings,
        message: &OutMessage,
    ) -> Result<(), BrokerError> {
        match self {
            Connection::Mqtt(c) => c.publish(address, bindings, message).await,
            Connection::Amqp(c) => c.publish(address, bindings, message).await,
            Connection::Nats(c) => c.publish(address, bindings, message).await,
            Connection::Ws(c) => c.publish(address, bindings, message).await,
            Connection::Kafka(c) => c.publish(address, bindings, message).await,
        }
    }

    /// Subscribes to the channel at `address`; returns once the broker has
    /// confirmed it, so that every message published after this returns is kept.
    pub async fn subscribe(
        &self,
        address: &str,
        bindings: &Bindings,
    ) -> Result<Subscription, BrokerError> {
        match self {
            Connection::Mqtt(c) => c.subscribe(address, bindings).await,
            Connection::Amqp(c) => c.subscribe(address, bindings).await,
            Connection::Nats(c) => c.subscribe(address, bindings).await,
            Connection::Ws(c) => c.subscribe(address, bindings).await,
            Connection::Kafka(c) => c.subscribe(address, bindings).await,
        }
    }

    /// Closes the connection politely (MQTT DISCONNECT, AMQP close, …), within a
    /// short grace period.
    pub async fn close(&self) {
        let closing = async {
            match self {
                Connection::Mqtt(c) => c.close().await,
                Connection::Amqp(c) => c.close().await,
                Connection::Nats(c) => c.close().await,
                Connection::Ws(c) => c.close().await,
                Connection::Kafka(c) => c.close().await,
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), closing).await;
    }
}

/// The URL of a WebSocket channel's socket: the server's URL joined with the channel
/// address (an address starting with `/` replaces the path; another is appended to
/// it after one `/`).
pub fn socket_url(base: &Url, address: &str) -> Result<Url, BrokerError> {
    let mut url = base.clone();
    let path = if address.starts_with('/') {
        address.to_string()
    } else if address.is_empty() {
        base.path().to_string()
    } else {
        format!("{}/{address}", base.path().trim_end_matches('/'))
    };
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path, None),
    };
    url.set_path(&path);
    if query.is_some() {
        url.set_query(query.as_deref());
    }
    if url.host_str().is_none() {
        return Err(BrokerError(format!("`{}` has no host", shown(&url))));
    }
    Ok(url)
}

/// A broker URL as shown in messages: without user or password.
pub fn shown(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// The TLS settings of a broker connection: the platform's roots, and the client
/// certificate when the credentials give one.
pub fn tls_config(credentials: &Credentials) -> Result<rustls::ClientConfig, BrokerError> {
    let identity = match (&credentials.client_cert, &credentials.client_key) {
        (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
        (None, None) => None,
        _ => {
            return Err(BrokerError(
                "a client certificate needs both clientCert and clientKey".into(),
            ))
        }
    };
    crate::http::tls_client_config(identity, &[]).map_err(BrokerError)
}
