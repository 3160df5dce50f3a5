//! AMQP 0-9-1 (RabbitMQ), through lapin.
//!
//! An address is a routing key. Where it goes is said by the AsyncAPI `amqp`
//! channel binding: `is: routingKey` with an `exchange` publishes to (and
//! subscribes through) that exchange; `is: queue`, or no binding at all, uses the
//! default exchange, which routes a key straight to the queue of that name.
//!
//! Publishing waits for the broker's publisher confirm, so a step that sent a
//! message knows the broker has it. Subscribing returns after `basic.consume-ok`:
//! for an exchange the subscription's own queue is bound by then, so every later
//! message reaches it; for a named queue, messages already waiting in the queue
//! are delivered too (that is what a queue is for).
//!
//! TLS goes through [`super::tls_config`] (ring, platform roots), not lapin's
//! own TLS set-up, so that `amqps` trusts exactly what HTTPS calls trust.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use lapin::tcp::{AsyncTcpStream, RustlsConnector};
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use lapin::uri::{
    AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo, SASLMechanism,
};
use lapin::{
    BasicProperties, Channel, Confirmation, ConnectionProperties, ErrorKind, ExchangeKind,
};
use serde_json::Value;
use tokio::sync::{mpsc, Mutex};

use super::{
    deliver, shown, Bindings, BrokerError, Endpoint, InMessage, OutMessage, Subscription, Tally,
};

/// One connection to a broker's virtual host, with a channel in confirm mode for
/// publishing and a channel per subscription.
pub struct Connection {
    conn: lapin::Connection,
    /// The broker as named in messages (no password).
    shown: String,
    vhost: String,
    max_message_bytes: usize,
    /// The publishing channel, opened on first use and again after the broker
    /// closed it (a channel error, e.g. an unknown exchange, closes the channel).
    publisher: Mutex<Option<Channel>>,
    /// Exchanges already declared on this connection, so that each publish does
    /// not pay for a declare round trip.
    declared: Mutex<HashSet<String>>,
    /// Makes consumer tags unique within the connection.
    consumers: AtomicU64,
}

/// Where the channel binding sends messages.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    /// A named exchange (the default exchange is [`Route::Queue`]).
    Exchange(ExchangeSpec),
    /// The default exchange, to the queue of this name.
    Queue(QueueSpec),
}

#[derive(Debug, Clone, PartialEq)]
struct ExchangeSpec {
    name: String,
    kind: ExchangeKind,
    durable: bool,
    auto_delete: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct QueueSpec {
    name: String,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
}

impl Connection {
    /// Opens the connection and returns once the broker has sent `connection.open-ok`
    /// (so the credentials and the virtual host were accepted).
    pub async fn connect(endpoint: &Endpoint) -> Result<Connection, BrokerError> {
        let shown = shown(&endpoint.url);
        let uri = amqp_uri(endpoint)?;
        let vhost = uri.vhost.clone();
        let connector = if endpoint.tls {
            Some(RustlsConnector::from(Arc::new(super::tls_config(
                &endpoint.credentials,
            )?)))
        } else {
            None
        };
        let properties =
            ConnectionProperties::default().with_connection_name(endpoint.client_id.clone().into());
        let runtime = lapin::runtime::default_runtime()
            .map_err(|e| BrokerError(format!("{shown}: no runtime for AMQP: {e}")))?;
        let open = async move |uri: AMQPUri, runtime| {
            let host = (uri.authority.host.as_str(), uri.authority.port);
            let addresses: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host(host).await?.collect();
            let stream = AsyncTcpStream::connect(&runtime, addresses).await?;
            match &connector {
                Some(c) => Ok(stream.into_rustls(c, &uri.authority.host).await?),
                None => Ok(stream),
            }
        };
        let conn = lapin::Connection::connector(uri, runtime, open, properties)
            .await
            .map_err(|e| connect_error(&shown, &vhost, &e))?;
        tracing::debug!(broker = %shown, "AMQP connection open");
        Ok(Connection {
            conn,
            shown,
            vhost,
            max_message_bytes: endpoint.max_message_bytes,
            publisher: Mutex::new(None),
            declared: Mutex::new(HashSet::new()),
            consumers: AtomicU64::new(0),
        })
    }

