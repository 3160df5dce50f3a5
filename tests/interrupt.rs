//! SIGINT and SIGTERM during a run, and `--resume`: through the binary against
//! the Composio stand-in, which can hold a request to keep it in flight.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::cli::{arazzo, exec, provision, provision_std, wait_until, Running};
use support::composio::StandIn;

const KEY: &str = "ck_live_Interrupt-5Rv-SECRET";

/// The requests the stand-in received, as `METHOD /path`.
fn lines(api: &StandIn) -> Vec<String> {
    api.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Every byte of every file in `dir`, for the key check.
fn assert_no_key_in(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(KEY), "the key is in {}", path.display());
    }
}

/// A JUnit file parses as XML and has the counts given.
fn assert_junit(path: &std::path::Path, tests: usize, failures: usize, errors: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let pkg = sxd_document::parser::parse(&text)
        .unwrap_or_else(|e| panic!("JUnit is not XML ({e:?}):\n{text}"));
    let doc = pkg.as_document();
    let root = doc.root().children()[0].element().expect("a root element");
    assert_eq!(root.name().local_part(), "testsuites");
    assert_eq!(
        root.attribute_value("tests"),
        Some(&*tests.to_string()),
        "{text}"
    );
    assert_eq!(
        root.attribute_value("failures"),
        Some(&*failures.to_string()),
        "{text}"
    );
    assert_eq!(
        root.attribute_value("errors"),
        Some(&*errors.to_string()),
        "{text}"
    );
}

#[test]
fn sigint_with_a_request_in_flight_writes_every_report_and_exits_130() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let (junit, trace) = (dir.path().join("run.xml"), dir.path().join("trace.json"));
    // The fourth request (createInstance) hangs.
    api.hold_next("POST", "/api/v3/mcp/servers/", Duration::from_secs(60));
    let mut cmd = provision_std(
        &api.base_url(),
        KEY,
        &["-o", "json", "--grace-period", "300ms", "--junit"],
    );
    cmd.arg(&junit).arg("--trace").arg(&trace);
    let run = Running::start(cmd);
    wait_until("createInstance is in flight", || api.requests().len() == 4);
    run.signal("INT");
    let out = run.finish(Duration::from_secs(20));

    assert_eq!(out.code, 130, "{}", out.context());
    let report = out.json();
    assert_eq!(report["status"], "interrupted");
    assert_eq!(report["error"]["kind"], "interrupted");
    assert_eq!(report["error"]["stepId"], "createInstance");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SIGINT"),
        "{report}"
    );
    let steps = report["steps"].as_array().unwrap();
    let status: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s["stepId"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        status,
        [
            ("createAuthConfig", "succeeded"),
            ("createServer", "succeeded"),
            ("getServer", "succeeded"),
            ("createInstance", "uncertain"),
        ]
    );
    // What was created is in the report, with its ids.
    let state = api.state();
    assert_eq!(
        report["outputs"]["authConfigId"].as_str(),
        Some(state.auth_configs[0].as_str())
    );
    assert_eq!(
        report["outputs"]["serverId"].as_str(),
        Some(state.servers[0].as_str())
    );
    assert_eq!(report["inputs"]["userId"], "alice");
    assert_eq!(report["secretInputs"], serde_json::json!(["apiKey"]));
    // Nothing was sent after the signal.
    assert_eq!(api.requests().len(), 4);
    assert!(out.stderr.contains("SIGINT"), "{}", out.stderr);

    assert_junit(&junit, 4, 0, 1);
    let trace: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    assert_eq!(trace["status"], "interrupted");
    let exchanges = trace["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 4);
    assert_eq!(exchanges[3]["response"], Value::Null);
    assert!(exchanges[3]["error"]
        .as_str()
        .unwrap()
        .contains("grace period"));
    out.assert_no(KEY);
    assert_no_key_in(dir.path());
}

