//! `arazzo run WORKFLOW --each FILE`: a batch, its journal, its reports and
//! its summary.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::flags::register_secrets;
use crate::batch::journal::{Header, Journal, Journaled};
use crate::batch::{BatchOptions, Context, LineOutcome, Summary};
use crate::cli::{OutputFormat, RunArgs};
use crate::compile::Program;
use crate::document;
use crate::engine::inputs::{self, InputSources};
use crate::engine::RunOptions;
use crate::report::files::{JsonLinesStream, JunitStream};
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

/// What a batch runs.
pub(super) struct BatchRun<'a> {
    pub args: &'a RunArgs,
    pub each: &'a Path,
    pub program: &'a Program,
    pub loaded: &'a document::Loaded,
    pub client: &'a reqwest::Client,
    pub opts: &'a RunOptions,
}

/// The report files a batch writes as it goes, and the first problem
/// writing them.
struct Files {
    junit: Option<JunitStream>,
    trace: Option<JsonLinesStream>,
    report: Option<JsonLinesStream>,
    error: Option<String>,
}

/// Runs the batch: the shared inputs, the journal (opened or resumed), every
/// line, then the closing summary; the exit code says how the batch went.
pub(super) fn command(
    run: BatchRun<'_>,
    cli_inputs: &[(String, String)],
    file_inputs: Option<Map<String, Value>>,
    rt: &tokio::runtime::Runtime,
    printer: &Printer,
) -> Result<u8, Problem> {
    let args = run.args;
    if args.dry_run {
        return Err(Problem::usage(
            "--each cannot be combined with --dry-run",
            Some("dry-run a single line without --each".into()),
        ));
    }
    let shared = shared_inputs(&run, cli_inputs, file_inputs, printer)?;
    let opened = open_journal(&run, printer)?;
    let batch = BatchOptions {
        concurrency: args.concurrency,
        fail_fast: args.fail_fast,
        preflight: !args.no_preflight,
        keep_runs: args.junit.is_some(),
        keep_exchanges: args.trace.is_some(),
        shard: args.shard,
        resend_uncertain: args.resend_uncertain,
    };
    let mut files = Files::create(args)?;
    let journal = std::cell::RefCell::new(opened.journal);
    let cx = Context {
        program: run.program,
        loaded: run.loaded,
        shared: &shared,
        client: run.client,
        opts: run.opts,
        redactor: &printer.redactor,
        batch: &batch,
        earlier: opened.earlier.as_ref(),
        journal: Some(&journal),
    };
    // A line is journaled as soon as it finishes, before anything else.
    let mut finished = |o: &LineOutcome| {
        if !o.keep_journal {
            journal
                .borrow_mut()
                .append(o.report.clone(), &printer.redactor);
        }
    };
    let mut emit = |o: &LineOutcome, s: &Summary| emit_line(&run, &mut files, printer, o, s);
    run.opts.stop.arm();
    let summary = rt
        .block_on(crate::batch::run(run.each, &cx, &mut finished, &mut emit))
        .map_err(|m| Problem::usage(format!("--each: {m}"), None))?;
    printer.live.clear();
    if let Err(m) = journal.into_inner().finish() {
        files.error.get_or_insert(m);
    }
    files.finish();
    Ok(conclude(printer, &summary, args, &opened.path, &files))
}

/// The inputs every line shares (`-i`, `--inputs`, the environment),
/// registered as secrets before any error about them is shown.
fn shared_inputs(
    run: &BatchRun<'_>,
    cli_inputs: &[(String, String)],
    file_inputs: Option<Map<String, Value>>,
    printer: &Printer,
) -> Result<Map<String, Value>, Problem> {
    let wf = run.program.entry();
    let env = |name: &str| std::env::var(name).ok();
    let shared = inputs::gather(
        &wf.workflow_id,
        wf.inputs_schema.as_ref(),
        InputSources {
            cli: cli_inputs,
            file: file_inputs,
            env: &env,
        },
    );
    register_secrets(
        run.program,
        cli_inputs,
        shared.as_ref().ok(),
        &printer.redactor,
    );
    shared.map_err(|e| Problem::usage(e.message, Some(e.help)))
}

