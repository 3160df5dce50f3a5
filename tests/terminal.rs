//! Control characters from documents and servers never reach the terminal as
//! they are: they are shown as `\u{..}` escapes in every human view, and as
//! `\uXXXX` escapes in JSON, while the tool's own colours still work.

mod support;

use std::path::Path;

use serde_json::Value;
use support::cli::{arazzo, exec, Out};
use support::scripted::{Reply, Scripted};

const API: &str = r#"{"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
 "servers": [{"url": "http://127.0.0.1:9"}],
 "paths": {"/x": {"get": {"operationId": "getX",
   "responses": {"200": {"description": "ok"}}}}}}"#;

/// Raw ESC, CSI, C1, bidi and DEL characters, as a server or document may send them.
const EVIL: &str =
    "red\u{1b}[31m clear\u{1b}[2J csi\u{9b}1m \u{202e}gnp.exe\u{2066} del\u{7f} cr\r!";

/// The escapes of [`EVIL`]'s characters, as shown.
const SHOWN: [&str; 7] = [
    "\\u{1b}[31m",
    "\\u{1b}[2J",
    "\\u{9b}",
    "\\u{202e}",
    "\\u{2066}",
    "\\u{7f}",
    "\\u{d}",
];

fn has_raw_controls(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
            | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

fn assert_escaped(text: &str, what: &str, out: &Out) {
    if let Some(c) = has_raw_controls(text) {
        panic!("{what} has a raw {c:?}: {}", out.context());
    }
    for s in SHOWN {
        assert!(text.contains(s), "{what} lacks {s}: {}", out.context());
    }
}

fn setup(flow: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.json"), API).unwrap();
    std::fs::write(dir.path().join("flow.arazzo.yaml"), flow).unwrap();
    dir
}

/// A workflow whose step outputs `$response.body#/v` and needs `condition`.
fn flow(condition: &str) -> String {
    format!(
        "arazzo: 1.0.1
info: {{title: t, version: '1'}}
sourceDescriptions:
- {{name: api, url: ./api.json, type: openapi}}
workflows:
- workflowId: w
  steps:
  - stepId: a
    operationId: getX
    successCriteria:
    - condition: {condition}
    outputs:
      o: $response.body#/v
  outputs:
    o: $steps.a.outputs.o
"
    )
}

fn server(status: u16) -> Scripted {
    Scripted::start(vec![Reply {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-evil".into(), "a\u{9b}b".into()),
        ],
        body: serde_json::json!({ "v": EVIL }).to_string(),
    }])
}

fn run(dir: &Path, server: &Scripted, extra: &[&str]) -> Out {
    exec(
        arazzo()
            .current_dir(dir)
            .args(["run", "w", "-f", "flow.arazzo.yaml", "--server"])
            .arg(format!("api={}", server.base_url()))
            .args(extra),
    )
}

#[test]
fn outputs_from_a_server_are_escaped_on_stdout_and_our_colours_still_work() {
    let dir = setup(&flow("$statusCode == 200"));
    let s = server(200);
    let out = run(dir.path(), &s, &["--color", "always"]);
    assert_eq!(out.code, 0, "{}", out.context());
    assert_escaped(&out.stdout, "stdout", &out);
    // Our own colour: the step's check mark, green.
    assert!(
        out.stderr.contains("\u{1b}[32m✓\u{1b}[0m"),
        "{}",
        out.context()
    );
}

