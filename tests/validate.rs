//! `arazzo validate`, `list` and `show` through the binary.

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use support::cli::exec as run;

fn arazzo(dir: &Path) -> Command {
    let mut cmd = support::cli::arazzo();
    cmd.current_dir(dir);
    cmd
}

const API: &str = r##"openapi: 3.0.3
info: {title: things, version: "1"}
servers: [{url: "https://things.example"}]
paths:
  /things:
    get:
      operationId: listThings
      parameters:
      - {name: page, in: query, schema: {type: integer, minimum: 1}}
      - {name: X-Trace, in: header, required: true, schema: {type: string}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  items: {type: array, items: {$ref: "#/components/schemas/Thing"}}
    post:
      operationId: createThing
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/NewThing"}
      responses:
        "201":
          description: created
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
  /things/{id}:
    get:
      operationId: getThing
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
components:
  schemas:
    NewThing:
      type: object
      required: [name, size]
      properties:
        name: {type: string, minLength: 3}
        size: {type: integer, enum: [1, 2, 3]}
    Thing:
      type: object
      properties:
        id: {type: string}
        name: {type: string}
"##;

fn setup(doc: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.yaml"), API).unwrap();
    let p = dir.path().join("flow.arazzo.yaml");
    std::fs::write(&p, doc).unwrap();
    (dir, p)
}

fn doc(workflows: &str) -> String {
    format!(
        "arazzo: 1.0.1\ninfo: {{title: t, version: '1'}}\nsourceDescriptions:\n- {{name: api, url: api.yaml, type: openapi}}\nworkflows:\n{workflows}"
    )
}

fn diagnostics(dir: &Path, file: &str) -> (i32, Vec<Value>) {
    let out = run(arazzo(dir).args(["validate", file, "--format", "json"]));
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr));
    (out.code, v.as_array().unwrap().clone())
}

fn codes(d: &[Value]) -> Vec<&str> {
    d.iter().map(|x| x["code"].as_str().unwrap()).collect()
}

#[test]
fn the_shipped_workflows_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = run(arazzo(root).arg("validate"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("0 errors"), "{}", out.stderr);
}

#[test]
fn a_valid_document_passes_with_exit_0() {
    let (dir, _) = setup(&doc(r#"- workflowId: w
  inputs: {type: object, properties: {name: {type: string}}}
  steps:
  - stepId: create
    operationId: createThing
    requestBody: {payload: {name: $inputs.name, size: 2}}
    successCriteria: [{condition: $statusCode == 201}]
    outputs: {id: $response.body#/id}
  outputs: {id: $steps.create.outputs.id}
"#));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 0, "{d:?}");
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn syntax_errors_have_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "arazzo: 1.0.1\ninfo: [\n  x: : y\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.json"),
        "{\"arazzo\": \"1.0.1\",\n \"info\": }\n",
    )
    .unwrap();
    for (file, code) in [("a.yaml", "syntax/yaml"), ("b.json", "syntax/json")] {
        let (exit, d) = diagnostics(dir.path(), file);
        assert_eq!(exit, 3);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0]["code"], code);
        assert_eq!(d[0]["file"], file);
        assert!(d[0]["line"].as_u64().unwrap() >= 2, "{d:?}");
        assert!(d[0]["column"].is_u64());
        assert_eq!(d[0]["severity"], "error");
    }
}

