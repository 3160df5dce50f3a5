//! `arazzo validate`: every check without sending anything, in the chosen
//! format. With `--fix`, the fixes diagnostics carry are applied, editing only
//! the text of the values that change (see [`crate::check::fix`]); with
//! `--fix --dry-run`, printed as a unified diff instead.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::discovery::{default_paths, document_fetcher, stdin_in_paths};
use super::runtime;
use crate::check::diagnostics::Diagnostic;
use crate::check::fix::{self, Edit};
use crate::cli::{DiagnosticFormat, ValidateArgs};
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

pub(super) fn command(args: ValidateArgs, printer: &Printer) -> Result<u8, Problem> {
    let limit = args.documents.max_document_size;
    let paths = stdin_in_paths(&args.paths)?;
    if args.fix && !args.dry_run && paths.iter().any(|p| crate::read::stdin::is_stdin_path(p)) {
        return Err(Problem::usage(
            "--fix cannot write standard input back",
            Some("validate the file itself, or add --dry-run for the fixes as a diff".into()),
        ));
    }
    let files =
        crate::check::pipeline::expand_paths(&default_paths(&paths), limit).map_err(|m| {
            Problem::usage(
                m,
                Some("pass Arazzo documents or directories holding them".into()),
            )
        })?;
    if files.is_empty() {
        return Err(Problem::usage(
            "no Arazzo documents to validate",
            Some("pass a file, or a directory holding `*.arazzo.yaml` documents".into()),
        ));
    }
    if args.dry_run && !matches!(args.format, DiagnosticFormat::Human) {
        return Err(Problem::usage(
            "--fix --dry-run prints a diff on stdout, so it takes no -o/--format",
            Some("drop -o, or drop --dry-run to fix and report in that format".into()),
        ));
    }
    let fetcher = document_fetcher(limit)?;
    let rt = runtime()?;
    let check = |files: &[std::path::PathBuf]| {
        let mut all = Vec::new();
        let mut sources = Vec::new();
        for f in files {
            let (diags, source) = rt.block_on(crate::check::pipeline::validate_file(f, &fetcher));
            all.extend(diags);
            sources.push(source);
        }
        (all, sources)
    };
    let (mut all, mut sources) = check(&files);
    if args.fix {
        let fixed = apply_fixes(&files, &all, args.dry_run, limit, printer)?;
        let noun = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        let verb = if args.dry_run { "would fix" } else { "fixed" };
        printer.err(&format!(
            "{verb} {} in {}\n",
            noun(fixed.applied, "problem"),
            noun(fixed.files, "document")
        ));
        // What is left after the fixes.
        if fixed.applied > 0 && !args.dry_run {
            (all, sources) = check(&files);
        }
    }
    let errors = all
        .iter()
        .filter(|d| d.severity == crate::check::diagnostics::Severity::Error)
        .count();
    let warnings = all.len() - errors;
    let noun = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let summary = format!(
        "{}: {}, {}{}\n",
        noun(files.len(), "document"),
        noun(errors, "error"),
        noun(warnings, "warning"),
        versions(&sources)
    );
    match args.format {
        DiagnosticFormat::Json => {
            let v = serde_json::to_value(&all).unwrap_or(Value::Null);
            printer.out_json(v);
            printer.err(&summary);
        }
        DiagnosticFormat::Sarif => {
            printer.out_json(crate::check::ci_formats::sarif(&all, &sources));
        }
        DiagnosticFormat::Github => {
            printer.out(&crate::check::ci_formats::github(&all, &sources));
            printer.err(&summary);
        }
        DiagnosticFormat::Human => {
            printer.err_diagnostics(&all, &sources);
            printer.err(&summary);
        }
    }
    Ok(if errors == 0 {
        exit::SUCCEEDED
    } else {
        exit::DOCUMENT
    })
}

/// The Arazzo versions the documents declare, for the summary: `; Arazzo 1.1.0`, or with
/// several, `; Arazzo 1.0.1 (2), 1.1.0 (1)`. Nothing when no document declares one it reads.
fn versions(sources: &[crate::check::diagnostics::SourceFile]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for s in sources {
        if let Some(v) = &s.arazzo {
            *counts.entry(v.as_str()).or_default() += 1;
        }
    }
    match counts.len() {
        0 => String::new(),
        1 if sources.len() == 1 => format!("; Arazzo {}", counts.keys().next().unwrap()),
        _ => {
            let each: Vec<String> = counts.iter().map(|(v, n)| format!("{v} ({n})")).collect();
            format!("; Arazzo {}", each.join(", "))
        }
    }
}

/// What `--fix` did to one run's documents.
struct Fixed {
    /// Documents whose text changed (or would, with `--dry-run`).
    pub files: usize,
    /// Fixes applied (or that would be).
    pub applied: usize,
}

/// Applies the certain fixes of `diags` to `files`: in place, or as a diff on
/// stdout when `dry_run`. Says on stderr what changed and what could not.
fn apply_fixes(
    files: &[PathBuf],
    diags: &[Diagnostic],
    dry_run: bool,
    limit: usize,
    printer: &Printer,
) -> Result<Fixed, Problem> {
    let mut fixed = Fixed {
        files: 0,
        applied: 0,
    };
    for path in files {
        let name = path.display().to_string();
        let mut edits: Vec<Edit> = Vec::new();
        for d in diags.iter().filter(|d| d.file == name) {
            let Some(f) = &d.fix else { continue };
            let edit = Edit {
                pointer: f.pointer.clone(),
                from: f.replace.clone(),
                to: f.with.clone(),
            };
            // The same mistake can be reported from several places.
            if !edits.contains(&edit) {
                edits.push(edit);
            }
        }
        if edits.is_empty() {
            continue;
        }
        // Through `read_file`, so that `validate - --fix --dry-run` diffs the
        // text read from standard input (the same the diagnostics came from).
        let text = crate::read::read_file(path, limit, &format!("`{name}`"))
            .map_err(|e| Problem::document(format!("--fix: {}", e.message), None))?;
        let outcome = fix::apply(&text, &edits);
        for (edit, why) in &outcome.skipped {
            printer.err(&format!("{name}: not fixed at {}: {why}\n", edit.pointer));
        }
        if outcome.applied.is_empty() || outcome.text == text {
            continue;
        }
        fixed.files += 1;
        fixed.applied += outcome.applied.len();
        if dry_run {
            printer.out(&fix::diff(&name, &text, &outcome.text));
            continue;
        }
        write_in_place(path, &outcome.text)
            .map_err(|m| Problem::document(format!("--fix: {m}"), None))?;
        for a in &outcome.applied {
            printer.err(&format!(
                "{name}:{}:{}: fixed `{}` → `{}`\n",
                a.line, a.column, a.before, a.after
            ));
        }
    }
    Ok(fixed)
}

/// Replaces a file's text without leaving it half written: a new file beside
/// it, with the same permissions, renamed over it.
fn write_in_place(path: &Path, text: &str) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.arazzo-fix"));
    let permissions = std::fs::metadata(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?
        .permissions();
    std::fs::write(&temp, text).map_err(|e| format!("cannot write `{}`: {e}", temp.display()))?;
    let _ = std::fs::set_permissions(&temp, permissions);
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot replace `{}`: {e}", path.display())
    })
}
