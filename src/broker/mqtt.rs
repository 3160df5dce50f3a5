//! MQTT message steps (rumqttc): MQTT 5 by default, MQTT 3.1.1 when the server's
//! `protocolVersion` says `3.1.1` (or `3.1`, `3`, `4`). The channel address is the
//! topic; a subscription's address is a topic filter (`+` and `#` allowed).
//!
//! rumqttc runs a connection as an event loop that has to be polled; its client only
//! queues requests, without telling which packet id a request got. A spawned task
//! polls the loop: it completes the waiting `publish` and `subscribe` calls when
//! their acknowledgement arrives and hands incoming messages to the subscriptions.
//! Because the loop takes requests in the order they were queued, and tells each
//! packet id in an `Outgoing` event in that same order, a caller queues its waiter
//! and its request under one lock: the n-th `Outgoing::Publish` belongs to the n-th
//! waiting publish.
//!
//! Several subscriptions share the connection. With MQTT 5 each SUBSCRIBE carries a
//! subscription identifier and the broker names the matching ones in every message,
//! so a message reaches exactly the subscriptions it matched; with MQTT 3.1.1 (or a
//! broker without identifiers) the topic is matched against each filter here, and
//! overlapping filters (`a/+` and `a/#`) can each get a message twice, as
//! Mosquitto sends one copy per matching subscription. A subscription takes
//! messages from its SUBACK on: what arrives before was matched before the broker
//! had it, so was published before `subscribe` returned.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5 as p5;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

use super::{
    deliver, shown, tls_config, Bindings, BrokerError, Endpoint, InMessage, OutMessage,
    Subscription, Tally,
};

/// How often the broker hears from us when nothing else is sent.
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// The largest packet MQTT can carry (its remaining length is at most 268,435,455).
const MAX_PACKET: usize = 268_435_455 + 5;
/// Room in a packet for the topic and properties beside the payload.
const PACKET_OVERHEAD: usize = 64 * 1024;
/// Capacity of rumqttc's request queue; at most `REQUESTS - SPARE_REQUESTS`
/// publishes and subscribes wait at once, leaving room for UNSUBSCRIBE and
/// DISCONNECT.
const REQUESTS: usize = 64;
const SPARE_REQUESTS: usize = 8;
/// Shortest wait for an acknowledgement (longer when `connect_timeout` is).
const ACK_WAIT_MIN: Duration = Duration::from_secs(10);
/// The environment variables that give a broker's username and password.
const CREDENTIALS_HINT: &str = "check ARAZZO_AUTH_<SOURCE>_<SCHEME>_USERNAME/PASSWORD";

/// The MQTT version spoken on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V311,
    V5,
}

impl Version {
    /// `3.1.1`, `3.1`, `3` and `4` (the protocol level of 3.1.1) mean MQTT 3.1.1,
    /// which rumqttc speaks for 3.1 too; anything else, or nothing, means MQTT 5.
    fn of(protocol_version: Option<&str>) -> Version {
        match protocol_version.map(str::trim) {
            Some("3.1.1" | "3.1" | "3" | "4") => Version::V311,
            _ => Version::V5,
        }
    }
}

/// rumqttc's two clients; both only queue requests for their event loop.
#[derive(Clone)]
enum Client {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// A PUBLISH to queue.
struct Publish<'a> {
    topic: &'a str,
    qos: u8,
    retain: bool,
    payload: &'a [u8],
    /// MQTT 5 properties (always `None` for MQTT 3.1.1).
    properties: Option<p5::PublishProperties>,
}

impl Client {
    /// Queues a PUBLISH without waiting; an error means the queue is full or the
    /// event loop has ended (the topic was checked before).
    fn try_publish(&self, p: Publish<'_>) -> Result<(), ()> {
        let payload = p.payload.to_vec();
        let queued = match self {
            Client::V4(c) => c
                .try_publish(p.topic, qos_v4(p.qos), p.retain, payload)
                .is_ok(),
            Client::V5(c) => match p.properties {
                Some(props) => c
                    .try_publish_with_properties(p.topic, qos_v5(p.qos), p.retain, payload, props)
                    .is_ok(),
                None => c
                    .try_publish(p.topic, qos_v5(p.qos), p.retain, payload)
                    .is_ok(),
            },
        };
        queued.then_some(()).ok_or(())
    }

    /// Queues a SUBSCRIBE (with the subscription identifier `id`, MQTT 5 only).
    fn try_subscribe(&self, filter: &str, qos: u8, id: Option<usize>) -> Result<(), ()> {
        let queued = match self {
            Client::V4(c) => c.try_subscribe(filter, qos_v4(qos)).is_ok(),
            Client::V5(c) => match id {
                Some(id) => {
                    let props = p5::SubscribeProperties {
                        id: Some(id),
                        user_properties: Vec::new(),
                    };
                    c.try_subscribe_with_properties(filter, qos_v5(qos), props)
                        .is_ok()
                }
                None => c.try_subscribe(filter, qos_v5(qos)).is_ok(),
            },
        };
        queued.then_some(()).ok_or(())
    }

    /// Queues an UNSUBSCRIBE, best effort (it only saves the broker some work).
    fn try_unsubscribe(&self, filter: &str) {
        let _ = match self {
            Client::V4(c) => c.try_unsubscribe(filter).is_ok(),
            Client::V5(c) => c.try_unsubscribe(filter).is_ok(),
        };
    }