    /// Publishes `message` with routing key `address` (to the binding's exchange,
    /// else to the default exchange and so to the queue of that name) and returns
    /// once the broker confirmed it.
    pub async fn publish(
        &self,
        address: &str,
        bindings: &Bindings,
        message: &OutMessage,
    ) -> Result<(), BrokerError> {
        let route = route(address, bindings.channel.as_ref(), &self.vhost)?;
        let (exchange, key) = match &route {
            Route::Exchange(x) => {
                self.declare_exchange(x, true).await?;
                (x.name.as_str(), address)
            }
            Route::Queue(q) => ("", q.name.as_str()),
        };
        let operation = bindings.operation.as_ref();
        let properties = properties(message, operation, bindings.message.as_ref())?;
        let options = BasicPublishOptions {
            mandatory: flag(operation, "mandatory"),
            immediate: false,
        };
        let (exchange_name, routing_key) = (
            short(exchange, "exchange name")?,
            short(key, "routing key")?,
        );
        let send = || {
            self.send(
                exchange_name.clone(),
                routing_key.clone(),
                options,
                &message.payload,
                properties.clone(),
            )
        };
        let mut sent = send().await?;
        if let (Route::Exchange(x), Err(e)) = (&route, &sent) {
            // An exchange declared earlier may have gone since (auto-delete, or
            // deleted by someone): declare it again, once.
            if reply_code(e) == Some(404) {
                self.declared.lock().await.remove(&x.name);
                self.declare_exchange(x, true).await?;
                sent = send().await?;
            }
        }
        let what = format!("publishing to {}", destination(exchange, key));
        let confirm = sent.map_err(|e| self.failed(&what, &e))?;
        match confirm {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(returned)) => Err(BrokerError(format!(
                "{} could not route a message to {} and returned it ({} {}): no queue is bound \
                 for that routing key (the operation binding asks for `mandatory`)",
                self.shown,
                destination(exchange, key),
                returned.reply_code,
                returned.reply_text
            ))),
            Confirmation::Nack(_) => Err(BrokerError(format!(
                "{} refused a message to {} (publisher confirm: nack); the queue may be full or \
                 the broker short of resources",
                self.shown,
                destination(exchange, key)
            ))),
        }
    }

    /// Subscribes to the channel at `address`; returns once the broker confirmed the
    /// consumer (`basic.consume-ok`), the queue being declared and bound by then.
    pub async fn subscribe(
        &self,
        address: &str,
        bindings: &Bindings,
    ) -> Result<Subscription, BrokerError> {
        let route = route(address, bindings.channel.as_ref(), &self.vhost)?;
        let (channel, queue) = self.consumer_queue(&route, address).await?;
        let manual_ack = flag(bindings.operation.as_ref(), "ack");
        let tag = format!("arazzo-{}", self.consumers.fetch_add(1, Ordering::Relaxed));
        let consumer = channel
            .basic_consume(
                short(&queue, "queue name")?,
                short(&tag, "consumer tag")?,
                BasicConsumeOptions {
                    no_ack: !manual_ack,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.failed(&format!("consuming queue '{queue}'"), &e))?;
        let (tx, rx) = mpsc::channel(Subscription::CAPACITY);
        let dropped = Arc::new(Tally::default());
        let counter = Arc::clone(&dropped);
        let max = self.max_message_bytes;
        let task = tokio::spawn(async move {
            // The channel lives as long as the task: aborting the task (dropping the
            // Subscription) drops the consumer and the channel, which cancels the
            // consumer at the broker and closes the channel.
            let _channel = channel;
            let mut consumer = consumer;
            while let Some(next) = consumer.next().await {
                let delivery = match next {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::debug!(error = %e, "AMQP consumer ended");
                        break;
                    }
                };
                if manual_ack {
                    let _ = delivery.ack(BasicAckOptions::default()).await;
                }
                if !deliver(&tx, &counter, max, in_message(delivery)) {
                    break;
                }
            }
        });
        Ok(Subscription::new(rx, dropped, Some(task)))
    }

