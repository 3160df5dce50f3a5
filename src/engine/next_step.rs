//! Choosing what follows an attempt: the onSuccess or onFailure action whose
//! criteria hold, and the wait a retry asks for.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{criteria_hold, header, Attempt, Ctx, Frame, Next, Runner, StepLimit, StepOutputs};
use crate::compile::{Action, ActionKind, CompiledStep, Jump};
use crate::engine::outcome::{ErrorKind, RunError};

impl<'a, 'e> Runner<'a, 'e> {
    /// What the loop does after `attempt`: what the first onSuccess action
    /// whose criteria hold says after a success, what the first onFailure one
    /// says after a failure (a retry already made `retries` times, its limit,
    /// passed over).
    pub(super) fn choose_next(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        step_outputs: &StepOutputs,
        attempt: &Attempt,
        retries: &[u32],
    ) -> Next {
        let ctx = self.ctx(frame.inputs, step_outputs, frame.index, Some(attempt));
        if attempt.error.is_none() {
            on_success(step, &ctx)
        } else {
            // A step out of its 1.1 `timeout` is not retried ("retries and
            // all"), nor is one whose retry would wait past it; its other
            // failure actions still apply.
            let left = frame.limit.map(|l| l.left());
            on_failure(step, &ctx, retries, left, attempt)
        }
    }

    /// Waits before retry number `retry` of a step: the server's `Retry-After`
    /// (else the action's `retryAfter`). A wait beyond `--max-retry-wait` or
    /// `--max-duration`, or a signal during it, ends the run with the error.
    pub(super) async fn retry_wait(
        &self,
        step: &CompiledStep,
        attempt: &Attempt,
        after: Option<f64>,
        retry: u32,
        failure: Option<RunError>,
        limit: Option<StepLimit>,
    ) -> Result<(), RunError> {
        let Some((w, source)) = retry_delay(step, attempt, after) else {
            return Ok(());
        };
        if self.remaining().is_some_and(|r| r < w) {
            return Err(self.timeout_error(
                &step.step_id,
                &format!("before the retry wait of {:.1} s", w.as_secs_f64()),
            ));
        }
        if let Some(l) = limit.filter(|l| l.left() < w) {
            return Err(l.error(
                self.program,
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
}

/// After a success: the first onSuccess action whose criteria hold, else the
/// next step.
fn on_success(step: &CompiledStep, ctx: &Ctx<'_>) -> Next {
    match step
        .on_success
        .iter()
        .find(|a| criteria_hold(&a.criteria, ctx))
    {
        None => Next::Continue,
        Some(a) => match &a.kind {
            ActionKind::End => Next::End,
            ActionKind::Goto(Jump::Step(i)) => Next::Jump(*i),
            ActionKind::Goto(Jump::Workflow(w)) => Next::Transfer(*w, action_inputs(a, ctx)),
            ActionKind::Retry { .. } => Next::Continue,
        },
    }
}

/// After a failure: the first onFailure action whose criteria hold and, for a
/// retry, whose limit `retries` has not reached; none stops the workflow.
fn on_failure(
    step: &CompiledStep,
    ctx: &Ctx<'_>,
    retries: &[u32],
    left: Option<Duration>,
    attempt: &Attempt,
) -> Next {
    let out_of_time = |after: Option<f64>| {
        left.is_some_and(|left| {
            let wait = retry_delay(step, attempt, after).map(|(w, _)| w);
            left.is_zero() || wait.is_some_and(|w| w >= left)
        })
    };
    let mut skipped_for_time = false;
    for (i, a) in step.on_failure.iter().enumerate() {
        if !criteria_hold(&a.criteria, ctx) {
            continue;
        }
        let next = match &a.kind {
            ActionKind::Retry { limit, .. } if retries[i] >= *limit => continue,
            ActionKind::Retry { after, .. } if out_of_time(*after) => {
                skipped_for_time = true;
                continue;
            }
            ActionKind::Retry { .. } => Next::Retry(i),
            ActionKind::End => Next::End,
            ActionKind::Goto(Jump::Step(s)) => Next::Jump(*s),
            ActionKind::Goto(Jump::Workflow(w)) => Next::Transfer(*w, action_inputs(a, ctx)),
        };
        return next;
    }
    if skipped_for_time {
        Next::OutOfTime
    } else {
        Next::Stop
    }
}

/// The inputs an action's 1.1 `parameters` pass to the workflow it goes to,
/// evaluated where the action was chosen (an input that evaluates to nothing
/// is left out: the workflow's inputs schema then says whether it may be).
pub(super) fn action_inputs(action: &Action, ctx: &Ctx<'_>) -> Map<String, Value> {
    action
        .inputs
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.eval(ctx)?)))
        .collect()
}

/// How long to wait before a retry, and who asks for it: the server's
/// `Retry-After` when it can be read, else the action's `retryAfter` (`after`);
/// `None` for no wait.
fn retry_delay(
    step: &CompiledStep,
    attempt: &Attempt,
    after: Option<f64>,
) -> Option<(Duration, &'static str)> {
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
    from_header
        .map(|w| (w, "the server's Retry-After header"))
        .or(after.map(|a| {
            (
                Duration::try_from_secs_f64(a).unwrap_or(Duration::MAX),
                "the retry action's retryAfter",
            )
        }))
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
