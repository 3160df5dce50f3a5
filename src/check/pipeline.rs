//! `arazzo validate`: every check that can be made without sending a request,
//! as diagnostics placed in the user's files.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::check::arazzo_schema;
use crate::check::diagnostics::{Diagnostic, Fix, Severity, SourceFile};
use crate::check::lint::lint;
use crate::compile::{check_all, Program};
use crate::document::{self, Loaded};
use crate::plan::{check_literals, PlanProblem, ProblemAbout};
use crate::read::LoadError;

/// Expands the command-line paths: files as given, directories to the Arazzo
/// documents directly inside them (by an `arazzo` field at the top).
pub fn expand_paths(paths: &[PathBuf], max_size: usize) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read the directory `{}`: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && matches!(
                            f.extension().and_then(|e| e.to_str()),
                            Some("yaml" | "yml" | "json")
                        )
                        && looks_like_arazzo(f, max_size)
                })
                .collect();
            found.sort();
            out.extend(found);
        } else if p.is_file() || crate::read::stdin::is_stdin_path(p) {
            out.push(p.clone());
        } else {
            let shown = p.display().to_string();
            if shown.contains("://") {
                return Err(format!(
                    "`{shown}` is a URL: validate reads files; fetch it first, e.g. `curl -sS URL | arazzo validate -`"
                ));
            }
            return Err(format!("`{shown}` does not exist"));
        }
    }
    Ok(out)
}

/// An Arazzo document by its name (`*.arazzo.yaml`, …) or its `arazzo` field.
/// A file that does not parse but mentions `arazzo` at the top level is taken
/// too, so that its syntax error is reported rather than skipped.
/// A file over the size limit is not read, so it counts only by its name.
fn looks_like_arazzo(path: &Path, max_size: usize) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.contains(".arazzo.") || name.starts_with("arazzo.") {
        return true;
    }
    let Ok(text) = crate::read::read_file(path, max_size, "") else {
        return false;
    };
    match crate::read::parse_tree(&text, "") {
        Ok(v) => v.get("arazzo").is_some(),
        Err(_) => text
            .lines()
            .take(20)
            .any(|l| l.starts_with("arazzo:") || l.contains("\"arazzo\"")),
    }
}

/// Validates one document and its sources.
pub async fn validate_file(
    path: &Path,
    client: &crate::http::Fetcher,
) -> (Vec<Diagnostic>, SourceFile) {
    let (file, unusable) = read_document(path, client.max_document_size);
    if let Some(d) = unusable {
        return (vec![d], file);
    }

    // 1. Syntax.
    let tree = match syntax(&file) {
        Ok(t) => t,
        Err(d) => return (vec![*d], file),
    };
    if let Some(d) = not_arazzo(&file, &tree) {
        return (vec![d], file);
    }
    let mut file = file;
    file.arazzo = tree
        .get("arazzo")
        .and_then(Value::as_str)
        .filter(|v| crate::document::structure::version_ok(v))
        .map(str::to_string);
    let mut check = FileCheck {
        path,
        file,
        tree,
        diags: Vec::new(),
        schema_pointers: Vec::new(),
    };

    // 2. The Arazzo JSON Schema of the document's version (1.0 or 1.1). Its errors do not stop the checks below
    // when the document can still be read: every mistake is reported at once.
    check.arazzo_schema();

    // 3. Sources, references, expressions, payloads, lints.
    let Some(loaded) = check.load_sources(client).await else {
        return (check.diags, check.file);
    };
    let program = check.compile_checks(&loaded);
    check.payloads(&program, &loaded);
    check.lints(&program, &loaded);
    // In the order of the text, as a reader goes through the file.
    let FileCheck {
        file, mut diags, ..
    } = check;
    diags.sort_by_key(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0)));
    for d in &mut diags {
        d.arazzo.clone_from(&file.arazzo);
    }
    (diags, file)
}