    /// Queues a DISCONNECT; `false` when the event loop is gone.
    fn try_disconnect(&self) -> bool {
        match self {
            Client::V4(c) => c.try_disconnect().is_ok(),
            Client::V5(c) => c.try_disconnect().is_ok(),
        }
    }
}

fn qos_v4(qos: u8) -> rumqttc::QoS {
    match qos {
        0 => rumqttc::QoS::AtMostOnce,
        2 => rumqttc::QoS::ExactlyOnce,
        _ => rumqttc::QoS::AtLeastOnce,
    }
}

fn qos_v5(qos: u8) -> rumqttc::v5::mqttbytes::QoS {
    use rumqttc::v5::mqttbytes::QoS;
    match qos {
        0 => QoS::AtMostOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    }
}

/// Why a waiting request did not succeed.
#[derive(Debug)]
enum Failure {
    /// The broker answered with a failure reason (e.g. `SUBACK: NotAuthorized`).
    Refused(String),
    /// The connection ended; the text says so in full.
    Lost(String),
}

type Done = oneshot::Sender<Result<(), Failure>>;

/// A publish queued for the event loop, not yet given a packet id.
struct QueuedPublish {
    qos: u8,
    done: Done,
}

/// A subscription as the event loop sees it.
struct Route {
    /// Also the MQTT 5 subscription identifier (1 and up).
    id: usize,
    filter: String,
    /// Set by the SUBACK: what arrives before it was matched before the broker
    /// had the subscription, so it was published before `subscribe` returned.
    active: bool,
    tx: mpsc::Sender<InMessage>,
    dropped: Arc<Tally>,
}

/// A subscribe waiting for its SUBACK, and the route it will start.
struct QueuedSubscribe {
    route: usize,
    done: Done,
}

/// What the callers and the event-loop task share.
#[derive(Default)]
struct State {
    queued_publishes: VecDeque<QueuedPublish>,
    sent_publishes: HashMap<u16, Done>,
    queued_subscribes: VecDeque<QueuedSubscribe>,
    sent_subscribes: HashMap<u16, QueuedSubscribe>,
    routes: Vec<Route>,
    last_route: usize,
    /// The filter of every subscription identifier the broker may still name
    /// (those of dropped routes too, until their filter is unsubscribed).
    filters: HashMap<usize, String>,
    /// Set once the connection has ended: why, in full.
    lost: Option<String>,
}

impl State {
    /// The event loop wrote the next queued PUBLISH with packet id `pkid`: a QoS 0
    /// publish is done, others wait for their acknowledgement.
    fn sent_publish(&mut self, pkid: u16) {
        if let Some(q) = self.queued_publishes.pop_front() {
            if q.qos == 0 {
                let _ = q.done.send(Ok(()));
            } else {
                self.sent_publishes.insert(pkid, q.done);
            }
        }
    }

    fn publish_acked(&mut self, pkid: u16, result: Result<(), Failure>) {
        if let Some(done) = self.sent_publishes.remove(&pkid) {
            let _ = done.send(result);
        }
    }

    /// Registers a route (inactive until its SUBACK) and returns its id.
    fn add_route(
        &mut self,
        filter: &str,
        tx: mpsc::Sender<InMessage>,
        dropped: Arc<Tally>,
    ) -> usize {
        self.last_route += 1;
        let id = self.last_route;
        self.filters.insert(id, filter.to_string());
        self.routes.push(Route {
            id,
            filter: filter.to_string(),
            active: false,
            tx,
            dropped,
        });
        id
    }

    fn sent_subscribe(&mut self, pkid: u16) {
        if let Some(q) = self.queued_subscribes.pop_front() {
            self.sent_subscribes.insert(pkid, q);
        }
    }

    /// The SUBACK of packet `pkid`: the route starts taking messages, or goes.
    fn subscribe_acked(&mut self, pkid: u16, result: Result<(), Failure>) {
        let Some(q) = self.sent_subscribes.remove(&pkid) else {
            return;
        };
        match &result {
            Ok(()) => self
                .routes
                .iter_mut()
                .filter(|r| r.id == q.route)
                .for_each(|r| r.active = true),
            Err(_) => self.routes.retain(|r| r.id != q.route),
        }
        let _ = q.done.send(result);
    }

    /// The connection ended: every waiting call fails with `why`, and dropping the
    /// routes' senders ends every subscription's stream.
    fn lose(&mut self, why: String) {
        let fail = |done: Done| {
            let _ = done.send(Err(Failure::Lost(why.clone())));
        };
        self.queued_publishes.drain(..).for_each(|q| fail(q.done));
        self.sent_publishes.drain().for_each(|(_, d)| fail(d));
        self.queued_subscribes.drain(..).for_each(|q| fail(q.done));
        self.sent_subscribes.drain().for_each(|(_, q)| fail(q.done));
        self.routes.clear();
        self.lost.get_or_insert(why);
    }

