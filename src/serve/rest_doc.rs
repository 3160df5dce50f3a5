//! `GET /openapi.json`: an OpenAPI 3.1 description of exactly what `arazzo
//! serve` answers, generated from the served workflows: one run operation per
//! workflow, its request body the workflow's inputs schema (without the
//! inputs the server fills in), every status the server can give.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::rest::{segment, Catalogue};

/// The description; `bearer` when the listener needs a token.
pub fn describe(catalogue: &Catalogue, bearer: bool) -> Value {
    let mut paths = Map::new();
    paths.insert("/healthz".into(), healthz());
    paths.insert("/openapi.json".into(), openapi_path());
    paths.insert("/workflows".into(), list_path());
    paths.insert("/workflows/{workflowId}".into(), one_path(catalogue));
    let mut taken = HashSet::new();
    for entry in &catalogue.entries {
        let id = entry["workflowId"].as_str().unwrap_or_default();
        let operation_id = unique_operation_id(id, &mut taken);
        paths.insert(
            format!("/workflows/{}/runs", segment(id)),
            run_path(entry, &operation_id),
        );
    }
    paths.insert("/runs/{runId}".into(), poll_path());
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "arazzo serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Arazzo workflows served as a REST API: list them, run one with its \
                inputs as a JSON object, read the run report. The same workflows are MCP tools \
                at /mcp.",
        },
        "paths": paths,
        "components": {"schemas": schemas()},
    });
    if bearer {
        doc["components"]["securitySchemes"] =
            json!({"bearer": {"type": "http", "scheme": "bearer"}});
        doc["security"] = json!([{"bearer": []}]);
        doc["paths"]["/healthz"]["get"]["security"] = json!([]);
    }
    doc
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn content(schema: Value, media: &str) -> Value {
    json!({media: {"schema": schema}})
}

fn answer(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": content(reference(schema), "application/json")})
}

fn problem(description: &str) -> Value {
    json!({"description": description,
           "content": content(reference("Problem"), "application/problem+json")})
}

/// `run_<id>`, made of letters, digits and `_`, and unique: workflow ids
/// that differ only in other characters (`list-a`, `list_a`) get a number.
fn unique_operation_id(workflow_id: &str, taken: &mut HashSet<String>) -> String {
    let base = format!(
        "run_{}",
        workflow_id.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    let mut candidate = base.clone();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{base}_{n}");
        n += 1;
    }
    candidate
}

/// The answers every request may get from the guards, before its token is
/// looked at.
fn screened(responses: &mut Map<String, Value>) {
    responses.insert(
        "400".into(),
        problem("The request body could not be read to its end."),
    );
    responses.insert(
        "403".into(),
        problem("The Origin or Host header is not one the server accepts."),
    );
    responses.insert(
        "408".into(),
        problem("The request body did not arrive in time."),
    );
    responses.insert(
        "413".into(),
        problem("The body is larger than the server accepts."),
    );
}

/// The answers every request but `/healthz` may get from the guards.
fn guarded(responses: &mut Map<String, Value>) {
    screened(responses);
    responses.insert(
        "401".into(),
        problem("No bearer token, or not one the server accepts."),
    );
}

fn get_operation(id: &str, summary: &str, mut responses: Map<String, Value>) -> Value {
    guarded(&mut responses);
    json!({"get": {"operationId": id, "summary": summary, "responses": responses}})
}

fn healthz() -> Value {
    let mut r = Map::new();
    r.insert("200".into(), answer("Serving.", "Health"));
    r.insert("503".into(), answer("Stopping.", "Health"));
    screened(&mut r);
    json!({"get": {"operationId": "health", "summary": "Whether the server is serving",
                   "responses": r}})
}

fn openapi_path() -> Value {
    let mut r = Map::new();
    r.insert(
        "200".into(),
        json!({"description": "This description.",
        "content": content(json!({"type": "object"}), "application/json")}),
    );
    get_operation("describe", "This OpenAPI description", r)
}

