//! `arazzo::broker` over core NATS against a real nats-server
//! (`support::brokers::nats`). The other side of each exchange is a plain
//! async-nats client, not arazzo's wrapper.

mod support;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arazzo::broker::{
    Bindings, Connection, Credentials, Endpoint, InMessage, OutMessage, Protocol, Subscription,
};
use futures_util::StreamExt;
use serde_json::json;
use support::brokers::nats::{self, nats};

/// Longest wait for a message that should come.
const WAIT: Duration = Duration::from_secs(5);

/// A name unique in this test run, for subjects.
fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{what}.p{}.n{n}", std::process::id())
}

fn endpoint(url: url::Url) -> Endpoint {
    Endpoint {
        protocol: Protocol::Nats,
        url,
        tls: false,
        protocol_version: None,
        credentials: Credentials::default(),
        connect_timeout: Duration::from_secs(5),
        client_id: "arazzo-test".into(),
        max_message_bytes: 1 << 20,
    }
}

async fn connect() -> Connection {
    Connection::connect(&endpoint(nats().url()))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\nnats-server log:\n{}", nats().log()))
}

/// A plain async-nats client on the open instance.
async fn peer() -> async_nats::Client {
    async_nats::connect(format!("nats://127.0.0.1:{}", nats().port))
        .await
        .expect("peer connects")
}

/// Publishes from the peer and makes sure the server has it: async-nats's
/// flush only empties the socket, so a request to a fresh inbox (answered "no
/// responders") follows.
async fn peer_publish(peer: &async_nats::Client, subject: &str, payload: &str) {
    peer.publish(subject.to_string(), payload.as_bytes().to_vec().into())
        .await
        .expect("peer publish");
    let _ = peer.request(peer.new_inbox(), Vec::new().into()).await;
}

fn payload_message(payload: &str) -> OutMessage {
    OutMessage {
        payload: payload.as_bytes().to_vec(),
        ..OutMessage::default()
    }
}

/// The next message of `sub`, failing the test after [`WAIT`].
async fn next(sub: &mut Subscription) -> InMessage {
    match tokio::time::timeout(WAIT, sub.recv()).await {
        Ok(Some(m)) => m,
        Ok(None) => panic!("the subscription ended\nnats-server log:\n{}", nats().log()),
        Err(_) => panic!(
            "no message within {WAIT:?}\nnats-server log:\n{}",
            nats().log()
        ),
    }
}

fn text(m: &InMessage) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

fn header<'a>(m: &'a InMessage, name: &str) -> Option<&'a str> {
    m.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Request and reply: ours publishes with headers and a reply subject, the peer
