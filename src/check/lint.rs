//! Checks of a compiled program beyond "does everything resolve": response body
//! pointers against the response schemas, steps that can never run, goto loops
//! with no way out, and outputs nothing reads.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::check::diagnostics::Severity;
use crate::compile::{ActionKind, CompiledWorkflow, CriterionCheck, Jump, Program, StepTarget};
use crate::document::Loaded;
use crate::expr::{Expr, Pointer};
use crate::openapi::{OpenApi, Operation};

/// One finding, placed by JSON Pointer in the entry document.
#[derive(Debug, Clone)]
pub struct Finding {
    pub pointer: String,
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    /// The text the finding is about, to narrow `pointer` to the string that
    /// holds it (see `check::refine`).
    pub needle: Option<String>,
}

/// Lints the workflows of the entry document.
pub fn lint(program: &Program, loaded: &Loaded) -> Vec<Finding> {
    let mut out = Vec::new();
    let doc = &loaded.entry().doc;
    identifiers(loaded, &mut out);
    shared_operation_ids(loaded, &mut out);
    for (index, wf) in program
        .workflows
        .iter()
        .enumerate()
        .filter(|(_, w)| w.doc == 0)
    {
        let Some(wi) = doc
            .workflows
            .iter()
            .position(|w| w.workflow_id == wf.workflow_id)
        else {
            continue;
        };
        let wf_ptr = format!("/workflows/{wi}");
        // Step pointers by stepId: a workflow with a broken step lacks it.
        let raw = &doc.workflows[wi];
        let step_ptr = |id: &str| match raw.steps.iter().position(|s| s.step_id == id) {
            Some(i) => format!("{wf_ptr}/steps/{i}"),
            None => wf_ptr.clone(),
        };
        response_pointers(wf, &step_ptr, &mut out);
        undeclared_status(wf, &step_ptr, &mut out);
        no_response_in_workflow_steps(wf, &step_ptr, &mut out);
        undeclared_parameters(wf, &step_ptr, &mut out);
        unsatisfiable_security(wf, &step_ptr, &mut out);
        // What depends on every step being there waits until they all compile.
        if !wf.incomplete {
            reachability(wf, &wf_ptr, &mut out);
            unused_outputs(wf, &wf_ptr, &mut out);
            recursive_calls(program, index, &wf_ptr, &mut out);
        }
    }
    out
}

/// The workflows a workflow starts: steps that call one, and goto/retry
/// actions that go to one.
fn callees(wf: &CompiledWorkflow) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (si, step) in wf.steps.iter().enumerate() {
        if let StepTarget::Workflow { workflow, .. } = &step.target {
            out.push((si, *workflow));
        }
        for a in step.on_success.iter().chain(&step.on_failure) {
            match &a.kind {
                ActionKind::Goto(Jump::Workflow(w))
                | ActionKind::Retry {
                    then: Some(Jump::Workflow(w)),
                    ..
                } => out.push((si, *w)),
                _ => {}
            }
        }
    }
    out
}

/// A workflow that starts itself again, directly or through others: legal
/// (a condition may end it), but each call nests deeper, and a run stops
/// after 32 nested calls.
fn recursive_calls(program: &Program, index: usize, wf_ptr: &str, out: &mut Vec<Finding>) {
    let wf = &program.workflows[index];
    for (si, first) in callees(wf) {
        // Is `index` reachable from `first`? Keep the path for the message.
        let mut seen = vec![false; program.workflows.len()];
        let mut stack = vec![(first, vec![first])];
        let mut cycle = None;
        while let Some((w, path)) = stack.pop() {
            if w == index {
                cycle = Some(path);
                break;
            }
            if std::mem::replace(&mut seen[w], true) {
                continue;
            }
            for (_, next) in callees(&program.workflows[w]) {
                let mut p = path.clone();
                p.push(next);
                stack.push((next, p));
            }
        }
        let Some(path) = cycle else {
            continue;
        };
        let names: Vec<&str> = std::iter::once(index)
            .chain(path)
            .map(|w| program.workflows[w].workflow_id.as_str())
            .collect();
        let field = if matches!(wf.steps[si].target, StepTarget::Workflow { .. }) {
            "/workflowId"
        } else {
            ""
        };
        out.push(Finding {
            pointer: format!("{wf_ptr}/steps/{si}{field}"),
            code: "workflow/recursive",
            severity: Severity::Warning,
            message: format!(
                "step `{}` starts workflow `{}` again ({}): each call nests inside the last",
                wf.steps[si].step_id,
                wf.workflow_id,
                names.join(" → ")
            ),
            help: Some(
                "make sure a condition stops it (an `end` action or criteria on the step); a run fails after 32 nested workflow calls".into(),
            ), needle: None,
        });
        break;
    }
}

