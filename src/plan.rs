//! Dry runs and preflight: every request of a workflow built from what is known
//! before the first one is sent (the inputs), with values that depend on earlier
//! responses shown as placeholders, and every built body and parameter checked
//! against the operation's schemas.

use std::borrow::Cow;
use std::cell::RefCell;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::compile::{CompiledWorkflow, OperationCall, Program, StepTarget};
use crate::engine::{base_url, request, RunOptions};
use crate::expr::{apply_pointer, Expr, Resolve, ValueExpr};
use crate::openapi::security::Scheme;
use crate::openapi::{ParamIn, QueryMedia};

/// A value not known before the run, shown as `{$expression}`.
fn placeholder(e: &Expr) -> String {
    format!("{{{e}}}")
}

/// A value not known before the run: a placeholder, or text built from one.
fn is_placeholder(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.contains("{$"))
}

/// Resolves inputs; everything that needs a response becomes a placeholder.
struct DryCtx<'a> {
    inputs: &'a Map<String, Value>,
    /// The planned workflow's id (`$workflows.<it>.inputs` reads `inputs`).
    workflow_id: &'a str,
    /// The value of `$self` in its document.
    self_uri: &'a str,
    seen: RefCell<Vec<String>>,
}

impl DryCtx<'_> {
    /// The input an expression reads: `$inputs.<name>`, or
    /// `$workflows.<this workflow>.inputs.<name>`.
    fn own_input<'e>(&self, e: &'e Expr) -> Option<(&'e String, &'e Option<crate::expr::Pointer>)> {
        match e {
            Expr::Inputs { name, pointer } => Some((name, pointer)),
            Expr::Workflows {
                workflow,
                part: crate::expr::WorkflowPart::Inputs,
                name,
                pointer,
            } if workflow == self.workflow_id => Some((name, pointer)),
            _ => None,
        }
    }
}

impl Resolve for DryCtx<'_> {
    fn resolve(&self, e: &Expr) -> Option<Cow<'_, Value>> {
        if let Some((name, pointer)) = self.own_input(e) {
            return apply_pointer(self.inputs.get(name)?, pointer);
        }
        match e {
            Expr::SelfUri => Some(Cow::Owned(Value::String(self.self_uri.to_string()))),
            other => {
                let p = placeholder(other);
                self.seen.borrow_mut().push(p.clone());
                Some(Cow::Owned(Value::String(p)))
            }
        }
    }

    fn missing(&self, e: &Expr) -> Option<String> {
        match self.own_input(e) {
            // Not given at all: an optional input, which drops its field.
            Some((name, _)) if !self.inputs.contains_key(name) => None,
            Some((name, pointer)) => {
                let at = pointer
                    .as_ref()
                    .and_then(|p| p.first_missing(&self.inputs[name]))
                    .unwrap_or_default();
                Some(format!(
                    "`{e}` is undefined: input `{name}` has nothing at `{at}`"
                ))
            }
            None => Some(format!("`{e}` is undefined")),
        }
    }
}

/// Where a problem is.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanProblem {
    pub workflow_id: String,
    pub step_id: String,
    /// `body /name`, `query page`, `path id`, …
    pub field: String,
    pub rule: String,
    /// What in the step the problem is about, to place it in the document.
    #[serde(skip)]
    pub about: ProblemAbout,
}

/// The part of a step a [`PlanProblem`] is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProblemAbout {
    #[default]
    Step,
    /// The request body, at this JSON Pointer inside it.
    Body(String),
    /// A parameter's value (`in`, name).
    Param(&'static str, String),
    /// A required parameter the step does not give (`in`, name).
    Missing(&'static str, String),
}

impl std::fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step `{}`: {}: {}", self.step_id, self.field, self.rule)
    }
}

