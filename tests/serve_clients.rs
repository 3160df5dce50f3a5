//! `arazzo serve` driven by real Python clients, against the Composio
//! stand-in: the official MCP Python SDK over streamable HTTP with a bearer
//! token, MCP Composer 0.2.1 as a gateway that registers the server as a
//! member, and schemathesis against the generated `/openapi.json`.
//!
//! The clients live in a venv that `.ci/run` installs from
//! tests/python/requirements.txt; without it these tests fail and say so.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::composio::StandIn;
use support::served::{Served as Server, Setup};
use support::SHIPPED_WORKFLOWS as SHIPPED;

const KEY: &str = "sk_live_PyClients42-secret-KEY";
const TOKEN: &str = "tok_py_clients_5d1e9a7c3b";
const OTHER_TOKEN: &str = "tok_py_second_8c2f6e0a4d";

/// The venv that `.ci/run` creates; the test fails (never skips) without it.
fn venv() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let venv = Path::new(&home).join(".cache/arazzo-test/python-venv");
    for tool in ["python", "mcp-composer", "schemathesis"] {
        let path = venv.join("bin").join(tool);
        assert!(
            path.exists(),
            "{} is missing: the Python clients of these tests are installed by .ci/run \
             (python3 -m venv {} && {}/bin/pip install --no-deps -r tests/python/requirements.txt)",
            path.display(),
            venv.display(),
            venv.display(),
        );
    }
    venv
}

fn script(name: &str) -> String {
    format!("{}/tests/python/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A finished child process.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn json(&self) -> Value {
        let last = self.stdout.lines().last().unwrap_or("");
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "the client printed no JSON ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
                self.code, self.stdout, self.stderr
            )
        })
    }
}

/// Runs `cmd` to its end, killed (and the test failed) after `limit`.
fn run(mut cmd: Command, limit: Duration) -> Finished {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let finished = Finished {
        code: status.and_then(|s| s.code()),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    assert!(
        status.is_some(),
        "{what} took more than {limit:?}\nstdout:\n{}\nstderr:\n{}",
        finished.stdout,
        finished.stderr
    );
    finished
}

/// `mcp_session.py URL CALLS` with the venv's Python; `token` as the bearer.
fn mcp_session(url: &str, token: Option<&str>, calls: Value) -> Finished {
    let mut cmd = Command::new(venv().join("bin/python"));
    cmd.arg(script("mcp_session.py"))
        .arg(url)
        .arg(calls.to_string())
        .env_remove("MCP_BEARER_TOKEN")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let Some(token) = token {
        cmd.env("MCP_BEARER_TOKEN", token);
    }
    run(cmd, Duration::from_secs(60))
}

impl Server {
    /// `arazzo serve` with both tokens in its token file.
    fn start(api: &StandIn) -> Server {
        let tokens = format!("{TOKEN}\n{OTHER_TOKEN}\n");
        Server::launch(Setup {
            subcommand: "serve",
            api: &api.base_url(),
            key: Some(KEY),
            tokens: Some(&tokens),
            token: Some(TOKEN),
            args: &[],
        })
    }

    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }
}

fn assert_key_free(what: &str, text: &str) {
    assert!(!text.contains(KEY), "{what} shows the API key:\n{text}");
}

fn provision_args(user: &str) -> Value {
    json!({
        "toolkitSlug": "linear",
        "authType": "use_composio_managed_auth",
        "serverName": "Linear Bot",
        "userId": user,
    })
}

