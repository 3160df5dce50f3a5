//! Review findings on message steps (Arazzo 1.1, AsyncAPI), each a failing test
//! through the binary against a real broker (or a hostile TCP server) started on
//! 127.0.0.1. Each test names what a user hits and what should happen instead.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arazzo::broker::{Bindings, Connection, Credentials, Endpoint, OutMessage, Protocol};
use support::cli::{arazzo, arazzo_std, exec, Running};
use support::workspace::Workspace;

fn unique() -> String {
    use std::sync::atomic::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "rv{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn endpoint(url: url::Url, version: Option<&str>) -> Endpoint {
    let (protocol, tls) = Protocol::from_name(url.scheme()).unwrap();
    Endpoint {
        protocol,
        url,
        tls,
        protocol_version: version.map(str::to_string),
        credentials: Credentials::default(),
        connect_timeout: Duration::from_secs(10),
        client_id: format!("review-{}", unique()),
        max_message_bytes: 64 << 20,
    }
}

/// Publishes `messages` on `address` every `every` for `for_` (from a thread with
/// its own runtime), starting after `delay`.
fn publish_for(
    ep: Endpoint,
    address: String,
    messages: Vec<OutMessage>,
    delay: Duration,
    every: Duration,
    for_: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let c = Connection::connect(&ep).await.expect("publisher connects");
            tokio::time::sleep(delay).await;
            let end = Instant::now() + for_;
            loop {
                for m in &messages {
                    c.publish(&address, &Bindings::default(), m)
                        .await
                        .expect("publish");
                }
                if Instant::now() >= end {
                    break;
                }
                tokio::time::sleep(every).await;
            }
            c.close().await;
        })
    })
}

fn json_message(payload: &str, cid: Option<&str>) -> OutMessage {
    OutMessage {
        headers: cid
            .map(|c| vec![("correlationId".to_string(), c.to_string())])
            .unwrap_or_default(),
        payload: payload.as_bytes().to_vec(),
        content_type: Some("application/json".into()),
    }
}

/// An AsyncAPI 3.0 description: a request channel and a per-order reply channel
/// `reply` (with `{orderId}`), on `host` in `protocol` (+ version), correlation id
/// at `location`.
fn description(host: &str, protocol: &str, version: &str, reply: &str, location: &str) -> String {
    format!(
        r#"asyncapi: 3.0.0
info: {{title: orders, version: '1'}}
servers:
  broker: {{host: '{host}', protocol: {protocol}{version}}}
channels:
  requests:
    address: 'review/requests'
    messages:
      request: {{$ref: '#/components/messages/Request'}}
  replies:
    address: '{reply}'
    parameters: {{orderId: {{}}}}
    messages:
      reply: {{$ref: '#/components/messages/Reply'}}
operations:
  placeOrder:
    action: receive
    channel: {{$ref: '#/channels/requests'}}
  orderReply:
    action: send
    channel: {{$ref: '#/channels/replies'}}
components:
  messages:
    Request:
      contentType: application/json
      payload: {{type: object}}
    Reply:
      contentType: application/json
      correlationId: {{location: '{location}'}}
      payload: {{type: object}}
"#
    )
}

/// A workflow that only waits for the reply of order `$inputs.orderId` whose
/// correlation id is `$inputs.cid`.
fn receive_only(timeout_ms: u64) -> String {
    format!(
        r#"arazzo: 1.1.0
info: {{title: wait, version: '1'}}
sourceDescriptions:
  - {{name: events, url: ./events.asyncapi.yaml, type: asyncapi}}
workflows:
  - workflowId: wait
    inputs:
      type: object
      properties: {{orderId: {{type: string}}, cid: {{type: string}}}}
    steps:
      - stepId: answer
        operationId: orderReply
        action: receive
        correlationId: $inputs.cid
        timeout: {timeout_ms}
        parameters:
          - {{name: orderId, in: path, value: $inputs.orderId}}
        outputs:
          status: $message.payload#/status
    outputs:
      status: $steps.answer.outputs.status
"#
    )
}

