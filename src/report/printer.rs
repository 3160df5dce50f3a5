//! The one printer every command writes through: secrets masked, control
//! characters escaped, the tool's own colours applied, problems rendered.

use std::io::Write;

use miette::{GraphicalReportHandler, GraphicalTheme};
use serde_json::Value;

use crate::redact::Redactor;
use crate::report::problem::Problem;

/// Every byte the tool writes goes through here: secrets masked, control
/// characters escaped ([`crate::redact::sanitize`]), then the tool's own styling
/// turned into colours.
pub struct Printer {
    pub redactor: Redactor,
    pub style: crate::report::terminal::Style,
    pub live: crate::report::terminal::Live,
}

impl Printer {
    /// Text as the terminal may show it: masked, escaped, styled.
    fn shown(&self, text: &str) -> String {
        let masked = self.redactor.redact(text);
        let safe = crate::redact::sanitize::escape(&masked);
        crate::report::terminal::apply_styles(&safe).into_owned()
    }

    pub fn out(&self, text: &str) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(self.shown(text).as_bytes());
        let _ = o.flush();
    }
    /// Prints a JSON document: secrets are masked in its string values, and
    /// the serialized text stays valid JSON (control characters serde writes
    /// as they are become `\uXXXX` escapes).
    pub fn out_json(&self, mut v: Value) {
        self.redactor.redact_value(&mut v);
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(crate::redact::sanitize::escape_json(&text).as_bytes());
        let _ = o.write_all(b"\n");
        let _ = o.flush();
    }

    /// Prints a JSON document on one line (JSON Lines), as [`Printer::out_json`].
    pub fn out_json_line(&self, mut v: Value) {
        self.redactor.redact_value(&mut v);
        let text = serde_json::to_string(&v).unwrap_or_default();
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(crate::redact::sanitize::escape_json(&text).as_bytes());
        let _ = o.write_all(b"\n");
    }

    /// A writer of whole lines on stderr that can be moved to other threads
    /// (the HTTP server's access log): the same masking and escaping as
    /// [`Printer::err`], without styles; silent under `--quiet`.
    pub fn line_writer(&self) -> LineWriter {
        LineWriter {
            redactor: self.redactor.clone(),
            quiet: self.style.quiet,
        }
    }

    pub fn err(&self, text: &str) {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(self.shown(text).as_bytes());
        let _ = e.flush();
    }

    /// Diagnostics drawn by [`crate::check::diagnostics::render`], which
    /// escapes every text it lays out: in colour when stderr has it (the
    /// drawing's own escape codes kept, secrets masked), else as [`Printer::err`].
    pub fn err_diagnostics(
        &self,
        diags: &[crate::check::diagnostics::Diagnostic],
        files: &[crate::check::diagnostics::SourceFile],
    ) {
        if !self.style.color {
            self.err(&crate::check::diagnostics::render(diags, files, false));
            return;
        }
        let drawn = crate::check::diagnostics::render(diags, files, true);
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(self.redactor.redact(&drawn).as_bytes());
        let _ = e.flush();
    }
    /// Renders a problem with miette. Secrets are masked and control
    /// characters escaped before rendering, since line wrapping could
    /// otherwise split a secret where no mask would find it, and miette's own
    /// colours must stay.
    pub fn problem(&self, p: &Problem) {
        if let Some(at) = &p.at {
            return self.problem_in_file(p, at);
        }
        let safe = |t: &str| crate::redact::sanitize::escape(&self.redactor.redact(t)).into_owned();
        let masked = Problem {
            message: safe(&p.message),
            help: p.help.as_deref().map(safe),
            exit: p.exit,
            at: None,
        };
        let mut text = String::new();
        let theme = if self.style.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_wrap_lines(crate::check::diagnostics::wrap_lines());
        if handler.render_report(&mut text, &masked).is_err() {
            text = format!("Error: {}\n", masked.message);
        }
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(text.as_bytes());
        let _ = e.flush();
    }
}

impl Printer {
    /// Renders a syntax error as `validate` does: the file, line and column,
    /// and the offending lines with a marker under the place.
    fn problem_in_file(&self, p: &Problem, at: &crate::read::SyntaxAt) {
        let file = crate::check::diagnostics::SourceFile::new(at.file.clone(), (*at.text).clone());
        let d = file.at_line(
            at.line,
            at.column,
            at.code,
            p.message.clone(),
            p.help.clone(),
        );
        self.err_diagnostics(&[d], &[file]);
    }
}

/// See [`Printer::line_writer`].
#[derive(Clone)]
pub struct LineWriter {
    redactor: Redactor,
    quiet: bool,
}

impl LineWriter {
    /// Writes `text` and a newline, masked and escaped, in one write.
    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        let masked = self.redactor.redact(text);
        let mut safe = crate::redact::sanitize::escape(&masked).into_owned();
        safe.push('\n');
        let _ = std::io::stderr().lock().write_all(safe.as_bytes());
    }
}
