//! Diagnostics of `arazzo validate`: a stable code, a message, a help line that
//! says how to fix it, a severity and a place (file, line, column), rendered with
//! the offending span (miette) or as JSON for CI annotations.

use std::sync::Arc;

use miette::{
    Diagnostic as MietteDiagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan,
    NamedSource,
};
use serde::Serialize;

use crate::document::source_map::SourceMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    /// JSON Pointer of the node, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// A certain fix (`validate --fix` applies it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// The Arazzo version the file declares (`1.1.0`), when it is one `arazzo` reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arazzo: Option<String>,
    #[serde(skip)]
    span: Option<(usize, usize)>,
}

/// A replacement inside one string value of the document: at `pointer`, the
/// text `replace` becomes `with`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub pointer: String,
    pub replace: String,
    pub with: String,
}

/// Codes whose subject is a member's name rather than its value: they are
/// placed on the key (`unused:` in `outputs`, a misspelt field).
const ABOUT_THE_NAME: &[&str] = &[
    "output/unused",
    "id/output-key",
    "id/component-key",
    "schema/unknown-field",
    "schema/arazzo-1.1",
];

/// The text of one file, with its source map, for placing diagnostics.
pub struct SourceFile {
    pub name: String,
    /// The Arazzo version the document declares (`1.1.0`), when it is one `arazzo` reads.
    pub arazzo: Option<String>,
    pub text: Arc<String>,
    pub map: SourceMap,
}

impl SourceFile {
    pub fn new(name: String, text: String) -> SourceFile {
        let map = SourceMap::parse(&text);
        SourceFile {
            name,
            arazzo: None,
            text: Arc::new(text),
            map,
        }
    }

    /// A diagnostic placed at a JSON Pointer of this file: on the value when it
    /// is a scalar (a wrong value), else on the key (a wrong block, or a member
    /// that should not be there), else on the nearest existing ancestor.
    pub fn at(
        &self,
        pointer: Option<&str>,
        code: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        self.at_within(pointer, None, code, severity, message, help)
    }

    /// As [`Self::at`], narrowed to `needle` when the node's text holds it: an
    /// expression inside a template or a condition.
    pub fn at_within(
        &self,
        pointer: Option<&str>,
        needle: Option<&str>,
        code: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let code = code.into();
        let span = pointer.and_then(|p| {
            let value = || self.map.locate_scalar(p);
            let key = || self.map.locate_key(p);
            if ABOUT_THE_NAME.contains(&code.as_str()) {
                key().or_else(value)
            } else {
                value().or_else(key)
            }
            .or_else(|| self.map.locate(p))
        });
        let narrowed = span.as_ref().and_then(|s| {
            let needle = needle.filter(|n| !n.is_empty())?;
            let region = self.text.get(s.offset..s.offset + s.len)?;
            let at = region.find(needle)?;
            Some((s.offset + at, needle.len()))
        });
        let (line, column, span) = match (narrowed, span) {
            (Some((offset, len)), _) => {
                let (l, c) = crate::document::source_map::line_col(&self.text, offset);
                (Some(l), Some(c), Some((offset, len)))
            }
            (None, Some(s)) => {
                let rest = &self.text[s.offset.min(self.text.len())..];
                let first_line = rest.find('\n').unwrap_or(rest.len());
                let len = s.len.min(first_line).max(1).min(rest.len());
                (Some(s.line), Some(s.column), Some((s.offset, len)))
            }
            (None, None) => (None, None, None),
        };
        Diagnostic {
            file: self.name.clone(),
            line,
            column,
            code,
            severity,
            message: message.into(),
            help,
            pointer: pointer.map(str::to_string),
            fix: None,
            arazzo: None,
            span,
        }
    }

    /// A diagnostic at a known line and column (syntax errors).
    pub fn at_line(
        &self,
        line: usize,
        column: usize,
        code: &str,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        let offset = self
            .text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum::<usize>()
            + column.saturating_sub(1);
        let offset = offset.min(self.text.len());
        Diagnostic {
            file: self.name.clone(),
            line: Some(line),
            column: Some(column),
            code: code.into(),
            severity: Severity::Error,
            message,
            help,
            pointer: None,
            fix: None,
            arazzo: None,
            span: Some((offset, usize::from(offset < self.text.len()))),
        }
    }
}

impl Diagnostic {
    /// The offending bytes of the file's text, `(offset, len)`, when known.
    pub fn span(&self) -> Option<(usize, usize)> {
        self.span
    }

    /// A diagnostic about a file as a whole.
    pub fn file_level(file: &str, code: &str, message: String, help: Option<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            line: None,
            column: None,
            code: code.into(),
            severity: Severity::Error,
            message,
            help,
            pointer: None,
            fix: None,
            arazzo: None,
            span: None,
        }
    }
}

/// miette view of one diagnostic with its source.
#[derive(Debug)]
struct Rendered<'a> {
    d: &'a Diagnostic,
    source: Option<NamedSource<Arc<String>>>,
}

impl std::fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl std::error::Error for Rendered<'_> {}

impl MietteDiagnostic for Rendered<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(&self.d.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.d
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (offset, len) = self.d.span?;
        self.source.as_ref()?;
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some("here".into()),
            offset,
            len,
        ))))
    }
}

/// Whether messages are wrapped to the width of the screen: only on a
/// terminal. In a log or a pipe a line stays whole, so that a long URL or
/// path can be searched for and copied.
pub fn wrap_lines() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// Renders diagnostics for a terminal, each with its source snippet.
pub fn render(diags: &[Diagnostic], files: &[SourceFile], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_wrap_lines(wrap_lines());
    // Control characters are escaped before miette lays the text out (so its
    // markers stay under the right columns), spans moved to match.
    let escaped: Vec<Arc<String>> = files
        .iter()
        .map(|f| match crate::redact::sanitize::escape(&f.text) {
            std::borrow::Cow::Borrowed(_) => Arc::clone(&f.text),
            std::borrow::Cow::Owned(t) => Arc::new(t),
        })
        .collect();
    let mut out = String::new();
    for d in diags {
        let file = files.iter().position(|f| f.name == d.file);
        let mut d = d.clone();
        d.file = crate::redact::sanitize::escape(&d.file).into_owned();
        d.message = crate::redact::sanitize::escape(&d.message).into_owned();
        d.help = d
            .help
            .map(|h| crate::redact::sanitize::escape(&h).into_owned());
        if let (Some(i), Some((offset, len))) = (file, d.span) {
            let text = &files[i].text;
            let start = crate::redact::sanitize::escaped_offset(text, offset);
            let end = crate::redact::sanitize::escaped_offset(text, offset + len);
            d.span = Some((start, end - start));
        }
        let d = &d;
        let source = file
            .filter(|_| d.span.is_some())
            .map(|i| NamedSource::new(d.file.clone(), Arc::clone(&escaped[i])));
        let place = match (d.line, d.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", d.file),
            _ => d.file.clone(),
        };
        if source.is_none() {
            out.push_str(&format!("{place}\n"));
        }
        let r = Rendered { d, source };
        let mut text = String::new();
        if handler.render_report(&mut text, &r).is_err() {
            text = format!("{}: {}\n", d.code, d.message);
        }
        out.push_str(&text);
    }
    out
}
