//! Black-box tests of the generic engine: the `arazzo` binary runs documents
//! written by each test against `support::echo`, a recording server on
//! 127.0.0.1, and the tests check the exit code, the report and exactly what
//! the server received.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::cli::{arazzo, exec, Out};
use support::echo::{Echo, Reply};

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// A temporary folder holding a test's documents.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `text` at `rel` (creating folders) and returns its path.
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes the shared API description as `api.yaml` and `doc` (a YAML
    /// Arazzo document whose `api` source is `./api.yaml`) as `wf.arazzo.yaml`.
    fn with_api(workflows: &str) -> (Case, PathBuf) {
        let case = Case::new();
        case.write("api.yaml", API);
        let doc = case.write("wf.arazzo.yaml", &arazzo_doc(workflows));
        (case, doc)
    }
}

/// `arazzo run <wf> -f <doc> --server api=<echo> -o json <extra>`.
fn run_api(doc: &Path, wf: &str, echo: &Echo, extra: &[&str]) -> Out {
    exec(
        arazzo()
            .args(["run", wf, "-f"])
            .arg(doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(if extra.contains(&"-o") {
                &[][..]
            } else {
                &["-o", "json"][..]
            })
            .args(extra),
    )
}

/// An Arazzo document with one OpenAPI source `api` (`./api.yaml`) and the
/// given `workflows:` list (written at column 0).
fn arazzo_doc(workflows: &str) -> String {
    format!(
        "arazzo: 1.0.1\ninfo:\n  title: engine test\n  version: 1.0.0\nsourceDescriptions:\n- name: api\n  url: ./api.yaml\n  type: openapi\nworkflows:\n{workflows}"
    )
}

/// The OpenAPI 3.0 description most tests call. Its server is a closed local
/// port: every test passes `--server api=...`.
const API: &str = r#"openapi: 3.0.3
info:
  title: Echo API
  version: "1"
servers:
  - url: http://127.0.0.1:1
paths:
  /items/{id}:
    get:
      operationId: getItem
      parameters:
        - name: id
          in: path
          required: true
          schema: {type: string}
        - name: q
          in: query
          schema: {type: string}
        - name: tags
          in: query
          schema:
            type: array
            items: {type: string}
        - name: ids
          in: query
          explode: false
          schema:
            type: array
            items: {type: integer}
        - name: X-Trace
          in: header
          schema: {type: string}
        - name: a
          in: cookie
          schema: {type: string}
        - name: b
          in: cookie
          schema: {type: string}
      responses:
        "200": {description: ok}
  /things:
    post:
      operationId: createThing
      requestBody:
        content:
          application/json:
            schema: {type: object}
      responses:
        "201": {description: created}
  /things/{id}:
    get:
      operationId: getThing
      parameters:
        - name: id
          in: path
          required: true
          schema: {type: string}
      responses:
        "200": {description: ok}
  /form:
    post:
      operationId: submitForm
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema: {type: object}
      responses:
        "200": {description: ok}
  /status:
    get:
      operationId: getStatus
      responses:
        "200": {description: ok}
"#;

fn step_urls(report: &Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["url"].as_str().unwrap_or_default().to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// 1. Parameters
// ---------------------------------------------------------------------------

#[test]
fn path_parameter_is_percent_encoded() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      id: {type: string}
  steps:
  - stepId: get
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: $inputs.id
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", "id=a b/c é 100%"]);
    out.assert_code(0);
    let reqs = echo.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/items/a%20b%2Fc%20%C3%A9%20100%25");
    assert_eq!(reqs[0].query, None);
    assert_eq!(
        step_urls(&out.json()),
        [echo.url("/items/a%20b%2Fc%20%C3%A9%20100%25")]
    );
}

#[test]
fn query_parameters_follow_form_style_and_are_encoded() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      q: {type: string}
      tags:
        type: array
        items: {type: string}
      ids:
        type: array
        items: {type: integer}
  steps:
  - stepId: get
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: x
    - name: q
      in: query
      value: $inputs.q
    - name: tags
      in: query
      value: $inputs.tags
    - name: ids
      in: query
      value: $inputs.ids
"#,
    );
    let echo = Echo::start();
    let out = run_api(
        &doc,
        "w",
        &echo,
        &[
            "-i",
            "q=a&b=c d/é+",
            "-i",
            r#"tags=["red","light blue"]"#,
            "-i",
            "ids=[3,4,5]",
        ],
    );
    out.assert_code(0);
    let reqs = echo.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/items/x");
    // decoded, the query is exactly these pairs in this order: form + explode
    // repeats the key, explode: false joins with commas
    assert_eq!(
        r.query_pairs(),
        [
            ("q".to_string(), "a&b=c d/é+".to_string()),
            ("tags".to_string(), "red".to_string()),
            ("tags".to_string(), "light blue".to_string()),
            ("ids".to_string(), "3,4,5".to_string()),
        ],
        "{}",
        r.line()
    );
    let raw = r.query.as_deref().unwrap();
    assert!(raw.starts_with("q=a%26b%3Dc%20d%2F%C3%A9%2B&"), "{raw}");
}

#[test]
fn optional_parameters_whose_input_is_not_given_are_not_sent() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      q: {type: string}
      trace: {type: string}
      tags:
        type: array
        items: {type: string}
  steps:
  - stepId: get
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: x
    - name: q
      in: query
      value: $inputs.q
    - name: tags
      in: query
      value: $inputs.tags
    - name: X-Trace
      in: header
      value: $inputs.trace
    - name: a
      in: cookie
      value: $inputs.trace
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let reqs = echo.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].line(), "GET /items/x");
    assert_eq!(reqs[0].header("x-trace"), None);
    assert_eq!(reqs[0].header("cookie"), None);

    // given, the same optional parameters are sent
    let out = run_api(&doc, "w", &echo, &["-i", "q=z", "-i", "trace=t1"]);
    out.assert_code(0);
    let r = &echo.requests()[1];
    assert_eq!(r.line(), "GET /items/x?q=z");
    assert_eq!(r.header("x-trace"), Some("t1"));
    assert_eq!(r.header("cookie"), Some("a=t1"));
}

#[test]
fn header_and_cookie_parameters() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      trace: {type: string}
  steps:
  - stepId: get
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: x
    - name: X-Trace
      in: header
      value: $inputs.trace
    - name: X-Not-In-Openapi
      in: header
      value: literal value
    - name: a
      in: cookie
      value: 1
    - name: b
      in: cookie
      value: "2"
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", "trace=abc 123"]);
    out.assert_code(0);
    let r = &echo.requests()[0];
    assert_eq!(r.header("x-trace"), Some("abc 123"));
    assert_eq!(r.header("x-not-in-openapi"), Some("literal value"));
    assert_eq!(r.header_values("cookie"), ["a=1; b=2"], "one Cookie header");
}

#[test]
fn query_parameter_styles_delimited_and_deep_object() {
    let case = Case::new();
    case.write(
        "api.yaml",
        r#"openapi: 3.0.3
info: {title: styles, version: "1"}
paths:
  /find:
    get:
      operationId: find
      parameters:
      - {name: filter, in: query, style: deepObject, explode: true, schema: {type: object}}
      - {name: sp, in: query, style: spaceDelimited, explode: false, schema: {type: array}}
      - {name: pp, in: query, style: pipeDelimited, explode: false, schema: {type: array}}
      - {name: obj, in: query, schema: {type: object}}
      - {name: objc, in: query, explode: false, schema: {type: object}}
      responses: {"200": {description: ok}}
"#,
    );
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(
            r#"- workflowId: w
  steps:
  - stepId: s
    operationId: find
    parameters:
    - name: filter
      in: query
      value: {color: red, size: x l}
    - {name: sp, in: query, value: [a, b]}
    - {name: pp, in: query, value: [c, d]}
    - name: obj
      in: query
      value: {k1: v1, k2: 2}
    - name: objc
      in: query
      value: {k3: v3, k4: true}
"#,
        ),
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let pairs: Vec<(String, String)> = echo.requests()[0].query_pairs();
    let expect = [
        ("filter[color]", "red"),
        ("filter[size]", "x l"),
        ("sp", "a b"),
        ("pp", "c|d"),
        ("k1", "v1"),
        ("k2", "2"),
        ("objc", "k3,v3,k4,true"),
    ];
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(pairs, expect, "{}", echo.requests()[0].line());
}

#[test]
fn string_inputs_are_taken_as_written() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      s: {type: string}
      u: {type: string}
      t: {}
  steps:
  - stepId: create
    operationId: createThing
    requestBody:
      payload:
        s: $inputs.s
        u: $inputs.u
        t: $inputs.t
"#,
    );
    let echo = Echo::start();
    let out = run_api(
        &doc,
        "w",
        &echo,
        &["-i", "s=007", "-i", r#"u={"a":1}"#, "-i", "t=true"],
    );
    out.assert_code(0);
    assert_eq!(
        echo.requests()[0].json(),
        json!({"s": "007", "u": r#"{"a":1}"#, "t": "true"})
    );
}

#[test]
fn server_url_with_a_base_path_keeps_it() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: get
    operationId: getThing
    parameters:
    - name: id
      in: path
      value: t1
"#,
    );
    let echo = Echo::start();
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}/v2/", echo.base_url())]),
    );
    out.assert_code(0);
    assert_eq!(echo.requests()[0].path, "/v2/things/t1");
}

// ---------------------------------------------------------------------------
// 2. Request bodies
// ---------------------------------------------------------------------------

#[test]
fn payload_expressions_at_depth_keep_their_types() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      s: {type: string}
      n: {type: number}
      i: {type: integer}
      flag: {type: boolean}
      obj: {type: object}
      arr: {type: array}
  steps:
  - stepId: create
    operationId: createThing
    requestBody:
      contentType: application/json
      payload:
        outer:
          list:
          - deep: $inputs.s
            n: $inputs.n
            inner:
              i: $inputs.i
          - literal
          flag: $inputs.flag
        obj: $inputs.obj
        arr: $inputs.arr
        text: "name={$inputs.s} n={$inputs.n}"
        lit: 5
        litNull: null
"#,
    );
    let echo = Echo::start();
    let out = run_api(
        &doc,
        "w",
        &echo,
        &[
            "-i",
            "s=Ada",
            "-i",
            "n=2.5",
            "-i",
            "i=7",
            "-i",
            "flag=false",
            "-i",
            r#"obj={"k":{"z":[1,null]}}"#,
            "-i",
            r#"arr=[1,"two",{"three":3}]"#,
        ],
    );
    out.assert_code(0);
    let r = &echo.requests()[0];
    assert_eq!(r.line(), "POST /things");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({
            "outer": {
                "list": [{"deep": "Ada", "n": 2.5, "inner": {"i": 7}}, "literal"],
                "flag": false
            },
            "obj": {"k": {"z": [1, null]}},
            "arr": [1, "two", {"three": 3}],
            "text": "name=Ada n=2.5",
            "lit": 5,
            "litNull": null
        })
    );
}

