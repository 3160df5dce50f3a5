//! `arazzo run`: flags, loading, preflight or dry run, the run itself (or a
//! batch with --each), then the reports.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use super::discovery::locate;
use super::flags::{
    check_stopping, compile_problem, parse_pairs, parse_server_url, read_capped, read_inputs_file,
    register_secrets, register_url_secrets,
};
use super::runtime;
use crate::cli::{OutputFormat, RunArgs};
use crate::compile::{compile, Program};
use crate::document;
use crate::engine::inputs::{self, InputSources};
use crate::engine::interrupt::Stop;
use crate::engine::outcome::{RunReport, Status};
use crate::engine::{self, Event, RunOptions};
use crate::http::ClientOptions;
use crate::plan;
use crate::plan::list_problems;
use crate::read::display_url;
use crate::report::credentials::RunContext;
use crate::report::human::{log_event, print_event, print_human};
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

pub(super) fn command(mut args: RunArgs, printer: &Printer) -> Result<u8, Problem> {
    // Flags first: nothing is loaded or sent when the command line is wrong.
    super::credentials::apply_env_file(&args.auth, printer)?;
    let flags = read_flags(&mut args, printer)?;
    let client_opts = ClientOptions {
        timeout: Duration::from_secs_f64(args.timeout),
        max_document_size: args.documents.max_document_size,
        ..ClientOptions::default()
    };
    let client = crate::http::client(&client_opts).map_err(|m| Problem::document(m, None))?;
    let rt = runtime()?;
    let (loaded, program) = load_program(&args, &flags, &client_opts, &rt)?;
    let auth = super::credentials::load(&args.auth, [&loaded], &client_opts, printer)?;
    let opts = RunOptions {
        auth,
        servers: flags.servers,
        max_steps: args.max_steps,
        max_response_bytes: args.max_response_size,
        max_duration: args.max_duration.map(Duration::from_secs_f64),
        max_retry_wait: Duration::from_secs_f64(args.stopping.max_retry_wait),
        stop: flags.stop,
        max_parallel: args.max_parallel,
        message_timeout: Duration::from_secs_f64(args.timeout),
    };
    if let Some(each) = &args.each {
        let run = super::each::BatchRun {
            args: &args,
            each,
            program: &program,
            loaded: &loaded,
            client: &client,
            opts: &opts,
        };
        return super::each::command(run, &flags.cli_inputs, flags.file_inputs, &rt, printer);
    }
    let (inputs, origins) = gather_inputs(
        &program,
        &flags.cli_inputs,
        flags.file_inputs,
        flags.prior.as_ref(),
        printer,
    )?;
    let ctx = RunContext {
        program: &program,
        inputs: &inputs,
        origins: &origins,
        inputs_file: args.inputs_file.as_deref(),
        auth: Some(&opts.auth),
    };
    let resume = match continuation(&args, printer, &program, flags.prior)? {
        Continuing::Fresh => None,
        Continuing::From(resume) => Some(resume),
        Continuing::AlreadyDone(report) => {
            return Ok(finish_run(&args, printer, &ctx, &report, None, &opts.stop))
        }
    };
    // Preflight: what can be known before the first request is checked now, so a
    // run never stops half-way on a mistake that was visible from the start.
    if args.dry_run || !args.no_preflight {
        if let Some(code) = preflight(&args, printer, &program, &inputs, &opts)? {
            return Ok(code);
        }
    }
    let session = Session {
        program: &program,
        loaded: &loaded,
        client: &client,
        opts: &opts,
        rt: &rt,
    };
    Ok(execute(&args, printer, &session, &ctx, resume))
}

/// What `run`'s flags say, checked before anything is loaded or sent.
struct Flags {
    cli_inputs: Vec<(String, String)>,
    file_inputs: Option<Map<String, Value>>,
    servers: HashMap<String, Url>,
    /// The report of an earlier run to continue (`--resume REPORT`).
    prior: Option<RunReport>,
    stop: Stop,
}

