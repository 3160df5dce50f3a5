//! Credentials before the first request, through the binary: `--dry-run`
//! naming the scheme (and token endpoint) of each request, preflight
//! refusing unmet requirements when credentials are supplied for the source
//! and warning when none is, tokens fetched before anything reaches the API,
//! `validate`'s `auth/unsatisfiable` warning at its place, and `show`.

mod support;

use serde_json::Value;
use support::cli::{arazzo, exec};
use support::echo::Echo;
use support::oidc::{AuthConfig, AuthServer, CC_CLIENT, CC_SECRET};
use support::workspace::Workspace;

/// An API at `server` with an apiKey, a bearer and an oauth2 scheme whose
/// token URL is `token_url`; `/open` needs nothing, `/key` the key, `/either`
/// the key or the bearer token, `/both` the key and basic, `/oauth` oauth2
/// with scope `read`, `/digest` HTTP digest.
fn api(server: &str, token_url: &str) -> String {
    format!(
        r#"openapi: 3.1.0
info: {{title: plan, version: 1.0.0}}
servers: [{{url: "{server}"}}]
components:
  securitySchemes:
    key: {{type: apiKey, in: header, name: X-Key}}
    bearer: {{type: http, scheme: bearer}}
    basic: {{type: http, scheme: basic}}
    dig: {{type: http, scheme: digest}}
    oauth:
      type: oauth2
      flows:
        clientCredentials: {{tokenUrl: "{token_url}", scopes: {{read: r}}}}
paths:
  /open: {{get: {{operationId: open, responses: {{"200": {{description: ok}}}}}}}}
  /key: {{get: {{operationId: key, security: [{{key: []}}], responses: {{"200": {{description: ok}}}}}}}}
  /either: {{get: {{operationId: either, security: [{{key: []}}, {{bearer: []}}], responses: {{"200": {{description: ok}}}}}}}}
  /both: {{get: {{operationId: both, security: [{{key: [], basic: []}}], responses: {{"200": {{description: ok}}}}}}}}
  /oauth: {{get: {{operationId: oauth, security: [{{oauth: [read]}}], responses: {{"200": {{description: ok}}}}}}}}
  /digest: {{get: {{operationId: digest, security: [{{dig: []}}], responses: {{"200": {{description: ok}}}}}}}}
"#
    )
}

/// A workflow `w` calling `ops` in order, one step each, named after them.
fn workflow(ops: &[&str]) -> String {
    let mut text = String::from("- workflowId: w\n  steps:\n");
    for op in ops {
        text.push_str(&format!("  - stepId: s_{op}\n    operationId: {op}\n"));
    }
    text
}

fn case(server: &str, token_url: &str, ops: &[&str]) -> (Workspace, std::path::PathBuf) {
    Workspace::with_api("1.0.1", "plan", &api(server, token_url), &workflow(ops))
}

