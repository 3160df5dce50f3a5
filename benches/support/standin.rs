//! A fast local stand-in for the four Composio operations `provision-mcp-server`
//! calls, for benchmarks: canned JSON, HTTP/1.1 keep-alive, a thread per
//! connection, the standard library only (so that it builds in a second with
//! plain `rustc` and costs next to nothing per request).
//!
//! It is not the behavioural stand-in of the tests (`tests/support/composio.rs`):
//! it validates nothing but the presence of `x-api-key`, keeps no state and
//! answers every request with the same bodies.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

/// The id of the MCP server the stand-in "creates".
pub const SERVER_ID: &str = "mcp_bench_1";

const AUTH_CONFIG: &str = r#"{"toolkit":{"slug":"linear"},"auth_config":{"id":"ac_bench_1","auth_scheme":"OAUTH2","is_composio_managed":true,"restrict_to_following_tools":[]}}"#;

const SERVER: &str = r#"{"id":"mcp_bench_1","name":"Linear Bot","auth_config_ids":["ac_bench_1"],"allowed_tools":[],"mcp_url":"https://backend.composio.dev/v3/mcp/mcp_bench_1","toolkits":["linear"],"toolkit_icons":{},"commands":{"cursor":"npx @composio/mcp@latest setup \"https://backend.composio.dev/v3/mcp/mcp_bench_1\" --client cursor","claude":"npx @composio/mcp@latest setup \"https://backend.composio.dev/v3/mcp/mcp_bench_1\" --client claude","windsurf":"npx @composio/mcp@latest setup \"https://backend.composio.dev/v3/mcp/mcp_bench_1\" --client windsurf"},"updated_at":"2025-01-01T00:00:00.000Z","created_at":"2025-01-01T00:00:00.000Z","server_instance_count":0,"managed_auth_via_composio":true}"#;

const INSTANCE: &str = r#"{"id":"inst_bench_1","instance_id":"alice","mcp_server_id":"mcp_bench_1","created_at":"2025-01-01T00:00:00.000Z","updated_at":"2025-01-01T00:00:00.000Z"}"#;

const NOT_FOUND: &str = r#"{"error":{"message":"not found","status":404}}"#;

const NO_KEY: &str = r#"{"error":{"message":"missing x-api-key","status":401}}"#;

/// Accepts connections until the process ends.
pub fn serve(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            // A client that goes away mid-request is not the stand-in's problem.
            let _ = connection(stream);
        });
    }
}

/// The status line and body for a request.
fn answer(method: &str, path: &str, has_key: bool) -> (&'static str, &'static str) {
    if !has_key {
        return ("401 Unauthorized", NO_KEY);
    }
    let segments: Vec<&str> = path
        .strip_prefix("/api/v3/")
        .unwrap_or("")
        .split('/')
        .collect();
    match (method, segments.as_slice()) {
        ("POST", ["auth_configs"]) => ("201 Created", AUTH_CONFIG),
        ("POST", ["mcp", "servers"]) => ("201 Created", SERVER),
        ("GET", ["mcp", id]) if *id == SERVER_ID => ("200 OK", SERVER),
        ("POST", ["mcp", "servers", id, "instances"]) if *id == SERVER_ID => {
            ("201 Created", INSTANCE)
        }
        _ => ("404 Not Found", NOT_FOUND),
    }
}

/// Serves the requests of one connection, in order, until the client closes it.
fn connection(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut line = String::new();
    let mut body = Vec::new();
    let mut response = Vec::with_capacity(2048);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut request_line = line.split_whitespace();
        let method = request_line.next().unwrap_or("").to_string();
        let target = request_line.next().unwrap_or("");
        let path = target.split('?').next().unwrap_or("").to_string();

        let mut length = 0usize;
        let mut close = false;
        let mut has_key = false;
        let mut expect_continue = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("x-api-key") {
                has_key = !value.is_empty();
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue = value.eq_ignore_ascii_case("100-continue");
            }
        }
        if expect_continue {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        body.resize(length, 0);
        reader.read_exact(&mut body)?;

        let (status, json) = answer(&method, &path, has_key);
        response.clear();
        write!(
            response,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
            json.len()
        )?;
        writer.write_all(&response)?;
        if close {
            return Ok(());
        }
    }
}