/// Reads and checks the flags: inputs, servers (their passwords registered
/// as secrets), durations, standard input, the inputs file and the report to
/// resume. Starts listening for signals.
fn read_flags(args: &mut RunArgs, printer: &Printer) -> Result<Flags, Problem> {
    // `--each FILE --resume WORKFLOW`: the optional value took the workflowId.
    if let (Some(_), None, Some(Some(p))) = (&args.each, &args.workflow, &args.resume) {
        if !p.exists() {
            args.workflow = Some(p.display().to_string());
            args.resume = Some(None);
        }
    }
    let cli_inputs: Vec<(String, String)> = parse_pairs(&args.inputs, "-i", "NAME=VALUE")?
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut servers: HashMap<String, Url> = HashMap::new();
    for (source, url) in parse_pairs(&args.servers, "--server", "SOURCE=URL")? {
        servers.insert(source.to_string(), parse_server_url(source, url)?);
    }
    register_url_secrets(&servers, &printer.redactor);
    check_durations(args)?;
    check_output_paths(args)?;
    claim_stdin(args)?;
    let file_inputs = match &args.inputs_file {
        Some(path) => Some(read_inputs_file(path, args.documents.max_document_size)?),
        None => None,
    };
    let stop = Stop::listen(Duration::from_secs_f64(args.stopping.grace_period));
    let prior = match (&args.resume, &args.each) {
        (Some(Some(path)), None) => Some(read_prior(path)?),
        (Some(None), None) => {
            return Err(Problem::usage(
                "--resume needs the JSON report of the run to continue",
                Some(
                    "write `--resume REPORT.json`, the report written by -o json or --report"
                        .into(),
                ),
            ))
        }
        _ => None,
    };
    Ok(Flags {
        cli_inputs,
        file_inputs,
        servers,
        prior,
        stop,
    })
}

/// Finds and loads the document, picks the workflow (the one the resumed
/// report ran, when none is named) and compiles it; every `--server` must
/// name one of its sources.
fn load_program(
    args: &RunArgs,
    flags: &Flags,
    client_opts: &ClientOptions,
    rt: &tokio::runtime::Runtime,
) -> Result<(document::Loaded, Program), Problem> {
    let fetcher = crate::http::fetch_client(client_opts).map_err(|m| Problem::document(m, None))?;
    let wanted = args
        .workflow
        .clone()
        .or_else(|| flags.prior.as_ref().map(|p| p.workflow_id.clone()));
    let (doc_url, workflow_id) = locate(
        args.file.as_deref(),
        wanted,
        args.documents.max_document_size,
    )?;
    let loaded = rt
        .block_on(document::load(doc_url, &fetcher))
        .map_err(|e| Problem::load(e, exit::DOCUMENT))?;
    let workflow_id = pick_workflow(&loaded, workflow_id)?;
    if let Some(prior) = flags
        .prior
        .as_ref()
        .filter(|p| p.workflow_id != workflow_id)
    {
        return Err(Problem::usage(
            format!(
                "--resume: the report is of workflow `{}`, not `{workflow_id}`",
                prior.workflow_id
            ),
            Some(format!(
                "continue it with `arazzo run {} --resume …`",
                prior.workflow_id
            )),
        ));
    }
    let program = compile(&loaded, &workflow_id).map_err(|errors| compile_problem(&errors))?;
    for source in flags.servers.keys() {
        if !program.source_names.iter().any(|s| s == source) {
            return Err(Problem::usage(
                format!(
                    "--server names the source `{source}`, which the document does not describe"
                ),
                Some(format!(
                    "source descriptions: {}",
                    program.source_names.join(", ")
                )),
            ));
        }
    }
    Ok((loaded, program))
}

/// Where each input came from (for the help after a 401 or 403).
type Origins = BTreeMap<String, inputs::Origin>;

/// The run's inputs from the flags, the inputs file and the environment
/// (with a resumed report's own), and where each came from. The secret ones
/// are registered with the printer before anything can print them.
fn gather_inputs(
    program: &Program,
    cli_inputs: &[(String, String)],
    file_inputs: Option<Map<String, Value>>,
    prior: Option<&RunReport>,
    printer: &Printer,
) -> Result<(Map<String, Value>, Origins), Problem> {
    let wf = program.entry();
    let env = |name: &str| std::env::var(name).ok();
    let sources = InputSources {
        cli: cli_inputs,
        file: file_inputs,
        env: &env,
    };
    let mut origins = Default::default();
    let inputs = inputs::gather_traced(&wf.workflow_id, wf.inputs_schema.as_ref(), sources)
        .and_then(|g| {
            origins = g.origins;
            match prior {
                Some(prior) => resume_inputs(program, prior, g.values),
                None => inputs::finish(&wf.workflow_id, wf.inputs_schema.as_ref(), g.values),
            }
        });
    register_secrets(program, cli_inputs, inputs.as_ref().ok(), &printer.redactor);
    let inputs = inputs.map_err(|e| Problem::usage(e.message, Some(e.help)))?;
    Ok((inputs, origins))
}

