//! `arazzo validate --format sarif` and `--format github` through the binary:
//! the SARIF log is checked against the official SARIF 2.1.0 JSON Schema
//! (tests/fixtures/sarif), the workflow commands line by line.

mod support;

use std::path::Path;

use serde_json::Value;
use support::cli::{exec, Out};

const PETS: &str = r#"openapi: 3.0.3
info: {title: pets, version: "1"}
paths:
  /pets:
    get:
      operationId: listPets
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: array, items: {type: object, properties: {id: {type: string}}}}
  /pets/{petId}:
    get:
      operationId: getPet
      parameters: [{name: petId, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
"#;

fn doc(title: &str, workflows: &str) -> String {
    format!(
        "arazzo: 1.0.1\ninfo: {{title: {title}, version: '1'}}\nsourceDescriptions:\n- {{name: pets, url: pets.yaml, type: openapi}}\nworkflows:\n{workflows}"
    )
}

/// Two mistakes: an operation that does not exist (line 8, on a step id with
/// multi-byte characters) and a step that does not exist (line 10).
fn broken() -> String {
    doc(
        "broken",
        r#"- workflowId: adopt
  steps:
  - stepId: ünï
    operationId: getPett
  - stepId: list
    operationId: listPets
    successCriteria: [{condition: $steps.nope.outputs.x == 1}]
"#,
    )
}

/// Valid, with one warning: a step output nothing reads (line 11).
fn untidy() -> String {
    doc(
        "untidy",
        r#"- workflowId: browse
  steps:
  - stepId: list
    operationId: listPets
    successCriteria: [{condition: $statusCode == 200}]
    outputs: {unused: $statusCode}
"#,
    )
}

/// Valid, nothing to say.
fn clean() -> String {
    doc(
        "clean",
        r#"- workflowId: browse
  steps:
  - stepId: list
    operationId: listPets
    successCriteria: [{condition: $statusCode == 200}]
    outputs: {status: $statusCode}
  outputs: {status: $steps.list.outputs.status}
"#,
    )
}

/// The broken document's name: a `%`, a comma, a colon and spaces, each of
/// which must be escaped in a workflow command property or a URI.
const BROKEN: &str = "50% off, v2: beta.arazzo.yaml";

/// A directory `flows` holding the OpenAPI description and `docs`.
fn project(docs: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    std::fs::write(flows.join("pets.yaml"), PETS).unwrap();
    for (name, text) in docs {
        std::fs::write(flows.join(name), text).unwrap();
    }
    dir
}

fn validate(dir: &Path, args: &[&str]) -> Out {
    let mut cmd = support::cli::arazzo();
    cmd.current_dir(dir).arg("validate").args(args);
    exec(&mut cmd)
}

/// The official SARIF 2.1.0 schema (draft-07), compiled offline: its `$ref`s
/// are all inside the document, and this build of `jsonschema` fetches nothing.
fn sarif_validator() -> jsonschema::Validator {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sarif/sarif-schema-2.1.0.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

fn schema_errors(validator: &jsonschema::Validator, log: &Value) -> Vec<String> {
    validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn assert_valid_sarif(log: &Value) {
    let errors = schema_errors(&sarif_validator(), log);
    assert!(
        errors.is_empty(),
        "not valid SARIF 2.1.0: {errors:#?}\n{log:#}"
    );
}

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().expect("results")
}

fn result<'a>(log: &'a Value, rule: &str) -> &'a Value {
    results(log)
        .iter()
        .find(|r| r["ruleId"] == rule)
        .unwrap_or_else(|| panic!("no `{rule}` result in {log:#}"))
}

fn rule<'a>(log: &'a Value, id: &str) -> &'a Value {
    log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no rule `{id}` in {log:#}"))
}

#[test]
fn the_schema_check_is_not_vacuous() {
    let validator = sarif_validator();
    let good = serde_json::json!({
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{
            "message": {"text": "m"}, "level": "error",
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": "a%20b.yaml"},
                "region": {"startLine": 1, "startColumn": 1}
            }}]
        }]}]
    });
    assert!(schema_errors(&validator, &good).is_empty());
    let mut bad_level = good.clone();
    bad_level["runs"][0]["results"][0]["level"] = "fatal".into();
    let mut bad_line = good.clone();
    bad_line["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        0.into();
    let mut bad_uri = good.clone();
    bad_uri["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"] = "a b.yaml".into();
    let mut bad_version = good.clone();
    bad_version["version"] = "2.0.0".into();
    for bad in [bad_level, bad_line, bad_uri, bad_version] {
        assert!(!schema_errors(&validator, &bad).is_empty(), "{bad:#}");
    }
}

