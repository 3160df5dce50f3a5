//! `arazzo validate --fix`: applies the fixes diagnostics carry, editing only
//! the text of the values that change (see [`crate::validate::fix`]); with
//! `--dry-run`, prints the change as a unified diff instead.

use std::path::{Path, PathBuf};

use crate::diagnostics::Diagnostic;
use crate::report::printer::Printer;
use crate::report::problem::Problem;
use crate::validate::fix::{self, Edit};

/// What `--fix` did to one run's documents.
pub(super) struct Fixed {
    /// Documents whose text changed (or would, with `--dry-run`).
    pub files: usize,
    /// Fixes applied (or that would be).
    pub applied: usize,
}

/// Applies the certain fixes of `diags` to `files`: in place, or as a diff on
/// stdout when `dry_run`. Says on stderr what changed and what could not.
pub(super) fn apply(
    files: &[PathBuf],
    diags: &[Diagnostic],
    dry_run: bool,
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
        let text = std::fs::read_to_string(path)
            .map_err(|e| Problem::document(format!("--fix: cannot read `{name}`: {e}"), None))?;
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