/// Where a run starts.
enum Continuing {
    /// From the first step.
    Fresh,
    /// After the steps an earlier run finished (`--resume`).
    From(crate::engine::Resume),
    /// Nowhere: the earlier run succeeded, and its report stands.
    AlreadyDone(Box<RunReport>),
}

/// With `--resume`, how to continue the earlier run (or why it cannot be).
fn continuation(
    args: &RunArgs,
    printer: &Printer,
    program: &Program,
    prior: Option<RunReport>,
) -> Result<Continuing, Problem> {
    let Some(prior) = prior else {
        return Ok(Continuing::Fresh);
    };
    let path = args.resume.clone().flatten().unwrap_or_default();
    match crate::engine::resume::plan(program, prior, args.resend_uncertain) {
        Ok(crate::engine::resume::Plan::Done(report)) => {
            if !printer.style.quiet {
                printer.err(&format!(
                    "nothing to resume: the run in `{}` succeeded; its report stands and nothing was sent\n",
                    path.display()
                ));
            }
            Ok(Continuing::AlreadyDone(report))
        }
        Ok(crate::engine::resume::Plan::Continue(c)) => {
            announce_resume(printer, &path, &c);
            Ok(Continuing::From(c.resume))
        }
        Err(m) => Err(Problem::usage(
            format!("cannot resume from `{}`: {m}", path.display()),
            Some("nothing was sent".into()),
        )),
    }
}

/// What a run runs with, once loaded and configured.
struct Session<'a> {
    program: &'a Program,
    loaded: &'a document::Loaded,
    client: &'a reqwest::Client,
    opts: &'a RunOptions,
    rt: &'a tokio::runtime::Runtime,
}

/// Runs the workflow, showing each step as it finishes (and recording the
/// exchanges for --trace), then prints and writes the reports.
fn execute(
    args: &RunArgs,
    printer: &Printer,
    session: &Session<'_>,
    ctx: &RunContext<'_>,
    resume: Option<crate::engine::Resume>,
) -> u8 {
    let human = args.output == OutputFormat::Human;
    let mut trace = crate::report::files::Trace::default();
    let tracing = args.trace.is_some();
    let mut on_event = |ev: Event<'_>| {
        if tracing {
            trace.record(&ev);
        }
        log_event(&ev, &printer.redactor);
        if human {
            print_event(printer, &ev)
        }
    };
    // From here on requests may be in flight: a signal stops the run gracefully.
    session.opts.stop.arm();
    let report = session.rt.block_on(engine::run_from(
        session.program,
        session.loaded,
        ctx.inputs,
        session.client,
        session.opts,
        &printer.redactor,
        &mut on_event,
        resume,
    ));
    finish_run(
        args,
        printer,
        ctx,
        &report,
        Some(&trace),
        &session.opts.stop,
    )
}

/// The flags of `run` given `-` (standard input): at most one, since stdin
/// can be read only once.
fn claim_stdin(args: &RunArgs) -> Result<(), Problem> {
    let dashed = [
        ("-f", args.file.as_deref() == Some(crate::read::stdin::DASH)),
        (
            "--inputs",
            args.inputs_file
                .as_deref()
                .is_some_and(crate::read::stdin::is_dash),
        ),
        (
            "--each",
            args.each
                .as_deref()
                .is_some_and(crate::read::stdin::is_dash),
        ),
    ];
    for (flag, _) in dashed.iter().filter(|(_, dash)| *dash) {
        crate::read::stdin::claim(flag).map_err(|m| {
            Problem::usage(
                m,
                Some("write the other one to a file and name the file".into()),
            )
        })?;
    }
    Ok(())
}

