//! Running the steps of a 1.1 workflow as a graph: a step starts once the
//! steps it depends on (its `dependsOn` and the steps its expressions read)
//! have completed, independent steps at once, up to `--max-parallel`.
//!
//! Steps run as futures on the run's one thread, so their requests overlap
//! while the state they share stays in the runner's cells. Each visit runs
//! with its own copy of the outputs it may read (those of its
//! prerequisites), and what it leaves is merged when it ends. The report
//! lists visits in document order (a step visited twice, twice, in visit
//! order), whatever order they finished in, so reports, JUnit and traces
//! do not depend on timing.
//!
//! Actions keep their 1.0 meaning, applied to the step that chose them: an
//! `end`, a failure no action handles, or a goto to a workflow stops new
//! steps from starting, lets the ones in flight finish, then ends (or
//! transfers); a goto to a step runs that step again, and after it every
//! step that depends on it; a retry retries its own step.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::outcome::{ErrorKind, RunError, StepReport};
use super::run_loop::{StepsRun, Visit};
use super::{Frame, Runner, StepOutputs, WorkflowRun};
use crate::compile::{ActionKind, CompiledStep, Jump};

/// Where each step of the graph stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    /// Its latest visit succeeded: the steps after it may start.
    Done,
    /// Its latest visit failed: the steps after it wait for a visit that
    /// succeeds (a goto back to it), else never start.
    Failed,
}

/// A goto to a workflow: its index and the inputs the action passes.
type Transfer = (usize, serde_json::Map<String, serde_json::Value>);

/// One visit that ended: the step, its visit number, what it left, how it ended.
type Ended = (usize, u32, StepsRun, Visit);

type Task<'t> = Pin<Box<dyn Future<Output = Ended> + 't>>;

/// The scheduler's view of a workflow's steps.
struct Graph<'p> {
    steps: &'p [CompiledStep],
    /// For each step, the steps that depend on it.
    dependents: Vec<Vec<usize>>,
    state: Vec<State>,
    visits: Vec<u32>,
    /// The report entries of each visit: (step, visit number, entries).
    reports: Vec<(usize, u32, Vec<StepReport>)>,
    /// No step starts any more (an end, a stop, a transfer).
    halted: bool,
    /// Steps a goto sent back while they were running: they wait again
    /// once their running visit ends.
    rerun_pending: Vec<bool>,
    /// The goto to a workflow chosen by the step listed first: (step, target).
    transfer: Option<(usize, Transfer)>,
}

impl Graph<'_> {
    fn ready(&self, i: usize) -> bool {
        self.state[i] == State::Waiting
            && self.steps[i]
                .deps
                .after
                .iter()
                .all(|&j| self.state[j] == State::Done)
    }

    /// After a goto to step `j`: it and every step that (transitively)
    /// depends on it run again.
    fn rerun_from(&mut self, j: usize) {
        let mut stack = vec![j];
        let mut seen = HashSet::new();
        while let Some(k) = stack.pop() {
            if !seen.insert(k) {
                continue;
            }
            if self.state[k] == State::Running {
                self.rerun_pending[k] = true;
            } else {
                self.state[k] = State::Waiting;
            }
            stack.extend(self.dependents[k].iter().copied());
        }
    }
}

impl<'a, 'e> Runner<'a, 'e> {
    /// Runs the frame's workflow as a graph of steps, then evaluates its outputs.
    pub(super) async fn steps_graph(&self, frame: Frame<'_>) -> WorkflowRun {
        let program = self.program;
        let steps = &program.workflows[frame.index].steps[..];
        let (_, carried) = self.start_at(frame);
        let mut run = StepsRun::new(0, carried);
        let mut g = Graph {
            steps,
            state: steps
                .iter()
                .map(|s| match run.step_outputs.contains_key(&s.step_id) {
                    true => State::Done,
                    false => State::Waiting,
                })
                .collect(),
            visits: vec![0; steps.len()],
            reports: Vec::new(),
            halted: false,
            dependents: dependents(steps),
            rerun_pending: vec![false; steps.len()],
            transfer: None,
        };
        let mut stop: Option<(usize, RunError)> = None;
        let mut tasks: FuturesUnordered<Task<'_>> = FuturesUnordered::new();
        let max = self.opts.max_parallel.max(1);
        loop {
            while !g.halted && tasks.len() < max {
                let Some(i) = (0..steps.len()).find(|&i| g.ready(i)) else {
                    break;
                };
                if let Some(e) = self
                    .refuse_start(frame, &steps[i])
                    .or_else(|| self.unmet_elsewhere(&steps[i]))
                {
                    keep_first(&mut stop, i, e);
                    g.halted = true;
                    break;
                }
                g.state[i] = State::Running;
                g.visits[i] += 1;
                let outputs = prerequisite_outputs(&steps[i], steps, &run.step_outputs);
                tasks.push(self.graph_visit(frame, i, g.visits[i], outputs));
            }
            let Some((i, visit, local, how)) = tasks.next().await else {
                break;
            };
            self.merge(&mut g, &mut run, &mut stop, (i, visit, local, how));
        }
        g.reports.sort_by_key(|(i, v, _)| (*i, *v));
        run.reports = g.reports.into_iter().flat_map(|(_, _, r)| r).collect();
        run.failures.sort_by_key(|(i, _)| *i);
        // A goto to a workflow runs only when nothing stopped the workflow.
        run.transfer_to = g.transfer.filter(|_| stop.is_none()).map(|(_, t)| t);
        run.stop_error = stop.map(|(_, e)| e);
        self.transfer(frame, &mut run).await;
        self.finish(frame, run)
    }

