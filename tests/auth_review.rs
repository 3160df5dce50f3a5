//! Credentials against hostile answers and mistakes a review found, through
//! the binary: a login token used by a later step masked in `-vvv` logs, a
//! token endpoint echoing the client secret (cut short, form-encoded, in the
//! HTTP Basic pair), an empty token, a token endpoint that never answers,
//! variable names two sources share, unquoted numbers in `--auth-file`,
//! `--env-file` lines, and `x-security` where it cannot apply.

mod support;

use std::time::Duration;

use serde_json::json;
use support::cli::{arazzo, exec};
use support::echo::{Echo, Reply};
use support::workspace::Workspace;

/// An API at `server` with a bearer scheme and an oauth2 client credentials
/// scheme whose token URL is `token_url`; `/login` and `/me` need nothing
/// (the workflow says what they carry), `/oauth` needs oauth2.
fn description(server: &str, token_url: &str) -> String {
    format!(
        r#"openapi: 3.1.0
info: {{title: review, version: 1.0.0}}
servers: [{{url: "{server}"}}]
components:
  securitySchemes:
    bearer: {{type: http, scheme: bearer}}
    oauth:
      type: oauth2
      flows:
        clientCredentials: {{tokenUrl: "{token_url}", scopes: {{}}}}
paths:
  /login: {{post: {{operationId: login, responses: {{"200": {{description: ok}}}}}}}}
  /me: {{get: {{operationId: me, responses: {{"200": {{description: ok}}}}}}}}
  /oauth: {{get: {{operationId: oauth, security: [{{oauth: []}}], responses: {{"200": {{description: ok}}}}}}}}
"#
    )
}

fn oauth_case(api_url: &str, token_url: &str) -> (Workspace, std::path::PathBuf) {
    Workspace::with_api(
        "1.0.1",
        "review",
        &description(api_url, token_url),
        "- workflowId: w\n  steps:\n  - stepId: s\n    operationId: oauth\n",
    )
}

const LOGIN_TOKEN: &str = "LoginIssuedToken-4455667788";

#[test]
fn a_token_from_a_login_step_is_masked_from_its_first_log_line() {
    let echo = Echo::start();
    echo.reply_on("/login", Reply::json(200, &json!({"token": LOGIN_TOKEN})));
    let (ws, doc) = Workspace::with_api(
        "1.0.1",
        "review",
        &description(&echo.base_url(), "https://auth.example/token"),
        "- workflowId: w\n  steps:\n  - stepId: login\n    operationId: login\n    outputs: {token: $response.body#/token}\n  - stepId: me\n    operationId: me\n    x-security:\n    - schemeName: bearer\n      values: {token: $steps.login.outputs.token}\n",
    );
    let trace = ws.path("trace.json");
    let out = exec(
        arazzo()
            .args(["run", "w", "-vvv", "--trace"])
            .arg(&trace)
            .arg("-f")
            .arg(&doc),
    );
    out.assert_code(0);
    let me = echo
        .api_requests()
        .into_iter()
        .find(|r| r.path == "/me")
        .unwrap();
    assert_eq!(
        me.header("authorization"),
        Some(&*format!("Bearer {LOGIN_TOKEN}"))
    );
    // The login response is logged at -vvv before `me` runs: masked already.
    assert!(out.stderr.contains("login"), "{}", out.context());
    out.assert_no(LOGIN_TOKEN);
    let written = std::fs::read_to_string(&trace).unwrap();
    assert!(!written.contains(LOGIN_TOKEN));
}

