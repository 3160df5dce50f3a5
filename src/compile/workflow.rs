//! Compiling one workflow: its inputs, `dependsOn`, the parameters and actions
//! its steps inherit, its steps in order, and its outputs. Every runtime
//! expression met on the way is checked for what it names ([`RefCheck`]).

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::action::ActionList;
use super::compiler::{Compiler, Place};
use super::errors::{error, token, CompileError};
use super::inputs_schema::inputs_schema;
use super::parameters::ParamAt;
use super::program::{Action, CompiledStep, CompiledWorkflow, StepTarget};
use super::refs::RefCheck;
use super::values::{compile_output, output_key_ok, syntax_error};
use crate::document::Workflow;
use crate::expr::{Expr, ValueExpr};

/// What every step of a workflow inherits from it: its parameters, and its
/// actions (those a step does not override by name).
pub(super) struct Inherited {
    pub(super) params: Vec<ParamAt>,
    pub(super) success: Vec<Action>,
    pub(super) failure: Vec<Action>,
}

/// A workflow's inputs, as its schema declares them.
struct Inputs {
    /// The inputs JSON Schema with `#/components/inputs/…` references inlined.
    schema: Option<Value>,
    /// The input names; `None` when the workflow declares no inputs at all.
    declared: Option<BTreeSet<String>>,
    /// Inputs whose values are secrets: `format: password` or `writeOnly: true`.
    secret: BTreeSet<String>,
}

impl<'a> Compiler<'a> {
    /// Compiles workflow `id` of document `doc`. It fails whole only when it
    /// cannot be found or its inputs schema cannot be read; any other problem
    /// goes to `self.errors` and the rest is still compiled (a step that does
    /// not compile is left out and the workflow marked `incomplete`).
    pub(super) fn workflow(
        &mut self,
        doc: usize,
        id: &str,
    ) -> Result<CompiledWorkflow, CompileError> {
        let loaded = self.loaded;
        let d = &loaded.docs[doc];
        let (wf, wf_ptr) = find_workflow(&d.doc.doc.workflows, id)?;
        self.selectors = !d.doc.doc.arazzo.starts_with("1.0");
        let here = Place {
            doc,
            workflow: wf,
            step: None,
            pointer: wf_ptr,
        };
        let mut inputs = workflow_inputs(&d.doc.raw, &here)?;
        let depends_on = self.depends_on(&here);
        self.duplicate_step_ids(&here);
        let mut wf_located = Vec::new();
        let inherited = self.inherited(&here, &mut wf_located);
        let step_outputs = step_outputs(wf);
        let refs = RefCheck {
            loaded,
            doc,
            wf,
            declared_inputs: &inputs.declared,
            step_outputs: &step_outputs,
            strict_order: !has_jumps(wf, &inherited)
                && wf.steps.iter().all(|s| s.depends_on.is_empty()),
        };
        self.check_located(&refs, &wf_located, &here.to_string(), None);
        let (mut steps, incomplete) = self.steps(&here, &inherited, &refs, &mut inputs.secret);
        let graph = self.step_graph(&here, (!incomplete).then_some(&steps[..]));
        let parallel = graph.is_some();
        if let (false, Some(graph)) = (incomplete, graph) {
            for (step, deps) in steps.iter_mut().zip(graph) {
                step.deps = deps;
            }
        }
        let outputs = self.workflow_outputs(&here, &refs);
        Ok(CompiledWorkflow {
            workflow_id: wf.workflow_id.clone(),
            summary: wf.summary.clone(),
            description: wf.description.clone(),
            doc,
            inputs_schema: inputs.schema,
            steps,
            outputs,
            secret_inputs: inputs.secret,
            depends_on,
            parallel,
            incomplete,
        })
    }

    /// Resolves `dependsOn`: the workflows (indexes, each once) that must
    /// complete first. A reference that does not resolve is reported at its entry.
    fn depends_on(&mut self, here: &Place) -> Vec<usize> {
        let mut depends_on = Vec::new();
        for (k, dep) in here.workflow.depends_on.iter().enumerate() {
            match self.resolve_workflow(dep, here) {
                Ok(i) if !depends_on.contains(&i) => depends_on.push(i),
                Ok(_) => {}
                Err(e) => self.errors.push(
                    e.code_as("ref/unknown-dependency")
                        .at(&here.pointer_to(&format!("dependsOn/{k}"))),
                ),
            }
        }
        depends_on
    }

