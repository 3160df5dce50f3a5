//! The run loop: steps in order, each request built from the current state, its
//! response checked against successCriteria, its outputs recorded. The engine never
//! prints; it reports through [`Event`]s and returns a [`RunReport`].

pub mod request;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use url::Url;

use crate::compile::{CompiledStep, CompiledWorkflow, CriterionCheck};
use crate::expr::{apply_pointer, Expr, Resolve};
use crate::redact::Redactor;
use crate::report::{ErrorKind, RunError, RunReport, Status, StepReport};
use request::BuiltRequest;

/// Largest response body read by default (10 MiB).
pub const DEFAULT_MAX_RESPONSE: usize = 10 * 1024 * 1024;

/// How long an error response body shown in a message may be.
const SHOWN_BODY: usize = 400;

pub struct RunOptions {
    /// Base URL per source description name, replacing the OpenAPI servers.
    pub servers: HashMap<String, Url>,
    pub max_response_bytes: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            servers: HashMap::new(),
            max_response_bytes: DEFAULT_MAX_RESPONSE,
        }
    }
}

/// What happens during a run, for live displays.
#[derive(Debug)]
pub enum Event<'a> {
    StepStarted {
        step_id: &'a str,
        method: &'a str,
        path: &'a str,
    },
    StepFinished {
        report: &'a StepReport,
    },
}

/// A received response.
#[derive(Debug, Clone)]
pub struct Received {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

struct State<'a> {
    inputs: &'a Map<String, Value>,
    step_outputs: HashMap<String, Map<String, Value>>,
    workflow_outputs: Map<String, Value>,
}

/// The evaluation context of one step: the run state plus the step's own request
/// and response, once they exist.
struct Ctx<'a> {
    state: &'a State<'a>,
    request: Option<&'a BuiltRequest>,
    response: Option<&'a Received>,
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Resolve for Ctx<'_> {
    fn resolve(&self, expr: &Expr) -> Option<Value> {
        match expr {
            Expr::Url => self.request.map(|r| Value::String(r.url.clone())),
            Expr::Method => self.request.map(|r| Value::String(r.method.clone())),
            Expr::StatusCode => self.response.map(|r| Value::from(r.status)),
            Expr::RequestHeader(h) => self
                .request
                .and_then(|r| header(&r.headers, h))
                .map(|v| Value::String(v.to_string())),
            Expr::RequestQuery(q) => self.request.and_then(|r| r.query_params.get(q).cloned()),
            Expr::RequestPath(p) => self.request.and_then(|r| r.path_params.get(p).cloned()),
            Expr::RequestBody(p) => {
                let body = self.request?.body.clone()?;
                apply_pointer(body, p)
            }
            Expr::ResponseHeader(h) => self
                .response
                .and_then(|r| header(&r.headers, h))
                .map(|v| Value::String(v.to_string())),
            Expr::ResponseBody(p) => {
                let r = self.response?;
                match p {
                    None => Some(r.body.clone()),
                    Some(p) => p.select(&r.body).cloned(),
                }
            }
            Expr::Inputs { name, pointer } => {
                apply_pointer(self.state.inputs.get(name)?.clone(), pointer)
            }
            Expr::Outputs { name, pointer } => {
                apply_pointer(self.state.workflow_outputs.get(name)?.clone(), pointer)
            }
            Expr::Steps {
                step,
                output,
                pointer,
            } => apply_pointer(
                self.state.step_outputs.get(step)?.get(output)?.clone(),
                pointer,
            ),
            Expr::Workflows { .. } | Expr::SourceDescriptions { .. } | Expr::Components { .. } => {
                None
            }
        }
    }
}

