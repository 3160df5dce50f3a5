//! What the commands do: turn flags into library calls, print through one
//! redacting printer, and map problems to exit codes.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use serde_json::{Map, Value};
use url::Url;

use crate::cli::{
    Cli, Command, DiagnosticFormat, ListArgs, OutputFormat, RunArgs, ShowArgs, ValidateArgs,
};
use crate::compile::{compile, Program};
use crate::document;
use crate::engine::inputs::{self, InputSources};
use crate::engine::interrupt::Stop;
use crate::engine::outcome::{RunReport, Status};
use crate::engine::{self, Event, RunOptions};
use crate::http::ClientOptions;
use crate::plan;
use crate::read::display_url;
use crate::redact::Redactor;
use credentials::RunContext;

mod credentials;
mod each;
mod fixing;
mod shell;
mod unknown;

pub use unknown::unknown_command;

/// Exit codes, as documented in the README.
pub mod exit {
    pub const SUCCEEDED: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const DOCUMENT: u8 = 3;
}

/// A problem that stops a command before or outside a run.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct Problem {
    pub message: String,
    #[help]
    pub help: Option<String>,
    pub exit: u8,
    /// A syntax error's place, shown with the file's lines.
    pub at: Option<Box<crate::read::SyntaxAt>>,
}

impl Problem {
    pub fn usage(message: impl Into<String>, help: Option<String>) -> Problem {
        Problem {
            message: message.into(),
            help,
            exit: exit::USAGE,
            at: None,
        }
    }
    pub fn document(message: impl Into<String>, help: Option<String>) -> Problem {
        Problem {
            exit: exit::DOCUMENT,
            ..Problem::usage(message, help)
        }
    }
    /// A document that could not be loaded, keeping the place of a syntax
    /// error so that it is shown in the file's text.
    pub fn load(e: crate::read::LoadError, exit: u8) -> Problem {
        Problem {
            exit,
            at: e.at.filter(|a| !a.file.is_empty()),
            ..Problem::usage(e.message, e.help)
        }
    }
}

/// Every byte the tool writes goes through here: secrets masked, control
/// characters escaped ([`crate::redact::sanitize`]), then the tool's own styling
/// turned into colours.
pub struct Printer {
    pub redactor: Redactor,
    pub style: crate::report::terminal::Style,
    pub live: crate::report::terminal::Live,
}

impl Printer {
    /// Text as the terminal may show it: masked, escaped, styled.
    fn shown(&self, text: &str) -> String {
        let masked = self.redactor.redact(text);
        let safe = crate::redact::sanitize::escape(&masked);
        crate::report::terminal::apply_styles(&safe).into_owned()
    }

    pub fn out(&self, text: &str) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(self.shown(text).as_bytes());
        let _ = o.flush();
    }
    /// Prints a JSON document: secrets are masked in its string values, and
    /// the serialized text stays valid JSON (control characters serde writes
    /// as they are become `\uXXXX` escapes).
    pub fn out_json(&self, mut v: Value) {
        self.redactor.redact_value(&mut v);
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(crate::redact::sanitize::escape_json(&text).as_bytes());
        let _ = o.write_all(b"\n");
        let _ = o.flush();
    }

    /// Prints a JSON document on one line (JSON Lines), as [`Printer::out_json`].
    pub fn out_json_line(&self, mut v: Value) {
        self.redactor.redact_value(&mut v);
        let text = serde_json::to_string(&v).unwrap_or_default();
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(crate::redact::sanitize::escape_json(&text).as_bytes());
        let _ = o.write_all(b"\n");
    }

    pub fn err(&self, text: &str) {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(self.shown(text).as_bytes());
        let _ = e.flush();
    }
    /// Renders a problem with miette. Secrets are masked and control
    /// characters escaped before rendering, since line wrapping could
    /// otherwise split a secret where no mask would find it, and miette's own
    /// colours must stay.
    pub fn problem(&self, p: &Problem) {
        if let Some(at) = &p.at {
            return self.problem_in_file(p, at);
        }
        let safe = |t: &str| crate::redact::sanitize::escape(&self.redactor.redact(t)).into_owned();
        let masked = Problem {
            message: safe(&p.message),
            help: p.help.as_deref().map(safe),
            exit: p.exit,
            at: None,
        };
        let mut text = String::new();
        let theme = if self.style.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme);
        if handler.render_report(&mut text, &masked).is_err() {
            text = format!("Error: {}\n", masked.message);
        }
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(text.as_bytes());
        let _ = e.flush();
    }
}

