//! Arazzo 1.1 `in: querystring` parameters and OpenAPI 3.2 sources (the
//! `query` method, `additionalOperations`), through the binary against a
//! recording server: what the server received, what `validate` says and
//! where, and what a dry run shows.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::cli::{arazzo, exec, Out};
use support::echo::Echo;
use support::workspace::Workspace;

/// An OpenAPI 3.2 description: querystring parameters in each media type,
/// an operation with an ordinary query parameter, one with none, a `query`
/// method and an `additionalOperations` method.
const API: &str = r#"openapi: 3.2.0
info: {title: QS, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
paths:
  /search:
    get:
      operationId: searchForm
      parameters:
        - name: searchParams
          in: querystring
          content:
            application/x-www-form-urlencoded:
              schema:
                type: object
                properties:
                  limit: {type: integer}
      responses: {"200": {description: ok}}
  /filter:
    get:
      operationId: searchJson
      parameters:
        - name: filterParams
          in: querystring
          content:
            application/json:
              schema: {type: object}
      responses: {"200": {description: ok}}
  /plain:
    get:
      operationId: plainQuery
      parameters: [{name: q, in: query, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /bare:
    get:
      operationId: noQuerystring
      responses: {"200": {description: ok}}
  /docs/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    query:
      operationId: queryDocs
      requestBody:
        content:
          application/json:
            schema: {type: object}
      responses: {"200": {description: ok}}
    additionalOperations:
      COPY:
        operationId: copyDoc
        parameters: [{name: Destination, in: header, schema: {type: string}}]
        responses: {"200": {description: ok}}
"#;

/// A folder with `api.yaml` (the description above) and `wf.arazzo.yaml`
/// (an Arazzo 1.1.0 document whose `workflows:` are `workflows`).
fn case(workflows: &str) -> (Workspace, PathBuf) {
    Workspace::with_api("1.1.0", "querystring", API, workflows)
}

/// `arazzo run w -f <doc> --server api=<echo> -o json <extra>`.
fn run(doc: &Path, echo: &Echo, extra: &[&str]) -> Out {
    exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(["-o", "json"])
            .args(extra),
    )
}

/// `arazzo validate <doc>`.
fn validate(doc: &Path) -> Out {
    exec(arazzo().arg("validate").arg(doc))
}

/// The one request the server received, as `(method, path, raw query)`.
fn only_request(echo: &Echo) -> (String, String, String) {
    let reqs = echo.requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    let r = &reqs[0];
    (
        r.method.clone(),
        r.path.clone(),
        r.query.clone().unwrap_or_default(),
    )
}

fn decoded(query: &str) -> String {
    percent_encoding::percent_decode_str(query)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

// ---------------------------------------------------------------------------
// The spec's examples
// ---------------------------------------------------------------------------

// Arazzo 1.1.0, Parameter Object: "querystring - A parameter that treats the
// entire URL query string as a single value." Example "Querystring Example
// (application/x-www-form-urlencoded)": `value: "filter=active&sort=desc&limit=50"`.
#[test]
fn a_form_query_string_written_as_a_string_is_sent_as_written() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: searchForm
    parameters:
    - name: searchParams
      in: querystring
      value: "filter=active&sort=desc&limit=50"
"#,
    );
    let echo = Echo::start();
    let out = run(&doc, &echo, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (method, path, query) = only_request(&echo);
    assert_eq!((method.as_str(), path.as_str()), ("GET", "/search"));
    assert_eq!(query, "filter=active&sort=desc&limit=50");
}

// Arazzo 1.1.0, Parameter Object `value`: "For `querystring` parameters, the
// value MUST resolve to a string representing the complete query string …
// Runtime expressions can be embedded within the string value using `{}`
// notation." Example "Querystring with Runtime Expressions":
// `value: "category={$inputs.category}&minPrice={$inputs.minPrice}&inStock=true"`.
// Each embedded value is percent-encoded, so that `&` inside it cannot add a
// parameter; `$request.query.<name>` reads the pairs back, decoded.
#[test]
fn embedded_values_are_percent_encoded_and_cannot_add_parameters() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      category: {type: string}
      minPrice: {type: number}
  steps:
  - stepId: s
    operationId: searchForm
    parameters:
    - name: fullQuery
      in: querystring
      value: "category={$inputs.category}&minPrice={$inputs.minPrice}&inStock=true"
    outputs:
      category: $request.query.category
      inStock: $request.query.inStock
  outputs:
    category: $steps.s.outputs.category
    inStock: $steps.s.outputs.inStock
"#,
    );
    let echo = Echo::start();
    let out = run(
        &doc,
        &echo,
        &["-i", "category=books & toys=1", "-i", "minPrice=10"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, _, query) = only_request(&echo);
    assert_eq!(
        query,
        "category=books%20%26%20toys%3D1&minPrice=10&inStock=true"
    );
    let pairs = echo.requests()[0].query_pairs();
    assert_eq!(pairs.len(), 3, "{pairs:?}");
    assert_eq!(pairs[0], ("category".into(), "books & toys=1".into()));
    let report: Value = out.json();
    assert_eq!(
        report["outputs"],
        json!({"category": "books & toys=1", "inStock": "true"}),
        "{report:#}"
    );
}

// Arazzo 1.1.0, Parameter Object: "the value MUST match the media type format
// as expressed by the parameter's `content` field". Example "Querystring
// Example (application/json)":
// `value: '{"filter":"active","sort":"desc","limit":50}'`: the JSON text is the
// query string, percent-encoded whole.
#[test]
fn a_json_query_string_is_the_json_text_percent_encoded() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: searchJson
    parameters:
    - name: filterParams
      in: querystring
      value: '{"filter":"active","sort":"desc","limit":50}'
"#,
    );
    let echo = Echo::start();
    let out = run(&doc, &echo, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (_, path, query) = only_request(&echo);
    assert_eq!(path, "/filter");
    assert_eq!(
        query,
        "%7B%22filter%22%3A%22active%22%2C%22sort%22%3A%22desc%22%2C%22limit%22%3A50%7D"
    );
    assert_eq!(
        decoded(&query),
        r#"{"filter":"active","sort":"desc","limit":50}"#
    );
}