/// The batch's journal, opened.
struct OpenJournal {
    journal: Journal,
    /// What an earlier attempt journaled, when there was one.
    earlier: Option<Journaled>,
    path: PathBuf,
}

/// Opens the journal (`--journal`, `--resume FILE`, or the default beside the
/// lines file) and, when resuming, says what an earlier attempt left.
fn open_journal(run: &BatchRun<'_>, printer: &Printer) -> Result<OpenJournal, Problem> {
    let args = run.args;
    let resuming = args.resume.is_some();
    let journal_path = args
        .journal
        .clone()
        .or_else(|| args.resume.clone().flatten())
        .unwrap_or_else(|| crate::batch::journal::default_path(run.each, args.shard));
    let header = Header {
        workflow_id: &run.program.entry().workflow_id,
        each: run.each,
        shard: args.shard,
    };
    let (journal, earlier) =
        Journal::open(&journal_path, &header, resuming).map_err(|m| Problem::usage(m, None))?;
    if resuming && !printer.style.quiet {
        printer.err(&match &earlier {
            Some(j) => format!(
                "resuming the batch from `{}`: {} line{} journaled{}\n",
                journal_path.display(),
                j.len(),
                if j.len() == 1 { "" } else { "s" },
                if j.unreadable > 0 {
                    format!(" ({} unreadable record(s) ignored)", j.unreadable)
                } else {
                    String::new()
                }
            ),
            None => format!(
                "no journal at `{}` yet: the batch starts from its first line\n",
                journal_path.display()
            ),
        });
    }
    Ok(OpenJournal {
        journal,
        earlier,
        path: journal_path,
    })
}

/// Shows the summary and any problem writing the reports, and decides the
/// exit code: a signal's, then failed lines, then a report not written.
fn conclude(
    printer: &Printer,
    summary: &Summary,
    args: &RunArgs,
    journal_path: &Path,
    files: &Files,
) -> u8 {
    print_summary(printer, summary, args, journal_path);
    let clean = summary.failed == 0 && summary.interrupted.is_none();
    if clean && args.journal.is_none() && crate::batch::journal::is_throwaway(journal_path) {
        let _ = std::fs::remove_file(journal_path);
    }
    if let Some(m) = &files.error {
        printer.problem(&Problem::usage(m.clone(), None));
    }
    match summary.interrupted {
        Some(signal) => signal.exit_code(),
        None if summary.credentials_failed => exit::CREDENTIALS,
        None if summary.failed > 0 => exit::FAILED,
        None if files.error.is_some() => exit::USAGE,
        None => exit::SUCCEEDED,
    }
}

impl Files {
    /// Creates the report files asked for (`--junit`, `--trace`, `--report`),
    /// before any line runs, so that a path that cannot be written stops the
    /// batch early.
    fn create(args: &RunArgs) -> Result<Files, Problem> {
        let create = |p: &Option<PathBuf>, flag| {
            p.as_deref()
                .map(|p| JsonLinesStream::create(p, flag))
                .transpose()
                .map_err(|m| Problem::usage(m, None))
        };
        Ok(Files {
            junit: args
                .junit
                .as_deref()
                .map(JunitStream::create)
                .transpose()
                .map_err(|m| Problem::usage(m, None))?,
            trace: create(&args.trace, "--trace")?,
            report: create(&args.report, "--report")?,
            error: None,
        })
    }

    fn keep(&mut self, r: Result<(), String>) {
        if let Err(m) = r {
            self.error.get_or_insert(m);
        }
    }

    fn finish(&mut self) {
        if let Some(j) = self.junit.take() {
            let r = j.finish();
            self.keep(r);
        }
        for s in [self.trace.take(), self.report.take()]
            .into_iter()
            .flatten()
        {
            let r = s.finish();
            self.keep(r);
        }
    }
}

