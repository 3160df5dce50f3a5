//! What to say when a server answers 401 or 403: which credentials the request
//! carried and where each came from, so a user checks the right setting
//! instead of guessing. Only names are ever written here, never a value.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::compile::{CompiledParam, CompiledWorkflow, OperationCall, Program, StepTarget};
use crate::engine::inputs::{env_names, Origin};
use crate::engine::outcome::{ErrorKind, RunReport, Status, StepReport};
use crate::expr::Expr;

/// What the human view of a run needs beyond the report to explain a failure.
pub(crate) struct RunContext<'a> {
    pub program: &'a Program,
    pub inputs: &'a Map<String, Value>,
    pub origins: &'a BTreeMap<String, Origin>,
    pub inputs_file: Option<&'a Path>,
    /// The credentials supplied for the run.
    pub auth: Option<&'a crate::auth::Auth>,
}

/// The help line for a run that failed on a 401 or 403, or `None` when the
/// failure is something else.
pub(crate) fn refused_help(report: &RunReport, ctx: &RunContext<'_>) -> Option<String> {
    let entry = culprit(report)?;
    let status = entry.status_code.filter(|c| matches!(c, 401 | 403))?;
    let (wf, call) = find_call(ctx.program, entry)?;
    let mut sent = Vec::new();
    let mut missing = Vec::new();
    for p in call
        .parameters
        .iter()
        .filter(|p| carries_credential(p, ctx))
    {
        match given_from(p, entry, ctx) {
            Ok(from) => sent.push(format!("{} {}{from}", place(p), p.name)),
            Err(input) => missing.push((p, input)),
        }
    }
    if let Some(basic) = url_credential(&entry.url) {
        sent.push(basic);
    }
    let schemes = ctx.auth.map(|a| scheme_credentials(call, a));
    if let Some((chosen, _)) = &schemes {
        sent.extend(chosen.iter().cloned());
    }
    Some(if sent.is_empty() {
        match schemes.and_then(|(_, unmet)| unmet) {
            Some(unmet) => format!(
                "the server answered {status}, and the request carried no credential: {unmet}"
            ),
            None => no_credential(status, wf, call, &missing),
        }
    } else {
        let what = if sent.len() == 1 { "it is" } else { "each is" };
        format!(
            "the request sent {}; {}",
            sent.join(", and "),
            what_to_check(status, what)
        )
    })
}

/// The credentials the call's security schemes put on its request, each
/// with where it came from; and, when none is put, why (with the fix).
fn scheme_credentials(
    call: &OperationCall,
    auth: &crate::auth::Auth,
) -> (Vec<String>, Option<String>) {
    let taken = crate::auth::param_targets(&call.parameters);
    // The x-security values as written: only which fields they give matters.
    let explicit: Vec<crate::auth::Values> = call
        .security
        .explicit
        .iter()
        .map(|e| {
            e.values
                .iter()
                .map(|(k, _)| (k.clone(), "…".to_string()))
                .collect()
        })
        .collect();
    match crate::auth::select(&call.security, &call.source, auth, &explicit, taken) {
        Ok(sel) => (
            sel.chosen
                .iter()
                .map(|c| format!("the credentials of scheme {} from {}", c.label, c.origin))
                .collect(),
            sel.unsatisfied,
        ),
        Err(m) => (Vec::new(), Some(m)),
    }
}

/// The step entry whose response decides the failure: the failed step itself,
/// or for a failed called workflow, its last failed step.
fn culprit(report: &RunReport) -> Option<&StepReport> {
    let e = report.error.as_ref()?;
    let mut failed = report
        .steps
        .iter()
        .rev()
        .filter(|s| s.status == Status::Failed);
    match e.kind {
        ErrorKind::Criteria => failed
            .filter(|s| s.workflow_id.is_none())
            .find(|s| Some(s.step_id.as_str()) == e.step_id.as_deref()),
        ErrorKind::Workflow | ErrorKind::Dependency => failed.find(|s| s.workflow_id.is_some()),
        _ => None,
    }
}

/// The operation a report entry's step calls, with the step's workflow.
fn find_call<'p>(
    program: &'p Program,
    entry: &StepReport,
) -> Option<(&'p CompiledWorkflow, &'p OperationCall)> {
    let wf = match &entry.workflow_id {
        Some(id) => program.workflows.iter().find(|w| &w.workflow_id == id)?,
        None => program.entry(),
    };
    let step = wf.steps.iter().find(|s| s.step_id == entry.step_id)?;
    match &step.target {
        StepTarget::Operation(call) => Some((wf, call)),
        StepTarget::Workflow { .. } | StepTarget::Message(_) => None,
    }
}