#[test]
fn a_token_endpoint_echoing_the_secret_cannot_leak_any_part_of_it() {
    let secret = "cl!ent/Secret+99 x-VeryLongClientSecretValue";
    let enc = |s: &str| {
        s.replace('!', "%21")
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace(' ', "+")
    };
    let pair = format!("myclient:{}", enc(secret));
    let basic = arazzo::redact::base64(pair.as_bytes());
    let auth = Echo::start();
    // 180 characters, then the secret: a message cut at 200 would hold its
    // first part; then the HTTP Basic pair as the server saw it.
    let description = format!(
        "{} secret was {secret}; you sent Basic {basic}; form {}",
        "x".repeat(180),
        enc(secret)
    );
    auth.reply_on(
        "/token",
        Reply::json(
            400,
            &json!({"error": "invalid_request", "error_description": description}),
        ),
    );
    let api = Echo::start();
    let (ws, doc) = oauth_case(&api.base_url(), &format!("{}/token", auth.base_url()));
    let report = ws.path("report.json");
    let out = exec(
        arazzo()
            .args(["run", "w", "-o", "json", "--report"])
            .arg(&report)
            .arg("-f")
            .arg(&doc)
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", "myclient")
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", secret),
    );
    out.assert_code(4);
    out.assert_stderr_has("invalid_request");
    for piece in ["cl!ent", "VeryLong", &basic[..24], &enc(secret)[..12]] {
        out.assert_no(piece);
        let written = std::fs::read_to_string(&report).unwrap();
        assert!(!written.contains(piece), "{piece} in the report");
    }
    assert!(api.api_requests().is_empty(), "nothing reached the API");
}

#[test]
fn an_empty_access_token_is_refused() {
    let auth = Echo::start();
    auth.reply_on(
        "/token",
        Reply::json(200, &json!({"access_token": "", "token_type": "bearer"})),
    );
    let api = Echo::start();
    let (_ws, doc) = oauth_case(&api.base_url(), &format!("{}/token", auth.base_url()));
    let out = exec(
        arazzo()
            .args(["run", "w", "-f"])
            .arg(&doc)
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", "me")
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", "secret-value-77"),
    );
    out.assert_code(4);
    out.assert_stderr_has("`access_token` is empty");
    assert!(api.api_requests().is_empty());
}

#[test]
fn a_token_endpoint_that_never_answers_is_held_to_max_duration() {
    let auth = Echo::start();
    auth.delay_answers(Duration::from_secs(20));
    let api = Echo::start();
    let (_ws, doc) = oauth_case(&api.base_url(), &format!("{}/token", auth.base_url()));
    let out = exec(
        arazzo()
            .args(["run", "w", "-o", "json", "--max-duration", "1", "-f"])
            .arg(&doc)
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", "me")
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", "secret-value-77"),
    );
    out.assert_code(1);
    let r = out.json();
    assert_eq!(r["error"]["kind"], "timeout", "{r:#}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("while fetching an OAuth 2.0 token"),
        "{r:#}"
    );
    assert!(api.api_requests().is_empty());
}

#[test]
fn a_variable_name_two_sources_share_is_refused() {
    let ws = Workspace::new();
    let one = "openapi: 3.1.0\ninfo: {title: a, version: 1.0.0}\nservers: [{url: 'http://127.0.0.1:9'}]\ncomponents:\n  securitySchemes:\n    admin_key: {type: apiKey, in: header, name: X-A}\npaths:\n  /a: {get: {operationId: a, security: [{admin_key: []}], responses: {'200': {description: ok}}}}\n";
    let two = "openapi: 3.1.0\ninfo: {title: b, version: 1.0.0}\nservers: [{url: 'http://127.0.0.1:9'}]\ncomponents:\n  securitySchemes:\n    key: {type: apiKey, in: header, name: X-B}\npaths:\n  /b: {get: {operationId: b, security: [{key: []}], responses: {'200': {description: ok}}}}\n";
    ws.write("one.yaml", one);
    ws.write("two.yaml", two);
    let doc = ws.write(
        "wf.arazzo.yaml",
        "arazzo: 1.0.1\ninfo: {title: t, version: 1.0.0}\nsourceDescriptions:\n- {name: api, url: ./one.yaml, type: openapi}\n- {name: api_admin, url: ./two.yaml, type: openapi}\nworkflows:\n- workflowId: w\n  steps:\n  - {stepId: a, operationId: $sourceDescriptions.api.a}\n  - {stepId: b, operationId: $sourceDescriptions.api_admin.b}\n",
    );
    let out = exec(
        arazzo()
            .args(["run", "w", "--dry-run", "-f"])
            .arg(&doc)
            .env(
                "ARAZZO_AUTH_API_ADMIN_KEY_API_KEY",
                "meant-for-one-only-123",
            ),
    );
    out.assert_code(2);
    out.assert_stderr_has(
        "could mean scheme `admin_key` of source `api` and scheme `key` of source `api_admin`",
    );
    out.assert_stderr_has("--auth-file");
    out.assert_no("meant-for-one-only-123");
}

