//! A minimal request/reply client for each protocol, straight on the crates the
//! engine uses (rumqttc, lapin, async-nats, rskafka, tokio-tungstenite), with
//! nothing of `arazzo` in between. The responder and the baseline are both made
//! of it: connect, subscribe, publish a `{"n": …, "correlationId": …}` message,
//! read what arrives, close.
//!
//! Every message that arrives on any subscription of a peer goes to one channel
//! ([`Peer::connect`] returns its receiving end), read as a [`Msg`]: the
//! correlation id (from the `correlationId` header where the protocol has
//! headers, else from the payload) and the number `n`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The AMQP exchange both channels go through (a topic exchange, declared by
/// the `serve` command before anyone connects).
pub const EXCHANGE: &str = "bench";
/// The WebSocket channel's path.
pub const WS_PATH: &str = "/bench";
/// The header a correlation id travels in.
pub const HEADER: &str = "correlationId";
/// The client's longest wait for a Kafka fetch with nothing new: the engine's
/// (src/broker/kafka.rs) and Kafka's default `fetch.max.wait.ms`. A Kafka broker
/// answers as soon as a record is there; Tansu holds the fetch for the whole wait.
const CLIENT_FETCH_WAIT_MS: i32 = 500;
/// The responder's: short, so that it does not hold up a request on a broker
/// that holds every fetch for its whole wait.
const RESPONDER_FETCH_WAIT_MS: i32 = 10;

/// The MQTT 5 client's window of publishes in flight (see [`mqtt`]).
const MQTT_INFLIGHT: u16 = 64;

/// Which side a peer is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Publishes as the engine does: AMQP waits for the publisher confirm; Kafka
    /// fetches wait up to [`CLIENT_FETCH_WAIT_MS`].
    Client,
    /// Answers requests: no AMQP confirms; Kafka fetches wait up to
    /// [`RESPONDER_FETCH_WAIT_MS`].
    Responder,
}

/// The protocols measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Mqtt5,
    Mqtt311,
    Amqp,
    Nats,
    Ws,
    Kafka,
}

impl Proto {
    pub fn parse(name: &str) -> Option<Proto> {
        Some(match name {
            "mqtt5" => Proto::Mqtt5,
            "mqtt311" => Proto::Mqtt311,
            "amqp" => Proto::Amqp,
            "nats" => Proto::Nats,
            "ws" => Proto::Ws,
            "kafka" => Proto::Kafka,
            _ => return None,
        })
    }

    /// Whether the correlation id travels in a header (else in the payload).
    pub fn headers(self) -> bool {
        !matches!(self, Proto::Mqtt311 | Proto::Ws)
    }

    /// The address requests are published on.
    pub fn requests(self) -> &'static str {
        match self {
            Proto::Mqtt5 | Proto::Mqtt311 => "bench/requests",
            Proto::Ws => WS_PATH,
            _ => "bench.requests",
        }
    }

    /// The address of the reply to `cid`: a topic, routing key or subject of
    /// its own, so that a reply reaches only who waits for it. Kafka has one
    /// reply topic (a topic per id would be a topic per request) and every
    /// reader filters it by id, as a Kafka client does.
    pub fn reply_address(self, cid: &str) -> String {
        match self {
            Proto::Mqtt5 | Proto::Mqtt311 => format!("bench/replies/{cid}"),
            Proto::Amqp | Proto::Nats => format!("bench.replies.{cid}"),
            Proto::Kafka => "bench.replies".into(),
            Proto::Ws => WS_PATH.into(),
        }
    }

    /// The subscription that takes every reply (a client with many requests in
    /// flight on one connection).
    pub fn all_replies(self) -> &'static str {
        match self {
            Proto::Mqtt5 | Proto::Mqtt311 => "bench/replies/+",
            Proto::Amqp | Proto::Nats => "bench.replies.*",
            Proto::Kafka => "bench.replies",
            Proto::Ws => WS_PATH,
        }
    }
}

/// A message as read: its correlation id and number.
#[derive(Debug)]
pub struct Msg {
    pub cid: String,
    pub n: u64,
}

