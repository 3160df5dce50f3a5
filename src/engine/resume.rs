//! `--resume`: continue a run from the JSON report of an earlier one that
//! failed or was interrupted, without sending again a request whose step
//! finished.
//!
//! The report holds what a continuation needs: the inputs (secret ones left
//! out, to be supplied again), each step execution with its status and
//! outputs, and the outputs of the other workflows that finished. The run
//! continues at the step the report's error names, with the outputs of the
//! steps that finished. Where continuing could repeat or contradict what the
//! earlier run did, the plan is refused with the reason, before anything is
//! sent.

use serde_json::Value;

use crate::compile::{Program, StepTarget};
use crate::engine::outcome::{ErrorKind, RunReport, Status, StepReport};
use crate::engine::{FinishedWorkflows, Resume, StepOutputs};
use crate::redact::MASK;

/// What a resumed run does.
#[derive(Debug)]
pub enum Plan {
    /// The earlier run succeeded: nothing is sent, its report stands.
    Done(Box<RunReport>),
    /// Continue at a step.
    Continue(Continuation),
}

#[derive(Debug)]
pub struct Continuation {
    pub resume: Resume,
    /// The step the run continues at (`None`: from the start, nothing had
    /// finished).
    pub from: Option<String>,
    /// Step outputs that were masked in the report (they held a secret) and
    /// so are not restored, as `step.output`.
    pub masked: Vec<String>,
    /// The step whose request was in flight when the earlier run stopped,
    /// sent again: `METHOD path`.
    pub resent: Option<String>,
}

/// Methods that a server applies at most once however often they are sent
/// (RFC 9110 §9.2.2, and QUERY, OpenAPI 3.2's safe method with a body), so an
/// uncertain one may simply be sent again. A custom method (OpenAPI 3.2
/// `additionalOperations`) is not assumed to be.
pub(crate) const IDEMPOTENT: &[&str] =
    &["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", "QUERY"];

/// Reads a report: one JSON object (`-o json` or `--report` output).
pub fn parse_report(text: &str) -> Result<RunReport, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("it is empty".into());
    }
    let value: Value = serde_json::from_str(trimmed).map_err(|e| {
        let lines: Vec<&str> = trimmed.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.len() > 1 && lines.iter().all(|l| serde_json::from_str::<Value>(l).is_ok()) {
            format!(
                "it holds {} JSON lines (a batch's output or journal); resume a batch with --each FILE --resume",
                lines.len()
            )
        } else {
            format!("it is not JSON ({e})")
        }
    })?;
    if !value.is_object() || value.get("dryRun").is_some() {
        return Err("it is not a run report (write one with -o json or --report FILE)".into());
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        format!(
            "it is not a run report of arazzo: at `{}`: {}",
            e.path(),
            e.inner()
        )
    })
}

/// How to continue `prior` (a report of the program's entry workflow).
pub fn plan(program: &Program, prior: RunReport, resend_uncertain: bool) -> Result<Plan, String> {
    let wf = program.entry();
    if prior.workflow_id != wf.workflow_id {
        return Err(format!(
            "the report is of workflow `{}`, not `{}`",
            prior.workflow_id, wf.workflow_id
        ));
    }
    if prior.status == Status::Succeeded {
        return Ok(Plan::Done(Box::new(prior)));
    }
    let error = prior.error.clone().ok_or(
        "the report says the run did not succeed but names no error; it cannot be continued",
    )?;
    let workflows = finished_workflows(&prior);
    let Some(from) = error.step_id.as_deref() else {
        return plan_from_start(&prior, workflows);
    };
    let index = wf
        .steps
        .iter()
        .position(|s| s.step_id == from)
        .ok_or_else(|| {
            format!(
                "the report stops at step `{from}`, which workflow `{}` does not have (it stopped in a workflow reached by a goto, which cannot be continued)",
                wf.workflow_id
            )
        })?;
    if wf.parallel {
        let deps: Vec<&str> = wf
            .depends_on
            .iter()
            .map(|&d| program.workflows[d].workflow_id.as_str())
            .collect();
        return plan_graph(&prior, from, &deps, workflows, resend_uncertain);
    }
    let stopping = Stopping::locate(&prior, from, error.kind == ErrorKind::Interrupted)?;
    check_called_workflow(program, index, &prior, &stopping, from)?;
    let resent = resent_step(&prior, &stopping, resend_uncertain)?;
    let (step_outputs, masked) = restore(
        stopping
            .top
            .iter()
            .filter(|&&i| i < stopping.before)
            .map(|&i| &prior.steps[i]),
    );
    let carried = carry(&prior.steps[..stopping.before]);
    Ok(Plan::Continue(Continuation {
        resume: Resume {
            step: index,
            step_outputs,
            workflows,
            carried,
        },
        from: Some(from.to_string()),
        masked,
        resent,
    }))
}