/// One planned request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedStep {
    pub workflow_id: String,
    pub step_id: String,
    /// For a step that calls a workflow: its id (its own steps follow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<String>,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub problems: Vec<PlanProblem>,
    /// The security schemes the request will carry (names and kinds, never
    /// values): "`oauth` of source `api` (oauth2, client credentials)".
    pub credentials: Vec<String>,
    /// Security requirements no credential is supplied for, when none is
    /// supplied for the source at all: the request goes without.
    pub warnings: Vec<String>,
    /// A receive step: the message it waits for, and for how long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaits: Option<String>,
}

/// Plans every step of the entry workflow (and of workflows it calls), in the
/// order they are listed.
pub fn plan(
    program: &Program,
    inputs: &Map<String, Value>,
    opts: &RunOptions,
    redactor: &crate::redact::Redactor,
) -> Vec<PlannedStep> {
    let planner = Planner {
        program,
        opts,
        redactor,
    };
    let mut out = Vec::new();
    planner.workflow(0, inputs, &mut out, 0);
    out
}

/// Checks only what the document itself fixes: literal values in parameters and
/// payloads (every expression treated as unknown).
pub fn check_literals(program: &Program) -> Vec<PlanProblem> {
    let mut out = Vec::new();
    for wf in &program.workflows {
        for step in &wf.steps {
            if let StepTarget::Operation(call) = &step.target {
                let ctx = AllUnknown;
                let base = "http://planned.invalid";
                if let Ok(built) = request::build(call, base, &ctx) {
                    out.extend(check_request(wf, &step.step_id, call, &built));
                }
            }
            if let StepTarget::Message(call) = &step.target {
                let Ok((_, payload, _, _)) =
                    crate::engine::message::message_parts(call, &AllUnknown)
                else {
                    continue;
                };
                if let Some((at, rule)) = payload_problem(call, &payload) {
                    out.push(PlanProblem {
                        workflow_id: wf.workflow_id.clone(),
                        step_id: step.step_id.clone(),
                        field: "payload".into(),
                        rule,
                        about: ProblemAbout::Body(at),
                    });
                }
            }
        }
    }
    out
}

struct AllUnknown;
impl Resolve for AllUnknown {
    fn resolve(&self, e: &Expr) -> Option<Cow<'_, Value>> {
        Some(Cow::Owned(Value::String(placeholder(e))))
    }
}

/// What planning a workflow and the workflows it calls shares.
struct Planner<'a> {
    program: &'a Program,
    opts: &'a RunOptions,
    redactor: &'a crate::redact::Redactor,
}