/// A send then a receive (the send makes the run connect before the receive).
fn send_then_receive(timeout_ms: u64) -> String {
    format!(
        r#"arazzo: 1.1.0
info: {{title: order, version: '1'}}
sourceDescriptions:
  - {{name: events, url: ./events.asyncapi.yaml, type: asyncapi}}
workflows:
  - workflowId: order
    inputs:
      type: object
      properties: {{orderId: {{type: string}}, cid: {{type: string}}}}
    steps:
      - stepId: ask
        operationId: placeOrder
        action: send
        requestBody:
          payload: {{orderId: $inputs.orderId}}
      - stepId: answer
        operationId: orderReply
        action: receive
        correlationId: $inputs.cid
        timeout: {timeout_ms}
        parameters:
          - {{name: orderId, in: path, value: $inputs.orderId}}
"#
    )
}

// ---------------------------------------------------------------------------
// 1. Wildcards in a channel parameter value turn a receive into a wildcard
//    subscription: the step takes another channel's message.
// ---------------------------------------------------------------------------

/// MQTT: `orderId = "+"` makes the receive subscribe to `…/+/reply`, so the reply
/// of order 99 (same correlation id) is taken as the reply of order `+`. A value
/// is a value: it must be refused (as a send to `…/+/reply` is), not become a
/// topic filter.
#[test]
fn mqtt_wildcard_in_a_parameter_value_receives_another_channels_message() {
    let broker = support::brokers::mosquitto::mosquitto();
    let base = unique();
    let ws = Workspace::new();
    ws.write(
        "events.asyncapi.yaml",
        &description(
            &format!("127.0.0.1:{}", broker.port),
            "mqtt",
            ", protocolVersion: '5'",
            &format!("{base}/orders/{{orderId}}/reply"),
            "$message.header#/correlationId",
        ),
    );
    let doc = ws.write("wait.arazzo.yaml", &receive_only(4000));
    let publisher = publish_for(
        endpoint(broker.url(), Some("5")),
        format!("{base}/orders/99/reply"),
        vec![json_message(r#"{"status":"order 99's reply"}"#, Some("c1"))],
        Duration::from_millis(800),
        Duration::from_millis(200),
        Duration::from_secs(4),
    );
    let out = exec(arazzo().args(["run", "-o", "json", "-f"]).arg(&doc).args([
        "-i",
        "orderId=+",
        "-i",
        "cid=c1",
    ]));
    publisher.join().unwrap();
    assert!(
        !out.stdout.contains("order 99's reply"),
        "a receive on order `+` took order 99's reply:\n{}",
        out.context()
    );
    assert_ne!(out.code, 0, "{}", out.context());
}

/// NATS: the same with `*` (and `>`) in a subject token.
#[test]
fn nats_wildcard_in_a_parameter_value_receives_another_channels_message() {
    let broker = support::brokers::nats::nats();
    let base = unique();
    let ws = Workspace::new();
    let url = broker.url();
    ws.write(
        "events.asyncapi.yaml",
        &description(
            &format!("127.0.0.1:{}", url.port().unwrap()),
            "nats",
            "",
            &format!("{base}.orders.{{orderId}}.reply"),
            "$message.header#/correlationId",
        ),
    );
    let doc = ws.write("wait.arazzo.yaml", &receive_only(4000));
    let publisher = publish_for(
        endpoint(url, None),
        format!("{base}.orders.99.reply"),
        vec![json_message(r#"{"status":"order 99's reply"}"#, Some("c1"))],
        Duration::from_millis(800),
        Duration::from_millis(200),
        Duration::from_secs(4),
    );
    let out = exec(arazzo().args(["run", "-o", "json", "-f"]).arg(&doc).args([
        "-i",
        "orderId=*",
        "-i",
        "cid=c1",
    ]));
    publisher.join().unwrap();
    assert!(
        !out.stdout.contains("order 99's reply"),
        "a receive on order `*` took order 99's reply:\n{}",
        out.context()
    );
    assert_ne!(out.code, 0, "{}", out.context());
}

// ---------------------------------------------------------------------------
// 2. A broker that drops the connection during a receive: reported as a timeout
//    at once, with a false "within 20.0 s".
// ---------------------------------------------------------------------------

/// A TCP proxy to `target` whose connections can all be cut at once.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, s) = (Arc::clone(&cut), Arc::clone(&streams));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if c.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                {
                    let mut all = s.lock().unwrap();
                    all.push(client.try_clone().unwrap());
                    all.push(server.try_clone().unwrap());
                }
                let pipe = |mut a: TcpStream, mut b: TcpStream| {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 65536];
                        while let Ok(n) = a.read(&mut buf) {
                            if n == 0 || b.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = b.shutdown(std::net::Shutdown::Both);
                    });
                };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { port, cut, streams }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// The broker goes away 1.5 s into a 20 s receive. The step ends at once with
/// `kind: timeout` and "no message … arrived … within 20.0 s": neither is true.
/// It should be a transport failure that says the connection was lost (or the
/// run should reconnect and keep waiting).
#[test]
fn a_connection_lost_during_a_receive_is_not_reported_as_a_timeout() {
    let broker = support::brokers::mosquitto::mosquitto();
    let proxy = Proxy::start(broker.port);
    let ws = Workspace::new();
    ws.write(
        "events.asyncapi.yaml",
        &description(
            &format!("127.0.0.1:{}", proxy.port),
            "mqtt",
            ", protocolVersion: '5'",
            &format!("{}/orders/{{orderId}}/reply", unique()),
            "$message.header#/correlationId",
        ),
    );
    let doc = ws.write("wait.arazzo.yaml", &receive_only(20_000));
    let mut cmd = arazzo_std();
    cmd.args(["run", "-o", "json", "-f"])
        .arg(&doc)
        .args(["-i", "orderId=1", "-i", "cid=c1"]);
    let started = Instant::now();
    let run = Running::start(cmd);
    std::thread::sleep(Duration::from_millis(1500));
    proxy.cut();
    let out = run.finish(Duration::from_secs(40));
    let took = started.elapsed();
    let report = out.json();
    let error = &report["error"];
    if took < Duration::from_secs(15) {
        assert_ne!(
            error["kind"],
            "timeout",
            "the step ended after {took:?}, not at its 20 s timeout, yet says timeout:\n{}",
            out.context()
        );
        assert!(
            !error["message"]
                .as_str()
                .unwrap_or("")
                .contains("within 20.0 s"),
            "{}",
            out.context()
        );
    }
}

// ---------------------------------------------------------------------------
// 3–5. A broker that accepts TCP and never answers the handshake.
// ---------------------------------------------------------------------------

/// A TCP server that accepts and never writes.
fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    port
}

