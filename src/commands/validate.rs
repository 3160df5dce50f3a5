//! `arazzo validate`: every check without sending anything, in the chosen
//! format, with `--fix`.

use serde_json::Value;

use super::locate::{default_paths, document_fetcher, stdin_in_paths};
use super::runtime;
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
    let files = crate::check::expand_paths(&default_paths(&paths), limit).map_err(|m| {
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
            let (diags, source) = rt.block_on(crate::check::validate_file(f, &fetcher));
            all.extend(diags);
            sources.push(source);
        }
        (all, sources)
    };
    let (mut all, mut sources) = check(&files);
    if args.fix {
        let fixed = super::fixing::apply(&files, &all, args.dry_run, printer)?;
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
        .filter(|d| d.severity == crate::diagnostics::Severity::Error)
        .count();
    let warnings = all.len() - errors;
    let noun = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let summary = format!(
        "{}: {}, {}\n",
        noun(files.len(), "document"),
        noun(errors, "error"),
        noun(warnings, "warning")
    );
    match args.format {
        DiagnosticFormat::Json => {
            let v = serde_json::to_value(&all).unwrap_or(Value::Null);
            printer.out_json(v);
        }
        DiagnosticFormat::Sarif => {
            printer.out_json(crate::validate::ci_formats::sarif(&all, &sources));
        }
        DiagnosticFormat::Github => {
            printer.out(&crate::validate::ci_formats::github(&all, &sources));
            printer.err(&summary);
        }
        DiagnosticFormat::Human => {
            printer.err(&crate::diagnostics::render(&all, &sources, false));
            printer.err(&summary);
        }
    }
    Ok(if errors == 0 {
        exit::SUCCEEDED
    } else {
        exit::DOCUMENT
    })
}
