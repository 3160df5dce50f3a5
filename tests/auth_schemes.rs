//! Static credentials through the binary: `apiKey` (header, query, cookie),
//! `http` basic and bearer, `security` alternatives and overrides, Redocly's
//! `x-security`, and how credentials are supplied (`ARAZZO_AUTH_…`,
//! `--auth-file`, `--env-file`) and which wins. Each test checks what the user
//! sees and what the recording server received, and searches every byte the
//! CLI wrote for the secrets.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::cli::{arazzo, exec, Out};
use support::echo::{Echo, Recorded, Reply};
use support::workspace::Workspace;

const KEY: &str = "hdrKey-7Fq2-secret";
/// Characters a URL must encode: the query key arrives decoded as written.
const QKEY: &str = "qk/9+Zx=&v secret";
const CKEY: &str = "cookieKey-55aa-secret";
const USER: &str = "alice";
const PASS: &str = "s3cr3t-Pa55w0rd";
const TOKEN: &str = "bearerTok-77Yq-secret";

const API: &str = r#"openapi: 3.1.0
info: {title: creds, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
security: [{hdr: []}]
components:
  securitySchemes:
    hdr: {type: apiKey, in: header, name: X-Api-Key}
    qry: {type: apiKey, in: query, name: api_key}
    ckie: {type: apiKey, in: cookie, name: sid}
    basic: {type: http, scheme: basic}
    bearer: {type: http, scheme: bearer}
    oauth:
      type: oauth2
      flows: {clientCredentials: {tokenUrl: "http://127.0.0.1:1/token", scopes: {read: r}}}
paths:
  /hdr:
    get:
      operationId: hdrOp
      security: [{hdr: []}]
      responses: {"200": {description: ok}}
  /qry:
    get:
      operationId: qryOp
      parameters: [{name: page, in: query, schema: {type: string}}]
      security: [{qry: []}]
      responses: {"200": {description: ok}}
  /ckie:
    get:
      operationId: ckieOp
      parameters: [{name: theme, in: cookie, schema: {type: string}}]
      security: [{ckie: []}]
      responses: {"200": {description: ok}}
  /basic:
    get:
      operationId: basicOp
      security: [{basic: []}]
      responses: {"200": {description: ok}}
  /bearer:
    get:
      operationId: bearerOp
      security: [{bearer: []}]
      responses: {"200": {description: ok}}
  /alt:
    get:
      operationId: altOp
      security: [{oauth: []}, {hdr: []}]
      responses: {"200": {description: ok}}
  /first:
    get:
      operationId: firstOp
      security: [{bearer: []}, {hdr: []}]
      responses: {"200": {description: ok}}
  /and:
    get:
      operationId: andOp
      security: [{hdr: [], basic: []}]
      responses: {"200": {description: ok}}
  /andOr:
    get:
      operationId: andOrOp
      security: [{hdr: [], basic: []}, {bearer: []}]
      responses: {"200": {description: ok}}
  /inherit:
    get:
      operationId: inheritOp
      responses: {"200": {description: ok}}
  /open:
    get:
      operationId: openOp
      security: []
      responses: {"200": {description: ok}}
  /own:
    get:
      operationId: ownOp
      parameters:
        - {name: Authorization, in: header, schema: {type: string}}
        - {name: x-api-key, in: header, schema: {type: string}}
        - {name: api_key, in: query, schema: {type: string}}
      security: [{basic: []}, {bearer: []}]
      responses: {"200": {description: ok}}
"#;

/// Standard base64 with padding (RFC 4648), written out here so that the
/// test does not share the binary's encoder.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn basic_value(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

fn b64(user: &str, pass: &str) -> String {
    basic_value(user, pass)["Basic ".len()..].to_string()
}

/// A step calling `op` with extra YAML (indented four spaces).
fn step(id: &str, op: &str, extra: &str) -> String {
    format!("  - stepId: {id}\n    operationId: {op}\n{extra}")
}

/// A workflow `id` with `steps` (text of [`step`]s) and extra workflow-level
/// YAML (indented two spaces) before the steps.
fn workflow(id: &str, head: &str, steps: &[String]) -> String {
    format!("- workflowId: {id}\n{head}  steps:\n{}", steps.concat())
}

fn case(workflows: &str) -> (Workspace, PathBuf) {
    Workspace::with_api("1.0.1", "creds", API, workflows)
}

/// `arazzo run WF -f DOC --server api=ECHO -o json EXTRA`, without env.
fn run_cmd(doc: &Path, wf: &str, echo: &Echo, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = arazzo();
    cmd.args(["run", wf, "-f"])
        .arg(doc)
        .args(["--server", &format!("api={}", echo.base_url())])
        .args(["-o", "json"])
        .args(extra);
    cmd
}

/// Every secret of this file, with the forms it could leak in.
fn all_secrets() -> Vec<String> {
    let mut v: Vec<String> = [KEY, QKEY, CKEY, PASS, TOKEN]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.push(b64(USER, PASS));
    v.push(percent(QKEY));
    v
}

/// What a URL carries for `s` (the binary's component encoding, or the
/// common `+` for a space).
fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// No secret (nor `extra`) is on stdout, stderr or in any of `files`.
fn assert_nothing_leaks(out: &Out, files: &[&Path], extra: &[&str]) {
    let mut secrets = all_secrets();
    secrets.extend(extra.iter().map(|s| s.to_string()));
    for s in &secrets {
        out.assert_no(s);
        for f in files {
            let text = std::fs::read(f)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| panic!("{} was not written: {e}", f.display()));
            assert!(
                !text.contains(s.as_str()),
                "`{s}` in {}:\n{text}",
                f.display()
            );
        }
    }
}

/// The one request the server received on `path`.
fn only(echo: &Echo, path: &str) -> Recorded {
    let got: Vec<Recorded> = echo
        .api_requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect();
    assert_eq!(got.len(), 1, "one request to {path}: {got:#?}");
    got.into_iter().next().unwrap()
}

fn query_values(r: &Recorded, name: &str) -> Vec<String> {
    r.query_pairs()
        .into_iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v)
        .collect()
}

/// The cookies of a request, each `name=value` (every Cookie header).
fn cookies(r: &Recorded) -> Vec<(String, String)> {
    r.header_values("cookie")
        .iter()
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), support::echo::decode(v, false)))
        .collect()
}

