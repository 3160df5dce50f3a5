//! Workflows as MCP tools, one tool per workflow, over stdio or streamable
//! HTTP. Everything MCP-specific (the rmcp SDK) stays in this module; the runs
//! themselves happen in [`super::runner`].

use std::collections::BTreeSet;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{json, Map, Value};

use super::access_log::AccessNote;
use super::runner::{report_json, Answer, Jobs, Ran, Refusal, Served, SlotHandoff};
use crate::compile::{Program, StepTarget};
use crate::engine::interrupt::Stop;
use crate::redact::Redactor;
use crate::report::problem::{exit, Problem};

/// Names MCP clients accept everywhere: `[A-Za-z0-9_.-]{1,128}`.
pub fn valid_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

/// The MCP tool of a served workflow.
pub fn tool_for(s: &Served) -> Tool {
    let wf = s.program.entry();
    let description = [wf.summary.as_deref(), wf.description.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let schema = input_schema(wf.inputs_schema.as_ref(), &s.fixed);
    let mut tool = Tool::new_with_raw(
        wf.workflow_id.clone(),
        (!description.is_empty()).then_some(description.into()),
        Arc::new(schema),
    );
    let mut props = Map::new();
    for (name, _) in &wf.outputs {
        props.insert(name.clone(), json!({}));
    }
    let mut output = Map::new();
    output.insert("type".into(), json!("object"));
    output.insert("properties".into(), Value::Object(props));
    tool.output_schema = Some(Arc::new(output));
    tool.annotations = Some(annotations(&s.program));
    tool
}

/// The workflow's inputs schema without the inputs the server fills in.
pub fn input_schema(schema: Option<&Value>, fixed: &Map<String, Value>) -> Map<String, Value> {
    let mut out = match schema {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    strip(&mut out, fixed, 0);
    out.entry("type").or_insert_with(|| json!("object"));
    out.entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    out
}

/// Removes the fixed inputs from `properties` and `required`, here and in the
/// `allOf`/`anyOf`/`oneOf` branches.
fn strip(schema: &mut Map<String, Value>, fixed: &Map<String, Value>, depth: usize) {
    if depth > 8 {
        return;
    }
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props.retain(|k, _| !fixed.contains_key(k));
    }
    if let Some(Value::Array(req)) = schema.get_mut("required") {
        req.retain(|r| r.as_str().is_none_or(|r| !fixed.contains_key(r)));
        if req.is_empty() {
            schema.remove("required");
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get_mut(key) {
            for b in branches {
                if let Value::Object(m) = b {
                    strip(m, fixed, depth + 1);
                }
            }
        }
    }
}

/// Hints from the HTTP methods of every step the tool can run, those of called
/// workflows (and dependencies) included.
pub fn annotations(program: &Program) -> ToolAnnotations {
    let methods: BTreeSet<String> = program
        .workflows
        .iter()
        .flat_map(|w| w.steps.iter())
        .filter_map(|s| match &s.target {
            StepTarget::Operation(call) => Some(call.operation.method.to_ascii_uppercase()),
            // Publishing a message changes something and repeating it sends it
            // again (like POST); waiting for one reads (like GET).
            StepTarget::Message(m) => Some(
                match m.action {
                    crate::compile::MessageAction::Send => "POST",
                    crate::compile::MessageAction::Receive => "GET",
                }
                .to_string(),
            ),
            StepTarget::Workflow { .. } => None,
        })
        .collect();
    // QUERY (OpenAPI 3.2) is safe; a custom method is assumed to be neither
    // read-only nor idempotent.
    let read_only = methods
        .iter()
        .all(|m| m == "GET" || m == "HEAD" || m == "QUERY");
    let destructive = methods.contains("DELETE");
    let idempotent = methods
        .iter()
        .all(|m| crate::engine::resume::IDEMPOTENT.contains(&m.as_str()));
    ToolAnnotations::new()
        .read_only(read_only)
        .destructive(destructive)
        .idempotent(idempotent)
        .open_world(true)
}

// ---------------------------------------------------------------------------
// The MCP handler
// ---------------------------------------------------------------------------

#[derive(Clone)]
pub struct Handler {
    tools: Arc<Vec<Tool>>,
    jobs: Jobs,
    redactor: Redactor,
}

impl Handler {
    pub fn new(tools: Vec<Tool>, jobs: Jobs, redactor: Redactor) -> Handler {
        Handler {
            tools: Arc::new(tools),
            jobs,
            redactor,
        }
    }
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("arazzo", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Each tool runs an Arazzo workflow: a fixed sequence of API calls. \
                 The result holds the workflow's outputs; a failed run names the failing step.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(tool) = self.tools.iter().position(|t| t.name == request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}`", request.name),
                None,
            ));
        };
        // Over HTTP, the access log line tells how the call ended.
        let parts = context.extensions.get::<axum::http::request::Parts>();
        let note = parts
            .and_then(|p| p.extensions.get::<AccessNote>())
            .cloned();
        let slot = parts
            .and_then(|p| p.extensions.get::<SlotHandoff>())
            .and_then(SlotHandoff::take);
        let id = request.name.to_string();
        if let Some(note) = &note {
            note.workflow(&id);
        }
        let arguments = request.arguments.unwrap_or_default();
        let Some(answer) = self.jobs.run(tool, arguments, slot).await else {
            return Err(ErrorData::internal_error("the runner has stopped", None));
        };
        let (result, outcome) = match answer {
            Answer::Refused(r) => {
                let outcome = format!("refused:{}", r.kind);
                (self.refused(&id, &r), outcome)
            }
            Answer::Finished(ran) if ran.report.succeeded() => {
                (succeeded(*ran), "succeeded".to_string())
            }
            Answer::Finished(ran) => {
                let outcome = super::rest::status_word(&ran.report).to_string();
                (failed(*ran), outcome)
            }
        };
        if let Some(note) = &note {
            note.outcome(&outcome);
        }
        Ok(result.into())
    }
}