    /// Hands `message` to the active subscriptions it is for, and returns the
    /// filters no subscription uses any more (their subscriptions were dropped).
    ///
    /// Without subscription identifiers (`ids` empty) those are the routes whose
    /// filter matches the topic. With them, the broker holds one subscription per
    /// filter, carrying the identifier of the latest SUBSCRIBE to it: identifier
    /// `k` stands for every route on its filter up to `k`, while a later route on
    /// that filter was not subscribed yet when the broker matched the message.
    fn dispatch(&mut self, message: InMessage, ids: &[usize], max: usize) -> Vec<String> {
        let named: Vec<(&str, usize)> = ids
            .iter()
            .filter_map(|k| Some((self.filters.get(k)?.as_str(), *k)))
            .collect();
        let wanted = |r: &Route| {
            r.active
                && match ids.is_empty() {
                    true => topic_matches(&r.filter, &message.address),
                    false => named.iter().any(|&(f, k)| f == r.filter && r.id <= k),
                }
        };
        let mut gone = Vec::new();
        for r in self.routes.iter().filter(|r| wanted(r)) {
            if !deliver(&r.tx, &r.dropped, max, message.clone()) {
                gone.push(r.id);
            }
        }
        self.forget(&gone)
    }

    /// Removes the routes `ids`; returns their filters that no other route uses
    /// (and forgets those filters' identifiers).
    fn forget(&mut self, ids: &[usize]) -> Vec<String> {
        if ids.is_empty() {
            return Vec::new();
        }
        let (gone, kept): (Vec<Route>, Vec<Route>) = std::mem::take(&mut self.routes)
            .into_iter()
            .partition(|r| ids.contains(&r.id));
        self.routes = kept;
        let mut unused: Vec<String> = gone
            .into_iter()
            .map(|r| r.filter)
            .filter(|f| !self.routes.iter().any(|r| &r.filter == f))
            .collect();
        unused.sort();
        unused.dedup();
        self.filters.retain(|_, f| !unused.contains(f));
        unused
    }
}

/// Whether `topic` matches the subscription `filter`: `+` is exactly one level,
/// a final `#` is its parent level and everything below it, a wildcard in the
/// first level never matches a topic starting with `$`, and a shared subscription
/// `$share/<group>/<filter>` matches like its filter.
fn topic_matches(filter: &str, topic: &str) -> bool {
    let filter = match filter.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, f)| f),
        None => filter,
    };
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The event-loop task's side: the shared state, a client to queue UNSUBSCRIBEs,
/// and what it needs to describe the broker.
struct Link {
    state: Arc<Mutex<State>>,
    client: Client,
    broker: String,
    max_message_bytes: usize,
    /// Set to `true` when the task ends (`close` waits for it).
    finished: watch::Sender<bool>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Link {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Delivers an incoming message and unsubscribes filters no longer used; the
    /// UNSUBSCRIBE is queued under the lock so that it keeps its place before any
    /// later SUBSCRIBE to the same filter.
    fn incoming(&self, message: InMessage, ids: &[usize]) {
        let mut st = self.state();
        for filter in st.dispatch(message, ids, self.max_message_bytes) {
            tracing::debug!(%filter, "no subscription left on the filter; unsubscribing");
            self.client.try_unsubscribe(&filter);
        }
    }

    fn lost(&self, error: impl std::fmt::Display) {
        let why = format!("the connection to {} was lost ({error})", self.broker);
        tracing::debug!("{why}");
        self.state().lose(why);
    }

    fn closed(&self) {
        let why = format!("the connection to {} was closed", self.broker);
        self.state().lose(why);
    }

    /// Handles one MQTT 3.1.1 event; `false` once the connection is closed.
    fn on_v4(&self, event: rumqttc::Event) -> bool {
        use rumqttc::{Event, Outgoing, Packet};
        match event {
            Event::Outgoing(Outgoing::Publish(pkid)) => self.state().sent_publish(pkid),
            Event::Outgoing(Outgoing::Subscribe(pkid)) => self.state().sent_subscribe(pkid),
            Event::Outgoing(Outgoing::Disconnect) => {
                self.closed();
                return false;
            }
            Event::Incoming(Packet::PubAck(a)) => self.state().publish_acked(a.pkid, Ok(())),
            Event::Incoming(Packet::PubComp(c)) => self.state().publish_acked(c.pkid, Ok(())),
            Event::Incoming(Packet::SubAck(s)) => {
                let refused = s
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure));
                let result = match refused {
                    true => Err(Failure::Refused("SUBACK: failure".into())),
                    false => Ok(()),
                };
                self.state().subscribe_acked(s.pkid, result);
            }
            Event::Incoming(Packet::Publish(p)) => {
                let message = InMessage {
                    headers: Vec::new(),
                    payload: p.payload.to_vec(),
                    address: p.topic,
                };
                self.incoming(message, &[]);
            }
            _ => {}
        }
        true
    }

    /// Handles one MQTT 5 event; `false` once the connection is closed.
    fn on_v5(&self, event: rumqttc::v5::Event) -> bool {
        use rumqttc::v5::{Event, Incoming};
        use rumqttc::Outgoing;
        match event {
            Event::Outgoing(Outgoing::Publish(pkid)) => self.state().sent_publish(pkid),
            Event::Outgoing(Outgoing::Subscribe(pkid)) => self.state().sent_subscribe(pkid),
            Event::Outgoing(Outgoing::Disconnect) => {
                self.closed();
                return false;
            }
            Event::Incoming(Incoming::PubAck(a)) => {
                let ok = matches!(
                    a.reason,
                    p5::PubAckReason::Success | p5::PubAckReason::NoMatchingSubscribers
                );
                let result = refused_unless(ok, || format!("PUBACK: {:?}", a.reason));
                self.state().publish_acked(a.pkid, result);
            }
            Event::Incoming(Incoming::PubRec(r)) => {
                // A successful PUBREC is followed by PUBREL/PUBCOMP; a failed one
                // ends the exchange (rumqttc sends no PUBREL).
                let ok = matches!(
                    r.reason,
                    p5::PubRecReason::Success | p5::PubRecReason::NoMatchingSubscribers
                );
                if !ok {
                    let why = Failure::Refused(format!("PUBREC: {:?}", r.reason));
                    self.state().publish_acked(r.pkid, Err(why));
                }
            }
            Event::Incoming(Incoming::PubComp(c)) => {
                let ok = matches!(c.reason, p5::PubCompReason::Success);
                let result = refused_unless(ok, || format!("PUBCOMP: {:?}", c.reason));
                self.state().publish_acked(c.pkid, result);
            }
            Event::Incoming(Incoming::SubAck(s)) => {
                let failed = s
                    .return_codes
                    .iter()
                    .find(|c| !matches!(c, p5::SubscribeReasonCode::Success(_)));
                let result = match failed {
                    Some(code) => Err(Failure::Refused(format!("SUBACK: {code:?}"))),
                    None => Ok(()),
                };
                self.state().subscribe_acked(s.pkid, result);
            }
            Event::Incoming(Incoming::Publish(p)) => {
                let (message, ids) = incoming_v5(p);
                self.incoming(message, &ids);
            }
            _ => {}
        }
        true
    }
}

