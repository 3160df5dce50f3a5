//! The human view of a run: a line per step as it finishes, logs at -v, the
//! outputs on stdout, and a failed or interrupted run's summary with what to
//! do next.

use std::path::Path;

use serde_json::Value;

use crate::engine::outcome::{RunReport, Status};
use crate::engine::Event;
use crate::redact::Redactor;
use crate::report::credentials::RunContext;
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

pub(crate) fn print_event(printer: &Printer, ev: &Event<'_>) {
    let style = &printer.style;
    if style.quiet {
        return;
    }
    match ev {
        Event::StepStarted {
            step_id,
            method,
            path,
            depth,
        } => {
            if style.live {
                let indent = "  ".repeat(*depth);
                printer.live.start(
                    printer
                        .redactor
                        .redact(&format!("{indent}{step_id}  {method} {path}"))
                        .into_owned(),
                );
            }
        }
        Event::StepFinished { report, depth } => {
            printer.live.clear();
            let mark = match report.status {
                Status::Succeeded => style.paint("✓", "32"),
                Status::Uncertain => style.paint("?", "33"),
                Status::Failed | Status::Interrupted => style.paint("✗", "31"),
            };
            let code = report
                .status_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "---".into());
            let indent = "  ".repeat(*depth);
            let attempts = if report.attempts > 1 {
                format!("  ({} attempts)", report.attempts)
            } else {
                String::new()
            };
            printer.err(&format!(
                "{indent}{mark} {:<24} {:<6} {:>3}  {} ms{attempts}\n",
                report.step_id, report.method, code, report.duration_ms
            ));
        }
        Event::Exchange { .. } | Event::Message { .. } => {}
    }
}

/// Logs an event (at -v and above). The log writer masks the secrets every
/// run knows; `mask` masks those of this run alone too (a served run's
/// caller's).
pub(crate) fn log_event(ev: &Event<'_>, mask: &Redactor) {
    let masked = |line: String| mask.redact(&line).into_owned();
    match ev {
        Event::StepStarted {
            step_id,
            method,
            path,
            ..
        } => tracing::info!("{}", masked(format!("step {step_id}: {method} {path}"))),
        Event::StepFinished { report, .. } => tracing::info!(
            "{}",
            masked(format!(
                "step {}: {:?} (status {}, {} ms)",
                report.step_id,
                report.status,
                report
                    .status_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "none".into()),
                report.duration_ms
            ))
        ),
        Event::Exchange {
            step_id,
            request,
            response,
            error,
            redirects,
            duration_ms,
            ..
        } => {
            tracing::debug!(
                "{}",
                masked(format!("{step_id}: {} {}", request.method, request.url))
            );
            for (k, v) in &request.headers {
                tracing::debug!("{}", masked(format!("{step_id}: > {k}: {v}")));
            }
            if let Some(b) = &request.body_bytes {
                tracing::trace!(
                    "{}",
                    masked(format!("{step_id}: > {}", String::from_utf8_lossy(b)))
                );
            }
            for h in redirects.iter() {
                tracing::debug!(
                    "{}",
                    masked(format!("{step_id}: < {} redirect to {}", h.status, h.url))
                );
            }
            match (response, error) {
                (Some(r), _) => {
                    tracing::debug!(
                        "{}",
                        masked(format!("{step_id}: < {} in {duration_ms} ms", r.status))
                    );
                    for (k, v) in &r.headers {
                        tracing::debug!("{}", masked(format!("{step_id}: < {k}: {v}")));
                    }
                    tracing::trace!("{}", masked(format!("{step_id}: < {}", r.body)));
                }
                (None, Some(e)) => {
                    tracing::debug!("{}", masked(format!("{step_id}: no response: {e}")))
                }
                _ => {}
            }
        }
        Event::Message {
            step_id,
            url,
            message,
            error,
            duration_ms,
            ..
        } => match (message, error) {
            (Some(m), _) => {
                let verb = match m.action {
                    crate::compile::MessageAction::Send => "sent",
                    crate::compile::MessageAction::Receive => "received",
                };
                tracing::debug!(
                    "{}",
                    masked(format!(
                        "{step_id}: {verb} a message on {url} in {duration_ms} ms ({} bytes)",
                        m.size
                    ))
                );
                for (k, v) in &m.headers {
                    tracing::debug!("{}", masked(format!("{step_id}: {k}: {v}")));
                }
                tracing::trace!("{}", masked(format!("{step_id}: {}", m.payload)));
            }
            (None, Some(e)) => tracing::debug!("{}", masked(format!("{step_id}: {url}: {e}"))),
            _ => {}
        },
    }
}

