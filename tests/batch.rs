//! `arazzo run WORKFLOW --each FILE`: batch provisioning through the binary
//! against the Composio stand-in.

mod support;

use assert_cmd::Command;
use serde_json::Value;
use support::cli::{arazzo, exec as run};
use support::composio::StandIn;

const KEY: &str = "sk_batch_0a1b2c3d";

fn batch(server: &StandIn, file: &std::path::Path, extra: &[&str]) -> Command {
    let mut cmd = arazzo();
    cmd.env("ARAZZO_INPUT_API_KEY", KEY)
        .args(["run", "provision-mcp-server", "--each"])
        .arg(file)
        .args([
            "-i",
            "toolkitSlug=linear",
            "-i",
            "authType=use_composio_managed_auth",
            "--server",
            &format!("composioApi={}", server.base_url()),
        ]);
    cmd.args(extra);
    cmd
}

#[test]
fn a_batch_of_300_users_reports_exactly_the_failing_lines_in_input_order() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    let bad = [5usize, 17, 102];
    let mut text = String::new();
    for i in 1..=300 {
        let name = if bad.contains(&i) {
            "ab".to_string()
        } else {
            format!("Server {i}")
        };
        text.push_str(&format!(
            "{{\"userId\": \"user-{i}\", \"serverName\": \"{name}\"}}\n"
        ));
    }
    std::fs::write(&file, text).unwrap();
    let out = run(&mut batch(
        &server,
        &file,
        &["-o", "json", "--concurrency", "16"],
    ));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let reports: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 300);
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r["line"], i + 1, "input order");
        if bad.contains(&(i + 1)) {
            assert_eq!(r["status"], "failed");
            assert_eq!(r["error"]["kind"], "preflight");
            assert!(r["error"]["message"].as_str().unwrap().contains("/name"));
        } else {
            assert_eq!(r["status"], "succeeded", "{r}");
            assert_eq!(r["outputs"]["instanceId"], format!("user-{}", i + 1));
        }
    }
    assert!(
        out.stderr
            .contains("batch: 300 runs, 297 succeeded, 3 failed (lines 5, 17, 102)"),
        "{}",
        out.stderr
    );
    assert_eq!(server.state().servers.len(), 297);
    assert!(!out.stdout.contains(KEY) && !out.stderr.contains(KEY));
}

#[test]
fn csv_with_a_header_row_and_human_output() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.csv");
    std::fs::write(
        &file,
        "userId,serverName,allowedTools\nalice,Alice Bot,\"[\"\"A\"\",\"\"B\"\"]\"\nbob,\"Bob, Jr\",\n",
    )
    .unwrap();
    let out = run(&mut batch(&server, &file, &["--no-preflight"]));
    // "Bob, Jr" breaks the server-name pattern: the server rejects line 3.
    assert_eq!(out.code, 1, "{}", out.stderr);
    // Each line's result is the batch's output: on stdout.
    assert!(
        out.stdout.contains("✓ line 2  authConfigId="),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("✗ line 3  step `createServer`"),
        "{}",
        out.stdout
    );
    assert!(!out.stderr.contains("line 2  "), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("batch: 2 runs, 1 succeeded, 1 failed (lines 3)"),
        "{}",
        out.stderr
    );
    let reqs = server.requests();
    // Lines run concurrently: find alice's request by its body.
    let create = reqs
        .iter()
        .find(|r| {
            r.path == "/api/v3/mcp/servers"
                && r.body.as_ref().is_some_and(|b| b["name"] == "Alice Bot")
        })
        .unwrap();
    assert_eq!(
        create.body.as_ref().unwrap()["allowed_tools"],
        serde_json::json!(["A", "B"])
    );
}

