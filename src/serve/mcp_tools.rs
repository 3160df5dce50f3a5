//! The server of `arazzo mcp`: workflows as MCP tools, one tool per workflow, over stdio
//! or streamable HTTP. Everything MCP-specific (the rmcp SDK) stays in this module.
//!
//! The engine's futures are not `Send`, while rmcp wants `Send` handlers, so runs
//! happen on a local task set: the handler only forwards each call as a [`Job`]
//! and waits for its result. Calls run concurrently on that set.
//!
//! Inputs the operator supplies at start-up (`-i`, `--inputs`, the environment)
//! are filled in by the server, removed from the tools' input schemas and treated
//! as secrets: their values are masked in every result, error and log line.

use std::collections::BTreeSet;
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

use crate::compile::{Program, StepTarget};
use crate::document::Loaded;
use crate::engine::inputs::{self};
use crate::engine::interrupt::Stop;
use crate::engine::outcome::RunReport;
use crate::engine::{self, RunOptions};
use crate::plan;
use crate::redact::Redactor;
use crate::report::human::log_event;
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

/// One served workflow.
pub struct Served {
    pub program: Program,
    pub loaded: Arc<Loaded>,
    /// Inputs the operator supplied, filled in on every call.
    pub fixed: Map<String, Value>,
}

/// Everything checked and loaded, ready for a transport.
pub struct Ready {
    pub tools: Vec<Tool>,
    pub served: Vec<Served>,
    pub client: reqwest::Client,
    /// How each tool call runs; its `stop` stops the server too.
    pub opts: RunOptions,
    /// Whether each call is checked before any request is sent.
    pub preflight: bool,
    /// `--http ADDR`, or stdio.
    pub http: Option<String>,
    /// `--allow-host`: further names accepted in the Host header.
    pub allow_hosts: Vec<String>,
}

/// Serves the tools over stdio or HTTP (`--http`) until the client leaves or a
/// signal stops the server, and decides the exit code.
pub fn serve(ready: Ready, printer: &Printer, rt: tokio::runtime::Runtime) -> Result<u8, Problem> {
    let Ready {
        tools,
        served,
        client,
        opts,
        preflight,
        http,
        allow_hosts,
    } = ready;
    let stop = opts.stop.clone();
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
        preflight,
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
        match &http {
            None => serve_stdio(handler, &stop_for_stdio, stopped).await,
            Some(addr) => serve_http(handler, addr, &allow_hosts, printer, stopped).await,
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

/// Names MCP clients accept everywhere: `[A-Za-z0-9_.-]{1,128}`.
pub fn valid_tool_name(name: &str) -> bool {
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
pub fn tool_for(s: &Served) -> Tool {
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
            // Publishing a message changes something and repeating it sends it
            // again (like POST); waiting for one reads (like GET).
            StepTarget::Message(m) => Some(
                match m.action {
                    crate::compile::MessageAction::Send => "POST",
                    crate::compile::MessageAction::Receive => "GET",
                }
                .to_string(),
            ),
            StepTarget::Workflow { .. } => None,
        })
        .collect();
    // QUERY (OpenAPI 3.2) is safe; a custom method is assumed to be neither
    // read-only nor idempotent.
    let read_only = methods
        .iter()
        .all(|m| m == "GET" || m == "HEAD" || m == "QUERY");
    let destructive = methods.contains("DELETE");
    let idempotent = methods
        .iter()
        .all(|m| crate::engine::resume::IDEMPOTENT.contains(&m.as_str()));
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
                        plan::list_problems(&problems)
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