#[test]
fn whole_payload_expression_is_the_body() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      body: {type: object}
  steps:
  - stepId: create
    operationId: createThing
    requestBody:
      payload: $inputs.body
"#,
    );
    let echo = Echo::start();
    let body = r#"{"a":[1,{"b":null}],"c":true,"d":"x"}"#;
    let out = run_api(&doc, "w", &echo, &["-i", &format!("body={body}")]);
    out.assert_code(0);
    let r = &echo.requests()[0];
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), serde_json::from_str::<Value>(body).unwrap());
}

#[test]
fn string_template_payload_is_sent_verbatim_after_interpolation() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      id: {type: string}
      n: {type: integer}
  steps:
  - stepId: create
    operationId: createThing
    requestBody:
      contentType: application/json
      payload: '{"id": "{$inputs.id}", "n": {$inputs.n},  "raw": {"k": 1}}'
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", "id=abc", "-i", "n=5"]);
    out.assert_code(0);
    let r = &echo.requests()[0];
    assert_eq!(r.body, r#"{"id": "abc", "n": 5,  "raw": {"k": 1}}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn optional_input_not_given_is_left_out_of_the_body() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    required: [name]
    properties:
      name: {type: string}
      nick: {type: string}
  steps:
  - stepId: create
    operationId: createThing
    requestBody:
      contentType: application/json
      payload:
        name: $inputs.name
        nick: $inputs.nick
        nested:
          nick: $inputs.nick
          keep: 1
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", "name=n"]);
    out.assert_code(0);
    let r = &echo.requests()[0];
    assert_eq!(r.json(), json!({"name": "n", "nested": {"keep": 1}}));
    assert!(
        !r.body.contains("nick") && !r.body.contains("null"),
        "{}",
        r.body
    );
}

#[test]
fn replacements_apply_json_pointer_targets() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      v: {type: string}
      n: {type: integer}
  steps:
  - stepId: create
    operationId: createThing
    requestBody:
      contentType: application/json
      payload:
        a:
        - b: 1
        - b: 2
        c: {}
        keep: k
      replacements:
      - target: /a/1/b
        value: $inputs.v
      - target: /c/d
        value: $inputs.n
      - target: /a~1b
        value: slash key
      - target: /t~0x
        value: [1, 2]
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", "v=new", "-i", "n=7"]);
    out.assert_code(0);
    assert_eq!(
        echo.requests()[0].json(),
        json!({
            "a": [{"b": 1}, {"b": "new"}],
            "c": {"d": 7},
            "keep": "k",
            "a/b": "slash key",
            "t~x": [1, 2]
        })
    );
}

#[test]
fn form_urlencoded_object_payload() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      role: {type: string}
  steps:
  - stepId: submit
    operationId: submitForm
    requestBody:
      payload:
        name: Ada Lovelace
        role: $inputs.role
        n: 3
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", "role=a&b=c/é"]);
    out.assert_code(0);
    let r = &echo.requests()[0];
    assert_eq!(r.line(), "POST /form");
    // contentType comes from the operation's requestBody
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        r.form_pairs(),
        [
            ("name".to_string(), "Ada Lovelace".to_string()),
            ("role".to_string(), "a&b=c/é".to_string()),
            ("n".to_string(), "3".to_string()),
        ],
        "{}",
        r.body
    );
}

#[test]
fn multipart_form_data_object_payload() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      role: {type: string}
  steps:
  - stepId: submit
    operationId: submitForm
    requestBody:
      contentType: multipart/form-data
      payload:
        name: Ada
        role: $inputs.role
        tags: [x, y]
        meta: {n: 1}
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", "role=admin"]);
    out.assert_code(0);
    let r = &echo.requests()[0];
    let ct = r.header("content-type").unwrap();
    let boundary = ct
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("content-type: {ct}"));
    let parts: Vec<&str> = r
        .body
        .split(&format!("--{boundary}"))
        .filter(|p| !p.trim().is_empty() && p.trim() != "--")
        .collect();
    assert_eq!(parts.len(), 5, "{}", r.body);
    assert!(
        parts[0].contains("name=\"name\"\r\n\r\nAda\r\n"),
        "{}",
        parts[0]
    );
    assert!(
        parts[1].contains("name=\"role\"\r\n\r\nadmin\r\n"),
        "{}",
        parts[1]
    );
    assert!(
        parts[2].contains("name=\"tags\"\r\n\r\nx\r\n"),
        "{}",
        parts[2]
    );
    assert!(
        parts[3].contains("name=\"tags\"\r\n\r\ny\r\n"),
        "{}",
        parts[3]
    );
    assert!(
        parts[4].contains("Content-Type: application/json\r\n\r\n{\"n\":1}"),
        "{}",
        parts[4]
    );
    assert!(r.body.ends_with(&format!("--{boundary}--\r\n")));
}

// ---------------------------------------------------------------------------
// 3. Descriptions and locations
// ---------------------------------------------------------------------------

const API_31: &str = r#"openapi: 3.1.0
info:
  title: Things 3.1
  version: "1"
  license:
    name: MIT
    identifier: MIT
servers:
  - url: http://127.0.0.1:1
paths:
  /things/{thingId}:
    parameters:
      - $ref: '#/components/parameters/ThingId'
    get:
      operationId: getThing31
      parameters:
        - name: filter
          in: query
          schema:
            type: [string, "null"]
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Thing'
    put:
      operationId: putThing31
      requestBody:
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/Thing'
      responses:
        "200": {description: ok}
components:
  parameters:
    ThingId:
      name: thingId
      in: path
      required: true
      schema:
        type: [string]
  schemas:
    Thing:
      type: object
      properties:
        name:
          type: [string, "null"]
        size:
          type: [integer, "null"]
          exclusiveMinimum: 0
"#;

#[test]
fn openapi_31_description_with_type_arrays_and_path_item_ref_parameters() {
    let case = Case::new();
    case.write("api31.yaml", API_31);
    let doc = case.write(
        "wf.yaml",
        r#"arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions:
- name: api
  url: api31.yaml
  type: openapi
workflows:
- workflowId: w
  steps:
  - stepId: get
    operationId: getThing31
    parameters:
    - name: thingId
      in: path
      value: th-1
    - name: filter
      in: query
      value: big
    successCriteria:
    - condition: $statusCode == 200
  - stepId: put
    operationId: putThing31
    parameters:
    - name: thingId
      in: path
      value: th-1
    requestBody:
      payload:
        name: null
        size: 3
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let reqs = echo.requests();
    let lines: Vec<String> = reqs.iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /things/th-1?filter=big", "PUT /things/th-1"]);
    assert_eq!(reqs[1].json(), json!({"name": null, "size": 3}));
    assert_eq!(reqs[1].header("content-type"), Some("application/json"));
}

#[test]
fn path_item_ref_parameter_must_still_be_given() {
    // the $ref'd path-item parameter is known: leaving it out is caught before sending
    let case = Case::new();
    case.write("api31.yaml", API_31);
    let doc = case.write(
        "wf.yaml",
        r#"arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions:
- name: api
  url: api31.yaml
workflows:
- workflowId: w
  steps:
  - stepId: get
    operationId: getThing31
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(3);
    out.assert_stderr_has("thingId");
    assert!(echo.requests().is_empty());
}

#[test]
fn openapi_served_over_http_is_fetched() {
    let echo = Echo::start();
    echo.serve("/specs/openapi.yaml", "application/yaml", API);
    let case = Case::new();
    let doc = case.write(
        "wf.yaml",
        &format!(
            r#"arazzo: 1.0.1
info: {{title: t, version: "1"}}
sourceDescriptions:
- name: api
  url: {}
  type: openapi
workflows:
- workflowId: w
  steps:
  - stepId: get
    operationId: getThing
    parameters:
    - name: id
      in: path
      value: "9"
"#,
            echo.url("/specs/openapi.yaml")
        ),
    );
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /specs/openapi.yaml", "GET /things/9"]);
}

/// The root of a description split over several files: its parameter, body
/// schema and response come from `common.yaml` (beside it), which refers on to
/// `#/…` inside itself and to `./types/size.yaml` (relative to itself).
const SPLIT_ROOT: &str = r##"{
  "openapi": "3.0.3",
  "info": {"title": "split", "version": "1"},
  "servers": [{"url": "http://127.0.0.1:9"}],
  "paths": {
    "/things/{id}": {
      "parameters": [{"$ref": "common.yaml#/components/parameters/id"}],
      "put": {
        "operationId": "putThing",
        "requestBody": {"content": {"application/json": {
          "schema": {"$ref": "./common.yaml#/components/schemas/NewThing"}}}},
        "responses": {"200": {"$ref": "common.yaml#/components/responses/Thing"}}
      }
    }
  }
}"##;

const SPLIT_COMMON: &str = r##"components:
  parameters:
    id: {name: id, in: path, required: true, schema: {type: string, minLength: 2}}
  schemas:
    NewThing:
      type: object
      required: [name, size]
      properties:
        name: {type: string}
        size: {$ref: "#/components/schemas/Size"}
    Size: {$ref: "types/size.yaml"}
  responses:
    Thing:
      description: the thing
      content:
        application/json:
          schema:
            type: object
            properties: {id: {type: string}, size: {$ref: "#/components/schemas/Size"}}
"##;

const SPLIT_SIZE: &str = "type: integer\nenum: [1, 2, 3]\n";

fn split_workflow(url: &str, size: u32) -> String {
    format!(
        r#"arazzo: 1.0.1
info: {{title: t, version: "1"}}
sourceDescriptions:
- name: api
  url: {url}
  type: openapi
workflows:
- workflowId: w
  steps:
  - stepId: put
    operationId: putThing
    parameters:
    - {{name: id, in: path, value: ab}}
    requestBody:
      payload: {{name: box, size: {size}}}
    outputs:
      size: $response.body#/size
  outputs:
    size: $steps.put.outputs.size
"#
    )
}

#[test]
fn numbers_for_string_parameters_are_sent_as_their_text() {
    // A parameter is text on the wire: 42 for a `type: string` parameter is
    // "42", from a literal or from an integer input, and preflight agrees.
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs: {type: object, properties: {n: {type: integer}}}
  steps:
  - stepId: literal
    operationId: getThing
    parameters: [{name: id, in: path, value: 42}]
  - stepId: input
    operationId: getThing
    parameters: [{name: id, in: path, value: $inputs.n}]
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", "n=7"]);
    out.assert_code(0);
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /things/42", "GET /things/7"]);
    let v = exec(arazzo().arg("validate").arg(&doc));
    v.assert_code(0);
}

#[test]
fn path_parameters_follow_their_label_and_matrix_styles() {
    let case = Case::new();
    case.write(
        "api.yaml",
        r#"openapi: 3.0.3
info: {title: styles, version: "1"}
paths:
  /a/{lab}/{labx}/{mat}/{matx}/{sim}:
    get:
      operationId: styled
      parameters:
      - {name: lab, in: path, required: true, style: label, schema: {type: array, items: {type: string}}}
      - {name: labx, in: path, required: true, style: label, explode: true, schema: {type: array, items: {type: string}}}
      - {name: mat, in: path, required: true, style: matrix, schema: {type: array, items: {type: string}}}
      - {name: matx, in: path, required: true, style: matrix, explode: true, schema: {type: object}}
      - {name: sim, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
"#,
    );
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(
            r#"- workflowId: w
  steps:
  - stepId: s
    operationId: styled
    parameters:
    - {name: lab, in: path, value: [a, b]}
    - {name: labx, in: path, value: [a, b]}
    - {name: mat, in: path, value: [a, b]}
    - {name: matx, in: path, value: {x: 1, y: "two words"}}
    - {name: sim, in: path, value: x y/z}
"#,
        ),
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        ["GET /a/.a,b/.a.b/;mat=a,b/;x=1;y=two%20words/x%20y%2Fz"]
    );
}

#[test]
fn a_description_split_over_several_files_is_followed() {
    let case = Case::new();
    case.write("api/root.json", SPLIT_ROOT);
    case.write("api/common.yaml", SPLIT_COMMON);
    case.write("api/types/size.yaml", SPLIT_SIZE);
    let doc = case.write("wf.yaml", &split_workflow("./api/root.json", 2));
    let echo = Echo::start();
    echo.reply(Reply::json(200, &json!({"id": "ab", "size": 2})));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(out.json()["outputs"]["size"], 2);
    let reqs = echo.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].line(), "PUT /things/ab");
    assert_eq!(reqs[0].json(), json!({"name": "box", "size": 2}));

    // The schema three files away is enforced before anything is sent.
    let bad = case.write("bad.yaml", &split_workflow("./api/root.json", 5));
    let out = run_api(&bad, "w", &echo, &[]);
    out.assert_code(3);
    assert!(out.all().contains("/size"), "{}", out.all());
    assert_eq!(echo.requests().len(), 1, "nothing more was sent");
    // And `validate` checks the literal payload against it too.
    let v = exec(
        arazzo()
            .args(["validate"])
            .arg(&bad)
            .args(["--format", "json"]),
    );
    v.assert_code(3);
    assert!(v.stdout.contains("payload/schema"), "{}", v.stdout);

    // A missing file is named, with the `$ref` that wanted it.
    std::fs::remove_file(case.dir.path().join("api/types/size.yaml")).unwrap();
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(3);
    assert!(out.stderr.contains("types/size.yaml"), "{}", out.stderr);
    assert_eq!(echo.requests().len(), 1);
}