    /// Closes the connection (`connection.close`, waiting for close-ok).
    pub async fn close(&self) {
        if let Err(e) = self.conn.close(200, "OK".into()).await {
            tracing::debug!(broker = %self.shown, error = %e, "AMQP close");
        }
    }

    /// The publishing channel (in confirm mode), opened anew when the broker has
    /// closed the previous one.
    async fn publisher(&self) -> Result<Channel, BrokerError> {
        let mut slot = self.publisher.lock().await;
        if let Some(c) = slot.as_ref() {
            if c.status().connected() {
                return Ok(c.clone());
            }
        }
        let channel = self.open_channel("publishing").await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.failed("turning on publisher confirms", &e))?;
        *slot = Some(channel.clone());
        Ok(channel)
    }

    /// Publishes on the publishing channel and waits for the broker's confirm. The
    /// outer error is about getting a channel; the inner one is the broker's answer
    /// to the publish, which the caller may act on.
    async fn send(
        &self,
        exchange: ShortString,
        key: ShortString,
        options: BasicPublishOptions,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<Result<Confirmation, lapin::Error>, BrokerError> {
        let channel = self.publisher().await?;
        let confirmed = async {
            channel
                .basic_publish(exchange, key, options, payload, properties)
                .await?
                .await
        };
        Ok(confirmed.await)
    }

    async fn open_channel(&self, why: &str) -> Result<Channel, BrokerError> {
        self.conn
            .create_channel()
            .await
            .map_err(|e| self.failed(&format!("opening a channel for {why}"), &e))
    }

    /// Declares the exchange with the binding's settings; when it exists with other
    /// settings (PRECONDITION_FAILED), or is one of the broker's own `amq.*`, only
    /// checks that it exists (a passive declare). Each declare uses a channel of its
    /// own because a refused declare closes the channel it was made on.
    async fn declare_exchange(&self, x: &ExchangeSpec, cached: bool) -> Result<(), BrokerError> {
        if cached && self.declared.lock().await.contains(&x.name) {
            return Ok(());
        }
        let name = short(&x.name, "exchange name")?;
        let what = format!("declaring exchange '{}'", x.name);
        let mut options = ExchangeDeclareOptions {
            durable: x.durable,
            auto_delete: x.auto_delete,
            ..ExchangeDeclareOptions::default()
        };
        if !x.name.starts_with("amq.") {
            let channel = self.open_channel(&what).await?;
            let declared = channel
                .exchange_declare(name.clone(), x.kind.clone(), options, FieldTable::default())
                .await;
            match declared {
                Ok(()) => {
                    self.declared.lock().await.insert(x.name.clone());
                    return Ok(());
                }
                Err(e) if reply_code(&e) != Some(406) => return Err(self.failed(&what, &e)),
                Err(e) => tracing::debug!(error = %e, "exchange exists with other settings"),
            }
        }
        options.passive = true;
        let channel = self.open_channel(&what).await?;
        channel
            .exchange_declare(name, x.kind.clone(), options, FieldTable::default())
            .await
            .map_err(|e| self.failed(&what, &e))?;
        self.declared.lock().await.insert(x.name.clone());
        Ok(())
    }

    /// Declares the queue with the binding's settings, or only checks that it exists
    /// when it exists with other settings (as [`Connection::declare_exchange`]).
    async fn declare_queue(&self, q: &QueueSpec) -> Result<(), BrokerError> {
        let name = short(&q.name, "queue name")?;
        let what = format!("declaring queue '{}'", q.name);
        let mut options = QueueDeclareOptions {
            durable: q.durable,
            exclusive: q.exclusive,
            auto_delete: q.auto_delete,
            ..QueueDeclareOptions::default()
        };
        let channel = self.open_channel(&what).await?;
        match channel
            .queue_declare(name.clone(), options, FieldTable::default())
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if reply_code(&e) != Some(406) => return Err(self.failed(&what, &e)),
            Err(e) => tracing::debug!(error = %e, "queue exists with other settings"),
        }
        options.passive = true;
        let channel = self.open_channel(&what).await?;
        channel
            .queue_declare(name, options, FieldTable::default())
            .await
            .map(|_| ())
            .map_err(|e| self.failed(&what, &e))
    }

    /// The channel to consume on and the queue to consume: the named queue
    /// (declared), or for an exchange a queue of the subscription's own bound to it.
    async fn consumer_queue(
        &self,
        route: &Route,
        address: &str,
    ) -> Result<(Channel, String), BrokerError> {
        let x = match route {
            Route::Queue(q) => {
                self.declare_queue(q).await?;
                let channel = self.open_channel("subscribing").await?;
                return Ok((channel, q.name.clone()));
            }
            Route::Exchange(x) => x,
        };
        let mut retried = false;
        loop {
            // A refused bind closes the channel, so each attempt has its own.
            let channel = self.open_channel("subscribing").await?;
            match self.bind_own_queue(&channel, x, address).await? {
                Ok(queue) => return Ok((channel, queue)),
                // The exchange went between its declare and the bind (an auto-delete
                // exchange losing its last binding as an earlier subscription ends).
                Err(e) if reply_code(&e) == Some(404) && !retried => retried = true,
                Err(e) => {
                    let what = format!(
                        "binding a queue to exchange '{}' with routing key '{address}'",
                        x.name
                    );
                    return Err(self.failed(&what, &e));
                }
            }
        }
    }

    /// Declares the exchange, then a server-named, exclusive, auto-delete queue on
    /// `channel` bound to it with routing key `address` (any key for fanout), and
    /// returns the queue's name. Only messages routed after the bind reach it. The
    /// inner error is the broker's answer to the bind, which the caller may retry.
    async fn bind_own_queue(
        &self,
        channel: &Channel,
        x: &ExchangeSpec,
        address: &str,
    ) -> Result<Result<String, lapin::Error>, BrokerError> {
        // Not from the cache: an auto-delete exchange goes with its last binding,
        // e.g. when an earlier subscription was dropped.
        self.declare_exchange(x, false).await?;
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        let queue = channel
            .queue_declare(ShortString::from(""), options, FieldTable::default())
            .await
            .map_err(|e| self.failed("declaring the subscription's queue", &e))?;
        let key = if x.kind == ExchangeKind::Fanout {
            ""
        } else {
            address
        };
        let bound = channel
            .queue_bind(
                queue.name().clone(),
                short(&x.name, "exchange name")?,
                short(key, "routing key")?,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await;
        Ok(bound.map(|()| queue.name().as_str().to_string()))
    }

    /// A broker error met while doing `what`, in words.
    fn failed(&self, what: &str, e: &lapin::Error) -> BrokerError {
        let hint = match reply_code(e) {
            Some(403) => "; the user lacks permission for it in this virtual host",
            Some(404) => "; it does not exist (check the channel's AMQP binding)",
            Some(405) => "; the queue is exclusive to another connection",
            Some(406) => "; it exists with other settings than the binding's",
            _ => "",
        };
        BrokerError(format!(
            "{} (vhost '{}') failed {what}: {}{hint}",
            self.shown,
            self.vhost,
            describe(e)
        ))
    }
}

