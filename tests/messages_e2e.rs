//! Message steps (Arazzo 1.1, AsyncAPI) through the binary, against real brokers
//! started on 127.0.0.1 (Mosquitto for MQTT 5 and 3.1.1, RabbitMQ for AMQP 0-9-1,
//! nats-server, a Kafka-compatible broker): a workflow sends a request and receives
//! the correlated reply that a responder (tests/support/responder.rs) publishes.
//! Each protocol runs the same four cases: the reply at once; the reply published
//! while another step runs, before the receive step starts (it must not be missed);
//! a reply with another correlation id first (ignored); and no reply (the step times
//! out, `kind: timeout`, and its onFailure runs). WebSocket, where the server answers
//! on the socket itself, is in tests/messages_ws.rs.

mod support;

use std::time::Duration;

use arazzo::broker::{Credentials, Endpoint, Protocol};
use serde_json::Value;
use support::cli::{arazzo, exec, Out};
use support::echo::{Echo, Reply};
use support::responder::{Answer, Responder};
use support::workspace::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mqtt5,
    Mqtt311,
    Amqp,
    Nats,
    Kafka,
}

impl Kind {
    /// The broker's URL (started on first use).
    fn url(self) -> url::Url {
        match self {
            Kind::Mqtt5 | Kind::Mqtt311 => support::brokers::mosquitto::mosquitto().url(),
            Kind::Nats => support::brokers::nats::nats().url(),
            Kind::Amqp => support::brokers::rabbitmq::rabbitmq().endpoint().url,
            Kind::Kafka => url::Url::parse(&format!(
                "kafka://{}",
                support::brokers::kafka::broker().bootstrap()
            ))
            .unwrap(),
        }
    }

    /// The AsyncAPI server's `protocol` and `protocolVersion`.
    fn protocol(self) -> (&'static str, Option<&'static str>) {
        match self {
            Kind::Mqtt5 => ("mqtt", Some("5")),
            Kind::Mqtt311 => ("mqtt", Some("3.1.1")),
            Kind::Amqp => ("amqp", None),
            Kind::Nats => ("nats", None),
            Kind::Kafka => ("kafka", None),
        }
    }

    /// Whether the correlation id travels in a header (else in the payload).
    fn headers(self) -> bool {
        self != Kind::Mqtt311
    }

    fn endpoint(self) -> Endpoint {
        let url = self.url();
        let (protocol, tls) = Protocol::from_name(url.scheme()).unwrap();
        Endpoint {
            protocol,
            url,
            tls,
            protocol_version: self.protocol().1.map(str::to_string),
            credentials: match self {
                Kind::Amqp => {
                    support::brokers::rabbitmq::rabbitmq()
                        .endpoint()
                        .credentials
                }
                _ => Credentials::default(),
            },
            connect_timeout: Duration::from_secs(10),
            client_id: format!("responder-{}-{}", std::process::id(), unique()),
            max_message_bytes: 1 << 20,
        }
    }
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The AsyncAPI description: a request channel and a per-order reply channel on the
/// broker of `kind`, messages correlated by `correlationId`.
fn asyncapi(kind: Kind, requests: &str, replies: &str) -> String {
    let url = kind.url();
    let (protocol, version) = kind.protocol();
    let version = version
        .map(|v| format!(", protocolVersion: '{v}'"))
        .unwrap_or_default();
    let location = if kind.headers() {
        "$message.header#/correlationId"
    } else {
        "$message.payload#/correlationId"
    };
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let vhost = if kind == Kind::Amqp {
        ", pathname: '/'"
    } else {
        ""
    };
    format!(
        r#"asyncapi: 3.0.0
info: {{title: orders, version: '1'}}
servers:
  broker: {{host: '{host}', protocol: {protocol}{version}{vhost}}}
channels:
  requests:
    address: '{requests}'
    messages:
      request: {{$ref: '#/components/messages/Request'}}
  replies:
    address: '{replies}'
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
      correlationId: {{location: '{location}'}}
      payload:
        type: object
        required: [orderId]
        properties: {{orderId: {{type: string}}, qty: {{type: integer}}}}
    Reply:
      contentType: application/json
      correlationId: {{location: '{location}'}}
      payload: {{type: object}}
"#
    )
}

/// The workflow: send the order, optionally run `between` (steps), then receive the
/// reply for it; `on_failure` is the receive step's onFailure block (if any).
fn workflow(kind: Kind, timeout_ms: u64, between: &str, on_failure: &str, extra: &str) -> String {
    let header = if kind.headers() {
        "        parameters:\n          - {name: correlationId, in: header, value: $inputs.cid}\n"
    } else {
        ""
    };
    format!(
        r#"arazzo: 1.1.0
info: {{title: request reply, version: '1'}}
sourceDescriptions:
  - {{name: events, url: ./events.asyncapi.yaml, type: asyncapi}}
  - {{name: api, url: ./api.yaml, type: openapi}}
workflows:
  - workflowId: order
    inputs:
      type: object
      properties: {{orderId: {{type: string}}, cid: {{type: string}}}}
    steps:
      - stepId: ask
        operationId: placeOrder
        action: send
{header}        requestBody:
          payload: {{orderId: $inputs.orderId, qty: 2, correlationId: $inputs.cid}}
{between}      - stepId: answer
        operationId: orderReply
        action: receive
        correlationId: $inputs.cid
        timeout: {timeout_ms}
        parameters:
          - {{name: orderId, in: path, value: $inputs.orderId}}
        successCriteria:
          - condition: $message.payload#/status == 'confirmed'
        outputs:
          status: $message.payload#/status
          order: $message.payload#/orderId
{on_failure}{extra}    outputs:
      status: $steps.answer.outputs.status
      order: $steps.answer.outputs.order
"#
    )
}

const API: &str = r#"openapi: 3.1.0
info: {title: api, version: '1'}
paths:
  /items/{id}:
    get:
      operationId: getItem
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {'200': {description: ok}}
"#;

/// A step that reads `/items/<id>` from the HTTP stand-in.
fn http_step(id: &str) -> String {
    format!(
        "      - stepId: {id}\n        operationId: getItem\n        parameters:\n          - {{name: id, in: path, value: {id}}}\n        successCriteria:\n          - condition: $statusCode == 200\n"
    )
}

struct Case {
    ws: Workspace,
    echo: Echo,
    kind: Kind,
    requests: String,
    replies: String,
}

impl Case {
    fn new(kind: Kind) -> Case {
        let id = unique();
        // Addresses every protocol takes (Kafka topics allow only [A-Za-z0-9._-]).
        let (requests, replies) = match kind {
            Kind::Mqtt5 | Kind::Mqtt311 => (
                format!("t{id}/requests"),
                format!("t{id}/replies/{{orderId}}"),
            ),
            _ => (
                format!("t{id}.requests"),
                format!("t{id}.replies.{{orderId}}"),
            ),
        };
        let ws = Workspace::new();
        ws.write("events.asyncapi.yaml", &asyncapi(kind, &requests, &replies));
        ws.write("api.yaml", API);
        Case {
            ws,
            echo: Echo::start(),
            kind,
            requests,
            replies,
        }
    }