/// How far a batch line got before its batch was killed, as its journal
/// records it (`batch::journal` folds the records into it).
pub struct Progress {
    /// The line's inputs (secret ones masked).
    pub inputs: serde_json::Map<String, Value>,
    /// The index of the step the run started at.
    pub from: usize,
    /// The steps a resumed run brought along, then the steps that finished.
    pub steps: Vec<crate::engine::outcome::StepReport>,
    /// The step whose request was (or was about to be) in flight:
    /// (stepId, method, path, depth).
    pub in_flight: Option<(String, String, String, u64)>,
    /// Whether a step of a workflow called by a step (depth > 0) had begun
    /// or finished after the last step of the workflow that was run.
    pub inside_call: bool,
}

/// A run that stopped before the workflow's first step (inputs, a dependsOn
/// workflow) starts again, unless a step had finished somewhere.
fn plan_from_start(prior: &RunReport, workflows: FinishedWorkflows) -> Result<Plan, String> {
    if let Some(done) = prior.steps.iter().find(|s| s.status == Status::Succeeded) {
        return Err(format!(
            "the run stopped in workflow `{}` (a dependsOn workflow) after its step `{}` had finished; only the steps of the workflow that was run can be continued",
            done.workflow_id.as_deref().unwrap_or(&prior.workflow_id),
            done.step_id
        ));
    }
    Ok(Plan::Continue(Continuation {
        resume: Resume {
            workflows,
            ..Resume::default()
        },
        from: None,
        masked: Vec::new(),
        resent: None,
    }))
}

/// Where, in the report's step entries, the earlier run stopped.
struct Stopping {
    /// The entries of the workflow's own steps (not of the workflows they
    /// call), in order.
    top: Vec<usize>,
    /// The entry of the stopping step: the last one of the workflow, when it
    /// is that step (a run interrupted before the step started has none).
    entry: Option<usize>,
    /// The entries before the stopping step's own (all of them when it has
    /// none): what the continuation carries over.
    before: usize,
    /// The first entry after the workflow's last own step before `before`:
    /// where the entries of a workflow the stopping step calls begin.
    first_inner: usize,
}

impl Stopping {
    /// Finds the stopping step's entry, refusing a report in which the run
    /// went on after the step `from` failed, or took a failure path before it.
    fn locate(prior: &RunReport, from: &str, interrupted: bool) -> Result<Stopping, String> {
        let top: Vec<usize> = (0..prior.steps.len())
            .filter(|&i| prior.steps[i].workflow_id.is_none())
            .collect();
        let entry = top.last().copied().filter(|&i| {
            prior.steps[i].step_id == from && prior.steps[i].status != Status::Succeeded
        });
        if entry.is_none() && !interrupted {
            let after: Vec<&str> = top
                .iter()
                .rev()
                .map(|&i| prior.steps[i].step_id.as_str())
                .take_while(|s| *s != from)
                .collect();
            return Err(format!(
                "after step `{from}` failed, the run went on (onFailure actions ran: {}); continuing at `{from}` would ignore what they did. Start a new run instead",
                after.into_iter().rev().collect::<Vec<_>>().join(", ")
            ));
        }
        let before = entry.unwrap_or(prior.steps.len());
        check_no_failure_path(&prior.steps[..before], from)?;
        let first_inner = top
            .iter()
            .rev()
            .find(|&&i| i < before)
            .map_or(0, |&i| i + 1);
        Ok(Stopping {
            top,
            entry,
            before,
            first_inner,
        })
    }
}

