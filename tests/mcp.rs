//! `arazzo mcp` through the binary, driven by rmcp's MCP client over stdio (a
//! child process) and streamable HTTP, against the local Composio stand-in: the
//! tools, their schemas and annotations, calls that succeed, fail and are
//! refused, concurrent calls, and the API key absent from every byte.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Map, Value};
use support::composio::StandIn;
use support::mcp_stdio::{call, connect_stdio, text_of, Captured};
use support::SHIPPED_WORKFLOWS as SHIPPED;

const KEY: &str = "sk_live_Mcp77-secret-KEY";

type Client = RunningService<RoleClient, ()>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `arazzo mcp ARGS` in the crate root, with no inherited ARAZZO_* variables.
fn arazzo(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_arazzo"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ARAZZO_") || k == "RUST_LOG" || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    cmd.arg("mcp").args(args);
    cmd
}

/// The server as an operator starts it: the key in the environment, the
/// Composio source pointed at the stand-in.
fn served(api: &StandIn, extra: &[&str]) -> std::process::Command {
    let server = format!("composioApi={}", api.base_url());
    let mut args = vec!["--server", server.as_str()];
    args.extend_from_slice(extra);
    let mut cmd = arazzo(&args);
    cmd.env("ARAZZO_INPUT_API_KEY", KEY);
    cmd
}

fn provision_args(name: &str, user: &str) -> Value {
    json!({
        "toolkitSlug": "linear",
        "authType": "use_composio_managed_auth",
        "serverName": name,
        "userId": user,
    })
}

fn find<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool `{name}`"))
}

/// (readOnly, destructive, idempotent, openWorld) of a tool.
fn hints(t: &Tool) -> (bool, bool, bool, bool) {
    let a = t.annotations.as_ref().expect("annotations");
    (
        a.read_only_hint.expect("readOnlyHint"),
        a.destructive_hint.expect("destructiveHint"),
        a.idempotent_hint.expect("idempotentHint"),
        a.open_world_hint.expect("openWorldHint"),
    )
}

/// The shipped Composio workflows as tools: names, schemas (the key filled in
/// by the server, so absent), descriptions, annotations, output schemas.
fn check_shipped_tools(tools: &[Tool]) {
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(names, SHIPPED);
    for t in tools {
        let schema = Value::Object((*t.input_schema).clone());
        assert_eq!(schema["type"], "object", "{}", t.name);
        assert!(
            schema["properties"].get("apiKey").is_none(),
            "{}: the key is in the schema: {schema}",
            t.name
        );
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        assert!(!required.contains(&json!("apiKey")), "{}", t.name);
        assert!(!serde_json::to_string(t).unwrap().contains(KEY));
    }

    let p = find(tools, "provision-mcp-server");
    let schema = Value::Object((*p.input_schema).clone());
    assert_eq!(
        schema["required"],
        json!(["toolkitSlug", "authType", "serverName", "userId"])
    );
    let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    assert_eq!(
        props,
        [
            "toolkitSlug",
            "authType",
            "serverName",
            "allowedTools",
            "userId"
        ]
    );
    assert_eq!(schema["properties"]["allowedTools"]["type"], "array");
    let description = p.description.as_deref().unwrap();
    assert!(
        description
            .starts_with("Create an auth config, an MCP server, and a per-user MCP instance."),
        "{description}"
    );
    assert!(
        description.contains("reads the server back to capture"),
        "{description}"
    );
    let outputs: Vec<&String> = p
        .output_schema
        .as_ref()
        .unwrap()
        .get("properties")
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        outputs,
        [
            "authConfigId",
            "serverId",
            "mcpUrl",
            "instanceId",
            "commands"
        ]
    );

    let list = Value::Object((*find(tools, "list-mcp-instances").input_schema).clone());
    assert_eq!(list["required"], json!(["serverId"]));

    // (readOnly, destructive, idempotent, openWorld), from the steps' methods.
    let expected = [
        ("create-mcp-instance", (false, false, false, true)),
        ("delete-mcp-instance", (false, true, true, true)),
        ("deprovision-mcp-server", (false, true, true, true)),
        ("list-mcp-instances", (true, false, true, true)),
        ("provision-mcp-server", (false, false, false, true)),
        (
            "provision-mcp-server-with-cleanup",
            (false, true, false, true),
        ),
    ];
    for (name, want) in expected {
        assert_eq!(hints(find(tools, name)), want, "annotations of {name}");
    }
}