    fn responder(&self, answer: Answer) -> Responder {
        Responder::start(
            self.kind.endpoint(),
            &self.requests,
            &self.replies,
            self.kind.headers(),
            answer,
        )
    }

    fn run(&self, doc: &str, cid: &str) -> Out {
        let path = self.ws.write("flow.arazzo.yaml", doc);
        let trace = self.ws.path("trace.json");
        let mut cmd = arazzo();
        cmd.args(["run", "order", "-o", "json", "-f"])
            .arg(&path)
            .args(["-i", "orderId=o1", "-i"])
            .arg(format!("cid={cid}"))
            .args(["--server", &format!("api={}", self.echo.base_url())])
            .arg("--trace")
            .arg(&trace);
        if self.kind == Kind::Amqp {
            // RabbitMQ's test user, in the URL (the password never shows).
            use support::brokers::rabbitmq::{PASSWORD, USER};
            let mut url = self.kind.url();
            url.set_username(USER).unwrap();
            url.set_password(Some(PASSWORD)).unwrap();
            cmd.arg("--server").arg(format!("events={url}"));
        }
        let out = exec(&mut cmd);
        let written = std::fs::read_to_string(&trace).unwrap_or_default();
        for text in [&out.stdout, &out.stderr, &written] {
            assert!(
                !text.contains(support::brokers::rabbitmq::PASSWORD),
                "the broker password shows: {text}"
            );
        }
        out
    }

    fn trace(&self) -> Value {
        support::json(&std::fs::read_to_string(self.ws.path("trace.json")).unwrap())
    }
}

fn timeout_for(kind: Kind) -> u64 {
    if kind == Kind::Kafka {
        15_000
    } else {
        5_000
    }
}

/// The reply comes at once: the receive step (subscribed before the send) gets it,
/// its criteria hold, its outputs are read from it; the responder got the payload
/// (and the correlation header) the step built; the trace has both messages.
fn request_reply(kind: Kind) {
    let case = Case::new(kind);
    let responder = case.responder(Answer::Confirm);
    let out = case.run(&workflow(kind, timeout_for(kind), "", "", ""), "c-1");
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["outputs"]["status"], "confirmed", "{report}");
    assert_eq!(report["outputs"]["order"], "o1", "{report}");
    assert_eq!(report["steps"][0]["method"], "SEND", "{report}");
    assert_eq!(report["steps"][1]["method"], "RECEIVE", "{report}");
    assert!(
        report["steps"][1]["url"]
            .as_str()
            .unwrap()
            .ends_with("replies/o1")
            || report["steps"][1]["url"]
                .as_str()
                .unwrap()
                .ends_with("replies.o1"),
        "{report}"
    );
    let got = responder.wait_requests(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].payload["orderId"], "o1");
    assert_eq!(got[0].payload["qty"], 2);
    if kind.headers() {
        assert_eq!(got[0].header("correlationId"), Some("c-1"), "{got:?}");
    }
    let trace = case.trace();
    let messages: Vec<&Value> = trace["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x.get("message").is_some())
        .collect();
    assert_eq!(messages.len(), 2, "{trace}");
    assert_eq!(messages[0]["message"]["action"], "send");
    assert_eq!(messages[1]["message"]["action"], "receive");
    assert_eq!(messages[1]["message"]["payload"]["status"], "confirmed");
}