#[test]
fn auth_and_env_files_keep_values_as_written_and_never_echo_a_bad_line() {
    let api = Echo::start();
    let (ws, doc) = Workspace::with_api(
        "1.0.1",
        "review",
        &description(&api.base_url(), "https://auth.example/token"),
        "- workflowId: w\n  steps:\n  - stepId: s\n    operationId: me\n    x-security:\n    - {schemeName: bearer}\n",
    );
    // YAML reads 0x1F as 31: refused, "quote it".
    let file = ws.write("auth.yaml", "api:\n  bearer:\n    token: 0x1F\n");
    set_mode(&file, 0o600);
    let out = exec(
        arazzo()
            .args(["run", "w", "--auth-file"])
            .arg(&file)
            .arg("-f")
            .arg(&doc),
    );
    out.assert_code(2);
    out.assert_stderr_has("quote it");
    assert!(api.api_requests().is_empty());

    // A line with `:` for `=`: refused naming the line, never echoing it.
    let env = ws.write(
        "bad.env",
        "# creds\nARAZZO_AUTH_API_BEARER_TOKEN: c2VjcmV0a2V5MTIz\n",
    );
    set_mode(&env, 0o600);
    let out = exec(
        arazzo()
            .args(["run", "w", "--env-file"])
            .arg(&env)
            .arg("-f")
            .arg(&doc),
    );
    out.assert_code(2);
    out.assert_stderr_has("line 2");
    out.assert_no("c2VjcmV0a2V5MTIz");

    // A later line wins; a file others can read is warned about.
    let env = ws.write(
        "good.env",
        "ARAZZO_AUTH_API_BEARER_TOKEN=\nexport ARAZZO_AUTH_API_BEARER_TOKEN=second-token-value\n",
    );
    set_mode(&env, 0o644);
    let out = exec(
        arazzo()
            .args(["run", "w", "--env-file"])
            .arg(&env)
            .arg("-f")
            .arg(&doc),
    );
    out.assert_code(0);
    out.assert_stderr_has("can be read by other users");
    let sent = api.api_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].header("authorization"),
        Some("Bearer second-token-value")
    );
    out.assert_no("second-token-value");
}

#[test]
fn x_security_where_it_cannot_apply_is_an_error_at_its_place() {
    let (_ws, doc) = Workspace::with_api(
        "1.0.1",
        "review",
        &description("https://api.example", "https://auth.example/token"),
        "- workflowId: parent\n  steps:\n  - stepId: p\n    workflowId: child\n    x-security:\n    - {schemeName: bearer, values: {token: abc}}\n- workflowId: child\n  steps:\n  - stepId: c\n    operationId: me\n    x-security:\n    - scheme: {type: mutualTLS}\n      values: {clientCert: a.pem, clientKey: b.pem}\n",
    );
    let out = exec(arazzo().args(["validate", "-o", "json"]).arg(&doc));
    out.assert_code(3);
    let v = out.json();
    let found: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "auth/x-security")
        .map(|d| {
            (
                d["pointer"].as_str().unwrap().to_string(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        found
            .iter()
            .any(|(p, m)| p == "/workflows/0/steps/0/x-security" && m.contains("calls a workflow")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|(p, m)| p == "/workflows/1/steps/0/x-security/0/scheme"
                && m.contains("client certificate")),
        "{found:#?}"
    );
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_batch_whose_credentials_are_refused_exits_4() {
    let auth = Echo::start();
    for _ in 0..6 {
        auth.reply_on(
            "/token",
            Reply::json(401, &json!({"error": "invalid_client"})),
        );
    }
    let api = Echo::start();
    let (ws, doc) = oauth_case(&api.base_url(), &format!("{}/token", auth.base_url()));
    let lines = ws.write("lines.jsonl", "{}\n{}\n{}\n");
    let out = exec(
        arazzo()
            .args(["run", "w", "-o", "json", "--each"])
            .arg(&lines)
            .arg("-f")
            .arg(&doc)
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", "me")
            .env("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", "secret-value-77"),
    );
    out.assert_code(4);
    let kinds: Vec<String> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["error"]["kind"].to_string())
        .collect();
    assert_eq!(kinds, vec!["\"auth\""; 3], "{}", out.stdout);
    assert!(api.api_requests().is_empty());
    out.assert_no("secret-value-77");
}
