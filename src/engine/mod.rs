//! The run loop: steps in order, each request built from the current state, its
//! response checked against successCriteria, its outputs recorded. The engine never
//! prints; it reports through [`Event`]s and returns a [`RunReport`].
//!
//! Here: the run's options, events and evaluation context, and the run as a
//! whole. `run_loop` runs a workflow (its dependencies, then its steps as their
//! actions order them); `attempt` makes one attempt at a step; `next_step`
//! chooses what follows it. `request` builds an HTTP request and `send` sends
//! it, behind the one call `attempt` makes to the transport. Beside them:
//! [`inputs`] (gathering and checking a run's inputs), [`interrupt`] (signals),
//! [`resume`] (continuing an earlier run) and [`outcome`] (the run report).

mod attempt;
mod credentials;
pub mod inputs;
pub mod interrupt;
pub mod message;
mod next_step;
pub mod outcome;
mod prefetch;
pub mod request;
pub mod resume;
mod run_loop;
pub mod send;
mod step_graph;

use std::borrow::Cow;
use std::cell::{Cell, Ref, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use url::Url;

use crate::compile::{CompiledCriterion, CompiledWorkflow, CriterionCheck, OperationCall, Program};
use crate::document::{Loaded, SourceRef};
use crate::engine::interrupt::{Signal, Stop};
use crate::engine::outcome::{ErrorKind, RunError, RunReport, Status, StepReport};
use crate::expr::{apply_pointer, Expr, Resolve, WorkflowPart};
use crate::redact::Redactor;
use request::BuiltRequest;

/// Largest response body read by default (10 MiB).
pub const DEFAULT_MAX_RESPONSE: usize = 10 * 1024 * 1024;

pub struct RunOptions {
    /// Base URL per source description name, replacing the OpenAPI servers.
    pub servers: HashMap<String, Url>,
    pub max_response_bytes: usize,
    /// Most step executions (attempts included) one run may make.
    pub max_steps: usize,
    /// Longest the whole run may take (`--max-duration`).
    pub max_duration: Option<Duration>,
    /// Longest wait before a retry (`--max-retry-wait`): a server asking for
    /// more (`Retry-After`) fails the step instead of hanging the run.
    pub max_retry_wait: Duration,
    /// Set by SIGINT/SIGTERM: no new requests, a request in flight gets the
    /// stop's grace period, then the run ends as interrupted.
    pub stop: Stop,
    /// Most steps of one workflow run at once when its steps run as a graph
    /// (Arazzo 1.1 `dependsOn`); `--max-parallel`.
    pub max_parallel: usize,
    /// The credentials supplied and the tokens fetched with them, shared by
    /// every run of a batch or an MCP server.
    pub auth: std::sync::Arc<crate::auth::Auth>,
    /// Longest a message step waits for a broker (to connect, to take a message)
    /// and, when the step gives no `timeout`, for the message it receives
    /// (`--timeout`).
    pub message_timeout: Duration,
}

/// Default `--max-parallel`.
pub const DEFAULT_MAX_PARALLEL: usize = 8;

/// Default `--max-retry-wait`.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// How deep workflows may call workflows.
const MAX_NESTING: usize = 32;

/// Default step budget.
pub const DEFAULT_MAX_STEPS: usize = 1000;

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            servers: HashMap::new(),
            max_response_bytes: DEFAULT_MAX_RESPONSE,
            max_steps: DEFAULT_MAX_STEPS,
            max_duration: None,
            max_retry_wait: DEFAULT_MAX_RETRY_WAIT,
            stop: Stop::default(),
            max_parallel: DEFAULT_MAX_PARALLEL,
            auth: Default::default(),
            message_timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// What happens during a run, for live displays.
#[derive(Debug)]
pub enum Event<'a> {
    StepStarted {
        step_id: &'a str,
        method: &'a str,
        path: &'a str,
        /// 0 for the entry workflow, more inside called workflows.
        depth: usize,
    },
    StepFinished {
        report: &'a StepReport,
        depth: usize,
    },
    /// One HTTP exchange (for traces and logs).
    Exchange {
        workflow_id: &'a str,
        step_id: &'a str,
        attempt: u32,
        request: &'a BuiltRequest,
        response: Option<&'a Received>,
        error: Option<&'a str>,
        /// The redirects followed (or refused), in order.
        redirects: &'a [send::Hop],
        /// When the request was sent, from the start of the run.
        started_ms: u64,
        duration_ms: u64,
    },
    /// A message a message step sent or received, or tried to (for traces and logs).
    Message {
        workflow_id: &'a str,
        step_id: &'a str,
        attempt: u32,
        /// The broker and channel address.
        url: &'a str,
        message: Option<&'a message::Message>,
        error: Option<&'a str>,
        started_ms: u64,
        duration_ms: u64,
    },
}

