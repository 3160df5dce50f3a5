//! `arazzo list`: the workflows of documents with their inputs and outputs.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::discovery::{default_paths, document_fetcher, load_for_listing, stdin_in_paths};
use super::runtime;
use crate::cli::{ListArgs, OutputFormat};
use crate::compile::compile;
use crate::document;
use crate::engine::inputs;
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

pub(super) fn command(args: ListArgs, printer: &Printer) -> Result<u8, Problem> {
    let limit = args.documents.max_document_size;
    let files = documents(&args)?;
    let fetcher = document_fetcher(limit)?;
    let rt = runtime()?;
    let mut listed = Vec::new();
    for f in &files {
        let loaded = load_for_listing(&rt, &fetcher, f)?;
        for w in &loaded.entry().doc.workflows {
            listed.push(describe(&loaded, w, f));
        }
    }
    match args.output {
        OutputFormat::Json => printer.out_json(Value::Array(listed)),
        OutputFormat::Human => printer.out(&listed.iter().map(human).collect::<String>()),
    }
    Ok(exit::SUCCEEDED)
}

/// The documents named (default ./workflows), at least one.
fn documents(args: &ListArgs) -> Result<Vec<PathBuf>, Problem> {
    let paths = stdin_in_paths(&args.paths)?;
    let limit = args.documents.max_document_size;
    let files =
        crate::check::pipeline::expand_paths(&default_paths(&paths), limit).map_err(|m| {
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
    Ok(files)
}

/// One workflow as `list -o json` shows it: its inputs from the compiled
/// schema (`$ref`s inlined) when it compiles, else as written.
fn describe(loaded: &document::Loaded, w: &document::Workflow, file: &Path) -> Value {
    let program = compile(loaded, &w.workflow_id).ok();
    let schema = program
        .as_ref()
        .and_then(|p| p.entry().inputs_schema.clone())
        .or_else(|| w.inputs.clone());
    serde_json::json!({
        "workflowId": w.workflow_id,
        "file": file.display().to_string(),
        "summary": w.summary,
        "description": w.description,
        "inputs": input_list(schema.as_ref()),
        "outputs": w.outputs.keys().collect::<Vec<_>>(),
    })
}

/// The inputs of a schema: name, type, whether required, description and
/// the environment variable that sets it.
fn input_list(schema: Option<&Value>) -> Vec<Value> {
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
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
}

/// One workflow as the human view shows it: a block with its inputs and
/// outputs.
fn human(w: &Value) -> String {
    let mut out = format!(
        "{}  ({})\n",
        w["workflowId"].as_str().unwrap_or(""),
        w["file"].as_str().unwrap_or("")
    );
    if let Some(s) = w["summary"].as_str() {
        out.push_str(&format!("  {s}\n"));
    }
    out.push_str("  inputs:\n");
    for i in w["inputs"].as_array().into_iter().flatten() {
        out.push_str(&human_input(i));
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
    out
}

/// `    name (type, required) - description  [env NAME]`.
fn human_input(i: &Value) -> String {
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
    let mut line = format!("    {} ({ty}, {req})", i["name"].as_str().unwrap_or(""));
    if let Some(d) = i["description"].as_str() {
        line.push_str(&format!(
            " - {}",
            d.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    if let Some(env) = i["env"].as_str() {
        line.push_str(&format!("  [env {env}]"));
    }
    line.push('\n');
    line
}
