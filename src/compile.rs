//! Document + sources → an executable [`Program`]. Every operation is resolved,
//! every expression, template and condition parsed, every reference (steps,
//! workflows, components, goto targets) checked here, once, so the engine never
//! reads source text and mistakes surface before the first request.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::document::{display_url, Criterion, Loaded, Parameter, SourceRef, Step, Workflow};
use crate::expr::{Condition, Expr, Pointer, ValueExpr};
use crate::openapi::{OpenApi, Operation, ParamIn, ParamSpec};

/// A problem found while compiling: names the place, says how to fix it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    /// A stable code, e.g. `ref/unknown-operation`, for filtering and CI annotations.
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
    /// JSON Pointer into the document of the offending node, when known.
    pub pointer: Option<String>,
}

impl CompileError {
    fn code_as(mut self, code: &'static str) -> CompileError {
        if self.code == "ref/unknown-workflow" {
            self.code = code;
        }
        self
    }

    /// Points the error at a node, unless it already points somewhere more precise.
    pub fn at(mut self, pointer: &str) -> CompileError {
        if self.pointer.is_none() {
            self.pointer = Some(pointer.to_string());
        }
        self
    }
}

fn fail<T>(
    code: &'static str,
    message: impl Into<String>,
    help: impl Into<Option<String>>,
) -> Result<T, CompileError> {
    Err(CompileError {
        code,
        message: message.into(),
        help: help.into(),
        pointer: None,
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
    /// JSON Pointer targets (JSON and other structured bodies).
    pub replacements: Vec<(Pointer, ValueExpr)>,
    /// XPath targets, for an XML body (its payload is XML text).
    pub xml_replacements: Vec<(String, ValueExpr)>,
}

#[derive(Debug, Clone)]
pub enum CriterionCheck {
    Simple(Condition),
    /// `regex`, `jsonpath` or `xpath`, applied to the value of `context`.
    Typed {
        context: ValueExpr,
        check: crate::criteria::Check,
    },
}

#[derive(Debug, Clone)]
pub struct CompiledCriterion {
    /// The condition as written, for messages.
    pub text: String,
    pub check: CriterionCheck,
}

impl CompiledCriterion {
    pub fn expressions(&self) -> Vec<&Expr> {
        match &self.check {
            CriterionCheck::Simple(c) => c.expressions(),
            CriterionCheck::Typed { context, .. } => context.expressions(),
        }
    }
}

/// A call to an OpenAPI operation.
#[derive(Debug, Clone)]
pub struct OperationCall {
    pub source: String,
    /// The description the operation comes from (for its schemas).
    pub api: Arc<OpenApi>,
    pub operation: Arc<Operation>,
    pub parameters: Vec<CompiledParam>,
    pub body: Option<CompiledBody>,
    /// The request schemas, compiled once for every run's preflight.
    pub checkers: Arc<crate::schema::Checkers>,
}

#[derive(Debug, Clone)]
pub enum StepTarget {
    Operation(Box<OperationCall>),
    /// A call to another workflow (index into [`Program::workflows`]); the step's
    /// parameters become its inputs.
    Workflow {
        workflow: usize,
        inputs: Vec<(String, ValueExpr)>,
    },
}

/// Where a `goto` (or a retry's side trip) goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jump {
    /// A step of the current workflow, by index.
    Step(usize),
    /// A workflow, by index into [`Program::workflows`].
    Workflow(usize),
}

#[derive(Debug, Clone)]
pub enum ActionKind {
    End,
    Goto(Jump),
    Retry {
        /// Seconds to wait; a `Retry-After` response header overrules it.
        after: Option<f64>,
        /// How many retries this action allows (default 1).
        limit: u32,
        /// Run this step or workflow before retrying.
        then: Option<Jump>,
    },
}

#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    pub kind: ActionKind,
    pub criteria: Vec<CompiledCriterion>,
}

#[derive(Debug, Clone)]
pub struct CompiledStep {
    pub step_id: String,
    pub target: StepTarget,
    pub success_criteria: Vec<CompiledCriterion>,
    /// The step's actions followed by the workflow-level ones it does not
    /// override (by name): a step can override a workflow action but never remove it.
    pub on_success: Vec<Action>,
    pub on_failure: Vec<Action>,
    pub outputs: Vec<(String, ValueExpr)>,
}

impl CompiledStep {
    /// Every runtime expression the step evaluates, in document order.
    pub fn expressions(&self) -> Vec<&Expr> {
        let mut exprs: Vec<&Expr> = Vec::new();
        match &self.target {
            StepTarget::Operation(call) => {
                for p in &call.parameters {
                    exprs.extend(p.value.expressions());
                }
                if let Some(b) = &call.body {
                    if let Some(p) = &b.payload {
                        exprs.extend(p.expressions());
                    }
                    for (_, v) in &b.replacements {
                        exprs.extend(v.expressions());
                    }
                    for (_, v) in &b.xml_replacements {
                        exprs.extend(v.expressions());
                    }
                }
            }
            StepTarget::Workflow { inputs, .. } => {
                for (_, v) in inputs {
                    exprs.extend(v.expressions());
                }
            }
        }
        for c in &self.success_criteria {
            exprs.extend(c.expressions());
        }
        for a in self.on_success.iter().chain(&self.on_failure) {
            for c in &a.criteria {
                exprs.extend(c.expressions());
            }
        }
        for (_, o) in &self.outputs {
            exprs.extend(o.expressions());
        }
        exprs
    }

