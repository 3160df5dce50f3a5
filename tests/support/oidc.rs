//! A real OAuth 2.0 / OpenID Connect authorization server (the `oidc-provider`
//! package) with an introspecting resource server and, on request, an mTLS
//! resource server: `tests/oidc/server.mjs`, run with Node.js. It needs
//! `npm ci --prefix tests/oidc`, which the first server start runs when the
//! packages are missing (and `.ci/run` runs first).
//!
//! Clients (id / secret), see the top of `tests/oidc/server.mjs`:
//! - `cc-client` / `cc-secret`: client_credentials (+ refresh_token), scopes
//!   `read write admin`, client_secret_basic only;
//! - `post-client` / `post-secret`: client_credentials, scopes `read write`,
//!   client_secret_post only;
//! - `pw-client` / `pw-secret`: password + refresh_token for user `alice` /
//!   `wonderland`, scopes `openid offline_access read write admin`,
//!   client_secret_basic only; refresh tokens are reusable (not rotated);
//! - `rs-client` / `rs-secret`: the resource server's own, for introspection.
//!
//! Access tokens are opaque. The resource server answers `/api/...` with 200
//! `{"ok":true,"path","clientId","sub","scope"}` for an active bearer token,
//! 401 `{"error":"invalid_token"}` otherwise, and 403 `insufficient_scope` on
//! `/api/scoped/<scope>` without that scope.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

pub const CC_CLIENT: &str = "cc-client";
pub const CC_SECRET: &str = "cc-secret";
pub const POST_CLIENT: &str = "post-client";
pub const POST_SECRET: &str = "post-secret";
pub const PW_CLIENT: &str = "pw-client";
pub const PW_SECRET: &str = "pw-secret";
pub const USER: &str = "alice";
pub const PASSWORD: &str = "wonderland";

/// PEM files for the mTLS resource server: its own certificate and key, and
/// the CA that client certificates must be signed by (see
/// `test_ca::TestCa::mtls_files`).
#[derive(Clone, Debug)]
pub struct MtlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Access token lifetime in seconds.
    pub token_ttl: u64,
    /// Start the mTLS resource server too.
    pub mtls: Option<MtlsFiles>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_ttl: 300,
            mtls: None,
        }
    }
}

/// The running `tests/oidc/server.mjs`; killed on drop (and it exits by itself
/// when its stdin, held here, closes).
pub struct AuthServer {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    log: Arc<Mutex<String>>,
    /// `http://127.0.0.1:P`, with discovery at
    /// `/.well-known/openid-configuration`.
    pub issuer: String,
    /// `http://127.0.0.1:P/token`.
    pub token_endpoint: String,
    /// The resource server, `http://127.0.0.1:Q` (protected paths under `/api/`).
    pub resource: String,
    /// The mTLS resource server, `https://127.0.0.1:R`, when configured.
    pub mtls: Option<String>,
}

const START_TIMEOUT: Duration = Duration::from_secs(20);

