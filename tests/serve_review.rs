//! Review of `arazzo serve` (issue 20): each test is one bug found by
//! attacking the server through the binary, named for the behaviour expected.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};
use support::composio::StandIn;
use support::served::{Served as Server, Setup};
use support::{http_full, HttpResponse};

const KEY: &str = "sk_live_Review42-secret-KEY";
const TOKEN: &str = "tok_review_9c1e5b2d46807f3a";

/// How a test server is started.
struct Options<'a> {
    /// `ARAZZO_INPUT_API_KEY` set to [`KEY`] (the operator's key).
    operator_key: bool,
    /// The text of the token file (`None`: no `--token-file`).
    tokens: Option<&'a str>,
    args: &'a [&'a str],
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            operator_key: true,
            tokens: Some("# team a\ntok_review_9c1e5b2d46807f3a\n"),
            args: &[],
        }
    }
}

impl Server {
    fn start(api: &StandIn, args: &[&str]) -> Server {
        Server::with(
            api,
            Options {
                args,
                ..Options::default()
            },
        )
    }

    fn with(api: &StandIn, options: Options) -> Server {
        Server::launch(Setup {
            subcommand: "serve",
            api: &api.base_url(),
            key: options.operator_key.then_some(KEY),
            tokens: options.tokens,
            token: Some(TOKEN),
            args: options.args,
        })
    }
}

const RUNS: &str = "/workflows/provision-mcp-server/runs";

fn provision_inputs(user: &str) -> Value {
    json!({
        "toolkitSlug": "linear",
        "authType": "use_composio_managed_auth",
        "serverName": "Linear Bot",
        "userId": user,
    })
}

fn body_json(r: &HttpResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

/// A run's secret inputs are masked in that run's answers; they must not
/// become masks in every later answer to every other caller (nor pile up in
/// the server's memory for as long as it runs).
#[test]
fn a_callers_secret_input_is_not_masked_in_other_callers_answers() {
    let api = StandIn::start(KEY);
    // No operator key: each caller brings their own `apiKey` (a secret input).
    let server = Server::with(
        &api,
        Options {
            operator_key: false,
            ..Options::default()
        },
    );
    // Caller one: a wrong key that happens to be a word of every report.
    let mut body = provision_inputs("one");
    body["apiKey"] = json!("succeeded");
    let r = server.call("POST", RUNS, Some(&body.to_string()));
    assert_eq!(r.status, 424, "{r:?}");

    // Caller two, with the right key: the run succeeds, and the report says so.
    let mut body = provision_inputs("two");
    body["apiKey"] = json!(KEY);
    let r = server.call("POST", RUNS, Some(&body.to_string()));
    assert_eq!(r.status, 200, "{r:?}");
    let report = body_json(&r);
    assert_eq!(
        report["status"], "succeeded",
        "caller one's secret masks caller two's report: {report}"
    );
    assert_eq!(report["steps"][0]["status"], "succeeded", "{report}");
}

/// A `tools/call` holds its run slot for as long as the run goes on, not
/// only while its HTTP answer is open: a client that goes away must not free
/// the slot of a run that keeps sending requests.
#[test]
fn an_mcp_tool_call_whose_client_left_keeps_its_run_slot() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &["--max-concurrent-runs", "1"]);
    let session = server.mcp_session();
    api.hold_next("POST", "/api/v3/auth_configs", Duration::from_secs(4));
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "provision-mcp-server", "arguments": provision_inputs("gone")}})
    .to_string();
    let mut stream = TcpStream::connect(server.authority()).unwrap();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n\
         Mcp-Session-Id: {session}\r\nContent-Length: {}\r\n\r\n{call}",
        server.authority(),
        call.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    support::cli::wait_until("the tool call reaches the API", || {
        !api.requests().is_empty()
    });
    // The client gives up; the run goes on.
    drop(stream);
    std::thread::sleep(Duration::from_millis(300));
    let r = server.call_with(
        "POST",
        RUNS,
        &[("Prefer", "respond-async")],
        Some(&provision_inputs("second").to_string()),
    );
    assert_eq!(
        r.status, 429,
        "a second run started while the first still runs: {r:?}"
    );
}

/// The inputs the operator fills in stay with the server (runner.rs: "treated
/// as secrets ... masked in every answer"): a run report must not echo them
/// back to the caller in its `inputs`.
#[test]
fn operator_inputs_are_not_echoed_in_run_reports() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &["-i", "serverName=ops-internal-bot-7731"]);
    let mut body = provision_inputs("op");
    body.as_object_mut().unwrap().remove("serverName");
    let r = server.call("POST", RUNS, Some(&body.to_string()));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        !r.body.contains("ops-internal-bot-7731"),
        "the operator's input is in the answer: {}",
        r.body
    );
}