#[test]
fn human_summary_of_an_interrupted_run_lists_what_was_created() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let report_file = dir.path().join("report.json");
    api.hold_next("GET", "/api/v3/mcp/", Duration::from_secs(60));
    let mut cmd = provision_std(&api.base_url(), KEY, &["--grace-period", "200ms"]);
    cmd.arg("--report").arg(&report_file);
    let run = Running::start(cmd);
    wait_until("getServer is in flight", || api.requests().len() == 3);
    run.signal("TERM");
    let out = run.finish(Duration::from_secs(20));

    assert_eq!(out.code, 143, "{}", out.context());
    let state = api.state();
    // The ids of what was created, step by step, on stderr; the outputs known
    // on stdout.
    assert!(
        out.stderr
            .contains(&format!("authConfigId={}", state.auth_configs[0])),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("serverId={}", state.servers[0])),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("was in flight"), "{}", out.stderr);
    assert!(
        out.stderr.contains("--resume") && out.stderr.contains("report.json"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains(&state.servers[0]),
        "outputs on stdout:\n{}",
        out.stdout
    );
    let saved: Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();
    assert_eq!(saved["status"], "interrupted");
    out.assert_no(KEY);
    assert_no_key_in(dir.path());
}

/// SIGTERM while step 2 waits for its answer: the answer comes within the
/// grace period, so step 2 finishes, and the run stops before step 3. The
/// report then continues with `--resume`, which sends only steps 3 and 4.
#[test]
fn a_run_interrupted_after_step_2_resumes_with_only_steps_3_and_4() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    api.hold_next("POST", "/api/v3/mcp/servers", Duration::from_millis(800));
    let run = Running::start(provision_std(
        &api.base_url(),
        KEY,
        &["-o", "json", "--grace-period", "20s"],
    ));
    wait_until("createServer is in flight", || api.requests().len() == 2);
    run.signal("TERM");
    let out = run.finish(Duration::from_secs(30));
    assert_eq!(out.code, 143, "{}", out.context());
    let report = out.json();
    assert_eq!(report["status"], "interrupted");
    assert_eq!(report["error"]["stepId"], "getServer");
    assert!(report["error"]["message"]
        .as_str()
        .unwrap()
        .contains("before the step started"));
    assert_eq!(report["steps"].as_array().unwrap().len(), 2);
    assert_eq!(api.requests().len(), 2);
    let saved = dir.path().join("interrupted.json");
    std::fs::write(&saved, &out.stdout).unwrap();

    // The key comes from the environment again; nothing else is given.
    let resumed = exec(
        arazzo()
            .env("ARAZZO_INPUT_API_KEY", KEY)
            .args(["run", "--resume"])
            .arg(&saved)
            .args(["-o", "json", "--server"])
            .arg(format!("composioApi={}", api.base_url())),
    );
    assert_eq!(resumed.code, 0, "{}", resumed.context());
    let server = api.state().servers[0].clone();
    assert_eq!(
        lines(&api)[2..],
        [
            format!("GET /api/v3/mcp/{server}"),
            format!("POST /api/v3/mcp/servers/{server}/instances"),
        ]
    );
    let r = resumed.json();
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["outputs"]["serverId"], server.as_str());
    assert_eq!(r["outputs"]["instanceId"], "alice");
    let steps: Vec<(&str, bool)> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stepId"].as_str().unwrap(),
                s["resumed"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("createAuthConfig", true),
            ("createServer", true),
            ("getServer", false),
            ("createInstance", false),
        ]
    );
    // The request of step 3 carries step 2's output, restored from the report.
    assert!(resumed
        .stderr
        .contains("not sent again: createAuthConfig, createServer"));
    resumed.assert_no(KEY);

    // The report of the resumed run says it succeeded: resuming it again
    // sends nothing and prints the same outputs.
    let done = dir.path().join("done.json");
    std::fs::write(&done, &resumed.stdout).unwrap();
    let again = exec(
        arazzo()
            .env("ARAZZO_INPUT_API_KEY", KEY)
            .args(["run", "--resume"])
            .arg(&done)
            .args(["-o", "json"]),
    );
    assert_eq!(again.code, 0, "{}", again.context());
    assert_eq!(again.json()["outputs"], r["outputs"]);
    assert_eq!(api.requests().len(), 4);
}