#[test]
fn schema_problems_point_at_the_field() {
    let (dir, _) = setup(&doc(r#"- workflowId: w
  steps:
  - stepId: a
    operationId: listThings
    bogus: 1
  - stepId: b
"#));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 3);
    let unknown = d
        .iter()
        .find(|x| x["code"] == "schema/unknown-field")
        .expect("unknown field");
    assert_eq!(unknown["line"], 10);
    assert!(unknown["message"].as_str().unwrap().contains("bogus"));
    assert!(unknown["help"].as_str().unwrap().contains("x-bogus"));
    assert!(
        d.iter().any(|x| x["line"] == 11),
        "the step without a target: {d:?}"
    );
}

#[test]
fn schema_errors_and_reference_errors_are_reported_together() {
    let (dir, _) = setup(&doc(r#"- workflowId: w
  steps:
  - stepId: a
    operationId: listThings
    bogus: 1
  - stepId: b
  - stepId: c
    operationId: getThng
    descripton: a typo in the same step
    parameters: [{name: id, in: path, value: x}]
"#));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 3);
    let c = codes(&d);
    assert!(c.contains(&"schema/unknown-field"), "{c:?}");
    assert_eq!(
        c.iter().filter(|x| **x == "schema/unknown-field").count(),
        2,
        "{c:?}"
    );
    let op = d
        .iter()
        .find(|x| x["code"] == "ref/unknown-operation")
        .unwrap_or_else(|| panic!("the unknown operation is reported too: {c:?}"));
    // At the operationId's value, not at the step.
    assert_eq!(
        (op["line"].clone(), op["column"].clone()),
        (13.into(), 18.into())
    );
    // Step `b` (no target) is reported once, by the schema.
    let at_b = d.iter().filter(|x| x["line"] == 11).count();
    assert_eq!(at_b, 1, "{d:?}");
    // Nothing here to warn about.
    assert!(d.iter().all(|x| x["severity"] == "error"), "{d:?}");

    // A source that cannot be loaded is reported beside a schema error.
    let (dir, _) = setup(
        &doc("- workflowId: w
  bogus: 1
  steps:
  - {stepId: a, operationId: listThings}
")
        .replace("url: api.yaml", "url: missing.yaml"),
    );
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 3);
    let c = codes(&d);
    assert!(
        c.contains(&"schema/unknown-field") && c.contains(&"source/load"),
        "{c:?}"
    );
}

#[test]
fn references_are_checked_against_the_openapi_description() {
    let (dir, _) = setup(&doc(r#"- workflowId: w
  inputs: {type: object, properties: {name: {type: string}}}
  steps:
  - stepId: a
    operationId: getThng
    parameters: [{name: id, in: path, value: x}]
  - stepId: b
    operationId: getThing
    parameters: [{name: id, in: query, value: x}]
  - stepId: c
    operationId: getThing
  - stepId: d
    operationId: listThings
    parameters: [{name: X-Trace, in: header, value: $inputs.nam}]
    outputs: {first: $response.body#/items/0/name}
  - stepId: e
    operationId: listThings
    parameters: [{name: X-Trace, in: header, value: $steps.d.outputs.frist}]
    onSuccess: [{name: next, type: goto, stepId: zz}]
"#));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 3);
    let c = codes(&d);
    for want in [
        "ref/unknown-operation",
        "param/wrong-in",
        "param/missing-path-param",
        "ref/undeclared-input",
        "ref/unknown-output",
        "ref/unknown-step",
    ] {
        assert!(c.contains(&want), "{want} missing from {c:?}");
    }
    let op = d
        .iter()
        .find(|x| x["code"] == "ref/unknown-operation")
        .unwrap();
    assert_eq!(op["help"], "did you mean `getThing`?");
    assert_eq!(
        (op["line"].clone(), op["column"].clone()),
        (10.into(), 18.into())
    );
    for x in &d {
        assert!(
            x["help"].is_string(),
            "every diagnostic says how to fix it: {x}"
        );
    }
}

#[test]
fn literal_payloads_and_response_pointers_are_checked() {
    let (dir, _) = setup(&doc(r#"- workflowId: w
  steps:
  - stepId: create
    operationId: createThing
    requestBody: {payload: {name: ab, size: 9}}
    successCriteria: [{condition: $statusCode == 201}]
    outputs: {id: $response.body#/identifier}
  outputs: {id: $steps.create.outputs.id}
"#));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 3);
    let payload: Vec<&str> = d
        .iter()
        .filter(|x| x["code"] == "payload/schema")
        .map(|x| x["message"].as_str().unwrap())
        .collect();
    assert!(
        payload
            .iter()
            .any(|m| m.contains("`/name`") && m.contains("at least 3")),
        "{payload:?}"
    );
    assert!(
        payload
            .iter()
            .any(|m| m.contains("`/size`") && m.contains("one of")),
        "{payload:?}"
    );
    let resp = d
        .iter()
        .find(|x| x["code"] == "response/unknown-field")
        .expect("response pointer");
    assert!(resp["message"].as_str().unwrap().contains("/identifier"));
    assert!(resp["help"].as_str().unwrap().contains("id, name"));
}

#[test]
fn missing_required_fields_are_caught_but_expression_values_are_not_judged() {
    let (dir, _) = setup(&doc(r#"- workflowId: w
  inputs: {type: object, properties: {n: {type: string}}}
  steps:
  - stepId: create
    operationId: createThing
    requestBody: {payload: {name: $inputs.n}}
"#));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 3);
    assert_eq!(codes(&d), ["payload/schema"], "{d:?}");
    assert!(d[0]["message"]
        .as_str()
        .unwrap()
        .contains("\"size\" is required"));
}

#[test]
fn warnings_do_not_fail_validation() {
    let (dir, _) = setup(&doc(r#"- workflowId: w
  steps:
  - stepId: a
    operationId: listThings
    parameters: [{name: X-Trace, in: header, value: t}, {name: pgae, in: query, value: 1}]
    outputs: {unused: $statusCode}
    onSuccess: [{name: again, type: goto, stepId: a}]
  - stepId: b
    operationId: listThings
    parameters: [{name: X-Trace, in: header, value: t}]
"#));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 0, "{d:?}");
    let c = codes(&d);
    for want in [
        "step/unreachable",
        "step/endless-loop",
        "output/unused",
        "param/undeclared",
    ] {
        assert!(c.contains(&want), "{want} missing from {c:?}");
    }
    assert!(d.iter().all(|x| x["severity"] == "warning"));
    let undeclared = d.iter().find(|x| x["code"] == "param/undeclared").unwrap();
    assert_eq!(undeclared["help"], "did you mean `page`?");
}

#[test]
fn depends_on_cycles_are_errors() {
    let (dir, _) = setup(&doc(r#"- workflowId: a
  dependsOn: [b]
  steps: [{stepId: s, operationId: getThing, parameters: [{name: id, in: path, value: "1"}]}]
- workflowId: b
  dependsOn: [a]
  steps: [{stepId: s, operationId: getThing, parameters: [{name: id, in: path, value: "1"}]}]
"#));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 3);
    assert_eq!(codes(&d), ["ref/dependency-cycle"]);
    assert!(d[0]["message"].as_str().unwrap().contains("a → b → a"));
}

#[test]
fn human_output_shows_the_offending_line() {
    let (dir, _) = setup(&doc(r#"- workflowId: w
  steps:
  - stepId: a
    operationId: getThng
    parameters: [{name: id, in: path, value: x}]
"#));
    let out = run(arazzo(dir.path()).args(["validate", "flow.arazzo.yaml"]));
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("flow.arazzo.yaml:9:18"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("operationId: getThng"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("did you mean `getThing`?"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("1 document: 1 error, 0 warnings"),
        "{}",
        out.stderr
    );
}

#[test]
fn validate_takes_directories_and_reports_missing_paths() {
    let (dir, _) = setup(&doc(
        "- workflowId: w\n  steps: [{stepId: s, operationId: getThing, parameters: [{name: id, in: path, value: '1'}]}]\n",
    ));
    let out = run(arazzo(dir.path()).args(["validate", "."]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("1 document"), "{}", out.stderr);
    let out = run(arazzo(dir.path()).args(["validate", "nope.yaml"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`nope.yaml` does not exist"),
        "{}",
        out.stderr
    );
}

#[test]
fn list_and_show_describe_workflows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = run(arazzo(root).args(["list", "-o", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let p = v
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["workflowId"] == "provision-mcp-server")
        .unwrap();
    let inputs = p["inputs"].as_array().unwrap();
    let api_key = inputs.iter().find(|i| i["name"] == "apiKey").unwrap();
    assert_eq!(api_key["required"], true);
    assert_eq!(api_key["type"], "string");
    assert_eq!(api_key["env"], "ARAZZO_INPUT_API_KEY");
    let tools = inputs.iter().find(|i| i["name"] == "allowedTools").unwrap();
    assert_eq!(tools["required"], false);
    assert_eq!(
        p["outputs"],
        serde_json::json!([
            "authConfigId",
            "serverId",
            "mcpUrl",
            "instanceId",
            "commands"
        ])
    );

    let out = run(arazzo(root).args(["list"]));
    assert!(
        out.stdout.contains("apiKey (string, required)"),
        "{}",
        out.stdout
    );

    let out = run(arazzo(root).args(["show", "provision-mcp-server"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("3. getServer  GET /api/v3/mcp/{id}  (getMcpById)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("reads:    $inputs.apiKey, $steps.createServer.outputs.serverId"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("produces: mcpUrl, commands"),
        "{}",
        out.stdout
    );
    let out = run(arazzo(root).args(["show", "provision-mcp-server", "-o", "json"]));
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["steps"][3]["path"],
        "/api/v3/mcp/servers/{serverId}/instances"
    );
    assert_eq!(v["steps"][3]["produces"], serde_json::json!(["instanceId"]));
    let out = run(arazzo(root).args(["show", "nope"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("provision-mcp-server"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_directory_with_a_broken_document_reports_it() {
    let (dir, _) = setup(&doc(
        "- workflowId: w\n  steps: [{stepId: s, operationId: getThing, parameters: [{name: id, in: path, value: '1'}]}]\n",
    ));
    std::fs::write(
        dir.path().join("broken.arazzo.yaml"),
        "arazzo: 1.0.1\ninfo: [\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("also-broken.yaml"),
        "arazzo: 1.0.1\nworkflows: {\n",
    )
    .unwrap();
    let out = run(arazzo(dir.path()).args(["validate", ".", "--format", "json"]));
    assert_eq!(out.code, 3, "{}", out.stdout);
    let d: Value = serde_json::from_str(&out.stdout).unwrap();
    let files: Vec<&str> = d
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["code"] == "syntax/yaml")
        .map(|x| x["file"].as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{d}");
}

#[test]
fn templates_are_not_judged_as_literals_and_all_of_inputs_are_declared() {
    let (dir, _) = setup(&(doc(
        r##"- workflowId: w
  inputs:
    allOf:
    - {$ref: "#/components/inputs/base"}
    - {type: object, properties: {size: {type: integer}}}
  steps:
  - stepId: create
    operationId: createThing
    requestBody: {payload: {name: "x{$inputs.name}", size: $inputs.size}}
"##,
    ) + "components:\n  inputs:\n    base: {type: object, required: [name], properties: {name: {type: string}}}\n"));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 0, "{d:?}");
    let out = run(arazzo(dir.path()).args(["list", "flow.arazzo.yaml", "-o", "json"]));
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = v[0]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["name", "size"]);
    assert_eq!(v[0]["inputs"][0]["required"], true);
}

#[test]
fn an_unclosed_embedded_expression_is_an_error() {
    let (dir, _) = setup(&doc(
        "- workflowId: w\n  inputs: {type: object, properties: {x: {type: string}}}\n  steps: [{stepId: s, operationId: getThing, parameters: [{name: id, in: path, value: 'item-{$inputs.x'}]}]\n",
    ));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 3);
    assert_eq!(d[0]["code"], "expr/syntax");
    assert!(
        d[0]["message"].as_str().unwrap().contains("not closed"),
        "{d:?}"
    );
}

/// Every Arazzo document of `../shared/corpus` (about 265 real documents, many
/// with mistakes) through `arazzo validate` in one process: it must end with
/// exit 0 or 3 and a JSON list of diagnostics, never a crash. Remote sources
/// go to a refusing proxy on 127.0.0.1, so nothing leaves the machine.
#[test]
fn every_corpus_document_is_validated_without_a_crash() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                if text.starts_with("arazzo:")
                    || text.contains("\narazzo:")
                    || text.contains("\"arazzo\"")
                {
                    out.push(p);
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    assert!(files.len() > 200, "the corpus is missing: {}", files.len());
    let out = run(arazzo(&root)
        .arg("validate")
        .args(&files)
        .args(["--format", "json"])
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .env("http_proxy", "http://127.0.0.1:9")
        .env("https_proxy", "http://127.0.0.1:9")
        .env("all_proxy", "http://127.0.0.1:9")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy"));
    assert!(
        out.code == 0 || out.code == 3,
        "exit {}: {}",
        out.code,
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let diags: Value = serde_json::from_str(&out.stdout).expect("a JSON list");
    let diags = diags.as_array().unwrap();
    assert!(!diags.is_empty(), "real documents have mistakes");
    for d in diags {
        for field in ["file", "code", "severity", "message"] {
            assert!(d[field].is_string(), "{field} missing: {d}");
        }
    }
}

#[test]
fn a_workflow_that_starts_itself_again_is_warned_about() {
    let (dir, _) = setup(&doc(r#"- workflowId: a
  steps:
  - stepId: list
    operationId: listThings
    parameters: [{name: X-Trace, in: header, value: t}]
  - stepId: again
    workflowId: b
- workflowId: b
  steps:
  - stepId: back
    workflowId: a
- workflowId: c
  steps:
  - stepId: one
    operationId: listThings
    parameters: [{name: X-Trace, in: header, value: t}]
    onSuccess: [{name: more, type: goto, workflowId: c, criteria: [{condition: $statusCode == 206}]}]
- workflowId: plain
  steps:
  - stepId: calls
    workflowId: c
"#));
    let (code, d) = diagnostics(dir.path(), "flow.arazzo.yaml");
    assert_eq!(code, 0, "warnings only: {d:?}");
    let rec: Vec<&Value> = d
        .iter()
        .filter(|x| x["code"] == "workflow/recursive")
        .collect();
    let messages: Vec<&str> = rec.iter().map(|x| x["message"].as_str().unwrap()).collect();
    assert_eq!(rec.len(), 3, "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("(a → b → a)")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("(b → a → b)")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("(c → c)")),
        "{messages:?}"
    );
    assert!(rec.iter().all(|x| x["severity"] == "warning"));
}
