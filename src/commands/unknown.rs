//! `arazzo provision-mcp-server …`: a workflowId typed where a command goes.
//! The user forgot `run`; say so, with the command to type, instead of
//! clap's "unrecognized subcommand".

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::discovery::discover;
use crate::redact::Redactor;
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

/// Called when the first word of the command line is no command. When `word`
/// is a workflowId of a document under `./workflows` (or of the `-f`
/// document on the line), prints an error that suggests `arazzo run <word> …`
/// with the rest of `args` (the command line without the program name) and
/// returns the exit code; when it is a near miss of one (and of no command),
/// the same with the workflowId spelt right. `None` otherwise, so that clap's
/// own message (with its did-you-mean) is printed. Reads only local files and
/// says nothing when they cannot be read.
pub fn unknown_command(word: &str, args: &[String]) -> Option<u8> {
    let found = workflows_on_hand(args);
    let (id, exact) = match found.iter().find(|(_, ids)| ids.iter().any(|i| i == word)) {
        Some(_) => (word.to_string(), true),
        None => (near_workflow(word, &found)?, false),
    };
    let files: Vec<&PathBuf> = found
        .iter()
        .filter(|(_, ids)| ids.contains(&id))
        .map(|(p, _)| p)
        .collect();
    let first = files.first()?;
    let redactor = Redactor::new();
    let masked = register_secret_args(args, first, word, &redactor);
    let at = args.iter().position(|a| a == word).unwrap_or(0);
    let mut suggested: Vec<&str> = args.iter().map(String::as_str).collect();
    suggested[at] = &id;
    suggested.insert(at, "run");
    let command = suggested
        .iter()
        .map(|a| quoted(a))
        .collect::<Vec<_>>()
        .join(" ");
    let mut help = format!("to run it: arazzo {command}");
    if masked {
        help.push_str("\n(secret values are shown as ***: type them again; an input is best given in its ARAZZO_INPUT_<NAME> variable)");
    }
    let printer = Printer {
        redactor,
        style: crate::report::terminal::Style::decide(
            crate::report::terminal::ColorChoice::Auto,
            false,
            0,
        ),
        live: crate::report::terminal::Live::new(),
    };
    let shown: Vec<String> = files.iter().map(|p| format!("`{}`", p.display())).collect();
    let message = if exact {
        format!(
            "`{word}` is not an arazzo command; it is a workflow in {}: did you forget `run`?",
            shown.join(", ")
        )
    } else {
        format!(
            "`{word}` is not an arazzo command; did you mean the workflow `{id}` (in {})?",
            shown.join(", ")
        )
    };
    printer.problem(&Problem::usage(message, Some(help)));
    Some(exit::USAGE)
}

/// The documents a mistyped command may have meant a workflow of: those under
/// ./workflows, and the one `-f`/`--file` names, with their workflowIds.
fn workflows_on_hand(args: &[String]) -> Vec<(PathBuf, Vec<String>)> {
    let limit = crate::http::DEFAULT_MAX_DOCUMENT_SIZE;
    let mut found = discover(Path::new("workflows"), limit);
    let file = args.iter().enumerate().find_map(|(i, a)| match a.as_str() {
        "-f" | "--file" => args.get(i + 1).cloned(),
        _ => a.strip_prefix("--file=").map(str::to_string),
    });
    let Some(file) = file.filter(|f| f != crate::read::stdin::DASH) else {
        return found;
    };
    let path = PathBuf::from(file);
    if let Some(tree) = path
        .is_file()
        .then(|| super::discovery::arazzo_tree(&path, limit))
        .flatten()
    {
        let ids = tree
            .get("workflows")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| w.get("workflowId")?.as_str().map(str::to_string))
            .collect();
        found.push((path, ids));
    }
    found
}

/// The workflowId `word` misspells, when it is near one and near no command
/// (whose misspelling clap's did-you-mean already answers).
fn near_workflow(word: &str, found: &[(PathBuf, Vec<String>)]) -> Option<String> {
    use clap::CommandFactory;
    let commands = crate::cli::Cli::command();
    let names: Vec<&str> = commands.get_subcommands().map(|c| c.get_name()).collect();
    if crate::compile::suggest(word, names.into_iter()).is_some() {
        return None;
    }
    let ids: Vec<&str> = found
        .iter()
        .flat_map(|(_, ids)| ids.iter().map(String::as_str))
        .collect();
    let near = crate::compile::suggest(word, ids.iter().copied())?;
    // `suggest` words its answer ("did you mean `a`?"); take the first name.
    ids.into_iter()
        .find(|id| near.contains(&format!("`{id}`")))
        .map(str::to_string)
}

