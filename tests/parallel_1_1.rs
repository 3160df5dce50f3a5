//! Arazzo 1.1 step dependencies and parallel steps, step `timeout`, action
//! `parameters`, `$workflows.<id>.inputs` and `$message`, through the binary
//! against a local recording server. Each test quotes the 1.1 clause it checks
//! (`../shared/reference/arazzo/1.1.0.md`).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::cli::{arazzo, exec, Out};
use support::echo::{Echo, Reply};
use support::workspace::Workspace;

const API: &str = r#"openapi: 3.1.0
info: {title: parallel, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
paths:
  /items/{id}:
    get:
      operationId: getItem
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: q, in: query, schema: {type: string}}
      responses:
        "200": {description: ok}
"#;

/// A 1.1 document with `workflows` (YAML text under `workflows:`) beside `API`.
fn case(workflows: &str) -> (Workspace, PathBuf) {
    Workspace::with_api("1.1.0", "parallel", API, workflows)
}

fn run(doc: &Path, wf: &str, echo: &Echo, extra: &[&str]) -> Out {
    exec(
        arazzo()
            .args(["run", wf, "-f"])
            .arg(doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(["-o", "json"])
            .args(extra),
    )
}

/// A step `get<n>` of the echo API with no prerequisites.
fn get_step(id: &str, extra: &str) -> String {
    format!(
        "  - stepId: {id}\n    operationId: getItem\n    parameters: [{{name: id, in: path, value: {id}}}]\n    successCriteria: [{{condition: $statusCode == 200}}]\n    outputs: {{path: $response.body#/path}}\n{extra}"
    )
}

fn six_and_join() -> String {
    let mut w = String::from("- workflowId: six\n  steps:\n");
    for i in 1..=6 {
        w.push_str(&get_step(&format!("s{i}"), ""));
    }
    w.push_str(&get_step(
        "join",
        "    dependsOn: [s1, s2, s3, s4, s5, s6]\n",
    ));
    w.push_str("  outputs: {last: $steps.s6.outputs.path}\n");
    w
}

/// (start, end) of each exchange in the trace, by step, in trace order.
fn spans(trace: &Value) -> Vec<(String, u64, u64)> {
    trace["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let start = x["startedMs"].as_u64().unwrap();
            (
                x["stepId"].as_str().unwrap().to_string(),
                start,
                start + x["durationMs"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The stepId of each entry of a run report, in order.
fn step_ids(report: &Value) -> Vec<String> {
    entries(report, |s| text(&s["stepId"]))
}

/// `stepId:status` for each entry of a run report, in order.
fn step_statuses(report: &Value) -> Vec<String> {
    entries(report, |s| {
        format!("{}:{}", text(&s["stepId"]), text(&s["status"]))
    })
}

fn entries(report: &Value, f: impl Fn(&Value) -> String) -> Vec<String> {
    report["steps"].as_array().unwrap().iter().map(f).collect()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// 1.1, Step Object `dependsOn`: "A list of steps that MUST be completed before
/// this step can be executed." Steps with no prerequisites in a workflow that
/// uses `dependsOn` run at once: six steps each answered after 200 ms overlap
/// (every request starts before any answer arrives), and `join` starts only
/// after all six ended.
#[test]
fn six_independent_steps_overlap_and_the_join_waits_for_them() {
    let (case, doc) = case(&six_and_join());
    let echo = Echo::start();
    echo.delay_answers(Duration::from_millis(200));
    let trace = case.path("trace.json");
    let out = run(&doc, "six", &echo, &["--trace", trace.to_str().unwrap()]);
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["status"], "succeeded", "{}", out.context());
    let order = step_ids(&report);
    assert_eq!(order, ["s1", "s2", "s3", "s4", "s5", "s6", "join"]);
    let spans = spans(&read_json(&trace));
    let names: Vec<&str> = spans.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, order, "the trace lists exchanges in report order");
    let first_end = spans[..6].iter().map(|s| s.2).min().unwrap();
    for (id, start, _) in &spans[..6] {
        assert!(
            *start < first_end,
            "{id} started at {start} ms, after an answer came at {first_end} ms: {spans:?}"
        );
    }
    let last_end = spans[..6].iter().map(|s| s.2).max().unwrap();
    assert!(
        spans[6].1 >= last_end,
        "join started before the six ended: {spans:?}"
    );
    assert_eq!(echo.api_requests().len(), 7);
}

/// `--max-parallel 1` runs the same graph one step at a time: no two
/// requests overlap.
#[test]
fn max_parallel_one_runs_one_step_at_a_time() {
    let (case, doc) = case(&six_and_join());
    let echo = Echo::start();
    echo.delay_answers(Duration::from_millis(50));
    let trace = case.path("trace.json");
    let out = run(
        &doc,
        "six",
        &echo,
        &["--trace", trace.to_str().unwrap(), "--max-parallel", "1"],
    );
    out.assert_code(0);
    let mut spans = spans(&read_json(&trace));
    spans.sort_by_key(|s| s.1);
    for w in spans.windows(2) {
        assert!(w[1].1 >= w[0].2, "overlap with --max-parallel 1: {spans:?}");
    }
    let bad = exec(
        arazzo()
            .args(["run", "six", "-f"])
            .arg(&doc)
            .args(["--max-parallel", "0"]),
    );
    bad.assert_code(2);
}

/// 1.1, Tool Behavior: "Tools MUST also treat runtime expression output
/// references (e.g., `$steps.stepId.outputs.field`) as implicit dependencies
/// and ensure the referenced step completes before the referencing step
/// executes." `late` reads `slow` without declaring it, and is listed first.
#[test]
fn a_step_reading_another_waits_for_it_without_dependson() {
    let wf = format!(
        "- workflowId: implicit\n  steps:\n{}{}{}",
        "  - stepId: late\n    operationId: getItem\n    parameters: [{name: id, in: path, value: late}, {name: q, in: query, value: $steps.slow.outputs.path}]\n    successCriteria: [{condition: $statusCode == 200}]\n",
        get_step("slow", ""),
        get_step("other", "    dependsOn: [slow]\n"),
    );
    let (_case, doc) = case(&wf);
    let echo = Echo::start();
    echo.reply_on(
        "/items/slow",
        Reply::json(200, &serde_json::json!({"path": "/items/slow"}))
            .after(Duration::from_millis(150)),
    );
    let out = run(&doc, "implicit", &echo, &[]);
    out.assert_code(0);
    let reqs = echo.api_requests();
    let late = reqs.iter().find(|r| r.path == "/items/late").unwrap();
    assert_eq!(
        late.query.as_deref(),
        Some("q=%2Fitems%2Fslow"),
        "{}",
        out.context()
    );
    // Report order is document order, whatever order they ran in.
    assert_eq!(step_ids(&out.json()), ["late", "slow", "other"]);
}

/// The report does not depend on which step answered first: `a` answers
/// last, yet the report and the trace list `a` first, as the document does.
#[test]
fn report_order_is_document_order_whatever_finishes_first() {
    let mut wf = String::from("- workflowId: order\n  steps:\n");
    wf.push_str(&get_step("a", ""));
    wf.push_str(&get_step("b", ""));
    wf.push_str(&get_step("c", "    dependsOn: [a, b]\n"));
    let (case, doc) = case(&wf);
    let echo = Echo::start();
    echo.reply_on(
        "/items/a",
        Reply::json(200, &serde_json::json!({"path": "a"})).after(Duration::from_millis(200)),
    );
    let trace = case.path("t.json");
    let junit = case.path("j.xml");
    let out = run(
        &doc,
        "order",
        &echo,
        &[
            "--trace",
            trace.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    out.assert_code(0);
    assert_eq!(step_ids(&out.json()), ["a", "b", "c"]);
    let names: Vec<String> = spans(&read_json(&trace)).into_iter().map(|s| s.0).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let (pa, pb) = (
        xml.find("name=\"a\"").unwrap(),
        xml.find("name=\"b\"").unwrap(),
    );
    assert!(pa < pb, "{xml}");
    // b really finished first: the server answered it before a.
    let reqs = echo.api_requests();
    assert_eq!(reqs.len(), 3);
}

/// 1.1, Validation Recommendations and `dependsOn`: "Each value provided MUST
/// be a `stepId`." A cycle, an unknown step and a step depending on itself
/// are errors at the exact place, before any request.
#[test]
fn cycles_and_unknown_steps_are_validate_errors_at_their_place() {
    let mut wf = String::from("- workflowId: bad\n  steps:\n");
    wf.push_str(&get_step("a", "    dependsOn: [b]\n"));
    wf.push_str(&get_step("b", "    dependsOn: [a]\n"));
    wf.push_str(&get_step("c", "    dependsOn: [bb]\n"));
    let (_case, doc) = case(&wf);
    let out = exec(arazzo().arg("validate").arg(&doc));
    out.assert_code(3);
    let text = out.all();
    assert!(text.contains("cycle"), "{text}");
    assert!(
        text.contains("a waits for b waits for a") || text.contains("b waits for a waits for b"),
        "{text}"
    );
    assert!(text.contains("`bb`"), "{text}");
    assert!(text.contains("did you mean `b`"), "{text}");
    // Each is reported at its `dependsOn` entry.
    let json = exec(arazzo().args(["validate", "-o", "json"]).arg(&doc));
    let v = json.json();
    let diags = v.to_string();
    assert!(
        diags.contains("/workflows/0/steps/0/dependsOn/0")
            || diags.contains("/workflows/0/steps/1/dependsOn/0"),
        "{diags}"
    );
    assert!(
        diags.contains("/workflows/0/steps/2/dependsOn/0"),
        "{diags}"
    );
    let echo = Echo::start();
    let r = run(&doc, "bad", &echo, &[]);
    r.assert_code(3);
    assert!(echo.api_requests().is_empty());
}

/// 1.1, Step Object `timeout`: "The maximum number of milli-seconds to wait
/// for the step to complete before aborting and failing the step.
/// Consequently this will fail the workflow unless `onFailure` actions are
/// defined." A step answered after 600 ms with `timeout: 150` fails with kind
/// `timeout`; with an onFailure goto, the fallback step runs instead.
#[test]
fn a_step_timeout_fails_the_step_and_onfailure_still_applies() {
    let mut wf = String::from("- workflowId: slow\n  steps:\n");
    wf.push_str(&get_step("s", "    timeout: 150\n"));
    wf.push_str("- workflowId: rescued\n  steps:\n");
    wf.push_str(&get_step(
        "s",
        "    timeout: 150\n    onFailure: [{name: fallback, type: goto, stepId: fb}]\n",
    ));
    wf.push_str(&get_step(
        "fb",
        "    onSuccess: [{name: done, type: end}]\n",
    ));
    let (_case, doc) = case(&wf);
    let echo = Echo::start();
    echo.reply_on(
        "/items/s",
        Reply::json(200, &serde_json::json!({})).after(Duration::from_millis(600)),
    );
    let out = run(&doc, "slow", &echo, &[]);
    out.assert_code(1);
    let r = out.json();
    assert_eq!(r["error"]["kind"], "timeout", "{}", out.context());
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout (150 ms)"),
        "{}",
        out.context()
    );

    echo.reply_on(
        "/items/s",
        Reply::json(200, &serde_json::json!({})).after(Duration::from_millis(600)),
    );
    let out = run(&doc, "rescued", &echo, &[]);
    let r = out.json();
    let steps = step_statuses(&r);
    assert_eq!(steps, ["s:failed", "fb:succeeded"], "{}", out.context());
}

/// The step's `timeout` covers its retries ("retries and all"): a step that
/// fails fast and retries every 100 ms stops when its 250 ms are spent, and
/// `--max-duration` still wins when it is shorter.
#[test]
fn a_step_timeout_covers_retries_and_the_shortest_limit_wins() {
    let mut wf = String::from("- workflowId: w\n  steps:\n");
    wf.push_str(&get_step(
        "s",
        "    timeout: 250\n    onFailure: [{name: again, type: retry, retryAfter: 0.1, retryLimit: 50}]\n",
    ));
    let (_case, doc) = case(&wf.replace("$statusCode == 200", "$statusCode == 201"));
    let echo = Echo::start();
    let out = run(&doc, "w", &echo, &[]);
    out.assert_code(1);
    let r = out.json();
    assert_eq!(r["error"]["kind"], "timeout", "{}", out.context());
    let attempts = r["steps"][0]["attempts"].as_u64().unwrap();
    // retryLimit 50 would allow 51 attempts: the 250 ms stop them after a few.
    assert!(attempts <= 4, "attempts {attempts}: {}", out.context());

    let out = run(&doc, "w", &echo, &["--max-duration", "0.05"]);
    let r = out.json();
    assert_eq!(r["error"]["kind"], "timeout");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-duration"),
        "{}",
        out.context()
    );
}

/// 1.1, Success/Failure Action `parameters`: "A list of parameters that MUST
/// be passed to a workflow as referenced by `workflowId`." A goto to a
/// workflow passes its inputs, evaluated where the action was chosen.
#[test]
fn action_parameters_become_the_target_workflows_inputs() {
    let wf = r#"- workflowId: start
  inputs: {type: object, properties: {who: {type: string}}}
  steps:
  - stepId: first
    operationId: getItem
    parameters: [{name: id, in: path, value: first}]
    onSuccess:
    - name: handOver
      type: goto
      workflowId: next
      parameters:
      - {name: who, value: $inputs.who}
      - {name: from, value: $response.body#/path}
- workflowId: next
  inputs: {type: object, properties: {who: {type: string}, from: {type: string}}, required: [who, from]}
  steps:
  - stepId: second
    operationId: getItem
    parameters: [{name: id, in: path, value: "{$inputs.who}"}, {name: q, in: query, value: $workflows.next.inputs.from}]
"#;
    let (_case, doc) = case(wf);
    let echo = Echo::start();
    let out = run(&doc, "start", &echo, &["-i", "who=alice"]);
    out.assert_code(0);
    let reqs = echo.api_requests();
    assert_eq!(reqs.len(), 2, "{}", out.context());
    assert_eq!(reqs[1].path, "/items/alice");
    assert_eq!(reqs[1].query.as_deref(), Some("q=%2Fitems%2Ffirst"));

    // `in` is refused there, and so are parameters without a workflowId.
    let bad = wf.replace(
        "{name: who, value: $inputs.who}",
        "{name: who, in: query, value: $inputs.who}",
    );
    let (_case2, doc2) = case(&bad);
    let out = exec(arazzo().arg("validate").arg(&doc2));
    out.assert_code(3);
    assert!(out.all().contains("MUST NOT be used"), "{}", out.all());
}

/// 1.1, Runtime Expressions examples: "Workflow input | `$inputs.username` or
/// `$workflows.foo.inputs.username`" for the running workflow itself.
#[test]
fn workflows_inputs_of_the_running_workflow_read_its_inputs() {
    let wf = r#"- workflowId: foo
  inputs: {type: object, properties: {username: {type: string}}}
  steps:
  - stepId: s
    operationId: getItem
    parameters: [{name: id, in: path, value: $workflows.foo.inputs.username}]
  outputs: {who: $workflows.foo.inputs.username}
"#;
    let (_case, doc) = case(wf);
    let echo = Echo::start();
    let out = run(&doc, "foo", &echo, &["-i", "username=bob"]);
    out.assert_code(0);
    assert_eq!(echo.api_requests()[0].path, "/items/bob");
    assert_eq!(out.json()["outputs"]["who"], "bob");
    // The dry run fills it in too, and `$self` (here the file's URL).
    let dry = wf.replace(
        "value: $workflows.foo.inputs.username}]",
        "value: $workflows.foo.inputs.username}, {name: q, in: query, value: $self}]",
    );
    let (_c, dry_doc) = case(&dry);
    let out = run(&dry_doc, "foo", &echo, &["-i", "username=bob", "--dry-run"]);
    out.assert_code(0);
    let url = out.json()["steps"][0]["url"].as_str().unwrap().to_string();
    assert!(url.contains("/items/bob?q=file%3A%2F%2F"), "{url}");
    assert!(url.ends_with("wf.arazzo.yaml"), "{url}");
    // An undeclared name is caught like `$inputs.<name>`.
    let (_c, bad) = case(&wf.replace("foo.inputs.username}", "foo.inputs.usrname}"));
    let out = exec(arazzo().arg("validate").arg(&bad));
    out.assert_code(3);
    assert!(out.all().contains("usrname"), "{}", out.all());
}

/// 1.1 adds `$message.header.<name>` and `$message.payload#/…` for message
/// (AsyncAPI) steps: outside one they are undefined, and `validate` warns;
/// a malformed one is a syntax error naming the two forms.
#[test]
fn message_expressions_outside_a_message_step_are_warned_about() {
    let mut wf = String::from("- workflowId: m\n  steps:\n");
    wf.push_str(&get_step("s", "").replace(
        "outputs: {path: $response.body#/path}",
        "outputs: {path: $response.body#/path, status: '$message.payload#/status'}",
    ));
    let (_case, doc) = case(&wf);
    let out = exec(arazzo().arg("validate").arg(&doc));
    out.assert_code(0);
    assert!(out.all().contains("expr/no-message"), "{}", out.all());
    let (_c, doc2) = case(&wf.replace("$message.payload#/status", "$message.query.x"));
    let out = exec(arazzo().arg("validate").arg(&doc2));
    assert!(
        out.all().contains("$message.header.<name>"),
        "{}",
        out.all()
    );
}

/// A signal while independent steps are in flight: no new step starts, each
/// request in flight gets the grace period, the run ends interrupted (exit
/// 130) with the steps left in flight `uncertain`, and `--resume` then runs
/// what did not complete, without sending again what did.
#[test]
fn a_signal_during_parallel_steps_stops_them_all_and_resume_finishes() {
    use support::cli::{arazzo_std, wait_until, Running};
    let mut wf = String::from("- workflowId: par\n  steps:\n");
    wf.push_str(&get_step("fast", ""));
    wf.push_str(&get_step("slow1", ""));
    wf.push_str(&get_step("slow2", ""));
    wf.push_str(&get_step("join", "    dependsOn: [fast, slow1, slow2]\n"));
    let (case, doc) = case(&wf);
    let echo = Echo::start();
    for id in ["slow1", "slow2"] {
        echo.reply_on(
            &format!("/items/{id}"),
            Reply::json(200, &serde_json::json!({"path": id})).after(Duration::from_secs(3)),
        );
    }
    let report = case.path("report.json");
    let mut cmd = arazzo_std();
    cmd.args(["run", "par", "-f"])
        .arg(&doc)
        .args(["--server", &format!("api={}", echo.base_url())])
        .args(["--grace-period", "0", "--report", report.to_str().unwrap()]);
    let running = Running::start(cmd);
    wait_until("three requests are in flight", || {
        echo.api_requests().len() >= 3
    });
    std::thread::sleep(Duration::from_millis(100));
    running.signal("INT");
    let out = running.finish(Duration::from_secs(20));
    assert_eq!(out.code, 130, "{}", out.context());
    let r = read_json(&report);
    assert_eq!(r["status"], "interrupted");
    assert_eq!(r["error"]["kind"], "interrupted");
    let steps = step_statuses(&r);
    assert_eq!(
        steps,
        ["fast:succeeded", "slow1:uncertain", "slow2:uncertain"],
        "{}",
        out.context()
    );
    assert_eq!(
        echo.api_requests().len(),
        3,
        "join must not start after the signal"
    );

    // GETs left uncertain are sent again on resume; `fast` is not.
    let out = exec(
        arazzo()
            .args(["run", "--resume"])
            .arg(&report)
            .args(["-f"])
            .arg(&doc)
            .args([
                "--server",
                &format!("api={}", echo.base_url()),
                "-o",
                "json",
            ]),
    );
    out.assert_code(0);
    let paths: Vec<String> = echo.api_requests()[3..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(!paths.contains(&"/items/fast".to_string()), "{paths:?}");
    assert!(paths.contains(&"/items/join".to_string()), "{paths:?}");
}

/// `list`, `show`, the dry run and batch runs read 1.1 documents: `show`
/// says which steps wait for which, the dry run plans every request, and a
/// batch runs the graph once per line.
#[test]
fn list_show_dry_run_and_batch_understand_a_graph_workflow() {
    let (case, doc) = case(&six_and_join());
    let out = exec(arazzo().arg("list").arg(&doc));
    out.assert_code(0);
    assert!(out.stdout.contains("six"), "{}", out.context());
    let out = exec(
        arazzo()
            .args(["show", "six", "-f"])
            .arg(&doc)
            .args(["-o", "json"]),
    );
    out.assert_code(0);
    let v = out.json();
    assert_eq!(v["parallel"], true);
    assert_eq!(
        v["steps"][6]["after"],
        serde_json::json!(["s1", "s2", "s3", "s4", "s5", "s6"])
    );
    let out = exec(arazzo().args(["show", "six", "-f"]).arg(&doc));
    assert!(
        out.stdout.contains("after:    s1, s2, s3, s4, s5, s6"),
        "{}",
        out.context()
    );

    let echo = Echo::start();
    let out = run(&doc, "six", &echo, &["--dry-run"]);
    out.assert_code(0);
    assert!(out.stdout.contains("/items/join"), "{}", out.context());
    assert!(echo.api_requests().is_empty());

    let lines = case.path("lines.jsonl");
    std::fs::write(&lines, "{}\n{}\n").unwrap();
    let out = exec(
        arazzo()
            .args(["run", "six", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .arg("--each")
            .arg(&lines)
            .args(["--journal", case.path("j").to_str().unwrap()]),
    );
    out.assert_code(0);
    assert_eq!(echo.api_requests().len(), 14, "{}", out.context());
}

/// 1.1, Failure Action `retry`: "If a `stepId` or `workflowId` are specified,
/// then the reference is executed and the context is returned, after which
/// the current step is retried." In a graph workflow the side trip runs inside
/// the failing step's visit and reads what it needs.
#[test]
fn a_retry_side_trip_runs_inside_a_graph_step() {
    let wf = r#"- workflowId: w
  steps:
  - stepId: a
    operationId: getItem
    parameters: [{name: id, in: path, value: a}]
    outputs: {path: $response.body#/path}
  - stepId: b
    operationId: getItem
    dependsOn: [a]
    parameters: [{name: id, in: path, value: b}]
    successCriteria: [{condition: $statusCode == 200}]
    onFailure: [{name: refreshFirst, type: retry, stepId: refresh, retryLimit: 1}]
  - stepId: refresh
    operationId: getItem
    dependsOn: [b]
    parameters: [{name: id, in: path, value: refresh}, {name: q, in: query, value: $steps.a.outputs.path}]
"#;
    let (_case, doc) = case(wf);
    let echo = Echo::start();
    echo.reply_on("/items/b", Reply::new(503));
    let out = run(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let reqs: Vec<(String, Option<String>)> = echo
        .api_requests()
        .iter()
        .map(|r| (r.path.clone(), r.query.clone()))
        .collect();
    assert_eq!(reqs[0].0, "/items/a");
    assert_eq!(reqs[1].0, "/items/b");
    assert_eq!(
        reqs[2],
        (
            "/items/refresh".to_string(),
            Some("q=%2Fitems%2Fa".to_string())
        ),
        "{}",
        out.context()
    );
    assert_eq!(reqs[3].0, "/items/b");
}

/// A hostile graph: 3,000 steps, each waiting for the one before, the first
/// waiting for the last. The cycle is found (without deep recursion) and
/// reported once, at the `dependsOn` entry that closes it.
#[test]
fn a_long_dependency_cycle_is_reported_once() {
    let mut wf = String::from("- workflowId: long\n  steps:\n");
    for i in 0..3000 {
        let dep = if i == 0 { 2999 } else { i - 1 };
        wf.push_str(&format!(
            "  - {{stepId: s{i}, operationId: getItem, parameters: [{{name: id, in: path, value: x}}], dependsOn: [s{dep}]}}\n"
        ));
    }
    let (_case, doc) = case(&wf);
    let out = exec(arazzo().args(["validate", "-o", "json"]).arg(&doc));
    out.assert_code(3);
    let cycles: Vec<Value> = out
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "ref/dependency-cycle")
        .cloned()
        .collect();
    assert_eq!(cycles.len(), 1, "{}", out.context());
}

/// Two steps running at once call workflows that both `dependsOn` the same
/// workflow ("MUST be completed before this workflow can be processed"): it
/// runs once, the second caller waiting for it, not twice.
#[test]
fn a_shared_dependency_of_parallel_steps_runs_once() {
    let wf = r#"- workflowId: main
  steps:
  - {stepId: s1, workflowId: c1}
  - {stepId: s2, workflowId: c2}
  - {stepId: s3, operationId: getItem, dependsOn: [s1, s2], parameters: [{name: id, in: path, value: s3}]}
- workflowId: setup
  steps:
  - {stepId: create, operationId: getItem, parameters: [{name: id, in: path, value: create}]}
- workflowId: c1
  dependsOn: [setup]
  steps:
  - {stepId: x, operationId: getItem, parameters: [{name: id, in: path, value: c1}]}
- workflowId: c2
  dependsOn: [setup]
  steps:
  - {stepId: y, operationId: getItem, parameters: [{name: id, in: path, value: c2}]}
"#;
    let (_case, doc) = case(wf);
    let echo = Echo::start();
    echo.delay_answers(Duration::from_millis(150));
    let out = run(&doc, "main", &echo, &[]);
    out.assert_code(0);
    let creates = echo
        .api_requests()
        .iter()
        .filter(|r| r.path == "/items/create")
        .count();
    assert_eq!(creates, 1, "{}", out.context());
}

/// A goto to a step that is still running (README: "goto to a step runs that
/// step again once it is chosen, and after it every step that depends on it"):
/// `a` is sent again after its running visit ends, and `b`, which depends on
/// it, runs after that.
#[test]
fn a_goto_to_a_running_step_runs_it_again() {
    let wf = r#"- workflowId: g
  steps:
  - {stepId: a, operationId: getItem, parameters: [{name: id, in: path, value: a}]}
  - {stepId: b, operationId: getItem, dependsOn: [a], parameters: [{name: id, in: path, value: b}]}
  - stepId: d
    operationId: getItem
    parameters: [{name: id, in: path, value: d}]
    onSuccess: [{name: again, type: goto, stepId: a}]
"#;
    let (_case, doc) = case(wf);
    let echo = Echo::start();
    echo.reply_on(
        "/items/a",
        Reply::json(200, &serde_json::json!({})).after(Duration::from_millis(400)),
    );
    let out = run(&doc, "g", &echo, &[]);
    out.assert_code(0);
    let paths: Vec<String> = echo.api_requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths.iter().filter(|p| *p == "/items/a").count(),
        2,
        "{paths:?}"
    );
    assert_eq!(
        paths.last().map(String::as_str),
        Some("/items/b"),
        "{paths:?}"
    );
}

/// An unhandled failure stops the workflow: a goto to a workflow chosen at
/// the same time by another step does not run.
#[test]
fn no_transfer_after_a_step_failed() {
    let wf = r#"- workflowId: main
  steps:
  - {stepId: s1, operationId: getItem, parameters: [{name: id, in: path, value: s1}], successCriteria: [{condition: $statusCode == 200}]}
  - stepId: s2
    operationId: getItem
    parameters: [{name: id, in: path, value: s2}]
    onSuccess: [{name: go, type: goto, workflowId: other}]
  - {stepId: s3, operationId: getItem, dependsOn: [s1], parameters: [{name: id, in: path, value: s3}]}
- workflowId: other
  steps:
  - {stepId: o, operationId: getItem, parameters: [{name: id, in: path, value: other}]}
"#;
    let (_case, doc) = case(wf);
    let echo = Echo::start();
    echo.reply_on("/items/s1", Reply::new(500));
    echo.reply_on(
        "/items/s2",
        Reply::json(200, &serde_json::json!({})).after(Duration::from_millis(200)),
    );
    let out = run(&doc, "main", &echo, &[]);
    out.assert_code(1);
    assert!(
        !echo.api_requests().iter().any(|r| r.path == "/items/other"),
        "{}",
        out.context()
    );
}

/// Past its `timeout` a step is not retried, but its other failure actions
/// still apply: a retry that would wait 5 s in a 1 s step gives way to the
/// goto after it.
#[test]
fn a_retry_that_would_outlast_the_step_gives_way_to_the_next_action() {
    let wf = r#"- workflowId: r
  steps:
  - stepId: a
    operationId: getItem
    timeout: 1000
    parameters: [{name: id, in: path, value: a}]
    successCriteria: [{condition: $statusCode == 200}]
    onFailure:
    - {name: later, type: retry, retryAfter: 5}
    - {name: cleanUp, type: goto, stepId: c}
  - {stepId: b, operationId: getItem, parameters: [{name: id, in: path, value: b}]}
  - {stepId: c, operationId: getItem, parameters: [{name: id, in: path, value: c}]}
"#;
    let (_case, doc) = case(wf);
    let echo = Echo::start();
    echo.reply_on("/items/a", Reply::new(500));
    let out = run(&doc, "r", &echo, &[]);
    let paths: Vec<String> = echo.api_requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/items/a", "/items/c"], "{}", out.context());
}
