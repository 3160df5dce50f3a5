//! The run loop: steps in order, each request built from the current state, its
//! response checked against successCriteria, its outputs recorded. The engine never
//! prints; it reports through [`Event`]s and returns a [`RunReport`].

pub mod inputs;
pub mod interrupt;
pub mod outcome;
pub mod request;
pub mod resume;
pub mod send;

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use url::Url;

use crate::compile::{
    ActionKind, CompiledCriterion, CompiledStep, CompiledWorkflow, CriterionCheck, Jump,
    OperationCall, Program, StepTarget,
};
use crate::document::{Loaded, SourceRef};
use crate::engine::interrupt::{Signal, Stop};
use crate::engine::outcome::{ErrorKind, RunError, RunReport, Status, StepReport};
use crate::expr::{apply_pointer, Expr, Resolve, ValueExpr, WorkflowPart};
use crate::redact::Redactor;
use request::BuiltRequest;

/// Largest response body read by default (10 MiB).
pub const DEFAULT_MAX_RESPONSE: usize = 10 * 1024 * 1024;

/// How long an error response body shown in a message may be.
const SHOWN_BODY: usize = 400;

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
}

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
    inputs: &'a Map<String, Value>,
    step_outputs: &'a HashMap<String, Map<String, Value>>,
    finished: &'a HashMap<String, Finished>,
    /// `$outputs`: the workflow's own outputs, or the called workflow's inside a
    /// step that calls one.
    outputs: Option<&'a Map<String, Value>>,
    request: Option<&'a BuiltRequest>,
    response: Option<&'a Received>,
    doc_url: &'a str,
    source_urls: &'a [(String, String)],
    /// Why each step output that resolved to nothing did, by step and output.
    unresolved: &'a HashMap<String, HashMap<String, String>>,
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
        match expr {
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
            Expr::SourceDescriptions { .. } | Expr::Components { .. } => {
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
                let f = self.finished.get(workflow)?;
                let map = match part {
                    WorkflowPart::Inputs => &f.inputs,
                    WorkflowPart::Outputs => &f.outputs,
                };
                apply_pointer(map.get(name)?, pointer)
            }
            Expr::SourceDescriptions { name, rest } => {
                if name == "$self" {
                    return owned(Value::String(self.doc_url.to_string()));
                }
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
        if let Expr::Inputs { name, .. } = expr {
            if !self.inputs.contains_key(name) {
                return None;
            }
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
    /// Outputs of the workflow a step called.
    called_outputs: Option<Map<String, Value>>,
    /// Step reports of the workflow a step called.
    nested: Vec<StepReport>,
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
    let started = Instant::now();
    let source_urls = loaded
        .docs
        .iter()
        .map(|d| {
            d.sources
                .iter()
                .map(|(n, s)| {
                    let url = match s {
                        SourceRef::OpenApi(api) => api.url.to_string(),
                        SourceRef::Arazzo(i) => loaded.docs[*i].doc.url.to_string(),
                    };
                    (n.clone(), url)
                })
                .collect()
        })
        .collect();
    let doc_urls = loaded.docs.iter().map(|d| d.doc.url.to_string()).collect();
    let mut runner = Runner {
        program,
        client,
        opts,
        redactor,
        on_event,
        executed: 0,
        started,
        finished: HashMap::new(),
        source_urls,
        doc_urls,
        interrupted: None,
        resume_at: None,
        unresolved: vec![HashMap::new(); program.workflows.len()],
    };
    let mut carried = Vec::new();
    if let Some(r) = resume {
        for (id, (inputs, outputs)) in r.workflows {
            runner.finished.insert(
                id,
                Finished {
                    inputs,
                    outputs,
                    succeeded: true,
                },
            );
        }
        runner.resume_at = Some((r.step, r.step_outputs));
        carried = r.carried;
    }
    let run = runner.workflow(0, inputs.clone(), 0).await;
    let status = if runner.interrupted.is_some() {
        Status::Interrupted
    } else if run.succeeded {
        Status::Succeeded
    } else {
        Status::Failed
    };
    let secret: std::collections::BTreeSet<&String> = program
        .workflows
        .iter()
        .flat_map(|w| w.secret_inputs.iter())
        .collect();
    let entry = &program.entry().workflow_id;
    let workflows = runner
        .finished
        .iter()
        .filter(|(id, _)| *id != entry)
        .map(|(id, f)| {
            let value = serde_json::json!({
                "status": if f.succeeded { "succeeded" } else { "failed" },
                "inputs": without(&f.inputs, &secret),
                "outputs": f.outputs,
            });
            (id.clone(), value)
        })
        .collect();
    carried.extend(run.steps);
    RunReport {
        workflow_id: entry.clone(),
        status,
        outputs: run.outputs,
        steps: carried,
        error: run.error,
        duration_ms: started.elapsed().as_millis() as u64,
        inputs: without(inputs, &secret),
        secret_inputs: inputs
            .keys()
            .filter(|k| secret.contains(k))
            .cloned()
            .collect(),
        workflows,
    }
}

/// `inputs` without the secret ones.
fn without(
    inputs: &Map<String, Value>,
    secret: &std::collections::BTreeSet<&String>,
) -> Map<String, Value> {
    inputs
        .iter()
        .filter(|(k, _)| !secret.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

struct Runner<'a, 'e> {
    program: &'a Program,
    client: &'a reqwest::Client,
    opts: &'a RunOptions,
    redactor: &'a Redactor,
    on_event: &'e mut dyn FnMut(Event<'_>),
    /// Step attempts so far, against `opts.max_steps`.
    executed: usize,
    started: Instant,
    /// Workflows that have finished in this run, by workflowId.
    finished: HashMap<String, Finished>,
    source_urls: Vec<Vec<(String, String)>>,
    doc_urls: Vec<String>,
    /// The signal that cut the run short, once a step has seen the stop.
    interrupted: Option<Signal>,
    /// Where the entry workflow starts and the outputs it starts with, taken
    /// (once) by its first run.
    resume_at: Option<(usize, StepOutputs)>,
    /// Per workflow: why the step outputs that resolved to nothing did, from
    /// each step's latest attempt (see [`Ctx::missing`]).
    unresolved: Vec<HashMap<String, HashMap<String, String>>>,
}

/// What the action chosen after an attempt tells the loop to do.
enum Next {
    Continue,
    Jump(usize),
    /// A goto to a workflow: a one-way transfer.
    Transfer(usize),
    End,
    /// Retry with the failure action at this index.
    Retry(usize),
    /// No action applies to a failure: break and return.
    Stop,
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
    fn interrupted_error(&mut self, step_id: &str, signal: Signal, when: &str) -> RunError {
        self.interrupted.get_or_insert(signal);
        RunError {
            step_id: Some(step_id.to_string()),
            kind: ErrorKind::Interrupted,
            message: format!("interrupted by {} {when}", signal.name()),
        }
    }

    /// Waits before retry number `retry` of a step: the server's `Retry-After`
    /// (else the action's `retryAfter`). A wait beyond `--max-retry-wait` or
    /// `--max-duration`, or a signal during it, ends the run with the error.
    async fn retry_wait(
        &mut self,
        step: &CompiledStep,
        attempt: &Attempt,
        after: Option<f64>,
        retry: u32,
        failure: Option<RunError>,
    ) -> Result<(), RunError> {
        let asked = attempt
            .response
            .as_ref()
            .and_then(|r| header(&r.headers, "retry-after"));
        let from_header = asked.and_then(parse_retry_after);
        if let (Some(text), None) = (asked, from_header) {
            tracing::info!(
                "step {}: ignoring Retry-After `{}` (neither seconds nor an HTTP date)",
                step.step_id,
                text.chars().take(64).collect::<String>()
            );
        }
        let wait = from_header
            .map(|w| (w, "the server's Retry-After header"))
            .or(after.map(|a| {
                (
                    Duration::try_from_secs_f64(a).unwrap_or(Duration::MAX),
                    "the retry action's retryAfter",
                )
            }));
        let Some((w, source)) = wait else {
            return Ok(());
        };
        if self.remaining().is_some_and(|r| r < w) {
            return Err(self.timeout_error(
                &step.step_id,
                &format!("before the retry wait of {:.1} s", w.as_secs_f64()),
            ));
        }
        if w > self.opts.max_retry_wait {
            let mut e = failure.unwrap_or_else(|| RunError {
                step_id: Some(step.step_id.clone()),
                kind: ErrorKind::Response,
                message: String::new(),
            });
            e.message.push_str(&format!(
                "; not retried: {source} asks to wait {}, more than --max-retry-wait ({})",
                crate::engine::interrupt::describe(w),
                crate::engine::interrupt::describe(self.opts.max_retry_wait)
            ));
            return Err(e);
        }
        tracing::info!(
            "step {}: waiting {} before retry {retry} ({source})",
            step.step_id,
            crate::engine::interrupt::describe(w),
        );
        let stop = self.opts.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(w) => Ok(()),
            signal = stop.wait() => Err(self.interrupted_error(
                &step.step_id,
                signal,
                "while waiting to retry the step",
            )),
        }
    }

    /// Sends a request within `--max-duration`. When a stop is requested
    /// while it is in flight, it has the grace period to finish; `Err` is the
    /// signal when it did not (the server may have acted on it).
    async fn exchange(
        &self,
        built: &BuiltRequest,
        hops: &mut Vec<send::Hop>,
    ) -> Result<Result<Received, (ErrorKind, String)>, Signal> {
        let sent = send::send(
            built,
            self.client,
            self.opts.max_response_bytes,
            self.redactor,
            hops,
        );
        let remaining = self.remaining();
        let max_duration = self.opts.max_duration.unwrap_or_default();
        let sent = async move {
            match remaining {
                Some(left) => tokio::time::timeout(left, sent).await.unwrap_or_else(|_| {
                    Err((
                        ErrorKind::Timeout,
                        format!(
                            "the run reached --max-duration ({:.1} s) while waiting for the response",
                            max_duration.as_secs_f64()
                        ),
                    ))
                }),
                None => sent.await,
            }
        };
        tokio::pin!(sent);
        let stop = &self.opts.stop;
        tokio::select! {
            biased;
            r = &mut sent => Ok(r),
            signal = stop.wait() => {
                match tokio::time::timeout(stop.grace(), &mut sent).await {
                    Ok(r) => Ok(r),
                    Err(_) => Err(signal),
                }
            }
        }
    }

    fn ctx<'c>(
        &'c self,
        inputs: &'c Map<String, Value>,
        step_outputs: &'c HashMap<String, Map<String, Value>>,
        wf: usize,
        attempt: Option<&'c Attempt>,
    ) -> Ctx<'c> {
        let doc = self.program.workflows[wf].doc;
        Ctx {
            unresolved: &self.unresolved[wf],
            deadline: self.opts.max_duration.map(|d| self.started + d),
            inputs,
            step_outputs,
            finished: &self.finished,
            outputs: attempt.and_then(|a| a.called_outputs.as_ref()),
            request: attempt.and_then(|a| a.request.as_ref()),
            response: attempt.and_then(|a| a.response.as_ref()),
            doc_url: &self.doc_urls[doc],
            source_urls: &self.source_urls[doc],
        }
    }

    /// Runs workflow `index` (dependencies first), then records it as finished.
    fn workflow(
        &mut self,
        index: usize,
        inputs: Map<String, Value>,
        depth: usize,
    ) -> Boxed<'_, WorkflowRun> {
        Box::pin(async move {
            let wf = &self.program.workflows[index];
            // A workflow started by another (dependsOn, a goto or retry to it)
            // gets the inputs it declares from its starter's: they must hold
            // against its own schema, as the entry workflow's do.
            if depth > 0 {
                if let Err(m) = crate::engine::inputs::check(wf.inputs_schema.as_ref(), &inputs) {
                    return WorkflowRun {
                        succeeded: false,
                        outputs: Map::new(),
                        steps: Vec::new(),
                        error: Some(RunError {
                            step_id: None,
                            kind: ErrorKind::Inputs,
                            message: format!(
                                "the inputs for workflow `{}` are invalid: {m}",
                                wf.workflow_id
                            ),
                        }),
                    };
                }
            }
            let mut steps_report = Vec::new();
            for &dep in &wf.depends_on {
                let dep_wf = &self.program.workflows[dep];
                if let Some(done) = self.finished.get(&dep_wf.workflow_id) {
                    if done.succeeded {
                        continue;
                    }
                }
                let dep_inputs = filter_inputs(&inputs, dep_wf);
                let run = self.workflow(dep, dep_inputs, depth + 1).await;
                steps_report.extend(run.steps);
                if let Some(e) = run
                    .error
                    .as_ref()
                    .filter(|e| e.kind == ErrorKind::Interrupted)
                {
                    return WorkflowRun {
                        succeeded: false,
                        outputs: Map::new(),
                        steps: steps_report,
                        error: Some(e.clone()),
                    };
                }
                if !run.succeeded {
                    let why = run.error.map(|e| e.message).unwrap_or_default();
                    return WorkflowRun {
                        succeeded: false,
                        outputs: Map::new(),
                        steps: steps_report,
                        error: Some(RunError {
                            step_id: None,
                            kind: ErrorKind::Dependency,
                            message: format!(
                                "workflow `{}` depends on `{}`, which failed: {why}",
                                wf.workflow_id, dep_wf.workflow_id
                            ),
                        }),
                    };
                }
            }
            let mut run = self.steps(index, &inputs, depth).await;
            steps_report.append(&mut run.steps);
            run.steps = steps_report;
            self.finished.insert(
                wf.workflow_id.clone(),
                Finished {
                    inputs,
                    outputs: run.outputs.clone(),
                    succeeded: run.succeeded,
                },
            );
            run
        })
    }

    async fn steps(
        &mut self,
        index: usize,
        inputs: &Map<String, Value>,
        depth: usize,
    ) -> WorkflowRun {
        let wf = &self.program.workflows[index];
        let (mut pc, mut step_outputs) = match self.resume_at.take() {
            Some(at) if index == 0 && depth == 0 => at,
            other => {
                self.resume_at = other;
                (0, HashMap::new())
            }
        };
        let mut reports: Vec<StepReport> = Vec::new();
        // The failure of each step whose latest execution failed, in step order.
        let mut failures: Vec<(usize, RunError)> = Vec::new();
        let mut stop_error: Option<RunError> = None;
        let mut transfer: Option<WorkflowRun> = None;
        'steps: while pc < wf.steps.len() {
            let step = &wf.steps[pc];
            let mut retries = vec![0u32; step.on_failure.len()];
            let mut attempts = 0u32;
            loop {
                if let Some(signal) = self.opts.stop.requested() {
                    stop_error = Some(self.interrupted_error(
                        &step.step_id,
                        signal,
                        "before the step started",
                    ));
                    break 'steps;
                }
                if self.out_of_time() {
                    stop_error =
                        Some(self.timeout_error(&step.step_id, "before the step could start"));
                    break 'steps;
                }
                if self.executed >= self.opts.max_steps {
                    stop_error = Some(RunError {
                        step_id: Some(step.step_id.clone()),
                        kind: ErrorKind::Budget,
                        message: format!(
                            "the run reached its budget of {} step executions (--max-steps); is there a goto loop without a way out?",
                            self.opts.max_steps
                        ),
                    });
                    break 'steps;
                }
                self.executed += 1;
                attempts += 1;
                let (method, path) = step.describe(self.program);
                (self.on_event)(Event::StepStarted {
                    step_id: &step.step_id,
                    method: &method,
                    path: &path,
                    depth,
                });
                let mut attempt = self
                    .attempt(index, step, inputs, &step_outputs, depth)
                    .await;
                attempt.report.attempts = attempts;
                (self.on_event)(Event::StepFinished {
                    report: &attempt.report,
                    depth,
                });
                step_outputs.insert(step.step_id.clone(), attempt.report.outputs.clone());
                // Cut short by a signal: no action runs (a cleanup path would
                // send new requests); the run ends here.
                if let Some(e) = attempt
                    .error
                    .as_ref()
                    .filter(|e| e.kind == ErrorKind::Interrupted)
                {
                    stop_error = Some(e.clone());
                    reports.append(&mut attempt.nested);
                    reports.push(attempt.report);
                    break 'steps;
                }
                let succeeded = attempt.error.is_none();
                let next = {
                    let ctx = self.ctx(inputs, &step_outputs, index, Some(&attempt));
                    if succeeded {
                        match step
                            .on_success
                            .iter()
                            .find(|a| criteria_hold(&a.criteria, &ctx))
                        {
                            None => Next::Continue,
                            Some(a) => match &a.kind {
                                ActionKind::End => Next::End,
                                ActionKind::Goto(Jump::Step(i)) => Next::Jump(*i),
                                ActionKind::Goto(Jump::Workflow(w)) => Next::Transfer(*w),
                                ActionKind::Retry { .. } => Next::Continue,
                            },
                        }
                    } else {
                        let mut chosen = Next::Stop;
                        for (i, a) in step.on_failure.iter().enumerate() {
                            if !criteria_hold(&a.criteria, &ctx) {
                                continue;
                            }
                            match &a.kind {
                                ActionKind::Retry { limit, .. } if retries[i] >= *limit => continue,
                                ActionKind::Retry { .. } => chosen = Next::Retry(i),
                                ActionKind::End => chosen = Next::End,
                                ActionKind::Goto(Jump::Step(s)) => chosen = Next::Jump(*s),
                                ActionKind::Goto(Jump::Workflow(w)) => chosen = Next::Transfer(*w),
                            }
                            break;
                        }
                        chosen
                    }
                };
                if let Next::Retry(i) = next {
                    retries[i] += 1;
                }
                // Record the attempt.
                failures.retain(|(i, _)| *i != pc);
                if let Some(e) = &attempt.error {
                    if !matches!(next, Next::Retry(_)) {
                        failures.push((pc, e.clone()));
                    }
                }
                let last_error = attempt.error.clone();
                // One report entry per visit of a step: its last attempt, with the
                // number of attempts the visit took.
                reports.append(&mut attempt.nested);
                if !matches!(next, Next::Retry(_)) {
                    reports.push(attempt.report.clone());
                }
                match next {
                    Next::Continue => {
                        pc += 1;
                        continue 'steps;
                    }
                    Next::End => break 'steps,
                    Next::Stop => {
                        stop_error = last_error;
                        break 'steps;
                    }
                    Next::Transfer(target) => {
                        let child_inputs = filter_inputs(inputs, &self.program.workflows[target]);
                        let run = self.workflow(target, child_inputs, depth + 1).await;
                        transfer = Some(run);
                        break 'steps;
                    }
                    Next::Jump(j) => {
                        pc = j;
                        continue 'steps;
                    }
                    Next::Retry(ri) => {
                        let ActionKind::Retry { after, then, .. } = &step.on_failure[ri].kind
                        else {
                            break 'steps;
                        };
                        if let Err(e) = self
                            .retry_wait(step, &attempt, *after, retries[ri], last_error)
                            .await
                        {
                            reports.push(attempt.report.clone());
                            stop_error = Some(e);
                            break 'steps;
                        }
                        match then {
                            Some(Jump::Step(s)) => {
                                let side = &wf.steps[*s];
                                self.executed += 1;
                                let (m, p) = side.describe(self.program);
                                (self.on_event)(Event::StepStarted {
                                    step_id: &side.step_id,
                                    method: &m,
                                    path: &p,
                                    depth,
                                });
                                let mut a = self
                                    .attempt(index, side, inputs, &step_outputs, depth)
                                    .await;
                                a.report.attempts = 1;
                                (self.on_event)(Event::StepFinished {
                                    report: &a.report,
                                    depth,
                                });
                                step_outputs.insert(side.step_id.clone(), a.report.outputs.clone());
                                reports.push(a.report);
                            }
                            Some(Jump::Workflow(w)) => {
                                let child_inputs =
                                    filter_inputs(inputs, &self.program.workflows[*w]);
                                let run = self.workflow(*w, child_inputs, depth + 1).await;
                                reports.extend(run.steps);
                            }
                            None => {}
                        }
                    }
                }
            }
        }

        if let Some(run) = transfer {
            // A goto to a workflow is a one-way transfer: its result is this
            // workflow's result, with this workflow's outputs evaluated after it.
            reports.extend(run.steps);
            if let Some(e) = run
                .error
                .as_ref()
                .filter(|e| e.kind == ErrorKind::Interrupted)
            {
                stop_error.get_or_insert(e.clone());
            }
            if !run.succeeded && failures.is_empty() {
                if let Some(e) = run.error {
                    failures.push((usize::MAX, e));
                }
            }
        }
        let error = stop_error.or_else(|| failures.first().map(|(_, e)| e.clone()));
        let succeeded = error.is_none();
        let ctx = self.ctx(inputs, &step_outputs, index, None);
        let mut outputs = Map::new();
        for (name, expr) in &wf.outputs {
            match expr.eval(&ctx) {
                Some(v) => {
                    outputs.insert(name.clone(), v);
                }
                None if succeeded => {
                    outputs.insert(name.clone(), Value::Null);
                }
                None => {}
            }
        }
        WorkflowRun {
            succeeded,
            outputs,
            steps: reports,
            error,
        }
    }

    /// One attempt at a step: build and send the request (or call the workflow),
    /// check successCriteria, evaluate outputs.
    async fn attempt(
        &mut self,
        wf_index: usize,
        step: &CompiledStep,
        inputs: &Map<String, Value>,
        step_outputs: &HashMap<String, Map<String, Value>>,
        depth: usize,
    ) -> Attempt {
        let started = Instant::now();
        let (method, _) = step.describe(self.program);
        let mut attempt = Attempt {
            report: StepReport {
                step_id: step.step_id.clone(),
                workflow_id: (wf_index != 0)
                    .then(|| self.program.workflows[wf_index].workflow_id.clone()),
                status: Status::Failed,
                status_code: None,
                attempts: 1,
                outputs: Map::new(),
                duration_ms: 0,
                method,
                url: String::new(),
                resumed: false,
            },
            error: None,
            request: None,
            response: None,
            called_outputs: None,
            nested: Vec::new(),
        };
        let mut unresolved: HashMap<String, String> = HashMap::new();
        let step_error = |kind, message: String| RunError {
            step_id: Some(step.step_id.clone()),
            kind,
            message,
        };
        match &step.target {
            StepTarget::Operation(call) => {
                let built = {
                    let ctx = self.ctx(inputs, step_outputs, wf_index, None);
                    base_url(call, self.opts)
                        .and_then(|base| request::build(call, &base, &ctx).map_err(|e| e.0))
                };
                let built = match built {
                    Ok(b) => b,
                    Err(m) => {
                        attempt.error = Some(step_error(ErrorKind::Request, m));
                        attempt.report.duration_ms = started.elapsed().as_millis() as u64;
                        return attempt;
                    }
                };
                for s in &built.secrets {
                    self.redactor.add(s);
                }
                attempt.report.url = built.url.clone();
                let sent_at = Instant::now();
                let stop = self.opts.stop.clone();
                let mut hops = Vec::new();
                let sent = self.exchange(&built, &mut hops).await;
                let sent = match sent {
                    Ok(r) => r,
                    Err(signal) => {
                        let e = self.interrupted_error(
                            &step.step_id,
                            signal,
                            &format!(
                                "while {} was waiting for its response (the grace period of {} passed); the server may have acted on the request",
                                as_sent(&built, step),
                                crate::engine::interrupt::describe(stop.grace())
                            ),
                        );
                        attempt.report.status = Status::Uncertain;
                        (self.on_event)(Event::Exchange {
                            workflow_id: &self.program.workflows[wf_index].workflow_id,
                            step_id: &step.step_id,
                            attempt: attempt.report.attempts,
                            request: &built,
                            response: None,
                            error: Some(&e.message),
                            redirects: &hops,
                            started_ms: sent_at.duration_since(self.started).as_millis() as u64,
                            duration_ms: sent_at.elapsed().as_millis() as u64,
                        });
                        attempt.error = Some(e);
                        attempt.request = Some(built);
                        attempt.report.duration_ms = started.elapsed().as_millis() as u64;
                        return attempt;
                    }
                };
                match sent {
                    Ok(r) => {
                        attempt.report.status_code = Some(r.status);
                        attempt.response = Some(r);
                    }
                    Err((kind, m)) => {
                        let hint = what_to_check(kind, &m, &call.source);
                        attempt.error = Some(step_error(
                            kind,
                            format!("{}: {m}{hint}", as_sent(&built, step)),
                        ));
                    }
                }
                (self.on_event)(Event::Exchange {
                    workflow_id: &self.program.workflows[wf_index].workflow_id,
                    step_id: &step.step_id,
                    attempt: attempt.report.attempts,
                    request: &built,
                    response: attempt.response.as_ref(),
                    error: attempt.error.as_ref().map(|e| e.message.as_str()),
                    redirects: &hops,
                    started_ms: sent_at.duration_since(self.started).as_millis() as u64,
                    duration_ms: sent_at.elapsed().as_millis() as u64,
                });
                attempt.request = Some(built);
            }
            StepTarget::Workflow { .. } if depth >= MAX_NESTING => {
                attempt.error = Some(step_error(
                    ErrorKind::Workflow,
                    format!("workflows call each other more than {MAX_NESTING} levels deep; is there a cycle of workflow calls?"),
                ));
            }
            StepTarget::Workflow {
                workflow,
                inputs: params,
            } => {
                let child = &self.program.workflows[*workflow];
                let child_inputs: Result<Map<String, Value>, String> = {
                    let ctx = self.ctx(inputs, step_outputs, wf_index, None);
                    let mut map = Map::new();
                    params
                        .iter()
                        .try_for_each(|(k, v)| {
                            if let Some(v) = v.eval_required(&ctx).map_err(|why| {
                                format!(
                                    "input `{k}` of workflow `{}` cannot be built: {why}",
                                    child.workflow_id
                                )
                            })? {
                                map.insert(k.clone(), v);
                            }
                            Ok::<(), String>(())
                        })
                        .map(|_| map)
                };
                attempt.report.url = format!("workflow:{}", child.workflow_id);
                let checked = child_inputs.and_then(|c| {
                    crate::engine::inputs::check(child.inputs_schema.as_ref(), &c)
                        .map(|_| c)
                        .map_err(|m| {
                            format!(
                                "the inputs for workflow `{}` are invalid: {m}",
                                child.workflow_id
                            )
                        })
                });
                match checked {
                    Err(m) => attempt.error = Some(step_error(ErrorKind::Request, m)),
                    Ok(child_inputs) => {
                        let run = self.workflow(*workflow, child_inputs, depth + 1).await;
                        attempt.nested = run.steps;
                        let cut = run
                            .error
                            .as_ref()
                            .filter(|e| e.kind == ErrorKind::Interrupted);
                        if let Some(e) = cut {
                            if attempt.nested.iter().any(|s| s.status == Status::Uncertain) {
                                attempt.report.status = Status::Uncertain;
                            }
                            attempt.error = Some(step_error(
                                ErrorKind::Interrupted,
                                format!(
                                    "workflow `{}` was {} at step `{}`",
                                    child.workflow_id,
                                    e.message,
                                    e.step_id.as_deref().unwrap_or_default()
                                ),
                            ));
                        } else if !run.succeeded {
                            let why = run.error.map(|e| {
                                format!(
                                    "at step `{}`: {}",
                                    e.step_id.unwrap_or_default(),
                                    e.message
                                )
                            });
                            attempt.error = Some(step_error(
                                ErrorKind::Workflow,
                                format!(
                                    "workflow `{}` failed {}",
                                    child.workflow_id,
                                    why.unwrap_or_default()
                                ),
                            ));
                        }
                        attempt.called_outputs = Some(run.outputs);
                    }
                }
            }
        }

        if attempt.error.is_none() || attempt.called_outputs.is_some() {
            let ctx = self.ctx(inputs, step_outputs, wf_index, Some(&attempt));
            let failed = if attempt.error.is_some() {
                None
            } else if step.success_criteria.is_empty() {
                match &attempt.response {
                    Some(r) if !(200..300).contains(&r.status) => Some(
                        "the step has no successCriteria and the status is not 2xx".to_string(),
                    ),
                    _ => None,
                }
            } else {
                step.success_criteria
                    .iter()
                    .find_map(|c| match criterion_holds(c, &ctx) {
                        Ok(true) => None,
                        Ok(false) => Some(format!("successCriteria `{}` not met", c.text)),
                        Err(why) => Some(format!(
                            "successCriteria `{}` could not be evaluated ({why})",
                            c.text
                        )),
                    })
            };
            let mut outputs = Map::new();
            // An output that reads a body that could not be read fails the step.
            let mut unreadable: Option<String> = None;
            for (name, expr) in &step.outputs {
                if let Some(e) = ctx.body_error(expr.expressions().into_iter()) {
                    unreadable.get_or_insert_with(|| {
                        format!("output `{name}` reads the response body: {e}")
                    });
                    unresolved.insert(
                        name.clone(),
                        format!(
                            "step `{}` answered {} but its output `{name}` could not be read: {e}",
                            step.step_id,
                            attempt.report.status_code.unwrap_or_default()
                        ),
                    );
                    continue;
                }
                match expr.eval(&ctx) {
                    Some(v) => {
                        outputs.insert(name.clone(), v);
                    }
                    None => {
                        unresolved.insert(name.clone(), output_reason(step, name, expr, &ctx));
                    }
                }
            }
            if failed.is_none() && unreadable.is_none() {
                // An action that would read an unreadable body cannot be chosen.
                unreadable = step.on_success.iter().find_map(|a| {
                    let exprs = a.criteria.iter().flat_map(|c| c.expressions());
                    ctx.body_error(exprs).map(|e| {
                        format!("onSuccess action `{}` reads the response body: {e}", a.name)
                    })
                });
            }
            attempt.report.outputs = outputs;
            let timed_out = failed.is_some() && self.out_of_time();
            if let (None, Some(why), Some(req), Some(resp)) =
                (&failed, unreadable, &attempt.request, &attempt.response)
            {
                attempt.error = Some(step_error(
                    ErrorKind::Response,
                    format!("{} answered {}, but {why}", as_sent(req, step), resp.status),
                ));
            }
            if let (true, Some(why)) = (timed_out, &failed) {
                attempt.error = Some(step_error(
                    ErrorKind::Timeout,
                    format!(
                        "the run reached --max-duration ({:.1} s) while evaluating the step's criteria ({why})",
                        self.opts.max_duration.unwrap_or_default().as_secs_f64()
                    ),
                ));
            } else if let Some(why) = failed {
                let message = match (&attempt.request, &attempt.response) {
                    (Some(req), Some(resp)) => format!(
                        "{why}: {} answered {}{}",
                        as_sent(req, step),
                        resp.status,
                        body_excerpt(&resp.body, self.redactor)
                    ),
                    _ => why,
                };
                attempt.error = Some(step_error(ErrorKind::Criteria, message));
            }
        }
        if attempt.error.is_none() {
            attempt.report.status = Status::Succeeded;
        }
        // Why each output that is not there is not, for the requests that need it.
        for (name, _) in &step.outputs {
            if !attempt.report.outputs.contains_key(name) && !unresolved.contains_key(name) {
                let kind = attempt
                    .error
                    .as_ref()
                    .map(|e| format!("{:?}", e.kind).to_lowercase())
                    .unwrap_or_default();
                unresolved.insert(
                    name.clone(),
                    format!(
                        "step `{}` failed ({kind}) before its output `{name}` was evaluated",
                        step.step_id
                    ),
                );
            }
        }
        self.unresolved[wf_index].insert(step.step_id.clone(), unresolved);
        attempt.report.duration_ms = started.elapsed().as_millis() as u64;
        attempt
    }
}

