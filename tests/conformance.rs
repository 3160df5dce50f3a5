//! The conformance suite: one YAML file per case under tests/conformance/<section>/.
//!
//! A case holds an Arazzo document, optionally an OpenAPI description (a generic
//! "things" API otherwise), the replies a local server gives in order, the inputs,
//! and the expected result: exit code, status, outputs, error, the steps that ran
//! (`stepId statusCode attempts`) and the exact requests received.
//!
//! Every case runs the `arazzo` binary against a server on 127.0.0.1.

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use support::scripted::{Reply, Scripted};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case checks, with the spec section it comes from.
    name: String,
    #[serde(default)]
    workflow: Option<String>,
    arazzo: Value,
    #[serde(default)]
    openapi: Option<Value>,
    /// More files written beside the document (e.g. another Arazzo document).
    #[serde(default)]
    files: Map<String, Value>,
    #[serde(default)]
    inputs: Map<String, Value>,
    #[serde(default)]
    replies: Vec<ReplySpec>,
    /// Source names whose server is the local one (default: `api`).
    #[serde(default)]
    servers: Option<Vec<String>>,
    /// Source names sent to a port where nothing listens.
    #[serde(default)]
    unreachable: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplySpec {
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: Map<String, Value>,
    #[serde(default)]
    body: Option<Value>,
}

fn ok() -> u16 {
    200
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    exit: i32,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    outputs: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    /// `stepId statusCode attempts` for each step execution, in order.
    #[serde(default)]
    steps: Option<Vec<String>>,
    /// `METHOD /path?query` for each request received, in order.
    #[serde(default)]
    requests: Option<Vec<String>>,
    /// Request bodies (parsed as JSON when they are JSON), by request index.
    #[serde(default)]
    bodies: Map<String, Value>,
    /// Request headers that must be present, by request index.
    #[serde(default)]
    headers: Map<String, Value>,
    /// Substrings of stderr (for exit codes 2 and 3).
    #[serde(default)]
    stderr: Vec<String>,
}

