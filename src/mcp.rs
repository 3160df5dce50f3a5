//! `arazzo mcp`: serves workflows as MCP tools, one tool per workflow, over stdio
//! or streamable HTTP. Everything MCP-specific (the rmcp SDK) stays in this module.
//!
//! The engine's futures are not `Send`, while rmcp wants `Send` handlers, so runs
//! happen on a local task set: the handler only forwards each call as a [`Job`]
//! and waits for its result. Calls run concurrently on that set.
//!
//! Inputs the operator supplies at start-up (`-i`, `--inputs`, the environment)
//! are filled in by the server, removed from the tools' input schemas and treated
//! as secrets: their values are masked in every result, error and log line.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerInfo, Tool, ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};
use url::Url;

use crate::cli::McpArgs;
use crate::commands;
use crate::compile::{compile, Program, StepTarget};
use crate::document::{self, Loaded};
use crate::engine::inputs::{self, InputSources};
use crate::engine::interrupt::Stop;
use crate::engine::outcome::RunReport;
use crate::engine::{self, RunOptions};
use crate::http::ClientOptions;
use crate::plan;
use crate::redact::Redactor;
use crate::report::human::log_event;
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

/// One served workflow.
struct Served {
    program: Program,
    loaded: Arc<Loaded>,
    /// Inputs the operator supplied, filled in on every call.
    fixed: Map<String, Value>,
}

/// Runs `arazzo mcp` until the client disconnects (stdio) or the process is
/// interrupted (HTTP).
pub fn command(args: McpArgs, printer: &Printer) -> Result<u8, Problem> {
    // Flags first: nothing is loaded when the command line is wrong.
    let flags = check_flags(&args, printer)?;
    let files = document_files(&args)?;
    let client_opts = ClientOptions {
        timeout: Duration::from_secs_f64(args.timeout),
        max_document_size: args.documents.max_document_size,
        ..ClientOptions::default()
    };
    let client = crate::http::client(&client_opts).map_err(|m| Problem::document(m, None))?;
    let fetcher =
        crate::http::fetch_client(&client_opts).map_err(|m| Problem::document(m, None))?;
    let rt = commands::runtime()?;

    // Load and compile every workflow to serve.
    let wanted: BTreeSet<&str> = args.tools.iter().map(|t| t.trim()).collect();
    let found = load_workflows(&files, &wanted, &fetcher, &rt)?;
    check_selection(&wanted, &found, &flags.servers)?;

    let (served, used) = fill_operator_inputs(found.picked, &flags, !args.no_preflight, printer)?;
    let tools: Vec<Tool> = served.iter().map(tool_for).collect();
    announce(&tools, &used, printer);
    let ready = Ready {
        tools,
        served,
        client,
        servers: flags.servers,
        stop: flags.stop,
    };
    serve(ready, &args, printer, rt)
}

/// What the command line gives before any document is loaded.
struct Flags {
    /// `-i NAME=VALUE`, in the order given.
    cli_inputs: Vec<(String, String)>,
    /// `--inputs FILE`, read.
    file_inputs: Option<Map<String, Value>>,
    servers: HashMap<String, Url>,
    stop: Stop,
}

/// Checks the flags and reads the inputs file, so that nothing is loaded when
/// the command line is wrong. Starts listening for signals (not yet armed).
fn check_flags(args: &McpArgs, printer: &Printer) -> Result<Flags, Problem> {
    let cli_inputs: Vec<(String, String)> =
        commands::parse_pairs(&args.inputs, "-i", "NAME=VALUE")?
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let servers = parse_servers(&args.servers)?;
    commands::register_url_secrets(&servers, &printer.redactor);
    check_seconds("--timeout", Some(args.timeout))?;
    check_seconds("--max-duration", args.max_duration)?;
    commands::check_stopping(&args.stopping)?;
    let stop = Stop::listen(Duration::from_secs_f64(args.stopping.grace_period));
    if args.http.is_none()
        && args
            .inputs_file
            .as_deref()
            .is_some_and(crate::read::stdin::is_dash)
    {
        return Err(Problem::usage(
            "--inputs - cannot read standard input: over stdio, standard input carries the MCP messages",
            Some("put the inputs in a file, or serve with --http ADDR".into()),
        ));
    }
    let file_inputs = match &args.inputs_file {
        Some(path) => Some(commands::read_inputs_file(
            path,
            args.documents.max_document_size,
        )?),
        None => None,
    };
    Ok(Flags {
        cli_inputs,
        file_inputs,
        servers,
        stop,
    })
}

