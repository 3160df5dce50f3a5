//! `arazzo run provision-mcp-server` through the binary, against the local
//! Composio stand-in: outputs, the exact requests received, failures, inputs,
//! `--server`, and the API key absent from every byte written.

mod support;

use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};
use support::cli::{arazzo, exec as run};
use support::composio::StandIn;

const KEY: &str = "sk_live_Zx81-secret-KEY";

/// The command a user types, with the key in the environment.
fn provision(server: &StandIn, extra: &[&str]) -> Command {
    support::cli::provision(&server.base_url(), KEY, extra)
}

#[test]
fn happy_path_returns_the_four_outputs_and_sends_exactly_four_requests() {
    let server = StandIn::start(KEY);
    let out = run(&mut provision(&server, &["-o", "json"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["workflowId"], "provision-mcp-server");
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["error"], Value::Null);
    let state = server.state();
    let server_id = state.servers[0].clone();
    assert_eq!(
        report["outputs"],
        json!({
            "authConfigId": state.auth_configs[0],
            "serverId": server_id,
            "mcpUrl": format!("https://backend.composio.dev/v3/mcp/{server_id}"),
            "instanceId": "alice",
            "commands": report["steps"][2]["outputs"]["commands"],
        })
    );
    let steps = report["steps"].as_array().unwrap();
    let ids: Vec<&str> = steps
        .iter()
        .map(|s| s["stepId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "createAuthConfig",
            "createServer",
            "getServer",
            "createInstance"
        ]
    );
    let codes: Vec<u64> = steps
        .iter()
        .map(|s| s["statusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [201, 201, 200, 201]);
    for s in steps {
        assert_eq!(s["status"], "succeeded");
        assert_eq!(s["attempts"], 1);
        assert!(s["durationMs"].is_u64());
    }
    assert_eq!(
        steps[2]["outputs"]["commands"]["cursor"]
            .as_str()
            .map(|c| c.contains(&server_id)),
        Some(true)
    );
    assert!(report["durationMs"].is_u64());

    let reqs = server.requests();
    let lines: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        lines,
        [
            "POST /api/v3/auth_configs".to_string(),
            "POST /api/v3/mcp/servers".to_string(),
            format!("GET /api/v3/mcp/{server_id}"),
            format!("POST /api/v3/mcp/servers/{server_id}/instances"),
        ]
    );
    for r in &reqs {
        assert_eq!(r.header("x-api-key"), Some(KEY));
    }
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(
        reqs[0].body,
        Some(
            json!({"toolkit": {"slug": "linear"}, "auth_config": {"type": "use_composio_managed_auth"}})
        )
    );
    // allowedTools was not given: the field is left out, never sent as null.
    assert_eq!(
        reqs[1].body,
        Some(
            json!({"name": "Linear Bot", "auth_config_ids": [state.auth_configs[0]], "managed_auth_via_composio": true})
        )
    );
    assert_eq!(reqs[2].body, None);
    assert_eq!(reqs[3].body, Some(json!({"user_id": "alice"})));
    out.assert_no(KEY);
}

#[test]
fn allowed_tools_array_input_stays_an_array_in_the_body() {
    let server = StandIn::start(KEY);
    let out = run(&mut provision(
        &server,
        &[
            "-i",
            r#"allowedTools=["LINEAR_CREATE_ISSUE","LINEAR_LIST_ISSUES"]"#,
            "-o",
            "json",
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let reqs = server.requests();
    assert_eq!(
        reqs[1].body.as_ref().unwrap()["allowed_tools"],
        json!(["LINEAR_CREATE_ISSUE", "LINEAR_LIST_ISSUES"])
    );
}

#[test]
fn human_output_lists_steps_and_outputs() {
    let server = StandIn::start(KEY);
    let out = run(&mut provision(&server, &[]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    for step in [
        "createAuthConfig",
        "createServer",
        "getServer",
        "createInstance",
    ] {
        assert!(out.stderr.contains(&format!("✓ {step}")), "{}", out.stderr);
    }
    let state = server.state();
    assert!(
        out.stdout
            .contains(&format!("authConfigId  {}", state.auth_configs[0])),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("instanceId    alice"), "{}", out.stdout);
    out.assert_no(KEY);
}

#[test]
fn rejected_server_name_fails_at_create_server_and_keeps_the_auth_config_id() {
    let server = StandIn::start(KEY);
    // With preflight off, the request reaches the server, which rejects it.
    let mut cmd = provision(&server, &["-o", "json", "--no-preflight"]);
    cmd.args(["-i", "serverName=ab"]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["error"]["stepId"], "createServer");
    assert_eq!(report["error"]["kind"], "criteria");
    let msg = report["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("$statusCode == 201") && msg.contains("400"),
        "{msg}"
    );
    let auth_id = server.state().auth_configs[0].clone();
    assert_eq!(report["steps"][0]["status"], "succeeded");
    assert_eq!(
        report["steps"][0]["outputs"]["authConfigId"],
        json!(auth_id)
    );
    assert_eq!(report["steps"][1]["status"], "failed");
    assert_eq!(report["steps"][1]["statusCode"], 400);
    assert_eq!(
        report["steps"].as_array().unwrap().len(),
        2,
        "no later step runs"
    );
    assert_eq!(report["outputs"]["authConfigId"], json!(auth_id));
    assert_eq!(server.requests().len(), 2);
    out.assert_no(KEY);
}

#[test]
fn rejected_server_name_in_human_mode_says_what_was_left_behind() {
    let server = StandIn::start(KEY);
    let mut cmd = provision(&server, &["--no-preflight"]);
    cmd.args(["-i", "serverName=bad_name!"]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("✗ createServer"), "{}", out.stderr);
    assert!(
        out.stderr.contains("failed at step `createServer`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("createAuthConfig"), "{}", out.stderr);
    assert!(out.stdout.contains("authConfigId"), "{}", out.stdout);
    out.assert_no(KEY);
}

#[test]
fn wrong_api_key_fails_the_first_step_without_printing_the_key() {
    let server = StandIn::start(KEY);
    let wrong = "sk_wrong_0123456789";
    let mut cmd = provision(&server, &["-o", "json"]);
    cmd.env("ARAZZO_INPUT_API_KEY", wrong);
    let out = run(&mut cmd);
    assert_eq!(out.code, 1);
    let report = out.json();
    assert_eq!(report["error"]["stepId"], "createAuthConfig");
    assert!(report["error"]["message"].as_str().unwrap().contains("401"));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].header("x-api-key"), Some(wrong));
    out.assert_no(wrong);
}

#[test]
fn api_key_on_the_command_line_is_never_printed_either() {
    let server = StandIn::start(KEY);
    for format in ["human", "json"] {
        let mut cmd = provision(&server, &["-o", format]);
        cmd.env_remove("ARAZZO_INPUT_API_KEY")
            .args(["-i", &format!("apiKey={KEY}")]);
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.assert_no(KEY);
        // and when the run fails, with the server echoing an error
        server.fail_next(
            "/api/v3/mcp/servers",
            500,
            json!({"error": {"message": format!("key {KEY} rejected")}}),
        );
        let mut cmd = provision(&server, &["-o", format]);
        cmd.env_remove("ARAZZO_INPUT_API_KEY")
            .args(["-i", &format!("apiKey={KEY}")]);
        let out = run(&mut cmd);
        assert_eq!(out.code, 1);
        assert!(
            out.stdout.contains("***") || out.stderr.contains("***"),
            "{}{}",
            out.stdout,
            out.stderr
        );
        out.assert_no(KEY);
    }
}

#[test]
fn unknown_server_source_is_a_usage_error_and_sends_nothing() {
    let server = StandIn::start(KEY);
    let mut cmd = provision(&server, &[]);
    cmd.args(["--server", &format!("nope={}", server.base_url())]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("`nope`") && out.stderr.contains("composioApi"),
        "{}",
        out.stderr
    );
    assert!(server.requests().is_empty());
}

#[test]
fn malformed_server_url_is_a_usage_error() {
    let server = StandIn::start(KEY);
    for bad in [
        "composioApi=not a url",
        "composioApi=ftp://x",
        "composioApi",
    ] {
        let mut cmd = arazzo();
        cmd.env("ARAZZO_INPUT_API_KEY", KEY).args([
            "run",
            "provision-mcp-server",
            "-i",
            "toolkitSlug=l",
            "-i",
            "authType=a",
            "-i",
            "serverName=abcd",
            "-i",
            "userId=u",
            "--server",
            bad,
        ]);
        let out = run(&mut cmd);
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert!(out.stderr.contains("--server"), "{}", out.stderr);
    }
    assert!(server.requests().is_empty());
}

#[test]
fn missing_required_inputs_are_listed_with_what_the_workflow_takes() {
    let server = StandIn::start(KEY);
    let mut cmd = arazzo();
    cmd.args([
        "run",
        "provision-mcp-server",
        "-i",
        "toolkitSlug=linear",
        "--server",
    ])
    .arg(format!("composioApi={}", server.base_url()));
    let out = run(&mut cmd);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("missing required inputs"),
        "{}",
        out.stderr
    );
    for name in ["`apiKey`", "`authType`", "`serverName`", "`userId`"] {
        assert!(out.stderr.contains(name), "{name}: {}", out.stderr);
    }
    assert!(
        out.stderr.contains("allowedTools (array, optional)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("ARAZZO_INPUT_API_KEY"),
        "{}",
        out.stderr
    );
    assert!(server.requests().is_empty());
}

#[test]
fn mistyped_and_unknown_inputs_exit_2() {
    let server = StandIn::start(KEY);
    let out = run(&mut provision(
        &server,
        &["-i", "allowedTools=LINEAR_X,LINEAR_Y"],
    ));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("allowedTools") && out.stderr.contains("JSON"),
        "{}",
        out.stderr
    );
    let out = run(&mut provision(&server, &["-i", "allowedTools={\"a\":1}"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("input `allowedTools`: expected a value of type array"),
        "{}",
        out.stderr
    );
    let out = run(&mut provision(&server, &["-i", "userid=bob"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unknown input `userid`") && out.stderr.contains("`userId`"),
        "{}",
        out.stderr
    );
    let out = run(&mut provision(&server, &["-i", "novalue"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("NAME=VALUE"), "{}", out.stderr);
    assert!(server.requests().is_empty());
    out.assert_no(KEY);
}

#[test]
fn inputs_file_is_overridden_by_dash_i_and_value_keeps_later_equals_signs() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inputs.yaml");
    std::fs::write(&file, "toolkitSlug: github\nauthType: use_composio_managed_auth\nserverName: From File\nuserId: bob\nallowedTools: [A, B]\n").unwrap();
    let mut cmd = arazzo();
    cmd.env("ARAZZO_INPUT_API_KEY", KEY)
        .args(["run", "provision-mcp-server", "--inputs"])
        .arg(&file)
        .args([
            "-i",
            "userId=carol=x",
            "--server",
            &format!("composioApi={}", server.base_url()),
            "-o",
            "json",
        ]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let reqs = server.requests();
    assert_eq!(reqs[0].body.as_ref().unwrap()["toolkit"]["slug"], "github");
    assert_eq!(
        reqs[1].body.as_ref().unwrap()["allowed_tools"],
        json!(["A", "B"])
    );
    assert_eq!(reqs[3].body, Some(json!({"user_id": "carol=x"})));
    assert_eq!(out.json()["outputs"]["instanceId"], "carol=x");
}

#[test]
fn unknown_workflow_names_the_candidates() {
    let out = run(arazzo().args(["run", "provision-mcp-servr"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no workflow `provision-mcp-servr`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("provision-mcp-server"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_workflow_defined_twice_under_workflows_is_ambiguous() {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("workflows");
    std::fs::create_dir(&wf).unwrap();
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/provision-mcp-server.arazzo.yaml");
    std::fs::copy(&src, wf.join("a.arazzo.yaml")).unwrap();
    std::fs::copy(&src, wf.join("b.arazzo.yaml")).unwrap();
    let out = run(arazzo()
        .current_dir(dir.path())
        .args(["run", "provision-mcp-server"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("a.arazzo.yaml") && out.stderr.contains("b.arazzo.yaml"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_real_composio_description_resolves_the_workflow_operations() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/provision-mcp-server.arazzo.yaml"),
    )
    .unwrap();
    let real = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/composio/composio-openapi-original.json")
        .canonicalize()
        .unwrap();
    let url = url::Url::from_file_path(&real).unwrap();
    let doc = doc.replace("../openapi/composio-openapi-original.json", url.as_str());
    let path = dir.path().join("real.arazzo.yaml");
    std::fs::write(&path, doc).unwrap();
    let out = run(provision(&server, &["-o", "json"]).arg("-f").arg(&path));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["outputs"]["instanceId"], "alice");
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn a_server_that_answers_garbage_fails_with_a_clear_message() {
    let server = StandIn::start(KEY);
    server.fail_next("/api/v3/mcp/servers", 201, json!("<html>not json</html>"));
    let out = run(&mut provision(&server, &["-o", "json"]));
    assert_eq!(out.code, 1, "{}", out.stdout);
    let report = out.json();
    // createServer "succeeded" by its criteria but produced no serverId, so the
    // next request cannot be built.
    assert_eq!(report["error"]["stepId"], "getServer");
    assert_eq!(report["error"]["kind"], "request");
    let msg = report["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("$steps.createServer.outputs.serverId"),
        "{msg}"
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_server_that_is_not_there_is_a_transport_failure() {
    let server = StandIn::start(KEY);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cmd = provision(&server, &["-o", "json"]);
    cmd.args(["--server", &format!("composioApi=http://127.0.0.1:{dead}")]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 1);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "transport");
    assert_eq!(report["error"]["stepId"], "createAuthConfig");
    assert!(report["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("127.0.0.1:{dead}")));
}

#[test]
fn preflight_stops_a_run_whose_later_request_is_known_to_be_invalid() {
    let server = StandIn::start(KEY);
    for (name, rule) in [
        ("ab", "at least 4 characters"),
        ("bad_name!", "pattern"),
        ("x".repeat(31).as_str(), "at most 30"),
    ] {
        let mut cmd = provision(&server, &["-o", "json"]);
        cmd.args(["-i", &format!("serverName={name}")]);
        let out = run(&mut cmd);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("step `createServer`"), "{}", out.stderr);
        assert!(
            out.stderr.contains("`/name`") && out.stderr.contains(rule),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
        out.assert_no(KEY);
    }
    let out = run(&mut provision(&server, &["-i", "userId="]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("step `createInstance`") && out.stderr.contains("`/user_id`"),
        "{}",
        out.stderr
    );
    assert!(server.requests().is_empty(), "preflight sends nothing");
    assert!(server.state().is_empty());
}

#[test]
fn dry_run_builds_every_request_and_sends_nothing() {
    let server = StandIn::start(KEY);
    let out = run(&mut provision(
        &server,
        &["--dry-run", "-o", "json", "-i", r#"allowedTools=["A"]"#],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan = out.json();
    assert_eq!(plan["dryRun"], true);
    assert_eq!(plan["status"], "valid");
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    let base = server.base_url();
    assert_eq!(steps[0]["method"], "POST");
    assert_eq!(steps[0]["url"], format!("{base}/api/v3/auth_configs"));
    assert_eq!(steps[0]["headers"]["x-api-key"], "***");
    assert_eq!(
        steps[0]["body"],
        json!({"toolkit": {"slug": "linear"}, "auth_config": {"type": "use_composio_managed_auth"}})
    );
    assert_eq!(
        steps[1]["body"],
        json!({"name": "Linear Bot", "auth_config_ids": ["{$steps.createAuthConfig.outputs.authConfigId}"], "allowed_tools": ["A"], "managed_auth_via_composio": true})
    );
    assert_eq!(
        steps[2]["url"],
        format!("{base}/api/v3/mcp/{{$steps.createServer.outputs.serverId}}")
    );
    assert!(server.requests().is_empty());
    out.assert_no(KEY);

    let out = run(&mut provision(
        &server,
        &["--dry-run", "-i", "serverName=ab"],
    ));
    assert_eq!(out.code, 2);
    assert!(
        out.stdout
            .contains("✗ request body `/name`: must be at least 4 characters long"),
        "{}",
        out.stdout
    );
    assert!(server.requests().is_empty());
    out.assert_no(KEY);
}