fn step_entry<'r>(report: &'r Value, id: &str) -> &'r Value {
    report["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {report:#}"))
        .iter()
        .find(|s| s["stepId"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {report:#}"))
}

fn write_private(ws: &Workspace, rel: &str, text: &str, mode: u32) -> PathBuf {
    let p = ws.write(rel, text);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

// ---------------------------------------------------------------------------
// 1. apiKey in header, query and cookie

#[test]
fn api_keys_go_in_header_query_and_cookie_once_each_and_never_out() {
    // Each step's outputs hold what the server echoed: the key comes back in
    // the response, and the report must mask it there too.
    let wf = workflow(
        "keys",
        "",
        &[
            step("h", "hdrOp", "    outputs: {seen: $response.body#/headers}\n"),
            step(
                "q",
                "qryOp",
                "    parameters: [{name: page, in: query, value: \"2\"}]\n    outputs: {seen: $response.body#/query}\n",
            ),
            step(
                "c",
                "ckieOp",
                "    parameters: [{name: theme, in: cookie, value: dark}]\n    outputs: {seen: $response.body#/headers/cookie}\n",
            ),
        ],
    ) + "  outputs: {h: $steps.h.outputs.seen, q: $steps.q.outputs.seen, c: $steps.c.outputs.seen}\n";
    let (ws, doc) = case(&wf);
    let echo = Echo::start();
    let report = ws.path("report.json");
    let trace = ws.path("trace.json");
    let junit = ws.path("junit.xml");
    let out = exec(
        run_cmd(
            &doc,
            "keys",
            &echo,
            &[
                "-vv",
                "--report",
                report.to_str().unwrap(),
                "--trace",
                trace.to_str().unwrap(),
                "--junit",
                junit.to_str().unwrap(),
            ],
        )
        .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY)
        .env("ARAZZO_AUTH_API_QRY_API_KEY", QKEY)
        .env("ARAZZO_AUTH_API_CKIE_API_KEY", CKEY),
    );
    out.assert_code(0);

    // Header: exactly one X-Api-Key, the key; nothing else carries it.
    let h = only(&echo, "/hdr");
    assert_eq!(h.header_values("x-api-key"), vec![KEY], "{h:#?}");
    assert_eq!(h.header("authorization"), None);
    assert!(h.query.is_none(), "{}", h.line());
    assert!(h.header("cookie").is_none());

    // Query: the step's own `page` kept, the key added once, decoded as written.
    let q = only(&echo, "/qry");
    assert_eq!(query_values(&q, "page"), vec!["2"], "{}", q.line());
    assert_eq!(query_values(&q, "api_key"), vec![QKEY], "{}", q.line());
    assert!(q.header("x-api-key").is_none());

    // Cookie: beside the step's own cookie, in one Cookie header.
    let c = only(&echo, "/ckie");
    assert_eq!(c.header_values("cookie").len(), 1, "{c:#?}");
    let jar = cookies(&c);
    assert!(jar.contains(&("theme".into(), "dark".into())), "{jar:?}");
    assert_eq!(
        jar.iter().filter(|(k, _)| k == "sid").collect::<Vec<_>>(),
        vec![&("sid".to_string(), CKEY.to_string())]
    );
    assert!(c.header("x-api-key").is_none());
    assert!(c.query.is_none());

    // Nothing secret in stdout, stderr (-vv), report, trace or junit.
    let raw = raw_query_value(&q, "api_key");
    assert_nothing_leaks(&out, &[&report, &trace, &junit], &[&raw]);
    let r = out.json();
    assert_eq!(step_entry(&r, "h")["status"], "succeeded", "{r:#}");
    // What the user sees: the echoed key comes back masked, not absent.
    let outputs = r["outputs"].to_string();
    assert!(outputs.contains("x-api-key"), "{r:#}");
    assert!(outputs.contains("theme=dark"), "{r:#}");
}

#[test]
fn a_failing_run_prints_more_and_still_no_secret() {
    let wf = workflow(
        "fails",
        "",
        &[
            step(
                "q",
                "qryOp",
                "    successCriteria: [{condition: $statusCode == 200}]\n",
            ),
            step("b", "basicOp", ""),
        ],
    );
    let (ws, doc) = case(&wf);
    let echo = Echo::start();
    echo.reply_on(
        "/qry",
        Reply::json(401, &json!({"error": "unauthorized"}))
            .header("www-authenticate", "ApiKey realm=\"x\""),
    );
    let report = ws.path("report.json");
    let trace = ws.path("trace.json");
    let junit = ws.path("junit.xml");
    for format in ["json", "human"] {
        let out = exec(
            arazzo()
                .args(["run", "fails", "-f"])
                .arg(&doc)
                .args(["--server", &format!("api={}", echo.base_url())])
                .args(["-o", format, "-vv"])
                .args(["--report", report.to_str().unwrap()])
                .args(["--trace", trace.to_str().unwrap()])
                .args(["--junit", junit.to_str().unwrap()])
                .env("ARAZZO_AUTH_API_QRY_API_KEY", QKEY)
                .env("ARAZZO_AUTH_API_BASIC_USERNAME", USER)
                .env("ARAZZO_AUTH_API_BASIC_PASSWORD", PASS),
        );
        out.assert_code(1);
        assert!(
            out.all().contains("401"),
            "the failure shows the status:\n{}",
            out.context()
        );
        assert_nothing_leaks(&out, &[&report, &trace, &junit], &[]);
        if format == "human" {
            break;
        }
        // Only the first request got the 401.
        echo.reply_on("/qry", Reply::json(401, &json!({"error": "unauthorized"})));
    }
    let q: Vec<Recorded> = echo
        .api_requests()
        .into_iter()
        .filter(|r| r.path == "/qry")
        .collect();
    assert_eq!(q.len(), 2);
    for r in q {
        assert_eq!(query_values(&r, "api_key"), vec![QKEY]);
    }
}

/// The help under a 401 says which credentials the request carried and where
/// each came from (src/report/credentials.rs): a key from `ARAZZO_AUTH_…`
/// was carried, so "the request carried no credential" is wrong.
#[test]
fn the_401_help_names_the_credential_the_schemes_sent() {
    let wf = workflow(
        "refused",
        "",
        &[step(
            "h",
            "hdrOp",
            "    successCriteria: [{condition: $statusCode == 200}]\n",
        )],
    );
    let (_ws, doc) = case(&wf);
    let echo = Echo::start();
    echo.reply_on("/hdr", Reply::json(401, &json!({"error": "unauthorized"})));
    let out = exec(
        arazzo()
            .args(["run", "refused", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY),
    );
    out.assert_code(1);
    assert_eq!(only(&echo, "/hdr").header_values("x-api-key"), vec![KEY]);
    assert!(
        !out.stderr.contains("carried no credential"),
        "{}",
        out.context()
    );
    out.assert_stderr_has("ARAZZO_AUTH_API_HDR_API_KEY");
    assert_nothing_leaks(&out, &[], &[]);
}

// ---------------------------------------------------------------------------
// 2. http basic and bearer

#[test]
fn http_basic_and_bearer_build_the_authorization_header() {
    let wf = workflow(
        "http",
        "",
        &[step("b", "basicOp", ""), step("t", "bearerOp", "")],
    );
    let (ws, doc) = case(&wf);
    let echo = Echo::start();
    let trace = ws.path("trace.json");
    let out = exec(
        run_cmd(&doc, "http", &echo, &["--trace", trace.to_str().unwrap()])
            .env("ARAZZO_AUTH_API_BASIC_USERNAME", USER)
            .env("ARAZZO_AUTH_API_BASIC_PASSWORD", PASS)
            .env("ARAZZO_AUTH_API_BEARER_TOKEN", TOKEN),
    );
    out.assert_code(0);
    let b = only(&echo, "/basic");
    assert_eq!(
        b.header_values("authorization"),
        vec![basic_value(USER, PASS)]
    );
    let t = only(&echo, "/bearer");
    assert_eq!(
        t.header_values("authorization"),
        vec![format!("Bearer {TOKEN}")]
    );
    // The echo's response bodies repeat the headers: the report must not.
    assert_nothing_leaks(&out, &[&trace], &[]);
}

// ---------------------------------------------------------------------------
// 3. alternatives, AND requirements, overrides

#[test]
fn alternatives_are_tried_in_order_and_operation_security_overrides_the_top_level() {
    let wf = workflow(
        "alts",
        "",
        &[
            // [{oauth}, {hdr}], only the key supplied → the key.
            step("alt", "altOp", ""),
            // [{bearer}, {hdr}], both supplied → the first, bearer only.
            step("first", "firstOp", ""),
            // No operation security: the top level's `hdr`.
            step("inherit", "inheritOp", ""),
            // `security: []`: nothing, though credentials exist.
            step("open", "openOp", ""),
            // bearerOp's own [{bearer}] overrides the top level's [{hdr}].
            step("bearer", "bearerOp", ""),
        ],
    );
    let (_ws, doc) = case(&wf);
    let echo = Echo::start();
    let out = exec(
        run_cmd(&doc, "alts", &echo, &[])
            .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY)
            .env("ARAZZO_AUTH_API_BEARER_TOKEN", TOKEN),
    );
    out.assert_code(0);
    let alt = only(&echo, "/alt");
    assert_eq!(alt.header_values("x-api-key"), vec![KEY]);
    assert!(alt.header("authorization").is_none(), "{alt:#?}");

    let first = only(&echo, "/first");
    assert_eq!(
        first.header_values("authorization"),
        vec![format!("Bearer {TOKEN}")]
    );
    assert!(
        first.header("x-api-key").is_none(),
        "only the first satisfied alternative is used: {first:#?}"
    );

    let inherit = only(&echo, "/inherit");
    assert_eq!(inherit.header_values("x-api-key"), vec![KEY]);
    assert!(inherit.header("authorization").is_none());

    let open = only(&echo, "/open");
    assert!(open.header("x-api-key").is_none(), "{open:#?}");
    assert!(open.header("authorization").is_none(), "{open:#?}");
    assert!(open.query.is_none());

    let bearer = only(&echo, "/bearer");
    assert_eq!(
        bearer.header_values("authorization"),
        vec![format!("Bearer {TOKEN}")]
    );
    assert!(bearer.header("x-api-key").is_none(), "{bearer:#?}");
    assert_nothing_leaks(&out, &[], &[]);
}

#[test]
fn an_and_requirement_needs_every_scheme() {
    let wf = workflow(
        "and",
        "",
        &[step("and", "andOp", ""), step("andOr", "andOrOp", "")],
    );
    let (_ws, doc) = case(&wf);

    // Both halves supplied: both sent.
    let echo = Echo::start();
    let out = exec(
        run_cmd(&doc, "and", &echo, &[])
            .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY)
            .env("ARAZZO_AUTH_API_BASIC_USERNAME", USER)
            .env("ARAZZO_AUTH_API_BASIC_PASSWORD", PASS)
            .env("ARAZZO_AUTH_API_BEARER_TOKEN", TOKEN),
    );
    out.assert_code(0);
    let and = only(&echo, "/and");
    assert_eq!(and.header_values("x-api-key"), vec![KEY]);
    assert_eq!(
        and.header_values("authorization"),
        vec![basic_value(USER, PASS)]
    );
    // [{hdr, basic}, {bearer}] with all supplied: the first, both halves.
    let and_or = only(&echo, "/andOr");
    assert_eq!(and_or.header_values("x-api-key"), vec![KEY]);
    assert_eq!(
        and_or.header_values("authorization"),
        vec![basic_value(USER, PASS)]
    );
    assert_nothing_leaks(&out, &[], &[]);

    // Only the key: the AND alternative is not half-applied. With the
    // bearer token, the second alternative is used instead; the AND alone,
    // half supplied, is refused by preflight (a credential is supplied for
    // the source, so the missing half is a mistake): nothing is sent.
    let echo = Echo::start();
    let out = exec(
        run_cmd(&doc, "and", &echo, &[])
            .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY)
            .env("ARAZZO_AUTH_API_BEARER_TOKEN", TOKEN),
    );
    out.assert_code(2);
    out.assert_stderr_has("step `and`");
    out.assert_stderr_has("ARAZZO_AUTH_API_BASIC_USERNAME and ARAZZO_AUTH_API_BASIC_PASSWORD");
    assert!(echo.api_requests().is_empty(), "nothing is sent");
    assert_nothing_leaks(&out, &[], &[]);
    // Past preflight (--no-preflight), the half-supplied AND is not
    // half-applied, and the AND-or-bearer step uses the bearer token.
    let echo = Echo::start();
    let out = exec(
        run_cmd(&doc, "and", &echo, &["--no-preflight"])
            .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY)
            .env("ARAZZO_AUTH_API_BEARER_TOKEN", TOKEN),
    );
    out.assert_code(0);
    assert_nothing_leaks(&out, &[], &[]);
    let and_or = only(&echo, "/andOr");
    assert!(
        and_or.header("x-api-key").is_none(),
        "half of an AND alternative is not sent: {and_or:#?}"
    );
    assert_eq!(
        and_or.header_values("authorization"),
        vec![format!("Bearer {TOKEN}")]
    );
    let and: Vec<Recorded> = echo
        .api_requests()
        .into_iter()
        .filter(|r| r.path == "/and")
        .collect();
    for r in &and {
        assert!(r.header("x-api-key").is_none(), "{r:#?}");
        assert!(r.header("authorization").is_none(), "{r:#?}");
    }
    assert_eq!(and.len(), 1);
}

