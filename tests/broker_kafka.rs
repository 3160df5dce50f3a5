//! `arazzo::broker` over Kafka, against a real Kafka-compatible broker (Tansu,
//! see `support::brokers::kafka`), with rskafka used directly as the other party
//! so that what arazzo sends and reads is checked by an independent client.
//!
//! Kafka records always have headers, so there is no "headers refused" case
//! here (that is for MQTT 3.1.1 and WebSocket).

mod support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use arazzo::broker::{
    Bindings, Connection, Credentials, Endpoint, InMessage, OutMessage, Protocol, Subscription,
};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use support::brokers::kafka;

const WAIT: Duration = Duration::from_secs(5);

fn endpoint(url: &str) -> Endpoint {
    static N: AtomicU32 = AtomicU32::new(0);
    Endpoint {
        protocol: Protocol::Kafka,
        url: url::Url::parse(url).expect("broker URL"),
        tls: false,
        protocol_version: None,
        credentials: Credentials::default(),
        connect_timeout: Duration::from_secs(5),
        client_id: format!("arazzo-test-{}", N.fetch_add(1, Ordering::Relaxed)),
        max_message_bytes: 1 << 20,
    }
}

async fn connect() -> Connection {
    let broker = kafka::broker();
    Connection::connect(&endpoint(&broker.url))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\nbroker log:\n{}", broker.log()))
}

/// The independent client: rskafka straight to the test broker.
async fn peer() -> Client {
    ClientBuilder::new(vec![kafka::broker().bootstrap()])
        .build()
        .await
        .expect("rskafka client")
}

/// Creates `topic` with `partitions` through the peer and returns a client of
/// partition 0.
async fn peer_topic(peer: &Client, topic: &str, partitions: i32) -> PartitionClient {
    peer.controller_client()
        .expect("controller")
        .create_topic(topic, partitions, 1, 5_000)
        .await
        .expect("create topic");
    peer_partition(peer, topic, 0).await
}

async fn peer_partition(peer: &Client, topic: &str, partition: i32) -> PartitionClient {
    peer.partition_client(topic, partition, UnknownTopicHandling::Retry)
        .await
        .expect("partition client")
}

fn record(key: Option<&str>, headers: &[(&str, &str)], value: &[u8]) -> Record {
    Record {
        key: key.map(|k| k.as_bytes().to_vec()),
        value: Some(value.to_vec()),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect::<BTreeMap<_, _>>(),
        timestamp: rskafka::chrono::DateTime::from_timestamp_millis(1_700_000_000_000)
            .unwrap_or_default(),
    }
}

async fn produce(partition: &PartitionClient, r: Record) {
    partition
        .produce(vec![r], Compression::NoCompression)
        .await
        .expect("peer produce");
}

async fn next(sub: &mut Subscription) -> InMessage {
    tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("a message within 5 s")
        .expect("the subscription is open")
}

fn header<'a>(m: &'a InMessage, name: &str) -> Option<&'a str> {
    m.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn received_record_keeps_key_headers_and_payload() {
    let conn = connect().await;
    let peer = peer().await;
    let topic = "rt-in";
    let partition = peer_topic(&peer, topic, 1).await;
    let mut sub = conn
        .subscribe(topic, &Bindings::default())
        .await
        .expect("subscribe");
    let payload = b"{\"order\":42}\x00\xff";
    let r = record(
        Some("order-42"),
        &[("correlation_id", "c-1"), ("trace", "t")],
        payload,
    );
    produce(&partition, r).await;
    let m = next(&mut sub).await;
    assert_eq!(m.payload, payload);
    assert_eq!(m.address, topic);
    assert_eq!(m.headers[0], ("key".to_string(), "order-42".to_string()));
    assert_eq!(header(&m, "correlation_id"), Some("c-1"));
    assert_eq!(header(&m, "trace"), Some("t"));
    assert_eq!(m.headers.len(), 3, "{:?}", m.headers);
}