/// OpenAPI 3.1: "The id MUST be unique among all operations described in the
/// API." Workflow ids that differ only in punctuation (`list-a`, `list_a`)
/// must not share an operationId.
#[test]
fn openapi_operation_ids_are_unique() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("workflows/list-mcp-instances.arazzo.yaml"),
    )
    .unwrap();
    let openapi = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("openapi/composio-openapi-original.json");
    let source = source.replace(
        "../openapi/composio-openapi-original.json",
        &openapi.to_string_lossy(),
    );
    let (head, workflow) = source.split_once("workflows:\n").unwrap();
    let doc = format!(
        "{head}workflows:\n{}{}",
        workflow.replacen("workflowId: list-mcp-instances", "workflowId: list-a", 1),
        workflow.replacen("workflowId: list-mcp-instances", "workflowId: list_a", 1),
    );
    let path = dir.path().join("two.arazzo.yaml");
    std::fs::write(&path, doc).unwrap();
    let server = Server::start(&api, &[&path.to_string_lossy()]);
    let doc = body_json(&server.call("GET", "/openapi.json", None));
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all, "duplicate operationIds: {ids:?}");
}

/// MCP transport: a request with a session id the server does not know is
/// answered 404; a DELETE must not claim (204) to have ended a session that
/// never existed.
#[test]
fn deleting_an_unknown_mcp_session_is_404() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &[]);
    let r = server.call_with(
        "DELETE",
        "/mcp",
        &[("Mcp-Session-Id", "no-such-session")],
        None,
    );
    assert_eq!(r.status, 404, "{r:?}");
}

/// A token file saved by an editor that writes a UTF-8 byte order mark
/// (Windows Notepad) must still open with its first token: the BOM is not part
/// of it.
#[test]
fn a_token_file_with_a_byte_order_mark_opens_with_its_first_token() {
    let api = StandIn::start(KEY);
    let server = Server::with(
        &api,
        Options {
            tokens: Some("\u{feff}tok_review_9c1e5b2d46807f3a\r\n"),
            ..Options::default()
        },
    );
    let r = server.call("GET", "/workflows", None);
    assert_eq!(r.status, 200, "{r:?}");
}

/// README: the access log's `outcome` is `refused:inputs` for a run refused
/// for its inputs; a body that is not a JSON object is such a refusal (422,
/// "Invalid inputs").
#[test]
fn a_run_refused_for_a_non_object_body_is_logged_as_refused_inputs() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &[]);
    let r = server.call("POST", RUNS, Some("[1, 2]"));
    assert_eq!(r.status, 422, "{r:?}");
    let lines = server.access_lines(1);
    let line = lines
        .iter()
        .find(|l| l.contains(&format!("POST {RUNS} 422")))
        .unwrap_or_else(|| panic!("no access line: {lines:#?}"));
    assert!(line.contains("outcome=refused:inputs"), "{line}");
}

/// The description says what each path answers; `/healthz` is behind the Host
/// and Origin checks like every path, so its 403 belongs in it.
#[test]
fn openapi_describes_the_403_of_healthz() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &[]);
    let r = http_full(
        "GET",
        &server.url("/healthz"),
        &[("Origin", "https://evil.example")],
        None,
    );
    assert_eq!(r.status, 403, "{r:?}");
    let doc = body_json(&server.call("GET", "/openapi.json", None));
    let responses = &doc["paths"]["/healthz"]["get"]["responses"];
    assert!(responses.get("403").is_some(), "{responses}");
}

/// JSON-RPC 2.0: "The Server MUST NOT reply to a Notification"; the MCP
/// transport answers a notification it accepts 202 without a body and one it
/// cannot accept with an HTTP error status. A notification with bad params
/// must not get a 200 carrying an error response with `"id": null`.
#[test]
fn a_notification_with_bad_params_gets_no_json_rpc_reply() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &[]);
    let session = server.mcp_session();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized", "params": [1]});
    let r = server.mcp_post(&session, &note.to_string());
    assert!(
        r.status == 202 || (400..500).contains(&r.status),
        "a notification was answered {}: {r:?}",
        r.status
    );
    assert!(
        !r.body.contains("\"jsonrpc\""),
        "a notification got a JSON-RPC reply: {r:?}"
    );
}