/// A received response.
#[derive(Debug, Clone)]
pub struct Received {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as JSON, or as text when it is not JSON.
    pub body: Value,
    /// Why the body could not be read as its content type says (invalid JSON,
    /// HTML where JSON was declared, …): every expression into the body is then
    /// an error with this reason rather than an undefined value.
    pub body_error: Option<String>,
}

/// What a finished workflow leaves for `$workflows.<id>.…` expressions.
#[derive(Debug, Clone, Default)]
struct Finished {
    inputs: Map<String, Value>,
    outputs: Map<String, Value>,
    succeeded: bool,
}

/// The evaluation context of one step: the workflow state plus the step's own
/// request and response (or, for a step that called a workflow, its outputs).
struct Ctx<'a> {
    /// The running workflow's id (`$workflows.<it>.inputs` reads `inputs`).
    workflow_id: &'a str,
    inputs: &'a Map<String, Value>,
    step_outputs: &'a HashMap<String, Map<String, Value>>,
    finished: Ref<'a, HashMap<String, Finished>>,
    /// `$outputs`: the workflow's own outputs, or the called workflow's inside a
    /// step that calls one.
    outputs: Option<&'a Map<String, Value>>,
    request: Option<&'a BuiltRequest>,
    response: Option<&'a Received>,
    /// The message a message step sent or received.
    message: Option<&'a message::Message>,
    doc_url: &'a str,
    source_urls: &'a [(String, String)],
    /// Why each step output that resolved to nothing did, by step and output.
    unresolved: Ref<'a, HashMap<String, HashMap<String, String>>>,
    /// When `--max-duration` runs out.
    deadline: Option<Instant>,
}