/// A successful provision-mcp-server call: outputs as structured content and
/// as text, matching what the stand-in created.
fn check_provisioned(r: &CallToolResult, api: &StandIn) -> Value {
    assert_eq!(r.is_error, Some(false), "{}", text_of(r));
    let outputs = r.structured_content.clone().expect("structured content");
    let state = api.state();
    let server_id = outputs["serverId"].as_str().unwrap().to_string();
    assert!(state.servers.contains(&server_id), "{state:?}");
    assert!(state
        .auth_configs
        .contains(&outputs["authConfigId"].as_str().unwrap().to_string()));
    assert_eq!(
        outputs["mcpUrl"],
        format!("https://backend.composio.dev/v3/mcp/{server_id}")
    );
    let text: Value = serde_json::from_str(&text_of(r)).expect("the text is the outputs as JSON");
    assert_eq!(text, outputs);
    outputs
}

#[test]
fn stdio_lists_the_shipped_workflows_and_provisions_against_the_stand_in() {
    let api = StandIn::start(KEY);
    let rt = runtime();
    let stderr = rt.block_on(async {
        let (client, stderr) = connect_stdio(served(&api, &["-v"])).await;
        let info = client.peer_info().expect("server info");
        assert_eq!(
            info.server_info.as_ref().map(|i| i.name.as_str()),
            Some("arazzo")
        );
        assert!(info.capabilities.tools.is_some());

        let tools = client.list_all_tools().await.unwrap();
        check_shipped_tools(&tools);

        // A call runs the workflow with the key filled in by the server.
        let r = call(
            &client,
            "provision-mcp-server",
            provision_args("Linear Bot", "alice"),
        )
        .await;
        let outputs = check_provisioned(&r, &api);
        assert_eq!(outputs["instanceId"], "alice");
        let requests = api.requests();
        assert_eq!(requests.len(), 4);
        for req in &requests {
            assert_eq!(
                req.header("x-api-key"),
                Some(KEY),
                "{} {}",
                req.method,
                req.path
            );
        }
        assert!(!serde_json::to_string(&r).unwrap().contains(KEY));

        // Preflight: a server name the API would refuse; nothing is sent.
        let r = call(&client, "provision-mcp-server", provision_args("ab", "bob")).await;
        assert_eq!(r.is_error, Some(true));
        let text = text_of(&r);
        assert!(text.contains("preflight"), "{text}");
        assert!(text.contains("createServer"), "{text}");
        let s = r.structured_content.as_ref().unwrap();
        assert_eq!(s["error"]["kind"], "preflight");
        assert_eq!(s["error"]["stepId"], "createServer");
        assert!(text.contains("at least 4 characters"), "{text}");
        assert_eq!(api.requests().len(), 4, "preflight sent a request");

        // The agent cannot send the key the server fills in.
        let mut with_key = provision_args("Linear Bot", "carol");
        with_key["apiKey"] = json!("sk_agent_guess");
        let r = call(&client, "provision-mcp-server", with_key).await;
        assert_eq!(r.is_error, Some(true));
        assert!(text_of(&r).contains("apiKey"), "{}", text_of(&r));
        assert_eq!(api.requests().len(), 4);

        // Missing and unknown inputs are refused with a message.
        let r = call(
            &client,
            "provision-mcp-server",
            json!({"toolkitSlug": "linear"}),
        )
        .await;
        assert_eq!(r.is_error, Some(true));
        assert!(
            text_of(&r).contains("missing required input"),
            "{}",
            text_of(&r)
        );
        let mut unknown = provision_args("Linear Bot", "dave");
        unknown["colour"] = json!("blue");
        let r = call(&client, "provision-mcp-server", unknown).await;
        assert_eq!(r.is_error, Some(true));
        assert!(text_of(&r).contains("colour"), "{}", text_of(&r));

        // A failed run: isError, the failing step and message, the key masked
        // even where the API echoes it back.
        api.fail_next_method(
            "POST",
            "/api/v3/mcp/servers",
            500,
            json!({"error": {"message": format!("internal error for key {KEY}")}}),
        );
        let r = call(
            &client,
            "provision-mcp-server",
            provision_args("Linear Bot", "erin"),
        )
        .await;
        assert_eq!(r.is_error, Some(true));
        let text = text_of(&r);
        assert!(text.contains("createServer"), "{text}");
        assert!(text.contains("500"), "{text}");
        assert!(text.contains("***"), "{text}");
        let all = serde_json::to_string(&r).unwrap();
        assert!(!all.contains(KEY), "the key leaked: {all}");
        let s = r.structured_content.as_ref().unwrap();
        assert_eq!(s["error"]["stepId"], "createServer");
        assert_eq!(s["error"]["kind"], "criteria");
        assert!(s["outputs"]["authConfigId"].is_string(), "{s}");

        // An unknown tool is a protocol error.
        let mut params = CallToolRequestParams::new("no-such-tool");
        params.arguments = Some(Map::new());
        assert!(client.call_tool(params).await.is_err());

        client.cancel().await.unwrap();
        // Let the child finish writing its stderr.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !stderr.text().contains("step createInstance") && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        stderr.text()
    });
    assert!(
        stderr.contains("step createAuthConfig"),
        "no logs on stderr:\n{stderr}"
    );
    assert!(!stderr.contains(KEY), "the key on stderr:\n{stderr}");
}