/// The lapin URI of `endpoint`: host and port from the URL, the virtual host from
/// its percent-decoded path (`/` when empty), credentials from `credentials`
/// (RabbitMQ's `guest`/`guest` when none; EXTERNAL with a client certificate and no
/// password).
fn amqp_uri(endpoint: &Endpoint) -> Result<AMQPUri, BrokerError> {
    let url = &endpoint.url;
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => {
            return Err(BrokerError(format!(
                "{} names no host to connect to",
                shown(url)
            )))
        }
    };
    let port = url
        .port()
        .unwrap_or(super::Protocol::Amqp.default_port(endpoint.tls));
    let path = url.path().strip_prefix('/').unwrap_or(url.path());
    let vhost = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| BrokerError(format!("{}: the vhost is not UTF-8", shown(url))))?;
    let vhost = if vhost.is_empty() {
        "/".into()
    } else {
        vhost.into_owned()
    };
    let creds = &endpoint.credentials;
    let external = creds.client_cert.is_some() && creds.password.is_none();
    let query = AMQPQueryString {
        auth_mechanism: Some(if external {
            SASLMechanism::External
        } else {
            SASLMechanism::Plain
        }),
        connection_timeout: u64::try_from(endpoint.connect_timeout.as_millis()).ok(),
        ..AMQPQueryString::default()
    };
    let uri = AMQPUri {
        scheme: if endpoint.tls {
            AMQPScheme::AMQPS
        } else {
            AMQPScheme::AMQP
        },
        authority: AMQPAuthority {
            userinfo: AMQPUserInfo {
                username: creds.username.clone().unwrap_or_else(|| "guest".into()),
                password: creds.password.clone().unwrap_or_else(|| "guest".into()),
            },
            host,
            port,
        },
        vhost,
        query,
    };
    Ok(uri)
}