impl Planner<'_> {
    /// Plans the steps of workflow `index` in the order they are listed, each
    /// call to a workflow followed by that workflow's steps (at most 8 deep).
    fn workflow(
        &self,
        index: usize,
        inputs: &Map<String, Value>,
        out: &mut Vec<PlannedStep>,
        depth: usize,
    ) {
        let wf = &self.program.workflows[index];
        for step in &wf.steps {
            let ctx = DryCtx {
                inputs,
                workflow_id: &wf.workflow_id,
                self_uri: &self.program.doc_self[wf.doc],
                seen: RefCell::new(Vec::new()),
            };
            match &step.target {
                StepTarget::Operation(call) => {
                    out.push(self.operation(wf, &step.step_id, call, &ctx));
                }
                StepTarget::Message(call) => {
                    out.push(self.message(wf, step, call, &ctx));
                }
                StepTarget::Workflow {
                    workflow,
                    inputs: params,
                } => {
                    let (planned, child_inputs) =
                        self.call(wf, &step.step_id, *workflow, params, &ctx);
                    out.push(planned);
                    if depth < 8 {
                        self.workflow(*workflow, &child_inputs, out, depth + 1);
                    }
                }
            }
        }
    }

    /// Plans a step that sends a request: the request as built from what is
    /// known, checked against the operation; or, when it cannot be built, the
    /// operation with the reason as its problem. Credentials it holds become
    /// secrets.
    fn operation(
        &self,
        wf: &CompiledWorkflow,
        step_id: &str,
        call: &OperationCall,
        ctx: &DryCtx<'_>,
    ) -> PlannedStep {
        let base = base_url(call, self.opts).unwrap_or_else(|_| format!("{{{}}}", call.source));
        let built = match request::build(call, &base, ctx) {
            Ok(built) => built,
            Err(e) => {
                return PlannedStep {
                    workflow_id: wf.workflow_id.clone(),
                    step_id: step_id.to_string(),
                    calls: None,
                    method: call.operation.method.clone(),
                    url: call.operation.path.clone(),
                    headers: Vec::new(),
                    body: None,
                    credentials: Vec::new(),
                    warnings: Vec::new(),
                    awaits: None,
                    problems: vec![PlanProblem {
                        workflow_id: wf.workflow_id.clone(),
                        step_id: step_id.to_string(),
                        field: "request".into(),
                        rule: e.0,
                        about: ProblemAbout::Step,
                    }],
                }
            }
        };
        for s in &built.secrets {
            if !s.starts_with("{$") {
                self.redactor.add(s);
            }
        }
        let mut problems = check_request(wf, step_id, call, &built);
        let (credentials, warnings) = self.credentials(call, &built, ctx, |field, rule| {
            problems.push(PlanProblem {
                workflow_id: wf.workflow_id.clone(),
                step_id: step_id.to_string(),
                field: field.into(),
                rule,
                about: ProblemAbout::Step,
            })
        });
        // Placeholders read as written, not percent-encoded.
        let mut url = built.url.clone();
        for p in ctx.seen.borrow().iter() {
            let enc = percent_encoding::utf8_percent_encode(p, request::COMPONENT).to_string();
            url = url.replace(&enc, p);
        }
        PlannedStep {
            workflow_id: wf.workflow_id.clone(),
            step_id: step_id.to_string(),
            calls: None,
            method: built.method.clone(),
            url,
            headers: built.headers.clone(),
            body: built.body.clone(),
            problems,
            credentials,
            warnings,
            awaits: None,
        }
    }

    /// Plans a message step: the broker and channel address, and for a send the
    /// headers and payload, the payload checked against the message's schema; for a
    /// receive, the correlation id it waits for.
    fn message(
        &self,
        wf: &CompiledWorkflow,
        step: &crate::compile::CompiledStep,
        call: &crate::compile::MessageCall,
        ctx: &DryCtx<'_>,
    ) -> PlannedStep {
        use crate::compile::MessageAction;
        use crate::engine::message::{fill_address, message_parts, select_server, shown_channel};
        let mut problems = Vec::new();
        let mut problem = |field: &str, rule: String| {
            problems.push(PlanProblem {
                workflow_id: wf.workflow_id.clone(),
                step_id: step.step_id.clone(),
                field: field.into(),
                rule,
                about: ProblemAbout::Step,
            })
        };
        let protocol = select_server(call, self.opts)
            .ok()
            .and_then(|(u, _, _)| crate::broker::Protocol::from_name(u.scheme()))
            .map(|p| p.0);
        let address = fill_address(call, ctx, protocol).unwrap_or_else(|m| {
            problem("channel", m);
            call.op.channel.address.clone().unwrap_or_default()
        });
        let url = match select_server(call, self.opts) {
            Ok((u, _, _)) => shown_channel(&u, &address),
            Err(m) => {
                problem("server", m);
                format!("{{{}}}/{address}", call.source)
            }
        };
        let (mut headers, mut body, mut awaits) = (Vec::new(), None, None);
        match call.action {
            MessageAction::Send => match message_parts(call, ctx) {
                Ok((h, payload, _, _)) => {
                    if let Some((_, rule)) = payload_problem(call, &payload) {
                        problem("payload", rule);
                    }
                    headers = h;
                    body = (!payload.is_null()).then_some(payload);
                }
                Err(m) => problem("message", m),
            },
            MessageAction::Receive => {
                let wait = match step.timeout {
                    Some(t) => format!("at most {:.1} s (the step's timeout)", t.as_secs_f64()),
                    None => format!(
                        "at most {:.1} s (--timeout)",
                        self.opts.message_timeout.as_secs_f64()
                    ),
                };
                awaits = Some(match &call.correlation_id {
                    Some(v) => {
                        let id = v
                            .eval(ctx)
                            .map(|v| crate::expr::stringify(Some(&v)))
                            .unwrap_or_default();
                        let at: Vec<&str> = call
                            .correlations
                            .iter()
                            .map(|c| c.location.as_str())
                            .collect();
                        format!(
                            "the first message whose correlation id ({}) is `{id}`, {wait}",
                            at.join(" or ")
                        )
                    }
                    None => format!("the first message on the channel, {wait}"),
                });
            }
        }
        PlannedStep {
            workflow_id: wf.workflow_id.clone(),
            step_id: step.step_id.clone(),
            calls: None,
            method: call.action.as_str().to_ascii_uppercase(),
            url,
            headers,
            body,
            problems,
            credentials: Vec::new(),
            warnings: Vec::new(),
            awaits,
        }
    }

    /// The schemes the request will carry, and the warnings for unmet
    /// requirements; a problem (to `problem`) when an `x-security` entry lacks
    /// a field, or when the requirements are unmet although credentials are
    /// supplied for the source (a missing or empty one, surely a mistake).
    fn credentials(
        &self,
        call: &OperationCall,
        built: &request::BuiltRequest,
        ctx: &DryCtx<'_>,
        mut problem: impl FnMut(&str, String),
    ) -> (Vec<String>, Vec<String>) {
        let explicit: Vec<crate::auth::Values> = call
            .security
            .explicit
            .iter()
            .map(|entry| {
                let mut values = crate::auth::Values::new();
                for (field, expr) in &entry.values {
                    let text = match expr.eval_required(ctx) {
                        Ok(Some(v)) => crate::expr::stringify(Some(&v)),
                        Ok(None) => continue,
                        // Known only once the run is under way.
                        Err(_) => "{…}".to_string(),
                    };
                    if text.is_empty() {
                        continue;
                    }
                    if crate::openapi::security::secret_field(field) && !text.starts_with('{') {
                        self.redactor.add(&text);
                    }
                    values.insert(field.clone(), text);
                }
                values
            })
            .collect();
        let taken = crate::auth::taken(&built.headers, built.query_params.keys());
        let auth = &*self.opts.auth;
        let selection =
            match crate::auth::select(&call.security, &call.source, auth, &explicit, taken) {
                Ok(s) => s,
                Err(m) => {
                    problem("credentials", m);
                    return (Vec::new(), Vec::new());
                }
            };
        let mut labels = Vec::new();
        let mut warnings = Vec::new();
        for chosen in &selection.chosen {
            labels.push(match &*chosen.scheme {
                Scheme::OAuth2 { .. } | Scheme::OpenIdConnect { .. } => {
                    // Where the client secret or password will go.
                    let base = base_url(call, self.opts).unwrap_or_else(|_| built.url.clone());
                    match crate::auth::grant_for(chosen, &base) {
                        Ok(g) => format!("{}, token from {}", chosen.label, token_source(&g)),
                        Err(m) => {
                            problem("credentials", m);
                            chosen.label.clone()
                        }
                    }
                }
                _ => chosen.label.clone(),
            });
        }
        if !selection.chosen.is_empty() {
            if let Some(w) = cleartext(&built.url, &call.source) {
                warnings.push(w);
            }
        }
        if let Some(unmet) = selection.unsatisfied {
            // The document's own `x-security` is what it chose to send (as
            // Respect documents do): only supplied credentials say the user
            // meant to meet the requirement.
            if auth.intends(&call.source) {
                problem("credentials", unmet);
            } else {
                let what = if selection.chosen.is_empty() {
                    "the request is sent without"
                } else {
                    "the request carries only what `x-security` gives"
                };
                warnings.push(format!(
                    "{unmet}; no credential is supplied for source `{}`, so {what}",
                    call.source
                ));
            }
        }
        (labels, warnings)
    }

    /// Plans a step that calls workflow `child`: shown as a `CALL` whose body
    /// is the inputs it passes, which are returned to plan the child with.
    fn call(
        &self,
        wf: &CompiledWorkflow,
        step_id: &str,
        child: usize,
        params: &[(String, ValueExpr)],
        ctx: &DryCtx<'_>,
    ) -> (PlannedStep, Map<String, Value>) {
        let child = &self.program.workflows[child];
        let mut problems = Vec::new();
        let mut child_inputs = Map::new();
        for (k, v) in params {
            match v.eval_required(ctx) {
                Ok(Some(v)) => {
                    child_inputs.insert(k.clone(), v);
                }
                Ok(None) => {}
                Err(why) => problems.push(PlanProblem {
                    workflow_id: wf.workflow_id.clone(),
                    step_id: step_id.to_string(),
                    field: format!("input `{k}`"),
                    rule: why,
                    about: ProblemAbout::Step,
                }),
            }
        }
        let planned = PlannedStep {
            workflow_id: wf.workflow_id.clone(),
            step_id: step_id.to_string(),
            calls: Some(child.workflow_id.clone()),
            method: "CALL".into(),
            url: format!("workflow:{}", child.workflow_id),
            headers: Vec::new(),
            body: Some(Value::Object(child_inputs.clone())),
            problems,
            credentials: Vec::new(),
            warnings: Vec::new(),
            awaits: None,
        };
        (planned, child_inputs)
    }
}

