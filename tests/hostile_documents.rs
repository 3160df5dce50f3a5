//! Hostile documents through the binary: whatever nests too deep, fans out or
//! is too large ends in a clear message and the documented exit code, never a
//! crash or a hang.

mod support;

use std::path::Path;

use serde_json::Value;
use support::cli::{arazzo, exec, Out};
use support::scripted::{Reply, Scripted};

const API: &str = r##"{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
 "servers": [{"url": "http://127.0.0.1:9"}],
 "paths": {"/x": {"post": {"operationId": "postX",
   "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}}},
   "responses": {"200": {"description": "ok"}}}}},
 "components": {"schemas": {"Body": {"type": "object"}}}}"##;

/// A one-step workflow calling `postX` of `api.json`, with `step` appended to
/// the step (indented as its fields).
fn doc(step: &str) -> String {
    format!(
        "arazzo: 1.0.1
info: {{title: t, version: '1'}}
sourceDescriptions:
- {{name: api, url: ./api.json, type: openapi}}
workflows:
- workflowId: w
  steps:
  - stepId: a
    operationId: postX
{step}"
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn setup(api: &str, flow: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "api.json", api);
    write(dir.path(), "flow.arazzo.yaml", flow);
    dir
}

fn validate(dir: &Path) -> (Out, Vec<Value>) {
    let out =
        exec(
            arazzo()
                .current_dir(dir)
                .args(["validate", "flow.arazzo.yaml", "--format", "json"]),
        );
    let diags = match out.json() {
        Value::Array(d) => d,
        other => panic!("not an array: {other}"),
    };
    (out, diags)
}

fn run(dir: &Path) -> Out {
    exec(
        arazzo()
            .current_dir(dir)
            .args(["run", "w", "-f", "flow.arazzo.yaml"]),
    )
}

fn codes(diags: &[Value]) -> Vec<&str> {
    diags.iter().filter_map(|d| d["code"].as_str()).collect()
}

/// Single-quoted YAML text.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[test]
fn a_condition_with_5000_nested_parentheses_is_refused_at_its_field() {
    let n = 5000;
    let cond = format!("{}$statusCode == 200{}", "(".repeat(n), ")".repeat(n));
    let dir = setup(
        API,
        &doc(&format!(
            "    successCriteria:\n    - condition: {}\n",
            quoted(&cond)
        )),
    );
    let (out, diags) = validate(dir.path());
    assert_eq!(out.code, 3, "{}", out.context());
    let d = diags
        .iter()
        .find(|d| d["code"] == "expr/too-deep")
        .unwrap_or_else(|| panic!("no expr/too-deep: {}", out.context()));
    assert_eq!(
        d["pointer"],
        "/workflows/0/steps/0/successCriteria/0/condition"
    );
    assert!(d["message"].as_str().unwrap().contains("64 levels"), "{d}");
    assert!(d["help"].as_str().unwrap().contains("split"), "{d}");
    // The message quotes only the start of the condition.
    assert!(d["message"].as_str().unwrap().len() < 600, "{d}");

    let out = run(dir.path());
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(out.stderr.contains("expr/too-deep"), "{}", out.context());
    assert!(out.stderr.contains("step `a`"), "{}", out.context());
    assert!(out.stderr.contains("64 levels"), "{}", out.context());
}

#[test]
fn deep_negations_are_refused_and_64_levels_still_work() {
    let deep = format!("{}$statusCode == 200{}", "!(".repeat(65), ")".repeat(65));
    let dir = setup(
        API,
        &doc(&format!(
            "    successCriteria:\n    - condition: {}\n",
            quoted(&deep)
        )),
    );
    let (out, diags) = validate(dir.path());
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(
        codes(&diags).contains(&"expr/too-deep"),
        "{}",
        out.context()
    );

    let ok = format!("{}$statusCode == 200{}", "(".repeat(64), ")".repeat(64));
    let dir = setup(
        API,
        &doc(&format!(
            "    successCriteria:\n    - condition: {}\n",
            quoted(&ok)
        )),
    );
    let (out, diags) = validate(dir.path());
    assert!(
        !codes(&diags).contains(&"expr/too-deep"),
        "{}",
        out.context()
    );
}

#[test]
fn typed_criteria_that_nest_too_deep_are_refused() {
    let n = 5000;
    let cases = [
        (
            "regex",
            "$statusCode",
            format!("{}a{}", "(".repeat(n), ")".repeat(n)),
        ),
        (
            "jsonpath",
            "$response.body",
            format!("$[?{}@.a{}]", "(".repeat(n), ")".repeat(n)),
        ),
        // Nested filters: the JSONPath parser's time doubles with each level.
        (
            "jsonpath",
            "$response.body",
            format!("$[?{}1{}]", "@[?".repeat(30), "]".repeat(30)),
        ),
        (
            "xpath",
            "$response.body",
            format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        ),
        (
            "xpath",
            "$response.body",
            format!("{}1{}", "a[".repeat(300), "]".repeat(300)),
        ),
        ("xpath", "$response.body", vec!["1"; 2000].join(" or ")),
    ];
    for (kind, context, condition) in cases {
        let dir = setup(
            API,
            &doc(&format!(
                "    successCriteria:\n    - {{context: {context}, type: {kind}, condition: {}}}\n",
                quoted(&condition)
            )),
        );
        let (out, diags) = validate(dir.path());
        assert_eq!(out.code, 3, "{kind}: {}", out.context());
        assert!(
            codes(&diags).contains(&"expr/too-deep"),
            "{kind}: {}",
            out.context()
        );
        let out = run(dir.path());
        assert_eq!(out.code, 3, "{kind}: {}", out.context());
        assert!(out.stderr.contains("expr/too-deep"), "{}", out.context());
    }
}

#[test]
fn deeply_nested_payloads_in_json_and_yaml_are_refused() {
    let n = 5000;
    let yaml = doc(&format!(
        "    requestBody:\n      payload: {}1{}\n",
        "[".repeat(n),
        "]".repeat(n)
    ));
    let json = format!(
        r#"{{"arazzo": "1.0.1", "info": {{"title": "t", "version": "1"}},
 "sourceDescriptions": [{{"name": "api", "url": "./api.json", "type": "openapi"}}],
 "workflows": [{{"workflowId": "w", "steps": [{{"stepId": "a", "operationId": "postX",
   "requestBody": {{"payload": {}"$inputs.x"{}}}}}]}}]}}"#,
        "[".repeat(n),
        "]".repeat(n)
    );
    for flow in [yaml, json] {
        let dir = setup(API, &flow);
        let (out, diags) = validate(dir.path());
        assert_eq!(out.code, 3, "{}", out.context());
        assert_eq!(codes(&diags), ["document/too-deep"], "{}", out.context());
        assert!(diags[0]["message"]
            .as_str()
            .unwrap()
            .contains("more than 128 levels"));
        let out = run(dir.path());
        assert_eq!(out.code, 3, "{}", out.context());
        assert!(
            out.stderr.contains("more than 128 levels deep"),
            "{}",
            out.context()
        );
    }
}