#[test]
fn the_dry_run_names_each_request_s_scheme_and_never_its_value() {
    let echo = Echo::start();
    let (_ws, doc) = case(
        &echo.base_url(),
        "https://auth.example/token",
        &["open", "key", "either", "oauth"],
    );
    let out = exec(
        arazzo()
            .args(["run", "w", "--dry-run", "-o", "json", "-f"])
            .arg(&doc)
            .env("ARAZZO_AUTH_API_KEY_API_KEY", "key-value-0001")
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", "me")
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", "secret-value-0002"),
    );
    out.assert_code(0);
    out.assert_no("key-value-0001");
    out.assert_no("secret-value-0002");
    let plan = out.json();
    let creds = |i: usize| -> Vec<String> {
        plan["steps"][i]["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(creds(0).is_empty(), "{plan:#}");
    assert_eq!(
        creds(1),
        vec!["`key` of source `api` (apiKey (header X-Key))"]
    );
    // The first alternative whose credentials are there.
    assert_eq!(
        creds(2),
        vec!["`key` of source `api` (apiKey (header X-Key))"]
    );
    // Where the client secret will go, named.
    assert_eq!(
        creds(3),
        vec!["`oauth` of source `api` (oauth2, client credentials), token from https://auth.example/token"]
    );
    assert!(echo.api_requests().is_empty(), "a dry run sends nothing");

    // The human view says the same on `credentials:` lines.
    let (_ws, doc) = case(
        &echo.base_url(),
        "https://auth.example/token",
        &["either", "oauth"],
    );
    let out = exec(
        arazzo()
            .args(["run", "w", "--dry-run", "-f"])
            .arg(&doc)
            .env("ARAZZO_AUTH_API_BEARER_TOKEN", "bearer-value-0003")
            .env("ARAZZO_AUTH_API_KEY_API_KEY", "")
            .env("ARAZZO_AUTH_API_OAUTH_ACCESS_TOKEN", "access-value-0004"),
    );
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("credentials: `bearer` of source `api` (http bearer)"),
        "{}",
        out.context()
    );
    // The empty variable is not used, and the user is told.
    out.assert_stderr_has("ARAZZO_AUTH_API_KEY_API_KEY is empty");
    out.assert_no("bearer-value-0003");
    out.assert_no("access-value-0004");
}

#[test]
fn preflight_refuses_a_requirement_left_unmet_when_credentials_are_supplied() {
    let echo = Echo::start();
    let (_ws, doc) = case(
        &echo.base_url(),
        "https://auth.example/token",
        &["open", "both"],
    );
    // The key is supplied, basic is not: a mistake, caught before anything
    // is sent, naming the variables to set.
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .env("ARAZZO_AUTH_API_KEY_API_KEY", "key-value-0001"),
    );
    out.assert_code(2);
    out.assert_stderr_has("step `s_both`");
    out.assert_stderr_has("ARAZZO_AUTH_API_BASIC_USERNAME and ARAZZO_AUTH_API_BASIC_PASSWORD");
    out.assert_stderr_has("nothing was sent");
    out.assert_no("key-value-0001");
    assert!(echo.api_requests().is_empty(), "nothing is sent");
}

#[test]
fn with_no_credential_for_the_source_the_request_goes_without_and_a_warning_says_so() {
    let echo = Echo::start();
    let (_ws, doc) = case(
        &echo.base_url(),
        "https://auth.example/token",
        &["key", "either"],
    );
    let out = exec(arazzo().args(["run", "w", "-f"]).arg(&doc));
    // A mock or a gateway may not care: the run goes on.
    out.assert_code(0);
    out.assert_stderr_has("warning: step `s_key`: the operation requires `key`");
    out.assert_stderr_has("set ARAZZO_AUTH_API_KEY_API_KEY");
    out.assert_stderr_has("so the request is sent without");
    assert!(
        out.stderr.contains("`key` (apiKey (header X-Key))")
            && out.stderr.contains("or `bearer` (http bearer)"),
        "the alternatives are named: {}",
        out.context()
    );
    let sent = echo.api_requests();
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|r| r.header("x-key").is_none() && r.header("authorization").is_none()));
}

#[test]
fn credentials_over_plain_http_to_another_machine_are_warned_about() {
    let (_ws, doc) = case("http://192.0.2.1:9", "https://auth.example/token", &["key"]);
    let out = exec(
        arazzo()
            .args(["run", "w", "--dry-run", "-f"])
            .arg(&doc)
            .env("ARAZZO_AUTH_API_KEY_API_KEY", "key-value-0001"),
    );
    out.assert_code(0);
    out.assert_stderr_has("go over plain http to 192.0.2.1, unencrypted");
    out.assert_no("key-value-0001");
    // To this machine, no warning.
    let echo = Echo::start();
    let (_ws, doc) = case(&echo.base_url(), "https://auth.example/token", &["key"]);
    let out = exec(
        arazzo()
            .args(["run", "w", "--dry-run", "-f"])
            .arg(&doc)
            .env("ARAZZO_AUTH_API_KEY_API_KEY", "key-value-0001"),
    );
    out.assert_code(0);
    assert!(!out.stderr.contains("unencrypted"), "{}", out.context());
}

#[test]
fn a_plain_http_token_endpoint_elsewhere_is_refused_before_anything_is_sent() {
    let echo = Echo::start();
    let (_ws, doc) = case(
        &echo.base_url(),
        "http://auth.example/token",
        &["open", "oauth"],
    );
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", "me")
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", "secret-value-0002"),
    );
    out.assert_code(2);
    out.assert_stderr_has("over plain http");
    out.assert_no("secret-value-0002");
    assert!(echo.api_requests().is_empty());
}