#[test]
fn json_reports_stay_json_and_decode_to_the_server_s_text() {
    let dir = setup(&flow("$statusCode == 200"));
    let s = server(200);
    let out = run(dir.path(), &s, &["-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.context());
    assert_eq!(has_raw_controls(&out.stdout), None, "{}", out.context());
    assert_eq!(out.json()["outputs"]["o"], EVIL);
}

#[test]
fn a_failure_that_quotes_the_response_is_escaped_in_plain_and_coloured_output() {
    let dir = setup(&flow("$response.body#/v == 'fine'"));
    for color in ["never", "always"] {
        let s = server(200);
        let out = run(dir.path(), &s, &["--color", color]);
        assert_eq!(out.code, 1, "{}", out.context());
        // What the failure shows of the response, and the outputs known.
        assert!(!out.stderr.contains("\u{1b}[2J"), "{}", out.context());
        assert!(!out.stderr.contains('\u{202e}'), "{}", out.context());
        assert!(!out.stderr.contains('\u{9b}'), "{}", out.context());
        assert!(
            out.stderr.contains("failed at step `a`"),
            "{}",
            out.context()
        );
    }
}

#[test]
fn logs_escape_what_they_quote_and_keep_their_level_colour() {
    let dir = setup(&flow("$statusCode == 200"));
    let s = server(200);
    let out = run(dir.path(), &s, &["-vvv", "--color", "always"]);
    assert_eq!(out.code, 0, "{}", out.context());
    // The header and the response body (as JSON), logged at -vv and -vvv.
    assert!(
        out.stderr.contains("x-evil: a\\u{9b}b"),
        "{}",
        out.context()
    );
    assert!(
        out.stderr.contains("\\u{202e}gnp.exe\\u{2066}"),
        "{}",
        out.context()
    );
    let without_ours = out
        .stderr
        .replace("\u{1b}[32m", "")
        .replace("\u{1b}[34m", "")
        .replace("\u{1b}[35m", "")
        .replace("\u{1b}[0m", "");
    assert_eq!(has_raw_controls(&without_ours), None, "{}", out.context());
    assert!(
        out.stderr.contains("\u{1b}[32mINFO\u{1b}[0m"),
        "{}",
        out.context()
    );
}

/// A document whose summary and descriptions carry raw bidi characters (YAML
/// allows them), and an ESC and a C1 control written as YAML escapes.
fn evil_doc(operation: &str) -> String {
    format!(
        "arazzo: 1.0.1
info: {{title: t, version: '1'}}
sourceDescriptions:
- {{name: api, url: ./api.json, type: openapi}}
workflows:
- workflowId: w
  summary: \"esc \\e[2J bidi \u{202e}txt.exe\u{2069} c1 \\u009b31m\"
  steps:
  - stepId: a
    description: \"\u{202e}here\"
    operationId: {operation}
"
    )
}

#[test]
fn list_show_and_validate_escape_document_text() {
    let dir = setup(&evil_doc("getX"));
    for args in [
        vec!["list", "flow.arazzo.yaml"],
        vec!["show", "w", "-f", "flow.arazzo.yaml"],
    ] {
        let out = exec(arazzo().current_dir(dir.path()).args(&args));
        assert_eq!(out.code, 0, "{}", out.context());
        assert_eq!(
            has_raw_controls(&out.all()),
            None,
            "{args:?}: {}",
            out.context()
        );
        if args[0] == "list" {
            for s in ["\\u{1b}[2J", "\\u{202e}txt.exe\\u{2069}", "\\u{9b}31m"] {
                assert!(out.stdout.contains(s), "{s}: {}", out.context());
            }
        }
        let out = exec(
            arazzo()
                .current_dir(dir.path())
                .args(&args)
                .args(["-o", "json"]),
        );
        assert_eq!(has_raw_controls(&out.stdout), None, "{}", out.context());
        let v = out.json();
        let summary = if args[0] == "list" {
            &v[0]["summary"]
        } else {
            &v["summary"]
        };
        assert_eq!(
            summary,
            &Value::String("esc \u{1b}[2J bidi \u{202e}txt.exe\u{2069} c1 \u{9b}31m".into())
        );
    }

    // A diagnostic shows the lines around the mistake, escaped, with its
    // marker still under the right place.
    let dir = setup(&evil_doc("getY"));
    let out = exec(
        arazzo()
            .current_dir(dir.path())
            .args(["validate", "flow.arazzo.yaml"]),
    );
    assert_eq!(out.code, 3, "{}", out.context());
    assert_eq!(has_raw_controls(&out.all()), None, "{}", out.context());
    assert!(
        out.stderr.contains("description: \"\\u{202e}here\""),
        "{}",
        out.context()
    );
    let out = exec(arazzo().current_dir(dir.path()).args([
        "validate",
        "flow.arazzo.yaml",
        "--format",
        "json",
    ]));
    assert_eq!(has_raw_controls(&out.stdout), None, "{}", out.context());
    assert_eq!(out.json()[0]["code"], "ref/unknown-operation");
}

#[test]
fn an_error_message_quoting_a_document_is_escaped() {
    // A raw ESC is not allowed in YAML: the syntax error quotes the line.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flow.arazzo.yaml"),
        "arazzo: 1.0.1\ninfo: {title: \"t\u{202e}\", version: '1'}\n# \u{1b}[2J\nworkflows: [\n",
    )
    .unwrap();
    for args in [
        vec!["validate", "flow.arazzo.yaml"],
        vec!["run", "w", "-f", "flow.arazzo.yaml"],
    ] {
        let out = exec(arazzo().current_dir(dir.path()).args(&args));
        assert_eq!(out.code, 3, "{}", out.context());
        assert_eq!(
            has_raw_controls(&out.all()),
            None,
            "{args:?}: {}",
            out.context()
        );
    }
}
