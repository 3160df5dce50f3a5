//! CI-grade runs through the binary: JUnit and trace reports, plain output
//! without a terminal, verbosity and quiet, timeouts, completions and the man
//! page, and the secret absent from every byte written.

mod support;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use support::cli::{arazzo, exec as run};
use support::composio::StandIn;

const KEY: &str = "sk_ci_7f3a-SECRET-91";

fn provision(server: &StandIn, extra: &[&str]) -> Command {
    support::cli::provision(&server.base_url(), KEY, extra)
}

#[test]
fn every_byte_written_is_free_of_the_secret_with_vv_junit_trace_and_json() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("reports/junit.xml");
    let trace = dir.path().join("trace.json");
    // A failing run too: the server echoes the key in its error body.
    for fail in [false, true] {
        if fail {
            server.fail_next(
                "/api/v3/mcp/servers",
                500,
                serde_json::json!({"error": {"message": format!("bad key {KEY}")}}),
            );
        }
        let out = run(&mut provision(
            &server,
            &[
                "-vv",
                "-o",
                "json",
                "--junit",
                junit.to_str().unwrap(),
                "--trace",
                trace.to_str().unwrap(),
                "--no-preflight",
            ],
        ));
        assert_eq!(out.code, if fail { 1 } else { 0 }, "{}", out.stderr);
        let junit_text = std::fs::read_to_string(&junit).unwrap();
        let trace_text = std::fs::read_to_string(&trace).unwrap();
        for (what, text) in [
            ("stdout", &out.stdout),
            ("stderr", &out.stderr),
            ("junit", &junit_text),
            ("trace", &trace_text),
        ] {
            assert!(!text.contains(KEY), "the key leaked into {what}:\n{text}");
            assert!(
                !text.contains("7f3a-SECRET"),
                "part of the key leaked into {what}"
            );
        }
        // -vv logs the requests, masked.
        assert!(out.stderr.contains("x-api-key: ***"), "{}", out.stderr);
        // The JSON report is still JSON.
        let _: Value = serde_json::from_str(&out.stdout).unwrap();
    }
}

#[test]
fn junit_has_a_testcase_per_step_and_the_failure() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let mut cmd = provision(
        &server,
        &["--no-preflight", "--junit", junit.to_str().unwrap()],
    );
    cmd.args(["-i", "serverName=ab"]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<testsuite name=\"provision-mcp-server\" tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"2\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"createAuthConfig\" classname=\"provision-mcp-server\""),
        "{xml}"
    );
    assert!(
        xml.contains(
            "<failure type=\"criteria\" message=\"successCriteria `$statusCode == 201` not met"
        ),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"getServer\" classname=\"provision-mcp-server\" time=\"0.000\">\n      <skipped"), "{xml}");
}

#[test]
fn trace_records_every_request_and_response() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.json");
    let out = run(&mut provision(
        &server,
        &["-q", "--trace", trace.to_str().unwrap()],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert_eq!(t["workflowId"], "provision-mcp-server");
    assert_eq!(t["status"], "succeeded");
    let ex = t["exchanges"].as_array().unwrap();
    assert_eq!(ex.len(), 4);
    assert_eq!(ex[0]["stepId"], "createAuthConfig");
    assert_eq!(ex[0]["request"]["method"], "POST");
    assert_eq!(
        ex[0]["request"]["url"],
        format!("{}/api/v3/auth_configs", server.base_url())
    );
    assert_eq!(ex[0]["request"]["headers"]["x-api-key"], "***");
    assert!(ex[0]["request"]["body"]
        .as_str()
        .unwrap()
        .contains("linear"));
    assert_eq!(ex[0]["response"]["status"], 201);
    assert!(ex[0]["response"]["body"]["auth_config"]["id"].is_string());
    assert!(ex[3]["startedMs"].is_u64() && ex[3]["durationMs"].is_u64());
}

#[test]
fn without_a_terminal_the_output_is_plain_lines_and_quiet_prints_only_the_outputs() {
    let server = StandIn::start(KEY);
    let out = run(&mut provision(&server, &[]));
    assert_eq!(out.code, 0);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(lines[0].starts_with("✓ createAuthConfig"), "{}", out.stderr);
    assert!(lines[3].starts_with("✓ createInstance"), "{}", out.stderr);
    assert!(
        !out.stderr.contains('\u{1b}'),
        "no escape codes without a terminal"
    );
    let out = run(&mut provision(&server, &["--color", "always"]));
    assert!(
        out.stderr.contains("\u{1b}[32m✓\u{1b}[0m createAuthConfig"),
        "{}",
        out.stderr
    );
    let out = run(provision(&server, &["--color", "always"]).env("NO_COLOR", "1"));
    assert!(
        out.stderr.contains("\u{1b}[32m"),
        "--color always wins over NO_COLOR"
    );
    // -q removes the progress, not the result: the outputs stay on stdout.
    let out = run(&mut provision(&server, &["-q"]));
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("authConfigId  "), "{}", out.stdout);
    assert_eq!(out.stderr, "");
    let out = run(&mut provision(&server, &["-q", "-o", "json"]));
    assert_eq!(out.stderr, "");
    let _: Value = serde_json::from_str(&out.stdout).unwrap();
    let out = run(&mut provision(&server, &["-q", "-v"]));
    assert_eq!(out.code, 2, "-q and -v conflict");
}