// ---------------------------------------------------------------------------
// 4. the workflow's own parameters win, never doubled

#[test]
fn a_step_s_own_authorization_and_api_key_win_and_are_never_doubled() {
    let wf = workflow(
        "own",
        "",
        &[
            // Its own Authorization while basic and bearer creds exist.
            step(
                "auth",
                "ownOp",
                "    parameters: [{name: Authorization, in: header, value: Custom step-value}]\n",
            ),
            // Its own x-api-key (scheme `X-Api-Key`, other case) on an
            // operation requiring `hdr`.
            step(
                "key",
                "hdrOp",
                "    parameters: [{name: x-api-key, in: header, value: step-key}]\n",
            ),
            // Its own `api_key` query parameter for a query key scheme.
            step(
                "qkey",
                "qryOp",
                "    parameters: [{name: api_key, in: query, value: step-q}]\n",
            ),
            // Its own cookie of the cookie scheme's name.
            step(
                "ckey",
                "ckieOp",
                "    parameters: [{name: sid, in: cookie, value: step-c}]\n",
            ),
        ],
    );
    let (ws, doc) = case(&wf);
    let echo = Echo::start();
    let trace = ws.path("trace.json");
    let out = exec(
        run_cmd(&doc, "own", &echo, &["--trace", trace.to_str().unwrap()])
            .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY)
            .env("ARAZZO_AUTH_API_QRY_API_KEY", QKEY)
            .env("ARAZZO_AUTH_API_CKIE_API_KEY", CKEY)
            .env("ARAZZO_AUTH_API_BASIC_USERNAME", USER)
            .env("ARAZZO_AUTH_API_BASIC_PASSWORD", PASS)
            .env("ARAZZO_AUTH_API_BEARER_TOKEN", TOKEN),
    );
    out.assert_code(0);
    let own = only(&echo, "/own");
    assert_eq!(
        own.header_values("authorization"),
        vec!["Custom step-value"],
        "{own:#?}"
    );
    let key = only(&echo, "/hdr");
    assert_eq!(key.header_values("x-api-key"), vec!["step-key"], "{key:#?}");
    let q = only(&echo, "/qry");
    assert_eq!(query_values(&q, "api_key"), vec!["step-q"], "{}", q.line());
    let c = only(&echo, "/ckie");
    let jar = cookies(&c);
    assert_eq!(
        jar,
        vec![("sid".to_string(), "step-c".to_string())],
        "{c:#?}"
    );
    assert_nothing_leaks(&out, &[&trace], &[]);
}