/// Reads the document at `path`. A file that cannot be read, or holds nothing,
/// comes with the one diagnostic that says so: there is nothing else to check.
fn read_document(path: &Path, max_size: usize) -> (SourceFile, Option<Diagnostic>) {
    let name = path.display().to_string();
    let text = match crate::read::read_file(path, max_size, &format!("`{name}`")) {
        Ok(t) => t,
        Err(e) => {
            let code = if e.too_large {
                "document/too-large"
            } else {
                "io/read"
            };
            let d = Diagnostic::file_level(&name, code, e.message, e.help);
            return (SourceFile::new(name, String::new()), Some(d));
        }
    };
    if crate::read::is_blank(&text) {
        let e = crate::read::parse_tree(&text, &format!("`{name}`")).err();
        let (message, help) = e.map(|e| (e.message, e.help)).unwrap_or_default();
        let d = Diagnostic::file_level(&name, "document/empty", message, help);
        return (SourceFile::new(name, text), Some(d));
    }
    (SourceFile::new(name, text), None)
}

/// A document that parses but has no `arazzo` field is something else (an
/// OpenAPI description, often): said once, with nothing else checked.
fn not_arazzo(file: &SourceFile, tree: &Value) -> Option<Diagnostic> {
    if tree.get("arazzo").is_some() {
        return None;
    }
    let hint = if tree.get("openapi").is_some() || tree.get("swagger").is_some() {
        "this is an OpenAPI description; validate the Arazzo document that names it"
    } else {
        "an Arazzo document starts with `arazzo: 1.1.0` (or `arazzo: 1.0.1`)"
    };
    Some(file.at(
        Some(""),
        "document/not-arazzo",
        Severity::Error,
        format!(
            "`{}` is not an Arazzo document: the `arazzo` field is missing",
            file.name
        ),
        Some(hint.into()),
    ))
}

/// The checks of one Arazzo document that parses, past its syntax: each phase
/// adds its diagnostics to `diags`.
struct FileCheck<'a> {
    path: &'a Path,
    file: SourceFile,
    tree: Value,
    diags: Vec<Diagnostic>,
    /// The places the Arazzo schema faulted, in the order found.
    schema_pointers: Vec<String>,
}

impl FileCheck<'_> {
    /// Phase 2: every error the Arazzo JSON Schema of its version finds, at its place.
    fn arazzo_schema(&mut self) {
        for issue in arazzo_schema::check(&self.tree) {
            self.schema_pointers.push(issue.pointer.clone());
            self.diags.push(self.file.at(
                Some(&issue.pointer),
                issue.code,
                Severity::Error,
                issue.message,
                Some(issue.help),
            ));
        }
    }

    fn schema_failed(&self) -> bool {
        !self.schema_pointers.is_empty()
    }

    /// A later finding about a place the schema already faulted (or one inside
    /// it) says the same thing again.
    fn already_said(&self, pointer: Option<&str>) -> bool {
        let p = pointer.unwrap_or("");
        self.schema_failed()
            && self
                .schema_pointers
                .iter()
                .any(|s| p == s || p.starts_with(&format!("{s}/")))
    }

    /// Phase 3: the document with its sources, loaded as a run would. `None`
    /// when that fails: whatever can be said of the failure is in `diags`, and
    /// the checks that need the sources cannot be made.
    async fn load_sources(&mut self, client: &crate::http::Fetcher) -> Option<Loaded> {
        let url = match crate::read::location_to_url(&self.file.name) {
            Ok(u) => u,
            Err(e) => {
                let d = Diagnostic::file_level(&self.file.name, "io/path", e.message, e.help);
                self.diags.push(d);
                return None;
            }
        };
        match document::load_with(url, client, false).await {
            Ok(l) => Some(l),
            // The document does not fit the model: the schema errors say why. A
            // source that cannot be loaded is a problem of its own, though.
            Err(e) if self.schema_failed() && !e.message.starts_with("source description `") => {
                None
            }
            Err(e) => {
                self.load_failed(e);
                None
            }
        }
    }

    /// A source that cannot be loaded, placed at its URL in the document. When
    /// the URL names a file from a folder above the document's, the diagnostic
    /// carries the fix.
    fn load_failed(&mut self, e: LoadError) {
        let pointer = source_pointer(&self.tree, &e.message);
        let moved = pointer
            .as_deref()
            .and_then(|p| self.tree.pointer(p))
            .and_then(Value::as_str)
            .and_then(|url| found_higher_up(self.path, url));
        if let (Some((url, fixed)), Some(p)) = (moved, pointer.as_deref()) {
            let mut d = self.file.at(
                Some(p),
                "source/load",
                Severity::Error,
                e.message,
                Some(format!(
                    "`{url}` is read from the document's own folder; a file of that path exists higher up: write `url: {fixed}` (`arazzo validate --fix` does it)"
                )),
            );
            d.fix = Some(Fix {
                pointer: p.to_string(),
                replace: url,
                with: fixed,
            });
            self.diags.push(d);
            return;
        }
        self.diags.push(self.file.at(
            pointer.as_deref(),
            if e.too_large {
                "source/too-large"
            } else {
                "source/load"
            },
            Severity::Error,
            e.message,
            e.help,
        ));
    }

    /// Phase 4: what compiling the workflows finds (references, expressions,
    /// operations), with the fixes it knows. Returns the compiled program for
    /// the phases after it.
    fn compile_checks(&mut self, loaded: &Loaded) -> Program {
        let (program, errors) = check_all(loaded);
        for e in errors {
            if self.already_said(e.pointer.as_deref()) {
                continue;
            }
            let mut d = self.file.at_within(
                e.pointer.as_deref(),
                e.needle.as_deref(),
                e.code,
                Severity::Error,
                e.message,
                e.help,
            );
            d.fix = e.fix.map(|f| {
                let (replace, with) = *f;
                Fix {
                    pointer: e.pointer.clone().unwrap_or_default(),
                    replace,
                    with,
                }
            });
            self.diags.push(d);
        }
        program
    }

    /// Phase 5: literal values of the entry document's steps that break their
    /// operation's schema.
    fn payloads(&mut self, program: &Program, loaded: &Loaded) {
        let doc = &loaded.entry().doc;
        for p in check_literals(program) {
            let Some(wi) = doc
                .workflows
                .iter()
                .position(|w| w.workflow_id == p.workflow_id)
            else {
                // Findings in other documents are theirs to report.
                continue;
            };
            let pointer = problem_pointer(&self.tree, wi, &p);
            if self.already_said(Some(&pointer)) {
                continue;
            }
            self.diags.push(self.file.at(
                Some(&pointer),
                "payload/schema",
                Severity::Error,
                p.to_string(),
                Some("the value written in the document breaks the operation's schema; fix the value".into()),
            ));
        }
    }

    /// Phase 6: the lints, each narrowed to the string it is about.
    fn lints(&mut self, program: &Program, loaded: &Loaded) {
        for f in lint(program, loaded) {
            if self.already_said(Some(&f.pointer)) {
                continue;
            }
            let pointer = match &f.needle {
                Some(n) => refine(&self.tree, &f.pointer, n),
                None => f.pointer.clone(),
            };
            self.diags.push(self.file.at_within(
                Some(&pointer),
                f.needle.as_deref(),
                f.code,
                f.severity,
                f.message,
                f.help,
            ));
        }
    }
}