#[test]
fn names_that_look_like_extensions_or_examples_are_followed_in_split_files() {
    // A parameter named `x-page-size` and a property named `example` are
    // names, not extensions or example data: their `$ref`s are followed, and
    // a `#/…` inside common.yaml means common.yaml.
    let case = Case::new();
    case.write(
        "root.yaml",
        r##"openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /g:
    post:
      operationId: postG
      parameters: [{$ref: "common.yaml#/components/parameters/x-page-size"}]
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties: {example: {$ref: "common.yaml#/components/schemas/Small"}}
      responses: {"200": {description: ok}}
components:
  schemas:
    PageSize: {type: string, enum: [small, large]}
"##,
    );
    case.write(
        "common.yaml",
        r##"components:
  parameters:
    x-page-size: {name: pageSize, in: query, schema: {$ref: "#/components/schemas/PageSize"}}
  schemas:
    PageSize: {type: integer, minimum: 1, maximum: 100}
    Small: {type: integer, maximum: 9}
"##,
    );
    let wf = |size: u32, example: u32| {
        format!(
            r#"arazzo: 1.0.1
info: {{title: t, version: "1"}}
sourceDescriptions: [{{name: api, url: root.yaml, type: openapi}}]
workflows:
- workflowId: w
  steps:
  - stepId: s
    operationId: postG
    parameters: [{{name: pageSize, in: query, value: {size}}}]
    requestBody: {{payload: {{example: {example}}}}}
"#
        )
    };
    let good = case.write("good.yaml", &wf(50, 5));
    let echo = Echo::start();
    let out = run_api(&good, "w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(echo.requests()[0].line(), "POST /g?pageSize=50");
    // Both schemas from common.yaml are the ones enforced.
    let bad = case.write("bad.yaml", &wf(500, 50));
    let v = exec(
        arazzo()
            .arg("validate")
            .arg(&bad)
            .args(["--format", "json"]),
    );
    v.assert_code(3);
    assert!(v.stdout.contains("at most 100"), "{}", v.stdout);
    assert!(v.stdout.contains("at most 9"), "{}", v.stdout);
}

#[test]
fn a_description_served_over_http_may_not_read_local_files() {
    let case = Case::new();
    let local = case.write(
        "local.yaml",
        "components: {schemas: {S: {type: string, enum: [from-local-disk]}}}\n",
    );
    let echo = Echo::start();
    echo.serve(
        "/specs/api.yaml",
        "application/yaml",
        &format!(
            r#"openapi: 3.0.3
info: {{title: t, version: "1"}}
paths:
  /p:
    post:
      operationId: postP
      requestBody:
        content:
          application/json:
            schema: {{$ref: "file://{}#/components/schemas/S"}}
      responses: {{"200": {{description: ok}}}}
"#,
            local.display()
        ),
    );
    let doc = case.write(
        "wf.yaml",
        &format!(
            r#"arazzo: 1.0.1
info: {{title: t, version: "1"}}
sourceDescriptions: [{{name: api, url: "{}", type: openapi}}]
workflows:
- workflowId: w
  steps:
  - {{stepId: s, operationId: postP, requestBody: {{payload: x}}}}
"#,
            echo.url("/specs/api.yaml")
        ),
    );
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(3);
    out.assert_stderr_has("may not read local files");
    assert!(!out.all().contains("from-local-disk"), "{}", out.all());
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /specs/api.yaml"]);
}

#[test]
fn a_split_description_served_over_http_is_followed() {
    let echo = Echo::start();
    echo.serve("/specs/root.json", "application/json", SPLIT_ROOT);
    echo.serve("/specs/common.yaml", "application/yaml", SPLIT_COMMON);
    echo.serve("/specs/types/size.yaml", "application/yaml", SPLIT_SIZE);
    echo.reply(Reply::json(200, &json!({"id": "ab", "size": 3})));
    let case = Case::new();
    let doc = case.write("wf.yaml", &split_workflow(&echo.url("/specs/root.json"), 3));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        [
            "GET /specs/root.json",
            "GET /specs/common.yaml",
            "GET /specs/types/size.yaml",
            "PUT /things/ab"
        ]
    );
}

#[test]
fn relative_source_url_resolves_against_the_document_not_the_cwd() {
    let case = Case::new();
    case.write("apis/x.yaml", API);
    let doc = case.write(
        "flows/wf.yaml",
        r#"arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions:
- name: api
  url: ../apis/x.yaml
workflows:
- workflowId: w
  steps:
  - stepId: get
    operationId: getThing
    parameters:
    - name: id
      in: path
      value: rel
"#,
    );
    let echo = Echo::start();
    // the command runs from the crate folder, far from the temp folder
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(echo.requests()[0].line(), "GET /things/rel");

    // and from inside the document's own folder, with a relative -f
    let out = exec(
        arazzo()
            .current_dir(case.dir.path().join("flows"))
            .args(["run", "w", "-f", "wf.yaml", "--server"])
            .arg(format!("api={}", echo.base_url())),
    );
    out.assert_code(0);
    assert_eq!(echo.requests().len(), 2);
}

#[test]
fn arazzo_document_over_http_resolves_its_sources_against_its_url() {
    let echo = Echo::start();
    echo.serve("/apis/x.yaml", "application/yaml", API);
    echo.serve(
        "/flows/wf.yaml",
        "application/yaml",
        r#"arazzo: 1.0.1
info: {title: t, version: "1"}
sourceDescriptions:
- name: api
  url: ../apis/x.yaml
workflows:
- workflowId: w
  steps:
  - stepId: get
    operationId: getThing
    parameters:
    - name: id
      in: path
      value: remote
"#,
    );
    let out = exec(arazzo().args([
        "run",
        "w",
        "-f",
        &echo.url("/flows/wf.yaml"),
        "--server",
        &format!("api={}", echo.base_url()),
        "-o",
        "json",
    ]));
    out.assert_code(0);
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(
        lines,
        [
            "GET /flows/wf.yaml",
            "GET /apis/x.yaml",
            "GET /things/remote"
        ]
    );
}

#[test]
fn an_arazzo_document_over_http_may_not_name_local_files() {
    let case = Case::new();
    let local = case.write("local-api.yaml", API);
    let echo = Echo::start();
    echo.serve(
        "/flows/wf.yaml",
        "application/yaml",
        &format!(
            r#"arazzo: 1.0.1
info: {{title: t, version: "1"}}
sourceDescriptions:
- name: api
  url: "file://{}"
workflows:
- workflowId: w
  steps:
  - {{stepId: get, operationId: getThing, parameters: [{{name: id, in: path, value: x}}]}}
"#,
            local.display()
        ),
    );
    let out = exec(arazzo().args(["run", "w", "-f", &echo.url("/flows/wf.yaml")]));
    out.assert_code(3);
    out.assert_stderr_has("names a local file");
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /flows/wf.yaml"]);
}

#[test]
fn json_arazzo_document_and_json_openapi_work_like_yaml() {
    let case = Case::new();
    let api: Value = json_api_description();
    case.write("api.json", &serde_json::to_string_pretty(&api).unwrap());
    let doc = json!({
        "arazzo": "1.0.1",
        "info": {"title": "json doc", "version": "1.0.0"},
        "sourceDescriptions": [{"name": "api", "url": "./api.json", "type": "openapi"}],
        "workflows": [{
            "workflowId": "w",
            "inputs": {"type": "object", "properties": {"name": {"type": "string"}}},
            "steps": [{
                "stepId": "create",
                "operationId": "createThing",
                "requestBody": {"payload": {"name": "$inputs.name", "n": [1, "$inputs.name"]}},
                "successCriteria": [{"condition": "$statusCode == 200"}],
                "outputs": {"echoed": "$response.body#/method"}
            }],
            "outputs": {"method": "$steps.create.outputs.echoed"}
        }]
    });
    let path = case.write(
        "workflows.arazzo.json",
        &serde_json::to_string_pretty(&doc).unwrap(),
    );
    let echo = Echo::start();
    let out = run_api(&path, "w", &echo, &["-i", "name=J"]);
    out.assert_code(0);
    assert_eq!(out.json()["outputs"], json!({"method": "POST"}));
    assert_eq!(
        echo.requests()[0].json(),
        json!({"name": "J", "n": [1, "J"]})
    );
}

