//! `arazzo show`: a workflow's steps, what each reads and produces.

use serde_json::Value;

use super::discovery::{document_fetcher, locate};
use super::flags::compile_problem;
use super::run::pick_workflow;
use super::runtime;
use crate::cli::{OutputFormat, ShowArgs};
use crate::compile::compile;
use crate::document;
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
    let steps: Vec<Value> = wf
        .steps
        .iter()
        .map(|s| {
            let (method, path) = s.describe(&program);
            let operation = match &s.target {
                crate::compile::StepTarget::Operation(c) => c.operation.operation_id.clone(),
                crate::compile::StepTarget::Workflow { .. } => None,
            };
            let mut reads: Vec<String> = s
                .expressions()
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        crate::expr::Expr::Inputs { .. }
                            | crate::expr::Expr::Steps { .. }
                            | crate::expr::Expr::Workflows { .. }
                    )
                })
                .map(|e| e.to_string())
                .collect();
            reads.dedup();
            let mut seen = std::collections::BTreeSet::new();
            reads.retain(|r| seen.insert(r.clone()));
            serde_json::json!({
                "stepId": s.step_id,
                "operationId": operation,
                "method": method,
                "path": path,
                "reads": reads,
                "produces": s.outputs.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            })
        })
        .collect();
    match args.output {
        OutputFormat::Json => printer.out_json(serde_json::json!({
            "workflowId": wf.workflow_id,
            "summary": wf.summary,
            "steps": steps,
            "outputs": wf.outputs.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        })),
        OutputFormat::Human => {
            let mut out = format!("{}\n", wf.workflow_id);
            if let Some(s) = &wf.summary {
                out.push_str(&format!("  {s}\n"));
            }
            for (i, s) in steps.iter().enumerate() {
                out.push_str(&format!(
                    "\n{}. {}  {} {}{}\n",
                    i + 1,
                    s["stepId"].as_str().unwrap_or(""),
                    s["method"].as_str().unwrap_or(""),
                    s["path"].as_str().unwrap_or(""),
                    match s["operationId"].as_str() {
                        Some(o) if !o.is_empty() => format!("  ({o})"),
                        _ => String::new(),
                    }
                ));
                let reads: Vec<&str> = s["reads"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if !reads.is_empty() {
                    out.push_str(&format!("   reads:    {}\n", reads.join(", ")));
                }
                let prod: Vec<&str> = s["produces"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if !prod.is_empty() {
                    out.push_str(&format!("   produces: {}\n", prod.join(", ")));
                }
            }
            let outs: Vec<&String> = wf.outputs.iter().map(|(k, _)| k).collect();
            if !outs.is_empty() {
                out.push_str(&format!(
                    "\noutputs: {}\n",
                    outs.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            printer.out(&out);
        }
    }
    Ok(exit::SUCCEEDED)
}