/// Where a grant's token comes from, for dry runs.
fn token_source(g: &crate::auth::token::Grant) -> String {
    use crate::auth::token::Endpoint;
    match &g.endpoint {
        Endpoint::Token(u) => crate::read::display_url(u),
        Endpoint::Discovery(u) => format!(
            "the token endpoint named by {}",
            crate::read::display_url(u)
        ),
        Endpoint::None => "the supplied access token".into(),
    }
}

/// A warning for credentials sent over plain http to another machine: they
/// travel unencrypted.
fn cleartext(url: &str, source: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if u.scheme() != "http" {
        return None;
    }
    let local = match u.host()? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    (!local).then(|| {
        format!(
            "the credentials of source `{source}` go over plain http to {}, unencrypted; use https (or --server {source}=https://…)",
            u.host_str().unwrap_or_default()
        )
    })
}

/// Checks a built request's parameters and body against the operation.
fn check_request(
    wf: &CompiledWorkflow,
    step_id: &str,
    call: &OperationCall,
    built: &request::BuiltRequest,
) -> Vec<PlanProblem> {
    let check = RequestCheck {
        wf,
        step_id,
        call,
        built,
    };
    let mut problems = Vec::new();
    check.missing_parameters(&mut problems);
    check.parameter_values(&mut problems);
    check.body(&mut problems);
    problems
}