/// Refuses to continue at a step (number `index` of the workflow) that calls a
/// workflow which had finished some of its steps: calling it again would send
/// their requests again.
fn check_called_workflow(
    program: &Program,
    index: usize,
    prior: &RunReport,
    stopping: &Stopping,
    from: &str,
) -> Result<(), String> {
    if stopping.entry.is_none() {
        return Ok(());
    }
    let Some(done) = prior.steps[stopping.first_inner..stopping.before]
        .iter()
        .find(|s| s.status == Status::Succeeded)
    else {
        return Ok(());
    };
    let called = match &program.entry().steps[index].target {
        StepTarget::Workflow { workflow, .. } => program.workflows[*workflow].workflow_id.as_str(),
        StepTarget::Operation(_) | StepTarget::Message(_) => {
            done.workflow_id.as_deref().unwrap_or_default()
        }
    };
    Err(format!(
        "step `{from}` calls workflow `{called}`, which stopped after its step `{}` had finished; continuing would send that step's request again",
        done.step_id
    ))
}

/// The request that was in flight when the run stopped, which continuing
/// sends again (as `step `id` (METHOD url)`): refused for a method that is not
/// idempotent unless `--resend-uncertain`.
fn resent_step(
    prior: &RunReport,
    stopping: &Stopping,
    resend_uncertain: bool,
) -> Result<Option<String>, String> {
    let Some(i) = stopping.entry else {
        return Ok(None);
    };
    let entry = &prior.steps[i];
    let in_flight = std::iter::once(entry)
        .chain(prior.steps[stopping.first_inner..i].iter())
        .find(|s| s.status == Status::Uncertain && s.method != "CALL");
    let Some(u) = in_flight else {
        return Ok(None);
    };
    let what = format!("{} {}", u.method, u.url);
    if !IDEMPOTENT.contains(&u.method.to_ascii_uppercase().as_str()) && !resend_uncertain {
        return Err(format!(
            "step `{}` ({what}) was in flight when the run was interrupted: the server may have acted on it (created what it asks for). Check, then pass --resend-uncertain to send it again, or start a new run",
            u.step_id
        ));
    }
    Ok(Some(format!("step `{}` ({what})", u.step_id)))
}