/// The files a run writes (`--report`, `--junit`, `--trace`, `--journal`):
/// not `-`, since stdout carries the outputs (`-o json` prints the report
/// there), and never one path for two of them, which would keep only the
/// last one written.
fn check_output_paths(args: &RunArgs) -> Result<(), Problem> {
    let named = [
        ("--report", args.report.as_deref()),
        ("--junit", args.junit.as_deref()),
        ("--trace", args.trace.as_deref()),
        ("--journal", args.journal.as_deref()),
    ];
    let given: Vec<(&str, &std::path::Path)> = named
        .iter()
        .filter_map(|(flag, path)| path.map(|p| (*flag, p)))
        .collect();
    for (flag, path) in &given {
        if crate::read::stdin::is_dash(path) {
            return Err(Problem::usage(
                format!("{flag} - would write to a file named `-`"),
                Some(format!(
                    "name a file for {flag}; for the JSON report on stdout use -o json"
                )),
            ));
        }
    }
    for (i, (flag, path)) in given.iter().enumerate() {
        if let Some((other, _)) = given[..i].iter().find(|(_, p)| p == path) {
            return Err(Problem::usage(
                format!(
                    "{other} and {flag} both name `{}`: one would overwrite the other",
                    path.display()
                ),
                Some("give each its own file".into()),
            ));
        }
    }
    Ok(())
}

/// Refuses durations out of range (parse_seconds accepts any number).
fn check_durations(args: &RunArgs) -> Result<(), Problem> {
    const LONGEST: f64 = 1.0e9;
    if let Some(d) = args.max_duration {
        if !(d.is_finite() && d > 0.0 && d <= LONGEST) {
            return Err(Problem::usage(
                "--max-duration must be a positive number of seconds (at most 1e9)",
                None,
            ));
        }
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= LONGEST) {
        return Err(Problem::usage(
            "--timeout must be a positive number of seconds (at most 1e9)",
            None,
        ));
    }
    check_stopping(&args.stopping)
}

/// The workflow to run: the one named, or the document's only one.
pub(super) fn pick_workflow(
    loaded: &document::Loaded,
    named: Option<String>,
) -> Result<String, Problem> {
    let ids: Vec<&str> = loaded
        .entry()
        .doc
        .workflows
        .iter()
        .map(|w| w.workflow_id.as_str())
        .collect();
    match named {
        Some(id) if ids.contains(&id.as_str()) => Ok(id),
        Some(id) => Err(Problem::usage(
            format!(
                "no workflow `{id}` in `{}`",
                display_url(&loaded.entry().url)
            ),
            Some(format!("the document has: {}", ids.join(", "))),
        )),
        None => match ids.as_slice() {
            [one] => Ok(one.to_string()),
            _ => Err(Problem::usage(
                format!(
                    "`{}` has {} workflows; name the one to run",
                    display_url(&loaded.entry().url),
                    ids.len()
                ),
                Some(format!(
                    "arazzo run <WORKFLOW_ID> -f …, one of: {}",
                    ids.join(", ")
                )),
            )),
        },
    }
}

/// Preflight (and `--dry-run`): `Some(exit code)` when the command ends here.
fn preflight(
    args: &RunArgs,
    printer: &Printer,
    program: &Program,
    inputs: &Map<String, Value>,
    opts: &RunOptions,
) -> Result<Option<u8>, Problem> {
    let literal = plan::check_literals(program);
    if !literal.is_empty() {
        return Err(Problem::document(
            format!(
                "the document's own values break the operation's schema ({} problem{})",
                literal.len(),
                if literal.len() == 1 { "" } else { "s" }
            ),
            Some(list_problems(&literal)),
        ));
    }
    let planned = plan::plan(program, inputs, opts, &printer.redactor);
    warn_unmet_requirements(printer, &planned);
    let problems: Vec<plan::PlanProblem> = planned
        .iter()
        .flat_map(|p| p.problems.iter().cloned())
        .collect();
    if args.dry_run {
        let id = &program.entry().workflow_id;
        print_plan(printer, id, &planned, &problems, args.output);
        return Ok(Some(if problems.is_empty() {
            exit::SUCCEEDED
        } else {
            exit::USAGE
        }));
    }
    if !problems.is_empty() {
        return Err(Problem::usage(
            format!(
                "preflight: {} problem{} found before any request was sent",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            ),
            Some(format!(
                "{}\nnothing was sent; fix the inputs (or pass --no-preflight to skip this check)",
                list_problems(&problems)
            )),
        ));
    }
    Ok(None)
}