fn list_path() -> Value {
    let mut r = Map::new();
    r.insert(
        "200".into(),
        answer("The served workflows.", "WorkflowList"),
    );
    get_operation("listWorkflows", "The served workflows", r)
}

fn one_path(catalogue: &Catalogue) -> Value {
    let ids: Vec<&str> = catalogue
        .entries
        .iter()
        .filter_map(|e| e["workflowId"].as_str())
        .collect();
    let mut r = Map::new();
    r.insert("200".into(), answer("The workflow.", "Workflow"));
    r.insert("404".into(), problem("No served workflow has this id."));
    let mut op = get_operation("getWorkflow", "One served workflow", r);
    op["parameters"] = json!([{"name": "workflowId", "in": "path", "required": true,
        "schema": {"type": "string", "examples": ids}}]);
    op
}

fn poll_path() -> Value {
    let mut r = Map::new();
    r.insert(
        "200".into(),
        json!({"description": "The run: still running, or its report.",
        "content": content(json!({"oneOf": [reference("RunRunning"), reference("RunReport")]}),
            "application/json")}),
    );
    r.insert(
        "404".into(),
        problem("No run has this id (or it is no longer kept)."),
    );
    let mut op = get_operation("getRun", "A run started with POST /workflows/{id}/runs", r);
    op["parameters"] = json!([{"name": "runId", "in": "path", "required": true,
        "schema": {"type": "string"}}]);
    op
}

/// `POST /workflows/<id>/runs` for one workflow.
fn run_path(entry: &Value, operation_id: &str) -> Value {
    let id = entry["workflowId"].as_str().unwrap_or_default();
    let mut r = Map::new();
    r.insert(
        "200".into(),
        answer(
            "The run succeeded: its report, outputs included.",
            "RunReport",
        ),
    );
    r.insert(
        "202".into(),
        json!({
        "description": "With `Prefer: respond-async`: the run started; poll its `Location`.",
        "headers": {"Location": {"schema": {"type": "string"}}},
        "content": content(reference("RunRunning"), "application/json")}),
    );
    r.insert("404".into(), problem("No served workflow has this id."));
    r.insert("415".into(), problem("The body is not `application/json`."));
    r.insert(
        "422".into(),
        problem(
            "The inputs are invalid, or the preflight check refused the run: nothing was sent.",
        ),
    );
    r.insert(
        "424".into(),
        answer(
            "The run failed at a step (the API it called failed): the report says where.",
            "RunReport",
        ),
    );
    r.insert("429".into(), json!({
        "description": "As many runs as the server allows are going on; retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": content(reference("Problem"), "application/problem+json")}));
    r.insert("503".into(), json!({
        "description": "The server is stopping: the run was refused, or interrupted (with its report).",
        "content": {
            "application/problem+json": {"schema": reference("Problem")},
            "application/json": {"schema": reference("RunReport")}}}));
    guarded(&mut r);
    r.insert(
        "400".into(),
        problem("The body is not JSON, or could not be read to its end."),
    );
    let mut summary = format!("Run the workflow `{id}`");
    if let Some(s) = entry["summary"].as_str() {
        summary = format!("{summary}: {s}");
    }
    json!({"post": {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [{"name": "Prefer", "in": "header", "required": false,
            "description": "`respond-async` to be answered 202 at once and poll the run.",
            "schema": {"type": "string"}}],
        "requestBody": {"required": body_required(&entry["inputs"]),
            "description": "The workflow's inputs (an empty body is `{}`).",
            "content": content(body_schema(&entry["inputs"]), "application/json")},
        "responses": r,
    }})
}

