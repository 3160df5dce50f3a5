//! Arazzo 1.0.x and 1.1.x side by side, through the binary: which versions are read, which
//! schema checks each, 1.1 fields in a 1.0 document, `$self` (the base URI, identity-based
//! referencing and the runtime expression) and AsyncAPI sources. Documents are written to a
//! temporary folder or served over http by `support::echo`, which records what it was asked.

mod support;

use std::path::Path;

use serde_json::Value;
use support::cli::{arazzo, exec, Out};
use support::echo::Echo;
use support::workspace::Workspace;

/// The OpenAPI description the workflows call; every run passes `--server api=…`.
const API: &str = r#"openapi: 3.0.3
info: {title: Items, version: "1"}
servers:
  - url: http://127.0.0.1:1
paths:
  /items/{id}:
    get:
      operationId: getItem
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: ok}
"#;

/// An AsyncAPI 3 description with one operation.
const EVENTS: &str = r#"asyncapi: 3.0.0
info: {title: Events, version: "1"}
channels:
  orders:
    address: orders
operations:
  orderCreated:
    action: send
    channel: {$ref: '#/channels/orders'}
"#;

/// A document of version `version` with the source `api` at `api_url`, `head` (more root
/// fields, each line at column 0) and one workflow `w` whose step `get` reads item 1, with
/// `step_extra` (lines at the step's indentation) and `outputs` of the workflow.
fn doc(version: &str, head: &str, api_url: &str, step_extra: &str, outputs: &str) -> String {
    format!(
        "arazzo: {version}\n{head}info:\n  title: versions\n  version: 1.0.0\nsourceDescriptions:\n  - name: api\n    url: {api_url}\n    type: openapi\nworkflows:\n  - workflowId: w\n    steps:\n      - stepId: get\n        operationId: getItem\n        parameters:\n          - {{name: id, in: path, value: '1'}}\n{step_extra}        successCriteria:\n          - condition: $statusCode == 200\n        outputs:\n          status: $statusCode\n    outputs:\n      status: $steps.get.outputs.status\n{outputs}"
    )
}

fn run(doc: &Path, echo: &Echo) -> Out {
    exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(["-o", "json"]),
    )
}

fn run_url(url: &str, echo: &Echo) -> Out {
    exec(arazzo().args([
        "run",
        "w",
        "-f",
        url,
        "--server",
        &format!("api={}", echo.base_url()),
        "-o",
        "json",
    ]))
}

fn validate(doc: &Path, extra: &[&str]) -> Out {
    exec(arazzo().arg("validate").arg(doc).args(extra))
}

/// The paths the server was asked for, in order.
fn paths(echo: &Echo) -> Vec<String> {
    echo.requests().into_iter().map(|r| r.path).collect()
}

// 1.1 §Versions: "The `major`.`minor` portion of the version string (for example 1.0) SHALL
// designate the Arazzo feature set. `.patch` versions address errors in, or provide
// clarifications to, this document, not the feature set."
#[test]
fn documents_of_1_0_and_1_1_both_run() {
    let echo = Echo::start();
    let case = Workspace::new();
    case.write("api.yaml", API);
    for version in ["1.0.0", "1.0.1", "1.1.0"] {
        let path = case.write(
            &format!("v{version}.arazzo.yaml"),
            &doc(version, "", "./api.yaml", "", ""),
        );
        let out = run(&path, &echo);
        out.assert_code(0);
        assert_eq!(out.json()["outputs"]["status"], 200, "{}", out.context());
    }
    assert_eq!(echo.api_requests().len(), 3);
}