/// Raw JSON-RPC over the child's pipes: every line on stdout is protocol, even
/// with the most verbose logs, which go to stderr, masked.
#[test]
fn stdio_stdout_carries_nothing_but_protocol() {
    let api = StandIn::start(KEY);
    let mut child = served(&api, &["-vvv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let send = |stdin: &mut std::process::ChildStdin, v: Value| {
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    };
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}),
    );
    let mut lines = stdout.lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["id"], 1);
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "provision-mcp-server",
            "arguments": provision_args("Raw Bot", "frank")}}),
    );
    let mut answered = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON-RPC ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
        assert!(!line.contains(KEY));
        if v["id"] == 2 {
            answered = Some(v);
            break;
        }
    }
    let answer = answered.expect("the call was answered");
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert_eq!(answer["result"]["structuredContent"]["instanceId"], "frank");
    drop(stdin);
    for line in lines {
        let line = line.unwrap();
        assert!(serde_json::from_str::<Value>(&line).is_ok(), "{line}");
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let stderr = err_thread.join().unwrap();
    assert!(stderr.contains("x-api-key"), "no -vv logs:\n{stderr}");
    assert!(!stderr.contains(KEY), "the key on stderr:\n{stderr}");
}

#[test]
fn tools_restricts_what_is_served() {
    let api = StandIn::start(KEY);
    let rt = runtime();
    rt.block_on(async {
        let (client, _) = connect_stdio(served(
            &api,
            &["--tools", "provision-mcp-server,list-mcp-instances"],
        ))
        .await;
        let mut names: Vec<String> = client
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["list-mcp-instances", "provision-mcp-server"]);
        client.cancel().await.unwrap();
    });
}

