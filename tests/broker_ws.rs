//! arazzo's WebSocket transport against the test server of
//! `support::brokers::ws_server` (tokio-tungstenite used directly, on its own
//! thread and runtime).

mod support;

use std::time::{Duration, Instant};

use arazzo::broker::{Bindings, Connection, InMessage, OutMessage, Subscription};
use support::brokers::ws_server::{self, confirm_orders, echo, Frame, WsServer};

const WAIT: Duration = Duration::from_secs(5);

async fn connect(server: &WsServer) -> Connection {
    Connection::connect(&server.endpoint())
        .await
        .expect("connect")
}

async fn next(sub: &mut Subscription) -> InMessage {
    tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("a message within 5 s")
        .expect("the subscription is open")
}

fn text(s: &str) -> OutMessage {
    OutMessage {
        payload: s.as_bytes().to_vec(),
        ..OutMessage::default()
    }
}

fn none() -> Bindings {
    Bindings::default()
}

#[tokio::test]
async fn request_and_reply_on_the_channel_socket() {
    let server = WsServer::builder()
        .respond(confirm_orders("confirmed"))
        .start();
    let conn = connect(&server).await;
    let mut sub = conn.subscribe("orders", &none()).await.expect("subscribe");
    conn.publish(
        "orders",
        &none(),
        &text(r#"{"orderId":7,"correlationId":"c1"}"#),
    )
    .await
    .expect("publish");
    let reply = next(&mut sub).await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&reply.payload).expect("JSON"),
        serde_json::json!({"correlationId": "c1", "status": "confirmed"})
    );
    assert_eq!(reply.address, format!("{}/orders", server.url));
    assert!(reply.headers.is_empty());
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/orders");
    assert_eq!(got[0].json()["orderId"], 7);
    assert!(!got[0].binary);
    conn.close().await;
}

#[tokio::test]
async fn one_socket_per_channel_shared_by_its_subscriptions_and_publishes() {
    let server = WsServer::builder().respond(echo()).start();
    let conn = connect(&server).await;
    let mut a1 = conn.subscribe("a", &none()).await.expect("subscribe a");
    let mut a2 = conn.subscribe("/a", &none()).await.expect("subscribe /a");
    let mut b = conn.subscribe("b", &none()).await.expect("subscribe b");
    for i in 0..3 {
        conn.publish("a", &none(), &text(&format!("a{i}")))
            .await
            .expect("publish a");
        conn.publish("b", &none(), &text(&format!("b{i}")))
            .await
            .expect("publish b");
    }
    for i in 0..3 {
        assert_eq!(next(&mut a1).await.payload, format!("a{i}").as_bytes());
        assert_eq!(next(&mut a2).await.payload, format!("a{i}").as_bytes());
        assert_eq!(next(&mut b).await.payload, format!("b{i}").as_bytes());
    }
    let paths: Vec<String> = server.handshakes().into_iter().map(|h| h.path).collect();
    assert_eq!(paths, ["/a", "/b"], "one socket per channel");
    assert!(a1.try_recv().is_none() && b.try_recv().is_none());
}

#[tokio::test]
async fn a_frame_sent_right_after_subscribe_returns_is_always_received() {
    let server = WsServer::builder().start();
    for i in 0..50 {
        // A fresh connection each round, so that subscribe opens the socket.
        let conn = connect(&server).await;
        let mut sub = conn.subscribe("news", &none()).await.expect("subscribe");
        server.push("/news", Frame::text(format!("n{i}")));
        assert_eq!(
            next(&mut sub).await.payload,
            format!("n{i}").as_bytes(),
            "round {i}"
        );
    }
}