#[test]
fn workflow_level_parameters_win_over_supplied_credentials() {
    let wf = workflow(
        "wfparams",
        "  parameters:\n  - {name: Authorization, in: header, value: Token from-workflow}\n  - {name: X-API-KEY, in: header, value: wf-key}\n",
        &[step("b", "basicOp", ""), step("h", "hdrOp", "")],
    );
    let (_ws, doc) = case(&wf);
    let echo = Echo::start();
    let out = exec(
        run_cmd(&doc, "wfparams", &echo, &[])
            .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY)
            .env("ARAZZO_AUTH_API_BASIC_USERNAME", USER)
            .env("ARAZZO_AUTH_API_BASIC_PASSWORD", PASS),
    );
    out.assert_code(0);
    for path in ["/basic", "/hdr"] {
        let r = only(&echo, path);
        assert_eq!(
            r.header_values("authorization"),
            vec!["Token from-workflow"],
            "{r:#?}"
        );
        assert_eq!(r.header_values("x-api-key"), vec!["wf-key"], "{r:#?}");
    }
    assert_nothing_leaks(&out, &[], &[]);
}

// ---------------------------------------------------------------------------
// 5. x-security (Redocly's extension)

const X_INPUTS: &str = "  inputs:\n    type: object\n    properties:\n      secret: {type: string, format: password}\n      plain: {type: string}\n";

#[test]
fn x_security_at_workflow_and_step_level_with_values_from_inputs() {
    let wf = workflow(
        "xs",
        &format!(
            "{X_INPUTS}  x-security:\n  - scheme: {{type: http, scheme: basic}}\n    values: {{username: John, password: $inputs.secret}}\n  - scheme: {{type: apiKey, in: header, name: X-Trace-Key}}\n    values: {{apiKey: wf-early}}\n"
        ),
        &[
            // The workflow's entries on an operation that requires nothing.
            step("open", "openOp", ""),
            // The step's schemeName entry (bearer, from an unmarked input)
            // over the workflow's basic; later entries over earlier ones.
            step(
                "named",
                "bearerOp",
                "    x-security:\n    - schemeName: bearer\n      values: {token: $inputs.plain}\n    - scheme: {type: apiKey, in: header, name: x-trace-key}\n      values: {apiKey: step-early}\n    - scheme: {type: apiKey, in: header, name: X-TRACE-KEY}\n      values: {apiKey: step-late}\n",
            ),
            // The step's own parameter still wins over every x-security.
            step(
                "own",
                "ownOp",
                "    parameters: [{name: Authorization, in: header, value: Own from-step}]\n    x-security:\n    - schemeName: bearer\n      values: {token: $inputs.plain}\n",
            ),
            // A schemeName entry without values takes the supplied ones.
            step(
                "supplied",
                "openOp",
                "    x-security:\n    - schemeName: hdr\n",
            ),
            // x-security over the operation's requirement (basic, supplied).
            step(
                "over",
                "basicOp",
                "    x-security:\n    - scheme: {type: http, scheme: Bearer}\n      values: {token: $inputs.plain}\n",
            ),
        ],
    );
    let (ws, doc) = case(&wf);
    let echo = Echo::start();
    let report = ws.path("report.json");
    let trace = ws.path("trace.json");
    let out = exec(
        run_cmd(
            &doc,
            "xs",
            &echo,
            &[
                "-vv",
                "--report",
                report.to_str().unwrap(),
                "--trace",
                trace.to_str().unwrap(),
                "-i",
                &format!("secret={PASS}"),
                "-i",
                &format!("plain={TOKEN}"),
            ],
        )
        .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY)
        .env("ARAZZO_AUTH_API_BASIC_USERNAME", USER)
        .env("ARAZZO_AUTH_API_BASIC_PASSWORD", PASS),
    );
    out.assert_code(0);

    let over = only(&echo, "/basic");
    assert_eq!(
        over.header_values("authorization"),
        vec![format!("Bearer {TOKEN}")],
        "the step's x-security over the workflow's and the operation's: {over:#?}"
    );

    let open = echo
        .api_requests()
        .into_iter()
        .find(|r| r.path == "/open")
        .unwrap();
    assert_eq!(
        open.header_values("authorization"),
        vec![basic_value("John", PASS)],
        "the workflow's entry applies to every step: {open:#?}"
    );
    assert_eq!(open.header_values("x-trace-key"), vec!["wf-early"]);
    assert!(open.header("x-api-key").is_none(), "{open:#?}");

    let named = only(&echo, "/bearer");
    assert_eq!(
        named.header_values("authorization"),
        vec![format!("Bearer {TOKEN}")],
        "the step's entry over the workflow's: {named:#?}"
    );
    assert_eq!(
        named.header_values("x-trace-key"),
        vec!["step-late"],
        "the later entry wins, once: {named:#?}"
    );

    let own = only(&echo, "/own");
    assert_eq!(own.header_values("authorization"), vec!["Own from-step"]);

    let supplied: Vec<Recorded> = echo
        .api_requests()
        .into_iter()
        .filter(|r| r.path == "/open")
        .collect();
    assert_eq!(supplied.len(), 2);
    assert_eq!(supplied[1].header_values("x-api-key"), vec![KEY]);
    assert_eq!(
        supplied[1].header_values("authorization"),
        vec![basic_value("John", PASS)]
    );

    // The inputs are secrets as x-security values, marked or not.
    assert_nothing_leaks(&out, &[&report, &trace], &[]);
}

