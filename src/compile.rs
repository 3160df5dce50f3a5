//! Document + sources → an executable plan for one workflow. Every operation is
//! resolved and every expression, template and condition parsed here, once, so the
//! engine never reads source text and mistakes surface before the first request.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::document::{display_url, Criterion, Loaded, Parameter, Source, Step, Workflow};
use crate::expr::{Condition, Expr, Pointer, ValueExpr};
use crate::openapi::{OpenApi, Operation, ParamIn, ParamSpec};

/// A problem found while compiling: names the place, says how to fix it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub message: String,
    pub help: Option<String>,
}

fn fail<T>(message: impl Into<String>, help: impl Into<Option<String>>) -> Result<T, CompileError> {
    Err(CompileError {
        message: message.into(),
        help: help.into(),
    })
}

#[derive(Debug, Clone)]
pub struct CompiledParam {
    pub name: String,
    pub location: ParamIn,
    pub value: ValueExpr,
    /// The OpenAPI definition, when the operation declares the parameter.
    pub spec: Option<ParamSpec>,
    /// True when the parameter carries a credential (a security scheme's
    /// parameter, or Authorization): its value is registered as a secret.
    pub secret: bool,
}

#[derive(Debug, Clone)]
pub struct CompiledBody {
    pub content_type: String,
    pub payload: Option<ValueExpr>,
    pub replacements: Vec<(Pointer, ValueExpr)>,
}

#[derive(Debug, Clone)]
pub enum CriterionCheck {
    Simple(Condition),
}

#[derive(Debug, Clone)]
pub struct CompiledCriterion {
    /// The condition as written, for messages.
    pub text: String,
    pub check: CriterionCheck,
}

#[derive(Debug, Clone)]
pub struct CompiledStep {
    pub step_id: String,
    pub source: String,
    pub operation: Arc<Operation>,
    pub parameters: Vec<CompiledParam>,
    pub body: Option<CompiledBody>,
    pub success_criteria: Vec<CompiledCriterion>,
    pub outputs: Vec<(String, ValueExpr)>,
}

#[derive(Debug, Clone)]
pub struct CompiledWorkflow {
    pub workflow_id: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// The inputs JSON Schema with `#/components/inputs/…` references inlined.
    pub inputs_schema: Option<Value>,
    pub steps: Vec<CompiledStep>,
    pub outputs: Vec<(String, ValueExpr)>,
    /// Inputs whose values are secrets: `format: password`, `writeOnly: true`, or
    /// sent in a credential parameter.
    pub secret_inputs: BTreeSet<String>,
    /// Source names whose base URL may be replaced by `--server`.
    pub source_names: Vec<String>,
}