pub(crate) fn print_human(
    printer: &Printer,
    report: &RunReport,
    report_file: Option<&Path>,
    ctx: &RunContext<'_>,
) {
    let mut out = String::new();
    let width = report.outputs.keys().map(|k| k.len()).max().unwrap_or(0);
    for (k, v) in &report.outputs {
        out.push_str(&format!("{k:<width$}  {}\n", shown(v)));
    }
    // The outputs are the result, not progress: they go to stdout even with
    // -q, so that `arazzo -q run … | cmd` gets them; -q removes only the
    // lines around them.
    let Some(e) = &report.error else {
        if !printer.style.quiet {
            printer.err(&format!(
                "workflow {} succeeded in {} ms\n",
                report.workflow_id, report.duration_ms
            ));
        }
        printer.out(&out);
        return;
    };
    if !out.is_empty() {
        if !printer.style.quiet {
            printer.err("outputs known when the run stopped:\n");
        }
        printer.out(&out);
    }
    let (message, mut help) = if report.interrupted() {
        interrupted_summary(report, e)
    } else {
        failed_summary(report, e, ctx)
    };
    help.push_str(&match report_file {
        Some(path) => format!(
            "\nto continue: arazzo run {} --resume {} (no finished step is sent again)",
            report.workflow_id,
            path.display()
        ),
        None => {
            "\nto be able to continue with --resume, write the report with -o json or --report FILE"
                .to_string()
        }
    });
    printer.problem(&Problem {
        message,
        help: Some(help),
        exit: exit::FAILED,
        at: None,
    });
}

/// A value as the human view shows it: strings as they are, others as JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The message and help of a failed run: what completed before the failure,
/// and what ran after it.
fn failed_summary(
    report: &RunReport,
    e: &crate::engine::outcome::RunError,
    ctx: &RunContext<'_>,
) -> (String, String) {
    // The failed step's entry: steps before it completed before the
    // failure; steps after it ran after it (e.g. cleanup steps).
    let failed_at = report.steps.iter().rposition(|s| {
        s.status == Status::Failed
            && Some(s.step_id.as_str()) == e.step_id.as_deref()
            && s.workflow_id.is_none()
    });
    // In a workflow whose steps ran as a graph (1.1 `dependsOn`), the report
    // lists steps in document order, not in the order they ran: say what
    // completed and what did not, not what came before or after.
    let graph = ctx.program.entry().parallel;
    let (before, after) = match failed_at {
        _ if graph => (&report.steps[..], &report.steps[..0]),
        Some(i) => (&report.steps[..i], &report.steps[i + 1..]),
        None => (&report.steps[..], &report.steps[..0]),
    };
    let names = before
        .iter()
        .filter(|s| s.status == Status::Succeeded)
        .map(|s| s.step_id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut help = crate::report::credentials::refused_help(report, ctx)
        .map(|h| h + "\n")
        .unwrap_or_default();
    help.push_str(&match (names.is_empty(), graph) {
        (true, false) => "no step completed before the failure".to_string(),
        (false, false) => format!("steps that completed before the failure: {names}"),
        (true, true) => "no step completed".to_string(),
        (false, true) => format!("steps that completed: {names}"),
    });
    if !after.is_empty() {
        help.push_str(&format!(
            "\nsteps that ran after the failure (onFailure actions): {}",
            after
                .iter()
                .map(|s| format!("{} ({})", s.step_id, status_word(s.status)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let message = match &e.step_id {
        Some(step) => format!(
            "workflow {} failed at step `{step}`: {}",
            report.workflow_id, e.message
        ),
        None => format!("workflow {} failed: {}", report.workflow_id, e.message),
    };
    (message, help)
}

/// The message and help of an interrupted run: every step that completed with
/// its outputs (the ids of what was created), and the step left uncertain.
fn interrupted_summary(
    report: &RunReport,
    e: &crate::engine::outcome::RunError,
) -> (String, String) {
    let mut help = String::new();
    let done: Vec<&crate::engine::outcome::StepReport> = report
        .steps
        .iter()
        .filter(|s| s.status == Status::Succeeded)
        .collect();
    if done.is_empty() {
        help.push_str("no step had completed");
    } else {
        help.push_str("steps that completed (what they created is in their outputs):");
        for s in done {
            let outputs: Vec<String> = s
                .outputs
                .iter()
                .map(|(k, v)| format!("{k}={}", shown(v)))
                .collect();
            help.push_str(&format!("\n  {}  {}", s.step_id, outputs.join(" ")));
        }
    }
    for s in report
        .steps
        .iter()
        .filter(|s| s.status == Status::Uncertain)
    {
        help.push_str(&format!(
            "\nstep {} ({} {}) was in flight: the server may have acted on it",
            s.step_id, s.method, s.url
        ));
    }
    let at = e
        .step_id
        .as_deref()
        .map(|s| format!(" at step `{s}`"))
        .unwrap_or_default();
    let message = format!(
        "workflow {} was stopped{at}: {}",
        report.workflow_id, e.message
    );
    (message, help)
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Succeeded => "succeeded",
        Status::Failed => "failed",
        Status::Interrupted => "interrupted",
        Status::Uncertain => "uncertain",
    }
}

/// One line on a failed or interrupted run, for when stdout holds the JSON
/// report: `arazzo: workflow w failed at step `s`: …`. `None` when it
/// succeeded.
pub(crate) fn failure_line(report: &RunReport) -> Option<String> {
    let e = report.error.as_ref()?;
    let (verb, at) = if report.interrupted() {
        ("was stopped", e.step_id.as_deref())
    } else {
        ("failed", e.step_id.as_deref())
    };
    let at = at.map(|s| format!(" at step `{s}`")).unwrap_or_default();
    Some(format!(
        "arazzo: workflow {} {verb}{at}: {} (the report is on stdout)\n",
        report.workflow_id, e.message
    ))
}