/// Runs a compiled workflow with checked inputs.
pub async fn run(
    wf: &CompiledWorkflow,
    inputs: &Map<String, Value>,
    client: &reqwest::Client,
    opts: &RunOptions,
    redactor: &Redactor,
    on_event: &mut dyn FnMut(Event<'_>),
) -> RunReport {
    let started = Instant::now();
    let mut state = State {
        inputs,
        step_outputs: HashMap::new(),
        workflow_outputs: Map::new(),
    };
    let mut steps = Vec::with_capacity(wf.steps.len());
    let mut error = None;

    for step in &wf.steps {
        on_event(Event::StepStarted {
            step_id: &step.step_id,
            method: &step.operation.method,
            path: &step.operation.path,
        });
        let (report, err) = run_step(step, &state, client, opts, redactor).await;
        on_event(Event::StepFinished { report: &report });
        state
            .step_outputs
            .insert(step.step_id.clone(), report.outputs.clone());
        steps.push(report);
        if let Some(e) = err {
            error = Some(e);
            break;
        }
    }

    // Workflow outputs: all of them on success; on failure, those that can be
    // computed from what ran, so a caller knows what was already created.
    let ctx = Ctx {
        state: &state,
        request: None,
        response: None,
    };
    let mut outputs = Map::new();
    for (name, expr) in &wf.outputs {
        match expr.eval(&ctx) {
            Some(v) => {
                outputs.insert(name.clone(), v);
            }
            None if error.is_none() => {
                outputs.insert(name.clone(), Value::Null);
            }
            None => {}
        }
    }
    state.workflow_outputs = outputs.clone();

    RunReport {
        workflow_id: wf.workflow_id.clone(),
        status: if error.is_none() {
            Status::Succeeded
        } else {
            Status::Failed
        },
        outputs,
        steps,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

fn base_url<'a>(step: &'a CompiledStep, opts: &'a RunOptions) -> Result<String, String> {
    if let Some(u) = opts.servers.get(&step.source) {
        return Ok(u.as_str().to_string());
    }
    match step.operation.servers.first() {
        Some(s) if s.starts_with("http://") || s.starts_with("https://") => Ok(s.clone()),
        Some(s) => Err(format!(
            "the server `{s}` of source `{}` is not an http(s) URL; pass --server {}=URL",
            step.source, step.source
        )),
        None => Err(format!(
            "source `{}` declares no servers; pass --server {}=URL",
            step.source, step.source
        )),
    }
}

async fn run_step(
    step: &CompiledStep,
    state: &State<'_>,
    client: &reqwest::Client,
    opts: &RunOptions,
    redactor: &Redactor,
) -> (StepReport, Option<RunError>) {
    let started = Instant::now();
    let mut report = StepReport {
        step_id: step.step_id.clone(),
        status: Status::Failed,
        status_code: None,
        attempts: 0,
        outputs: Map::new(),
        duration_ms: 0,
        method: step.operation.method.clone(),
        url: String::new(),
    };
    let fail = |report: &mut StepReport, kind, message: String| {
        report.duration_ms = started.elapsed().as_millis() as u64;
        Some(RunError {
            step_id: Some(step.step_id.clone()),
            kind,
            message,
        })
    };

    let built = {
        let ctx = Ctx {
            state,
            request: None,
            response: None,
        };
        let base = match base_url(step, opts) {
            Ok(b) => b,
            Err(m) => {
                let e = fail(&mut report, ErrorKind::Request, m);
                return (report, e);
            }
        };
        match request::build(step, &base, &ctx) {
            Ok(b) => b,
            Err(e) => {
                let e = fail(&mut report, ErrorKind::Request, e.0);
                return (report, e);
            }
        }
    };
    for s in &built.secrets {
        redactor.add(s);
    }
    report.url = built.url.clone();
    report.attempts = 1;

    let received = match send(&built, client, opts.max_response_bytes).await {
        Ok(r) => r,
        Err((kind, m)) => {
            let host = Url::parse(&built.url)
                .ok()
                .and_then(|u| {
                    u.host_str().map(|h| match u.port() {
                        Some(p) => format!("{h}:{p}"),
                        None => h.to_string(),
                    })
                })
                .unwrap_or_default();
            let message = format!("{} {} to {host}: {m}", built.method, step.operation.path);
            let e = fail(&mut report, kind, message);
            return (report, e);
        }
    };
    report.status_code = Some(received.status);

    let ctx = Ctx {
        state,
        request: Some(&built),
        response: Some(&received),
    };
    let failed = if step.success_criteria.is_empty() {
        (!(200..300).contains(&received.status))
            .then(|| "the step has no successCriteria and the status is not 2xx".to_string())
    } else {
        step.success_criteria
            .iter()
            .find(|c| match &c.check {
                CriterionCheck::Simple(cond) => !cond.eval(&ctx),
            })
            .map(|c| format!("successCriteria `{}` not met", c.text))
    };

    // Outputs are evaluated either way: on failure, those that resolve help
    // explain what happened.
    for (name, expr) in &step.outputs {
        if let Some(v) = expr.eval(&ctx) {
            report.outputs.insert(name.clone(), v);
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    match failed {
        None => {
            report.status = Status::Succeeded;
            (report, None)
        }
        Some(why) => {
            let message = format!(
                "{why}: {} {} answered {}{}",
                built.method,
                step.operation.path,
                received.status,
                body_excerpt(&received.body)
            );
            let e = fail(&mut report, ErrorKind::Criteria, message);
            (report, e)
        }
    }
}

fn body_excerpt(body: &Value) -> String {
    let text = match body {
        Value::Null => return String::new(),
        Value::String(s) if s.is_empty() => return String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut shown: String = text.chars().take(SHOWN_BODY).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!(" with {shown}")
}

async fn send(
    req: &BuiltRequest,
    client: &reqwest::Client,
    max_bytes: usize,
) -> Result<Received, (ErrorKind, String)> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|_| {
        (
            ErrorKind::Request,
            format!("`{}` is not an HTTP method", req.method),
        )
    })?;
    let url = Url::parse(&req.url)
        .map_err(|e| (ErrorKind::Request, format!("the URL is invalid: {e}")))?;
    let mut rb = client.request(method, url);
    for (k, v) in &req.headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
            (
                ErrorKind::Request,
                format!("`{k}` is not a valid header name"),
            )
        })?;
        let value = reqwest::header::HeaderValue::from_str(v).map_err(|_| {
            (
                ErrorKind::Request,
                format!("the value of header `{k}` has characters a header cannot carry"),
            )
        })?;
        rb = rb.header(name, value);
    }
    if let Some(b) = &req.body_bytes {
        rb = rb.body(b.clone());
    }
    let mut resp = rb
        .send()
        .await
        .map_err(|e| (ErrorKind::Transport, crate::http::describe_error(&e)))?;
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if let Some(len) = resp.content_length() {
        if len as usize > max_bytes {
            return Err((
                ErrorKind::Response,
                format!("the response body is {len} bytes, over the limit of {max_bytes} bytes"),
            ));
        }
    }
    let mut bytes: Vec<u8> = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > max_bytes {
                    return Err((
                        ErrorKind::Response,
                        format!("the response body is over the limit of {max_bytes} bytes"),
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err((
                    ErrorKind::Transport,
                    format!(
                        "the response was cut off: {}",
                        crate::http::describe_error(&e)
                    ),
                ))
            }
        }
    }
    let content_type = header(&headers, "content-type").unwrap_or("");
    let body = parse_body(content_type, &bytes);
    Ok(Received {
        status,
        headers,
        body,
    })
}

/// JSON media types (and bodies without a media type that parse as JSON) become a
/// JSON tree; anything else is kept as text.
fn parse_body(content_type: &str, bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let jsonish = ct == "application/json" || ct.ends_with("+json") || ct.is_empty();
    if jsonish {
        if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
            return v;
        }
    }
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

/// The step timeout used when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
