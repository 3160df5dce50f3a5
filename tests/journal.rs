//! Batch runs that survive: the journal, `--each FILE --resume`, `--shard K/N`,
//! signals during a batch, a killed batch, and hostile batch files. Through the
//! binary against the Composio stand-in.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::cli::{arazzo_std, exec, wait_until, Running};
use support::composio::StandIn;

const KEY: &str = "ck_live_Journal-3Tq-SECRET";

/// `arazzo run provision-mcp-server --each FILE` against the stand-in.
fn batch(api: &StandIn, file: &Path, extra: &[&str]) -> std::process::Command {
    let mut cmd = arazzo_std();
    cmd.env("ARAZZO_INPUT_API_KEY", KEY)
        .args(["run", "provision-mcp-server", "--each"])
        .arg(file)
        .args([
            "-i",
            "toolkitSlug=linear",
            "-i",
            "authType=use_composio_managed_auth",
            "--server",
            &format!("composioApi={}", api.base_url()),
        ])
        .args(extra);
    cmd
}

fn users(dir: &Path, n: usize) -> std::path::PathBuf {
    let file = dir.join("users.jsonl");
    let text: String = (1..=n)
        .map(|i| format!("{{\"userId\": \"user-{i}\", \"serverName\": \"Server {i}\"}}\n"))
        .collect();
    std::fs::write(&file, text).unwrap();
    file
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The journal's reports (header and progress records left out), by line:
/// the last one wins.
fn journal(path: &Path) -> BTreeMap<u64, Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut records = BTreeMap::new();
    for l in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(l) else {
            continue;
        };
        if let (Some(line), None) = (v["line"].as_u64(), v.get("progress")) {
            records.insert(line, v);
        }
    }
    records
}

fn journal_count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .filter(|l| l.contains("\"line\"") && !l.contains("\"progress\""))
                .count()
        })
        .unwrap_or(0)
}

fn assert_valid_junit(path: &Path, suites: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let pkg = sxd_document::parser::parse(&text)
        .unwrap_or_else(|e| panic!("JUnit is not XML ({e:?}):\n{text}"));
    let doc = pkg.as_document();
    let root = doc.root().children()[0].element().unwrap();
    assert_eq!(root.name().local_part(), "testsuites");
    let n = root
        .children()
        .iter()
        .filter(|c| c.element().is_some())
        .count();
    assert_eq!(n, suites, "testsuites in the JUnit file");
}

/// How many times each server name was sent in a createServer request.
fn servers_created(api: &StandIn) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in api.requests() {
        if r.method == "POST" && r.path == "/api/v3/mcp/servers" {
            let name = r.body.as_ref().unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string();
            *counts.entry(name).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn sigint_during_a_batch_of_thousands_of_lines_then_resume_completes_it_once() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let n = 2500;
    let file = users(dir.path(), n);
    let journal_path = dir.path().join("users.jsonl.journal");
    let (junit, trace) = (dir.path().join("b.xml"), dir.path().join("b.trace"));
    let mut cmd = batch(
        &api,
        &file,
        &["-o", "json", "--concurrency", "16", "--junit"],
    );
    cmd.arg(&junit).arg("--trace").arg(&trace);
    let run = Running::start(cmd);
    wait_until("300 lines are journaled", || {
        journal_count(&journal_path) >= 300
    });
    run.signal("INT");
    let out = run.finish(Duration::from_secs(60));
    assert_eq!(out.code, 130, "{}", out.context());
    assert!(
        out.stderr.contains("interrupted by SIGINT"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--resume"), "{}", out.stderr);

    // Every line that started is reported once, in order, and journaled.
    let reports = json_lines(&out.stdout);
    let k = reports.len();
    assert!((300..n).contains(&k), "{k} lines reported");
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r["line"], i + 1);
    }
    let journaled = journal(&journal_path);
    assert_eq!(journaled.len(), k);
    assert!(journaled.keys().copied().eq(1..=k as u64));
    assert_valid_junit(&junit, k);
    assert_eq!(
        json_lines(&std::fs::read_to_string(&trace).unwrap()).len(),
        k
    );
    // An interrupted line says how far it got.
    for r in reports.iter().filter(|r| r["status"] == "interrupted") {
        assert_eq!(r["error"]["kind"], "interrupted");
    }

    // Resume: the lines that succeeded are not run again, the others go on.
    let before = servers_created(&api);
    let resumed = exec(&mut assert_cmd::Command::from_std(batch(
        &api,
        &file,
        &["-o", "json", "--concurrency", "16", "--resume"],
    )));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let all = json_lines(&resumed.stdout);
    assert_eq!(all.len(), n);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r["line"], i + 1);
        assert_eq!(r["status"], "succeeded", "{r}");
        assert_eq!(r["outputs"]["instanceId"], format!("user-{}", i + 1));
    }
    let after = servers_created(&api);
    for (name, count) in &after {
        assert_eq!(*count, 1, "{name} created {count} times");
    }
    assert_eq!(after.len(), n);
    for line in journaled.values().filter(|r| r["status"] == "succeeded") {
        let name = format!("Server {}", line["line"]);
        assert_eq!(before.get(&name), Some(&1));
    }
    let state = api.state();
    assert_eq!(state.auth_configs.len(), n, "one auth config per line");
    assert_eq!(state.instances.len(), n);
    assert!(
        resumed.stderr.contains("had succeeded before"),
        "{}",
        resumed.stderr
    );
    out.assert_no(KEY);
    resumed.assert_no(KEY);
    for f in [&journal_path, &junit, &trace] {
        assert!(!std::fs::read_to_string(f).unwrap().contains(KEY));
    }
}