/// A small OpenAPI 3.0 description as JSON.
fn json_api_description() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "json api", "version": "1"},
        "paths": {
            "/things": {
                "post": {
                    "operationId": "createThing",
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": {"200": {"description": "ok"}}
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------
// 4. Several sources
// ---------------------------------------------------------------------------

const API_A: &str = r#"openapi: 3.0.3
info: {title: A, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
paths:
  /things/{id}:
    get:
      operationId: getThing
      parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
"#;

const API_B: &str = r#"openapi: 3.0.3
info: {title: B, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
paths:
  /b/things/{id}:
    get:
      operationId: getThing
      parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
  /b/only:
    get:
      operationId: onlyInB
      responses: {"200": {description: ok}}
"#;

fn two_sources(steps: &str) -> (Case, PathBuf) {
    let case = Case::new();
    case.write("a.yaml", API_A);
    case.write("b.yaml", API_B);
    let doc = case.write(
        "wf.yaml",
        &format!(
            "arazzo: 1.0.1\ninfo: {{title: t, version: '1'}}\nsourceDescriptions:\n- name: a\n  url: a.yaml\n  type: openapi\n- name: b\n  url: b.yaml\n  type: openapi\nworkflows:\n- workflowId: w\n  steps:\n{steps}"
        ),
    );
    (case, doc)
}

fn run_two(doc: &Path, a: &Echo, b: &Echo) -> Out {
    exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(doc)
            .args(["--server", &format!("a={}", a.base_url())])
            .args(["--server", &format!("b={}", b.base_url())])
            .args(["-o", "json"]),
    )
}

#[test]
fn qualified_operation_ids_go_to_their_own_sources_server() {
    let (_case, doc) = two_sources(
        r#"  - stepId: fromB
    operationId: $sourceDescriptions.b.getThing
    parameters:
    - {name: id, in: path, value: "2"}
  - stepId: fromA
    operationId: $sourceDescriptions.a.getThing
    parameters:
    - {name: id, in: path, value: "1"}
  - stepId: onlyB
    operationId: $sourceDescriptions.b.onlyInB
"#,
    );
    let (a, b) = (Echo::start(), Echo::start());
    let out = run_two(&doc, &a, &b);
    out.assert_code(0);
    let la: Vec<String> = a.requests().iter().map(|r| r.line()).collect();
    let lb: Vec<String> = b.requests().iter().map(|r| r.line()).collect();
    assert_eq!(la, ["GET /things/1"]);
    assert_eq!(lb, ["GET /b/things/2", "GET /b/only"]);
    assert_eq!(
        step_urls(&out.json()),
        [b.url("/b/things/2"), a.url("/things/1"), b.url("/b/only")]
    );
}

#[test]
fn bare_operation_id_with_two_sources_asks_for_the_qualified_form() {
    let (a, b) = (Echo::start(), Echo::start());
    // defined in one source only
    let (_case, doc) = two_sources(
        r#"  - stepId: s
    operationId: onlyInB
"#,
    );
    let out = run_two(&doc, &a, &b);
    out.assert_code(3);
    out.assert_stderr_has("$sourceDescriptions.b.onlyInB");
    assert_eq!(out.stdout, "");
    // defined in both
    let (_case, doc) = two_sources(
        r#"  - stepId: s
    operationId: getThing
    parameters:
    - {name: id, in: path, value: "1"}
"#,
    );
    let out = run_two(&doc, &a, &b);
    out.assert_code(3);
    out.assert_stderr_has("$sourceDescriptions.");
    out.assert_stderr_has(".getThing");
    assert!(a.requests().is_empty() && b.requests().is_empty());
}

#[test]
fn operation_path_selects_the_operation_of_the_named_source() {
    let (_case, doc) = two_sources(
        r#"  - stepId: s
    operationPath: '{$sourceDescriptions.a.url}#/paths/~1things~1{id}/get'
    parameters:
    - {name: id, in: path, value: "7"}
  - stepId: t
    operationPath: '{$sourceDescriptions.b.url}#/paths/~1b~1things~1%7Bid%7D/get'
    parameters:
    - {name: id, in: path, value: "8"}
"#,
    );
    let (a, b) = (Echo::start(), Echo::start());
    let out = run_two(&doc, &a, &b);
    out.assert_code(0);
    assert_eq!(a.requests()[0].line(), "GET /things/7");
    assert_eq!(b.requests()[0].line(), "GET /b/things/8");
}

// ---------------------------------------------------------------------------
// 5. Runtime expressions at run time
// ---------------------------------------------------------------------------

#[test]
fn response_request_and_step_values_feed_later_steps() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      name: {type: string}
  steps:
  - stepId: s1
    operationId: createThing
    requestBody:
      payload:
        x: $inputs.name
        y: [10, 20]
    successCriteria:
    - condition: $statusCode == 201
    outputs:
      deep: $response.body#/a/0/b
      hdr: $response.header.x-thing
      hdrUpper: $response.header.X-THING
      code: $statusCode
      url: $url
      method: $method
      sentX: $request.body#/x
      sentY: $request.body#/y/1
      id: $response.body#/id
      v: $response.body#/nested
      whole: $response.body
  - stepId: s2
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: $steps.s1.outputs.id
    - name: q
      in: query
      value: $steps.s1.outputs.v#/list/0/k
    - name: X-Trace
      in: header
      value: trace-{$steps.s1.outputs.id}-{$steps.s1.outputs.code}
    outputs:
      pathId: $request.path.id
      q: $request.query.q
      echoedTrace: $response.body#/headers/x-trace
  outputs:
    deep: $steps.s1.outputs.deep
    hdr: $steps.s1.outputs.hdr
    hdrUpper: $steps.s1.outputs.hdrUpper
    code: $steps.s1.outputs.code
    url: $steps.s1.outputs.url
    method: $steps.s1.outputs.method
    sentX: $steps.s1.outputs.sentX
    sentY: $steps.s1.outputs.sentY
    nested0: $steps.s1.outputs.v#/list/0
    wholeId: $steps.s1.outputs.whole#/id
    pathId: $steps.s2.outputs.pathId
    q: $steps.s2.outputs.q
    echoedTrace: $steps.s2.outputs.echoedTrace
"#,
    );
    let echo = Echo::start();
    echo.reply_on(
        "POST /things",
        Reply::json(
            201,
            &json!({"a": [{"b": "deep-value"}], "id": "th 1/x", "nested": {"list": [{"k": "v0"}]}}),
        )
        .header("X-Thing", "thing-header"),
    );
    let out = run_api(&doc, "w", &echo, &["-i", "name=Ada"]);
    out.assert_code(0);
    let reqs = echo.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].path, "/items/th%201%2Fx");
    assert_eq!(reqs[1].query_pairs(), [("q".to_string(), "v0".to_string())]);
    assert_eq!(reqs[1].header("x-trace"), Some("trace-th 1/x-201"));
    let report = out.json();
    assert_eq!(
        report["outputs"],
        json!({
            "deep": "deep-value",
            "hdr": "thing-header",
            "hdrUpper": "thing-header",
            "code": 201,
            "url": echo.url("/things"),
            "method": "POST",
            "sentX": "Ada",
            "sentY": 20,
            "nested0": {"k": "v0"},
            "wholeId": "th 1/x",
            "pathId": "th 1/x",
            "q": "v0",
            "echoedTrace": "trace-th 1/x-201"
        })
    );
    assert_eq!(report["steps"][0]["statusCode"], 201);
    assert_eq!(report["steps"][0]["outputs"]["deep"], "deep-value");
    assert_eq!(report["steps"][1]["status"], "succeeded");
}

#[test]
fn workflow_outputs_keep_every_json_type() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
    outputs:
      s: $response.body#/s
      n: $response.body#/n
      i: $response.body#/i
      t: $response.body#/t
      f: $response.body#/f
      z: $response.body#/z
      o: $response.body#/o
      a: $response.body#/a
      missing: $response.body#/nope
  outputs:
    s: $steps.s.outputs.s
    n: $steps.s.outputs.n
    i: $steps.s.outputs.i
    t: $steps.s.outputs.t
    f: $steps.s.outputs.f
    z: $steps.s.outputs.z
    o: $steps.s.outputs.o
    a: $steps.s.outputs.a
    missing: $steps.s.outputs.missing
"#,
    );
    let echo = Echo::start();
    let body = json!({"s": "text", "n": 1.5, "i": -3, "t": true, "f": false, "z": null,
                      "o": {"k": [1, {"m": "x"}]}, "a": [1, "2", null]});
    echo.reply(Reply::json(200, &body));
    echo.reply(Reply::json(200, &body));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let outputs = out.json()["outputs"].clone();
    assert_eq!(
        outputs,
        json!({"s": "text", "n": 1.5, "i": -3, "t": true, "f": false, "z": null,
               "o": {"k": [1, {"m": "x"}]}, "a": [1, "2", null], "missing": null})
    );
    // key order follows the document
    let keys: Vec<&String> = outputs.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["s", "n", "i", "t", "f", "z", "o", "a", "missing"]);

    // human: strings as they are, everything else as JSON
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url())]),
    );
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "s        text",
            "n        1.5",
            "i        -3",
            "t        true",
            "f        false",
            "z        null",
            r#"o        {"k":[1,{"m":"x"}]}"#,
            r#"a        [1,"2",null]"#,
            "missing  null",
        ]
    );
}

// ---------------------------------------------------------------------------
// 6. successCriteria
// ---------------------------------------------------------------------------

fn criteria_doc(criteria: &[&str]) -> (Case, PathBuf) {
    let list: String = criteria
        .iter()
        .map(|c| format!("    - condition: {}\n", serde_json::to_string(c).unwrap()))
        .collect();
    Case::with_api(&format!(
        "- workflowId: w\n  steps:\n  - stepId: check\n    operationId: getStatus\n    successCriteria:\n{list}    outputs:\n      body: $response.body\n"
    ))
}