/// `$response.body#/…` in a step's outputs and criteria must exist in the schema
/// of the response the step succeeds with.
fn response_pointers(
    wf: &CompiledWorkflow,
    step_ptr: &dyn Fn(&str) -> String,
    out: &mut Vec<Finding>,
) {
    for step in &wf.steps {
        let StepTarget::Operation(call) = &step.target else {
            continue;
        };
        let status = step.success_criteria.iter().find_map(|c| match &c.check {
            CriterionCheck::Simple(cond) => cond.required_status(),
            CriterionCheck::Typed { .. } => None,
        });
        let Some((code, schema)) = response_schema(&call.operation, status) else {
            continue;
        };
        let mut seen = BTreeSet::new();
        let exprs = step
            .outputs
            .iter()
            .flat_map(|(_, o)| o.expressions())
            .chain(step.success_criteria.iter().flat_map(|c| c.expressions()));
        for e in exprs {
            let Expr::ResponseBody(Some(pointer)) = e else {
                continue;
            };
            if !seen.insert(pointer.as_str().to_string()) {
                continue;
            }
            if let Err(missing) = walk(&call.api, schema, pointer) {
                out.push(Finding {
                    pointer: step_ptr(&step.step_id),
                    code: "response/unknown-field",
                    severity: Severity::Error,
                    message: format!(
                        "step `{}`: `{e}` selects `{missing}`, which the {code} response of `{} {}` does not have",
                        step.step_id, call.operation.method, call.operation.path
                    ),
                    help: Some(format!(
                        "the {code} response schema has: {}",
                        fields_at(&call.api, schema, pointer)
                    )),
                    needle: Some(e.to_string()),
                });
            }
        }
    }
}

/// The JSON schema of the response for `status` (or the first 2xx response).
fn response_schema(op: &Operation, status: Option<u16>) -> Option<(String, &Value)> {
    let key = match status {
        Some(s) => {
            let exact = s.to_string();
            let range = format!("{}XX", s / 100);
            [exact, range, "default".to_string()]
                .into_iter()
                .find(|k| op.responses.contains_key(k))?
        }
        None => op.responses.keys().find(|k| k.starts_with('2')).cloned()?,
    };
    let content = op.responses.get(&key)?.get("content")?.as_object()?;
    let media = content
        .iter()
        .find(|(k, _)| {
            let k = k.to_ascii_lowercase();
            k.starts_with("application/json") || k.contains("+json")
        })?
        .1;
    Some((key, media.get("schema")?))
}