/// The documents to serve: the paths given (default `./workflows`), with
/// directories expanded.
fn document_files(args: &McpArgs) -> Result<Vec<PathBuf>, Problem> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("workflows")]
    } else {
        args.paths.clone()
    };
    crate::check::expand_paths(&paths, args.documents.max_document_size).map_err(|m| {
        Problem::usage(
            m,
            Some("pass Arazzo documents or directories holding them".into()),
        )
    })
}

/// A workflow picked to serve, compiled, before the operator's inputs are
/// filled in.
struct Candidate {
    program: Program,
    loaded: Arc<Loaded>,
    /// The document it came from, as shown in messages.
    file: String,
}

/// What the documents define.
struct Found {
    /// Every workflow id, picked or not (for `--tools` messages).
    all_ids: Vec<String>,
    /// The workflows `--tools` picked (all of them without `--tools`).
    picked: Vec<Candidate>,
}

/// Loads every document and compiles the workflows `--tools` picks. Two
/// documents defining the same workflow id is an error, as tool names must be
/// unique.
fn load_workflows(
    files: &[PathBuf],
    wanted: &BTreeSet<&str>,
    fetcher: &crate::http::Fetcher,
    rt: &tokio::runtime::Runtime,
) -> Result<Found, Problem> {
    let mut all_ids: Vec<String> = Vec::new();
    let mut picked: Vec<Candidate> = Vec::new();
    for f in files {
        let url = crate::read::location_to_url(&f.to_string_lossy())
            .map_err(|e| Problem::usage(e.message, e.help))?;
        let loaded = Arc::new(
            rt.block_on(document::load(url, fetcher))
                .map_err(|e| Problem::load(e, exit::DOCUMENT))?,
        );
        for w in &loaded.entry().doc.workflows {
            let id = &w.workflow_id;
            if let Some(other) = picked.iter().find(|c| &c.program.entry().workflow_id == id) {
                return Err(Problem::usage(
                    format!(
                        "two documents define the workflow `{id}`: {} and {}",
                        other.file,
                        f.display()
                    ),
                    Some("serve one of them, or leave one out with --tools".into()),
                ));
            }
            all_ids.push(id.clone());
            if !wanted.is_empty() && !wanted.contains(id.as_str()) {
                continue;
            }
            let program = compile(&loaded, id).map_err(|e| commands::compile_problem(&e))?;
            picked.push(Candidate {
                program,
                loaded: Arc::clone(&loaded),
                file: f.display().to_string(),
            });
        }
    }
    Ok(Found { all_ids, picked })
}

/// Checks that `--tools` and `--server` name what the documents define, and
/// that something is left to serve.
fn check_selection(
    wanted: &BTreeSet<&str>,
    found: &Found,
    servers: &HashMap<String, Url>,
) -> Result<(), Problem> {
    for t in wanted {
        if !found.all_ids.iter().any(|id| id == t) {
            return Err(Problem::usage(
                format!("--tools names `{t}`, which no served document defines"),
                Some(if found.all_ids.is_empty() {
                    "no workflows were found".into()
                } else {
                    format!("workflows: {}", found.all_ids.join(", "))
                }),
            ));
        }
    }
    if found.picked.is_empty() {
        return Err(Problem::usage(
            "no workflows to serve",
            Some("pass Arazzo documents or directories holding them (default ./workflows)".into()),
        ));
    }
    for source in servers.keys() {
        if !found
            .picked
            .iter()
            .any(|c| c.program.source_names.iter().any(|s| s == source))
        {
            let mut names: Vec<&str> = found
                .picked
                .iter()
                .flat_map(|c| c.program.source_names.iter().map(String::as_str))
                .collect();
            names.sort();
            names.dedup();
            return Err(Problem::usage(
                format!("--server names the source `{source}`, which no served document describes"),
                Some(format!("source descriptions: {}", names.join(", "))),
            ));
        }
    }
    Ok(())
}