/// How to continue a workflow whose steps ran as a graph (Arazzo 1.1
/// `dependsOn`): the steps that succeeded are carried with their outputs
/// (and the steps of the workflows they called); every other step runs
/// again when its prerequisites allow. A request left in flight is sent
/// again, refused for a method that is not idempotent unless
/// `--resend-uncertain`; a step that calls a workflow which had finished
/// some of its steps is refused, as in list order.
fn plan_graph(
    prior: &RunReport,
    from: &str,
    depends_on: &[&str],
    workflows: FinishedWorkflows,
    resend_uncertain: bool,
) -> Result<Plan, String> {
    // The steps of the `dependsOn` workflows come first; they finished
    // (`workflows` holds them) and are carried as they are.
    let lead = prior
        .steps
        .iter()
        .take_while(|s| {
            s.workflow_id
                .as_deref()
                .is_some_and(|w| depends_on.contains(&w))
        })
        .count();
    let mut carried: Vec<&StepReport> = prior.steps[..lead].iter().collect();
    // Then each top-level entry with the entries of the workflow it called
    // (they come just before it).
    let mut groups: Vec<&[StepReport]> = Vec::new();
    let mut start = lead;
    for (i, s) in prior.steps.iter().enumerate().skip(lead) {
        if s.workflow_id.is_none() {
            groups.push(&prior.steps[start..=i]);
            start = i + 1;
        }
    }
    if let Some(after) = prior.steps.get(start) {
        return Err(format!(
            "the run went on in workflow `{}` (a goto to it) after its own steps; continuing would ignore what that did. Start a new run instead",
            after.workflow_id.as_deref().unwrap_or_default()
        ));
    }
    // A step is carried when its latest visit succeeded (with its earlier
    // visits); any other runs again.
    let last_status = |id: &str| {
        groups
            .iter()
            .rev()
            .map(|g| &g[g.len() - 1])
            .find(|top| top.step_id == id)
            .map(|top| top.status)
    };
    let mut resent = Vec::new();
    for g in &groups {
        let (top, inner) = g.split_last().expect("a group ends with its step");
        if last_status(&top.step_id) == Some(Status::Succeeded) {
            carried.extend(g.iter());
            continue;
        }
        if let Some(done) = inner.iter().find(|s| s.status == Status::Succeeded) {
            return Err(format!(
                "step `{}` calls a workflow which stopped after its step `{}` had finished; continuing would send that step's request again",
                top.step_id, done.step_id
            ));
        }
        for u in g
            .iter()
            .filter(|s| s.status == Status::Uncertain && s.method != "CALL")
        {
            let what = format!("{} {}", u.method, u.url);
            if !IDEMPOTENT.contains(&u.method.to_ascii_uppercase().as_str()) && !resend_uncertain {
                return Err(format!(
                    "step `{}` ({what}) was in flight when the run was interrupted: the server may have acted on it (created what it asks for). Check, then pass --resend-uncertain to send it again, or start a new run",
                    u.step_id
                ));
            }
            resent.push(format!("step `{}` ({what})", u.step_id));
        }
    }
    let (step_outputs, masked) =
        restore(carried.iter().copied().filter(|s| s.workflow_id.is_none()));
    let carried: Vec<StepReport> = carried.into_iter().cloned().collect();
    Ok(Plan::Continue(Continuation {
        resume: Resume {
            step: 0,
            step_outputs,
            workflows,
            carried: carry(&carried),
        },
        from: Some(from.to_string()),
        masked,
        resent: (!resent.is_empty()).then(|| resent.join(", ")),
    }))
}

/// How to continue a batch line that was running when its batch was killed,
/// from its journaled progress: at the step that was in flight (an uncertain
/// one, sent again as an uncertain step of a report is), else after the last
/// step that finished.
pub fn plan_killed(program: &Program, p: Progress, resend_uncertain: bool) -> Result<Plan, String> {
    let wf = program.entry();
    if p.inside_call {
        return Err("the batch was killed while the line ran a workflow called by a step; continuing would send that workflow's finished steps again".into());
    }
    if !wf.depends_on.is_empty() && p.steps.iter().any(|s| s.workflow_id.is_some()) {
        return Err("the batch was killed while the line ran; its dependsOn workflows had run and cannot be carried over from the journal".into());
    }
    let position = |id: &str| wf.steps.iter().position(|s| s.step_id == id);
    let last = p.steps.iter().rev().find(|s| s.workflow_id.is_none());
    let (start, resent) = match (&p.in_flight, last) {
        (Some((id, method, path, _)), _) => {
            let what = format!("{method} {path}");
            if !IDEMPOTENT.contains(&method.to_ascii_uppercase().as_str()) && !resend_uncertain {
                return Err(format!(
                    "step `{id}` ({what}) was in flight when the batch was killed: the server may have acted on it. Check, then pass --resend-uncertain to send it again"
                ));
            }
            let i = position(id).ok_or_else(|| {
                format!("the journal names a step `{id}` the workflow does not have")
            })?;
            (i, Some(format!("step `{id}` ({what})")))
        }
        (None, None) => (p.from, None),
        (None, Some(a)) if a.status != Status::Succeeded => {
            let i = position(&a.step_id).ok_or_else(|| {
                format!(
                    "the journal names a step `{}` the workflow does not have",
                    a.step_id
                )
            })?;
            (i, None)
        }
        (None, Some(a)) => {
            let i = position(&a.step_id).ok_or_else(|| {
                format!(
                    "the journal names a step `{}` the workflow does not have",
                    a.step_id
                )
            })?;
            if !wf.steps[i].on_success.is_empty() {
                return Err(format!(
                    "the batch was killed after step `{}`, whose onSuccess actions decide what runs next; that cannot be known without its response",
                    a.step_id
                ));
            }
            (i + 1, None)
        }
    };
    let from = wf.steps.get(start).map(|s| s.step_id.clone());
    check_no_failure_path(&p.steps, from.as_deref().unwrap_or("the end"))?;
    let (step_outputs, masked) = restore(p.steps.iter().filter(|s| s.workflow_id.is_none()));
    let carried = carry(&p.steps);
    Ok(Plan::Continue(Continuation {
        resume: Resume {
            step: start,
            step_outputs,
            workflows: FinishedWorkflows::new(),
            carried,
        },
        from,
        masked,
        resent,
    }))
}