/// Follows a pointer through a schema. `Err` names the first token the schema
/// says cannot be there; anything the schema leaves open is accepted.
fn walk(api: &OpenApi, schema: &Value, pointer: &Pointer) -> Result<(), String> {
    let mut current = vec![schema];
    let mut path = String::new();
    for token in pointer.tokens() {
        path.push('/');
        path.push_str(&token.replace('~', "~0").replace('/', "~1"));
        let mut next = Vec::new();
        let mut open = false;
        for s in current {
            for s in expand(api, s, 0) {
                if let Some(p) = s.get("properties").and_then(|p| p.get(token.as_str())) {
                    push_once(&mut next, p);
                } else if let Some(items) =
                    s.get("items").filter(|_| token.parse::<usize>().is_ok())
                {
                    push_once(&mut next, items);
                } else {
                    let closed_object = s.get("properties").is_some()
                        && matches!(
                            s.get("additionalProperties"),
                            None | Some(Value::Bool(false))
                        );
                    let has_items_only = s.get("items").is_some();
                    if !closed_object && !has_items_only {
                        open = true;
                    }
                }
            }
        }
        if open {
            return Ok(());
        }
        if next.is_empty() {
            return Err(path);
        }
        current = next;
    }
    Ok(())
}

/// A schema with its `$ref` resolved and its `allOf`/`oneOf`/`anyOf` branches,
/// each schema once (branches that name one schema many times, at many
/// levels, would otherwise multiply).
fn expand<'a>(api: &'a OpenApi, s: &'a Value, depth: usize) -> Vec<&'a Value> {
    let mut out = Vec::new();
    expand_into(api, s, depth, &mut out);
    out
}

fn expand_into<'a>(api: &'a OpenApi, s: &'a Value, depth: usize, out: &mut Vec<&'a Value>) {
    let Ok(s) = api.resolve(s) else {
        return;
    };
    if out.iter().any(|seen| std::ptr::eq(*seen, s)) || out.len() > 256 {
        return;
    }
    out.push(s);
    if depth > 16 {
        return;
    }
    for k in ["allOf", "oneOf", "anyOf"] {
        for branch in s.get(k).and_then(Value::as_array).into_iter().flatten() {
            expand_into(api, branch, depth + 1, out);
        }
    }
}

/// Adds `v` to `list` unless it is there already (the same node).
fn push_once<'a>(list: &mut Vec<&'a Value>, v: &'a Value) {
    if !list.iter().any(|x| std::ptr::eq(*x, v)) {
        list.push(v);
    }
}

