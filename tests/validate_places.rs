//! `arazzo validate` places each diagnostic on the field that is wrong, runs
//! every independent check of a step, and reports the checks drawn from
//! real-world mistakes (near-miss expressions, undeclared statuses, shared
//! operationIds, dot access, bare operationPaths, sources found higher up).

mod support;

use std::path::Path;

use serde_json::Value;
use support::cli::exec as run;

const SHIPPED: &str = include_str!("../workflows/provision-mcp-server.arazzo.yaml");

/// The shipped workflow with one mistake, written into a fresh folder beside
/// the real Composio description.
fn shipped_with(find: &str, replace: &str) -> (tempfile::TempDir, String) {
    assert!(SHIPPED.contains(find), "the workflow holds `{find}`");
    let text = SHIPPED.replacen(find, replace, 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("workflows")).unwrap();
    std::fs::create_dir(dir.path().join("openapi")).unwrap();
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/composio-openapi-original.json");
    std::fs::copy(
        api,
        dir.path().join("openapi/composio-openapi-original.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("workflows/flow.arazzo.yaml"), &text).unwrap();
    (dir, text)
}

fn validate(dir: &Path, file: &str) -> (i32, Vec<Value>) {
    let mut cmd = support::cli::arazzo();
    cmd.current_dir(dir)
        .args(["validate", file, "--format", "json"]);
    let out = run(&mut cmd);
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out.stdout, out.stderr));
    (out.code, v.as_array().unwrap().clone())
}