#[test]
fn a_deeply_nested_inputs_file_is_a_usage_error() {
    let dir = setup(API, &doc(""));
    write(
        dir.path(),
        "inputs.json",
        &format!("{{\"x\": {}1{}}}", "[".repeat(3000), "]".repeat(3000)),
    );
    let out = exec(arazzo().current_dir(dir.path()).args([
        "run",
        "w",
        "-f",
        "flow.arazzo.yaml",
        "--inputs",
        "inputs.json",
    ]));
    assert_eq!(out.code, 2, "{}", out.context());
    assert!(
        out.stderr.contains("more than 128 levels deep"),
        "{}",
        out.context()
    );
}

#[test]
fn deeply_nested_openapi_schemas_are_refused_when_read() {
    let n = 3000;
    let api = API.replace(
        r#""Body": {"type": "object"}"#,
        &format!(
            r#""Body": {}{{"type": "string"}}{}"#,
            r#"{"type": "object", "properties": {"a": "#.repeat(n),
            "}}".repeat(n)
        ),
    );
    // The lazy reader parses a component when a step needs it.
    let dir = setup(&api, &doc("    requestBody:\n      payload: {a: 1}\n"));
    let (out, diags) = validate(dir.path());
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(
        diags[0]["message"].as_str().unwrap().contains("128 levels"),
        "{}",
        out.context()
    );
    let out = run(dir.path());
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(out.stderr.contains("128 levels"), "{}", out.context());
}

