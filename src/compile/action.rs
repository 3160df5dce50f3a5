//! Success and failure actions (a workflow's, a step's): inline objects and
//! Reusable Objects, each compiled to an [`Action`] with its jump resolved to
//! an index and its criteria parsed.

use serde_json::Value;

use super::compiler::{Compiler, Place};
use super::criterion_check::{compile_criterion, locate_criterion};
use super::errors::{error, suggest, token, CompileError};
use super::program::{Action, ActionKind, CompiledCriterion, Jump};
use crate::document::Criterion;
use crate::expr::{Expr, ValueExpr};

/// An action list as written.
pub(super) struct ActionList<'v> {
    pub(super) items: &'v [Value],
    /// Success actions (`end` or `goto`), else failure actions (also `retry`).
    pub(super) success: bool,
    /// JSON Pointer of the list.
    pub(super) pointer: String,
}

impl ActionList<'_> {
    /// The components a Reusable Object of this list refers to.
    fn component_kind(&self) -> &'static str {
        if self.success {
            "successActions"
        } else {
            "failureActions"
        }
    }

    /// The list as messages name it.
    fn field_name(&self) -> &'static str {
        if self.success {
            "onSuccess"
        } else {
            "onFailure"
        }
    }
}

/// An action's fields as written (in its component, for a Reusable Object)
/// and the JSON Pointer they sit under.
struct WrittenAction {
    fields: Value,
    base: String,
}

impl WrittenAction {
    /// The JSON Pointer of one of its fields.
    fn pointer_to(&self, field: &str) -> String {
        format!("{}/{field}", self.base)
    }

    /// A field's text, when it is a string.
    fn str(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }
}

