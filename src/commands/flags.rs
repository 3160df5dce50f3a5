//! Flag values every command that runs workflows shares: `NAME=VALUE` pairs,
//! `--server` URLs, `--inputs` files, durations, and the secrets they carry.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};
use url::Url;

use crate::compile::Program;
use crate::engine::inputs;
use crate::redact::Redactor;
use crate::report::problem::{exit, Problem};

pub(crate) fn parse_pairs<'a>(
    items: &'a [String],
    flag: &str,
    what: &str,
) -> Result<Vec<(&'a str, &'a str)>, Problem> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.split_once('=').ok_or_else(|| {
                Problem::usage(
                    format!(
                        "the {} `{flag}` argument is missing `=` ({}; it is not shown, as it may be a secret)",
                        ordinal(i + 1),
                        first_part(item)
                    ),
                    Some(format!("write `{flag} {what}`")),
                )
            })
        })
        .collect()
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, r) if r != 11 => "st",
        (2, r) if r != 12 => "nd",
        (3, r) if r != 13 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// What can be said of a malformed argument without echoing any of it: it may
/// be a secret typed without its name (`-i sk_live_…`).
fn first_part(item: &str) -> String {
    match item.chars().count() {
        0 => "it is empty".to_string(),
        1 => "1 character".to_string(),
        n => format!("{n} characters"),
    }
}

/// The URL of `--server SOURCE=URL`: an http(s) URL with a host. Messages never
/// echo it whole (it may hold a password); a password it holds is a secret.
pub(crate) fn parse_server_url(source: &str, text: &str) -> Result<Url, Problem> {
    let help = || {
        Some(format!(
            "write e.g. --server {source}=http://127.0.0.1:8080 (for an AsyncAPI source, a broker: mqtt://127.0.0.1:1883, amqp://…, nats://…, ws://…, kafka://…)"
        ))
    };
    if !text.contains("://") {
        return Err(Problem::usage(
            format!("--server {source}=…: the URL has no http:// or https:// (it is not shown, as it may hold a password)"),
            help(),
        ));
    }
    let parsed = Url::parse(text).map_err(|e| {
        Problem::usage(
            format!("--server {source}=…: the URL does not parse ({e}); it is not shown, as it may hold a password"),
            help(),
        )
    })?;
    let broker = crate::broker::Protocol::from_name(parsed.scheme()).is_some();
    if !(matches!(parsed.scheme(), "http" | "https") || broker) || parsed.host_str().is_none() {
        return Err(Problem::usage(
            format!(
                "--server {source}=…: `{}` is not an http(s) URL with a host, nor a broker URL ({})",
                masked_url(&parsed),
                crate::broker::SUPPORTED
            ),
            help(),
        ));
    }
    Ok(parsed)
}

/// A URL for messages: its password (and the user name, which may be a token
/// too) masked.
pub(crate) fn masked_url(url: &Url) -> String {
    let mut shown = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        let _ = shown.set_username(crate::redact::MASK);
        let _ = shown.set_password(None);
    }
    let text = shown.to_string();
    text.replace("%2A%2A%2A@", "***@")
}

/// Registers the password a `--server` URL holds as a secret, as written and
/// percent-decoded; without a password, the user name (a token used as the
/// user name, as some APIs take their key).
pub(crate) fn register_url_secrets(servers: &HashMap<String, Url>, redactor: &Redactor) {
    for url in servers.values() {
        let secret = match url.password() {
            Some(p) if !p.is_empty() => p,
            _ => url.username(),
        };
        if !secret.is_empty() {
            redactor.add(secret);
            redactor.add(&percent_encoding::percent_decode_str(secret).decode_utf8_lossy());
        }
    }
}