/// Refuses a report in which a step of the workflow failed for good before
/// `from`: the run then took a failure path (a cleanup, say) whose effects a
/// continuation would ignore.
fn check_no_failure_path(steps: &[StepReport], from: &str) -> Result<(), String> {
    let mut last: Vec<(&str, Status)> = Vec::new();
    for s in steps.iter().filter(|s| s.workflow_id.is_none()) {
        last.retain(|(id, _)| *id != s.step_id);
        last.push((&s.step_id, s.status));
    }
    match last
        .iter()
        .find(|(id, status)| *status != Status::Succeeded && *id != from)
    {
        Some((failed, _)) => Err(format!(
            "step `{failed}` had failed before the run reached `{from}`, and the run went on along its onFailure actions; continuing would ignore what they did. Start a new run instead"
        )),
        None => Ok(()),
    }
}

/// The other workflows the earlier run finished, for `$workflows.<id>.…`.
fn finished_workflows(prior: &RunReport) -> FinishedWorkflows {
    prior
        .workflows
        .iter()
        .filter(|(_, w)| w["status"] == "succeeded")
        .map(|(id, w)| {
            let map = |v: &Value| v.as_object().cloned().unwrap_or_default();
            (id.clone(), (map(&w["inputs"]), map(&w["outputs"])))
        })
        .collect()
}

/// The outputs of the steps that succeeded (the last execution of a step
/// wins), without those the report masked; and the masked ones, as
/// `step.output`.
fn restore<'a>(steps: impl Iterator<Item = &'a StepReport>) -> (StepOutputs, Vec<String>) {
    let mut step_outputs = StepOutputs::new();
    let mut masked = Vec::new();
    for s in steps.filter(|s| s.status == Status::Succeeded) {
        let mut outputs = s.outputs.clone();
        outputs.retain(|name, v| {
            let hidden = holds_mask(v);
            if hidden {
                masked.push(format!("{}.{name}", s.step_id));
            }
            !hidden
        });
        step_outputs.insert(s.step_id.clone(), outputs);
    }
    masked.sort();
    masked.dedup();
    (step_outputs, masked)
}

/// The earlier run's step reports, marked as carried over.
fn carry(steps: &[StepReport]) -> Vec<StepReport> {
    steps
        .iter()
        .cloned()
        .map(|mut s| {
            s.resumed = true;
            s
        })
        .collect()
}

/// Whether a value held a secret that the report masked.
pub(crate) fn holds_mask(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(MASK),
        Value::Array(items) => items.iter().any(holds_mask),
        Value::Object(m) => m.values().any(holds_mask),
        _ => false,
    }
}