/// Why the connection could not be opened, with the fix when there is one.
fn connect_error(shown: &str, vhost: &str, e: &lapin::Error) -> BrokerError {
    if let ErrorKind::IOError(io) = e.kind() {
        if io.kind() == std::io::ErrorKind::ConnectionRefused {
            return BrokerError(format!(
                "{shown} refused the connection (nothing listens there); check the server URL \
                 and that the broker is running"
            ));
        }
    }
    let text = match e.kind() {
        ErrorKind::ProtocolError(p) => match p.kind() {
            AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => {
                return BrokerError(format!(
                    "{shown} refused access to virtual host '{vhost}' (NOT_ALLOWED: {}); check \
                     the vhost in the server URL's path and the user's permissions",
                    p.get_message()
                ))
            }
            AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED) => {
                return BrokerError(format!(
                    "{shown} refused the username or password (ACCESS_REFUSED: {}); check \
                     ARAZZO_AUTH_<SOURCE>_<SCHEME>_USERNAME/PASSWORD",
                    p.get_message()
                ))
            }
            _ => describe(e),
        },
        _ => describe(e),
    };
    BrokerError(format!("{shown} did not open an AMQP connection: {text}"))
}

/// A lapin error in words: the broker's reply code name and text for protocol
/// errors.
fn describe(e: &lapin::Error) -> String {
    match e.kind() {
        ErrorKind::ProtocolError(p) => {
            let name = match p.kind() {
                AMQPErrorKind::Soft(s) => s.to_string(),
                AMQPErrorKind::Hard(h) => h.to_string(),
            };
            format!("{name} ({}): {}", p.get_id(), p.get_message())
        }
        ErrorKind::IOError(io) => io.to_string(),
        _ => e.to_string(),
    }
}

/// The AMQP reply code of a broker error (403, 404, 406, …).
fn reply_code(e: &lapin::Error) -> Option<u16> {
    match e.kind() {
        ErrorKind::ProtocolError(p) => Some(p.get_id()),
        _ => None,
    }
}