#[test]
fn wrong_start_up_flags_exit_2_before_serving() {
    let out = arazzo(&["--tools", "no-such-workflow"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-workflow"), "{err}");
    assert!(err.contains("provision-mcp-server"), "{err}");

    let out = arazzo(&["-i", "colour=blue"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("colour"));

    let out = arazzo(&["--server", "nope=http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Annotations count the steps of the workflows a step calls.
#[test]
fn annotations_include_the_steps_of_called_workflows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("api.yaml"),
        r#"openapi: 3.0.3
info: {title: things, version: "1"}
servers: [{url: "http://127.0.0.1:9"}]
paths:
  /things:
    get:
      operationId: listThings
      responses: {"200": {description: ok}}
  /things/{id}:
    delete:
      operationId: deleteThing
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"204": {description: gone}}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("flows.arazzo.yaml"),
        r#"arazzo: 1.0.1
info: {title: things, version: "1"}
sourceDescriptions: [{name: api, url: ./api.yaml, type: openapi}]
workflows:
- workflowId: reader
  summary: Read the things.
  steps:
  - stepId: list
    operationId: listThings
    successCriteria: [{condition: $statusCode == 200}]
- workflowId: remover
  inputs: {type: object, required: [id], properties: {id: {type: string}}}
  steps:
  - stepId: remove
    operationId: deleteThing
    parameters: [{name: id, in: path, value: $inputs.id}]
    successCriteria: [{condition: $statusCode == 204}]
- workflowId: outer
  inputs: {type: object, required: [id], properties: {id: {type: string}}}
  steps:
  - stepId: look
    operationId: listThings
    successCriteria: [{condition: $statusCode == 200}]
  - stepId: callRemover
    workflowId: remover
    parameters: [{name: id, value: $inputs.id}]
"#,
    )
    .unwrap();
    let dir_arg = dir.path().to_string_lossy().to_string();
    let rt = runtime();
    rt.block_on(async {
        let (client, stderr) =
            connect_stdio(arazzo(&[dir_arg.as_str(), "--tools", "reader,outer"])).await;
        let tools = client
            .list_all_tools()
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", stderr.text()));
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort();
        assert_eq!(names, ["outer", "reader"]);
        assert_eq!(hints(find(&tools, "reader")), (true, false, true, true));
        assert_eq!(hints(find(&tools, "outer")), (false, true, true, true));
        assert_eq!(
            find(&tools, "reader").description.as_deref(),
            Some("Read the things.")
        );
        let reader = Value::Object((*find(&tools, "reader").input_schema).clone());
        assert_eq!(reader, json!({"type": "object", "properties": {}}));
        client.cancel().await.unwrap();
    });
}

/// A running `arazzo mcp --http 127.0.0.1:0`; killed on drop.
struct HttpServer {
    child: std::process::Child,
    url: String,
    stderr: Captured,
}

impl HttpServer {
    fn start(mut cmd: std::process::Command) -> HttpServer {
        let mut child = cmd
            .args(["--http", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let captured = Captured::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = captured.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let url = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(url);
                }
                let mut s = sink.0.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the server did not listen:\n{}", captured.text()));
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(url.ends_with("/mcp"), "{url}");
        HttpServer {
            child,
            url,
            stderr: captured,
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect_http(url: &str) -> Client {
    let http = arazzo::http::client(&arazzo::http::ClientOptions::default()).unwrap();
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    ().serve(transport).await.expect("MCP handshake over HTTP")
}

#[test]
fn http_lists_the_tools_and_runs_concurrent_calls() {
    let api = StandIn::start(KEY);
    let server = HttpServer::start(served(&api, &[]));
    let rt = runtime();
    rt.block_on(async {
        let client = connect_http(&server.url).await;
        let tools = client.list_all_tools().await.unwrap();
        check_shipped_tools(&tools);

        // Two calls at once, each its own run.
        let (a, b) = tokio::join!(
            call(
                &client,
                "provision-mcp-server",
                provision_args("Linear Bot", "gina")
            ),
            call(
                &client,
                "provision-mcp-server",
                provision_args("Github Bot", "hank")
            ),
        );
        let a = check_provisioned(&a, &api);
        let b = check_provisioned(&b, &api);
        assert_eq!(a["instanceId"], "gina");
        assert_eq!(b["instanceId"], "hank");
        assert_ne!(a["serverId"], b["serverId"]);
        assert_eq!(api.state().servers.len(), 2);
        assert_eq!(api.requests().len(), 8);
        assert!(api
            .requests()
            .iter()
            .all(|r| r.header("x-api-key") == Some(KEY)));

        // A second client (its own session) sees the same tools and can call them.
        let other = connect_http(&server.url).await;
        let r = call(
            &other,
            "list-mcp-instances",
            json!({"serverId": a["serverId"].clone()}),
        )
        .await;
        assert_eq!(r.is_error, Some(false), "{}", text_of(&r));
        assert!(!serde_json::to_string(&r).unwrap().contains(KEY));
        other.cancel().await.unwrap();
        client.cancel().await.unwrap();
    });
    let stderr = server.stderr.text();
    drop(server);
    assert!(!stderr.contains(KEY), "the key on stderr:\n{stderr}");
}

/// The Host header is checked (DNS rebinding): a request naming another host is
/// refused, one naming 127.0.0.1 is served.
#[test]
fn http_refuses_foreign_host_headers() {
    let api = StandIn::start(KEY);
    let server = HttpServer::start(served(&api, &[]));
    let authority = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_string();
    let post = |host: &str| {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
        let mut s = std::net::TcpStream::connect(&authority).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "POST /mcp HTTP/1.1\r\nHost: {host}\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        String::from_utf8_lossy(&head[9..12])
            .parse::<u16>()
            .unwrap()
    };
    assert_eq!(post("evil.example"), 403);
    assert_eq!(post(&authority), 200);
}

/// SIGTERM while a tool call runs: the call is answered (interrupted, with
/// what was created), then the server exits 143. An idle server exits 0.
#[test]
fn sigterm_answers_the_call_in_flight_then_stops() {
    let api = StandIn::start(KEY);
    api.hold_next("POST", "/api/v3/mcp/servers/", Duration::from_secs(60));
    let mut server = HttpServer::start(served(&api, &["--grace-period", "300ms"]));
    let rt = runtime();
    let result = rt.block_on(async {
        let client = connect_http(&server.url).await;
        let pid = server.child.id();
        let kill = async {
            while api.requests().len() < 4 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            support::send_signal(pid, "TERM");
        };
        let (r, ()) = tokio::join!(
            call(
                &client,
                "provision-mcp-server",
                provision_args("Linear Bot", "ivy")
            ),
            kill
        );
        r
    });
    assert_eq!(result.is_error, Some(true));
    let structured = result.structured_content.clone().unwrap();
    assert_eq!(structured["status"], "interrupted", "{structured}");
    assert_eq!(structured["error"]["kind"], "interrupted");
    let server_id = api.state().servers[0].clone();
    assert_eq!(structured["outputs"]["serverId"], server_id.as_str());
    let text = text_of(&result);
    assert!(text.contains("was interrupted"), "{text}");
    assert!(text.contains(&server_id), "{text}");
    let status = wait_exit(&mut server.child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(143), "{}", server.stderr.text());
    assert_eq!(api.requests().len(), 4, "nothing sent after the signal");
    assert!(!server.stderr.text().contains(KEY));

    let mut idle = HttpServer::start(served(&api, &[]));
    support::send_signal(idle.child.id(), "TERM");
    let status = wait_exit(&mut idle.child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", idle.stderr.text());
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(started.elapsed() < limit, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Over stdio as well: SIGINT while a tool call runs answers it (interrupted)
/// on stdout, then the server exits 130.
#[test]
fn sigint_over_stdio_answers_the_call_in_flight() {
    use std::io::Write as _;
    let api = StandIn::start(KEY);
    api.hold_next("POST", "/api/v3/auth_configs", Duration::from_secs(60));
    let mut child = served(&api, &["--grace-period", "200ms"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: Value| {
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}}),
    );
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"id\":1"), "{line}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "provision-mcp-server", "arguments": provision_args("Linear Bot", "jo")}}),
    );
    let started = std::time::Instant::now();
    while api.requests().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(10));
    }
    support::send_signal(child.id(), "INT");
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let answer: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(answer["id"], 2, "{answer}");
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["status"],
        "interrupted"
    );
    assert_eq!(
        answer["result"]["structuredContent"]["steps"][0]["status"],
        "uncertain"
    );
    let status = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(130));
    assert_eq!(api.requests().len(), 1);
    assert!(!line.contains(KEY));
}

/// An Arazzo 1.1 document served as tools: a workflow whose steps run as a
/// graph (`dependsOn`) is listed and called like any other, its independent
/// steps overlapping on the server.
#[test]
fn a_1_1_graph_workflow_is_served_and_called() {
    let echo = support::echo::Echo::start();
    echo.delay_answers(Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("api.yaml"),
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'http://127.0.0.1:1'}]\npaths:\n  /items/{id}:\n    get:\n      operationId: getItem\n      parameters: [{name: id, in: path, required: true, schema: {type: string}}]\n      responses: {'200': {description: ok}}\n",
    )
    .unwrap();
    let mut doc = String::from("arazzo: 1.1.0\ninfo: {title: t, version: '1'}\nsourceDescriptions: [{name: api, url: ./api.yaml, type: openapi}]\nworkflows:\n- workflowId: fan-out\n  summary: Reads three items at once\n  steps:\n");
    for id in ["a", "b", "c"] {
        doc.push_str(&format!("  - {{stepId: {id}, operationId: getItem, parameters: [{{name: id, in: path, value: {id}}}], outputs: {{path: $response.body#/path}}}}\n"));
    }
    doc.push_str("  - {stepId: join, operationId: getItem, parameters: [{name: id, in: path, value: join}], dependsOn: [a, b, c]}\n  outputs: {b: $steps.b.outputs.path}\n");
    let file = dir.path().join("fan.arazzo.yaml");
    std::fs::write(&file, doc).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_arazzo"));
    cmd.arg("mcp")
        .arg(&file)
        .args(["--server", &format!("api={}", echo.base_url())]);
    let rt = runtime();
    rt.block_on(async {
        let (client, stderr) = connect_stdio(cmd).await;
        let tools = client.list_all_tools().await.unwrap();
        let names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names, ["fan-out"], "{}", stderr.text());
        let r = call(&client, "fan-out", json!({})).await;
        assert_ne!(r.is_error, Some(true), "{}", text_of(&r));
        assert!(text_of(&r).contains("/items/b"), "{}", text_of(&r));
        client.cancel().await.unwrap();
    });
    let paths: Vec<String> = echo.api_requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    assert_eq!(paths[3], "/items/join");
}
