//! The REST API of `arazzo serve`: the workflows (`GET /workflows`, `GET
//! /workflows/{id}`), runs (`POST /workflows/{id}/runs`, answered when the run
//! is over, or at once with `Prefer: respond-async`, then `GET /runs/{id}`),
//! the description of all this (`GET /openapi.json`) and `GET /healthz`.
//!
//! Statuses say whose fault a failure is: 4xx for the caller's inputs (422)
//! and for the API the workflow called (424, the run report in the body), 5xx
//! only for the server itself (503 while it stops).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use rmcp::model::Tool;
use serde_json::{json, Map, Value};
use tokio::sync::{oneshot, Semaphore};

use super::access_log::AccessNote;
use super::runner::{report_json, Jobs, Refusal, Served};
use super::runs::{Entry, RunStore};
use crate::engine::interrupt::Stop;
use crate::engine::outcome::RunReport;
use crate::redact::Redactor;

/// What `GET /workflows` tells of each served workflow, worked out once.
pub struct Catalogue {
    pub entries: Vec<Value>,
    index: HashMap<String, usize>,
}

impl Catalogue {
    pub fn new(served: &[Served], tools: &[Tool]) -> Catalogue {
        let entries: Vec<Value> = served
            .iter()
            .zip(tools)
            .map(|(s, t)| describe(s, t))
            .collect();
        let index = served
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id().to_string(), i))
            .collect();
        Catalogue { entries, index }
    }

    pub fn find(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
}

/// Characters escaped when a workflow id is put in a path.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// A workflow id as a path segment.
pub fn segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

fn describe(s: &Served, tool: &Tool) -> Value {
    let wf = s.program.entry();
    let hints = tool.annotations.clone().unwrap_or_default();
    let mut out = Map::new();
    out.insert("workflowId".into(), json!(wf.workflow_id));
    if let Some(summary) = &wf.summary {
        out.insert("summary".into(), json!(summary));
    }
    if let Some(description) = &wf.description {
        out.insert("description".into(), json!(description));
    }
    out.insert("inputs".into(), Value::Object((*tool.input_schema).clone()));
    let outputs = tool.output_schema.as_deref().cloned().unwrap_or_default();
    out.insert("outputs".into(), Value::Object(outputs));
    out.insert(
        "hints".into(),
        json!({
            "readOnly": hints.read_only_hint.unwrap_or(false),
            "destructive": hints.destructive_hint.unwrap_or(true),
            "idempotent": hints.idempotent_hint.unwrap_or(false),
            "openWorld": hints.open_world_hint.unwrap_or(true),
        }),
    );
    let fixed: Vec<&String> = s.fixed.keys().collect();
    out.insert("serverInputs".into(), json!(fixed));
    let path = format!("/workflows/{}", segment(&wf.workflow_id));
    out.insert(
        "links".into(),
        json!({"self": path, "runs": format!("{path}/runs")}),
    );
    Value::Object(out)
}

/// The REST side's state.
pub struct Rest {
    pub catalogue: Catalogue,
    pub jobs: Jobs,
    pub runs: RunStore,
    /// Run slots, shared with MCP tool calls.
    pub slots: Arc<Semaphore>,
    pub stop: Stop,
    pub redactor: Redactor,
    /// `GET /openapi.json`, serialized once.
    pub openapi: Bytes,
}

type St = State<Arc<Rest>>;

/// The REST routes.
pub fn routes(rest: Arc<Rest>) -> Router {
    Router::new()
        .route("/workflows", get(list))
        .route("/workflows/{id}", get(one))
        .route("/workflows/{id}/runs", post(start_run))
        .route("/runs/{run_id}", get(poll))
        .route("/openapi.json", get(openapi))
        .with_state(rest)
}

/// `GET /healthz`: 200 while serving, 503 once stopping.
pub async fn healthz(State(stop): State<Stop>) -> Response {
    match stop.requested() {
        None => json_response(StatusCode::OK, &json!({"status": "ok"})),
        Some(_) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "stopping"}),
        ),
    }
}