/// Compiles the workflow `workflow_id` of the loaded entry document.
pub fn compile(loaded: &Loaded, workflow_id: &str) -> Result<CompiledWorkflow, CompileError> {
    let doc = &loaded.entry.doc;
    let wf = doc
        .workflows
        .iter()
        .find(|w| w.workflow_id == workflow_id)
        .ok_or_else(|| CompileError {
            message: format!(
                "no workflow `{workflow_id}` in `{}`",
                display_url(&loaded.entry.url)
            ),
            help: Some(format!(
                "the document has: {}",
                doc.workflows
                    .iter()
                    .map(|w| w.workflow_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        })?;
    Compiler { loaded, wf }.run()
}

struct Compiler<'a> {
    loaded: &'a Loaded,
    wf: &'a Workflow,
}

impl Compiler<'_> {
    fn run(&self) -> Result<CompiledWorkflow, CompileError> {
        let wf = self.wf;
        let wid = &wf.workflow_id;
        self.unsupported()?;
        let inputs_schema = match &wf.inputs {
            Some(s) => {
                Some(
                    inline_refs(&self.loaded.entry.raw, s, 0).map_err(|m| CompileError {
                        message: format!("workflow `{wid}` inputs: {m}"),
                        help: None,
                    })?,
                )
            }
            None => None,
        };
        let declared_inputs: Option<BTreeSet<String>> = inputs_schema.as_ref().map(|s| {
            s.get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default()
        });

        let mut secret_inputs = BTreeSet::new();
        if let Some(props) = inputs_schema
            .as_ref()
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
        {
            for (name, schema) in props {
                let password = schema.get("format").and_then(Value::as_str) == Some("password");
                let write_only = schema.get("writeOnly").and_then(Value::as_bool) == Some(true);
                if password || write_only {
                    secret_inputs.insert(name.clone());
                }
            }
        }

        let mut seen = BTreeSet::new();
        let mut steps = Vec::with_capacity(wf.steps.len());
        let mut step_outputs: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for (index, step) in wf.steps.iter().enumerate() {
            if !seen.insert(step.step_id.as_str()) {
                return fail(
                    format!(
                        "workflow `{wid}` has two steps with stepId `{}`",
                        step.step_id
                    ),
                    Some("stepIds must be unique within a workflow".to_string()),
                );
            }
            let compiled = self.step(step)?;
            // References to inputs and earlier steps must resolve.
            let mut exprs: Vec<&Expr> = Vec::new();
            for p in &compiled.parameters {
                exprs.extend(p.value.expressions());
            }
            if let Some(b) = &compiled.body {
                if let Some(p) = &b.payload {
                    exprs.extend(p.expressions());
                }
                for (_, v) in &b.replacements {
                    exprs.extend(v.expressions());
                }
            }
            for c in &compiled.success_criteria {
                let CriterionCheck::Simple(cond) = &c.check;
                exprs.extend(cond.expressions());
            }
            for (_, o) in &compiled.outputs {
                exprs.extend(o.expressions());
            }
            for e in exprs {
                self.check_reference(e, &step.step_id, index, &declared_inputs, &step_outputs)?;
            }
            for p in &compiled.parameters {
                if p.secret {
                    for e in p.value.expressions() {
                        if let Expr::Inputs { name, .. } = e {
                            secret_inputs.insert(name.clone());
                        }
                    }
                }
            }
            step_outputs.insert(
                step.step_id.as_str(),
                step.outputs.keys().map(String::as_str).collect(),
            );
            steps.push(compiled);
        }

        let mut outputs = Vec::with_capacity(wf.outputs.len());
        for (name, v) in &wf.outputs {
            let compiled = compile_output(v).map_err(|m| CompileError {
                message: format!("workflow `{wid}` output `{name}`: {m}"),
                help: None,
            })?;
            for e in compiled.expressions() {
                self.check_reference(
                    e,
                    &format!("outputs.{name}"),
                    wf.steps.len(),
                    &declared_inputs,
                    &step_outputs,
                )?;
            }
            outputs.push((name.clone(), compiled));
        }

        Ok(CompiledWorkflow {
            workflow_id: wid.clone(),
            summary: wf.summary.clone(),
            description: wf.description.clone(),
            inputs_schema,
            steps,
            outputs,
            secret_inputs,
            source_names: self
                .loaded
                .entry
                .doc
                .source_descriptions
                .iter()
                .map(|s| s.name.clone())
                .collect(),
        })
    }

    /// Features that later work adds: refuse them plainly rather than run a
    /// workflow with different semantics than its author wrote.
    fn unsupported(&self) -> Result<(), CompileError> {
        let wf = self.wf;
        let wid = &wf.workflow_id;
        let not_yet = |what: String| {
            fail(
                format!("workflow `{wid}`: {what} is not supported by this version of arazzo"),
                Some("see the README's list of unsupported features".to_string()),
            )
        };
        if !wf.depends_on.is_empty() {
            return not_yet("`dependsOn`".into());
        }
        if !wf.success_actions.is_empty() || !wf.failure_actions.is_empty() {
            return not_yet("workflow-level `successActions`/`failureActions`".into());
        }
        if !wf.parameters.is_empty() {
            return not_yet("workflow-level `parameters`".into());
        }
        for s in &wf.steps {
            let sid = &s.step_id;
            if !s.on_success.is_empty() || !s.on_failure.is_empty() {
                return not_yet(format!("step `{sid}`: `onSuccess`/`onFailure` actions"));
            }
            if s.workflow_id.is_some() {
                return not_yet(format!("step `{sid}`: calling a workflow (`workflowId`)"));
            }
        }
        Ok(())
    }

    fn step(&self, step: &Step) -> Result<CompiledStep, CompileError> {
        let sid = &step.step_id;
        let (source_name, api, operation) = self.resolve_operation(step)?;
        let secret_params = api.secret_params();

        let mut parameters: Vec<CompiledParam> = Vec::new();
        for raw in &step.parameters {
            if raw.get("reference").is_some() {
                return fail(
                    format!("step `{sid}`: reusable parameters (`reference`) are not supported by this version of arazzo"),
                    Some("inline the parameter".to_string()),
                );
            }
            let p: Parameter = serde_json::from_value(raw.clone()).map_err(|e| CompileError {
                message: format!("step `{sid}`: a parameter is malformed: {e}"),
                help: Some(
                    "a parameter has `name`, `in` (path, query, header or cookie) and `value`"
                        .into(),
                ),
            })?;
            let Some(loc_text) = p.location.as_deref() else {
                return fail(
                    format!("step `{sid}`: parameter `{}` has no `in`", p.name),
                    Some(
                        "operation steps need `in: path`, `query`, `header` or `cookie`"
                            .to_string(),
                    ),
                );
            };
            let Some(location) = ParamIn::parse(loc_text) else {
                return fail(
                    format!("step `{sid}`: parameter `{}` has `in: {loc_text}`", p.name),
                    Some("`in` is one of path, query, header, cookie".to_string()),
                );
            };
            if parameters.iter().any(|q| {
                q.location == location
                    && if location == ParamIn::Header {
                        q.name.eq_ignore_ascii_case(&p.name)
                    } else {
                        q.name == p.name
                    }
            }) {
                return fail(
                    format!(
                        "step `{sid}`: parameter `{}` (in {loc_text}) is given twice",
                        p.name
                    ),
                    None,
                );
            }
            let value = ValueExpr::compile(&p.value).map_err(|e| CompileError {
                message: format!("step `{sid}`, parameter `{}`: {e}", p.name),
                help: None,
            })?;
            let spec = operation.param(&p.name, location).cloned();
            if location == ParamIn::Path && spec.is_none() {
                return fail(
                    format!(
                        "step `{sid}`: path parameter `{}` is not in the path `{}` of operation `{}`",
                        p.name,
                        operation.path,
                        operation.operation_id.as_deref().unwrap_or("?")
                    ),
                    Some(format!(
                        "the operation's path parameters are: {}",
                        names_in(&operation, ParamIn::Path)
                    )),
                );
            }
            let lname = if location == ParamIn::Header {
                p.name.to_ascii_lowercase()
            } else {
                p.name.clone()
            };
            let secret = (location == ParamIn::Header && lname == "authorization")
                || secret_params
                    .iter()
                    .any(|s| s.location == location && s.name == lname);
            parameters.push(CompiledParam {
                name: p.name,
                location,
                value,
                spec,
                secret,
            });
        }
        for spec in operation
            .parameters
            .iter()
            .filter(|s| s.location == ParamIn::Path)
        {
            if !parameters
                .iter()
                .any(|p| p.location == ParamIn::Path && p.name == spec.name)
            {
                return fail(
                    format!(
                        "step `{sid}`: the required path parameter `{}` of `{} {}` is not given",
                        spec.name, operation.method, operation.path
                    ),
                    Some(format!(
                        "add `- name: {}\n  in: path\n  value: …` to the step's parameters",
                        spec.name
                    )),
                );
            }
        }

        let body = match &step.request_body {
            None => None,
            Some(rb) => {
                let content_type = rb
                    .content_type
                    .clone()
                    .or_else(|| {
                        operation
                            .request_media_types()
                            .first()
                            .map(|s| s.to_string())
                    })
                    .unwrap_or_else(|| "application/json".to_string());
                let payload = match &rb.payload {
                    Some(p) => Some(ValueExpr::compile(p).map_err(|e| CompileError {
                        message: format!("step `{sid}`, requestBody payload: {e}"),
                        help: None,
                    })?),
                    None => None,
                };
                let mut replacements = Vec::new();
                for r in &rb.replacements {
                    let target = Pointer::parse(&r.target).map_err(|m| CompileError {
                        message: format!("step `{sid}`, replacement target: {m}"),
                        help: None,
                    })?;
                    let value = ValueExpr::compile(&r.value).map_err(|e| CompileError {
                        message: format!("step `{sid}`, replacement `{}`: {e}", r.target),
                        help: None,
                    })?;
                    replacements.push((target, value));
                }
                Some(CompiledBody {
                    content_type,
                    payload,
                    replacements,
                })
            }
        };

        let mut success_criteria = Vec::new();
        for c in &step.success_criteria {
            success_criteria.push(compile_criterion(sid, c)?);
        }
        let mut outputs = Vec::new();
        for (name, v) in &step.outputs {
            let compiled = compile_output(v).map_err(|m| CompileError {
                message: format!("step `{sid}`, output `{name}`: {m}"),
                help: None,
            })?;
            outputs.push((name.clone(), compiled));
        }
        Ok(CompiledStep {
            step_id: sid.clone(),
            source: source_name,
            operation: Arc::new(operation),
            parameters,
            body,
            success_criteria,
            outputs,
        })
    }

    fn openapi_sources(&self) -> Vec<(&str, &Arc<OpenApi>)> {
        let mut v: Vec<(&str, &Arc<OpenApi>)> = self
            .loaded
            .entry
            .doc
            .source_descriptions
            .iter()
            .filter_map(|sd| match self.loaded.sources.get(&sd.name) {
                Some(Source::OpenApi(api)) => Some((sd.name.as_str(), api)),
                _ => None,
            })
            .collect();
        v.dedup_by_key(|(n, _)| *n);
        v
    }

    fn resolve_operation(
        &self,
        step: &Step,
    ) -> Result<(String, Arc<OpenApi>, Operation), CompileError> {
        let sid = &step.step_id;
        let sources = self.openapi_sources();
        let wrap = |e: crate::openapi::OpenApiError| CompileError {
            message: format!("step `{sid}`: {e}"),
            help: None,
        };
        if let Some(id) = &step.operation_id {
            // `$sourceDescriptions.<name>.<operationId>`: split at the first dot after the name.
            if let Some(rest) = id.strip_prefix("$sourceDescriptions.") {
                let Some((name, op_id)) = rest.split_once('.') else {
                    return fail(
                        format!("step `{sid}`: `{id}` names no operation"),
                        Some("write `$sourceDescriptions.<source>.<operationId>`".to_string()),
                    );
                };
                let Some((_, api)) = sources.iter().find(|(n, _)| *n == name) else {
                    return fail(
                        format!("step `{sid}`: `{id}` names the source `{name}`, which is not an OpenAPI source description of this document"),
                        Some(format!("OpenAPI sources: {}", sources.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))),
                    );
                };
                return match api.operation(op_id).map_err(wrap)? {
                    Some(op) => Ok((name.to_string(), Arc::clone(api), op)),
                    None => fail(
                        format!("step `{sid}`: operation `{op_id}` is not in source `{name}`"),
                        suggest(op_id, api.operation_ids()),
                    ),
                };
            }
            return match sources.as_slice() {
                [] => fail(
                    format!("step `{sid}`: the document has no OpenAPI source description to find `{id}` in"),
                    None,
                ),
                [(name, api)] => match api.operation(id).map_err(wrap)? {
                    Some(op) => Ok((name.to_string(), Arc::clone(api), op)),
                    None => fail(
                        format!("step `{sid}`: operation `{id}` is not in source `{name}` (`{}`)", display_url(&api.url)),
                        suggest(id, api.operation_ids()),
                    ),
                },
                many => {
                    let holders: Vec<&str> = many
                        .iter()
                        .filter(|(_, a)| a.has_operation(id))
                        .map(|(n, _)| *n)
                        .collect();
                    fail(
                        format!("step `{sid}`: `operationId: {id}` is ambiguous with several OpenAPI sources"),
                        Some(match holders.as_slice() {
                            [] => format!("no source defines `{id}`"),
                            hs => format!(
                                "write `operationId: $sourceDescriptions.{}.{id}` (defined in: {})",
                                hs[0],
                                hs.join(", ")
                            ),
                        }),
                    )
                }
            };
        }
        if let Some(path) = &step.operation_path {
            return self.resolve_operation_path(sid, path, &sources);
        }
        fail(
            format!("step `{sid}` names no operation"),
            Some(
                "give the step an `operationId`, an `operationPath` or a `workflowId`".to_string(),
            ),
        )
    }

    /// `{$sourceDescriptions.<name>.url}#/paths/~1things~1{id}/get`
    fn resolve_operation_path(
        &self,
        sid: &str,
        path: &str,
        sources: &[(&str, &Arc<OpenApi>)],
    ) -> Result<(String, Arc<OpenApi>, Operation), CompileError> {
        let help = Some(
            "write `operationPath: '{$sourceDescriptions.<name>.url}#/paths/~1path~1{param}/get'`"
                .to_string(),
        );
        let Some((head, fragment)) = path.split_once('#') else {
            return fail(
                format!("step `{sid}`: operationPath `{path}` has no `#` JSON Pointer"),
                help,
            );
        };
        let name = head
            .strip_prefix("{$sourceDescriptions.")
            .and_then(|r| r.strip_suffix(".url}"));
        let Some(name) = name else {
            return fail(
                format!("step `{sid}`: operationPath `{path}` must start with `{{$sourceDescriptions.<name>.url}}`"),
                help,
            );
        };
        let Some((_, api)) = sources.iter().find(|(n, _)| *n == name) else {
            return fail(
                format!("step `{sid}`: operationPath names the source `{name}`, which is not an OpenAPI source of this document"),
                None,
            );
        };
        let decoded = percent_encoding::percent_decode_str(fragment).decode_utf8_lossy();
        let pointer = Pointer::parse(&decoded).map_err(|m| CompileError {
            message: format!("step `{sid}`: operationPath: {m}"),
            help: None,
        })?;
        match pointer.tokens() {
            [paths, template, method] if paths == "paths" => {
                let op = api.operation_at(template, method).map_err(|e| CompileError {
                    message: format!("step `{sid}`: operationPath `{path}`: {e}"),
                    help: None,
                })?;
                Ok((name.to_string(), Arc::clone(api), op))
            }
            _ => fail(
                format!("step `{sid}`: operationPath `{path}` does not point at an operation (`#/paths/<escaped path>/<method>`)"),
                help,
            ),
        }
    }

    fn check_reference(
        &self,
        e: &Expr,
        place: &str,
        step_index: usize,
        declared_inputs: &Option<BTreeSet<String>>,
        step_outputs: &HashMap<&str, BTreeSet<&str>>,
    ) -> Result<(), CompileError> {
        let wf = self.wf;
        let wid = &wf.workflow_id;
        match e {
            Expr::Inputs { name, .. } => {
                if let Some(decl) = declared_inputs {
                    if !decl.contains(name) {
                        return fail(
                            format!("workflow `{wid}`, {place}: `{e}` reads an input the workflow does not declare"),
                            Some(format!(
                                "declared inputs: {}",
                                if decl.is_empty() { "none".to_string() } else { decl.iter().cloned().collect::<Vec<_>>().join(", ") }
                            )),
                        );
                    }
                }
            }
            Expr::Steps { step, output, .. } => {
                let position = wf.steps.iter().position(|s| &s.step_id == step);
                match position {
                    None => {
                        return fail(
                            format!("workflow `{wid}`, {place}: `{e}` names a step that does not exist"),
                            suggest(step, wf.steps.iter().map(|s| s.step_id.as_str())),
                        )
                    }
                    Some(p) if p >= step_index => {
                        return fail(
                            format!("workflow `{wid}`, {place}: `{e}` reads step `{step}`, which has not run yet at this point"),
                            Some("a step can read only the outputs of steps before it".to_string()),
                        )
                    }
                    Some(_) => {
                        let outs = step_outputs.get(step.as_str());
                        if !outs.is_some_and(|o| o.contains(output.as_str())) {
                            return fail(
                                format!("workflow `{wid}`, {place}: `{e}`: step `{step}` declares no output `{output}`"),
                                Some(format!(
                                    "step `{step}` outputs: {}",
                                    outs.map(|o| o.iter().copied().collect::<Vec<_>>().join(", "))
                                        .filter(|s| !s.is_empty())
                                        .unwrap_or_else(|| "none".into())
                                )),
                            );
                        }
                    }
                }
            }
            Expr::Workflows { .. } | Expr::Components { .. } => {
                return fail(
                    format!(
                    "workflow `{wid}`, {place}: `{e}` is not supported by this version of arazzo"
                ),
                    None,
                )
            }
            _ => {}
        }
        Ok(())
    }
}

