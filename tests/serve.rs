//! `arazzo serve` through the binary: the REST API against the Composio
//! stand-in, and every guard of the listener (tokens, exposure, Origin, size,
//! run slots, JSON-RPC errors, session DELETE, access log), each checked by
//! what a client sees and what the API received.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::composio::StandIn;
use support::served::{Served as Server, Setup};
use support::{http_full, HttpResponse};

const KEY: &str = "sk_live_Serve42-secret-KEY";
const TOKEN: &str = "tok_serve_7f3a9c1e5b2d4680";
const OTHER_TOKEN: &str = "tok_second_team_0b8e4d2a";

fn command(sub: &str, api: &StandIn, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_arazzo"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ARAZZO_") || k == "RUST_LOG" || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    cmd.env("ARAZZO_INPUT_API_KEY", KEY);
    cmd.arg(sub)
        .arg("--server")
        .arg(format!("composioApi={}", api.base_url()))
        .args(args);
    cmd
}

impl Server {
    /// `arazzo serve` with the token file and `args`.
    fn start(api: &StandIn, args: &[&str]) -> Server {
        Server::start_as("serve", api, args, true)
    }

    /// `arazzo SUB --http`, with the token file holding both tokens (and a
    /// comment) when `tokens`; requests carry [`TOKEN`].
    fn start_as(sub: &str, api: &StandIn, args: &[&str], tokens: bool) -> Server {
        let text = format!("# team a\n{TOKEN}\n\n{OTHER_TOKEN}\n");
        Server::launch(Setup {
            subcommand: sub,
            api: &api.base_url(),
            key: Some(KEY),
            tokens: tokens.then_some(text.as_str()),
            token: Some(TOKEN),
            args,
        })
    }
}

fn provision_body(user: &str) -> String {
    json!({
        "toolkitSlug": "linear",
        "authType": "use_composio_managed_auth",
        "serverName": "Linear Bot",
        "userId": user,
    })
    .to_string()
}

fn body_json(r: &HttpResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

fn assert_secret_free(what: &str, text: &str) {
    for secret in [KEY, TOKEN, OTHER_TOKEN] {
        assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
    }
}

#[test]
fn a_rest_run_provisions_and_the_key_stays_server_side() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &[]);

    // The catalogue: the key is the server's input, not the caller's.
    let list = server.call("GET", "/workflows", None);
    assert_eq!(list.status, 200, "{list:?}");
    let list = body_json(&list);
    let provision = list["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["workflowId"] == "provision-mcp-server")
        .expect("provision-mcp-server is listed")
        .clone();
    assert!(provision["inputs"]["properties"].get("apiKey").is_none());
    assert!(provision["inputs"]["properties"].get("userId").is_some());
    assert_eq!(provision["serverInputs"], json!(["apiKey"]));
    assert_eq!(provision["hints"]["readOnly"], false);
    assert_eq!(
        provision["links"]["runs"],
        "/workflows/provision-mcp-server/runs"
    );
    let one = server.call("GET", "/workflows/provision-mcp-server", None);
    assert_eq!(body_json(&one), provision);

    let run = server.call(
        "POST",
        "/workflows/provision-mcp-server/runs",
        Some(&provision_body("alice")),
    );
    assert_eq!(run.status, 200, "{run:?}");
    let report = body_json(&run);
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["outputs"]["instanceId"], "alice");
    assert_eq!(report["steps"].as_array().unwrap().len(), 4);
    let run_id = report["runId"].as_str().unwrap().to_string();
    assert_eq!(
        run.header("content-location"),
        Some(&*format!("/runs/{run_id}"))
    );
    // The same report can be read again.
    let again = server.call("GET", &format!("/runs/{run_id}"), None);
    assert_eq!(body_json(&again), report);

    // The API got the key from the server, on every request.
    let requests = api.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests.iter().all(|r| r.header("x-api-key") == Some(KEY)));
    assert_eq!(api.state().instances.len(), 1);

    let lines = server.access_lines(4);
    let line = lines
        .iter()
        .find(|l| l.contains("POST /workflows/provision-mcp-server/runs"))
        .unwrap_or_else(|| panic!("no access line for the run:\n{}", server.stderr()));
    assert!(line.starts_with("access: 127.0.0.1 POST "), "{line}");
    assert!(line.contains(" 200 "), "{line}");
    assert!(line.contains("workflow=provision-mcp-server"), "{line}");
    assert!(line.contains("outcome=succeeded"), "{line}");
    assert!(line.split_whitespace().any(|w| w.ends_with("ms")), "{line}");
    assert_secret_free("a response", &format!("{run:?}{list}"));
    assert_secret_free("the server's stderr", &server.stderr());
}