/// Why step output `name` (`expr`) resolved to nothing, for the requests that
/// would have used it.
fn output_reason(step: &CompiledStep, name: &str, expr: &ValueExpr, ctx: &Ctx<'_>) -> String {
    let first = expr
        .expressions()
        .into_iter()
        .find(|e| ctx.resolve(e).is_none());
    let (shown, why) = match first {
        Some(e) => (e.to_string(), ctx.why_nothing(e)),
        None => (String::new(), "is undefined".to_string()),
    };
    let what = match (ctx.response, ctx.outputs) {
        (Some(r), _) => format!("answered {}", r.status),
        (None, Some(_)) => "finished its workflow call".to_string(),
        (None, None) => "ran".to_string(),
    };
    format!(
        "step `{}` {what} but its output `{name}` (`{shown}`) {why}",
        step.step_id
    )
}

/// What a user should check after a transport error.
fn what_to_check(kind: ErrorKind, message: &str, source: &str) -> String {
    let m = message.to_ascii_lowercase();
    let hint = if kind == ErrorKind::Timeout || m.starts_with("following a redirect") {
        return String::new();
    } else if m.contains("timed out") {
        "; check that the host is reachable and answers, or raise --timeout".to_string()
    } else if m.contains("refused") {
        format!("; check that the server is running and that the URL of source `{source}` (or --server {source}=URL) is right")
    } else if m.contains("dns") || m.contains("lookup") || m.contains("resolve") {
        format!("; check the host name, your network, or point the source elsewhere with --server {source}=URL")
    } else if let Some(hint) = crate::http::tls_hint(message) {
        format!("; {hint}")
    } else if m.contains("certificate") || m.contains("tls") || m.contains("handshake") {
        "; check the server's TLS certificate (and that the URL's scheme is right)".to_string()
    } else if kind == ErrorKind::Transport {
        "; check the network and the server".to_string()
    } else {
        String::new()
    };
    hint
}