#[test]
fn an_uncertain_post_is_sent_again_only_when_asked() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    api.hold_next("POST", "/api/v3/mcp/servers", Duration::from_secs(60));
    let run = Running::start(provision_std(
        &api.base_url(),
        KEY,
        &["-o", "json", "--grace-period", "100ms"],
    ));
    wait_until("createServer is in flight", || api.requests().len() == 2);
    run.signal("INT");
    let out = run.finish(Duration::from_secs(20));
    assert_eq!(out.code, 130, "{}", out.context());
    assert_eq!(out.json()["steps"][1]["status"], "uncertain");
    let saved = dir.path().join("r.json");
    std::fs::write(&saved, &out.stdout).unwrap();
    let resume = |extra: &[&str]| {
        let mut cmd = arazzo();
        cmd.env("ARAZZO_INPUT_API_KEY", KEY)
            .args(["run", "provision-mcp-server", "--resume"])
            .arg(&saved)
            .args(["--server", &format!("composioApi={}", api.base_url())])
            .args(extra);
        exec(&mut cmd)
    };
    let refused = resume(&[]);
    assert_eq!(refused.code, 2, "{}", refused.context());
    assert!(
        refused.stderr.contains("createServer") && refused.stderr.contains("--resend-uncertain"),
        "{}",
        refused.stderr
    );
    assert_eq!(api.requests().len(), 2, "nothing was sent");

    let resent = resume(&["--resend-uncertain", "-o", "json"]);
    assert_eq!(resent.code, 0, "{}", resent.context());
    let sent = lines(&api);
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert_eq!(sent[2], "POST /api/v3/mcp/servers");
    assert!(resent.stderr.contains("sent again"), "{}", resent.stderr);
}

#[test]
fn resume_refuses_what_would_repeat_or_contradict_the_earlier_run() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    // A run that failed at createServer (the stand-in answers 500 once).
    api.fail_next(
        "/api/v3/mcp/servers",
        500,
        serde_json::json!({"error": "boom"}),
    );
    let failed = exec(&mut provision(&api.base_url(), KEY, &["-o", "json"]));
    assert_eq!(failed.code, 1, "{}", failed.context());
    let saved = dir.path().join("failed.json");
    std::fs::write(&saved, &failed.stdout).unwrap();
    let base = |cmd: &mut assert_cmd::Command| {
        cmd.env("ARAZZO_INPUT_API_KEY", KEY)
            .args(["run", "--resume"])
            .arg(&saved)
            .args(["--server", &format!("composioApi={}", api.base_url())]);
    };

    // Another value for an input the report holds.
    let mut cmd = arazzo();
    base(&mut cmd);
    cmd.args(["-i", "userId=bob"]);
    let out = exec(&mut cmd);
    assert_eq!(out.code, 2, "{}", out.context());
    assert!(out.stderr.contains("`userId`"), "{}", out.stderr);

    // Without the key (the report leaves it out).
    let out = exec(
        arazzo()
            .args(["run", "--resume"])
            .arg(&saved)
            .args(["--server", &format!("composioApi={}", api.base_url())]),
    );
    assert_eq!(out.code, 2, "{}", out.context());
    assert!(
        out.stderr.contains("ARAZZO_INPUT_API_KEY"),
        "{}",
        out.stderr
    );

    // A report of another workflow.
    let out = exec(
        arazzo()
            .env("ARAZZO_INPUT_API_KEY", KEY)
            .args(["run", "create-mcp-instance", "--resume"])
            .arg(&saved),
    );
    assert_eq!(out.code, 2, "{}", out.context());
    assert!(
        out.stderr.contains("provision-mcp-server"),
        "{}",
        out.stderr
    );

    // Not a report.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "[1, 2]").unwrap();
    let out = exec(
        arazzo()
            .args(["run", "provision-mcp-server", "--resume"])
            .arg(&junk),
    );
    assert_eq!(out.code, 2, "{}", out.context());
    assert!(out.stderr.contains("not a run report"), "{}", out.stderr);
    assert_eq!(api.requests().len(), 2, "nothing was sent by the refusals");

    // And it continues: createServer is sent again (it had failed), then 3, 4.
    let mut cmd = arazzo();
    base(&mut cmd);
    let out = exec(&mut cmd);
    assert_eq!(out.code, 0, "{}", out.context());
    let sent = lines(&api);
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert_eq!(sent[2], "POST /api/v3/mcp/servers");
    assert_eq!(
        api.state().auth_configs.len(),
        1,
        "one auth config, not two"
    );
}