    /// Reports every step whose stepId an earlier step of the workflow has.
    fn duplicate_step_ids(&mut self, here: &Place) {
        let wid = &here.workflow.workflow_id;
        let step_ids: Vec<&str> = here
            .workflow
            .steps
            .iter()
            .map(|s| s.step_id.as_str())
            .collect();
        for (i, s) in step_ids.iter().enumerate() {
            if step_ids[..i].contains(s) {
                self.errors.push(
                    error(
                        "id/duplicate-step",
                        format!("workflow `{wid}` has two steps with stepId `{s}`"),
                        Some("stepIds must be unique within a workflow".to_string()),
                    )
                    .at(&here.pointer_to(&format!("steps/{i}/stepId"))),
                );
            }
        }
    }

    /// Compiles the workflow-level parameters and actions, which its steps
    /// inherit. The expressions of the actions' criteria go to `located`.
    fn inherited(&mut self, here: &Place, located: &mut Vec<(String, Expr)>) -> Inherited {
        let wf = here.workflow;
        let params = self.parameter_list(&wf.parameters, &here.pointer_to("parameters"), here);
        let success = self.actions(
            ActionList {
                items: &wf.success_actions,
                success: true,
                pointer: here.pointer_to("successActions"),
            },
            here,
            located,
        );
        let failure = self.actions(
            ActionList {
                items: &wf.failure_actions,
                success: false,
                pointer: here.pointer_to("failureActions"),
            },
            here,
            located,
        );
        Inherited {
            params,
            success,
            failure,
        }
    }

    /// Checks what the expressions found at `located` name; each problem is
    /// reported at the node, and on the text, of its expression.
    fn check_located(
        &mut self,
        refs: &RefCheck,
        located: &[(String, Expr)],
        place: &str,
        step_index: Option<usize>,
    ) {
        for (pointer, e) in located {
            if let Err(err) = refs.check(e, place, step_index) {
                self.errors.push(err.at(pointer).within(e.to_string()));
            }
        }
    }

    /// Compiles the steps in order, checking what each one's expressions name.
    /// A step that does not compile is left out, and the flag returned says so.
    /// Inputs sent in a credential parameter join `secret_inputs`.
    fn steps(
        &mut self,
        here: &Place,
        inherited: &Inherited,
        refs: &RefCheck,
        secret_inputs: &mut BTreeSet<String>,
    ) -> (Vec<CompiledStep>, bool) {
        let wf = here.workflow;
        let mut steps = Vec::with_capacity(wf.steps.len());
        let mut incomplete = false;
        for (index, step) in wf.steps.iter().enumerate() {
            let at = Place {
                doc: here.doc,
                workflow: wf,
                step: Some(&step.step_id),
                pointer: here.pointer_to(&format!("steps/{index}")),
            };
            self.literals = self.literals_at(here.doc, &[&here.pointer, &at.pointer]);
            let mut located = Vec::new();
            let compiled = self.step(step, inherited, &at, &mut located);
            self.check_located(refs, &located, &at.to_string(), Some(index));
            match compiled {
                Some(compiled) => {
                    credential_inputs(&compiled, secret_inputs);
                    steps.push(compiled);
                }
                _ => incomplete = true,
            }
        }
        mark_secret_outputs(&mut steps);
        (steps, incomplete)
    }

    /// The `x-arazzo-literals` of the nodes at `pointers` (a workflow and a
    /// step) in document `doc`, together.
    fn literals_at(&self, doc: usize, pointers: &[&str]) -> Vec<String> {
        let raw = &self.loaded.docs[doc].doc.raw;
        pointers
            .iter()
            .filter_map(|p| raw.pointer(&format!("{p}/x-arazzo-literals")))
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    }

    /// Compiles the workflow's outputs; one that does not compile is reported
    /// and left out.
    fn workflow_outputs(&mut self, here: &Place, refs: &RefCheck) -> Vec<(String, ValueExpr)> {
        let wf = here.workflow;
        let wid = &wf.workflow_id;
        let mut outputs = Vec::with_capacity(wf.outputs.len());
        for (name, v) in &wf.outputs {
            let out_ptr = here.pointer_to(&format!("outputs/{}", token(name)));
            if !output_key_ok(name) {
                self.errors.push(
                    error(
                        "id/output-key",
                        format!(
                            "workflow `{wid}`: output name `{name}` must match ^[a-zA-Z0-9.-_]+$"
                        ),
                        Some("use letters, digits, `.`, `-` and `_` only".to_string()),
                    )
                    .at(&out_ptr),
                );
            }
            let what = format!("workflow `{wid}` output `{name}`");
            let compiled = match compile_output(v) {
                Ok(c) => c,
                Err(m) => {
                    self.errors
                        .push(syntax_error(&what, v.as_str().unwrap_or(""), m).at(&out_ptr));
                    continue;
                }
            };
            for e in compiled.expressions() {
                if let Err(err) = refs.check(e, &what, None) {
                    self.errors.push(err.at(&out_ptr).within(e.to_string()));
                }
            }
            outputs.push((name.clone(), compiled));
        }
        outputs
    }
}