/// The route the channel binding gives (see the module's documentation). A binding
/// naming another virtual host than the connection's is refused: one connection
/// reaches one virtual host, which the server URL's path names.
fn route(address: &str, channel: Option<&Value>, vhost: &str) -> Result<Route, BrokerError> {
    let binding = channel.filter(|b| b.is_object());
    let is = binding.and_then(|b| b.get("is")).and_then(Value::as_str);
    let queue_route = |q: Option<&Value>| {
        let name = text(q, "name").unwrap_or(address).to_string();
        Route::Queue(QueueSpec {
            name,
            durable: flag(q, "durable"),
            exclusive: flag(q, "exclusive"),
            auto_delete: flag(q, "autoDelete"),
        })
    };
    if is == Some("queue") {
        let q = binding.and_then(|b| b.get("queue"));
        check_vhost(text(q, "vhost"), vhost)?;
        return Ok(queue_route(q));
    }
    let Some(x) = binding.and_then(|b| b.get("exchange")) else {
        return Ok(queue_route(None));
    };
    check_vhost(text(Some(x), "vhost"), vhost)?;
    let name = text(Some(x), "name").unwrap_or("");
    let kind = match text(Some(x), "type").unwrap_or("topic") {
        _ if name.is_empty() => return Ok(queue_route(None)),
        "default" => return Ok(queue_route(None)),
        "topic" => ExchangeKind::Topic,
        "direct" => ExchangeKind::Direct,
        "fanout" => ExchangeKind::Fanout,
        "headers" => ExchangeKind::Headers,
        other => {
            return Err(BrokerError(format!(
                "the AMQP channel binding's exchange type `{other}` is not one of topic, \
                 direct, fanout, default, headers"
            )))
        }
    };
    Ok(Route::Exchange(ExchangeSpec {
        name: name.to_string(),
        kind,
        durable: x.get("durable").and_then(Value::as_bool).unwrap_or(true),
        auto_delete: flag(Some(x), "autoDelete"),
    }))
}

fn check_vhost(binding: Option<&str>, connected: &str) -> Result<(), BrokerError> {
    match binding {
        Some(v) if v != connected => Err(BrokerError(format!(
            "the AMQP channel binding is in virtual host '{v}' but the server URL connects to \
             '{connected}'; put the vhost in the server URL's path (e.g. amqp://host/{})",
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
        ))),
        _ => Ok(()),
    }
}

/// The basic properties of `message`: the headers table, the properties its
/// property-named headers set, and the operation binding's `deliveryMode`,
/// `priority`, `expiration`, `userId`, `cc`, `bcc`; the message binding's
/// `contentEncoding` and `messageType`.
fn properties(
    message: &OutMessage,
    operation: Option<&Value>,
    message_binding: Option<&Value>,
) -> Result<BasicProperties, BrokerError> {
    let mut p = BasicProperties::default();
    let mut table = FieldTable::default();
    for (name, value) in &message.headers {
        p = match name.as_str() {
            "correlation_id" => p.with_correlation_id(short(value, name)?),
            "reply_to" => p.with_reply_to(short(value, name)?),
            "message_id" => p.with_message_id(short(value, name)?),
            "type" => p.with_type(short(value, name)?),
            "app_id" => p.with_app_id(short(value, name)?),
            "content_type" => p.with_content_type(short(value, name)?),
            _ => {
                let v = AMQPValue::LongString(LongString::from(value.as_bytes()));
                table.insert(short(name, "header name")?, v);
                p
            }
        };
    }
    if let Some(ct) = &message.content_type {
        p = p.with_content_type(short(ct, "content type")?);
    }
    for (field, header) in [("cc", "CC"), ("bcc", "BCC")] {
        if let Some(list) = operation
            .and_then(|o| o.get(field))
            .and_then(Value::as_array)
        {
            let keys: Vec<AMQPValue> = list
                .iter()
                .filter_map(Value::as_str)
                .map(|k| AMQPValue::LongString(LongString::from(k.as_bytes())))
                .collect();
            table.insert(header.into(), AMQPValue::FieldArray(FieldArray::from(keys)));
        }
    }
    if !table.inner().is_empty() {
        p = p.with_headers(table);
    }
    operation_properties(p, operation, message_binding)
}

