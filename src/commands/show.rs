//! `arazzo show`: a workflow's steps, what each reads and produces.

use std::collections::BTreeSet;

use serde_json::Value;

use super::discovery::{document_fetcher, locate};
use super::flags::compile_problem;
use super::run::pick_workflow;
use super::runtime;
use crate::cli::{OutputFormat, ShowArgs};
use crate::compile::{compile, CompiledStep, CompiledWorkflow, Program, StepTarget};
use crate::document;
use crate::expr::Expr;
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

pub(super) fn command(args: ShowArgs, printer: &Printer) -> Result<u8, Problem> {
    let (url, _) = locate(
        args.file.as_deref(),
        Some(args.workflow.clone()),
        args.documents.max_document_size,
    )?;
    let fetcher = document_fetcher(args.documents.max_document_size)?;
    let rt = runtime()?;
    let loaded = rt
        .block_on(document::load(url, &fetcher))
        .map_err(|e| Problem::load(e, exit::DOCUMENT))?;
    pick_workflow(&loaded, Some(args.workflow.clone()))?;
    let program = compile(&loaded, &args.workflow).map_err(|errors| compile_problem(&errors))?;
    let wf = program.entry();
    let steps: Vec<Value> = wf.steps.iter().map(|s| describe(&program, wf, s)).collect();
    let outputs: Vec<&str> = wf.outputs.iter().map(|(k, _)| k.as_str()).collect();
    match args.output {
        OutputFormat::Json => printer.out_json(serde_json::json!({
            "workflowId": wf.workflow_id,
            "summary": wf.summary,
            "parallel": wf.parallel,
            "steps": steps,
            "outputs": outputs,
        })),
        OutputFormat::Human => {
            let mut out = format!("{}\n", wf.workflow_id);
            if let Some(s) = &wf.summary {
                out.push_str(&format!("  {s}\n"));
            }
            if wf.parallel {
                out.push_str("  steps run as their dependencies allow (dependsOn), up to --max-parallel at once\n");
            }
            for (i, s) in steps.iter().enumerate() {
                out.push_str(&human_step(i + 1, s));
            }
            if !outputs.is_empty() {
                out.push_str(&format!("\noutputs: {}\n", outputs.join(", ")));
            }
            printer.out(&out);
        }
    }
    Ok(exit::SUCCEEDED)
}

/// One step as `show -o json` shows it: its operation, method and path, the
/// inputs and outputs it reads (each once, in order) and the outputs it
/// produces.
fn describe(program: &Program, wf: &CompiledWorkflow, s: &CompiledStep) -> Value {
    let (method, path) = s.describe(program);
    let operation = match &s.target {
        StepTarget::Operation(c) => c.operation.operation_id.clone(),
        StepTarget::Message(m) => m.op.id.clone(),
        StepTarget::Workflow { .. } => None,
    };
    let mut seen = BTreeSet::new();
    let reads: Vec<String> = s
        .expressions()
        .iter()
        .filter(|e| {
            matches!(
                e,
                Expr::Inputs { .. } | Expr::Steps { .. } | Expr::Workflows { .. }
            )
        })
        .map(|e| e.to_string())
        .filter(|r| seen.insert(r.clone()))
        .collect();
    serde_json::json!({
        "stepId": s.step_id,
        "operationId": operation,
        "method": method,
        "path": path,
        "reads": reads,
        "produces": s.outputs.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "after": s.deps.after.iter().map(|&j| &wf.steps[j].step_id).collect::<Vec<_>>(),
        "timeoutMs": s.timeout.map(|t| t.as_millis() as u64),
        "security": security(s),
    })
}

/// The credentials a step's operation asks for: each alternative of its
/// security requirements as `scheme (type) [scopes]` with the variables
/// that supply it, and its `x-security` entries.
fn security(s: &CompiledStep) -> Vec<String> {
    let StepTarget::Operation(call) = &s.target else {
        return Vec::new();
    };
    let mut out: Vec<String> = call
        .security
        .alternatives
        .iter()
        .map(|alt| {
            if alt.is_empty() {
                return "none".to_string();
            }
            alt.iter()
                .map(|r| {
                    let kind = r
                        .scheme
                        .as_ref()
                        .map_or("undefined".into(), |k| k.describe());
                    let scopes = if r.scopes.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", r.scopes.join(" "))
                    };
                    let env = crate::auth::env_name(&call.source, &r.name, "");
                    format!("{} ({kind}){scopes}, from {env}…", r.name)
                })
                .collect::<Vec<_>>()
                .join(" and ")
        })
        .collect();
    out.extend(
        call.security
            .explicit
            .iter()
            .map(|e| format!("{} (x-security at {})", e.scheme.describe(), e.pointer)),
    );
    out
}

/// `N. stepId  METHOD /path  (operationId)`, then what it reads and produces.
fn human_step(n: usize, s: &Value) -> String {
    let mut out = format!(
        "\n{n}. {}  {} {}{}\n",
        s["stepId"].as_str().unwrap_or(""),
        s["method"].as_str().unwrap_or(""),
        s["path"].as_str().unwrap_or(""),
        match s["operationId"].as_str() {
            Some(o) if !o.is_empty() => format!("  ({o})"),
            _ => String::new(),
        }
    );
    let list = |key: &str| -> Vec<&str> {
        s[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    };
    let reads = list("reads");
    if !reads.is_empty() {
        out.push_str(&format!("   reads:    {}\n", reads.join(", ")));
    }
    let produces = list("produces");
    if !produces.is_empty() {
        out.push_str(&format!("   produces: {}\n", produces.join(", ")));
    }
    let after = list("after");
    if !after.is_empty() {
        out.push_str(&format!("   after:    {}\n", after.join(", ")));
    }
    if let Some(ms) = s["timeoutMs"].as_u64() {
        out.push_str(&format!("   timeout:  {ms} ms\n"));
    }
    let security = list("security");
    if !security.is_empty() {
        out.push_str(&format!("   security: {}\n", security.join("; or ")));
    }
    out
}