fn tool_names(session: &Value) -> Vec<String> {
    let mut names: Vec<String> = session["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {session}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn the_mcp_python_sdk_lists_and_calls_tools_with_the_bearer_token() {
    let venv = venv();
    assert!(venv.join("bin/python").exists());
    let api = StandIn::start(KEY);
    let server = Server::start(&api);

    let done = mcp_session(
        &server.mcp_url(),
        Some(TOKEN),
        json!([
            {"name": "provision-mcp-server", "arguments": provision_args("py-alice")},
            {"name": "list-mcp-instances",
             "arguments": {"serverId": {"$output": [0, "serverId"]}}},
            // Refused by preflight: nothing is sent.
            {"name": "provision-mcp-server",
             "arguments": {"toolkitSlug": "linear", "authType": "use_composio_managed_auth",
                           "serverName": "ab", "userId": "py-bob"}},
        ]),
    );
    assert_eq!(done.code, Some(0), "{}\n{}", done.stdout, done.stderr);
    let session = done.json();
    assert_eq!(session["server"]["name"], "arazzo", "{session}");
    assert_eq!(tool_names(&session), SHIPPED);
    let tools = session["tools"].as_array().unwrap();
    let list = tools
        .iter()
        .find(|t| t["name"] == "list-mcp-instances")
        .unwrap();
    assert_eq!(list["annotations"]["readOnlyHint"], true, "{list}");
    // The API key is the server's: no tool asks for it.
    for tool in tools {
        assert!(
            tool["inputSchema"]["properties"].get("apiKey").is_none(),
            "{tool}"
        );
    }

    let calls = session["calls"].as_array().unwrap();
    let provision = &calls[0];
    assert_eq!(provision["isError"], false, "{provision}");
    let outputs = &provision["structuredContent"];
    assert_eq!(outputs["instanceId"], "py-alice", "{provision}");
    let server_id = outputs["serverId"].as_str().unwrap();
    assert!(!server_id.is_empty());
    assert!(outputs["mcpUrl"].as_str().unwrap().starts_with("http"));
    // The text content holds the same outputs as JSON.
    let text: Value = serde_json::from_str(provision["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, outputs);

    let listed = &calls[1];
    assert_eq!(listed["isError"], false, "{listed}");
    let listed_text = listed.to_string();
    assert!(listed_text.contains("py-alice"), "{listed}");

    let refused = &calls[2];
    assert_eq!(refused["isError"], true, "{refused}");
    assert_eq!(refused["structuredContent"]["error"]["kind"], "preflight");
    assert!(
        refused["text"]
            .as_str()
            .unwrap()
            .contains("must be at least 4 characters long"),
        "{refused}"
    );

    // What the API received: the provisioning (4 requests) and the listing,
    // each with the key that only the server holds; nothing for the refusal.
    let requests = api.requests();
    assert_eq!(
        requests.len(),
        5,
        "{:?}",
        requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    assert!(requests.iter().all(|r| r.header("x-api-key") == Some(KEY)));
    assert_eq!(api.state().instances.len(), 1);
    assert_eq!(api.state().servers, [server_id.to_string()]);
    assert!(requests
        .iter()
        .any(|r| r.method == "GET" && r.path.contains(server_id)));

    assert_key_free("the client's output", &done.stdout);
    assert_key_free("the client's stderr", &done.stderr);
    assert_key_free("the server's stderr", &server.stderr());
}

#[test]
fn the_mcp_python_sdk_is_refused_without_a_valid_token() {
    venv();
    let api = StandIn::start(KEY);
    let server = Server::start(&api);

    for token in [None, Some("tok_not_in_the_file")] {
        let done = mcp_session(
            &server.mcp_url(),
            token,
            json!([{"name": "provision-mcp-server", "arguments": provision_args("x")}]),
        );
        assert_eq!(done.code, Some(3), "{}\n{}", done.stdout, done.stderr);
        let error = done.json();
        assert_eq!(error["error"]["status"], 401, "{token:?}: {error}");
        assert_key_free("the client's output", &done.stdout);
        assert_key_free("the client's stderr", &done.stderr);
    }
    assert!(api.requests().is_empty(), "{:?}", api.requests());
    assert_key_free("the server's stderr", &server.stderr());
}

/// A free port on 127.0.0.1 (released for the child to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// MCP Composer 0.2.1 as a gateway on 127.0.0.1, its members read from a
/// JSON config file; killed on drop.
struct Composer {
    child: std::process::Child,
    port: u16,
    log: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
}

impl Composer {
    /// `mcp-composer --mode http --host 127.0.0.1 --port PORT --config_path
    /// members.json`, in a temporary directory that also holds the file
    /// Composer keeps its members in (so `list_servers` knows them).
    fn start(members: &Value) -> Composer {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("members.json");
        std::fs::write(&config, serde_json::to_string_pretty(members).unwrap()).unwrap();
        let port = free_port();
        let mut child = Command::new(venv().join("bin/mcp-composer"))
            .args(["--mode", "http", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--config_path")
            .arg(&config)
            .current_dir(dir.path())
            .env("MCP_DATABASE_TYPE", "local_file")
            .env(
                "MCP_DATABASE_FILE_PATH",
                dir.path().join("composer-db.json"),
            )
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mcp-composer");
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sink = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut s = sink.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        let mut composer = Composer {
            child,
            port,
            log,
            dir,
        };
        // Uvicorn says when it listens; the members are mounted before that.
        let started = Instant::now();
        while !composer.log().contains("Uvicorn running on") {
            if let Some(status) = composer.child.try_wait().unwrap() {
                panic!("mcp-composer exited ({status}):\n{}", composer.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "mcp-composer did not listen within 60 s:\n{}",
                composer.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        composer
    }

    fn mcp_url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Composer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `result` list of a Composer tool (FastMCP wraps a list in it).
fn result_list(call: &Value) -> Vec<Value> {
    assert_eq!(call["isError"], false, "{call}");
    call["structuredContent"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result list: {call}"))
        .clone()
}

#[test]
fn mcp_composer_registers_arazzo_as_a_member_with_its_bearer_token() {
    venv();
    let api = StandIn::start(KEY);
    let server = Server::start(&api);
    let members = json!([{
        "id": "arazzo",
        "type": "http",
        "endpoint": server.mcp_url(),
        "headers": {"Authorization": format!("Bearer {TOKEN}")},
    }]);
    let composer = Composer::start(&members);

    // Through the gateway: its own tools, the member's under "arazzo_", and a
    // second registration of the same server at run time, with the other token.
    let done = mcp_session(
        &composer.mcp_url(),
        None,
        json!([
            {"name": "list_servers"},
            {"name": "member_health"},
            {"name": "arazzo_provision-mcp-server", "arguments": provision_args("via-composer")},
            {"name": "arazzo_list-mcp-instances",
             "arguments": {"serverId": {"$output": [2, "serverId"]}}},
            {"name": "register_mcp_server", "arguments": {"config": {
                "id": "arazzo-team-b",
                "type": "http",
                "endpoint": server.mcp_url(),
                "headers": {"Authorization": format!("Bearer {OTHER_TOKEN}")},
            }}},
            {"name": "list_servers"},
            {"name": "member_health"},
        ]),
    );
    assert_eq!(
        done.code,
        Some(0),
        "{}\n{}\ncomposer:\n{}",
        done.stdout,
        done.stderr,
        composer.log()
    );
    let session = done.json();
    assert_eq!(session["server"]["name"], "composer", "{session}");
    let names = tool_names(&session);
    for own in [
        "register_mcp_server",
        "list_servers",
        "member_health",
        "delete_mcp_server",
    ] {
        assert!(names.iter().any(|n| n == own), "{own} missing: {names:?}");
    }
    let members: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix("arazzo_"))
        .collect();
    assert_eq!(members, SHIPPED, "{names:?}");
    let calls = session["calls"].as_array().unwrap();

    let servers = result_list(&calls[0]);
    assert_eq!(servers.len(), 1, "{servers:?}");
    assert_eq!(servers[0]["id"], "arazzo");
    assert_eq!(servers[0]["type"], "http");
    assert_eq!(servers[0]["endpoint"], server.mcp_url().as_str());
    assert_eq!(servers[0]["status"], "active");
    let health = result_list(&calls[1]);
    assert_eq!(health, [json!({"status": "OK", "server_name": "arazzo"})]);

    let provision = &calls[2];
    assert_eq!(provision["isError"], false, "{provision}");
    assert_eq!(
        provision["structuredContent"]["instanceId"], "via-composer",
        "{provision}"
    );
    let server_id = provision["structuredContent"]["serverId"].as_str().unwrap();
    let listed = &calls[3];
    assert_eq!(listed["isError"], false, "{listed}");
    assert!(listed.to_string().contains("via-composer"), "{listed}");

    assert_eq!(calls[4]["isError"], false, "{}", calls[4]);
    let servers = result_list(&calls[5]);
    let ids: Vec<&str> = servers.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["arazzo", "arazzo-team-b"], "{servers:?}");
    assert_eq!(result_list(&calls[6]).len(), 2);

    // A new session sees the registered member's tools, and they work.
    let done = mcp_session(
        &composer.mcp_url(),
        None,
        json!([{"name": "arazzo-team-b_list-mcp-instances",
                "arguments": {"serverId": server_id}}]),
    );
    assert_eq!(done.code, Some(0), "{}\n{}", done.stdout, done.stderr);
    let again = done.json();
    let team_b: Vec<String> = tool_names(&again)
        .into_iter()
        .filter(|n| n.starts_with("arazzo-team-b_"))
        .collect();
    assert_eq!(team_b.len(), SHIPPED.len(), "{team_b:?}");
    let listed = &again["calls"][0];
    assert_eq!(listed["isError"], false, "{listed}");
    assert!(listed.to_string().contains("via-composer"), "{listed}");

    // The API saw the calls with the server's key; the gateway never had it.
    let requests = api.requests();
    assert_eq!(requests.len(), 6, "{requests:?}");
    assert!(requests.iter().all(|r| r.header("x-api-key") == Some(KEY)));
    // Both tokens reached arazzo: its access log has the tool calls, and the
    // health probe (which Composer sends without the member's headers) was
    // answered 401.
    let stderr = server.stderr();
    assert!(
        stderr.contains("rpc=tools/call workflow=provision-mcp-server outcome=succeeded"),
        "{stderr}"
    );
    assert!(stderr.contains("GET /mcp 401"), "{stderr}");
    assert_key_free("Composer's log", &composer.log());
    assert_key_free("the client's output", &done.stdout);
    assert_key_free("the server's stderr", &stderr);
    let _ = &composer.dir;
}

/// Every schemathesis check must pass (no 5xx; every response as the
/// generated description says: status, content type, headers, body schema;
/// invalid requests refused) but `positive_data_acceptance`: a body that fits
/// the inputs schema can still be refused by the preflight (a step's rule the
/// schema does not carry) or fail at the API it calls (424), by design.
const SCHEMATHESIS_EXCLUDED: &str = "positive_data_acceptance";

#[test]
fn schemathesis_finds_the_served_openapi_description_true() {
    let venv = venv();
    let api = StandIn::start(KEY);
    let server = Server::start(&api);
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(venv.join("bin/schemathesis"));
    cmd.current_dir(work.path())
        .arg("run")
        .arg(format!("{}/openapi.json", server.base))
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--checks", "all", "--exclude-checks", SCHEMATHESIS_EXCLUDED])
        .args(["--max-examples", "15", "--seed", "20240607"])
        .args(["--workers", "2", "--request-timeout", "20"])
        .arg("--no-color")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_COLOR", "1");
    let done = run(cmd, Duration::from_secs(120));
    assert_eq!(
        done.code,
        Some(0),
        "schemathesis reported failures:\n{}\n{}",
        done.stdout,
        done.stderr
    );
    // It did test the API, not just read the description.
    assert!(done.stdout.contains("11/11"), "{}", done.stdout);
    assert!(!api.requests().is_empty());
    eprintln!("{}", done.stdout);
    assert_key_free("schemathesis' output", &done.stdout);
    assert_key_free("the server's stderr", &server.stderr());
}
