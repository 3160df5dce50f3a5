//! Kafka, through rskafka: a channel address is a topic. Publishing appends one
//! record to a partition of the topic and waits for the broker's acknowledgement;
//! subscribing notes each partition's high watermark, then follows every partition
//! from there, so a record produced after `subscribe` returns is delivered and one
//! produced before is not. No consumer group is joined and no offset is committed:
//! a workflow's receive step wants the messages of its own run, not a share of a
//! group's.
//!
//! Record headers and `InMessage::headers` map one to one (values as UTF-8 text,
//! lossy); the record key travels as the header `key`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials as SaslCredentials, SaslConfig};
use rskafka::record::Record;
use rskafka::BackoffConfig;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{
    deliver, shown, tls_config, Bindings, BrokerError, Credentials, Endpoint, InMessage,
    OutMessage, Subscription, Tally,
};

/// The header a record's key is read from (publish) and shown under (receive).
pub const KEY_HEADER: &str = "key";
/// The header `OutMessage::content_type` is sent as.
pub const CONTENT_TYPE_HEADER: &str = "content-type";

/// Longest time the broker holds a fetch open when the partition has nothing new:
/// short enough that a dropped subscription's loop ends soon, long enough not to
/// poll a quiet topic hard.
const FETCH_WAIT_MS: i32 = 500;
/// Shortest time between two fetches that came back empty, for brokers that
/// answer at once instead of holding the fetch for `FETCH_WAIT_MS`.
const MIN_EMPTY_POLL: Duration = Duration::from_millis(50);
/// Pause after a failed fetch (rskafka has already retried it with backoff).
const FETCH_ERROR_PAUSE: Duration = Duration::from_millis(500);
/// How long the broker may take to create a topic.
const CREATE_TIMEOUT_MS: i32 = 5_000;

/// One broker connection: rskafka's client (metadata, topic creation) and the
/// partition clients publishing uses, each holding its own connection to the
/// partition's leader. Subscriptions make partition clients of their own, so a
/// fetch held open by the broker never delays a publish.
pub struct Connection {
    client: Client,
    /// "Kafka broker at kafka://host:port/", for messages.
    name: String,
    /// Masked out of any error text that might echo it.
    password: Option<String>,
    max_message_bytes: usize,
    producers: Mutex<HashMap<(String, i32), Arc<PartitionClient>>>,
    /// Partition counts of the topics used so far.
    partitions: Mutex<HashMap<String, i32>>,
}

impl Connection {
    /// Connects to the bootstrap broker of `endpoint.url`, with TLS for
    /// kafka-secure and SASL when the credentials give a username, and reads the
    /// cluster's metadata: returning means the broker answered as Kafka and
    /// accepted the credentials.
    ///
    /// A first client tries once, without retries: rskafka retries every failed
    /// connection (refused credentials too) until its backoff deadline, and a
    /// SCRAM attempt can take a while, so only a single try reports its own cause
    /// before the caller's timeout. The client kept is a second one, which
    /// retries transient failures (a leader moving, a topic just created).
    pub async fn connect(endpoint: &Endpoint) -> Result<Connection, BrokerError> {
        let name = format!("Kafka broker at {}", shown(&endpoint.url));
        let bootstrap = bootstrap_address(endpoint, &name)?;
        let sasl = sasl_config(&endpoint.credentials, &name)?;
        let mechanism = sasl.as_ref().map(mechanism_name);
        let tls = if endpoint.tls {
            Some(Arc::new(tls_config(&endpoint.credentials)?))
        } else {
            None
        };
        let password = endpoint.credentials.password.clone();
        let fail = |e: KafkaError| {
            let detail = masked(&e.to_string(), password.as_deref());
            connect_error(&name, endpoint.tls, mechanism, &detail)
        };
        let build = |backoff: BackoffConfig| {
            let mut builder = ClientBuilder::new(vec![bootstrap.clone()])
                .client_id(endpoint.client_id.as_str())
                .max_message_size(frame_limit(endpoint.max_message_bytes))
                .backoff_config(backoff);
            if let Some(config) = &tls {
                builder = builder.tls_config(Arc::clone(config));
            }
            if let Some(sasl) = &sasl {
                builder = builder.sasl_config(sasl.clone());
            }
            builder.build()
        };
        drop(build(single_try()).await.map_err(fail)?);
        let client = build(backoff(endpoint.connect_timeout))
            .await
            .map_err(fail)?;
        Ok(Connection {
            client,
            name,
            password,
            max_message_bytes: endpoint.max_message_bytes,
            producers: Mutex::new(HashMap::new()),
            partitions: Mutex::new(HashMap::new()),
        })
    }