/// 1-based line and column (in characters) of the `nth` occurrence of `needle`.
fn place_of(text: &str, needle: &str, nth: usize) -> (u64, u64) {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{needle}` occurs {} times", nth + 1))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line as u64, column as u64)
}

fn summary(d: &[Value]) -> String {
    d.iter()
        .map(|x| {
            format!(
                "{}:{} {} {}",
                x["line"], x["column"], x["code"], x["message"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_broken_variant_of_the_shipped_workflow_is_reported_where_the_mistake_is() {
    // (what to change, into what, the code, the text the diagnostic must start
    // at, and which occurrence of that text in the broken document)
    let variants: &[(&str, &str, &str, &str, usize)] = &[
        (
            "operationId: postMcpServers\n",
            "operationId: postMcpServer\n",
            "ref/unknown-operation",
            "postMcpServer\n",
            0,
        ),
        (
            "name: id\n      in: path",
            "name: id\n      in: query",
            "param/wrong-in",
            "query",
            0,
        ),
        (
            "name: $inputs.serverName",
            "name: $inputs.servername",
            "ref/undeclared-input",
            "$inputs.servername",
            0,
        ),
        (
            "- $steps.createAuthConfig.outputs.authConfigId",
            "- $steps.createAuthConfig.outputs.authConfigID",
            "ref/unknown-output",
            "$steps.createAuthConfig.outputs.authConfigID",
            0,
        ),
        (
            "mcpUrl: $response.body#/mcp_url\n      commands:",
            "mcpUrl: $response.body#/mcp_urll\n      commands:",
            "response/unknown-field",
            "$response.body#/mcp_urll",
            0,
        ),
        (
            "managed_auth_via_composio: true",
            "managed_auth_via_composio: 'yes'",
            "payload/schema",
            "'yes'",
            0,
        ),
        (
            "- condition: $statusCode == 200",
            "- condition: $statusCode === 200",
            "criteria/syntax",
            "$statusCode === 200",
            0,
        ),
        (
            "value: $inputs.apiKey\n    requestBody:\n      contentType: application/json\n      payload:\n        name:",
            "value: $input.apiKey\n    requestBody:\n      contentType: application/json\n      payload:\n        name:",
            "expr/near-miss",
            "$input.apiKey",
            0,
        ),
        (
            "mcpUrl: $steps.getServer.outputs.mcpUrl",
            "mcpUrl: $steps.getServer.outputs.commands.npx",
            "expr/dot-access",
            "$steps.getServer.outputs.commands.npx",
            0,
        ),
        (
            "operationId: getMcpById",
            "operationPath: composioApi#/paths/~1api~1v3~1mcp~1{id}/get",
            "ref/operation-path",
            "composioApi#/paths",
            0,
        ),
    ];
    for (find, replace, code, at, nth) in variants {
        let (dir, text) = shipped_with(find, replace);
        let (exit, d) = validate(dir.path(), "workflows/flow.arazzo.yaml");
        assert_eq!(exit, 3, "{code}: {}", summary(&d));
        let errors: Vec<&Value> = d.iter().filter(|x| x["severity"] == "error").collect();
        assert_eq!(
            errors.len(),
            1,
            "{code}: one mistake, one error:\n{}",
            summary(&d)
        );
        let e = errors[0];
        assert_eq!(e["code"], *code, "{}", summary(&d));
        let (line, column) = place_of(&text, at, *nth);
        assert_eq!(
            (e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap()),
            (line, column),
            "{code} at the mistake (`{at}`), not at its step:\n{}",
            summary(&d)
        );
        let pointer = e["pointer"].as_str().unwrap();
        assert!(
            !pointer.ends_with(|c: char| c.is_ascii_digit()) || pointer.contains("/payload/"),
            "{code}: the pointer names a field, not a step: {pointer}"
        );
    }
}

#[test]
fn the_shipped_workflow_is_clean() {
    let (dir, _) = shipped_with("arazzo: 1.0.1", "arazzo: 1.0.1");
    let (exit, d) = validate(dir.path(), "workflows/flow.arazzo.yaml");
    assert_eq!(exit, 0, "{}", summary(&d));
    assert!(
        d.iter().all(|x| x["severity"] == "warning"),
        "{}",
        summary(&d)
    );
}

const API: &str = r##"openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /pets:
    post:
      operationId: createPet
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string}
                age: {type: integer}
      responses:
        "201":
          description: created
          content:
            application/json:
              schema: {type: object, properties: {id: {type: string}, owner: {type: object, properties: {name: {type: string}}}}}
  /pets/{id}:
    get:
      operationId: getPet
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        "2XX": {description: ok}
    delete:
      operationId: removePet
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses:
        default: {description: whatever}
"##;

/// [`API`] with a second operation named `getPet`.
const SHARED: &str = r##"  /owners/{id}:
    get:
      operationId: getPet
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
"##;

fn folder(flow: &str) -> tempfile::TempDir {
    folder_with(API, flow)
}

fn folder_with(api: &str, flow: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.yaml"), api).unwrap();
    std::fs::write(dir.path().join("flow.arazzo.yaml"), flow).unwrap();
    dir
}

const HEAD: &str = "arazzo: 1.0.1
info: {title: t, version: '1'}
sourceDescriptions:
  - {name: api, url: ./api.yaml, type: openapi}
workflows:
";

#[test]
fn a_step_with_several_independent_mistakes_reports_every_one() {
    let flow = format!(
        "{HEAD}  - workflowId: w
    inputs: {{type: object, properties: {{name: {{type: string}}}}}}
    steps:
      - stepId: make
        operationId: createPett
        parameters:
          - {{name: trace, in: header, value: $inputs.nam}}
        requestBody:
          payload:
            name: $steps.nope.outputs.x
            age: '{{$input.age}}'
        successCriteria:
          - condition: $statusCode = 201
        outputs:
          id: $response.body.id
"
    );
    let dir = folder(&flow);
    let (exit, d) = validate(dir.path(), "flow.arazzo.yaml");
    assert_eq!(exit, 3);
    let got: Vec<(String, u64, u64)> = d
        .iter()
        .map(|x| {
            (
                x["code"].as_str().unwrap().to_string(),
                x["line"].as_u64().unwrap(),
                x["column"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("ref/unknown-operation", place_of(&flow, "createPett", 0)),
        ("ref/undeclared-input", place_of(&flow, "$inputs.nam", 0)),
        ("ref/unknown-step", place_of(&flow, "$steps.nope", 0)),
        ("expr/near-miss", place_of(&flow, "$input.age", 0)),
        ("criteria/syntax", place_of(&flow, "$statusCode = 201", 0)),
        ("expr/dot-access", place_of(&flow, "$response.body.id", 0)),
    ];
    for (code, (line, column)) in want {
        assert!(
            got.contains(&(code.to_string(), line, column)),
            "{code} at {line}:{column}:\n{}",
            summary(&d)
        );
    }
    assert_eq!(got.len(), want.len(), "{}", summary(&d));
}

#[test]
fn a_status_the_operation_does_not_declare_is_a_warning_unless_a_range_or_default_covers_it() {
    let flow = format!(
        "{HEAD}  - workflowId: w
    steps:
      - stepId: make
        operationId: createPet
        requestBody: {{payload: {{name: rex}}}}
        successCriteria:
          - condition: $statusCode == 200
      - stepId: made
        operationId: createPet
        requestBody: {{payload: {{name: rex}}}}
        successCriteria:
          - condition: $statusCode == 201
      - stepId: read
        operationPath: '{{$sourceDescriptions.api.url}}#/paths/~1pets~1{{id}}/get'
        parameters: [{{name: id, in: path, value: x}}]
        successCriteria: [{{condition: $statusCode == 204}}]
      - stepId: drop
        operationId: removePet
        parameters: [{{name: id, in: path, value: x}}]
        successCriteria: [{{condition: $statusCode == 410}}]
"
    );
    let dir = folder(&flow);
    let (exit, d) = validate(dir.path(), "flow.arazzo.yaml");
    assert_eq!(exit, 0, "warnings only: {}", summary(&d));
    let status: Vec<&Value> = d
        .iter()
        .filter(|x| x["code"] == "criteria/undeclared-status")
        .collect();
    assert_eq!(status.len(), 1, "{}", summary(&d));
    assert_eq!(status[0]["severity"], "warning");
    let (line, column) = place_of(&flow, "$statusCode == 200", 0);
    assert_eq!(
        (
            status[0]["line"].as_u64().unwrap(),
            status[0]["column"].as_u64().unwrap()
        ),
        (line, column)
    );
    assert!(status[0]["help"].as_str().unwrap().contains("201"));
}

#[test]
fn an_operation_id_two_operations_share_is_an_error_at_each_step_and_a_warning_on_the_source() {
    let flow = format!(
        "{HEAD}  - workflowId: w
    steps:
      - stepId: one
        operationId: getPet
        parameters: [{{name: id, in: path, value: x}}]
      - stepId: two
        operationId: getPet
        parameters: [{{name: id, in: path, value: y}}]
"
    );
    let dir = folder_with(&format!("{API}{SHARED}"), &flow);
    let (exit, d) = validate(dir.path(), "flow.arazzo.yaml");
    assert_eq!(exit, 3);
    let errors: Vec<&Value> = d
        .iter()
        .filter(|x| x["code"] == "ref/duplicate-operation-id")
        .collect();
    assert_eq!(errors.len(), 2, "{}", summary(&d));
    for (i, e) in errors.iter().enumerate() {
        let m = e["message"].as_str().unwrap();
        assert!(
            m.contains("GET /pets/{id}") && m.contains("GET /owners/{id}"),
            "{m}"
        );
        let (line, column) = place_of(&flow, "getPet", i);
        assert_eq!(
            (e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap()),
            (line, column)
        );
        assert!(e["help"].as_str().unwrap().contains("operationPath"));
    }
    let warning = d
        .iter()
        .find(|x| x["code"] == "openapi/duplicate-operation-id")
        .unwrap_or_else(|| panic!("{}", summary(&d)));
    assert_eq!(warning["severity"], "warning");
    assert_eq!(warning["pointer"], "/sourceDescriptions/0/url");
    // Nothing else: the steps' parameters are not blamed.
    assert_eq!(d.len(), 3, "{}", summary(&d));
}

#[test]
fn text_that_only_looks_like_money_or_a_variable_is_left_alone_and_literals_can_be_declared() {
    let flow = format!(
        "{HEAD}  - workflowId: w
    steps:
      - stepId: make
        operationId: createPet
        x-arazzo-literals: ['$input.name']
        requestBody:
          payload:
            name: $input.name
            note: costs $100, see $HOME and $ref
        successCriteria: [{{condition: $statusCode == 201}}]
"
    );
    let dir = folder(&flow);
    let (exit, d) = validate(dir.path(), "flow.arazzo.yaml");
    assert_eq!(exit, 0, "{}", summary(&d));
    assert!(d.is_empty(), "{}", summary(&d));
}

#[test]
fn dot_access_and_bare_operation_paths_carry_the_exact_rewrite() {
    let flow = format!(
        "{HEAD}  - workflowId: w
    steps:
      - stepId: make
        operationId: createPet
        requestBody: {{payload: {{name: rex}}}}
        successCriteria: [{{condition: $statusCode == 201}}]
        outputs:
          owner: $response.body#/owner
      - stepId: read
        operationPath: api#/paths/~1pets~1{{id}}/get
        parameters:
          - name: id
            in: path
            value: $steps.make.outputs.owner.name
    outputs:
      name: $steps.read.outputs.missing
"
    );
    let dir = folder(&flow);
    let (_, d) = validate(dir.path(), "flow.arazzo.yaml");
    let dot = d.iter().find(|x| x["code"] == "expr/dot-access").unwrap();
    assert_eq!(dot["fix"]["replace"], "$steps.make.outputs.owner.name");
    assert_eq!(dot["fix"]["with"], "$steps.make.outputs.owner#/name");
    assert!(dot["help"]
        .as_str()
        .unwrap()
        .contains("`$steps.make.outputs.owner#/name`"));
    let path = d
        .iter()
        .find(|x| x["code"] == "ref/operation-path")
        .unwrap();
    assert_eq!(path["fix"]["replace"], "api#");
    assert_eq!(path["fix"]["with"], "{$sourceDescriptions.api.url}#");
    assert!(path["help"]
        .as_str()
        .unwrap()
        .contains("'{$sourceDescriptions.api.url}#/paths/~1pets~1{id}/get'"));
    // The step is checked past its operationPath: its own mistakes show too.
    assert!(
        d.iter().any(|x| x["code"] == "ref/unknown-output"),
        "{}",
        summary(&d)
    );
}