/// The reply is published while another step runs (an HTTP step that takes 800 ms),
/// before the receive step starts: it was kept, because the receive subscribed
/// before the workflow's first step.
fn reply_before_receive_starts(kind: Kind) {
    let case = Case::new(kind);
    case.echo.reply_on(
        "/items/slow",
        Reply::json(200, &serde_json::json!({"ok": true})).after(Duration::from_millis(800)),
    );
    let responder = case.responder(Answer::Confirm);
    let out = case.run(&workflow(kind, 2_000, &http_step("slow"), "", ""), "c-2");
    out.assert_code(0);
    assert_eq!(
        out.json()["outputs"]["status"],
        "confirmed",
        "{}",
        out.context()
    );
    assert_eq!(responder.requests().len(), 1);
}

/// A reply with another correlation id arrives first: it is ignored, and the step
/// takes the one with its own.
fn wrong_correlation_is_ignored(kind: Kind) {
    let case = Case::new(kind);
    let _responder = case.responder(Answer::WrongThenRight);
    let out = case.run(&workflow(kind, timeout_for(kind), "", "", ""), "c-3");
    out.assert_code(0);
    assert_eq!(
        out.json()["outputs"]["status"],
        "confirmed",
        "{}",
        out.context()
    );
}

/// No reply: the receive step fails with `kind: timeout` after its timeout; with an
/// onFailure goto, the workflow goes on to the fallback step (the server gets its
/// request); without one, the run fails (exit 1) naming the correlation id.
fn no_reply_times_out(kind: Kind) {
    let case = Case::new(kind);
    let _responder = case.responder(Answer::Silent);
    let handled = workflow(
        kind,
        700,
        "",
        "        onFailure:\n          - {name: giveUp, type: goto, stepId: fallback}\n",
        &format!(
            "{}        onSuccess:\n          - {{name: done, type: end}}\n",
            http_step("fallback")
        ),
    );
    let out = case.run(&handled, "c-4");
    let report = out.json();
    assert_eq!(report["steps"][1]["stepId"], "answer", "{report}");
    assert_eq!(report["steps"][1]["status"], "failed", "{report}");
    assert!(
        case.echo
            .api_requests()
            .iter()
            .any(|r| r.path == "/items/fallback"),
        "{}",
        out.context()
    );
    let out = case.run(&workflow(kind, 700, "", "", ""), "c-5");
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "timeout", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no message with correlation id `c-5`"),
        "{message}"
    );
    assert!(message.contains("0.7 s"), "{message}");
}

/// A reply whose criteria fail (status `rejected`) fails the step as criteria, not
/// as a timeout.
fn rejected_reply_fails_criteria(kind: Kind) {
    let case = Case::new(kind);
    let _responder = case.responder(Answer::Reject);
    let out = case.run(&workflow(kind, timeout_for(kind), "", "", ""), "c-6");
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "criteria", "{report}");
}

macro_rules! protocol_tests {
    ($module:ident, $kind:expr) => {
        mod $module {
            use super::*;
            #[test]
            fn request_reply() {
                super::request_reply($kind);
            }
            #[test]
            fn reply_before_receive_starts() {
                super::reply_before_receive_starts($kind);
            }
            #[test]
            fn wrong_correlation_is_ignored() {
                super::wrong_correlation_is_ignored($kind);
            }
            #[test]
            fn no_reply_times_out() {
                super::no_reply_times_out($kind);
            }
            #[test]
            fn rejected_reply_fails_criteria() {
                super::rejected_reply_fails_criteria($kind);
            }
        }
    };
}

protocol_tests!(mqtt5, Kind::Mqtt5);
protocol_tests!(mqtt311, Kind::Mqtt311);
protocol_tests!(amqp, Kind::Amqp);
protocol_tests!(nats, Kind::Nats);
protocol_tests!(kafka, Kind::Kafka);