/// An input that is only ever sent as an x-security secret is a secret from
/// the start, not from when its step runs: here the step never runs (the
/// first fails), and the report still lists the inputs.
#[test]
fn an_input_used_only_by_x_security_is_masked_even_when_its_step_never_runs() {
    let wf = workflow(
        "early",
        X_INPUTS,
        &[
            step(
                "first",
                "openOp",
                "    successCriteria: [{condition: $statusCode == 201}]\n",
            ),
            step(
                "s",
                "openOp",
                "    x-security:\n    - scheme: {type: http, scheme: bearer}\n      values: {token: $inputs.plain}\n",
            ),
        ],
    );
    let (ws, doc) = case(&wf);
    let echo = Echo::start();
    let report = ws.path("report.json");
    let out = exec(&mut run_cmd(
        &doc,
        "early",
        &echo,
        &[
            "--report",
            report.to_str().unwrap(),
            "-i",
            &format!("plain={TOKEN}"),
        ],
    ));
    out.assert_code(1);
    assert_eq!(echo.api_requests().len(), 1);
    // A secret input is left out of the report's inputs and only named.
    let r = out.json();
    assert!(r["inputs"].get("plain").is_none(), "{}", out.stdout);
    assert!(
        r["secretInputs"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "plain")),
        "{}",
        out.stdout
    );
    assert_nothing_leaks(&out, &[&report], &[]);
}

/// `arazzo validate DOC --format json`: the exit code and the diagnostics.
fn validate(doc: &Path) -> (Out, Vec<Value>) {
    let out = exec(arazzo().arg("validate").arg(doc).args(["--format", "json"]));
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", out.context()));
    (out, v.as_array().cloned().unwrap_or_default())
}

/// 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> u64 {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in\n{text}"));
    text[..at].matches('\n').count() as u64 + 1
}

#[test]
fn x_security_mistakes_are_compile_errors_at_their_place() {
    // (step's x-security YAML, pointer suffix, text the line holds, message
    // part, help part)
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        (
            "    x-security:\n    - schemeName: bearr\n      values: {token: t}\n",
            "/x-security/0/schemeName",
            "schemeName: bearr",
            "no security scheme `bearr`",
            "bearer",
        ),
        (
            "    x-security:\n    - schemeName: basic\n      values: {username: u, passwrd: p}\n",
            "/x-security/0/values/passwrd",
            "values: {username: u, passwrd: p}",
            "`passwrd` is not a credential field",
            "password",
        ),
        (
            "    x-security:\n    - schemeName: basic\n      scheme: {type: http, scheme: basic}\n      values: {username: u, password: p}\n",
            "/x-security/0/scheme",
            "scheme: {type: http",
            "not both",
            "",
        ),
        (
            "    x-security:\n      schemeName: basic\n      values: {username: u, password: p}\n",
            "/x-security",
            "x-security:",
            "must be a list",
            "",
        ),
    ];
    for (yaml, suffix, line_text, message, help) in cases {
        let wf = workflow("bad", "", &[step("s", "basicOp", yaml)]);
        let (_ws, doc) = case(&wf);
        let text = std::fs::read_to_string(&doc).unwrap();
        let (out, diags) = validate(&doc);
        assert_eq!(out.code, 3, "{yaml}\n{}", out.context());
        let d = diags
            .iter()
            .find(|d| d["code"] == "auth/x-security")
            .unwrap_or_else(|| panic!("no auth/x-security for\n{yaml}\n{}", out.context()));
        let pointer = format!("/workflows/0/steps/0{suffix}");
        assert_eq!(d["pointer"], pointer.as_str(), "{d:#}");
        assert_eq!(d["line"], line_of(&text, line_text), "{yaml}\n{d:#}");
        let all = d.to_string();
        assert!(all.contains(message), "{yaml}\n{d:#}");
        assert!(all.contains(help), "did-you-mean `{help}`:\n{d:#}");
        assert_eq!(diags.len(), 1, "one diagnostic: {diags:#?}");

        // `run` refuses it before any request, with the same place.
        let echo = Echo::start();
        let run = exec(&mut run_cmd(&doc, "bad", &echo, &[]));
        run.assert_code(3);
        assert!(run.all().contains(message), "{}", run.context());
        assert!(echo.api_requests().is_empty());
    }
}

#[test]
fn an_x_security_entry_lacking_a_value_fails_the_step_with_kind_auth() {
    let wf = workflow(
        "lacks",
        X_INPUTS,
        &[
            step(
                "s",
                "openOp",
                "    x-security:\n    - scheme: {type: http, scheme: basic}\n      values: {username: John}\n",
            ),
            step("after", "openOp", ""),
        ],
    );
    let (ws, doc) = case(&wf);
    let echo = Echo::start();
    // Preflight sees it first: exit 2, the entry's place named, nothing sent.
    let out = exec(run_cmd(&doc, "lacks", &echo, &[]).env("ARAZZO_AUTH_API_BASIC_PASSWORD", PASS));
    out.assert_code(2);
    out.assert_stderr_has("/workflows/0/steps/0/x-security/0");
    out.assert_stderr_has("no `password`");
    assert!(echo.api_requests().is_empty(), "nothing was sent");
    assert_nothing_leaks(&out, &[], &[]);
    // At run time (past preflight): the step fails with kind `auth`, exit 4.
    let report = ws.path("report.json");
    let out = exec(
        run_cmd(
            &doc,
            "lacks",
            &echo,
            &["--report", report.to_str().unwrap(), "--no-preflight"],
        )
        .env("ARAZZO_AUTH_API_BASIC_PASSWORD", PASS),
    );
    out.assert_code(4);
    let r = out.json();
    assert_eq!(step_entry(&r, "s")["status"], "failed", "{r:#}");
    assert_eq!(r["error"]["stepId"], "s", "{r:#}");
    assert_eq!(r["error"]["kind"], "auth", "{r:#}");
    let m = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        m.contains("/workflows/0/steps/0/x-security/0"),
        "the message names the entry's place: {m}"
    );
    // The username is there: only the password is missing (the password
    // supplied for the named scheme `basic` does not fill an inline one).
    assert!(
        m.contains("no `password`") && !m.contains("`username`"),
        "names what is missing, and only that: {m}"
    );
    assert!(
        out.stderr.contains("/workflows/0/steps/0/x-security/0"),
        "{}",
        out.context()
    );
    assert!(echo.api_requests().is_empty(), "nothing was sent");
    assert_nothing_leaks(&out, &[&report], &[]);

    // A value from an input that was not given is as lacking.
    let wf = workflow(
        "lacks2",
        X_INPUTS,
        &[step(
            "s",
            "openOp",
            "    x-security:\n    - scheme: {type: http, scheme: bearer}\n      values: {token: $inputs.plain}\n",
        )],
    );
    let (_ws, doc) = case(&wf);
    let out = exec(&mut run_cmd(&doc, "lacks2", &echo, &[]));
    out.assert_code(2);
    out.assert_stderr_has("no `token`");
    let out = exec(&mut run_cmd(&doc, "lacks2", &echo, &["--no-preflight"]));
    out.assert_code(4);
    let r = out.json();
    assert_eq!(r["error"]["kind"], "auth", "{r:#}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no `token`"),
        "{r:#}"
    );
    assert!(echo.api_requests().is_empty(), "nothing was sent");
}