fn silent_case() -> (Workspace, std::path::PathBuf, u16) {
    let port = silent_server();
    let ws = Workspace::new();
    ws.write(
        "events.asyncapi.yaml",
        &description(
            &format!("127.0.0.1:{port}"),
            "mqtt",
            ", protocolVersion: '5'",
            "review/orders/{orderId}/reply",
            "$message.header#/correlationId",
        ),
    );
    let doc = ws.write("order.arazzo.yaml", &send_then_receive(3000));
    (ws, doc, port)
}

/// `--max-duration 2s` is the longest the run may take; against a broker that
/// never answers the MQTT CONNECT the run takes 60 s (two connection attempts of
/// `--timeout` 30 s each) and blames `--timeout`.
#[test]
fn max_duration_bounds_connecting_to_a_broker_that_never_answers() {
    let (_ws, doc, _) = silent_case();
    let mut cmd = arazzo_std();
    cmd.args(["run", "-o", "json", "--max-duration", "2s", "-f"])
        .arg(&doc)
        .args(["-i", "orderId=1", "-i", "cid=c1"]);
    let started = Instant::now();
    let out = Running::start(cmd).finish(Duration::from_secs(90));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "--max-duration 2s, but the run took {took:?}:\n{}",
        out.context()
    );
    assert_eq!(out.json()["error"]["kind"], "timeout", "{}", out.context());
}

/// The connection timeout is spent twice: once by the early subscription of the
/// receive step (before the first step), then again by the send step, which then
/// says it waited "within 3.0 s" after 6 s.
#[test]
fn a_silent_broker_costs_one_connection_timeout_not_two() {
    let (_ws, doc, _) = silent_case();
    let mut cmd = arazzo_std();
    cmd.args(["run", "-o", "json", "--timeout", "3s", "-f"])
        .arg(&doc)
        .args(["-i", "orderId=1", "-i", "cid=c1"]);
    let started = Instant::now();
    let out = Running::start(cmd).finish(Duration::from_secs(60));
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(5500),
        "--timeout 3s, one broker that never answers: the run took {took:?}:\n{}",
        out.context()
    );
}