impl Ctx<'_> {
    /// Why `expr` resolved to nothing here, as a phrase that follows the
    /// expression (`found nothing at `/id``).
    fn why_nothing(&self, expr: &Expr) -> String {
        let at = |v: &Value, p: &Option<crate::expr::Pointer>| match p
            .as_ref()
            .and_then(|p| p.first_missing(v))
        {
            Some(prefix) => format!("found nothing at `{prefix}`"),
            None => "found nothing".to_string(),
        };
        let no_response = "has no response to read (the step sent no request or got no answer)";
        let no_message = "has no message to read (only a message step sends or receives one)";
        match expr {
            Expr::MessagePayload(p) => match self.message {
                None => no_message.to_string(),
                Some(m) => match &m.payload_error {
                    Some(e) => format!("cannot be read: {e}"),
                    None => at(&m.payload, p),
                },
            },
            Expr::MessageHeader(h) => match self.message {
                None => no_message.to_string(),
                Some(_) => format!("found no `{h}` header in the message"),
            },
            Expr::ResponseBody(p) => match self.response {
                None => no_response.to_string(),
                Some(r) => match &r.body_error {
                    Some(e) => format!("cannot be read: {e}"),
                    None if r.body.is_null() => "found an empty response body".to_string(),
                    None => at(&r.body, p),
                },
            },
            Expr::ResponseHeader(h) => match self.response {
                None => no_response.to_string(),
                Some(_) => format!("found no `{h}` header in the response"),
            },
            Expr::StatusCode => no_response.to_string(),
            Expr::Url
            | Expr::Method
            | Expr::RequestHeader(_)
            | Expr::RequestQuery(_)
            | Expr::RequestPath(_) => match self.request {
                None => "has no request to read (the step sent none)".to_string(),
                Some(_) => "found nothing in the request".to_string(),
            },
            Expr::RequestBody(p) => match self.request.and_then(|r| r.body.as_ref()) {
                None => "found no request body".to_string(),
                Some(b) => at(b, p),
            },
            Expr::Inputs { name, pointer } => match self.inputs.get(name) {
                None => format!("found no input `{name}` (it was not given)"),
                Some(v) => at(v, pointer),
            },
            Expr::Outputs { name, pointer } => match self.outputs.and_then(|o| o.get(name)) {
                None => format!("found no output `{name}`"),
                Some(v) => at(v, pointer),
            },
            Expr::Steps {
                step,
                output,
                pointer,
            } => match self.step_outputs.get(step) {
                None => format!("reads step `{step}`, which has not run"),
                Some(outs) => match outs.get(output) {
                    Some(v) => at(v, pointer),
                    None => format!("reads output `{output}`, which step `{step}` did not produce"),
                },
            },
            Expr::Workflows {
                workflow,
                part,
                name,
                pointer,
            } if workflow == self.workflow_id && *part == WorkflowPart::Inputs => {
                match self.inputs.get(name) {
                    None => format!("found no input `{name}` (it was not given)"),
                    Some(v) => at(v, pointer),
                }
            }
            Expr::Workflows {
                workflow,
                part,
                name,
                pointer,
            } => match self.finished.get(workflow) {
                None => format!("reads workflow `{workflow}`, which has not finished in this run"),
                Some(f) => {
                    let map = match part {
                        WorkflowPart::Inputs => &f.inputs,
                        WorkflowPart::Outputs => &f.outputs,
                    };
                    match map.get(name) {
                        Some(v) => at(v, pointer),
                        None => {
                            format!("reads `{name}`, which workflow `{workflow}` does not have")
                        }
                    }
                }
            },
            Expr::SelfUri | Expr::SourceDescriptions { .. } | Expr::Components { .. } => {
                "has no value at run time".to_string()
            }
        }
    }

    /// The body error of the response, when `exprs` read its body.
    fn body_error<'e>(&self, mut exprs: impl Iterator<Item = &'e Expr>) -> Option<&str> {
        let e = self.response?.body_error.as_deref()?;
        exprs
            .any(|x| matches!(x, Expr::ResponseBody(_)))
            .then_some(e)
    }
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Resolve for Ctx<'_> {
    fn resolve(&self, expr: &Expr) -> Option<Cow<'_, Value>> {
        let owned = |v: Value| Some(Cow::Owned(v));
        match expr {
            Expr::Url => owned(Value::String(self.request?.url.clone())),
            Expr::Method => owned(Value::String(self.request?.method.clone())),
            Expr::StatusCode => owned(Value::from(self.response?.status)),
            Expr::RequestHeader(h) => owned(Value::String(
                header(&self.request?.headers, h)?.to_string(),
            )),
            Expr::RequestQuery(q) => self.request?.query_params.get(q).map(Cow::Borrowed),
            Expr::RequestPath(p) => self.request?.path_params.get(p).map(Cow::Borrowed),
            Expr::RequestBody(p) => apply_pointer(self.request?.body.as_ref()?, p),
            Expr::ResponseHeader(h) => owned(Value::String(
                header(&self.response?.headers, h)?.to_string(),
            )),
            Expr::ResponseBody(p) => {
                let r = self.response?;
                if r.body_error.is_some() {
                    return None;
                }
                apply_pointer(&r.body, p)
            }
            Expr::MessageHeader(h) => {
                let m = self.message?;
                let v = m
                    .headers
                    .iter()
                    .find(|(k, _)| k == h)
                    .or_else(|| m.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(h)))?;
                owned(Value::String(v.1.clone()))
            }
            Expr::MessagePayload(p) => {
                let m = self.message?;
                if m.payload_error.is_some() {
                    return None;
                }
                apply_pointer(&m.payload, p)
            }
            Expr::Inputs { name, pointer } => apply_pointer(self.inputs.get(name)?, pointer),
            Expr::Outputs { name, pointer } => apply_pointer(self.outputs?.get(name)?, pointer),
            Expr::Steps {
                step,
                output,
                pointer,
            } => apply_pointer(self.step_outputs.get(step)?.get(output)?, pointer),
            Expr::Workflows {
                workflow,
                part,
                name,
                pointer,
            } => {
                // 1.1: `$workflows.<id>.inputs.<name>` is another form of
                // `$inputs.<name>` in the running workflow.
                if workflow == self.workflow_id && *part == WorkflowPart::Inputs {
                    return apply_pointer(self.inputs.get(name)?, pointer);
                }
                let f = self.finished.get(workflow)?;
                let map = match part {
                    WorkflowPart::Inputs => &f.inputs,
                    WorkflowPart::Outputs => &f.outputs,
                };
                apply_pointer(map.get(name)?, pointer)
            }
            Expr::SelfUri => owned(Value::String(self.doc_url.to_string())),
            Expr::SourceDescriptions { name, rest } => {
                if rest == "url" {
                    return self
                        .source_urls
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, u)| Cow::Owned(Value::String(u.clone())));
                }
                None
            }
            Expr::Components { .. } => None,
        }
    }

    fn missing(&self, expr: &Expr) -> Option<String> {
        // Only an optional input that was not given at all may drop a field.
        let own_input = match expr {
            Expr::Inputs { name, .. } => Some(name),
            Expr::Workflows {
                workflow,
                part: WorkflowPart::Inputs,
                name,
                ..
            } if workflow == self.workflow_id => Some(name),
            _ => None,
        };
        if own_input.is_some_and(|name| !self.inputs.contains_key(name)) {
            return None;
        }
        // A step output that resolved to nothing: say why it did.
        if let Expr::Steps { step, output, .. } = expr {
            let outs = self.step_outputs.get(step);
            if outs.is_some_and(|o| !o.contains_key(output)) {
                if let Some(why) = self.unresolved.get(step).and_then(|m| m.get(output)) {
                    return Some(format!("`{expr}` is undefined: {why}"));
                }
            }
        }
        Some(format!(
            "`{expr}` is undefined: it {}",
            self.why_nothing(expr)
        ))
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// The result of running one workflow.
struct WorkflowRun {
    succeeded: bool,
    outputs: Map<String, Value>,
    steps: Vec<StepReport>,
    error: Option<RunError>,
}

/// One attempt at a step.
struct Attempt {
    report: StepReport,
    error: Option<RunError>,
    request: Option<BuiltRequest>,
    response: Option<Received>,
    /// The message a message step sent or received.
    message: Option<message::Message>,
    /// Outputs of the workflow a step called.
    called_outputs: Option<Map<String, Value>>,
    /// Step reports of the workflow a step called.
    nested: Vec<StepReport>,
}

/// The workflow whose steps are running, as each of its steps sees it.
#[derive(Clone, Copy)]
struct Frame<'f> {
    /// The workflow's index in the program.
    index: usize,
    inputs: &'f Map<String, Value>,
    /// How deep in workflow calls it runs (0 for the entry workflow).
    depth: usize,
    /// The 1.1 `timeout` of the step this frame runs inside (a step's own,
    /// or that of a step that called this workflow), when it has one.
    limit: Option<StepLimit>,
}

