//! Arazzo 1.1 Selector Objects, Expression Type Objects, `targetSelectorType`
//! and version-specific XPath: the `arazzo` binary runs 1.1 documents written
//! by each test against `support::echo`, and the tests check what the run
//! reports and what the server received.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::cli::{arazzo, exec, Out};
use support::echo::{Echo, Reply};
use support::workspace::Workspace;

const API: &str = r#"openapi: 3.0.3
info: {title: selectors, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
paths:
  /data:
    get:
      operationId: getData
      responses: {"200": {description: ok}}
  /xml:
    get:
      operationId: getXml
      responses: {"200": {description: ok}}
  /items/{id}:
    get:
      operationId: getItem
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: q, in: query, schema: {type: string}}
      responses: {"200": {description: ok}}
  /orders:
    post:
      operationId: createOrder
      requestBody:
        content:
          application/json:
            schema: {type: object}
      responses: {"200": {description: ok}}
  /soap:
    post:
      operationId: postXml
      requestBody:
        content:
          application/xml:
            schema: {type: string}
      responses: {"200": {description: ok}}
"#;

const DATA: &str = r#"{"user": {"id": 7, "email": "ada@example.com"},
  "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}, {"sku": "A", "qty": 3}]}"#;

const XML: &str = r#"<?xml version="1.0"?>
<Invoice xmlns:m="urn:meta">
  <Header><InvoiceNumber>INV-42</InvoiceNumber><m:Ref>r1</m:Ref></Header>
  <Lines><Line sku="a">apple</Line><Line sku="b">pear</Line></Lines>
  <Total>10</Total>
</Invoice>"#;

/// `api.yaml` and a document of `version` with the given `workflows:`.
fn case(version: &str, workflows: &str) -> (Workspace, PathBuf) {
    Workspace::with_api(version, "selectors", API, workflows)
}

