//! Message steps over WebSocket, through the binary, against a WebSocket server of
//! our own (tests/support/brokers/ws_server.rs) that answers on the socket itself:
//! a send and a receive on one channel share one socket, opened before the
//! workflow's first step. The same cases as the brokers (tests/messages_e2e.rs),
//! and credentials from the environment on the handshake, never shown.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::brokers::ws_server::{confirm_orders, Frame, WsServer};
use support::cli::{arazzo, exec, Out};
use support::echo::{Echo, Reply};
use support::workspace::Workspace;

fn asyncapi(port: u16, secured: bool) -> String {
    let security = if secured {
        ", security: [{$ref: '#/components/securitySchemes/login'}]"
    } else {
        ""
    };
    format!(
        r#"asyncapi: 3.0.0
info: {{title: orders, version: '1'}}
servers:
  socket: {{host: '127.0.0.1:{port}', protocol: ws{security}}}
channels:
  orders:
    address: /orders
    messages:
      request: {{$ref: '#/components/messages/Order'}}
operations:
  placeOrder:
    action: receive
    channel: {{$ref: '#/channels/orders'}}
  orderReply:
    action: send
    channel: {{$ref: '#/channels/orders'}}
components:
  securitySchemes:
    login: {{type: userPassword}}
  messages:
    Order:
      contentType: application/json
      correlationId: {{location: '$message.payload#/correlationId'}}
      payload: {{type: object}}
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

fn workflow(timeout_ms: u64, between: &str, on_failure: &str) -> String {
    format!(
        r#"arazzo: 1.1.0
info: {{title: ws, version: '1'}}
sourceDescriptions:
  - {{name: events, url: ./events.asyncapi.yaml, type: asyncapi}}
  - {{name: api, url: ./api.yaml, type: openapi}}
workflows:
  - workflowId: order
    inputs: {{type: object, properties: {{cid: {{type: string}}}}}}
    steps:
      - stepId: ask
        operationId: placeOrder
        action: send
        requestBody:
          payload: {{orderId: o1, correlationId: $inputs.cid}}
{between}      - stepId: answer
        operationId: orderReply
        action: receive
        correlationId: $inputs.cid
        timeout: {timeout_ms}
        successCriteria:
          - condition: $message.payload#/status == 'confirmed'
        outputs:
          status: $message.payload#/status
{on_failure}    outputs:
      status: $steps.answer.outputs.status
"#
    )
}

struct Case {
    ws: Workspace,
    echo: Echo,
}

impl Case {
    fn new(server: &WsServer, secured: bool) -> Case {
        let ws = Workspace::new();
        let port = server.endpoint().url.port().unwrap();
        ws.write("events.asyncapi.yaml", &asyncapi(port, secured));
        ws.write("api.yaml", API);
        Case {
            ws,
            echo: Echo::start(),
        }
    }

    fn run(&self, doc: &str, cid: &str, env: &[(&str, &str)]) -> Out {
        let path = self.ws.write("flow.arazzo.yaml", doc);
        let mut cmd = arazzo();
        cmd.args(["run", "order", "-o", "json", "-vv", "-f"])
            .arg(&path)
            .arg("-i")
            .arg(format!("cid={cid}"))
            .args(["--server", &format!("api={}", self.echo.base_url())])
            .arg("--trace")
            .arg(self.ws.path("trace.json"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        exec(&mut cmd)
    }
}

#[test]
fn request_reply_on_one_socket() {
    let server = WsServer::builder()
        .respond(confirm_orders("confirmed"))
        .start();
    let case = Case::new(&server, false);
    let out = case.run(&workflow(5_000, "", ""), "c-1", &[]);
    out.assert_code(0);
    assert_eq!(
        out.json()["outputs"]["status"],
        "confirmed",
        "{}",
        out.context()
    );
    let got = server.wait_received(1, Duration::from_secs(5));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/orders");
    assert_eq!(got[0].json()["correlationId"], "c-1");
    // One socket for the send and the receive.
    assert_eq!(server.handshakes().len(), 1, "{:?}", server.handshakes());
    let report = out.json();
    assert_eq!(
        report["steps"][1]["url"],
        format!("{}orders", server.endpoint().url)
    );
}

#[test]
fn a_reply_before_the_receive_step_starts_is_kept() {
    let server = WsServer::builder()
        .respond(confirm_orders("confirmed"))
        .start();
    let case = Case::new(&server, false);
    case.echo.reply_on(
        "/items/slow",
        Reply::json(200, &serde_json::json!({})).after(Duration::from_millis(800)),
    );
    let slow = "      - stepId: slow\n        operationId: getItem\n        parameters: [{name: id, in: path, value: slow}]\n";
    let out = case.run(&workflow(2_000, slow, ""), "c-2", &[]);
    out.assert_code(0);
    assert_eq!(
        out.json()["outputs"]["status"],
        "confirmed",
        "{}",
        out.context()
    );
}

#[test]
fn a_frame_with_another_correlation_id_is_ignored() {
    let server = WsServer::builder()
        .unsolicited(Frame::text(
            r#"{"correlationId":"someone-else","status":"not-yours"}"#,
        ))
        .respond(confirm_orders("confirmed"))
        .start();
    let case = Case::new(&server, false);
    let out = case.run(&workflow(5_000, "", ""), "c-3", &[]);
    out.assert_code(0);
    assert_eq!(
        out.json()["outputs"]["status"],
        "confirmed",
        "{}",
        out.context()
    );
}

#[test]
fn no_reply_times_out_and_on_failure_runs() {
    let server = WsServer::builder().start();
    let case = Case::new(&server, false);
    let out = case.run(&workflow(600, "", ""), "c-4", &[]);
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "timeout", "{report}");
    // A goto in onFailure runs: the workflow goes on to the fallback step. (A retry
    // could not: the step's timeout covers its retries too.)
    let on_failure = "        onFailure:\n          - {name: fallback, type: goto, stepId: fallback}\n      - stepId: fallback\n        operationId: getItem\n        parameters: [{name: id, in: path, value: fallback}]\n        onSuccess:\n          - {name: done, type: end}\n";
    let out = case.run(&workflow(400, "", on_failure), "c-5", &[]);
    let report = out.json();
    assert_eq!(report["steps"][1]["status"], "failed", "{report}");
    assert_eq!(report["steps"][2]["stepId"], "fallback", "{report}");
    assert!(
        case.echo
            .api_requests()
            .iter()
            .any(|r| r.path == "/items/fallback"),
        "{}",
        out.context()
    );
}

#[test]
fn credentials_go_on_the_handshake_and_never_show() {
    let password = "ws-pass-5e9d1c";
    let server = WsServer::builder()
        .basic_auth("orders-bot", password)
        .respond(confirm_orders("confirmed"))
        .start();
    let case = Case::new(&server, true);
    let env = [
        ("ARAZZO_AUTH_EVENTS_LOGIN_USERNAME", "orders-bot"),
        ("ARAZZO_AUTH_EVENTS_LOGIN_PASSWORD", password),
    ];
    let out = case.run(&workflow(5_000, "", ""), "c-6", &env);
    out.assert_code(0);
    let shakes = server.handshakes();
    assert!(shakes[0]
        .authorization
        .as_deref()
        .unwrap_or("")
        .starts_with("Basic "));
    let trace = std::fs::read_to_string(case.ws.path("trace.json")).unwrap();
    for text in [out.stdout.as_str(), out.stderr.as_str(), trace.as_str()] {
        assert!(!text.contains(password), "{text}");
    }
    // Without them the server refuses the handshake: a transport failure naming it.
    let out = case.run(&workflow(5_000, "", ""), "c-7", &[]);
    out.assert_code(1);
    let report: Value = out.json();
    assert_eq!(report["error"]["kind"], "transport", "{report}");
}
