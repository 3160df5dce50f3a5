//! Whether the runtime expressions of a workflow name things that exist:
//! declared inputs, steps and their outputs (run before the reader, without
//! jumps), workflows, workflow outputs, sources and components.

use std::collections::{BTreeSet, HashMap};

use super::errors::{error, fail, suggest, token, CompileError};
use crate::document::{Loaded, Workflow};
use crate::expr::{Expr, Pointer};

/// Checks that the runtime expressions of a workflow name things that exist.
pub(super) struct RefCheck<'a> {
    pub(super) loaded: &'a Loaded,
    pub(super) doc: usize,
    pub(super) wf: &'a Workflow,
    pub(super) declared_inputs: &'a Option<BTreeSet<String>>,
    pub(super) step_outputs: &'a HashMap<&'a str, BTreeSet<&'a str>>,
    /// Without gotos, steps run in list order, so a step can read only earlier steps.
    pub(super) strict_order: bool,
}

impl RefCheck<'_> {
    /// Checks expression `e`, written at `place` (in step `step_index`, or at
    /// workflow level): the first thing it names that does not exist.
    pub(super) fn check(
        &self,
        e: &Expr,
        place: &str,
        step_index: Option<usize>,
    ) -> Result<(), CompileError> {
        let wf = self.wf;
        let d = &self.loaded.docs[self.doc];
        match e {
            Expr::Inputs { name, pointer } => self.check_input(e, name, pointer.as_ref(), place),
            Expr::Steps {
                step,
                output,
                pointer,
            } => self.check_step_output(e, step, output, pointer.as_ref(), place, step_index),
            Expr::Workflows {
                workflow,
                part: crate::expr::WorkflowPart::Inputs,
                name,
                pointer,
            } if *workflow == wf.workflow_id => self.check_input(e, name, pointer.as_ref(), place),
            Expr::Workflows { workflow, .. }
                if !d
                    .doc
                    .doc
                    .workflows
                    .iter()
                    .any(|w| &w.workflow_id == workflow) =>
            {
                fail(
                    "ref/unknown-workflow",
                    format!("{place}: `{e}` names a workflow that does not exist in this document"),
                    suggest(
                        workflow,
                        d.doc.doc.workflows.iter().map(|w| w.workflow_id.as_str()),
                    ),
                )
            }
            // Inside a step, `$outputs` reads the outputs of the workflow the step
            // called; in workflow outputs it must name a declared output.
            Expr::Outputs { name, .. }
                if step_index.is_none() && !wf.outputs.contains_key(name) =>
            {
                fail(
                    "ref/unknown-output",
                    format!(
                        "{place}: `{e}` names an output workflow `{}` does not declare",
                        wf.workflow_id
                    ),
                    None,
                )
            }
            Expr::SourceDescriptions { name, .. } if d.source(name).is_none() => fail(
                "ref/unknown-source",
                format!("{place}: `{e}` names a source description that does not exist"),
                suggest(name, d.sources.iter().map(|(n, _)| n.as_str())),
            ),
            Expr::Components { kind, name } => {
                let exists = d
                    .doc
                    .raw
                    .get("components")
                    .and_then(|c| c.get(kind.as_str()))
                    .and_then(|m| m.get(name.as_str()))
                    .is_some();
                if !exists {
                    return fail(
                        "ref/unknown-component",
                        format!("{place}: `{e}` does not exist in the document's components"),
                        None,
                    );
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `$inputs.<name>`: an input the workflow declares.
    fn check_input(
        &self,
        e: &Expr,
        name: &str,
        pointer: Option<&Pointer>,
        place: &str,
    ) -> Result<(), CompileError> {
        let Some(decl) = self.declared_inputs else {
            return fail(
                "ref/undeclared-input",
                format!(
                    "{place}: `{e}` reads an input, but workflow `{}` declares no inputs",
                    self.wf.workflow_id
                ),
                Some("declare it under the workflow's `inputs.properties`".into()),
            );
        };
        if let Some(e) = dot_access(e, name, pointer, |n| decl.contains(n)) {
            return Err(e.message_at(place));
        }
        if !decl.contains(name) {
            return fail(
                "ref/undeclared-input",
                format!("{place}: `{e}` reads an input the workflow does not declare"),
                Some(match suggest(name, decl.iter().map(String::as_str)) {
                    Some(s) => s,
                    None => format!(
                        "declared inputs: {}",
                        if decl.is_empty() {
                            "none".to_string()
                        } else {
                            decl.iter().cloned().collect::<Vec<_>>().join(", ")
                        }
                    ),
                }),
            );
        }
        Ok(())
    }

    /// `$steps.<step>.outputs.<output>`: a step of the workflow, run before
    /// step `step_index` when steps run in order, and an output it declares.
    fn check_step_output(
        &self,
        e: &Expr,
        step: &str,
        output: &str,
        pointer: Option<&Pointer>,
        place: &str,
        step_index: Option<usize>,
    ) -> Result<(), CompileError> {
        let wf = self.wf;
        let Some(position) = wf.steps.iter().position(|s| s.step_id == step) else {
            return fail(
                "ref/unknown-step",
                format!(
                    "{place}: `{e}` names a step that does not exist in workflow `{}`",
                    wf.workflow_id
                ),
                suggest(step, wf.steps.iter().map(|s| s.step_id.as_str())),
            );
        };
        if self.strict_order && step_index.is_some_and(|i| position >= i) {
            return fail(
                "ref/step-not-run-yet",
                format!("{place}: `{e}` reads step `{step}`, which has not run yet at this point"),
                Some("a step can read only the outputs of steps before it".to_string()),
            );
        }
        let outs = self.step_outputs.get(step);
        if let Some(e) = dot_access(e, output, pointer, |n| outs.is_some_and(|o| o.contains(n))) {
            return Err(e.message_at(place));
        }
        if !outs.is_some_and(|o| o.contains(output)) {
            return fail(
                "ref/unknown-output",
                format!("{place}: `{e}`: step `{step}` declares no output `{output}`"),
                Some(
                    match outs.and_then(|o| suggest(output, o.iter().copied())) {
                        Some(s) => s,
                        None => format!(
                            "step `{step}` outputs: {}",
                            outs.map(|o| o.iter().copied().collect::<Vec<_>>().join(", "))
                                .filter(|s| !s.is_empty())
                                .unwrap_or_else(|| "none".into())
                        ),
                    },
                ),
            );
        }
        Ok(())
    }
}

/// `$steps.s.outputs.a.b` where `a` is declared and `a.b` is not: a dot used to
/// reach into the value of `a`, which the spec writes `$steps.s.outputs.a#/b`.
/// `declared` says whether a name exists. The error carries the rewrite.
fn dot_access(
    e: &Expr,
    name: &str,
    pointer: Option<&Pointer>,
    declared: impl Fn(&str) -> bool,
) -> Option<CompileError> {
    if declared(name) || !name.contains('.') {
        return None;
    }
    // The longest declared name the written one starts with.
    let split = name
        .match_indices('.')
        .map(|(i, _)| i)
        .rev()
        .find(|&i| declared(&name[..i]))?;
    let (head, rest) = (&name[..split], &name[split + 1..]);
    let mut tail: String = rest.split('.').map(|t| format!("/{}", token(t))).collect();
    if let Some(p) = pointer {
        tail.push_str(p.as_str());
    }
    let written = e.to_string();
    let prefix_len = written.len() - name.len() - pointer.map_or(0, |p| p.as_str().len() + 1);
    let fixed = format!("{}{head}#{tail}", &written[..prefix_len]);
    let mut err = error(
        "expr/dot-access",
        format!("`{written}` reads `{head}` with a dot: a dot after a name is part of the name, and there is no `{name}`"),
        Some(format!("write `{fixed}` (a JSON Pointer after `#` selects inside the value; `arazzo validate --fix` does it)")),
    );
    err.needle = Some(written.clone());
    err.fix = Some(Box::new((written, fixed)));
    Some(err)
}
