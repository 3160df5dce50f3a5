//! One attempt at a step: its request built and handed to the transport (or
//! its workflow called), its successCriteria checked, its outputs evaluated.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Instant;

use serde_json::{Map, Value};

use super::request::{self, BuiltRequest};
use super::{
    base_url, criterion_holds, send, Attempt, Ctx, Event, Frame, Received, Runner, StepLimit,
    StepOutputs, MAX_NESTING,
};
use crate::compile::{CompiledStep, CompiledWorkflow, OperationCall, StepTarget};
use crate::engine::interrupt::Signal;
use crate::engine::outcome::{ErrorKind, RunError, Status, StepReport};
use crate::expr::{Resolve, ValueExpr};
use crate::redact::Redactor;

/// How long an error response body shown in a message may be.
const SHOWN_BODY: usize = 400;

/// What the transport gives back: a response, or the kind of failure and why.
type Outcome = Result<Received, (ErrorKind, String)>;

impl<'a, 'e> Runner<'a, 'e> {
    /// Attempt number `number` (from 1) at a step: build and send the request
    /// (or call the workflow), check successCriteria, evaluate outputs. The
    /// number is known from the start, so that the exchange's event (and the
    /// trace) says which attempt sent it.
    pub(super) async fn attempt(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        step_outputs: &StepOutputs,
        number: u32,
    ) -> Attempt {
        let started = Instant::now();
        let mut attempt = self.new_attempt(frame.index, step, number);
        self.subscribe_ahead(frame, step_outputs).await;
        let reached = match &step.target {
            StepTarget::Message(call) => {
                self.call_message(frame, step, call, step_outputs, &mut attempt)
                    .await
            }
            StepTarget::Operation(call) => {
                self.call_operation(frame, step, call, step_outputs, &mut attempt)
                    .await
            }
            StepTarget::Workflow { .. } if frame.depth >= MAX_NESTING => {
                attempt.error = Some(step_error(
                    step,
                    ErrorKind::Workflow,
                    format!("workflows call each other more than {MAX_NESTING} levels deep; is there a cycle of workflow calls?"),
                ));
                ControlFlow::Continue(())
            }
            StepTarget::Workflow { workflow, inputs } => {
                let child = &self.program.workflows[*workflow];
                attempt.report.url = format!("workflow:{}", child.workflow_id);
                match self.called_inputs(frame, step_outputs, child, inputs) {
                    Err(m) => attempt.error = Some(step_error(step, ErrorKind::Request, m)),
                    Ok(called) => {
                        self.call_workflow(frame, step, *workflow, called, &mut attempt)
                            .await
                    }
                }
                ControlFlow::Continue(())
            }
        };
        if reached.is_continue() {
            self.conclude(frame, step, step_outputs, &mut attempt);
        }
        attempt.report.duration_ms = started.elapsed().as_millis() as u64;
        attempt
    }

    /// Attempt `number` at `step` of workflow `wf_index`, not run yet: it
    /// counts as failed until it succeeds.
    fn new_attempt(&self, wf_index: usize, step: &CompiledStep, number: u32) -> Attempt {
        let (method, _) = step.describe(self.program);
        Attempt {
            report: StepReport {
                step_id: step.step_id.clone(),
                workflow_id: (wf_index != 0)
                    .then(|| self.program.workflows[wf_index].workflow_id.clone()),
                status: Status::Failed,
                status_code: None,
                attempts: number,
                outputs: Map::new(),
                duration_ms: 0,
                method,
                url: String::new(),
                resumed: false,
            },
            error: None,
            request: None,
            response: None,
            message: None,
            called_outputs: None,
            nested: Vec::new(),
        }
    }