/// The operator's inputs, per workflow: each takes the ones it declares. Also
/// returns the names of the inputs some workflow took; an input none takes is
/// an error (likely a typo).
fn fill_operator_inputs(
    picked: Vec<Candidate>,
    flags: &Flags,
    preflight: bool,
    printer: &Printer,
) -> Result<(Vec<Served>, BTreeSet<String>), Problem> {
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut served = Vec::new();
    for candidate in picked {
        let one = fill_workflow_inputs(candidate, flags, preflight, printer)?;
        used.extend(one.fixed.keys().cloned());
        served.push(one);
    }
    let given = flags
        .cli_inputs
        .iter()
        .map(|(k, _)| k)
        .chain(flags.file_inputs.iter().flat_map(|m| m.keys()));
    for name in given {
        if !used.contains(name) {
            return Err(Problem::usage(
                format!("the input `{name}` is not taken by any served workflow"),
                Some(describe_served(&served)),
            ));
        }
    }
    Ok((served, used))
}

/// Gathers the operator's inputs one workflow declares (registering them as
/// secrets) and, unless `--no-preflight`, refuses a workflow whose own literal
/// values break its operations' schemas.
fn fill_workflow_inputs(
    candidate: Candidate,
    flags: &Flags,
    preflight: bool,
    printer: &Printer,
) -> Result<Served, Problem> {
    let Candidate {
        program, loaded, ..
    } = candidate;
    let env = |name: &str| std::env::var(name).ok();
    let wf = program.entry();
    let declared = wf.declared_inputs();
    let cli: Vec<(String, String)> = flags
        .cli_inputs
        .iter()
        .filter(|(k, _)| declared.contains(&k.as_str()))
        .cloned()
        .collect();
    let file = flags.file_inputs.as_ref().map(|m| {
        m.iter()
            .filter(|(k, _)| declared.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Map<String, Value>>()
    });
    let fixed = inputs::gather(
        &wf.workflow_id,
        wf.inputs_schema.as_ref(),
        InputSources {
            cli: &cli,
            file,
            env: &env,
        },
    );
    commands::register_secrets(&program, &cli, fixed.as_ref().ok(), &printer.redactor);
    let fixed = fixed.map_err(|e| {
        Problem::usage(
            format!("workflow `{}`: {}", wf.workflow_id, e.message),
            Some(e.help),
        )
    })?;
    if preflight {
        let literal = plan::check_literals(&program);
        if !literal.is_empty() {
            return Err(Problem::document(
                format!(
                    "workflow `{}`: the document's own values break the operation's schema",
                    wf.workflow_id
                ),
                Some(format!(
                    "{}\nfix the document, or leave the workflow out with --tools",
                    commands::list_problems(&literal)
                )),
            ));
        }
    }
    Ok(Served {
        program,
        loaded,
        fixed,
    })
}

/// Warns about tool names clients may refuse and, unless quiet, says which
/// tools are served and which inputs the server fills in.
fn announce(tools: &[Tool], used: &BTreeSet<String>, printer: &Printer) {
    for t in tools {
        if !valid_tool_name(&t.name) {
            printer.err(&format!(
                "warning: the tool name `{}` has characters MCP clients may refuse (use A-Z, a-z, 0-9, `_`, `-`, `.`)\n",
                t.name
            ));
        }
    }
    if !printer.style.quiet {
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        let mut line = format!(
            "arazzo mcp: {} tool{}: {}",
            tools.len(),
            if tools.len() == 1 { "" } else { "s" },
            names.join(", ")
        );
        if !used.is_empty() {
            line.push_str(&format!(
                "; filled in by the server: {}",
                used.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        printer.err(&format!("{line}\n"));
    }
}

/// Everything checked and loaded, ready for a transport.
struct Ready {
    tools: Vec<Tool>,
    served: Vec<Served>,
    client: reqwest::Client,
    servers: HashMap<String, Url>,
    stop: Stop,
}

/// Serves the tools over stdio or HTTP (`--http`) until the client leaves or a
/// signal stops the server, and decides the exit code.
fn serve(
    ready: Ready,
    args: &McpArgs,
    printer: &Printer,
    rt: tokio::runtime::Runtime,
) -> Result<u8, Problem> {
    let Ready {
        tools,
        served,
        client,
        servers,
        stop,
    } = ready;
    let opts = RunOptions {
        servers,
        max_steps: args.max_steps,
        max_response_bytes: args.max_response_size,
        max_duration: args.max_duration.map(Duration::from_secs_f64),
        max_retry_wait: Duration::from_secs_f64(args.stopping.max_retry_wait),
        stop: stop.clone(),
    };
    let (jobs, queue) = mpsc::unbounded_channel();
    let activity = Arc::new(Activity::default());
    let handler = Handler {
        tools: Arc::new(tools),
        jobs,
    };
    let runner = Rc::new(Runner {
        served,
        client,
        opts,
        redactor: printer.redactor.clone(),
        preflight: !args.no_preflight,
        activity: Arc::clone(&activity),
    });

    // From here on tool calls may send requests: a signal drains them.
    stop.arm();
    let local = tokio::task::LocalSet::new();
    let (waiter, drained) = (stop.clone(), Arc::clone(&activity));
    let stop_for_stdio = stop.clone();
    let served = local.block_on(&rt, async move {
        tokio::task::spawn_local(work(runner, queue));
        let stopped = async move {
            waiter.wait().await;
            drained.drained().await;
        };
        match &args.http {
            None => serve_stdio(handler, &stop_for_stdio, stopped).await,
            Some(addr) => serve_http(handler, addr, &args.allow_hosts, printer, stopped).await,
        }
    })?;
    // A stdin reader blocked on a client that keeps the pipe open must not
    // hold the exit.
    rt.shutdown_background();
    // Stopped by a signal: the exit code says so when a tool call was cut short.
    Ok(match stop.requested() {
        Some(signal) if activity.cut.load(Ordering::SeqCst) > 0 => signal.exit_code(),
        _ => served,
    })
}

/// The tool calls running, so that a stop waits for them to be answered.
#[derive(Default)]
struct Activity {
    running: AtomicUsize,
    /// Calls whose run was interrupted.
    cut: AtomicUsize,
    idle: tokio::sync::Notify,
}

impl Activity {
    fn begin(&self) {
        self.running.fetch_add(1, Ordering::SeqCst);
    }

    fn end(&self) {
        if self.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Resolves once no call is running (their answers then being written).
    async fn drained(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.running.load(Ordering::SeqCst) == 0 {
                break;
            }
            idle.await;
        }
        // Let the transport write the last answers before it is closed.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn parse_servers(items: &[String]) -> Result<HashMap<String, Url>, Problem> {
    let mut servers = HashMap::new();
    for (source, url) in commands::parse_pairs(items, "--server", "SOURCE=URL")? {
        servers.insert(source.to_string(), commands::parse_server_url(source, url)?);
    }
    Ok(servers)
}

fn check_seconds(flag: &str, value: Option<f64>) -> Result<(), Problem> {
    match value {
        Some(d) if !(d.is_finite() && d > 0.0 && d <= 1.0e9) => Err(Problem::usage(
            format!("{flag} must be a positive number of seconds (at most 1e9)"),
            None,
        )),
        _ => Ok(()),
    }
}

/// What the served workflows take, for a misnamed operator input.
fn describe_served(served: &[Served]) -> String {
    served
        .iter()
        .map(|s| {
            let wf = s.program.entry();
            let names = wf.declared_inputs();
            if names.is_empty() {
                format!("{} takes no inputs", wf.workflow_id)
            } else {
                format!("{} takes: {}", wf.workflow_id, names.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names MCP clients accept everywhere: `[A-Za-z0-9_.-]{1,128}`.
fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

/// The MCP tool of a served workflow.
fn tool_for(s: &Served) -> Tool {
    let wf = s.program.entry();
    let description = [wf.summary.as_deref(), wf.description.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let schema = input_schema(wf.inputs_schema.as_ref(), &s.fixed);
    let mut tool = Tool::new_with_raw(
        wf.workflow_id.clone(),
        (!description.is_empty()).then_some(description.into()),
        Arc::new(schema),
    );
    let mut props = Map::new();
    for (name, _) in &wf.outputs {
        props.insert(name.clone(), json!({}));
    }
    let mut output = Map::new();
    output.insert("type".into(), json!("object"));
    output.insert("properties".into(), Value::Object(props));
    tool.output_schema = Some(Arc::new(output));
    tool.annotations = Some(annotations(&s.program));
    tool
}

/// The workflow's inputs schema without the inputs the server fills in.
pub fn input_schema(schema: Option<&Value>, fixed: &Map<String, Value>) -> Map<String, Value> {
    let mut out = match schema {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    strip(&mut out, fixed, 0);
    out.entry("type").or_insert_with(|| json!("object"));
    out.entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    out
}

/// Removes the fixed inputs from `properties` and `required`, here and in the
/// `allOf`/`anyOf`/`oneOf` branches.
fn strip(schema: &mut Map<String, Value>, fixed: &Map<String, Value>, depth: usize) {
    if depth > 8 {
        return;
    }
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props.retain(|k, _| !fixed.contains_key(k));
    }
    if let Some(Value::Array(req)) = schema.get_mut("required") {
        req.retain(|r| r.as_str().is_none_or(|r| !fixed.contains_key(r)));
        if req.is_empty() {
            schema.remove("required");
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get_mut(key) {
            for b in branches {
                if let Value::Object(m) = b {
                    strip(m, fixed, depth + 1);
                }
            }
        }
    }
}

/// Hints from the HTTP methods of every step the tool can run, those of called
/// workflows (and dependencies) included.
pub fn annotations(program: &Program) -> ToolAnnotations {
    let methods: BTreeSet<String> = program
        .workflows
        .iter()
        .flat_map(|w| w.steps.iter())
        .filter_map(|s| match &s.target {
            StepTarget::Operation(call) => Some(call.operation.method.to_ascii_uppercase()),
            StepTarget::Workflow { .. } => None,
        })
        .collect();
    let read_only = methods.iter().all(|m| m == "GET" || m == "HEAD");
    let destructive = methods.contains("DELETE");
    let idempotent = !methods.contains("POST") && !methods.contains("PATCH");
    ToolAnnotations::new()
        .read_only(read_only)
        .destructive(destructive)
        .idempotent(idempotent)
        .open_world(true)
}

// ---------------------------------------------------------------------------
// The MCP handler
// ---------------------------------------------------------------------------

/// A tool call handed to the runner.
struct Job {
    tool: usize,
    arguments: Map<String, Value>,
    reply: oneshot::Sender<CallToolResult>,
}

#[derive(Clone)]
struct Handler {
    tools: Arc<Vec<Tool>>,
    jobs: mpsc::UnboundedSender<Job>,
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("arazzo", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Each tool runs an Arazzo workflow: a fixed sequence of API calls. \
                 The result holds the workflow's outputs; a failed run names the failing step.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let Some(tool) = self.tools.iter().position(|t| t.name == request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            ));
        };
        let (reply, result) = oneshot::channel();
        let job = Job {
            tool,
            arguments: request.arguments.unwrap_or_default(),
            reply,
        };
        if self.jobs.send(job).is_err() {
            return Err(ErrorData::internal_error("the runner has stopped", None));
        }
        result
            .await
            .map_err(|_| ErrorData::internal_error("the run was abandoned", None))
    }
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

struct Runner {
    served: Vec<Served>,
    client: reqwest::Client,
    opts: RunOptions,
    redactor: Redactor,
    preflight: bool,
    activity: Arc<Activity>,
}

/// Takes jobs and runs each on its own local task, so calls overlap.
async fn work(runner: Rc<Runner>, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = queue.recv().await {
        let runner = Rc::clone(&runner);
        runner.activity.begin();
        tokio::task::spawn_local(async move {
            let result = runner.call(job.tool, job.arguments).await;
            let _ = job.reply.send(result);
            runner.activity.end();
        });
    }
}

impl Runner {
    async fn call(&self, index: usize, arguments: Map<String, Value>) -> CallToolResult {
        let s = &self.served[index];
        if let Some(signal) = self.opts.stop.requested() {
            let id = &s.program.entry().workflow_id;
            let message = format!(
                "the server is stopping ({}); nothing was sent",
                signal.name()
            );
            return self.refused(id, None, "interrupted", message);
        }
        self.run_call(s, arguments).await
    }

    async fn run_call(&self, s: &Served, arguments: Map<String, Value>) -> CallToolResult {
        let wf = s.program.entry();
        let id = wf.workflow_id.as_str();
        let schema = wf.inputs_schema.as_ref();
        tracing::info!("tool {id}: called");

        let supplied: Vec<&str> = arguments
            .keys()
            .filter(|k| s.fixed.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !supplied.is_empty() {
            return self.refused(
                id,
                None,
                "inputs",
                format!(
                    "{} supplied by the server and cannot be given: {}",
                    if supplied.len() == 1 {
                        "this input is"
                    } else {
                        "these inputs are"
                    },
                    supplied.join(", ")
                ),
            );
        }
        let merged = match inputs::merge_line(id, schema, &s.fixed, arguments, false) {
            Ok(m) => m,
            Err(e) => return self.refused(id, None, "inputs", e.message),
        };
        // Secrets the agent sent are masked too.
        for w in &s.program.workflows {
            for name in &w.secret_inputs {
                if let Some(v) = merged.get(name) {
                    self.redactor.add_value(v);
                }
            }
        }
        let merged = match inputs::finish(id, schema, merged) {
            Ok(m) => m,
            Err(e) => return self.refused(id, None, "inputs", e.message),
        };
        if self.preflight {
            let problems: Vec<plan::PlanProblem> =
                plan::plan(&s.program, &merged, &self.opts, &self.redactor)
                    .into_iter()
                    .flat_map(|p| p.problems)
                    .collect();
            if !problems.is_empty() {
                return self.refused(
                    id,
                    Some(&problems[0].step_id),
                    "preflight",
                    format!(
                        "{} problem{} found before any request was sent, so nothing was sent:\n{}",
                        problems.len(),
                        if problems.len() == 1 { "" } else { "s" },
                        commands::list_problems(&problems)
                    ),
                );
            }
        }
        let report = engine::run(
            &s.program,
            &s.loaded,
            &merged,
            &self.client,
            &self.opts,
            &self.redactor,
            &mut |ev| log_event(&ev),
        )
        .await;
        if report.succeeded() {
            tracing::info!("tool {id}: succeeded in {} ms", report.duration_ms);
            self.succeeded(report)
        } else if report.interrupted() {
            tracing::info!("tool {id}: interrupted after {} ms", report.duration_ms);
            self.activity.cut.fetch_add(1, Ordering::SeqCst);
            self.failed(report)
        } else {
            tracing::info!("tool {id}: failed after {} ms", report.duration_ms);
            self.failed(report)
        }
    }

    fn text(&self, text: &str) -> ContentBlock {
        ContentBlock::text(self.redactor.redact(text).into_owned())
    }

    fn succeeded(&self, report: RunReport) -> CallToolResult {
        let mut outputs = Value::Object(report.outputs);
        self.redactor.redact_value(&mut outputs);
        let text = serde_json::to_string_pretty(&outputs).unwrap_or_default();
        let mut result = CallToolResult::success(vec![self.text(&text)]);
        result.structured_content = Some(outputs);
        result
    }

    fn failed(&self, report: RunReport) -> CallToolResult {
        let mut v = serde_json::to_value(&report).unwrap_or(Value::Null);
        self.redactor.redact_value(&mut v);
        let error = &v["error"];
        let verb = if report.interrupted() {
            "was interrupted"
        } else {
            "failed"
        };
        let mut text = match error["stepId"].as_str() {
            Some(step) => format!(
                "workflow `{}` {verb} at step `{step}` ({}): {}",
                report.workflow_id,
                error["kind"].as_str().unwrap_or(""),
                error["message"].as_str().unwrap_or("")
            ),
            None => format!(
                "workflow `{}` {verb} ({}): {}",
                report.workflow_id,
                error["kind"].as_str().unwrap_or(""),
                error["message"].as_str().unwrap_or("")
            ),
        };
        let done: Vec<&str> = report
            .steps
            .iter()
            .filter(|s| s.status == crate::engine::outcome::Status::Succeeded)
            .map(|s| s.step_id.as_str())
            .collect();
        if !done.is_empty() {
            text.push_str(&format!("\nsteps that succeeded: {}", done.join(", ")));
        }
        if v["outputs"].as_object().is_some_and(|o| !o.is_empty()) {
            text.push_str(&format!(
                "\noutputs known when the run stopped: {}",
                serde_json::to_string(&v["outputs"]).unwrap_or_default()
            ));
        }
        let structured = json!({
            "workflowId": v["workflowId"],
            "status": v["status"],
            "error": v["error"],
            "outputs": v["outputs"],
            "steps": v["steps"],
        });
        let mut result = CallToolResult::error(vec![self.text(&text)]);
        result.structured_content = Some(structured);
        result
    }

    /// A call refused before anything was sent.
    fn refused(
        &self,
        workflow_id: &str,
        step_id: Option<&str>,
        kind: &str,
        message: String,
    ) -> CallToolResult {
        tracing::info!("tool {workflow_id}: refused ({kind})");
        let text = match step_id {
            Some(step) => format!(
                "workflow `{workflow_id}` was not run: {kind} failed at step `{step}`: {message}"
            ),
            None => format!("workflow `{workflow_id}` was not run ({kind}): {message}"),
        };
        let mut structured = json!({
            "workflowId": workflow_id,
            "status": "failed",
            "error": {"stepId": step_id, "kind": kind, "message": message},
            "outputs": {},
            "steps": [],
        });
        self.redactor.redact_value(&mut structured);
        let mut result = CallToolResult::error(vec![self.text(&text)]);
        result.structured_content = Some(structured);
        result
    }
}

// ---------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------

/// Serves over stdin/stdout until the client closes stdin, or until
/// `stopped` (a signal, once the calls running have been answered).
async fn serve_stdio(
    handler: Handler,
    stop: &Stop,
    stopped: impl std::future::Future<Output = ()>,
) -> Result<u8, Problem> {
    tokio::pin!(stopped);
    // A signal during the handshake stops the server too.
    let service = tokio::select! {
        s = handler.serve(rmcp::transport::stdio()) => match s {
            Ok(s) => s,
            // The client went away as the server was stopping.
            Err(_) if stop.requested().is_some() => return Ok(exit::SUCCEEDED),
            Err(e) => {
                return Err(Problem::usage(format!("the MCP session did not start: {e}"), None))
            }
        },
        _ = &mut stopped => return Ok(exit::SUCCEEDED),
    };
    let token = service.cancellation_token();
    tokio::select! {
        r = service.waiting() => {
            r.map_err(|e| Problem::usage(format!("the MCP session failed: {e}"), None))?;
        }
        _ = &mut stopped => token.cancel(),
    }
    Ok(exit::SUCCEEDED)
}

async fn serve_http(
    handler: Handler,
    addr: &str,
    allow_hosts: &[String],
    printer: &Printer,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<u8, Problem> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Problem::usage(
            format!("cannot listen on `{addr}`: {e}"),
            Some("give --http an address and port, e.g. 127.0.0.1:9090".into()),
        )
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| Problem::usage(format!("cannot listen on `{addr}`: {e}"), None))?;
    // The Host header is checked against these (DNS rebinding protection).
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !local.ip().is_unspecified() {
        hosts.push(local.ip().to_string());
    }
    hosts.extend(allow_hosts.iter().cloned());
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts);
    let stop = config.cancellation_token.clone();
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new().route_service("/mcp", service);
    if !printer.style.quiet {
        let shown = if local.is_ipv6() {
            format!("[{}]:{}", local.ip(), local.port())
        } else {
            local.to_string()
        };
        printer.err(&format!(
            "arazzo mcp: listening on http://{shown}/mcp (streamable HTTP)\n"
        ));
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            stopped.await;
            stop.cancel();
        })
        .await
        .map_err(|e| Problem::usage(format!("the HTTP server failed: {e}"), None))?;
    Ok(exit::SUCCEEDED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_inputs_leave_the_schema() {
        let schema = json!({
            "type": "object",
            "required": ["apiKey", "userId"],
            "properties": {"apiKey": {"type": "string"}, "userId": {"type": "string"}},
            "allOf": [{"required": ["apiKey"], "properties": {"apiKey": {}}}],
        });
        let mut fixed = Map::new();
        fixed.insert("apiKey".into(), json!("k"));
        let out = Value::Object(input_schema(Some(&schema), &fixed));
        assert_eq!(out["required"], json!(["userId"]));
        assert_eq!(out["properties"], json!({"userId": {"type": "string"}}));
        assert_eq!(out["allOf"], json!([{"properties": {}}]));
    }

    #[test]
    fn a_workflow_without_inputs_takes_an_empty_object() {
        let out = Value::Object(input_schema(None, &Map::new()));
        assert_eq!(out, json!({"type": "object", "properties": {}}));
    }

    #[test]
    fn tool_names() {
        assert!(valid_tool_name("provision-mcp-server"));
        assert!(!valid_tool_name("has space"));
        assert!(!valid_tool_name(""));
    }
}