    /// A visit of step `i` (visit number `visit`) with the outputs it may read.
    fn graph_visit<'t>(
        &'t self,
        frame: Frame<'t>,
        i: usize,
        visit: u32,
        outputs: StepOutputs,
    ) -> Task<'t> {
        Box::pin(async move {
            let mut local = StepsRun::new(i, outputs);
            let how = self.visit(frame, &mut local).await;
            (i, visit, local, how)
        })
    }

    /// Takes in a visit that ended: its outputs, reports and failures, and
    /// what its action asks of the graph.
    fn merge(
        &self,
        g: &mut Graph<'_>,
        run: &mut StepsRun,
        stop: &mut Option<(usize, RunError)>,
        (i, visit, local, how): Ended,
    ) {
        let step = &g.steps[i];
        // What the visit produced: its step's outputs and those of a step a
        // retry ran on the way (not the copies of others' it was given).
        for (id, outs) in local.step_outputs {
            if id == step.step_id || side_trip(step, g.steps, &id) {
                run.step_outputs.insert(id, outs);
            }
        }
        let failed_here = local.failures.iter().any(|(p, _)| *p == i);
        run.failures.retain(|(p, _)| *p != i);
        run.failures.extend(local.failures);
        g.reports.push((i, visit, local.reports));
        if let Some(e) = local.stop_error {
            keep_first(stop, i, e);
        }
        if let Some(t) = local.transfer_to {
            if g.transfer.as_ref().is_none_or(|(s, _)| i < *s) {
                g.transfer = Some((i, t));
            }
        }
        g.state[i] = if failed_here || stop.as_ref().is_some_and(|(s, _)| *s == i) {
            State::Failed
        } else {
            State::Done
        };
        if std::mem::take(&mut g.rerun_pending[i]) {
            g.state[i] = State::Waiting;
        }
        match how {
            Visit::Next => {}
            Visit::Jump(j) => g.rerun_from(j),
            Visit::End => g.halted = true,
        }
    }

    /// Why a step cannot start: a step of another workflow it depends on
    /// (`$workflows.<id>.steps.<stepId>`) has not completed in this run.
    /// `dependsOn` does not start it.
    fn unmet_elsewhere(&self, step: &CompiledStep) -> Option<RunError> {
        let finished = self.finished.borrow();
        let (w, s) = step.deps.elsewhere.iter().find(|(w, _)| {
            let id = &self.program.workflows[*w].workflow_id;
            !finished.get(id).is_some_and(|f| f.succeeded)
        })?;
        let wid = &self.program.workflows[*w].workflow_id;
        Some(RunError {
            step_id: Some(step.step_id.clone()),
            kind: ErrorKind::Dependency,
            message: format!(
                "step `{}` depends on step `{s}` of workflow `{wid}`, which has not completed in this run (dependsOn does not start it: run `{wid}` first, e.g. through the workflow's dependsOn)",
                step.step_id
            ),
        })
    }
}

/// For each step, the steps whose prerequisites include it.
fn dependents(steps: &[CompiledStep]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); steps.len()];
    for (i, s) in steps.iter().enumerate() {
        for &j in &s.deps.after {
            out[j].push(i);
        }
    }
    out
}

/// Keeps the stop of the earliest step in the list, so that which error
/// ends the workflow does not depend on which visit ended first; an
/// interruption comes before any other (it is what `--resume` continues).
fn keep_first(stop: &mut Option<(usize, RunError)>, i: usize, e: RunError) {
    let rank = |e: &RunError| e.kind != ErrorKind::Interrupted;
    let better = match stop.as_ref() {
        None => true,
        Some((s, kept)) => (rank(&e), i) < (rank(kept), *s),
    };
    if better {
        *stop = Some((i, e));
    }
}

/// Whether a retry of `step` runs step `id` first.
fn side_trip(step: &CompiledStep, steps: &[CompiledStep], id: &str) -> bool {
    step.on_failure.iter().any(|a| {
        matches!(a.kind, ActionKind::Retry { then: Some(Jump::Step(s)), .. } if steps[s].step_id == id)
    })
}

/// The outputs a visit of `step` may read: its prerequisites', its own from
/// an earlier visit, and those of the steps a retry of it runs first (with
/// their prerequisites').
fn prerequisite_outputs(
    step: &CompiledStep,
    steps: &[CompiledStep],
    all: &StepOutputs,
) -> StepOutputs {
    let side_trips = step.on_failure.iter().filter_map(|a| match a.kind {
        ActionKind::Retry {
            then: Some(Jump::Step(s)),
            ..
        } => Some(&steps[s]),
        _ => None,
    });
    std::iter::once(step)
        .chain(side_trips)
        .flat_map(|s| {
            s.deps
                .after
                .iter()
                .map(|&j| &steps[j].step_id)
                .chain(std::iter::once(&s.step_id))
        })
        .filter_map(|id| Some((id.clone(), all.get(id)?.clone())))
        .collect()
}
