//! Running a workflow: its dependencies first, then its steps in the order
//! their actions choose, each step visited until an action moves on.

use std::collections::HashMap;
use std::ops::ControlFlow;

use serde_json::{Map, Value};

use super::{
    filter_inputs, Attempt, Boxed, Event, Finished, Frame, Next, Runner, StepLimit, StepOutputs,
    WorkflowRun,
};
use crate::compile::{ActionKind, CompiledStep, CompiledWorkflow, Jump};
use crate::engine::outcome::{ErrorKind, RunError, StepReport};

/// How a workflow's steps are going: where they are, what they left, and how
/// they end.
pub(super) struct StepsRun {
    /// The index of the step to visit next.
    pub(super) pc: usize,
    pub(super) step_outputs: StepOutputs,
    pub(super) reports: Vec<StepReport>,
    /// The failure of each step whose latest execution failed, in step order.
    pub(super) failures: Vec<(usize, RunError)>,
    /// The error that ended the steps early (a stop, the budget, a failure no
    /// action handles).
    pub(super) stop_error: Option<RunError>,
    /// The result of a workflow a goto transferred to.
    pub(super) transfer: Option<WorkflowRun>,
    /// The workflow a goto chose to transfer to (with the inputs its
    /// parameters pass), run once the steps have stopped.
    pub(super) transfer_to: Option<(usize, Map<String, Value>)>,
}

/// How a visit of a step ends: what the workflow's steps do next.
pub(super) enum Visit {
    /// On to the next step in the list (or, in a graph, the step is done).
    Next,
    /// A goto to the step at this index.
    Jump(usize),
    /// The steps end here: an `end`, a goto to a workflow (`transfer_to`),
    /// or a stop (`stop_error`, or a failure no action handles).
    End,
}

impl StepsRun {
    pub(super) fn new(pc: usize, step_outputs: StepOutputs) -> StepsRun {
        StepsRun {
            pc,
            step_outputs,
            reports: Vec::new(),
            failures: Vec::new(),
            stop_error: None,
            transfer: None,
            transfer_to: None,
        }
    }
}

impl WorkflowRun {
    /// A workflow that failed before or between its steps, with `error`.
    fn failed(steps: Vec<StepReport>, error: RunError) -> WorkflowRun {
        WorkflowRun {
            succeeded: false,
            outputs: Map::new(),
            steps,
            error: Some(error),
        }
    }
}