#[test]
fn ref_chains_and_cycles_end_in_a_message() {
    let mut schemas: Vec<String> = (0..1000)
        .map(|i| format!(r##""S{i}": {{"$ref": "#/components/schemas/S{}"}}"##, i + 1))
        .collect();
    schemas.push(r#""S1000": {"type": "object"}"#.into());
    let chain = API.replace(
        r#""Body": {"type": "object"}"#,
        &format!(
            r##""Body": {{"$ref": "#/components/schemas/S0"}}, {}"##,
            schemas.join(", ")
        ),
    );
    let cycle = API.replace(
        r#""Body": {"type": "object"}"#,
        r##""Body": {"$ref": "#/components/schemas/Loop"}, "Loop": {"$ref": "#/components/schemas/Body"}"##,
    );
    for api in [chain, cycle] {
        let dir = setup(&api, &doc("    requestBody:\n      payload: {a: 1}\n"));
        let (out, _) = validate(dir.path());
        assert_eq!(out.code, 3, "{}", out.context());
        assert!(
            out.stdout.contains("longer than 32 links"),
            "{}",
            out.context()
        );
        let out = run(dir.path());
        assert_eq!(out.code, 3, "{}", out.context());
        assert!(
            out.stderr.contains("longer than 32 links"),
            "{}",
            out.context()
        );
    }
}

#[test]
fn recursive_schemas_are_checked_and_fan_outs_are_refused() {
    // A tree node with two children of its own type: checked, not expanded
    // 2^24 times.
    let tree = API.replace(
        r#""Body": {"type": "object"}"#,
        r##""Body": {"type": "object", "properties": {
            "left": {"$ref": "#/components/schemas/Body"},
            "right": {"$ref": "#/components/schemas/Body"},
            "n": {"type": "integer"}}}"##,
    );
    let dir = setup(
        &tree,
        &doc("    requestBody:\n      payload: {left: {right: {n: x}}}\n"),
    );
    let (out, diags) = validate(dir.path());
    assert_eq!(out.code, 3, "{}", out.context());
    let d = diags
        .iter()
        .find(|d| d["code"] == "payload/schema")
        .unwrap_or_else(|| panic!("{}", out.context()));
    assert!(
        d["message"].as_str().unwrap().contains("/left/right/n"),
        "{d}"
    );

    // Each schema naming the next one twice, 40 levels: 2^40 once expanded.
    let mut schemas: Vec<String> = (0..40)
        .map(|i| {
            format!(
                r##""S{i}": {{"allOf": [{{"$ref": "#/components/schemas/S{n}"}}, {{"$ref": "#/components/schemas/S{n}"}}]}}"##,
                n = i + 1
            )
        })
        .collect();
    schemas.push(r#""S40": {"type": "object"}"#.into());
    let fan = API.replace(
        r#""Body": {"type": "object"}"#,
        &format!(
            r##""Body": {{"$ref": "#/components/schemas/S0"}}, {}"##,
            schemas.join(", ")
        ),
    );
    let dir = setup(&fan, &doc("    requestBody:\n      payload: {a: 1}\n"));
    let (out, _) = validate(dir.path());
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(
        out.stdout
            .contains("applies more than 100000 schemas to one value"),
        "{}",
        out.context()
    );
    let out = run(dir.path());
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(
        out.stderr
            .contains("applies more than 100000 schemas to one value"),
        "{}",
        out.context()
    );
}

#[test]
fn a_deeply_nested_xml_response_fails_the_xpath_criterion_with_a_reason() {
    let depth = 100_000;
    let server = Scripted::start(vec![Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/xml".into())],
        body: format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth)),
    }]);
    let dir = setup(
        API,
        &doc(
            "    successCriteria:\n    - {context: $response.body, type: xpath, condition: 'count(//a) > 0'}\n",
        ),
    );
    let out = exec(arazzo().current_dir(dir.path()).args([
        "run",
        "w",
        "-f",
        "flow.arazzo.yaml",
        "--no-preflight",
        "--server",
        &format!("api={}", server.base_url()),
    ]));
    assert_eq!(out.code, 1, "{}", out.context());
    assert!(
        out.stderr.contains("more than 256 levels deep"),
        "{}",
        out.context()
    );
}