    /// Builds the request of an operation step, hands it to the transport and
    /// records the exchange on the attempt. `Break` when the attempt ends
    /// there: the request could not be built or given its credentials, or a
    /// stop came while it waited for its response. A 401 to a request that
    /// carried a renewable token renews it and sends the request once more.
    async fn call_operation(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        call: &OperationCall,
        step_outputs: &StepOutputs,
        attempt: &mut Attempt,
    ) -> ControlFlow<()> {
        let Some((mut built, mut applied)) = self
            .prepare_request(frame, step, call, step_outputs, attempt)
            .await
        else {
            return ControlFlow::Break(());
        };
        let client = self
            .opts
            .auth
            .client_for(&call.source)
            .unwrap_or(self.client);
        loop {
            let flow = self
                .send_request(frame, (step, step_outputs), call, &built, client, attempt)
                .await;
            let refused = attempt.response.as_ref().is_some_and(|r| r.status == 401);
            if refused && applied.renew.is_some() && self.opts.stop.requested().is_none() {
                match self.renew(call, &mut built, &mut applied).await {
                    Ok(true) => {
                        for s in &built.secrets {
                            self.redactor.add(s);
                        }
                        attempt.response = None;
                        continue;
                    }
                    Ok(false) => {}
                    Err(m) => {
                        attempt.error = Some(step_error(step, ErrorKind::Auth, m));
                        attempt.request = Some(built);
                        return ControlFlow::Break(());
                    }
                }
            }
            attempt.request = Some(built);
            return flow;
        }
    }

    /// The step's request built, with its credentials on it (their values
    /// registered as secrets); `None` when it cannot be, the reason on the
    /// attempt.
    async fn prepare_request(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        call: &OperationCall,
        step_outputs: &StepOutputs,
        attempt: &mut Attempt,
    ) -> Option<(BuiltRequest, super::credentials::Applied)> {
        let prepared = {
            let ctx = self.ctx(frame.inputs, step_outputs, frame.index, None);
            base_url(call, self.opts).and_then(|base| {
                let built = request::build(call, &base, &ctx).map_err(|e| e.0)?;
                let explicit = self.explicit_values(call, &ctx)?;
                Ok((base, built, explicit))
            })
        };
        let (base, mut built, explicit) = match prepared {
            Ok(b) => b,
            Err(m) => {
                attempt.error = Some(step_error(step, ErrorKind::Request, m));
                return None;
            }
        };
        // A token endpoint that does not answer is held to --max-duration:
        // `Err(())` when it ran out.
        let authorized = match self.remaining() {
            Some(left) => {
                tokio::time::timeout(left, self.authorize(call, &mut built, &base, explicit))
                    .await
                    .map_err(|_| ())
            }
            None => Ok(self.authorize(call, &mut built, &base, explicit).await),
        };
        for s in &built.secrets {
            self.redactor.add(s);
        }
        attempt.report.url = built.url.clone();
        match authorized {
            Ok(Ok(applied)) => Some((built, applied)),
            Err(()) => {
                attempt.error =
                    Some(self.timeout_error(&step.step_id, "while fetching an OAuth 2.0 token"));
                None
            }
            Ok(Err(m)) => {
                attempt.error = Some(step_error(step, ErrorKind::Auth, m));
                None
            }
        }
    }

    /// Sends the built request once and records the exchange on the
    /// attempt (its response, or why there is none) and in the events.
    async fn send_request(
        &self,
        frame: Frame<'_>,
        (step, step_outputs): (&CompiledStep, &StepOutputs),
        call: &OperationCall,
        built: &BuiltRequest,
        client: &reqwest::Client,
        attempt: &mut Attempt,
    ) -> ControlFlow<()> {
        let sent_at = Instant::now();
        let mut hops = Vec::new();
        let flow = match self
            .exchange(built, client, &mut hops, frame.limit, &step.step_id)
            .await
        {
            Ok(Ok(r)) => {
                attempt.report.status_code = Some(r.status);
                attempt.response = Some(r);
                ControlFlow::Continue(())
            }
            Ok(Err((kind, m))) => {
                let hint = what_to_check(kind, &m, &call.source);
                let message = format!("{}: {m}{hint}", as_sent(built, step));
                attempt.error = Some(step_error(step, kind, message));
                ControlFlow::Continue(())
            }
            Err(signal) => {
                let e = self.interrupted_error(
                    &step.step_id,
                    signal,
                    &format!(
                        "while {} was waiting for its response (the grace period of {} passed); the server may have acted on the request",
                        as_sent(built, step),
                        crate::engine::interrupt::describe(self.opts.stop.grace())
                    ),
                );
                attempt.report.status = Status::Uncertain;
                attempt.error = Some(e);
                ControlFlow::Break(())
            }
        };
        // Before the exchange is logged: a login token is masked already.
        self.register_secret_outputs(frame, step, step_outputs, attempt);
        self.report_exchange(frame.index, attempt, built, &hops, sent_at);
        flow
    }