/// Workflow `id` among a document's workflows, with its JSON Pointer.
fn find_workflow<'w>(
    workflows: &'w [Workflow],
    id: &str,
) -> Result<(&'w Workflow, String), CompileError> {
    let (i, wf) = workflows
        .iter()
        .enumerate()
        .find(|(_, w)| w.workflow_id == id)
        .ok_or_else(|| CompileError {
            code: "ref/unknown-workflow",
            pointer: None,
            message: format!("no workflow `{id}`"),
            help: None,
            ..Default::default()
        })?;
    Ok((wf, format!("/workflows/{i}")))
}

/// Reads the inputs schema of the workflow at `here` (`raw` is its document):
/// one that cannot be read fails the workflow.
fn workflow_inputs(raw: &Value, here: &Place) -> Result<Inputs, CompileError> {
    let schema = match &here.workflow.inputs {
        Some(s) => Some(inputs_schema(raw, s).map_err(|m| CompileError {
            code: "ref/inputs-schema",
            pointer: Some(here.pointer_to("inputs")),
            message: format!("workflow `{}` inputs: {m}", here.workflow.workflow_id),
            help: None,
            ..Default::default()
        })?),
        None => None,
    };
    let properties = schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object);
    let declared = schema.as_ref().map(|_| {
        properties
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    });
    let mut secret = BTreeSet::new();
    for (name, schema) in properties.into_iter().flatten() {
        let password = schema.get("format").and_then(Value::as_str) == Some("password");
        let write_only = schema.get("writeOnly").and_then(Value::as_bool) == Some(true);
        if password || write_only {
            secret.insert(name.clone());
        }
    }
    Ok(Inputs {
        schema,
        declared,
        secret,
    })
}

/// Whether anything in the workflow can jump (any action at workflow or step
/// level): without, steps run in list order.
fn has_jumps(wf: &Workflow, inherited: &Inherited) -> bool {
    !inherited.success.is_empty()
        || !inherited.failure.is_empty()
        || wf
            .steps
            .iter()
            .any(|s| !s.on_success.is_empty() || !s.on_failure.is_empty())
}

/// The output names each step of the workflow declares, by stepId.
fn step_outputs(wf: &Workflow) -> HashMap<&str, BTreeSet<&str>> {
    let mut step_outputs: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for s in &wf.steps {
        step_outputs.insert(
            s.step_id.as_str(),
            s.outputs.keys().map(String::as_str).collect(),
        );
    }
    step_outputs
}

/// Marks the step outputs that a step of the workflow sends as an
/// `x-security` credential (`token: $steps.login.outputs.token`), which is
/// masked everywhere once sent: see [`CompiledStep::secret_outputs`]. (A
/// value sent in a parameter is masked as the parameter's whole value, so a
/// workflow may still show its login token as an output.)
fn mark_secret_outputs(steps: &mut [CompiledStep]) {
    let mut secret: Vec<(String, String)> = Vec::new();
    for step in steps.iter() {
        for value in explicit_secret_values(step) {
            for e in value.expressions() {
                if let Expr::Steps { step, output, .. } = e {
                    secret.push((step.clone(), output.clone()));
                }
            }
        }
    }
    for step in steps.iter_mut() {
        step.secret_outputs = secret
            .iter()
            .filter(|(s, _)| *s == step.step_id)
            .map(|(_, o)| o.clone())
            .collect();
    }
}

/// The values a step sends as credentials: its secret parameters and the
/// secret fields of its `x-security` entries.
fn credential_values(step: &CompiledStep) -> Vec<&crate::expr::ValueExpr> {
    let StepTarget::Operation(call) = &step.target else {
        return Vec::new();
    };
    let params = call
        .parameters
        .iter()
        .filter(|p| p.secret)
        .map(|p| &p.value);
    params.chain(explicit_secret_values(step)).collect()
}

/// The secret fields' values of a step's `x-security` entries.
fn explicit_secret_values(step: &CompiledStep) -> Vec<&crate::expr::ValueExpr> {
    let StepTarget::Operation(call) = &step.target else {
        return Vec::new();
    };
    call.security
        .explicit
        .iter()
        .flat_map(|e| {
            e.values
                .iter()
                .filter(|(field, _)| crate::openapi::security::secret_field(field))
                .map(|(_, v)| v)
        })
        .collect()
}

/// Adds to `secret_inputs` the inputs a step sends as a credential.
fn credential_inputs(step: &CompiledStep, secret_inputs: &mut BTreeSet<String>) {
    for value in credential_values(step) {
        for e in value.expressions() {
            if let Expr::Inputs { name, .. } = e {
                secret_inputs.insert(name.clone());
            }
        }
    }
}
