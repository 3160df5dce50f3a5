//! The harness side of `scripts/bench-messages.sh`: message round trips per
//! second per protocol. Two commands:
//!
//! - `serve PROTO DIR`: starts the broker of PROTO on free ports of 127.0.0.1
//!   the way the tests do (tests/support/brokers: Mosquitto, RabbitMQ,
//!   nats-server, Tansu; for WebSocket a small server of ours that answers on
//!   the socket), starts a responder that answers every request with a
//!   correlated reply (`n` + 1, `status: confirmed`), writes the AsyncAPI
//!   description and the Arazzo workflows into DIR, then `DIR/url` (the
//!   `--server events=` URL) and `DIR/ready`, and runs until killed (the
//!   brokers stop with it).
//! - `client PROTO URL ROUNDS CONCURRENCY [per-round-trip]`: the baseline, a
//!   minimal client on the protocol crate: ROUNDS request/reply round trips,
//!   CONCURRENCY at a time, on one connection (replies told apart by their
//!   correlation id), or with `per-round-trip` each on a connection of its
//!   own (connect, subscribe to its reply address, publish, wait, close: what
//!   one workflow run does). Prints the round trips per second it measured
//!   itself; the script times the whole process.
//!
//! Run through the script; `cargo bench --bench messages -- serve mqtt5 /tmp/x`
//! works too.

mod peer;

/// The test harness (tests/support), for its brokers: started here as the
/// end-to-end tests start them.
#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use peer::{Msg, Peer, Proto, Role};
use tokio::sync::oneshot;

/// Longest wait for one reply before the baseline gives up.
const REPLY_WAIT: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; nothing else here takes flags.
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let proto =
        |s: &str| Proto::parse(s).unwrap_or_else(|| usage(&format!("unknown protocol `{s}`")));
    match args.as_slice() {
        ["serve", p, dir] => serve(proto(p), Path::new(dir)),
        ["client", p, url, rounds, conc, rest @ ..] => {
            let number = |s: &str| -> usize {
                s.parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .unwrap_or_else(|| usage(&format!("`{s}` is not a positive number")))
            };
            let per_round_trip = match rest {
                [] => false,
                ["per-round-trip"] => true,
                _ => usage("the last argument may only be `per-round-trip`"),
            };
            client(proto(p), url, number(rounds), number(conc), per_round_trip)
        }
        [] => {
            // `cargo bench` with no arguments: nothing to measure on its own.
            eprintln!("messages: run scripts/bench-messages.sh (see its header)");
        }
        _ => usage("unknown command"),
    }
}

fn usage(why: &str) -> ! {
    eprintln!(
        "messages: {why}\nusage: messages serve PROTO DIR\n       messages client PROTO URL ROUNDS \
         CONCURRENCY [per-round-trip]\nPROTO: mqtt5 mqtt311 amqp nats ws kafka"
    );
    std::process::exit(2)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

// --- serve ----------------------------------------------------------------------

fn serve(proto: Proto, dir: &Path) {
    std::fs::create_dir_all(dir).expect("create the work directory");
    let started = Instant::now();
    let (url, server) = start_broker(proto);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let responder_url = url.clone();
    // The responder has a thread and a runtime of its own (one core at most).
    std::thread::spawn(move || {
        runtime().block_on(async move {
            if proto == Proto::Ws {
                ws_server(server.expect("a listener"), ready_tx).await;
            } else {
                respond(proto, &responder_url, ready_tx).await;
            }
        })
    });
    match ready_rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fail(&format!("the responder could not start: {e}")),
        Err(_) => fail("the responder did not start within 60 s"),
    }
    write_documents(proto, &url, dir);
    std::fs::write(dir.join("url"), &url).expect("write the URL");
    std::fs::write(
        dir.join("ready"),
        format!("{:.1}\n", started.elapsed().as_secs_f64()),
    )
    .expect("write ready");
    // Until killed: the brokers' watchdogs stop them when this process ends.
    loop {
        std::thread::park();
    }
}

fn fail(why: &str) -> ! {
    eprintln!("messages: {why}");
    std::process::exit(1)
}