/// The string under `base` that holds `needle` (the first equal to it, else the
/// first containing it, in document order), or `base` when there is none.
pub fn refine(tree: &Value, base: &str, needle: &str) -> String {
    let Some(start) = tree.pointer(base) else {
        return base.to_string();
    };
    let mut containing: Option<String> = None;
    let mut stack: Vec<(&Value, String)> = vec![(start, base.to_string())];
    while let Some((v, p)) = stack.pop() {
        match v {
            Value::String(s) if s == needle => return p,
            Value::String(s) if containing.is_none() && s.contains(needle) => containing = Some(p),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push((item, format!("{p}/{i}")));
                }
            }
            Value::Object(map) => {
                for (k, item) in map.iter().rev() {
                    stack.push((item, format!("{p}/{}", crate::compile::token(k))));
                }
            }
            _ => {}
        }
    }
    containing.unwrap_or_else(|| base.to_string())
}

/// Where in the document a problem of a step's literal values is written.
fn problem_pointer(tree: &Value, wi: usize, p: &PlanProblem) -> String {
    let wf_ptr = format!("/workflows/{wi}");
    let step_index = tree
        .pointer(&format!("{wf_ptr}/steps"))
        .and_then(Value::as_array)
        .and_then(|steps| {
            steps
                .iter()
                .position(|s| s.get("stepId").and_then(Value::as_str) == Some(&p.step_id))
        });
    let Some(si) = step_index else {
        return wf_ptr;
    };
    let step_ptr = format!("{wf_ptr}/steps/{si}");
    let param_at = |list_ptr: &str, location: &str, name: &str| {
        let list = tree.pointer(list_ptr)?.as_array()?;
        let k = list.iter().position(|item| {
            item.get("in").and_then(Value::as_str) == Some(location)
                && item.get("name").and_then(Value::as_str).is_some_and(|n| {
                    if location == "header" {
                        n.eq_ignore_ascii_case(name)
                    } else {
                        n == name
                    }
                })
        })?;
        Some(format!("{list_ptr}/{k}/value"))
    };
    match &p.about {
        ProblemAbout::Step => step_ptr,
        ProblemAbout::Body(path) => {
            let rb = format!("{step_ptr}/requestBody");
            let replaced = tree
                .pointer(&format!("{rb}/replacements"))
                .and_then(Value::as_array)
                .and_then(|list| {
                    list.iter().rposition(|r| {
                        r.get("target")
                            .and_then(Value::as_str)
                            .is_some_and(|t| path == t || path.starts_with(&format!("{t}/")))
                    })
                });
            match replaced {
                Some(i) => format!("{rb}/replacements/{i}/value"),
                None => format!("{rb}/payload{path}"),
            }
        }
        ProblemAbout::Param(location, name) => {
            param_at(&format!("{step_ptr}/parameters"), location, name)
                .or_else(|| param_at(&format!("{wf_ptr}/parameters"), location, name))
                .unwrap_or(step_ptr)
        }
        ProblemAbout::Missing(..) => {
            let step = tree.pointer(&step_ptr);
            let has = |f: &str| step.and_then(|s| s.get(f)).is_some();
            if has("parameters") {
                format!("{step_ptr}/parameters")
            } else if has("operationId") {
                format!("{step_ptr}/operationId")
            } else if has("operationPath") {
                format!("{step_ptr}/operationPath")
            } else {
                step_ptr
            }
        }
    }
}

