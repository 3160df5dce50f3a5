//! Shared helpers for integration tests.
#![allow(dead_code)]

pub mod brokers;
pub mod cli;
pub mod composio;
pub mod echo;
pub mod jentic;
pub mod mcp_stdio;
pub mod oidc;
pub mod responder;
pub mod scripted;
pub mod served;
pub mod test_ca;
pub mod workspace;

/// The workflows in `workflows/`, as `arazzo mcp` and `arazzo serve` offer
/// them (sorted by id).
pub const SHIPPED_WORKFLOWS: [&str; 7] = [
    "create-mcp-instance",
    "delete-mcp-instance",
    "deprovision-mcp-server",
    "list-mcp-instances",
    // The example of message steps (HTTP and MQTT), served like the others.
    "place-order",
    "provision-mcp-server",
    "provision-mcp-server-with-cleanup",
];

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Minimal blocking HTTP/1.1 client for `http://` URLs, for talking to local
/// stand-ins. Sends `Connection: close`, adds `Content-Length` (and a JSON
/// `Content-Type` unless one is given) when there is a body, and returns the
/// status code and the body text (chunked responses are decoded).
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let r = http_full(method, url, headers, body);
    (r.status, r.body)
}

/// A response of [`http_full`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// As [`http`], with the response headers.
pub fn http_full(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpResponse {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("http(): only http:// URLs are supported, got {url}"));
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };

    let mut stream =
        TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect to {authority}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set read timeout");

    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut req = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !has("host") {
        req.push_str(&format!("Host: {authority}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        if !has("content-type") {
            req.push_str("Content-Type: application/json\r\n");
        }
        if !has("content-length") {
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    stream.write_all(req.as_bytes()).expect("send request");

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");

    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a header/body separator");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let payload = &raw[split + 4..];

    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));

    let body = if chunked {
        dechunk(payload)
    } else {
        payload.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).unwrap_or(0);
        data = &data[eol + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
    out
}

/// Parses a response body as JSON, panicking with the text on failure.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Sends the signal `name` (`INT`, `TERM`, `KILL`) to process `pid` with the
/// shell's own `kill` (no procps needed).
pub fn send_signal(pid: u32, name: &str) {
    let ok = std::process::Command::new("sh")
        .args(["-c", &format!("kill -s {name} {pid}")])
        .status()
        .expect("run sh")
        .success();
    assert!(ok, "kill -s {name} {pid} failed");
}
