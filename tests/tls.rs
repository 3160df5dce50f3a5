//! HTTPS through the binary: a TLS server on 127.0.0.1 with a certificate
//! issued by a test CA (tests/fixtures/tls). The system's root certificates
//! are read lazily, at the first handshake; `SSL_CERT_FILE` names the roots
//! to trust, as it does for curl and OpenSSL.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const TOKEN: &str = "tls-secret-token-5Qz8";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// What a server received: one request line per request.
type Seen = Arc<Mutex<Vec<String>>>;

/// Reads one HTTP/1.1 request (head and Content-Length body) and returns the
/// request line and the headers, lower-cased names.
fn read_request(stream: &mut impl Read) -> Option<(String, Vec<(String, String)>)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let request_line = line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((request_line, headers))
}

/// Starts an HTTPS server answering every request with `reply` (a whole HTTP
/// response, `Connection: close`). Returns its port and what it received.
fn https_server(reply: String) -> (u16, Seen) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    // The same *ring* provider the binary uses (deprecated in rustls 0.23.48
    // for lacking post-quantum key exchange; see `ring_provider` in src/http.rs).
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            let log = log.clone();
            let reply = reply.clone();
            std::thread::spawn(move || {
                tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // A client that rejects the certificate ends the handshake here.
                if let Some((line, headers)) = read_request(&mut tls) {
                    let auth = headers
                        .iter()
                        .find(|(k, _)| k == "authorization")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    log.lock().unwrap().push(format!("{line} auth={auth}"));
                    let _ = tls.write_all(reply.as_bytes());
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.conn.complete_io(&mut tls.sock);
                }
            });
        }
    });
    (port, seen)
}

/// A plain HTTP server that records what reaches it and answers 200 `{}`.
fn http_server() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut tcp in listener.incoming().flatten() {
            tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
            if let Some((line, _)) = read_request(&mut tcp) {
                log.lock().unwrap().push(line);
                let _ = tcp.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                );
            }
            let _ = TcpStream::shutdown(&tcp, std::net::Shutdown::Both);
        }
    });
    (port, seen)
}

fn ok_reply() -> String {
    let body = r#"{"id":"thing-1","name":"over tls"}"#;
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A workflow with one GET to `https://127.0.0.1:<port>/things/1`, sending the
/// token as a bearer credential.
fn workflow(dir: &Path, port: u16) -> PathBuf {
    let api = serde_json::json!({
        "openapi": "3.0.3",
        "info": {"title": "things", "version": "1"},
        "servers": [{"url": format!("https://127.0.0.1:{port}")}],
        "paths": {"/things/{id}": {"get": {
            "operationId": "getThing",
            "parameters": [
                {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "Authorization", "in": "header", "schema": {"type": "string"}}
            ],
            "responses": {"200": {"description": "the thing"}}
        }}}
    });
    std::fs::write(dir.join("api.json"), api.to_string()).unwrap();
    let doc = r#"arazzo: 1.0.1
info: {title: tls, version: "1"}
sourceDescriptions:
  - {name: api, url: ./api.json, type: openapi}
workflows:
  - workflowId: get-thing
    inputs:
      type: object
      required: [token]
      properties:
        token: {type: string, format: password}
    steps:
      - stepId: get
        operationId: getThing
        parameters:
          - {name: id, in: path, value: "1"}
          - {name: Authorization, in: header, value: "Bearer {$inputs.token}"}
        successCriteria:
          - condition: $statusCode == 200
        outputs:
          name: $response.body#/name
    outputs:
      name: $steps.get.outputs.name
"#;
    let path = dir.join("tls.arazzo.yaml");
    std::fs::write(&path, doc).unwrap();
    path
}

fn arazzo(doc: &Path, roots: Option<&Path>) -> std::process::Output {
    let mut cmd = support::cli::arazzo();
    match roots {
        Some(r) => cmd.env("SSL_CERT_FILE", r),
        // Trust only the server's own certificate, not the CA that issued it.
        None => cmd.env("SSL_CERT_FILE", fixture("server.pem")),
    };
    cmd.args(["run", "-f"])
        .arg(doc)
        .args(["get-thing", "-o", "json", "--timeout", "10s"])
        .env("ARAZZO_INPUT_TOKEN", TOKEN)
        .output()
        .unwrap()
}

#[test]
fn https_request_to_a_server_with_a_trusted_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = https_server(ok_reply());
    let doc = workflow(dir.path(), port);
    let out = arazzo(&doc, Some(&fixture("ca.pem")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["outputs"]["name"], "over tls", "{report}");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![format!("GET /things/1 HTTP/1.1 auth=Bearer {TOKEN}")]
    );
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
}

#[test]
fn https_server_with_an_untrusted_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = https_server(ok_reply());
    let doc = workflow(dir.path(), port);
    let out = arazzo(&doc, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let all = format!("{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["error"]["stepId"], "get", "{report}");
    assert_eq!(report["error"]["kind"], "transport", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(
        message.contains("UnknownIssuer") && message.contains("SSL_CERT_FILE"),
        "the message says the certificate's issuer is not trusted: {message}"
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "no request went out over an unverified connection"
    );
    assert!(!all.contains(TOKEN));
}

#[test]
fn redirect_from_https_to_http_is_refused_and_nothing_reaches_the_http_host() {
    let dir = tempfile::tempdir().unwrap();
    let (http_port, http_seen) = http_server();
    let (port, seen) = https_server(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{http_port}/things/1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ));
    let doc = workflow(dir.path(), port);
    let out = arazzo(&doc, Some(&fixture("ca.pem")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let all = format!("{stdout}\n{stderr}");
    assert!(all.contains("redirected from https to http"), "{all}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(
        http_seen.lock().unwrap().is_empty(),
        "the downgraded request was sent: {:?}",
        http_seen.lock().unwrap()
    );
    assert!(!all.contains(TOKEN));
}

#[test]
fn a_description_fetched_over_https_is_not_followed_to_http() {
    let dir = tempfile::tempdir().unwrap();
    let (http_port, http_seen) = http_server();
    let (port, seen) = https_server(format!(
        "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{http_port}/api.json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ));
    let doc = workflow(dir.path(), port);
    let text = std::fs::read_to_string(&doc).unwrap().replace(
        "url: ./api.json",
        &format!("url: https://127.0.0.1:{port}/api.json"),
    );
    std::fs::write(&doc, text).unwrap();
    let out = arazzo(&doc, Some(&fixture("ca.pem")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("https to http"), "{stderr}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(
        http_seen.lock().unwrap().is_empty(),
        "the description was fetched over http"
    );
}

#[test]
fn an_unusable_ssl_cert_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = https_server(ok_reply());
    let doc = workflow(dir.path(), port);
    let missing = dir.path().join("no-such-ca.pem");
    let out = arazzo(&doc, Some(&missing));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("SSL_CERT_FILE is") && message.contains("no-such-ca.pem"),
        "{message}"
    );
    assert!(seen.lock().unwrap().is_empty());
}