/// The properties the operation and message bindings set (see [`properties`]).
fn operation_properties(
    mut p: BasicProperties,
    operation: Option<&Value>,
    message_binding: Option<&Value>,
) -> Result<BasicProperties, BrokerError> {
    let number = |key: &str| operation.and_then(|o| o.get(key)).and_then(Value::as_u64);
    if let Some(mode) = number("deliveryMode") {
        p = p.with_delivery_mode(if mode == 2 { 2 } else { 1 });
    }
    if let Some(priority) = number("priority") {
        p = p.with_priority(u8::try_from(priority).unwrap_or(u8::MAX));
    }
    match operation.and_then(|o| o.get("expiration")) {
        Some(Value::Number(n)) => p = p.with_expiration(short(&n.to_string(), "expiration")?),
        Some(Value::String(s)) => p = p.with_expiration(short(s, "expiration")?),
        _ => {}
    }
    if let Some(user) = text(operation, "userId") {
        p = p.with_user_id(short(user, "userId")?);
    }
    if let Some(encoding) = text(message_binding, "contentEncoding") {
        p = p.with_content_encoding(short(encoding, "contentEncoding")?);
    }
    if p.kind().is_none() {
        if let Some(kind) = text(message_binding, "messageType") {
            p = p.with_type(short(kind, "messageType")?);
        }
    }
    Ok(p)
}

/// A delivery as the engine sees it: the headers table as text, then the
/// properties a reply is matched by, under their AMQP names.
fn in_message(delivery: Delivery) -> InMessage {
    let p = &delivery.properties;
    let mut headers = Vec::new();
    if let Some(table) = p.headers() {
        for (name, value) in table.inner() {
            headers.push((name.as_str().to_string(), field_text(value)));
        }
    }
    let named = [
        ("correlation_id", p.correlation_id()),
        ("reply_to", p.reply_to()),
        ("message_id", p.message_id()),
        ("content_type", p.content_type()),
        ("type", p.kind()),
        ("app_id", p.app_id()),
    ];
    for (name, value) in named {
        if let Some(v) = value {
            headers.push((name.to_string(), v.as_str().to_string()));
        }
    }
    InMessage {
        headers,
        address: delivery.routing_key.as_str().to_string(),
        payload: delivery.data,
    }
}

/// A header value as text: strings as they are, numbers and booleans as written,
/// arrays and tables as JSON.
fn field_text(value: &AMQPValue) -> String {
    match field_json(value) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn field_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => Value::from(*n),
        AMQPValue::ShortShortUInt(n) => Value::from(*n),
        AMQPValue::ShortInt(n) => Value::from(*n),
        AMQPValue::ShortUInt(n) => Value::from(*n),
        AMQPValue::LongInt(n) => Value::from(*n),
        AMQPValue::LongUInt(n) => Value::from(*n),
        AMQPValue::LongLongInt(n) => Value::from(*n),
        AMQPValue::Timestamp(n) => Value::from(*n),
        AMQPValue::Float(f) => Value::from(*f),
        AMQPValue::Double(f) => Value::from(*f),
        AMQPValue::DecimalValue(d) => {
            let scaled = f64::from(d.value) / 10f64.powi(i32::from(d.scale));
            Value::from(scaled)
        }
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_string()),
        AMQPValue::LongString(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into()),
        AMQPValue::ByteArray(b) => Value::String(String::from_utf8_lossy(b.as_slice()).into()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(field_json).collect()),
        AMQPValue::FieldTable(t) => Value::Object(
            t.inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), field_json(v)))
                .collect(),
        ),
        AMQPValue::Void => Value::Null,
    }
}

/// An AMQP short string (at most 255 bytes), or an error naming what was too long.
fn short(value: &str, what: &str) -> Result<ShortString, BrokerError> {
    ShortString::try_new(value).map_err(|_| {
        BrokerError(format!(
            "the AMQP {what} is {} bytes long; AMQP allows at most 255",
            value.len()
        ))
    })
}