    /// Appends `message` to the topic `address` (or the channel binding's
    /// `topic`), creating the topic when it does not exist, and returns once the
    /// partition leader acknowledged the record. A keyed record goes to the
    /// partition Kafka's default partitioner picks (murmur2 of the key), an
    /// unkeyed one to partition 0.
    pub async fn publish(
        &self,
        address: &str,
        bindings: &Bindings,
        message: &OutMessage,
    ) -> Result<(), BrokerError> {
        let topic = topic_of(address, bindings)?;
        let record = record_of(message);
        let count = self.partition_count(&topic, bindings).await?;
        let partition = partition_for(record.key.as_deref(), count);
        let producer = self.producer(&topic, partition).await?;
        producer
            .produce(vec![record], Compression::NoCompression)
            .await
            .map_err(|e| {
                self.failed(&format!("did not take the message for topic `{topic}`"), &e)
            })?;
        Ok(())
    }

    /// Starts following every partition of the topic from its current high
    /// watermark (creating the topic when missing, so that a reply can be awaited
    /// before anyone wrote to it). Returns once every partition's start offset is
    /// known, so every record appended afterwards is delivered.
    pub async fn subscribe(
        &self,
        address: &str,
        bindings: &Bindings,
    ) -> Result<Subscription, BrokerError> {
        let topic = topic_of(address, bindings)?;
        let count = self.partition_count(&topic, bindings).await?;
        let mut starts = Vec::with_capacity(count as usize);
        for partition in 0..count {
            let reader = self.partition_client(&topic, partition).await?;
            let start = reader.get_offset(OffsetAt::Latest).await.map_err(|e| {
                self.failed(&format!("did not give the end of topic `{topic}`"), &e)
            })?;
            starts.push((reader, start));
        }
        let (tx, rx) = mpsc::channel(Subscription::CAPACITY);
        let dropped = Arc::new(Tally::default());
        let outlet = Outlet {
            topic,
            tx,
            dropped: Arc::clone(&dropped),
            max: self.max_message_bytes,
        };
        let task = tokio::spawn(follow_all(starts, outlet));
        Ok(Subscription::new(rx, dropped, Some(task)))
    }

    /// Drops the publishing connections; Kafka has no goodbye to send.
    pub async fn close(&self) {
        self.producers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The number of partitions of `topic`, creating it when the cluster does not
    /// have it (with the channel binding's `partitions` and `replicas`, else 1 and
    /// the broker's default replication).
    async fn partition_count(&self, topic: &str, bindings: &Bindings) -> Result<i32, BrokerError> {
        if let Some(n) = self.known_partitions(topic) {
            return Ok(n);
        }
        let topics = self
            .client
            .list_topics()
            .await
            .map_err(|e| self.failed("did not list its topics", &e))?;
        let count = match topics.iter().find(|t| t.name == topic) {
            Some(t) if t.partitions.is_empty() => {
                return Err(BrokerError(format!(
                    "{}: topic `{topic}` has no partitions",
                    self.name
                )))
            }
            Some(t) => i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
            None => self.create_topic(topic, bindings).await?,
        };
        self.partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_string(), count);
        Ok(count)
    }

    fn known_partitions(&self, topic: &str) -> Option<i32> {
        let known = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        known.get(topic).copied()
    }

    /// Creates `topic` through the controller; one created meanwhile by someone
    /// else is as good. Returns its partition count.
    async fn create_topic(&self, topic: &str, bindings: &Bindings) -> Result<i32, BrokerError> {
        let (partitions, replicas) = creation_settings(bindings);
        let controller = self
            .client
            .controller_client()
            .map_err(|e| self.failed("has no controller to create topics", &e))?;
        match controller
            .create_topic(topic, partitions, replicas, CREATE_TIMEOUT_MS)
            .await
        {
            Ok(()) => Ok(partitions),
            Err(KafkaError::ServerError {
                protocol_error: ProtocolError::TopicAlreadyExists,
                ..
            }) => Ok(partitions),
            Err(e) => Err(BrokerError(format!(
                "{} refused to create topic `{topic}` ({}); create the topic on the broker, \
                 or let this client create topics",
                self.name,
                self.clean(&e)
            ))),
        }
    }

