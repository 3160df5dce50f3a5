//! Standard input as a file, for `-f -`, `--inputs -`, `--each -` and
//! `validate -`, as jq, hurl and kubectl read it.
//!
//! A document read from stdin is given the path `<stdin>` in the current
//! directory: relative source description URLs resolve against the current
//! directory, as they would for a file there, and every message names it
//! `<stdin>`. Stdin can be read only once, so one command line may name it
//! only once ([`claim`]); the text is kept for the later readers of that path
//! (loading, then the source map of `validate`).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What the user writes for standard input.
pub const DASH: &str = "-";

/// How messages and reports name a document read from standard input.
pub const NAME: &str = "<stdin>";

/// The flag that took standard input, once one has.
static CLAIMED: OnceLock<String> = OnceLock::new();

/// The text read from standard input (or why it could not be read).
static TEXT: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();

/// Whether a command-line value means standard input.
pub fn is_dash(value: &Path) -> bool {
    value.as_os_str() == DASH
}

/// Records that `flag` reads standard input. A second flag asking for it is
/// refused: stdin can be read only once.
pub fn claim(flag: &str) -> Result<(), String> {
    if let Some(first) = CLAIMED.get() {
        if first != flag {
            return Err(format!(
                "standard input can feed only one flag, and `{first} -` already reads it; `{flag} -` cannot"
            ));
        }
        return Ok(());
    }
    let _ = CLAIMED.set(flag.to_string());
    Ok(())
}

/// The path that stands for standard input once a flag has claimed it.
pub fn path() -> PathBuf {
    PathBuf::from(NAME)
}

/// Whether `path` is the stand-in path of a standard input claimed to be read
/// whole (as written, or made absolute against the current directory); not
/// when `--each` reads it line by line.
pub fn is_stdin_path(path: &Path) -> bool {
    let whole = CLAIMED.get().is_some_and(|flag| flag != "--each");
    if !whole || path.file_name().is_none_or(|n| n != NAME) {
        return false;
    }
    path == Path::new(NAME) || std::env::current_dir().is_ok_and(|cwd| path == cwd.join(NAME))
}

/// Standard input's bytes, at most `max + 1` of them read (the caller
/// refuses more than `max`), read at the first call and kept.
pub fn bytes(max: usize) -> Result<&'static [u8], String> {
    let text = TEXT.get_or_init(|| {
        let input = std::io::stdin();
        if input.is_terminal() {
            eprintln!("reading {NAME}: type or paste it, then press Ctrl-D");
        }
        let mut buf = Vec::new();
        input
            .lock()
            .take(max as u64 + 1)
            .read_to_end(&mut buf)
            .map(|_| buf)
            .map_err(|e| format!("cannot read standard input: {e}"))
    });
    text.as_deref().map_err(Clone::clone)
}

/// Standard input as a reader, for `--each -`, which reads it line by line
/// without holding it.
pub fn reader() -> Box<dyn std::io::BufRead + Send> {
    if std::io::stdin().is_terminal() {
        eprintln!("reading the lines from {NAME}: one per line, then press Ctrl-D");
    }
    Box::new(std::io::BufReader::with_capacity(
        64 * 1024,
        std::io::stdin(),
    ))
}