#[test]
fn every_criterion_must_hold_and_the_failing_one_is_named() {
    let (_case, doc) = criteria_doc(&[
        "$statusCode == 200",
        "$response.body#/ok == true",
        "$response.body#/count > 5",
        "$response.body#/name == 'x'",
    ]);
    let echo = Echo::start();
    echo.reply(Reply::json(
        200,
        &json!({"ok": true, "count": 3, "name": "x"}),
    ));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["error"]["stepId"], "check");
    assert_eq!(report["error"]["kind"], "criteria");
    let msg = report["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`$response.body#/count > 5`"), "{msg}");
    assert!(
        !msg.contains("$statusCode == 200") && !msg.contains("#/ok"),
        "{msg}"
    );
    assert_eq!(report["steps"][0]["status"], "failed");
    assert_eq!(report["steps"][0]["statusCode"], 200);
    // the step's outputs still resolve on failure
    assert_eq!(report["steps"][0]["outputs"]["body"]["count"], 3);

    echo.reply(Reply::json(
        200,
        &json!({"ok": true, "count": 6, "name": "X"}),
    ));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(out.json()["status"], "succeeded");
}

#[test]
fn conditions_navigate_compare_loosely_and_combine() {
    let (_case, doc) = criteria_doc(&[
        "$response.body.items[0].name == 'WIDGET'",
        "$response.body.items[1].tags[0] != 'x'",
        "$response.body.count == 10",
        "$response.body.count > 9.5",
        "$response.body#/count >= '10'",
        "($statusCode == 200 || $statusCode == 201) && !$response.body.flag",
        "!($statusCode == 500) && $response.body.items[0].name",
        "$response.body.missing == null || $statusCode == 999",
        "$response.body.flag == false && $response.body.count < 11 || $statusCode == 0",
        "!($response.body.missing < 1) && !($response.body.missing >= 1)",
    ]);
    let echo = Echo::start();
    let body =
        json!({"items": [{"name": "Widget"}, {"tags": ["y"]}], "count": "10", "flag": false});
    echo.reply(Reply::json(200, &body));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);

    // the same document, one case-sensitive mismatch less lenient: fails
    let (_case2, doc2) =
        criteria_doc(&["$response.body.items[0].name == 'gadget' || $response.body.count < 10"]);
    echo.reply(Reply::json(200, &body));
    let out = run_api(&doc2, "w", &echo, &[]);
    out.assert_code(1);
    assert!(out.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'gadget'"));
}

#[test]
fn without_criteria_a_step_needs_a_2xx_status() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
"#,
    );
    let echo = Echo::start();
    echo.reply(Reply::json(500, &json!({"error": "boom"})));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "criteria");
    assert_eq!(report["steps"][0]["statusCode"], 500);
    let msg = report["error"]["message"].as_str().unwrap();
    assert!(msg.contains("500") && msg.contains("boom"), "{msg}");

    echo.reply(Reply::new(204));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(out.json()["steps"][0]["statusCode"], 204);

    echo.reply(Reply::json(302, &json!({})).header("location", "http://127.0.0.1:1/x"));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(1);
}

#[test]
fn text_plain_body_is_a_string() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
    successCriteria:
    - condition: $response.body == 'Hello World {1}'
    - condition: $response.header.content-type == 'text/plain; charset=utf-8'
    outputs:
      text: $response.body
  outputs:
    text: $steps.s.outputs.text
"#,
    );
    let echo = Echo::start();
    echo.reply(Reply::text(
        200,
        "text/plain; charset=utf-8",
        "hello world {1}",
    ));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(out.json()["outputs"]["text"], "hello world {1}");

    // a JSON-looking body served as text/plain stays a string
    echo.reply(Reply::text(200, "text/plain", r#"{"a": 1}"#));
    let (_c, doc2) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
    outputs:
      text: $response.body
  outputs:
    text: $steps.s.outputs.text
"#,
    );
    let out = run_api(&doc2, "w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(out.json()["outputs"]["text"], r#"{"a": 1}"#);
}

// ---------------------------------------------------------------------------
// 7. Errors found before anything is sent
// ---------------------------------------------------------------------------

/// Runs a document that must be refused: exit 3, a message on stderr,
/// nothing on stdout, nothing sent.
fn refused(doc: &Path, echo: &Echo, extra: &[&str]) -> Out {
    let out = run_api(doc, "w", echo, extra);
    out.assert_code(3);
    assert_eq!(out.stdout, "", "nothing on stdout");
    assert!(
        echo.requests().is_empty(),
        "nothing may be sent: {:?}",
        echo.requests()
    );
    out
}

#[test]
fn yaml_that_does_not_parse_is_exit_3_with_its_line() {
    let case = Case::new();
    case.write("api.yaml", API);
    let doc = case.write(
        "wf.yaml",
        "arazzo: 1.0.1\ninfo:\n  title: t\n  version: 1.0.0\nsourceDescriptions:\n- name: api\n  url: ./api.yaml\n   type: openapi\nworkflows: []\n",
    );
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("line 8");
    out.assert_stderr_has("wf.yaml");
}

#[test]
fn json_that_does_not_parse_is_exit_3_with_its_line() {
    let case = Case::new();
    case.write("api.yaml", API);
    let doc = case.write(
        "wf.json",
        "{\n  \"arazzo\": \"1.0.1\",\n  \"info\": {\"title\": \"t\", \"version\": \"1\"},\n  \"sourceDescriptions\": [{\"name\": \"api\", \"url\": \"./api.yaml\"}],\n  \"workflows\": [\n    {\"workflowId\": \"w\", \"steps\": [],}\n  ]\n}\n",
    );
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("line 6");
    out.assert_stderr_has("wf.json");
}

#[test]
fn an_openapi_description_that_does_not_parse_is_exit_3() {
    let case = Case::new();
    case.write("api.yaml", "openapi: 3.0.3\ninfo: [\npaths: {}\n");
    let doc = case.write("wf.yaml", &arazzo_doc(SIMPLE_WF));
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("api.yaml");
    out.assert_stderr_has("line");
}

const SIMPLE_WF: &str = r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
"#;

#[test]
fn missing_openapi_file_is_exit_3_naming_the_path() {
    let case = Case::new();
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(SIMPLE_WF).replace("./api.yaml", "./specs/missing-api.yaml"),
    );
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("missing-api.yaml");
}

#[test]
fn unknown_operation_id_suggests_the_closest() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getIten
    parameters:
    - {name: id, in: path, value: x}
"#,
    );
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("getIten");
    out.assert_stderr_has("did you mean `getItem`");
}

#[test]
fn references_to_unknown_steps_and_inputs_are_refused() {
    let cases = [
        // a step that does not exist
        (
            r#"- workflowId: w
  steps:
  - stepId: s1
    operationId: getStatus
    outputs:
      v: $statusCode
  - stepId: s2
    operationId: getThing
    parameters:
    - {name: id, in: path, value: $steps.nope.outputs.x}
"#,
            "$steps.nope.outputs.x",
        ),
        // an output that step s1 does not declare
        (
            r#"- workflowId: w
  steps:
  - stepId: s1
    operationId: getStatus
    outputs:
      v: $statusCode
  - stepId: s2
    operationId: getThing
    parameters:
    - {name: id, in: path, value: $steps.s1.outputs.w}
"#,
            "$steps.s1.outputs.w",
        ),
        // an undeclared input
        (
            r#"- workflowId: w
  inputs:
    type: object
    properties:
      x: {type: string}
  steps:
  - stepId: s1
    operationId: createThing
    requestBody:
      payload:
        deep: [{v: $inputs.y}]
"#,
            "$inputs.y",
        ),
        // a forward reference
        (
            r#"- workflowId: w
  steps:
  - stepId: s1
    operationId: getThing
    parameters:
    - {name: id, in: path, value: $steps.s2.outputs.v}
  - stepId: s2
    operationId: getStatus
    outputs:
      v: $statusCode
"#,
            "$steps.s2.outputs.v",
        ),
        // a forward reference inside an embedded template of a header
        (
            r#"- workflowId: w
  steps:
  - stepId: s1
    operationId: getItem
    parameters:
    - {name: id, in: path, value: x}
    - {name: X-Trace, in: header, value: "t-{$steps.s2.outputs.v}"}
  - stepId: s2
    operationId: getStatus
    outputs:
      v: $statusCode
"#,
            "$steps.s2.outputs.v",
        ),
        // a workflow output reading an undeclared step output
        (
            r#"- workflowId: w
  steps:
  - stepId: s1
    operationId: getStatus
  outputs:
    v: $steps.s1.outputs.v
"#,
            "$steps.s1.outputs.v",
        ),
    ];
    for (wf, named) in cases {
        let (_case, doc) = Case::with_api(wf);
        let echo = Echo::start();
        let out = refused(&doc, &echo, &[]);
        out.assert_stderr_has(named);
    }
}

#[test]
fn swagger_2_source_is_refused() {
    let case = Case::new();
    case.write(
        "api.yaml",
        r#"swagger: "2.0"
info: {title: old, version: "1"}
host: 127.0.0.1:1
paths:
  /status:
    get:
      operationId: getStatus
      responses: {"200": {description: ok}}
"#,
    );
    let doc = case.write("wf.yaml", &arazzo_doc(SIMPLE_WF));
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    assert!(
        out.stderr.contains("2.0") || out.stderr.to_lowercase().contains("swagger"),
        "{}",
        out.stderr
    );
    out.assert_stderr_has("OpenAPI 3");
}

#[test]
fn a_document_that_is_not_arazzo_1_0_is_refused() {
    let case = Case::new();
    case.write("api.yaml", API);
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(SIMPLE_WF).replace("arazzo: 1.0.1", "arazzo: 2.0.0"),
    );
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("2.0.0");
}

#[test]
fn a_condition_wrapped_in_braces_is_refused() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
    successCriteria:
    - condition: "{$statusCode == 200}"
"#,
    );
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("$statusCode == 200");
}

#[test]
fn a_runtime_expression_that_does_not_parse_is_refused() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
    outputs:
      v: $response.bdy#/x
"#,
    );
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("$response.bdy");
}

// ---------------------------------------------------------------------------
// 8. Secrets
// ---------------------------------------------------------------------------

#[test]
fn password_input_sent_in_the_body_is_never_printed() {
    const PW: &str = "hunter2-Pa55/word!";
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      user: {type: string}
      password: {type: string, format: password}
  steps:
  - stepId: login
    operationId: createThing
    requestBody:
      payload:
        user: $inputs.user
        password: $inputs.password
    outputs:
      echoed: $response.body#/body
      sent: $request.body#/password
  outputs:
    echoed: $steps.login.outputs.echoed
    sent: $steps.login.outputs.sent
"#,
    );
    let echo = Echo::start();
    for format in ["json", "human"] {
        let out = exec(
            arazzo()
                .args(["run", "w", "-f"])
                .arg(&doc)
                .args(["--server", &format!("api={}", echo.base_url())])
                .args(["-o", format, "-i", "user=ada", "-i"])
                .arg(format!("password={PW}")),
        );
        out.assert_code(0);
        out.assert_no(PW);
        assert!(out.stdout.contains("***"), "{}", out.stdout);
    }
    // ... while the server got the real one, from the environment too
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(["-o", "json", "-i", "user=ada"])
            .env("ARAZZO_INPUT_PASSWORD", PW),
    );
    out.assert_code(0);
    out.assert_no(PW);
    for r in echo.requests() {
        assert_eq!(r.json(), json!({"user": "ada", "password": PW}));
    }
}