    /// The cached partition client publishing to (`topic`, `partition`).
    async fn producer(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<PartitionClient>, BrokerError> {
        let key = (topic.to_string(), partition);
        if let Some(p) = self
            .producers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(p));
        }
        let made = Arc::new(self.partition_client(topic, partition).await?);
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Arc::clone(producers.entry(key).or_insert(made)))
    }

    /// A new partition client (its own connection to the partition's leader); a
    /// topic just created may take a moment to show in metadata, so unknown
    /// topics are retried (within the backoff deadline).
    async fn partition_client(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionClient, BrokerError> {
        self.client
            .partition_client(topic, partition, UnknownTopicHandling::Retry)
            .await
            .map_err(|e| {
                self.failed(
                    &format!("did not give the leader of topic `{topic}` partition {partition}"),
                    &e,
                )
            })
    }

    fn failed(&self, what: &str, e: &KafkaError) -> BrokerError {
        BrokerError(format!("{} {what}: {}", self.name, self.clean(e)))
    }

    /// rskafka's error text, without its retry preamble and without the password.
    fn clean(&self, e: &KafkaError) -> String {
        masked(&e.to_string(), self.password.as_deref())
    }
}

/// Where a subscription's records go.
struct Outlet {
    topic: String,
    tx: mpsc::Sender<InMessage>,
    dropped: Arc<Tally>,
    max: usize,
}

/// Follows every partition until the subscription is dropped (aborting this task
/// drops the set, which aborts the partition tasks).
async fn follow_all(starts: Vec<(PartitionClient, i64)>, outlet: Outlet) {
    let outlet = Arc::new(outlet);
    let mut set = tokio::task::JoinSet::new();
    for (reader, start) in starts {
        set.spawn(follow(reader, start, Arc::clone(&outlet)));
    }
    while set.join_next().await.is_some() {}
}

/// Fetches one partition from `offset` on and hands each record to the
/// subscription, until the subscription is gone.
async fn follow(reader: PartitionClient, mut offset: i64, outlet: Arc<Outlet>) {
    let bytes = 1..fetch_limit(outlet.max);
    while !outlet.tx.is_closed() {
        let began = Instant::now();
        match reader
            .fetch_records(offset, bytes.clone(), FETCH_WAIT_MS)
            .await
        {
            Ok((records, _high_watermark)) => {
                let empty = records.is_empty();
                let from = offset;
                for r in records.into_iter().filter(|r| r.offset >= from) {
                    offset = r.offset + 1;
                    let message = message_of(r.record, &outlet.topic);
                    if !deliver(&outlet.tx, &outlet.dropped, outlet.max, message) {
                        return;
                    }
                }
                let waited = began.elapsed();
                if empty && waited < MIN_EMPTY_POLL {
                    tokio::time::sleep(MIN_EMPTY_POLL - waited).await;
                }
            }
            Err(e) => offset = after_fetch_error(&reader, offset, &e, &outlet).await,
        }
    }
}

/// Where to fetch next after `e`: past a record too large to be read at all
/// (counted as dropped), at the partition's start or end when `offset` fell out
/// of its range, else at `offset` again after a pause.
async fn after_fetch_error(
    reader: &PartitionClient,
    offset: i64,
    e: &KafkaError,
    outlet: &Outlet,
) -> i64 {
    tracing::debug!(topic = %outlet.topic, partition = reader.partition(), offset, error = %e, "kafka fetch failed");
    if e.to_string().contains("too large") {
        outlet.dropped.fetch_add(1, Ordering::Relaxed);
        return offset + 1;
    }
    if let KafkaError::ServerError {
        protocol_error: ProtocolError::OffsetOutOfRange,
        ..
    } = e
    {
        if let Ok(earliest) = reader.get_offset(OffsetAt::Earliest).await {
            if offset < earliest {
                return earliest;
            }
        }
        if let Ok(latest) = reader.get_offset(OffsetAt::Latest).await {
            return latest;
        }
    }
    tokio::time::sleep(FETCH_ERROR_PAUSE).await;
    offset
}