#[test]
fn a_source_written_from_a_folder_above_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows/pets")).unwrap();
    std::fs::create_dir_all(dir.path().join("specs")).unwrap();
    std::fs::write(dir.path().join("specs/api.yaml"), API).unwrap();
    let flow = HEAD.replace("./api.yaml", "specs/api.yaml")
        + "  - workflowId: w
    steps:
      - {stepId: make, operationId: createPet, requestBody: {payload: {name: rex}}}
";
    std::fs::write(dir.path().join("flows/pets/flow.arazzo.yaml"), &flow).unwrap();
    let (exit, d) = validate(dir.path(), "flows/pets/flow.arazzo.yaml");
    assert_eq!(exit, 3);
    assert_eq!(d.len(), 1, "{}", summary(&d));
    assert_eq!(d[0]["code"], "source/load");
    assert!(d[0]["help"]
        .as_str()
        .unwrap()
        .contains("url: ../../specs/api.yaml"));
    assert_eq!(d[0]["fix"]["with"], "../../specs/api.yaml");
    let (line, column) = place_of(&flow, "specs/api.yaml", 0);
    assert_eq!(
        (
            d[0]["line"].as_u64().unwrap(),
            d[0]["column"].as_u64().unwrap()
        ),
        (line, column)
    );
}

