//! rmcp's client connected to `arazzo mcp` over stdio, for the tests that
//! call served workflows as MCP tools.
#![allow(dead_code)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

pub type Client = RunningService<RoleClient, ()>;

/// Everything the server writes on stderr, collected as it comes.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<String>>);

impl Captured {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

/// Starts the server over stdio as a child process and connects rmcp's client
/// to its stdin and stdout.
pub async fn connect_stdio(cmd: std::process::Command) -> (Client, Captured) {
    let mut child = tokio::process::Command::from(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn arazzo mcp");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let captured = Captured::default();
    let sink = captured.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.0
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        // The server exits once its stdin is closed.
        let _ = child.wait().await;
    });
    let client = ().serve((stdout, stdin)).await.expect("MCP handshake over stdio");
    (client, captured)
}

/// Calls `tool` with `arguments` (a JSON object).
pub async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_string());
    params.arguments = arguments.as_object().cloned();
    client.call_tool(params).await.expect("tools/call answered")
}

/// The text blocks of a tool result, joined by newlines.
pub fn text_of(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}