/// SIGKILL cannot be caught: what had finished is in the journal, and so is
/// how far each running line got. Here the kill lands while line L's
/// createInstance (a POST) hangs: resuming continues every line where it
/// stopped, sends nothing for the finished ones, and refuses to send the
/// uncertain POST again until told to.
#[test]
fn a_killed_batch_resumes_without_a_request_for_finished_steps() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let n = 300;
    let file = users(dir.path(), n);
    let journal_path = dir.path().join("users.jsonl.journal");
    let run = Running::start(batch(&api, &file, &["-o", "json", "--concurrency", "1"]));
    wait_until("100 lines are journaled", || {
        journal_count(&journal_path) >= 100
    });
    api.hold_next("POST", "/api/v3/mcp/servers/", Duration::from_secs(300));
    // The next createInstance hangs: wait until nothing more arrives.
    wait_until("a createInstance hangs", || {
        let before = api.requests().len();
        std::thread::sleep(Duration::from_millis(300));
        let requests = api.requests();
        requests.len() == before
            && requests
                .last()
                .is_some_and(|r| r.path.ends_with("/instances"))
    });
    run.signal("KILL");
    let out = run.finish(Duration::from_secs(20));
    assert_eq!(out.code, 137);
    let last = api.requests().last().unwrap().body.clone().unwrap();
    let cut_user = last["user_id"].as_str().unwrap().to_string();
    let cut_line: usize = cut_user.trim_start_matches("user-").parse().unwrap();
    let finished: BTreeSet<u64> = journal(&journal_path)
        .into_iter()
        .filter(|(_, r)| r["status"] == "succeeded")
        .map(|(line, _)| line)
        .collect();
    assert_eq!(finished.len(), cut_line - 1);
    let sent_before = api.requests().len();

    // Without --resend-uncertain: line L is refused (its POST may have been
    // acted on), every other line runs; nothing is sent for finished lines.
    let resumed = exec(&mut assert_cmd::Command::from_std(batch(
        &api,
        &file,
        &["-o", "json", "--resume"],
    )));
    assert_eq!(resumed.code, 1, "{}", resumed.stderr);
    let reports = json_lines(&resumed.stdout);
    assert_eq!(reports.len(), n);
    let cut = &reports[cut_line - 1];
    assert_eq!(cut["error"]["kind"], "resume", "{cut}");
    let message = cut["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("createInstance") && message.contains("--resend-uncertain"),
        "{message}"
    );
    for r in reports.iter().filter(|r| r["line"] != cut_line) {
        assert_eq!(r["status"], "succeeded", "{r}");
    }
    for r in &api.requests()[sent_before..] {
        let body = r.body.clone().unwrap_or(Value::Null);
        for line in finished.iter().chain(std::iter::once(&(cut_line as u64))) {
            assert_ne!(
                body["name"],
                format!("Server {line}"),
                "{} sent again",
                r.path
            );
            assert_ne!(
                body["user_id"],
                format!("user-{line}"),
                "{} sent again",
                r.path
            );
        }
    }

    // With it: line L sends its createInstance again, and only that.
    let sent = api.requests().len();
    let again = exec(&mut assert_cmd::Command::from_std(batch(
        &api,
        &file,
        &["-o", "json", "--resume", "--resend-uncertain"],
    )));
    assert_eq!(again.code, 0, "{}", again.stderr);
    let new: Vec<String> = api.requests()[sent..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0].ends_with("/instances"), "{new:?}");
    let all = json_lines(&again.stdout);
    let lines: Vec<u64> = all.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert!(
        lines.iter().copied().eq(1..=n as u64),
        "every line once, in order"
    );
    assert!(all.iter().all(|r| r["status"] == "succeeded"));
    assert_eq!(all[cut_line - 1]["outputs"]["instanceId"], cut_user);
    for (name, count) in servers_created(&api) {
        assert_eq!(count, 1, "{name} created {count} times");
    }
}

