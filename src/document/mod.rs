//! Reading Arazzo documents and the sources they name.

pub mod model;
pub(crate) mod structure;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use url::Url;

pub use model::*;

use crate::http::Fetcher;
use crate::openapi::OpenApi;

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
        let help = if what.contains(crate::stdin::NAME) {
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
                "raise the limit with --max-document-size (e.g. --max-document-size {suggest}MiB) if the document is right"
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
    if crate::stdin::is_stdin_path(path) {
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
    let name = crate::stdin::NAME;
    let what = match std::env::current_dir() {
        Ok(cwd) => what.replace(&cwd.join(name).display().to_string(), name),
        Err(_) => what.to_string(),
    };
    let bytes = crate::stdin::bytes(max).map_err(|m| LoadError::new(m, None))?;
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

/// A parsed Arazzo document and where it came from.
#[derive(Debug)]
pub struct ArazzoDoc {
    pub url: Url,
    pub doc: Document,
    /// The document as a JSON tree, for `$ref`s into `components`.
    pub raw: Value,
}

/// What a source description name refers to.
#[derive(Debug, Clone)]
pub enum SourceRef {
    OpenApi(Arc<OpenApi>),
    /// Index into [`Loaded::docs`].
    Arazzo(usize),
}

/// An Arazzo document with its sources, in the order the document declares them.
#[derive(Debug)]
pub struct LoadedDoc {
    pub doc: Arc<ArazzoDoc>,
    pub sources: Vec<(String, SourceRef)>,
}

impl LoadedDoc {
    pub fn source(&self, name: &str) -> Option<&SourceRef> {
        self.sources.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

/// The entry document (`docs[0]`) and every Arazzo document reachable through
/// `arazzo` source descriptions, each loaded once.
#[derive(Debug)]
pub struct Loaded {
    pub docs: Vec<LoadedDoc>,
}

impl Loaded {
    pub fn entry(&self) -> &ArazzoDoc {
        &self.docs[0].doc
    }
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
    url.to_string()
}

/// Reads the document at a URL: files from disk, http(s) with the fetcher's
/// client; either way at most the fetcher's `max_document_size` bytes.
pub async fn fetch(url: &Url, fetcher: &Fetcher) -> Result<String, LoadError> {
    let max = fetcher.max_document_size;
    match url.scheme() {
        "file" => {
            let path = url.to_file_path().map_err(|_| {
                LoadError::new(format!("`{url}` is not a usable file URL"), None)
            })?;
            read_file(&path, max, &format!("`{}`", path.display()))
        }
        "http" | "https" => {
            let mut resp = fetcher.client().get(url.clone()).send().await.map_err(|e| {
                let why = crate::http::describe_error(&e);
                let help = crate::http::tls_hint(&why)
                    .unwrap_or_else(|| "check the URL and your network, or point at a local copy".into());
                LoadError::new(format!("cannot fetch `{url}`: {why}"), Some(help))
            })?;
            let status = resp.status();
            if !status.is_success() {
                return Err(LoadError::new(
                    format!("fetching `{url}` answered HTTP {status}"),
                    None,
                ));
            }
            let what = format!("`{url}`");
            if let Some(n) = resp.content_length().filter(|n| *n > max as u64) {
                return Err(LoadError::too_large(&what, Some(n), max));
            }
            // Counted as it streams: a Content-Length can be missing or wrong.
            let mut bytes = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| LoadError::new(format!("reading `{url}` failed: {e}"), None))?
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
            format!("`{url}`: the URL scheme `{other}` is not supported (use a path, file:, http: or https:)"),
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

/// Parses an Arazzo document from text.
pub fn parse_arazzo(url: Url, text: &str) -> Result<ArazzoDoc, LoadError> {
    parse_arazzo_with(url, text, true)
}

/// Parses an Arazzo document; `structure` also applies the schema's structural
/// rules (`validate` checks the whole schema itself, with positions).
fn parse_arazzo_with(url: Url, text: &str, structure: bool) -> Result<ArazzoDoc, LoadError> {
    let shown = display_url(&url);
    let raw = parse_tree(text, &format!("`{shown}`")).map_err(|e| e.in_file(&shown))?;
    if !raw.is_object() {
        return Err(LoadError::new(
            format!("`{shown}` is not an Arazzo document: its top level is not an object"),
            None,
        ));
    }
    match raw.get("arazzo").and_then(Value::as_str) {
        Some(v) if v.starts_with("1.0.") || v == "1.0" => {}
        Some(v) => {
            return Err(LoadError::new(
                format!("`{shown}` declares `arazzo: {v}`; this tool runs Arazzo 1.0.x"),
                Some("set `arazzo: 1.0.1`".into()),
            ))
        }
        None => {
            let hint = if raw.get("openapi").is_some() {
                "this looks like an OpenAPI description; pass the Arazzo document that names it"
            } else {
                "an Arazzo document starts with `arazzo: 1.0.1`"
            };
            return Err(LoadError::new(
                format!("`{shown}` is not an Arazzo document: the `arazzo` field is missing"),
                Some(hint.into()),
            ));
        }
    }
    let doc: Document = serde_path_to_error::deserialize(&raw).map_err(|e| {
        let path = e.path().to_string();
        LoadError::new(
            format!(
                "`{shown}` is not a valid Arazzo document: at `{path}`: {}",
                e.inner()
            ),
            Some("see the Arazzo 1.0.1 specification for the object's fields".into()),
        )
    })?;
    if doc.workflows.is_empty() {
        return Err(LoadError::new(
            format!("`{shown}` has no workflows"),
            Some("an Arazzo document lists at least one workflow under `workflows`".into()),
        ));
    }
    if doc.source_descriptions.is_empty() {
        return Err(LoadError::new(
            format!("`{shown}` has no source descriptions"),
            Some("an Arazzo document names at least one source under `sourceDescriptions`".into()),
        ));
    }
    let problems = if structure {
        structure::problems(&raw)
    } else {
        Vec::new()
    };
    if !problems.is_empty() {
        let n = problems.len();
        let shown_list: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
        let more = if n > 5 {
            format!("; and {} more", n - 5)
        } else {
            String::new()
        };
        return Err(LoadError::new(
            format!(
                "`{shown}` is not a valid Arazzo 1.0 document ({n} problem{}): {}{more}",
                if n == 1 { "" } else { "s" },
                shown_list.join("; ")
            ),
            Some(format!(
                "`arazzo validate {shown}` shows each problem where it is"
            )),
        ));
    }
    Ok(ArazzoDoc { url, doc, raw })
}

/// Loads an Arazzo document and every source description it names, recursively
/// for `arazzo` sources. Each URL is fetched once; cycles are fine.
pub async fn load(url: Url, client: &Fetcher) -> Result<Loaded, LoadError> {
    load_with(url, client, true).await
}

/// As [`load`]; `validate` passes `structure: false` for the entry document,
/// whose whole JSON Schema it checks itself.
pub async fn load_with(url: Url, client: &Fetcher, structure: bool) -> Result<Loaded, LoadError> {
    let text = fetch(&url, client).await?;
    let entry = Arc::new(parse_arazzo_with(url.clone(), &text, structure)?);
    let mut loading = Loading {
        client,
        docs: vec![LoadedDoc {
            doc: entry,
            sources: Vec::new(),
        }],
        by_url: HashMap::from([(url, 0)]),
        apis: HashMap::new(),
    };
    // Arazzo sources are added to `docs` as they are met, and loaded in turn.
    let mut next = 0;
    while next < loading.docs.len() {
        let doc = Arc::clone(&loading.docs[next].doc);
        let mut sources = Vec::new();
        for sd in &doc.doc.source_descriptions {
            if sources
                .iter()
                .any(|(n, _): &(String, SourceRef)| n == &sd.name)
            {
                return Err(LoadError::new(
                    format!(
                        "`{}` has two source descriptions named `{}`",
                        display_url(&doc.url),
                        sd.name
                    ),
                    Some("source description names must be unique".into()),
                ));
            }
            let source = loading.source(&doc, sd).await?;
            sources.push((sd.name.clone(), source));
        }
        loading.docs[next].sources = sources;
        next += 1;
    }
    Ok(Loaded { docs: loading.docs })
}

/// The documents loaded so far, each fetched once by its URL.
struct Loading<'c> {
    client: &'c Fetcher,
    /// The entry document first, then each Arazzo source in the order met.
    docs: Vec<LoadedDoc>,
    /// Arazzo documents: URL → index into `docs`.
    by_url: HashMap<Url, usize>,
    /// OpenAPI descriptions, by URL.
    apis: HashMap<Url, Arc<OpenApi>>,
}

impl Loading<'_> {
    /// Loads the source description `sd` of `doc`, unless its URL was loaded
    /// already. An Arazzo source is added to `docs`, its own sources still to
    /// load.
    async fn source(
        &mut self,
        doc: &ArazzoDoc,
        sd: &SourceDescription,
    ) -> Result<SourceRef, LoadError> {
        let src_url = source_url(doc, sd)?;
        if let Some(&i) = self.by_url.get(&src_url) {
            return Ok(SourceRef::Arazzo(i));
        }
        if let Some(api) = self.apis.get(&src_url) {
            return Ok(SourceRef::OpenApi(Arc::clone(api)));
        }
        let text = fetch(&src_url, self.client).await.map_err(|e| LoadError {
            message: format!("source description `{}`: {}", sd.name, e.message),
            ..e
        })?;
        let source = SourceLoad::new(sd, src_url);
        let api = match source.parse(text)? {
            Parsed::Api(api) => *api,
            Parsed::Tree(mut tree) => {
                if crate::openapi::bundle::external_ref_in(&tree) {
                    tree = crate::openapi::bundle::bundle(
                        tree,
                        &source.url,
                        self.client,
                        &source.what,
                    )
                    .await?;
                }
                OpenApi::from_value(source.url.clone(), tree).map_err(|e| source.api_error(e))?
            }
            Parsed::Arazzo(text) => {
                let child = Arc::new(parse_arazzo(source.url.clone(), &text)?);
                let i = self.docs.len();
                self.docs.push(LoadedDoc {
                    doc: child,
                    sources: Vec::new(),
                });
                self.by_url.insert(source.url, i);
                return Ok(SourceRef::Arazzo(i));
            }
        };
        let api = Arc::new(api);
        self.apis.insert(source.url, Arc::clone(&api));
        Ok(SourceRef::OpenApi(api))
    }
}

/// The URL of the source description `sd`, resolved against its document's.
/// A document fetched over the network may not name a local file.
fn source_url(doc: &ArazzoDoc, sd: &SourceDescription) -> Result<Url, LoadError> {
    let src_url = doc.url.join(&sd.url).map_err(|e| {
        LoadError::new(
            format!(
                "source description `{}`: `{}` is not a valid URL reference: {e}",
                sd.name, sd.url
            ),
            None,
        )
    })?;
    if matches!(doc.url.scheme(), "http" | "https") && src_url.scheme() == "file" {
        return Err(LoadError::new(
            format!(
                "source description `{}`: `{}` was fetched over the network and names a local file (`{}`); that is refused",
                sd.name,
                display_url(&doc.url),
                sd.url
            ),
            Some("a document served over http(s) may only name documents served over http(s)".into()),
        ));
    }
    Ok(src_url)
}

/// A source description's text, read as what it is. A JSON description is
/// read lazily; anything else is parsed whole, and so is a description that
/// `$ref`s other files (they are pulled in).
enum Parsed {
    Api(Box<OpenApi>),
    Tree(Value),
    Arazzo(String),
}

/// One source description being loaded, with how messages name it.
struct SourceLoad<'s> {
    sd: &'s SourceDescription,
    url: Url,
    /// The URL as shown to people.
    shown: String,
    /// "source description `name` (`url`)".
    what: String,
}

impl<'s> SourceLoad<'s> {
    fn new(sd: &'s SourceDescription, url: Url) -> SourceLoad<'s> {
        let shown = display_url(&url);
        let what = format!("source description `{}` (`{shown}`)", sd.name);
        SourceLoad {
            sd,
            url,
            shown,
            what,
        }
    }

    /// An OpenAPI description that cannot be read, named.
    fn api_error(&self, e: crate::openapi::OpenApiError) -> LoadError {
        LoadError::new(
            format!(
                "source description `{}` (`{}`): {e}",
                self.sd.name, self.shown
            ),
            None,
        )
    }

    /// The type the source declares, else `arazzo` when its text has the field.
    fn kind(&self, has_arazzo: bool) -> SourceKind {
        self.sd.kind.unwrap_or(if has_arazzo {
            SourceKind::Arazzo
        } else {
            SourceKind::Openapi
        })
    }

    /// Reads the fetched `text` as an OpenAPI description (lazily when it can),
    /// a tree still to bundle, or an Arazzo document.
    fn parse(&self, text: String) -> Result<Parsed, LoadError> {
        let (what, shown) = (&self.what, &self.shown);
        Ok(match crate::openapi::Lazy::parse(text) {
            Ok(lazy) => match self.kind(lazy.has("arazzo")) {
                SourceKind::Openapi
                    if crate::openapi::bundle::external_ref_in_text(lazy.text()) =>
                {
                    Parsed::Tree(parse_tree(lazy.text(), what).map_err(|e| e.in_file(shown))?)
                }
                SourceKind::Openapi => Parsed::Api(Box::new(
                    OpenApi::from_lazy(self.url.clone(), lazy).map_err(|e| self.api_error(e))?,
                )),
                SourceKind::Arazzo => Parsed::Arazzo(lazy.into_text()),
            },
            Err(text) => {
                let tree = parse_tree(&text, what).map_err(|e| e.in_file(shown))?;
                match self.kind(tree.get("arazzo").is_some()) {
                    SourceKind::Openapi => Parsed::Tree(tree),
                    SourceKind::Arazzo => Parsed::Arazzo(text),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_errors_have_positions() {
        let e = parse_tree("{\"a\": }", "`x`").unwrap_err();
        assert!(e.message.contains("line 1"), "{}", e.message);
        let e = parse_tree("a: [1, 2\nb: c", "`x`").unwrap_err();
        assert!(e.message.contains("not valid YAML"), "{}", e.message);
    }

    #[test]
    fn arazzo_model_errors_name_the_path() {
        let url = Url::parse("file:///tmp/x.yaml").unwrap();
        let e = parse_arazzo(
            url,
            "arazzo: 1.0.1\ninfo: {title: t, version: '1'}\nsourceDescriptions: []\nworkflows:\n- workflowId: w\n  steps:\n  - operationId: x\n",
        )
        .unwrap_err();
        assert!(e.message.contains("workflows[0].steps[0]"), "{}", e.message);
        assert!(e.message.contains("stepId"), "{}", e.message);
    }
}
