//! The terminal: colour, the live step display, and logs. Everything written
//! here goes through the run's redactor.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ColorChoice;
use crate::redact::Redactor;

/// How output looks, decided once from the flags and the environment.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
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
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Style {
            color,
            live: tty
                && !ci
                && !quiet
                && verbose == 0
                && std::env::var_os("RUST_LOG").is_none_or(|v| v.is_empty()),
            quiet,
        }
    }

    pub fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    }
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

    pub fn start(&self, label: String) {
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

/// A log writer that masks secrets before anything reaches stderr.
struct RedactingWriter {
    redactor: Redactor,
}

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let masked = self.redactor.redact(&text);
        std::io::stderr().lock().write_all(masked.as_bytes())?;
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
        .with_ansi(color)
        .with_target(false)
        .with_writer(move || RedactingWriter {
            redactor: redactor.clone(),
        })
        .try_init();
}
