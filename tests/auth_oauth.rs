//! Credentials through the binary, OAuth 2.0 / OpenID Connect / mutual TLS
//! part: `arazzo run` (and `arazzo mcp`) against the real authorization
//! server of `tests/oidc` (oidc-provider) and its introspecting resource
//! server. Each test checks what the user sees (exit code, messages, the
//! report) and what the servers received (token requests by grant, the
//! `Authorization` of every API request), and searches every byte the CLI
//! wrote for the client secret, the password and the tokens.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::cli::{arazzo, arazzo_std, exec, wait_until, Out, Running};
use support::echo::{Echo, Reply};
use support::oidc::{
    AuthConfig, AuthServer, CC_CLIENT, CC_SECRET, PASSWORD, POST_CLIENT, POST_SECRET, PW_CLIENT,
    PW_SECRET, USER,
};
use support::test_ca::TestCa;
use support::workspace::Workspace;

// ---------------------------------------------------------------------------
// Documents.

/// One operation of the resource server's description: operationId, path,
/// and its own `security` (flow-style YAML), if any.
struct Op<'a> {
    id: &'a str,
    path: &'a str,
    security: Option<&'a str>,
}

const fn op<'a>(id: &'a str, path: &'a str) -> Op<'a> {
    Op {
        id,
        path,
        security: None,
    }
}

/// The usual operations: `/api/a`, `/api/b`, `/api/c` and `/api/items/{n}`.
const OPS: [Op<'static>; 4] = [
    op("getA", "/api/a"),
    op("getB", "/api/b"),
    op("getC", "/api/c"),
    op("getItem", "/api/items/{n}"),
];

/// An OpenAPI 3.1 description whose server is `server`, with `schemes`
/// (YAML entries indented by four spaces, see [`oauth2`] and the others), the
/// top-level `security` (flow-style YAML, e.g. `[{oauth: [read]}]`) and `ops`.
fn api_doc(server: &str, schemes: &str, security: &str, ops: &[Op<'_>]) -> String {
    let mut text = format!(
        "openapi: 3.1.0\ninfo:\n  title: resource\n  version: 1.0.0\nservers:\n- url: {server}\nsecurity: {security}\ncomponents:\n  securitySchemes:\n{schemes}paths:\n"
    );
    for o in ops {
        text.push_str(&format!(
            "  {}:\n    get:\n      operationId: {}\n",
            o.path, o.id
        ));
        if let Some(s) = o.security {
            text.push_str(&format!("      security: {s}\n"));
        }
        if o.path.contains("{n}") {
            text.push_str(
                "      parameters:\n      - name: n\n        in: path\n        required: true\n        schema:\n          type: integer\n",
            );
        }
        text.push_str("      responses:\n        '200':\n          description: ok\n");
    }
    text
}

/// An `oauth2` scheme `name` with the flows `flows` (e.g. `clientCredentials`,
/// `password`), each at `token_url`, offering the scopes read, write, admin.
fn oauth2(name: &str, flows: &[&str], token_url: &str) -> String {
    let mut text = format!("    {name}:\n      type: oauth2\n      flows:\n");
    for f in flows {
        text.push_str(&format!(
            "        {f}:\n          tokenUrl: {token_url}\n          scopes:\n            read: read things\n            write: write things\n            admin: everything\n"
        ));
    }
    text
}

fn open_id_connect(name: &str, url: &str) -> String {
    format!("    {name}:\n      type: openIdConnect\n      openIdConnectUrl: {url}\n")
}

fn mutual_tls(name: &str) -> String {
    format!("    {name}:\n      type: mutualTLS\n")
}

/// A workflow `id` whose steps call `ops` (step ids `s1`, `s2`, …) and each
/// output the whole response body as `body`; every step wants a 200. An
/// operation is of source `api` unless named `source.operationId`.
fn workflow(id: &str, ops: &[&str]) -> String {
    let mut text = format!("- workflowId: {id}\n  steps:\n");
    for (i, o) in ops.iter().enumerate() {
        let o = if o.contains('.') {
            o.to_string()
        } else {
            format!("api.{o}")
        };
        text.push_str(&format!(
            "  - stepId: s{}\n    operationId: $sourceDescriptions.{o}\n    successCriteria:\n    - condition: $statusCode == 200\n    outputs:\n      body: $response.body\n",
            i + 1
        ));
    }
    text
}

/// A workflow `items` taking an integer `n` and calling `/api/items/{n}`.
const ITEMS: &str = "- workflowId: items\n  inputs:\n    type: object\n    properties:\n      n:\n        type: integer\n    required: [n]\n  steps:\n  - stepId: item\n    operationId: getItem\n    parameters:\n    - name: n\n      in: path\n      value: $inputs.n\n    successCriteria:\n    - condition: $statusCode == 200\n    outputs:\n      path: $response.body#/path\n  outputs:\n    path: $steps.item.outputs.path\n";

/// Writes `api.yaml` and `wf.arazzo.yaml` (source `api`, plus source `slow`
/// at `slow.yaml` when `slow` is given: an unprotected `GET /wait`,
/// operationId `wait`, on that server).
fn workspace(api: &str, workflows: &str, slow: Option<&str>) -> Workspace {
    let ws = Workspace::new();
    ws.write("api.yaml", api);
    let mut sources = "- name: api\n  url: ./api.yaml\n  type: openapi\n".to_string();
    if let Some(server) = slow {
        ws.write(
            "slow.yaml",
            &format!(
                "openapi: 3.1.0\ninfo:\n  title: slow\n  version: 1.0.0\nservers:\n- url: {server}\npaths:\n  /wait:\n    get:\n      operationId: wait\n      responses:\n        '200':\n          description: ok\n"
            ),
        );
        sources.push_str("- name: slow\n  url: ./slow.yaml\n  type: openapi\n");
    }
    ws.write(
        "wf.arazzo.yaml",
        &format!(
            "arazzo: 1.0.1\ninfo:\n  title: credentials\n  version: 1.0.0\nsourceDescriptions:\n{sources}workflows:\n{workflows}"
        ),
    );
    ws
}

/// `arazzo run WF -f wf.arazzo.yaml -o json` writing `--report`, `--trace`
/// and `--junit` files into the workspace, with `env` set.
fn run(ws: &Workspace, wf: &str, env: &[(&str, &str)]) -> assert_cmd::Command {
    assert_cmd::Command::from_std(run_std(ws, wf, env))
}

fn run_std(ws: &Workspace, wf: &str, env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = arazzo_std();
    cmd.args(["run", wf, "-o", "json", "-f"])
        .arg(ws.path("wf.arazzo.yaml"))
        .arg("--report")
        .arg(ws.path("report.json"))
        .arg("--trace")
        .arg(ws.path("trace.json"))
        .arg("--junit")
        .arg(ws.path("junit.xml"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The client-credentials variables of scheme `oauth` of source `api`.
/// The usual operations behind one oauth2 scheme `oauth` (client
/// credentials at the server's token endpoint), with top-level `security`.
fn cc_api(auth: &AuthServer, security: &str) -> String {
    api_doc(
        &auth.resource,
        &oauth2("oauth", &["clientCredentials"], &auth.token_endpoint),
        security,
        &OPS,
    )
}

fn cc_env<'a>(id: &'a str, secret: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", id),
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", secret),
    ]
}

// ---------------------------------------------------------------------------
// What the servers saw.

/// The bearer token of each `/api` request the resource server received, in
/// order (`None` for a request without one).
fn bearers(auth: &AuthServer) -> Vec<Option<String>> {
    auth.requests()
        .iter()
        .map(|r| {
            r["authorization"]
                .as_str()
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(str::to_string)
        })
        .collect()
}

/// Every distinct bearer token the resource server received.
fn tokens_seen(auth: &AuthServer) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in bearers(auth).into_iter().flatten() {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// Paths of the `/api` requests, in order.
fn api_paths(auth: &AuthServer) -> Vec<String> {
    auth.requests()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect()
}

/// The report's step `s` outputs `body`.
fn body_of(report: &Value, step: usize) -> &Value {
    &report["steps"][step]["outputs"]["body"]
}

// ---------------------------------------------------------------------------
// Secrets.

fn base64(data: &[u8], url_safe: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    // Unpadded: a padded encoding contains it.
    out
}

/// `secret` as it could leak: as is, and base64 (standard and URL-safe).
fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_string(),
        base64(secret.as_bytes(), false),
        base64(secret.as_bytes(), true),
    ]
}

/// A client secret's forms, plus the base64 `id:secret` of HTTP Basic.
fn client_forms(id: &str, secret: &str) -> Vec<String> {
    let mut out = forms(secret);
    let pair = format!("{id}:{secret}");
    out.push(base64(pair.as_bytes(), false));
    out.push(base64(pair.as_bytes(), true));
    out
}

/// Everything the CLI wrote: stdout, stderr and every file in the workspace
/// (reports, traces, JUnit, journals), each named.
fn written(out: &Out, ws: &Workspace) -> Vec<(String, String)> {
    let mut all = vec![
        ("stdout".to_string(), out.stdout.clone()),
        ("stderr".to_string(), out.stderr.clone()),
    ];
    all.extend(files_under(&ws.path("")));
    all
}

fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

/// None of `secrets` (in any of the forms given) is in any of `written`.
fn assert_secret_free(written: &[(String, String)], secrets: &[String]) {
    assert!(!secrets.is_empty());
    for s in secrets {
        assert!(s.len() >= 6, "a secret too short to search for: {s:?}");
        for (name, text) in written {
            assert!(
                !text.contains(s.as_str()),
                "the secret `{s}` is in {name}:\n{text}"
            );
        }
    }
}

/// The files a run with [`run`] must have written (so that searching them
/// is not vacuous).
fn assert_files_written(ws: &Workspace) {
    for f in ["report.json", "trace.json", "junit.xml"] {
        assert!(ws.path(f).is_file(), "{f} was not written");
    }
}

/// Every token the resource server received, in all forms.
fn token_forms(auth: &AuthServer) -> Vec<String> {
    let seen = tokens_seen(auth);
    assert!(!seen.is_empty(), "the resource server saw no token");
    seen.iter().flat_map(|t| forms(t)).collect()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} ({e}): {text}", path.display()))
}