fn refused_unless(ok: bool, why: impl FnOnce() -> String) -> Result<(), Failure> {
    match ok {
        true => Ok(()),
        false => Err(Failure::Refused(why())),
    }
}

/// An MQTT 5 message as a step sees it: user properties as headers, then the
/// content type, correlation data (as UTF-8, lossy) and response topic under
/// `content_type`, `correlation_data` and `response_topic`; with the subscription
/// identifiers it matched.
fn incoming_v5(p: p5::Publish) -> (InMessage, Vec<usize>) {
    let mut headers = Vec::new();
    let mut ids = Vec::new();
    if let Some(props) = p.properties {
        headers.extend(props.user_properties);
        if let Some(v) = props.content_type {
            headers.push(("content_type".to_string(), v));
        }
        if let Some(v) = props.correlation_data {
            let text = String::from_utf8_lossy(&v).into_owned();
            headers.push(("correlation_data".to_string(), text));
        }
        if let Some(v) = props.response_topic {
            headers.push(("response_topic".to_string(), v));
        }
        ids = props.subscription_identifiers;
    }
    let message = InMessage {
        headers,
        payload: p.payload.to_vec(),
        address: String::from_utf8_lossy(&p.topic).into_owned(),
    };
    (message, ids)
}

/// Polls an MQTT 3.1.1 event loop until the connection ends.
async fn drive_v4(mut eventloop: rumqttc::EventLoop, link: Link) {
    loop {
        let going = match eventloop.poll().await {
            Ok(event) => link.on_v4(event),
            Err(e) => {
                link.lost(e);
                false
            }
        };
        if !going {
            break;
        }
    }
    let _ = link.finished.send(true);
}

/// Polls an MQTT 5 event loop until the connection ends.
async fn drive_v5(mut eventloop: rumqttc::v5::EventLoop, link: Link) {
    loop {
        let going = match eventloop.poll().await {
            Ok(event) => link.on_v5(event),
            Err(e) => {
                link.lost(e);
                false
            }
        };
        if !going {
            break;
        }
    }
    let _ = link.finished.send(true);
}

/// What both versions need to connect.
struct Setup {
    broker: String,
    host: String,
    port: u16,
    client_id: String,
    login: Option<(String, String)>,
    has_login: bool,
    transport: Option<rumqttc::Transport>,
    /// rumqttc's own connect timeout, in whole seconds: longer than the endpoint's,
    /// so that `broker::Connection::connect`'s timeout is the one that shows.
    timeout_secs: u64,
    /// The largest packet accepted from the broker: room for a payload somewhat
    /// over `max_message_bytes`, so that such a message is dropped and counted
    /// rather than ending the connection.
    incoming_limit: usize,
}

impl Setup {
    fn new(endpoint: &Endpoint, broker: String) -> Result<Setup, BrokerError> {
        let host = match endpoint.url.host_str() {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => return Err(BrokerError(format!("{broker}: the URL names no host"))),
        };
        let port = endpoint
            .url
            .port()
            .unwrap_or(endpoint.protocol.default_port(endpoint.tls));
        let transport = match endpoint.tls {
            true => {
                let config = Arc::new(tls_config(&endpoint.credentials)?);
                let tls = rumqttc::TlsConfiguration::Rustls(config);
                Some(rumqttc::Transport::tls_with_config(tls))
            }
            false => None,
        };
        let c = &endpoint.credentials;
        let login = match (&c.username, &c.password) {
            (None, None) => None,
            (u, p) => Some((u.clone().unwrap_or_default(), p.clone().unwrap_or_default())),
        };
        let incoming_limit = endpoint
            .max_message_bytes
            .saturating_mul(2)
            .saturating_add(PACKET_OVERHEAD)
            .min(MAX_PACKET);
        Ok(Setup {
            broker,
            host,
            port,
            client_id: client_id(&endpoint.client_id),
            has_login: login.is_some(),
            login,
            transport,
            timeout_secs: endpoint.connect_timeout.as_secs() + 2,
            incoming_limit,
        })
    }

