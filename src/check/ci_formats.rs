//! The CI formats of `arazzo validate`: a SARIF 2.1.0 log for code scanning
//! (`--format sarif`), and GitHub Actions workflow commands, which the runner
//! turns into annotations on the pull request (`--format github`).
//!
//! Both place a diagnostic by its span in the file's text: lines and columns
//! are 1-based and count characters (Unicode scalar values), as the human
//! format does; the end column is the one after the last character. A
//! diagnostic about a file as a whole has no place but the file.
//!
//! Neither renderer masks secrets nor escapes control characters: the caller
//! prints through the [`Printer`](crate::report::printer::Printer), as for `--format json`.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

use crate::check::diagnostics::{Diagnostic, Severity, SourceFile};

/// `$schema` of the SARIF log.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where a diagnostic is in its file: 1-based lines and columns in characters,
/// `end_column` exclusive (SARIF's `endColumn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

/// The largest character boundary of `text` at or before byte `i`.
fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_boundary(text, offset);
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// The region of the bytes `offset..offset + len` of `text`. An empty span is
/// an insertion point: its end column is its start column.
pub fn region(text: &str, offset: usize, len: usize) -> Region {
    let start = floor_boundary(text, offset);
    let end = floor_boundary(text, offset.saturating_add(len)).max(start);
    let (start_line, start_column) = line_column(text, start);
    let (end_line, end_column) = line_column(text, end);
    Region {
        start_line,
        start_column,
        end_line,
        end_column,
    }
}

/// Where `d` is: from its span in its file's text when both are known, else
/// its line and column (the end unknown), else nowhere.
fn place(d: &Diagnostic, files: &[SourceFile]) -> Option<Place> {
    let text = files.iter().find(|f| f.name == d.file).map(|f| &f.text);
    match (d.span(), text) {
        (Some((offset, len)), Some(text)) => Some(Place::Span(region(text, offset, len))),
        _ => d.line.map(|line| Place::Line(line, d.column)),
    }
}

enum Place {
    Span(Region),
    /// A line, and maybe a column, without an end.
    Line(usize, Option<usize>),
}

// ---------------------------------------------------------------------------
// SARIF