// ---------------------------------------------------------------------------
// 6. how credentials are supplied

fn pet_store_doc(ws: &Workspace) -> PathBuf {
    ws.write(
        "pets.yaml",
        &API.replace("title: creds", "title: pets")
            .replace("hdr: {type: apiKey", "apiKeyAuth: {type: apiKey")
            .replace("[{hdr: []}]", "[{apiKeyAuth: []}]"),
    );
    ws.write(
        "pets.arazzo.yaml",
        "arazzo: 1.0.1\ninfo: {title: pets, version: 1.0.0}\nsourceDescriptions:\n- {name: petStore, url: ./pets.yaml, type: openapi}\nworkflows:\n- workflowId: pets\n  steps:\n  - {stepId: h, operationId: hdrOp}\n",
    )
}

#[test]
fn env_names_are_upper_snake_and_a_misspelt_one_is_warned_about() {
    let ws = Workspace::new();
    let doc = pet_store_doc(&ws);
    let echo = Echo::start();
    let server = format!("petStore={}", echo.base_url());
    let out = exec(
        arazzo()
            .args(["run", "pets", "-f"])
            .arg(&doc)
            .args(["--server", &server, "-o", "json"])
            .env("ARAZZO_AUTH_PET_STORE_API_KEY_AUTH_API_KEY", KEY),
    );
    out.assert_code(0);
    assert_eq!(only(&echo, "/hdr").header_values("x-api-key"), vec![KEY]);
    assert!(!out.stderr.contains("warning"), "{}", out.context());
    assert_nothing_leaks(&out, &[], &[]);

    // Misspelt: warned with the right name, never with the value; the run
    // still goes (without the key).
    let echo = Echo::start();
    let server = format!("petStore={}", echo.base_url());
    let out = exec(
        arazzo()
            .args(["run", "pets", "-f"])
            .arg(&doc)
            .args(["--server", &server])
            .env("ARAZZO_AUTH_PET_STORE_APIKEY_AUTH_API_KEY", KEY),
    );
    out.assert_code(0);
    let warning = out
        .stderr
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_else(|| panic!("no warning:\n{}", out.context()));
    assert!(
        warning.contains("ARAZZO_AUTH_PET_STORE_APIKEY_AUTH_API_KEY")
            && warning.contains("ARAZZO_AUTH_PET_STORE_API_KEY_AUTH_API_KEY"),
        "names the variable and what was meant: {warning}"
    );
    assert!(only(&echo, "/hdr").header("x-api-key").is_none());
    assert_nothing_leaks(&out, &[], &[]);
}

const AUTH_YAML: &str = "api:\n  hdr: {apiKey: FILEKEY}\n  basic:\n    password: FILEPASS\n";

#[test]
fn auth_file_yaml_and_json_win_over_the_environment_field_by_field() {
    let file_key = "fileKey-3k9-secret";
    let file_pass = "filePass-8j7-secret";
    let ws = Workspace::new();
    ws.write("api.yaml", API);
    let doc = ws.write(
        "wf.arazzo.yaml",
        &support::workspace::arazzo_doc(
            "1.0.1",
            "creds",
            &workflow(
                "filed",
                "",
                &[step("h", "hdrOp", ""), step("b", "basicOp", "")],
            ),
        ),
    );
    let yaml = AUTH_YAML
        .replace("FILEKEY", file_key)
        .replace("FILEPASS", file_pass);
    let json =
        json!({"api": {"hdr": {"apiKey": file_key}, "basic": {"password": file_pass}}}).to_string();
    for (name, text) in [("auth.yaml", yaml.as_str()), ("auth.json", json.as_str())] {
        let file = write_private(&ws, name, text, 0o600);
        let echo = Echo::start();
        let out = exec(
            run_cmd(
                &doc,
                "filed",
                &echo,
                &["--auth-file", file.to_str().unwrap()],
            )
            .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY)
            .env("ARAZZO_AUTH_API_BASIC_USERNAME", USER)
            .env("ARAZZO_AUTH_API_BASIC_PASSWORD", PASS),
        );
        out.assert_code(0);
        assert_eq!(
            only(&echo, "/hdr").header_values("x-api-key"),
            vec![file_key],
            "{name}"
        );
        assert_eq!(
            only(&echo, "/basic").header_values("authorization"),
            vec![basic_value(USER, file_pass)],
            "{name}: the file's password with the environment's username"
        );
        assert_nothing_leaks(&out, &[], &[file_key, file_pass, &b64(USER, file_pass)]);
    }
}

#[test]
fn an_auth_file_others_can_read_is_refused() {
    let ws = Workspace::new();
    ws.write("api.yaml", API);
    let doc = ws.write(
        "wf.arazzo.yaml",
        &support::workspace::arazzo_doc(
            "1.0.1",
            "creds",
            &workflow("h", "", &[step("h", "hdrOp", "")]),
        ),
    );
    let text = format!("api: {{hdr: {{apiKey: {KEY}}}}}\n");
    for mode in [0o644, 0o640, 0o604, 0o620] {
        let file = write_private(&ws, "auth.yaml", &text, mode);
        let echo = Echo::start();
        let out = exec(&mut run_cmd(
            &doc,
            "h",
            &echo,
            &["--auth-file", file.to_str().unwrap()],
        ));
        out.assert_code(2);
        assert!(
            out.stderr
                .contains(&format!("chmod 600 {}", file.display())),
            "mode {mode:o}:\n{}",
            out.context()
        );
        assert!(echo.api_requests().is_empty());
        assert_nothing_leaks(&out, &[], &[]);
    }
    let file = write_private(&ws, "auth.yaml", &text, 0o600);
    let echo = Echo::start();
    let out = exec(&mut run_cmd(
        &doc,
        "h",
        &echo,
        &["--auth-file", file.to_str().unwrap()],
    ));
    out.assert_code(0);
    assert_eq!(only(&echo, "/hdr").header_values("x-api-key"), vec![KEY]);
    // Owner read-only is fine too.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
    let echo = Echo::start();
    let out = exec(&mut run_cmd(
        &doc,
        "h",
        &echo,
        &["--auth-file", file.to_str().unwrap()],
    ));
    out.assert_code(0);
}