// 1.1 §Arazzo Specification Object, `arazzo`: "The `arazzo` field MUST be used by tooling to
// interpret the Arazzo Description."
#[test]
fn validate_says_which_version_each_document_is() {
    let case = Workspace::new();
    case.write("api.yaml", API);
    let old = case.write("old.arazzo.yaml", &doc("1.0.1", "", "./api.yaml", "", ""));
    let new = case.write("new.arazzo.yaml", &doc("1.1.0", "", "./api.yaml", "", ""));
    let out = validate(&new, &[]);
    out.assert_code(0);
    out.assert_stderr_has("1 document: 0 errors, 0 warnings; Arazzo 1.1.0");
    let out = exec(arazzo().arg("validate").arg(&old).arg(&new));
    out.assert_code(0);
    out.assert_stderr_has("2 documents: 0 errors, 0 warnings; Arazzo 1.0.1 (1), 1.1.0 (1)");
    // JSON: the list of diagnostics stays a list (each carries the version); the summary
    // goes to stderr.
    let out = validate(&new, &["-o", "json"]);
    out.assert_code(0);
    assert_eq!(out.json(), serde_json::json!([]));
    out.assert_stderr_has("; Arazzo 1.1.0");
    // SARIF: each document is an artifact with its version.
    let out = validate(&old, &["-o", "sarif"]);
    out.assert_code(0);
    let artifacts = &out.json()["runs"][0]["artifacts"];
    assert_eq!(artifacts[0]["properties"]["arazzo"], "1.0.1", "{artifacts}");
}

// 1.1 §Step Object adds `timeout` ("The maximum number of milli-seconds to wait for the step to
// complete"); a document that declares 1.0.1 is read as 1.0, which has no such field.
#[test]
fn a_1_1_field_in_a_1_0_document_is_an_error_at_its_line() {
    let echo = Echo::start();
    let case = Workspace::new();
    case.write("api.yaml", API);
    let text = doc("1.0.1", "", "./api.yaml", "        timeout: 500\n", "");
    let line = text
        .lines()
        .position(|l| l.contains("timeout: 500"))
        .unwrap()
        + 1;
    let path = case.write("old.arazzo.yaml", &text);

    let out = validate(&path, &["-o", "json"]);
    out.assert_code(3);
    let diags = out.json();
    let d = diags
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "schema/arazzo-1.1")
        .unwrap_or_else(|| panic!("{}", out.context()));
    assert_eq!(d["pointer"], "/workflows/0/steps/0/timeout");
    assert_eq!(d["line"], line);
    assert_eq!(d["column"], 9);
    assert_eq!(d["arazzo"], "1.0.1");
    assert!(
        d["help"].as_str().unwrap().contains("set `arazzo: 1.1.0`"),
        "{d}"
    );
    // Nothing else is said about it (the 1.0 schema's "unknown field").
    assert_eq!(diags.as_array().unwrap().len(), 1, "{diags:#}");
    // Human output: the place, the message and the help.
    let out = validate(&path, &[]);
    out.assert_code(3);
    out.assert_stderr_has(&format!("old.arazzo.yaml:{line}:9"));
    out.assert_stderr_has("set `arazzo: 1.1.0`");

    // `run` refuses it before sending anything, with the same fix.
    let out = run(&path, &echo);
    out.assert_code(3);
    out.assert_stderr_has("workflows[0].steps[0].timeout");
    out.assert_stderr_has("set `arazzo: 1.1.0`");
    assert!(echo.api_requests().is_empty());

    // Declared 1.1.0, the same document is fine.
    let path = case.write(
        "new.arazzo.yaml",
        &doc("1.1.0", "", "./api.yaml", "        timeout: 500\n", ""),
    );
    validate(&path, &[]).assert_code(0);
}

// 1.1 §Parameter Object: `in` "Possible values are "path", "query", "querystring", "header",
// or "cookie"" (querystring is new in 1.1); §Selector Object is new in 1.1 too.
#[test]
fn other_1_1_features_in_a_1_0_document() {
    let case = Workspace::new();
    case.write("api.yaml", API);
    let text = doc(
        "1.0.1",
        "$self: https://flows.example.test/flow.arazzo.yaml\n",
        "./api.yaml",
        "",
        "      id: {context: $response.body, selector: /id, type: jsonpointer}\n",
    );
    let path = case.write("old.arazzo.yaml", &text);
    let out = validate(&path, &["-o", "json"]);
    out.assert_code(3);
    let pointers: Vec<String> = out
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "schema/arazzo-1.1")
        .map(|d| d["pointer"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        pointers,
        ["/$self", "/workflows/0/outputs/id"],
        "{}",
        out.context()
    );
}