/// The payload of a request (`status` absent) or reply.
pub fn payload(cid: &str, n: u64, status: Option<&str>) -> Vec<u8> {
    let mut v = json!({"n": n, "correlationId": cid});
    if let Some(s) = status {
        v["status"] = json!(s);
    }
    serde_json::to_vec(&v).expect("JSON")
}

/// Reads `bytes` as a message; the correlation id comes from `header` when
/// given, else from the payload.
fn read(bytes: &[u8], header: Option<String>) -> Msg {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let cid = header.unwrap_or_else(|| v["correlationId"].as_str().unwrap_or_default().to_string());
    Msg {
        cid,
        n: v["n"].as_u64().unwrap_or(0),
    }
}

pub type Incoming = mpsc::UnboundedReceiver<Msg>;
type Outlet = mpsc::UnboundedSender<Msg>;

/// A connection to the broker (or WebSocket server) of one protocol.
pub struct Peer {
    proto: Proto,
    role: Role,
    link: Link,
    out: Outlet,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

type WsStream = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

enum Link {
    Mqtt {
        v5: Option<rumqttc::v5::AsyncClient>,
        v4: Option<rumqttc::AsyncClient>,
        subacks: tokio::sync::Mutex<mpsc::UnboundedReceiver<()>>,
        eventloop: Mutex<Option<JoinHandle<()>>>,
    },
    Amqp {
        conn: lapin::Connection,
        /// Publishing channel (in confirm mode when `confirms`).
        channel: lapin::Channel,
        confirms: bool,
    },
    Nats(async_nats::Client),
    Kafka {
        client: rskafka::client::Client,
        producers:
            tokio::sync::Mutex<HashMap<String, Arc<rskafka::client::partition::PartitionClient>>>,
    },
    Ws(tokio::sync::Mutex<SplitSink<WsStream, tokio_tungstenite::tungstenite::Message>>),
}

type Result<T> = std::result::Result<T, String>;

impl Peer {
    /// Connects to `url` (`mqtt://`, `amqp://user:pass@…`, `nats://`, `ws://`,
    /// `kafka://host:port`).
    pub async fn connect(proto: Proto, url: &str, role: Role) -> Result<(Peer, Incoming)> {
        let confirms = role == Role::Client;
        let (out, incoming) = mpsc::unbounded_channel();
        let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
        let port = parsed.port().unwrap_or(0);
        let mut tasks = Vec::new();
        let link = match proto {
            Proto::Mqtt5 | Proto::Mqtt311 => mqtt(proto, &host, port, out.clone()).await?,
            Proto::Amqp => {
                // lapin reads the virtual host `/` from the path only as `%2f`.
                let url = match parsed.path() {
                    "/" => format!("{url}%2f"),
                    _ => url.to_string(),
                };
                let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
                    .await
                    .map_err(|e| format!("AMQP connect: {e}"))?;
                let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
                if confirms {
                    channel
                        .confirm_select(lapin::options::ConfirmSelectOptions::default())
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Link::Amqp {
                    conn,
                    channel,
                    confirms,
                }
            }
            Proto::Nats => Link::Nats(
                async_nats::connect(url)
                    .await
                    .map_err(|e| format!("NATS connect: {e}"))?,
            ),
            Proto::Kafka => {
                let client = rskafka::client::ClientBuilder::new(vec![format!("{host}:{port}")])
                    .build()
                    .await
                    .map_err(|e| format!("Kafka connect: {e}"))?;
                Link::Kafka {
                    client,
                    producers: Default::default(),
                }
            }
            Proto::Ws => {
                let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
                    .await
                    .map_err(|e| format!("WebSocket connect: {e}"))?;
                let _ = tcp.set_nodelay(true);
                let target = format!("ws://{host}:{port}{WS_PATH}");
                let (ws, _) = tokio_tungstenite::client_async(target, tcp)
                    .await
                    .map_err(|e| format!("WebSocket handshake: {e}"))?;
                let (sink, stream) = ws.split();
                tasks.push(tokio::spawn(ws_reader(stream, out.clone())));
                Link::Ws(tokio::sync::Mutex::new(sink))
            }
        };
        let peer = Peer {
            proto,
            role,
            link,
            out,
            tasks: Mutex::new(tasks),
        };
        Ok((peer, incoming))
    }

    /// Subscribes to `address` and returns once the broker confirmed it (for
    /// Kafka: once the partition's end is known, reading from there). Nothing
    /// to do for WebSocket, where replies come on the socket.
    pub async fn subscribe(&self, address: &str) -> Result<()> {
        let task = match &self.link {
            Link::Mqtt {
                v5, v4, subacks, ..
            } => {
                let mut acks = subacks.lock().await;
                let sent = match (v5, v4) {
                    (Some(c), _) => c
                        .subscribe(address, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
                        .await
                        .map_err(|e| e.to_string()),
                    (_, Some(c)) => c
                        .subscribe(address, rumqttc::QoS::AtLeastOnce)
                        .await
                        .map_err(|e| e.to_string()),
                    _ => unreachable!("an MQTT link has a client"),
                };
                sent?;
                acks.recv().await.ok_or("the MQTT connection ended")?;
                return Ok(());
            }
            Link::Amqp { conn, .. } => {
                use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
                use lapin::types::FieldTable;
                let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
                let queue = channel
                    .queue_declare(
                        "".into(),
                        QueueDeclareOptions {
                            exclusive: true,
                            auto_delete: true,
                            ..Default::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let name = queue.name().clone();
                channel
                    .queue_bind(
                        name.clone(),
                        EXCHANGE.into(),
                        address.into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let consumer = channel
                    .basic_consume(
                        name,
                        "bench".into(),
                        BasicConsumeOptions {
                            no_ack: true,
                            ..Default::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(amqp_reader(channel, consumer, self.out.clone()))
            }
            Link::Nats(client) => {
                let sub = client
                    .subscribe(address.to_string())
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(nats_reader(sub, self.out.clone()))
            }
            Link::Kafka { client, .. } => {
                use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
                let reader = client
                    .partition_client(address, 0, UnknownTopicHandling::Retry)
                    .await
                    .map_err(|e| e.to_string())?;
                let start = reader
                    .get_offset(OffsetAt::Latest)
                    .await
                    .map_err(|e| e.to_string())?;
                let wait = match self.role {
                    Role::Client => CLIENT_FETCH_WAIT_MS,
                    Role::Responder => RESPONDER_FETCH_WAIT_MS,
                };
                tokio::spawn(kafka_reader(reader, start, wait, self.out.clone()))
            }
            Link::Ws(_) => return Ok(()),
        };
        self.tasks.lock().expect("tasks").push(task);
        Ok(())
    }

    /// Publishes `{"n": n, "correlationId": cid}` (with `status` for a reply) on
    /// `address`, the id also in the `correlationId` header where the protocol
    /// has headers. Returns once the message is handed over: for MQTT (QoS 1)
    /// once rumqttc queued it (its PUBACK is handled by the event loop), for
    /// AMQP with confirms once confirmed, for Kafka once the leader acknowledged
    /// it, for NATS and WebSocket once buffered.
    pub async fn publish(
        &self,
        address: &str,
        cid: &str,
        n: u64,
        status: Option<&str>,
    ) -> Result<()> {
        let body = payload(cid, n, status);
        match &self.link {
            Link::Mqtt { v5: Some(c), .. } => {
                let props = rumqttc::v5::mqttbytes::v5::PublishProperties {
                    user_properties: vec![(HEADER.to_string(), cid.to_string())],
                    content_type: Some("application/json".into()),
                    ..Default::default()
                };
                c.publish_with_properties(
                    address,
                    rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                    false,
                    body,
                    props,
                )
                .await
                .map_err(|e| e.to_string())
            }
            Link::Mqtt { v4: Some(c), .. } => c
                .publish(address, rumqttc::QoS::AtLeastOnce, false, body)
                .await
                .map_err(|e| e.to_string()),
            Link::Mqtt { .. } => unreachable!("an MQTT link has a client"),
            Link::Amqp {
                channel, confirms, ..
            } => {
                use lapin::types::{AMQPValue, FieldTable, LongString};
                let mut headers = FieldTable::default();
                headers.insert(
                    HEADER.into(),
                    AMQPValue::LongString(LongString::from(cid.as_bytes())),
                );
                let props = lapin::BasicProperties::default()
                    .with_content_type("application/json".into())
                    .with_headers(headers);
                let confirm = channel
                    .basic_publish(
                        EXCHANGE.into(),
                        address.into(),
                        lapin::options::BasicPublishOptions::default(),
                        &body,
                        props,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if *confirms {
                    let answer = confirm.await.map_err(|e| e.to_string())?;
                    if !answer.is_ack() {
                        return Err(format!("the broker did not confirm: {answer:?}"));
                    }
                }
                Ok(())
            }
            Link::Nats(client) => {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(HEADER, cid);
                headers.insert("Content-Type", "application/json");
                client
                    .publish_with_headers(address.to_string(), headers, body.into())
                    .await
                    .map_err(|e| e.to_string())
            }
            Link::Kafka { .. } => self.produce(address, vec![(cid.to_string(), body)]).await,
            Link::Ws(sink) => sink
                .lock()
                .await
                .send(tokio_tungstenite::tungstenite::Message::text(
                    String::from_utf8(body).expect("JSON is UTF-8"),
                ))
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Kafka: appends records (correlation id, payload) to partition 0 of
    /// `topic` in one request.
    pub async fn produce(&self, topic: &str, records: Vec<(String, Vec<u8>)>) -> Result<()> {
        let Link::Kafka { client, producers } = &self.link else {
            return Err("not a Kafka peer".into());
        };
        let producer = {
            let mut all = producers.lock().await;
            match all.get(topic) {
                Some(p) => Arc::clone(p),
                None => {
                    let made = client
                        .partition_client(
                            topic,
                            0,
                            rskafka::client::partition::UnknownTopicHandling::Retry,
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    let made = Arc::new(made);
                    all.insert(topic.to_string(), Arc::clone(&made));
                    made
                }
            }
        };
        let now = rskafka::chrono::Utc::now();
        let records = records
            .into_iter()
            .map(|(cid, body)| rskafka::record::Record {
                key: None,
                value: Some(body),
                headers: BTreeMap::from([(HEADER.to_string(), cid.into_bytes())]),
                timestamp: now,
            })
            .collect();
        producer
            .produce(
                records,
                rskafka::client::partition::Compression::NoCompression,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The protocol of this peer.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// Closes politely (MQTT DISCONNECT and the event loop's end, AMQP close,
    /// NATS flush, a WebSocket close frame) and stops the readers.
    pub async fn close(self) {
        match &self.link {
            Link::Mqtt {
                v5, v4, eventloop, ..
            } => {
                let sent = match (v5, v4) {
                    (Some(c), _) => c.disconnect().await.is_ok(),
                    (_, Some(c)) => c.disconnect().await.is_ok(),
                    _ => false,
                };
                let task = eventloop.lock().expect("event loop").take();
                if let (true, Some(task)) = (sent, task) {
                    let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
                }
            }
            Link::Amqp { conn, .. } => {
                let _ = conn.close(200, "OK".into()).await;
            }
            Link::Nats(client) => {
                let _ = client.flush().await;
            }
            Link::Kafka { .. } => {}
            Link::Ws(sink) => {
                let _ = sink.lock().await.close().await;
            }
        }
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
    }
}

/// Connects with rumqttc (MQTT 5 or 3.1.1) as the engine does (clean session,
/// TCP_NODELAY, 30 s keep-alive) and waits for the CONNACK; a task polls the
/// event loop, handing on messages and SUBACKs.
async fn mqtt(proto: Proto, host: &str, port: u16, out: Outlet) -> Result<Link> {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = format!(
        "bench-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    let (ack_tx, subacks) = mpsc::unbounded_channel();
    let (connected_tx, connected) = tokio::sync::oneshot::channel::<Result<()>>();
    if proto == Proto::Mqtt5 {
        let mut o = rumqttc::v5::MqttOptions::new(id, host, port);
        // rumqttc 0.25 sizes its table of publishes in flight by this limit,
        // 65,536 entries (about 14 MB, written in full) per connection when
        // unset; 64 is more than one request at a time needs.
        o.set_keep_alive(Duration::from_secs(30))
            .set_clean_start(true)
            .set_outgoing_inflight_upper_limit(MQTT_INFLIGHT)
            .set_network_options(net);
        let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(o, 256);
        let task = tokio::spawn(async move {
            use rumqttc::v5::mqttbytes::v5::Packet;
            use rumqttc::v5::Event;
            let mut connected_tx = Some(connected_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let header = p.properties.and_then(|props| {
                            props
                                .user_properties
                                .into_iter()
                                .find(|(k, _)| k == HEADER)
                                .map(|(_, v)| v)
                        });
                        let _ = out.send(read(&p.payload, header));
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ack_tx.send(());
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(Err(format!("MQTT connect: {e}")));
                        }
                        break;
                    }
                }
            }
        });
        connected
            .await
            .map_err(|_| "MQTT: the event loop ended")??;
        return Ok(Link::Mqtt {
            v5: Some(client),
            v4: None,
            subacks: tokio::sync::Mutex::new(subacks),
            eventloop: Mutex::new(Some(task)),
        });
    }
    let mut o = rumqttc::MqttOptions::new(id, host, port);
    o.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(o, 256);
    eventloop.set_network_options(net);
    let task = tokio::spawn(async move {
        use rumqttc::{Event, Packet};
        let mut connected_tx = Some(connected_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(tx) = connected_tx.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = out.send(read(&p.payload, None));
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ack_tx.send(());
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                Ok(_) => {}
                Err(e) => {
                    if let Some(tx) = connected_tx.take() {
                        let _ = tx.send(Err(format!("MQTT connect: {e}")));
                    }
                    break;
                }
            }
        }
    });
    connected
        .await
        .map_err(|_| "MQTT: the event loop ended")??;
    Ok(Link::Mqtt {
        v5: None,
        v4: Some(client),
        subacks: tokio::sync::Mutex::new(subacks),
        eventloop: Mutex::new(Some(task)),
    })
}

async fn amqp_reader(_channel: lapin::Channel, mut consumer: lapin::Consumer, out: Outlet) {
    while let Some(Ok(delivery)) = consumer.next().await {
        let header = delivery
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get(HEADER).cloned())
            .and_then(|v| match v {
                lapin::types::AMQPValue::LongString(s) => {
                    Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                }
                _ => None,
            });
        if out.send(read(&delivery.data, header)).is_err() {
            break;
        }
    }
}

async fn nats_reader(mut sub: async_nats::Subscriber, out: Outlet) {
    while let Some(m) = sub.next().await {
        let header = m
            .headers
            .as_ref()
            .and_then(|h| h.get(HEADER))
            .map(|v| v.as_str().to_string());
        if out.send(read(&m.payload, header)).is_err() {
            break;
        }
    }
}

/// Follows partition 0 from `offset`: a fetch held open by the broker up to
/// `wait_ms`, the next one as soon as it returns.
async fn kafka_reader(
    reader: rskafka::client::partition::PartitionClient,
    mut offset: i64,
    wait_ms: i32,
    out: Outlet,
) {
    loop {
        let Ok((records, _)) = reader.fetch_records(offset, 1..1_000_000, wait_ms).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let from = offset;
        for r in records.into_iter().filter(|r| r.offset >= from) {
            offset = r.offset + 1;
            let header = r
                .record
                .headers
                .get(HEADER)
                .map(|v| String::from_utf8_lossy(v).into_owned());
            let body = r.record.value.unwrap_or_default();
            if out.send(read(&body, header)).is_err() {
                return;
            }
        }
    }
}

async fn ws_reader(mut stream: SplitStream<WsStream>, out: Outlet) {
    use tokio_tungstenite::tungstenite::Message;
    while let Some(Ok(m)) = stream.next().await {
        let msg = match m {
            Message::Text(t) => read(t.as_bytes(), None),
            Message::Binary(b) => read(&b, None),
            Message::Close(_) => break,
            _ => continue,
        };
        if out.send(msg).is_err() {
            break;
        }
    }
}
