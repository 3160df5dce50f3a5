//! A new user's first hour, through the binary: one spelling per concept
//! (`-o` everywhere, `--no-color`), standard input as a file (`-f -`,
//! `--inputs -`, `--each -`, `validate -`), `-q` that keeps the results on
//! stdout, `--version`, and shipped workflows that validate without a warning.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::cli::{arazzo, exec, provision, Out, PROVISION_INPUTS};
use support::composio::StandIn;

const KEY: &str = "sk_live_first-hour-KEY";

fn shipped(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("workflows")
        .join(name)
}

fn read_shipped(name: &str) -> String {
    std::fs::read_to_string(shipped(name)).unwrap()
}

/// The shipped workflow `provision-mcp-server` piped in, from `workflows/`
/// (so that its relative source URL resolves as it does from the file).
fn provision_from_stdin(server: &StandIn, extra: &[&str]) -> Out {
    let mut cmd = arazzo();
    cmd.current_dir(shipped(""))
        .env("ARAZZO_INPUT_API_KEY", KEY)
        .args(["run", "provision-mcp-server", "-f", "-", "--server"])
        .arg(format!("composioApi={}", server.base_url()))
        .args(extra)
        .write_stdin(read_shipped("provision-mcp-server.arazzo.yaml"));
    exec(&mut cmd)
}

#[test]
fn shipped_workflows_validate_without_a_warning() {
    let out = exec(arazzo().args(["validate", "workflows/"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("0 errors, 0 warnings"),
        "{}",
        out.stderr
    );
    let json = exec(arazzo().args(["validate", "workflows/", "-o", "json"]));
    assert_eq!(json.json(), Value::Array(vec![]), "{}", json.stdout);
}

#[test]
fn validate_takes_dash_o_like_every_other_command_and_keeps_format() {
    let bad =
        "arazzo: 1.0.1\ninfo: {title: t, version: '1'}\nsourceDescriptions: []\nworkflows: []\n";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.arazzo.yaml");
    std::fs::write(&file, bad).unwrap();
    for flag in ["-o", "--output", "--format"] {
        let out = exec(arazzo().arg("validate").arg(&file).args([flag, "json"]));
        assert_eq!(out.code, 3, "{flag}: {}", out.stderr);
        let diags = out.json();
        assert!(
            diags.as_array().is_some_and(|a| !a.is_empty()),
            "{flag}: {diags}"
        );
    }
    let sarif = exec(arazzo().arg("validate").arg(&file).args(["-o", "sarif"]));
    assert_eq!(sarif.json()["version"], "2.1.0");
    let wrong = exec(arazzo().arg("validate").arg(&file).args(["-o", "yaml"]));
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains("human") && wrong.stderr.contains("sarif"),
        "{}",
        wrong.stderr
    );
}

#[test]
fn no_color_is_color_never() {
    let colored = exec(arazzo().args(["--color=always", "run", "nope"]));
    assert_eq!(colored.code, 2);
    assert!(colored.stderr.contains('\u{1b}'), "{}", colored.stderr);
    for args in [
        &["--no-color", "run", "nope"][..],
        &["run", "nope", "--no-color"],
        &["--color", "never", "run", "nope"],
    ] {
        let plain = exec(arazzo().args(args));
        assert_eq!(plain.code, 2, "{args:?}: {}", plain.stderr);
        assert!(
            !plain.stderr.contains('\u{1b}'),
            "{args:?}: {}",
            plain.stderr
        );
        assert!(
            plain.stderr.contains("no workflow `nope`"),
            "{}",
            plain.stderr
        );
    }
    // validate's diagnostics too.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.arazzo.yaml");
    std::fs::write(&bad, "arazzo: 1.0.1\ninfo: {title: t}\n").unwrap();
    let drawn = exec(arazzo().args(["--color", "always", "validate"]).arg(&bad));
    assert_eq!(drawn.code, 3);
    assert!(drawn.stderr.contains("\u{1b}["), "{}", drawn.stderr);
    assert!(
        drawn.stderr.contains("sourceDescriptions"),
        "{}",
        drawn.stderr
    );
    let plain = exec(arazzo().args(["validate", "--no-color"]).arg(&bad));
    assert!(!plain.stderr.contains('\u{1b}'), "{}", plain.stderr);
    // Given twice, the last one wins (as in git and ripgrep).
    let last = exec(arazzo().args(["--no-color", "--color", "always", "run", "nope"]));
    assert!(last.stderr.contains('\u{1b}'), "{}", last.stderr);
    let last = exec(arazzo().args(["--color", "always", "run", "nope", "--no-color"]));
    assert!(!last.stderr.contains('\u{1b}'), "{}", last.stderr);
    let twice = exec(arazzo().args(["-q", "-q", "--no-color", "--no-color", "run", "nope"]));
    assert_eq!(twice.code, 2, "{}", twice.stderr);
    assert!(
        twice.stderr.contains("no workflow `nope`"),
        "{}",
        twice.stderr
    );
}

#[test]
fn version_names_the_commit_and_the_arazzo_versions() {
    let out = exec(arazzo().arg("--version"));
    assert_eq!(out.code, 0);
    let line = out.stdout.trim();
    assert!(line.starts_with("arazzo 0."), "{line}");
    assert!(line.contains("Arazzo 1.0.0, 1.0.1"), "{line}");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(hash) => assert!(line.contains(&format!("commit {hash}")), "{line}"),
        None => assert!(line.contains("commit unknown"), "{line}"),
    }
}