#[test]
fn refused_and_failed_runs_have_their_statuses() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &[]);
    let runs = "/workflows/provision-mcp-server/runs";

    // Missing inputs: 422, nothing sent.
    let r = server.call("POST", runs, Some(r#"{"toolkitSlug": "linear"}"#));
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let p = body_json(&r);
    assert_eq!(p["kind"], "inputs");
    assert!(p["detail"].as_str().unwrap().contains("userId"), "{p}");
    // An input the server fills in cannot be given.
    let mut body: Value = serde_json::from_str(&provision_body("x")).unwrap();
    body["apiKey"] = json!("sk_attacker");
    let r = server.call("POST", runs, Some(&body.to_string()));
    assert_eq!(r.status, 422, "{r:?}");
    assert!(body_json(&r)["detail"].as_str().unwrap().contains("apiKey"));
    // Not an object, not JSON, not declared as JSON.
    assert_eq!(server.call("POST", runs, Some("[1, 2]")).status, 422);
    let r = server.call("POST", runs, Some("{\"toolkitSlug\": "));
    assert_eq!(r.status, 400, "{r:?}");
    let r = server.call_with("POST", runs, &[("Content-Type", "text/plain")], Some("{}"));
    assert_eq!(r.status, 415, "{r:?}");
    // Unknown workflow.
    let r = server.call("POST", "/workflows/nope/runs", Some("{}"));
    assert_eq!(r.status, 404, "{r:?}");
    assert!(body_json(&r)["detail"]
        .as_str()
        .unwrap()
        .contains("provision-mcp-server"));
    assert!(api.requests().is_empty(), "a refused run sent requests");

    // The API fails at the second step: 424 with the report.
    api.fail_next("/api/v3/mcp/servers", 500, json!({"error": "boom"}));
    let r = server.call("POST", runs, Some(&provision_body("bob")));
    assert_eq!(r.status, 424, "{r:?}");
    let report = body_json(&r);
    assert_eq!(report["status"], "failed");
    assert_eq!(report["error"]["stepId"], "createServer");
    assert!(report["outputs"]["authConfigId"].as_str().is_some());
    assert_secret_free("the failed report", &r.body);
    assert_secret_free("the server's stderr", &server.stderr());
}

#[test]
fn an_asynchronous_run_is_polled_to_its_end() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &[]);
    api.hold_next("POST", "/api/v3/mcp/servers", Duration::from_millis(800));
    let r = server.call_with(
        "POST",
        "/workflows/provision-mcp-server/runs",
        &[("Prefer", "respond-async")],
        Some(&provision_body("carol")),
    );
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.header("preference-applied"), Some("respond-async"));
    let location = r.header("location").unwrap().to_string();
    let accepted = body_json(&r);
    assert_eq!(accepted["status"], "running");
    assert_eq!(
        location,
        format!("/runs/{}", accepted["runId"].as_str().unwrap())
    );

    let first = body_json(&server.call("GET", &location, None));
    assert_eq!(first["status"], "running", "{first}");
    let started = Instant::now();
    let done = loop {
        let v = body_json(&server.call("GET", &location, None));
        if v["status"] != "running" {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outputs"]["instanceId"], "carol");
    assert_eq!(done["runId"], accepted["runId"]);
    assert_eq!(server.call("GET", "/runs/0123", None).status, 404);

    // Inputs are still checked before the 202.
    let r = server.call_with(
        "POST",
        "/workflows/provision-mcp-server/runs",
        &[("Prefer", "respond-async")],
        Some("{}"),
    );
    assert_eq!(r.status, 422, "{r:?}");
}

#[test]
fn tokens_guard_rest_and_mcp_but_not_healthz() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &[]);
    for path in ["/workflows", "/openapi.json", "/runs/x"] {
        let r = http_full("GET", &server.url(path), &[], None);
        assert_eq!(r.status, 401, "{path}: {r:?}");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer realm="arazzo""#)
        );
        let wrong = http_full(
            "GET",
            &server.url(path),
            &[("Authorization", "Bearer tok_serve_7f3a9c1e5b2d4681")],
            None,
        );
        assert_eq!(wrong.status, 401, "{path}: {wrong:?}");
        assert!(wrong
            .header("www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#));
    }
    let r = http_full(
        "POST",
        &server.url("/workflows/provision-mcp-server/runs"),
        &[],
        Some("{}"),
    );
    assert_eq!(r.status, 401);
    let r = http_full(
        "POST",
        &server.url("/mcp"),
        &[("Accept", "application/json, text/event-stream")],
        Some(&initialize()),
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert!(api.requests().is_empty());

    // Either token of the file opens; the scheme is case-insensitive.
    let other = format!("bearer {OTHER_TOKEN}");
    let r = http_full(
        "GET",
        &server.url("/workflows"),
        &[("Authorization", &other)],
        None,
    );
    assert_eq!(r.status, 200);
    let health = http_full("GET", &server.url("/healthz"), &[], None);
    assert_eq!(
        (health.status, body_json(&health)),
        (200, json!({"status": "ok"}))
    );

    // The description says a token is needed, and where.
    let doc = body_json(&server.call("GET", "/openapi.json", None));
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([]));
    let run = &doc["paths"]["/workflows/provision-mcp-server/runs"]["post"];
    let schema = &run["requestBody"]["content"]["application/json"]["schema"];
    assert!(schema["properties"].get("userId").is_some(), "{schema}");
    assert!(schema["properties"].get("apiKey").is_none(), "{schema}");
    for status in ["200", "202", "401", "422", "424", "429"] {
        assert!(
            run["responses"].get(status).is_some(),
            "{status} undocumented"
        );
    }
    assert_secret_free("the server's stderr", &server.stderr());
}