/// A kill while a GET is in flight: resuming sends the GET again by itself.
#[test]
fn a_batch_killed_during_a_get_resumes_on_its_own() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let file = users(dir.path(), 5);
    api.hold_next("GET", "/api/v3/mcp/", Duration::from_secs(300));
    let run = Running::start(batch(&api, &file, &["-o", "json", "--concurrency", "1"]));
    wait_until("getServer of line 1 hangs", || api.requests().len() == 3);
    std::thread::sleep(Duration::from_millis(100));
    run.signal("KILL");
    assert_eq!(run.finish(Duration::from_secs(20)).code, 137);
    let resumed = exec(&mut assert_cmd::Command::from_std(batch(
        &api,
        &file,
        &["-o", "json", "--resume", "--concurrency", "1"],
    )));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let sent: Vec<String> = api.requests()[3..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(sent[0].starts_with("GET /api/v3/mcp/"), "{sent:?}");
    assert!(sent[1].ends_with("/instances"), "{sent:?}");
    assert_eq!(
        api.state().auth_configs.len(),
        5,
        "no second auth config for line 1"
    );
    let r = &json_lines(&resumed.stdout)[0];
    assert_eq!(r["steps"][0]["resumed"], true);
    assert_eq!(r["outputs"]["instanceId"], "user-1");
}

#[test]
fn a_failed_line_resumes_at_its_failed_step() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let file = users(dir.path(), 6);
    // Line 1's createServer fails (the first createServer request).
    api.fail_next(
        "/api/v3/mcp/servers",
        500,
        serde_json::json!({"error": "down"}),
    );
    let first = exec(&mut assert_cmd::Command::from_std(batch(
        &api,
        &file,
        &["-o", "json", "--concurrency", "1"],
    )));
    assert_eq!(first.code, 1, "{}", first.stderr);
    let reports = json_lines(&first.stdout);
    assert_eq!(reports[0]["error"]["stepId"], "createServer");
    assert_eq!(api.state().auth_configs.len(), 6);

    // Resumed without the key: every line is refused before it runs, and
    // the journal keeps what it knew of them.
    let mut keyless = batch(&api, &file, &["-o", "json", "--resume"]);
    keyless.env_remove("ARAZZO_INPUT_API_KEY");
    let refused = exec(&mut assert_cmd::Command::from_std(keyless));
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let r = &json_lines(&refused.stdout)[0];
    assert_eq!(r["error"]["kind"], "inputs", "{r}");

    let sent = api.requests().len();
    let resumed = exec(&mut assert_cmd::Command::from_std(batch(
        &api,
        &file,
        &["-o", "json", "--resume"],
    )));
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let again: Vec<String> = api.requests()[sent..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(again.len(), 3, "{again:?}");
    assert_eq!(again[0], "POST /api/v3/mcp/servers");
    assert_eq!(api.state().auth_configs.len(), 6, "no second auth config");
    let all = json_lines(&resumed.stdout);
    assert_eq!(all.len(), 6);
    assert_eq!(all[0]["steps"][0]["resumed"], true);
    assert!(all.iter().all(|r| r["status"] == "succeeded"));

    // Resuming a batch whose file changed under it is refused line by line.
    let changed = dir.path().join("users.jsonl");
    std::fs::write(
        &changed,
        "{\"userId\": \"mallory\", \"serverName\": \"Server 1\"}\n",
    )
    .unwrap();
    let out = exec(&mut assert_cmd::Command::from_std(batch(
        &api,
        &changed,
        &["-o", "json", "--resume"],
    )));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let r = &json_lines(&out.stdout)[0];
    assert_eq!(r["error"]["kind"], "resume");
    assert!(r["error"]["message"].as_str().unwrap().contains("`userId`"));
}