/// Says once per requirement which steps go without credentials because
/// none is supplied for their source.
fn warn_unmet_requirements(printer: &Printer, planned: &[plan::PlannedStep]) {
    let mut seen: Vec<(&str, Vec<&str>)> = Vec::new();
    for p in planned {
        for w in &p.warnings {
            match seen.iter_mut().find(|(t, _)| *t == w.as_str()) {
                Some((_, steps)) => steps.push(&p.step_id),
                None => seen.push((w, vec![&p.step_id])),
            }
        }
    }
    for (text, steps) in seen {
        let steps: Vec<String> = steps.iter().map(|s| format!("`{s}`")).collect();
        printer.err(&format!("warning: step {}: {text}\n", steps.join(", ")));
    }
}

/// Prints the report and writes the report files; returns the exit code.
fn finish_run(
    args: &RunArgs,
    printer: &Printer,
    ctx: &RunContext<'_>,
    report: &RunReport,
    trace: Option<&crate::report::files::Trace>,
    stop: &Stop,
) -> u8 {
    match args.output {
        OutputFormat::Json => {
            printer.out_json(serde_json::to_value(report).unwrap_or(Value::Null));
            // stdout holds the report; a failure is also said on stderr, so
            // that a CI log shows why the job failed.
            if let Some(line) = crate::report::human::failure_line(report) {
                printer.err(&line);
            }
        }
        OutputFormat::Human => print_human(printer, report, args.report.as_deref(), ctx),
    }
    // Report files: a path that cannot be written is reported; a run that
    // succeeded then exits 2, since CI would otherwise miss its report.
    let mut write_failed = false;
    let mut failed = |m: String| {
        printer.problem(&Problem::usage(m, None));
        write_failed = true;
    };
    if let Some(path) = &args.report {
        let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
        printer.redactor.redact_value(&mut v);
        let text = serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
        if let Err(m) = crate::report::files::write_file(path, &text, "--report") {
            failed(m);
        }
    }
    if let Some(path) = &args.junit {
        if let Err(m) =
            crate::report::files::write_junit(path, report, ctx.program, &printer.redactor)
        {
            failed(m);
        }
    }
    if let (Some(path), Some(trace)) = (&args.trace, trace) {
        if let Err(m) = trace.write(path, report, &printer.redactor) {
            failed(m);
        }
    }
    match stop.requested() {
        Some(signal) if report.interrupted() => signal.exit_code(),
        _ if report
            .error
            .as_ref()
            .is_some_and(|e| e.kind == crate::engine::outcome::ErrorKind::Auth) =>
        {
            exit::CREDENTIALS
        }
        _ if !report.succeeded() => exit::FAILED,
        _ if write_failed => exit::USAGE,
        _ => exit::SUCCEEDED,
    }
}

/// Reads the report `--resume` names.
fn read_prior(path: &Path) -> Result<RunReport, Problem> {
    let text = read_capped(path, "--resume")?;
    crate::engine::resume::parse_report(&text).map_err(|m| {
        Problem::usage(
            format!("--resume: `{}` cannot be used: {m}", path.display()),
            None,
        )
    })
}

/// The inputs of a resumed run: the report's, with the secret ones (which it
/// leaves out) supplied again from the environment or the flags. A value given
/// again must be the one the earlier run had.
fn resume_inputs(
    program: &Program,
    prior: &RunReport,
    supplied: Map<String, Value>,
) -> Result<Map<String, Value>, inputs::InputError> {
    let wf = program.entry();
    let schema = wf.inputs_schema.as_ref();
    let mut merged = prior.inputs.clone();
    for (name, v) in supplied {
        match prior.inputs.get(&name) {
            Some(before) if *before != v => {
                return Err(inputs::InputError {
                    message: format!(
                        "the input `{name}` is given a value other than the one of the run being resumed"
                    ),
                    help: "a resumed run continues with the inputs in its report; leave the input out, or start a new run without --resume".into(),
                })
            }
            _ => {
                merged.insert(name, v);
            }
        }
    }
    inputs::finish(&wf.workflow_id, schema, merged).map_err(|mut e| {
        if !prior.secret_inputs.is_empty() {
            let vars: Vec<String> = prior
                .secret_inputs
                .iter()
                .map(|n| inputs::env_names(n)[0].clone())
                .collect();
            e.help = format!(
                "the report leaves out the secret inputs ({}): give them again, e.g. in {}\n{}",
                prior.secret_inputs.join(", "),
                vars.join(", "),
                e.help
            );
        }
        e
    })
}