/// The request as sent, for failure messages: a user checks the real URL (its
/// ids and query), not the path template, so it comes first; the template
/// follows when it has parameters, to find the operation in the description.
/// Secrets in it are masked wherever it is shown (the redactor knows them).
fn as_sent(req: &BuiltRequest, step: &CompiledStep) -> String {
    let template = match &step.target {
        StepTarget::Operation(c) => c.operation.path.as_str(),
        StepTarget::Workflow { .. } => "",
    };
    if template.contains('{') {
        format!(
            "{} {} (operation {} {template})",
            req.method, req.url, req.method
        )
    } else {
        format!("{} {}", req.method, req.url)
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

/// `Retry-After`: delta-seconds (a value too large for a duration is the
/// longest one) or an HTTP-date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

pub(crate) fn base_url(call: &OperationCall, opts: &RunOptions) -> Result<String, String> {
    if let Some(u) = opts.servers.get(&call.source) {
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

/// The start of a response body for a message, secrets masked before the cut
/// (a secret cut in two would no longer be recognised).
fn body_excerpt(body: &Value, redactor: &Redactor) -> String {
    let text = match body {
        Value::Null => return String::new(),
        Value::String(s) if s.is_empty() => return String::new(),
        Value::String(s) => redactor.redact(s).into_owned(),
        other => redactor.redact(&other.to_string()).into_owned(),
    };
    let mut shown: String = text.chars().take(SHOWN_BODY).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!(" with {shown}")
}

/// The step timeout used when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