#[tokio::test]
async fn published_message_reaches_an_independent_consumer() {
    let conn = connect().await;
    let peer = peer().await;
    let topic = "rt-out";
    let message = OutMessage {
        headers: vec![
            ("key".into(), "k-7".into()),
            ("correlation_id".into(), "c-7".into()),
        ],
        payload: b"hello kafka".to_vec(),
        content_type: Some("text/plain".into()),
    };
    // The topic does not exist yet: publishing creates it.
    conn.publish(topic, &Bindings::default(), &message)
        .await
        .expect("publish");
    let partition = peer_partition(&peer, topic, 0).await;
    let (records, _) = partition
        .fetch_records(0, 1..1_000_000, 1_000)
        .await
        .expect("peer fetch");
    assert_eq!(records.len(), 1, "{records:?}");
    let got = &records[0].record;
    assert_eq!(got.value.as_deref(), Some(&b"hello kafka"[..]));
    assert_eq!(got.key.as_deref(), Some(&b"k-7"[..]));
    assert_eq!(
        got.headers.get("correlation_id").map(Vec::as_slice),
        Some(&b"c-7"[..])
    );
    assert_eq!(
        got.headers.get("content-type").map(Vec::as_slice),
        Some(&b"text/plain"[..])
    );
    assert!(!got.headers.contains_key("key"), "{:?}", got.headers);
}

#[tokio::test]
async fn message_published_right_after_subscribe_is_always_received() {
    let conn = connect().await;
    let peer = peer().await;
    let topic = "race";
    let partition = peer_topic(&peer, topic, 1).await;
    for i in 0..50 {
        let mut sub = conn
            .subscribe(topic, &Bindings::default())
            .await
            .expect("subscribe");
        let body = format!("reply {i}");
        produce(&partition, record(None, &[], body.as_bytes())).await;
        let m = next(&mut sub).await;
        // Earlier rounds' records are before this subscription: never seen here.
        assert_eq!(String::from_utf8_lossy(&m.payload), body, "round {i}");
    }
}

#[tokio::test]
async fn message_published_before_subscribe_is_not_delivered() {
    let conn = connect().await;
    let topic = "before";
    let m = |s: &str| OutMessage {
        payload: s.as_bytes().to_vec(),
        ..OutMessage::default()
    };
    conn.publish(topic, &Bindings::default(), &m("old"))
        .await
        .expect("publish old");
    let mut sub = conn
        .subscribe(topic, &Bindings::default())
        .await
        .expect("subscribe");
    conn.publish(topic, &Bindings::default(), &m("new"))
        .await
        .expect("publish new");
    assert_eq!(next(&mut sub).await.payload, b"new");
    assert!(sub.try_recv().is_none(), "nothing but `new`");
}

#[tokio::test]
async fn two_subscriptions_each_get_only_their_topic() {
    let conn = connect().await;
    let none = Bindings::default();
    let mut a = conn.subscribe("two-a", &none).await.expect("subscribe a");
    let mut b = conn.subscribe("two-b", &none).await.expect("subscribe b");
    let m = |s: &str| OutMessage {
        payload: s.as_bytes().to_vec(),
        ..OutMessage::default()
    };
    conn.publish("two-a", &none, &m("for a"))
        .await
        .expect("publish a");
    conn.publish("two-b", &none, &m("for b"))
        .await
        .expect("publish b");
    conn.publish("two-a", &none, &m("for a again"))
        .await
        .expect("publish a2");
    assert_eq!(next(&mut a).await.payload, b"for a");
    assert_eq!(next(&mut a).await.payload, b"for a again");
    let got_b = next(&mut b).await;
    assert_eq!(got_b.payload, b"for b");
    assert_eq!(got_b.address, "two-b");
    assert!(a.try_recv().is_none());
    assert!(b.try_recv().is_none());
}