/// Ctrl-C while connecting to a broker that never answers: nothing is in flight,
/// so the run should stop at once (at worst after the grace period) with exit
/// 130. It goes on until both connection attempts time out (≈40 s with
/// `--timeout 20`) and exits 1.
#[test]
fn sigint_while_connecting_to_a_silent_broker_stops_the_run() {
    let (_ws, doc, _) = silent_case();
    let mut cmd = arazzo_std();
    cmd.args([
        "run",
        "-o",
        "json",
        "--timeout",
        "20s",
        "--grace-period",
        "1s",
        "-f",
    ])
    .arg(&doc)
    .args(["-i", "orderId=1", "-i", "cid=c1"]);
    let run = Running::start(cmd);
    std::thread::sleep(Duration::from_millis(1000));
    let signalled = Instant::now();
    run.signal("INT");
    let out = run.finish(Duration::from_secs(90));
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "SIGINT, --grace-period 1s: the run went on for {took:?}:\n{}",
        out.context()
    );
    out.assert_code(130);
}

// ---------------------------------------------------------------------------
// 6. Memory: messages kept for a receive are bounded by count only.
// ---------------------------------------------------------------------------

/// The peak resident set of a running process, polled until it exits.
fn peak_rss_kib(pid: u32, running: &AtomicBool) -> u64 {
    let mut peak = 0;
    while running.load(Ordering::SeqCst) {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            for line in s.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kib);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    peak
}

/// A flood of large non-matching messages (each under --max-response-size) is
/// kept whole: up to 1024 in the subscription's buffer plus 1024 set aside, so
/// about 20 GiB at the default 10 MiB. Here 110 messages of 9 MB (≈1 GB) while a
/// receive waits for another correlation id push the process past 1 GB. What is
/// kept should be bounded in bytes.
#[test]
fn non_matching_messages_kept_for_a_receive_are_bounded_in_bytes() {
    let broker = support::brokers::mosquitto::mosquitto();
    let base = unique();
    let ws = Workspace::new();
    ws.write(
        "events.asyncapi.yaml",
        &description(
            &format!("127.0.0.1:{}", broker.port),
            "mqtt",
            ", protocolVersion: '5'",
            &format!("{base}/orders/{{orderId}}/reply"),
            "$message.header#/correlationId",
        ),
    );
    let doc = ws.write("wait.arazzo.yaml", &receive_only(12_000));
    let mut cmd = arazzo_std();
    cmd.args(["run", "-o", "json", "-f"])
        .arg(&doc)
        .args(["-i", "orderId=1", "-i", "cid=mine"]);
    let run = Running::start(cmd);
    let pid = run.pid();
    let watching = Arc::new(AtomicBool::new(true));
    let w = Arc::clone(&watching);
    let watcher = std::thread::spawn(move || peak_rss_kib(pid, &w));
    let big = format!(
        r#"{{"status":"not yours","pad":"{}"}}"#,
        "x".repeat(9_000_000)
    );
    let publisher = publish_for(
        endpoint(broker.url(), Some("5")),
        format!("{base}/orders/1/reply"),
        (0..110)
            .map(|_| json_message(&big, Some("someone-else")))
            .collect(),
        Duration::from_millis(1500),
        Duration::from_secs(1),
        Duration::ZERO,
    );
    publisher.join().unwrap();
    let out = run.finish(Duration::from_secs(60));
    watching.store(false, Ordering::SeqCst);
    let peak = watcher.join().unwrap();
    assert!(
        peak < 600 * 1024,
        "peak RSS {} MiB while ≈1 GB of non-matching messages arrived:\n{}",
        peak / 1024,
        out.context()
    );
}

// ---------------------------------------------------------------------------
// 7. Recursive payload schemas are checked one level deep only.
// ---------------------------------------------------------------------------