/// Registers as secrets the values of `-i NAME=VALUE` arguments whose input is
/// secret (declared `format: password` or `writeOnly`, or named like a
/// credential), `--server` URL passwords, an `-i` value without `=`, and any
/// other bare word (the value of a `NAME=VALUE`, or the whole word): a key
/// pasted in the wrong place must not be echoed. Returns whether anything was
/// registered.
fn register_secret_args(args: &[String], doc: &Path, workflow: &str, redactor: &Redactor) -> bool {
    let secret = secret_inputs(doc, workflow);
    let mut any = false;
    let mut flag: Option<&str> = None;
    // The value of another flag that takes one (`-f FILE`, `-o json`): shown.
    let mut plain_value = false;
    for arg in args {
        if std::mem::take(&mut plain_value) {
            continue;
        }
        let value = match (flag.take(), arg.as_str()) {
            (Some(f), v) => Some((f, v)),
            (None, "-i" | "--input" | "--server") => {
                flag = Some(arg.as_str());
                None
            }
            (None, a) if a.starts_with('-') && !a.contains('=') && run_flag_takes_value(a) => {
                plain_value = true;
                None
            }
            (None, a) => a
                .strip_prefix("--input=")
                .map(|v| ("-i", v))
                .or_else(|| a.strip_prefix("--server=").map(|v| ("--server", v)))
                .or_else(|| {
                    a.strip_prefix("-i")
                        .filter(|v| !v.is_empty())
                        .map(|v| ("-i", v))
                }),
        };
        let Some((f, pair)) = value else {
            if !arg.starts_with('-') && arg != workflow && !arg.is_empty() {
                let hidden = arg.split_once('=').map_or(arg.as_str(), |(_, v)| v);
                if !hidden.is_empty() {
                    redactor.add(hidden);
                    any = true;
                }
            }
            continue;
        };
        let Some((name, v)) = pair.split_once('=') else {
            if f != "--server" && !pair.is_empty() {
                redactor.add(pair);
                any = true;
            }
            continue;
        };
        let hidden = match f {
            "--server" => url::Url::parse(v)
                .ok()
                .map(|u| u.password().unwrap_or(u.username()).to_string())
                .filter(|s| !s.is_empty()),
            _ => (secret.iter().any(|s| s == name) || crate::openapi::credential_name(name))
                .then(|| v.to_string()),
        };
        if let Some(h) = hidden.filter(|h| !h.is_empty()) {
            redactor.add(&h);
            any = true;
        }
    }
    any
}

/// Called when clap finds an argument it does not expect. A bare word (not a
/// flag) may be a secret pasted without `-i`: it is not echoed, and a
/// `NAME=VALUE` gets the `-i` form to type. `None` for flags, whose clap
/// message (with its did-you-mean) is kept.
pub fn unexpected_argument(arg: &str) -> Option<u8> {
    if arg.starts_with('-') {
        return None;
    }
    let (message, help) = match arg.split_once('=') {
        Some((name, _)) if !name.is_empty() => (
            format!("unexpected argument `{name}=…` (its value is not shown)"),
            format!("pass an input as `-i {name}=VALUE`, or better in ARAZZO_INPUT_<NAME>"),
        ),
        _ => (
            format!(
                "unexpected argument of {} characters (not shown: it may be a secret)",
                arg.chars().count()
            ),
            "pass inputs as `-i NAME=VALUE`; `arazzo <command> --help` lists what each command takes".to_string(),
        ),
    };
    let printer = Printer {
        redactor: Redactor::new(),
        style: crate::report::terminal::Style::decide(
            crate::report::terminal::ColorChoice::Auto,
            false,
            0,
        ),
        live: crate::report::terminal::Live::new(),
    };
    printer.problem(&Problem::usage(message, Some(help)));
    Some(exit::USAGE)
}

/// Whether `flag` (`-f`, `--output`) is a flag of `arazzo run` (or a global
/// one) that takes a value, so that the next word is that value.
fn run_flag_takes_value(flag: &str) -> bool {
    use clap::CommandFactory;
    let cli = crate::cli::Cli::command();
    let Some(run) = cli.find_subcommand("run") else {
        return false;
    };
    let matches = |a: &clap::Arg| match flag.strip_prefix("--") {
        Some(long) => a.get_long() == Some(long),
        None => flag.len() == 2 && a.get_short() == flag.chars().nth(1),
    };
    let found = run
        .get_arguments()
        .chain(cli.get_arguments())
        .find(|a| matches(a))
        .is_some_and(|a| a.get_action().takes_values());
    found
}

/// The inputs of `workflow` in `doc` declared as secrets.
fn secret_inputs(doc: &Path, workflow: &str) -> Vec<String> {
    let tree = crate::read::read_file(doc, crate::http::DEFAULT_MAX_DOCUMENT_SIZE, "")
        .ok()
        .and_then(|t| crate::read::parse_tree(&t, "").ok());
    let props = tree
        .as_ref()
        .and_then(|t| t.get("workflows")?.as_array())
        .and_then(|ws| {
            ws.iter()
                .find(|w| w.get("workflowId").and_then(Value::as_str) == Some(workflow))
        })
        .and_then(|w| w.pointer("/inputs/properties")?.as_object());
    props
        .into_iter()
        .flatten()
        .filter(|(_, s)| {
            s.get("format").and_then(Value::as_str) == Some("password")
                || s.get("writeOnly").and_then(Value::as_bool) == Some(true)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// An argument as a POSIX shell reads it back: plain when it is, else in
/// single quotes.
fn quoted(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn quoting_reads_back() {
        assert_eq!(quoted("userId=alice"), "userId=alice");
        assert_eq!(quoted("serverName=Linear Bot"), "'serverName=Linear Bot'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted(""), "''");
    }
}