    /// `POST /path` or `workflow <id>`, for displays.
    pub fn describe(&self, program: &Program) -> (String, String) {
        match &self.target {
            StepTarget::Operation(c) => (c.operation.method.clone(), c.operation.path.clone()),
            StepTarget::Workflow { workflow, .. } => (
                "CALL".to_string(),
                program.workflows[*workflow].workflow_id.clone(),
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CompiledWorkflow {
    pub workflow_id: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// Index into [`Loaded::docs`] of the document that defines the workflow.
    pub doc: usize,
    /// The inputs JSON Schema with `#/components/inputs/…` references inlined.
    pub inputs_schema: Option<Value>,
    pub steps: Vec<CompiledStep>,
    pub outputs: Vec<(String, ValueExpr)>,
    /// Inputs whose values are secrets: `format: password`, `writeOnly: true`, or
    /// sent in a credential parameter.
    pub secret_inputs: BTreeSet<String>,
    /// Workflows (indexes) that must complete first.
    pub depends_on: Vec<usize>,
}

impl CompiledWorkflow {
    pub fn declared_inputs(&self) -> Vec<&str> {
        self.inputs_schema
            .as_ref()
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

/// Everything a run needs: the entry workflow and every workflow it can reach.
#[derive(Debug, Clone)]
pub struct Program {
    pub workflows: Vec<CompiledWorkflow>,
    /// Source description names of every loaded document (for `--server`).
    pub source_names: Vec<String>,
}

impl Program {
    pub fn entry(&self) -> &CompiledWorkflow {
        &self.workflows[0]
    }
}

/// Compiles the workflow `workflow_id` of the entry document and every workflow it
/// reaches through steps, actions and `dependsOn`.
pub fn compile(loaded: &Loaded, workflow_id: &str) -> Result<Program, Vec<CompileError>> {
    let doc = loaded.entry();
    if !doc
        .doc
        .workflows
        .iter()
        .any(|w| w.workflow_id == workflow_id)
    {
        let e: Result<(), CompileError> = fail(
            "ref/unknown-workflow",
            format!("no workflow `{workflow_id}` in `{}`", display_url(&doc.url)),
            Some(format!(
                "the document has: {}",
                doc.doc
                    .workflows
                    .iter()
                    .map(|w| w.workflow_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
        return Err(e.err().into_iter().collect());
    }
    compile_seeded(loaded, &[workflow_id])
}

/// Compiles every workflow of the entry document, collecting every problem.
pub fn check_document(loaded: &Loaded) -> Result<Program, Vec<CompileError>> {
    let ids: Vec<&str> = loaded
        .entry()
        .doc
        .workflows
        .iter()
        .map(|w| w.workflow_id.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    for (i, id) in ids.iter().enumerate() {
        if !seen.insert(*id) {
            return Err(vec![CompileError {
                code: "id/duplicate-workflow",
                message: format!("two workflows have the workflowId `{id}`"),
                help: Some("workflowIds must be unique within a document".into()),
                pointer: Some(format!("/workflows/{i}/workflowId")),
            }]);
        }
    }
    compile_seeded(loaded, &ids)
}

fn compile_seeded(loaded: &Loaded, seeds: &[&str]) -> Result<Program, Vec<CompileError>> {
    let mut c = Compiler {
        loaded,
        index: HashMap::new(),
        queue: Vec::new(),
        errors: Vec::new(),
    };
    for id in seeds {
        c.workflow_index(0, id);
    }
    let mut workflows: Vec<CompiledWorkflow> = Vec::new();
    let mut next = 0;
    while next < c.queue.len() {
        let (doc, id) = c.queue[next].clone();
        match c.workflow(doc, &id) {
            Ok(w) => workflows.push(w),
            Err(e) => c.errors.push(e),
        }
        next += 1;
    }
    if c.errors.is_empty() {
        if let Some(cycle) = depends_on_cycle(&workflows) {
            c.errors.push(CompileError {
                code: "ref/dependency-cycle",
                message: format!("`dependsOn` forms a cycle: {}", cycle.join(" → ")),
                help: Some(
                    "a workflow cannot depend, directly or not, on itself; remove one of the links"
                        .into(),
                ),
                pointer: None,
            });
        }
    }
    if !c.errors.is_empty() {
        // Problems in other documents are reported once, at their first mention.
        let mut errors = c.errors;
        let mut seen = BTreeSet::new();
        errors.retain(|e| seen.insert((e.message.clone(), e.pointer.clone())));
        return Err(errors);
    }
    let mut source_names: Vec<String> = Vec::new();
    for d in &loaded.docs {
        for (n, _) in &d.sources {
            if !source_names.contains(n) {
                source_names.push(n.clone());
            }
        }
    }
    Ok(Program {
        workflows,
        source_names,
    })
}

/// A `dependsOn` cycle, as workflowIds from the first to itself.
fn depends_on_cycle(workflows: &[CompiledWorkflow]) -> Option<Vec<String>> {
    fn visit(
        i: usize,
        wfs: &[CompiledWorkflow],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[i] = 1;
        path.push(i);
        for &d in &wfs[i].depends_on {
            if d >= wfs.len() {
                continue;
            }
            if state[d] == 1 {
                let start = path.iter().position(|&p| p == d).unwrap_or(0);
                let mut ids: Vec<String> = path[start..]
                    .iter()
                    .map(|&p| wfs[p].workflow_id.clone())
                    .collect();
                ids.push(wfs[d].workflow_id.clone());
                return Some(ids);
            }
            if state[d] == 0 {
                if let Some(c) = visit(d, wfs, state, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        state[i] = 2;
        None
    }
    let mut state = vec![0u8; workflows.len()];
    for i in 0..workflows.len() {
        if state[i] == 0 {
            if let Some(c) = visit(i, workflows, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

struct Compiler<'a> {
    loaded: &'a Loaded,
    /// (doc, workflowId) → index in the program.
    index: HashMap<(usize, String), usize>,
    queue: Vec<(usize, String)>,
    /// Problems found so far; compiling goes on past them to report them all.
    errors: Vec<CompileError>,
}

/// Where in a document a piece being compiled sits, for messages.
struct Place<'a> {
    workflow: &'a str,
    step: Option<&'a str>,
    /// JSON Pointer of the workflow or step.
    pointer: String,
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step {
            Some(s) => write!(f, "workflow `{}`, step `{s}`", self.workflow),
            None => write!(f, "workflow `{}`", self.workflow),
        }
    }
}

impl<'a> Compiler<'a> {
    fn workflow_index(&mut self, doc: usize, id: &str) -> usize {
        let key = (doc, id.to_string());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.queue.len();
        self.index.insert(key.clone(), i);
        self.queue.push(key);
        i
    }

    /// Resolves a workflow reference: a bare id in `doc`, or
    /// `$sourceDescriptions.<name>.<workflowId>` in an `arazzo` source.
    fn resolve_workflow(
        &mut self,
        doc: usize,
        reference: &str,
        at: &Place,
    ) -> Result<usize, CompileError> {
        let d = &self.loaded.docs[doc];
        if let Some(rest) = reference.strip_prefix("$sourceDescriptions.") {
            let Some((name, id)) = rest.split_once('.') else {
                return fail(
                    "ref/unknown-workflow",
                    format!("{at}: `{reference}` names no workflow"),
                    Some("write `$sourceDescriptions.<source>.<workflowId>`".to_string()),
                );
            };
            return match d.source(name) {
                Some(SourceRef::Arazzo(i)) => {
                    let i = *i;
                    let target = &self.loaded.docs[i].doc;
                    if !target.doc.workflows.iter().any(|w| w.workflow_id == id) {
                        return fail("ref/unknown-workflow", 
                            format!("{at}: workflow `{id}` is not in source `{name}` (`{}`)", display_url(&target.url)),
                            suggest(id, target.doc.workflows.iter().map(|w| w.workflow_id.as_str())),
                        );
                    }
                    Ok(self.workflow_index(i, id))
                }
                Some(SourceRef::OpenApi(_)) => fail("ref/wrong-source-type", 
                    format!("{at}: `{reference}`: source `{name}` is an OpenAPI description, not an Arazzo document"),
                    None,
                ),
                None => fail("ref/unknown-source", 
                    format!("{at}: `{reference}` names the source `{name}`, which the document does not describe"),
                    suggest(name, d.sources.iter().map(|(n, _)| n.as_str())),
                ),
            };
        }
        if d.doc
            .doc
            .workflows
            .iter()
            .any(|w| w.workflow_id == reference)
        {
            return Ok(self.workflow_index(doc, reference));
        }
        fail("ref/unknown-workflow", 
            format!("{at}: there is no workflow `{reference}` in this document"),
            suggest(reference, d.doc.doc.workflows.iter().map(|w| w.workflow_id.as_str()))
                .or_else(|| Some("a workflow in another Arazzo document is named `$sourceDescriptions.<source>.<workflowId>`".into())),
        )
    }

    fn workflow(&mut self, doc: usize, id: &str) -> Result<CompiledWorkflow, CompileError> {
        let loaded = self.loaded;
        let d = &loaded.docs[doc];
        let wf: &Workflow = d
            .doc
            .doc
            .workflows
            .iter()
            .find(|w| w.workflow_id == id)
            .ok_or_else(|| CompileError {
                code: "ref/unknown-workflow",
                pointer: None,
                message: format!("no workflow `{id}`"),
                help: None,
            })?;
        let wid = wf.workflow_id.as_str();
        let wf_ptr = format!(
            "/workflows/{}",
            d.doc
                .doc
                .workflows
                .iter()
                .position(|w| w.workflow_id == id)
                .unwrap_or(0)
        );
        let here = Place {
            workflow: wid,
            step: None,
            pointer: wf_ptr.clone(),
        };
        let inputs_schema = match &wf.inputs {
            Some(s) => {
                let mut schema =
                    inline_refs(&d.doc.raw, s, 0, &mut 0).map_err(|m| CompileError {
                        code: "ref/inputs-schema",
                        pointer: Some(format!("{wf_ptr}/inputs")),
                        message: format!("workflow `{wid}` inputs: {m}"),
                        help: None,
                    })?;
                lift_all_of(&mut schema, 0);
                Some(schema)
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

        let mut depends_on = Vec::new();
        for (k, dep) in wf.depends_on.iter().enumerate() {
            match self.resolve_workflow(doc, dep, &here) {
                Ok(i) if !depends_on.contains(&i) => depends_on.push(i),
                Ok(_) => {}
                Err(e) => self.errors.push(
                    e.code_as("ref/unknown-dependency")
                        .at(&format!("{wf_ptr}/dependsOn/{k}")),
                ),
            }
        }

        let step_ids: Vec<&str> = wf.steps.iter().map(|s| s.step_id.as_str()).collect();
        for (i, s) in step_ids.iter().enumerate() {
            if step_ids[..i].contains(s) {
                return Err(CompileError {
                    code: "id/duplicate-step",
                    message: format!("workflow `{wid}` has two steps with stepId `{s}`"),
                    help: Some("stepIds must be unique within a workflow".to_string()),
                    pointer: Some(format!("{wf_ptr}/steps/{i}/stepId")),
                });
            }
        }
        let wf_params = self
            .parameter_list(doc, &wf.parameters, &here)
            .map_err(|e| e.at(&format!("{wf_ptr}/parameters")))?;
        let wf_success = self
            .actions(doc, wf, &wf.success_actions, "successActions", true, &here)
            .map_err(|e| e.at(&format!("{wf_ptr}/successActions")))?;
        let wf_failure = self
            .actions(doc, wf, &wf.failure_actions, "failureActions", false, &here)
            .map_err(|e| e.at(&format!("{wf_ptr}/failureActions")))?;
        let has_jumps = !wf_success.is_empty()
            || !wf_failure.is_empty()
            || wf
                .steps
                .iter()
                .any(|s| !s.on_success.is_empty() || !s.on_failure.is_empty());

        let mut steps = Vec::with_capacity(wf.steps.len());
        let mut step_outputs: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for s in &wf.steps {
            step_outputs.insert(
                s.step_id.as_str(),
                s.outputs.keys().map(String::as_str).collect(),
            );
        }
        let refs = RefCheck {
            loaded,
            doc,
            wf,
            declared_inputs: &declared_inputs,
            step_outputs: &step_outputs,
            strict_order: !has_jumps,
        };
        for (index, step) in wf.steps.iter().enumerate() {
            let step_ptr = format!("{wf_ptr}/steps/{index}");
            let at = Place {
                workflow: wid,
                step: Some(&step.step_id),
                pointer: step_ptr.clone(),
            };
            let compiled = match self.step(doc, wf, step, &wf_params, &wf_success, &wf_failure, &at)
            {
                Ok(c) => c,
                Err(e) => {
                    self.errors.push(e.at(&step_ptr));
                    continue;
                }
            };
            if let StepTarget::Operation(call) = &compiled.target {
                for p in call.parameters.iter().filter(|p| p.secret) {
                    for e in p.value.expressions() {
                        if let Expr::Inputs { name, .. } = e {
                            secret_inputs.insert(name.clone());
                        }
                    }
                }
            }
            let exprs = compiled.expressions();
            for e in exprs {
                if let Err(err) = refs.check(e, &at.to_string(), Some(index)) {
                    self.errors.push(err.at(&step_ptr));
                }
            }
            steps.push(compiled);
        }

        let mut outputs = Vec::with_capacity(wf.outputs.len());
        for (name, v) in &wf.outputs {
            if !output_key_ok(name) {
                self.errors.push(CompileError {
                    code: "id/output-key",
                    message: format!(
                        "workflow `{wid}`: output name `{name}` must match ^[a-zA-Z0-9.-_]+$"
                    ),
                    help: Some("use letters, digits, `.`, `-` and `_` only".into()),
                    pointer: Some(format!("{wf_ptr}/outputs")),
                });
            }
            let out_ptr = format!(
                "{wf_ptr}/outputs/{}",
                name.replace('~', "~0").replace('/', "~1")
            );
            let compiled = match compile_output(v) {
                Ok(c) => c,
                Err(m) => {
                    self.errors.push(CompileError {
                        code: "expr/syntax",
                        pointer: Some(out_ptr),
                        message: format!("workflow `{wid}` output `{name}`: {m}"),
                        help: None,
                    });
                    continue;
                }
            };
            for e in compiled.expressions() {
                if let Err(err) = refs.check(e, &format!("workflow `{wid}` output `{name}`"), None)
                {
                    self.errors.push(err.at(&out_ptr));
                }
            }
            outputs.push((name.clone(), compiled));
        }

        Ok(CompiledWorkflow {
            workflow_id: wid.to_string(),
            summary: wf.summary.clone(),
            description: wf.description.clone(),
            doc,
            inputs_schema,
            steps,
            outputs,
            secret_inputs,
            depends_on,
        })
    }

    /// Resolves a list of Parameter Objects and Reusable Objects.
    fn parameter_list(
        &self,
        doc: usize,
        raw: &[Value],
        at: &Place,
    ) -> Result<Vec<Parameter>, CompileError> {
        let mut out: Vec<Parameter> = Vec::new();
        for item in raw {
            let p = self.parameter(doc, item, at)?;
            if out.iter().any(|q| same_param(q, &p)) {
                return fail(
                    "param/duplicate",
                    format!(
                        "{at}: parameter `{}`{} is given twice",
                        p.name,
                        p.location
                            .as_deref()
                            .map(|l| format!(" (in {l})"))
                            .unwrap_or_default()
                    ),
                    Some(
                        "a parameter list must not hold duplicates (same name and `in`)"
                            .to_string(),
                    ),
                );
            }
            out.push(p);
        }
        Ok(out)
    }

    fn parameter(&self, doc: usize, item: &Value, at: &Place) -> Result<Parameter, CompileError> {
        let resolved = match item.get("reference") {
            Some(r) => {
                let mut target = self.component(doc, r, "parameters", at)?;
                // A Reusable Object's `value` overrides the component's value.
                if let (Some(v), Value::Object(m)) = (item.get("value"), &mut target) {
                    m.insert("value".into(), v.clone());
                }
                target
            }
            None => item.clone(),
        };
        serde_json::from_value::<Parameter>(resolved).map_err(|e| CompileError {
            code: "param/invalid",
            pointer: None,
            message: format!("{at}: a parameter is malformed: {e}"),
            help: Some(
                "a parameter has `name`, `in` (path, query, header or cookie) and `value`".into(),
            ),
        })
    }

    /// Looks up `$components.<kind>.<name>` in the document's components.
    fn component(
        &self,
        doc: usize,
        reference: &Value,
        kind: &str,
        at: &Place,
    ) -> Result<Value, CompileError> {
        let d = &self.loaded.docs[doc].doc;
        let Some(r) = reference.as_str() else {
            return fail(
                "ref/unknown-component",
                format!("{at}: a Reusable Object's `reference` must be a string"),
                None,
            );
        };
        let prefix = format!("$components.{kind}.");
        let Some(name) = r.strip_prefix(&prefix) else {
            return fail(
                "ref/unknown-component",
                format!("{at}: `reference: {r}` must point into `components.{kind}`"),
                Some(format!("write `reference: {prefix}<name>`")),
            );
        };
        let found = d
            .raw
            .get("components")
            .and_then(|c| c.get(kind))
            .and_then(|m| m.get(name));
        match found {
            Some(v) => Ok(v.clone()),
            None => {
                let names: Vec<String> = d
                    .raw
                    .get("components")
                    .and_then(|c| c.get(kind))
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                fail(
                    "ref/unknown-component",
                    format!("{at}: `{r}` does not exist in `components.{kind}`"),
                    suggest(name, names.iter().map(String::as_str)).or_else(|| {
                        Some(if names.is_empty() {
                            format!("the document defines no components.{kind}")
                        } else {
                            format!("components.{kind}: {}", names.join(", "))
                        })
                    }),
                )
            }
        }
    }

    /// Compiles an action list (inline objects and Reusable Objects).
    fn actions(
        &mut self,
        doc: usize,
        wf: &Workflow,
        raw: &[Value],
        what: &str,
        success: bool,
        at: &Place,
    ) -> Result<Vec<Action>, CompileError> {
        let kind = if success {
            "successActions"
        } else {
            "failureActions"
        };
        let mut out: Vec<Action> = Vec::new();
        for item in raw {
            let obj = match item.get("reference") {
                Some(r) => self.component(doc, r, kind, at)?,
                None => item.clone(),
            };
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| CompileError {
                    code: "action/invalid",
                    pointer: None,
                    message: format!("{at}: an action in `{what}` has no `name`"),
                    help: None,
                })?;
            if out.iter().any(|a| a.name == name) {
                return fail(
                    "action/duplicate",
                    format!("{at}: `{what}` holds two actions named `{name}`"),
                    Some("an action list must not hold duplicates".to_string()),
                );
            }
            let place = format!("{at}, action `{name}`");
            let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
            let step_id = obj.get("stepId").and_then(Value::as_str);
            let workflow_id = obj.get("workflowId").and_then(Value::as_str);
            if step_id.is_some() && workflow_id.is_some() {
                return fail(
                    "action/invalid",
                    format!("{place}: `stepId` and `workflowId` are mutually exclusive"),
                    None,
                );
            }
            let jump = match (step_id, workflow_id) {
                (Some(s), None) => match wf.steps.iter().position(|x| x.step_id == s) {
                    Some(i) => Some(Jump::Step(i)),
                    None => {
                        return fail(
                            "ref/unknown-step",
                            format!(
                                "{place}: there is no step `{s}` in workflow `{}`",
                                wf.workflow_id
                            ),
                            suggest(s, wf.steps.iter().map(|x| x.step_id.as_str())).or_else(|| {
                                Some(
                                "a goto or retry stepId must name a step of the current workflow"
                                    .into(),
                            )
                            }),
                        )
                    }
                },
                (None, Some(w)) => Some(Jump::Workflow(self.resolve_workflow(doc, w, at)?)),
                _ => None,
            };
            let kind = match (ty, success) {
                ("end", _) => ActionKind::End,
                ("goto", _) => match jump {
                    Some(j) => ActionKind::Goto(j),
                    None => {
                        return fail(
                            "action/invalid",
                            format!("{place}: a `goto` action needs a `stepId` or a `workflowId`"),
                            None,
                        )
                    }
                },
                ("retry", false) => {
                    let after = match obj.get("retryAfter") {
                        None => None,
                        Some(v) => match v.as_f64() {
                            Some(f) if (0.0..=1.0e7).contains(&f) => Some(f),
                            _ => {
                                return fail("action/invalid", 
                                    format!("{place}: `retryAfter` must be a non-negative number of seconds (at most 1e7)"),
                                    None,
                                )
                            }
                        },
                    };
                    let limit = match obj.get("retryLimit") {
                        None => 1,
                        Some(v) => match v.as_u64() {
                            Some(n) => n.min(u32::MAX as u64) as u32,
                            None => {
                                return fail(
                                    "action/invalid",
                                    format!("{place}: `retryLimit` must be a non-negative integer"),
                                    None,
                                )
                            }
                        },
                    };
                    ActionKind::Retry {
                        after,
                        limit,
                        then: jump,
                    }
                }
                (other, _) => {
                    let allowed = if success {
                        "end or goto"
                    } else {
                        "end, retry or goto"
                    };
                    return fail(
                        "action/invalid",
                        format!("{place}: `type: {other}` is not an action type here"),
                        Some(format!("{what} actions are {allowed}")),
                    );
                }
            };
            let mut criteria = Vec::new();
            if let Some(list) = obj.get("criteria") {
                let list: Vec<Criterion> =
                    serde_json::from_value(list.clone()).map_err(|e| CompileError {
                        code: "criteria/invalid",
                        pointer: None,
                        message: format!("{place}: `criteria` is malformed: {e}"),
                        help: None,
                    })?;
                for c in &list {
                    criteria.push(compile_criterion(&place, c)?);
                }
            }
            out.push(Action {
                name: name.to_string(),
                kind,
                criteria,
            });
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        doc: usize,
        wf: &Workflow,
        step: &Step,
        wf_params: &[Parameter],
        wf_success: &[Action],
        wf_failure: &[Action],
        at: &Place,
    ) -> Result<CompiledStep, CompileError> {
        let targets = [
            step.operation_id.is_some(),
            step.operation_path.is_some(),
            step.workflow_id.is_some(),
        ];
        if targets.iter().filter(|t| **t).count() > 1 {
            return fail(
                "step/target",
                format!(
                    "{at}: `operationId`, `operationPath` and `workflowId` are mutually exclusive"
                ),
                Some("give the step exactly one of them".to_string()),
            );
        }
        // Step parameters override workflow parameters with the same name and `in`.
        let own = self.parameter_list(doc, &step.parameters, at)?;
        let mut params: Vec<Parameter> = wf_params
            .iter()
            .filter(|w| !own.iter().any(|o| same_param(o, w)))
            .cloned()
            .collect();
        params.extend(own);

        let target = if let Some(w) = &step.workflow_id {
            if step.request_body.is_some() {
                return fail(
                    "step/invalid",
                    format!("{at}: a step that calls a workflow cannot have a `requestBody`"),
                    None,
                );
            }
            let workflow = self.resolve_workflow(doc, w, at)?;
            let mut inputs = Vec::new();
            for p in params {
                let v = ValueExpr::compile(&p.value).map_err(|e| CompileError {
                    code: "expr/syntax",
                    pointer: None,
                    message: format!("{at}, parameter `{}`: {e}", p.name),
                    help: None,
                })?;
                inputs.push((p.name, v));
            }
            StepTarget::Workflow { workflow, inputs }
        } else {
            StepTarget::Operation(Box::new(self.operation_call(doc, step, params, at)?))
        };

        let mut success_criteria = Vec::new();
        for (i, c) in step.success_criteria.iter().enumerate() {
            success_criteria.push(
                compile_criterion(&at.to_string(), c)
                    .map_err(|e| e.at(&format!("{}/successCriteria/{i}/condition", at.pointer)))?,
            );
        }
        // A broken action list is reported, and the rest of the step still checked.
        let mut on_success = self
            .actions(doc, wf, &step.on_success, "onSuccess", true, at)
            .unwrap_or_else(|e| {
                self.errors.push(e.at(&format!("{}/onSuccess", at.pointer)));
                Vec::new()
            });
        let mut on_failure = self
            .actions(doc, wf, &step.on_failure, "onFailure", false, at)
            .unwrap_or_else(|e| {
                self.errors.push(e.at(&format!("{}/onFailure", at.pointer)));
                Vec::new()
            });
        for a in wf_success {
            if !on_success.iter().any(|s| s.name == a.name) {
                on_success.push(a.clone());
            }
        }
        for a in wf_failure {
            if !on_failure.iter().any(|s| s.name == a.name) {
                on_failure.push(a.clone());
            }
        }
        let mut outputs = Vec::new();
        for (name, v) in &step.outputs {
            if !output_key_ok(name) {
                self.errors.push(CompileError {
                    code: "id/output-key",
                    message: format!("{at}: output name `{name}` must match ^[a-zA-Z0-9.-_]+$"),
                    help: Some("use letters, digits, `.`, `-` and `_` only".into()),
                    pointer: Some(format!("{}/outputs", at.pointer)),
                });
            }
            let compiled = compile_output(v).map_err(|m| CompileError {
                code: "expr/syntax",
                pointer: None,
                message: format!("{at}, output `{name}`: {m}"),
                help: None,
            })?;
            outputs.push((name.clone(), compiled));
        }
        Ok(CompiledStep {
            step_id: step.step_id.clone(),
            target,
            success_criteria,
            on_success,
            on_failure,
            outputs,
        })
    }

    fn operation_call(
        &self,
        doc: usize,
        step: &Step,
        params: Vec<Parameter>,
        at: &Place,
    ) -> Result<OperationCall, CompileError> {
        let (source, api, operation) = self.resolve_operation(doc, step, at)?;
        let secret_params = api.secret_params().map_err(|e| CompileError {
            code: "openapi/invalid",
            pointer: None,
            message: format!("{at}: {e}"),
            help: Some(
                "fix or restore the security scheme: arazzo must know which parameters carry credentials to keep them out of every output".into(),
            ),
        })?;
        let mut parameters: Vec<CompiledParam> = Vec::new();
        for p in params {
            let Some(loc_text) = p.location.as_deref() else {
                return fail("param/missing-in", 
                    format!("{at}: parameter `{}` has no `in`", p.name),
                    Some("parameters of an operation step need `in: path`, `query`, `header` or `cookie`".to_string()),
                );
            };
            let Some(location) = ParamIn::parse(loc_text) else {
                return fail(
                    "param/invalid-in",
                    format!("{at}: parameter `{}` has `in: {loc_text}`", p.name),
                    Some("`in` is one of path, query, header, cookie".to_string()),
                );
            };
            let value = ValueExpr::compile(&p.value).map_err(|e| CompileError {
                code: "expr/syntax",
                pointer: None,
                message: format!("{at}, parameter `{}`: {e}", p.name),
                help: None,
            })?;
            let spec = operation.param(&p.name, location).cloned();
            if spec.is_none() {
                if let Some(other) = operation.parameters.iter().find(|s| s.name == p.name) {
                    return fail(
                        "param/wrong-in",
                        format!(
                            "{at}: parameter `{}` is given `in: {loc_text}`, but the operation declares it `in: {}`",
                            p.name,
                            other.location.as_str()
                        ),
                        Some(format!("write `in: {}`", other.location.as_str())),
                    );
                }
            }
            if location == ParamIn::Path && spec.is_none() {
                return fail(
                    "param/unknown-path-param",
                    format!(
                        "{at}: path parameter `{}` is not in the path `{}` of operation `{}`",
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
            let secret = crate::openapi::credential_name(&p.name)
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
                    "param/missing-path-param",
                    format!(
                        "{at}: the required path parameter `{}` of `{} {}` is not given",
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
                        code: "expr/syntax",
                        pointer: None,
                        message: format!("{at}, requestBody payload: {e}"),
                        help: None,
                    })?),
                    None => None,
                };
                let mut replacements = Vec::new();
                let mut xml_replacements = Vec::new();
                let xml = content_type.to_ascii_lowercase().contains("xml");
                for r in &rb.replacements {
                    let value = ValueExpr::compile(&r.value).map_err(|e| CompileError {
                        code: "expr/syntax",
                        pointer: None,
                        message: format!("{at}, replacement `{}`: {e}", r.target),
                        help: None,
                    })?;
                    // For an XML body the target is an XPath expression.
                    if xml {
                        crate::criteria::check_xpath(&r.target).map_err(|m| CompileError {
                            code: "body/replacement-target",
                            pointer: None,
                            message: format!("{at}, replacement target: {m}"),
                            help: Some(
                                "replacement targets of an XML body are XPath expressions such as `/pet/name` or `/pet/@id`".into(),
                            ),
                        })?;
                        xml_replacements.push((r.target.clone(), value));
                        continue;
                    }
                    let target = Pointer::parse(&r.target).map_err(|m| CompileError {
                        code: "body/replacement-target",
                        pointer: None,
                        message: format!("{at}, replacement target: {m}"),
                        help: Some(
                            "replacement targets are JSON Pointers such as `/pet/id`".into(),
                        ),
                    })?;
                    replacements.push((target, value));
                }
                Some(CompiledBody {
                    content_type,
                    payload,
                    replacements,
                    xml_replacements,
                })
            }
        };
        // Every schema the requests are checked against must resolve: a `$ref`
        // into a file that is missing would otherwise go unnoticed.
        let mut schemas: Vec<(String, &serde_json::Value)> = parameters
            .iter()
            .filter_map(|p| {
                let schema = p.spec.as_ref()?.schema.as_ref()?;
                Some((format!("parameter `{}`", p.name), schema))
            })
            .collect();
        if let Some(b) = &body {
            if let Some(s) = crate::plan::body_schema(&operation, Some(&b.content_type)) {
                schemas.push(("request body".to_string(), s));
            }
        }
        for (what, schema) in schemas {
            if let Some(reason) = crate::schema::unreadable_ref(&api, schema) {
                return fail(
                    "source/unreadable-ref",
                    format!(
                        "{at}: the {what} schema of `{} {}` cannot be read: {reason}",
                        operation.method, operation.path
                    ),
                    Some(
                        "restore what the `$ref` names, or bundle the description into one file"
                            .to_string(),
                    ),
                );
            }
        }
        let _ = doc;
        Ok(OperationCall {
            source,
            api,
            operation: Arc::new(operation),
            parameters,
            body,
            checkers: Default::default(),
        })
    }

    fn openapi_sources(&self, doc: usize) -> Vec<(&'a str, &'a Arc<OpenApi>)> {
        self.loaded.docs[doc]
            .sources
            .iter()
            .filter_map(|(n, s)| match s {
                SourceRef::OpenApi(api) => Some((n.as_str(), api)),
                SourceRef::Arazzo(_) => None,
            })
            .collect()
    }

    fn resolve_operation(
        &self,
        doc: usize,
        step: &Step,
        at: &Place,
    ) -> Result<(String, Arc<OpenApi>, Operation), CompileError> {
        let sources = self.openapi_sources(doc);
        let wrap = |e: crate::openapi::OpenApiError| CompileError {
            code: "openapi/invalid",
            pointer: None,
            message: format!("{at}: {e}"),
            help: None,
        };
        if let Some(id) = &step.operation_id {
            // `$sourceDescriptions.<name>.<operationId>`: split at the first dot after the name.
            if let Some(rest) = id.strip_prefix("$sourceDescriptions.") {
                let Some((name, op_id)) = rest.split_once('.') else {
                    return fail(
                        "step/target",
                        format!("{at}: `{id}` names no operation"),
                        Some("write `$sourceDescriptions.<source>.<operationId>`".to_string()),
                    );
                };
                let Some((_, api)) = sources.iter().find(|(n, _)| *n == name) else {
                    return fail("ref/unknown-source", 
                        format!("{at}: `{id}` names the source `{name}`, which is not an OpenAPI source description of this document"),
                        Some(format!("OpenAPI sources: {}", sources.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))),
                    );
                };
                return match api.operation(op_id).map_err(wrap)? {
                    Some(op) => Ok((name.to_string(), Arc::clone(api), op)),
                    None => fail(
                        "ref/unknown-operation",
                        format!("{at}: operation `{op_id}` is not in source `{name}`"),
                        suggest(op_id, api.operation_ids()),
                    ),
                };
            }
            return match sources.as_slice() {
                [] => fail(
                    "ref/unknown-source",
                    format!(
                        "{at}: the document has no OpenAPI source description to find `{id}` in"
                    ),
                    None,
                ),
                [(name, api)] => match api.operation(id).map_err(wrap)? {
                    Some(op) => Ok((name.to_string(), Arc::clone(api), op)),
                    None => fail(
                        "ref/unknown-operation",
                        format!(
                            "{at}: operation `{id}` is not in source `{name}` (`{}`)",
                            display_url(&api.url)
                        ),
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
                        "ref/ambiguous-operation",
                        format!(
                            "{at}: `operationId: {id}` is ambiguous with several OpenAPI sources"
                        ),
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
            return resolve_operation_path(at, path, &sources);
        }
        fail(
            "step/target",
            format!("{at} names no operation"),
            Some(
                "give the step an `operationId`, an `operationPath` or a `workflowId`".to_string(),
            ),
        )
    }
}

/// `{$sourceDescriptions.<name>.url}#/paths/~1things~1{id}/get`
fn resolve_operation_path(
    at: &Place,
    path: &str,
    sources: &[(&str, &Arc<OpenApi>)],
) -> Result<(String, Arc<OpenApi>, Operation), CompileError> {
    let help = Some(
        "write `operationPath: '{$sourceDescriptions.<name>.url}#/paths/~1path~1{param}/get'`"
            .to_string(),
    );
    let Some((head, fragment)) = path.split_once('#') else {
        return fail(
            "ref/operation-path",
            format!("{at}: operationPath `{path}` has no `#` JSON Pointer"),
            help,
        );
    };
    let name = head
        .strip_prefix("{$sourceDescriptions.")
        .and_then(|r| r.strip_suffix(".url}"));
    let Some(name) = name else {
        return fail(
            "ref/operation-path",
            format!(
                "{at}: operationPath `{path}` must start with `{{$sourceDescriptions.<name>.url}}`"
            ),
            help,
        );
    };
    let Some((_, api)) = sources.iter().find(|(n, _)| *n == name) else {
        return fail("ref/unknown-source", 
            format!("{at}: operationPath names the source `{name}`, which is not an OpenAPI source of this document"),
            suggest(name, sources.iter().map(|(n, _)| *n)),
        );
    };
    let decoded = percent_encoding::percent_decode_str(fragment).decode_utf8_lossy();
    let pointer = Pointer::parse(&decoded).map_err(|m| CompileError {
        code: "ref/operation-path",
        pointer: None,
        message: format!("{at}: operationPath: {m}"),
        help: None,
    })?;
    match pointer.tokens() {
        [paths, template, method] if paths == "paths" => {
            let op = api.operation_at(template, method).map_err(|e| CompileError {
                code: "ref/operation-path",
                pointer: None,
                message: format!("{at}: operationPath `{path}`: {e}"),
                help: None,
            })?;
            Ok((name.to_string(), Arc::clone(api), op))
        }
        _ => fail("ref/operation-path", 
            format!("{at}: operationPath `{path}` does not point at an operation (`#/paths/<escaped path>/<method>`)"),
            help,
        ),
    }
}

/// Output names MUST match `^[a-zA-Z0-9.-_]+$`.
fn output_key_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn same_param(a: &Parameter, b: &Parameter) -> bool {
    let loc_a = a.location.as_deref().unwrap_or("");
    let loc_b = b.location.as_deref().unwrap_or("");
    loc_a == loc_b
        && if loc_a == "header" {
            a.name.eq_ignore_ascii_case(&b.name)
        } else {
            a.name == b.name
        }
}

/// Checks that the runtime expressions of a workflow name things that exist.
struct RefCheck<'a> {
    loaded: &'a Loaded,
    doc: usize,
    wf: &'a Workflow,
    declared_inputs: &'a Option<BTreeSet<String>>,
    step_outputs: &'a HashMap<&'a str, BTreeSet<&'a str>>,
    /// Without gotos, steps run in list order, so a step can read only earlier steps.
    strict_order: bool,
}

impl RefCheck<'_> {
    fn check(&self, e: &Expr, place: &str, step_index: Option<usize>) -> Result<(), CompileError> {
        let wf = self.wf;
        let d = &self.loaded.docs[self.doc];
        match e {
            Expr::Inputs { name, .. } => {
                if let Some(decl) = self.declared_inputs {
                    if !decl.contains(name) {
                        return fail(
                            "ref/undeclared-input",
                            format!("{place}: `{e}` reads an input the workflow does not declare"),
                            Some(match suggest(name, decl.iter().map(String::as_str)) {
                                Some(s) => s,
                                None => format!(
                                    "declared inputs: {}",
                                    if decl.is_empty() {
                                        "none".to_string()
                                    } else {
                                        decl.iter().cloned().collect::<Vec<_>>().join(", ")
                                    }
                                ),
                            }),
                        );
                    }
                } else {
                    return fail(
                        "ref/undeclared-input",
                        format!(
                            "{place}: `{e}` reads an input, but workflow `{}` declares no inputs",
                            wf.workflow_id
                        ),
                        Some("declare it under the workflow's `inputs.properties`".into()),
                    );
                }
            }
            Expr::Steps { step, output, .. } => {
                let Some(position) = wf.steps.iter().position(|s| &s.step_id == step) else {
                    return fail(
                        "ref/unknown-step",
                        format!(
                            "{place}: `{e}` names a step that does not exist in workflow `{}`",
                            wf.workflow_id
                        ),
                        suggest(step, wf.steps.iter().map(|s| s.step_id.as_str())),
                    );
                };
                if self.strict_order && step_index.is_some_and(|i| position >= i) {
                    return fail("ref/step-not-run-yet", 
                        format!("{place}: `{e}` reads step `{step}`, which has not run yet at this point"),
                        Some("a step can read only the outputs of steps before it".to_string()),
                    );
                }
                let outs = self.step_outputs.get(step.as_str());
                if !outs.is_some_and(|o| o.contains(output.as_str())) {
                    return fail(
                        "ref/unknown-output",
                        format!("{place}: `{e}`: step `{step}` declares no output `{output}`"),
                        Some(
                            match outs.and_then(|o| suggest(output, o.iter().copied())) {
                                Some(s) => s,
                                None => format!(
                                    "step `{step}` outputs: {}",
                                    outs.map(|o| o.iter().copied().collect::<Vec<_>>().join(", "))
                                        .filter(|s| !s.is_empty())
                                        .unwrap_or_else(|| "none".into())
                                ),
                            },
                        ),
                    );
                }
            }
            Expr::Workflows { workflow, .. }
                if !d
                    .doc
                    .doc
                    .workflows
                    .iter()
                    .any(|w| &w.workflow_id == workflow) =>
            {
                return fail(
                    "ref/unknown-workflow",
                    format!("{place}: `{e}` names a workflow that does not exist in this document"),
                    suggest(
                        workflow,
                        d.doc.doc.workflows.iter().map(|w| w.workflow_id.as_str()),
                    ),
                );
            }
            // Inside a step, `$outputs` reads the outputs of the workflow the step
            // called; in workflow outputs it must name a declared output.
            Expr::Outputs { name, .. }
                if step_index.is_none() && !wf.outputs.contains_key(name) =>
            {
                return fail(
                    "ref/unknown-output",
                    format!(
                        "{place}: `{e}` names an output workflow `{}` does not declare",
                        wf.workflow_id
                    ),
                    None,
                );
            }
            Expr::SourceDescriptions { name, .. }
                if name != "$self" && d.source(name).is_none() =>
            {
                return fail(
                    "ref/unknown-source",
                    format!("{place}: `{e}` names a source description that does not exist"),
                    suggest(name, d.sources.iter().map(|(n, _)| n.as_str())),
                );
            }
            Expr::Components { kind, name } => {
                let exists = d
                    .doc
                    .raw
                    .get("components")
                    .and_then(|c| c.get(kind.as_str()))
                    .and_then(|m| m.get(name.as_str()))
                    .is_some();
                if !exists {
                    return fail(
                        "ref/unknown-component",
                        format!("{place}: `{e}` does not exist in the document's components"),
                        None,
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn compile_criterion(place: &str, c: &Criterion) -> Result<CompiledCriterion, CompileError> {
    let kind = match (&c.kind, &c.version) {
        (None, _) => None,
        (Some(Value::String(s)), _) if s == "simple" => None,
        (Some(Value::String(s)), Some(v)) => Some(serde_json::json!({"type": s, "version": v})),
        (Some(k), _) => Some(k.clone()),
    };
    let Some(kind) = kind else {
        let cond = Condition::parse(&c.condition).map_err(|e| CompileError {
            code: if e.too_deep {
                "expr/too-deep"
            } else {
                "criteria/syntax"
            },
            pointer: None,
            message: format!(
                "{place}: the condition `{}` is invalid: {}",
                shorten(&c.condition),
                e.message
            ),
            help: Some(if e.too_deep {
                too_deep_help()
            } else {
                "conditions look like `$statusCode == 201 && $response.body#/id != null`".into()
            }),
        })?;
        return Ok(CompiledCriterion {
            text: c.condition.clone(),
            check: CriterionCheck::Simple(cond),
        });
    };
    if let Some(m) = crate::criteria::too_deep(&kind, &c.condition) {
        return fail(
            "expr/too-deep",
            format!("{place}: criterion `{}`: {m}", shorten(&c.condition)),
            Some(too_deep_help()),
        );
    }
    let check = crate::criteria::Check::compile(&kind, &c.condition).map_err(|m| CompileError {
        code: "criteria/invalid",
        pointer: None,
        message: format!("{place}: criterion `{}`: {m}", shorten(&c.condition)),
        help: None,
    })?;
    let Some(context) = &c.context else {
        return fail("criteria/missing-context", 
            format!("{place}: a `{}` criterion needs a `context`", check.type_name()),
            Some("add e.g. `context: $response.body` (the spec requires a context whenever `type` is given)".into()),
        );
    };
    let context = ValueExpr::compile_str(context).map_err(|e| CompileError {
        code: "expr/syntax",
        pointer: None,
        message: format!("{place}: criterion context: {e}"),
        help: None,
    })?;
    Ok(CompiledCriterion {
        text: c.condition.clone(),
        check: CriterionCheck::Typed { context, check },
    })
}

/// A condition as quoted in a message: whole when short, else its start.
fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 120;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]).into(),
        None => text.into(),
    }
}

fn too_deep_help() -> String {
    format!(
        "nesting is limited to {} levels; split the condition into several criteria (all of them must hold) or drop redundant parentheses",
        crate::expr::MAX_NESTING
    )
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

/// Copies the `properties` and `required` of `allOf` branches up to the root of
/// an inputs schema, so the inputs a workflow takes can be read in one place.
/// Validation is unchanged: every branch must hold anyway.
fn lift_all_of(schema: &mut Value, depth: usize) {
    if depth > 8 {
        return;
    }
    let Some(branches) = schema.get("allOf").and_then(Value::as_array).cloned() else {
        return;
    };
    for mut branch in branches {
        lift_all_of(&mut branch, depth + 1);
        let Value::Object(root) = schema else {
            return;
        };
        if let Some(props) = branch.get("properties").and_then(Value::as_object) {
            let target = root
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(t) = target {
                for (k, v) in props {
                    t.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        if let Some(req) = branch.get("required").and_then(Value::as_array) {
            let target = root
                .entry("required")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(t) = target {
                for r in req {
                    if !t.contains(r) {
                        t.push(r.clone());
                    }
                }
            }
        }
    }
}

/// Most nodes an inputs schema may have once its `$ref`s are inlined: `$ref`s
/// that name one component many times, at many levels, multiply.
const MAX_INLINED_NODES: usize = 100_000;

/// Inlines `$ref`s that point into this document (`#/components/inputs/x`);
/// `nodes` counts what was made so far.
fn inline_refs(doc: &Value, v: &Value, depth: usize, nodes: &mut usize) -> Result<Value, String> {
    if depth > 32 {
        return Err("`$ref`s nest more than 32 deep (a cycle?)".into());
    }
    *nodes += 1;
    if *nodes > MAX_INLINED_NODES {
        return Err(format!(
            "the schema grows past {MAX_INLINED_NODES} nodes once its `$ref`s are inlined; name each component fewer times"
        ));
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
                let mut resolved = inline_refs(doc, target, depth + 1, nodes)?;
                // Sibling keywords next to `$ref` apply too (JSON Schema 2020-12).
                if let Value::Object(rm) = &mut resolved {
                    for (k, sib) in map.iter().filter(|(k, _)| *k != "$ref") {
                        rm.insert(k.clone(), inline_refs(doc, sib, depth + 1, nodes)?);
                    }
                }
                resolved
            } else {
                let mut out = Map::with_capacity(map.len());
                for (k, x) in map {
                    out.insert(k.clone(), inline_refs(doc, x, depth + 1, nodes)?);
                }
                Value::Object(out)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| inline_refs(doc, i, depth + 1, nodes))
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
