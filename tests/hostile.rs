//! Runs that survive hostile servers (issue 13): nothing lost, nothing silent,
//! nothing unbounded. Every test drives the `arazzo` binary against a server it
//! starts on 127.0.0.1 and checks what the user sees and what the server got.

mod support;

use std::path::{Path, PathBuf};

use serde_json::json;
use support::cli::{arazzo, exec, Out};
use support::composio::StandIn;
use support::echo::{Echo, Reply};

const KEY: &str = "sk_live_Zx81-secret-KEY";

/// A temporary folder with an OpenAPI description `api.yaml` and an Arazzo
/// document `wf.arazzo.yaml` whose source `api` is that description.
struct Case {
    _dir: tempfile::TempDir,
    doc: PathBuf,
}

impl Case {
    fn new(workflows: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("api.yaml"), API).unwrap();
        let doc = dir.path().join("wf.arazzo.yaml");
        std::fs::write(
            &doc,
            format!(
                "arazzo: 1.0.1\ninfo:\n  title: hostile\n  version: 1.0.0\nsourceDescriptions:\n- name: api\n  url: ./api.yaml\n  type: openapi\nworkflows:\n{workflows}"
            ),
        )
        .unwrap();
        Case { _dir: dir, doc }
    }

    /// `arazzo run <wf> -f <doc> --server api=<echo> -o json <extra>`.
    fn run(&self, wf: &str, echo: &Echo, extra: &[&str]) -> Out {
        run_doc(&self.doc, wf, echo, extra)
    }
}