/// Starts the broker (or binds the WebSocket server's port) and returns the URL
/// clients use (with the credentials for RabbitMQ).
fn start_broker(proto: Proto) -> (String, Option<std::net::TcpListener>) {
    use support::brokers::{kafka, mosquitto, nats, rabbitmq};
    match proto {
        Proto::Mqtt5 | Proto::Mqtt311 => (
            format!("mqtt://127.0.0.1:{}", mosquitto::mosquitto().port),
            None,
        ),
        Proto::Nats => (format!("nats://127.0.0.1:{}", nats::nats().port), None),
        Proto::Amqp => {
            let b = rabbitmq::rabbitmq();
            let url = format!(
                "amqp://{}:{}@127.0.0.1:{}/",
                rabbitmq::USER,
                rabbitmq::PASSWORD,
                b.port
            );
            runtime().block_on(declare_exchange(&format!("{url}%2f")));
            (url, None)
        }
        Proto::Kafka => {
            let url = format!("kafka://{}", kafka::broker().bootstrap());
            runtime().block_on(create_topics(&url));
            (url, None)
        }
        Proto::Ws => {
            let listener =
                std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port of 127.0.0.1");
            let port = listener.local_addr().expect("local address").port();
            (format!("ws://127.0.0.1:{port}"), Some(listener))
        }
    }
}

/// The topic exchange both channels go through, with the settings the AsyncAPI
/// binding gives it.
async fn declare_exchange(url: &str) {
    use lapin::options::ExchangeDeclareOptions;
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| fail(&format!("AMQP connect: {e}")));
    let channel = conn.create_channel().await.expect("a channel");
    channel
        .exchange_declare(
            peer::EXCHANGE.into(),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| fail(&format!("declare the exchange: {e}")));
    let _ = conn.close(200, "OK".into()).await;
}

/// The request and reply topics, one partition each.
async fn create_topics(url: &str) {
    let host = url.trim_start_matches("kafka://");
    let client = rskafka::client::ClientBuilder::new(vec![host.to_string()])
        .build()
        .await
        .unwrap_or_else(|e| fail(&format!("Kafka connect: {e}")));
    let controller = client.controller_client().expect("a controller");
    for topic in [Proto::Kafka.requests(), Proto::Kafka.all_replies()] {
        if let Err(e) = controller.create_topic(topic, 1, 1, 5_000).await {
            fail(&format!("create topic {topic}: {e}"));
        }
    }
}

/// Answers every request on the protocol's request address with a reply to the
/// same correlation id (`n` + 1). Kafka replies to all the requests of one fetch
/// in one produce request; the others publish each reply as its request comes.
async fn respond(proto: Proto, url: &str, ready: std::sync::mpsc::Sender<Result<(), String>>) {
    let (peer, mut incoming) = match Peer::connect(proto, url, Role::Responder).await {
        Ok(p) => p,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if let Err(e) = peer.subscribe(proto.requests()).await {
        let _ = ready.send(Err(e));
        return;
    }
    let _ = ready.send(Ok(()));
    while let Some(first) = incoming.recv().await {
        if proto == Proto::Kafka {
            let mut batch = vec![first];
            while let Ok(more) = incoming.try_recv() {
                batch.push(more);
            }
            let records = batch
                .into_iter()
                .map(|m| {
                    (
                        m.cid.clone(),
                        peer::payload(&m.cid, m.n + 1, Some("confirmed")),
                    )
                })
                .collect();
            if let Err(e) = peer.produce(&proto.reply_address(""), records).await {
                eprintln!("responder: {e}");
            }
            continue;
        }
        let address = proto.reply_address(&first.cid);
        if let Err(e) = peer
            .publish(&address, &first.cid, first.n + 1, Some("confirmed"))
            .await
        {
            eprintln!("responder: {e}");
        }
    }
}

/// The WebSocket server: every text frame `{"n": …, "correlationId": …}` gets
/// its reply on the same socket.
async fn ws_server(
    listener: std::net::TcpListener,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    use tokio_tungstenite::tungstenite::Message;
    listener.set_nonblocking(true).expect("non-blocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    let _ = ready.send(Ok(()));
    while let Ok((tcp, _)) = listener.accept().await {
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            while let Some(Ok(frame)) = ws.next().await {
                let text = match frame {
                    Message::Text(t) => t,
                    Message::Close(_) => break,
                    _ => continue,
                };
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let cid = v["correlationId"].as_str().unwrap_or_default();
                let n = v["n"].as_u64().unwrap_or(0);
                let reply = peer::payload(cid, n + 1, Some("confirmed"));
                let reply = String::from_utf8(reply).expect("JSON is UTF-8");
                if ws.send(Message::text(reply)).await.is_err() {
                    break;
                }
            }
        });
    }
}

// --- the documents ---------------------------------------------------------------