// Arazzo 1.1.0, Parameter Object `value`: "Runtime expressions can be embedded
// within the string value using `{}` notation", here in JSON text: an
// embedded string is escaped as inside a JSON string, so the text stays JSON;
// `$request.query.<parameter name>` is the value sent.
#[test]
fn a_string_embedded_in_json_text_is_escaped_as_json() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      name: {type: string}
      limit: {type: integer}
  steps:
  - stepId: s
    operationId: searchJson
    parameters:
    - name: filterParams
      in: querystring
      value: '{"name":"{$inputs.name}","limit":{$inputs.limit}}'
    outputs:
      sent: $request.query.filterParams
  outputs:
    sent: $steps.s.outputs.sent
"#,
    );
    let echo = Echo::start();
    let out = run(
        &doc,
        &echo,
        &["-i", r#"name=say "hi" & go"#, "-i", "limit=5"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = decoded(&only_request(&echo).2);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"name": "say \"hi\" & go", "limit": 5})
    );
    assert_eq!(out.json()["outputs"]["sent"], json!(text));
}

// Arazzo 1.1.0, Parameter Object Examples, "Query Example": `in: query` with
// `value: $inputs.username` still goes in as one pair of its own.
#[test]
fn an_ordinary_query_parameter_is_unchanged() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: plainQuery
    parameters:
    - name: q
      in: query
      value: "a&b c"
"#,
    );
    let echo = Echo::start();
    let out = run(&doc, &echo, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(only_request(&echo).2, "q=a%26b%20c");
}

// ---------------------------------------------------------------------------
// Values the spec leaves open
// ---------------------------------------------------------------------------

// Arazzo 1.1.0: "the value MUST match the media type format as expressed by
// the parameter's `content` field (e.g., `application/x-www-form-urlencoded`)".
// An object (written, or from an expression) is written in that media type:
// form pairs (an array repeating its key), or JSON text.
#[test]
fn an_object_value_is_written_in_the_declared_media_type() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      filters: {type: object}
  steps:
  - stepId: form
    operationId: searchForm
    parameters:
    - name: searchParams
      in: querystring
      value:
        filter: active
        tags: [a, "b c"]
        limit: 50
  - stepId: json
    operationId: searchJson
    parameters:
    - name: filterParams
      in: querystring
      value: $inputs.filters
