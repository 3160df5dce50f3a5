//! NATS message steps (core NATS, async-nats): the channel address is the subject
//! (a subscription's may use the `*` and `>` wildcards).
//!
//! async-nats's `flush` only empties the socket's buffer, and a server reads each
//! connection on its own: a SUB flushed to the socket may still be unread when
//! another client's message arrives. So `publish` and `subscribe` end with a round
//! trip on the same connection, which the server handles in order: a request to a
//! fresh inbox nobody listens on, answered by the server's "no responders" status
//! once it has read everything sent before it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{ConnectErrorKind, HeaderMap, HeaderName, RequestErrorKind};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{
    deliver, shown, tls_config, Bindings, BrokerError, Endpoint, InMessage, OutMessage,
    Subscription, Tally,
};

/// Reconnections tried after the connection drops (the first connection is tried
/// once: async-nats does not retry it unless told to).
const MAX_RECONNECTS: usize = 5;
/// Messages async-nats keeps per subscription before the feeding task takes them.
const SUBSCRIBER_BUFFER: usize = 4 * Subscription::CAPACITY;
/// Shortest wait for the server's answer to a round trip.
const ACK_WAIT_MIN: Duration = Duration::from_secs(10);
/// Server errors kept for reporting (permission violations).
const ERRORS_KEPT: usize = 32;
/// The header that carries a message's reply subject in and out of a step.
const REPLY_TO: &str = "reply_to";
const CREDENTIALS_HINT: &str = "check ARAZZO_AUTH_<SOURCE>_<SCHEME>_USERNAME/PASSWORD";

/// Errors the server reported on the connection (`-ERR`), numbered so that a
/// request can tell those that came after it started.
#[derive(Default)]
struct ServerErrors {
    seen: u64,
    recent: std::collections::VecDeque<(u64, String)>,
}

impl ServerErrors {
    fn push(&mut self, text: String) {
        self.seen += 1;
        if self.recent.len() == ERRORS_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back((self.seen, text));
    }
}

/// A connection to a NATS server.
pub struct Connection {
    client: async_nats::Client,
    /// "the NATS server at nats://host:port", for messages.
    broker: String,
    max_message_bytes: usize,
    ack_wait: Duration,
    errors: Arc<Mutex<ServerErrors>>,
}

impl Connection {
    /// Connects, authenticates with the credentials' user and password, and
    /// returns once the server answered the CONNECT (async-nats sends PING after
    /// it and waits for PONG or an error).
    pub async fn connect(endpoint: &Endpoint) -> Result<Connection, BrokerError> {
        let broker = format!("the NATS server at {}", shown(&endpoint.url));
        let Some(host) = endpoint.url.host_str().filter(|h| !h.is_empty()) else {
            return Err(BrokerError(format!("{broker}: the URL names no host")));
        };
        let port = endpoint
            .url
            .port()
            .unwrap_or(endpoint.protocol.default_port(endpoint.tls));
        let scheme = if endpoint.tls { "tls" } else { "nats" };
        let address: async_nats::ServerAddr = format!("{scheme}://{host}:{port}")
            .parse()
            .map_err(|e| BrokerError(format!("{broker}: {e}")))?;
        let errors = Arc::new(Mutex::new(ServerErrors::default()));
        let options = options(endpoint, Arc::clone(&errors))?;
        let client = options
            .connect(address)
            .await
            .map_err(|e| connect_error(&broker, endpoint, &e))?;
        tracing::debug!(%broker, "NATS connection accepted");
        Ok(Connection {
            client,
            broker,
            max_message_bytes: endpoint.max_message_bytes,
            ack_wait: endpoint.connect_timeout.max(ACK_WAIT_MIN),
            errors,
        })
    }