fn run_doc(doc: &Path, wf: &str, echo: &Echo, extra: &[&str]) -> Out {
    exec(
        arazzo()
            .args(["run", wf, "-f"])
            .arg(doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(["-o", "json"])
            .args(extra),
    )
}

const API: &str = r#"openapi: 3.0.3
info:
  title: Hostile API
  version: "1"
servers:
  - url: http://127.0.0.1:1
paths:
  /items:
    post:
      operationId: createItem
      requestBody:
        content:
          application/json:
            schema: {type: object}
      responses:
        "201": {description: created}
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
      responses:
        "200": {description: ok}
  /labels/{id}:
    get:
      operationId: getLabel
      parameters:
        - name: id
          in: path
          required: true
          style: label
          schema: {type: string}
      responses:
        "200": {description: ok}
  /xml:
    get:
      operationId: getXml
      responses:
        "200": {description: ok}
"#;

fn error_of(out: &Out) -> (String, String, String) {
    let report = out.json();
    let e = &report["error"];
    (
        e["stepId"].as_str().unwrap_or_default().to_string(),
        e["kind"].as_str().unwrap_or_default().to_string(),
        e["message"].as_str().unwrap_or_default().to_string(),
    )
}

// ---------------------------------------------------------------------------
// Point 4: a request that needs a value that is not there is not sent.
// ---------------------------------------------------------------------------

#[test]
fn provisioning_stops_when_the_server_answers_201_without_the_auth_config_id() {
    let server = StandIn::start(KEY);
    // The auth config is "created", but the answer has no `auth_config.id`:
    // before, createServer was sent with `auth_config_ids: []`.
    server.fail_next(
        "/api/v3/auth_configs",
        201,
        json!({"auth_config": {"name": "x"}}),
    );
    let out = exec(&mut support::cli::provision(
        &server.base_url(),
        KEY,
        &["-o", "json"],
    ));
    out.assert_code(1);
    let (step, kind, msg) = error_of(&out);
    assert_eq!(
        (step.as_str(), kind.as_str()),
        ("createServer", "request"),
        "{msg}"
    );
    for part in [
        "`$steps.createAuthConfig.outputs.authConfigId` is undefined",
        "step `createAuthConfig` answered 201",
        "output `authConfigId` (`$response.body#/auth_config/id`) found nothing at `/auth_config/id`",
    ] {
        assert!(msg.contains(part), "`{part}` not in: {msg}");
    }
    out.assert_no(KEY);
    // Only the auth config request reached the server.
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(reqs[0].path.ends_with("/auth_configs"), "{reqs:?}");
}

#[test]
fn provisioning_stops_when_the_server_answers_201_without_the_server_id() {
    let server = StandIn::start(KEY);
    server.fail_next("/api/v3/mcp/servers", 201, json!({"name": "Linear Bot"}));
    let out = exec(&mut support::cli::provision(
        &server.base_url(),
        KEY,
        &["-o", "json"],
    ));
    out.assert_code(1);
    let (step, kind, msg) = error_of(&out);
    assert_eq!(
        (step.as_str(), kind.as_str()),
        ("getServer", "request"),
        "{msg}"
    );
    assert!(
        msg.contains("`$steps.createServer.outputs.serverId` is undefined: step `createServer` answered 201 but its output `serverId` (`$response.body#/id`) found nothing at `/id`"),
        "{msg}"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    for r in &reqs {
        assert!(!r.path.ends_with('/') && !r.path.contains("//"), "{r:?}");
    }
}

#[test]
fn a_missing_value_at_any_depth_of_a_payload_or_in_a_template_stops_the_request() {
    let case = Case::new(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      where: {type: string}
      opt: {type: string}
  steps:
  - stepId: first
    operationId: createItem
    requestBody:
      payload: {}
    successCriteria:
    - condition: $statusCode == 200
    outputs:
      id: $response.body#/data/id
  - stepId: second
    operationId: createItem
    requestBody:
      payload:
        optional: $inputs.opt
        label: "item {$inputs.opt}"
        deep:
          list:
          - ref: "$steps.first.outputs.id"
    successCriteria:
    - condition: $statusCode == 200
  - stepId: third
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: "x"
    - name: q
      in: query
      value: "id={$steps.first.outputs.id}"
"#,
    );
    let echo = Echo::start();
    // `data` exists but has no `id`.
    echo.reply_on("POST /items", Reply::json(200, &json!({"data": {}})));
    let out = case.run("w", &echo, &[]);
    out.assert_code(1);
    let (step, kind, msg) = error_of(&out);
    assert_eq!(
        (step.as_str(), kind.as_str()),
        ("second", "request"),
        "{msg}"
    );
    assert!(msg.contains("request body"), "{msg}");
    assert!(
        msg.contains("`$steps.first.outputs.id` is undefined: step `first` answered 200 but its output `id` (`$response.body#/data/id`) found nothing at `/data/id`"),
        "{msg}"
    );
    assert_eq!(echo.requests().len(), 1);

    // The same value in a `{$…}` template of a query parameter.
    let case = Case::new(
        r#"- workflowId: w
  steps:
  - stepId: first
    operationId: createItem
    outputs:
      id: $response.body#/id
  - stepId: third
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: "x"
    - name: q
      in: query
      value: "id={$steps.first.outputs.id}"
"#,
    );
    let echo = Echo::start();
    echo.reply_on("POST /items", Reply::json(200, &json!({"other": 1})));
    let out = case.run("w", &echo, &[]);
    out.assert_code(1);
    let (step, kind, msg) = error_of(&out);
    assert_eq!(
        (step.as_str(), kind.as_str()),
        ("third", "request"),
        "{msg}"
    );
    assert!(msg.contains("query parameter `q`"), "{msg}");
    assert!(msg.contains("found nothing at `/id`"), "{msg}");
    assert_eq!(echo.requests().len(), 1);
}

#[test]
fn only_an_optional_input_that_was_not_given_drops_its_field() {
    let case = Case::new(
        r#"- workflowId: w
  inputs:
    type: object
    properties:
      opt: {type: string}
      obj: {type: object}
  steps:
  - stepId: only
    operationId: createItem
    requestBody:
      payload:
        optional: $inputs.opt
        text: "[{$inputs.opt}]"
        inner: $inputs.obj#/a/b
"#,
    );
    let echo = Echo::start();
    // Not given at all: the member is left out and the template renders empty.
    let out = case.run("w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(echo.requests()[0].json(), json!({"text": "[]"}));

    // Given, but without `/a/b`: an error naming the pointer; nothing is sent.
    // Preflight finds it before the run (exit 2); without preflight the step
    // fails with kind `request`.
    let echo = Echo::start();
    let out = case.run("w", &echo, &["-i", r#"obj={"a": {"c": 1}}"#]);
    out.assert_code(2);
    out.assert_stderr_has("`$inputs.obj#/a/b` is undefined");
    let out = case.run(
        "w",
        &echo,
        &["-i", r#"obj={"a": {"c": 1}}"#, "--no-preflight"],
    );
    out.assert_code(1);
    let (_, kind, msg) = error_of(&out);
    assert_eq!(kind, "request", "{msg}");
    assert!(
        msg.contains("`$inputs.obj#/a/b` is undefined") && msg.contains("`/a/b`"),
        "{msg}"
    );
    assert!(echo.requests().is_empty());
    // A dry run of the same says so without sending anything.
    let out = case.run("w", &echo, &["-i", r#"obj={"a": {"c": 1}}"#, "--dry-run"]);
    out.assert_code(2);
    assert!(
        out.stdout.contains("`$inputs.obj#/a/b` is undefined"),
        "{}",
        out.stdout
    );
    assert!(echo.requests().is_empty());
}

// ---------------------------------------------------------------------------
// Point 4: a body that does not parse as its content type is an error to read.
// ---------------------------------------------------------------------------

fn body_case() -> Case {
    Case::new(
        r#"- workflowId: w
  steps:
  - stepId: first
    operationId: createItem
    successCriteria:
    - condition: $statusCode == 201
    outputs:
      id: $response.body#/id
  - stepId: second
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: $steps.first.outputs.id
- workflowId: crit
  steps:
  - stepId: first
    operationId: createItem
    successCriteria:
    - condition: $statusCode == 201
    - condition: $response.body#/ok == true
"#,
    )
}

#[test]
fn invalid_json_declared_as_json_fails_the_step_that_reads_it() {
    for (body, says) in [
        ("{\"id\": \"a1\",", "is cut off"),
        ("{id: a1}", "is not valid JSON"),
        ("<html><body>Bad gateway</body></html>", "is not valid JSON"),
    ] {
        let case = body_case();
        let echo = Echo::start();
        echo.reply_on("POST /items", Reply::text(201, "application/json", body));
        let out = case.run("w", &echo, &[]);
        out.assert_code(1);
        let (step, kind, msg) = error_of(&out);
        assert_eq!(
            (step.as_str(), kind.as_str()),
            ("first", "response"),
            "{msg}"
        );
        assert!(msg.contains("output `id` reads the response body"), "{msg}");
        assert!(
            msg.contains(says) && msg.contains("application/json"),
            "{msg}"
        );
        // The excerpt shows what came.
        assert!(msg.contains(&body[..8]), "{msg}");
        assert_eq!(echo.requests().len(), 1, "nothing sent after it");

        // In a criterion: it fails with that reason.
        let echo = Echo::start();
        echo.reply_on("POST /items", Reply::text(201, "application/json", body));
        let out = case.run("crit", &echo, &[]);
        out.assert_code(1);
        let (_, kind, msg) = error_of(&out);
        assert_eq!(kind, "criteria", "{msg}");
        assert!(
            msg.contains("successCriteria `$response.body#/ok == true` could not be evaluated (the response body"),
            "{msg}"
        );
        assert!(msg.contains(says), "{msg}");
    }
}

#[test]
fn html_where_json_is_declared_keeps_status_and_headers_readable() {
    let case = Case::new(
        r#"- workflowId: w
  steps:
  - stepId: first
    operationId: createItem
    successCriteria:
    - condition: $statusCode == 201
    - condition: $response.header.X-Id == 'h1'
    outputs:
      id: $response.header.X-Id
      code: $statusCode
  outputs:
    id: $steps.first.outputs.id
    code: $steps.first.outputs.code
"#,
    );
    let echo = Echo::start();
    echo.reply_on(
        "POST /items",
        Reply::text(201, "application/json", "<html>oops</html>").header("x-id", "h1"),
    );
    let out = case.run("w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(out.json()["outputs"], json!({"id": "h1", "code": 201}));
}

#[test]
fn text_and_untyped_bodies_stay_text() {
    let case = Case::new(
        r#"- workflowId: w
  steps:
  - stepId: first
    operationId: createItem
    successCriteria:
    - context: $response.body
      condition: "^hello"
      type: regex
    outputs:
      text: $response.body
  outputs:
    text: $steps.first.outputs.text
"#,
    );
    for reply in [
        Reply::text(200, "text/plain", "hello {not json"),
        Reply::new(200).body("hello {not json"),
        Reply::text(200, "application/xml", "hello {not json"),
    ] {
        let echo = Echo::start();
        echo.reply_on("POST /items", reply);
        let out = case.run("w", &echo, &[]);
        out.assert_code(0);
        assert_eq!(out.json()["outputs"]["text"], "hello {not json");
    }
}

// ---------------------------------------------------------------------------
// Point 5: path parameters that would climb out of their path.
// ---------------------------------------------------------------------------

#[test]
fn an_id_of_dot_or_dot_dot_is_never_sent_as_a_path_segment() {
    let case = Case::new(
        r#"- workflowId: w
  steps:
  - stepId: create
    operationId: createItem
    outputs:
      id: $response.body#/id
  - stepId: get
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: $steps.create.outputs.id
- workflowId: label
  steps:
  - stepId: create
    operationId: createItem
    outputs:
      id: $response.body#/id
  - stepId: get
    operationId: getLabel
    parameters:
    - name: id
      in: path
      value: $steps.create.outputs.id
"#,
    );
    for (wf, id) in [
        ("w", ".."),
        ("w", "."),
        ("w", "%2e%2E"),
        ("w", ".%2E"),
        ("w", "%2e"),
        ("w", "%252e%252e"),
        // The label style prefixes a `.`: the value `.` makes the segment `..`.
        ("label", "."),
        ("label", ""),
    ] {
        let echo = Echo::start();
        echo.reply_on("POST /items", Reply::json(201, &json!({"id": id})));
        let out = case.run(wf, &echo, &[]);
        out.assert_code(1);
        let (step, kind, msg) = error_of(&out);
        assert_eq!(
            (step.as_str(), kind.as_str()),
            ("get", "request"),
            "{id}: {msg}"
        );
        assert!(msg.contains("path parameter `id`"), "{msg}");
        assert!(msg.contains("arazzo does not send it"), "{msg}");
        let reqs = echo.requests();
        assert_eq!(reqs.len(), 1, "{id}: {reqs:?}");
    }
    // Dots inside a value are fine.
    let echo = Echo::start();
    echo.reply_on("POST /items", Reply::json(201, &json!({"id": "v1.2..3"})));
    let out = case.run("w", &echo, &[]);
    out.assert_code(0);
    assert_eq!(echo.requests()[1].path, "/items/v1.2..3");
}

#[test]
fn a_dot_dot_input_is_refused_by_preflight_and_the_dry_run() {
    let case = Case::new(
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
    let out = case.run("w", &echo, &["-i", "id=.."]);
    out.assert_code(2);
    out.assert_stderr_has("path parameter `id`");
    let out = case.run("w", &echo, &["-i", "id=..", "--no-preflight"]);
    out.assert_code(1);
    assert_eq!(error_of(&out).1, "request");
    assert!(echo.requests().is_empty());
}

// ---------------------------------------------------------------------------
// Point 5: redirects.
// ---------------------------------------------------------------------------

fn redirect_case() -> Case {
    Case::new(
        r#"- workflowId: w
  steps:
  - stepId: get
    operationId: getItem
    parameters:
    - name: id
      in: path
      value: a
"#,
    )
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_failing_redirect_names_its_host_and_every_hop_is_traced() {
    let case = redirect_case();
    let echo = Echo::start();
    let dead = closed_port();
    echo.reply_on(
        "GET /items/a",
        Reply::new(302).header("location", "/items/b"),
    );
    echo.reply_on(
        "GET /items/b",
        Reply::new(307).header("location", &format!("http://127.0.0.1:{dead}/gone")),
    );
    let trace = case._dir.path().join("trace.json");
    let out = case.run("w", &echo, &["--trace", trace.to_str().unwrap()]);
    out.assert_code(1);
    let (_, kind, msg) = error_of(&out);
    assert_eq!(kind, "transport", "{msg}");
    assert!(
        msg.contains(&format!("following a redirect (307) to 127.0.0.1:{dead}")),
        "{msg}"
    );
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let hops = &trace["exchanges"][0]["redirects"];
    assert_eq!(
        hops,
        &json!([
            {"status": 302, "location": "/items/b", "url": format!("{}/items/b", echo.base_url())},
            {"status": 307, "location": format!("http://127.0.0.1:{dead}/gone"),
             "url": format!("http://127.0.0.1:{dead}/gone")},
        ])
    );
    assert_eq!(echo.requests().len(), 2);

    // A redirect that ends well is traced too.
    let echo = Echo::start();
    echo.reply_on(
        "GET /items/a",
        Reply::new(301).header("location", "/items/c"),
    );
    let trace = case._dir.path().join("trace2.json");
    let out = case.run("w", &echo, &["--trace", trace.to_str().unwrap()]);
    out.assert_code(0);
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert_eq!(trace["exchanges"][0]["redirects"][0]["status"], 301);
    assert_eq!(trace["exchanges"][0]["response"]["status"], 200);
}

#[test]
fn redirects_to_link_local_addresses_are_refused() {
    let case = redirect_case();
    for target in [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.0.1:8080/",
        "http://[fe80::1]/",
        "http://[febf::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[64:ff9b::169.254.169.254]/",
        "http://2852039166/",
        "http://0xA9FEA9FE/",
        "http://0251.0376.0251.0376/",
        "http://169.254.43518/",
    ] {
        let echo = Echo::start();
        echo.reply_on("GET /items/a", Reply::new(302).header("location", target));
        // Should the refusal ever break, the request goes to the local server
        // acting as a proxy, never to the network.
        let out = exec(
            arazzo()
                .env("http_proxy", echo.base_url())
                .env("HTTP_PROXY", echo.base_url())
                .env_remove("NO_PROXY")
                .env_remove("no_proxy")
                .args(["run", "w", "-f"])
                .arg(&case.doc)
                .args(["--server", &format!("api={}", echo.base_url())])
                .args(["-o", "json", "-vv"]),
        );
        out.assert_code(1);
        let (_, kind, msg) = error_of(&out);
        assert_eq!(kind, "response", "{target}: {msg}");
        assert!(msg.contains("link-local address"), "{target}: {msg}");
        assert_eq!(echo.requests().len(), 1);
    }
}

// ---------------------------------------------------------------------------
// Point 5: deep and wide bodies, and criteria bounded by --max-duration.
// ---------------------------------------------------------------------------

fn criteria_case() -> Case {
    Case::new(
        r#"- workflowId: json
  steps:
  - stepId: get
    operationId: getXml
    successCriteria:
    - context: $response.body
      condition: $..x
      type: jsonpath
- workflowId: jsonout
  steps:
  - stepId: get
    operationId: getXml
    outputs:
      x: $response.body#/0
- workflowId: xpath
  steps:
  - stepId: get
    operationId: getXml
    successCriteria:
    - context: $response.body
      condition: count(//i) > 0
      type: xpath
- workflowId: slow
  steps:
  - stepId: get
    operationId: getXml
    successCriteria:
    - context: $response.body
      condition: count(//i[. = //i/following::i]) > 0
      type: xpath
"#,
    )
}

#[test]
fn a_20000_deep_json_body_fails_with_a_clear_message() {
    let case = criteria_case();
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    for wf in ["json", "jsonout"] {
        let echo = Echo::start();
        echo.reply_on("GET /xml", Reply::text(200, "application/json", &deep));
        let out = case.run(wf, &echo, &[]);
        out.assert_code(1);
        let (_, kind, msg) = error_of(&out);
        assert!(
            msg.contains("nested more than 128 levels deep"),
            "{wf}: {msg}"
        );
        assert_eq!(kind, if wf == "json" { "criteria" } else { "response" });
    }
    // Untyped, it stays text: a JSONPath on it parses it and says why it cannot.
    let echo = Echo::start();
    echo.reply_on("GET /xml", Reply::new(200).body(&deep));
    let out = case.run("json", &echo, &[]);
    out.assert_code(1);
    let (_, kind, msg) = error_of(&out);
    assert_eq!(kind, "criteria", "{msg}");
    assert!(msg.contains("recursion limit"), "{msg}");
}

#[test]
fn a_20000_deep_xml_body_fails_the_criterion_with_a_clear_message() {
    let case = criteria_case();
    let deep = format!("{}{}", "<i>".repeat(20_000), "</i>".repeat(20_000));
    let echo = Echo::start();
    echo.reply_on("GET /xml", Reply::text(200, "application/xml", &deep));
    let out = case.run("xpath", &echo, &[]);
    out.assert_code(1);
    let (_, kind, msg) = error_of(&out);
    assert_eq!(kind, "criteria", "{msg}");
    assert!(msg.contains("more than 256 levels deep"), "{msg}");
}

#[test]
fn an_8_mb_wide_xml_body_is_refused_or_evaluated() {
    let case = criteria_case();
    // 8 MB of tiny elements: more tags than the XPath engine is given.
    let wide = format!("<r>{}</r>", "<i>1</i>".repeat(1_000_000));
    let echo = Echo::start();
    echo.reply_on("GET /xml", Reply::text(200, "application/xml", &wide));
    let out = case.run("xpath", &echo, &[]);
    out.assert_code(1);
    let (_, kind, msg) = error_of(&out);
    assert_eq!(kind, "criteria", "{msg}");
    assert!(msg.contains("more than 200000 XML tags"), "{msg}");
    // 8 MB in fewer, larger elements is evaluated.
    let wide = format!(
        "<r>{}</r>",
        format!("<i>{}</i>", "x".repeat(100)).repeat(75_000)
    );
    let echo = Echo::start();
    echo.reply_on("GET /xml", Reply::text(200, "application/xml", &wide));
    let out = case.run("xpath", &echo, &[]);
    out.assert_code(0);
}

#[test]
fn a_criterion_that_would_run_for_ages_is_abandoned_at_max_duration() {
    let case = criteria_case();
    // Quadratic in the number of elements: hours, not milliseconds.
    let wide = format!("<r>{}</r>", "<i>1</i>".repeat(50_000));
    let echo = Echo::start();
    echo.reply_on("GET /xml", Reply::text(200, "application/xml", &wide));
    let out = case.run("slow", &echo, &["--max-duration", "2s"]);
    out.assert_code(1);
    let (_, kind, msg) = error_of(&out);
    assert_eq!(kind, "timeout", "{msg}");
    assert!(msg.contains("--max-duration"), "{msg}");
}

// ---------------------------------------------------------------------------
// Point 7: a key echoed back in every encoding is in no byte written.
// ---------------------------------------------------------------------------

const KEYED_API: &str = r#"openapi: 3.0.3
info: {title: Keyed, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
security: [{key: []}]
paths:
  /things:
    post:
      operationId: createThing
      parameters:
        - {name: X-Api-Key, in: header, required: true, schema: {type: string}}
      requestBody:
        content:
          application/json:
            schema: {type: object}
      responses:
        "201": {description: created}
"#;

const KEYED_DOC: &str = r#"arazzo: 1.0.1
info: {title: keyed, version: 1.0.0}
sourceDescriptions:
- {name: api, url: ./api.yaml, type: openapi}
workflows:
- workflowId: w
  inputs:
    type: object
    properties:
      apiKey: {type: string}
  steps:
  - stepId: create
    operationId: createThing
    parameters:
    - {name: X-Api-Key, in: header, value: $inputs.apiKey}
    requestBody:
      payload: {key: $inputs.apiKey}
    successCriteria:
    - condition: $statusCode == 201
    outputs:
      echoed: $response.body#/plain
  outputs:
    echoed: $steps.create.outputs.echoed
"#;

const SECRET_KEY: &str = "sk_live/Zx81+q=ab cd&e~f";

fn b64(bytes: &[u8], url_safe: bool, pad: bool) -> String {
    const STD: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(STD[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    if url_safe {
        out = out.replace('+', "-").replace('/', "_");
    }
    out
}

/// The key as a server may echo it: plain, percent-encoded (upper, lower and
/// mixed case, partially, as a form), JSON-escaped, and in base64 alone and as
/// HTTP Basic credentials, in both alphabets, padded or not.
fn encodings(key: &str) -> Vec<(&'static str, String)> {
    let pct = |lower: bool, keep: &str, plus: bool| {
        key.bytes()
            .map(|b| {
                let c = b as char;
                if c.is_ascii_alphanumeric() || keep.contains(c) {
                    c.to_string()
                } else if c == ' ' && plus {
                    "+".to_string()
                } else if lower {
                    format!("%{b:02x}")
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    // Escapes alternate between `%2F`, `%2f` and `%2F` again.
    let mixed: String = key
        .bytes()
        .enumerate()
        .map(|(i, b)| match (b.is_ascii_alphanumeric(), i % 2) {
            (true, _) => (b as char).to_string(),
            (false, 0) => format!("%{b:02x}"),
            (false, _) => format!("%{b:02X}"),
        })
        .collect();
    let json = serde_json::to_string(key).unwrap();
    let mut out = vec![
        ("plain", key.to_string()),
        ("percent upper", pct(false, "", false)),
        ("percent lower", pct(true, "", false)),
        ("percent mixed case", mixed),
        ("percent partial", pct(false, "/+_~", false)),
        ("form", pct(false, "_~", true)),
        ("json", json[1..json.len() - 1].to_string()),
        ("json with \\/", json[1..json.len() - 1].replace('/', "\\/")),
    ];
    for user in ["", "user:", "alice:", "ab:"] {
        let plain = format!("{user}{key}");
        for (url_safe, pad) in [(false, true), (false, false), (true, true), (true, false)] {
            out.push(("base64", b64(plain.as_bytes(), url_safe, pad)));
        }
    }
    out
}

#[test]
fn a_key_echoed_in_every_encoding_is_in_no_byte_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.yaml"), KEYED_API).unwrap();
    let doc = dir.path().join("wf.arazzo.yaml");
    std::fs::write(&doc, KEYED_DOC).unwrap();
    let forms = encodings(SECRET_KEY);
    let body: serde_json::Map<String, serde_json::Value> = forms
        .iter()
        .enumerate()
        .map(|(i, (what, v))| (format!("{i} {what}"), json!(v)))
        .chain([("plain".to_string(), json!(SECRET_KEY))])
        .collect();
    let body = serde_json::Value::Object(body).to_string();
    let reply = || {
        let mut r = Reply::text(401, "application/json", &body);
        for (i, (_, v)) in forms.iter().enumerate().filter(|(_, (w, _))| *w != "plain") {
            r = r.header(&format!("x-echo-{i}"), v);
        }
        r.header(
            "www-authenticate",
            &format!(
                "Basic {}",
                b64(format!("user:{SECRET_KEY}").as_bytes(), false, true)
            ),
        )
    };
    for output in ["json", "human"] {
        let echo = Echo::start();
        echo.reply_on("POST /things", reply());
        let junit = dir.path().join(format!("{output}.xml"));
        let trace = dir.path().join(format!("{output}.trace.json"));
        let out = exec(
            arazzo()
                .env("ARAZZO_INPUT_API_KEY", SECRET_KEY)
                .args(["run", "w", "-f"])
                .arg(&doc)
                .args(["--server", &format!("api={}", echo.base_url())])
                .args(["-o", output, "-vvv", "--junit"])
                .arg(&junit)
                .arg("--trace")
                .arg(&trace),
        );
        out.assert_code(1);
        // The key was sent, so the run is real.
        assert_eq!(
            echo.requests()[0].header("x-api-key"),
            Some(SECRET_KEY),
            "{}",
            out.context()
        );
        let junit = std::fs::read_to_string(&junit).unwrap();
        let trace = std::fs::read_to_string(&trace).unwrap();
        // The echoed body and headers did reach the outputs (masked).
        assert!(trace.contains("x-echo-3"), "{trace}");
        assert!(out.stderr.contains("x-echo-3"), "{}", out.stderr);
        for (name, text) in [
            ("stdout", &out.stdout),
            ("stderr", &out.stderr),
            ("junit", &junit),
            ("trace", &trace),
        ] {
            for (what, form) in &forms {
                assert!(
                    !text.contains(form.as_str()),
                    "-o {output}: the key ({what}: `{form}`) is in {name}:\n{text}"
                );
            }
        }
    }
}

#[test]
fn malformed_flags_and_server_passwords_are_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.yaml"), KEYED_API).unwrap();
    let doc = dir.path().join("wf.arazzo.yaml");
    std::fs::write(&doc, KEYED_DOC).unwrap();
    for cmd in ["run", "mcp"] {
        let base = |extra: &[&str]| {
            let mut c = arazzo();
            c.arg(cmd);
            if cmd == "run" {
                c.args(["w", "-f"]).arg(&doc);
            } else {
                c.arg(&doc);
            }
            c.args(extra);
            exec(&mut c)
        };
        let out = base(&["-i", "sk_live_abc123XYZ"]);
        out.assert_code(2);
        out.assert_no("sk_live");
        out.assert_no("abc123");
        out.assert_stderr_has("missing `=`");
        let out = base(&["--server", "sk_live_abc123XYZ"]);
        out.assert_code(2);
        out.assert_no("abc123");
        for url in [
            "http://user:hunter2pass@127.0.0.1:1:99999/",
            "ftp://user:hunter2pass@127.0.0.1/",
            "http://user:hunter2pass@[::1/",
        ] {
            let out = base(&["--server", &format!("api={url}")]);
            out.assert_code(2);
            out.assert_no("hunter2pass");
            out.assert_stderr_has("--server api=");
        }
    }
    // A password in a --server URL is masked in every message and log.
    let echo = Echo::start();
    echo.reply_on("POST /things", Reply::text(500, "text/plain", "no"));
    let url = echo
        .base_url()
        .replace("http://", "http://user:hunter2pass@");
    let trace = dir.path().join("pw.trace.json");
    let out = exec(
        arazzo()
            .env("ARAZZO_INPUT_API_KEY", SECRET_KEY)
            .args(["run", "w", "-f"])
            .arg(&doc)
            .args([
                "--server",
                &format!("api={url}"),
                "-vvv",
                "-o",
                "json",
                "--trace",
            ])
            .arg(&trace),
    );
    out.assert_code(1);
    out.assert_no("hunter2pass");
    let trace = std::fs::read_to_string(&trace).unwrap();
    assert!(!trace.contains("hunter2pass"), "{trace}");
    assert_eq!(echo.requests().len(), 1);
}