impl<'a> Compiler<'a> {
    /// Compiles an action list (inline objects and Reusable Objects). A broken
    /// action is reported at its place and left out; the others are still compiled.
    /// The expressions of their criteria go to `located`, with their places.
    pub(super) fn actions(
        &mut self,
        list: ActionList,
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> Vec<Action> {
        let mut out: Vec<Action> = Vec::new();
        for (k, item) in list.items.iter().enumerate() {
            let item_ptr = format!("{}/{k}", list.pointer);
            match self.action(&list, item, &item_ptr, &out, at, located) {
                Ok(a) => out.push(a),
                Err(e) => self.errors.push(e.at(&item_ptr)),
            }
        }
        out
    }

    /// Compiles one action of `list`; `earlier` holds those before it, whose
    /// names it must not repeat. The first problem found fails it.
    fn action(
        &mut self,
        list: &ActionList,
        item: &Value,
        item_ptr: &str,
        earlier: &[Action],
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> Result<Action, CompileError> {
        let written = self.written_action(list, item, item_ptr, at)?;
        let what = list.field_name();
        let name = written.str("name").ok_or_else(|| {
            error(
                "action/invalid",
                format!("{at}: an action in `{what}` has no `name`"),
                None,
            )
        })?;
        if earlier.iter().any(|a| a.name == name) {
            return Err(error(
                "action/duplicate",
                format!("{at}: `{what}` holds two actions named `{name}`"),
                Some("an action list must not hold duplicates".to_string()),
            )
            .at(&written.pointer_to("name")));
        }
        let place = format!("{at}, action `{name}`");
        let jump = self.jump(&written, &place, at)?;
        let kind = action_kind(&written, list, jump, &place)?;
        let criteria = action_criteria(&written, &place, located)?;
        let inputs = self.action_inputs(&written, jump, &place, at, located)?;
        Ok(Action {
            name: name.to_string(),
            kind,
            criteria,
            inputs,
        })
    }

    /// 1.1: the action's `parameters`, "passed to a workflow as referenced by
    /// `workflowId`" (so only with one), without `in`.
    fn action_inputs(
        &mut self,
        written: &WrittenAction,
        jump: Option<Jump>,
        place: &str,
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> Result<Vec<(String, ValueExpr)>, CompileError> {
        let Some(raw) = written.fields.get("parameters") else {
            return Ok(Vec::new());
        };
        let list_ptr = written.pointer_to("parameters");
        if !matches!(jump, Some(Jump::Workflow(_))) {
            return Err(error(
                "action/invalid",
                format!("{place}: `parameters` are passed to a workflow, but the action names no `workflowId`"),
                Some("remove `parameters`, or point the action at a workflow with `workflowId`".into()),
            )
            .at(&list_ptr));
        }
        let Some(items) = raw.as_array() else {
            return Err(error(
                "action/invalid",
                format!("{place}: `parameters` must be a list of Parameter Objects"),
                None,
            )
            .at(&list_ptr));
        };
        let mut inputs = Vec::new();
        for p in self.parameter_list(items, &list_ptr, at) {
            if p.param.location.is_some() {
                return Err(error(
                    "param/invalid",
                    format!("{place}: parameter `{}` has `in`, but parameters passed to a workflow map to its inputs", p.param.name),
                    Some("remove `in`: the 1.1 text says it MUST NOT be used here".into()),
                )
                .at(&p.in_ptr));
            }
            let what = format!("{place}, parameter `{}`", p.param.name);
            if let Some(v) = self.value_at(&p.param.value, &p.value_ptr, &what, located) {
                inputs.push((p.param.name.clone(), v));
            }
        }
        Ok(inputs)
    }

    /// The fields of an action: the item itself, or inside a Reusable Object
    /// the component it refers to.
    fn written_action(
        &self,
        list: &ActionList,
        item: &Value,
        item_ptr: &str,
        at: &Place,
    ) -> Result<WrittenAction, CompileError> {
        let Some(r) = item.get("reference") else {
            return Ok(WrittenAction {
                fields: item.clone(),
                base: item_ptr.to_string(),
            });
        };
        let kind = list.component_kind();
        let fields = self
            .component(r, kind, at)
            .map_err(|e| e.at(&format!("{item_ptr}/reference")))?;
        let name = r.as_str().and_then(|r| r.rsplit('.').next()).unwrap_or("");
        Ok(WrittenAction {
            fields,
            base: format!("/components/{kind}/{}", token(name)),
        })
    }

    /// Where the action goes (`stepId` in the current workflow, or
    /// `workflowId`), as an index; `None` when it names neither.
    fn jump(
        &mut self,
        written: &WrittenAction,
        place: &str,
        at: &Place,
    ) -> Result<Option<Jump>, CompileError> {
        let step_id = written.str("stepId");
        let workflow_id = written.str("workflowId");
        if step_id.is_some() && workflow_id.is_some() {
            return Err(error(
                "action/invalid",
                format!("{place}: `stepId` and `workflowId` are mutually exclusive"),
                None,
            )
            .at(&written.pointer_to("workflowId")));
        }
        let wf = at.workflow;
        Ok(match (step_id, workflow_id) {
            (Some(s), None) => match wf.steps.iter().position(|x| x.step_id == s) {
                Some(i) => Some(Jump::Step(i)),
                None => {
                    return Err(error(
                        "ref/unknown-step",
                        format!(
                            "{place}: there is no step `{s}` in workflow `{}`",
                            wf.workflow_id
                        ),
                        suggest(s, wf.steps.iter().map(|x| x.step_id.as_str())).or_else(|| {
                            Some(
                                "a goto or retry stepId must name a step of the current workflow"
                                    .into(),
                            )
                        }),
                    )
                    .at(&written.pointer_to("stepId")))
                }
            },
            (None, Some(w)) => Some(Jump::Workflow(
                self.resolve_workflow(w, at)
                    .map_err(|e| e.at(&written.pointer_to("workflowId")))?,
            )),
            _ => None,
        })
    }
}

/// What the action does, by its `type`: which types the list allows, and what
/// each needs (a `goto` a target; a `retry` valid `retryAfter`/`retryLimit`).
fn action_kind(
    written: &WrittenAction,
    list: &ActionList,
    jump: Option<Jump>,
    place: &str,
) -> Result<ActionKind, CompileError> {
    let ty = written.str("type").unwrap_or("");
    match (ty, list.success) {
        ("end", _) => Ok(ActionKind::End),
        ("goto", _) => match jump {
            Some(j) => Ok(ActionKind::Goto(j)),
            None => Err(error(
                "action/invalid",
                format!("{place}: a `goto` action needs a `stepId` or a `workflowId`"),
                None,
            )
            .at(&written.pointer_to("type"))),
        },
        ("retry", false) => retry(written, jump, place),
        (other, _) => {
            let allowed = if list.success {
                "end or goto"
            } else {
                "end, retry or goto"
            };
            Err(error(
                "action/invalid",
                format!("{place}: `type: {other}` is not an action type here"),
                Some(format!("{} actions are {allowed}", list.field_name())),
            )
            .at(&written.pointer_to("type")))
        }
    }
}

/// A `retry` action: how long to wait (`retryAfter`, seconds), how many times
/// (`retryLimit`, default 1), and what to run first (`then`).
fn retry(
    written: &WrittenAction,
    then: Option<Jump>,
    place: &str,
) -> Result<ActionKind, CompileError> {
    let after = match written.fields.get("retryAfter") {
        None => None,
        Some(v) => match v.as_f64() {
            Some(f) if (0.0..=1.0e7).contains(&f) => Some(f),
            _ => {
                return Err(error(
                    "action/invalid",
                    format!(
                    "{place}: `retryAfter` must be a non-negative number of seconds (at most 1e7)"
                ),
                    None,
                )
                .at(&written.pointer_to("retryAfter")))
            }
        },
    };
    let limit = match written.fields.get("retryLimit") {
        None => 1,
        Some(v) => match v.as_u64() {
            Some(n) => n.min(u32::MAX as u64) as u32,
            None => {
                return Err(error(
                    "action/invalid",
                    format!("{place}: `retryLimit` must be a non-negative integer"),
                    None,
                )
                .at(&written.pointer_to("retryLimit")))
            }
        },
    };
    Ok(ActionKind::Retry { after, limit, then })
}

/// The action's criteria, compiled; their expressions go to `located`.
fn action_criteria(
    written: &WrittenAction,
    place: &str,
    located: &mut Vec<(String, Expr)>,
) -> Result<Vec<CompiledCriterion>, CompileError> {
    let mut criteria = Vec::new();
    let Some(list) = written.fields.get("criteria") else {
        return Ok(criteria);
    };
    let list: Vec<Criterion> = serde_json::from_value(list.clone()).map_err(|e| {
        error(
            "criteria/invalid",
            format!("{place}: `criteria` is malformed: {e}"),
            None,
        )
        .at(&written.pointer_to("criteria"))
    })?;
    for (i, c) in list.iter().enumerate() {
        let c_ptr = written.pointer_to(&format!("criteria/{i}"));
        let compiled = compile_criterion(place, c, &c_ptr)?;
        locate_criterion(&compiled, &c_ptr, located);
        criteria.push(compiled);
    }
    Ok(criteria)
}