    /// Socket options: no Nagle delay, as a step often waits for one small reply;
    /// rumqttc's connect timeout (MQTT 3.1.1 reads it here).
    fn network(&self) -> rumqttc::NetworkOptions {
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        net.set_connection_timeout(self.timeout_secs);
        net
    }

    /// The broker refused the connection with the CONNACK reason `code` (the
    /// name of rumqttc's reason, the same for both versions where they agree).
    fn refused(&self, code: &str) -> BrokerError {
        let broker = &self.broker;
        let text = match code {
            "BadUserNamePassword" | "NotAuthorized" if self.has_login => format!(
                "{broker} refused the username or password (CONNACK: {code}); {CREDENTIALS_HINT}"
            ),
            "BadUserNamePassword" | "NotAuthorized" => format!(
                "{broker} refused a connection without credentials (CONNACK: {code}); it needs \
                 a username and password: {CREDENTIALS_HINT}"
            ),
            "RefusedProtocolVersion" | "UnsupportedProtocolVersion" => format!(
                "{broker} does not speak this MQTT version (CONNACK: {code}); set the AsyncAPI \
                 server's protocolVersion to the one it speaks (3.1.1 or 5)"
            ),
            "BadClientId" | "ClientIdentifierNotValid" => format!(
                "{broker} refused the client id {:?} (CONNACK: {code})",
                self.client_id
            ),
            _ => format!("{broker} refused the connection (CONNACK: {code})"),
        };
        BrokerError(text)
    }

    /// The first attempt failed before a CONNACK, with a hint for the usual
    /// causes.
    fn unreachable(
        &self,
        io: Option<&std::io::Error>,
        error: &dyn std::fmt::Display,
    ) -> BrokerError {
        let broker = &self.broker;
        match io.map(std::io::Error::kind) {
            Some(std::io::ErrorKind::ConnectionRefused) => BrokerError(format!(
                "could not connect to {broker}: connection refused (is the broker running, \
                 and is the port right?)"
            )),
            _ => BrokerError(format!("could not connect to {broker}: {error}")),
        }
    }
}

/// A failed TLS handshake, with what to check (e.g. `SSL_CERT_FILE` for a
/// broker whose certificate a private CA signed).
fn tls_failed(broker: &str, e: &dyn std::fmt::Display) -> BrokerError {
    let text = e.to_string();
    let text = text.strip_prefix("TLS: ").unwrap_or(&text);
    match crate::http::tls_hint(text) {
        Some(hint) => BrokerError(format!(
            "the TLS handshake with {broker} failed ({text}); {hint}"
        )),
        None => BrokerError(format!("the TLS handshake with {broker} failed ({text})")),
    }
}

/// Unique per connection within the process: the broker drops an older
/// connection that has the same client id.
fn client_id(base: &str) -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match n {
        0 => base.to_string(),
        n => format!("{base}-{n}"),
    }
}

/// What the broker told us in its CONNACK that later requests depend on.
struct Granted {
    /// Whether SUBSCRIBE may carry a subscription identifier (MQTT 5).
    identifiers: bool,
    /// The largest packet the broker accepts.
    max_packet: usize,
}

/// Connects with MQTT 3.1.1 and returns once the broker accepted (CONNACK).
async fn start_v4(
    s: &Setup,
    state: Arc<Mutex<State>>,
    max_message_bytes: usize,
    finished: watch::Sender<bool>,
) -> Result<(Client, JoinHandle<()>, Granted), BrokerError> {
    let mut o = rumqttc::MqttOptions::new(&s.client_id, &s.host, s.port);
    o.set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_max_packet_size(s.incoming_limit, MAX_PACKET)
        .set_request_channel_capacity(REQUESTS);
    if let Some((u, p)) = &s.login {
        o.set_credentials(u, p);
    }
    if let Some(t) = &s.transport {
        o.set_transport(t.clone());
    }
    let (client, mut eventloop) = rumqttc::AsyncClient::new(o, REQUESTS);
    eventloop.set_network_options(s.network());
    match eventloop.poll().await {
        Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {}
        Ok(other) => {
            let e = format!("the broker answered {other:?} instead of CONNACK");
            return Err(s.unreachable(None, &e));
        }
        Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
            return Err(s.refused(&format!("{code:?}")));
        }
        Err(rumqttc::ConnectionError::Io(e)) => return Err(s.unreachable(Some(&e), &e)),
        Err(rumqttc::ConnectionError::Tls(e)) => return Err(tls_failed(&s.broker, &e)),
        Err(e) => return Err(s.unreachable(None, &e)),
    }
    let client = Client::V4(client);
    let link = Link {
        state,
        client: client.clone(),
        broker: s.broker.clone(),
        max_message_bytes,
        finished,
    };
    let task = tokio::spawn(drive_v4(eventloop, link));
    let granted = Granted {
        identifiers: false,
        max_packet: MAX_PACKET,
    };
    Ok((client, task, granted))
}