/// A 127.0.0.1 port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

// ---------------------------------------------------------------------------
// 1. Client credentials: one token for a whole workflow.

#[test]
fn client_credentials_token_is_fetched_once_and_sent_on_every_step() {
    let auth = AuthServer::start(AuthConfig::default());
    let api = cc_api(&auth, "[{oauth: [read]}]");
    let ws = workspace(&api, &workflow("three", &["getA", "getB", "getC"]), None);
    let out = exec(&mut run(&ws, "three", &cc_env(CC_CLIENT, CC_SECRET)));
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["status"], "succeeded", "{}", out.context());
    for i in 0..3 {
        assert_eq!(body_of(&report, i)["clientId"], CC_CLIENT, "{report}");
    }

    assert_eq!(auth.token_requests("client_credentials"), 1);
    assert_eq!(auth.token_errors(), 0);
    assert_eq!(api_paths(&auth), ["/api/a", "/api/b", "/api/c"]);
    let seen = bearers(&auth);
    assert!(seen.iter().all(|b| b.is_some()), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "one token for every step: {seen:?}"
    );

    assert_files_written(&ws);
    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

// ---------------------------------------------------------------------------
// 2. Scopes.

#[test]
fn scopes_come_from_the_requirement_or_the_scopes_field_and_an_unknown_one_is_refused() {
    let auth = AuthServer::start(AuthConfig::default());
    let mut ops: Vec<Op> = OPS.into_iter().collect();
    ops.push(Op {
        id: "getAdmin",
        path: "/api/scoped/admin",
        security: Some("[{oauth: [admin]}]"),
    });
    let api = api_doc(
        &auth.resource,
        &oauth2("oauth", &["clientCredentials"], &auth.token_endpoint),
        "[{oauth: [read]}]",
        &ops,
    );
    let workflows = format!(
        "{}{}",
        workflow("plain", &["getA"]),
        workflow("admin", &["getAdmin"])
    );
    let ws = workspace(&api, &workflows, None);

    // The requirement's scopes.
    let out = exec(&mut run(&ws, "plain", &cc_env(CC_CLIENT, CC_SECRET)));
    out.assert_code(0);
    assert_eq!(body_of(&out.json(), 0)["scope"], "read", "{}", out.stdout);

    // `scopes` overrides them.
    let mut env = cc_env(CC_CLIENT, CC_SECRET);
    env.push(("ARAZZO_AUTH_API_OAUTH_SCOPES", "write"));
    let out = exec(&mut run(&ws, "plain", &env));
    out.assert_code(0);
    assert_eq!(body_of(&out.json(), 0)["scope"], "write", "{}", out.stdout);

    // An operation's own requirement: admin.
    let out = exec(&mut run(&ws, "admin", &cc_env(CC_CLIENT, CC_SECRET)));
    out.assert_code(0);
    let body = body_of(&out.json(), 0).clone();
    assert_eq!(body["scope"], "admin", "{}", out.stdout);
    assert_eq!(body["path"], "/api/scoped/admin");
    assert_eq!(auth.token_requests("client_credentials"), 3);
    assert_eq!(auth.requests().len(), 3);

    // A scope the server does not know: invalid_scope, exit 4, nothing sent.
    let mut env = cc_env(CC_CLIENT, CC_SECRET);
    env.push(("ARAZZO_AUTH_API_OAUTH_SCOPES", "read bogus"));
    let mut cmd = run(&ws, "plain", &env);
    let out = exec(&mut cmd);
    out.assert_code(4);
    let report = out.json();
    let message = report["error"]["message"].as_str().unwrap_or_default();
    for want in ["`oauth`", "`api`", "invalid_scope", &auth.token_endpoint] {
        assert!(message.contains(want), "{want} not in {message}");
        assert!(
            out.stderr.contains(want),
            "{want} not on stderr: {}",
            out.stderr
        );
    }
    assert_eq!(report["error"]["kind"], "auth", "{report}");
    assert_eq!(auth.requests().len(), 3, "the API got a request");
    assert_eq!(auth.token_errors(), 1);

    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

// ---------------------------------------------------------------------------
// 3. OpenID Connect.

#[test]
fn open_id_connect_discovers_the_token_endpoint_then_uses_client_credentials() {
    let auth = AuthServer::start(AuthConfig::default());
    let discovery = format!("{}/.well-known/openid-configuration", auth.issuer);
    let api = api_doc(
        &auth.resource,
        &open_id_connect("oidc", &discovery),
        "[{oidc: [read, write]}]",
        &OPS,
    );
    let ws = workspace(&api, &workflow("two", &["getA", "getB"]), None);
    let env = [
        ("ARAZZO_AUTH_API_OIDC_CLIENT_ID", CC_CLIENT),
        ("ARAZZO_AUTH_API_OIDC_CLIENT_SECRET", CC_SECRET),
    ];
    let out = exec(&mut run(&ws, "two", &env));
    out.assert_code(0);
    let report = out.json();
    let body = body_of(&report, 1);
    assert_eq!(body["clientId"], CC_CLIENT, "{report}");
    assert_eq!(body["scope"], "read write", "{report}");
    assert_eq!(auth.token_requests("client_credentials"), 1);
    assert_eq!(auth.token_errors(), 0);
    assert_eq!(tokens_seen(&auth).len(), 1);
    assert_eq!(auth.requests().len(), 2);

    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

// ---------------------------------------------------------------------------
// 4. client_secret_post.

#[test]
fn a_client_that_takes_only_client_secret_post_is_served_after_basic_is_refused() {
    let auth = AuthServer::start(AuthConfig::default());
    let api = cc_api(&auth, "[{oauth: [read]}]");
    let ws = workspace(&api, &workflow("two", &["getA", "getB"]), None);
    let out = exec(&mut run(&ws, "two", &cc_env(POST_CLIENT, POST_SECRET)));
    out.assert_code(0);
    assert_eq!(body_of(&out.json(), 1)["clientId"], POST_CLIENT);
    // Basic first (refused), then the form; and only once for both steps.
    assert_eq!(auth.token_requests("client_credentials"), 2);
    assert_eq!(auth.token_errors(), 1);
    assert_eq!(tokens_seen(&auth).len(), 1);

    let mut secrets = client_forms(POST_CLIENT, POST_SECRET);
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

// ---------------------------------------------------------------------------
// 5. Password grant, with verbose logs searched too.

#[test]
fn password_grant_with_verbose_logs_leaks_nothing() {
    let auth = AuthServer::start(AuthConfig::default());
    let api = api_doc(
        &auth.resource,
        &oauth2("oauth", &["password"], &auth.token_endpoint),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(&api, &workflow("two", &["getA", "getB"]), None);
    let env = [
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", PW_CLIENT),
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", PW_SECRET),
        ("ARAZZO_AUTH_API_OAUTH_USERNAME", USER),
        ("ARAZZO_AUTH_API_OAUTH_PASSWORD", PASSWORD),
    ];
    let mut cmd = run(&ws, "two", &env);
    cmd.arg("-vv");
    let out = exec(&mut cmd);
    out.assert_code(0);
    let report = out.json();
    assert_eq!(body_of(&report, 0)["sub"], USER, "{report}");
    assert_eq!(body_of(&report, 1)["clientId"], PW_CLIENT, "{report}");
    assert_eq!(auth.token_requests("password"), 1);
    assert_eq!(auth.token_requests("client_credentials"), 0);
    assert_eq!(auth.token_errors(), 0);
    assert_eq!(tokens_seen(&auth).len(), 1);
    // -vv says something about the requests (the search below is not of an
    // empty log).
    assert!(out.stderr.contains("/api/a"), "{}", out.stderr);

    let mut secrets = client_forms(PW_CLIENT, PW_SECRET);
    secrets.extend(forms(PASSWORD));
    secrets.extend(client_forms(USER, PASSWORD));
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

// ---------------------------------------------------------------------------
// 6. Renewal before expiry.

/// An Echo server whose `/wait` answers after `delay`.
fn slow_server(delay: Duration) -> Echo {
    let echo = Echo::start();
    echo.reply_on(
        "/wait",
        Reply::json(200, &serde_json::json!({"waited": true})).after(delay),
    );
    echo
}

#[test]
fn an_expiring_client_credentials_token_is_renewed_before_the_api_refuses_it() {
    let auth = AuthServer::start(AuthConfig {
        token_ttl: 2,
        mtls: None,
    });
    let slow = slow_server(Duration::from_millis(2500));
    let api = cc_api(&auth, "[{oauth: [read]}]");
    let ws = workspace(
        &api,
        &workflow("spread", &["getA", "slow.wait", "getB"]),
        Some(&slow.base_url()),
    );
    let out = exec(&mut run(&ws, "spread", &cc_env(CC_CLIENT, CC_SECRET)));
    out.assert_code(0);
    // A second client_credentials request, made before the old token was
    // refused: each API request was sent once and succeeded.
    assert_eq!(auth.token_requests("client_credentials"), 2);
    assert_eq!(auth.token_requests("refresh_token"), 0);
    assert_eq!(api_paths(&auth), ["/api/a", "/api/b"]);
    let seen = bearers(&auth);
    assert_ne!(seen[0], seen[1], "the token was not renewed");
    // The slow API got no credential of the other source.
    let waited = slow.api_requests();
    assert_eq!(waited.len(), 1);
    assert_eq!(waited[0].header("authorization"), None);

    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

#[test]
fn an_expiring_password_token_is_renewed_with_the_refresh_token() {
    let auth = AuthServer::start(AuthConfig {
        token_ttl: 2,
        mtls: None,
    });
    let slow = slow_server(Duration::from_millis(2500));
    let api = api_doc(
        &auth.resource,
        &oauth2("oauth", &["password"], &auth.token_endpoint),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(
        &api,
        &workflow("spread", &["getA", "slow.wait", "getB"]),
        Some(&slow.base_url()),
    );
    let env = [
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", PW_CLIENT),
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", PW_SECRET),
        ("ARAZZO_AUTH_API_OAUTH_USERNAME", USER),
        ("ARAZZO_AUTH_API_OAUTH_PASSWORD", PASSWORD),
    ];
    let out = exec(&mut run(&ws, "spread", &env));
    out.assert_code(0);
    assert_eq!(auth.token_requests("password"), 1);
    assert_eq!(auth.token_requests("refresh_token"), 1);
    assert_eq!(auth.token_errors(), 0);
    assert_eq!(api_paths(&auth), ["/api/a", "/api/b"]);
    let seen = bearers(&auth);
    assert_ne!(seen[0], seen[1], "the token was not renewed");
    assert_eq!(body_of(&out.json(), 2)["sub"], USER);

    let mut secrets = client_forms(PW_CLIENT, PW_SECRET);
    secrets.extend(forms(PASSWORD));
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

// ---------------------------------------------------------------------------
// 7. Renewal on a 401.

/// Runs workflow `spread` (getA, the slow `wait`, getB) in the background
/// and revokes every access token while `wait` is waiting.
fn run_revoking_midway(auth: &AuthServer, flow: &str, env: &[(&str, &str)]) -> (Workspace, Out) {
    let slow = slow_server(Duration::from_millis(1000));
    let api = api_doc(
        &auth.resource,
        &oauth2("oauth", &[flow], &auth.token_endpoint),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(
        &api,
        &workflow("spread", &["getA", "slow.wait", "getB"]),
        Some(&slow.base_url()),
    );
    let running = Running::start(run_std(&ws, "spread", env));
    wait_until("the slow step is sent", || !slow.api_requests().is_empty());
    assert_eq!(auth.requests().len(), 1, "getA came first");
    auth.revoke_all();
    let out = running.finish(Duration::from_secs(30));
    (ws, out)
}

#[test]
fn a_refused_client_credentials_token_is_renewed_once_and_the_request_resent() {
    let auth = AuthServer::start(AuthConfig::default());
    let (ws, out) = run_revoking_midway(&auth, "clientCredentials", &cc_env(CC_CLIENT, CC_SECRET));
    out.assert_code(0);
    assert_eq!(api_paths(&auth), ["/api/a", "/api/b", "/api/b"]);
    let seen = bearers(&auth);
    assert_eq!(seen[0], seen[1], "getB first carried the revoked token");
    assert_ne!(seen[1], seen[2], "getB was resent with a new token");
    assert_eq!(auth.token_requests("client_credentials"), 2);

    // The trace shows both exchanges of getB, the token masked.
    let trace = read_json(&ws.path("trace.json"));
    let b: Vec<&Value> = trace["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["stepId"] == "s3")
        .collect();
    assert_eq!(b.len(), 2, "{trace:#}");
    assert_eq!(b[0]["response"]["status"], 401);
    assert_eq!(b[1]["response"]["status"], 200);
    for x in &b {
        let a = x["request"]["headers"]["Authorization"]
            .as_str()
            .or(x["request"]["headers"]["authorization"].as_str())
            .unwrap_or_else(|| panic!("no Authorization in the trace: {x}"));
        assert!(!a.contains(seen[2].as_deref().unwrap()), "{a}");
    }

    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

#[test]
fn a_refused_password_token_is_renewed_with_the_refresh_token() {
    let auth = AuthServer::start(AuthConfig::default());
    let env = [
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", PW_CLIENT),
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", PW_SECRET),
        ("ARAZZO_AUTH_API_OAUTH_USERNAME", USER),
        ("ARAZZO_AUTH_API_OAUTH_PASSWORD", PASSWORD),
    ];
    let (ws, out) = run_revoking_midway(&auth, "password", &env);
    out.assert_code(0);
    assert_eq!(api_paths(&auth), ["/api/a", "/api/b", "/api/b"]);
    let seen = bearers(&auth);
    assert_eq!(seen[0], seen[1]);
    assert_ne!(seen[1], seen[2]);
    assert_eq!(auth.token_requests("password"), 1);
    assert_eq!(auth.token_requests("refresh_token"), 1);

    let mut secrets = client_forms(PW_CLIENT, PW_SECRET);
    secrets.extend(forms(PASSWORD));
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

#[test]
fn when_the_new_token_is_refused_too_the_step_fails_after_one_renewal() {
    let auth = AuthServer::start(AuthConfig::default());
    // An API that refuses every token (the tokens themselves are real).
    let api_server = Echo::start();
    for _ in 0..4 {
        api_server.reply_on(
            "/api/a",
            Reply::json(401, &serde_json::json!({"error": "invalid_token"}))
                .header("www-authenticate", "Bearer error=\"invalid_token\""),
        );
    }
    let api = api_doc(
        &api_server.base_url(),
        &oauth2("oauth", &["clientCredentials"], &auth.token_endpoint),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(&api, &workflow("one", &["getA"]), None);
    let out = exec(&mut run(&ws, "one", &cc_env(CC_CLIENT, CC_SECRET)));
    out.assert_code(1);
    let sent = api_server.api_requests();
    assert_eq!(sent.len(), 2, "sent once, then once more with a new token");
    let a0 = sent[0].header("authorization").unwrap().to_string();
    let a1 = sent[1].header("authorization").unwrap().to_string();
    assert!(a0.starts_with("Bearer ") && a1.starts_with("Bearer "));
    assert_ne!(a0, a1);
    assert_eq!(auth.token_requests("client_credentials"), 2);
    let report = out.json();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["steps"][0]["statusCode"], 401, "{report}");
    assert_eq!(report["error"]["stepId"], "s1", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("401"), "{message}");

    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    for a in [&a0, &a1] {
        secrets.extend(forms(a.strip_prefix("Bearer ").unwrap()));
    }
    assert_secret_free(&written(&out, &ws), &secrets);
}

#[test]
fn the_help_after_a_refused_oauth_token_names_the_scheme_not_a_hand_written_header() {
    let auth = AuthServer::start(AuthConfig::default());
    let api_server = Echo::start();
    for _ in 0..2 {
        api_server.reply_on(
            "/api/a",
            Reply::json(401, &serde_json::json!({"error": "invalid_token"})),
        );
    }
    let api = api_doc(
        &api_server.base_url(),
        &oauth2("oauth", &["clientCredentials"], &auth.token_endpoint),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(&api, &workflow("one", &["getA"]), None);
    let mut cmd = arazzo();
    cmd.args(["run", "one", "-f"])
        .arg(ws.path("wf.arazzo.yaml"));
    for (k, v) in cc_env(CC_CLIENT, CC_SECRET) {
        cmd.env(k, v);
    }
    let out = exec(&mut cmd);
    out.assert_code(1);
    assert_eq!(api_server.api_requests().len(), 2);
    // Both requests carried a token of scheme `oauth`: the help must say so,
    // not that no credential was sent and one should be hand-written.
    assert!(
        !out.stderr.contains("carried no credential"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`oauth`"), "{}", out.stderr);
}

#[test]
fn supplied_username_and_password_choose_the_password_grant_when_both_flows_are_declared() {
    let auth = AuthServer::start(AuthConfig::default());
    let api = api_doc(
        &auth.resource,
        &oauth2(
            "oauth",
            &["clientCredentials", "password"],
            &auth.token_endpoint,
        ),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(&api, &workflow("one", &["getA"]), None);
    // With alice's username and password given, the API is called as alice
    // (pw-client may not use client credentials at all: today the run exits
    // 4; a client that may would silently act as itself instead of alice).
    let env = [
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", PW_CLIENT),
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", PW_SECRET),
        ("ARAZZO_AUTH_API_OAUTH_USERNAME", USER),
        ("ARAZZO_AUTH_API_OAUTH_PASSWORD", PASSWORD),
    ];
    let out = exec(&mut run(&ws, "one", &env));
    out.assert_code(0);
    assert_eq!(body_of(&out.json(), 0)["sub"], USER);
    assert_eq!(auth.token_requests("password"), 1);
    assert_eq!(auth.token_requests("client_credentials"), 0);
}

#[test]
fn when_no_new_token_can_be_had_after_a_401_the_step_fails_with_exit_4() {
    let auth = AuthServer::start(AuthConfig::default());
    // A real access token, revoked, and a refresh token the server never
    // issued.
    let (status, answer) = auth.token_request(
        Some((PW_CLIENT, PW_SECRET)),
        &[
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
            ("scope", "read"),
        ],
    );
    assert_eq!(status, 200, "{answer}");
    let stale = answer["access_token"].as_str().unwrap().to_string();
    let before = auth.stats();
    auth.revoke_all();
    let bogus_refresh = "not-a-refresh-token-4f9e2b7c";
    let api = api_doc(
        &auth.resource,
        &oauth2("oauth", &["password"], &auth.token_endpoint),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(&api, &workflow("one", &["getA"]), None);
    let env = [
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", PW_CLIENT),
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", PW_SECRET),
        ("ARAZZO_AUTH_API_OAUTH_ACCESS_TOKEN", stale.as_str()),
        ("ARAZZO_AUTH_API_OAUTH_REFRESH_TOKEN", bogus_refresh),
    ];
    let out = exec(&mut run(&ws, "one", &env));
    out.assert_code(4);
    assert_eq!(bearers(&auth), [Some(stale.clone())]);
    let refreshes = auth.token_requests("refresh_token")
        - before["tokenRequests"]["refresh_token"]
            .as_u64()
            .unwrap_or(0);
    assert_eq!(refreshes, 1);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "auth", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    for want in [
        "`oauth`",
        "`api`",
        "401",
        "invalid_grant",
        &auth.token_endpoint,
    ] {
        assert!(message.contains(want), "{want} not in {message}");
        assert!(
            out.stderr.contains(want),
            "{want} not on stderr: {}",
            out.stderr
        );
    }

    let mut secrets = client_forms(PW_CLIENT, PW_SECRET);
    secrets.extend(forms(&stale));
    secrets.extend(forms(bogus_refresh));
    assert_secret_free(&written(&out, &ws), &secrets);
}

// ---------------------------------------------------------------------------
// 8, 9. Tokens supplied directly.

#[test]
fn a_supplied_refresh_token_is_exchanged_with_the_refresh_grant() {
    let auth = AuthServer::start(AuthConfig::default());
    let refresh = auth.mint_refresh_token();
    let api = api_doc(
        &auth.resource,
        &oauth2("oauth", &["password"], &auth.token_endpoint),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(&api, &workflow("two", &["getA", "getB"]), None);
    let env = [
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", PW_CLIENT),
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", PW_SECRET),
        ("ARAZZO_AUTH_API_OAUTH_REFRESH_TOKEN", refresh.as_str()),
    ];
    let out = exec(&mut run(&ws, "two", &env));
    out.assert_code(0);
    assert_eq!(auth.token_requests("refresh_token"), 1);
    assert_eq!(auth.token_requests("password"), 0);
    assert_eq!(auth.token_requests("client_credentials"), 0);
    assert_eq!(body_of(&out.json(), 0)["sub"], USER);
    assert_eq!(tokens_seen(&auth).len(), 1);

    let mut secrets = client_forms(PW_CLIENT, PW_SECRET);
    secrets.extend(forms(&refresh));
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

#[test]
fn a_supplied_access_token_is_sent_as_it_is_without_a_token_request() {
    let auth = AuthServer::start(AuthConfig::default());
    let token = auth.client_credentials_token(CC_CLIENT, CC_SECRET, Some("read"));
    assert_eq!(auth.token_requests("client_credentials"), 1);
    let api = cc_api(&auth, "[{oauth: [read]}]");
    let ws = workspace(&api, &workflow("two", &["getA", "getB"]), None);
    let env = [("ARAZZO_AUTH_API_OAUTH_ACCESS_TOKEN", token.as_str())];
    let out = exec(&mut run(&ws, "two", &env));
    out.assert_code(0);
    assert_eq!(auth.token_requests("client_credentials"), 1, "no new token");
    assert_eq!(bearers(&auth), [Some(token.clone()), Some(token.clone())]);
    assert_secret_free(&written(&out, &ws), &forms(&token));
}

// ---------------------------------------------------------------------------
// 10, 11. Token endpoint failures.

#[test]
fn a_wrong_client_secret_exits_4_naming_the_scheme_and_invalid_client_and_sends_nothing() {
    let auth = AuthServer::start(AuthConfig::default());
    let api = cc_api(&auth, "[{oauth: [read]}]");
    let ws = workspace(&api, &workflow("two", &["getA", "getB"]), None);
    let wrong = "not-the-cc-secret-81";
    let out = exec(&mut run(&ws, "two", &cc_env(CC_CLIENT, wrong)));
    out.assert_code(4);
    let report = out.json();
    assert_eq!(report["error"]["kind"], "auth", "{report}");
    assert_eq!(report["error"]["stepId"], "s1", "{report}");
    for want in ["`oauth`", "`api`", "invalid_client", &auth.token_endpoint] {
        assert!(
            out.stderr.contains(want),
            "{want} not on stderr: {}",
            out.stderr
        );
    }
    assert!(auth.requests().is_empty(), "{:?}", auth.requests());
    assert!(auth.token_requests("client_credentials") >= 1);
    assert_eq!(
        auth.token_errors(),
        auth.token_requests("client_credentials")
    );
    assert_secret_free(&written(&out, &ws), &client_forms(CC_CLIENT, wrong));
}

#[test]
fn an_unreachable_token_endpoint_exits_4_with_a_clear_message() {
    let auth = AuthServer::start(AuthConfig::default());
    let token_url = format!("http://127.0.0.1:{}/token", closed_port());
    let api = api_doc(
        &auth.resource,
        &oauth2("oauth", &["clientCredentials"], &token_url),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(&api, &workflow("one", &["getA"]), None);
    let out = exec(&mut run(&ws, "one", &cc_env(CC_CLIENT, CC_SECRET)));
    out.assert_code(4);
    for want in ["`oauth`", "`api`", "could not be reached", &token_url] {
        assert!(
            out.stderr.contains(want),
            "{want} not on stderr: {}",
            out.stderr
        );
    }
    assert!(auth.requests().is_empty());
    assert_secret_free(&written(&out, &ws), &client_forms(CC_CLIENT, CC_SECRET));
}

// ---------------------------------------------------------------------------
// 12. A batch shares one token.

#[test]
fn a_batch_of_many_lines_makes_one_token_request() {
    const LINES: usize = 600;
    let auth = AuthServer::start(AuthConfig::default());
    let api = cc_api(&auth, "[{oauth: [read]}]");
    let ws = workspace(&api, ITEMS, None);
    let lines: String = (1..=LINES).map(|n| format!("{{\"n\": {n}}}\n")).collect();
    let file = ws.write("lines.jsonl", &lines);
    let mut cmd = arazzo();
    cmd.args(["run", "items", "-o", "json", "-f"])
        .arg(ws.path("wf.arazzo.yaml"))
        .arg("--each")
        .arg(&file)
        .args(["--concurrency", "4"]);
    for (k, v) in cc_env(CC_CLIENT, CC_SECRET) {
        cmd.env(k, v);
    }
    let out = exec(&mut cmd);
    out.assert_code(0);
    let reports: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), LINES);
    assert!(
        reports.iter().all(|r| r["status"] == "succeeded"),
        "{}",
        out.stdout
    );
    assert_eq!(auth.token_requests("client_credentials"), 1);
    assert_eq!(auth.token_errors(), 0);
    let seen = bearers(&auth);
    assert_eq!(seen.len(), LINES);
    assert_eq!(tokens_seen(&auth).len(), 1);
    let mut paths = api_paths(&auth);
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), LINES);

    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}

// ---------------------------------------------------------------------------
// 13. Mutual TLS.

#[test]
fn mutual_tls_presents_the_client_certificate_of_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::generate(dir.path());
    let (cert, key) = ca.client("robot-7");
    let (bad_cert, bad_key) = ca.untrusted_client("intruder");
    let auth = AuthServer::start(AuthConfig {
        mtls: Some(ca.mtls_files()),
        ..AuthConfig::default()
    });
    let mtls = auth.mtls.clone().expect("the mTLS server runs");
    let ca_pem = ca.ca_cert.to_str().unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());

    // A description with a mutualTLS scheme, named `clientTls`.
    let api = api_doc(&mtls, &mutual_tls("clientTls"), "[{clientTls: []}]", &OPS);
    let ws = workspace(&api, &workflow("two", &["getA", "getB"]), None);
    let with = |c: &str, k: &str| -> Out {
        exec(&mut run(
            &ws,
            "two",
            &[
                ("SSL_CERT_FILE", ca_pem),
                ("ARAZZO_AUTH_API_CLIENT_TLS_CLIENT_CERT", c),
                ("ARAZZO_AUTH_API_CLIENT_TLS_CLIENT_KEY", k),
            ],
        ))
    };
    let out = with(cert, key);
    out.assert_code(0);
    let report = out.json();
    assert_eq!(body_of(&report, 0)["cn"], "robot-7", "{report}");
    assert_eq!(body_of(&report, 1)["cn"], "robot-7", "{report}");

    // A certificate of a CA the server does not trust: the handshake fails.
    // Over TLS 1.3 the client may read the server's alert or only see the
    // connection closed; when the alert is read, the user is not sent to
    // check the server's certificate.
    let out = with(bad_cert.to_str().unwrap(), bad_key.to_str().unwrap());
    out.assert_code(1);
    assert_eq!(out.json()["error"]["kind"], "transport", "{}", out.stdout);
    if out.stderr.contains("received fatal alert") {
        assert!(
            out.stderr.contains("refused the client certificate"),
            "{}",
            out.stderr
        );
    }

    // No certificate at all: the server asks for one.
    let out = exec(&mut run(&ws, "two", &[("SSL_CERT_FILE", ca_pem)]));
    out.assert_code(1);
    assert_eq!(out.json()["error"]["kind"], "transport", "{}", out.stdout);
    assert!(
        out.stderr.contains("asks for a client certificate"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("CLIENT_CERT"), "{}", out.stderr);

    // A key file that is not there: exit 4, the file named, nothing sent.
    let missing = dir.path().join("no-such-key.pem");
    let out = with(cert, missing.to_str().unwrap());
    out.assert_code(4);
    assert!(
        out.stderr.contains(missing.to_str().unwrap()),
        "{}",
        out.stderr
    );

    // A description without a mutualTLS scheme: the pseudo-scheme `mtls`.
    let api = api_doc(&mtls, &mutual_tls("unused"), "[]", &OPS);
    let ws = workspace(&api, &workflow("two", &["getA", "getB"]), None);
    let out = exec(&mut run(
        &ws,
        "two",
        &[
            ("SSL_CERT_FILE", ca_pem),
            ("ARAZZO_AUTH_API_MTLS_CLIENT_CERT", cert),
            ("ARAZZO_AUTH_API_MTLS_CLIENT_KEY", key),
        ],
    ));
    out.assert_code(0);
    assert_eq!(body_of(&out.json(), 1)["cn"], "robot-7");
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// 14. MCP.

mod mcp {
    pub use super::support::mcp_stdio::{call, connect_stdio, text_of};

    pub fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }
}

#[test]
fn mcp_fetches_one_token_for_two_calls_and_never_returns_it() {
    let auth = AuthServer::start(AuthConfig::default());
    let api = cc_api(&auth, "[{oauth: [read]}]");
    let ws = workspace(&api, ITEMS, None);
    let mut cmd = arazzo_std();
    cmd.arg("mcp").arg(ws.path("wf.arazzo.yaml")).arg("-v");
    for (k, v) in cc_env(CC_CLIENT, CC_SECRET) {
        cmd.env(k, v);
    }
    let rt = mcp::runtime();
    let (results, stderr) = rt.block_on(async {
        let (client, stderr) = mcp::connect_stdio(cmd).await;
        let tools = client.list_all_tools().await.unwrap();
        let items = tools
            .iter()
            .find(|t| t.name == "items")
            .expect("the workflow is served");
        // The agent is not asked for credentials.
        let schema = serde_json::to_string(&items.input_schema).unwrap();
        for field in ["clientSecret", "accessToken", "CLIENT_SECRET"] {
            assert!(!schema.contains(field), "{schema}");
        }
        let mut results = Vec::new();
        for n in [7, 8] {
            let r = mcp::call(&client, "items", serde_json::json!({"n": n})).await;
            assert_ne!(r.is_error, Some(true), "{}", mcp::text_of(&r));
            results.push(serde_json::to_string(&r).unwrap());
        }
        client.cancel().await.unwrap();
        (results, stderr)
    });
    assert_eq!(api_paths(&auth), ["/api/items/7", "/api/items/8"]);
    assert!(results[0].contains("/api/items/7"), "{}", results[0]);
    assert!(results[1].contains("/api/items/8"), "{}", results[1]);
    assert_eq!(auth.token_requests("client_credentials"), 1);
    assert_eq!(tokens_seen(&auth).len(), 1);

    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    secrets.extend(token_forms(&auth));
    let written: Vec<(String, String)> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| (format!("tool result {i}"), r))
        .chain([("stderr".to_string(), stderr.text())])
        .collect();
    assert_secret_free(&written, &secrets);
}

// ---------------------------------------------------------------------------
// More: precedence, hostile token endpoints, redirects, a batch renewing once.

#[test]
fn a_step_that_sets_its_own_authorization_wins_and_no_token_is_fetched() {
    let auth = AuthServer::start(AuthConfig::default());
    let own = auth.client_credentials_token(CC_CLIENT, CC_SECRET, Some("write"));
    let api = cc_api(&auth, "[{oauth: [read]}]");
    let wf = "- workflowId: own\n  inputs:\n    type: object\n    properties:\n      token:\n        type: string\n        format: password\n  steps:\n  - stepId: s1\n    operationId: getA\n    parameters:\n    - name: Authorization\n      in: header\n      value: Bearer {$inputs.token}\n    successCriteria:\n    - condition: $statusCode == 200\n    outputs:\n      body: $response.body\n";
    let ws = workspace(&api, wf, None);
    let mut env = cc_env(CC_CLIENT, CC_SECRET);
    env.push(("ARAZZO_INPUT_TOKEN", own.as_str()));
    let out = exec(&mut run(&ws, "own", &env));
    out.assert_code(0);
    let sent = auth.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["authorization"], format!("Bearer {own}"));
    assert_eq!(body_of(&out.json(), 0)["scope"], "write");
    // Only the test's own token request: none for the scheme.
    assert_eq!(auth.token_requests("client_credentials"), 1);
    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    secrets.extend(forms(&own));
    assert_secret_free(&written(&out, &ws), &secrets);
}

#[test]
fn a_token_endpoint_that_echoes_the_credentials_in_its_error_leaks_nothing() {
    let auth = AuthServer::start(AuthConfig::default());
    let hostile = Echo::start();
    let api = api_doc(
        &auth.resource,
        &oauth2("oauth", &["password"], &hostile.url("/token")),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(&api, &workflow("one", &["getA"]), None);
    let secret = "s3cr3t-Client-9Qx";
    let password = "Pa55-word-for-alice";
    hostile.reply_on(
        "POST /token",
        Reply::json(
            400,
            &serde_json::json!({
                "error": "invalid_grant",
                "error_description": format!("user alice password {password} client secret {secret} is wrong"),
            }),
        ),
    );
    let env = [
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", "some-client"),
        ("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET", secret),
        ("ARAZZO_AUTH_API_OAUTH_USERNAME", USER),
        ("ARAZZO_AUTH_API_OAUTH_PASSWORD", password),
    ];
    let mut cmd = run(&ws, "one", &env);
    cmd.arg("-vv");
    let out = exec(&mut cmd);
    out.assert_code(4);
    assert!(out.stderr.contains("invalid_grant"), "{}", out.stderr);
    // The token request carried them (so the search below means something).
    let sent = hostile.api_requests();
    assert_eq!(sent.len(), 1);
    let form = sent[0].form_pairs();
    assert!(
        form.contains(&("password".into(), password.into())),
        "{form:?}"
    );
    assert!(auth.requests().is_empty());
    let mut secrets = client_forms("some-client", secret);
    secrets.extend(forms(password));
    assert_secret_free(&written(&out, &ws), &secrets);

    // An answer that is no OAuth 2.0 answer at all.
    hostile.reply_on(
        "POST /token",
        Reply::text(502, "text/html", "<html>bad gateway</html>"),
    );
    let out = exec(&mut run(&ws, "one", &env));
    out.assert_code(4);
    for want in ["`oauth`", "502", &hostile.url("/token")] {
        assert!(
            out.stderr.contains(want),
            "{want} not on stderr: {}",
            out.stderr
        );
    }
    assert_secret_free(&written(&out, &ws), &secrets);
}

#[test]
fn a_redirect_to_another_origin_does_not_carry_the_token() {
    let auth = AuthServer::start(AuthConfig::default());
    let first = Echo::start();
    let elsewhere = Echo::start();
    first.reply_on(
        "/api/a",
        Reply::new(307).header("location", &elsewhere.url("/api/landing")),
    );
    let api = api_doc(
        &first.base_url(),
        &oauth2("oauth", &["clientCredentials"], &auth.token_endpoint),
        "[{oauth: [read]}]",
        &OPS,
    );
    let ws = workspace(&api, &workflow("one", &["getA"]), None);
    let out = exec(&mut run(&ws, "one", &cc_env(CC_CLIENT, CC_SECRET)));
    let there = elsewhere.api_requests();
    assert_eq!(there.len(), 1, "{}", out.context());
    assert_eq!(there[0].header("authorization"), None);
    let here = first.api_requests();
    let token = here[0]
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .expect("the first origin got the token")
        .to_string();
    assert_eq!(auth.token_requests("client_credentials"), 1);
    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    secrets.extend(forms(&token));
    assert_secret_free(&written(&out, &ws), &secrets);
}

#[test]
fn a_batch_whose_token_is_revoked_midway_renews_it_once_for_every_line() {
    const LINES: usize = 400;
    let auth = AuthServer::start(AuthConfig::default());
    let api = cc_api(&auth, "[{oauth: [read]}]");
    let ws = workspace(&api, ITEMS, None);
    let lines: String = (1..=LINES).map(|n| format!("{{\"n\": {n}}}\n")).collect();
    let file = ws.write("lines.jsonl", &lines);
    let mut cmd = arazzo_std();
    cmd.args(["run", "items", "-o", "json", "-f"])
        .arg(ws.path("wf.arazzo.yaml"))
        .arg("--each")
        .arg(&file)
        .args(["--concurrency", "8"]);
    for (k, v) in cc_env(CC_CLIENT, CC_SECRET) {
        cmd.env(k, v);
    }
    let running = Running::start(cmd);
    wait_until("a quarter of the lines ran", || {
        auth.requests().len() >= LINES / 4
    });
    auth.revoke_all();
    let out = running.finish(Duration::from_secs(60));
    out.assert_code(0);
    let reports: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), LINES);
    assert!(reports.iter().all(|r| r["status"] == "succeeded"));
    let seen = tokens_seen(&auth);
    assert_eq!(seen.len(), 2, "one renewal shared by every line");
    assert_eq!(auth.token_requests("client_credentials"), 2);
    // Each line's request went once, plus one resend per line whose request
    // was refused: those in flight at the revocation and those that took the
    // old token before the first refusal came back (a few more, at most two
    // rounds of 8).
    let sent = auth.requests().len();
    assert!(
        (LINES + 1..=LINES + 16).contains(&sent),
        "{sent} requests for {LINES} lines"
    );
    let mut secrets = client_forms(CC_CLIENT, CC_SECRET);
    secrets.extend(token_forms(&auth));
    assert_secret_free(&written(&out, &ws), &secrets);
}