#[test]
fn validate_reads_a_document_from_standard_input() {
    let text = read_shipped("provision-mcp-server.arazzo.yaml");
    let mut ok = arazzo();
    ok.current_dir(shipped(""))
        .args(["validate", "-"])
        .write_stdin(text.clone());
    let out = exec(&mut ok);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("1 document: 0 errors, 0 warnings"),
        "{}",
        out.stderr
    );

    let broken = text.replace("operationId: getMcpById", "operationId: getMcpByIdd");
    let mut bad = arazzo();
    bad.current_dir(shipped(""))
        .args(["validate", "-", "-o", "json"])
        .write_stdin(broken);
    let out = exec(&mut bad);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let diags = out.json();
    assert_eq!(diags[0]["file"], "<stdin>", "{diags}");
    assert_eq!(diags[0]["code"], "ref/unknown-operation", "{diags}");
    assert!(diags[0]["line"].as_u64().unwrap() > 1, "{diags}");

    let mut fix = arazzo();
    fix.args(["validate", "-", "--fix"]).write_stdin(text);
    let out = exec(&mut fix);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--dry-run"), "{}", out.stderr);
}

#[test]
fn run_reads_the_document_and_the_inputs_from_standard_input() {
    let server = StandIn::start(KEY);
    let out = provision_from_stdin(&server, &[&PROVISION_INPUTS[..], &["-o", "json"]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    assert_eq!(report["status"], "succeeded");
    assert_eq!(server.requests().len(), 4);

    let server = StandIn::start(KEY);
    let mut cmd = provision(&server.base_url(), KEY, &["-o", "json"]);
    cmd.args(["--inputs", "-"])
        .write_stdin("toolkitSlug: github\nuserId: bob\n");
    let out = exec(&mut cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // -i wins over --inputs; the stdin inputs fill the rest.
    assert_eq!(out.json()["outputs"]["instanceId"], "alice");
    let created = &server.requests()[0].raw_body;
    assert!(
        created.contains("linear") && !created.contains("github"),
        "{created}"
    );
}

#[test]
fn inputs_from_standard_input_fill_what_the_flags_do_not() {
    let server = StandIn::start(KEY);
    let mut cmd = arazzo();
    cmd.env("ARAZZO_INPUT_API_KEY", KEY)
        .args(["run", "provision-mcp-server", "--inputs", "-", "--server"])
        .arg(format!("composioApi={}", server.base_url()))
        .args(["-o", "json"])
        .write_stdin(
            r#"{"toolkitSlug": "github", "authType": "use_composio_managed_auth", "serverName": "Carol Bot", "userId": "carol"}"#,
        );
    let out = exec(&mut cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["outputs"]["instanceId"], "carol");
    assert!(server.requests()[0].raw_body.contains("github"));
}

#[test]
fn only_one_flag_may_read_standard_input() {
    let out = exec(arazzo().args(["run", "provision-mcp-server", "-f", "-", "--inputs", "-"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("standard input") && out.stderr.contains("--inputs -"),
        "{}",
        out.stderr
    );
    let out = exec(arazzo().args(["validate", "-", "-"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn each_reads_the_batch_lines_from_standard_input() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("batch.journal");
    let mut cmd = provision(&server.base_url(), KEY, &["-q", "--each", "-", "--journal"]);
    cmd.arg(&journal)
        .write_stdin("{\"userId\": \"u1\"}\n{\"userId\": \"u2\"}\n{\"userId\": \"u3\"}\n");
    let out = exec(&mut cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Human per-line results go to stdout, even with -q.
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("✓ line {}", i + 1)), "{line}");
        assert!(line.contains(&format!("instanceId=u{}", i + 1)), "{line}");
    }
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert!(journal.exists());
    let instances = server.state().instances;
    assert_eq!(instances.len(), 3, "{instances:?}");
}

/// A one-off pipe leaves no journal behind when every line succeeded, so the
/// next pipe in the same folder runs too.
#[test]
fn each_from_standard_input_leaves_no_journal_when_it_succeeds() {
    let server = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    let openapi = dir.path().join("openapi");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::create_dir_all(&openapi).unwrap();
    std::fs::copy(
        shipped("provision-mcp-server.arazzo.yaml"),
        workflows.join("provision-mcp-server.arazzo.yaml"),
    )
    .unwrap();
    std::fs::copy(
        shipped("../openapi/composio-openapi-original.json"),
        openapi.join("composio-openapi-original.json"),
    )
    .unwrap();
    for _ in 0..2 {
        let mut cmd = provision(&server.base_url(), KEY, &["--each", "-"]);
        cmd.current_dir(dir.path()).write_stdin("userId\nu1\n");
        let out = exec(&mut cmd);
        assert_eq!(out.code, 0, "{}", out.stderr);
        // CSV lines are counted in the file: the header is line 1.
        assert!(out.stdout.starts_with("✓ line 2"), "{}", out.stdout);
        assert!(
            out.stderr.contains("batch: 1 run, 1 succeeded"),
            "{}",
            out.stderr
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "only workflows/ and openapi/: {left:?}");
}

#[test]
fn quiet_keeps_the_outputs_on_stdout() {
    let server = StandIn::start(KEY);
    let out = exec(provision(&server.base_url(), KEY, &["-q"]).arg("--no-color"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.is_empty(),
        "-q prints no progress: {}",
        out.stderr
    );
    let state = server.state();
    let mut names = Vec::new();
    for line in out.stdout.lines() {
        let (name, value) = line.split_once(' ').unwrap();
        names.push(name);
        if name == "serverId" {
            assert_eq!(value.trim(), state.servers[0]);
        }
    }
    assert_eq!(
        names,
        [
            "authConfigId",
            "serverId",
            "mcpUrl",
            "instanceId",
            "commands"
        ],
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(KEY));

    // Without -q: the same stdout, and the progress on stderr.
    let server = StandIn::start(KEY);
    let loud = exec(&mut provision(&server.base_url(), KEY, &[]));
    assert_eq!(loud.code, 0);
    assert_eq!(loud.stdout.lines().count(), 5, "{}", loud.stdout);
    assert!(loud.stderr.contains("succeeded in"), "{}", loud.stderr);

    // -q -o json: the report, still on stdout.
    let server = StandIn::start(KEY);
    let json = exec(&mut provision(
        &server.base_url(),
        KEY,
        &["-q", "-o", "json"],
    ));
    assert_eq!(json.json()["status"], "succeeded");
    assert!(json.stderr.is_empty(), "{}", json.stderr);
}

#[test]
fn quiet_failure_keeps_the_known_outputs_on_stdout_and_the_error_on_stderr() {
    let server = StandIn::start("sk_other_key_entirely");
    let out = exec(&mut provision(&server.base_url(), KEY, &["-q"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("failed"), "{}", out.stderr);
    assert!(!out.stderr.contains(KEY) && !out.stdout.contains(KEY));
}

/// The README's "try it without a Composio account": the stand-in builds
/// with plain `rustc` without a warning, and the documented command succeeds
/// against it.
#[test]
fn the_readme_stand_in_builds_cleanly_and_the_documented_run_succeeds() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("composio-standin");
    let built = std::process::Command::new("rustc")
        .args([
            "--edition",
            "2021",
            "-O",
            "benches/support/standin_main.rs",
            "-o",
        ])
        .arg(&bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("rustc runs");
    assert!(built.status.success());
    assert_eq!(String::from_utf8_lossy(&built.stderr), "", "warnings");
    let mut standin = std::process::Command::new(&bin)
        .arg("127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut addr = String::new();
    std::io::BufReader::new(standin.stdout.take().unwrap())
        .read_line(&mut addr)
        .unwrap();
    let out = exec(
        arazzo()
            .env("ARAZZO_INPUT_API_KEY", "demo")
            .args(["run", "provision-mcp-server", "--server"])
            .arg(format!("composioApi=http://{}", addr.trim()))
            .args(PROVISION_INPUTS),
    );
    let _ = standin.kill();
    let _ = standin.wait();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("authConfigId  ac_bench_1\n"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("succeeded in"), "{}", out.stderr);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn an_empty_standard_input_is_called_empty() {
    let mut cmd = arazzo();
    cmd.args(["run", "provision-mcp-server", "-f", "-"])
        .write_stdin("");
    let out = exec(&mut cmd);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("`<stdin>` is empty"), "{}", out.stderr);
    assert!(
        out.stderr.contains("standard input ended"),
        "{}",
        out.stderr
    );
}

/// A mistyped workflowId where a command goes gets the workflow spelt right,
/// and a workflow of the `-f` document is found too; a mistyped command keeps
/// clap's own did-you-mean.
#[test]
fn a_near_miss_of_a_workflow_id_without_run_is_spelt_right() {
    let out = exec(arazzo().args(["provison-mcp-server", "-i", "userId=bob"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("did you mean the workflow `provision-mcp-server`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("arazzo run provision-mcp-server -i userId=bob"),
        "{}",
        out.stderr
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.yaml"),
        "arazzo: 1.0.1\ninfo: {title: t, version: '1'}\nsourceDescriptions: []\nworkflows:\n- workflowId: get-thing\n  steps: []\n",
    )
    .unwrap();
    let out = exec(
        arazzo()
            .current_dir(dir.path())
            .args(["get-thing", "-f", "flow.yaml"]),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("arazzo run get-thing -f flow.yaml"),
        "{}",
        out.stderr
    );

    let out = exec(arazzo().arg("valdate"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("'validate'"), "{}", out.stderr);
}

/// A workflowId not found while a document under ./workflows cannot be read:
/// the message names that file, whose workflows may be the one meant.
#[test]
fn a_broken_document_under_workflows_is_named_when_an_id_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("workflows")).unwrap();
    std::fs::write(
        dir.path().join("workflows/flow.yaml"),
        "arazzo: 1.0.1\nworkflows:\n- workflowId: get-thing\n  steps: [\n",
    )
    .unwrap();
    let out = exec(arazzo().current_dir(dir.path()).args(["run", "get-thing"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("no workflow `get-thing`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("workflows/flow.yaml"), "{}", out.stderr);
    assert!(
        out.stderr.contains("arazzo validate workflows/"),
        "{}",
        out.stderr
    );
}
