//! Reading documents as text and as trees, for every kind of document the
//! tool reads (Arazzo, OpenAPI, `$ref`'d files, inputs files): local files,
//! standard input and http(s), each within the size limit, then JSON or YAML
//! within the nesting limit. Errors say which file, where, and what to do.

pub mod stdin;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use url::Url;

use crate::http::Fetcher;

/// Why a document or one of its sources could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    pub message: String,
    pub help: Option<String>,
    /// The document is larger than `--max-document-size`.
    pub too_large: bool,
    /// Where a syntax error is, so that it can be shown in the file's text.
    pub at: Option<Box<SyntaxAt>>,
}

/// A syntax error's place in a file, with the file's text: a message that
/// shows the offending lines lets a user fix them without counting lines.
#[derive(Debug, Clone)]
pub struct SyntaxAt {
    /// The file as the user knows it; empty until the caller names it.
    pub file: String,
    pub text: Arc<String>,
    pub line: usize,
    pub column: usize,
    /// `syntax/yaml` or `syntax/json`, as `validate` reports it.
    pub code: &'static str,
}

impl LoadError {
    pub(crate) fn new(message: impl Into<String>, help: Option<String>) -> LoadError {
        LoadError {
            message: message.into(),
            help,
            too_large: false,
            at: None,
        }
    }

    /// Names the file of a syntax error's place (the parser knows only its
    /// text): only a named place is shown.
    pub fn in_file(mut self, file: &str) -> LoadError {
        if let Some(at) = self.at.as_mut() {
            at.file = file.to_string();
        }
        self
    }

    /// A syntax error at `line`:`column` of `text`.
    fn syntax(
        message: String,
        text: &str,
        (line, column): (usize, usize),
        code: &'static str,
    ) -> LoadError {
        LoadError {
            at: Some(Box::new(SyntaxAt {
                file: String::new(),
                text: Arc::new(text.to_string()),
                line,
                column,
                code,
            })),
            ..LoadError::new(message, None)
        }
    }

    /// `what` holds nothing to read. Said as such: a parser's message about
    /// a missing field or top level does not tell that the file is empty.
    fn empty(what: &str, text: &str) -> LoadError {
        let detail = if text.trim().is_empty() {
            ""
        } else {
            " (it holds only comments and blank lines)"
        };
        let help = if what.contains(crate::read::stdin::NAME) {
            "standard input ended before any text: check the command that feeds the pipe"
        } else {
            "check that the file was saved and that the path names the file you meant"
        };
        LoadError::new(format!("{what} is empty{detail}"), Some(help.into()))
    }

    /// `what` is larger than the limit; `size` when it is known.
    fn too_large(what: &str, size: Option<u64>, max: usize) -> LoadError {
        // Room for the document as it is, in whole MiB.
        let suggest = (size.unwrap_or(0).max(max as u64) * 2).div_ceil(1 << 20);
        let size = match size {
            Some(n) => format!("is {}, over", show_size(n)),
            None => "is larger than".into(),
        };
        LoadError {
            message: format!(
                "{what} {size} the document size limit of {}",
                show_size(max as u64)
            ),
            help: Some(format!(
                "raise the limit with --max-document-size (e.g. --max-document-size {suggest}MiB) if the file is right"
            )),
            too_large: true,
            at: None,
        }
    }
}

/// A size in bytes for people: `70.0 MiB (73400320 bytes)`.
pub fn show_size(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    if n >= MIB {
        format!("{:.1} MiB ({n} bytes)", n as f64 / MIB as f64)
    } else {
        format!("{n} bytes")
    }
}