#[test]
fn shards_together_run_every_line_exactly_once() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let n = 103;
    let file = users(dir.path(), n);
    let mut seen = Vec::new();
    for k in 1..=4 {
        let shard = format!("{k}/4");
        let out = exec(&mut assert_cmd::Command::from_std(batch(
            &api,
            &file,
            &["-o", "json", "--shard", &shard],
        )));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("batch (shard {shard})")),
            "{}",
            out.stderr
        );
        let journal_path = dir
            .path()
            .join(format!("users.jsonl.shard-{k}-of-4.journal"));
        assert!(journal_path.exists());
        for r in json_lines(&out.stdout) {
            let line = r["line"].as_u64().unwrap() as usize;
            assert_eq!((line - 1) % 4, k - 1, "line {line} in shard {shard}");
            seen.push(line);
        }
    }
    seen.sort();
    assert!(seen.iter().copied().eq(1..=n), "every line once: {seen:?}");
    assert_eq!(api.state().instances.len(), n);

    // A shard's journal belongs to that shard.
    let mut cmd = batch(&api, &file, &["--shard", "1/4", "--resume", "--journal"]);
    cmd.arg(dir.path().join("users.jsonl.shard-2-of-4.journal"));
    let out = exec(&mut assert_cmd::Command::from_std(cmd));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--shard 2/4"), "{}", out.stderr);
    for bad in ["0/4", "5/4", "4", "a/b"] {
        let out = exec(&mut assert_cmd::Command::from_std(batch(
            &api,
            &file,
            &["--shard", bad],
        )));
        assert_eq!(out.code, 2, "--shard {bad}: {}", out.stderr);
        assert!(out.stderr.contains("K/N"), "{}", out.stderr);
    }
}

#[test]
fn an_over_long_line_fails_alone_and_an_endless_file_ends() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    let mut text = b"{\"userId\": \"u1\", \"serverName\": \"Server 1\"}\n".to_vec();
    text.extend_from_slice(b"{\"userId\": \"");
    text.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024));
    text.extend_from_slice(b"\"}\n{\"userId\": \"u3\", \"serverName\": \"Server 3\"}\n");
    std::fs::write(&file, text).unwrap();
    let out = exec(&mut assert_cmd::Command::from_std(batch(
        &api,
        &file,
        &["-o", "json"],
    )));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let reports = json_lines(&out.stdout);
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[0]["status"], "succeeded");
    assert_eq!(reports[1]["error"]["kind"], "inputs");
    assert!(reports[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("line 2 is longer than 1 MiB"));
    assert_eq!(reports[2]["status"], "succeeded");

    // A file that is one endless line: the batch ends, naming the line.
    let mut cmd = batch(&api, Path::new("/dev/zero"), &["-o", "json", "--journal"]);
    cmd.arg(dir.path().join("zero.journal"));
    let out = exec(&mut assert_cmd::Command::from_std(cmd));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let reports = json_lines(&out.stdout);
    assert_eq!(reports.len(), 1);
    let message = reports[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn a_batch_waiting_on_a_silent_pipe_stops_on_sigterm() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("users.jsonl");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let run = Running::start(batch(&api, &fifo, &["-o", "json"]));
    // A writer that sends one line and then goes silent, keeping the pipe open.
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    use std::io::Write;
    writer
        .write_all(b"{\"userId\": \"u1\", \"serverName\": \"Server 1\"}\n")
        .unwrap();
    let journal_path = dir.path().join("users.jsonl.journal");
    wait_until("line 1 is journaled", || journal_count(&journal_path) == 1);
    run.signal("TERM");
    let out = run.finish(Duration::from_secs(10));
    drop(writer);
    assert_eq!(out.code, 143, "{}", out.context());
    assert_eq!(json_lines(&out.stdout).len(), 1);
    assert!(
        out.stderr.contains("interrupted by SIGTERM"),
        "{}",
        out.stderr
    );
}

#[test]
fn resume_without_a_journal_starts_the_batch() {
    let api = StandIn::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let file = users(dir.path(), 3);
    let out = exec(&mut assert_cmd::Command::from_std(batch(
        &api,
        &file,
        &["--resume"],
    )));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("no journal"), "{}", out.stderr);
    assert_eq!(api.state().instances.len(), 3);
    // The same command again: everything had succeeded, nothing is sent.
    let sent = api.requests().len();
    let out = exec(&mut assert_cmd::Command::from_std(batch(
        &api,
        &file,
        &["--resume"],
    )));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(api.requests().len(), sent);
    assert!(
        out.stderr.contains("3 had succeeded before"),
        "{}",
        out.stderr
    );
}
