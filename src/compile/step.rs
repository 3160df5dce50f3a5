//! Compiling one step: its parameters (its own over the workflow's), its
//! target (an operation, or a workflow it calls), its success criteria, its
//! actions (its own, then the workflow's it does not override) and outputs.

use super::action::ActionList;
use super::compiler::{Compiler, Place};
use super::criterion_check::{compile_criterion, locate_criterion};
use super::errors::{error, token, CompileError};
use super::parameters::{same_param, ParamAt};
use super::program::{Action, CompiledCriterion, CompiledStep, StepTarget};
use super::values::{compile_output, output_key_ok, syntax_error, BodyValues};
use super::workflow::Inherited;
use crate::document::Step;
use crate::expr::{Expr, ValueExpr};

/// A step's parameters and body, their values compiled before its target is
/// known (every value is checked whatever happens to the operation).
pub(super) struct StepRequest {
    pub(super) params: Vec<ParamAt>,
    /// The value of each of `params`, in order; `None` where it did not compile.
    pub(super) values: Vec<Option<ValueExpr>>,
    pub(super) body: Option<BodyValues>,
}

impl<'a> Compiler<'a> {
    /// Compiles one step. Every independent check runs: a problem is reported at
    /// its place and only what depends on the broken part is skipped. `None` when
    /// the step could not be compiled whole (its problems are in `self.errors`).
    pub(super) fn step(
        &mut self,
        step: &Step,
        inherited: &Inherited,
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> Option<CompiledStep> {
        let before = self.errors.len();
        // Mistakes the step is still checked past (as if fixed), reported last.
        let mut deferred: Vec<CompileError> = Vec::new();
        self.one_target(step, at);
        let request = self.step_request(step, &inherited.params, at, located);
        let mut target = match &step.workflow_id {
            Some(w) => self.workflow_target(step, w, request, at),
            None if self.is_message_step(step, at) => self.message_target(step, request, at),
            None => self.operation_target(step, request, at, &mut deferred),
        };
        if let Some(StepTarget::Operation(call)) = &mut target {
            let (api, operation) = (call.api.clone(), call.operation.clone());
            call.security = self.call_security(&api, &operation, at, located);
        }
        let success_criteria = self.success_criteria(step, at, located);
        let (on_success, on_failure) = self.step_actions(step, inherited, at, located);
        let outputs = self.step_outputs(step, at, located);
        let timeout = self.step_timeout(step, at);
        let failed = self.errors.len() != before;
        // In the step's order: the target comes before what follows it.
        self.errors.splice(before..before, deferred);
        if failed {
            return None;
        }
        Some(CompiledStep {
            step_id: step.step_id.clone(),
            target: target?,
            success_criteria,
            on_success,
            on_failure,
            outputs,
            timeout,
            deps: Default::default(),
            secret_outputs: Vec::new(),
        })
    }

    /// The step's 1.1 `timeout` in milliseconds; zero is refused (the step
    /// could never finish).
    fn step_timeout(&mut self, step: &Step, at: &Place) -> Option<std::time::Duration> {
        match step.timeout? {
            0 => {
                self.errors.push(
                    error(
                        "step/invalid",
                        format!("{at}: `timeout: 0` leaves the step no time to run"),
                        Some("give the most milliseconds the step may take, e.g. `timeout: 5000`, or remove it".into()),
                    )
                    .at(&at.pointer_to("timeout")),
                );
                None
            }
            ms => Some(std::time::Duration::from_millis(ms)),
        }
    }

    /// Reports a step that names more than one target.
    fn one_target(&mut self, step: &Step, at: &Place) {
        let targets = [
            ("operationId", step.operation_id.is_some()),
            ("operationPath", step.operation_path.is_some()),
            ("workflowId", step.workflow_id.is_some()),
            ("channelPath", step.channel_path.is_some()),
        ];
        let given: Vec<&str> = targets.iter().filter(|t| t.1).map(|t| t.0).collect();
        if given.len() > 1 {
            self.errors.push(
                error(
                    "step/target",
                    format!("{at}: `operationId`, `operationPath`, `workflowId` and `channelPath` are mutually exclusive"),
                    Some("give the step exactly one of them".to_string()),
                )
                .at(&at.pointer_to(given[1])),
            );
        }
    }

    /// The step's parameters with their values compiled, and its body's values.
    fn step_request(
        &mut self,
        step: &Step,
        wf_params: &[ParamAt],
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> StepRequest {
        // Step parameters override workflow parameters with the same name and `in`.
        let own = self.parameter_list(&step.parameters, &at.pointer_to("parameters"), at);
        let mut params: Vec<ParamAt> = wf_params
            .iter()
            .filter(|w| !own.iter().any(|o| same_param(&o.param, &w.param)))
            .cloned()
            .collect();
        params.extend(own);
        // Every value is compiled whatever happens to the operation.
        let values: Vec<Option<ValueExpr>> = params
            .iter()
            .map(|p| {
                let what = format!("{at}, parameter `{}`", p.param.name);
                self.value_at(&p.param.value, &p.value_ptr, &what, located)
            })
            .collect();
        let body = step
            .request_body
            .as_ref()
            .map(|rb| self.body_values(rb, at, located));
        StepRequest {
            params,
            values,
            body,
        }
    }

    /// The target of a step that calls workflow `w`: its parameters become the
    /// workflow's inputs (a request body has no place there).
    fn workflow_target(
        &mut self,
        step: &Step,
        w: &str,
        request: StepRequest,
        at: &Place,
    ) -> Option<StepTarget> {
        if step.request_body.is_some() {
            self.errors.push(
                error(
                    "step/invalid",
                    format!("{at}: a step that calls a workflow cannot have a `requestBody`"),
                    None,
                )
                .at(&at.pointer_to("requestBody")),
            );
        }
        if step.x_security.is_some() {
            self.errors.push(
                error(
                    "auth/x-security",
                    format!("{at}: `x-security` applies to a step that calls an operation, and this step calls a workflow"),
                    Some("put the `x-security` entries on the called workflow (they apply to each of its steps)".into()),
                )
                .at(&at.pointer_to("x-security")),
            );
        }
        match self.resolve_workflow(w, at) {
            Ok(workflow) => {
                let inputs = request
                    .params
                    .iter()
                    .zip(request.values)
                    .filter_map(|(p, v)| Some((p.param.name.clone(), v?)))
                    .collect();
                Some(StepTarget::Workflow { workflow, inputs })
            }
            Err(e) => {
                self.errors.push(e.at(&at.pointer_to("workflowId")));
                None
            }
        }
    }

    /// The target of a step that calls an operation: found, then the step's
    /// request checked against it. An operationPath written with a bare source
    /// goes to `deferred` (with its fix) and the step is checked as if fixed.
    fn operation_target(
        &mut self,
        step: &Step,
        request: StepRequest,
        at: &Place,
        deferred: &mut Vec<CompileError>,
    ) -> Option<StepTarget> {
        let target_ptr = if step.operation_path.is_some() && step.operation_id.is_none() {
            at.pointer_to("operationPath")
        } else {
            at.pointer_to("operationId")
        };
        // `api#/paths/…` (or the source's URL before the `#`) for
        // `{$sourceDescriptions.api.url}#/paths/…`: reported with its fix,
        // and the step checked as if it were written so.
        let fixed_path = step.operation_path.as_deref().and_then(|path| {
            let (e, fixed) = self.bare_operation_path(path, at)?;
            deferred.push(e.at(&target_ptr));
            Some(fixed)
        });
        let fixed_step;
        let step = match fixed_path {
            Some(path) => {
                fixed_step = Step {
                    operation_path: Some(path),
                    ..step.clone()
                };
                &fixed_step
            }
            None => step,
        };
        match self.resolve_operation(step, at) {
            Ok(resolved) => self
                .operation_call(resolved, request, at, &target_ptr)
                .map(|c| StepTarget::Operation(Box::new(c))),
            Err(e) => {
                let e = if step.operation_id.is_none() && step.operation_path.is_none() {
                    e.at(&at.pointer_to("stepId"))
                } else {
                    e.at(&target_ptr)
                };
                self.errors.push(e);
                None
            }
        }
    }

    /// The step's success criteria; one that does not compile is reported and
    /// left out. Their expressions go to `located`.
    fn success_criteria(
        &mut self,
        step: &Step,
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> Vec<CompiledCriterion> {
        let mut success_criteria = Vec::new();
        for (i, c) in step.success_criteria.iter().enumerate() {
            let c_ptr = at.pointer_to(&format!("successCriteria/{i}"));
            match compile_criterion(&at.to_string(), c, &c_ptr) {
                Ok(compiled) => {
                    locate_criterion(&compiled, &c_ptr, located);
                    success_criteria.push(compiled);
                }
                Err(e) => self.errors.push(e.at(&c_ptr)),
            }
        }
        success_criteria
    }

    /// The step's `onSuccess` and `onFailure` actions, each followed by the
    /// workflow's it does not override.
    fn step_actions(
        &mut self,
        step: &Step,
        inherited: &Inherited,
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> (Vec<Action>, Vec<Action>) {
        let mut on_success = self.actions(
            ActionList {
                items: &step.on_success,
                success: true,
                pointer: at.pointer_to("onSuccess"),
            },
            at,
            located,
        );
        let mut on_failure = self.actions(
            ActionList {
                items: &step.on_failure,
                success: false,
                pointer: at.pointer_to("onFailure"),
            },
            at,
            located,
        );
        inherit(&mut on_success, &inherited.success);
        inherit(&mut on_failure, &inherited.failure);
        (on_success, on_failure)
    }

    /// The step's outputs; one that does not compile is reported and left
    /// out. Their expressions go to `located`.
    fn step_outputs(
        &mut self,
        step: &Step,
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> Vec<(String, ValueExpr)> {
        let mut outputs = Vec::new();
        for (name, v) in &step.outputs {
            let out_ptr = at.pointer_to(&format!("outputs/{}", token(name)));
            if !output_key_ok(name) {
                self.errors.push(
                    error(
                        "id/output-key",
                        format!("{at}: output name `{name}` must match ^[a-zA-Z0-9.-_]+$"),
                        Some("use letters, digits, `.`, `-` and `_` only".to_string()),
                    )
                    .at(&out_ptr),
                );
            }
            let what = format!("{at}, output `{name}`");
            match compile_output(v) {
                Ok(compiled) => {
                    for e in compiled.expressions() {
                        located.push((out_ptr.clone(), e.clone()));
                    }
                    if let Some(e) = v.as_str().and_then(|t| self.near_miss(t, &what)) {
                        self.errors.push(e.at(&out_ptr));
                    }
                    outputs.push((name.clone(), compiled));
                }
                Err(m) => self
                    .errors
                    .push(syntax_error(&what, v.as_str().unwrap_or(""), m).at(&out_ptr)),
            }
        }
        outputs
    }
}

/// Appends to a step's actions the workflow's it does not override by name:
/// a step can override a workflow action but never remove it.
fn inherit(own: &mut Vec<Action>, workflow: &[Action]) {
    for a in workflow {
        if !own.iter().any(|s| s.name == a.name) {
            own.push(a.clone());
        }
    }
}