impl<'a, 'e> Runner<'a, 'e> {
    /// Runs workflow `index` (dependencies first), then records it as finished.
    pub(super) fn workflow(
        &self,
        index: usize,
        inputs: Map<String, Value>,
        depth: usize,
        limit: Option<StepLimit>,
    ) -> Boxed<'_, WorkflowRun> {
        Box::pin(async move {
            let program = self.program;
            let wf = &program.workflows[index];
            // A workflow started by another (dependsOn, a goto or retry to it)
            // gets the inputs it declares from its starter's: they must hold
            // against its own schema, as the entry workflow's do.
            if depth > 0 {
                if let Err(m) = crate::engine::inputs::check(wf.inputs_schema.as_ref(), &inputs) {
                    let message = format!(
                        "the inputs for workflow `{}` are invalid: {m}",
                        wf.workflow_id
                    );
                    let error = RunError {
                        step_id: None,
                        kind: ErrorKind::Inputs,
                        message,
                    };
                    return WorkflowRun::failed(Vec::new(), error);
                }
            }
            let mut steps_report = Vec::new();
            if let Some(error) = self
                .dependencies(wf, &inputs, depth, limit, &mut steps_report)
                .await
            {
                return WorkflowRun::failed(steps_report, error);
            }
            let frame = Frame {
                index,
                inputs: &inputs,
                depth,
                limit,
            };
            let mut run = if wf.parallel {
                self.steps_graph(frame).await
            } else {
                self.steps(frame).await
            };
            steps_report.append(&mut run.steps);
            run.steps = steps_report;
            self.finished.borrow_mut().insert(
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

    /// Runs the workflows `wf` depends on that have not succeeded in this run,
    /// their steps added to `reports`; the error that stops `wf` when one of
    /// them is interrupted or fails.
    async fn dependencies(
        &self,
        wf: &CompiledWorkflow,
        inputs: &Map<String, Value>,
        depth: usize,
        limit: Option<StepLimit>,
        reports: &mut Vec<StepReport>,
    ) -> Option<RunError> {
        for &dep in &wf.depends_on {
            let dep_wf = &self.program.workflows[dep];
            if self.dependency_succeeded(&dep_wf.workflow_id, depth).await {
                continue;
            }
            let dep_inputs = filter_inputs(inputs, dep_wf);
            let running = (dep_wf.workflow_id.clone(), depth + 1);
            self.running_dependencies.borrow_mut().push(running.clone());
            let run = self.workflow(dep, dep_inputs, depth + 1, limit).await;
            let mut now = self.running_dependencies.borrow_mut();
            if let Some(i) = now.iter().position(|r| *r == running) {
                now.remove(i);
            }
            drop(now);
            self.dependency_done.notify_waiters();
            reports.extend(run.steps);
            if let Some(e) = run
                .error
                .as_ref()
                .filter(|e| e.kind == ErrorKind::Interrupted)
            {
                return Some(e.clone());
            }
            if !run.succeeded {
                let why = run.error.map(|e| e.message).unwrap_or_default();
                return Some(RunError {
                    step_id: None,
                    kind: ErrorKind::Dependency,
                    message: format!(
                        "workflow `{}` depends on `{}`, which failed: {why}",
                        wf.workflow_id, dep_wf.workflow_id
                    ),
                });
            }
        }
        None
    }

    /// Whether workflow `id`, needed by a workflow running at `depth`, has
    /// succeeded in this run, once a step running at the same time no longer
    /// runs it. A run of it at `depth` or less may be this workflow's own
    /// caller (waiting for it would never end): it is not waited for.
    async fn dependency_succeeded(&self, id: &str, depth: usize) -> bool {
        loop {
            let done = self.dependency_done.notified();
            let elsewhere = self
                .running_dependencies
                .borrow()
                .iter()
                .any(|(w, d)| w == id && *d > depth);
            if !elsewhere {
                return self.finished.borrow().get(id).is_some_and(|f| f.succeeded);
            }
            done.await;
        }
    }

    /// Runs the steps of the frame's workflow from the first (or where a
    /// resumed run starts) until they end, then evaluates its outputs.
    async fn steps(&self, frame: Frame<'_>) -> WorkflowRun {
        let (pc, step_outputs) = self.start_at(frame);
        let mut run = StepsRun::new(pc, step_outputs);
        let count = self.program.workflows[frame.index].steps.len();
        while run.pc < count {
            match self.visit(frame, &mut run).await {
                Visit::Next => run.pc += 1,
                Visit::Jump(j) => run.pc = j,
                Visit::End => break,
            }
        }
        self.transfer(frame, &mut run).await;
        self.finish(frame, run)
    }

    /// Runs the workflow a goto chose to transfer to, if one did.
    pub(super) async fn transfer(&self, frame: Frame<'_>, run: &mut StepsRun) {
        if let Some((target, inputs)) = run.transfer_to.take() {
            run.transfer = Some(self.start_workflow(frame, target, inputs).await);
        }
    }

    /// Where the steps start and the outputs they start with: for the entry
    /// workflow, where an earlier run left it (taken once); else the first step.
    pub(super) fn start_at(&self, frame: Frame<'_>) -> (usize, StepOutputs) {
        let mut resume_at = self.resume_at.borrow_mut();
        match resume_at.take() {
            Some(at) if frame.index == 0 && frame.depth == 0 => at,
            other => {
                *resume_at = other;
                (0, HashMap::new())
            }
        }
    }

    /// One visit of the step at `run.pc`: attempts (and retries) until an
    /// action moves on, all within the step's 1.1 `timeout`.
    pub(super) async fn visit(&self, frame: Frame<'_>, run: &mut StepsRun) -> Visit {
        let program = self.program;
        let step = &program.workflows[frame.index].steps[run.pc];
        let frame = frame.for_step(step, run.pc);
        let mut retries = vec![0u32; step.on_failure.len()];
        let mut attempts = 0u32;
        loop {
            if let Some(e) = self.refuse_start(frame, step) {
                run.stop_error = Some(e);
                return Visit::End;
            }
            attempts += 1;
            let mut attempt = self
                .execute(frame, step, &mut run.step_outputs, attempts)
                .await;
            // Cut short by a signal: no action runs (a cleanup path would
            // send new requests); the run ends here.
            if let Some(e) = attempt
                .error
                .as_ref()
                .filter(|e| e.kind == ErrorKind::Interrupted)
            {
                run.stop_error = Some(e.clone());
                run.reports.append(&mut attempt.nested);
                run.reports.push(attempt.report);
                return Visit::End;
            }
            let next = self.choose_next(frame, step, &run.step_outputs, &attempt, &retries);
            if let Next::Retry(i) = next {
                retries[i] += 1;
            }
            run.record(&mut attempt, &next);
            match next {
                Next::Continue => return Visit::Next,
                Next::Jump(j) => return Visit::Jump(j),
                Next::End => return Visit::End,
                Next::Stop => {
                    run.stop_error = attempt.error;
                    return Visit::End;
                }
                Next::OutOfTime => {
                    let last = attempt.error.map(|e| e.message).unwrap_or_default();
                    run.stop_error = frame.limit.map(|l| {
                        l.error(
                            program,
                            &step.step_id,
                            &format!("before it could be retried (the last attempt: {last})"),
                        )
                    });
                    return Visit::End;
                }
                Next::Transfer(target, inputs) => {
                    run.transfer_to = Some((target, inputs));
                    return Visit::End;
                }
                Next::Retry(ri) => {
                    let retry = self.retry(frame, run, step, ri, retries[ri], &attempt);
                    if retry.await.is_break() {
                        return Visit::End;
                    }
                }
            }
        }
    }

    /// Why `step` may not start (or try again) now: a stop was requested,
    /// `--max-duration` or the step's 1.1 `timeout` ran out, or the run's
    /// step budget is spent.
    pub(super) fn refuse_start(&self, frame: Frame<'_>, step: &CompiledStep) -> Option<RunError> {
        if let Some(signal) = self.opts.stop.requested() {
            return Some(self.interrupted_error(&step.step_id, signal, "before the step started"));
        }
        if self.out_of_time() {
            return Some(self.timeout_error(&step.step_id, "before the step could start"));
        }
        if let Some(l) = frame.limit.filter(|l| l.left().is_zero()) {
            return Some(l.error(
                self.program,
                &step.step_id,
                "before it could be tried again",
            ));
        }
        if self.executed.get() >= self.opts.max_steps {
            return Some(RunError {
                step_id: Some(step.step_id.clone()),
                kind: ErrorKind::Budget,
                message: format!(
                    "the run reached its budget of {} step executions (--max-steps); is there a goto loop without a way out?",
                    self.opts.max_steps
                ),
            });
        }
        None
    }

    /// Executes `step` once, as attempt number `attempts` of its visit: counted
    /// against the step budget, shown through events, its outputs replacing
    /// the step's earlier ones.
    async fn execute(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        step_outputs: &mut StepOutputs,
        attempts: u32,
    ) -> Attempt {
        self.executed.set(self.executed.get() + 1);
        let (method, path) = step.describe(self.program);
        (self.on_event.borrow_mut())(Event::StepStarted {
            step_id: &step.step_id,
            method: &method,
            path: &path,
            depth: frame.depth,
        });
        let attempt = self.attempt(frame, step, step_outputs, attempts).await;
        (self.on_event.borrow_mut())(Event::StepFinished {
            report: &attempt.report,
            depth: frame.depth,
        });
        step_outputs.insert(step.step_id.clone(), attempt.report.outputs.clone());
        attempt
    }

    /// A retry chosen by failure action `action` (retry number `retry` of the
    /// visit): waits as asked, then runs the action's `then` step or workflow
    /// before the step is tried again. `Break` when the wait ends the run.
    async fn retry(
        &self,
        frame: Frame<'_>,
        run: &mut StepsRun,
        step: &CompiledStep,
        action: usize,
        retry: u32,
        attempt: &Attempt,
    ) -> ControlFlow<()> {
        let ActionKind::Retry { after, then, .. } = &step.on_failure[action].kind else {
            return ControlFlow::Break(());
        };
        let failure = attempt.error.clone();
        let waited = self.retry_wait(step, attempt, *after, retry, failure, frame.limit);
        if let Err(e) = waited.await {
            run.reports.push(attempt.report.clone());
            run.stop_error = Some(e);
            return ControlFlow::Break(());
        }
        match then {
            Some(Jump::Step(s)) => {
                let program = self.program;
                let side = &program.workflows[frame.index].steps[*s];
                let side_attempt = self.execute(frame, side, &mut run.step_outputs, 1).await;
                run.reports.push(side_attempt.report);
            }
            Some(Jump::Workflow(w)) => {
                let inputs = {
                    let ctx = self.ctx(frame.inputs, &run.step_outputs, frame.index, Some(attempt));
                    super::next_step::action_inputs(&step.on_failure[action], &ctx)
                };
                let called = self.start_workflow(frame, *w, inputs).await;
                run.reports.extend(called.steps);
            }
            None => {}
        }
        ControlFlow::Continue(())
    }

    /// Runs workflow `target`, started by a goto or a retry's `then` from the
    /// frame's workflow, with the inputs it declares taken from the frame's
    /// and, over them, those the action's 1.1 `parameters` pass (`given`).
    async fn start_workflow(
        &self,
        frame: Frame<'_>,
        target: usize,
        given: Map<String, Value>,
    ) -> WorkflowRun {
        let mut inputs = filter_inputs(frame.inputs, &self.program.workflows[target]);
        inputs.extend(given);
        self.workflow(target, inputs, frame.depth + 1, frame.limit)
            .await
    }

    /// The workflow's result once its steps have ended: its error (the one
    /// that ended the steps, else the first step failure left standing) and
    /// its outputs.
    pub(super) fn finish(&self, frame: Frame<'_>, mut run: StepsRun) -> WorkflowRun {
        if let Some(called) = run.transfer.take() {
            run.transferred(called);
        }
        let error = run
            .stop_error
            .or_else(|| run.failures.first().map(|(_, e)| e.clone()));
        let succeeded = error.is_none();
        let outputs = self.workflow_outputs(frame, &run.step_outputs, succeeded);
        WorkflowRun {
            succeeded,
            outputs,
            steps: run.reports,
            error,
        }
    }

    /// The workflow's outputs: after a success one that resolves to nothing is
    /// null, after a failure it is left out.
    fn workflow_outputs(
        &self,
        frame: Frame<'_>,
        step_outputs: &StepOutputs,
        succeeded: bool,
    ) -> Map<String, Value> {
        let ctx = self.ctx(frame.inputs, step_outputs, frame.index, None);
        let mut outputs = Map::new();
        for (name, expr) in &self.program.workflows[frame.index].outputs {
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
        outputs
    }
}

impl StepsRun {
    /// Records an attempt at the step at `pc`: its failure stands unless it is
    /// retried; a visit of a step leaves one report entry (its last attempt,
    /// with the number of attempts the visit took), after the steps of a
    /// workflow it called.
    fn record(&mut self, attempt: &mut Attempt, next: &Next) {
        let retried = matches!(next, Next::Retry(_));
        let pc = self.pc;
        self.failures.retain(|(i, _)| *i != pc);
        if let Some(e) = &attempt.error {
            if !retried {
                self.failures.push((pc, e.clone()));
            }
        }
        self.reports.append(&mut attempt.nested);
        if !retried {
            self.reports.push(attempt.report.clone());
        }
    }

    /// A goto to a workflow is a one-way transfer: its result is this
    /// workflow's result, with this workflow's outputs evaluated after it.
    fn transferred(&mut self, called: WorkflowRun) {
        self.reports.extend(called.steps);
        if let Some(e) = called
            .error
            .as_ref()
            .filter(|e| e.kind == ErrorKind::Interrupted)
        {
            self.stop_error.get_or_insert(e.clone());
        }
        if !called.succeeded && self.failures.is_empty() {
            if let Some(e) = called.error {
                self.failures.push((usize::MAX, e));
            }
        }
    }
}
