//! Document + sources → an executable [`Program`]. Every operation is resolved,
//! every expression, template and condition parsed, every reference (steps,
//! workflows, components, goto targets) checked here, once, so the engine never
//! reads source text and mistakes surface before the first request.
//!
//! The parts, in the order a workflow is compiled:
//! - `program`: the compiled types the engine runs;
//! - `compiler`: the compiler's state, the queue of workflows to compile, and
//!   references to workflows and components;
//! - `workflow`: one workflow (inputs, `dependsOn`, its steps, its outputs);
//! - `step`: one step (parameters, target, criteria, actions, outputs);
//! - `parameters`, `values`, `criteria`, `action`: the parts of a step;
//! - `operation`: finding the operation a step names; `call`: checking the
//!   step's request against it;
//! - `refs`: whether the runtime expressions name things that exist;
//! - `inputs`: a workflow's inputs schema, `$ref`s inlined;
//! - `errors`: [`CompileError`] and the "did you mean" help.

mod action;
mod call;
mod compiler;
mod criterion_check;
mod errors;
mod inputs_schema;
mod message;
mod operation;
mod parameters;
mod program;
mod refs;
mod security;
mod step;
mod step_graph;
mod values;
mod workflow;

use std::collections::BTreeSet;

use crate::document::Loaded;
use crate::read::display_url;

pub(crate) use errors::{error, token};
pub use errors::{suggest, CompileError};
pub(crate) use inputs_schema::inputs_schema;
pub use program::{
    Action, ActionKind, CallSecurity, CompiledBody, CompiledCriterion, CompiledParam, CompiledStep,
    CompiledWorkflow, CriterionCheck, ExplicitScheme, Jump, MessageAction, MessageCall,
    OperationCall, PayloadCheck, Program, Requirement, StepTarget,
};
pub use step_graph::StepDeps;

use compiler::compile_parts;
use errors::fail;

/// Compiles the workflow `workflow_id` of the entry document and every workflow it
/// reaches through steps, actions and `dependsOn`.
pub fn compile(loaded: &Loaded, workflow_id: &str) -> Result<Program, Vec<CompileError>> {
    let doc = loaded.entry();
    if !doc
        .doc
        .workflows
        .iter()
        .any(|w| w.workflow_id == workflow_id)
    {
        let e: Result<(), CompileError> = fail(
            "ref/unknown-workflow",
            format!("no workflow `{workflow_id}` in `{}`", display_url(&doc.url)),
            Some(format!(
                "the document has: {}",
                doc.doc
                    .workflows
                    .iter()
                    .map(|w| w.workflow_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
        return Err(e.err().into_iter().collect());
    }
    compile_seeded(loaded, &[workflow_id])
}

/// Compiles every workflow of the entry document, collecting every problem.
pub fn check_document(loaded: &Loaded) -> Result<Program, Vec<CompileError>> {
    let (program, errors) = check_all(loaded);
    if errors.is_empty() {
        Ok(program)
    } else {
        Err(errors)
    }
}

/// Compiles every workflow of the entry document as far as it goes: the
/// problems, and a program of what compiled (workflows with a broken step are
/// marked `incomplete`), for `validate` to go on checking what it can.
pub fn check_all(loaded: &Loaded) -> (Program, Vec<CompileError>) {
    let ids: Vec<&str> = loaded
        .entry()
        .doc
        .workflows
        .iter()
        .map(|w| w.workflow_id.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    let mut duplicates = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if !seen.insert(*id) {
            duplicates.push(
                error(
                    "id/duplicate-workflow",
                    format!("two workflows have the workflowId `{id}`"),
                    Some("workflowIds must be unique within a document".to_string()),
                )
                .at(&format!("/workflows/{i}/workflowId")),
            );
        }
    }
    let (program, mut errors) = compile_parts(loaded, &ids);
    duplicates.append(&mut errors);
    (program, duplicates)
}

/// Compiles the given workflows of the entry document and what they reach; any
/// problem fails the whole.
fn compile_seeded(loaded: &Loaded, seeds: &[&str]) -> Result<Program, Vec<CompileError>> {
    let (program, errors) = compile_parts(loaded, seeds);
    if errors.is_empty() {
        Ok(program)
    } else {
        Err(errors)
    }
}