/// The inputs schema as a request body schema. One that still holds a `$ref`
/// (a recursive one, left as it was) would point nowhere here: it becomes
/// "an object", the server checking the inputs itself.
fn body_schema(inputs: &Value) -> Value {
    let mut schema = inputs.clone();
    if has_ref(&schema, 0) {
        return json!({"type": "object"});
    }
    if let Value::Object(m) = &mut schema {
        m.remove("$schema");
        m.remove("$id");
        // A run refuses inputs the workflow does not declare.
        if m.contains_key("properties") && !m.contains_key("additionalProperties") {
            m.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    schema
}

/// Whether a run needs a body: its inputs schema requires some.
fn body_required(inputs: &Value) -> bool {
    inputs["required"].as_array().is_some_and(|r| !r.is_empty())
}

fn has_ref(v: &Value, depth: usize) -> bool {
    match v {
        _ if depth > 64 => true,
        Value::Object(m) => m.contains_key("$ref") || m.values().any(|x| has_ref(x, depth + 1)),
        Value::Array(a) => a.iter().any(|x| has_ref(x, depth + 1)),
        _ => false,
    }
}

fn schemas() -> Value {
    json!({
        "Health": {"type": "object", "required": ["status"],
            "properties": {"status": {"enum": ["ok", "stopping"]}}},
        "Problem": {"type": "object", "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"},
                "status": {"type": "integer"}, "detail": {"type": "string"},
                "workflowId": {"type": "string"},
                "kind": {"type": "string", "description": "`inputs`, `preflight` or `interrupted`"},
                "stepId": {"type": ["string", "null"]}}},
        "Workflow": {"type": "object",
            "required": ["workflowId", "inputs", "outputs", "hints", "serverInputs", "links"],
            "properties": {
                "workflowId": {"type": "string"}, "summary": {"type": "string"},
                "description": {"type": "string"},
                "inputs": {"type": "object", "description": "JSON Schema of the run's body"},
                "outputs": {"type": "object", "description": "JSON Schema of the outputs"},
                "hints": {"type": "object",
                    "required": ["readOnly", "destructive", "idempotent", "openWorld"],
                    "properties": {"readOnly": {"type": "boolean"}, "destructive": {"type": "boolean"},
                        "idempotent": {"type": "boolean"}, "openWorld": {"type": "boolean"}}},
                "serverInputs": {"type": "array", "items": {"type": "string"}},
                "links": {"type": "object", "required": ["self", "runs"],
                    "properties": {"self": {"type": "string"}, "runs": {"type": "string"}}}}},
        "WorkflowList": {"type": "object", "required": ["workflows"],
            "properties": {"workflows": {"type": "array", "items": reference("Workflow")}}},
        "RunRunning": {"type": "object", "required": ["runId", "workflowId", "status"],
            "properties": {"runId": {"type": "string"}, "workflowId": {"type": "string"},
                "status": {"const": "running"},
                "links": {"type": "object", "properties": {"self": {"type": "string"}}}}},
        "RunError": {"type": "object", "required": ["kind", "message"],
            "properties": {"stepId": {"type": ["string", "null"]}, "kind": {"type": "string"},
                "message": {"type": "string"}}},
        "StepReport": {"type": "object", "required": ["stepId", "status"],
            "properties": {"stepId": {"type": "string"},
                "status": {"enum": ["succeeded", "failed", "uncertain"]},
                "statusCode": {"type": ["integer", "null"]},
                "attempts": {"type": "integer"}, "outputs": {"type": "object"},
                "durationMs": {"type": "integer"}}},
        "RunReport": {"type": "object",
            "required": ["runId", "workflowId", "status", "outputs", "steps", "error", "durationMs"],
            "properties": {
                "runId": {"type": "string"}, "workflowId": {"type": "string"},
                "status": {"enum": ["succeeded", "failed", "interrupted"]},
                "outputs": {"type": "object"},
                "steps": {"type": "array", "items": reference("StepReport")},
                "error": {"oneOf": [{"type": "null"}, reference("RunError")]},
                "durationMs": {"type": "integer", "minimum": 0},
                "inputs": {"type": "object"}}},
    })
}