    /// Publishes on the subject `address` with the message's headers (NATS 2.2
    /// headers; the content type as `Content-Type` unless a header gives one; a
    /// `reply_to` header sets the reply subject instead); returns once the server
    /// has read it.
    pub async fn publish(
        &self,
        address: &str,
        _bindings: &Bindings,
        message: &OutMessage,
    ) -> Result<(), BrokerError> {
        let broker = &self.broker;
        let (reply, headers) = nats_headers(message)
            .map_err(|e| BrokerError(format!("cannot publish on {address} to {broker}: {e}")))?;
        let payload = message.payload.clone().into();
        let subject = address.to_string();
        let sent = match (reply, headers.is_empty()) {
            (None, true) => self.client.publish(subject, payload).await,
            (None, false) => {
                self.client
                    .publish_with_headers(subject, headers, payload)
                    .await
            }
            (Some(r), true) => self.client.publish_with_reply(subject, r, payload).await,
            (Some(r), false) => {
                self.client
                    .publish_with_reply_and_headers(subject, r, headers, payload)
                    .await
            }
        };
        sent.map_err(|e| {
            let why = match e.kind() {
                async_nats::client::PublishErrorKind::MaxPayloadExceeded => format!(
                    "{} bytes with headers are more than the server's max_payload ({} bytes)",
                    message.payload.len(),
                    self.client.server_info().max_payload
                ),
                async_nats::client::PublishErrorKind::InvalidSubject => {
                    "not a valid NATS subject to publish on (no spaces, no wildcards)".into()
                }
                async_nats::client::PublishErrorKind::Send => e.to_string(),
            };
            BrokerError(format!("cannot publish on {address:?} to {broker}: {why}"))
        })?;
        self.confirm(address, &format!("the message published on {address}"))
            .await
    }

    /// Subscribes to the subject `address`, in the queue group of the NATS
    /// operation binding's `queue` when it has one (each message then goes to one
    /// member of the group); returns once the server has read the SUB.
    pub async fn subscribe(
        &self,
        address: &str,
        bindings: &Bindings,
    ) -> Result<Subscription, BrokerError> {
        let broker = &self.broker;
        let subject = address.to_string();
        let subscribed = match queue_of(bindings)? {
            Some(q) => self.client.queue_subscribe(subject, q).await,
            None => self.client.subscribe(subject).await,
        };
        let mut subscriber = subscribed.map_err(|e| {
            BrokerError(format!("cannot subscribe to {address:?} on {broker}: {e}"))
        })?;
        self.confirm(address, &format!("the subscription to {address}"))
            .await?;
        let (tx, messages) = mpsc::channel(Subscription::CAPACITY);
        let dropped = Arc::new(Tally::default());
        let counter = Arc::clone(&dropped);
        let max = self.max_message_bytes;
        let task = tokio::spawn(async move {
            while let Some(m) = subscriber.next().await {
                if !deliver(&tx, &counter, max, in_message(m)) {
                    break;
                }
            }
        });
        Ok(Subscription::new(messages, dropped, Some(task)))
    }

    /// Drains the connection: the server is told to stop every subscription, what
    /// was sent is flushed, then the connection closes.
    pub async fn close(&self) {
        let _ = self.client.flush().await;
        let _ = self.client.drain().await;
    }

    /// The round trip that ends a publish or subscribe (see the module's doc),
    /// and the server's complaint about `subject` if it made one meanwhile (e.g.
    /// a permissions violation).
    async fn confirm(&self, subject: &str, what: &str) -> Result<(), BrokerError> {
        let broker = &self.broker;
        let before = self.errors_seen();
        let probe = self.client.new_inbox();
        let answer =
            tokio::time::timeout(self.ack_wait, self.client.request(probe, Vec::new().into()))
                .await;
        let failed = match answer {
            Ok(Ok(_)) => None,
            Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => None,
            Ok(Err(e)) => Some(format!("{broker} did not confirm {what}: {e}")),
            Err(_) => Some(format!(
                "{broker} did not confirm {what} within {:.1} s",
                self.ack_wait.as_secs_f64()
            )),
        };
        if let Some(text) = failed {
            // E.g. permissions that forbid the `_INBOX.>` subjects the round trip uses.
            return Err(match self.error_about(None, before) {
                Some(complaint) => BrokerError(format!("{text} (the server said: {complaint})")),
                None => BrokerError(text),
            });
        }
        // The event callback that records -ERR runs in async-nats's event task,
        // which the server's error woke before its answer woke us.
        tokio::task::yield_now().await;
        match self.error_about(Some(subject), before) {
            Some(complaint) => Err(BrokerError(format!(
                "{broker} refused {what} ({complaint})"
            ))),
            None => Ok(()),
        }
    }