/// Connects with MQTT 5 and returns once the broker accepted (CONNACK).
async fn start_v5(
    s: &Setup,
    state: Arc<Mutex<State>>,
    max_message_bytes: usize,
    finished: watch::Sender<bool>,
) -> Result<(Client, JoinHandle<()>, Granted), BrokerError> {
    let mut o = rumqttc::v5::MqttOptions::new(&s.client_id, &s.host, s.port);
    let limit = u32::try_from(s.incoming_limit).unwrap_or(u32::MAX);
    o.set_keep_alive(KEEP_ALIVE)
        .set_clean_start(true)
        .set_max_packet_size(Some(limit))
        .set_request_channel_capacity(REQUESTS)
        // rumqttc otherwise sizes its in-flight table for 65,535 publishes (about
        // 14 MB per connection); no more than REQUESTS are ever outstanding.
        .set_outgoing_inflight_upper_limit(REQUESTS as u16)
        .set_connection_timeout(s.timeout_secs)
        .set_network_options(s.network());
    if let Some((u, p)) = &s.login {
        o.set_credentials(u, p);
    }
    if let Some(t) = &s.transport {
        o.set_transport(t.clone());
    }
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(o, REQUESTS);
    let props = match eventloop.poll().await {
        Ok(rumqttc::v5::Event::Incoming(p5::Packet::ConnAck(ack))) => ack.properties,
        Ok(other) => {
            let e = format!("the broker answered {other:?} instead of CONNACK");
            return Err(s.unreachable(None, &e));
        }
        Err(rumqttc::v5::ConnectionError::ConnectionRefused(code)) => {
            return Err(s.refused(&format!("{code:?}")));
        }
        Err(rumqttc::v5::ConnectionError::Io(e)) => return Err(s.unreachable(Some(&e), &e)),
        Err(rumqttc::v5::ConnectionError::Tls(e)) => return Err(tls_failed(&s.broker, &e)),
        Err(e) => return Err(s.unreachable(None, &e)),
    };
    let granted = Granted {
        identifiers: props
            .as_ref()
            .and_then(|p| p.subscription_identifiers_available)
            != Some(0),
        max_packet: props
            .as_ref()
            .and_then(|p| p.max_packet_size)
            .map_or(MAX_PACKET, |m| m as usize),
    };
    let client = Client::V5(client);
    let link = Link {
        state,
        client: client.clone(),
        broker: s.broker.clone(),
        max_message_bytes,
        finished,
    };
    let task = tokio::spawn(drive_v5(eventloop, link));
    Ok((client, task, granted))
}

/// A connection to an MQTT broker.
pub struct Connection {
    client: Client,
    version: Version,
    state: Arc<Mutex<State>>,
    /// Bounds the publishes and subscribes waiting at once, so that queueing a
    /// request never finds rumqttc's queue full.
    permits: Semaphore,
    task: JoinHandle<()>,
    finished: watch::Receiver<bool>,
    /// "the MQTT broker at mqtt://host:port/", for messages.
    broker: String,
    granted: Granted,
    ack_wait: Duration,
}