/// The characters written as they are in an artifact URI: the unreserved ones
/// and `/`. Everything else (a space, `%`, `:`, `,`, `#`, `?`, non-ASCII) is
/// percent-encoded, so that any path is a valid URI reference and a first
/// segment never reads as a scheme.
const URI_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The `artifactLocation.uri` of a file path as it was given: a relative
/// reference with forward slashes (`./` dropped) for a relative path, a
/// `file://` URI for an absolute one.
pub fn artifact_uri(path: &str) -> String {
    let path = if cfg!(windows) {
        path.replace('\\', "/")
    } else {
        path.to_string()
    };
    let mut rest = path.as_str();
    while let Some(r) = rest.strip_prefix("./") {
        rest = r.trim_start_matches('/');
    }
    // A Windows drive (`C:/x`) keeps its colon in a file URI.
    let drive = rest.len() >= 2
        && rest.as_bytes()[0].is_ascii_alphabetic()
        && rest.as_bytes()[1] == b':'
        && (rest.len() == 2 || rest.as_bytes()[2] == b'/');
    if drive {
        let (letter, tail) = rest.split_at(2);
        return format!("file:///{letter}{}", utf8_percent_encode(tail, URI_PATH));
    }
    let encoded = utf8_percent_encode(rest, URI_PATH).to_string();
    if rest.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

/// What the diagnostics of one family are about, for a rule's description.
fn family(code: &str) -> &'static str {
    match code.split('/').next().unwrap_or("") {
        "syntax" => "The document is not valid YAML or JSON",
        "document" => "The document cannot be used as an Arazzo document",
        "io" => "A document cannot be read",
        "schema" => "The document breaks the Arazzo JSON Schema of its version",
        "source" => "A source description cannot be loaded",
        "ref" => "A reference does not resolve",
        "param" => "A parameter does not fit its operation",
        "action" => "A success or failure action is wrong",
        "criteria" => "A criterion is wrong",
        "expr" => "A runtime expression is wrong",
        "id" => "An id is not usable",
        "payload" => "A literal value breaks the operation's schema",
        "response" => "A response pointer is not in the response's schema",
        "step" => "A step's control flow is suspect",
        "output" => "A step output is never read",
        "workflow" => "A workflow starts itself again",
        _ => "An Arazzo document problem",
    }
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The SARIF 2.1.0 log of `diags`: one run of the `arazzo` driver, a rule per
/// distinct code (in order of first use), a result per diagnostic.
pub fn sarif(diags: &[Diagnostic], files: &[SourceFile]) -> Value {
    let mut codes: Vec<&str> = Vec::new();
    for d in diags {
        if !codes.contains(&d.code.as_str()) {
            codes.push(&d.code);
        }
    }
    let rules: Vec<Value> = codes
        .iter()
        .map(|code| {
            let of_code = || diags.iter().filter(|d| d.code == *code);
            // A code that is an error anywhere is an error rule.
            let severity = if of_code().any(|d| d.severity == Severity::Error) {
                Severity::Error
            } else {
                Severity::Warning
            };
            let about = family(code);
            let mut rule = Map::new();
            rule.insert("id".into(), json!(code));
            rule.insert(
                "shortDescription".into(),
                json!({ "text": format!("{about} ({code})") }),
            );
            rule.insert(
                "fullDescription".into(),
                json!({ "text": format!("{about}: `arazzo validate` reports it as `{code}`.") }),
            );
            // GitHub code scanning wants help on every rule.
            let help = of_code()
                .find_map(|d| d.help.clone())
                .unwrap_or_else(|| format!("{about}: the message names the place and what is wrong; the README of arazzo lists `{code}` with an example."));
            rule.insert("help".into(), json!({ "text": help }));
            rule.insert(
                "defaultConfiguration".into(),
                json!({ "level": level(severity) }),
            );
            Value::Object(rule)
        })
        .collect();

    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let mut physical = Map::new();
            physical.insert(
                "artifactLocation".into(),
                json!({ "uri": artifact_uri(&d.file) }),
            );
            match place(d, files) {
                Some(Place::Span(r)) => {
                    physical.insert(
                        "region".into(),
                        json!({
                            "startLine": r.start_line,
                            "startColumn": r.start_column,
                            "endLine": r.end_line,
                            "endColumn": r.end_column,
                        }),
                    );
                }
                Some(Place::Line(line, column)) => {
                    let mut region = Map::new();
                    region.insert("startLine".into(), json!(line.max(1)));
                    if let Some(c) = column {
                        region.insert("startColumn".into(), json!(c.max(1)));
                    }
                    physical.insert("region".into(), Value::Object(region));
                }
                None => {}
            }
            let index = codes.iter().position(|c| *c == d.code).unwrap_or(0);
            json!({
                "ruleId": d.code,
                "ruleIndex": index,
                "level": level(d.severity),
                "message": { "text": d.message },
                "locations": [{ "physicalLocation": Value::Object(physical) }],
            })
        })
        .collect();

    // Each document with the Arazzo version it declares.
    let artifacts: Vec<Value> = files
        .iter()
        .map(|f| {
            let mut a = Map::new();
            a.insert("location".into(), json!({ "uri": artifact_uri(&f.name) }));
            if let Some(v) = &f.arazzo {
                a.insert("properties".into(), json!({ "arazzo": v }));
            }
            Value::Object(a)
        })
        .collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "arazzo",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "artifacts": artifacts,
            "results": results,
        }]
    })
}

// ---------------------------------------------------------------------------
// GitHub Actions workflow commands

/// A workflow command's message: `%`, CR and LF percent-encoded, so that the
/// whole command stays on one line.
pub fn escape_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