/// A document of `size` bytes that parses: YAML with a long comment.
fn padded_doc(size: usize) -> String {
    let body = doc("");
    format!("{body}# {}\n", "x".repeat(size - body.len() - 3))
}

#[test]
fn a_document_over_the_size_limit_is_refused_before_it_is_parsed() {
    let dir = setup(API, &padded_doc(300_000));
    let limit = ["--max-document-size", "256KiB"];
    for cmd in [
        vec!["run", "w", "-f", "flow.arazzo.yaml"],
        vec!["list", "flow.arazzo.yaml"],
        vec!["show", "w", "-f", "flow.arazzo.yaml"],
        vec!["mcp", "flow.arazzo.yaml"],
    ] {
        let out = exec(arazzo().current_dir(dir.path()).args(&cmd).args(limit));
        assert_eq!(out.code, 3, "{cmd:?}: {}", out.context());
        assert!(
            out.stderr.contains("`flow.arazzo.yaml` is 300000 bytes")
                || out.stderr.contains("flow.arazzo.yaml` is 300000 bytes"),
            "{cmd:?}: {}",
            out.context()
        );
        assert!(out.stderr.contains("256.0 KiB") || out.stderr.contains("262144 bytes"));
        assert!(
            out.stderr.contains("--max-document-size"),
            "{}",
            out.context()
        );
    }
    let out = exec(
        arazzo()
            .current_dir(dir.path())
            .args(["validate", "flow.arazzo.yaml", "--format", "json"])
            .args(limit),
    );
    assert_eq!(out.code, 3, "{}", out.context());
    let d = &out.json()[0];
    assert_eq!(d["code"], "document/too-large", "{d}");
    assert!(d["help"].as_str().unwrap().contains("--max-document-size"));

    // Under a higher limit the same document is fine.
    let out = exec(arazzo().current_dir(dir.path()).args([
        "validate",
        "flow.arazzo.yaml",
        "--max-document-size",
        "1MiB",
    ]));
    assert_eq!(out.code, 0, "{}", out.context());
}