#[test]
fn listening_beyond_loopback_needs_a_token_or_an_explicit_flag() {
    let api = StandIn::start(KEY);
    let out = command("serve", &api, &["--http", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--token-file"), "{stderr}");
    assert!(stderr.contains("--allow-unauthenticated"), "{stderr}");
    // Also for arazzo mcp --http.
    let out = command("mcp", &api, &["--http", "0.0.0.0:0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // Said explicitly, it listens.
    let dir = tempfile::tempdir().unwrap();
    let mut child = command(
        "serve",
        &api,
        &["--http", "0.0.0.0:0", "--allow-unauthenticated"],
    )
    .stdin(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut first = String::new();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    while !first.contains("listening on") {
        first.clear();
        if reader.read_line(&mut first).unwrap() == 0 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("listening on http://0.0.0.0:"), "{first}");
    drop(dir);

    // A token file with no token, and an origin that is not one.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "# nothing yet\n\n").unwrap();
    let out = command("serve", &api, &["--token-file", &empty.to_string_lossy()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no token"));
    let out = command("serve", &api, &["--allow-origin", "https://x.example/path"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Over stdio, listener flags are refused rather than ignored.
    let out = command("mcp", &api, &["--allow-origin", "https://x.example"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(api.requests().is_empty());
}

#[test]
fn foreign_origins_are_refused() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &["--allow-origin", "https://console.example.com"]);
    let evil = [("Origin", "https://evil.example")];
    let r = server.call_with("GET", "/workflows", &evil, None);
    assert_eq!(r.status, 403, "{r:?}");
    let mcp_headers = [
        ("Origin", "https://evil.example"),
        ("Accept", "application/json, text/event-stream"),
    ];
    let r = server.call_with("POST", "/mcp", &mcp_headers, Some(&initialize()));
    assert_eq!(r.status, 403, "{r:?}");
    let r = server.call_with(
        "POST",
        "/workflows/provision-mcp-server/runs",
        &evil,
        Some(&provision_body("eve")),
    );
    assert_eq!(r.status, 403);
    assert!(
        api.requests().is_empty(),
        "a refused origin ran the workflow"
    );
    for ok in [
        "http://localhost:6274",
        "https://console.example.com",
        "http://127.0.0.1:3000",
    ] {
        let r = server.call_with("GET", "/workflows", &[("Origin", ok)], None);
        assert_eq!(r.status, 200, "{ok}: {r:?}");
    }
    // A Host header the server does not answer for (DNS rebinding).
    let r = server.call_with("GET", "/workflows", &[("Host", "evil.example")], None);
    assert_eq!(r.status, 403);
}

#[test]
fn oversized_bodies_are_refused() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &["--max-request-size", "2KiB"]);
    let big = json!({"userId": "x".repeat(4096)}).to_string();
    let r = server.call("POST", "/workflows/provision-mcp-server/runs", Some(&big));
    assert_eq!(r.status, 413, "{r:?}");
    assert!(body_json(&r)["detail"].as_str().unwrap().contains("2048"));
    let r = server.call_with(
        "POST",
        "/mcp",
        &[("Accept", "application/json, text/event-stream")],
        Some(&big),
    );
    assert_eq!(r.status, 413, "{r:?}");
    // Under the limit, it runs.
    let r = server.call(
        "POST",
        "/workflows/provision-mcp-server/runs",
        Some(&provision_body("f")),
    );
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn runs_beyond_the_limit_are_answered_429() {
    let api = StandIn::start(KEY);
    let server = Arc::new(Server::start(&api, &["--max-concurrent-runs", "1"]));
    api.hold_next("POST", "/api/v3/auth_configs", Duration::from_secs(2));
    let held = {
        let server = Arc::clone(&server);
        std::thread::spawn(move || {
            server.call(
                "POST",
                "/workflows/provision-mcp-server/runs",
                Some(&provision_body("g")),
            )
        })
    };
    support::cli::wait_until("the first run reaches the API", || {
        !api.requests().is_empty()
    });
    let r = server.call(
        "POST",
        "/workflows/provision-mcp-server/runs",
        Some(&provision_body("h")),
    );
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("1"));
    // An MCP tool call takes a slot too.
    let session = Mcp::open(&server);
    let r = session.post(&tool_call(
        9,
        "list-mcp-instances",
        json!({"serverId": "s"}),
    ));
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(body_json(&r)["id"], 9);

    let first = held.join().unwrap();
    assert_eq!(first.status, 200, "{first:?}");
    // The slot is free again.
    let r = server.call(
        "POST",
        "/workflows/provision-mcp-server/runs",
        Some(&provision_body("i")),
    );
    assert_eq!(r.status, 200, "{r:?}");
}

fn initialize() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "serve-test", "version": "1"}}})
    .to_string()
}

fn tool_call(id: u64, name: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
    .to_string()
}

/// An MCP session over raw HTTP, to see the statuses and bodies themselves.
struct Mcp<'a> {
    server: &'a Server,
    session: String,
}

impl<'a> Mcp<'a> {
    fn open(server: &'a Server) -> Mcp<'a> {
        let accept = ("Accept", "application/json, text/event-stream");
        let r = server.call_with("POST", "/mcp", &[accept], Some(&initialize()));
        assert_eq!(r.status, 200, "{r:?}");
        let session = r
            .header("mcp-session-id")
            .expect("a session id")
            .to_string();
        let mcp = Mcp { server, session };
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
        assert_eq!(mcp.post(&note).status, 202);
        mcp
    }

    fn post(&self, body: &str) -> HttpResponse {
        self.server.call_with(
            "POST",
            "/mcp",
            &[
                ("Accept", "application/json, text/event-stream"),
                ("Mcp-Session-Id", &self.session),
            ],
            Some(body),
        )
    }
}

/// The JSON-RPC message of an answer, sent as JSON or as an event stream.
fn rpc_answer(r: &HttpResponse) -> Value {
    if r.header("content-type") == Some("text/event-stream") {
        let data = r
            .body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .find(|d| d.starts_with('{'))
            .unwrap_or_else(|| panic!("no message in the stream: {r:?}"));
        return serde_json::from_str(data).unwrap();
    }
    body_json(r)
}

#[test]
fn mcp_errors_have_their_json_rpc_codes_and_delete_answers_204() {
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &[]);
    let mcp = Mcp::open(&server);
    let cases = [
        ("{\"jsonrpc\": \"2.0\", ", 400, -32700),
        ("[]", 400, -32600),
        (
            r#"[{"jsonrpc":"2.0","id":2,"method":"tools/list"}]"#,
            400,
            -32600,
        ),
        (r#"{"jsonrpc":"2.0","id":2}"#, 400, -32600),
        (r#"{"id":2,"method":"tools/list"}"#, 400, -32600),
    ];
    for (body, status, code) in cases {
        let r = mcp.post(body);
        assert_eq!(r.status, status, "{body}: {r:?}");
        let v = body_json(&r);
        assert_eq!(v["error"]["code"], code, "{body}: {v}");
        assert_eq!(v["id"], Value::Null);
    }
    for params in [
        json!({"name": "list-mcp-instances", "arguments": [1, 2]}),
        json!({"arguments": {}}),
        json!({"name": 5}),
    ] {
        let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params});
        let v = rpc_answer(&mcp.post(&body.to_string()));
        assert_eq!(v["error"]["code"], -32602, "{params}: {v}");
        assert_eq!(v["id"], 3);
    }
    let v = rpc_answer(&mcp.post(&tool_call(4, "no-such-tool", json!({}))));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert!(api.requests().is_empty());

    // A good call still works on the same session.
    let v = rpc_answer(&mcp.post(&tool_call(
        5,
        "provision-mcp-server",
        serde_json::from_str(&provision_body("mia")).unwrap(),
    )));
    assert_eq!(v["result"]["isError"], false, "{v}");
    assert_eq!(v["result"]["structuredContent"]["instanceId"], "mia");
    let lines = server.access_lines(12);
    assert!(
        lines.iter().any(|l| l.contains("POST /mcp 200")
            && l.contains("rpc=tools/call workflow=provision-mcp-server outcome=succeeded")),
        "{lines:#?}"
    );

    let r = server.call_with("DELETE", "/mcp", &[("Mcp-Session-Id", &mcp.session)], None);
    assert_eq!(r.status, 204, "{r:?}");
    assert_secret_free("the server's stderr", &server.stderr());
}

#[test]
fn arazzo_mcp_http_has_the_same_guards() {
    let api = StandIn::start(KEY);
    let server = Server::start_as("mcp", &api, &[], true);
    let r = http_full(
        "POST",
        &server.url("/mcp"),
        &[("Accept", "application/json, text/event-stream")],
        Some(&initialize()),
    );
    assert_eq!(r.status, 401);
    let mcp = Mcp::open(&server);
    let v = body_json(&mcp.post("not json"));
    assert_eq!(v["error"]["code"], -32700);
    // No REST API on arazzo mcp.
    assert_eq!(server.call("GET", "/workflows", None).status, 404);
    assert_eq!(server.call("GET", "/healthz", None).status, 200);
    let r = server.call_with("DELETE", "/mcp", &[("Mcp-Session-Id", &mcp.session)], None);
    assert_eq!(r.status, 204);
}

#[test]
fn a_signal_answers_the_run_in_flight_then_stops() {
    let api = StandIn::start(KEY);
    let server = Arc::new(Server::start(&api, &["--grace-period", "1"]));
    api.hold_next("POST", "/api/v3/mcp/servers", Duration::from_secs(30));
    let held = {
        let server = Arc::clone(&server);
        std::thread::spawn(move || {
            server.call(
                "POST",
                "/workflows/provision-mcp-server/runs",
                Some(&provision_body("sig")),
            )
        })
    };
    support::cli::wait_until("the run reaches its second step", || {
        api.requests().len() >= 2
    });
    support::send_signal(server.child.id(), "TERM");
    let r = held.join().unwrap();
    // The server's fault, not the caller's: 503, with what was done.
    assert_eq!(r.status, 503, "{r:?}");
    let report = body_json(&r);
    assert_eq!(report["status"], "interrupted", "{report}");
    assert_eq!(report["steps"][0]["status"], "succeeded");
    assert_eq!(report["steps"][1]["status"], "uncertain");
    let started = Instant::now();
    let mut server = Arc::try_unwrap(server).ok().unwrap();
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(143), "{}", server.stderr());
}