#[test]
fn authorization_header_value_is_never_printed() {
    const TOKEN: &str = "tok_9f8e7d6c5b4a";
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      token: {type: string}
  steps:
  - stepId: s
    operationId: getStatus
    parameters:
    - name: authorization
      in: header
      value: Bearer {$inputs.token}
    outputs:
      seen: $response.body#/headers/authorization
      all: $response.body#/headers
  outputs:
    seen: $steps.s.outputs.seen
"#,
    );
    let echo = Echo::start();
    for format in ["json", "human"] {
        let out = exec(
            arazzo()
                .args(["run", "w", "-f"])
                .arg(&doc)
                .args(["--server", &format!("api={}", echo.base_url())])
                .args(["-o", format, "-i"])
                .arg(format!("token={TOKEN}")),
        );
        out.assert_code(0);
        out.assert_no(TOKEN);
        assert!(out.stdout.contains("***"), "{}", out.stdout);
    }
    assert_eq!(
        echo.requests()[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
}

#[test]
fn bearer_token_echoed_without_its_scheme_is_never_printed() {
    // The server quotes only the token, not the whole `Bearer …` header value.
    const TOKEN: &str = "tok_5a4b3c2d1e0f";
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      token: {type: string}
  steps:
  - stepId: s
    operationId: getStatus
    parameters:
    - name: Authorization
      in: header
      value: Bearer {$inputs.token}
"#,
    );
    let echo = Echo::start();
    for format in ["json", "human"] {
        echo.reply(Reply::json(
            401,
            &json!({"error": format!("token {TOKEN} has expired")}),
        ));
        let out = exec(
            arazzo()
                .args(["run", "w", "-f"])
                .arg(&doc)
                .args(["--server", &format!("api={}", echo.base_url())])
                .args(["-o", format, "-i"])
                .arg(format!("token={TOKEN}")),
        );
        out.assert_code(1);
        assert!(out.all().contains("401"), "{}", out.all());
        out.assert_no(TOKEN);
    }
}

const API_KEYED: &str = r#"openapi: 3.0.3
info: {title: keyed, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
security:
- queryKey: []
components:
  securitySchemes:
    queryKey:
      type: apiKey
      in: query
      name: api_key
paths:
  /search:
    get:
      operationId: search
      parameters:
      - {name: term, in: query, schema: {type: string}}
      responses: {"200": {description: ok}}
"#;

fn keyed_doc() -> (Case, PathBuf) {
    let case = Case::new();
    case.write("api.yaml", API_KEYED);
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(
            r#"- workflowId: w
  inputs:
    type: object
    properties:
      key: {type: string}
  steps:
  - stepId: search
    operationId: search
    parameters:
    - {name: term, in: query, value: cats}
    - {name: api_key, in: query, value: $inputs.key}
    outputs:
      query: $response.body#/query
      url: $url
  outputs:
    query: $steps.search.outputs.query
    url: $steps.search.outputs.url
"#,
        ),
    );
    (case, doc)
}

#[test]
fn api_key_in_a_query_parameter_is_masked_in_the_report_url() {
    const KEY: &str = "qk_live_81ab92cd";
    let (_case, doc) = keyed_doc();
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", &format!("key={KEY}")]);
    out.assert_code(0);
    out.assert_no(KEY);
    let report = out.json();
    assert_eq!(
        report["steps"][0]["url"],
        echo.url("/search?term=cats&api_key=***")
    );
    assert_eq!(report["outputs"]["query"], "term=cats&api_key=***");
    assert_eq!(
        report["outputs"]["url"],
        echo.url("/search?term=cats&api_key=***")
    );
    assert_eq!(
        echo.requests()[0].query.as_deref(),
        Some(format!("term=cats&api_key={KEY}").as_str())
    );
}

#[test]
fn api_key_that_needs_percent_encoding_is_masked_in_the_report_url() {
    // Base64-ish keys carry `+`, `/` and `=`, and `-` and `_`: the URL holds the
    // key percent-encoded, which is the secret all the same.
    const KEY: &str = "sk-live_ab+/cd==";
    const IN_URL: &str = "sk-live_ab%2B%2Fcd%3D%3D";
    let (_case, doc) = keyed_doc();
    let echo = Echo::start();
    for format in ["json", "human"] {
        let out = run_api(
            &doc,
            "w",
            &echo,
            &["-i", &format!("key={KEY}"), "-o", format],
        );
        out.assert_code(0);
        out.assert_no(KEY);
        out.assert_no(IN_URL);
        out.assert_no("sk-live_ab");
    }
    let r = &echo.requests()[0];
    assert_eq!(r.query_pairs()[1], ("api_key".to_string(), KEY.to_string()));
}

#[test]
fn password_input_sent_in_a_query_parameter_is_masked_in_the_url() {
    const PW: &str = "correct horse-battery";
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      pw: {type: string, format: password}
  steps:
  - stepId: s
    operationId: getItem
    parameters:
    - {name: id, in: path, value: x}
    - {name: q, in: query, value: $inputs.pw}
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", &format!("pw={PW}")]);
    out.assert_code(0);
    out.assert_no(PW);
    out.assert_no("horse-battery");
    assert_eq!(out.json()["steps"][0]["url"], echo.url("/items/x?q=***"));
    assert_eq!(
        echo.requests()[0].query_pairs(),
        [("q".to_string(), PW.to_string())]
    );
}

#[test]
fn secret_echoed_back_in_an_error_body_is_masked_in_json_and_human() {
    const PW: &str = "s3cr3t-Value_42";
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      password: {type: string, format: password}
  steps:
  - stepId: login
    operationId: createThing
    requestBody:
      payload:
        password: $inputs.password
    successCriteria:
    - condition: $statusCode == 201
    outputs:
      err: $response.body#/error
"#,
    );
    let echo = Echo::start();
    for format in ["json", "human"] {
        echo.reply(Reply::json(
            400,
            &json!({"error": format!("password '{PW}' is too weak"), "field": PW}),
        ));
        let out = run_api(
            &doc,
            "w",
            &echo,
            &["-i", &format!("password={PW}"), "-o", format],
        );
        out.assert_code(1);
        out.assert_no(PW);
        assert!(
            out.all().contains("password '***' is too weak"),
            "{}",
            out.all()
        );
        if format == "json" {
            let report = out.json();
            assert_eq!(report["error"]["kind"], "criteria");
            assert_eq!(
                report["steps"][0]["outputs"]["err"],
                "password '***' is too weak"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// More bodies, descriptions, transport and secrets
// ---------------------------------------------------------------------------

#[test]
fn literal_dollar_strings_and_embedded_values_in_a_payload() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      obj: {type: object}
      missing: {type: string}
  steps:
  - stepId: create
    operationId: createThing
    requestBody:
      contentType: application/merge-patch+json
      payload:
        price: $5
        note: costs $inputs
        tmpl: "obj={$inputs.obj} none=[{$inputs.missing}] n={$inputs.obj#/n}"
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", r#"obj={"n":1,"s":"x"}"#]);
    out.assert_code(0);
    let r = &echo.requests()[0];
    assert_eq!(
        r.header("content-type"),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        r.json(),
        json!({
            "price": "$5",
            "note": "costs $inputs",
            "tmpl": r#"obj={"n":1,"s":"x"} none=[] n=1"#
        })
    );
}

#[test]
fn replacement_past_the_end_of_an_array_fails_before_sending() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: create
    operationId: createThing
    requestBody:
      payload:
        a: [1]
      replacements:
      - target: /a/5
        value: x
"#,
    );
    let echo = Echo::start();
    // Preflight finds it before anything is sent (exit 2); without preflight the step fails.
    let pre = run_api(&doc, "w", &echo, &[]);
    pre.assert_code(2);
    assert!(echo.api_requests().is_empty());
    let out = run_api(&doc, "w", &echo, &["--no-preflight"]);
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "request");
    assert_eq!(report["error"]["stepId"], "create");
    let msg = report["error"]["message"].as_str().unwrap();
    assert!(msg.contains("/a/5"), "{msg}");
    assert!(echo.requests().is_empty());
}

#[test]
fn request_body_media_type_comes_through_a_ref() {
    let case = Case::new();
    case.write(
        "api.yaml",
        r#"openapi: 3.0.3
info: {title: refs, version: "1"}
paths:
  /login:
    post:
      operationId: login
      requestBody:
        $ref: '#/components/requestBodies/Credentials'
      responses: {"200": {description: ok}}
components:
  requestBodies:
    Credentials:
      content:
        application/x-www-form-urlencoded:
          schema: {type: object}
"#,
    );
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(
            r#"- workflowId: w
  steps:
  - stepId: s
    operationId: login
    requestBody:
      payload:
        user: ada
        scope: read write
"#,
        ),
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let r = &echo.requests()[0];
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        r.form_pairs(),
        [
            ("user".to_string(), "ada".to_string()),
            ("scope".to_string(), "read write".to_string())
        ]
    );
}

fn thing_api_with_servers(servers: &str) -> String {
    format!(
        r#"openapi: 3.0.3
info: {{title: served, version: "1"}}
servers:
{servers}
paths:
  /things/{{id}}:
    get:
      operationId: getThing
      parameters:
      - {{name: id, in: path, required: true, schema: {{type: string}}}}
      responses: {{"200": {{description: ok}}}}
"#
    )
}

const GET_THING_WF: &str = r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getThing
    parameters:
    - {name: id, in: path, value: x}
"#;

#[test]
fn the_openapi_server_is_used_without_a_server_flag() {
    let echo = Echo::start();
    let case = Case::new();
    case.write(
        "api.yaml",
        &thing_api_with_servers(&format!("- url: {}/v1", echo.base_url())),
    );
    let doc = case.write("wf.yaml", &arazzo_doc(GET_THING_WF));
    let out = exec(arazzo().args(["run", "-o", "json", "-f"]).arg(&doc));
    out.assert_code(0);
    assert_eq!(echo.requests()[0].line(), "GET /v1/things/x");
    assert_eq!(step_urls(&out.json()), [echo.url("/v1/things/x")]);
}

#[test]
fn openapi_server_variables_take_their_defaults() {
    let echo = Echo::start();
    let port = echo.base_url().rsplit(':').next().unwrap().to_string();
    let case = Case::new();
    case.write(
        "api.yaml",
        &thing_api_with_servers(&format!(
            "- url: http://127.0.0.1:{{port}}/{{base}}\n  variables:\n    port: {{default: '{port}'}}\n    base: {{default: v2, enum: [v1, v2]}}"
        )),
    );
    let doc = case.write("wf.yaml", &arazzo_doc(GET_THING_WF));
    let out = exec(arazzo().args(["run", "-o", "json", "-f"]).arg(&doc));
    out.assert_code(0);
    assert_eq!(echo.requests()[0].line(), "GET /v2/things/x");
}