/// `--grace-period` and `--max-retry-wait`: zero or more seconds, at most 1e9.
pub(crate) fn check_stopping(args: &crate::cli::StopArgs) -> Result<(), Problem> {
    for (flag, v) in [
        ("--grace-period", args.grace_period),
        ("--max-retry-wait", args.max_retry_wait),
    ] {
        if !(v.is_finite() && (0.0..=1.0e9).contains(&v)) {
            return Err(Problem::usage(
                format!("{flag} must be zero or more seconds (at most 1e9)"),
                None,
            ));
        }
    }
    Ok(())
}

/// A file named by a flag, read up to a size no report or journal reaches.
pub(super) fn read_capped(path: &Path, flag: &str) -> Result<String, Problem> {
    const MOST: u64 = 256 * 1024 * 1024;
    let cannot = |e: std::io::Error| {
        Problem::usage(
            format!("{flag}: cannot read `{}`: {e}", path.display()),
            None,
        )
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MOST + 1), &mut text)
        .map_err(cannot)?;
    if text.len() as u64 > MOST {
        return Err(Problem::usage(
            format!(
                "{flag}: `{}` is larger than {} MiB; it is not a report of arazzo",
                path.display(),
                MOST >> 20
            ),
            None,
        ));
    }
    Ok(text)
}

/// Registers the values of secret inputs. An input is secret when any workflow of
/// the program treats it as one (inputs flow into called workflows by name).
pub(crate) fn register_secrets(
    program: &Program,
    cli_inputs: &[(String, String)],
    inputs: Option<&Map<String, Value>>,
    redactor: &Redactor,
) {
    let names: std::collections::BTreeSet<&String> = program
        .workflows
        .iter()
        .flat_map(|w| w.secret_inputs.iter())
        .collect();
    for name in names {
        if let Some(v) = inputs.and_then(|i| i.get(name)) {
            redactor.add_value(v);
        }
        for (k, v) in cli_inputs {
            if k == name {
                redactor.add(v);
            }
        }
        for var in inputs::env_names(name) {
            if let Ok(v) = std::env::var(var) {
                redactor.add(&v);
            }
        }
    }
}

/// One problem for the first compile error, mentioning the others.
pub(crate) fn compile_problem(errors: &[crate::compile::CompileError]) -> Problem {
    let first = &errors[0];
    let mut help = first.help.clone().unwrap_or_default();
    if errors.len() > 1 {
        if !help.is_empty() {
            help.push('\n');
        }
        help.push_str(&format!(
            "{} more problem(s); `arazzo validate` lists them all:",
            errors.len() - 1
        ));
        for e in &errors[1..] {
            help.push_str(&format!("\n  - {}", e.message));
        }
    }
    Problem::document(
        format!("[{}] {}", first.code, first.message),
        (!help.is_empty()).then_some(help),
    )
}

pub(crate) fn read_inputs_file(
    path: &Path,
    max_size: usize,
) -> Result<Map<String, Value>, Problem> {
    let stdin_path;
    let path = if crate::read::stdin::is_dash(path) {
        crate::read::stdin::claim("--inputs").map_err(|m| Problem::usage(m, None))?;
        stdin_path = crate::read::stdin::path();
        &stdin_path
    } else {
        if !path.exists() {
            return Err(Problem::usage(
                format!("the inputs file `{}` does not exist", path.display()),
                Some("check the path: it is read from the current directory".into()),
            ));
        }
        path
    };
    let text = crate::read::read_file(
        path,
        max_size,
        &format!("the inputs file `{}`", path.display()),
    )
    .map_err(|e| Problem::usage(e.message, e.help))?;
    let shown = path.display().to_string();
    let tree = crate::read::parse_tree(&text, &format!("the inputs file `{shown}`"))
        .map_err(|e| Problem::load(e.in_file(&shown), exit::USAGE))?;
    match tree {
        Value::Object(m) => Ok(m),
        _ => Err(Problem::usage(
            format!(
                "the inputs file `{}` must hold an object of inputs",
                path.display()
            ),
            Some("e.g. {\"userId\": \"alice\"} or `userId: alice`".into()),
        )),
    }
}