/// Reads what the server sends on `stream` until it closes the connection,
/// or `limit` passes (then `None`).
fn read_until_closed(mut stream: std::net::TcpStream, limit: Duration) -> Option<String> {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(String::from_utf8_lossy(&got).into_owned()),
        }
    }
    None
}

/// A client that sends half its headers, or half its body, and then nothing
/// does not hold its connection for ever: after 30 s the headers' connection
/// is closed and the body's request is answered 408, while other clients are
/// served all along.
#[test]
fn slow_clients_are_cut_off_after_thirty_seconds() {
    use std::io::Write;
    let api = StandIn::start(KEY);
    let server = Server::start(&api, &[]);
    let authority = server.base.trim_start_matches("http://").to_string();

    let mut headers = std::net::TcpStream::connect(&authority).unwrap();
    headers
        .write_all(b"GET /workflows HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let mut body = std::net::TcpStream::connect(&authority).unwrap();
    let head = format!(
        "POST /workflows/provision-mcp-server/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"userId\":"
    );
    body.write_all(head.as_bytes()).unwrap();

    // Meanwhile the server answers others.
    let list = server.call("GET", "/workflows", None);
    assert_eq!(list.status, 200, "{list:?}");

    let started = Instant::now();
    let waiting = std::thread::spawn(move || read_until_closed(headers, Duration::from_secs(60)));
    let answer = read_until_closed(body, Duration::from_secs(60))
        .expect("the request whose body stopped was never answered");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("urn:arazzo:problem:"), "{answer}");
    let closed = waiting.join().unwrap();
    assert!(
        closed.is_some(),
        "the connection whose headers stopped was never closed"
    );
    assert!(started.elapsed() >= Duration::from_secs(20));
    assert!(api.requests().is_empty(), "nothing was run");
}