/// One built request being checked against its operation.
struct RequestCheck<'a> {
    wf: &'a CompiledWorkflow,
    step_id: &'a str,
    call: &'a OperationCall,
    built: &'a request::BuiltRequest,
}

impl RequestCheck<'_> {
    /// A problem of this step.
    fn problem(&self, field: String, rule: String, about: ProblemAbout) -> PlanProblem {
        PlanProblem {
            workflow_id: self.wf.workflow_id.clone(),
            step_id: self.step_id.to_string(),
            field,
            rule,
            about,
        }
    }

    /// Required parameters the step does not give (or gives with a value that
    /// turned out undefined, so the request leaves them out).
    fn missing_parameters(&self, problems: &mut Vec<PlanProblem>) {
        let (call, built) = (self.call, self.built);
        for spec in &call.operation.parameters {
            if !spec.required || spec.location == ParamIn::Path {
                continue;
            }
            let given = call.parameters.iter().any(|p| {
                p.location == spec.location
                    && if spec.location == ParamIn::Header {
                        p.name.eq_ignore_ascii_case(&spec.name)
                    } else {
                        p.name == spec.name
                    }
            });
            let sent = match spec.location {
                ParamIn::Query => built.query_params.contains_key(&spec.name),
                ParamIn::Header => built
                    .headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case(&spec.name)),
                _ => given,
            };
            if !sent {
                problems.push(self.problem(
                    format!("{} parameter `{}`", spec.location.as_str(), spec.name),
                    if given {
                        "is required by the operation, but its value is undefined".into()
                    } else {
                        "is required by the operation and the step does not give it".into()
                    },
                    ProblemAbout::Missing(spec.location.as_str(), spec.name.clone()),
                ));
            }
        }
    }

    /// Path and query parameter values against their schemas, and a
    /// querystring's against its media type's (placeholders left unchecked).
    fn parameter_values(&self, problems: &mut Vec<PlanProblem>) {
        let (call, built) = (self.call, self.built);
        for p in &call.parameters {
            let Some(spec) = p.spec.as_ref() else {
                continue;
            };
            let (schema, value) = match p.location {
                ParamIn::Path => (
                    &spec.schema,
                    built.path_params.get(&p.name).map(Cow::Borrowed),
                ),
                ParamIn::Query => (
                    &spec.schema,
                    built.query_params.get(&p.name).map(Cow::Borrowed),
                ),
                ParamIn::Querystring => (
                    &spec.content_schema,
                    querystring_value(spec, built, &p.name),
                ),
                _ => continue,
            };
            let (Some(schema), Some(value)) = (schema, value) else {
                continue;
            };
            let value = value.as_ref();
            if is_placeholder(value)
                || (p.location == ParamIn::Querystring && holds_placeholder(value))
            {
                continue;
            }
            let checker = call
                .checkers
                .get(&format!("{} {}", p.location.as_str(), p.name), || {
                    crate::schema::checker(&call.api, schema)
                });
            let value = match (p.location, value) {
                // Form pairs are text: each member is coerced like a query value.
                (ParamIn::Querystring, Value::Object(members))
                    if QueryMedia::of(Some(spec)) == QueryMedia::Form =>
                {
                    let root = &checker.schema;
                    let schema = crate::schema::follow(root, root);
                    let member = |k: &str| {
                        schema
                            .get("properties")
                            .and_then(|ps| ps.get(k))
                            .or_else(|| schema.get("additionalProperties"))
                    };
                    Value::Object(
                        members
                            .iter()
                            .map(|(k, v)| {
                                let v = match member(k) {
                                    Some(s) => coerce_to_schema(v, s, root),
                                    None => v.clone(),
                                };
                                (k.clone(), v)
                            })
                            .collect(),
                    )
                }
                _ => coerce_to_schema(value, &checker.schema, &checker.schema),
            };
            for v in checker.violations(&value, &|_, _| false) {
                problems.push(self.problem(
                    format!("{} parameter `{}`{}", p.location.as_str(), p.name, v.path),
                    v.rule,
                    ProblemAbout::Param(p.location.as_str(), p.name.clone()),
                ));
            }
        }
    }

    /// The body against the request body schema of its media type, skipping
    /// the parts that are placeholders.
    fn body(&self, problems: &mut Vec<PlanProblem>) {
        let call = self.call;
        let Some(body) = &self.built.body else {
            return;
        };
        let content_type = call.body.as_ref().map(|b| b.content_type.as_str());
        let Some(schema) = call.operation.body_schema(content_type) else {
            return;
        };
        let checker = call
            .checkers
            .get("body", || crate::schema::checker(&call.api, schema));
        let skip = |path: &str, composite: bool| {
            let node = if path.is_empty() {
                Some(body)
            } else {
                body.pointer(path)
            };
            node.is_some_and(|n| is_placeholder(n) || (composite && holds_placeholder(n)))
        };
        if is_placeholder(body) || body.is_string() {
            return;
        }
        for v in checker.violations(body, &skip) {
            let at = if v.path.is_empty() {
                String::new()
            } else {
                format!(" `{}`", v.path)
            };
            problems.push(self.problem(
                format!("request body{at}"),
                v.rule,
                ProblemAbout::Body(v.path.clone()),
            ));
        }
    }
}