fn names_in(op: &Operation, loc: ParamIn) -> String {
    let v: Vec<&str> = op
        .parameters
        .iter()
        .filter(|p| p.location == loc)
        .map(|p| p.name.as_str())
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn compile_output(v: &Value) -> Result<ValueExpr, String> {
    match v {
        Value::String(s) => ValueExpr::compile_str(s).map_err(|e| e.message),
        _ => Err("an output is a runtime expression string".into()),
    }
}

fn compile_criterion(sid: &str, c: &Criterion) -> Result<CompiledCriterion, CompileError> {
    let kind = match &c.kind {
        None => "simple".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string(),
        Some(other) => other.to_string(),
    };
    if kind != "simple" {
        return fail(
            format!("step `{sid}`: `{kind}` criteria are not supported by this version of arazzo"),
            Some("use a `simple` condition".to_string()),
        );
    }
    if c.context.is_some() {
        return fail(
            format!("step `{sid}`: a `simple` criterion with a `context` is not supported by this version of arazzo"),
            None,
        );
    }
    let cond = Condition::parse(&c.condition).map_err(|e| CompileError {
        message: format!(
            "step `{sid}`: the condition `{}` is invalid: {}",
            c.condition, e.message
        ),
        help: Some(
            "conditions look like `$statusCode == 201 && $response.body#/id != null`".into(),
        ),
    })?;
    Ok(CompiledCriterion {
        text: c.condition.clone(),
        check: CriterionCheck::Simple(cond),
    })
}

/// Inlines `$ref`s that point into this document (`#/components/inputs/x`).
fn inline_refs(doc: &Value, v: &Value, depth: usize) -> Result<Value, String> {
    if depth > 32 {
        return Err("`$ref`s nest more than 32 deep (a cycle?)".into());
    }
    Ok(match v {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                let Some(ptr) = r.strip_prefix('#') else {
                    return Err(format!(
                        "`$ref: {r}` must point into this document (`#/components/inputs/…`)"
                    ));
                };
                let target = doc
                    .pointer(ptr)
                    .ok_or_else(|| format!("`$ref: {r}` points at nothing"))?;
                let mut resolved = inline_refs(doc, target, depth + 1)?;
                // Sibling keywords next to `$ref` apply too (JSON Schema 2020-12).
                if let Value::Object(rm) = &mut resolved {
                    for (k, sib) in map.iter().filter(|(k, _)| *k != "$ref") {
                        rm.insert(k.clone(), inline_refs(doc, sib, depth + 1)?);
                    }
                }
                resolved
            } else {
                let mut out = Map::with_capacity(map.len());
                for (k, x) in map {
                    out.insert(k.clone(), inline_refs(doc, x, depth + 1)?);
                }
                Value::Object(out)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| inline_refs(doc, i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// "did you mean" help from the closest candidates.
pub fn suggest<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let lw = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| (edit_distance(&lw, &c.to_ascii_lowercase()), c))
        .collect();
    scored.sort();
    let best = scored.first().map(|(d, _)| *d).unwrap_or(usize::MAX);
    let close: Vec<&str> = scored
        .iter()
        .filter(|(d, c)| *d == best && *d <= (wanted.len().max(c.len()) / 4).max(2))
        .take(3)
        .map(|(_, c)| *c)
        .collect();
    if close.is_empty() {
        None
    } else {
        Some(format!(
            "did you mean {}?",
            close
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ))
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let c = ["postMcpServers", "getMcpById", "deleteMcpById"];
        assert_eq!(
            suggest("getMcpByID", c.iter().copied()).as_deref(),
            Some("did you mean `getMcpById`?")
        );
        assert_eq!(suggest("zzzzzzzzzzzz", c.iter().copied()), None);
    }
}