#[tokio::test]
async fn every_partition_is_followed_and_keys_pick_kafkas_partition() {
    let conn = connect().await;
    let peer = peer().await;
    let topic = "parts";
    peer_topic(&peer, topic, 3).await;
    let mut sub = conn
        .subscribe(topic, &Bindings::default())
        .await
        .expect("subscribe");
    for p in 0..3 {
        let partition = peer_partition(&peer, topic, p).await;
        produce(&partition, record(None, &[], format!("p{p}").as_bytes())).await;
    }
    let mut seen: Vec<Vec<u8>> = Vec::new();
    for _ in 0..3 {
        seen.push(next(&mut sub).await.payload);
    }
    seen.sort();
    assert_eq!(seen, [b"p0".to_vec(), b"p1".to_vec(), b"p2".to_vec()]);

    // murmur2("abc") = 479470107, and 479470107 % 3 = 0; murmur2("21") as a
    // positive int is 1173551340, % 3 = 0 too; "foobar": 1357151166 % 3 = 0.
    // "a-little-bit-long-string": 1161502112 % 3 = 2.
    let keyed = OutMessage {
        headers: vec![("key".into(), "a-little-bit-long-string".into())],
        payload: b"keyed".to_vec(),
        content_type: None,
    };
    conn.publish(topic, &Bindings::default(), &keyed)
        .await
        .expect("publish keyed");
    let two = peer_partition(&peer, topic, 2).await;
    let end = two.get_offset(OffsetAt::Latest).await.expect("offset");
    let (records, _) = two
        .fetch_records(end - 1, 1..1_000_000, 1_000)
        .await
        .expect("fetch partition 2");
    assert_eq!(
        records.last().and_then(|r| r.record.value.clone()),
        Some(b"keyed".to_vec())
    );
    assert_eq!(next(&mut sub).await.payload, b"keyed");
}

#[tokio::test]
async fn oversize_message_is_dropped_and_counted() {
    let broker = kafka::broker();
    let mut ep = endpoint(&broker.url);
    ep.max_message_bytes = 1024;
    let conn = Connection::connect(&ep).await.expect("connect");
    let peer = peer().await;
    let partition = peer_topic(&peer, "big", 1).await;
    let mut sub = conn
        .subscribe("big", &Bindings::default())
        .await
        .expect("subscribe");
    produce(&partition, record(None, &[], &vec![b'x'; 4096])).await;
    produce(&partition, record(None, &[], b"small")).await;
    assert_eq!(next(&mut sub).await.payload, b"small");
    assert_eq!(sub.dropped(), 1);
}

/// Tansu offers SCRAM-SHA-256/512 (and OAUTHBEARER, which it cannot check), but
/// with memory storage it has no users and no way to add the first one, so
/// every login fails: the refusal is tested here, a successful SASL login is
/// not (see `support::brokers::kafka`).
#[tokio::test]
async fn wrong_password_is_refused_without_echoing_it() {
    let broker = kafka::sasl_broker();
    let secret = "Wr0ng-S3cret-Value";
    for (mechanism, shown) in [
        ("SCRAM-SHA-512", "SCRAM-SHA-512"),
        ("scramSha256", "SCRAM-SHA-256"),
    ] {
        let mut ep = endpoint(&broker.url);
        ep.credentials = Credentials {
            username: Some("alice".into()),
            password: Some(secret.into()),
            sasl_mechanism: Some(mechanism.into()),
            ..Credentials::default()
        };
        ep.connect_timeout = Duration::from_secs(3);
        let began = Instant::now();
        let e = Connection::connect(&ep).await.err().expect("refused").0;
        assert!(
            began.elapsed() < Duration::from_secs(4),
            "{:?}",
            began.elapsed()
        );
        assert!(
            e.contains("refused the username or password"),
            "{e}\nbroker log:\n{}",
            broker.log()
        );
        assert!(e.contains(&broker.url), "{e}");
        assert!(e.contains(shown), "{e}");
        assert!(e.contains("ARAZZO_AUTH_"), "{e}");
        assert!(!e.contains(secret), "{e}");
    }
}