/// `Node = {v: integer, next: Node}`: `validate` finds `next.v: "two"` but not
/// `next.next.v: "three"` (the `$ref` cycle is inlined as `true` after one
/// turn), so a payload that breaks the message schema passes validate, preflight
/// and the dry run, and is sent.
#[test]
fn recursive_payload_schema_is_checked_below_the_first_level() {
    let ws = Workspace::new();
    ws.write(
        "events.asyncapi.yaml",
        r#"asyncapi: 3.0.0
info: {title: tree, version: '1'}
servers:
  broker: {host: '127.0.0.1:1883', protocol: mqtt}
channels:
  c:
    address: c
    messages:
      m: {payload: {$ref: '#/components/schemas/Node'}}
operations:
  put: {action: receive, channel: {$ref: '#/channels/c'}}
components:
  schemas:
    Node:
      type: object
      properties:
        v: {type: integer}
        next: {$ref: '#/components/schemas/Node'}
"#,
    );
    let doc = ws.write(
        "tree.arazzo.yaml",
        r#"arazzo: 1.1.0
info: {title: tree, version: '1'}
sourceDescriptions:
  - {name: events, url: ./events.asyncapi.yaml, type: asyncapi}
workflows:
  - workflowId: tree
    steps:
      - stepId: put
        operationId: put
        action: send
        requestBody:
          payload: {v: 1, next: {v: 2, next: {v: "three"}}}
"#,
    );
    let out = exec(arazzo().arg("validate").arg(&doc));
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(out.all().contains("/next/next/v"), "{}", out.context());
}

// ---------------------------------------------------------------------------
// 8. A header correlation id on a protocol without headers passes validate.
// ---------------------------------------------------------------------------

/// The server is MQTT 3.1.1 (no headers) and the reply's correlation id is
/// `$message.header#/correlationId`: the receive can never match, and the send's
/// `in: header` parameter is refused only at run time. `validate` says "0 errors,
/// 0 warnings" and the dry run "every planned request is valid".
#[test]
fn header_correlation_on_mqtt_311_is_reported_by_validate() {
    let ws = Workspace::new();
    ws.write(
        "events.asyncapi.yaml",
        &description(
            "127.0.0.1:1883",
            "mqtt",
            ", protocolVersion: '3.1.1'",
            "review/orders/{orderId}/reply",
            "$message.header#/correlationId",
        ),
    );
    let doc = ws.write("wait.arazzo.yaml", &receive_only(3000));
    let out = exec(arazzo().arg("validate").arg(&doc));
    assert!(
        !out.all().contains("0 errors, 0 warnings"),
        "a correlation id in a header of MQTT 3.1.1 messages (which have none) passes validate:\n{}",
        out.context()
    );
}

// ---------------------------------------------------------------------------
// 9. The 1.1 text's own async example form gets a self-contradicting message.
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// 10. "interrupted by SIGINT SIGINT".
// ---------------------------------------------------------------------------

/// Ctrl-C during a receive wait: the report's message reads "interrupted by
/// SIGINT SIGINT while waiting for a message".
#[test]
fn sigint_during_a_receive_names_the_signal_once() {
    let broker = support::brokers::mosquitto::mosquitto();
    let ws = Workspace::new();
    ws.write(
        "events.asyncapi.yaml",
        &description(
            &format!("127.0.0.1:{}", broker.port),
            "mqtt",
            ", protocolVersion: '5'",
            &format!("{}/orders/{{orderId}}/reply", unique()),
            "$message.header#/correlationId",
        ),
    );
    let doc = ws.write("wait.arazzo.yaml", &receive_only(20_000));
    let mut cmd = arazzo_std();
    cmd.args(["run", "-o", "json", "-f"])
        .arg(&doc)
        .args(["-i", "orderId=1", "-i", "cid=c1"]);
    let run = Running::start(cmd);
    std::thread::sleep(Duration::from_millis(1500));
    run.signal("INT");
    let out = run.finish(Duration::from_secs(30));
    out.assert_code(130);
    assert!(!out.all().contains("SIGINT SIGINT"), "{}", out.context());
}

// ---------------------------------------------------------------------------
// 11. AMQP: a receive with a correlationId on a queue takes every message off it.
// ---------------------------------------------------------------------------
