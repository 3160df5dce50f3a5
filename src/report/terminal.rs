//! The terminal: colour, the live step display, and logs. Everything written
//! here goes through the run's redactor, and control characters in it are
//! escaped ([`crate::redact::sanitize`]).

use std::borrow::Cow;
use std::hash::{BuildHasher, Hasher};
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::redact::Redactor;

/// `--color`: when to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How output looks, decided once from the flags and the environment.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    /// Colour on stdout, which may be a pipe while stderr is a terminal.
    pub color_out: bool,
    /// A live display (spinner per step): stderr is a terminal, CI is not set,
    /// not quiet, no logs.
    pub live: bool,
    pub quiet: bool,
}

impl Style {
    pub fn decide(choice: ColorChoice, quiet: bool, verbose: u8) -> Style {
        let tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
        let decide = |terminal: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color,
        };
        Style {
            color: decide(tty),
            color_out: decide(std::io::stdout().is_terminal()),
            live: tty
                && !ci
                && !quiet
                && verbose == 0
                && std::env::var_os("RUST_LOG").is_none_or(|v| v.is_empty()),
            quiet,
        }
    }

    /// `text` in the SGR colour `code` (e.g. `32`), when colour is on. The
    /// result holds markers, not escape sequences: the printer escapes every
    /// control character of what it prints, then turns the markers into
    /// colours ([`apply_styles`]), so text from a document or a server can
    /// never colour (it cannot forge a marker without the process's key).
    pub fn paint(&self, text: &str, code: &str) -> String {
        self.paint_if(self.color, text, code)
    }

    /// [`Style::paint`] for text printed on stdout.
    pub fn paint_out(&self, text: &str, code: &str) -> String {
        self.paint_if(self.color_out, text, code)
    }

    fn paint_if(&self, on: bool, text: &str, code: &str) -> String {
        if on {
            let key = marker_key();
            format!("{key}{code}{MARK_END}{text}{key}0{MARK_END}")
        } else {
            text.to_string()
        }
    }
}

const MARK_END: char = '\u{e001}';

/// The start of a style marker: a private-use character and a random key,
/// chosen once per process.
fn marker_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        format!("\u{e000}{random:016x}")
    })
}

/// Turns the markers [`Style::paint`] wrote into SGR escape sequences.
pub fn apply_styles(text: &str) -> Cow<'_, str> {
    let key = marker_key();
    if !text.contains(key) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at]);
        let after = &rest[at + key.len()..];
        match after.split_once(MARK_END) {
            Some((code, tail)) if code.bytes().all(|b| b.is_ascii_digit() || b == b';') => {
                out.push_str(&format!("\u{1b}[{code}m"));
                rest = tail;
            }
            _ => {
                out.push_str(key);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The spinner of the step in progress, when the display is live.
pub struct Live {
    bar: Mutex<Option<ProgressBar>>,
}

impl Live {
    pub fn new() -> Live {
        Live {
            bar: Mutex::new(None),
        }
    }

    /// Shows a spinner with `label` (already masked), its control characters
    /// escaped.
    pub fn start(&self, label: String) {
        let label = crate::redact::sanitize::escape(&label).into_owned();
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(label);
        bar.enable_steady_tick(Duration::from_millis(80));
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(old) = slot.replace(bar) {
                old.finish_and_clear();
            }
        }
    }

    /// Removes the spinner (before its final line is printed).
    pub fn clear(&self) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
            }
        }
    }
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

/// A log writer that masks secrets and escapes control characters before
/// anything reaches stderr. Logs are formatted without colour, so that what
/// they quote cannot colour either; the level is coloured here, afterwards.
struct RedactingWriter {
    redactor: Redactor,
    color: bool,
}

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let masked = self.redactor.redact(&text);
        let safe = crate::redact::sanitize::escape(&masked);
        let shown = if self.color { color_level(&safe) } else { safe };
        std::io::stderr().lock().write_all(shown.as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Starts logging: `-v` info, `-vv` debug, `-vvv` trace; `RUST_LOG` takes
/// precedence when set. Logs go to stderr, masked.
pub fn init_logging(verbose: u8, color: bool, redactor: &Redactor) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        1 => "arazzo=info",
        2 => "arazzo=debug",
        _ => "arazzo=trace",
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(v).unwrap_or_else(|_| EnvFilter::new(level)),
        _ => EnvFilter::new(level),
    };
    let redactor = redactor.clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_writer(move || RedactingWriter {
            redactor: redactor.clone(),
            color,
        })
        .try_init();
}

/// Colours the level of a log line (`… INFO message`) as tracing does: the
/// first level word of its prefix, before the message.
fn color_level(line: &str) -> Cow<'_, str> {
    const LEVELS: [(&str, &str); 5] = [
        ("ERROR", "31"),
        ("WARN", "33"),
        ("INFO", "32"),
        ("DEBUG", "34"),
        ("TRACE", "35"),
    ];
    let mut end = line.len().min(48);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let prefix = &line[..end];
    let found = LEVELS
        .iter()
        .filter_map(|(word, code)| {
            prefix
                .find(&format!(" {word} "))
                .map(|at| (at + 1, *word, *code))
        })
        .min_by_key(|(at, _, _)| *at);
    match found {
        Some((at, word, code)) => Cow::Owned(format!(
            "{}\u{1b}[{code}m{word}\u{1b}[0m{}",
            &line[..at],
            &line[at + word.len()..]
        )),
        None => Cow::Borrowed(line),
    }
}