fn flag(object: Option<&Value>, key: &str) -> bool {
    object
        .and_then(|o| o.get(key))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn text<'a>(object: Option<&'a Value>, key: &str) -> Option<&'a str> {
    object.and_then(|o| o.get(key)).and_then(Value::as_str)
}

/// Where a message goes, in words.
fn destination(exchange: &str, key: &str) -> String {
    if exchange.is_empty() {
        format!("queue '{key}' (default exchange)")
    } else {
        format!("exchange '{exchange}' with routing key '{key}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_binding_routes_to_the_queue_named_by_the_address() {
        let r = route("orders", None, "/").expect("route");
        assert_eq!(
            r,
            Route::Queue(QueueSpec {
                name: "orders".into(),
                durable: false,
                exclusive: false,
                auto_delete: false
            })
        );
    }

    #[test]
    fn exchange_binding_reads_type_and_flags() {
        let b = json!({"is": "routingKey", "exchange": {"name": "ev", "type": "fanout", "durable": false, "autoDelete": true}});
        let Route::Exchange(x) = route("k", Some(&b), "/").expect("route") else {
            panic!("not an exchange route");
        };
        assert_eq!(x.kind, ExchangeKind::Fanout);
        assert!(!x.durable && x.auto_delete);
    }

    #[test]
    fn default_exchange_and_queue_bindings_use_the_default_exchange() {
        let d = json!({"exchange": {"name": "", "type": "default"}});
        assert!(matches!(route("q", Some(&d), "/"), Ok(Route::Queue(q)) if q.name == "q"));
        let q = json!({"is": "queue", "queue": {"name": "work", "durable": true}});
        assert!(
            matches!(route("x", Some(&q), "/"), Ok(Route::Queue(q)) if q.name == "work" && q.durable)
        );
    }

    #[test]
    fn another_vhost_and_an_unknown_type_are_refused() {
        let b = json!({"exchange": {"name": "ev", "vhost": "other"}});
        let e = route("k", Some(&b), "/").expect_err("vhost");
        assert!(
            e.0.contains("'other'") && e.0.contains("amqp://host/other"),
            "{e}"
        );
        let b = json!({"exchange": {"name": "ev", "type": "x-delayed"}});
        assert!(route("k", Some(&b), "/").is_err());
    }

    #[test]
    fn property_headers_set_properties_and_the_rest_go_to_the_table() {
        let m = OutMessage {
            headers: vec![
                ("correlation_id".into(), "c1".into()),
                ("reply_to".into(), "replies".into()),
                ("x-trace".into(), "t".into()),
            ],
            payload: vec![],
            content_type: Some("application/json".into()),
        };
        let op = json!({"deliveryMode": 2, "priority": 7, "expiration": 60000, "cc": ["a"]});
        let p = properties(&m, Some(&op), None).expect("properties");
        assert_eq!(p.correlation_id().as_ref().map(|s| s.as_str()), Some("c1"));
        assert_eq!(p.reply_to().as_ref().map(|s| s.as_str()), Some("replies"));
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(*p.delivery_mode(), Some(2));
        assert_eq!(*p.priority(), Some(7));
        assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("60000"));
        let table = p.headers().as_ref().expect("headers");
        assert!(table.contains_key("x-trace") && table.contains_key("CC"));
        assert!(!table.contains_key("correlation_id"));
    }

    #[test]
    fn header_values_become_text() {
        assert_eq!(field_text(&AMQPValue::LongInt(-3)), "-3");
        assert_eq!(field_text(&AMQPValue::Boolean(true)), "true");
        assert_eq!(field_text(&AMQPValue::LongString("é".into())), "é");
        let a = AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongString("x".into())]));
        assert_eq!(field_text(&a), r#"["x"]"#);
    }

    #[test]
    fn a_long_name_is_an_error_not_a_panic() {
        assert!(short(&"k".repeat(256), "routing key").is_err());
    }
}