/// Writes `events.asyncapi.yaml` (the broker, a request channel and a reply
/// channel) and `flow.arazzo.yaml` (workflows `once` and `loop`) into `dir`.
fn write_documents(proto: Proto, url: &str, dir: &Path) {
    let parsed = url::Url::parse(url).expect("a URL");
    let host = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("127.0.0.1"),
        parsed.port().unwrap_or(0)
    );
    let (protocol, extra) = match proto {
        Proto::Mqtt5 => ("mqtt", ", protocolVersion: '5'"),
        Proto::Mqtt311 => ("mqtt", ", protocolVersion: '3.1.1'"),
        Proto::Amqp => ("amqp", ", pathname: '/'"),
        Proto::Nats => ("nats", ""),
        Proto::Ws => ("ws", ""),
        Proto::Kafka => ("kafka", ""),
    };
    let location = if proto.headers() {
        "$message.header#/correlationId"
    } else {
        "$message.payload#/correlationId"
    };
    let bindings = if proto == Proto::Amqp {
        format!(
            "\n    bindings: {{amqp: {{is: routingKey, exchange: {{name: {}, type: topic, \
             durable: false, autoDelete: false}}}}}}",
            peer::EXCHANGE
        )
    } else {
        String::new()
    };
    let reply_address = proto.reply_address("{cid}");
    let reply_parameters = if reply_address.contains("{cid}") {
        "\n    parameters: {cid: {}}"
    } else {
        ""
    };
    let asyncapi = format!(
        "asyncapi: 3.0.0
info: {{title: round trips, version: '1'}}
servers:
  broker: {{host: '{host}', protocol: {protocol}{extra}}}
channels:
  requests:
    address: '{requests}'{bindings}
    messages:
      request: {{$ref: '#/components/messages/Message'}}
  replies:
    address: '{reply_address}'{reply_parameters}{bindings}
    messages:
      reply: {{$ref: '#/components/messages/Message'}}
operations:
  takeRequest:
    action: receive
    channel: {{$ref: '#/channels/requests'}}
  sendReply:
    action: send
    channel: {{$ref: '#/channels/replies'}}
components:
  messages:
    Message:
      contentType: application/json
      correlationId: {{location: '{location}'}}
      payload:
        type: object
        properties: {{n: {{type: integer}}, correlationId: {{type: string}}}}
",
        requests = proto.requests(),
    );
    let header = if proto.headers() {
        "        parameters:\n          - {name: correlationId, in: header, value: $inputs.cid}\n"
    } else {
        ""
    };
    let path = if reply_parameters.is_empty() {
        ""
    } else {
        "          - {name: cid, in: path, value: $inputs.cid}\n"
    };
    let send = |id: &str, n: &str, then: &str| {
        format!(
            "      - stepId: {id}
        operationId: takeRequest
        action: send
{header}        requestBody:
          payload: {{n: {n}, correlationId: $inputs.cid}}
{then}"
        )
    };
    let parameters = if path.is_empty() {
        String::new()
    } else {
        format!("        parameters:\n{path}")
    };
    let receive = |then: &str| {
        format!(
            "      - stepId: answer
        operationId: sendReply
        action: receive
        correlationId: $inputs.cid
        timeout: 10000
{parameters}        successCriteria:
          - condition: $message.payload#/status == 'confirmed'
        outputs:
          n: $message.payload#/n
{then}"
        )
    };
    let arazzo = format!(
        "arazzo: 1.1.0
info: {{title: message round trips, version: '1'}}
sourceDescriptions:
  - {{name: events, url: ./events.asyncapi.yaml, type: asyncapi}}
workflows:
  - workflowId: once
    summary: One request and its reply.
    inputs:
      type: object
      required: [cid]
      properties: {{cid: {{type: string}}}}
    steps:
{send_once}{receive_once}    outputs:
      n: $steps.answer.outputs.n
  - workflowId: loop
    summary: Request and reply `rounds` times on one subscription.
    inputs:
      type: object
      required: [cid, rounds]
      properties: {{cid: {{type: string}}, rounds: {{type: integer}}}}
    steps:
{send_first}{receive_loop}{send_next}    outputs:
      n: $steps.answer.outputs.n
",
        send_once = send("ask", "0", ""),
        receive_once = receive(""),
        send_first = send("first", "0", ""),
        receive_loop = receive(
            "        onSuccess:
          - name: again
            type: goto
            stepId: next
            criteria:
              - condition: $steps.answer.outputs.n < $inputs.rounds
          - {name: done, type: end}
"
        ),
        send_next = send(
            "next",
            "$steps.answer.outputs.n",
            "        onSuccess:\n          - {name: back, type: goto, stepId: answer}\n"
        ),
    );
    std::fs::write(dir.join("events.asyncapi.yaml"), asyncapi).expect("write the description");
    std::fs::write(dir.join("flow.arazzo.yaml"), arazzo).expect("write the workflows");
}