/// Tokens are fetched before the first request: a refused client secret
/// stops the run before the step that needs no token is sent, so nothing is
/// half done.
#[test]
fn a_refused_token_stops_the_run_before_its_first_request() {
    let server = AuthServer::start(AuthConfig::default());
    let echo = Echo::start();
    let (ws, doc) = case(&echo.base_url(), &server.token_endpoint, &["open", "oauth"]);
    let report = ws.path("report.json");
    let out = exec(
        arazzo()
            .args(["run", "w", "-o", "json", "--report"])
            .arg(&report)
            .arg("-f")
            .arg(&doc)
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", CC_CLIENT)
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", "not-the-secret-5"),
    );
    out.assert_code(4);
    let r = out.json();
    assert_eq!(r["error"]["kind"], "auth", "{r:#}");
    assert_eq!(r["error"]["stepId"], "s_oauth", "{r:#}");
    let m = r["error"]["message"].as_str().unwrap_or_default();
    assert!(m.contains("invalid_client"), "{m}");
    assert!(m.contains("before any request was sent"), "{m}");
    // The help names where the credentials were set, never their values.
    assert!(m.contains("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET"), "{m}");
    assert_eq!(r["steps"], Value::Array(vec![]), "{r:#}");
    assert!(echo.api_requests().is_empty(), "nothing reached the API");
    out.assert_no("not-the-secret-5");
    let written = std::fs::read_to_string(&report).unwrap();
    assert!(!written.contains("not-the-secret-5"));

    // With the right secret, the token is fetched once, before the first
    // step, and the step that needs it carries it.
    let before = server.token_requests("client_credentials");
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", CC_CLIENT)
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", CC_SECRET),
    );
    out.assert_code(0);
    assert_eq!(server.token_requests("client_credentials"), before + 1);
    let sent = echo.api_requests();
    assert!(sent[0].header("authorization").is_none());
    assert!(sent[1]
        .header("authorization")
        .is_some_and(|a| a.starts_with("Bearer ")));
    out.assert_no(CC_SECRET);
}

#[test]
fn validate_warns_at_the_step_when_no_credential_can_ever_satisfy_it() {
    let (_ws, doc) = case(
        "https://api.example",
        "https://auth.example/token",
        &["key", "digest"],
    );
    let out = exec(arazzo().args(["validate", "-o", "json"]).arg(&doc));
    out.assert_code(0);
    let v = out.json();
    let found: Vec<&Value> = v
        .as_array()
        .expect("validate -o json writes a list")
        .iter()
        .filter(|d| d["code"] == "auth/unsatisfiable")
        .collect();
    assert_eq!(found.len(), 1, "{v:#}");
    let d = found[0];
    assert_eq!(d["severity"], "warning");
    assert_eq!(d["pointer"], "/workflows/0/steps/1/operationId", "{d:#}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("HTTP `digest` authentication"),
        "{d:#}"
    );
    // A step parameter sending the header satisfies it: no warning.
    let ws = Workspace::new();
    ws.write(
        "api.yaml",
        &api("https://api.example", "https://auth.example/token"),
    );
    let doc = ws.write(
        "wf.arazzo.yaml",
        &support::workspace::arazzo_doc(
            "1.0.1",
            "plan",
            "- workflowId: w\n  steps:\n  - stepId: s\n    operationId: digest\n    parameters:\n    - {name: Authorization, in: header, value: Digest abc}\n",
        ),
    );
    let out = exec(arazzo().args(["validate"]).arg(&doc));
    out.assert_code(0);
    assert!(
        !out.all().contains("auth/unsatisfiable"),
        "{}",
        out.context()
    );
}

#[test]
fn show_lists_the_security_each_step_asks_for() {
    let (_ws, doc) = case(
        "https://api.example",
        "https://auth.example/token",
        &["open", "either", "oauth"],
    );
    let out = exec(arazzo().args(["show", "w", "-f"]).arg(&doc));
    out.assert_code(0);
    assert!(
        out.stdout.contains(
            "security: key (apiKey (header X-Key)), from ARAZZO_AUTH_API_KEY_…; or bearer (http bearer), from ARAZZO_AUTH_API_BEARER_…"
        ),
        "{}",
        out.context()
    );
    assert!(
        out.stdout
            .contains("security: oauth (oauth2) [read], from ARAZZO_AUTH_API_OAUTH_…"),
        "{}",
        out.context()
    );
    let out = exec(arazzo().args(["show", "w", "-o", "json", "-f"]).arg(&doc));
    let v = out.json();
    assert_eq!(v["steps"][0]["security"], Value::Array(vec![]));
    assert_eq!(v["steps"][2]["security"].as_array().unwrap().len(), 1);
}