fn fields_at(api: &OpenApi, schema: &Value, pointer: &Pointer) -> String {
    let mut current = vec![schema];
    for token in pointer.tokens() {
        let mut next = Vec::new();
        for s in &current {
            for s in expand(api, s, 0) {
                if let Some(p) = s.get("properties").and_then(|p| p.get(token.as_str())) {
                    push_once(&mut next, p);
                } else if let Some(items) =
                    s.get("items").filter(|_| token.parse::<usize>().is_ok())
                {
                    push_once(&mut next, items);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        current = next;
    }
    let mut names: Vec<String> = current
        .iter()
        .flat_map(|s| expand(api, s, 0))
        .filter_map(|s| s.get("properties").and_then(Value::as_object))
        .flat_map(|m| m.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        "no named fields".into()
    } else {
        names.join(", ")
    }
}

/// Steps no path reaches, and goto loops whose success path never leaves.
/// Not for a workflow whose steps run as a graph (1.1 `dependsOn`): each of
/// its steps starts when its prerequisites complete, not when a step before
/// it moves on, and the compiler already refuses prerequisites that cannot.
fn reachability(wf: &CompiledWorkflow, wf_ptr: &str, out: &mut Vec<Finding>) {
    if wf.parallel {
        return;
    }
    let n = wf.steps.len();
    // Success edges: None means "the workflow ends".
    let success_edges = |i: usize| -> Vec<Option<usize>> {
        let step = &wf.steps[i];
        let mut edges = Vec::new();
        let mut unconditional = false;
        for a in &step.on_success {
            let target = match &a.kind {
                ActionKind::End | ActionKind::Goto(Jump::Workflow(_)) => None,
                ActionKind::Goto(Jump::Step(s)) => Some(*s),
                ActionKind::Retry { .. } => continue,
            };
            edges.push(target);
            if a.criteria.is_empty() {
                unconditional = true;
                break;
            }
        }
        if !unconditional {
            edges.push((i + 1 < n).then_some(i + 1));
        }
        edges
    };
    let failure_edges = |i: usize| -> Vec<usize> {
        wf.steps[i]
            .on_failure
            .iter()
            .filter_map(|a| match &a.kind {
                ActionKind::Goto(Jump::Step(s)) => Some(*s),
                ActionKind::Retry {
                    then: Some(Jump::Step(s)),
                    ..
                } => Some(*s),
                _ => None,
            })
            .collect()
    };
    let mut reached = vec![false; n];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if i >= n || reached[i] {
            continue;
        }
        reached[i] = true;
        stack.extend(success_edges(i).into_iter().flatten());
        stack.extend(failure_edges(i));
    }
    for (i, r) in reached.iter().enumerate() {
        if !r {
            out.push(Finding {
                pointer: format!("{wf_ptr}/steps/{i}/stepId"),
                code: "step/unreachable",
                severity: Severity::Warning,
                message: format!(
                    "step `{}` can never run: no step goes to it and the step before it always jumps elsewhere",
                    wf.steps[i].step_id
                ),
                help: Some("remove the step, or add a goto to it".into()), needle: None,
            });
        }
    }
    // Can the success path from a step ever end the workflow?
    let mut exits = vec![false; n];
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..n {
            if !exits[i] && success_edges(i).iter().any(|e| e.is_none_or(|j| exits[j])) {
                exits[i] = true;
                changed = true;
            }
        }
    }
    let trapped: Vec<&str> = (0..n)
        .filter(|&i| reached[i] && !exits[i])
        .map(|i| wf.steps[i].step_id.as_str())
        .collect();
    if let Some(first) = (0..n).find(|&i| reached[i] && !exits[i]) {
        out.push(Finding {
            pointer: format!("{wf_ptr}/steps/{first}/stepId"),
            code: "step/endless-loop",
            severity: Severity::Warning,
            message: format!(
                "steps {} loop with no way out: when they succeed, a goto always leads back",
                trapped.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            ),
            help: Some("give the goto `criteria`, or add an `end` action, so the loop can stop (the run's step budget stops it otherwise)".into()), needle: None,
        });
    }
}

/// Step outputs that no expression of the workflow reads.
fn unused_outputs(wf: &CompiledWorkflow, wf_ptr: &str, out: &mut Vec<Finding>) {
    let mut read: BTreeSet<(&str, &str)> = BTreeSet::new();
    let all = wf
        .steps
        .iter()
        .flat_map(|s| s.expressions())
        .chain(wf.outputs.iter().flat_map(|(_, o)| o.expressions()));
    for e in all {
        if let Expr::Steps { step, output, .. } = e {
            read.insert((step.as_str(), output.as_str()));
            // `outputs.a.b` (a mistake reported on its own) means `a`.
            for (i, _) in output.match_indices('.') {
                read.insert((step.as_str(), &output[..i]));
            }
        }
    }
    for (si, step) in wf.steps.iter().enumerate() {
        for (name, _) in &step.outputs {
            if !read.contains(&(step.step_id.as_str(), name.as_str())) {
                out.push(Finding {
                    pointer: format!(
                        "{wf_ptr}/steps/{si}/outputs/{}",
                        name.replace('~', "~0").replace('/', "~1")
                    ),
                    code: "output/unused",
                    severity: Severity::Warning,
                    message: format!(
                        "output `{name}` of step `{}` is never read",
                        step.step_id
                    ),
                    help: Some(format!(
                        "read it as `$steps.{}.outputs.{name}` (e.g. in the workflow outputs), or remove it",
                        step.step_id
                    )), needle: None,
                });
            }
        }
    }
}

fn id_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn key_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// workflowIds and stepIds SHOULD match `[A-Za-z0-9_-]+` (a dot makes
/// `$steps.a.b.outputs.x` ambiguous); output and component keys MUST match
/// `^[a-zA-Z0-9.-_]+$`.
fn identifiers(loaded: &Loaded, out: &mut Vec<Finding>) {
    let doc = &loaded.entry().doc;
    let pattern_help = "use letters, digits, `_` and `-` only";
    for (wi, wf) in doc.workflows.iter().enumerate() {
        if !id_ok(&wf.workflow_id) {
            out.push(Finding {
                pointer: format!("/workflows/{wi}/workflowId"),
                code: "id/pattern",
                severity: Severity::Warning,
                message: format!(
                    "workflowId `{}` should match [A-Za-z0-9_-]+",
                    wf.workflow_id
                ),
                help: Some(pattern_help.into()),
                needle: None,
            });
        }
        for (si, step) in wf.steps.iter().enumerate() {
            if !id_ok(&step.step_id) {
                out.push(Finding {
                    pointer: format!("/workflows/{wi}/steps/{si}/stepId"),
                    code: "id/pattern",
                    severity: Severity::Warning,
                    message: format!("stepId `{}` should match [A-Za-z0-9_-]+", step.step_id),
                    help: Some(pattern_help.into()),
                    needle: None,
                });
            }
        }
    }
    if let Some(c) = &doc.components {
        for (kind, map) in [
            ("inputs", &c.inputs),
            ("parameters", &c.parameters),
            ("successActions", &c.success_actions),
            ("failureActions", &c.failure_actions),
        ] {
            for name in map.keys().filter(|k| !key_ok(k)) {
                out.push(Finding {
                    pointer: format!("/components/{kind}"),
                    code: "id/component-key",
                    severity: Severity::Error,
                    message: format!("component name `{name}` must match ^[a-zA-Z0-9.-_]+$"),
                    help: Some("use letters, digits, `.`, `-` and `_` only".into()),
                    needle: None,
                });
            }
        }
    }
}

/// Query and cookie parameters the operation does not declare are sent as they
/// are, but are usually a typo.
fn undeclared_parameters(
    wf: &CompiledWorkflow,
    step_ptr: &dyn Fn(&str) -> String,
    out: &mut Vec<Finding>,
) {
    for step in &wf.steps {
        let StepTarget::Operation(call) = &step.target else {
            continue;
        };
        let secret: Vec<crate::openapi::SecretParam> = call.api.secret_params().unwrap_or_default();
        for p in &call.parameters {
            if p.spec.is_some()
                || !matches!(
                    p.location,
                    crate::openapi::ParamIn::Query
                        | crate::openapi::ParamIn::Cookie
                        | crate::openapi::ParamIn::Querystring
                )
                || secret
                    .iter()
                    .any(|s| s.location == p.location && s.name == p.name)
            {
                continue;
            }
            let declared: Vec<&str> = call
                .operation
                .parameters
                .iter()
                .filter(|s| s.location == p.location)
                .map(|s| s.name.as_str())
                .collect();
            out.push(Finding {
                pointer: format!("{}/parameters", step_ptr(&step.step_id)),
                code: "param/undeclared",
                severity: Severity::Warning,
                message: format!(
                    "step `{}`: {} parameter `{}` is not declared by `{} {}`",
                    step.step_id,
                    p.location.as_str(),
                    p.name,
                    call.operation.method,
                    call.operation.path
                ),
                help: Some(
                    match crate::compile::suggest(&p.name, declared.iter().copied()) {
                        Some(s) => s,
                        None if declared.is_empty() => format!(
                            "the operation declares no {} parameters",
                            p.location.as_str()
                        ),
                        None => format!("declared: {}", declared.join(", ")),
                    },
                ),
                needle: Some(p.name.clone()),
            });
        }
    }
}

/// Operations whose security no credential can satisfy: every alternative
/// names a scheme the description does not define, or one `arazzo` cannot
/// produce (HTTP digest, an unknown type), and no parameter or `x-security`
/// entry of the step sends it instead.
fn unsatisfiable_security(
    wf: &CompiledWorkflow,
    step_ptr: &dyn Fn(&str) -> String,
    out: &mut Vec<Finding>,
) {
    use crate::auth::Target;
    for step in &wf.steps {
        let StepTarget::Operation(call) = &step.target else {
            continue;
        };
        let security = &call.security;
        if security.alternatives.is_empty() {
            continue;
        }
        let mut covered = crate::auth::param_targets(&call.parameters);
        covered.extend(
            security
                .explicit
                .iter()
                .filter_map(|e| Target::of(&e.scheme)),
        );
        let mut why = Vec::new();
        for alt in &security.alternatives {
            let lacks: Vec<String> = alt
                .iter()
                .filter_map(|r| crate::auth::unproducible(r, &covered))
                .collect();
            if lacks.is_empty() {
                why.clear();
                break;
            }
            why.push(lacks.join(" and "));
        }
        if why.is_empty() {
            continue;
        }
        out.push(Finding {
            pointer: step_ptr(&step.step_id),
            code: "auth/unsatisfiable",
            severity: Severity::Warning,
            message: format!(
                "step `{}`: no credential arazzo can send satisfies the security of `{} {}`: it requires {}",
                step.step_id,
                call.operation.method,
                call.operation.path,
                why.join(", or ")
            ),
            help: Some("send the credential as a step parameter (or with `x-security`), or fix the description's securitySchemes".into()),
            needle: call.operation.operation_id.clone(),
        });
    }
}

/// A step that calls a workflow has no HTTP request or response of its own, and
/// neither has a message step (Arazzo 1.1): `$statusCode`, `$request.*`,
/// `$response.*`, `$url` and `$method` are undefined there. Only a message step
/// has a `$message`.
fn no_response_in_workflow_steps(
    wf: &CompiledWorkflow,
    step_ptr: &dyn Fn(&str) -> String,
    out: &mut Vec<Finding>,
) {
    for step in &wf.steps {
        let is_message = matches!(step.target, StepTarget::Message(_));
        let http_less = is_message || matches!(step.target, StepTarget::Workflow { .. });
        let foreign: Vec<String> = step
            .success_criteria
            .iter()
            .flat_map(|c| c.expressions())
            .chain(step.outputs.iter().flat_map(|(_, o)| o.expressions()))
            .filter(|e| match e {
                Expr::MessageHeader(_) | Expr::MessagePayload(_) => !is_message,
                Expr::StatusCode
                | Expr::Url
                | Expr::Method
                | Expr::RequestHeader(_)
                | Expr::RequestQuery(_)
                | Expr::RequestPath(_)
                | Expr::RequestBody(_)
                | Expr::ResponseHeader(_)
                | Expr::ResponseBody(_) => http_less,
                _ => false,
            })
            .map(|e| e.to_string())
            .collect();
        let Some(first) = foreign.first() else {
            continue;
        };
        let needle = Some(first.clone());
        let listed: Vec<String> = foreign.iter().map(|e| format!("`{e}`")).collect();
        let (code, message, help) = if first.starts_with("$message") {
            (
                "expr/no-message",
                format!(
                    "step `{}` sends no message and receives none (it is not an AsyncAPI step): {} is always undefined there",
                    step.step_id,
                    listed.join(", ")
                ),
                "read `$response.body#/…` and `$response.header.…` for an HTTP step, `$outputs.<name>` for a step that calls a workflow",
            )
        } else if is_message {
            (
                "expr/no-response",
                format!(
                    "step `{}` is a message step, so it has no HTTP request or response: {} is always undefined there",
                    step.step_id,
                    listed.join(", ")
                ),
                "read the message with `$message.payload#/…` and `$message.header.<name>`",
            )
        } else {
            (
                "expr/no-response",
                format!(
                    "step `{}` calls a workflow, so it has no HTTP response: {} is always undefined there",
                    step.step_id,
                    listed.join(", ")
                ),
                "read the called workflow's outputs with `$outputs.<name>` (a step without successCriteria succeeds when the workflow does)",
            )
        };
        out.push(Finding {
            pointer: step_ptr(&step.step_id),
            code,
            severity: Severity::Warning,
            message,
            help: Some(help.into()),
            needle,
        });
    }
}

/// `$statusCode == N` in a success criterion, for an N the operation declares
/// no response for (neither N, nor its `NXX` range, nor `default`): the step
/// can only succeed on an answer its description says it never gives.
fn undeclared_status(
    wf: &CompiledWorkflow,
    step_ptr: &dyn Fn(&str) -> String,
    out: &mut Vec<Finding>,
) {
    for step in &wf.steps {
        let StepTarget::Operation(call) = &step.target else {
            continue;
        };
        let responses = &call.operation.responses;
        if responses.is_empty() || responses.contains_key("default") {
            continue;
        }
        for c in &step.success_criteria {
            if !matches!(c.check, CriterionCheck::Simple(_)) {
                continue;
            }
            for (written, status) in status_comparisons(&c.text) {
                let range = format!("{}XX", status / 100);
                let declared = responses
                    .keys()
                    .any(|k| k == &status.to_string() || k.eq_ignore_ascii_case(&range));
                if declared {
                    continue;
                }
                let listed: Vec<&str> = responses.keys().map(String::as_str).collect();
                out.push(Finding {
                    pointer: format!("{}/successCriteria", step_ptr(&step.step_id)),
                    code: "criteria/undeclared-status",
                    severity: Severity::Warning,
                    message: format!(
                        "step `{}`: `{written}`, but `{} {}` declares no {status} response",
                        step.step_id, call.operation.method, call.operation.path
                    ),
                    help: Some(format!(
                        "the operation declares: {}; check the status the API answers with",
                        listed.join(", ")
                    )),
                    needle: Some(written),
                });
            }
        }
    }
}

/// Each `$statusCode == N` in a condition, as written, with N.
fn status_comparisons(text: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("$statusCode") {
        let rest = &text[i + "$statusCode".len()..];
        let after_op = rest.trim_start().strip_prefix("==").map(str::trim_start);
        let Some(after_op) = after_op else { continue };
        let digits: String = after_op.chars().take_while(char::is_ascii_digit).collect();
        let Ok(status) = digits.parse::<u16>() else {
            continue;
        };
        if !(100..=599).contains(&status) {
            continue;
        }
        let end = text.len() - after_op.len() + digits.len();
        out.push((text[i..end].to_string(), status));
    }
    out
}

/// An operationId that several operations of a source description share: the
/// description breaks OpenAPI's rule, and a step that names it cannot be sure
/// which operation it gets (that step is an error on its own).
fn shared_operation_ids(loaded: &Loaded, out: &mut Vec<Finding>) {
    let entry = &loaded.docs[0];
    for (name, source) in &entry.sources {
        let crate::document::SourceRef::OpenApi(api) = source else {
            continue;
        };
        let Some(si) = entry
            .doc
            .doc
            .source_descriptions
            .iter()
            .position(|s| &s.name == name)
        else {
            continue;
        };
        for (id, ops) in api.duplicate_operation_ids() {
            let list: Vec<String> = ops
                .iter()
                .map(|(path, method)| format!("{} {path}", method.to_ascii_uppercase()))
                .collect();
            out.push(Finding {
                pointer: format!("/sourceDescriptions/{si}/url"),
                code: "openapi/duplicate-operation-id",
                severity: Severity::Warning,
                message: format!(
                    "source `{name}`: operationId `{id}` is shared by {} operations ({}); OpenAPI requires operationIds to be unique",
                    ops.len(),
                    list.join(", ")
                ),
                help: Some("give each operation its own operationId in the description; steps can name one by `operationPath` meanwhile".into()),
                needle: None,
            });
        }
    }
}
