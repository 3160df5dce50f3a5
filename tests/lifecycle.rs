//! The MCP server lifecycle workflows beside `provision-mcp-server`, run
//! through the binary against the Composio stand-in:
//! `list-mcp-instances`, `create-mcp-instance`, `delete-mcp-instance`,
//! `deprovision-mcp-server` and `provision-mcp-server-with-cleanup`.
//!
//! Every run gets the API key through `ARAZZO_INPUT_API_KEY` and checks that
//! the key is printed nowhere.

mod support;

use assert_cmd::Command;
use serde_json::{json, Value};
use support::composio::{Snapshot, StandIn};

const KEY: &str = "ck_test_Lifecycle-7Qz-SECRET";

/// Files this test suite is about (the shipped workflow is checked elsewhere).
const OWN_FILES: &[&str] = &[
    "list-mcp-instances.arazzo.yaml",
    "create-mcp-instance.arazzo.yaml",
    "delete-mcp-instance.arazzo.yaml",
    "deprovision-mcp-server.arazzo.yaml",
    "provision-mcp-server-with-cleanup.arazzo.yaml",
];

type Run = support::cli::Out;

fn exec(cmd: &mut Command) -> Run {
    let run = support::cli::exec(cmd);
    assert!(
        !run.stdout.contains(KEY) && !run.stderr.contains(KEY),
        "the API key was printed:\n{}",
        run.context()
    );
    run
}

/// `arazzo run WORKFLOW -i k=v... --server composioApi=<stand-in> EXTRA...`
/// with the key in the environment.
fn run_workflow(api: &StandIn, workflow: &str, inputs: &[(&str, &str)], extra: &[&str]) -> Run {
    let mut cmd = support::cli::arazzo();
    cmd.env("ARAZZO_INPUT_API_KEY", KEY)
        .args(["run", workflow, "--server"])
        .arg(format!("composioApi={}", api.base_url()));
    for (name, value) in inputs {
        cmd.arg("-i").arg(format!("{name}={value}"));
    }
    cmd.args(extra);
    exec(&mut cmd)
}

/// As [`run_workflow`] with `-o json`, returning the run and its report.
fn run_json(api: &StandIn, workflow: &str, inputs: &[(&str, &str)]) -> (Run, Value) {
    run_json_with(api, workflow, inputs, &[])
}

fn run_json_with(
    api: &StandIn,
    workflow: &str,
    inputs: &[(&str, &str)],
    extra: &[&str],
) -> (Run, Value) {
    let mut args = vec!["-o", "json"];
    args.extend_from_slice(extra);
    let run = run_workflow(api, workflow, inputs, &args);
    let report = run.json();
    (run, report)
}