    fn errors_seen(&self) -> u64 {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).seen
    }

    /// The first server error numbered after `since` that names `subject` in
    /// quotes, as nats-server's permission violations do (any, without one).
    fn error_about(&self, subject: Option<&str>, since: u64) -> Option<String> {
        let quoted = subject.map(|s| format!("\"{s}\""));
        let errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        errors
            .recent
            .iter()
            .filter(|(n, _)| *n > since)
            .find(|(_, text)| quoted.as_ref().is_none_or(|q| text.contains(q)))
            .map(|(_, text)| text.clone())
    }
}

/// async-nats's options for `endpoint`: one connection attempt bounded a little
/// beyond `connect_timeout` (so `broker::Connection::connect`'s timeout is the
/// one that shows), a few reconnections, credentials, TLS, and a record of the
/// server's errors.
fn options(
    endpoint: &Endpoint,
    errors: Arc<Mutex<ServerErrors>>,
) -> Result<async_nats::ConnectOptions, BrokerError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(if endpoint.client_id.is_empty() {
            "arazzo"
        } else {
            &endpoint.client_id
        })
        .connection_timeout(endpoint.connect_timeout + Duration::from_secs(2))
        .max_reconnects(MAX_RECONNECTS)
        .subscription_capacity(SUBSCRIBER_BUFFER)
        .event_callback(move |event| {
            let errors = Arc::clone(&errors);
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    tracing::debug!(error = %e, "NATS server error");
                    let mut errors = errors.lock().unwrap_or_else(|p| p.into_inner());
                    errors.push(e.to_string());
                }
            }
        });
    let c = &endpoint.credentials;
    if c.username.is_some() || c.password.is_some() {
        let user = c.username.clone().unwrap_or_default();
        let pass = c.password.clone().unwrap_or_default();
        options = options.user_and_password(user, pass);
    }
    if endpoint.tls {
        let config = tls_config(&endpoint.credentials)?;
        options = options.require_tls(true).tls_client_config(config);
    }
    Ok(options)
}

/// Why the connection could not be made, with the fix when there is one.
fn connect_error(broker: &str, endpoint: &Endpoint, e: &async_nats::ConnectError) -> BrokerError {
    let c = &endpoint.credentials;
    let has_login = c.username.is_some() || c.password.is_some();
    let io = std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>());
    // async-nats reports a failed handshake as an I/O error holding rustls's.
    let handshake = io
        .and_then(std::io::Error::get_ref)
        .is_some_and(|inner| inner.is::<rustls::Error>());
    if handshake || e.kind() == ConnectErrorKind::Tls {
        let hint = crate::http::tls_hint(&e.to_string());
        let hint = hint.map(|h| format!("; {h}")).unwrap_or_default();
        return BrokerError(format!(
            "the TLS handshake with {broker} failed ({e}){hint}"
        ));
    }
    let kind = e.kind();
    let text = match kind {
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication
            if has_login =>
        {
            format!("{broker} refused the username or password ({kind}); {CREDENTIALS_HINT}")
        }
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => format!(
            "{broker} refused a connection without credentials ({kind}); it needs a username \
             and password: {CREDENTIALS_HINT}"
        ),
        ConnectErrorKind::Io
            if io.map(std::io::Error::kind) == Some(std::io::ErrorKind::ConnectionRefused) =>
        {
            format!(
                "could not connect to {broker}: connection refused (is the server running, and \
                 is the port right?)"
            )
        }
        ConnectErrorKind::TimedOut => format!(
            "{broker} did not accept a connection within {:.1} s",
            endpoint.connect_timeout.as_secs_f64()
        ),
        _ => format!("could not connect to {broker}: {e}"),
    };
    BrokerError(text)
}