/// Says where a resumed run starts (stderr, unless -q).
fn announce_resume(printer: &Printer, path: &Path, c: &crate::engine::resume::Continuation) {
    if printer.style.quiet {
        return;
    }
    let finished: Vec<&str> = c
        .resume
        .carried
        .iter()
        .filter(|s| s.status == Status::Succeeded && s.workflow_id.is_none())
        .map(|s| s.step_id.as_str())
        .collect();
    let mut text = match &c.from {
        Some(step) => format!(
            "resuming from `{}` at step `{step}`; not sent again: {}\n",
            path.display(),
            if finished.is_empty() {
                "nothing".to_string()
            } else {
                finished.join(", ")
            }
        ),
        None => format!(
            "resuming from `{}`: no step had finished, the run starts at its first step\n",
            path.display()
        ),
    };
    if let Some(r) = &c.resent {
        text.push_str(&format!(
            "{r} was in flight when the earlier run stopped and is sent again\n"
        ));
    }
    if !c.masked.is_empty() {
        text.push_str(&format!(
            "warning: the report masked these step outputs (they held a secret), so they are not restored: {}\n",
            c.masked.join(", ")
        ));
    }
    printer.err(&text);
}

fn print_plan(
    printer: &Printer,
    workflow_id: &str,
    planned: &[plan::PlannedStep],
    problems: &[plan::PlanProblem],
    format: OutputFormat,
) {
    match format {
        OutputFormat::Json => {
            let v = serde_json::json!({
                "workflowId": workflow_id,
                "dryRun": true,
                "status": if problems.is_empty() { "valid" } else { "invalid" },
                "steps": planned.iter().map(|p| serde_json::json!({
                    "workflowId": p.workflow_id,
                    "stepId": p.step_id,
                    "calls": p.calls,
                    "method": p.method,
                    "url": p.url,
                    "headers": p.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<String, Value>>(),
                    "body": p.body,
                    "credentials": p.credentials,
                    "warnings": p.warnings,
                    "awaits": p.awaits,
                    "problems": p.problems,
                })).collect::<Vec<_>>(),
                "problems": problems,
            });
            printer.out_json(v);
        }
        OutputFormat::Human => {
            let mut out = format!(
                "dry run of workflow {workflow_id}: {} request{} planned, nothing sent\n",
                planned.len(),
                if planned.len() == 1 { "" } else { "s" }
            );
            for p in planned {
                out.push('\n');
                if p.workflow_id == workflow_id {
                    out.push_str(&format!("{}\n", p.step_id));
                } else {
                    out.push_str(&format!("{} (in workflow {})\n", p.step_id, p.workflow_id));
                }
                out.push_str(&format!("  {} {}\n", p.method, p.url));
                for c in &p.credentials {
                    out.push_str(&format!("  credentials: {c}\n"));
                }
                for (k, v) in &p.headers {
                    out.push_str(&format!("  {k}: {v}\n"));
                }
                if let Some(a) = &p.awaits {
                    out.push_str(&format!("  awaits {a}\n"));
                }
                if let Some(b) = &p.body {
                    let text = match b {
                        Value::String(s) => s.clone(),
                        other => serde_json::to_string_pretty(other).unwrap_or_default(),
                    };
                    for line in text.lines() {
                        out.push_str(&format!("  {line}\n"));
                    }
                }
                for problem in &p.problems {
                    out.push_str(&format!("  ✗ {}: {}\n", problem.field, problem.rule));
                }
            }
            printer.out(&out);
            if problems.is_empty() {
                printer.err("every planned request is valid\n");
            } else {
                printer.problem(&Problem::usage(
                    format!(
                        "{} problem{} found",
                        problems.len(),
                        if problems.len() == 1 { "" } else { "s" }
                    ),
                    Some(list_problems(problems)),
                ));
            }
        }
    }
}