/// A batch (`--each`): every line sends its own request and receives its own
/// reply (by correlation id), all on one MQTT broker at once; the report has a
/// line per input, in order, and the JUnit file a test case per step.
#[test]
fn a_batch_of_lines_each_gets_its_own_reply() {
    let case = Case::new(Kind::Mqtt5);
    let responder = case.responder(Answer::WrongThenRight);
    let path = case.ws.write(
        "flow.arazzo.yaml",
        &workflow(Kind::Mqtt5, 10_000, "", "", ""),
    );
    let lines: String = (0..40)
        .map(|i| format!("{{\"orderId\": \"o{i}\", \"cid\": \"cid-{i}\"}}\n"))
        .collect();
    let each = case.ws.write("lines.jsonl", &lines);
    let junit = case.ws.path("junit.xml");
    let out = exec(
        arazzo()
            .args(["run", "order", "-o", "json", "--concurrency", "8", "-f"])
            .arg(&path)
            .arg("--each")
            .arg(&each)
            .arg("--junit")
            .arg(&junit),
    );
    out.assert_code(0);
    let got = responder.wait_requests(40, Duration::from_secs(10));
    assert_eq!(got.len(), 40);
    let text = out.stdout.clone();
    for i in 0..40 {
        assert!(text.contains(&format!("\"o{i}\"")), "line {i}: {text}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("answer"), "{xml}");
    assert!(!xml.contains("<failure"), "{xml}");
}

/// `arazzo mcp` serves a workflow with message steps as a tool: a call sends the
/// request and returns the received reply's outputs; the tool's hints say it is not
/// read-only (it publishes) nor idempotent.
#[test]
fn an_mcp_tool_runs_a_message_workflow() {
    use support::mcp_stdio::{call, connect_stdio, text_of};
    let case = Case::new(Kind::Nats);
    let responder = case.responder(Answer::Confirm);
    let path = case.ws.write(
        "flow.arazzo.yaml",
        &workflow(Kind::Nats, 10_000, "", "", ""),
    );
    let mut cmd = support::cli::arazzo_std();
    cmd.arg("mcp").arg(&path);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (text, hints) = rt.block_on(async {
        let (client, _stderr) = connect_stdio(cmd).await;
        let tools = client.list_all_tools().await.unwrap();
        let tool = tools.iter().find(|t| t.name == "order").expect("served");
        let hints = serde_json::to_value(&tool.annotations).unwrap();
        let r = call(
            &client,
            "order",
            serde_json::json!({"orderId": "o9", "cid": "mcp-1"}),
        )
        .await;
        assert_ne!(r.is_error, Some(true), "{}", text_of(&r));
        let text = serde_json::to_string(&r).unwrap();
        client.cancel().await.unwrap();
        (text, hints)
    });
    assert!(text.contains("confirmed"), "{text}");
    assert_eq!(responder.requests().len(), 1);
    assert_eq!(hints["readOnlyHint"], false, "{hints}");
    assert_eq!(hints["idempotentHint"], false, "{hints}");
}

/// An AsyncAPI 2.6 description, in JSON, whose messages are `$ref`s into another
/// file: operations found by the `operationId` of a channel's `publish` and
/// `subscribe`, the channel key as the address with its parameter, the server's
/// `url` without a scheme; the same request/reply works.
#[test]
fn an_asyncapi_2_6_json_description_with_external_refs() {
    let case = Case::new(Kind::Nats);
    let url = Kind::Nats.url();
    let description = serde_json::json!({
        "asyncapi": "2.6.0",
        "info": {"title": "orders", "version": "1"},
        "servers": {"broker": {"url": format!("{}:{{port}}", url.host_str().unwrap()), "protocol": "nats",
            "variables": {"port": {"default": url.port().unwrap().to_string()}}}},
        "channels": {
            case.requests.clone(): {"subscribe": {"operationId": "placeOrder", "message": {"$ref": "./messages.yaml#/Request"}}},
            case.replies.clone(): {
                "parameters": {"orderId": {"schema": {"type": "string"}}},
                "publish": {"operationId": "orderReply", "message": {"$ref": "./messages.yaml#/Reply"}}
            }
        }
    });
    case.ws.write(
        "events.asyncapi.yaml",
        &serde_json::to_string_pretty(&description).unwrap(),
    );
    case.ws.write(
        "messages.yaml",
        "Request:\n  contentType: application/json\n  correlationId: {location: '$message.header#/correlationId'}\n  payload: {type: object, required: [orderId]}\nReply:\n  contentType: application/json\n  correlationId: {location: '$message.header#/correlationId'}\n  payload: {type: object}\n",
    );
    let _responder = case.responder(Answer::WrongThenRight);
    let out = case.run(&workflow(Kind::Nats, 10_000, "", "", ""), "v2-1");
    out.assert_code(0);
    assert_eq!(
        out.json()["outputs"]["status"],
        "confirmed",
        "{}",
        out.context()
    );
}
