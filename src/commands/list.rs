//! `arazzo list`: the workflows of documents with their inputs and outputs.

use serde_json::Value;

use super::discovery::{default_paths, document_fetcher, load_for_listing, stdin_in_paths};
use super::runtime;
use crate::cli::{ListArgs, OutputFormat};
use crate::compile::compile;
use crate::engine::inputs;
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

pub(super) fn command(args: ListArgs, printer: &Printer) -> Result<u8, Problem> {
    let limit = args.documents.max_document_size;
    let paths = stdin_in_paths(&args.paths)?;
    let files =
        crate::validate::pipeline::expand_paths(&default_paths(&paths), limit).map_err(|m| {
            Problem::usage(
                m,
                Some(
                    "pass Arazzo documents or directories holding them (default ./workflows)"
                        .into(),
                ),
            )
        })?;
    if files.is_empty() {
        return Err(Problem::usage(
            "no Arazzo documents to list",
            Some("pass a file, or a directory holding Arazzo documents (`*.yaml`, `*.yml`, `*.json` with an `arazzo` field)".into()),
        ));
    }
    let fetcher = document_fetcher(limit)?;
    let rt = runtime()?;
    let mut listed = Vec::new();
    for f in &files {
        let loaded = load_for_listing(&rt, &fetcher, f)?;
        for w in &loaded.entry().doc.workflows {
            let program = compile(&loaded, &w.workflow_id).ok();
            let schema = program
                .as_ref()
                .and_then(|p| p.entry().inputs_schema.clone())
                .or_else(|| w.inputs.clone());
            let required: Vec<&str> = schema
                .as_ref()
                .and_then(|s| s.get("required"))
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let inputs: Vec<Value> = schema
                .as_ref()
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .map(|props| {
                    props
                        .iter()
                        .map(|(name, s)| {
                            serde_json::json!({
                                "name": name,
                                "type": s.get("type").cloned().unwrap_or(Value::Null),
                                "required": required.contains(&name.as_str()),
                                "description": s.get("description").cloned().unwrap_or(Value::Null),
                                "env": inputs::env_names(name)[0],
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            listed.push(serde_json::json!({
                "workflowId": w.workflow_id,
                "file": f.display().to_string(),
                "summary": w.summary,
                "description": w.description,
                "inputs": inputs,
                "outputs": w.outputs.keys().collect::<Vec<_>>(),
            }));
        }
    }
    match args.output {
        OutputFormat::Json => printer.out_json(Value::Array(listed)),
        OutputFormat::Human => {
            let mut out = String::new();
            for w in &listed {
                out.push_str(&format!(
                    "{}  ({})\n",
                    w["workflowId"].as_str().unwrap_or(""),
                    w["file"].as_str().unwrap_or("")
                ));
                if let Some(s) = w["summary"].as_str() {
                    out.push_str(&format!("  {s}\n"));
                }
                out.push_str("  inputs:\n");
                for i in w["inputs"].as_array().into_iter().flatten() {
                    let ty = match &i["type"] {
                        Value::String(s) => s.clone(),
                        Value::Null => "any".into(),
                        other => other.to_string(),
                    };
                    let req = if i["required"] == Value::Bool(true) {
                        "required"
                    } else {
                        "optional"
                    };
                    out.push_str(&format!(
                        "    {} ({ty}, {req})",
                        i["name"].as_str().unwrap_or("")
                    ));
                    if let Some(d) = i["description"].as_str() {
                        out.push_str(&format!(
                            " - {}",
                            d.split_whitespace().collect::<Vec<_>>().join(" ")
                        ));
                    }
                    if let Some(env) = i["env"].as_str() {
                        out.push_str(&format!("  [env {env}]"));
                    }
                    out.push('\n');
                }
                let outs: Vec<&str> = w["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                out.push_str(&format!(
                    "  outputs: {}\n\n",
                    if outs.is_empty() {
                        "none".to_string()
                    } else {
                        outs.join(", ")
                    }
                ));
            }
            printer.out(&out);
        }
    }
    Ok(exit::SUCCEEDED)
}