/// What a querystring parameter's schema is checked against: the pairs of a
/// form query string (each a string, coerced like query values), the value
/// of a JSON one (its text parsed).
fn querystring_value<'a>(
    spec: &crate::openapi::ParamSpec,
    built: &'a request::BuiltRequest,
    name: &str,
) -> Option<Cow<'a, Value>> {
    match QueryMedia::of(Some(spec)) {
        QueryMedia::Form => Some(Cow::Owned(Value::Object(built.query_params.clone()))),
        QueryMedia::Json => match built.query_params.get(name)? {
            Value::String(text) => serde_json::from_str(text).ok().map(Cow::Owned),
            other => Some(Cow::Borrowed(other)),
        },
        _ => None,
    }
}

fn holds_placeholder(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().any(holds_placeholder),
        Value::Object(m) => m.values().any(holds_placeholder),
        other => is_placeholder(other),
    }
}

/// Path and query values given as text (`"5"`) are checked as what they denote.
/// `root` is the converted schema whose `$defs` the `$ref`s point into.
fn coerce_to_schema(value: &Value, schema: &Value, root: &Value) -> Value {
    let schema = crate::schema::follow(root, schema);
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let has = |t: &str| types.contains(&t);
    let items = schema.get("items").unwrap_or(&Value::Bool(true));
    match value {
        // One value for an array parameter is sent as a one-item array.
        v if has("array") && !v.is_array() => Value::Array(vec![coerce_to_schema(v, items, root)]),
        Value::Array(list) if has("array") => Value::Array(
            list.iter()
                .map(|i| coerce_to_schema(i, items, root))
                .collect(),
        ),
        Value::String(s) if (has("integer") || has("number")) && !has("string") => {
            serde_json::from_str::<Value>(s)
                .ok()
                .filter(Value::is_number)
                .unwrap_or_else(|| value.clone())
        }
        Value::String(s) if has("boolean") && !has("string") => match s.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => value.clone(),
        },
        // A parameter is sent as text: 42 for a string parameter is "42".
        Value::Number(n) if has("string") && !has("number") && !has("integer") => {
            Value::String(n.to_string())
        }
        Value::Bool(b) if has("string") && !has("boolean") => Value::String(b.to_string()),
        _ => value.clone(),
    }
}