/// Reads a local file of at most `max` bytes as text: its size is checked
/// first, and the read stops past the limit (a file can grow, or be a device
/// or a pipe that never ends). `what` names it in messages.
pub fn read_file(path: &Path, max: usize, what: &str) -> Result<String, LoadError> {
    use std::io::Read;
    if crate::read::stdin::is_stdin_path(path) {
        return read_stdin(max, what);
    }
    let cannot = |e: std::io::Error| {
        let help = (e.kind() == std::io::ErrorKind::NotFound).then(|| {
            "check the path; relative source URLs resolve against the folder of the document that names them (the current directory for a document read from standard input)"
                .to_string()
        });
        LoadError::new(format!("cannot read {what}: {e}"), help)
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    if let Ok(meta) = file.metadata() {
        if meta.is_dir() {
            return Err(LoadError::new(
                format!("cannot read {what}: it is a directory, not a file"),
                Some("name a JSON or YAML file".into()),
            ));
        }
        if meta.is_file() && meta.len() > max as u64 {
            return Err(LoadError::too_large(what, Some(meta.len()), max));
        }
    }
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() > max {
        return Err(LoadError::too_large(what, None, max));
    }
    utf8(bytes, what)
}

/// [`read_file`] of standard input (`-f -`, `--inputs -`, `validate -`),
/// named `<stdin>` in messages.
fn read_stdin(max: usize, what: &str) -> Result<String, LoadError> {
    let name = crate::read::stdin::NAME;
    let what = match std::env::current_dir() {
        Ok(cwd) => what.replace(&cwd.join(name).display().to_string(), name),
        Err(_) => what.to_string(),
    };
    let bytes = crate::read::stdin::bytes(max).map_err(|m| LoadError::new(m, None))?;
    if bytes.len() > max {
        return Err(LoadError::too_large(&what, None, max));
    }
    utf8(bytes.to_vec(), &what)
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, LoadError> {
    String::from_utf8(bytes).map_err(|e| {
        LoadError::new(
            format!("cannot read {what}: it is not UTF-8 text ({e})"),
            None,
        )
    })
}

/// Turns a command-line path or URL into a URL.
pub fn location_to_url(location: &str) -> Result<Url, LoadError> {
    if location.starts_with("http://")
        || location.starts_with("https://")
        || location.starts_with("file:")
    {
        return Url::parse(location)
            .map_err(|e| LoadError::new(format!("`{location}` is not a valid URL: {e}"), None));
    }
    let path = Path::new(location);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| LoadError::new(format!("cannot read the current directory: {e}"), None))?
            .join(path)
    };
    Url::from_file_path(&abs)
        .map_err(|_| LoadError::new(format!("`{location}` is not a usable file path"), None))
}

/// Shows a URL the way a user wrote it: a plain path for local files.
pub fn display_url(url: &Url) -> String {
    if url.scheme() == "file" {
        if let Ok(p) = url.to_file_path() {
            if let Ok(cwd) = std::env::current_dir() {
                if let Ok(rel) = p.strip_prefix(&cwd) {
                    return rel.display().to_string();
                }
            }
            return p.display().to_string();
        }
    }
    if url.password().is_some() {
        let mut masked = url.clone();
        let _ = masked.set_password(Some(crate::redact::MASK));
        return masked.to_string();
    }
    url.to_string()
}

/// Reads the document at a URL: files from disk, http(s) with the fetcher's
/// client; either way at most the fetcher's `max_document_size` bytes.
pub async fn fetch(url: &Url, fetcher: &Fetcher) -> Result<String, LoadError> {
    let max = fetcher.max_document_size;
    // A password in the URL is never shown.
    let shown = display_url(url);
    match url.scheme() {
        "file" => {
            let path = url.to_file_path().map_err(|_| {
                LoadError::new(format!("`{shown}` is not a usable file URL"), None)
            })?;
            read_file(&path, max, &format!("`{}`", path.display()))
        }
        "http" | "https" => {
            let mut resp = fetcher.client().get(url.clone()).send().await.map_err(|e| {
                let why = crate::http::describe_error(&e);
                let help = crate::http::tls_hint(&why)
                    .unwrap_or_else(|| "check the URL and your network, or point at a local copy".into());
                LoadError::new(format!("cannot fetch `{shown}`: {why}"), Some(help))
            })?;
            let status = resp.status();
            if !status.is_success() {
                return Err(LoadError::new(
                    format!("fetching `{shown}` answered HTTP {status}"),
                    None,
                ));
            }
            let what = format!("`{shown}`");
            if let Some(n) = resp.content_length().filter(|n| *n > max as u64) {
                return Err(LoadError::too_large(&what, Some(n), max));
            }
            // Counted as it streams: a Content-Length can be missing or wrong.
            let mut bytes = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| LoadError::new(format!("reading `{shown}` failed: {e}"), None))?
            {
                if bytes.len() + chunk.len() > max {
                    return Err(LoadError::too_large(&what, None, max));
                }
                bytes.extend_from_slice(&chunk);
            }
            // As `Response::text` does: invalid UTF-8 is replaced, not refused.
            Ok(String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
        }
        other => Err(LoadError::new(
            format!("`{shown}`: the URL scheme `{other}` is not supported (use a path, file:, http: or https:)"),
            None,
        )),
    }
}