#[test]
fn sarif_log_is_valid_and_places_each_mistake() {
    let dir = project(&[(BROKEN, broken()), ("untidy.arazzo.yaml", untidy())]);
    let out = validate(dir.path(), &["flows", "--format", "sarif"]);
    out.assert_code(3);
    let log = out.json();
    assert_valid_sarif(&log);

    assert_eq!(
        log["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["runs"].as_array().unwrap().len(), 1);
    let driver = &log["runs"][0]["tool"]["driver"];
    assert_eq!(driver["name"], "arazzo");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(log["runs"][0]["columnKind"], "unicodeCodePoints");

    // The unknown operation: its value `getPett`, on line 9 from column 18;
    // the end column is exclusive. (The `ünï` warning on line 8 counts
    // characters: column 13, not byte 13.)
    let op = result(&log, "ref/unknown-operation");
    assert_eq!(op["level"], "error");
    assert!(
        op["message"]["text"]
            .as_str()
            .unwrap()
            .contains("operation `getPett` is not in source `pets`"),
        "{op:#}"
    );
    let place = &op["locations"][0]["physicalLocation"];
    assert_eq!(
        place["artifactLocation"]["uri"],
        "flows/50%25%20off%2C%20v2%3A%20beta.arazzo.yaml"
    );
    assert_eq!(
        place["region"],
        serde_json::json!({"startLine": 9, "startColumn": 18, "endLine": 9, "endColumn": 25})
    );
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(
        rules[op["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "ref/unknown-operation"
    );
    let r = rule(&log, "ref/unknown-operation");
    assert_eq!(r["help"]["text"], "did you mean `getPet`?");
    assert_eq!(r["defaultConfiguration"]["level"], "error");
    assert!(r["shortDescription"]["text"].as_str().unwrap().len() > 5);

    let step = result(&log, "ref/unknown-step");
    assert_eq!(
        step["locations"][0]["physicalLocation"]["region"],
        serde_json::json!({"startLine": 12, "startColumn": 35, "endLine": 12, "endColumn": 56})
    );

    // The other document's warning.
    let unused = result(&log, "output/unused");
    assert_eq!(unused["level"], "warning");
    assert_eq!(
        unused["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "flows/untidy.arazzo.yaml"
    );
    assert_eq!(
        rule(&log, "output/unused")["defaultConfiguration"]["level"],
        "warning"
    );

    // One rule per code, each result pointing at its own.
    let mut ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), rules.len());
    for r in results(&log) {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
    }
}

#[test]
fn sarif_places_agree_with_the_json_format() {
    let dir = project(&[(BROKEN, broken()), ("untidy.arazzo.yaml", untidy())]);
    let sarif = validate(dir.path(), &["flows", "--format", "sarif"]).json();
    let json = validate(dir.path(), &["flows", "--format", "json"]).json();
    let json = json.as_array().unwrap();
    assert_eq!(results(&sarif).len(), json.len());
    for (s, j) in results(&sarif).iter().zip(json) {
        assert_eq!(s["ruleId"], j["code"]);
        assert_eq!(s["message"]["text"], j["message"]);
        let region = &s["locations"][0]["physicalLocation"]["region"];
        assert_eq!(region["startLine"], j["line"], "{s:#}");
        assert_eq!(region["startColumn"], j["column"], "{s:#}");
    }
}

#[test]
fn sarif_without_findings_is_still_a_valid_log() {
    let dir = project(&[("clean.arazzo.yaml", clean())]);
    let out = validate(dir.path(), &["flows", "--format", "sarif"]);
    out.assert_code(0);
    let log = out.json();
    assert_valid_sarif(&log);
    assert!(results(&log).is_empty());
    assert_eq!(
        log["runs"][0]["tool"]["driver"]["rules"],
        serde_json::json!([])
    );
}

#[test]
fn sarif_with_only_warnings_exits_0() {
    let dir = project(&[("untidy.arazzo.yaml", untidy())]);
    let out = validate(
        dir.path(),
        &["flows/untidy.arazzo.yaml", "--format", "sarif"],
    );
    out.assert_code(0);
    let log = out.json();
    assert_valid_sarif(&log);
    assert_eq!(results(&log).len(), 1);
    assert_eq!(results(&log)[0]["level"], "warning");
}

#[test]
fn a_file_level_diagnostic_has_no_region() {
    let dir = project(&[(BROKEN, broken())]);
    let args = ["flows", "--max-document-size", "10"];

    let out = validate(dir.path(), &[&args[..], &["--format", "sarif"]].concat());
    out.assert_code(3);
    let log = out.json();
    assert_valid_sarif(&log);
    let big = result(&log, "document/too-large");
    assert_eq!(
        big["locations"][0]["physicalLocation"],
        serde_json::json!({"artifactLocation": {"uri": "flows/50%25%20off%2C%20v2%3A%20beta.arazzo.yaml"}})
    );

    let out = validate(dir.path(), &[&args[..], &["--format", "github"]].concat());
    out.assert_code(3);
    let line = out.stdout.lines().next().unwrap();
    assert!(
        line.starts_with(
            "::error file=flows/50%25 off%2C v2%3A beta.arazzo.yaml,title=document/too-large::"
        ),
        "{line}"
    );
    // The message names the file: its `%` is escaped, its `:` and `,` stay.
    assert!(
        line.contains("`flows/50%25 off, v2: beta.arazzo.yaml` is "),
        "{line}"
    );
    assert!(!line.contains("line="), "{line}");
}

#[test]
fn github_commands_are_exact() {
    let dir = project(&[(BROKEN, broken()), ("untidy.arazzo.yaml", untidy())]);
    let out = validate(dir.path(), &["flows", "--format", "github"]);
    out.assert_code(3);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "::warning file=flows/50%25 off%2C v2%3A beta.arazzo.yaml,line=8,col=13,endLine=8,endColumn=16,title=id/pattern::stepId `ünï` should match [A-Za-z0-9_-]+%0Ahelp: use letters, digits, `_` and `-` only",
            "::error file=flows/50%25 off%2C v2%3A beta.arazzo.yaml,line=9,col=18,endLine=9,endColumn=25,title=ref/unknown-operation::workflow `adopt`, step `ünï`: operation `getPett` is not in source `pets` (`flows/pets.yaml`)%0Ahelp: did you mean `getPet`?",
            "::error file=flows/50%25 off%2C v2%3A beta.arazzo.yaml,line=12,col=35,endLine=12,endColumn=56,title=ref/unknown-step::workflow `adopt`, step `list`: `$steps.nope.outputs.x` names a step that does not exist in workflow `adopt`",
            "::warning file=flows/untidy.arazzo.yaml,line=11,col=15,endLine=11,endColumn=21,title=output/unused::output `unused` of step `list` is never read%0Ahelp: read it as `$steps.list.outputs.unused` (e.g. in the workflow outputs), or remove it",
        ],
        "{}",
        out.context()
    );
    assert!(out.stdout.ends_with('\n'));
    // Nothing else on stdout; the summary goes to stderr.
    out.assert_stderr_has("2 documents: 2 errors, 2 warnings");
}

#[test]
fn github_exit_codes_follow_the_errors() {
    let dir = project(&[
        ("untidy.arazzo.yaml", untidy()),
        ("clean.arazzo.yaml", clean()),
    ]);
    let out = validate(
        dir.path(),
        &["flows/untidy.arazzo.yaml", "--format", "github"],
    );
    out.assert_code(0);
    assert_eq!(out.stdout.lines().count(), 1);
    assert!(out.stdout.starts_with("::warning "), "{}", out.stdout);

    let out = validate(
        dir.path(),
        &["flows/clean.arazzo.yaml", "--format", "github"],
    );
    out.assert_code(0);
    assert_eq!(out.stdout, "");
    out.assert_stderr_has("1 document: 0 errors, 0 warnings");
}

#[test]
fn control_characters_never_reach_the_terminal() {
    // A step id holding ESC and a line feed: the message that names it must
    // neither colour the terminal nor break a workflow command in two.
    let hostile = doc(
        "hostile",
        r#"- workflowId: w
  steps:
  - stepId: "red\e[31m\nline"
    operationId: getPett
"#,
    );
    let dir = project(&[("hostile.arazzo.yaml", hostile)]);

    let out = validate(dir.path(), &["flows", "--format", "github"]);
    out.assert_code(3);
    assert!(!out.stdout.contains('\u{1b}'), "{:?}", out.stdout);
    assert!(
        out.stdout.contains("red\\u{1b}[31m%0Aline"),
        "{}",
        out.stdout
    );
    for line in out.stdout.lines() {
        assert!(
            line.starts_with("::error ") || line.starts_with("::warning "),
            "{line:?}"
        );
    }

    let out = validate(dir.path(), &["flows", "--format", "sarif"]);
    out.assert_code(3);
    assert!(!out.stdout.contains('\u{1b}'), "{:?}", out.stdout);
    let log = out.json();
    assert_valid_sarif(&log);
    let op = result(&log, "ref/unknown-operation");
    assert!(
        op["message"]["text"]
            .as_str()
            .unwrap()
            .contains("red\u{1b}[31m\nline"),
        "{op:#}"
    );
}