/// A received record as an `InMessage`: the key (when there is one) as header
/// `key` first, then the record's headers in name order.
fn message_of(record: Record, topic: &str) -> InMessage {
    let mut headers = Vec::with_capacity(record.headers.len() + 1);
    if let Some(key) = record.key {
        headers.push((KEY_HEADER.to_string(), text(key)));
    }
    for (name, value) in record.headers {
        headers.push((name, text(value)));
    }
    InMessage {
        headers,
        payload: record.value.unwrap_or_default(),
        address: topic.to_string(),
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The record for `message`: header `key` becomes the record key, the content
/// type a `content-type` header (unless the message has one already). Kafka
/// headers are kept by name, so of two headers with one name the last wins.
fn record_of(message: &OutMessage) -> Record {
    let mut headers = BTreeMap::new();
    let mut key = None;
    for (name, value) in &message.headers {
        if name == KEY_HEADER {
            key = Some(value.clone().into_bytes());
        } else {
            headers.insert(name.clone(), value.clone().into_bytes());
        }
    }
    if let Some(ct) = &message.content_type {
        headers
            .entry(CONTENT_TYPE_HEADER.to_string())
            .or_insert_with(|| ct.clone().into_bytes());
    }
    Record {
        key,
        value: Some(message.payload.clone()),
        headers,
        timestamp: now(),
    }
}

fn now() -> rskafka::chrono::DateTime<rskafka::chrono::Utc> {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    rskafka::chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// The topic of a channel: the Kafka channel binding's `topic` when it gives one
/// (AsyncAPI: "if different from the channel name"), else the address. Checked
/// against Kafka's rules here, so a bad name is not a broker round trip away.
fn topic_of(address: &str, bindings: &Bindings) -> Result<String, BrokerError> {
    let topic = bindings
        .channel
        .as_ref()
        .and_then(|c| c.get("topic"))
        .and_then(Value::as_str)
        .unwrap_or(address);
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if topic.is_empty()
        || topic.len() > 249
        || !topic.chars().all(legal)
        || topic == "."
        || topic == ".."
    {
        return Err(BrokerError(format!(
            "`{topic}` is not a Kafka topic name: use 1 to 249 letters, digits, '.', '_' or '-' \
             (and not `.` or `..`)"
        )));
    }
    Ok(topic.to_string())
}

/// Partitions and replication factor of a topic this client creates: the channel
/// binding's `partitions` and `replicas`, else 1 partition and the broker's
/// default replication factor (-1).
fn creation_settings(bindings: &Bindings) -> (i32, i16) {
    let channel = bindings.channel.as_ref();
    let number = |name: &str| channel.and_then(|c| c.get(name)).and_then(Value::as_i64);
    let partitions = number("partitions")
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let replicas = number("replicas")
        .and_then(|n| i16::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(-1);
    (partitions, replicas)
}

/// The partition a record goes to: Kafka's default partitioner for a keyed
/// record (so records of one key stay in order with other producers' records of
/// that key), partition 0 otherwise.
fn partition_for(key: Option<&[u8]>, count: i32) -> i32 {
    match key {
        Some(k) if count > 1 => {
            let positive = (murmur2(k) & 0x7fff_ffff) as i32;
            positive % count
        }
        _ => 0,
    }
}

/// MurmurHash2 as Kafka's Java client computes it (seed 0x9747b28c), which its
/// default partitioner applies to record keys.
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// `host:port` of the bootstrap broker, as rskafka wants it.
fn bootstrap_address(endpoint: &Endpoint, name: &str) -> Result<String, BrokerError> {
    let host = endpoint
        .url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| BrokerError(format!("{name}: the URL has no host")))?;
    let port = endpoint
        .url
        .port()
        .unwrap_or_else(|| endpoint.protocol.default_port(endpoint.tls));
    Ok(format!("{host}:{port}"))
}

/// The SASL settings of the credentials: none without a username; the mechanism
/// from `sasl_mechanism` (Kafka's or AsyncAPI's spelling), PLAIN by default.
fn sasl_config(credentials: &Credentials, name: &str) -> Result<Option<SaslConfig>, BrokerError> {
    let Some(user) = &credentials.username else {
        if credentials.password.is_some() {
            return Err(BrokerError(format!(
                "{name}: a password was given without a username; SASL needs both"
            )));
        }
        return Ok(None);
    };
    let pair = SaslCredentials::new(
        user.clone(),
        credentials.password.clone().unwrap_or_default(),
    );
    let wanted = credentials.sasl_mechanism.as_deref().unwrap_or("PLAIN");
    let squashed: String = wanted
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    match squashed.as_str() {
        "PLAIN" => Ok(Some(SaslConfig::Plain(pair))),
        "SCRAMSHA256" => Ok(Some(SaslConfig::ScramSha256(pair))),
        "SCRAMSHA512" => Ok(Some(SaslConfig::ScramSha512(pair))),
        _ => Err(BrokerError(format!(
            "{name}: SASL mechanism `{wanted}` is not supported for Kafka; use PLAIN, \
             SCRAM-SHA-256 or SCRAM-SHA-512"
        ))),
    }
}

fn mechanism_name(config: &SaslConfig) -> &'static str {
    match config {
        SaslConfig::Plain(_) => "PLAIN",
        SaslConfig::ScramSha256(_) => "SCRAM-SHA-256",
        SaslConfig::ScramSha512(_) => "SCRAM-SHA-512",
        SaslConfig::Oauthbearer(_) => "OAUTHBEARER",
    }
}

/// Why `connect` failed, from rskafka's error text, with what to check.
fn connect_error(name: &str, tls: bool, mechanism: Option<&str>, detail: &str) -> BrokerError {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("connection refused") {
        return BrokerError(format!(
            "{name} refused the connection ({detail}): is the broker running, and is this its \
             host and port?"
        ));
    }
    if lower.contains("lookup") || lower.contains("resolve") || lower.contains("not known") {
        return BrokerError(format!("{name} cannot be reached ({detail})"));
    }
    if let Some(hint) = crate::http::tls_hint(detail) {
        return BrokerError(format!("{name}: TLS failed ({detail}); {hint}"));
    }
    if let Some(mech) = mechanism {
        if lower.contains("sasl") {
            return BrokerError(format!(
                "{name} refused the username or password (SASL {mech}: {detail}); check \
                 ARAZZO_AUTH_<SOURCE>_<SCHEME>_USERNAME/PASSWORD and the SASL mechanism"
            ));
        }
    }
    let hint = match (tls, mechanism) {
        (false, None) => "; does it want TLS (kafka-secure) or SASL credentials?",
        (false, Some(_)) => "; does it want TLS (kafka-secure)?",
        (true, None) => "; is it a TLS listener, and does it want SASL credentials?",
        (true, Some(_)) => "; is it a TLS listener?",
    };
    BrokerError(format!(
        "{name} did not complete the Kafka handshake ({detail}){hint}"
    ))
}

/// `text` with the password masked and rskafka's retry preamble ("... Retry
/// exceeded deadline. Source: ") cut, leaving the cause.
fn masked(text: &str, password: Option<&str>) -> String {
    const SOURCE: &str = "Source: ";
    let cause = text
        .rfind(SOURCE)
        .map_or(text, |i| &text[i + SOURCE.len()..]);
    match password.filter(|p| !p.is_empty()) {
        Some(p) => cause.replace(p, "…"),
        None => cause.to_string(),
    }
}

/// rskafka's retry policy for the connection's life: exponential backoff whose
/// sleeps add up to at most 60% of the connect timeout, so that an operation
/// on a broker gone away fails in bounded time.
fn backoff(connect_timeout: Duration) -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
        base: 3.0,
        deadline: Some(connect_timeout.mul_f64(0.6).max(Duration::from_millis(500))),
    }
}