#[test]
fn unknown_names_in_the_auth_file_are_refused_with_a_suggestion() {
    let ws = Workspace::new();
    ws.write("api.yaml", API);
    let doc = ws.write(
        "wf.arazzo.yaml",
        &support::workspace::arazzo_doc(
            "1.0.1",
            "creds",
            &workflow("h", "", &[step("h", "hdrOp", "")]),
        ),
    );
    let cases = [
        (format!("apo: {{hdr: {{apiKey: {KEY}}}}}\n"), "apo", "api"),
        (format!("api: {{hrd: {{apiKey: {KEY}}}}}\n"), "hrd", "hdr"),
        (
            format!("api: {{hdr: {{apikey: {KEY}}}}}\n"),
            "apikey",
            "apiKey",
        ),
    ];
    for (text, wrong, right) in cases {
        let file = write_private(&ws, "auth.yaml", &text, 0o600);
        let echo = Echo::start();
        let out = exec(&mut run_cmd(
            &doc,
            "h",
            &echo,
            &["--auth-file", file.to_str().unwrap()],
        ));
        out.assert_code(2);
        assert!(
            out.stderr.contains(&format!("`{wrong}`")),
            "names `{wrong}`:\n{}",
            out.context()
        );
        assert!(
            out.stderr.contains(&format!("did you mean `{right}`"))
                || out.stderr.contains(&format!("`{right}`?")),
            "suggests `{right}`:\n{}",
            out.context()
        );
        assert!(echo.api_requests().is_empty());
        assert_nothing_leaks(&out, &[], &[]);
    }
    // An empty value is a mistake too, not a credential.
    let file = write_private(&ws, "auth.yaml", "api: {hdr: {apiKey: ''}}\n", 0o600);
    let echo = Echo::start();
    let out = exec(&mut run_cmd(
        &doc,
        "h",
        &echo,
        &["--auth-file", file.to_str().unwrap()],
    ));
    out.assert_code(2);
    assert!(
        out.stderr.contains("`apiKey` is empty"),
        "{}",
        out.context()
    );
    assert!(echo.api_requests().is_empty());
}

#[test]
fn an_env_file_supplies_credentials_and_inputs_and_the_environment_wins() {
    let ws = Workspace::new();
    ws.write("api.yaml", API);
    let doc = ws.write(
        "wf.arazzo.yaml",
        &support::workspace::arazzo_doc(
            "1.0.1",
            "creds",
            &workflow(
                "envf",
                "  inputs:\n    type: object\n    required: [page]\n    properties:\n      page: {type: string}\n",
                &[
                    step("h", "hdrOp", ""),
                    step("b", "basicOp", ""),
                    step("t", "bearerOp", ""),
                    step(
                        "q",
                        "qryOp",
                        "    parameters: [{name: page, in: query, value: $inputs.page}]\n",
                    ),
                    step("c", "ckieOp", ""),
                ],
            ),
        ),
    );
    // As editors write them: a byte order mark, CRLF line ends, comments
    // after quoted values.
    let env = ws.write(
        "creds.env",
        &format!(
            "\u{feff}# credentials for the api\r\n\r\nexport ARAZZO_AUTH_API_HDR_API_KEY={KEY}\r\nARAZZO_AUTH_API_BASIC_USERNAME='{USER}'\nARAZZO_AUTH_API_BASIC_PASSWORD=\"{PASS}\"  \nARAZZO_AUTH_API_BEARER_TOKEN=from-env-file # not this one\nARAZZO_AUTH_API_QRY_API_KEY=\"{QKEY}\"\nARAZZO_AUTH_API_CKIE_API_KEY=\"{CKEY}\" # the cookie key\nARAZZO_INPUT_PAGE=7\n"
        ),
    );
    // Only the owner may read it (a file others can read is warned about).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let echo = Echo::start();
    let out = exec(
        run_cmd(&doc, "envf", &echo, &["--env-file", env.to_str().unwrap()])
            .env("ARAZZO_AUTH_API_BEARER_TOKEN", TOKEN),
    );
    out.assert_code(0);
    assert_eq!(only(&echo, "/hdr").header_values("x-api-key"), vec![KEY]);
    assert_eq!(
        only(&echo, "/basic").header_values("authorization"),
        vec![basic_value(USER, PASS)]
    );
    assert_eq!(
        only(&echo, "/bearer").header_values("authorization"),
        vec![format!("Bearer {TOKEN}")],
        "the real environment wins over the env file"
    );
    let q = only(&echo, "/qry");
    assert_eq!(query_values(&q, "page"), vec!["7"], "ARAZZO_INPUT_PAGE");
    assert_eq!(query_values(&q, "api_key"), vec![QKEY]);
    let c = only(&echo, "/ckie");
    assert_eq!(
        cookies(&c),
        vec![("sid".to_string(), CKEY.to_string())],
        "the quotes and the comment are not part of the value: {c:#?}"
    );
    assert!(!out.stderr.contains("warning"), "{}", out.context());
    assert_nothing_leaks(&out, &[], &["from-env-file"]);

    // Malformed lines: exit 2 naming the line (not the value), nothing sent.
    for (text, line) in [
        (
            "# fine\nARAZZO_AUTH_API_HDR_API_KEY=abc\nthis line is wrong\n",
            3,
        ),
        ("ARAZZO_AUTH_API_HDR_API_KEY=\"sec-unclosed\n", 1),
        ("\n\nARAZZO_AUTH_API_HDR_API_KEY='sec-a' sec-b\n", 3),
        ("ARAZZO AUTH=x\n", 1),
    ] {
        let bad = ws.write("bad.env", text);
        let echo = Echo::start();
        let out = exec(&mut run_cmd(
            &doc,
            "envf",
            &echo,
            &["--env-file", bad.to_str().unwrap()],
        ));
        out.assert_code(2);
        assert!(
            out.stderr.contains(&format!("line {line}")),
            "{text:?}: {}",
            out.context()
        );
        assert!(echo.api_requests().is_empty());
        assert_nothing_leaks(&out, &[], &["sec-unclosed", "sec-a", "sec-b"]);
    }
}