/// `queue` of the NATS operation binding: the queue group to subscribe in.
fn queue_of(bindings: &Bindings) -> Result<Option<String>, BrokerError> {
    let queue = bindings
        .operation
        .as_ref()
        .and_then(|o| o.get("queue"))
        .filter(|v| !v.is_null());
    match queue {
        None => Ok(None),
        Some(Value::String(q)) if !q.is_empty() => Ok(Some(q.clone())),
        Some(v) => Err(BrokerError(format!(
            "the NATS operation binding's queue is {v}; it must be a queue group name"
        ))),
    }
}

/// The reply subject (from a `reply_to` header) and the NATS headers of `message`.
fn nats_headers(message: &OutMessage) -> Result<(Option<String>, HeaderMap), String> {
    let mut reply = None;
    let mut headers = HeaderMap::new();
    for (name, value) in &message.headers {
        if name.eq_ignore_ascii_case(REPLY_TO) {
            reply = Some(value.clone());
            continue;
        }
        let key: HeaderName = name.parse().map_err(|_| {
            format!(
                "{name:?} cannot be a NATS header name (no spaces, colons or control characters)"
            )
        })?;
        headers.append(key, value.as_str());
    }
    if let Some(ct) = &message.content_type {
        let named = |(k, _): &(String, String)| k.eq_ignore_ascii_case("content-type");
        if !message.headers.iter().any(named) {
            headers.insert("Content-Type", ct.as_str());
        }
    }
    Ok((reply, headers))
}

/// A NATS message as a step sees it: each header with its first value (sorted by
/// name), and the reply subject as `reply_to`.
fn in_message(m: async_nats::Message) -> InMessage {
    let mut headers: Vec<(String, String)> = m
        .headers
        .iter()
        .flat_map(|h| h.iter())
        .filter_map(|(name, values)| {
            let first = values.first()?;
            Some((name.to_string(), first.to_string()))
        })
        .collect();
    headers.sort();
    if let Some(reply) = m.reply {
        headers.push((REPLY_TO.to_string(), reply.to_string()));
    }
    InMessage {
        headers,
        payload: m.payload.to_vec(),
        address: m.subject.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_reply_and_content_type() {
        let m = OutMessage {
            headers: vec![
                ("x-id".into(), "1".into()),
                ("reply_to".into(), "_INBOX.r".into()),
            ],
            payload: Vec::new(),
            content_type: Some("application/json".into()),
        };
        let (reply, h) = nats_headers(&m).expect("headers");
        assert_eq!(reply.as_deref(), Some("_INBOX.r"));
        assert_eq!(h.get("x-id").map(|v| v.as_str()), Some("1"));
        assert_eq!(
            h.get("Content-Type").map(|v| v.as_str()),
            Some("application/json")
        );
        assert!(h.get("reply_to").is_none());
    }

    #[test]
    fn bad_header_name_is_an_error() {
        let m = OutMessage {
            headers: vec![("a:b".into(), "1".into())],
            ..OutMessage::default()
        };
        assert!(nats_headers(&m).is_err());
    }

    #[test]
    fn queue_binding() {
        let b = |op: Value| Bindings {
            operation: Some(op),
            ..Bindings::default()
        };
        assert_eq!(queue_of(&Bindings::default()).ok(), Some(None));
        let q = queue_of(&b(serde_json::json!({"queue": "workers"}))).ok();
        assert_eq!(q, Some(Some("workers".to_string())));
        assert!(queue_of(&b(serde_json::json!({"queue": 3}))).is_err());
    }
}