async fn list(State(rest): St) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"workflows": rest.catalogue.entries}),
    )
}

async fn one(State(rest): St, Path(id): Path<String>) -> Response {
    match rest.catalogue.find(&id) {
        Some(i) => json_response(StatusCode::OK, &rest.catalogue.entries[i]),
        None => unknown_workflow(&rest, &id),
    }
}

async fn openapi(State(rest): St) -> Response {
    let mut response = Response::new(Body::from(rest.openapi.clone()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn poll(State(rest): St, Path(run_id): Path<String>) -> Response {
    match rest.runs.get(&run_id) {
        Some(Entry::Running { workflow_id }) => json_response(
            StatusCode::OK,
            &json!({"runId": run_id, "workflowId": workflow_id, "status": "running"}),
        ),
        Some(Entry::Finished(report)) => json_response(StatusCode::OK, &report),
        None => problem(
            StatusCode::NOT_FOUND,
            "Unknown run",
            "no run has this id (finished runs are kept for the newest 1000)",
        ),
    }
}

/// `POST /workflows/{id}/runs`.
async fn start_run(
    State(rest): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    note: Option<axum::Extension<AccessNote>>,
    body: Bytes,
) -> Response {
    let note = note.map(|n| n.0).unwrap_or_default();
    let Some(index) = rest.catalogue.find(&id) else {
        return unknown_workflow(&rest, &id);
    };
    note.workflow(&id);
    if rest.stop.requested().is_some() {
        note.outcome("refused:stopping");
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Stopping",
            "the server is stopping and starts no more runs",
        );
    }
    let inputs = match read_inputs(&headers, &body) {
        Ok(i) => i,
        Err(response) => {
            note.outcome("refused:inputs");
            return response;
        }
    };
    let Ok(slot) = Arc::clone(&rest.slots).try_acquire_owned() else {
        note.outcome("busy");
        return busy();
    };
    let Some((accepted, finished)) = rest.jobs.submit(index, inputs, Some(slot)) else {
        return stopped_runner();
    };
    match accepted.await {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => {
            note.outcome(&format!("refused:{}", refusal.kind));
            return refused(&id, &refusal);
        }
        Err(_) => return stopped_runner(),
    }
    let run_id = rest.runs.start(&id);
    // The run's end is recorded even if this caller goes away before it.
    let (tx, done) = oneshot::channel();
    let keeper = Arc::clone(&rest);
    let kept_id = run_id.clone();
    let keeper_workflow = id.clone();
    tokio::spawn(async move {
        let Ok(ran) = finished.await else {
            // The run ended without a report (the runner stopped): a poller
            // must not see it running for ever.
            let lost = json!({
                "runId": kept_id, "workflowId": keeper_workflow, "status": "failed",
                "error": {"kind": "server", "message": "the run ended without a report"},
            });
            keeper.runs.finish(&kept_id, lost);
            return;
        };
        let value = served_report(&ran.report, &kept_id, &ran.mask);
        keeper.runs.finish(&kept_id, value.clone());
        let _ = tx.send((value, report_status(&ran.report)));
    });
    let location = format!("/runs/{run_id}");
    if prefers_async(&headers) {
        note.outcome("accepted");
        let body = json!({
            "runId": run_id, "workflowId": id, "status": "running",
            "links": {"self": location},
        });
        let mut response = json_response(StatusCode::ACCEPTED, &body);
        let h = response.headers_mut();
        h.insert(header::LOCATION, header_value(&location));
        h.insert(
            "preference-applied",
            HeaderValue::from_static("respond-async"),
        );
        return response;
    }
    let Ok((value, (status, word))) = done.await else {
        return stopped_runner();
    };
    note.outcome(word);
    let mut response = json_response(status, &value);
    response
        .headers_mut()
        .insert(header::CONTENT_LOCATION, header_value(&location));
    response
}

/// The body of a run request: a JSON object of inputs (an empty body is no
/// inputs).
fn read_inputs(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "send the inputs as a JSON object with `Content-Type: application/json`",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid inputs",
            "the body must be a JSON object of the workflow's inputs (`{}` for none)",
        )),
        Err(e) => Err(problem(
            StatusCode::BAD_REQUEST,
            "Malformed JSON",
            &format!("the body is not JSON: {e}"),
        )),
    }
}