/// No retry at all: the first failure is the answer.
fn single_try() -> BackoffConfig {
    BackoffConfig {
        deadline: Some(Duration::ZERO),
        ..backoff(Duration::ZERO)
    }
}

/// The most record bytes one fetch asks for: room for one message of the largest
/// accepted size. (A broker returns at least one record batch whatever the limit,
/// so larger messages still arrive, to be dropped and counted.)
fn fetch_limit(max_message_bytes: usize) -> i32 {
    i32::try_from(max_message_bytes.saturating_add(64 * 1024)).unwrap_or(i32::MAX)
}

/// The largest response frame read from the broker: twice a fetch, and never
/// under 8 MiB so metadata of a large cluster fits. A larger frame fails the
/// fetch; the record is then skipped and counted as dropped.
fn frame_limit(max_message_bytes: usize) -> usize {
    max_message_bytes
        .saturating_mul(2)
        .saturating_add(1 << 20)
        .max(8 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_partitioner() {
        // Values from Kafka's own tests of `Utils.murmur2` (as Java ints).
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (data, want) in cases {
            assert_eq!(
                murmur2(data) as i32,
                want,
                "{}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn keyed_records_spread_unkeyed_stay_on_zero() {
        assert_eq!(partition_for(None, 6), 0);
        assert_eq!(partition_for(Some(b"abc"), 1), 0);
        // 479470107 & 0x7fffffff = 479470107; % 6 = 3.
        assert_eq!(partition_for(Some(b"abc"), 6), 3);
        // -973932308 & 0x7fffffff = 1173551340; % 4 = 0.
        assert_eq!(partition_for(Some(b"21"), 4), 0);
    }

    #[test]
    fn key_header_becomes_the_record_key_and_content_type_a_header() {
        let out = OutMessage {
            headers: vec![("key".into(), "k1".into()), ("trace".into(), "t".into())],
            payload: b"p".to_vec(),
            content_type: Some("application/json".into()),
        };
        let r = record_of(&out);
        assert_eq!(r.key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(r.headers.get("trace").map(Vec::as_slice), Some(&b"t"[..]));
        assert_eq!(
            r.headers.get("content-type").map(Vec::as_slice),
            Some(&b"application/json"[..])
        );
        assert!(!r.headers.contains_key("key"));
        let back = message_of(r, "orders");
        assert_eq!(back.headers[0], ("key".to_string(), "k1".to_string()));
        assert_eq!(back.address, "orders");
        assert_eq!(back.payload, b"p");
    }

    #[test]
    fn topic_names_follow_kafkas_rules() {
        let none = Bindings::default();
        assert_eq!(
            topic_of("orders.v1_x-y", &none).ok().as_deref(),
            Some("orders.v1_x-y")
        );
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            let e = topic_of(bad, &none).err().map(|e| e.0).unwrap_or_default();
            assert!(e.contains("not a Kafka topic name"), "{bad}: {e}");
        }
        assert!(topic_of(&"x".repeat(250), &none).is_err());
        let bound = Bindings {
            channel: Some(
                serde_json::json!({"topic": "real-topic", "partitions": 3, "replicas": 2}),
            ),
            ..Bindings::default()
        };
        assert_eq!(
            topic_of("ignored", &bound).ok().as_deref(),
            Some("real-topic")
        );
        assert_eq!(creation_settings(&bound), (3, 2));
        assert_eq!(creation_settings(&none), (1, -1));
    }

    #[test]
    fn sasl_mechanisms_in_either_spelling() {
        let creds = |m: Option<&str>| Credentials {
            username: Some("u".into()),
            password: Some("p".into()),
            sasl_mechanism: m.map(str::to_string),
            ..Credentials::default()
        };
        let name = |m| {
            sasl_config(&creds(m), "b")
                .ok()
                .flatten()
                .map(|c| mechanism_name(&c))
        };
        assert_eq!(name(None), Some("PLAIN"));
        assert_eq!(name(Some("scramSha256")), Some("SCRAM-SHA-256"));
        assert_eq!(name(Some("SCRAM-SHA-512")), Some("SCRAM-SHA-512"));
        assert!(sasl_config(&creds(Some("GSSAPI")), "b").is_err());
        assert!(matches!(
            sasl_config(&Credentials::default(), "b"),
            Ok(None)
        ));
        let lone = Credentials {
            password: Some("p".into()),
            ..Credentials::default()
        };
        assert!(sasl_config(&lone, "b").is_err());
    }

    #[test]
    fn error_text_loses_the_password_and_the_retry_preamble() {
        let t = "all retries failed: Retry exceeded deadline. Source: bad secret-pw here";
        assert_eq!(masked(t, Some("secret-pw")), "bad … here");
        assert_eq!(masked("plain", None), "plain");
    }
}