#[test]
fn sources_and_inputs_files_over_the_limit_are_refused() {
    let big_api = API.replace(
        r#""info": {"#,
        &format!(r#""x-pad": "{}", "info": {{"#, "x".repeat(100_000)),
    );
    let dir = setup(&big_api, &doc(""));
    let limit = ["--max-document-size", "64KiB"];
    let out = exec(
        arazzo()
            .current_dir(dir.path())
            .args(["validate", "flow.arazzo.yaml", "--format", "json"])
            .args(limit),
    );
    assert_eq!(out.code, 3, "{}", out.context());
    let d = &out.json()[0];
    assert_eq!(d["code"], "source/too-large", "{d}");
    assert_eq!(d["pointer"], "/sourceDescriptions/0/url", "{d}");
    assert!(d["message"].as_str().unwrap().contains("api.json"), "{d}");
    let out = run_with(dir.path(), &limit);
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(
        out.stderr.contains("source description `api`"),
        "{}",
        out.context()
    );

    let dir = setup(API, &doc(""));
    write(
        dir.path(),
        "inputs.yaml",
        &format!("x: {}\n", "y".repeat(100_000)),
    );
    let out = run_with(
        dir.path(),
        &["--inputs", "inputs.yaml", "--max-document-size", "64KiB"],
    );
    assert_eq!(out.code, 2, "{}", out.context());
    assert!(
        out.stderr
            .contains("the inputs file `inputs.yaml` is 100004 bytes"),
        "{}",
        out.context()
    );
}

fn run_with(dir: &Path, extra: &[&str]) -> Out {
    exec(
        arazzo()
            .current_dir(dir)
            .args(["run", "w", "-f", "flow.arazzo.yaml"])
            .args(extra),
    )
}

#[test]
fn an_external_ref_file_over_the_limit_is_named_when_needed() {
    let api = API.replace(
        r##""schema": {"$ref": "#/components/schemas/Body"}"##,
        r##""schema": {"$ref": "./big.json#/Body"}"##,
    );
    let dir = setup(&api, &doc("    requestBody:\n      payload: {a: 1}\n"));
    write(
        dir.path(),
        "big.json",
        &format!(
            r#"{{"Body": {{"type": "object"}}, "pad": "{}"}}"#,
            "x".repeat(100_000)
        ),
    );
    let out = run_with(dir.path(), &["--max-document-size", "64KiB"]);
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(out.stderr.contains("big.json"), "{}", out.context());
    assert!(
        out.stderr.contains("over the document size limit"),
        "{}",
        out.context()
    );
}

/// Serves one GET with `head` and then `body`, written in pieces; with
/// `endless`, pieces keep coming until the client goes away.
fn raw_server(head: &'static str, endless: bool) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/flow.arazzo.yaml", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf);
        if conn.write_all(head.as_bytes()).is_err() {
            return;
        }
        let piece = format!("{:x}\r\n# {}\n\r\n", 8192 + 3, "x".repeat(8192));
        // At most 64 MiB, so the test ends even if the client kept reading.
        for _ in 0..(if endless { 8192 } else { 1 }) {
            if conn.write_all(piece.as_bytes()).is_err() {
                return;
            }
        }
        let _ = conn.write_all(b"0\r\n\r\n");
    });
    (url, handle)
}

#[test]
fn documents_fetched_over_http_are_capped_by_length_and_by_what_streams() {
    // A Content-Length over the limit is refused without reading the body.
    let (url, server) = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/yaml\r\ncontent-length: 999999999\r\n\r\n",
        false,
    );
    let out = exec(arazzo().args(["run", "w", "-f", &url, "--max-document-size", "1MiB"]));
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(
        out.stderr
            .contains("is 953.7 MiB (999999999 bytes), over the document size limit"),
        "{}",
        out.context()
    );
    server.join().unwrap();

    // A body without a length that never ends is cut at the limit.
    let (url, server) = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-type: application/yaml\r\ntransfer-encoding: chunked\r\n\r\n",
        true,
    );
    let out = exec(arazzo().args(["run", "w", "-f", &url, "--max-document-size", "1MiB"]));
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(
        out.stderr
            .contains("is larger than the document size limit of 1.0 MiB"),
        "{}",
        out.context()
    );
    server.join().unwrap();
}

#[test]
fn an_endless_local_file_is_read_no_further_than_the_limit() {
    let out = exec(arazzo().args(["run", "w", "-f", "/dev/zero", "--max-document-size", "1MiB"]));
    assert_eq!(out.code, 3, "{}", out.context());
    assert!(
        out.stderr
            .contains("`/dev/zero` is larger than the document size limit"),
        "{}",
        out.context()
    );
}