fn masked_text(mask: &Redactor, text: &str) -> ContentBlock {
    ContentBlock::text(mask.redact(text).into_owned())
}

fn succeeded(ran: Ran) -> CallToolResult {
    let mut outputs = Value::Object(ran.report.outputs);
    ran.mask.redact_value(&mut outputs);
    let text = serde_json::to_string_pretty(&outputs).unwrap_or_default();
    let mut result = CallToolResult::success(vec![masked_text(&ran.mask, &text)]);
    result.structured_content = Some(outputs);
    result
}

fn failed(ran: Ran) -> CallToolResult {
    let Ran { report, mask } = ran;
    let v = report_json(&report, &mask);
    let error = &v["error"];
    let verb = if report.interrupted() {
        "was interrupted"
    } else {
        "failed"
    };
    let kind = error["kind"].as_str().unwrap_or("");
    let message = error["message"].as_str().unwrap_or("");
    let mut text = match error["stepId"].as_str() {
        Some(step) => format!(
            "workflow `{}` {verb} at step `{step}` ({kind}): {message}",
            report.workflow_id
        ),
        None => format!(
            "workflow `{}` {verb} ({kind}): {message}",
            report.workflow_id
        ),
    };
    let done: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.status == crate::engine::outcome::Status::Succeeded)
        .map(|s| s.step_id.as_str())
        .collect();
    if !done.is_empty() {
        text.push_str(&format!("\nsteps that succeeded: {}", done.join(", ")));
    }
    if v["outputs"].as_object().is_some_and(|o| !o.is_empty()) {
        text.push_str(&format!(
            "\noutputs known when the run stopped: {}",
            serde_json::to_string(&v["outputs"]).unwrap_or_default()
        ));
    }
    let structured = json!({
        "workflowId": v["workflowId"],
        "status": v["status"],
        "error": v["error"],
        "outputs": v["outputs"],
        "steps": v["steps"],
    });
    let mut result = CallToolResult::error(vec![masked_text(&mask, &text)]);
    result.structured_content = Some(structured);
    result
}

impl Handler {
    /// A call refused before anything was sent.
    fn refused(&self, workflow_id: &str, r: &Refusal) -> CallToolResult {
        let (kind, message) = (r.kind, &r.message);
        let text = match &r.step_id {
            Some(step) => format!(
                "workflow `{workflow_id}` was not run: {kind} failed at step `{step}`: {message}"
            ),
            None => format!("workflow `{workflow_id}` was not run ({kind}): {message}"),
        };
        let mut structured = json!({
            "workflowId": workflow_id,
            "status": "failed",
            "error": {"stepId": r.step_id, "kind": kind, "message": message},
            "outputs": {},
            "steps": [],
        });
        self.redactor.redact_value(&mut structured);
        let mut result = CallToolResult::error(vec![masked_text(&self.redactor, &text)]);
        result.structured_content = Some(structured);
        result
    }
}

// ---------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------

/// Serves over stdin/stdout until the client closes stdin, or until
/// `stopped` (a signal, once the calls running have been answered).
pub async fn serve_stdio(
    handler: Handler,
    stop: &Stop,
    stopped: impl std::future::Future<Output = ()>,
) -> Result<u8, Problem> {
    tokio::pin!(stopped);
    // A signal during the handshake stops the server too.
    let service = tokio::select! {
        s = handler.serve(rmcp::transport::stdio()) => match s {
            Ok(s) => s,
            // The client went away as the server was stopping.
            Err(_) if stop.requested().is_some() => return Ok(exit::SUCCEEDED),
            Err(e) => {
                return Err(Problem::usage(format!("the MCP session did not start: {e}"), None))
            }
        },
        _ = &mut stopped => return Ok(exit::SUCCEEDED),
    };
    let token = service.cancellation_token();
    tokio::select! {
        r = service.waiting() => {
            r.map_err(|e| Problem::usage(format!("the MCP session failed: {e}"), None))?;
        }
        _ = &mut stopped => token.cancel(),
    }
    Ok(exit::SUCCEEDED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_inputs_leave_the_schema() {
        let schema = json!({
            "type": "object",
            "required": ["apiKey", "userId"],
            "properties": {"apiKey": {"type": "string"}, "userId": {"type": "string"}},
            "allOf": [{"required": ["apiKey"], "properties": {"apiKey": {}}}],
        });
        let mut fixed = Map::new();
        fixed.insert("apiKey".into(), json!("k"));
        let out = Value::Object(input_schema(Some(&schema), &fixed));
        assert_eq!(out["required"], json!(["userId"]));
        assert_eq!(out["properties"], json!({"userId": {"type": "string"}}));
        assert_eq!(out["allOf"], json!([{"properties": {}}]));
    }

    #[test]
    fn a_workflow_without_inputs_takes_an_empty_object() {
        let out = Value::Object(input_schema(None, &Map::new()));
        assert_eq!(out, json!({"type": "object", "properties": {}}));
    }

    #[test]
    fn tool_names() {
        assert!(valid_tool_name("provision-mcp-server"));
        assert!(!valid_tool_name("has space"));
        assert!(!valid_tool_name(""));
    }
}