fn arazzo_in(dir: &Path, args: &[&str]) -> support::cli::Out {
    let mut cmd = support::cli::arazzo();
    cmd.current_dir(dir).args(args);
    run(&mut cmd)
}

/// A YAML document with each mechanical mistake, comments and odd quoting
/// around them, and the text it must become: nothing else may change.
const MECHANICAL: &str = r#"arazzo: 1.0.1
info: {title: t, version: '1'}   # kept
sourceDescriptions:
  - {name: api, url: ./api.yaml, type: openapi}
workflows:
  - workflowId: w
    steps:
      # the operation by its path
      - stepId: make
        operationPath: api#/paths/~1pets/post
        requestBody:
          payload: {name: "rex", age: 3}
        successCriteria: [{condition: $statusCode == 201}]
        outputs:
          owner:   $response.body#/owner
          id: "$response.body.id"
      - stepId: read
        operationPath: "api#/paths/~1pets~1{id}/get"
        parameters:
          - name: id
            in: path
            value: '$steps.make.outputs.owner.name'   # dot access
    outputs:
      id: $steps.make.outputs.id
      name: $steps.make.outputs.owner.name
"#;

fn mechanical_fixed() -> String {
    MECHANICAL
        .replacen(
            "operationPath: api#/paths/~1pets/post",
            "operationPath: '{$sourceDescriptions.api.url}#/paths/~1pets/post'",
            1,
        )
        .replacen("\"$response.body.id\"", "\"$response.body#/id\"", 1)
        .replacen(
            "\"api#/paths/~1pets~1{id}/get\"",
            "\"{$sourceDescriptions.api.url}#/paths/~1pets~1{id}/get\"",
            1,
        )
        .replacen(
            "'$steps.make.outputs.owner.name'",
            "'$steps.make.outputs.owner#/name'",
            1,
        )
        .replacen(
            "name: $steps.make.outputs.owner.name",
            "name: $steps.make.outputs.owner#/name",
            1,
        )
}