impl Drop for Connection {
    /// Ends the event loop (and so the network connection) with the connection.
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Connection {
    /// Connects with a clean session (nothing kept from an earlier connection of
    /// the same client id), the credentials' username and password, TLS when the
    /// endpoint says so; returns once the broker's CONNACK accepted it.
    pub async fn connect(endpoint: &Endpoint) -> Result<Connection, BrokerError> {
        let broker = format!("the MQTT broker at {}", shown(&endpoint.url));
        let setup = Setup::new(endpoint, broker)?;
        let version = Version::of(endpoint.protocol_version.as_deref());
        let state = Arc::new(Mutex::new(State::default()));
        let (finished_tx, finished) = watch::channel(false);
        let max = endpoint.max_message_bytes;
        let (client, task, granted) = match version {
            Version::V311 => start_v4(&setup, Arc::clone(&state), max, finished_tx).await?,
            Version::V5 => start_v5(&setup, Arc::clone(&state), max, finished_tx).await?,
        };
        tracing::debug!(broker = %setup.broker, ?version, "MQTT connection accepted");
        Ok(Connection {
            client,
            version,
            state,
            permits: Semaphore::new(REQUESTS - SPARE_REQUESTS),
            task,
            finished,
            broker: setup.broker,
            granted,
            ack_wait: endpoint.connect_timeout.max(ACK_WAIT_MIN),
        })
    }

    /// Publishes on the topic `address` with the QoS and retain flag of the MQTT
    /// operation binding (`qos`, default 1; `retain`, default false; MQTT 5 also
    /// `messageExpiryInterval`); returns after PUBACK (QoS 1), PUBCOMP (QoS 2) or
    /// once the packet is written (QoS 0).
    pub async fn publish(
        &self,
        address: &str,
        bindings: &Bindings,
        message: &OutMessage,
    ) -> Result<(), BrokerError> {
        let broker = &self.broker;
        if address.is_empty() || address.contains(['+', '#', '\0']) {
            return Err(BrokerError(format!(
                "cannot publish to {broker} on {address:?}: an MQTT topic to publish on is \
                 not empty and has no wildcard (+, #)"
            )));
        }
        let qos = qos_of(bindings)?;
        let retain = flag_of(bindings, "retain")?;
        let properties = match self.version {
            Version::V311 => {
                refuse_headers(message, address)?;
                None
            }
            Version::V5 => Some(properties_v5(message, bindings)?),
        };
        let size = message.payload.len() + address.len() + headers_len(message);
        if size + 16 > self.granted.max_packet {
            return Err(BrokerError(format!(
                "cannot publish {} bytes on {address} to {broker}: it accepts packets of at \
                 most {} bytes",
                message.payload.len(),
                self.granted.max_packet
            )));
        }
        let request = Publish {
            topic: address,
            qos,
            retain,
            payload: &message.payload,
            properties,
        };
        let _permit = self.permit().await?;
        let (done, rx) = oneshot::channel();
        {
            let mut st = lock(&self.state);
            self.check_open(&st)?;
            st.queued_publishes.push_back(QueuedPublish { qos, done });
            if self.client.try_publish(request).is_err() {
                st.queued_publishes.pop_back();
                return Err(self.not_taken(&st));
            }
        }
        self.wait(rx, &format!("the message published on {address}"))
            .await
    }

    /// Subscribes to the topic filter `address` with the QoS of the MQTT operation
    /// binding (default 1); returns after the broker's SUBACK granted it. The
    /// broker then also sends messages it retained on matching topics.
    pub async fn subscribe(
        &self,
        address: &str,
        bindings: &Bindings,
    ) -> Result<Subscription, BrokerError> {
        let broker = &self.broker;
        if !rumqttc::valid_filter(address) || address.contains('\0') {
            return Err(BrokerError(format!(
                "cannot subscribe to {address:?} on {broker}: not a valid MQTT topic filter \
                 (+ and # each take a whole level, # only the last)"
            )));
        }
        let qos = qos_of(bindings)?;
        let (tx, messages) = mpsc::channel(Subscription::CAPACITY);
        let dropped = Arc::new(Tally::default());
        let _permit = self.permit().await?;
        let (done, rx) = oneshot::channel();
        let id = {
            let mut st = lock(&self.state);
            self.check_open(&st)?;
            let id = st.add_route(address, tx, Arc::clone(&dropped));
            st.queued_subscribes
                .push_back(QueuedSubscribe { route: id, done });
            let sub_id = self.granted.identifiers.then_some(id);
            if self.client.try_subscribe(address, qos, sub_id).is_err() {
                st.queued_subscribes.pop_back();
                st.routes.retain(|r| r.id != id);
                return Err(self.not_taken(&st));
            }
            id
        };
        let what = format!("the subscription to {address}");
        if let Err(e) = self.wait(rx, &what).await {
            lock(&self.state).routes.retain(|r| r.id != id);
            return Err(e);
        }
        Ok(Subscription::new(messages, dropped, None))
    }

    /// Sends DISCONNECT and waits for the event loop to end; later calls fail.
    pub async fn close(&self) {
        let why = format!("the connection to {} was closed", self.broker);
        lock(&self.state).lose(why);
        if self.client.try_disconnect() {
            let mut finished = self.finished.clone();
            let _ = finished.wait_for(|done| *done).await;
        }
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, BrokerError> {
        self.permits
            .acquire()
            .await
            .map_err(|_| BrokerError(format!("the connection to {} was closed", self.broker)))
    }

    fn check_open(&self, st: &State) -> Result<(), BrokerError> {
        match &st.lost {
            Some(why) => Err(BrokerError(why.clone())),
            None => Ok(()),
        }
    }

    /// Why rumqttc did not take a request: its event loop has ended.
    fn not_taken(&self, st: &State) -> BrokerError {
        match &st.lost {
            Some(why) => BrokerError(why.clone()),
            None => BrokerError(format!(
                "the connection to {} is not taking requests (its event loop has stopped)",
                self.broker
            )),
        }
    }

    /// Waits for the broker's acknowledgement of `what`.
    async fn wait(
        &self,
        rx: oneshot::Receiver<Result<(), Failure>>,
        what: &str,
    ) -> Result<(), BrokerError> {
        let broker = &self.broker;
        match tokio::time::timeout(self.ack_wait, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(Failure::Refused(why)))) => {
                Err(BrokerError(format!("{broker} refused {what} ({why})")))
            }
            Ok(Ok(Err(Failure::Lost(why)))) => Err(BrokerError(why)),
            Ok(Err(_)) => Err(self.not_taken(&lock(&self.state))),
            Err(_) => Err(BrokerError(format!(
                "{broker} did not acknowledge {what} within {:.1} s",
                self.ack_wait.as_secs_f64()
            ))),
        }
    }
}

/// MQTT 3.1.1 messages are only a payload: a message with headers is refused
/// (its content type, which has no place either, is left out).
fn refuse_headers(message: &OutMessage, topic: &str) -> Result<(), BrokerError> {
    if message.headers.is_empty() {
        if message.content_type.is_some() {
            tracing::debug!(%topic, "MQTT 3.1.1 has no content type; not sent");
        }
        return Ok(());
    }
    let names: Vec<&str> = message.headers.iter().map(|(k, _)| k.as_str()).collect();
    Err(BrokerError(format!(
        "cannot publish on {topic}: MQTT 3.1.1 messages have no headers (this one has {}); \
         put the correlation id in the payload (AsyncAPI correlationId.location \
         $message.payload#/...), or use MQTT 5 (the server's protocolVersion)",
        names.join(", ")
    )))
}

/// The MQTT 5 properties of `message`: headers become user properties, except
/// `correlation_data`, `response_topic` and `content_type`, which set those
/// properties (the message's own content type wins over a `content_type` header).
fn properties_v5(
    message: &OutMessage,
    bindings: &Bindings,
) -> Result<p5::PublishProperties, BrokerError> {
    let mut props = p5::PublishProperties::default();
    for (name, value) in &message.headers {
        if name.eq_ignore_ascii_case("correlation_data") {
            props.correlation_data = Some(value.clone().into_bytes().into());
        } else if name.eq_ignore_ascii_case("response_topic") {
            props.response_topic = Some(value.clone());
        } else if name.eq_ignore_ascii_case("content_type") {
            props.content_type = Some(value.clone());
        } else {
            props.user_properties.push((name.clone(), value.clone()));
        }
    }
    if let Some(ct) = &message.content_type {
        props.content_type = Some(ct.clone());
    }
    props.message_expiry_interval = expiry_of(bindings)?;
    Ok(props)
}