// 1.1 §Versions (and the schema's `pattern: '^1\.1\.\d+(-.+)?$'`): a version whose feature set
// this tool does not know is refused, naming the ones it reads.
#[test]
fn a_newer_version_is_refused() {
    let echo = Echo::start();
    let case = Workspace::new();
    case.write("api.yaml", API);
    for version in ["1.2.0", "2.0.0"] {
        let path = case.write("next.arazzo.yaml", &doc(version, "", "./api.yaml", "", ""));
        let out = run(&path, &echo);
        out.assert_code(3);
        out.assert_stderr_has(&format!("declares `arazzo: {version}`"));
        out.assert_stderr_has("Arazzo 1.0.0, 1.0.1 and 1.1.0");
        let out = validate(&path, &["-o", "json"]);
        out.assert_code(3);
        let d = &out.json()[0];
        assert_eq!(d["pointer"], "/arazzo", "{}", out.context());
        assert_eq!(d["line"], 1);
        assert!(d["help"].as_str().unwrap().contains("1.1.0"), "{d}");
    }
    assert!(echo.api_requests().is_empty());
}

// `arazzo --version` names the specification versions it reads.
#[test]
fn version_names_the_arazzo_versions() {
    let out = exec(arazzo().arg("--version"));
    out.assert_code(0);
    assert!(
        out.stdout.contains("Arazzo 1.0.0, 1.0.1, 1.1.0"),
        "{}",
        out.stdout
    );
}

// 1.1 §Establishing the Base URI: "If the `$self` field is present and is an absolute URI,
// the base URI is the `$self` URI". Appendix B: "The relative URL `../specs/petstore.yaml`
// resolves against the `$self` base URI …, regardless of the retrieval URI."
// §Runtime Expressions: `$self` is the document's own URI.
#[test]
fn an_absolute_self_is_the_base_of_relative_source_urls() {
    let echo = Echo::start();
    let canonical = echo.url("/canonical/flows/flow.arazzo.yaml");
    let text = doc(
        "1.1.0",
        &format!("$self: {canonical}\n"),
        "../specs/api.yaml",
        "",
        "      self: $self\n",
    );
    echo.serve("/published/flow.arazzo.yaml", "application/yaml", &text);
    echo.serve("/canonical/specs/api.yaml", "application/yaml", API);
    let out = run_url(&echo.url("/published/flow.arazzo.yaml"), &echo);
    out.assert_code(0);
    assert_eq!(out.json()["outputs"]["self"], canonical.as_str());
    let asked = paths(&echo);
    assert!(
        asked.contains(&"/canonical/specs/api.yaml".to_string()),
        "{asked:?}"
    );
    assert!(!asked.contains(&"/specs/api.yaml".to_string()), "{asked:?}");
}

// Appendix B, Resolving Relative `$self`: "First, resolve the `$self` relative reference …
// against the base URI [the retrieval URI] … Then resolve the Source Description `url`
// relative reference … against the resolved `$self` base URI".
#[test]
fn a_relative_self_is_resolved_against_the_retrieval_url_first() {
    let echo = Echo::start();
    let text = doc(
        "1.1.0",
        "$self: workflows/purchase.arazzo.yaml\n",
        "../specs/api.yaml",
        "",
        "      self: $self\n",
    );
    echo.serve("/v2/api-description.yaml", "application/yaml", &text);
    echo.serve("/v2/specs/api.yaml", "application/yaml", API);
    let out = run_url(&echo.url("/v2/api-description.yaml"), &echo);
    out.assert_code(0);
    assert_eq!(
        out.json()["outputs"]["self"],
        echo.url("/v2/workflows/purchase.arazzo.yaml").as_str()
    );
    assert!(
        paths(&echo).contains(&"/v2/specs/api.yaml".to_string()),
        "{:?}",
        paths(&echo)
    );
}