pub fn list_problems(problems: &[PlanProblem]) -> String {
    problems
        .iter()
        .map(|p| {
            if p.workflow_id.is_empty() {
                p.to_string()
            } else {
                format!("workflow `{}`, {p}", p.workflow_id)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Why a send's payload matches none of the operation's message schemas (values
/// known only at run time, the placeholders, are not judged), with where in the
/// payload the first message's schema fails (a JSON Pointer).
fn payload_problem(
    call: &crate::compile::MessageCall,
    payload: &Value,
) -> Option<(String, String)> {
    let sends = call.action == crate::compile::MessageAction::Send && call.body.is_some();
    if !sends || call.payload_checks.is_empty() || has_placeholder(payload) {
        return None;
    }
    let mut reasons = Vec::new();
    let mut first_at = None;
    for check in call.payload_checks.iter() {
        match check.validator.iter_errors(payload).next() {
            None => return None,
            Some(e) => {
                let at = e.instance_path().to_string();
                first_at.get_or_insert_with(|| at.clone());
                let shown = if at.is_empty() { "/".to_string() } else { at };
                reasons.push(format!("message `{}`: at `{shown}`: {e}", check.message));
            }
        }
    }
    let rule = if reasons.len() == 1 {
        format!(
            "the payload does not match its message's schema: {}",
            reasons[0]
        )
    } else {
        format!(
            "the payload matches none of the operation's messages: {}",
            reasons.join("; ")
        )
    };
    Some((first_at.unwrap_or_default(), rule))
}

fn has_placeholder(v: &Value) -> bool {
    match v {
        Value::String(_) => is_placeholder(v),
        Value::Array(a) => a.iter().any(has_placeholder),
        Value::Object(m) => m.values().any(has_placeholder),
        _ => false,
    }
}