impl Printer {
    /// Renders a syntax error as `validate` does: the file, line and column,
    /// and the offending lines with a marker under the place.
    fn problem_in_file(&self, p: &Problem, at: &crate::read::SyntaxAt) {
        let file = crate::diagnostics::SourceFile::new(at.file.clone(), (*at.text).clone());
        let d = file.at_line(
            at.line,
            at.column,
            at.code,
            p.message.clone(),
            p.help.clone(),
        );
        self.err(&crate::diagnostics::render(&[d], &[file], false));
    }
}

/// Runs the parsed command line and returns the exit code.
pub fn main(cli: Cli) -> u8 {
    let redactor = Redactor::new();
    let style = crate::report::terminal::Style::decide(cli.color_choice(), cli.quiet, cli.verbose);
    crate::report::terminal::init_logging(cli.verbose, style.color, &redactor);
    let printer = Printer {
        redactor,
        style,
        live: crate::report::terminal::Live::new(),
    };
    let result = match cli.command {
        Command::Run(args) => run_command(args, &printer),
        Command::Validate(args) => validate_command(args, &printer),
        Command::List(args) => list_command(args, &printer),
        Command::Show(args) => show_command(args, &printer),
        Command::Mcp(args) => crate::mcp::command(args, &printer),
        Command::Completions(args) => shell::completions_command(args),
        Command::Man(args) => shell::man_command(args, &printer),
        Command::Complete(args) => shell::complete_command(args),
    };
    match result {
        Ok(code) => code,
        Err(p) => {
            printer.problem(&p);
            p.exit
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Problem> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Problem::document(format!("cannot start the runtime: {e}"), None))
}

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
            "write e.g. --server {source}=http://127.0.0.1:8080"
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
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Problem::usage(
            format!(
                "--server {source}=…: `{}` is not an http(s) URL with a host",
                masked_url(&parsed)
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

fn run_command(mut args: RunArgs, printer: &Printer) -> Result<u8, Problem> {
    // `--each FILE --resume WORKFLOW`: the optional value took the workflowId.
    if let (Some(_), None, Some(Some(p))) = (&args.each, &args.workflow, &args.resume) {
        if !p.exists() {
            args.workflow = Some(p.display().to_string());
            args.resume = Some(None);
        }
    }
    // Flags first: nothing is loaded or sent when the command line is wrong.
    let cli_inputs: Vec<(String, String)> = parse_pairs(&args.inputs, "-i", "NAME=VALUE")?
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut servers: HashMap<String, Url> = HashMap::new();
    for (source, url) in parse_pairs(&args.servers, "--server", "SOURCE=URL")? {
        servers.insert(source.to_string(), parse_server_url(source, url)?);
    }
    register_url_secrets(&servers, &printer.redactor);
    check_durations(&args)?;
    claim_stdin(&args)?;
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

    let client_opts = ClientOptions {
        timeout: Duration::from_secs_f64(args.timeout),
        max_document_size: args.documents.max_document_size,
        ..ClientOptions::default()
    };
    let client = crate::http::client(&client_opts).map_err(|m| Problem::document(m, None))?;
    let fetcher =
        crate::http::fetch_client(&client_opts).map_err(|m| Problem::document(m, None))?;
    let rt = runtime()?;

    let wanted = args
        .workflow
        .clone()
        .or_else(|| prior.as_ref().map(|p| p.workflow_id.clone()));
    let (doc_url, workflow_id) = locate(
        args.file.as_deref(),
        wanted,
        args.documents.max_document_size,
    )?;
    let loaded = rt
        .block_on(document::load(doc_url, &fetcher))
        .map_err(|e| Problem::load(e, exit::DOCUMENT))?;
    let workflow_id = pick_workflow(&loaded, workflow_id)?;
    if let Some(prior) = prior.as_ref().filter(|p| p.workflow_id != workflow_id) {
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
    for source in servers.keys() {
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
    let opts = RunOptions {
        servers,
        max_steps: args.max_steps,
        max_response_bytes: args.max_response_size,
        max_duration: args.max_duration.map(Duration::from_secs_f64),
        max_retry_wait: Duration::from_secs_f64(args.stopping.max_retry_wait),
        stop,
    };

    if let Some(each) = &args.each {
        let run = each::BatchRun {
            args: &args,
            each,
            program: &program,
            loaded: &loaded,
            client: &client,
            opts: &opts,
        };
        return each::command(run, &cli_inputs, file_inputs, &rt, printer);
    }
    let wf = program.entry();
    let env = |name: &str| std::env::var(name).ok();
    let sources = InputSources {
        cli: &cli_inputs,
        file: file_inputs,
        env: &env,
    };
    let mut origins = Default::default();
    let inputs = inputs::gather_traced(&wf.workflow_id, wf.inputs_schema.as_ref(), sources)
        .and_then(|g| {
            origins = g.origins;
            match &prior {
                Some(prior) => resume_inputs(&program, prior, g.values),
                None => inputs::finish(&wf.workflow_id, wf.inputs_schema.as_ref(), g.values),
            }
        });
    // Secrets are registered before anything else can print an input.
    register_secrets(
        &program,
        &cli_inputs,
        inputs.as_ref().ok(),
        &printer.redactor,
    );
    let inputs = inputs.map_err(|e| Problem::usage(e.message, Some(e.help)))?;
    let resume = match prior {
        Some(prior) => {
            let path = args.resume.clone().flatten().unwrap_or_default();
            match crate::engine::resume::plan(&program, prior, args.resend_uncertain) {
                Ok(crate::engine::resume::Plan::Done(report)) => {
                    if !printer.style.quiet {
                        printer.err(&format!(
                        "nothing to resume: the run in `{}` succeeded; its report stands and nothing was sent\n",
                        path.display()
                    ));
                    }
                    let ctx = RunContext {
                        program: &program,
                        inputs: &inputs,
                        origins: &origins,
                        inputs_file: args.inputs_file.as_deref(),
                    };
                    return Ok(finish_run(&args, printer, &ctx, &report, None, &opts.stop));
                }
                Ok(crate::engine::resume::Plan::Continue(c)) => {
                    announce_resume(printer, &path, &c);
                    Some(c.resume)
                }
                Err(m) => {
                    return Err(Problem::usage(
                        format!("cannot resume from `{}`: {m}", path.display()),
                        Some("nothing was sent".into()),
                    ))
                }
            }
        }
        None => None,
    };

    // Preflight: what can be known before the first request is checked now, so a
    // run never stops half-way on a mistake that was visible from the start.
    if args.dry_run || !args.no_preflight {
        if let Some(code) = preflight(&args, printer, &program, &inputs, &opts)? {
            return Ok(code);
        }
    }

    let human = args.output == OutputFormat::Human;
    let mut trace = crate::report::files::Trace::default();
    let tracing = args.trace.is_some();
    let mut on_event = |ev: Event<'_>| {
        if tracing {
            trace.record(&ev);
        }
        log_event(&ev);
        if human {
            print_event(printer, &ev)
        }
    };
    // From here on requests may be in flight: a signal stops the run gracefully.
    opts.stop.arm();
    let report = rt.block_on(engine::run_from(
        &program,
        &loaded,
        &inputs,
        &client,
        &opts,
        &printer.redactor,
        &mut on_event,
        resume,
    ));
    let ctx = RunContext {
        program: &program,
        inputs: &inputs,
        origins: &origins,
        inputs_file: args.inputs_file.as_deref(),
    };
    Ok(finish_run(
        &args,
        printer,
        &ctx,
        &report,
        Some(&trace),
        &opts.stop,
    ))
}

/// Refuses durations out of range (parse_seconds accepts any number).
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

/// The workflow to run: the one named, or the document's only one.
fn pick_workflow(loaded: &document::Loaded, named: Option<String>) -> Result<String, Problem> {
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
        OutputFormat::Json => printer.out_json(serde_json::to_value(report).unwrap_or(Value::Null)),
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

/// A file named by a flag, read up to a size no report or journal reaches.
pub(crate) fn read_capped(path: &Path, flag: &str) -> Result<String, Problem> {
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

pub(crate) fn list_problems(problems: &[plan::PlanProblem]) -> String {
    problems
        .iter()
        .map(|p| {
            if p.workflow_id.is_empty() {
                p.to_string()
            } else {
                format!("workflow `{}`, {p}", p.workflow_id)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
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
                for (k, v) in &p.headers {
                    out.push_str(&format!("  {k}: {v}\n"));
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

/// Finds the document: `-f`, or the file under ./workflows/ that defines the id.
fn locate(
    file: Option<&str>,
    workflow: Option<String>,
    max_document_size: usize,
) -> Result<(Url, Option<String>), Problem> {
    if let Some(f) = file {
        let f = if f == crate::read::stdin::DASH {
            crate::read::stdin::claim("-f").map_err(|m| Problem::usage(m, None))?;
            crate::read::stdin::NAME
        } else {
            f
        };
        let url = crate::read::location_to_url(f).map_err(|e| Problem::usage(e.message, e.help))?;
        if url.scheme() == "file" && f != crate::read::stdin::NAME {
            if let Ok(p) = url.to_file_path() {
                if !p.exists() {
                    return Err(Problem::usage(
                        format!("the file `{f}` does not exist"),
                        Some("pass the path of an Arazzo document with -f".into()),
                    ));
                }
                if p.is_dir() {
                    return Err(directory_given(f, max_document_size));
                }
            }
        }
        return Ok((url, workflow));
    }
    if let Some(id) = workflow.as_deref().filter(|id| Path::new(id).is_file()) {
        return Err(Problem::usage(
            format!("`{id}` is a file, not a workflowId"),
            Some(format!("pass the document with -f: `arazzo run -f {id}` (add the workflowId when it has several workflows)")),
        ));
    }
    let dir = PathBuf::from("workflows");
    let found = discover(&dir, max_document_size);
    let Some(id) = &workflow else {
        let all: Vec<String> = found.iter().flat_map(|(_, ids)| ids.clone()).collect();
        return Err(Problem::usage(
            "name the workflow to run",
            Some(if all.is_empty() {
                "no Arazzo documents under ./workflows/; pass one with -f FILE".into()
            } else {
                format!("workflows under ./workflows/: {}", all.join(", "))
            }),
        ));
    };
    let matches: Vec<&PathBuf> = found
        .iter()
        .filter(|(_, ids)| ids.contains(id))
        .map(|(p, _)| p)
        .collect();
    match matches.as_slice() {
        [one] => {
            let url = crate::read::location_to_url(&one.to_string_lossy())
                .map_err(|e| Problem::usage(e.message, e.help))?;
            Ok((url, Some(id.clone())))
        }
        [] => {
            let all: Vec<String> = found.iter().flat_map(|(_, ids)| ids.clone()).collect();
            let help = if !dir.is_dir() {
                "there is no ./workflows/ directory here; pass the document with -f FILE"
                    .to_string()
            } else if all.is_empty() {
                "./workflows/ holds no Arazzo documents; pass one with -f FILE".to_string()
            } else {
                let near = crate::compile::suggest(id, all.iter().map(String::as_str))
                    .map(|s| format!("{s} "))
                    .unwrap_or_default();
                format!("{near}workflows under ./workflows/: {}", all.join(", "))
            };
            Err(Problem::usage(
                format!("no workflow `{id}` under ./workflows/"),
                Some(help),
            ))
        }
        many => Err(Problem::usage(
            format!("several documents under ./workflows/ define `{id}`"),
            Some(format!(
                "pick one with -f: {}",
                many.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        )),
    }
}

/// `-f DIR`: `-f` takes one document; name the ones the directory holds.
fn directory_given(f: &str, max_document_size: usize) -> Problem {
    let docs: Vec<String> = discover(Path::new(f), max_document_size)
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    let help = if docs.is_empty() {
        "-f takes one Arazzo document; the directory holds none".to_string()
    } else {
        format!(
            "-f takes one Arazzo document, e.g. one of: {}",
            docs.join(", ")
        )
    };
    Problem::usage(format!("`{f}` is a directory, not a document"), Some(help))
}

/// Arazzo documents directly under `dir`, with their workflowIds, sorted by
/// path. A file over the size limit is not read (`-f` names it, and says so).
fn discover(dir: &Path, max_size: usize) -> Vec<(PathBuf, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let ids = arazzo_tree(&p, max_size)?
                .get("workflows")?
                .as_array()?
                .iter()
                .filter_map(|w| w.get("workflowId")?.as_str().map(str::to_string))
                .collect();
            Some((p, ids))
        })
        .collect()
}

/// A local file's JSON tree if it is an Arazzo document within the size
/// limit; its sources are not read, so this is quick and never on the network.
fn arazzo_tree(path: &Path, max_size: usize) -> Option<Value> {
    let text = crate::read::read_file(path, max_size, "").ok()?;
    let tree = crate::read::parse_tree(&text, "").ok()?;
    tree.get("arazzo")?;
    Some(tree)
}

fn print_event(printer: &Printer, ev: &Event<'_>) {
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
        Event::Exchange { .. } => {}
    }
}

/// Logs an event (at -v and above); the log writer masks secrets.
pub(crate) fn log_event(ev: &Event<'_>) {
    match ev {
        Event::StepStarted {
            step_id,
            method,
            path,
            ..
        } => tracing::info!("step {step_id}: {method} {path}"),
        Event::StepFinished { report, .. } => tracing::info!(
            "step {}: {:?} (status {}, {} ms)",
            report.step_id,
            report.status,
            report
                .status_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none".into()),
            report.duration_ms
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
            tracing::debug!("{step_id}: {} {}", request.method, request.url);
            for (k, v) in &request.headers {
                tracing::debug!("{step_id}: > {k}: {v}");
            }
            if let Some(b) = &request.body_bytes {
                tracing::trace!("{step_id}: > {}", String::from_utf8_lossy(b));
            }
            for h in redirects.iter() {
                tracing::debug!("{step_id}: < {} redirect to {}", h.status, h.url);
            }
            match (response, error) {
                (Some(r), _) => {
                    tracing::debug!("{step_id}: < {} in {duration_ms} ms", r.status);
                    for (k, v) in &r.headers {
                        tracing::debug!("{step_id}: < {k}: {v}");
                    }
                    tracing::trace!("{step_id}: < {}", r.body);
                }
                (None, Some(e)) => tracing::debug!("{step_id}: no response: {e}"),
                _ => {}
            }
        }
    }
}

fn print_human(
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
    let (before, after) = match failed_at {
        Some(i) => (&report.steps[..i], &report.steps[i + 1..]),
        None => (&report.steps[..], &report.steps[..0]),
    };
    let names = before
        .iter()
        .filter(|s| s.status == Status::Succeeded)
        .map(|s| s.step_id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut help = credentials::refused_help(report, ctx)
        .map(|h| h + "\n")
        .unwrap_or_default();
    help.push_str(&if names.is_empty() {
        "no step completed before the failure".to_string()
    } else {
        format!("steps that completed before the failure: {names}")
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

fn default_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("workflows")]
    } else {
        paths.to_vec()
    }
}

fn validate_command(args: ValidateArgs, printer: &Printer) -> Result<u8, Problem> {
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
        let fixed = fixing::apply(&files, &all, args.dry_run, printer)?;
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

/// The paths with `-` (standard input, at most once) as `<stdin>`.
fn stdin_in_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Problem> {
    if paths
        .iter()
        .filter(|p| crate::read::stdin::is_dash(p))
        .count()
        > 1
    {
        return Err(Problem::usage(
            "`-` (standard input) is named twice",
            Some("standard input can be read only once".into()),
        ));
    }
    paths
        .iter()
        .map(|p| {
            if !crate::read::stdin::is_dash(p) {
                return Ok(p.clone());
            }
            crate::read::stdin::claim("the document").map_err(|m| Problem::usage(m, None))?;
            Ok(crate::read::stdin::path())
        })
        .collect()
}

/// The fetcher of `validate`, `list` and `show`, with their size limit.
fn document_fetcher(max_document_size: usize) -> Result<crate::http::Fetcher, Problem> {
    crate::http::fetch_client(&ClientOptions {
        max_document_size,
        ..ClientOptions::default()
    })
    .map_err(|m| Problem::document(m, None))
}

/// Loads a document for `list`/`show`, mapping failures to exit code 3.
fn load_for_listing(
    rt: &tokio::runtime::Runtime,
    fetcher: &crate::http::Fetcher,
    path: &Path,
) -> Result<document::Loaded, Problem> {
    let url = crate::read::location_to_url(&path.to_string_lossy())
        .map_err(|e| Problem::usage(e.message, e.help))?;
    rt.block_on(document::load(url, fetcher))
        .map_err(|e| Problem::load(e, exit::DOCUMENT))
}

fn list_command(args: ListArgs, printer: &Printer) -> Result<u8, Problem> {
    let limit = args.documents.max_document_size;
    let paths = stdin_in_paths(&args.paths)?;
    let files = crate::check::expand_paths(&default_paths(&paths), limit).map_err(|m| {
        Problem::usage(
            m,
            Some("pass Arazzo documents or directories holding them (default ./workflows)".into()),
        )
    })?;
    if files.is_empty() {
        return Err(Problem::usage(
            "no Arazzo documents to list",
            Some("pass a file, or a directory holding Arazzo documents (`*.yaml`, `*.yml`, `*.json` with an `arazzo` field)".into()),
        ));
    }
    let fetcher = document_fetcher(limit)?;
    let rt = runtime()?;
    let mut listed = Vec::new();
    for f in &files {
        let loaded = load_for_listing(&rt, &fetcher, f)?;
        for w in &loaded.entry().doc.workflows {
            let program = compile(&loaded, &w.workflow_id).ok();
            let schema = program
                .as_ref()
                .and_then(|p| p.entry().inputs_schema.clone())
                .or_else(|| w.inputs.clone());
            let required: Vec<&str> = schema
                .as_ref()
                .and_then(|s| s.get("required"))
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let inputs: Vec<Value> = schema
                .as_ref()
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .map(|(name, s)| {
                            serde_json::json!({
                                "name": name,
                                "type": s.get("type").cloned().unwrap_or(Value::Null),
                                "required": required.contains(&name.as_str()),
                                "description": s.get("description").cloned().unwrap_or(Value::Null),
                                "env": inputs::env_names(name)[0],
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            listed.push(serde_json::json!({
                "workflowId": w.workflow_id,
                "file": f.display().to_string(),
                "summary": w.summary,
                "description": w.description,
                "inputs": inputs,
                "outputs": w.outputs.keys().collect::<Vec<_>>(),
            }));
        }
    }
    match args.output {
        OutputFormat::Json => printer.out_json(Value::Array(listed)),
        OutputFormat::Human => {
            let mut out = String::new();
            for w in &listed {
                out.push_str(&format!(
                    "{}  ({})\n",
                    w["workflowId"].as_str().unwrap_or(""),
                    w["file"].as_str().unwrap_or("")
                ));
                if let Some(s) = w["summary"].as_str() {
                    out.push_str(&format!("  {s}\n"));
                }
                out.push_str("  inputs:\n");
                for i in w["inputs"].as_array().into_iter().flatten() {
                    let ty = match &i["type"] {
                        Value::String(s) => s.clone(),
                        Value::Null => "any".into(),
                        other => other.to_string(),
                    };
                    let req = if i["required"] == Value::Bool(true) {
                        "required"
                    } else {
                        "optional"
                    };
                    out.push_str(&format!(
                        "    {} ({ty}, {req})",
                        i["name"].as_str().unwrap_or("")
                    ));
                    if let Some(d) = i["description"].as_str() {
                        out.push_str(&format!(
                            " - {}",
                            d.split_whitespace().collect::<Vec<_>>().join(" ")
                        ));
                    }
                    if let Some(env) = i["env"].as_str() {
                        out.push_str(&format!("  [env {env}]"));
                    }
                    out.push('\n');
                }
                let outs: Vec<&str> = w["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                out.push_str(&format!(
                    "  outputs: {}\n\n",
                    if outs.is_empty() {
                        "none".to_string()
                    } else {
                        outs.join(", ")
                    }
                ));
            }
            printer.out(&out);
        }
    }
    Ok(exit::SUCCEEDED)
}

fn show_command(args: ShowArgs, printer: &Printer) -> Result<u8, Problem> {
    let (url, _) = locate(
        args.file.as_deref(),
        Some(args.workflow.clone()),
        args.documents.max_document_size,
    )?;
    let fetcher = document_fetcher(args.documents.max_document_size)?;
    let rt = runtime()?;
    let loaded = rt
        .block_on(document::load(url, &fetcher))
        .map_err(|e| Problem::load(e, exit::DOCUMENT))?;
    pick_workflow(&loaded, Some(args.workflow.clone()))?;
    let program = compile(&loaded, &args.workflow).map_err(|errors| compile_problem(&errors))?;
    let wf = program.entry();
    let steps: Vec<Value> = wf
        .steps
        .iter()
        .map(|s| {
            let (method, path) = s.describe(&program);
            let operation = match &s.target {
                crate::compile::StepTarget::Operation(c) => c.operation.operation_id.clone(),
                crate::compile::StepTarget::Workflow { .. } => None,
            };
            let mut reads: Vec<String> = s
                .expressions()
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        crate::expr::Expr::Inputs { .. }
                            | crate::expr::Expr::Steps { .. }
                            | crate::expr::Expr::Workflows { .. }
                    )
                })
                .map(|e| e.to_string())
                .collect();
            reads.dedup();
            let mut seen = std::collections::BTreeSet::new();
            reads.retain(|r| seen.insert(r.clone()));
            serde_json::json!({
                "stepId": s.step_id,
                "operationId": operation,
                "method": method,
                "path": path,
                "reads": reads,
                "produces": s.outputs.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            })
        })
        .collect();
    match args.output {
        OutputFormat::Json => printer.out_json(serde_json::json!({
            "workflowId": wf.workflow_id,
            "summary": wf.summary,
            "steps": steps,
            "outputs": wf.outputs.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        })),
        OutputFormat::Human => {
            let mut out = format!("{}\n", wf.workflow_id);
            if let Some(s) = &wf.summary {
                out.push_str(&format!("  {s}\n"));
            }
            for (i, s) in steps.iter().enumerate() {
                out.push_str(&format!(
                    "\n{}. {}  {} {}{}\n",
                    i + 1,
                    s["stepId"].as_str().unwrap_or(""),
                    s["method"].as_str().unwrap_or(""),
                    s["path"].as_str().unwrap_or(""),
                    match s["operationId"].as_str() {
                        Some(o) if !o.is_empty() => format!("  ({o})"),
                        _ => String::new(),
                    }
                ));
                let reads: Vec<&str> = s["reads"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if !reads.is_empty() {
                    out.push_str(&format!("   reads:    {}\n", reads.join(", ")));
                }
                let prod: Vec<&str> = s["produces"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if !prod.is_empty() {
                    out.push_str(&format!("   produces: {}\n", prod.join(", ")));
                }
            }
            let outs: Vec<&String> = wf.outputs.iter().map(|(k, _)| k).collect();
            if !outs.is_empty() {
                out.push_str(&format!(
                    "\noutputs: {}\n",
                    outs.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            printer.out(&out);
        }
    }
    Ok(exit::SUCCEEDED)
}