fn headers_len(message: &OutMessage) -> usize {
    let headers: usize = message
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + 5)
        .sum();
    headers + message.content_type.as_ref().map_or(0, |c| c.len() + 3)
}

fn operation_field<'a>(bindings: &'a Bindings, key: &str) -> Option<&'a Value> {
    bindings
        .operation
        .as_ref()?
        .get(key)
        .filter(|v| !v.is_null())
}

/// `bindings.mqtt.qos` of the operation: 0, 1 or 2, by default 1.
fn qos_of(bindings: &Bindings) -> Result<u8, BrokerError> {
    match operation_field(bindings, "qos") {
        None => Ok(1),
        Some(v) => match v.as_u64() {
            Some(n @ 0..=2) => Ok(n as u8),
            _ => Err(BrokerError(format!(
                "the MQTT operation binding's qos is {v}; MQTT's QoS is 0, 1 or 2"
            ))),
        },
    }
}

/// A boolean of the operation binding (`retain`), false when absent.
fn flag_of(bindings: &Bindings, key: &str) -> Result<bool, BrokerError> {
    match operation_field(bindings, key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(BrokerError(format!(
            "the MQTT operation binding's {key} is {v}; it must be true or false"
        ))),
    }
}

/// `messageExpiryInterval` of the operation binding, in seconds, when it is a
/// number (a schema there describes rather than sets it, so it is left out).
fn expiry_of(bindings: &Bindings) -> Result<Option<u32>, BrokerError> {
    match operation_field(bindings, "messageExpiryInterval") {
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(secs) => Ok(Some(secs)),
            None => Err(BrokerError(format!(
                "the MQTT operation binding's messageExpiryInterval is {n}; it must be a \
                 whole number of seconds below 2^32"
            ))),
        },
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_mqtt_says() {
        let yes = [
            ("a/b", "a/b"),
            ("a/+", "a/b"),
            ("a/+/c", "a/b/c"),
            ("+/+", "/x"),
            ("a/#", "a"),
            ("a/#", "a/b/c"),
            ("#", "a/b"),
            ("$SYS/#", "$SYS/broker"),
            ("$share/g/a/+", "a/b"),
            ("+", ""),
        ];
        for (f, t) in yes {
            assert!(topic_matches(f, t), "{f} should match {t}");
        }
        let no = [
            ("a/b", "a/c"),
            ("a/+", "a"),
            ("a/+", "a/b/c"),
            ("a/#", "ab"),
            ("a/b", "a/b/c"),
            ("#", "$SYS/x"),
            ("+/x", "$SYS/x"),
            ("a/+/c", "a/b/d"),
        ];
        for (f, t) in no {
            assert!(!topic_matches(f, t), "{f} should not match {t}");
        }
    }

    #[test]
    fn protocol_versions() {
        for v in ["3.1.1", "3.1", "3", "4", " 3.1.1 "] {
            assert_eq!(Version::of(Some(v)), Version::V311, "{v}");
        }
        for v in [None, Some("5"), Some("5.0"), Some("")] {
            assert_eq!(Version::of(v), Version::V5, "{v:?}");
        }
    }

    #[test]
    fn bindings_are_checked() {
        let b = |op: Value| Bindings {
            operation: Some(op),
            ..Bindings::default()
        };
        assert_eq!(qos_of(&Bindings::default()).ok(), Some(1));
        assert_eq!(qos_of(&b(serde_json::json!({"qos": 2}))).ok(), Some(2));
        assert!(qos_of(&b(serde_json::json!({"qos": 3}))).is_err());
        assert!(qos_of(&b(serde_json::json!({"qos": "1"}))).is_err());
        assert_eq!(
            flag_of(&b(serde_json::json!({"retain": true})), "retain").ok(),
            Some(true)
        );
        assert!(flag_of(&b(serde_json::json!({"retain": 1})), "retain").is_err());
        let e = b(serde_json::json!({"messageExpiryInterval": 60}));
        assert_eq!(expiry_of(&e).ok(), Some(Some(60)));
        let schema = b(serde_json::json!({"messageExpiryInterval": {"type": "integer"}}));
        assert_eq!(expiry_of(&schema).ok(), Some(None));
    }

    #[test]
    fn v5_properties_from_headers() {
        let m = OutMessage {
            headers: vec![
                ("correlation_data".into(), "abc".into()),
                ("response_topic".into(), "replies/1".into()),
                ("x-trace".into(), "t1".into()),
            ],
            payload: b"{}".to_vec(),
            content_type: Some("application/json".into()),
        };
        let p = properties_v5(&m, &Bindings::default()).expect("properties");
        assert_eq!(p.correlation_data.as_deref(), Some(&b"abc"[..]));
        assert_eq!(p.response_topic.as_deref(), Some("replies/1"));
        assert_eq!(p.content_type.as_deref(), Some("application/json"));
        assert_eq!(p.user_properties, vec![("x-trace".into(), "t1".into())]);
    }
}