"#,
    );
    let echo = Echo::start();
    let out = run(
        &doc,
        &echo,
        &["-i", r#"filters={"sort": "desc", "n": [1, 2]}"#],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let reqs = echo.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_eq!(
        reqs[0].query.as_deref(),
        Some("filter=active&tags=a&tags=b%20c&limit=50")
    );
    let json_text = decoded(reqs[1].query.as_deref().unwrap());
    assert_eq!(
        serde_json::from_str::<Value>(&json_text).unwrap(),
        json!({"sort": "desc", "n": [1, 2]})
    );
}

// Arazzo 1.1.0 names `querystring` for operations "that define a querystring
// parameter". A step that gives one to an operation declaring none gets a
// warning from `validate`, and the string is sent as the query string.
#[test]
fn a_querystring_the_operation_does_not_declare_is_a_warning_and_sent_raw() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: noQuerystring
    parameters:
    - name: raw
      in: querystring
      value: "a=1&b=x y"
"#,
    );
    let v = validate(&doc);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    let text = format!("{}{}", v.stdout, v.stderr);
    assert!(text.contains("param/undeclared"), "{text}");
    assert!(text.contains("querystring parameter `raw`"), "{text}");
    let echo = Echo::start();
    let out = run(&doc, &echo, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(only_request(&echo).2, "a=1&b=x%20y");
}

// ---------------------------------------------------------------------------
// OpenAPI 3.2 sources
// ---------------------------------------------------------------------------

// Arazzo 1.1.0: "This parameter location was introduced in OpenAPI 3.2.0".
// A 3.2 Path Item's `additionalOperations` (methods sent as written) and its
// `query` method are operations like any other: found by operationId and by
// operationPath.
#[test]
fn openapi_32_additional_operations_and_the_query_method_are_called() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  steps:
  - stepId: byId
    operationId: copyDoc
    parameters:
    - {name: id, in: path, value: 7}
    - {name: Destination, in: header, value: /docs/8}
  - stepId: byPath
    operationPath: '{$sourceDescriptions.api.url}#/paths/~1docs~1{id}/additionalOperations/COPY'
    parameters:
    - {name: id, in: path, value: 9}
  - stepId: query
    operationPath: '{$sourceDescriptions.api.url}#/paths/~1docs~1{id}/query'
    parameters:
    - {name: id, in: path, value: 10}
    requestBody:
      payload: {match: all}
  - stepId: queryById
    operationId: queryDocs
    parameters:
    - {name: id, in: path, value: 11}
"#,
    );
    let echo = Echo::start();
    let out = run(&doc, &echo, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let seen: Vec<(String, String)> = echo
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("COPY", "/docs/7"),
        ("COPY", "/docs/9"),
        ("QUERY", "/docs/10"),
        ("QUERY", "/docs/11"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(seen, want);
    let reqs = echo.requests();
    assert_eq!(reqs[0].header("destination"), Some("/docs/8"));
    assert_eq!(reqs[2].json(), json!({"match": "all"}));
}

// ---------------------------------------------------------------------------
// Refused before the first request
// ---------------------------------------------------------------------------

// Arazzo 1.1.0: "The `querystring` location cannot coexist with `query`
// parameters in the same operation per OpenAPI constraints."
#[test]
fn querystring_beside_query_parameters_is_refused_at_its_line() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: searchForm
    parameters:
    - name: searchParams
      in: querystring
      value: "a=1"
    - name: extra
      in: query
      value: 2
  - stepId: t
    operationId: searchForm
    parameters:
    - name: limit
      in: query
      value: 2
"#,
    );
    let out = validate(&doc);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("param/querystring-with-query"), "{text}");
    assert!(
        text.contains("the querystring parameter `searchParams` is given together with `in: query` parameter `extra`"),
        "{text}"
    );
    assert!(text.contains("wf.arazzo.yaml:16:"), "{text}");
    assert!(
        text.contains("takes its whole query string as the querystring parameter `searchParams`"),
        "{text}"
    );
    assert!(text.contains("wf.arazzo.yaml:25:"), "{text}");
    let echo = Echo::start();
    let run_out = run(&doc, &echo, &[]);
    assert_ne!(run_out.code, 0);
    assert!(echo.requests().is_empty());
}