/// answers on it with headers of its own.
#[tokio::test]
async fn round_trip_with_headers_and_payload() {
    let requests = unique("req");
    let replies = unique("rep");
    let peer = peer().await;
    let mut incoming = peer
        .subscribe(requests.clone())
        .await
        .expect("peer subscribe");
    peer.flush().await.expect("flush");
    let _ = peer.request(peer.new_inbox(), Vec::new().into()).await;

    let ours = connect().await;
    let mut sub = ours
        .subscribe(&replies, &Bindings::default())
        .await
        .expect("subscribe");
    let request = OutMessage {
        headers: vec![
            ("X-Trace".into(), "t-1".into()),
            ("correlation_id".into(), "c-42".into()),
            ("reply_to".into(), replies.clone()),
        ],
        payload: br#"{"n":1}"#.to_vec(),
        content_type: Some("application/json".into()),
    };
    ours.publish(&requests, &Bindings::default(), &request)
        .await
        .expect("publish");

    let got = tokio::time::timeout(WAIT, incoming.next())
        .await
        .expect("the peer gets the request")
        .expect("subscription open");
    assert_eq!(&got.payload[..], br#"{"n":1}"#);
    assert_eq!(got.reply.as_deref(), Some(replies.as_str()));
    let h = got.headers.expect("headers");
    assert_eq!(h.get("X-Trace").map(|v| v.as_str()), Some("t-1"));
    assert_eq!(h.get("correlation_id").map(|v| v.as_str()), Some("c-42"));
    assert_eq!(
        h.get("Content-Type").map(|v| v.as_str()),
        Some("application/json")
    );
    assert!(
        h.get("reply_to").is_none(),
        "reply_to is the reply subject, not a header"
    );

    let mut answer = async_nats::HeaderMap::new();
    answer.insert("correlation_id", "c-42");
    answer.insert("X-Reply", "yes");
    peer.publish_with_headers(replies.clone(), answer, "done".into())
        .await
        .expect("reply");
    let m = next(&mut sub).await;
    assert_eq!(text(&m), "done");
    assert_eq!(m.address, replies);
    assert_eq!(header(&m, "correlation_id"), Some("c-42"));
    assert_eq!(header(&m, "X-Reply"), Some("yes"));
    assert_eq!(header(&m, "reply_to"), None);
    ours.close().await;
}

/// A received message's reply subject is its `reply_to` header.
#[tokio::test]
async fn reply_subject_is_shown_as_reply_to() {
    let subject = unique("ask");
    let ours = connect().await;
    let mut sub = ours
        .subscribe(&subject, &Bindings::default())
        .await
        .expect("subscribe");
    let peer = peer().await;
    peer.publish_with_reply(subject.clone(), "answer.here", "q".into())
        .await
        .expect("publish");
    let m = next(&mut sub).await;
    assert_eq!(header(&m, "reply_to"), Some("answer.here"));
    ours.close().await;
}

#[tokio::test]
async fn published_right_after_subscribe_is_received() {
    let ours = connect().await;
    let peer = peer().await;
    for i in 0..50 {
        let subject = unique("fast");
        let mut sub = ours
            .subscribe(&subject, &Bindings::default())
            .await
            .expect("subscribe");
        peer.publish(subject, format!("m{i}").into_bytes().into())
            .await
            .expect("publish");
        let m = next(&mut sub).await;
        assert_eq!(text(&m), format!("m{i}"), "round {i}");
    }
    ours.close().await;
}

/// Core NATS keeps nothing: a message the server had before the subscription
/// reaches no one.
#[tokio::test]
async fn published_before_subscribe_is_not_delivered() {
    let subject = unique("before");
    let peer = peer().await;
    peer_publish(&peer, &subject, "too early").await;
    let ours = connect().await;
    let mut sub = ours
        .subscribe(&subject, &Bindings::default())
        .await
        .expect("subscribe");
    peer_publish(&peer, &subject, "in time").await;
    assert_eq!(text(&next(&mut sub).await), "in time");
    ours.close().await;
}

/// Two subscriptions on one connection, with wildcards: each gets what matches
/// its own subject and nothing else (the last message on both shows nothing
/// else was queued before it).
#[tokio::test]
async fn two_subscriptions_get_only_their_subjects() {
    let base = unique("two");
    let ours = connect().await;
    let mut a = ours
        .subscribe(&format!("{base}.a.*.temp"), &Bindings::default())
        .await
        .expect("subscribe a");
    let mut b = ours
        .subscribe(&format!("{base}.b.>"), &Bindings::default())
        .await
        .expect("subscribe b");
    let peer = peer().await;
    for (subject, payload) in [
        (format!("{base}.a.1.temp"), "a1"),
        (format!("{base}.a.1.hum"), "not for a"),
        (format!("{base}.b"), "not for b (> needs a token)"),
        (format!("{base}.b.x.y"), "b-deep"),
        (format!("{base}.a.2.temp"), "a2"),
        (format!("{base}.a.end.temp"), "end"),
        (format!("{base}.b.end"), "end"),
    ] {
        peer_publish(&peer, &subject, payload).await;
    }
    let first = next(&mut a).await;
    assert_eq!(first.address, format!("{base}.a.1.temp"));
    let got_a: Vec<String> = [first, next(&mut a).await, next(&mut a).await]
        .iter()
        .map(text)
        .collect();
    assert_eq!(got_a, ["a1", "a2", "end"]);
    let got_b: Vec<String> = [next(&mut b).await, next(&mut b).await]
        .iter()
        .map(text)
        .collect();
    assert_eq!(got_b, ["b-deep", "end"]);
    ours.close().await;
}

/// Two members of one queue group share the messages: each message reaches
/// exactly one of them.
#[tokio::test]
async fn queue_group_shares_the_messages() {
    let subject = unique("work");
    let group = Bindings {
        operation: Some(json!({ "queue": "workers" })),
        ..Bindings::default()
    };
    let ours = connect().await;
    let mut one = ours.subscribe(&subject, &group).await.expect("member one");
    let mut two = ours.subscribe(&subject, &group).await.expect("member two");
    let peer = peer().await;
    for i in 0..20 {
        peer_publish(&peer, &subject, &format!("job {i}")).await;
    }
    let mut seen = Vec::new();
    while seen.len() < 20 {
        tokio::select! {
            Some(m) = one.recv() => seen.push(text(&m)),
            Some(m) = two.recv() => seen.push(text(&m)),
            _ = tokio::time::sleep(WAIT) => panic!("only {} of 20 jobs came", seen.len()),
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 20, "each job once: {seen:?}");
    assert!(one.try_recv().is_none() && two.try_recv().is_none());
    ours.close().await;
}

#[tokio::test]
async fn wrong_password_is_a_clear_error() {
    let wrong = "not-the-password-5e0";
    let mut ep = endpoint(nats().auth_url());
    ep.credentials = Credentials {
        username: Some(nats::USER.into()),
        password: Some(wrong.into()),
        ..Credentials::default()
    };
    let e = match Connection::connect(&ep).await {
        Ok(_) => panic!("a wrong password was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("refused the username or password"), "{e}");
    assert!(e.contains(nats().auth_url().as_str()), "{e}");
    assert!(e.contains("ARAZZO_AUTH_"), "{e}");
    assert!(!e.contains(wrong), "the password is shown: {e}");

    let anonymous = endpoint(nats().auth_url());
    let e = match Connection::connect(&anonymous).await {
        Ok(_) => panic!("an anonymous client was let in"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("without credentials"), "{e}");
}

/// The right password lets the user in; the server's permissions then refuse
/// what is not theirs, and the refusal (an asynchronous -ERR) is the step's error.
#[tokio::test]
async fn right_password_and_what_permissions_refuse() {
    let mut ep = endpoint(nats().auth_url());
    ep.credentials = Credentials {
        username: Some(nats::USER.into()),
        password: Some(nats::PASSWORD.into()),
        ..Credentials::default()
    };
    let ours = Connection::connect(&ep).await.expect("the right password");
    let denied = unique("denied");
    let e = match ours.subscribe(&denied, &Bindings::default()).await {
        Ok(_) => panic!("a denied subscription was taken"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains(&format!("refused the subscription to {denied}")),
        "{e}"
    );
    assert!(e.contains("Permissions Violation"), "{e}");
    let e = ours
        .publish(&denied, &Bindings::default(), &payload_message("x"))
        .await
        .expect_err("a denied publish")
        .to_string();
    assert!(
        e.contains(&format!("refused the message published on {denied}")),
        "{e}"
    );
    assert!(e.contains("Permissions Violation"), "{e}");

    let subject = format!("{}{}", nats::ALLOWED, unique("mine"));
    let mut sub = ours
        .subscribe(&subject, &Bindings::default())
        .await
        .expect("subscribe");
    ours.publish(&subject, &Bindings::default(), &payload_message("hi"))
        .await
        .expect("publish");
    assert_eq!(text(&next(&mut sub).await), "hi");
    ours.close().await;
}

#[tokio::test]
async fn refused_connection_names_the_url() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let url = url::Url::parse(&format!("nats://127.0.0.1:{port}")).expect("url");
    let started = Instant::now();
    let e = match Connection::connect(&endpoint(url.clone())).await {
        Ok(_) => panic!("connected to a closed port"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains(url.as_str()), "{e}");
    assert!(e.contains("connection refused"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(2), "it retried");
}

/// A server that accepts TCP connections and never sends INFO: `connect` gives
/// up after `connect_timeout`.
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
    let url = url::Url::parse(&format!("nats://127.0.0.1:{port}")).expect("url");
    let mut ep = endpoint(url.clone());
    ep.connect_timeout = Duration::from_millis(700);
    let started = Instant::now();
    let e = match Connection::connect(&ep).await {
        Ok(_) => panic!("a silent server was taken for nats-server"),
        Err(e) => e.to_string(),
    };
    let took = started.elapsed();
    assert!(
        e.contains("did not accept a connection within 0.7 s"),
        "{e}"
    );
    assert!(e.contains(url.as_str()), "{e}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    held.abort();
}

#[tokio::test]
async fn oversize_message_is_dropped_and_counted() {
    let subject = unique("big");
    let mut ep = endpoint(nats().url());
    ep.max_message_bytes = 1000;
    let ours = Connection::connect(&ep).await.expect("connect");
    let mut sub = ours
        .subscribe(&subject, &Bindings::default())
        .await
        .expect("subscribe");
    let peer = peer().await;
    peer_publish(&peer, &subject, &"x".repeat(5000)).await;
    peer_publish(&peer, &subject, "small").await;
    assert_eq!(text(&next(&mut sub).await), "small");
    assert_eq!(sub.dropped(), 1);
    ours.close().await;
}

#[tokio::test]
async fn bad_names_are_refused() {
    let ours = connect().await;
    let m = OutMessage {
        headers: vec![("bad:name".into(), "x".into())],
        ..payload_message("{}")
    };
    let e = ours
        .publish(&unique("hdr"), &Bindings::default(), &m)
        .await
        .expect_err("a colon in a header name")
        .to_string();
    assert!(e.contains("cannot be a NATS header name"), "{e}");
    let e = ours
        .publish("has space", &Bindings::default(), &payload_message("x"))
        .await
        .expect_err("a space in a subject")
        .to_string();
    assert!(e.contains("not a valid NATS subject"), "{e}");
    let e = match ours.subscribe("a..b", &Bindings::default()).await {
        Ok(_) => panic!("a bad subject was taken"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("cannot subscribe"), "{e}");
    let bad_queue = Bindings {
        operation: Some(json!({ "queue": 7 })),
        ..Bindings::default()
    };
    let e = match ours.subscribe(&unique("q"), &bad_queue).await {
        Ok(_) => panic!("a numeric queue was taken"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("queue group name"), "{e}");
    ours.close().await;
}

/// TLS is spoken when the endpoint asks: the test CA's certificate is not
/// trusted, and the error says so and what to do.
#[tokio::test]
async fn tls_with_an_untrusted_certificate_is_a_clear_error() {
    let mut ep = endpoint(nats().tls_url());
    ep.tls = true;
    let e = match Connection::connect(&ep).await {
        Ok(_) => panic!("an untrusted certificate was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("the TLS handshake with"), "{e}");
    assert!(e.contains(nats().tls_url().as_str()), "{e}");
    assert!(
        e.contains("UnknownIssuer") && e.contains("SSL_CERT_FILE"),
        "{e}"
    );
}

/// A trusted certificate: the connection is made over TLS and a message goes
/// round (in a child process that trusts the test CA, see the next test).
#[tokio::test]
async fn tls_with_a_trusted_certificate_round_trips() {
    let server = nats();
    support::brokers::mosquitto::daemon::run_test_in_child(
        "tls_round_trip_trusting_the_test_ca",
        &[
            ("SSL_CERT_FILE", server.ca.display().to_string()),
            ("ARAZZO_TEST_NATS_TLS_URL", server.tls_url().to_string()),
        ],
    );
}

#[tokio::test]
#[ignore = "run by tls_with_a_trusted_certificate_round_trips, which sets SSL_CERT_FILE"]
async fn tls_round_trip_trusting_the_test_ca() {
    let url = std::env::var("ARAZZO_TEST_NATS_TLS_URL")
        .expect("run by tls_with_a_trusted_certificate_round_trips");
    let mut ep = endpoint(url::Url::parse(&url).expect("url"));
    ep.tls = true;
    let ours = Connection::connect(&ep)
        .await
        .expect("a trusted certificate");
    let subject = unique("tls");
    let mut sub = ours
        .subscribe(&subject, &Bindings::default())
        .await
        .expect("subscribe");
    ours.publish(&subject, &Bindings::default(), &payload_message("over TLS"))
        .await
        .expect("publish");
    assert_eq!(text(&next(&mut sub).await), "over TLS");
    ours.close().await;
}