#[test]
fn fail_fast_stops_starting_new_runs_and_bad_lines_are_reported() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    let mut text = String::from("{\"userId\": \"u1\", \"serverName\": \"Good One\"}\nnot json\n");
    for i in 3..=40 {
        text.push_str(&format!(
            "{{\"userId\": \"u{i}\", \"serverName\": \"Good {i}\"}}\n"
        ));
    }
    std::fs::write(&file, &text).unwrap();
    let out = run(&mut batch(
        &server,
        &file,
        &["-o", "json", "--concurrency", "1", "--fail-fast"],
    ));
    assert_eq!(out.code, 1);
    let reports: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 2, "{}", out.stdout);
    assert_eq!(reports[1]["line"], 2);
    assert_eq!(reports[1]["error"]["kind"], "inputs");
    assert!(out.stderr.contains("--fail-fast"), "{}", out.stderr);
    // The journal of that batch stands in the way of running it again by
    // mistake (it would create what line 1 created a second time).
    let journal = dir.path().join("users.jsonl.journal");
    let again = run(&mut batch(&server, &file, &["-o", "json"]));
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("--resume"), "{}", again.stderr);
    assert_eq!(again.stdout, "");
    // Without --fail-fast (and the journal removed) every line runs.
    std::fs::remove_file(&journal).unwrap();
    let out = run(&mut batch(&server, &file, &["-o", "json"]));
    assert_eq!(out.stdout.lines().count(), 40);
    // Unknown inputs in a line fail that line only.
    std::fs::write(
        &file,
        "{\"userId\": \"x\", \"serverName\": \"Good\", \"nope\": 1}\n",
    )
    .unwrap();
    std::fs::remove_file(&journal).unwrap();
    let out = run(&mut batch(&server, &file, &["-o", "json"]));
    let r: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(r["error"]["kind"], "inputs");
    assert!(r["error"]["message"].as_str().unwrap().contains("nope"));
    // A missing file is a usage error.
    let out = run(&mut batch(&server, &dir.path().join("missing.jsonl"), &[]));
    assert_eq!(out.code, 2);
}

#[test]
fn a_batch_writes_junit_with_a_suite_per_line_and_a_trace_line_per_run() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    // Line 2 is refused by preflight (the server name is too short); line 3
    // is not JSON, so it fails as `inputs`.
    std::fs::write(
        &file,
        "{\"userId\": \"alice\", \"serverName\": \"Alice Bot\"}\n{\"userId\": \"bob\", \"serverName\": \"ab\"}\nnot json\n",
    )
    .unwrap();
    let junit = dir.path().join("out/junit.xml");
    let trace = dir.path().join("out/trace.jsonl");
    let out = run(&mut batch(
        &server,
        &file,
        &[
            "-q",
            "--junit",
            junit.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
        ],
    ));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.starts_with("<?xml") && xml.trim_end().ends_with("</testsuites>"),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuites name=\"arazzo\" tests=\"6\" failures=\"0\" errors=\"2\""),
        "four steps for alice, one error each for bob and line 3: {xml}"
    );
    assert!(xml.contains("<testsuite name=\"provision-mcp-server line 1\" tests=\"4\""));
    assert!(xml.contains("<testsuite name=\"provision-mcp-server line 2\""));
    assert!(xml.contains("<error type=\"preflight\""));
    assert!(xml.contains("<testsuite name=\"provision-mcp-server line 3\""));
    assert!(xml.contains("<error type=\"inputs\""));
    assert!(!dir.path().join("out/junit.xml.part").exists());

    let lines: Vec<Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[0]["status"], "succeeded");
    let exchanges = lines[0]["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 4);
    assert_eq!(exchanges[0]["request"]["method"], "POST");
    assert_eq!(exchanges[0]["response"]["status"], 201);
    assert_eq!(lines[1]["status"], "failed");
    assert_eq!(lines[1]["exchanges"], serde_json::json!([]));
    for text in [
        &xml,
        &std::fs::read_to_string(&trace).unwrap(),
        &out.stdout,
        &out.stderr,
    ] {
        assert!(!text.contains(KEY), "the key leaked: {text}");
    }
    // The key was sent, and masked in the trace.
    assert_eq!(exchanges[0]["request"]["headers"]["x-api-key"], "***");
}