/// When a step with a 1.1 `timeout` must be done: its requests, retry waits
/// and the workflow it calls all end by then.
#[derive(Clone, Copy)]
struct StepLimit {
    at: Instant,
    timeout: Duration,
    /// The step whose timeout it is: (workflow index, step index).
    step: (usize, usize),
}

impl<'f> Frame<'f> {
    /// The frame for running step `index` of the frame's workflow: its own
    /// timeout, when it ends before the one it already runs within, starts now.
    fn for_step(self, step: &crate::compile::CompiledStep, index: usize) -> Frame<'f> {
        let Some(timeout) = step.timeout else {
            return self;
        };
        let at = Instant::now() + timeout;
        if self.limit.is_some_and(|l| l.at <= at) {
            return self;
        }
        Frame {
            limit: Some(StepLimit {
                at,
                timeout,
                step: (self.index, index),
            }),
            ..self
        }
    }
}

impl StepLimit {
    fn left(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// The error of step `step_id` that ran out of this limit `when`.
    fn error(&self, program: &Program, step_id: &str, when: &str) -> RunError {
        let owner = &program.workflows[self.step.0].steps[self.step.1].step_id;
        let whose = if owner == step_id {
            "its".to_string()
        } else {
            format!("step `{owner}`'s")
        };
        RunError {
            step_id: Some(step_id.to_string()),
            kind: ErrorKind::Timeout,
            message: format!(
                "step `{step_id}` ran longer than {whose} timeout ({} ms) {when}",
                self.timeout.as_millis()
            ),
        }
    }
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The outputs of steps that ran, by stepId.
pub type StepOutputs = HashMap<String, Map<String, Value>>;

/// Workflows that finished: workflowId → (inputs, outputs).
pub type FinishedWorkflows = HashMap<String, (Map<String, Value>, Map<String, Value>)>;

/// Where a resumed run starts: the state an earlier run left (see `--resume`).
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// The index of the entry workflow's step to start at.
    pub step: usize,
    /// The outputs of the entry workflow's steps that finished.
    pub step_outputs: StepOutputs,
    /// Other workflows that finished (a `dependsOn` workflow among them is not
    /// run again): id → (inputs, outputs).
    pub workflows: FinishedWorkflows,
    /// The earlier run's step reports, put first in this run's report.
    pub carried: Vec<StepReport>,
}

/// Runs a compiled program's entry workflow with checked inputs.
pub async fn run(
    program: &Program,
    loaded: &Loaded,
    inputs: &Map<String, Value>,
    client: &reqwest::Client,
    opts: &RunOptions,
    redactor: &Redactor,
    on_event: &mut dyn FnMut(Event<'_>),
) -> RunReport {
    run_from(
        program, loaded, inputs, client, opts, redactor, on_event, None,
    )
    .await
}

/// Runs the entry workflow, or continues it where `resume` says an earlier run
/// stopped: no request is sent for the steps that finished then.
#[allow(clippy::too_many_arguments)]
pub async fn run_from(
    program: &Program,
    loaded: &Loaded,
    inputs: &Map<String, Value>,
    client: &reqwest::Client,
    opts: &RunOptions,
    redactor: &Redactor,
    on_event: &mut dyn FnMut(Event<'_>),
    resume: Option<Resume>,
) -> RunReport {
    let runner = Runner {
        program,
        client,
        opts,
        redactor,
        on_event: RefCell::new(on_event),
        executed: Cell::new(0),
        started: Instant::now(),
        finished: RefCell::new(HashMap::new()),
        source_urls: source_urls(loaded),
        doc_urls: program.doc_self.clone(),
        interrupted: Cell::new(None),
        resume_at: RefCell::new(None),
        unresolved: RefCell::new(vec![HashMap::new(); program.workflows.len()]),
        running_dependencies: RefCell::new(Vec::new()),
        dependency_done: tokio::sync::Notify::new(),
        messaging: Default::default(),
    };
    let carried = match resume {
        Some(r) => runner.resume(r),
        None => Vec::new(),
    };
    let prefetched = match runner.remaining() {
        Some(left) => tokio::time::timeout(left, runner.prefetch_tokens())
            .await
            .unwrap_or_else(|_| {
                Err(runner.timeout_error(
                    &runner.program.entry().steps[0].step_id,
                    "while fetching an OAuth 2.0 token, before any request was sent",
                ))
            }),
        None => runner.prefetch_tokens().await,
    };
    let run = match prefetched {
        Ok(()) => runner.workflow(0, inputs.clone(), 0, None).await,
        Err(e) => WorkflowRun {
            succeeded: false,
            outputs: Map::new(),
            steps: Vec::new(),
            error: Some(e),
        },
    };
    runner.messaging.close().await;
    runner.report(inputs, run, carried)
}

/// Per document, the URL of each source description by name (for
/// `$sourceDescriptions.<name>.url`).
fn source_urls(loaded: &Loaded) -> Vec<Vec<(String, String)>> {
    loaded
        .docs
        .iter()
        .map(|d| {
            d.sources
                .iter()
                .map(|(n, s)| {
                    let url = match s {
                        SourceRef::OpenApi(api) => api.url.to_string(),
                        SourceRef::Arazzo(i) => loaded.docs[*i].doc.url.to_string(),
                        SourceRef::AsyncApi(api) => api.url.to_string(),
                    };
                    (n.clone(), url)
                })
                .collect()
        })
        .collect()
}

/// `inputs` without the secret ones.
fn without(inputs: &Map<String, Value>, secret: &BTreeSet<&String>) -> Map<String, Value> {
    inputs
        .iter()
        .filter(|(k, _)| !secret.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The state of one run. Steps of a workflow may run concurrently (on one
/// thread, interleaved at their awaits), so the state they share sits in
/// cells; no borrow of one is ever held across an await.
struct Runner<'a, 'e> {
    program: &'a Program,
    client: &'a reqwest::Client,
    opts: &'a RunOptions,
    redactor: &'a Redactor,
    on_event: RefCell<&'e mut dyn FnMut(Event<'_>)>,
    /// Step attempts so far, against `opts.max_steps`.
    executed: Cell<usize>,
    started: Instant,
    /// Workflows that have finished in this run, by workflowId.
    finished: RefCell<HashMap<String, Finished>>,
    source_urls: Vec<Vec<(String, String)>>,
    doc_urls: Vec<String>,
    /// The signal that cut the run short, once a step has seen the stop.
    interrupted: Cell<Option<Signal>>,
    /// Where the entry workflow starts and the outputs it starts with, taken
    /// (once) by its first run.
    resume_at: RefCell<Option<(usize, StepOutputs)>>,
    /// Per workflow: why the step outputs that resolved to nothing did, from
    /// each step's latest attempt (see [`Ctx::missing`]).
    unresolved: RefCell<Vec<HashMap<String, HashMap<String, String>>>>,
    /// `dependsOn` workflows being run now, with the depth each runs at: a
    /// step running at the same time that needs one waits for it rather than
    /// running it twice.
    running_dependencies: RefCell<Vec<(String, usize)>>,
    /// Wakes those waiting when a `dependsOn` workflow finishes.
    dependency_done: tokio::sync::Notify,
    /// Broker connections and the subscriptions opened ahead of receive steps.
    messaging: message::Messaging,
}

/// What the action chosen after an attempt tells the loop to do.
enum Next {
    Continue,
    Jump(usize),
    /// A goto to a workflow: a one-way transfer, with the inputs the
    /// action's 1.1 `parameters` pass.
    Transfer(usize, Map<String, Value>),
    End,
    /// Retry with the failure action at this index.
    Retry(usize),
    /// No action applies to a failure: break and return.
    Stop,
    /// No action applies to a failure because the retry that did would go
    /// past the step's 1.1 `timeout`: the step fails with `kind: timeout`.
    OutOfTime,
}

impl<'a, 'e> Runner<'a, 'e> {
    /// Time left before `--max-duration`, if one is set.
    fn remaining(&self) -> Option<Duration> {
        self.opts
            .max_duration
            .map(|d| d.saturating_sub(self.started.elapsed()))
    }

    fn out_of_time(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }

    fn timeout_error(&self, step_id: &str, when: &str) -> RunError {
        RunError {
            step_id: Some(step_id.to_string()),
            kind: ErrorKind::Timeout,
            message: format!(
                "the run reached --max-duration ({:.1} s) {when}",
                self.opts.max_duration.unwrap_or_default().as_secs_f64()
            ),
        }
    }

    /// The error of a run cut short by `signal` at `step_id`, and the note
    /// that the run was interrupted.
    fn interrupted_error(&self, step_id: &str, signal: Signal, when: &str) -> RunError {
        if self.interrupted.get().is_none() {
            self.interrupted.set(Some(signal));
        }
        RunError {
            step_id: Some(step_id.to_string()),
            kind: ErrorKind::Interrupted,
            message: format!("interrupted by {} {when}", signal.name()),
        }
    }

    /// Takes over the state an earlier run left: the workflows it finished,
    /// and where the entry workflow starts; the step reports it carries.
    fn resume(&self, r: Resume) -> Vec<StepReport> {
        for (id, (inputs, outputs)) in r.workflows {
            self.finished.borrow_mut().insert(
                id,
                Finished {
                    inputs,
                    outputs,
                    succeeded: true,
                },
            );
        }
        *self.resume_at.borrow_mut() = Some((r.step, r.step_outputs));
        r.carried
    }

    /// The report of the run: its status, the entry workflow's outputs and
    /// steps (after those `carried` from an earlier run), and the other
    /// workflows that finished; secret inputs left out.
    fn report(
        &self,
        inputs: &Map<String, Value>,
        run: WorkflowRun,
        mut carried: Vec<StepReport>,
    ) -> RunReport {
        let status = if self.interrupted.get().is_some() {
            Status::Interrupted
        } else if run.succeeded {
            Status::Succeeded
        } else {
            Status::Failed
        };
        let secret: BTreeSet<&String> = self
            .program
            .workflows
            .iter()
            .flat_map(|w| w.secret_inputs.iter())
            .collect();
        let entry = &self.program.entry().workflow_id;
        let workflows = self.other_workflows(entry, &secret);
        carried.extend(run.steps);
        RunReport {
            workflow_id: entry.clone(),
            status,
            outputs: run.outputs,
            steps: carried,
            error: run.error,
            duration_ms: self.started.elapsed().as_millis() as u64,
            inputs: without(inputs, &secret),
            secret_inputs: inputs
                .keys()
                .filter(|k| secret.contains(k))
                .cloned()
                .collect(),
            workflows,
        }
    }

    /// The workflows other than `entry` that finished, with their status,
    /// inputs (without the `secret` ones) and outputs, for the report.
    fn other_workflows(&self, entry: &String, secret: &BTreeSet<&String>) -> Map<String, Value> {
        self.finished
            .borrow()
            .iter()
            .filter(|(id, _)| *id != entry)
            .map(|(id, f)| {
                let value = serde_json::json!({
                    "status": if f.succeeded { "succeeded" } else { "failed" },
                    "inputs": without(&f.inputs, secret),
                    "outputs": f.outputs,
                });
                (id.clone(), value)
            })
            .collect()
    }

    /// The evaluation context of workflow `wf` now: its inputs and step
    /// outputs, with the request and response of `attempt` when there is one.
    fn ctx<'c>(
        &'c self,
        inputs: &'c Map<String, Value>,
        step_outputs: &'c HashMap<String, Map<String, Value>>,
        wf: usize,
        attempt: Option<&'c Attempt>,
    ) -> Ctx<'c> {
        let doc = self.program.workflows[wf].doc;
        Ctx {
            workflow_id: &self.program.workflows[wf].workflow_id,
            unresolved: Ref::map(self.unresolved.borrow(), |u| &u[wf]),
            deadline: self.opts.max_duration.map(|d| self.started + d),
            inputs,
            step_outputs,
            finished: self.finished.borrow(),
            outputs: attempt.and_then(|a| a.called_outputs.as_ref()),
            request: attempt.and_then(|a| a.request.as_ref()),
            response: attempt.and_then(|a| a.response.as_ref()),
            message: attempt.and_then(|a| a.message.as_ref()),
            doc_url: &self.doc_urls[doc],
            source_urls: &self.source_urls[doc],
        }
    }
}

/// Whether a criterion holds; `Err` carries why it could not be evaluated (which
/// counts as not holding).
fn criterion_holds(c: &CompiledCriterion, ctx: &Ctx<'_>) -> Result<bool, String> {
    if let Some(e) = ctx.body_error(c.expressions().into_iter()) {
        return Err(e.to_string());
    }
    match &c.check {
        CriterionCheck::Simple(cond) => Ok(cond.eval(ctx)),
        CriterionCheck::Typed { context, check } => {
            check.eval_until(context.eval(ctx).as_ref(), ctx.deadline)
        }
    }
}

fn criteria_hold(list: &[CompiledCriterion], ctx: &Ctx<'_>) -> bool {
    list.iter().all(|c| criterion_holds(c, ctx) == Ok(true))
}

/// The inputs a called workflow declares, taken from the caller's inputs.
fn filter_inputs(inputs: &Map<String, Value>, wf: &CompiledWorkflow) -> Map<String, Value> {
    let declared = wf.declared_inputs();
    inputs
        .iter()
        .filter(|(k, _)| declared.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub(crate) fn base_url(call: &OperationCall, opts: &RunOptions) -> Result<String, String> {
    if let Some(u) = opts.servers.get(&call.source) {
        if !matches!(u.scheme(), "http" | "https") {
            return Err(format!(
                "--server {}=… gives a `{}` URL, and source `{}` is an OpenAPI description, called over http(s)",
                call.source,
                u.scheme(),
                call.source
            ));
        }
        return Ok(u.as_str().to_string());
    }
    match call.operation.servers.first() {
        Some(s) if s.starts_with("http://") || s.starts_with("https://") => Ok(s.clone()),
        Some(s) => Err(format!(
            "the server `{s}` of source `{}` is not an http(s) URL; pass --server {}=URL",
            call.source, call.source
        )),
        None => Err(format!(
            "source `{}` declares no servers; pass --server {}=URL",
            call.source, call.source
        )),
    }
}

/// The step timeout used when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