// 1.1 §Runtime Expressions, `$self`; without a `$self` field the base URI is "the retrieval
// URI of the Arazzo Description document" (§Establishing the Base URI), which `$self` gives.
#[test]
fn the_self_expression_without_a_self_field_is_the_retrieval_url() {
    let echo = Echo::start();
    let case = Workspace::new();
    case.write("api.yaml", API);
    let path = case.write(
        "flow.arazzo.yaml",
        &doc(
            "1.1.0",
            "",
            "./api.yaml",
            "",
            "      self: $self\n      in: 'from {$self}'\n",
        ),
    );
    let out = run(&path, &echo);
    out.assert_code(0);
    let outputs = &out.json()["outputs"];
    let url = url_of(&path);
    assert_eq!(outputs["self"], url.as_str(), "{outputs}");
    assert_eq!(outputs["in"], format!("from {url}").as_str());
}

fn url_of(path: &Path) -> String {
    let canonical = std::fs::canonicalize(path).unwrap();
    format!("file://{}", canonical.display())
}

// 1.1 §Arazzo Specification Object, `$self`: "The `$self` URI MUST NOT contain a fragment
// identifier."
#[test]
fn a_self_with_a_fragment_is_refused() {
    let echo = Echo::start();
    let case = Workspace::new();
    case.write("api.yaml", API);
    let path = case.write(
        "flow.arazzo.yaml",
        &doc(
            "1.1.0",
            "$self: https://flows.example.test/flow.arazzo.yaml#/workflows/0\n",
            "./api.yaml",
            "",
            "",
        ),
    );
    let out = run(&path, &echo);
    out.assert_code(3);
    out.assert_stderr_has("fragment");
    let out = validate(&path, &["-o", "json"]);
    out.assert_code(3);
    let d = &out.json()[0];
    assert_eq!(
        (
            d["pointer"].as_str(),
            d["code"].as_str(),
            d["line"].as_u64()
        ),
        (Some("/$self"), Some("schema/pattern"), Some(2)),
        "{}",
        out.context()
    );
}

// A document fetched over the network may not name a local file: neither through a source
// nor through a `$self` that would make local files its relative sources' base.
#[test]
fn a_served_document_cannot_make_a_local_file_its_base() {
    let echo = Echo::start();
    let text = doc(
        "1.1.0",
        "$self: file:///etc/flow.arazzo.yaml\n",
        "passwd",
        "",
        "",
    );
    echo.serve("/flow.arazzo.yaml", "application/yaml", &text);
    let out = run_url(&echo.url("/flow.arazzo.yaml"), &echo);
    out.assert_code(3);
    out.assert_stderr_has("names a local file");
}