#[test]
fn fix_rewrites_only_the_mechanical_mistakes_and_a_second_run_changes_nothing() {
    let dir = folder(MECHANICAL);
    let (exit, before) = validate(dir.path(), "flow.arazzo.yaml");
    assert_eq!(exit, 3);
    assert_eq!(
        before.iter().filter(|x| x["fix"].is_object()).count(),
        5,
        "{}",
        summary(&before)
    );

    let out = arazzo_in(dir.path(), &["validate", "flow.arazzo.yaml", "--fix"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("fixed 5 problems in 1 document"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("flow.arazzo.yaml:10:24: fixed `api#/paths/~1pets/post`"),
        "{}",
        out.stderr
    );
    let text = std::fs::read_to_string(dir.path().join("flow.arazzo.yaml")).unwrap();
    assert_eq!(
        text,
        mechanical_fixed(),
        "byte for byte, only the fixed values changed"
    );
    let (exit, after) = validate(dir.path(), "flow.arazzo.yaml");
    assert_eq!(exit, 0, "{}", summary(&after));

    let again = arazzo_in(dir.path(), &["validate", "flow.arazzo.yaml", "--fix"]);
    assert_eq!(again.code, 0);
    assert!(
        again.stderr.contains("fixed 0 problems in 0 documents"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("flow.arazzo.yaml")).unwrap(),
        text
    );
}

#[test]
fn fix_dry_run_prints_a_diff_that_git_applies_and_writes_nothing() {
    let dir = folder(MECHANICAL);
    let out = arazzo_in(
        dir.path(),
        &["validate", "flow.arazzo.yaml", "--fix", "--dry-run"],
    );
    assert_eq!(out.code, 3, "the document is still broken: {}", out.stderr);
    assert!(
        out.stdout
            .starts_with("--- a/flow.arazzo.yaml\n+++ b/flow.arazzo.yaml\n@@ "),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("would fix 5 problems in 1 document"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("flow.arazzo.yaml")).unwrap(),
        MECHANICAL
    );
    std::fs::write(dir.path().join("fix.diff"), &out.stdout).unwrap();
    let git = std::process::Command::new("git")
        .current_dir(dir.path())
        .args(["apply", "fix.diff"])
        .output()
        .unwrap();
    assert!(
        git.status.success(),
        "{}",
        String::from_utf8_lossy(&git.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("flow.arazzo.yaml")).unwrap(),
        mechanical_fixed()
    );
    let bad = arazzo_in(
        dir.path(),
        &[
            "validate",
            "flow.arazzo.yaml",
            "--fix",
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn fix_works_on_json_documents_too() {
    let flow = r#"{
  "arazzo": "1.0.1",
  "info": {"title": "t", "version": "1"},
  "sourceDescriptions": [{"name": "api", "url": "./api.yaml", "type": "openapi"}],
  "workflows": [{
    "workflowId": "w",
    "steps": [{
      "stepId": "make",
      "operationPath": "api#/paths/~1pets/post",
      "requestBody": {"payload": {"name": "r\u00e9x"}},
      "successCriteria": [{"condition": "$statusCode == 201"}],
      "outputs": {"id": "$response.body.id"}
    }],
    "outputs": {"id": "$steps.make.outputs.id"}
  }]
}
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.yaml"), API).unwrap();
    std::fs::write(dir.path().join("flow.arazzo.json"), flow).unwrap();
    let out = arazzo_in(dir.path(), &["validate", "flow.arazzo.json", "--fix"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let want = flow
        .replacen("\"api#/", "\"{$sourceDescriptions.api.url}#/", 1)
        .replacen("$response.body.id", "$response.body#/id", 1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("flow.arazzo.json")).unwrap(),
        want
    );
}

#[test]
fn a_mistake_in_another_arazzo_document_is_not_placed_in_this_one() {
    let dir = folder(
        "arazzo: 1.0.1
info: {title: t, version: '1'}
sourceDescriptions:
  - {name: other, url: ./other.arazzo.yaml, type: arazzo}
workflows:
  - workflowId: w
    steps:
      - stepId: call
        workflowId: $sourceDescriptions.other.make
",
    );
    std::fs::write(
        dir.path().join("other.arazzo.yaml"),
        format!(
            "{HEAD}  - workflowId: make
    steps:
      - stepId: one
        operationId: createPett
"
        ),
    )
    .unwrap();
    let (exit, d) = validate(dir.path(), "flow.arazzo.yaml");
    assert_eq!(exit, 3);
    let e = d
        .iter()
        .find(|x| x["code"] == "ref/unknown-operation")
        .unwrap_or_else(|| panic!("{}", summary(&d)));
    assert!(e["line"].is_null() && e.get("pointer").is_none(), "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("other.arazzo.yaml"),
        "{e}"
    );
}
