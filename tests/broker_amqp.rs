//! arazzo's AMQP 0-9-1 transport against a real RabbitMQ (started once for this
//! test process, see `support::brokers::rabbitmq`). The other side of each exchange
//! is lapin used directly, an independent client.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arazzo::broker::{Bindings, Connection, InMessage, OutMessage, Subscription};
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, ExchangeKind};
use serde_json::json;
use support::brokers::rabbitmq::{self, rabbitmq};

const WAIT: Duration = Duration::from_secs(5);

/// A name no other test (or earlier run against the same broker) uses.
fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn connect() -> Connection {
    Connection::connect(&rabbitmq().endpoint())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", rabbitmq().log()))
}

/// A lapin channel in confirm mode on its own connection: the independent side.
async fn peer() -> (lapin::Connection, lapin::Channel) {
    let b = rabbitmq();
    let url = format!(
        "amqp://{}:{}@127.0.0.1:{}/%2f",
        rabbitmq::USER,
        rabbitmq::PASSWORD,
        b.port
    );
    let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .expect("lapin connects");
    let channel = conn.create_channel().await.expect("lapin channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm select");
    (conn, channel)
}

/// Publishes with lapin and waits for the broker's confirm.
async fn peer_publish(
    ch: &lapin::Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    props: BasicProperties,
) {
    let confirm = ch
        .basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await
        .expect("lapin publish")
        .await
        .expect("lapin confirm");
    assert!(confirm.is_ack(), "broker did not ack: {confirm:?}");
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

fn exchange_binding(name: &str, kind: &str) -> Bindings {
    Bindings {
        channel: Some(
            json!({"is": "routingKey", "exchange": {"name": name, "type": kind, "durable": false, "autoDelete": true}}),
        ),
        ..Bindings::default()
    }
}

fn text(s: &str) -> OutMessage {
    OutMessage {
        payload: s.as_bytes().to_vec(),
        ..OutMessage::default()
    }
}

/// Consumes `queue` with lapin (auto-ack).
async fn peer_consume(peer: &lapin::Channel, queue: &str) -> lapin::Consumer {
    let options = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    peer.basic_consume(queue.into(), "peer".into(), options, FieldTable::default())
        .await
        .expect("lapin consume")
}

async fn peer_next(consumer: &mut lapin::Consumer) -> lapin::message::Delivery {
    tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("a delivery within 5 s")
        .expect("the consumer is open")
        .expect("a delivery")
}

fn prop(p: &Option<lapin::types::ShortString>) -> Option<&str> {
    p.as_ref().map(|s| s.as_str())
}

#[tokio::test]
async fn request_and_reply_carry_payload_headers_and_properties() {
    let conn = connect().await;
    let (_pc, peer) = peer().await;
    let (requests, replies) = (unique("requests"), unique("replies"));
    let options = QueueDeclareOptions::default();
    peer.queue_declare(requests.as_str().into(), options, FieldTable::default())
        .await
        .expect("declare requests");
    let mut inbox = peer_consume(&peer, &requests).await;

    let mut sub = conn
        .subscribe(&replies, &Bindings::default())
        .await
        .expect("subscribe");
    let request = OutMessage {
        headers: vec![
            ("correlation_id".into(), "c-17".into()),
            ("reply_to".into(), replies.clone()),
            ("x-tenant".into(), "acme".into()),
        ],
        payload: br#"{"orderId":17}"#.to_vec(),
        content_type: Some("application/json".into()),
    };
    conn.publish(&requests, &Bindings::default(), &request)
        .await
        .expect("publish");

    let got = peer_next(&mut inbox).await;
    let p = &got.properties;
    assert_eq!(got.data, br#"{"orderId":17}"#);
    assert_eq!(prop(p.correlation_id()), Some("c-17"));
    assert_eq!(prop(p.reply_to()), Some(replies.as_str()));
    assert_eq!(prop(p.content_type()), Some("application/json"));
    let table = p.headers().clone().expect("headers table");
    let acme = AMQPValue::LongString("acme".into());
    assert_eq!(table.inner().get("x-tenant"), Some(&acme));
    assert!(
        !table.contains_key("correlation_id"),
        "properties are not headers: {table:?}"
    );

    let mut reply_headers = FieldTable::default();
    reply_headers.insert("x-count".into(), AMQPValue::LongInt(42));
    reply_headers.insert("x-final".into(), AMQPValue::Boolean(true));
    reply_headers.insert(
        "x-note".into(),
        AMQPValue::LongString(LongString::from("é ok")),
    );
    let props = BasicProperties::default()
        .with_correlation_id("c-17".into())
        .with_message_id("m-1".into())
        .with_content_type("application/json".into())
        .with_headers(reply_headers);
    peer_publish(&peer, "", &replies, br#"{"status":"confirmed"}"#, props).await;

    let reply = next(&mut sub).await;
    assert_eq!(reply.payload, br#"{"status":"confirmed"}"#);
    assert_eq!(reply.address, replies);
    for (name, value) in [
        ("correlation_id", Some("c-17")),
        ("message_id", Some("m-1")),
        ("content_type", Some("application/json")),
        ("x-count", Some("42")),
        ("x-final", Some("true")),
        ("x-note", Some("é ok")),
        ("reply_to", None),
    ] {
        assert_eq!(header(&reply, name), value, "{name} in {:?}", reply.headers);
    }
    conn.close().await;
}

#[tokio::test]
async fn a_message_published_right_after_subscribe_is_always_received() {
    let conn = connect().await;
    let (_pc, peer) = peer().await;
    let exchange = unique("events");
    let bindings = exchange_binding(&exchange, "topic");
    for i in 0..50 {
        let key = format!("order.{i}.created");
        let mut sub = conn.subscribe(&key, &bindings).await.expect("subscribe");
        peer_publish(
            &peer,
            &exchange,
            &key,
            format!("n{i}").as_bytes(),
            BasicProperties::default(),
        )
        .await;
        let m = next(&mut sub).await;
        assert_eq!(m.payload, format!("n{i}").as_bytes(), "round {i}");
        assert_eq!(m.address, key);
    }
}

#[tokio::test]
async fn through_an_exchange_a_message_published_before_subscribe_is_not_delivered() {
    let conn = connect().await;
    let (_pc, peer) = peer().await;
    let exchange = unique("before");
    let bindings = exchange_binding(&exchange, "direct");
    // The exchange exists (arazzo declares it on publish) but no queue is bound yet.
    conn.publish("k", &bindings, &text("early"))
        .await
        .expect("publish early");
    let mut sub = conn.subscribe("k", &bindings).await.expect("subscribe");
    peer_publish(&peer, &exchange, "k", b"late", BasicProperties::default()).await;
    assert_eq!(next(&mut sub).await.payload, b"late");
    assert!(sub.try_recv().is_none(), "nothing else is queued");
}

#[tokio::test]
async fn through_the_default_exchange_a_queue_keeps_what_was_published_before_subscribe() {
    // Queue semantics, documented: with no binding the address names a queue, and a
    // message waiting in it is delivered to the subscription that consumes it.
    let conn = connect().await;
    let (_pc, peer) = peer().await;
    let queue = unique("waiting");
    peer.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("declare");
    peer_publish(&peer, "", &queue, b"waited", BasicProperties::default()).await;
    let mut sub = conn
        .subscribe(&queue, &Bindings::default())
        .await
        .expect("subscribe");
    assert_eq!(next(&mut sub).await.payload, b"waited");
}

#[tokio::test]
async fn two_subscriptions_on_one_connection_each_get_only_their_channel() {
    let conn = connect().await;
    let (_pc, peer) = peer().await;
    let exchange = unique("two");
    let bindings = exchange_binding(&exchange, "topic");
    let mut a = conn.subscribe("a", &bindings).await.expect("subscribe a");
    let mut b = conn.subscribe("b", &bindings).await.expect("subscribe b");
    for i in 0..5 {
        peer_publish(
            &peer,
            &exchange,
            "a",
            format!("a{i}").as_bytes(),
            BasicProperties::default(),
        )
        .await;
        peer_publish(
            &peer,
            &exchange,
            "b",
            format!("b{i}").as_bytes(),
            BasicProperties::default(),
        )
        .await;
    }
    for i in 0..5 {
        assert_eq!(next(&mut a).await.payload, format!("a{i}").as_bytes());
        assert_eq!(next(&mut b).await.payload, format!("b{i}").as_bytes());
    }
    // Both queues got all they will get: every publish above was confirmed, and a
    // last message on each confirms the order.
    peer_publish(&peer, &exchange, "a", b"end", BasicProperties::default()).await;
    peer_publish(&peer, &exchange, "b", b"end", BasicProperties::default()).await;
    assert_eq!(next(&mut a).await.payload, b"end");
    assert_eq!(next(&mut b).await.payload, b"end");
}

#[tokio::test]
async fn publish_through_a_fanout_exchange_uses_the_operation_binding() {
    let conn = connect().await;
    let (_pc, peer) = peer().await;
    let exchange = unique("fan");
    let bindings = Bindings {
        operation: Some(
            json!({"deliveryMode": 2, "priority": 5, "expiration": 60000, "cc": ["audit"]}),
        ),
        ..exchange_binding(&exchange, "fanout")
    };
    conn.publish("ignored", &bindings, &text("warm-up"))
        .await
        .expect("declares the exchange");
    let q = peer
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare");
    peer.queue_bind(
        q.name().clone(),
        exchange.as_str().into(),
        "".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
    let mut inbox = peer_consume(&peer, q.name().as_str()).await;
    conn.publish("any.key", &bindings, &text("fanned"))
        .await
        .expect("publish");
    let got = peer_next(&mut inbox).await;
    assert_eq!(got.data, b"fanned");
    assert_eq!(got.routing_key.as_str(), "any.key");
    assert_eq!(*got.properties.delivery_mode(), Some(2));
    assert_eq!(*got.properties.priority(), Some(5));
    assert_eq!(prop(got.properties.expiration()), Some("60000"));
}

#[tokio::test]
async fn an_exchange_that_exists_with_other_settings_is_used_as_it_is() {
    let conn = connect().await;
    let (_pc, peer) = peer().await;
    let exchange = unique("existing");
    peer.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Direct,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("declare");
    // The binding says topic, durable: the declare is refused, the passive one works.
    let bindings = Bindings {
        channel: Some(json!({"exchange": {"name": exchange, "type": "topic", "durable": true}})),
        ..Bindings::default()
    };
    let mut sub = conn.subscribe("k", &bindings).await.expect("subscribe");
    conn.publish("k", &bindings, &text("routed"))
        .await
        .expect("publish");
    assert_eq!(next(&mut sub).await.payload, b"routed");
}

#[tokio::test]
async fn a_mandatory_message_nobody_receives_is_an_error() {
    let conn = connect().await;
    let exchange = unique("nobody");
    let bindings = Bindings {
        operation: Some(json!({"mandatory": true})),
        ..exchange_binding(&exchange, "direct")
    };
    let e = conn
        .publish("k", &bindings, &text("lost"))
        .await
        .expect_err("unroutable");
    assert!(
        e.0.contains("could not route") && e.0.contains(&exchange),
        "{e}"
    );
    // The channel stays usable.
    let mut sub = conn.subscribe("k", &bindings).await.expect("subscribe");
    conn.publish("k", &bindings, &text("found"))
        .await
        .expect("publish");
    assert_eq!(next(&mut sub).await.payload, b"found");
}

#[tokio::test]
async fn an_oversize_message_is_dropped_and_counted() {
    let mut endpoint = rabbitmq().endpoint();
    endpoint.max_message_bytes = 1000;
    let conn = Connection::connect(&endpoint).await.expect("connect");
    let (_pc, peer) = peer().await;
    let exchange = unique("big");
    let bindings = exchange_binding(&exchange, "direct");
    let mut sub = conn.subscribe("k", &bindings).await.expect("subscribe");
    peer_publish(
        &peer,
        &exchange,
        "k",
        &[b'x'; 1001],
        BasicProperties::default(),
    )
    .await;
    peer_publish(&peer, &exchange, "k", b"small", BasicProperties::default()).await;
    assert_eq!(next(&mut sub).await.payload, b"small");
    assert_eq!(sub.dropped(), 1);
}

#[tokio::test]
async fn an_unknown_broker_exchange_is_named() {
    // `amq.*` exchanges are the broker's own: only checked, never declared.
    let conn = connect().await;
    let bindings = Bindings {
        channel: Some(json!({"exchange": {"name": "amq.no-such-exchange", "type": "topic"}})),
        ..Bindings::default()
    };
    let e = conn
        .publish("k", &bindings, &text("x"))
        .await
        .expect_err("no exchange");
    assert!(
        e.0.contains("'amq.no-such-exchange'") && e.0.contains("NOT-FOUND"),
        "{e}"
    );
    assert!(e.0.contains(&rabbitmq().url), "{e}");
}

#[tokio::test]
async fn after_the_broker_closes_the_publishing_channel_the_next_publish_works() {
    let conn = connect().await;
    let queue = unique("after-error");
    let mut sub = conn
        .subscribe(&queue, &Bindings::default())
        .await
        .expect("subscribe");
    // RabbitMQ closes the channel of a message whose user-id is not the user's.
    let impostor = Bindings {
        operation: Some(json!({"userId": "someone-else"})),
        ..Bindings::default()
    };
    let e = conn
        .publish(&queue, &impostor, &text("x"))
        .await
        .expect_err("refused");
    assert!(
        e.0.contains("PRECONDITION-FAILED") && e.0.contains("someone-else"),
        "{e}"
    );
    let honest = Bindings {
        operation: Some(json!({"userId": rabbitmq::USER})),
        ..Bindings::default()
    };
    conn.publish(&queue, &honest, &text("fine"))
        .await
        .expect("publish on a new channel");
    assert_eq!(next(&mut sub).await.payload, b"fine");
}

#[tokio::test]
async fn a_wrong_password_is_refused_clearly_and_not_shown() {
    let endpoint = rabbitmq().endpoint_as(rabbitmq::USER, "wrong-Pa55word-xyz");
    let e = Connection::connect(&endpoint).await.err().expect("refused");
    assert!(e.0.contains("refused the username or password"), "{e}");
    assert!(e.0.contains(&rabbitmq().url), "{e}");
    assert!(!e.0.contains("wrong-Pa55word-xyz"), "{e}");
}

#[tokio::test]
async fn an_unknown_vhost_is_named() {
    let mut endpoint = rabbitmq().endpoint();
    endpoint.url = url::Url::parse(&format!(
        "amqp://127.0.0.1:{}/no-such-vhost",
        rabbitmq().port
    ))
    .expect("url");
    let e = Connection::connect(&endpoint).await.err().expect("refused");
    assert!(e.0.contains("'no-such-vhost'"), "{e}");
}

#[tokio::test]
async fn a_closed_port_is_a_refused_connection_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("amqp://127.0.0.1:{port}/");
    let e = Connection::connect(&rabbitmq::endpoint(&url, Some(("u", "p"))))
        .await
        .err()
        .expect("refused");
    assert!(e.0.contains(&url) && e.0.contains("refused"), "{e}");
}

#[tokio::test]
async fn a_silent_server_times_out_within_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "amqp://127.0.0.1:{}/",
        listener.local_addr().expect("addr").port()
    );
    let held = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let mut endpoint = rabbitmq::endpoint(&url, Some(("u", "p")));
    endpoint.connect_timeout = Duration::from_millis(800);
    let started = Instant::now();
    let e = Connection::connect(&endpoint)
        .await
        .err()
        .expect("times out");
    let took = started.elapsed();
    assert!(
        e.0.contains("did not accept a connection within 0.8 s") && e.0.contains(&url),
        "{e}"
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    drop(held);
}