/// A workflow command's property value: as [`escape_data`], and `:` and `,`
/// too, which end a value.
pub fn escape_property(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape_data(text).chars() {
        match c {
            ':' => out.push_str("%3A"),
            ',' => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    out
}

/// One `::error …::message` (or `::warning`) line per diagnostic, each ending
/// with a newline; the help line follows the message after an encoded line
/// break.
pub fn github(diags: &[Diagnostic], files: &[SourceFile]) -> String {
    let mut out = String::new();
    for d in diags {
        let mut props = vec![format!("file={}", escape_property(&d.file))];
        match place(d, files) {
            Some(Place::Span(r)) => {
                props.push(format!("line={}", r.start_line));
                props.push(format!("col={}", r.start_column));
                props.push(format!("endLine={}", r.end_line));
                props.push(format!("endColumn={}", r.end_column));
            }
            Some(Place::Line(line, column)) => {
                props.push(format!("line={line}"));
                if let Some(c) = column {
                    props.push(format!("col={c}"));
                }
            }
            None => {}
        }
        props.push(format!("title={}", escape_property(&d.code)));
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str(&format!("\nhelp: {help}"));
        }
        out.push_str(&format!(
            "::{} {}::{}\n",
            level(d.severity),
            props.join(","),
            escape_data(&message)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_escape_percent_and_line_breaks() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_data("a: b, c"), "a: b, c");
        assert_eq!(escape_data(""), "");
    }

    #[test]
    fn properties_also_escape_colons_and_commas() {
        assert_eq!(
            escape_property("dir,1/a:b%.yaml\n"),
            "dir%2C1/a%3Ab%25.yaml%0A"
        );
        // `%` is encoded first: the escapes it makes are not encoded again.
        assert_eq!(escape_property("%3A"), "%253A");
    }

    #[test]
    fn regions_count_characters_not_bytes() {
        // `é` is 2 bytes, `😀` 4: columns count each as one.
        let text = "ab\né😀x: 1\n";
        let x = text.find('x').unwrap();
        assert_eq!(
            region(text, x, 1),
            Region {
                start_line: 2,
                start_column: 3,
                end_line: 2,
                end_column: 4
            }
        );
        let e = text.find('é').unwrap();
        assert_eq!(
            region(text, e, 'é'.len_utf8() + '😀'.len_utf8()),
            Region {
                start_line: 2,
                start_column: 1,
                end_line: 2,
                end_column: 3
            }
        );
    }

    #[test]
    fn regions_at_the_edges() {
        let text = "a\nbc";
        // An empty span at the end of the text is an insertion point.
        let r = region(text, text.len(), 0);
        assert_eq!((r.start_line, r.start_column), (2, 3));
        assert_eq!((r.end_line, r.end_column), (2, 3));
        // Past the end, or inside a character, never panics.
        assert_eq!(region(text, 99, 5).start_line, 2);
        // A span starting inside `é` covers it.
        let r = region("é", 1, 1);
        assert_eq!((r.start_column, r.end_column), (1, 2));
        // A span over a line break ends at column 1 of the next line.
        let r = region(text, 0, 2);
        assert_eq!((r.end_line, r.end_column), (2, 1));
    }

    #[test]
    fn artifact_uris_are_uri_references() {
        assert_eq!(artifact_uri("flow.arazzo.yaml"), "flow.arazzo.yaml");
        assert_eq!(
            artifact_uri("./my flows/a,b:c.yaml"),
            "my%20flows/a%2Cb%3Ac.yaml"
        );
        assert_eq!(artifact_uri("wf/é#1.yaml"), "wf/%C3%A9%231.yaml");
        assert_eq!(artifact_uri("/tmp/x y.yaml"), "file:///tmp/x%20y.yaml");
        assert_eq!(artifact_uri("100%.yaml"), "100%25.yaml");
    }

    fn diag(file: &SourceFile, pointer: &str, code: &str, severity: Severity) -> Diagnostic {
        file.at(
            Some(pointer),
            code,
            severity,
            format!("bad: {code}"),
            Some("fix it, please".into()),
        )
    }

    #[test]
    fn github_lines_carry_the_place_and_the_help() {
        let file = SourceFile::new("a,b.yaml".into(), "x:\n  né: 1\n".into());
        let d = diag(&file, "/x/né", "ref/unknown-step", Severity::Warning);
        let lines = github(&[d], std::slice::from_ref(&file));
        assert_eq!(
            lines,
            "::warning file=a%2Cb.yaml,line=2,col=7,endLine=2,endColumn=8,title=ref/unknown-step::bad: ref/unknown-step%0Ahelp: fix it, please\n"
        );
        let whole = Diagnostic::file_level("a.yaml", "io/read", "cannot read".into(), None);
        assert_eq!(
            github(&[whole], &[]),
            "::error file=a.yaml,title=io/read::cannot read\n"
        );
    }

    #[test]
    fn sarif_rules_are_one_per_code() {
        let file = SourceFile::new("f.yaml".into(), "x:\n  y: 1\n".into());
        let diags = vec![
            diag(&file, "/x/y", "ref/unknown-step", Severity::Error),
            diag(&file, "/x", "output/unused", Severity::Warning),
            diag(&file, "/x/y", "ref/unknown-step", Severity::Error),
        ];
        let log = sarif(&diags, std::slice::from_ref(&file));
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1]["id"], "output/unused");
        assert_eq!(rules[1]["defaultConfiguration"]["level"], "warning");
        let results = run["results"].as_array().unwrap();
        assert_eq!(results[2]["ruleIndex"], 0);
        assert_eq!(results[1]["ruleIndex"], 1);
        let region = &results[0]["locations"][0]["physicalLocation"]["region"];
        assert_eq!(region["startLine"], 2);
        assert_eq!(region["startColumn"], 6);
        assert_eq!(sarif(&[], &[])["runs"][0]["results"], Value::Array(vec![]));
    }
}