// --- client -----------------------------------------------------------------------

fn client(proto: Proto, url: &str, rounds: usize, concurrency: usize, per_round_trip: bool) {
    let rt = runtime();
    let started = Instant::now();
    let result = rt.block_on(async {
        if per_round_trip {
            each_on_its_own(proto, url, rounds, concurrency).await
        } else {
            on_one_connection(proto, url, rounds, concurrency).await
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(()) => println!(
            "round_trips={rounds} seconds={seconds:.3} per_second={:.0}",
            rounds as f64 / seconds
        ),
        Err(e) => fail(&e),
    }
}

/// The rounds split among `concurrency` tasks as evenly as can be.
fn shares(rounds: usize, concurrency: usize) -> Vec<usize> {
    let c = concurrency.min(rounds);
    (0..c)
        .map(|i| rounds / c + usize::from(i < rounds % c))
        .collect()
}

/// One connection, one subscription to every reply; `concurrency` tasks each
/// send a request and wait for its reply, in turn, until all are done.
async fn on_one_connection(
    proto: Proto,
    url: &str,
    rounds: usize,
    concurrency: usize,
) -> Result<(), String> {
    type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Msg>>>>;
    let (peer, mut incoming) = Peer::connect(proto, url, Role::Client).await?;
    peer.subscribe(proto.all_replies()).await?;
    let peer = Arc::new(peer);
    let waiters: Waiters = Arc::default();
    let dispatch = {
        let waiters = Arc::clone(&waiters);
        tokio::spawn(async move {
            while let Some(m) = incoming.recv().await {
                let waiter = waiters.lock().expect("waiters").remove(&m.cid);
                if let Some(w) = waiter {
                    let _ = w.send(m);
                }
            }
        })
    };
    let mut tasks = Vec::new();
    for (t, share) in shares(rounds, concurrency).into_iter().enumerate() {
        let peer = Arc::clone(&peer);
        let waiters = Arc::clone(&waiters);
        tasks.push(tokio::spawn(async move {
            for i in 0..share {
                let cid = format!("b{t}-{i}");
                let (tx, rx) = oneshot::channel();
                waiters.lock().expect("waiters").insert(cid.clone(), tx);
                peer.publish(peer.proto().requests(), &cid, i as u64, None)
                    .await?;
                let reply = tokio::time::timeout(REPLY_WAIT, rx)
                    .await
                    .map_err(|_| format!("no reply to {cid} within {REPLY_WAIT:?}"))?
                    .map_err(|_| "the reply reader ended".to_string())?;
                if reply.n != i as u64 + 1 {
                    return Err(format!("the reply to {cid} has n = {}", reply.n));
                }
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    dispatch.abort();
    if let Ok(peer) = Arc::try_unwrap(peer) {
        peer.close().await;
    }
    Ok(())
}

/// `concurrency` tasks, each doing its round trips one at a time, each on a
/// connection of its own: connect, subscribe to the reply address, publish,
/// wait for the reply, close.
async fn each_on_its_own(
    proto: Proto,
    url: &str,
    rounds: usize,
    concurrency: usize,
) -> Result<(), String> {
    let mut tasks = Vec::new();
    for (t, share) in shares(rounds, concurrency).into_iter().enumerate() {
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            for i in 0..share {
                let cid = format!("p{t}-{i}");
                let (peer, mut incoming) = Peer::connect(proto, &url, Role::Client).await?;
                peer.subscribe(&proto.reply_address(&cid)).await?;
                peer.publish(proto.requests(), &cid, 0, None).await?;
                let waited = tokio::time::timeout(REPLY_WAIT, async {
                    while let Some(m) = incoming.recv().await {
                        if m.cid == cid {
                            return Some(m);
                        }
                    }
                    None
                })
                .await;
                match waited {
                    Ok(Some(m)) if m.n == 1 => {}
                    Ok(Some(m)) => return Err(format!("the reply to {cid} has n = {}", m.n)),
                    Ok(None) => {
                        return Err(format!("the connection ended before the reply to {cid}"))
                    }
                    Err(_) => return Err(format!("no reply to {cid} within {REPLY_WAIT:?}")),
                }
                peer.close().await;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}