// 1.1 §Identity-Based Referencing: "references MUST use the target document's `$self` URI if
// the `$self` field is present in that document" and implementations "MUST examine potential
// target Arazzo Descriptions … to check for matching `$self` values".
#[test]
fn a_source_naming_a_loaded_documents_self_is_that_document() {
    let echo = Echo::start();
    // The entry document is read from /main.arazzo.yaml but is /id/main.arazzo.yaml.
    let main = format!(
        "arazzo: 1.1.0\n$self: {}\ninfo: {{title: main, version: '1'}}\nsourceDescriptions:\n  - {{name: api, url: ../specs/api.yaml, type: openapi}}\n  - {{name: child, url: child.arazzo.yaml, type: arazzo}}\nworkflows:\n  - workflowId: w\n    steps:\n      - stepId: call\n        workflowId: $sourceDescriptions.child.c\n        outputs:\n          status: $outputs.status\n    outputs:\n      got: $steps.call.outputs.status\n  - workflowId: get\n    steps:\n      - stepId: get\n        operationId: getItem\n        parameters:\n          - {{name: id, in: path, value: '1'}}\n        outputs:\n          status: $statusCode\n    outputs:\n      status: $steps.get.outputs.status\n",
        echo.url("/id/main.arazzo.yaml")
    );
    // The child names the entry document by its identity, and calls back into it.
    let child = "arazzo: 1.1.0\ninfo: {title: child, version: '1'}\nsourceDescriptions:\n  - {name: parent, url: main.arazzo.yaml, type: arazzo}\nworkflows:\n  - workflowId: c\n    steps:\n      - stepId: back\n        workflowId: $sourceDescriptions.parent.get\n        outputs:\n          status: $outputs.status\n    outputs:\n      status: $steps.back.outputs.status\n";
    echo.serve("/main.arazzo.yaml", "application/yaml", &main);
    echo.serve("/id/child.arazzo.yaml", "application/yaml", child);
    echo.serve("/specs/api.yaml", "application/yaml", API);
    let out = run_url(&echo.url("/main.arazzo.yaml"), &echo);
    out.assert_code(0);
    assert_eq!(out.json()["outputs"]["got"], 200, "{}", out.context());
    let asked = paths(&echo);
    assert!(
        !asked.contains(&"/id/main.arazzo.yaml".to_string()),
        "the entry document was fetched again by its $self: {asked:?}"
    );
}

// 1.1 §Identity-Based Referencing: "When a Source Description Object's `url` field is an
// absolute URI, the implementation MUST resolve it to an Arazzo Description by identity
// (matching the `$self` value) rather than by location alone." The document a relative URL
// loads is known by its `$self` before the absolute URL is looked at.
#[test]
fn an_absolute_source_url_is_matched_against_the_self_of_a_sibling() {
    let echo = Echo::start();
    let identity = echo.url("/id/b.arazzo.yaml");
    let main = format!(
        "arazzo: 1.1.0\ninfo: {{title: main, version: '1'}}\nsourceDescriptions:\n  - {{name: a, url: '{identity}', type: arazzo}}\n  - {{name: b, url: mirror/b.arazzo.yaml, type: arazzo}}\nworkflows:\n  - workflowId: w\n    steps:\n      - stepId: call\n        workflowId: $sourceDescriptions.a.bw\n        outputs:\n          status: $outputs.status\n    outputs:\n      got: $steps.call.outputs.status\n"
    );
    let b = format!(
        "arazzo: 1.1.0\n$self: {identity}\ninfo: {{title: b, version: '1'}}\nsourceDescriptions:\n  - {{name: api, url: ../specs/api.yaml, type: openapi}}\nworkflows:\n  - workflowId: bw\n    steps:\n      - stepId: get\n        operationId: getItem\n        parameters:\n          - {{name: id, in: path, value: '1'}}\n        outputs:\n          status: $statusCode\n    outputs:\n      status: $steps.get.outputs.status\n"
    );
    echo.serve("/main.arazzo.yaml", "application/yaml", &main);
    echo.serve("/mirror/b.arazzo.yaml", "application/yaml", &b);
    echo.serve("/specs/api.yaml", "application/yaml", API);
    let out = run_url(&echo.url("/main.arazzo.yaml"), &echo);
    out.assert_code(0);
    assert_eq!(out.json()["outputs"]["got"], 200, "{}", out.context());
    let asked = paths(&echo);
    assert!(
        !asked.contains(&"/id/b.arazzo.yaml".to_string()),
        "fetched by location instead of matched by identity: {asked:?}"
    );
}

