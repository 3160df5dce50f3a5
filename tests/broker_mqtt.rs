//! `arazzo::broker` over MQTT 5 and MQTT 3.1.1 against a real Mosquitto
//! (`support::brokers::mosquitto`). The other side of each exchange is a plain
//! rumqttc MQTT 5 client, not arazzo's wrapper.

mod support;

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arazzo::broker::{
    Bindings, Connection, Credentials, Endpoint, InMessage, OutMessage, Protocol, Subscription,
};
use rumqttc::v5::mqttbytes::v5::{Packet, Publish, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use serde_json::json;
use support::brokers::mosquitto::{self, mosquitto};
use tokio::sync::mpsc;

const V5: &str = "5";
const V311: &str = "3.1.1";
/// Longest wait for a message that should come.
const WAIT: Duration = Duration::from_secs(5);

/// A name unique in this test run, for client ids and topics.
fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{what}-{}-{n}", std::process::id())
}

fn endpoint(url: url::Url, version: &str) -> Endpoint {
    Endpoint {
        protocol: Protocol::Mqtt,
        url,
        tls: false,
        protocol_version: Some(version.to_string()),
        credentials: Credentials::default(),
        connect_timeout: Duration::from_secs(5),
        client_id: unique("arazzo"),
        max_message_bytes: 1 << 20,
    }
}

async fn connect(version: &str) -> Connection {
    let ep = endpoint(mosquitto().url(), version);
    Connection::connect(&ep)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\nMosquitto log:\n{}", mosquitto().log()))
}

fn payload_message(payload: &str) -> OutMessage {
    OutMessage {
        payload: payload.as_bytes().to_vec(),
        ..OutMessage::default()
    }
}

fn qos(n: u64) -> Bindings {
    Bindings {
        operation: Some(json!({ "qos": n })),
        ..Bindings::default()
    }
}

/// The next message of `sub`, failing the test after [`WAIT`].
async fn next(sub: &mut Subscription) -> InMessage {
    match tokio::time::timeout(WAIT, sub.recv()).await {
        Ok(Some(m)) => m,
        Ok(None) => panic!(
            "the subscription ended\nMosquitto log:\n{}",
            mosquitto().log()
        ),
        Err(_) => panic!(
            "no message within {WAIT:?}\nMosquitto log:\n{}",
            mosquitto().log()
        ),
    }
}

fn text(m: &InMessage) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

/// A plain rumqttc MQTT 5 client with one request outstanding at a time.
struct Peer {
    client: rumqttc::v5::AsyncClient,
    events: mpsc::UnboundedReceiver<rumqttc::v5::Event>,
    inbox: VecDeque<Publish>,
}

impl Peer {
    async fn connect() -> Peer {
        let b = mosquitto();
        let mut options = rumqttc::v5::MqttOptions::new(unique("peer"), "127.0.0.1", b.port);
        let mut net = rumqttc::NetworkOptions::new();
        net.set_tcp_nodelay(true);
        options.set_network_options(net);
        let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 16);
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        let mut peer = Peer {
            client,
            events,
            inbox: VecDeque::new(),
        };
        peer.until(|p| matches!(p, Packet::ConnAck(_))).await;
        peer
    }

    /// Waits for an incoming packet that `wanted` picks, keeping messages.
    async fn until(&mut self, wanted: impl Fn(&Packet) -> bool) -> Packet {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(e)) => e,
                _ => panic!(
                    "peer: nothing wanted came\nMosquitto log:\n{}",
                    mosquitto().log()
                ),
            };
            if let rumqttc::v5::Event::Incoming(packet) = event {
                if wanted(&packet) {
                    return packet;
                }
                if let Packet::Publish(p) = packet {
                    self.inbox.push_back(p);
                }
            }
        }
    }

    async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("peer subscribe");
        self.until(|p| matches!(p, Packet::SubAck(_))).await;
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    async fn publish(&mut self, topic: &str, payload: &str, props: Option<PublishProperties>) {
        let bytes = payload.as_bytes().to_vec();
        let sent = match props {
            Some(p) => {
                self.client
                    .publish_with_properties(topic, QoS::AtLeastOnce, false, bytes, p)
                    .await
            }
            None => {
                self.client
                    .publish(topic, QoS::AtLeastOnce, false, bytes)
                    .await
            }
        };
        sent.expect("peer publish");
        self.until(|p| matches!(p, Packet::PubAck(_))).await;
    }

    async fn receive(&mut self) -> Publish {
        if let Some(p) = self.inbox.pop_front() {
            return p;
        }
        match self.until(|p| matches!(p, Packet::Publish(_))).await {
            Packet::Publish(p) => p,
            _ => unreachable!("until returns what it was asked for"),
        }
    }
}