fn run(doc: &Path, wf: &str, echo: &Echo) -> Out {
    exec(
        arazzo()
            .args(["run", wf, "-f"])
            .arg(doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(["-o", "json"]),
    )
}

fn serving() -> Echo {
    let echo = Echo::start();
    for _ in 0..4 {
        echo.reply_on(
            "/data",
            Reply::json(200, &serde_json::from_str(DATA).unwrap()),
        );
        echo.reply_on("/xml", Reply::text(200, "application/xml", XML));
    }
    echo
}

fn outputs(out: &Out) -> Value {
    out.json()["outputs"].clone()
}

// Selector Object: "context … MUST evaluate to structured data (e.g.,
// `$response.body`)"; selector "in the form of JSONPath expression, XPath
// expression, or JSON Pointer expression". Step `outputs`: "Map[string,
// {expression} | Selector Object]".
#[test]
fn selectors_in_step_outputs_of_every_type() {
    let (_case, doc) = case(
        "1.1.0",
        r#"- workflowId: w
  steps:
  - stepId: data
    operationId: getData
    outputs:
      email: {context: $response.body, selector: $.user.email, type: jsonpath}
      qtys: {context: $response.body, selector: "$.items[?@.sku == 'A'].qty", type: jsonpath}
      id: {context: $response.body, selector: /user/id, type: jsonpointer}
      old: {context: $response.body, selector: "$.user.id", type: {type: jsonpath, version: draft-goessner-dispatch-jsonpath-00}}
  - stepId: xml
    operationId: getXml
    outputs:
      number: {context: $response.body, selector: /Invoice/Header/InvoiceNumber, type: xpath}
      joined: {context: $response.body, selector: "string-join(//Line, '+')", type: xpath}
      upper: {context: $response.body, selector: "upper-case(//Line[@sku='b'])", type: {type: xpath, version: xpath-31}}
      v20: {context: $response.body, selector: "for $l in //Line return string($l/@sku)", type: {type: xpath, version: xpath-20}}
      v30: {context: $response.body, selector: "//Line ! upper-case(.) => string-join('|')", type: {type: xpath, version: xpath-31}}
      let30: {context: $response.body, selector: "let $n := count(//Line) return $n * 2", type: {type: xpath, version: xpath-30}}
      ref: {context: $response.body, selector: //m:Ref, type: xpath}
      total: {context: $response.body, selector: "number(/Invoice/Total) + 1", type: xpath}
  outputs:
    email: $steps.data.outputs.email
    qtys: $steps.data.outputs.qtys
    id: $steps.data.outputs.id
    old: $steps.data.outputs.old
    number: $steps.xml.outputs.number
    joined: $steps.xml.outputs.joined
    upper: $steps.xml.outputs.upper
    v20: $steps.xml.outputs.v20
    v30: $steps.xml.outputs.v30
    let30: $steps.xml.outputs.let30
    ref: $steps.xml.outputs.ref
    total: $steps.xml.outputs.total
"#,
    );
    let echo = serving();
    let out = run(&doc, "w", &echo);
    out.assert_code(0);
    assert_eq!(
        outputs(&out),
        json!({
            "email": "ada@example.com",
            "qtys": [1, 3],
            "id": 7,
            "old": 7,
            "number": "INV-42",
            "joined": "apple+pear",
            "upper": "PEAR",
            "v20": ["a", "b"],
            "v30": "APPLE|PEAR",
            "let30": 4,
            "ref": "r1",
            "total": 11
        }),
        "{}",
        out.context()
    );
}

// Workflow `outputs`: "A map between a friendly name and a dynamic output
// value defined using a Runtime Expression or Selector Object."
#[test]
fn selector_in_workflow_outputs() {
    let (_case, doc) = case(
        "1.1.0",
        r#"- workflowId: w
  steps:
  - stepId: data
    operationId: getData
    outputs:
      body: $response.body
  outputs:
    second: {context: $steps.data.outputs.body, selector: "$.items[1].sku", type: jsonpath}
    missing: {context: $steps.data.outputs.body, selector: /nope, type: jsonpointer}
"#,
    );
    let echo = serving();
    let out = run(&doc, "w", &echo);
    out.assert_code(0);
    // A selector that selects nothing is undefined, which a succeeded
    // workflow reports as null (as it does a runtime expression).
    assert_eq!(outputs(&out), json!({"second": "B", "missing": null}));
}

// Parameter `value`: "Any | {expression} | Selector Object … to be
// evaluated and passed to the referenced operation".
#[test]
fn selector_in_a_parameter_value_is_sent() {
    let (_case, doc) = case(
        "1.1.0",
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      doc: {type: string}
      data: {type: object}
  steps:
  - stepId: item
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: {context: $inputs.data, selector: /user/id, type: jsonpointer}
    - name: q
      in: query
      value: {context: $inputs.doc, selector: "/r/v", type: {type: xpath, version: xpath-10}}
"#,
    );
    let echo = serving();
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(["-o", "json", "-i", "doc=<r><v>hello</v></r>"])
            .args(["-i", r#"data={"user": {"id": "u-9"}}"#]),
    );
    out.assert_code(0);
    let sent = echo
        .api_requests()
        .into_iter()
        .find(|r| r.path.starts_with("/items/"))
        .expect("the item request");
    assert_eq!(sent.path, "/items/u-9", "{}", out.context());
    assert_eq!(
        sent.query_pairs(),
        vec![("q".to_string(), "hello".to_string())]
    );
}

// Request Body `payload`: "can contain Runtime Expressions or Selector
// Objects which MUST be evaluated prior to calling the referenced operation";
// Payload Replacement `value`: "a constant, a Runtime Expression, or
// Selector Objects".
#[test]
fn selectors_in_a_payload_and_in_a_replacement_value() {
    let (_case, doc) = case(
        "1.1.0",
        r#"- workflowId: w
  steps:
  - stepId: fetchXml
    operationId: getXml
    outputs:
      invoiceXml: $response.body
  - stepId: order
    operationId: createOrder
    requestBody:
      contentType: application/json
      payload:
        invoiceId:
          context: $steps.fetchXml.outputs.invoiceXml
          selector: /Invoice/Header/InvoiceNumber
          type: {type: xpath, version: xpath-30}
        lines: [{first: {context: $steps.fetchXml.outputs.invoiceXml, selector: "(//Line)[1]", type: xpath}}]
        quantity: 0
      replacements:
      - target: /quantity
        value: {context: $steps.fetchXml.outputs.invoiceXml, selector: "count(//Line)", type: xpath}
"#,
    );
    let echo = serving();
    let out = run(&doc, "w", &echo);
    out.assert_code(0);
    let sent = echo
        .api_requests()
        .into_iter()
        .find(|r| r.path == "/orders")
        .expect("the order");
    assert_eq!(
        sent.json(),
        json!({"invoiceId": "INV-42", "lines": [{"first": "apple"}], "quantity": 2})
    );
}

// Payload Replacement `targetSelectorType`: "If `jsonpath`, then the `target`
// expression MUST conform to JSONPath" — every location it selects is set.
#[test]
fn jsonpath_replacement_target_sets_every_location() {
    let (_case, doc) = case(
        "1.1.0",
        r#"- workflowId: w
  steps:
  - stepId: order
    operationId: createOrder
    requestBody:
      contentType: application/json
      payload:
        items: [{sku: ABC123, quantity: 1}, {sku: X, quantity: 1}, {sku: ABC123, quantity: 5}]
      replacements:
      - target: "$.items[?(@.sku=='ABC123')].quantity"
        targetSelectorType: jsonpath
        value: 9
      - target: /items/1/sku
        targetSelectorType: {type: jsonpointer, version: rfc6901}
        value: Y
"#,
    );
    let echo = serving();
    let out = run(&doc, "w", &echo);
    out.assert_code(0);
    let sent = &echo.api_requests()[0];
    assert_eq!(
        sent.json(),
        json!({"items": [{"sku": "ABC123", "quantity": 9}, {"sku": "Y", "quantity": 1}, {"sku": "ABC123", "quantity": 9}]})
    );
}

// "none matched → the step fails": a JSONPath target that selects nothing
// would silently drop the value.
#[test]
fn jsonpath_replacement_target_that_selects_nothing_fails_the_step() {
    let (_case, doc) = case(
        "1.1.0",
        r#"- workflowId: w
  steps:
  - stepId: order
    operationId: createOrder
    requestBody:
      contentType: application/json
      payload: {items: []}
      replacements:
      - target: "$.items[*].quantity"
        targetSelectorType: jsonpath
        value: 9
"#,
    );
    let echo = serving();
    let out = run(&doc, "w", &echo);
    assert_ne!(out.code, 0, "{}", out.context());
    assert!(
        out.all().contains("`$.items[*].quantity` selects nothing"),
        "{}",
        out.context()
    );
    assert!(echo.api_requests().is_empty());
}

// XML payloads: "`target` MUST be interpreted as XPath Expression if the
// payload is `application/xml`" (XPath 3.1 by default; `xpath-10` on request).
#[test]
fn xpath_replacement_targets_in_both_engines() {
    let (_case, doc) = case(
        "1.1.0",
        r#"- workflowId: w
  steps:
  - stepId: soap
    operationId: postXml
    requestBody:
      contentType: application/xml
      payload: "<Envelope><Header><CustomerId>0</CustomerId></Header><Item n='1'/><Item n='2'/></Envelope>"
      replacements:
      - target: /Envelope/Header/CustomerId
        value: C-1
      - target: "//Item[@n = '2']/@n"
        targetSelectorType: {type: xpath, version: xpath-10}
        value: two
      - target: "//Item[1]/@n"
        targetSelectorType: {type: xpath, version: xpath-30}
        value: {context: $inputs.n, selector: "upper-case(.)", type: xpath}
  inputs:
    type: object
    properties:
      n: {type: string}
"#,
    );
    let echo = serving();
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(["-o", "json", "-i", "n=<v>one</v>"]),
    );
    out.assert_code(0);
    let body = &echo.api_requests()[0].body;
    assert!(body.contains("<CustomerId>C-1</CustomerId>"), "{body}");
    assert!(body.contains("n=\"two\""), "{body}");
    assert!(body.contains("n=\"ONE\""), "{body}");
}

// Criterion Object: "If `xpath` the expression MUST conform to XML Path
// Language 3.1"; Expression Type Object: "implementations MUST apply the
// semantics defined in that version's specification", EBV per version.
#[test]
fn xpath_criteria_follow_their_version() {
    let criteria = |ty: &str| {
        format!(
            r#"- workflowId: w
  steps:
  - stepId: xml
    operationId: getXml
    successCriteria:
    - context: $response.body
      type: {ty}
      condition: "'10' > '9'"
"#
        )
    };
    // XPath 3.1 compares two strings as strings: '10' < '9'.
    let (_case, doc) = case("1.1.0", &criteria("xpath"));
    let out = run(&doc, "w", &serving());
    assert_ne!(out.code, 0, "{}", out.context());
    // XPath 1.0 compares them as numbers: 10 > 9.
    let (_case, doc) = case("1.1.0", &criteria("{type: xpath, version: xpath-10}"));
    run(&doc, "w", &serving()).assert_code(0);
    // A 1.0.1 document's default is XPath 3.1 too (1.0.1: "If `xpath` the
    // expression MUST conform to XML Path Language 3.1").
    let (_case, doc) = case("1.0.1", &criteria("xpath"));
    assert_ne!(run(&doc, "w", &serving()).code, 0);
    let (_case, doc) = case("1.0.1", &criteria("{type: xpath, version: xpath-10}"));
    run(&doc, "w", &serving()).assert_code(0);
}

// EBV: 3.1 §2.4.3 — a sequence of two or more atomic values has no
// effective boolean value (FORG0006), which fails the criterion with the
// reason; XPath 1.0's boolean() of a node-set is its non-emptiness.
#[test]
fn effective_boolean_value_differs_by_version() {
    let doc_with = |version: &str, condition: &str, ty: &str| {
        case(
            version,
            &format!(
                r#"- workflowId: w
  steps:
  - stepId: xml
    operationId: getXml
    successCriteria:
    - context: $response.body
      type: {ty}
      condition: "{condition}"
"#
            ),
        )
    };
    let (_c, doc) = doc_with("1.1.0", "//Line/string()", "xpath");
    let out = run(&doc, "w", &serving());
    assert_ne!(out.code, 0);
    assert!(out.all().contains("FORG0006"), "{}", out.context());
    let (_c, doc) = doc_with("1.1.0", "//Line", "xpath");
    run(&doc, "w", &serving()).assert_code(0);
    let (_c, doc) = doc_with(
        "1.1.0",
        "upper-case(/Invoice/Total) = '10'",
        "{type: xpath, version: xpath-20}",
    );
    run(&doc, "w", &serving()).assert_code(0);
    // 1.0: a number is true unless 0 or NaN; a node-set unless empty.
    let (_c, doc) = doc_with(
        "1.1.0",
        "count(//Missing)",
        "{type: xpath, version: xpath-10}",
    );
    assert_ne!(run(&doc, "w", &serving()).code, 0);
    let (_c, doc) = doc_with("1.1.0", "//Line", "{type: xpath, version: xpath-10}");
    run(&doc, "w", &serving()).assert_code(0);
}

// A selector that selects nothing in a request value: the request is not
// sent, and the message names the selector.
#[test]
fn a_selector_that_selects_nothing_stops_the_request_with_its_name() {
    let (_case, doc) = case(
        "1.1.0",
        r#"- workflowId: w
  steps:
  - stepId: data
    operationId: getData
    outputs:
      body: $response.body
  - stepId: item
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: {context: $steps.data.outputs.body, selector: "$.user.phone", type: jsonpath}
"#,
    );
    let echo = serving();
    let out = run(&doc, "w", &echo);
    assert_ne!(out.code, 0);
    assert!(
        out.all().contains("jsonpath selector `$.user.phone`")
            && out.all().contains("selects nothing"),
        "{}",
        out.context()
    );
    assert!(!echo
        .api_requests()
        .iter()
        .any(|r| r.path.starts_with("/items")));
}

/// `arazzo validate FILE` (human output).
fn validate(doc: &Path) -> Out {
    exec(arazzo().arg("validate").arg(doc))
}

// Selector Object `type`: "The selector expression type to use (e.g.,
// `jsonpath`, `xpath`, or `jsonpointer`)"; Expression Type Object `version`:
// "The allowed values for XPath are `xpath-30`, `xpath-20`, or `xpath-10`" (and
// `xpath-31`); criterion types are `simple`, `regex`, `jsonpath`, `xpath`.
#[test]
fn bad_selectors_are_compile_errors_at_their_line() {
    let (_case, doc) = case(
        "1.1.0",
        r#"- workflowId: w
  steps:
  - stepId: data
    operationId: createOrder
    requestBody:
      payload:
        a:
          context: $response.body
          selector: "$.items[?"
          type: jsonpath
        b:
          context: $response.body
          selector: /x
          type: {type: xpath, version: xpath-40}
      replacements:
      - target: "$.a"
        targetSelectorType: xpath
        value: 1
    successCriteria:
    - context: $response.body
      condition: /a
      type: {type: jsonpointer, version: rfc6901}
"#,
    );
    let out = validate(&doc);
    assert_ne!(out.code, 0);
    let all = out.all();
    for (needle, line) in [
        ("invalid JSONPath expression `$.items[?`", 18),
        ("unsupported xpath version `xpath-40`", 23),
        ("an `xpath` target needs an XML payload", 26),
        ("a criterion cannot use `jsonpointer`", 31),
    ] {
        assert!(all.contains(needle), "{needle}\n{all}");
        assert!(
            all.contains(&format!("wf.arazzo.yaml:{line}:")),
            "{needle} at line {line}\n{all}"
        );
    }
}

// Hostile XML: the limits of depth and size hold for the XPath 3.1 engine
// (a 100,000-deep document and a 10 MB text are refused quickly).
#[test]
fn hostile_xml_is_refused_quickly_by_the_xpath_31_engine() {
    let (_case, doc) = case(
        "1.1.0",
        r#"- workflowId: w
  steps:
  - stepId: xml
    operationId: getXml
    outputs:
      v: {context: $response.body, selector: "count(//a)", type: xpath}
    successCriteria:
    - context: $response.body
      type: xpath
      condition: "count(//a) > 0"
"#,
    );
    let echo = Echo::start();
    let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
    echo.reply_on("/xml", Reply::text(200, "application/xml", &deep));
    let started = Instant::now();
    let out = run(&doc, "w", &echo);
    assert_ne!(out.code, 0);
    assert!(
        out.all().contains("more than 256 levels"),
        "{}",
        out.context()
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    let echo = Echo::start();
    let wide = format!("<r>{}</r>", "x".repeat(10 * 1024 * 1024));
    echo.reply_on("/xml", Reply::text(200, "application/xml", &wide));
    let started = Instant::now();
    let out = run(&doc, "w", &echo);
    // A large text node is within the limits: it is read, and counts nothing.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{}",
        out.context()
    );
}

/// Hostile XPath: an expression whose work has no bound (400 million
/// iterations) is abandoned after the engine's 10 s, the step failing with the
/// reason, instead of holding the run (and its signals) forever.
#[test]
fn an_endless_xpath_evaluation_is_abandoned() {
    let wf = r#"- workflowId: x
  steps:
  - stepId: a
    operationId: getXml
    successCriteria:
    - context: $response.body
      condition: "count(for $i in 1 to 20000, $j in 1 to 20000 return 1) > 0"
      type: xpath
"#;
    let (_case, doc) = case("1.1.0", wf);
    let echo = Echo::start();
    echo.reply(Reply::text(200, "application/xml", "<r><a>1</a></r>"));
    let out = run(&doc, "x", &echo);
    out.assert_code(1);
    assert!(
        out.stdout
            .contains("took longer than 10 s and was abandoned"),
        "{}",
        out.context()
    );
}