#[test]
fn a_cleanup_run_is_not_resumed() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    api.fail_next("/api/v3/mcp/servers/", 500, serde_json::json!({}));
    let mut cmd = arazzo();
    cmd.env("ARAZZO_INPUT_API_KEY", KEY)
        .args(["run", "provision-mcp-server-with-cleanup"])
        .args(support::cli::PROVISION_INPUTS)
        .args([
            "-o",
            "json",
            "--server",
            &format!("composioApi={}", api.base_url()),
        ]);
    let failed = exec(&mut cmd);
    assert_eq!(failed.code, 1, "{}", failed.context());
    let saved = dir.path().join("r.json");
    std::fs::write(&saved, &failed.stdout).unwrap();
    let sent = api.requests().len();
    let out = exec(
        arazzo()
            .env("ARAZZO_INPUT_API_KEY", KEY)
            .args(["run", "--resume"])
            .arg(&saved)
            .args(["--server", &format!("composioApi={}", api.base_url())]),
    );
    assert_eq!(out.code, 2, "{}", out.context());
    assert!(out.stderr.contains("onFailure"), "{}", out.stderr);
    assert_eq!(api.requests().len(), sent);
}

#[test]
fn a_second_signal_exits_at_once() {
    let api = StandIn::start(KEY);
    api.hold_next("POST", "/api/v3/auth_configs", Duration::from_secs(60));
    let run = Running::start(provision_std(
        &api.base_url(),
        KEY,
        &["-o", "json", "--grace-period", "60s"],
    ));
    wait_until("createAuthConfig is in flight", || {
        api.requests().len() == 1
    });
    run.signal("INT");
    std::thread::sleep(Duration::from_millis(300));
    run.signal("INT");
    let out = run.finish(Duration::from_secs(10));
    assert_eq!(out.code, 130, "{}", out.context());
    assert!(out.stderr.contains("again"), "{}", out.stderr);
}

#[test]
fn a_signal_before_anything_is_sent_exits_at_once() {
    // A document server that accepts the connection and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            held.push(s);
        }
    });
    let mut cmd = support::cli::arazzo_std();
    cmd.args([
        "run",
        "w",
        "-f",
        &format!("http://127.0.0.1:{port}/flow.arazzo.yaml"),
        "--timeout",
        "60",
    ]);
    let run = Running::start(cmd);
    wait_until("the document is being fetched", || {
        accepted.load(std::sync::atomic::Ordering::SeqCst)
    });
    run.signal("TERM");
    let out = run.finish(Duration::from_secs(10));
    assert_eq!(out.code, 143, "{}", out.context());
    assert!(
        out.stderr.contains("before any request was sent"),
        "{}",
        out.stderr
    );
}

#[test]
fn retry_waits_are_logged_and_a_signal_ends_one() {
    let api = StandIn::start(KEY);
    // createAuthConfig answers 503 with Retry-After 30; the provisioning
    // workflow has no retry action, so use a document that retries.
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("retry.arazzo.yaml");
    let openapi = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("openapi/composio-openapi-original.json");
    std::fs::write(
        &doc,
        format!(
            r#"arazzo: 1.0.1
info: {{title: t, version: "1"}}
sourceDescriptions: [{{name: composioApi, url: "{}", type: openapi}}]
workflows:
- workflowId: list
  inputs: {{type: object, properties: {{apiKey: {{type: string}}}}}}
  steps:
  - stepId: list
    operationId: getMcpServersByServerIdInstances
    parameters:
    - {{name: serverId, in: path, value: s1}}
    - {{name: x-api-key, in: header, value: $inputs.apiKey}}
    successCriteria: [{{condition: $statusCode == 200}}]
    onFailure: [{{name: later, type: retry, retryAfter: 1, retryLimit: 5}}]
"#,
            openapi.display()
        ),
    )
    .unwrap();
    let mut cmd = support::cli::arazzo_std();
    cmd.env("ARAZZO_INPUT_API_KEY", KEY)
        .args(["-v", "run", "list", "-f"])
        .arg(&doc)
        .args(["--server", &format!("composioApi={}", api.base_url())]);
    api.fail_next("/api/v3/mcp/servers/s1", 503, serde_json::json!({}));
    api.fail_next("/api/v3/mcp/servers/s1", 503, serde_json::json!({}));
    let run = Running::start(cmd);
    wait_until("the first retry", || api.requests().len() == 2);
    run.signal("INT");
    let out = run.finish(Duration::from_secs(10));
    assert_eq!(out.code, 130, "{}", out.context());
    assert!(
        out.stderr.contains("waiting 1 s before retry"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("while waiting to retry"),
        "{}",
        out.stderr
    );
    assert_eq!(api.requests().len(), 2);
    out.assert_no(KEY);
}