/// Whether `Prefer` asks for `respond-async` (RFC 7240).
fn prefers_async(headers: &HeaderMap) -> bool {
    headers.get_all("prefer").iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|p| {
                p.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("respond-async")
            })
        })
    })
}

/// The report as `run -o json` prints it, with the run's id.
fn served_report(report: &RunReport, run_id: &str, redactor: &Redactor) -> Value {
    let mut v = report_json(report, redactor);
    if let Value::Object(m) = &mut v {
        m.insert("runId".into(), json!(run_id));
    }
    v
}

/// The HTTP status of a finished run, and the word the access log uses.
fn report_status(report: &RunReport) -> (StatusCode, &'static str) {
    if report.succeeded() {
        (StatusCode::OK, "succeeded")
    } else if report.interrupted() {
        (StatusCode::SERVICE_UNAVAILABLE, "interrupted")
    } else {
        (StatusCode::FAILED_DEPENDENCY, "failed")
    }
}

/// `succeeded`, `failed` or `interrupted`.
pub fn status_word(report: &RunReport) -> &'static str {
    report_status(report).1
}

fn refused(id: &str, r: &Refusal) -> Response {
    let (status, title) = match r.kind {
        "interrupted" => (StatusCode::SERVICE_UNAVAILABLE, "Stopping"),
        "preflight" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Refused by the preflight check",
        ),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "Invalid inputs"),
    };
    let mut extra = Map::new();
    extra.insert("workflowId".into(), json!(id));
    extra.insert("kind".into(), json!(r.kind));
    extra.insert("stepId".into(), json!(r.step_id));
    problem_with(status, title, &r.message, extra)
}

fn unknown_workflow(rest: &Rest, id: &str) -> Response {
    let ids: Vec<&str> = rest
        .catalogue
        .entries
        .iter()
        .filter_map(|e| e["workflowId"].as_str())
        .collect();
    let detail = format!(
        "no served workflow has the id `{}`; served: {}",
        crate::redact::sanitize::escape(id),
        ids.join(", ")
    );
    problem(
        StatusCode::NOT_FOUND,
        "Unknown workflow",
        &rest.redactor.redact(&detail),
    )
}

fn busy() -> Response {
    let mut response = problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many runs",
        "the server is running as many workflows as it allows at once (--max-concurrent-runs); retry after a second",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn stopped_runner() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Stopping",
        "the server is stopping and starts no more runs",
    )
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("/"))
}

pub fn json_response(status: StatusCode, value: &Value) -> Response {
    let text = serde_json::to_string(value).unwrap_or_default();
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// An RFC 9457 problem: `{type, title, status, detail}`.
pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    problem_with(status, title, detail, Map::new())
}

pub fn problem_with(
    status: StatusCode,
    title: &str,
    detail: &str,
    extra: Map<String, Value>,
) -> Response {
    let slug: String = title
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut body = Map::new();
    body.insert("type".into(), json!(format!("urn:arazzo:problem:{slug}")));
    body.insert("title".into(), json!(title));
    body.insert("status".into(), json!(status.as_u16()));
    body.insert("detail".into(), json!(detail));
    body.extend(extra);
    let mut response = json_response(status, &Value::Object(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_header() {
        let mut h = HeaderMap::new();
        h.insert("prefer", HeaderValue::from_static("wait=10, respond-async"));
        assert!(prefers_async(&h));
        h.insert("prefer", HeaderValue::from_static("return=minimal"));
        assert!(!prefers_async(&h));
    }

    #[test]
    fn ids_in_paths() {
        assert_eq!(segment("provision-mcp-server"), "provision-mcp-server");
        assert_eq!(segment("a/b {c}"), "a%2Fb%20%7Bc%7D");
    }
}
