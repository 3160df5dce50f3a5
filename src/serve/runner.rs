//! Runs served workflows for every front end (MCP tools, REST runs).
//!
//! The engine's futures are not `Send`, while the HTTP stack wants `Send`
//! handlers, so runs happen on a local task set: a front end only sends a
//! [`Job`] down a channel and waits for its answers. Each job runs on its own
//! local task, so runs overlap.
//!
//! A job answers twice: once when its inputs and preflight are settled (so a
//! REST client asking for an asynchronous run learns of a refusal before it is
//! told "accepted"), and once with the run report.
//!
//! Inputs the operator supplies at start-up (`-i`, `--inputs`, the environment)
//! are filled in by the server and treated as secrets: a caller may not give
//! them, and their values are masked in every answer and log line.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};

use crate::compile::Program;
use crate::document::Loaded;
use crate::engine::inputs;
use crate::engine::outcome::RunReport;
use crate::engine::{self, RunOptions};
use crate::plan;
use crate::redact::Redactor;
use crate::report::human::log_event;

/// One served workflow.
pub struct Served {
    pub program: Program,
    pub loaded: Arc<Loaded>,
    /// Inputs the operator supplied, filled in on every call.
    pub fixed: Map<String, Value>,
}

impl Served {
    pub fn id(&self) -> &str {
        &self.program.entry().workflow_id
    }
}

/// Why a run was not started: nothing was sent.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The step whose request the preflight refused.
    pub step_id: Option<String>,
    /// `inputs`, `preflight` or `interrupted` (the server is stopping).
    pub kind: &'static str,
    /// Already masked.
    pub message: String,
}

/// A run asked of the runner.
pub struct Job {
    /// Index into the served workflows.
    pub workflow: usize,
    pub arguments: Map<String, Value>,
    /// Answered once the inputs and the preflight are settled.
    pub accepted: oneshot::Sender<Result<(), Refusal>>,
    /// Answered with the report once the run is over.
    pub finished: oneshot::Sender<Ran>,
    /// The run slot, held until the run is over, whether or not its caller
    /// is still there to be answered.
    pub slot: Option<OwnedSemaphorePermit>,
}