/// A 1.1 document with the OpenAPI source `api` and the AsyncAPI source `events`, and
/// `steps` (lines at the steps' indentation).
fn async_doc(steps: &str) -> String {
    format!(
        "arazzo: 1.1.0\ninfo: {{title: async, version: '1'}}\nsourceDescriptions:\n  - {{name: api, url: ./api.yaml, type: openapi}}\n  - {{name: events, url: ./events.yaml, type: asyncapi}}\nworkflows:\n  - workflowId: w\n    steps:\n      - stepId: get\n        operationId: $sourceDescriptions.api.getItem\n        parameters:\n          - {{name: id, in: path, value: '1'}}\n{steps}"
    )
}

// 1.1 §Source Description Object, `type`: "Possible values are "openapi" or "asyncapi" or
// "arazzo"". A document with an AsyncAPI source whose workflows call only HTTP operations is
// read, checked, listed and run.
#[test]
fn an_asyncapi_source_is_read_and_http_steps_still_run() {
    let echo = Echo::start();
    let case = Workspace::new();
    case.write("api.yaml", API);
    case.write("events.yaml", EVENTS);
    let path = case.write("flow.arazzo.yaml", &async_doc(""));
    let out = validate(&path, &[]);
    out.assert_code(0);
    out.assert_stderr_has("0 errors");
    let out = exec(arazzo().args(["list", "-o", "json"]).arg(&path));
    out.assert_code(0);
    let listed: Value = out.json();
    assert!(listed.to_string().contains("\"w\""), "{listed}");
    let out = run(&path, &echo);
    out.assert_code(0);
    assert_eq!(echo.api_requests().len(), 1);
    let out = exec(
        arazzo()
            .args(["run", "w", "--dry-run", "-f"])
            .arg(&path)
            .args(["--server", &format!("api={}", echo.base_url())]),
    );
    out.assert_code(0);
}

// 1.1 §Step Object, `action`: "Indicates whether the step will send (publish) or receive
// (subscribe) to a channel in an AsyncAPI document." A step on the AsyncAPI source, named by
// operationId (bare or with the source) or channelPath, compiles as a message step; the dry run
// shows the message it would send, and without a server for the source it says to pass one.
#[test]
fn a_step_on_the_asyncapi_source_is_a_message_step() {
    let echo = Echo::start();
    let case = Workspace::new();
    case.write("api.yaml", API);
    case.write("events.yaml", EVENTS);
    for step in [
        "      - stepId: send\n        operationId: $sourceDescriptions.events.orderCreated\n        action: send\n",
        "      - stepId: send\n        operationId: orderCreated\n        action: send\n",
        "      - stepId: send\n        channelPath: '{$sourceDescriptions.events.url}#/channels/orders'\n        action: send\n",
    ] {
        let path = case.write("flow.arazzo.yaml", &async_doc(step));
        let out = validate(&path, &[]);
        out.assert_code(0);
        let out = exec(
            arazzo()
                .args(["run", "w", "--dry-run", "-o", "json", "-f"])
                .arg(&path)
                .args(["--server", &format!("api={}", echo.base_url())]),
        );
        out.assert_code(2);
        let plan = out.json();
        assert_eq!(plan["steps"][1]["method"], "SEND", "{plan}");
        assert!(plan.to_string().contains("declares no servers"), "{plan}");
        assert!(plan.to_string().contains("--server events="), "{plan}");
        let out = exec(
            arazzo()
                .args(["run", "w", "--dry-run", "-o", "json", "-f"])
                .arg(&path)
                .args(["--server", &format!("api={}", echo.base_url())])
                .args(["--server", "events=nats://127.0.0.1:4999"]),
        );
        out.assert_code(0);
        assert_eq!(out.json()["steps"][1]["url"], "nats://127.0.0.1:4999/orders");
    }
    // Without `action`, a message step is refused at its place, before anything is sent.
    let path = case.write(
        "flow.arazzo.yaml",
        &async_doc("      - stepId: send\n        operationId: orderCreated\n"),
    );
    let out = run(&path, &echo);
    out.assert_code(3);
    out.assert_stderr_has("without an `action`");
    assert!(echo.api_requests().is_empty());
}