#[test]
fn a_relative_openapi_server_resolves_against_the_description_url() {
    let echo = Echo::start();
    echo.serve(
        "/specs/api.yaml",
        "application/yaml",
        &thing_api_with_servers("- url: /api/v3"),
    );
    let case = Case::new();
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(GET_THING_WF).replace("./api.yaml", &echo.url("/specs/api.yaml")),
    );
    let out = exec(arazzo().args(["run", "-o", "json", "-f"]).arg(&doc));
    out.assert_code(0);
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /specs/api.yaml", "GET /api/v3/things/x"]);
}

#[test]
fn an_openapi_url_that_answers_404_is_exit_3_naming_the_url() {
    let echo = Echo::start();
    echo.reply_on(
        "/specs/gone.yaml",
        Reply::text(404, "text/plain", "not here"),
    );
    let case = Case::new();
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(SIMPLE_WF).replace("./api.yaml", &echo.url("/specs/gone.yaml")),
    );
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(3);
    assert_eq!(out.stdout, "");
    out.assert_stderr_has("/specs/gone.yaml");
    out.assert_stderr_has("404");
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /specs/gone.yaml"], "no API call");
}

#[test]
fn a_yaml_description_with_a_ref_into_another_file_works() {
    let case = Case::new();
    case.write(
        "api.yaml",
        r#"openapi: 3.0.3
info: {title: split, version: "1"}
paths:
  /things/{id}:
    get:
      operationId: getThing
      parameters:
      - $ref: 'common.yaml#/components/parameters/Id'
      responses: {"200": {description: ok}}
"#,
    );
    case.write(
        "common.yaml",
        "components:\n  parameters:\n    Id: {name: id, in: path, required: true, schema: {type: string}}\n",
    );
    let doc = case.write("wf.yaml", &arazzo_doc(GET_THING_WF));
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /things/x"]);
    // The parameter came from common.yaml: leaving it out is caught.
    let doc = case.write(
        "wf2.yaml",
        &arazzo_doc("- workflowId: w\n  steps:\n  - stepId: s\n    operationId: getThing\n"),
    );
    let out = refused(&doc, &Echo::start(), &[]);
    out.assert_stderr_has("`id`");
}

#[test]
fn duplicate_step_ids_are_refused() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
  - stepId: s
    operationId: getStatus
"#,
    );
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("`s`");
}

#[test]
fn a_path_parameter_the_operation_does_not_have_is_refused() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getThing
    parameters:
    - {name: id, in: path, value: x}
    - {name: thingId, in: path, value: y}
"#,
    );
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("thingId");
}

#[test]
fn cross_origin_redirects_drop_credentials() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      token: {type: string}
  steps:
  - stepId: s
    operationId: getThing
    parameters:
    - {name: id, in: path, value: x}
    - {name: Authorization, in: header, value: "Bearer {$inputs.token}"}
    outputs:
      path: $response.body#/path
      location: $response.header.location
  outputs:
    path: $steps.s.outputs.path
    location: $steps.s.outputs.location
"#,
    );
    let a = Echo::start();
    let b = Echo::start();
    // same origin: followed
    a.reply_on(
        "GET /things/x",
        Reply::new(302).header("location", "/things/y"),
    );
    let out = run_api(&doc, "w", &a, &["-i", "token=t0k3n"]);
    out.assert_code(0);
    assert_eq!(out.json()["outputs"]["path"], "/things/y");
    let lines: Vec<String> = a.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /things/x", "GET /things/y"]);

    // another origin: followed, without the credentials
    a.reply_on(
        "GET /things/x",
        Reply::new(302).header("location", &b.url("/elsewhere")),
    );
    let out = run_api(&doc, "w", &a, &["-i", "token=t0k3n"]);
    out.assert_code(0);
    assert_eq!(out.json()["outputs"]["path"], "/elsewhere");
    let first = a.requests().last().unwrap().clone();
    assert_eq!(first.header("authorization"), Some("Bearer t0k3n"));
    let moved = b.requests();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(
        moved[0].header("authorization"),
        None,
        "credentials must not cross origins"
    );
    assert!(!moved[0].headers.iter().any(|(_, v)| v.contains("t0k3n")));
}

#[test]
fn a_response_over_the_size_limit_is_a_response_error() {
    let (_case, doc) = Case::with_api(SIMPLE_WF);
    let echo = Echo::start();
    echo.reply(Reply::text(
        200,
        "text/plain",
        &"x".repeat(10 * 1024 * 1024 + 1),
    ));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "response");
    assert_eq!(report["steps"][0]["status"], "failed");
}

#[test]
fn condition_string_literals_may_hold_operators() {
    let (_case, doc) = criteria_doc(&[
        "$response.body.name == 'a && b || !(c)'",
        "$response.body.other != 'x == y'",
    ]);
    let echo = Echo::start();
    echo.reply(Reply::json(
        200,
        &json!({"name": "A && B || !(C)", "other": "z"}),
    ));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
}

#[test]
fn header_parameter_names_match_the_openapi_case_insensitively() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getItem
    parameters:
    - {name: id, in: path, value: x}
    - {name: x-trace, in: header, value: [a, b]}
    outputs:
      sent: $request.header.X-TRACE
  outputs:
    sent: $steps.s.outputs.sent
"#,
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(echo.requests()[0].header("x-trace"), Some("a,b"));
    assert_eq!(out.json()["outputs"]["sent"], "a,b");
}

fn scheme_doc(scheme: &str, param: &str, input_schema: &str) -> (Case, PathBuf) {
    let case = Case::new();
    case.write(
        "api.yaml",
        &format!(
            r#"openapi: 3.0.3
info: {{title: keyed, version: "1"}}
components:
  securitySchemes:
    key:
{scheme}
paths:
  /status:
    get:
      operationId: getStatus
      security: [{{key: []}}]
      responses: {{"200": {{description: ok}}}}
"#
        ),
    );
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(&format!(
            r#"- workflowId: w
  inputs:
    type: object
    properties:
      key: {input_schema}
  steps:
  - stepId: s
    operationId: getStatus
    parameters:
{param}
    outputs:
      headers: $response.body#/headers
  outputs:
    headers: $steps.s.outputs.headers
"#
        )),
    );
    (case, doc)
}

#[test]
fn api_key_header_named_in_another_case_is_masked() {
    const KEY: &str = "hk_3344556677";
    let (_case, doc) = scheme_doc(
        "      type: apiKey\n      in: header\n      name: X-API-Key",
        "    - {name: x-api-key, in: header, value: $inputs.key}",
        "{type: string}",
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", &format!("key={KEY}")]);
    out.assert_code(0);
    out.assert_no(KEY);
    assert_eq!(out.json()["outputs"]["headers"]["x-api-key"], "***");
    assert_eq!(echo.requests()[0].header("x-api-key"), Some(KEY));
}

#[test]
fn api_key_cookie_is_masked() {
    const KEY: &str = "ck_998877665544";
    let (_case, doc) = scheme_doc(
        "      type: apiKey\n      in: cookie\n      name: session",
        "    - {name: session, in: cookie, value: $inputs.key}",
        "{type: string}",
    );
    let echo = Echo::start();
    let out = run_api(&doc, "w", &echo, &["-i", &format!("key={KEY}")]);
    out.assert_code(0);
    out.assert_no(KEY);
    assert_eq!(out.json()["outputs"]["headers"]["cookie"], "session=***");
    assert_eq!(
        echo.requests()[0].header("cookie"),
        Some(format!("session={KEY}").as_str())
    );
}

#[test]
fn write_only_input_is_masked() {
    const KEY: &str = "wo_secret_123456";
    let (_case, doc) = scheme_doc(
        "      type: http\n      scheme: bearer",
        "    - {name: X-Custom, in: header, value: $inputs.key}",
        "{type: string, writeOnly: true}",
    );
    let echo = Echo::start();
    for format in ["json", "human"] {
        let out = run_api(
            &doc,
            "w",
            &echo,
            &["-i", &format!("key={KEY}"), "-o", format],
        );
        out.assert_code(0);
        out.assert_no(KEY);
        assert!(out.stdout.contains("***"), "{}", out.stdout);
    }
}

#[test]
fn a_secret_with_json_special_characters_is_masked_in_every_form() {
    const PW: &str = r#"pa"ss\wo/rd é"#;
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      password: {type: string, format: password}
  steps:
  - stepId: login
    operationId: createThing
    requestBody:
      payload:
        password: $inputs.password
    successCriteria:
    - condition: $statusCode == 201
"#,
    );
    let echo = Echo::start();
    let escaped = serde_json::to_string(PW).unwrap();
    let escaped = &escaped[1..escaped.len() - 1];
    for format in ["json", "human"] {
        echo.reply(Reply::json(400, &json!({"rejected": PW})));
        let out = exec(
            arazzo()
                .args(["run", "w", "-f"])
                .arg(&doc)
                .args(["--server", &format!("api={}", echo.base_url())])
                .args(["-o", format])
                .env("ARAZZO_INPUT_PASSWORD", PW),
        );
        out.assert_code(1);
        out.assert_no(PW);
        out.assert_no(escaped);
        out.assert_no("wo/rd");
        assert!(out.all().contains("***"), "{}", out.all());
    }
    assert_eq!(echo.requests()[0].json(), json!({"password": PW}));
}

#[test]
fn a_secret_cut_by_the_error_body_excerpt_is_still_masked() {
    // The error message shows the start of the response body. A secret that
    // straddles the cut must not show up partly.
    const PW: &str = "Zq7-longer-secret-value-991";
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      password: {type: string, format: password}
  steps:
  - stepId: login
    operationId: createThing
    requestBody:
      payload:
        password: $inputs.password
    successCriteria:
    - condition: $statusCode == 201
"#,
    );
    let echo = Echo::start();
    for format in ["json", "human"] {
        // at every offset around the excerpt limit (a few hundred characters)
        for pad in (300..420).step_by(7) {
            let body = json!({"e": format!("{}{PW} tail", "x".repeat(pad))});
            echo.reply(Reply::json(400, &body));
            let out = run_api(
                &doc,
                "w",
                &echo,
                &["-i", &format!("password={PW}"), "-o", format],
            );
            out.assert_code(1);
            out.assert_no(&PW[..10]);
        }
    }
}