/// `stepId statusCode status` for each step entry of a report.
fn step_lines(report: &Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .expect("steps is an array")
        .iter()
        .map(|s| {
            format!(
                "{} {} {}",
                s["stepId"].as_str().unwrap_or("?"),
                s["statusCode"],
                s["status"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// `METHOD path[?query]` for every request the stand-in received since `from`.
fn requests_since(api: &StandIn, from: usize) -> Vec<String> {
    api.requests()[from..]
        .iter()
        .map(|r| match &r.query {
            Some(q) => format!("{} {}?{}", r.method, r.path, q),
            None => format!("{} {}", r.method, r.path),
        })
        .collect()
}

/// Creates an auth config, a server named `name` and one instance per user
/// directly over HTTP (not under test here), in order, with a distinct
/// timestamp each. Returns `(auth_config_id, server_id)`.
fn seed(api: &StandIn, name: &str, users: &[&str]) -> (String, String) {
    let base = api.base_url();
    let headers = [("x-api-key", KEY)];
    let (status, body) = support::http(
        "POST",
        &format!("{base}/api/v3/auth_configs"),
        &headers,
        Some(r#"{"toolkit":{"slug":"linear"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    let auth = support::json(&body)["auth_config"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = support::http(
        "POST",
        &format!("{base}/api/v3/mcp/servers"),
        &headers,
        Some(&json!({"name": name, "auth_config_ids": [auth]}).to_string()),
    );
    assert_eq!(status, 201, "{body}");
    let server = support::json(&body)["id"].as_str().unwrap().to_string();
    for user in users {
        let (status, body) = support::http(
            "POST",
            &format!("{base}/api/v3/mcp/servers/{server}/instances"),
            &headers,
            Some(&json!({ "user_id": user }).to_string()),
        );
        assert_eq!(status, 201, "{body}");
    }
    (auth, server)
}

fn instance_ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|i| i["instance_id"].as_str().unwrap().to_string())
        .collect()
}

fn provision_inputs<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("toolkitSlug", "linear"),
        ("authType", "use_composio_managed_auth"),
        ("serverName", "Linear Bot"),
        ("userId", "alice"),
    ]
}

fn assert_failed_at(run: &Run, report: &Value, step: &str) {
    assert_eq!(run.code, 1, "{}", run.context());
    assert_eq!(report["status"], "failed", "{}", run.context());
    assert_eq!(report["error"]["stepId"], step, "{}", run.context());
}

// ---------------------------------------------------------------------------
// validate
// ---------------------------------------------------------------------------

#[test]
fn validate_finds_no_errors_in_the_workflows_folder() {
    let run = exec(support::cli::arazzo().args(["validate", "workflows/"]));
    assert_eq!(run.code, 0, "{}", run.context());

    let run = exec(support::cli::arazzo().args(["validate", "workflows/", "--format", "json"]));
    assert_eq!(run.code, 0, "{}", run.context());
    let diagnostics: Vec<Value> = serde_json::from_str(&run.stdout).expect("JSON diagnostics");
    let errors: Vec<&Value> = diagnostics
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The lifecycle workflows are clean: not even a warning.
    let own: Vec<&Value> = diagnostics
        .iter()
        .filter(|d| {
            let file = d["file"].as_str().unwrap_or("");
            OWN_FILES.iter().any(|f| file.ends_with(f))
        })
        .collect();
    assert!(own.is_empty(), "{own:#?}");
}

#[test]
fn every_lifecycle_workflow_is_listed_with_its_inputs_and_outputs() {
    let run = exec(support::cli::arazzo().args(["list", "-o", "json"]));
    assert_eq!(run.code, 0, "{}", run.context());
    let listed: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    let find = |id: &str| {
        listed
            .iter()
            .find(|w| w["workflowId"] == id)
            .unwrap_or_else(|| panic!("`{id}` is not listed: {}", run.stdout))
    };
    let expect: &[(&str, &[&str], &[&str])] = &[
        (
            "list-mcp-instances",
            &["apiKey", "serverId"],
            &["page", "limit", "search", "orderBy", "orderDirection"],
        ),
        (
            "create-mcp-instance",
            &["apiKey", "serverId", "userId"],
            &[],
        ),
        (
            "delete-mcp-instance",
            &["apiKey", "serverId", "instanceId"],
            &[],
        ),
        (
            "deprovision-mcp-server",
            &["apiKey", "serverId", "authConfigId"],
            &[],
        ),
        (
            "provision-mcp-server-with-cleanup",
            &["apiKey", "toolkitSlug", "authType", "serverName", "userId"],
            &["allowedTools"],
        ),
    ];
    for (id, required, optional) in expect {
        let w = find(id);
        assert!(w["summary"].as_str().is_some_and(|s| !s.is_empty()), "{w}");
        let inputs = w["inputs"].as_array().unwrap();
        for input in inputs {
            assert!(
                input["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{id}: input without a description: {input}"
            );
            assert!(input["type"].is_string(), "{id}: untyped input: {input}");
        }
        let names: Vec<&str> = inputs.iter().map(|i| i["name"].as_str().unwrap()).collect();
        for name in *required {
            let input = inputs.iter().find(|i| i["name"] == *name).unwrap();
            assert_eq!(input["required"], true, "{id}.{name}");
        }
        for name in *optional {
            let input = inputs.iter().find(|i| i["name"] == *name).unwrap();
            assert_eq!(input["required"], false, "{id}.{name}");
        }
        assert_eq!(
            names.len(),
            required.len() + optional.len(),
            "{id}: {names:?}"
        );
        let api_key = inputs.iter().find(|i| i["name"] == "apiKey").unwrap();
        assert_eq!(api_key["env"], "ARAZZO_INPUT_API_KEY");
        assert!(
            !w["outputs"].as_array().unwrap().is_empty(),
            "{id} has no outputs"
        );
    }
}

// ---------------------------------------------------------------------------
// The whole cycle
// ---------------------------------------------------------------------------

#[test]
fn provision_then_list_then_deprovision_leaves_the_stand_in_empty() {
    let api = StandIn::start(KEY);

    let (run, report) = run_json(&api, "provision-mcp-server", &provision_inputs());
    assert_eq!(run.code, 0, "{}", run.context());
    let auth = report["outputs"]["authConfigId"]
        .as_str()
        .unwrap()
        .to_string();
    let server = report["outputs"]["serverId"].as_str().unwrap().to_string();

    for user in ["bob", "carol"] {
        let (run, report) = run_json(
            &api,
            "create-mcp-instance",
            &[("serverId", &server), ("userId", user)],
        );
        assert_eq!(run.code, 0, "{}", run.context());
        assert_eq!(report["outputs"]["instanceId"], user);
    }

    let (run, report) = run_json(&api, "list-mcp-instances", &[("serverId", &server)]);
    assert_eq!(run.code, 0, "{}", run.context());
    let mut listed = instance_ids(&report["outputs"]["instances"]);
    listed.sort();
    assert_eq!(listed, ["alice", "bob", "carol"]);
    assert_eq!(report["outputs"]["serverName"], "Linear Bot");
    assert_eq!(report["outputs"]["totalPages"], 1);
    assert_eq!(report["outputs"]["currentPage"], 1);

    let before = api.requests().len();
    let (run, report) = run_json(
        &api,
        "deprovision-mcp-server",
        &[("serverId", &server), ("authConfigId", &auth)],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["error"], Value::Null);
    assert_eq!(api.state(), Snapshot::default());
    assert!(api.state().is_empty());

    // The goto loop: list the first instance, delete it, list again, until the
    // list is empty; then the server, then the auth config.
    let mut expected = Vec::new();
    for _ in 0..3 {
        expected.push("listInstances 200 succeeded".to_string());
        expected.push("deleteInstance 200 succeeded".to_string());
    }
    expected.push("listInstances 200 succeeded".to_string());
    expected.push("deleteServer 200 succeeded".to_string());
    expected.push("deleteAuthConfig 200 succeeded".to_string());
    assert_eq!(step_lines(&report), expected);

    // Newest update first (the API default): carol, bob, alice.
    let list = format!("GET /api/v3/mcp/servers/{server}/instances?limit=1");
    assert_eq!(
        requests_since(&api, before),
        [
            list.clone(),
            format!("DELETE /api/v3/mcp/servers/{server}/instances/carol"),
            list.clone(),
            format!("DELETE /api/v3/mcp/servers/{server}/instances/bob"),
            list.clone(),
            format!("DELETE /api/v3/mcp/servers/{server}/instances/alice"),
            list,
            format!("DELETE /api/v3/mcp/{server}"),
            format!("DELETE /api/v3/auth_configs/{auth}"),
        ]
    );
    for r in &api.requests()[before..] {
        assert_eq!(r.header("x-api-key"), Some(KEY));
    }
    assert_eq!(
        report["outputs"],
        json!({"lastDeletedInstanceId": "alice", "serverStatusCode": 200, "authConfigStatusCode": 200})
    );
}

// ---------------------------------------------------------------------------
// deprovision-mcp-server
// ---------------------------------------------------------------------------

#[test]
fn deprovision_of_a_server_without_instances_skips_the_loop() {
    let api = StandIn::start(KEY);
    let (auth, server) = seed(&api, "Empty Server", &[]);
    let (run, report) = run_json(
        &api,
        "deprovision-mcp-server",
        &[("serverId", &server), ("authConfigId", &auth)],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(
        step_lines(&report),
        [
            "listInstances 200 succeeded",
            "deleteServer 200 succeeded",
            "deleteAuthConfig 200 succeeded"
        ]
    );
    assert_eq!(report["outputs"]["lastDeletedInstanceId"], Value::Null);
    assert!(api.state().is_empty(), "{:?}", api.state());
}

#[test]
fn deprovision_run_again_treats_404_as_already_deleted() {
    let api = StandIn::start(KEY);
    let (auth, server) = seed(&api, "Twice Deleted", &["u1"]);
    let inputs = [
        ("serverId", server.as_str()),
        ("authConfigId", auth.as_str()),
    ];
    let (run, _) = run_json(&api, "deprovision-mcp-server", &inputs);
    assert_eq!(run.code, 0, "{}", run.context());
    assert!(api.state().is_empty());

    let (run, report) = run_json(&api, "deprovision-mcp-server", &inputs);
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(report["status"], "succeeded");
    assert_eq!(
        step_lines(&report),
        [
            "listInstances 404 succeeded",
            "deleteServer 404 succeeded",
            "deleteAuthConfig 404 succeeded"
        ]
    );
    assert_eq!(
        report["outputs"],
        json!({"lastDeletedInstanceId": null, "serverStatusCode": 404, "authConfigStatusCode": 404})
    );
}

#[test]
fn deprovision_finishes_the_job_after_a_partial_failure() {
    let api = StandIn::start(KEY);
    let (auth, server) = seed(&api, "Half Deleted", &["u1", "u2"]);
    let inputs = [
        ("serverId", server.as_str()),
        ("authConfigId", auth.as_str()),
    ];
    api.fail_next(
        "/api/v3/auth_configs/",
        500,
        json!({"error": {"message": "boom", "code": 1, "status": 500}}),
    );
    let (run, report) = run_json(&api, "deprovision-mcp-server", &inputs);
    assert_failed_at(&run, &report, "deleteAuthConfig");
    assert_eq!(report["error"]["kind"], "criteria");
    assert_eq!(
        api.state(),
        Snapshot {
            auth_configs: vec![auth.clone()],
            ..Snapshot::default()
        }
    );

    let (run, report) = run_json(&api, "deprovision-mcp-server", &inputs);
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(report["outputs"]["serverStatusCode"], 404);
    assert_eq!(report["outputs"]["authConfigStatusCode"], 200);
    assert!(api.state().is_empty());
}

#[test]
fn deprovision_keeps_the_server_when_an_instance_cannot_be_deleted() {
    let api = StandIn::start(KEY);
    let (auth, server) = seed(&api, "Stubborn Server", &["u1", "u2"]);
    api.fail_next(
        &format!("/api/v3/mcp/servers/{server}/instances/"),
        500,
        json!({"error": {"message": "instance store unavailable", "code": 1, "status": 500}}),
    );
    let (run, report) = run_json(
        &api,
        "deprovision-mcp-server",
        &[("serverId", &server), ("authConfigId", &auth)],
    );
    assert_failed_at(&run, &report, "deleteInstance");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("500"), "{message}");
    assert_eq!(
        step_lines(&report),
        ["listInstances 200 succeeded", "deleteInstance 500 failed"]
    );
    let state = api.state();
    assert_eq!(state.servers, [server]);
    assert_eq!(state.auth_configs, [auth]);
    assert_eq!(state.instances.len(), 2);
}

#[test]
fn deprovision_loop_is_bounded_by_the_step_budget() {
    let api = StandIn::start(KEY);
    let (auth, server) = seed(&api, "Many Instances", &["u1", "u2", "u3", "u4"]);
    let (run, report) = run_json_with(
        &api,
        "deprovision-mcp-server",
        &[("serverId", &server), ("authConfigId", &auth)],
        &["--max-steps", "5"],
    );
    assert_eq!(run.code, 1, "{}", run.context());
    assert_eq!(report["error"]["kind"], "budget");
    assert_eq!(report["steps"].as_array().unwrap().len(), 5);
    // Two instances went, the rest and the server are still there.
    let state = api.state();
    assert_eq!(state.instances.len(), 2);
    assert_eq!(state.servers, std::slice::from_ref(&server));

    // Raising the budget (or the default) finishes it.
    let (run, _) = run_json(
        &api,
        "deprovision-mcp-server",
        &[("serverId", &server), ("authConfigId", &auth)],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert!(api.state().is_empty());
}

#[test]
fn deprovision_needs_the_server_and_the_auth_config() {
    let api = StandIn::start(KEY);
    let run = run_workflow(&api, "deprovision-mcp-server", &[("serverId", "s")], &[]);
    assert_eq!(run.code, 2, "{}", run.context());
    assert!(run.stderr.contains("authConfigId"), "{}", run.context());
    assert!(api.requests().is_empty());
}

#[test]
fn deprovision_in_human_mode_shows_each_step() {
    let api = StandIn::start(KEY);
    let (auth, server) = seed(&api, "Human Output", &["u1"]);
    let run = run_workflow(
        &api,
        "deprovision-mcp-server",
        &[("serverId", &server), ("authConfigId", &auth)],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    for step in [
        "listInstances",
        "deleteInstance",
        "deleteServer",
        "deleteAuthConfig",
    ] {
        assert!(
            run.stderr.contains(&format!("✓ {step}")),
            "{}",
            run.context()
        );
    }
    assert!(run.stdout.contains("serverStatusCode"), "{}", run.context());
    assert!(api.state().is_empty());
}

// ---------------------------------------------------------------------------
// list-mcp-instances
// ---------------------------------------------------------------------------

const FIVE: &[&str] = &["alice", "bob", "alfred", "dave", "eve"];

#[test]
fn list_pages_through_five_instances_two_at_a_time() {
    let api = StandIn::start(KEY);
    let (_, server) = seed(&api, "Paged Server", FIVE);
    let before = api.requests().len();
    let (run, report) = run_json(
        &api,
        "list-mcp-instances",
        &[("serverId", &server), ("limit", "2"), ("page", "2")],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(report["status"], "succeeded");
    // Newest update first: eve, dave | alfred, bob | alice.
    assert_eq!(
        instance_ids(&report["outputs"]["instances"]),
        ["alfred", "bob"]
    );
    assert_eq!(report["outputs"]["currentPage"], 2);
    assert_eq!(report["outputs"]["totalPages"], 3);
    assert_eq!(report["outputs"]["serverName"], "Paged Server");
    let first = &report["outputs"]["instances"][0];
    assert_eq!(first["mcp_server_id"], server.as_str());
    assert!(first["id"].is_string() && first["created_at"].is_string());
    assert_eq!(
        requests_since(&api, before),
        [format!(
            "GET /api/v3/mcp/servers/{server}/instances?page_no=2&limit=2"
        )]
    );

    let (run, report) = run_json(
        &api,
        "list-mcp-instances",
        &[("serverId", &server), ("limit", "2"), ("page", "3")],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(instance_ids(&report["outputs"]["instances"]), ["alice"]);
    assert_eq!(report["outputs"]["currentPage"], 3);
}

#[test]
fn list_without_optional_inputs_sends_no_query() {
    let api = StandIn::start(KEY);
    let (_, server) = seed(&api, "Default Paging", FIVE);
    let before = api.requests().len();
    let (run, report) = run_json(&api, "list-mcp-instances", &[("serverId", &server)]);
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(
        instance_ids(&report["outputs"]["instances"]),
        ["eve", "dave", "alfred", "bob", "alice"]
    );
    assert_eq!(report["outputs"]["totalPages"], 1);
    let reqs = &api.requests()[before..];
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].query, None, "nothing optional was given");
    assert_eq!(reqs[0].header("x-api-key"), Some(KEY));
}

#[test]
fn list_searches_by_instance_id() {
    let api = StandIn::start(KEY);
    let (_, server) = seed(&api, "Searched Server", FIVE);
    let before = api.requests().len();
    let (run, report) = run_json(
        &api,
        "list-mcp-instances",
        &[("serverId", &server), ("search", "al")],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(
        instance_ids(&report["outputs"]["instances"]),
        ["alfred", "alice"]
    );
    assert_eq!(
        requests_since(&api, before),
        [format!(
            "GET /api/v3/mcp/servers/{server}/instances?search=al"
        )]
    );

    let (run, report) = run_json(
        &api,
        "list-mcp-instances",
        &[("serverId", &server), ("search", "nobody")],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(report["outputs"]["instances"], json!([]));
    assert_eq!(report["outputs"]["totalPages"], 0);
}

#[test]
fn list_orders_by_the_given_field_and_direction() {
    let api = StandIn::start(KEY);
    let (_, server) = seed(&api, "Ordered Server", FIVE);
    let before = api.requests().len();
    let (run, report) = run_json(
        &api,
        "list-mcp-instances",
        &[
            ("serverId", &server),
            ("orderBy", "created_at"),
            ("orderDirection", "asc"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(instance_ids(&report["outputs"]["instances"]), FIVE);
    assert_eq!(
        requests_since(&api, before),
        [format!(
            "GET /api/v3/mcp/servers/{server}/instances?order_by=created_at&order_direction=asc"
        )]
    );

    let (run, report) = run_json(
        &api,
        "list-mcp-instances",
        &[
            ("serverId", &server),
            ("orderBy", "updated_at"),
            ("orderDirection", "desc"),
            ("limit", "1"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(instance_ids(&report["outputs"]["instances"]), ["eve"]);
    assert_eq!(report["outputs"]["totalPages"], 5);
}

#[test]
fn list_rejects_an_unknown_ordering_before_sending_anything() {
    let api = StandIn::start(KEY);
    let run = run_workflow(
        &api,
        "list-mcp-instances",
        &[("serverId", "s"), ("orderBy", "name")],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.context());
    assert!(run.stderr.contains("orderBy"), "{}", run.context());
    let run = run_workflow(
        &api,
        "list-mcp-instances",
        &[("serverId", "s"), ("limit", "two")],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.context());
    assert!(run.stderr.contains("limit"), "{}", run.context());
    assert!(api.requests().is_empty());
}

#[test]
fn list_of_an_unknown_server_fails_at_list_instances() {
    let api = StandIn::start(KEY);
    let (run, report) = run_json(
        &api,
        "list-mcp-instances",
        &[("serverId", "no-such-server")],
    );
    assert_failed_at(&run, &report, "listInstances");
    assert_eq!(report["error"]["kind"], "criteria");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("404"), "{message}");
}

// ---------------------------------------------------------------------------
// create-mcp-instance and delete-mcp-instance
// ---------------------------------------------------------------------------

#[test]
fn create_instance_on_an_existing_server() {
    let api = StandIn::start(KEY);
    let (_, server) = seed(&api, "Existing Server", &[]);
    let before = api.requests().len();
    let (run, report) = run_json(
        &api,
        "create-mcp-instance",
        &[("serverId", &server), ("userId", "zoe")],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(report["status"], "succeeded");
    assert_eq!(step_lines(&report), ["createInstance 201 succeeded"]);
    let outputs = &report["outputs"];
    assert_eq!(outputs["instanceId"], "zoe");
    assert_eq!(outputs["serverId"], server.as_str());
    assert!(outputs["instanceRecordId"].is_string(), "{outputs}");
    assert!(outputs["createdAt"].is_string(), "{outputs}");
    let reqs = &api.requests()[before..];
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(
        reqs[0].path,
        format!("/api/v3/mcp/servers/{server}/instances")
    );
    assert_eq!(reqs[0].body, Some(json!({"user_id": "zoe"})));
    assert_eq!(reqs[0].header("x-api-key"), Some(KEY));
    assert_eq!(api.state().instances, [(server, "zoe".to_string())]);
}

#[test]
fn create_instance_twice_fails_with_409_at_create_instance() {
    let api = StandIn::start(KEY);
    let (_, server) = seed(&api, "Duplicate Users", &["zoe"]);
    let (run, report) = run_json(
        &api,
        "create-mcp-instance",
        &[("serverId", &server), ("userId", "zoe")],
    );
    assert_failed_at(&run, &report, "createInstance");
    assert_eq!(report["error"]["kind"], "criteria");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("409"), "{message}");
    assert_eq!(step_lines(&report), ["createInstance 409 failed"]);
    assert_eq!(api.state().instances.len(), 1);
}

#[test]
fn create_instance_on_an_unknown_server_fails_with_404() {
    let api = StandIn::start(KEY);
    let (run, report) = run_json(
        &api,
        "create-mcp-instance",
        &[("serverId", "no-such-server"), ("userId", "zoe")],
    );
    assert_failed_at(&run, &report, "createInstance");
    assert!(
        report["error"]["message"].as_str().unwrap().contains("404"),
        "{}",
        run.context()
    );
    assert_eq!(step_lines(&report), ["createInstance 404 failed"]);
    assert!(api.state().is_empty());
}

#[test]
fn create_instance_in_human_mode_names_the_failed_step() {
    let api = StandIn::start(KEY);
    let (_, server) = seed(&api, "Human Duplicate", &["zoe"]);
    let run = run_workflow(
        &api,
        "create-mcp-instance",
        &[("serverId", &server), ("userId", "zoe")],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.context());
    assert!(run.stderr.contains("createInstance"), "{}", run.context());
    assert!(run.stderr.contains("409"), "{}", run.context());
}

#[test]
fn delete_instance_removes_only_that_instance() {
    let api = StandIn::start(KEY);
    let (_, server) = seed(&api, "Shrinking Server", &["u1", "u2"]);
    let before = api.requests().len();
    let (run, report) = run_json(
        &api,
        "delete-mcp-instance",
        &[("serverId", &server), ("instanceId", "u1")],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(step_lines(&report), ["deleteInstance 200 succeeded"]);
    assert_eq!(report["outputs"]["deletedConnectedAccounts"], 0);
    assert!(
        report["outputs"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("u1")),
        "{report}"
    );
    assert_eq!(
        requests_since(&api, before),
        [format!("DELETE /api/v3/mcp/servers/{server}/instances/u1")]
    );
    assert_eq!(api.state().instances, [(server, "u2".to_string())]);
}

#[test]
fn delete_instance_that_does_not_exist_fails_with_404() {
    let api = StandIn::start(KEY);
    let (_, server) = seed(&api, "No Such User", &["u1"]);
    let (run, report) = run_json(
        &api,
        "delete-mcp-instance",
        &[("serverId", &server), ("instanceId", "ghost")],
    );
    assert_failed_at(&run, &report, "deleteInstance");
    assert_eq!(report["error"]["kind"], "criteria");
    assert!(
        report["error"]["message"].as_str().unwrap().contains("404"),
        "{}",
        run.context()
    );
    assert_eq!(step_lines(&report), ["deleteInstance 404 failed"]);
    assert_eq!(api.state().instances.len(), 1);

    let (run, report) = run_json(
        &api,
        "delete-mcp-instance",
        &[("serverId", "no-such-server"), ("instanceId", "u1")],
    );
    assert_failed_at(&run, &report, "deleteInstance");
    assert_eq!(step_lines(&report), ["deleteInstance 404 failed"]);
}

#[test]
fn instance_ids_with_reserved_characters_are_percent_encoded() {
    let api = StandIn::start(KEY);
    let (_, server) = seed(&api, "Odd User Ids", &[]);
    let user = "mail@example.com/x y";
    let (run, _) = run_json(
        &api,
        "create-mcp-instance",
        &[("serverId", &server), ("userId", user)],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    let (run, _) = run_json(
        &api,
        "delete-mcp-instance",
        &[("serverId", &server), ("instanceId", user)],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    let last = api.requests().pop().unwrap();
    assert!(!last.path.contains(' '), "{}", last.path);
    assert!(api.state().instances.is_empty());
}

// ---------------------------------------------------------------------------
// provision-mcp-server-with-cleanup
// ---------------------------------------------------------------------------

/// The id the stand-in gives the first MCP server it creates.
const FIRST_SERVER_ID: &str = "00000000-0000-4000-8000-000000000001";

fn cleanup_run(api: &StandIn, extra: &[&str]) -> (Run, Value) {
    run_json_with(
        api,
        "provision-mcp-server-with-cleanup",
        &provision_inputs(),
        extra,
    )
}

#[test]
fn cleanup_variant_on_success_runs_no_cleanup_step() {
    let api = StandIn::start(KEY);
    let (run, report) = cleanup_run(&api, &[]);
    assert_eq!(run.code, 0, "{}", run.context());
    assert_eq!(report["status"], "succeeded");
    assert_eq!(
        step_lines(&report),
        [
            "createAuthConfig 201 succeeded",
            "createServer 201 succeeded",
            "getServer 200 succeeded",
            "createInstance 201 succeeded"
        ]
    );
    assert_eq!(api.requests().len(), 4);
    let state = api.state();
    assert_eq!(state.auth_configs.len(), 1);
    assert_eq!(state.servers, [FIRST_SERVER_ID]);
    assert_eq!(
        state.instances,
        [(FIRST_SERVER_ID.to_string(), "alice".to_string())]
    );
    let outputs = &report["outputs"];
    assert_eq!(outputs["authConfigId"], state.auth_configs[0].as_str());
    assert_eq!(outputs["serverId"], FIRST_SERVER_ID);
    assert_eq!(
        outputs["mcpUrl"],
        format!("https://backend.composio.dev/v3/mcp/{FIRST_SERVER_ID}")
    );
    assert_eq!(outputs["instanceId"], "alice");
    assert!(outputs["commands"]["claude"].is_string(), "{outputs}");
    for cleanup in [
        "instanceCleanupStatus",
        "serverCleanupStatus",
        "authConfigCleanupStatus",
    ] {
        assert_eq!(outputs[cleanup], Value::Null, "{cleanup}");
    }
}

#[test]
fn cleanup_variant_undoes_server_and_auth_config_when_get_server_fails() {
    let api = StandIn::start(KEY);
    api.fail_next_method(
        "GET",
        &format!("/api/v3/mcp/{FIRST_SERVER_ID}"),
        503,
        json!({"error": {"message": "temporarily unavailable", "code": 1, "status": 503}}),
    );
    let (run, report) = cleanup_run(&api, &[]);
    assert_failed_at(&run, &report, "getServer");
    assert_eq!(report["error"]["kind"], "criteria");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("$statusCode == 200") && message.contains("503"),
        "{message}"
    );
    assert_eq!(
        step_lines(&report),
        [
            "createAuthConfig 201 succeeded",
            "createServer 201 succeeded",
            "getServer 503 failed",
            "cleanupServer 200 succeeded",
            "cleanupAuthConfig 200 succeeded"
        ]
    );
    assert!(api.state().is_empty(), "{:?}", api.state());
    let auth = report["outputs"]["authConfigId"].as_str().unwrap();
    assert_eq!(
        requests_since(&api, 0)[3..],
        [
            format!("DELETE /api/v3/mcp/{FIRST_SERVER_ID}"),
            format!("DELETE /api/v3/auth_configs/{auth}"),
        ]
    );
    let outputs = &report["outputs"];
    assert_eq!(outputs["serverId"], FIRST_SERVER_ID);
    assert_eq!(outputs["serverCleanupStatus"], 200);
    assert_eq!(outputs["authConfigCleanupStatus"], 200);
    assert!(outputs.get("instanceCleanupStatus").is_none(), "{outputs}");
    assert!(outputs.get("instanceId").is_none(), "{outputs}");
}

#[test]
fn cleanup_variant_undoes_everything_when_create_instance_fails() {
    let api = StandIn::start(KEY);
    api.fail_next(
        &format!("/api/v3/mcp/servers/{FIRST_SERVER_ID}/instances"),
        500,
        json!({"error": {"message": "instance store unavailable", "code": 1, "status": 500}}),
    );
    let (run, report) = cleanup_run(&api, &[]);
    assert_failed_at(&run, &report, "createInstance");
    assert!(
        report["error"]["message"].as_str().unwrap().contains("500"),
        "{}",
        run.context()
    );
    assert_eq!(
        step_lines(&report),
        [
            "createAuthConfig 201 succeeded",
            "createServer 201 succeeded",
            "getServer 200 succeeded",
            "createInstance 500 failed",
            // The failed create did not make the instance: 404 counts as done.
            "cleanupInstance 404 succeeded",
            "cleanupServer 200 succeeded",
            "cleanupAuthConfig 200 succeeded"
        ]
    );
    assert!(api.state().is_empty(), "{:?}", api.state());
    assert_eq!(
        requests_since(&api, 0)[4],
        format!("DELETE /api/v3/mcp/servers/{FIRST_SERVER_ID}/instances/alice")
    );
    let outputs = &report["outputs"];
    assert_eq!(outputs["instanceCleanupStatus"], 404);
    assert_eq!(outputs["serverCleanupStatus"], 200);
    assert_eq!(outputs["authConfigCleanupStatus"], 200);
}

#[test]
fn cleanup_variant_undoes_the_auth_config_when_create_server_fails() {
    let api = StandIn::start(KEY);
    // The server rejects the name; preflight would have stopped it first.
    let mut inputs = provision_inputs();
    inputs[2] = ("serverName", "ab");
    let (run, report) = run_json_with(
        &api,
        "provision-mcp-server-with-cleanup",
        &inputs,
        &["--no-preflight"],
    );
    assert_failed_at(&run, &report, "createServer");
    assert_eq!(
        step_lines(&report),
        [
            "createAuthConfig 201 succeeded",
            "createServer 400 failed",
            "cleanupAuthConfig 200 succeeded"
        ]
    );
    assert!(api.state().is_empty(), "{:?}", api.state());
}

#[test]
fn cleanup_variant_failure_in_the_first_step_leaves_nothing_to_undo() {
    let api = StandIn::start("another-key-entirely");
    let (run, report) = cleanup_run(&api, &[]);
    assert_failed_at(&run, &report, "createAuthConfig");
    assert_eq!(step_lines(&report), ["createAuthConfig 401 failed"]);
    assert_eq!(api.requests().len(), 1);
}

#[test]
fn cleanup_that_fails_stops_keeps_the_original_error_and_deprovision_finishes() {
    let api = StandIn::start(KEY);
    api.fail_next(
        &format!("/api/v3/mcp/servers/{FIRST_SERVER_ID}/instances"),
        500,
        json!({"error": {"message": "instance store unavailable", "code": 1, "status": 500}}),
    );
    api.fail_next_method(
        "DELETE",
        &format!("/api/v3/mcp/{FIRST_SERVER_ID}"),
        500,
        json!({"error": {"message": "cannot delete now", "code": 1, "status": 500}}),
    );
    let (run, report) = cleanup_run(&api, &[]);
    // The error is still the failure that started the cleanup.
    assert_failed_at(&run, &report, "createInstance");
    assert_eq!(
        step_lines(&report),
        [
            "createAuthConfig 201 succeeded",
            "createServer 201 succeeded",
            "getServer 200 succeeded",
            "createInstance 500 failed",
            "cleanupInstance 404 succeeded",
            "cleanupServer 500 failed"
        ]
    );
    // The auth config is not deleted under a server that still uses it; what
    // is left is in the outputs...
    let state = api.state();
    assert_eq!(state.servers, [FIRST_SERVER_ID]);
    assert_eq!(state.auth_configs.len(), 1);
    let outputs = &report["outputs"];
    assert_eq!(outputs["serverId"], FIRST_SERVER_ID);
    assert_eq!(outputs["authConfigId"], state.auth_configs[0].as_str());
    assert_eq!(outputs["serverCleanupStatus"], 500);

    // ...and is exactly what deprovision-mcp-server takes.
    let auth = state.auth_configs[0].clone();
    let (run, _) = run_json(
        &api,
        "deprovision-mcp-server",
        &[("serverId", FIRST_SERVER_ID), ("authConfigId", &auth)],
    );
    assert_eq!(run.code, 0, "{}", run.context());
    assert!(api.state().is_empty());
}

#[test]
fn cleanup_variant_in_human_mode_reports_the_failure_and_the_cleanup() {
    let api = StandIn::start(KEY);
    api.fail_next_method(
        "GET",
        &format!("/api/v3/mcp/{FIRST_SERVER_ID}"),
        500,
        json!({}),
    );
    let run = run_workflow(
        &api,
        "provision-mcp-server-with-cleanup",
        &provision_inputs(),
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.context());
    assert!(run.stderr.contains("getServer"), "{}", run.context());
    assert!(
        run.stderr.contains("✓ cleanupServer") && run.stderr.contains("✓ cleanupAuthConfig"),
        "{}",
        run.context()
    );
    assert!(api.state().is_empty());
}

#[test]
fn cleanup_variant_in_human_mode_does_not_claim_cleaned_up_resources_still_exist() {
    let api = StandIn::start(KEY);
    api.fail_next(
        &format!("/api/v3/mcp/servers/{FIRST_SERVER_ID}/instances"),
        500,
        json!({}),
    );
    let run = run_workflow(
        &api,
        "provision-mcp-server-with-cleanup",
        &provision_inputs(),
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.context());
    assert!(api.state().is_empty());
    // The steps that completed before `createInstance` failed are the first
    // three; the cleanup steps ran after it and deleted what those created.
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("before the failure"))
        .unwrap_or_else(|| panic!("no help line:\n{}", run.context()));
    assert!(
        line.contains("createAuthConfig, createServer, getServer"),
        "{line}"
    );
    assert!(!line.contains("cleanup"), "{line}");
}