fn syntax(file: &SourceFile) -> Result<serde_json::Value, Box<Diagnostic>> {
    let text = file.text.trim_start_matches('\u{feff}');
    let too_deep = |line: usize, column: usize, m: String| {
        Box::new(file.at_line(
            line,
            column,
            "document/too-deep",
            format!("the document is not usable: {m}"),
            Some(crate::read::TOO_DEEP_HELP.into()),
        ))
    };
    let (line, column, code, message) = if text.trim_start().starts_with('{') {
        match serde_json::from_str(text) {
            Ok(v) => return Ok(v),
            Err(e) => {
                if let Some(m) = crate::read::too_deep(&e) {
                    return Err(too_deep(e.line(), e.column(), m));
                }
                (
                    e.line(),
                    e.column(),
                    "syntax/json",
                    format!("not valid JSON: {e}"),
                )
            }
        }
    } else {
        if let Err(m) = crate::read::check_yaml_nesting(text) {
            let line = m
                .rsplit_once("(line ")
                .and_then(|(_, n)| n.trim_end_matches(')').parse().ok())
                .unwrap_or(1);
            return Err(too_deep(line, 1, m));
        }
        match serde_yaml_ng::from_str(text) {
            Ok(v) => return Ok(v),
            Err(e) => {
                let (l, c) = crate::read::yaml_error_place(&e).unwrap_or((1, 1));
                if let Some(m) = crate::read::too_deep(&e) {
                    return Err(too_deep(l, c, m));
                }
                (l, c, "syntax/yaml", format!("not valid YAML: {e}"))
            }
        }
    };
    Err(Box::new(file.at_line(line, column, code, message, None)))
}

/// A relative source URL that names no file from the document's folder but does
/// from a folder above it (written from a repository's root, say): the URL as
/// written and the one that works from the document.
fn found_higher_up(document: &Path, url: &str) -> Option<(String, String)> {
    if url.contains(':') || url.starts_with('/') || url.contains(['#', '?', '\\']) {
        return None;
    }
    let dir = match document.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::fs::canonicalize(dir).ok()?;
    if dir.join(url).exists() {
        return None;
    }
    let written = url.trim_start_matches("./");
    dir.ancestors()
        .skip(1)
        .take(16)
        .position(|a| a.join(written).is_file())
        .map(|k| (url.to_string(), format!("{}{written}", "../".repeat(k + 1))))
}

/// The source description a load error is about, by its name in the message.
fn source_pointer(tree: &serde_json::Value, message: &str) -> Option<String> {
    let sources = tree.get("sourceDescriptions")?.as_array()?;
    sources.iter().enumerate().find_map(|(i, s)| {
        let name = s.get("name")?.as_str()?;
        message
            .contains(&format!("`{name}`"))
            .then(|| format!("/sourceDescriptions/{i}/url"))
    })
}