fn header<'a>(m: &'a InMessage, name: &str) -> Option<&'a str> {
    m.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn v5_round_trip_with_headers_and_payload() {
    let requests = unique("req");
    let replies = unique("rep");
    let mut peer = Peer::connect().await;
    peer.subscribe(&requests).await;
    let ours = connect(V5).await;
    let mut sub = ours
        .subscribe(&replies, &Bindings::default())
        .await
        .expect("subscribe");

    let request = OutMessage {
        headers: vec![
            ("x-trace".into(), "t-1".into()),
            ("correlation_data".into(), "c-42".into()),
            ("response_topic".into(), replies.clone()),
        ],
        payload: br#"{"n":1}"#.to_vec(),
        content_type: Some("application/json".into()),
    };
    ours.publish(&requests, &Bindings::default(), &request)
        .await
        .expect("publish");

    let got = peer.receive().await;
    assert_eq!(&got.payload[..], br#"{"n":1}"#);
    let props = got.properties.expect("MQTT 5 properties");
    assert_eq!(
        props.user_properties,
        vec![("x-trace".into(), "t-1".into())]
    );
    assert_eq!(props.correlation_data.as_deref(), Some(&b"c-42"[..]));
    assert_eq!(props.response_topic.as_deref(), Some(replies.as_str()));
    assert_eq!(props.content_type.as_deref(), Some("application/json"));

    let reply = PublishProperties {
        correlation_data: props.correlation_data.clone(),
        content_type: Some("text/plain".into()),
        user_properties: vec![("x-reply".into(), "yes".into())],
        ..PublishProperties::default()
    };
    peer.publish(&replies, "done", Some(reply)).await;
    let m = next(&mut sub).await;
    assert_eq!(text(&m), "done");
    assert_eq!(m.address, replies);
    assert_eq!(header(&m, "x-reply"), Some("yes"));
    assert_eq!(header(&m, "content_type"), Some("text/plain"));
    assert_eq!(header(&m, "correlation_data"), Some("c-42"));
    assert_eq!(header(&m, "response_topic"), None);
    ours.close().await;
}

#[tokio::test]
async fn v311_round_trip_carries_the_payload_only() {
    let requests = unique("req");
    let replies = unique("rep");
    let mut peer = Peer::connect().await;
    peer.subscribe(&requests).await;
    let ours = connect(V311).await;
    let mut sub = ours
        .subscribe(&replies, &Bindings::default())
        .await
        .expect("subscribe");
    let request = OutMessage {
        content_type: Some("application/json".into()),
        ..payload_message(r#"{"id":"c-7"}"#)
    };
    ours.publish(&requests, &Bindings::default(), &request)
        .await
        .expect("a content type alone is left out, not refused");
    let got = peer.receive().await;
    assert_eq!(&got.payload[..], br#"{"id":"c-7"}"#);
    assert_eq!(got.properties.and_then(|p| p.content_type), None);

    let props = PublishProperties {
        user_properties: vec![("x-dropped".into(), "by 3.1.1".into())],
        ..PublishProperties::default()
    };
    peer.publish(&replies, "ok c-7", Some(props)).await;
    let m = next(&mut sub).await;
    assert_eq!(text(&m), "ok c-7");
    assert_eq!(m.address, replies);
    assert!(
        m.headers.is_empty(),
        "MQTT 3.1.1 has no headers: {:?}",
        m.headers
    );
    ours.close().await;
}

async fn published_right_after_subscribe_is_received(version: &str) {
    let ours = connect(version).await;
    let mut peer = Peer::connect().await;
    for i in 0..50 {
        let topic = unique("fast");
        let mut sub = ours
            .subscribe(&topic, &Bindings::default())
            .await
            .expect("subscribe");
        peer.publish(&topic, &format!("m{i}"), None).await;
        let m = next(&mut sub).await;
        assert_eq!(text(&m), format!("m{i}"), "round {i}");
    }
    ours.close().await;
}

#[tokio::test]
async fn v5_published_right_after_subscribe_is_received() {
    published_right_after_subscribe_is_received(V5).await;
}

#[tokio::test]
async fn v311_published_right_after_subscribe_is_received() {
    published_right_after_subscribe_is_received(V311).await;
}

/// MQTT delivers what is published while a subscription exists; the broker had
/// the first message (PUBACK) before the SUBSCRIBE, so only the second comes.
async fn published_before_subscribe_is_not_delivered(version: &str) {
    let topic = unique("before");
    let mut peer = Peer::connect().await;
    peer.publish(&topic, "too early", None).await;
    let ours = connect(version).await;
    let mut sub = ours
        .subscribe(&topic, &Bindings::default())
        .await
        .expect("subscribe");
    peer.publish(&topic, "in time", None).await;
    assert_eq!(text(&next(&mut sub).await), "in time");
    ours.close().await;
}

#[tokio::test]
async fn v5_published_before_subscribe_is_not_delivered() {
    published_before_subscribe_is_not_delivered(V5).await;
}

#[tokio::test]
async fn v311_published_before_subscribe_is_not_delivered() {
    published_before_subscribe_is_not_delivered(V311).await;
}

/// Two subscriptions on one connection, with wildcards: each gets what matches
/// its own filter and nothing else (a last message on both shows nothing else
/// was queued before it).
async fn two_subscriptions_get_only_their_topics(version: &str) {
    let base = unique("two");
    let ours = connect(version).await;
    let plus = format!("{base}/a/+/temp");
    let hash = format!("{base}/b/#");
    let mut a = ours
        .subscribe(&plus, &Bindings::default())
        .await
        .expect("subscribe a");
    let mut b = ours
        .subscribe(&hash, &Bindings::default())
        .await
        .expect("subscribe b");
    let mut peer = Peer::connect().await;
    for (topic, payload) in [
        (format!("{base}/a/1/temp"), "a1"),
        (format!("{base}/a/1/hum"), "not for a"),
        (format!("{base}/a/1/2/temp"), "not for a either"),
        (format!("{base}/b"), "b-parent"),
        (format!("{base}/b/x/y"), "b-deep"),
        (format!("{base}/bb/x"), "not for b"),
        (format!("{base}/a/2/temp"), "a2"),
        (format!("{base}/a/end/temp"), "end"),
        (format!("{base}/b/end"), "end"),
    ] {
        peer.publish(&topic, payload, None).await;
    }
    let got_a: Vec<String> = [next(&mut a).await, next(&mut a).await, next(&mut a).await]
        .iter()
        .map(text)
        .collect();
    assert_eq!(got_a, ["a1", "a2", "end"]);
    let got_b: Vec<String> = [next(&mut b).await, next(&mut b).await, next(&mut b).await]
        .iter()
        .map(text)
        .collect();
    assert_eq!(got_b, ["b-parent", "b-deep", "end"]);
    ours.close().await;
}

#[tokio::test]
async fn v5_two_subscriptions_get_only_their_topics() {
    two_subscriptions_get_only_their_topics(V5).await;
}

#[tokio::test]
async fn v311_two_subscriptions_get_only_their_topics() {
    two_subscriptions_get_only_their_topics(V311).await;
}

/// With MQTT 5 the subscription identifiers tell which overlapping filter a
/// message matched: each subscription gets it once.
#[tokio::test]
async fn v5_overlapping_filters_each_get_one_copy() {
    let base = unique("overlap");
    let ours = connect(V5).await;
    let mut one = ours
        .subscribe(&format!("{base}/+"), &Bindings::default())
        .await
        .expect("+");
    let mut all = ours
        .subscribe(&format!("{base}/#"), &Bindings::default())
        .await
        .expect("#");
    let mut peer = Peer::connect().await;
    peer.publish(&format!("{base}/x"), "both", None).await;
    peer.publish(&format!("{base}/x/y"), "deep", None).await;
    peer.publish(&format!("{base}/end"), "end", None).await;
    assert_eq!(text(&next(&mut one).await), "both");
    assert_eq!(text(&next(&mut one).await), "end");
    assert_eq!(text(&next(&mut all).await), "both");
    assert_eq!(text(&next(&mut all).await), "deep");
    assert_eq!(text(&next(&mut all).await), "end");
    ours.close().await;
}

/// Dropping a subscription ends its delivery (the filter is then unsubscribed);
/// a new subscription on the same filter still gets every message.
#[tokio::test]
async fn v5_subscribing_again_after_dropping_a_subscription() {
    let topic = unique("again");
    let ours = connect(V5).await;
    let mut peer = Peer::connect().await;
    let first = ours
        .subscribe(&topic, &Bindings::default())
        .await
        .expect("subscribe");
    drop(first);
    peer.publish(&topic, "to nobody", None).await;
    let mut second = ours
        .subscribe(&topic, &Bindings::default())
        .await
        .expect("again");
    peer.publish(&topic, "to the second", None).await;
    assert_eq!(text(&next(&mut second).await), "to the second");
    ours.close().await;
}

#[tokio::test]
async fn qos_0_1_and_2_are_delivered() {
    for version in [V5, V311] {
        let topic = unique("qos");
        let ours = connect(version).await;
        let mut sub = ours.subscribe(&topic, &qos(2)).await.expect("subscribe");
        for n in [0, 1, 2] {
            let m = payload_message(&format!("qos {n}"));
            ours.publish(&topic, &qos(n), &m).await.expect("publish");
            assert_eq!(text(&next(&mut sub).await), format!("qos {n}"), "{version}");
        }
        let bad = ours.publish(&topic, &qos(3), &payload_message("x")).await;
        let e = bad.expect_err("QoS 3 is refused").to_string();
        assert!(e.contains("0, 1 or 2"), "{e}");
        ours.close().await;
    }
}

/// A retained message is the broker's: a later subscription gets it at once.
#[tokio::test]
async fn retained_message_reaches_a_later_subscription() {
    let topic = unique("retained");
    let ours = connect(V5).await;
    let retain = Bindings {
        operation: Some(json!({ "qos": 1, "retain": true })),
        ..Bindings::default()
    };
    ours.publish(&topic, &retain, &payload_message("kept"))
        .await
        .expect("publish");
    let mut sub = ours
        .subscribe(&topic, &Bindings::default())
        .await
        .expect("subscribe");
    assert_eq!(text(&next(&mut sub).await), "kept");
    // An empty retained message clears it again.
    ours.publish(&topic, &retain, &payload_message(""))
        .await
        .expect("clear");
    ours.close().await;
}

async fn wrong_password_is_a_clear_error(version: &str) {
    let wrong = "not-the-password-3b1";
    let mut ep = endpoint(mosquitto().auth_url(), version);
    ep.credentials = Credentials {
        username: Some(mosquitto::USER.into()),
        password: Some(wrong.into()),
        ..Credentials::default()
    };
    let e = match Connection::connect(&ep).await {
        Ok(_) => panic!("a wrong password was accepted ({version})"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("refused the username or password"), "{e}");
    assert!(e.contains(mosquitto().auth_url().as_str()), "{e}");
    assert!(e.contains("ARAZZO_AUTH_"), "{e}");
    assert!(!e.contains(wrong), "the password is shown: {e}");
}

#[tokio::test]
async fn v5_wrong_password_is_a_clear_error() {
    wrong_password_is_a_clear_error(V5).await;
}

#[tokio::test]
async fn v311_wrong_password_is_a_clear_error() {
    wrong_password_is_a_clear_error(V311).await;
}

#[tokio::test]
async fn no_credentials_where_they_are_needed() {
    let ep = endpoint(mosquitto().auth_url(), V5);
    let e = match Connection::connect(&ep).await {
        Ok(_) => panic!("an anonymous client was let in"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("without credentials"), "{e}");
}

/// The right password lets the user in. Mosquitto's ACL then refuses a
/// publish on a denied topic with an MQTT 5 PUBACK reason; MQTT 3.1.1 has no
/// way to say so (the broker acknowledges and drops it).
#[tokio::test]
async fn right_password_and_what_the_acl_refuses() {
    for version in [V5, V311] {
        let mut ep = endpoint(mosquitto().auth_url(), version);
        ep.credentials = Credentials {
            username: Some(mosquitto::USER.into()),
            password: Some(mosquitto::PASSWORD.into()),
            ..Credentials::default()
        };
        let ours = Connection::connect(&ep).await.expect("the right password");
        let topic = format!("{}{}", mosquitto::ALLOWED, unique("mine"));
        let mut sub = ours
            .subscribe(&topic, &Bindings::default())
            .await
            .expect("subscribe");
        ours.publish(&topic, &Bindings::default(), &payload_message("hi"))
            .await
            .expect("publish");
        assert_eq!(text(&next(&mut sub).await), "hi");

        let denied = format!("{}{}", mosquitto::DENIED, unique("theirs"));
        let refused = ours
            .publish(&denied, &Bindings::default(), &payload_message("x"))
            .await;
        if version == V5 {
            let e = refused
                .expect_err("the ACL refuses the publish")
                .to_string();
            assert!(e.contains("refused the message published on"), "{e}");
            assert!(e.contains("PUBACK: NotAuthorized"), "{e}");
        } else {
            refused.expect("MQTT 3.1.1 PUBACK has no reason");
        }
        ours.close().await;
    }
}

/// A scripted MQTT server: accepts one client, answers CONNECT with success
/// and every SUBSCRIBE with a failure (Mosquitto's ACL never refuses one).
async fn refusing_server(v5: bool) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        loop {
            let mut head = [0u8; 2];
            if socket.read_exact(&mut head).await.is_err() {
                return;
            }
            // Short packets only: a one-byte remaining length.
            let mut body = vec![0u8; usize::from(head[1])];
            if socket.read_exact(&mut body).await.is_err() {
                return;
            }
            let answer = match (head[0] >> 4, v5) {
                (1, false) => vec![0x20, 2, 0, 0],
                (1, true) => vec![0x20, 3, 0, 0, 0],
                (8, false) => vec![0x90, 3, body[0], body[1], 0x80],
                (8, true) => vec![0x90, 4, body[0], body[1], 0, 0x87],
                (12, _) => vec![0xd0, 0],
                _ => continue,
            };
            if socket.write_all(&answer).await.is_err() {
                return;
            }
        }
    });
    port
}

#[tokio::test]
async fn refused_subscription_is_an_error() {
    for (version, reason) in [(V5, "SUBACK: NotAuthorized"), (V311, "SUBACK: failure")] {
        let port = refusing_server(version == V5).await;
        let url = url::Url::parse(&format!("mqtt://127.0.0.1:{port}")).expect("url");
        let ours = Connection::connect(&endpoint(url.clone(), version))
            .await
            .expect("the scripted server accepts");
        let e = match ours.subscribe("some/topic", &Bindings::default()).await {
            Ok(_) => panic!("a refused subscription was taken ({version})"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("refused the subscription to some/topic"), "{e}");
        assert!(e.contains(reason), "{e}");
        assert!(e.contains(url.as_str()), "{e}");
    }
}

#[tokio::test]
async fn refused_connection_names_the_url() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let url = url::Url::parse(&format!("mqtt://127.0.0.1:{port}")).expect("url");
    let e = match Connection::connect(&endpoint(url.clone(), V5)).await {
        Ok(_) => panic!("connected to a closed port"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains(url.as_str()), "{e}");
    assert!(e.contains("connection refused"), "{e}");
}

/// A server that accepts TCP connections and never answers: `connect` gives up
/// after `connect_timeout`.
#[tokio::test]
async fn silent_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let url = url::Url::parse(&format!("mqtt://127.0.0.1:{port}")).expect("url");
    for version in [V5, V311] {
        let mut ep = endpoint(url.clone(), version);
        ep.connect_timeout = Duration::from_millis(700);
        let started = Instant::now();
        let e = match Connection::connect(&ep).await {
            Ok(_) => panic!("a silent server was taken for a broker"),
            Err(e) => e.to_string(),
        };
        let took = started.elapsed();
        assert!(
            e.contains("did not accept a connection within 0.7 s"),
            "{e}"
        );
        assert!(e.contains(url.as_str()), "{e}");
        assert!(took < Duration::from_millis(1500), "took {took:?}");
    }
    held.abort();
}

async fn oversize_message_is_dropped_and_counted(version: &str) {
    let topic = unique("big");
    let mut ep = endpoint(mosquitto().url(), version);
    ep.max_message_bytes = 1000;
    let ours = Connection::connect(&ep).await.expect("connect");
    let mut sub = ours
        .subscribe(&topic, &Bindings::default())
        .await
        .expect("subscribe");
    let mut peer = Peer::connect().await;
    peer.publish(&topic, &"x".repeat(5000), None).await;
    peer.publish(&topic, "small", None).await;
    assert_eq!(text(&next(&mut sub).await), "small");
    assert_eq!(sub.dropped(), 1);
    ours.close().await;
}

#[tokio::test]
async fn v5_oversize_message_is_dropped_and_counted() {
    oversize_message_is_dropped_and_counted(V5).await;
}

#[tokio::test]
async fn v311_oversize_message_is_dropped_and_counted() {
    oversize_message_is_dropped_and_counted(V311).await;
}

#[tokio::test]
async fn v311_refuses_headers() {
    let ours = connect(V311).await;
    let m = OutMessage {
        headers: vec![("correlation_id".into(), "c-1".into())],
        ..payload_message("{}")
    };
    let e = ours
        .publish(&unique("hdr"), &Bindings::default(), &m)
        .await
        .expect_err("MQTT 3.1.1 has no headers")
        .to_string();
    assert!(e.contains("MQTT 3.1.1 messages have no headers"), "{e}");
    assert!(e.contains("payload"), "{e}");
    ours.close().await;
}

#[tokio::test]
async fn bad_topics_are_refused_and_a_closed_connection_says_so() {
    let ours = connect(V5).await;
    let e = ours
        .publish("a/+/b", &Bindings::default(), &payload_message("x"))
        .await
        .expect_err("a wildcard topic")
        .to_string();
    assert!(e.contains("wildcard"), "{e}");
    let e = match ours.subscribe("a/#/b", &Bindings::default()).await {
        Ok(_) => panic!("a bad filter was taken"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("not a valid MQTT topic filter"), "{e}");
    ours.close().await;
    let e = ours
        .publish(&unique("late"), &Bindings::default(), &payload_message("x"))
        .await
        .expect_err("closed")
        .to_string();
    assert!(e.contains("was closed"), "{e}");
}

/// TLS is spoken on `mqtts`: the test CA's certificate is not trusted, and the
/// error says so and what to do.
#[tokio::test]
async fn tls_with_an_untrusted_certificate_is_a_clear_error() {
    for version in [V5, V311] {
        let mut ep = endpoint(mosquitto().tls_url(), version);
        ep.tls = true;
        let e = match Connection::connect(&ep).await {
            Ok(_) => panic!("an untrusted certificate was accepted ({version})"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("the TLS handshake with"), "{e}");
        assert!(e.contains(mosquitto().tls_url().as_str()), "{e}");
        assert!(
            e.contains("UnknownIssuer") && e.contains("SSL_CERT_FILE"),
            "{e}"
        );
    }
}

/// A trusted certificate: both versions connect over TLS and a message goes
/// round (in a child process that trusts the test CA, see the next test).
#[tokio::test]
async fn tls_with_a_trusted_certificate_round_trips() {
    let b = mosquitto();
    mosquitto::daemon::run_test_in_child(
        "tls_round_trip_trusting_the_test_ca",
        &[
            ("SSL_CERT_FILE", b.ca.display().to_string()),
            ("ARAZZO_TEST_MQTTS_URL", b.tls_url().to_string()),
        ],
    );
}

#[tokio::test]
#[ignore = "run by tls_with_a_trusted_certificate_round_trips, which sets SSL_CERT_FILE"]
async fn tls_round_trip_trusting_the_test_ca() {
    let url = std::env::var("ARAZZO_TEST_MQTTS_URL")
        .expect("run by tls_with_a_trusted_certificate_round_trips");
    for version in [V5, V311] {
        let mut ep = endpoint(url::Url::parse(&url).expect("url"), version);
        ep.tls = true;
        let ours = Connection::connect(&ep)
            .await
            .expect("a trusted certificate");
        let topic = unique("tls");
        let mut sub = ours
            .subscribe(&topic, &Bindings::default())
            .await
            .expect("subscribe");
        ours.publish(&topic, &Bindings::default(), &payload_message("over TLS"))
            .await
            .expect("publish");
        assert_eq!(text(&next(&mut sub).await), "over TLS");
        ours.close().await;
    }
}