impl AuthServer {
    pub fn start(cfg: AuthConfig) -> AuthServer {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        install(&dir);

        let mut config = json!({ "tokenTtl": cfg.token_ttl });
        if let Some(m) = &cfg.mtls {
            config["mtls"] = json!({
                "cert": m.cert.to_str().expect("UTF-8 cert path"),
                "key": m.key.to_str().expect("UTF-8 key path"),
                "ca": m.ca.to_str().expect("UTF-8 CA path"),
            });
        }

        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .arg(config.to_string())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `node` for tests/oidc/server.mjs ({e}); install Node.js 20+")
            });

        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&text);
            }
        });

        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep draining, though nothing more is expected.
            for _ in lines {}
        });

        let mut server = AuthServer {
            child: Some(child),
            stdin: None,
            log,
            issuer: String::new(),
            token_endpoint: String::new(),
            resource: String::new(),
            mtls: None,
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(_) => {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "tests/oidc/server.mjs exited before it was ready; its log:\n{}",
                    server.log()
                )
            }
            Err(_) => panic!(
                "tests/oidc/server.mjs printed nothing within {START_TIMEOUT:?}; its log:\n{}",
                server.log()
            ),
        };
        let info: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("server.mjs startup line is not JSON ({e}): {line}"));
        let text = |k: &str| {
            info[k]
                .as_str()
                .unwrap_or_else(|| panic!("server.mjs startup line lacks {k}: {line}"))
                .to_string()
        };
        server.issuer = text("issuer");
        server.token_endpoint = text("tokenEndpoint");
        server.resource = text("resource");
        server.mtls = info["mtls"].as_str().map(str::to_string);
        server.stdin = server.child.as_mut().and_then(|c| c.stdin.take());
        server
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `resource` + `path`, e.g. `url("/api/pets")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.resource)
    }

    /// `{"tokenRequests": {"client_credentials": n, "refresh_token": n,
    /// "password": n, ...}, "tokenErrors": n, "introspections": n}`: every
    /// POST that reached the token endpoint, by grant_type (failed ones too,
    /// and also counted in tokenErrors), and every introspection call.
    /// `mint_refresh_token` is not counted.
    pub fn stats(&self) -> Value {
        self.control("GET", "/_stats", 200)
    }

    /// Token endpoint requests with this grant_type so far.
    pub fn token_requests(&self, grant: &str) -> u64 {
        self.stats()["tokenRequests"][grant].as_u64().unwrap_or(0)
    }

    /// Token endpoint requests that were answered with an error.
    pub fn token_errors(&self) -> u64 {
        self.stats()["tokenErrors"].as_u64().unwrap_or(0)
    }

    /// Every request to the resource server's `/api/...`, oldest first:
    /// `{"method","path","query" (raw, or null),"authorization" (raw header,
    /// or null),"headers" (lower-case names)}`.
    pub fn requests(&self) -> Vec<Value> {
        match self.control("GET", "/_requests", 200) {
            Value::Array(items) => items,
            other => panic!("/_requests is not an array: {other}"),
        }
    }

    /// Destroys every access token issued so far: the next use of any of them
    /// gets 401. Refresh tokens stay valid.
    pub fn revoke_all(&self) {
        self.control("POST", "/_revoke", 204);
    }

    /// A fresh refresh token for `alice`, issued to `pw-client` (scopes
    /// `openid offline_access read write`) by a password grant.
    pub fn mint_refresh_token(&self) -> String {
        let v = self.control("POST", "/_mint-refresh-token", 200);
        v["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no refresh_token in {v}"))
            .to_string()
    }

    /// POSTs `form` to the token endpoint, with HTTP Basic client
    /// authentication when `basic` is given; returns the status and the JSON
    /// answer.
    pub fn token_request(
        &self,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let body = form_encode(form);
        let auth = basic.map(|(id, secret)| basic_auth(id, secret));
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        let (status, text) = super::http("POST", &self.token_endpoint, &headers, Some(&body));
        let value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("token endpoint answered {status} with non-JSON ({e}): {text}")
        });
        (status, value)
    }

    /// A client_credentials access token for `client` (Basic authentication),
    /// panicking unless the token endpoint answers 200.
    pub fn client_credentials_token(
        &self,
        client: &str,
        secret: &str,
        scope: Option<&str>,
    ) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let (status, v) = self.token_request(Some((client, secret)), &form);
        assert_eq!(status, 200, "client_credentials for {client}: {v}");
        v["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    fn control(&self, method: &str, path: &str, expect: u16) -> Value {
        let (status, text) = super::http(method, &self.url(path), &[], None);
        assert_eq!(status, expect, "{method} {path} answered {status}: {text}");
        if text.is_empty() {
            Value::Null
        } else {
            super::json(&text)
        }
    }
}

/// Installs the pinned packages of `tests/oidc` (`npm ci`) when they are
/// missing, once per test process, so that `cargo test --locked` works on a
/// fresh machine with Node.js and npm (`.ci/run` installs them first too).
fn install(dir: &Path) {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let done = INSTALLED.get_or_init(|| {
        if dir
            .join("node_modules/oidc-provider/package.json")
            .is_file()
        {
            return Ok(());
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`npm ci --prefix tests/oidc` failed ({status})"))
        }
    });
    if let Err(why) = done {
        panic!("{why}: the tests need Node.js 20+ and npm to install oidc-provider (.ci/run installs them)");
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- tests/oidc/server.mjs log ---\n{}", self.log());
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of `pairs`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_component(k), form_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn form_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `Basic base64(id:secret)` (RFC 6749 section 2.3.1: both form-encoded first).
pub fn basic_auth(id: &str, secret: &str) -> String {
    let raw = format!("{}:{}", form_component(id), form_component(secret));
    format!("Basic {}", base64(raw.as_bytes()))
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