#[tokio::test]
async fn missing_credentials_on_a_sasl_broker_is_a_clear_error() {
    let broker = kafka::sasl_broker();
    let mut ep = endpoint(&broker.url);
    ep.connect_timeout = Duration::from_secs(2);
    let e = Connection::connect(&ep).await.err().expect("refused").0;
    assert!(e.contains(&broker.url), "{e}");
    assert!(
        e.contains("SASL credentials") || e.contains("within"),
        "{e}"
    );
}

#[tokio::test]
async fn refused_connection_names_the_url() {
    let port = kafka::free_port();
    let url = format!("kafka://127.0.0.1:{port}");
    let began = Instant::now();
    let e = Connection::connect(&endpoint(&url))
        .await
        .err()
        .expect("refused")
        .0;
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    assert!(e.contains("refused the connection"), "{e}");
}

#[tokio::test]
async fn silent_server_gives_the_timeout_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accepts and keeps every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let mut ep = endpoint(&format!("kafka://127.0.0.1:{port}"));
    ep.connect_timeout = Duration::from_secs(1);
    let began = Instant::now();
    let e = Connection::connect(&ep).await.err().expect("timed out").0;
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(
        e.contains("did not accept a connection within 1.0 s"),
        "{e}"
    );
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[tokio::test]
async fn bad_topic_name_is_refused_before_the_broker() {
    let conn = connect().await;
    let e = conn
        .publish("not/a topic", &Bindings::default(), &OutMessage::default())
        .await
        .expect_err("refused")
        .0;
    assert!(e.contains("not a Kafka topic name"), "{e}");
}

/// The front's URL, handed to the child run of `kafka_secure_round_trip`.
const TLS_URL_VAR: &str = "ARAZZO_TEST_KAFKA_TLS_URL";

/// kafka-secure through a TLS front whose certificate the test CA signed. The
/// client trusts that CA through `SSL_CERT_FILE`, read by the platform verifier,
/// so the check runs in a child run of this test binary with that variable set
/// (setting it here would touch every test of this process).
#[test]
fn kafka_secure_round_trip() {
    let front = kafka::tls_front();
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["tls_child", "--exact", "--ignored", "--nocapture"])
        .env("SSL_CERT_FILE", &front.ca)
        .env(TLS_URL_VAR, &front.url)
        .output()
        .expect("run the child test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{text}\nbroker log:\n{}",
        front.broker.log()
    );
    assert!(text.contains("1 passed"), "{text}");
}

#[tokio::test]
#[ignore = "run by kafka_secure_round_trip, which sets SSL_CERT_FILE and the URL"]
async fn tls_child() {
    let url = std::env::var(TLS_URL_VAR).unwrap_or_else(|_| {
        panic!("{TLS_URL_VAR} is unset: this runs under kafka_secure_round_trip")
    });
    let mut ep = endpoint(&url);
    ep.tls = true;
    let conn = Connection::connect(&ep).await.expect("connect over TLS");
    let mut sub = conn
        .subscribe("secure", &Bindings::default())
        .await
        .expect("subscribe");
    let m = OutMessage {
        payload: b"over tls".to_vec(),
        ..OutMessage::default()
    };
    conn.publish("secure", &Bindings::default(), &m)
        .await
        .expect("publish");
    assert_eq!(next(&mut sub).await.payload, b"over tls");
}

#[tokio::test]
async fn untrusted_certificate_is_a_clear_tls_error() {
    let front = kafka::tls_front();
    // This process does not trust the test CA.
    let mut ep = endpoint(&front.url);
    ep.tls = true;
    ep.connect_timeout = Duration::from_secs(3);
    let e = Connection::connect(&ep).await.err().expect("refused").0;
    assert!(e.contains(&front.url), "{e}");
    assert!(e.contains("TLS failed"), "{e}");
    assert!(e.contains("SSL_CERT_FILE"), "{e}");
}