/// A line's outcome, in input order: its reports, and its line on the screen.
fn emit_line(
    run: &BatchRun<'_>,
    files: &mut Files,
    printer: &Printer,
    o: &LineOutcome,
    s: &Summary,
) {
    let wf = run.program.entry();
    let redactor = &printer.redactor;
    let name = format!("{} line {}", wf.workflow_id, o.line);
    if let Some(j) = files.junit.as_mut() {
        let suite = match &o.run {
            Some(r) => crate::report::files::junit_suite(r, run.program, &name),
            None => crate::report::files::junit_error_suite(
                &name,
                o.report["error"]["kind"].as_str().unwrap_or("error"),
                o.report["error"]["message"].as_str().unwrap_or(""),
            ),
        };
        let r = j.suite(&suite, redactor);
        files.keep(r);
    }
    if let Some(t) = files.trace.as_mut() {
        let entry = serde_json::json!({
            "line": o.line,
            "workflowId": wf.workflow_id,
            "status": o.report["status"],
            "durationMs": o.report["durationMs"],
            "exchanges": o.exchanges,
        });
        let r = t.write(entry, redactor);
        files.keep(r);
    }
    if let Some(f) = files.report.as_mut() {
        let r = f.write(o.report.clone(), redactor);
        files.keep(r);
    }
    let style = printer.style;
    if run.args.output == OutputFormat::Json {
        printer.out_json_line(o.report.clone());
        return;
    }
    // A line's result is the batch's output: on stdout, even with -q (which
    // removes only the progress line and the logs).
    printer.live.clear();
    let mark = match o.report["status"].as_str() {
        Some("succeeded") => style.paint_out("✓", "32"),
        Some("interrupted") => style.paint_out("?", "33"),
        _ => style.paint_out("✗", "31"),
    };
    let detail = line_detail(o);
    printer.out(&format!("{mark} line {}  {detail}\n", o.line));
    if style.live {
        printer
            .live
            .start(format!("{} runs done, {} failed", s.runs, s.failed));
    }
}

/// What a line's screen line says after its mark: the outputs of a run that
/// succeeded (or that it had succeeded before), else the failure and its step.
fn line_detail(o: &LineOutcome) -> String {
    if o.succeeded {
        let outputs = o.report["outputs"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => format!("{k}={s}"),
                        other => format!("{k}={other}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        if o.earlier {
            format!("{outputs}  (succeeded earlier; not run again)")
        } else {
            outputs
        }
    } else {
        let e = &o.report["error"];
        match e["stepId"].as_str() {
            Some(step) => format!("step `{step}`: {}", e["message"].as_str().unwrap_or("")),
            None => e["message"].as_str().unwrap_or("").to_string(),
        }
    }
}

/// `batch: 300 runs, 297 succeeded, 3 failed (lines 5, 17, 102)`, and how it
/// ended when it did not run every line.
fn print_summary(printer: &Printer, summary: &Summary, args: &RunArgs, journal: &Path) {
    if printer.style.quiet && summary.failed == 0 && summary.interrupted.is_none() {
        return;
    }
    let shard = args
        .shard
        .map(|s| format!(" (shard {s})"))
        .unwrap_or_default();
    let mut line = format!(
        "batch{shard}: {} run{}, {} succeeded, {} failed",
        summary.runs,
        if summary.runs == 1 { "" } else { "s" },
        summary.runs - summary.failed - summary.cut,
        summary.failed
    );
    if summary.cut > 0 {
        line.push_str(&format!(", {} interrupted", summary.cut));
    }
    if !summary.failed_lines.is_empty() {
        let list: Vec<String> = summary.failed_lines.iter().map(|l| l.to_string()).collect();
        let more = if summary.failed > summary.failed_lines.len() {
            ", …"
        } else {
            ""
        };
        line.push_str(&format!(" (lines {}{more})", list.join(", ")));
    }
    if summary.earlier > 0 {
        line.push_str(&format!(
            "; {} had succeeded before and were not run again",
            summary.earlier
        ));
    }
    if summary.stopped_early {
        line.push_str("; stopped after the first failure (--fail-fast)");
    }
    if let Some(signal) = summary.interrupted {
        line.push_str(&format!(
            "; interrupted by {}: lines not started were not run",
            signal.name()
        ));
    }
    if summary.failed > 0 || summary.interrupted.is_some() {
        line.push_str(&format!(
            "\njournal: {} (continue with --resume; lines that succeeded are not run again)",
            journal.display()
        ));
    }
    printer.err(&format!("{line}\n"));
}