/// A run slot on its way from the front end's check to the run: the MCP
/// endpoint takes the slot before the SDK sees the call, and the tool call
/// hands it to its job. Left untaken (the call never ran), it is freed when
/// the request is done.
#[derive(Clone, Default)]
pub struct SlotHandoff(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl SlotHandoff {
    pub fn new(permit: OwnedSemaphorePermit) -> SlotHandoff {
        SlotHandoff(Arc::new(Mutex::new(Some(permit))))
    }

    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// A finished run: its report, and what masks its answers (the server's
/// secrets and those its caller sent, which mask no one else's answers).
pub struct Ran {
    pub report: RunReport,
    pub mask: Redactor,
}

/// What a front end holds: where to send jobs, and what is served.
#[derive(Clone)]
pub struct Jobs {
    sender: mpsc::UnboundedSender<Job>,
}

/// The answer to a job whose run finished, or why it never started.
pub enum Answer {
    Refused(Refusal),
    Finished(Box<Ran>),
}

/// The two answers of a job, to wait for.
pub type Answers = (
    oneshot::Receiver<Result<(), Refusal>>,
    oneshot::Receiver<Ran>,
);

impl Jobs {
    /// Hands a run to the runner; the receivers give its two answers.
    pub fn submit(
        &self,
        workflow: usize,
        arguments: Map<String, Value>,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Option<Answers> {
        let (accepted, accepted_rx) = oneshot::channel();
        let (finished, finished_rx) = oneshot::channel();
        let job = Job {
            workflow,
            arguments,
            accepted,
            finished,
            slot,
        };
        self.sender.send(job).ok()?;
        Some((accepted_rx, finished_rx))
    }

    /// Runs a workflow and waits for the end; `None` when the runner is gone.
    pub async fn run(
        &self,
        workflow: usize,
        arguments: Map<String, Value>,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Option<Answer> {
        let (accepted, finished) = self.submit(workflow, arguments, slot)?;
        match accepted.await.ok()? {
            Err(refusal) => Some(Answer::Refused(refusal)),
            Ok(()) => Some(Answer::Finished(Box::new(finished.await.ok()?))),
        }
    }
}

/// The runs in progress, so that a stop waits for them to be answered.
#[derive(Default)]
pub struct Activity {
    running: AtomicUsize,
    /// Runs that were interrupted.
    pub cut: AtomicUsize,
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

    /// Resolves once no run is going on (their answers then being written).
    pub async fn drained(&self) {
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

/// Runs the jobs; lives on the local task set.
pub struct Runner {
    pub served: Vec<Served>,
    pub client: reqwest::Client,
    pub opts: RunOptions,
    pub redactor: Redactor,
    pub preflight: bool,
    pub activity: Arc<Activity>,
}

/// Starts the runner on the current local task set and returns where to send
/// jobs. Must be called inside a `LocalSet`.
pub fn start(runner: Runner) -> Jobs {
    let (sender, queue) = mpsc::unbounded_channel();
    tokio::task::spawn_local(work(Rc::new(runner), queue));
    Jobs { sender }
}

/// Takes jobs and runs each on its own local task, so runs overlap.
async fn work(runner: Rc<Runner>, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = queue.recv().await {
        let runner = Rc::clone(&runner);
        runner.activity.begin();
        tokio::task::spawn_local(async move {
            runner.job(job).await;
            runner.activity.end();
        });
    }
}

impl Runner {
    async fn job(&self, job: Job) {
        let s = &self.served[job.workflow];
        let id = s.id();
        let mask = self.redactor.child();
        let merged = match self.prepare(s, job.arguments, &mask) {
            Ok(m) => m,
            Err(refusal) => {
                tracing::info!("workflow {id}: refused ({})", refusal.kind);
                let _ = job.accepted.send(Err(refusal));
                return;
            }
        };
        let _ = job.accepted.send(Ok(()));
        tracing::info!("workflow {id}: running");
        let mut report = engine::run(
            &s.program,
            &s.loaded,
            &merged,
            &self.client,
            &self.opts,
            &mask,
            &mut |ev| log_event(&ev, &mask),
        )
        .await;
        let verb = if report.succeeded() {
            "succeeded"
        } else if report.interrupted() {
            self.activity.cut.fetch_add(1, Ordering::SeqCst);
            "interrupted"
        } else {
            "failed"
        };
        tracing::info!("workflow {id}: {verb} after {} ms", report.duration_ms);
        // The operator's inputs are the server's, not the caller's to read.
        report.inputs.retain(|k, _| !s.fixed.contains_key(k));
        let _ = job.finished.send(Ran { report, mask });
        drop(job.slot);
    }

    /// The inputs of the run (the caller's and the operator's), checked, and
    /// the preflight passed; or why the run may not start.
    fn prepare(
        &self,
        s: &Served,
        arguments: Map<String, Value>,
        mask: &Redactor,
    ) -> Result<Map<String, Value>, Refusal> {
        if let Some(signal) = self.opts.stop.requested() {
            let message = format!(
                "the server is stopping ({}); nothing was sent",
                signal.name()
            );
            return Err(refusal(mask, None, "interrupted", message));
        }
        let wf = s.program.entry();
        let id = wf.workflow_id.as_str();
        let schema = wf.inputs_schema.as_ref();
        let supplied: Vec<&str> = arguments
            .keys()
            .filter(|k| s.fixed.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !supplied.is_empty() {
            let what = if supplied.len() == 1 {
                "this input is"
            } else {
                "these inputs are"
            };
            let message = format!(
                "{what} supplied by the server and cannot be given: {}",
                supplied.join(", ")
            );
            return Err(refusal(mask, None, "inputs", message));
        }
        let merged = inputs::merge_line(id, schema, &s.fixed, arguments, false)
            .map_err(|e| refusal(mask, None, "inputs", e.message))?;
        // Secrets the caller sent are masked too, in this run's answers.
        for w in &s.program.workflows {
            for name in &w.secret_inputs {
                if let Some(v) = merged.get(name) {
                    mask.add_value(v);
                }
            }
        }
        let merged = inputs::finish(id, schema, merged)
            .map_err(|e| refusal(mask, None, "inputs", e.message))?;
        if self.preflight {
            self.preflight(s, &merged, mask)?;
        }
        Ok(merged)
    }

    fn preflight(
        &self,
        s: &Served,
        merged: &Map<String, Value>,
        mask: &Redactor,
    ) -> Result<(), Refusal> {
        let problems: Vec<plan::PlanProblem> = plan::plan(&s.program, merged, &self.opts, mask)
            .into_iter()
            .flat_map(|p| p.problems)
            .collect();
        let Some(first) = problems.first() else {
            return Ok(());
        };
        let message = format!(
            "{} problem{} found before any request was sent, so nothing was sent:\n{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            plan::list_problems(&problems)
        );
        Err(refusal(
            mask,
            Some(first.step_id.clone()),
            "preflight",
            message,
        ))
    }
}

fn refusal(
    mask: &Redactor,
    step_id: Option<String>,
    kind: &'static str,
    message: String,
) -> Refusal {
    Refusal {
        step_id,
        kind,
        message: mask.redact(&message).into_owned(),
    }
}

/// The report as JSON (the shape of `run -o json`), masked.
pub fn report_json(report: &RunReport, redactor: &Redactor) -> Value {
    let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
    redactor.redact_value(&mut v);
    v
}