    /// Registers as secrets the step's outputs that a later step sends as a
    /// credential, from the response just received: before the exchange is
    /// logged or traced.
    fn register_secret_outputs(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        step_outputs: &StepOutputs,
        attempt: &Attempt,
    ) {
        if step.secret_outputs.is_empty() || attempt.response.is_none() {
            return;
        }
        let ctx = self.ctx(frame.inputs, step_outputs, frame.index, Some(attempt));
        for (name, expr) in &step.outputs {
            if step.secret_outputs.contains(name) {
                // Only values that look like credentials: a short one (a
                // test's `fresh`) would mask every id that holds it, and is
                // registered anyway when it is sent.
                let text = expr.eval(&ctx).map(|v| crate::expr::stringify(Some(&v)));
                if let Some(text) = text.filter(|t| t.len() >= 8) {
                    self.redactor.add(&text);
                }
            }
        }
    }

    /// Sends a request within `--max-duration`. When a stop is requested
    /// while it is in flight, it has the grace period to finish; `Err` is the
    /// signal when it did not (the server may have acted on it).
    async fn exchange(
        &self,
        built: &BuiltRequest,
        client: &reqwest::Client,
        hops: &mut Vec<send::Hop>,
        limit: Option<StepLimit>,
        step_id: &str,
    ) -> Result<Outcome, Signal> {
        let sent = self.transport(built, client, hops);
        let max_duration = self.opts.max_duration.unwrap_or_default();
        let run_limit = self.remaining().map(|left| {
            let why = format!(
                "the run reached --max-duration ({:.1} s) while waiting for the response",
                max_duration.as_secs_f64()
            );
            (left, why)
        });
        // The step's 1.1 `timeout` when it ends first: the shortest wins.
        let step_limit = limit.map(|l| {
            let e = l.error(self.program, step_id, "while waiting for the response");
            (l.left(), e.message)
        });
        let first = match (run_limit, step_limit) {
            (Some(r), Some(s)) => Some(if s.0 < r.0 { s } else { r }),
            (r, s) => r.or(s),
        };
        let sent = async move {
            match first {
                Some((left, why)) => tokio::time::timeout(left, sent)
                    .await
                    .unwrap_or_else(|_| Err((ErrorKind::Timeout, why))),
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

    /// The transport seam: where an attempt hands its built request over and
    /// gets back a response. Everything HTTP (the client, redirects, reading
    /// the body up to its limit) is behind this one call into [`send`]; the
    /// deadline and the stop around it are the caller's.
    async fn transport(
        &self,
        built: &BuiltRequest,
        client: &reqwest::Client,
        hops: &mut Vec<send::Hop>,
    ) -> Outcome {
        send::send(
            built,
            client,
            self.opts.max_response_bytes,
            self.redactor,
            hops,
        )
        .await
    }

    /// Tells the live displays and traces about the attempt's exchange, sent
    /// at `sent_at`.
    fn report_exchange(
        &self,
        wf_index: usize,
        attempt: &Attempt,
        built: &BuiltRequest,
        hops: &[send::Hop],
        sent_at: Instant,
    ) {
        (self.on_event.borrow_mut())(Event::Exchange {
            workflow_id: &self.program.workflows[wf_index].workflow_id,
            step_id: &attempt.report.step_id,
            attempt: attempt.report.attempts,
            request: built,
            response: attempt.response.as_ref(),
            error: attempt.error.as_ref().map(|e| e.message.as_str()),
            redirects: hops,
            started_ms: sent_at.duration_since(self.started).as_millis() as u64,
            duration_ms: sent_at.elapsed().as_millis() as u64,
        });
    }

    /// The inputs of a called workflow, built from the step's parameters
    /// (`params`) and checked against its schema.
    fn called_inputs(
        &self,
        frame: Frame<'_>,
        step_outputs: &StepOutputs,
        child: &CompiledWorkflow,
        params: &[(String, ValueExpr)],
    ) -> Result<Map<String, Value>, String> {
        let ctx = self.ctx(frame.inputs, step_outputs, frame.index, None);
        let mut map = Map::new();
        for (k, v) in params {
            let value = v.eval_required(&ctx).map_err(|why| {
                format!(
                    "input `{k}` of workflow `{}` cannot be built: {why}",
                    child.workflow_id
                )
            })?;
            if let Some(v) = value {
                map.insert(k.clone(), v);
            }
        }
        crate::engine::inputs::check(child.inputs_schema.as_ref(), &map)
            .map(|_| map)
            .map_err(|m| {
                format!(
                    "the inputs for workflow `{}` are invalid: {m}",
                    child.workflow_id
                )
            })
    }

    /// Calls workflow `workflow` with `inputs`, and records on the attempt its
    /// steps, its outputs and, when it did not succeed, why.
    async fn call_workflow(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        workflow: usize,
        inputs: Map<String, Value>,
        attempt: &mut Attempt,
    ) {
        let run = self
            .workflow(workflow, inputs, frame.depth + 1, frame.limit)
            .await;
        let child = &self.program.workflows[workflow];
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
                step,
                ErrorKind::Interrupted,
                format!(
                    "workflow `{}` was {} at step `{}`",
                    child.workflow_id,
                    e.message,
                    e.step_id.as_deref().unwrap_or_default()
                ),
            ));
        } else if !run.succeeded {
            let why = run
                .error
                .map(|e| format!("at step `{}`: {}", e.step_id.unwrap_or_default(), e.message));
            attempt.error = Some(step_error(
                step,
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

    /// The end of an attempt that was not cut short: its criteria and outputs
    /// evaluated when it got that far, its status, and why each output that
    /// is missing is, for the requests that read it later.
    fn conclude(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        step_outputs: &StepOutputs,
        attempt: &mut Attempt,
    ) {
        let mut unresolved: HashMap<String, String> = HashMap::new();
        if attempt.error.is_none() || attempt.called_outputs.is_some() {
            self.evaluate(frame, step, step_outputs, attempt, &mut unresolved);
        }
        if attempt.error.is_none() {
            attempt.report.status = Status::Succeeded;
        }
        note_unevaluated(step, attempt, &mut unresolved);
        self.unresolved.borrow_mut()[frame.index].insert(step.step_id.clone(), unresolved);
    }

    /// Checks the successCriteria against the attempt's response (or called
    /// workflow's outputs) and evaluates the step's outputs; the attempt's
    /// error then says why it failed, if it did.
    fn evaluate(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        step_outputs: &StepOutputs,
        attempt: &mut Attempt,
        unresolved: &mut HashMap<String, String>,
    ) {
        let (failed, outputs, unreadable) = {
            let ctx = self.ctx(frame.inputs, step_outputs, frame.index, Some(&*attempt));
            let failed = if attempt.error.is_some() {
                None
            } else {
                unmet_criteria(step, &ctx)
            };
            let status = attempt.report.status_code;
            let (outputs, mut unreadable) = read_outputs(step, &ctx, status, unresolved);
            if failed.is_none() && unreadable.is_none() {
                unreadable = unreadable_action(step, &ctx);
            }
            (failed, outputs, unreadable)
        };
        attempt.report.outputs = outputs;
        self.judge(step, attempt, failed, unreadable);
    }

    /// The attempt's error from its evaluation: a body an output or action
    /// needs that cannot be read, criteria not met (`failed`), or
    /// `--max-duration` reached while they were evaluated.
    fn judge(
        &self,
        step: &CompiledStep,
        attempt: &mut Attempt,
        failed: Option<String>,
        unreadable: Option<String>,
    ) {
        let timed_out = failed.is_some() && self.out_of_time();
        if let (None, Some(why), Some(req), Some(resp)) =
            (&failed, unreadable, &attempt.request, &attempt.response)
        {
            attempt.error = Some(step_error(
                step,
                ErrorKind::Response,
                format!("{} answered {}, but {why}", as_sent(req, step), resp.status),
            ));
        }
        if let (true, Some(why)) = (timed_out, &failed) {
            attempt.error = Some(self.timeout_error(
                &step.step_id,
                &format!("while evaluating the step's criteria ({why})"),
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
            attempt.error = Some(step_error(step, ErrorKind::Criteria, message));
        }
    }
}

/// An error of `step`.
fn step_error(step: &CompiledStep, kind: ErrorKind, message: String) -> RunError {
    RunError {
        step_id: Some(step.step_id.clone()),
        kind,
        message,
    }
}

/// Why the step failed its successCriteria, if it did: the first one not met
/// or not evaluable; without criteria, a status that is not 2xx.
fn unmet_criteria(step: &CompiledStep, ctx: &Ctx<'_>) -> Option<String> {
    if step.success_criteria.is_empty() {
        return match ctx.response {
            Some(r) if !(200..300).contains(&r.status) => {
                Some("the step has no successCriteria and the status is not 2xx".to_string())
            }
            _ => None,
        };
    }
    step.success_criteria
        .iter()
        .find_map(|c| match criterion_holds(c, ctx) {
            Ok(true) => None,
            Ok(false) => Some(format!("successCriteria `{}` not met", c.text)),
            Err(why) => Some(format!(
                "successCriteria `{}` could not be evaluated ({why})",
                c.text
            )),
        })
}

/// The step's outputs, each that resolves to nothing noted in `unresolved`
/// with why; and why the step fails when an output reads a response body that
/// cannot be read (answered with status `status`).
fn read_outputs(
    step: &CompiledStep,
    ctx: &Ctx<'_>,
    status: Option<u16>,
    unresolved: &mut HashMap<String, String>,
) -> (Map<String, Value>, Option<String>) {
    let mut outputs = Map::new();
    // An output that reads a body that could not be read fails the step.
    let mut unreadable: Option<String> = None;
    for (name, expr) in &step.outputs {
        if let Some(e) = ctx.body_error(expr.expressions().into_iter()) {
            unreadable
                .get_or_insert_with(|| format!("output `{name}` reads the response body: {e}"));
            unresolved.insert(
                name.clone(),
                format!(
                    "step `{}` answered {} but its output `{name}` could not be read: {e}",
                    step.step_id,
                    status.unwrap_or_default()
                ),
            );
            continue;
        }
        match expr.eval(ctx) {
            Some(v) => {
                outputs.insert(name.clone(), v);
            }
            None => {
                unresolved.insert(name.clone(), output_reason(step, name, expr, ctx));
            }
        }
    }
    (outputs, unreadable)
}

/// An action that would read an unreadable body cannot be chosen: why the
/// step fails when an onSuccess action's criteria read one.
fn unreadable_action(step: &CompiledStep, ctx: &Ctx<'_>) -> Option<String> {
    step.on_success.iter().find_map(|a| {
        let exprs = a.criteria.iter().flat_map(|c| c.expressions());
        ctx.body_error(exprs)
            .map(|e| format!("onSuccess action `{}` reads the response body: {e}", a.name))
    })
}

/// Why each output that is not there is not, for the requests that need it:
/// the step failed before evaluating it.
fn note_unevaluated(
    step: &CompiledStep,
    attempt: &Attempt,
    unresolved: &mut HashMap<String, String>,
) {
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
}

/// Why step output `name` (`expr`) resolved to nothing, for the requests that
/// would have used it.
fn output_reason(step: &CompiledStep, name: &str, expr: &ValueExpr, ctx: &Ctx<'_>) -> String {
    if let Some(why) = expr.selector_failure(ctx) {
        return format!(
            "step `{}`'s output `{name}` is undefined: {why}",
            step.step_id
        );
    }
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
        StepTarget::Workflow { .. } | StepTarget::Message(_) => "",
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