#[test]
fn a_required_query_parameter_without_a_value_fails_the_step_unsent() {
    let case = Case::new();
    case.write(
        "api.yaml",
        r#"openapi: 3.0.3
info: {title: req, version: "1"}
paths:
  /search:
    get:
      operationId: search
      parameters:
      - {name: term, in: query, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
"#,
    );
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(
            r#"- workflowId: w
  inputs:
    type: object
    properties:
      term: {type: string}
  steps:
  - stepId: s
    operationId: search
    parameters:
    - {name: term, in: query, value: $inputs.term}
"#,
        ),
    );
    let echo = Echo::start();
    // Preflight finds it before anything is sent (exit 2); without preflight the step fails.
    let pre = run_api(&doc, "w", &echo, &[]);
    pre.assert_code(2);
    assert!(echo.api_requests().is_empty());
    let out = run_api(&doc, "w", &echo, &["--no-preflight"]);
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "request");
    let msg = report["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("term") && msg.contains("$inputs.term"),
        "{msg}"
    );
    assert!(echo.requests().is_empty());
}

#[test]
fn numbers_from_a_response_fill_a_path_parameter() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  x-owner: team-a
  steps:
  - stepId: s1
    operationId: getStatus
    x-note: extensions are allowed
    outputs:
      n: $response.body#/items/0/n
      zero: $response.body#/items/1/n
  - stepId: s2
    operationId: getThing
    parameters:
    - {name: id, in: path, value: $steps.s1.outputs.n}
  - stepId: s3
    operationId: getThing
    parameters:
    - {name: id, in: path, value: $steps.s1.outputs.zero}
"#,
    );
    let doc_text = std::fs::read_to_string(&doc)
        .unwrap()
        .replace("workflows:\n", "x-generated-by: test\nworkflows:\n");
    std::fs::write(&doc, doc_text).unwrap();
    let echo = Echo::start();
    echo.reply(Reply::json(200, &json!({"items": [{"n": 42}, {"n": 0}]})));
    let out = run_api(&doc, "w", &echo, &[]);
    out.assert_code(0);
    let lines: Vec<String> = echo.requests().iter().map(|r| r.line()).collect();
    assert_eq!(lines, ["GET /status", "GET /things/42", "GET /things/0"]);
}

#[test]
fn an_operation_path_to_a_missing_operation_is_refused() {
    let (_case, doc) = two_sources(
        r#"  - stepId: s
    operationPath: '{$sourceDescriptions.a.url}#/paths/~1nothing/get'
"#,
    );
    let (a, b) = (Echo::start(), Echo::start());
    let out = run_two(&doc, &a, &b);
    out.assert_code(3);
    out.assert_stderr_has("/nothing");
    assert!(a.requests().is_empty() && b.requests().is_empty());
}

#[test]
fn a_redirect_to_another_origin_drops_api_key_headers_and_cookies() {
    let case = Case::new();
    case.write(
        "api.yaml",
        r#"openapi: 3.0.3
info: {title: keyed, version: "1"}
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
    session: {type: apiKey, in: cookie, name: sid}
paths:
  /things:
    post:
      operationId: createThing
      responses: {"200": {description: ok}}
"#,
    );
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(
            r#"- workflowId: w
  inputs: {type: object, properties: {key: {type: string}}}
  steps:
  - stepId: s
    operationId: createThing
    parameters:
    - {name: X-Api-Key, in: header, value: $inputs.key}
    - {name: sid, in: cookie, value: "s-{$inputs.key}"}
    - {name: X-Echo, in: header, value: "k={$inputs.key}"}
    - {name: X-Plain, in: header, value: kept}
    requestBody: {payload: {a: 1}}
"#,
        ),
    );
    let a = Echo::start();
    let b = Echo::start();
    a.reply_on(
        "POST /things",
        Reply::new(307).header("location", &b.url("/moved")),
    );
    let out = run_api(&doc, "w", &a, &["-i", "key=k3y-secret"]);
    out.assert_code(0);
    let sent = a.requests();
    assert_eq!(sent[0].header("x-api-key"), Some("k3y-secret"));
    let moved = b.requests();
    assert_eq!(moved.len(), 1);
    // 307 keeps the method and the body, but no credential crosses the origin.
    assert_eq!(moved[0].line(), "POST /moved");
    assert_eq!(moved[0].body, "{\"a\":1}");
    assert_eq!(moved[0].header("x-api-key"), None);
    assert_eq!(moved[0].header("cookie"), None);
    assert_eq!(
        moved[0].header("x-echo"),
        None,
        "a header holding the secret is dropped"
    );
    assert_eq!(moved[0].header("x-plain"), Some("kept"));
    assert!(!out.stdout.contains("k3y-secret") && !out.stderr.contains("k3y-secret"));
}

#[test]
fn max_response_size_is_a_flag() {
    let (_case, doc) = Case::with_api(SIMPLE_WF);
    let echo = Echo::start();
    echo.reply(Reply::text(200, "text/plain", &"x".repeat(2048)));
    let out = run_api(&doc, "w", &echo, &["--max-response-size", "1KiB"]);
    out.assert_code(1);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "response");
    assert!(report["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--max-response-size"));
    echo.reply(Reply::text(200, "text/plain", &"x".repeat(2048)));
    let out = run_api(&doc, "w", &echo, &["--max-response-size", "4KiB"]);
    out.assert_code(0);
    let out = run_api(&doc, "w", &echo, &["--max-response-size", "ten"]);
    out.assert_code(2);
    assert!(out.stderr.contains("not a size"), "{}", out.stderr);
}

#[test]
fn a_body_holding_a_secret_is_not_replayed_to_another_origin() {
    let case = Case::new();
    case.write(
        "api.yaml",
        r#"openapi: 3.0.3
info: {title: login, version: "1"}
paths:
  /login:
    post:
      operationId: login
      responses: {"200": {description: ok}}
"#,
    );
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(
            r#"- workflowId: w
  inputs: {type: object, properties: {pw: {type: string, format: password}}}
  steps:
  - stepId: s
    operationId: login
    requestBody: {payload: {user: alice, password: $inputs.pw}}
"#,
        ),
    );
    let a = Echo::start();
    let b = Echo::start();
    a.reply_on(
        "POST /login",
        Reply::new(307).header("location", &b.url("/collect")),
    );
    let out = run_api(&doc, "w", &a, &["-i", "pw=HUNTER2PW"]);
    out.assert_code(1);
    assert!(
        b.requests().is_empty(),
        "the password went to another origin"
    );
    let report = out.json();
    assert_eq!(report["error"]["kind"], "response");
    assert!(report["error"]["message"]
        .as_str()
        .unwrap()
        .contains("holds a secret"));
    assert!(!out.stdout.contains("HUNTER2PW") && !out.stderr.contains("HUNTER2PW"));
}

/// A description with no security scheme for the key: the parameter's name
/// alone (`X-API-Key`) makes its value a secret.
#[test]
fn a_credential_named_parameter_is_secret_without_a_security_scheme() {
    let case = Case::new();
    case.write(
        "api.yaml",
        r#"openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a:
    get:
      operationId: getA
      parameters: [{name: X-API-Key, in: header, schema: {type: string}}]
      responses: {"200": {description: ok}}
"#,
    );
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(
            r#"- workflowId: w
  inputs: {type: object, properties: {key: {type: string}}}
  steps:
  - stepId: s
    operationId: getA
    parameters: [{name: X-API-Key, in: header, value: $inputs.key}]
"#,
        ),
    );
    let echo = Echo::start();
    let trace = case.dir.path().join("trace.json");
    let key = "plain-input-key-93xQ";
    let out = run_api(
        &doc,
        "w",
        &echo,
        &[
            "-i",
            &format!("key={key}"),
            "-vv",
            "--trace",
            trace.to_str().unwrap(),
        ],
    );
    out.assert_code(0);
    assert_eq!(echo.requests()[0].header("x-api-key"), Some(key));
    out.assert_no(key);
    let t = std::fs::read_to_string(&trace).unwrap();
    assert!(!t.contains(key), "{t}");
}

/// A security scheme that cannot be read would hide which parameter carries
/// the key: the run is refused rather than risk printing it.
#[test]
fn an_unreadable_security_scheme_refuses_the_run() {
    let case = Case::new();
    case.write(
        "api.yaml",
        r#"openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a:
    get:
      operationId: getA
      parameters: [{name: X-Key, in: header, schema: {type: string}}]
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    k: {$ref: "missing.yaml#/components/securitySchemes/k"}
"#,
    );
    let doc = case.write(
        "wf.yaml",
        &arazzo_doc(
            r#"- workflowId: w
  inputs: {type: object, properties: {key: {type: string}}}
  steps:
  - stepId: s
    operationId: getA
    parameters: [{name: X-Key, in: header, value: $inputs.key}]
"#,
        ),
    );
    let echo = Echo::start();
    let key = "scheme-less-key-77aa";
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url()), "-vv"])
            .env("ARAZZO_INPUT_KEY", key),
    );
    out.assert_code(3);
    out.assert_stderr_has("security scheme `k` cannot be read");
    out.assert_no(key);
    assert!(echo.requests().is_empty());
}

/// `run` refuses what `validate` refuses: a misspelled field would otherwise be
/// ignored (here the success criteria), and two workflows with one id would run
/// whichever came first.
#[test]
fn run_refuses_a_document_with_unknown_fields_or_duplicate_workflow_ids() {
    let (_case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
    succesCriteria: [{condition: $statusCode == 201}]
- workflowId: w
  steps:
  - stepId: t
    operationId: getStatus
"#,
    );
    let echo = Echo::start();
    let out = refused(&doc, &echo, &[]);
    out.assert_stderr_has("unknown field `succesCriteria`");
    out.assert_stderr_has("two workflows have the workflowId `w`");
    out.assert_stderr_has("arazzo validate");
}

/// A retried step's exchanges say which attempt sent them: the trace names
/// attempt 1 for the refused request and attempt 2 for the one that passed.
#[test]
fn a_trace_numbers_the_attempts_of_a_retried_step() {
    let (case, doc) = Case::with_api(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: getStatus
    successCriteria: [{condition: $statusCode == 200}]
    onFailure: [{name: again, type: retry, retryAfter: 0, retryLimit: 2}]
"#,
    );
    let echo = Echo::start();
    echo.reply_on("/status", Reply::new(503));
    echo.reply_on("/status", Reply::new(200));
    let trace = case.dir.path().join("trace.json");
    let out = run_api(&doc, "w", &echo, &["--trace", trace.to_str().unwrap()]);
    out.assert_code(0);
    assert_eq!(out.json()["steps"][0]["attempts"], 2, "{}", out.stdout);
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let exchanges = t["exchanges"].as_array().or_else(|| t.as_array()).unwrap();
    let seen: Vec<(u64, u64)> = exchanges
        .iter()
        .map(|e| {
            (
                e["attempt"].as_u64().unwrap(),
                e["response"]["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(seen, [(1, 503), (2, 200)], "{t}");
}