fn generic_openapi() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "things", "version": "1"},
        "servers": [{"url": "https://things.invalid"}],
        "paths": {
            "/things": {
                "get": {"operationId": "listThings", "parameters": [
                    {"name": "page", "in": "query", "schema": {"type": "integer"}},
                    {"name": "tag", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}}
                ], "responses": {"200": {"description": "ok"}}},
                "post": {"operationId": "createThing", "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                         "responses": {"201": {"description": "created"}}}
            },
            "/things/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": {"operationId": "getThing", "responses": {"200": {"description": "ok"}}},
                "put": {"operationId": "updateThing", "requestBody": {"content": {"application/json": {}}}, "responses": {"200": {"description": "ok"}}},
                "delete": {"operationId": "deleteThing", "responses": {"204": {"description": "gone"}}}
            },
            "/tokens": {
                "post": {"operationId": "createToken", "responses": {"201": {"description": "ok"}}}
            }
        }
    })
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(cases(&p));
        } else if p.extension().is_some_and(|e| e == "yaml") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn run_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Case = serde_yaml_ng::from_str(&text).map_err(|e| format!("bad case file: {e}"))?;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: &Value| {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let text = match v {
            Value::String(s) => s.clone(),
            other => serde_json::to_string_pretty(other).unwrap(),
        };
        std::fs::write(p, text).unwrap();
    };
    write("arazzo.json", &case.arazzo);
    write(
        "openapi.json",
        case.openapi.as_ref().unwrap_or(&generic_openapi()),
    );
    for (name, v) in &case.files {
        write(name, v);
    }
    write("inputs.json", &Value::Object(case.inputs.clone()));

    let replies = case
        .replies
        .iter()
        .map(|r| Reply {
            status: r.status,
            headers: r
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect(),
            body: match &r.body {
                None => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            },
        })
        .collect();
    let server = Scripted::start(replies);
    let mut cmd = Command::cargo_bin("arazzo").unwrap();
    cmd.current_dir(dir.path()).arg("run");
    if let Some(w) = &case.workflow {
        cmd.arg(w);
    }
    cmd.args(["-f", "arazzo.json", "--inputs", "inputs.json", "-o", "json"]);
    for s in case.servers.clone().unwrap_or_else(|| vec!["api".into()]) {
        cmd.args(["--server", &format!("{s}={}", server.base_url())]);
    }
    for s in &case.unreachable {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        cmd.args(["--server", &format!("{s}=http://127.0.0.1:{port}")]);
    }
    cmd.args(&case.args);
    let out = cmd.output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let mut problems = Vec::new();
    let e = &case.expect;
    if code != e.exit {
        problems.push(format!("exit code {code}, expected {}", e.exit));
    }
    for s in &e.stderr {
        if !stderr.contains(s.as_str()) {
            problems.push(format!("stderr lacks {s:?}"));
        }
    }
    let report: Option<Value> = serde_json::from_str(&stdout).ok();
    if e.status.is_some() || e.outputs.is_some() || e.error.is_some() || e.steps.is_some() {
        match &report {
            None => problems.push("no JSON report on stdout".into()),
            Some(r) => {
                if let Some(s) = &e.status {
                    if r["status"] != json!(s) {
                        problems.push(format!("status {}, expected {s}", r["status"]));
                    }
                }
                if let Some(o) = &e.outputs {
                    if &r["outputs"] != o {
                        problems.push(format!("outputs {}, expected {o}", r["outputs"]));
                    }
                }
                if let Some(err) = &e.error {
                    for (k, v) in err.as_object().unwrap() {
                        let got = &r["error"][k];
                        let matches = match (got, v) {
                            (Value::String(g), Value::String(w)) if k == "message" => {
                                g.contains(w.as_str())
                            }
                            _ => got == v,
                        };
                        if !matches {
                            problems.push(format!("error.{k} = {got}, expected {v}"));
                        }
                    }
                }
                if let Some(steps) = &e.steps {
                    let got: Vec<String> = r["steps"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|s| {
                                    format!(
                                        "{} {} {}",
                                        s["stepId"].as_str().unwrap_or("?"),
                                        s["statusCode"],
                                        s["attempts"]
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if &got != steps {
                        problems.push(format!("steps {got:?}, expected {steps:?}"));
                    }
                }
            }
        }
    }
    let received = server.received();
    if let Some(reqs) = &e.requests {
        let got: Vec<String> = received
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect();
        if &got != reqs {
            problems.push(format!("requests {got:?}, expected {reqs:?}"));
        }
    }
    for (i, want) in &e.bodies {
        let i: usize = i.parse().unwrap();
        let got = received.get(i).map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap_or_else(|_| Value::String(r.body.clone()))
        });
        if got.as_ref() != Some(want) {
            problems.push(format!("request {i} body {got:?}, expected {want}"));
        }
    }
    for (i, want) in &e.headers {
        let i: usize = i.parse().unwrap();
        for (k, v) in want.as_object().unwrap() {
            let got = received.get(i).and_then(|r| r.header(k));
            if got != v.as_str() {
                problems.push(format!("request {i} header {k} = {got:?}, expected {v}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n    {}\n    stdout: {}\n    stderr: {}",
            case.name,
            problems.join("\n    "),
            stdout.chars().take(2000).collect::<String>(),
            stderr.chars().take(1000).collect::<String>()
        ))
    }
}

fn run_section(section: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(section);
    let all = cases(&dir);
    assert!(!all.is_empty(), "no cases in {}", dir.display());
    let failures: Vec<String> = all
        .iter()
        .filter_map(|p| run_case(p).err().map(|e| format!("{}: {e}", p.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
}

#[test]
fn step_object_and_criteria() {
    run_section("steps");
}

#[test]
fn success_and_failure_actions() {
    run_section("actions");
}

#[test]
fn workflows_components_and_sources() {
    run_section("workflows");
}