#[test]
fn an_empty_credential_variable_is_not_used_and_is_warned_about() {
    // [{bearer}, {hdr}]: an empty token (a CI secret that is missing) must
    // neither be sent nor stop the next alternative.
    let wf = workflow("empty", "", &[step("first", "firstOp", "")]);
    let (_ws, doc) = case(&wf);
    let echo = Echo::start();
    let out = exec(
        run_cmd(&doc, "empty", &echo, &[])
            .env("ARAZZO_AUTH_API_BEARER_TOKEN", "")
            .env("ARAZZO_AUTH_API_HDR_API_KEY", KEY),
    );
    out.assert_code(0);
    let r = only(&echo, "/first");
    assert!(r.header("authorization").is_none(), "{r:#?}");
    assert_eq!(r.header_values("x-api-key"), vec![KEY]);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("warning:") && l.contains("ARAZZO_AUTH_API_BEARER_TOKEN")),
        "{}",
        out.context()
    );
    assert_nothing_leaks(&out, &[], &[]);
}

// ---------------------------------------------------------------------------
// 7. batches and the MCP server

fn batch_doc(ws: &Workspace) -> PathBuf {
    ws.write("api.yaml", API);
    ws.write(
        "wf.arazzo.yaml",
        &support::workspace::arazzo_doc(
            "1.0.1",
            "creds",
            &(workflow(
                "each",
                "  inputs:\n    type: object\n    required: [page]\n    properties:\n      page: {type: string}\n",
                &[
                    step(
                        "h",
                        "hdrOp",
                        "    outputs: {seen: $response.body#/headers}\n",
                    ),
                    step(
                        "q",
                        "qryOp",
                        "    parameters: [{name: page, in: query, value: $inputs.page}]\n    outputs: {seen: $response.body#/query}\n",
                    ),
                ],
            ) + "  outputs: {h: $steps.h.outputs.seen, q: $steps.q.outputs.seen}\n"),
        ),
    )
}

#[test]
fn a_batch_sends_the_auth_file_key_on_every_request_and_prints_it_nowhere() {
    let ws = Workspace::new();
    let doc = batch_doc(&ws);
    let auth = write_private(
        &ws,
        "auth.json",
        &json!({"api": {"hdr": {"apiKey": KEY}, "qry": {"apiKey": QKEY}}}).to_string(),
        0o600,
    );
    let lines: String = (1..=12)
        .map(|i| format!("{{\"page\": \"{i}\"}}\n"))
        .collect();
    let each = ws.write("lines.jsonl", &lines);
    let junit = ws.path("junit.xml");
    let trace = ws.path("trace.jsonl");
    let echo = Echo::start();
    let out = exec(
        arazzo()
            .args(["run", "each", "-f"])
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .arg("--each")
            .arg(&each)
            .args(["--auth-file", auth.to_str().unwrap()])
            .args(["--concurrency", "4", "-o", "json"])
            .args(["--junit", junit.to_str().unwrap()])
            .args(["--trace", trace.to_str().unwrap()]),
    );
    out.assert_code(0);
    assert_eq!(out.stdout.lines().count(), 12, "{}", out.context());
    let reqs = echo.api_requests();
    assert_eq!(reqs.len(), 24);
    let mut pages = Vec::new();
    for r in &reqs {
        match r.path.as_str() {
            "/hdr" => {
                assert_eq!(r.header_values("x-api-key"), vec![KEY], "{r:#?}");
                assert!(r.query.is_none());
            }
            "/qry" => {
                assert_eq!(query_values(r, "api_key"), vec![QKEY], "{}", r.line());
                assert!(r.header("x-api-key").is_none());
                pages.extend(query_values(r, "page"));
            }
            other => panic!("unexpected {other}"),
        }
    }
    pages.sort_by_key(|p| p.parse::<u32>().unwrap());
    assert_eq!(pages, (1..=12).map(|i| i.to_string()).collect::<Vec<_>>());
    let raw = raw_query_value(reqs.iter().find(|r| r.path == "/qry").unwrap(), "api_key");
    assert_nothing_leaks(&out, &[&junit, &trace], &[&raw]);
}

/// The value of `name` in the request's query, as sent (still encoded).
fn raw_query_value(r: &Recorded, name: &str) -> String {
    r.query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {}", r.line()))
        .to_string()
}

mod mcp {
    use serde_json::json;

    use super::support::mcp_stdio::{call, connect_stdio as connect};

    use super::support::echo::Echo;
    use super::support::workspace::Workspace;
    use super::*;

    #[test]
    fn mcp_sends_the_operator_s_key_and_never_returns_it() {
        let ws = Workspace::new();
        let doc = batch_doc(&ws);
        let auth = write_private(
            &ws,
            "auth.yaml",
            &format!("api:\n  hdr: {{apiKey: '{KEY}'}}\n  qry: {{apiKey: '{QKEY}'}}\n"),
            0o600,
        );
        let echo = Echo::start();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_arazzo"));
        for (k, _) in std::env::vars() {
            if k.starts_with("ARAZZO_") || k == "RUST_LOG" || k == "NO_COLOR" {
                cmd.env_remove(k);
            }
        }
        cmd.arg("mcp")
            .arg(&doc)
            .args(["--server", &format!("api={}", echo.base_url())])
            .args(["--auth-file", auth.to_str().unwrap()]);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (results, stderr) = rt.block_on(async {
            let (client, captured) = connect(cmd).await;
            let tools = client.list_all_tools().await.expect("tools/list");
            let listed = serde_json::to_string(&tools).unwrap();
            let mut results = vec![listed];
            for page in ["1", "2", "3"] {
                let r = call(&client, "each", json!({"page": page})).await;
                assert_ne!(r.is_error, Some(true), "{r:#?}");
                results.push(serde_json::to_string(&r).unwrap());
            }
            client.cancel().await.ok();
            let text = captured.0.lock().unwrap().clone();
            (results, text)
        });
        let reqs = echo.api_requests();
        assert_eq!(reqs.len(), 6);
        for r in &reqs {
            match r.path.as_str() {
                "/hdr" => assert_eq!(r.header_values("x-api-key"), vec![KEY], "{r:#?}"),
                "/qry" => assert_eq!(query_values(r, "api_key"), vec![QKEY], "{}", r.line()),
                other => panic!("unexpected {other}"),
            }
        }
        // The tool results did carry the echoed requests (masked).
        assert!(
            results[1].contains("x-api-key"),
            "the echoed headers are in the result: {}",
            results[1]
        );
        let raw = raw_query_value(reqs.iter().find(|r| r.path == "/qry").unwrap(), "api_key");
        let mut secrets = all_secrets();
        secrets.push(raw);
        for s in &secrets {
            for r in &results {
                assert!(!r.contains(s.as_str()), "`{s}` in a tool result: {r}");
            }
            assert!(!stderr.contains(s.as_str()), "`{s}` on stderr: {stderr}");
        }
    }
}