/// A server that accepts connections and never answers.
fn silent_server() -> (u16, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        let mut held = Vec::new();
        let start = std::time::Instant::now();
        l.set_nonblocking(true).unwrap();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = s.read(&mut buf);
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(20));
            if !held.is_empty() && start.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
    });
    (port, h)
}

#[test]
fn a_server_that_never_answers_times_out_with_the_step_and_what_to_check() {
    let (port, _h) = silent_server();
    let server = StandIn::start(KEY);
    let mut cmd = provision(&server, &["-o", "json", "--timeout", "0.5"]);
    cmd.args(["--server", &format!("composioApi=http://127.0.0.1:{port}")]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["error"]["stepId"], "createAuthConfig");
    assert_eq!(report["error"]["kind"], "transport");
    let msg = report["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "POST http://127.0.0.1:{port}/api/v3/auth_configs: "
        )),
        "{msg}"
    );
    assert!(
        msg.contains("timed out") && msg.contains("--timeout"),
        "{msg}"
    );
}

#[test]
fn max_duration_bounds_the_whole_run() {
    let (port, _h) = silent_server();
    let server = StandIn::start(KEY);
    let mut cmd = provision(&server, &["-o", "json", "--max-duration", "0.5"]);
    cmd.args(["--server", &format!("composioApi=http://127.0.0.1:{port}")]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 1);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["error"]["kind"], "timeout");
    for bad in [
        "--timeout=1e30",
        "--max-duration=1e300",
        "--timeout=0",
        "--max-steps=0",
    ] {
        let out = run(&mut provision(&server, &[bad]));
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
    }
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(arazzo().args(["completions", shell]));
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("arazzo"), "{shell}");
        assert!(out.stdout.contains("max-duration"), "{shell}");
    }
    let out = run(arazzo().arg("man"));
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains(".TH arazzo 1"), "{}", out.stdout);
    let out = run(arazzo().args(["completions", "powershell"]));
    assert_eq!(out.code, 2);
}

#[test]
fn a_one_character_secret_keeps_the_json_report_valid() {
    let server = StandIn::start("k");
    let out = run(provision(&server, &["-o", "json"]).env("ARAZZO_INPUT_API_KEY", "k"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["workflowId"], "provision-mcp-server");
    assert_eq!(report["steps"][0]["attempts"], 1);
}

#[test]
fn report_paths_that_cannot_be_written_are_reported() {
    let server = StandIn::start(KEY);
    let out = run(&mut provision(
        &server,
        &["--junit", "/proc/nope/junit.xml"],
    ));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--junit"), "{}", out.stderr);
    let _ = Path::new("/");
}

/// Runs a command under a pseudo-terminal (util-linux `script`), so stderr is a TTY.
fn in_terminal(server: &StandIn, extra_env: &[(&str, &str)]) -> String {
    let bin = assert_cmd::cargo::cargo_bin("arazzo");
    let cmdline = format!(
        "{} run provision-mcp-server -i toolkitSlug=linear -i authType=use_composio_managed_auth -i 'serverName=Linear Bot' -i userId=alice --server composioApi={}",
        bin.display(),
        server.base_url()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &cmdline, "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ARAZZO_INPUT_API_KEY", KEY)
        .env_remove("NO_COLOR")
        .env_remove("CI");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("util-linux `script` runs the command in a terminal");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn on_a_terminal_steps_are_shown_live_in_colour() {
    let server = StandIn::start(KEY);
    let screen = in_terminal(&server, &[]);
    assert!(
        screen.contains("\u{1b}[32m✓\u{1b}[0m createAuthConfig"),
        "{screen:?}"
    );
    assert!(
        screen.contains("\u{1b}[32m✓\u{1b}[0m createInstance"),
        "{screen:?}"
    );
    // The live spinner line is drawn and cleared (erase-line sequences).
    assert!(screen.contains("\u{1b}[2K"), "{screen:?}");
    assert!(!screen.contains(KEY));
    // NO_COLOR turns colour off; CI turns the live display off.
    let screen = in_terminal(&server, &[("NO_COLOR", "1"), ("CI", "true")]);
    assert!(screen.contains("✓ createAuthConfig"), "{screen:?}");
    assert!(!screen.contains("\u{1b}[32m"), "{screen:?}");
    assert!(!screen.contains("\u{1b}[2K"), "{screen:?}");
}
