//! A running `arazzo serve` (or `arazzo mcp --http`) for the tests of the
//! HTTP listener: started on a free port of 127.0.0.1 against a stand-in,
//! its stderr collected, killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{http_full, HttpResponse};

/// How a server is started.
pub struct Setup<'a> {
    /// `serve`, or `mcp` (which gets `--http` too).
    pub subcommand: &'a str,
    /// The Composio stand-in's URL, given as `--server composioApi=URL`.
    pub api: &'a str,
    /// The operator's key, as `ARAZZO_INPUT_API_KEY`.
    pub key: Option<&'a str>,
    /// The text of the token file (`None`: no `--token-file`).
    pub tokens: Option<&'a str>,
    /// The token `call` sends (`None`: none).
    pub token: Option<&'a str>,
    pub args: &'a [&'a str],
}

/// A server; killed on drop.
pub struct Served {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stderr: Arc<Mutex<String>>,
    token: Option<String>,
    _dir: tempfile::TempDir,
}

/// What MCP asks a client to accept.
pub const ACCEPT: (&str, &str) = ("Accept", "application/json, text/event-stream");

impl Served {
    pub fn launch(setup: Setup<'_>) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_arazzo"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        for (k, _) in std::env::vars() {
            if k.starts_with("ARAZZO_") || k == "RUST_LOG" || k == "NO_COLOR" {
                cmd.env_remove(k);
            }
        }
        if let Some(key) = setup.key {
            cmd.env("ARAZZO_INPUT_API_KEY", key);
        }
        cmd.arg(setup.subcommand)
            .arg("--server")
            .arg(format!("composioApi={}", setup.api))
            .args(setup.args);
        if let Some(text) = setup.tokens {
            let path = dir.path().join("tokens");
            std::fs::write(&path, text).unwrap();
            cmd.arg("--token-file").arg(&path);
        }
        let mut child = cmd
            .args(["--http", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let base = listening_on(&mut child, &stderr);
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Served {
            child,
            base,
            stderr,
            token: setup.token.map(str::to_string),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A request with the token.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> HttpResponse {
        self.call_with(method, path, &[], body)
    }

    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> HttpResponse {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut all: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        all.extend_from_slice(headers);
        http_full(method, &self.url(path), &all, body)
    }

    /// The access log lines, once there are at least `n` (they are written
    /// once a response is over), or after 10 s.
    pub fn access_lines(&self, n: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let lines: Vec<String> = self
                .stderr()
                .lines()
                .filter(|l| l.starts_with("access: "))
                .map(str::to_string)
                .collect();
            if lines.len() >= n || started.elapsed() > Duration::from_secs(10) {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A new MCP session, initialized: its id.
    pub fn mcp_session(&self) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "arazzo-tests", "version": "1"}}})
        .to_string();
        let r = self.call_with("POST", "/mcp", &[ACCEPT], Some(&init));
        assert_eq!(r.status, 200, "{r:?}");
        let session = r
            .header("mcp-session-id")
            .expect("a session id")
            .to_string();
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
        let r = self.mcp_post(&session, &note);
        assert_eq!(r.status, 202, "{r:?}");
        session
    }

    pub fn mcp_post(&self, session: &str, body: &str) -> HttpResponse {
        self.call_with(
            "POST",
            "/mcp",
            &[ACCEPT, ("Mcp-Session-Id", session)],
            Some(body),
        )
    }
}

/// Collects the child's stderr and waits for its "listening on URL" line;
/// the URL without a trailing `/mcp`.
fn listening_on(child: &mut Child, stderr: &Arc<Mutex<String>>) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = Arc::clone(stderr);
    let pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ").nth(1) {
                let url = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(url.trim_end_matches("/mcp").to_string());
            }
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("the server did not listen:\n{}", stderr.lock().unwrap()))
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