/// A parameter that authenticates: one a security scheme names or whose name
/// says so (the compiler marks both), or one that sends a secret input.
fn carries_credential(p: &CompiledParam, ctx: &RunContext<'_>) -> bool {
    p.secret
        || input_names(p).iter().any(|n| {
            ctx.program
                .workflows
                .iter()
                .any(|w| w.secret_inputs.contains(*n))
        })
}

fn input_names(p: &CompiledParam) -> Vec<&str> {
    p.value
        .expressions()
        .into_iter()
        .filter_map(|e| match e {
            Expr::Inputs { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

fn place(p: &CompiledParam) -> &'static str {
    match p.location {
        crate::openapi::ParamIn::Header => "header",
        crate::openapi::ParamIn::Query => "query parameter",
        crate::openapi::ParamIn::Cookie => "cookie",
        crate::openapi::ParamIn::Path => "path parameter",
        crate::openapi::ParamIn::Querystring => "query string",
    }
}

/// Where a sent credential's value came from (` from the apiKey input, set
/// from ARAZZO_INPUT_API_KEY`), or `Err(input)` when the input it reads was not
/// given, so the parameter was left out of the request.
fn given_from(
    p: &CompiledParam,
    entry: &StepReport,
    ctx: &RunContext<'_>,
) -> Result<String, String> {
    if let Some(name) = input_names(p).first() {
        // A called workflow's inputs come from its caller's step, which may
        // rename them: only the run's own inputs have a known origin.
        let Some(w) = &entry.workflow_id else {
            if !ctx.inputs.contains_key(*name) {
                return Err(name.to_string());
            }
            let origin = origin_text(name, ctx)
                .map(|o| format!(", {o}"))
                .unwrap_or_default();
            return Ok(format!(" from the `{name}` input{origin}"));
        };
        return Ok(format!(" from the `{name}` input of workflow `{w}`"));
    }
    match p.value.expressions().first() {
        Some(e) => Ok(format!(" from `{e}`")),
        None => Ok(" written in the document".to_string()),
    }
}

/// How an input of the run was set, in the words of the flag or variable.
fn origin_text(name: &str, ctx: &RunContext<'_>) -> Option<String> {
    Some(match ctx.origins.get(name)? {
        Origin::Env(var) => format!("set from {var}"),
        Origin::Flag => format!("set with -i {name}=…"),
        Origin::File => match ctx.inputs_file {
            Some(path) if crate::read::stdin::is_dash(path) => {
                format!("set in the --inputs read from {}", crate::read::stdin::NAME)
            }
            Some(path) => format!("set in the --inputs file `{}`", path.display()),
            None => "set in the --inputs file".to_string(),
        },
    })
}

/// Credentials in the request URL itself (`--server http://user:pass@host`),
/// which the HTTP client sends as HTTP Basic authentication.
fn url_credential(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    (!url.username().is_empty()).then(|| {
        "HTTP Basic credentials from the user name and password in the server URL (--server)"
            .to_string()
    })
}

fn what_to_check(status: u16, what: &str) -> String {
    if status == 403 {
        format!("403 means the server knows the credential but refuses this request: check that {what} allowed to do this (its project, scopes or permissions)")
    } else {
        format!("check that {what} valid for this server (arazzo sends it as written)")
    }
}

/// The help for a refused request that carried no credential: the input a
/// credential parameter reads and that was not given, or the parameter the
/// source's security scheme names.
fn no_credential(
    status: u16,
    wf: &CompiledWorkflow,
    call: &OperationCall,
    missing: &[(&CompiledParam, String)],
) -> String {
    if let Some((p, input)) = missing.first() {
        return format!(
            "the request carried no credential: {} {} reads the `{input}` input, which was not given; pass it with -i {input}=… or {}",
            place(p),
            p.name,
            env_names(input)[0]
        );
    }
    let scheme = call
        .api
        .secret_params()
        .ok()
        .and_then(|s| s.into_iter().next());
    let hint = match scheme {
        Some(s) => {
            // The workflow's own secret input when it has one, else the usual name.
            let input = wf.secret_inputs.iter().next().map_or("apiKey", String::as_str);
            let value = if s.name == "authorization" {
                format!("Bearer {{$inputs.{input}}}")
            } else {
                format!("$inputs.{input}")
            };
            format!(
                "pass one with a step parameter `{{name: {}, in: {}, value: {value}}}` (source `{}` names it in a security scheme) and give `{input}` with -i {input}=… or {}",
                s.name,
                s.location.as_str(),
                call.source,
                env_names(input)[0]
            )
        }
        None => "add the parameter the server expects (e.g. an Authorization header) to the step's parameters".to_string(),
    };
    format!("the server answered {status}, and the request carried no credential: {hint}")
}