/// Deepest nesting of arrays and objects in a document (Arazzo, OpenAPI, an
/// inputs file): the JSON and YAML parsers' own recursion limit, which every
/// later pass over the tree relies on.
pub const MAX_DEPTH: usize = 128;

/// The message for a document that nests deeper than [`MAX_DEPTH`], when
/// `error` (from serde_json or serde_yaml_ng) says so.
pub fn too_deep(error: &dyn std::fmt::Display) -> Option<String> {
    let text = error.to_string();
    let at = text.strip_prefix("recursion limit exceeded")?;
    Some(format!(
        "it nests arrays and objects more than {MAX_DEPTH} levels deep{at}"
    ))
}

/// The help line for a document that nests too deep.
pub const TOO_DEEP_HELP: &str =
    "real documents nest far less; flatten the structure (for a schema, move parts to `components` and `$ref` them)";

/// Refuses YAML nested deeper than any real document before the YAML parser
/// sees it (its scanner slows down sharply on pathological nesting): flow
/// brackets outside quotes and comments, and indentation.
pub fn check_yaml_nesting(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > MAX_DEPTH * 8 {
            return Err(format!("line {} is indented {indent} columns deep; documents nest at most {MAX_DEPTH} levels", n + 1));
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for c in line.chars() {
            match (quote, c) {
                (None, '#') if prev == ' ' || prev == '\t' => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(format!(
                            "it nests arrays and objects more than {MAX_DEPTH} levels deep (line {})",
                            n + 1
                        ));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
    }
    Ok(())
}

/// Where to show a YAML syntax error (line and column, from 1). At the end of
/// the text (an unclosed quote or bracket) the parser's place is past the last
/// line, so the place where the unclosed thing began, which its message names
/// (`…, while scanning a quoted scalar at line 3 column 10`), is shown instead.
pub fn yaml_error_place(e: &serde_yaml_ng::Error) -> Option<(usize, usize)> {
    let at = e.location().map(|l| (l.line(), l.column()))?;
    let text = e.to_string();
    if !text.contains("end of stream") {
        return Some(at);
    }
    let (_, context) = text.rsplit_once(", while ")?;
    let (_, place) = context.rsplit_once(" at line ")?;
    let (line, column) = place.split_once(" column ")?;
    match (line.trim().parse(), column.trim().parse()) {
        (Ok(l), Ok(c)) => Some((l, c)),
        _ => Some(at),
    }
}

/// True when a document holds nothing a parser would read: only blank lines,
/// comments and YAML document markers.
pub fn is_blank(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// Parses JSON or YAML text into a JSON tree. JSON goes through serde_json (fast,
/// precise positions); anything else through the YAML parser. An empty file
/// is said to be empty; a syntax error carries its place ([`SyntaxAt`]).
pub fn parse_tree(text: &str, what: &str) -> Result<Value, LoadError> {
    if is_blank(text) {
        return Err(LoadError::empty(what, text));
    }
    // Only the byte order mark goes: lines are counted from the file's start.
    let body = text.trim_start_matches('\u{feff}');
    let trimmed = body.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Value>(body) {
            return Ok(v);
        }
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // Invalid JSON: report JSON's own error (it names line and column).
        if let Err(e) = serde_json::from_str::<Value>(body) {
            if let Some(m) = too_deep(&e) {
                return Err(LoadError::new(
                    format!("{what} is not usable: {m}"),
                    Some(TOO_DEEP_HELP.into()),
                ));
            }
            if trimmed.starts_with('{') {
                return Err(LoadError::syntax(
                    format!("{what} is not valid JSON: {e}"),
                    body,
                    (e.line(), e.column()),
                    "syntax/json",
                ));
            }
        }
    }
    check_yaml_nesting(body).map_err(|m| {
        LoadError::new(
            format!("{what} is not usable: {m}"),
            Some(TOO_DEEP_HELP.into()),
        )
    })?;
    serde_yaml_ng::from_str::<Value>(body).map_err(|e| match too_deep(&e) {
        Some(m) => LoadError::new(
            format!("{what} is not usable: {m}"),
            Some(TOO_DEEP_HELP.into()),
        ),
        None => {
            let message = format!("{what} is not valid YAML: {e}");
            match yaml_error_place(&e) {
                Some(place) => LoadError::syntax(message, body, place, "syntax/yaml"),
                None => LoadError::new(message, None),
            }
        }
    })
}