// OpenAPI 3.2 (Parameter Object, `in: "querystring"`): it "MUST NOT appear
// more than once"; Arazzo 1.1.0: "the entire URL query string as a single
// value".
#[test]
fn a_second_querystring_parameter_is_refused_at_its_line() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: searchForm
    parameters:
    - name: one
      in: querystring
      value: "a=1"
    - name: two
      in: querystring
      value: "b=2"
"#,
    );
    let out = validate(&doc);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("param/querystring-twice"), "{text}");
    assert!(
        text.contains(
            "parameter `two` is a second `in: querystring` parameter (`one` is the first)"
        ),
        "{text}"
    );
    assert!(text.contains("wf.arazzo.yaml:19:"), "{text}");
}

// Arazzo 1.1.0: "the value MUST match the media type format as expressed by
// the parameter's `content` field". Without a declared media type an object
// cannot be written; nor can an array as form pairs.
#[test]
fn an_object_without_a_media_type_to_write_it_in_is_refused_at_its_line() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: noQuerystring
    parameters:
    - name: raw
      in: querystring
      value:
        a: 1
  - stepId: t
    operationId: searchForm
    parameters:
    - name: searchParams
      in: querystring
      value: [a, b]
"#,
    );
    let out = validate(&doc);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("param/querystring-value"), "{text}");
    assert!(
        text.contains("`GET /bare` declares no querystring parameter whose media type says how to write an object or array"),
        "{text}"
    );
    assert!(text.contains("wf.arazzo.yaml:17:"), "{text}");
    assert!(text.contains("not an array"), "{text}");
    assert!(text.contains("wf.arazzo.yaml:24:"), "{text}");
}

// Arazzo 1.1.0, Parameter Object `in`: "When the step … specifies a
// `workflowId`, then all parameters map to workflow inputs": `in:
// querystring` there is ignored like any other `in`.
#[test]
fn in_querystring_on_a_workflow_step_is_an_input() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  steps:
  - stepId: call
    workflowId: child
    parameters:
    - name: q
      in: querystring
      value: "x=1&y=2"
- workflowId: child
  inputs:
    type: object
    properties:
      q: {type: string}
  steps:
  - stepId: s
    operationId: searchForm
    parameters:
    - name: searchParams
      in: querystring
      value: $inputs.q
"#,
    );
    let echo = Echo::start();
    let out = run(&doc, &echo, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(only_request(&echo).2, "x=1&y=2");
}

// ---------------------------------------------------------------------------
// Dry run
// ---------------------------------------------------------------------------

// Arazzo 1.1.0: the querystring is "the entire URL query string": the dry run
// shows the URL with it, values from inputs filled in and encoded.
#[test]
fn the_dry_run_shows_the_url_with_its_query_string() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      category: {type: string}
  steps:
  - stepId: s
    operationId: searchForm
    parameters:
    - name: fullQuery
      in: querystring
      value: "category={$inputs.category}&inStock=true"
"#,
    );
    let echo = Echo::start();
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(["--dry-run", "-i", "category=a b&c"]),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("/search?category=a%20b%26c&inStock=true"),
        "{text}"
    );
    assert!(echo.requests().is_empty());
}

// Arazzo 1.1.0: "the value MUST match the media type format as expressed by
// the parameter's `content` field". The pairs of a form query string are
// checked against the media type's schema before anything is sent.
#[test]
fn form_pairs_are_checked_against_the_content_schema_before_sending() {
    let (_dir, doc) = case(
        r#"- workflowId: w
  steps:
  - stepId: s
    operationId: searchForm
    parameters:
    - name: searchParams
      in: querystring
      value: "limit=many&sort=desc"
"#,
    );
    let echo = Echo::start();
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .arg("--dry-run"),
    );
    assert_ne!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(
            "querystring parameter `searchParams`/limit: expected a value of type integer"
        ),
        "{text}"
    );
    let ok = run(&doc, &echo, &[]);
    assert_ne!(ok.code, 0);
    assert!(echo.requests().is_empty());
}