#[tokio::test]
async fn an_immediate_reply_to_a_publish_after_subscribe_is_always_received() {
    let server = WsServer::builder().respond(confirm_orders("ok")).start();
    let conn = connect(&server).await;
    for i in 0..50 {
        let mut sub = conn.subscribe("orders", &none()).await.expect("subscribe");
        let request = format!(r#"{{"correlationId":"c{i}"}}"#);
        conn.publish("orders", &none(), &text(&request))
            .await
            .expect("publish");
        let reply = next(&mut sub).await;
        let v: serde_json::Value = serde_json::from_slice(&reply.payload).expect("JSON");
        assert_eq!(v["correlationId"], format!("c{i}"), "round {i}");
    }
}

#[tokio::test]
async fn frames_that_arrived_before_the_subscription_are_not_delivered() {
    let server = WsServer::builder().respond(confirm_orders("ok")).start();
    let conn = connect(&server).await;
    // A first subscription sees the first reply, so it has been read by then.
    let mut first = conn.subscribe("orders", &none()).await.expect("subscribe");
    conn.publish("orders", &none(), &text(r#"{"correlationId":"early"}"#))
        .await
        .expect("publish");
    assert!(String::from_utf8_lossy(&next(&mut first).await.payload).contains("early"));
    let mut late = conn
        .subscribe("orders", &none())
        .await
        .expect("subscribe again");
    conn.publish("orders", &none(), &text(r#"{"correlationId":"late"}"#))
        .await
        .expect("publish");
    let got = String::from_utf8_lossy(&next(&mut late).await.payload).into_owned();
    assert!(
        got.contains("late"),
        "the later subscription starts at its own time: {got}"
    );
}

#[tokio::test]
async fn unsolicited_and_delayed_frames_all_arrive_in_order() {
    let server = WsServer::builder()
        .respond(confirm_orders("confirmed"))
        .unsolicited(Frame::text(r#"{"correlationId":"someone-else"}"#))
        .delay(Duration::from_millis(100))
        .start();
    let conn = connect(&server).await;
    let mut sub = conn.subscribe("orders", &none()).await.expect("subscribe");
    conn.publish("orders", &none(), &text(r#"{"correlationId":"mine"}"#))
        .await
        .expect("publish");
    let started = Instant::now();
    assert!(String::from_utf8_lossy(&next(&mut sub).await.payload).contains("someone-else"));
    assert!(String::from_utf8_lossy(&next(&mut sub).await.payload).contains("mine"));
    assert!(started.elapsed() >= Duration::from_millis(90));
}

#[tokio::test]
async fn a_dropped_subscription_stops_receiving_while_others_go_on() {
    let server = WsServer::builder().respond(echo()).start();
    let conn = connect(&server).await;
    let gone = conn.subscribe("c", &none()).await.expect("subscribe");
    let mut kept = conn.subscribe("c", &none()).await.expect("subscribe");
    drop(gone);
    conn.publish("c", &none(), &text("one"))
        .await
        .expect("publish");
    assert_eq!(next(&mut kept).await.payload, b"one");
}

#[tokio::test]
async fn a_non_utf8_payload_goes_as_a_binary_frame() {
    let server = WsServer::builder().respond(echo()).start();
    let conn = connect(&server).await;
    let mut sub = conn.subscribe("bin", &none()).await.expect("subscribe");
    let payload = vec![0xff, 0x00, 0xfe];
    let message = OutMessage {
        payload: payload.clone(),
        ..OutMessage::default()
    };
    conn.publish("bin", &none(), &message)
        .await
        .expect("publish");
    let got = server.wait_received(1, WAIT);
    assert!(got[0].binary);
    next(&mut sub).await;
}

#[tokio::test]
async fn a_message_with_headers_is_refused() {
    let server = WsServer::builder().start();
    let conn = connect(&server).await;
    let message = OutMessage {
        headers: vec![("correlation_id".into(), "c1".into())],
        payload: b"{}".to_vec(),
        content_type: None,
    };
    let e = conn
        .publish("orders", &none(), &message)
        .await
        .expect_err("refused");
    assert!(
        e.0.contains("no headers") && e.0.contains("correlation_id") && e.0.contains("payload"),
        "{e}"
    );
    assert!(server.handshakes().is_empty(), "nothing was opened");
}

#[tokio::test]
async fn an_oversize_frame_is_dropped_and_counted() {
    let big = "x".repeat(2000);
    let server = WsServer::builder()
        .respond(std::sync::Arc::new(move |_r: &ws_server::Received| {
            vec![Frame::text(big.clone()), Frame::text("small")]
        }))
        .start();
    let mut endpoint = server.endpoint();
    endpoint.max_message_bytes = 1000;
    let conn = Connection::connect(&endpoint).await.expect("connect");
    let mut sub = conn.subscribe("big", &none()).await.expect("subscribe");
    conn.publish("big", &none(), &text("go"))
        .await
        .expect("publish");
    assert_eq!(next(&mut sub).await.payload, b"small");
    assert_eq!(sub.dropped(), 1);
}

#[tokio::test]
async fn credentials_go_as_basic_authorization_and_a_wrong_password_is_refused_unshown() {
    let server = WsServer::builder()
        .basic_auth("alice", "s3cret")
        .respond(echo())
        .start();
    let good = ws_server::endpoint(&server.url, Some(("alice", "s3cret")));
    let conn = Connection::connect(&good).await.expect("connect");
    let mut sub = conn
        .subscribe("private", &none())
        .await
        .expect("subscribe with the password");
    conn.publish("private", &none(), &text("hi"))
        .await
        .expect("publish");
    assert_eq!(next(&mut sub).await.payload, b"hi");
    assert_eq!(
        server.handshakes()[0].authorization.as_deref(),
        Some("Basic YWxpY2U6czNjcmV0")
    );

    let bad = ws_server::endpoint(&server.url, Some(("alice", "Wr0ng-pass-123")));
    let conn = Connection::connect(&bad)
        .await
        .expect("connect checks only the URL");
    let e = conn
        .subscribe("private", &none())
        .await
        .err()
        .expect("refused");
    assert!(
        e.0.contains("401") && e.0.contains(&server.url) && e.0.contains("PASSWORD"),
        "{e}"
    );
    assert!(!e.0.contains("Wr0ng-pass-123"), "{e}");
}

#[tokio::test]
async fn a_closed_port_is_a_refused_connection_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let conn = Connection::connect(&ws_server::endpoint(&url, None))
        .await
        .expect("connect checks only the URL");
    let e = conn
        .subscribe("orders", &none())
        .await
        .err()
        .expect("refused");
    assert!(
        e.0.contains(&format!("{url}orders")) && e.0.contains("refused"),
        "{e}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_within_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "ws://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let held = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let mut endpoint = ws_server::endpoint(&url, None);
    endpoint.connect_timeout = Duration::from_millis(800);
    let conn = Connection::connect(&endpoint)
        .await
        .expect("connect checks only the URL");
    let started = Instant::now();
    let e = conn
        .publish("orders", &none(), &text("x"))
        .await
        .expect_err("times out");
    let took = started.elapsed();
    assert!(e.0.contains("within 0.8 s") && e.0.contains(&url), "{e}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    drop(held);
}

#[tokio::test]
async fn a_url_that_is_not_websocket_is_refused_at_connect() {
    let mut endpoint = ws_server::endpoint("ws://127.0.0.1:9/", None);
    endpoint.url = url::Url::parse("http://127.0.0.1:9/").expect("url");
    let e = Connection::connect(&endpoint).await.err().expect("refused");
    assert!(e.0.contains("not a WebSocket server URL"), "{e}");
}

#[tokio::test]
async fn a_server_that_closes_the_socket_ends_the_subscription_and_the_next_use_reopens() {
    let server = WsServer::builder()
        .respond(std::sync::Arc::new(|_r: &ws_server::Received| {
            vec![Frame::Close]
        }))
        .start();
    let conn = connect(&server).await;
    let mut sub = conn.subscribe("once", &none()).await.expect("subscribe");
    conn.publish("once", &none(), &text("bye"))
        .await
        .expect("publish");
    let end = tokio::time::timeout(WAIT, sub.recv()).await.expect("ends");
    assert!(end.is_none(), "the subscription ends with the socket");
    conn.publish("once", &none(), &text("again"))
        .await
        .expect("a new socket");
    server.wait_received(2, WAIT);
    assert_eq!(server.handshakes().len(), 2);
}
