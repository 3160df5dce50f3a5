//! Document + sources → an executable [`Program`]. Every operation is resolved,
//! every expression, template and condition parsed, every reference (steps,
//! workflows, components, goto targets) checked here, once, so the engine never
//! reads source text and mistakes surface before the first request.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::document::{display_url, Criterion, Loaded, Parameter, SourceRef, Step, Workflow};
use crate::expr::{near_expression, near_expressions_in, Condition, Expr, Pointer, ValueExpr};
use crate::openapi::{OpenApi, Operation, ParamIn, ParamSpec};

/// A problem found while compiling: names the place, says how to fix it.
#[derive(Debug, Clone, Default, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    /// A stable code, e.g. `ref/unknown-operation`, for filtering and CI annotations.
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
    /// JSON Pointer into the document of the offending node, when known.
    pub pointer: Option<String>,
    /// The text inside that node the problem is about (an expression inside a
    /// template or a condition), to place the diagnostic on it.
    pub needle: Option<String>,
    /// A certain fix: inside the string at `pointer`, `from` becomes `to`.
    pub fix: Option<Box<(String, String)>>,
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

    /// Points the error at a piece of text inside its node.
    fn within(mut self, needle: impl Into<String>) -> CompileError {
        if self.needle.is_none() {
            self.needle = Some(needle.into());
        }
        self
    }
}

/// A new error with a code, a message and a help line, placed later.
pub(crate) fn error(
    code: &'static str,
    message: impl Into<String>,
    help: impl Into<Option<String>>,
) -> CompileError {
    CompileError {
        code,
        message: message.into(),
        help: help.into(),
        pointer: None,
        needle: None,
        fix: None,
    }
}

/// A JSON Pointer token for a member name.
pub(crate) fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn fail<T>(
    code: &'static str,
    message: impl Into<String>,
    help: impl Into<Option<String>>,
) -> Result<T, CompileError> {
    Err(error(code, message, help))
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
    /// Some step did not compile (a document with errors, checked by
    /// `validate`): `steps` lacks it, so step indexes do not match the document.
    pub incomplete: bool,
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
    let (program, errors) = check_all(loaded);
    if errors.is_empty() {
        Ok(program)
    } else {
        Err(errors)
    }
}

/// Compiles every workflow of the entry document as far as it goes: the
/// problems, and a program of what compiled (workflows with a broken step are
/// marked `incomplete`), for `validate` to go on checking what it can.
pub fn check_all(loaded: &Loaded) -> (Program, Vec<CompileError>) {
    let ids: Vec<&str> = loaded
        .entry()
        .doc
        .workflows
        .iter()
        .map(|w| w.workflow_id.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    let mut duplicates = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if !seen.insert(*id) {
            duplicates.push(
                error(
                    "id/duplicate-workflow",
                    format!("two workflows have the workflowId `{id}`"),
                    Some("workflowIds must be unique within a document".to_string()),
                )
                .at(&format!("/workflows/{i}/workflowId")),
            );
        }
    }
    let (program, mut errors) = compile_parts(loaded, &ids);
    duplicates.append(&mut errors);
    (program, duplicates)
}

fn compile_seeded(loaded: &Loaded, seeds: &[&str]) -> Result<Program, Vec<CompileError>> {
    let (program, errors) = compile_parts(loaded, seeds);
    if errors.is_empty() {
        Ok(program)
    } else {
        Err(errors)
    }
}

fn compile_parts(loaded: &Loaded, seeds: &[&str]) -> (Program, Vec<CompileError>) {
    let mut c = Compiler {
        loaded,
        index: HashMap::new(),
        queue: Vec::new(),
        errors: Vec::new(),
        literals: Vec::new(),
    };
    for id in seeds {
        c.workflow_index(0, id);
    }
    let mut workflows: Vec<CompiledWorkflow> = Vec::new();
    let mut next = 0;
    while next < c.queue.len() {
        let (doc, id) = c.queue[next].clone();
        let before = c.errors.len();
        let compiled = c.workflow(doc, &id);
        match compiled {
            Ok(w) => workflows.push(w),
            Err(e) => {
                c.errors.push(e);
                // Indexes into the program stay those of the queue.
                workflows.push(CompiledWorkflow {
                    workflow_id: id,
                    summary: None,
                    description: None,
                    doc,
                    inputs_schema: None,
                    steps: Vec::new(),
                    outputs: Vec::new(),
                    secret_inputs: BTreeSet::new(),
                    depends_on: Vec::new(),
                    incomplete: true,
                });
            }
        }
        if doc != 0 {
            // Places in another document are not places in the entry one: the
            // problem is about the entry document as a whole, naming the other.
            let url = display_url(&loaded.docs[doc].doc.url);
            for e in &mut c.errors[before..] {
                if e.pointer.take().is_some() {
                    e.message = format!("in `{url}`: {}", e.message);
                }
                e.needle = None;
                e.fix = None;
            }
        }
        next += 1;
    }
    if let Some(cycle) = depends_on_cycle(&workflows) {
        c.errors.push(error(
            "ref/dependency-cycle",
            format!("`dependsOn` forms a cycle: {}", cycle.join(" → ")),
            Some(
                "a workflow cannot depend, directly or not, on itself; remove one of the links"
                    .to_string(),
            ),
        ));
    }
    // Problems in other documents are reported once, at their first mention.
    let mut errors = c.errors;
    let mut seen = BTreeSet::new();
    errors.retain(|e| seen.insert((e.message.clone(), e.pointer.clone())));
    let mut source_names: Vec<String> = Vec::new();
    for d in &loaded.docs {
        for (n, _) in &d.sources {
            if !source_names.contains(n) {
                source_names.push(n.clone());
            }
        }
    }
    (
        Program {
            workflows,
            source_names,
        },
        errors,
    )
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
    /// Text the current step means literally even though it looks like a
    /// misspelt expression (`x-arazzo-literals` of the step and its workflow).
    literals: Vec<String>,
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
                ..Default::default()
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
            Some(s) => Some(inputs_schema(&d.doc.raw, s).map_err(|m| CompileError {
                code: "ref/inputs-schema",
                pointer: Some(format!("{wf_ptr}/inputs")),
                message: format!("workflow `{wid}` inputs: {m}"),
                help: None,
                ..Default::default()
            })?),
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
                self.errors.push(
                    error(
                        "id/duplicate-step",
                        format!("workflow `{wid}` has two steps with stepId `{s}`"),
                        Some("stepIds must be unique within a workflow".to_string()),
                    )
                    .at(&format!("{wf_ptr}/steps/{i}/stepId")),
                );
            }
        }
        let wf_params =
            self.parameter_list(doc, &wf.parameters, &format!("{wf_ptr}/parameters"), &here);
        let mut wf_located = Vec::new();
        let wf_success = self.actions(
            doc,
            wf,
            &wf.success_actions,
            true,
            &format!("{wf_ptr}/successActions"),
            &here,
            &mut wf_located,
        );
        let wf_failure = self.actions(
            doc,
            wf,
            &wf.failure_actions,
            false,
            &format!("{wf_ptr}/failureActions"),
            &here,
            &mut wf_located,
        );
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
        for (pointer, e) in &wf_located {
            if let Err(err) = refs.check(e, &here.to_string(), None) {
                self.errors.push(err.at(pointer).within(e.to_string()));
            }
        }
        let mut incomplete = false;
        for (index, step) in wf.steps.iter().enumerate() {
            let step_ptr = format!("{wf_ptr}/steps/{index}");
            let at = Place {
                workflow: wid,
                step: Some(&step.step_id),
                pointer: step_ptr.clone(),
            };
            self.literals = [wf_ptr.as_str(), step_ptr.as_str()]
                .iter()
                .filter_map(|p| d.doc.raw.pointer(&format!("{p}/x-arazzo-literals")))
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            let mut located = Vec::new();
            let compiled = self.step(
                doc,
                wf,
                step,
                &wf_params,
                &wf_success,
                &wf_failure,
                &at,
                &mut located,
            );
            for (pointer, e) in &located {
                if let Err(err) = refs.check(e, &at.to_string(), Some(index)) {
                    self.errors.push(err.at(pointer).within(e.to_string()));
                }
            }
            match compiled {
                Some(compiled) => {
                    if let StepTarget::Operation(call) = &compiled.target {
                        for p in call.parameters.iter().filter(|p| p.secret) {
                            for e in p.value.expressions() {
                                if let Expr::Inputs { name, .. } = e {
                                    secret_inputs.insert(name.clone());
                                }
                            }
                        }
                    }
                    steps.push(compiled);
                }
                _ => incomplete = true,
            }
        }

        let mut outputs = Vec::with_capacity(wf.outputs.len());
        for (name, v) in &wf.outputs {
            let out_ptr = format!("{wf_ptr}/outputs/{}", token(name));
            if !output_key_ok(name) {
                self.errors.push(
                    error(
                        "id/output-key",
                        format!(
                            "workflow `{wid}`: output name `{name}` must match ^[a-zA-Z0-9.-_]+$"
                        ),
                        Some("use letters, digits, `.`, `-` and `_` only".to_string()),
                    )
                    .at(&out_ptr),
                );
            }
            let compiled = match compile_output(v) {
                Ok(c) => c,
                Err(m) => {
                    self.errors.push(
                        syntax_error(
                            &format!("workflow `{wid}` output `{name}`"),
                            v.as_str().unwrap_or(""),
                            m,
                        )
                        .at(&out_ptr),
                    );
                    continue;
                }
            };
            for e in compiled.expressions() {
                if let Err(err) = refs.check(e, &format!("workflow `{wid}` output `{name}`"), None)
                {
                    self.errors.push(err.at(&out_ptr).within(e.to_string()));
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
            incomplete,
        })
    }

    /// Resolves a list of Parameter Objects and Reusable Objects. A broken item
    /// is reported at its place and left out; the others are still checked.
    fn parameter_list(
        &mut self,
        doc: usize,
        raw: &[Value],
        list_ptr: &str,
        at: &Place,
    ) -> Vec<ParamAt> {
        let mut out: Vec<ParamAt> = Vec::new();
        for (k, item) in raw.iter().enumerate() {
            let item_ptr = format!("{list_ptr}/{k}");
            let p = match self.parameter(doc, item, &item_ptr, at) {
                Ok(p) => p,
                Err(e) => {
                    self.errors.push(e.at(&item_ptr));
                    continue;
                }
            };
            if out.iter().any(|q| same_param(&q.param, &p.param)) {
                self.errors.push(
                    error(
                        "param/duplicate",
                        format!(
                            "{at}: parameter `{}`{} is given twice",
                            p.param.name,
                            p.param
                                .location
                                .as_deref()
                                .map(|l| format!(" (in {l})"))
                                .unwrap_or_default()
                        ),
                        Some(
                            "a parameter list must not hold duplicates (same name and `in`)"
                                .to_string(),
                        ),
                    )
                    .at(&p.name_ptr),
                );
                continue;
            }
            out.push(p);
        }
        out
    }

    fn parameter(
        &self,
        doc: usize,
        item: &Value,
        item_ptr: &str,
        at: &Place,
    ) -> Result<ParamAt, CompileError> {
        let (resolved, value_ptr, name_ptr) = match item.get("reference") {
            Some(r) => {
                let mut target = self
                    .component(doc, r, "parameters", at)
                    .map_err(|e| e.at(&format!("{item_ptr}/reference")))?;
                // A Reusable Object's `value` overrides the component's value.
                let value_ptr = match (item.get("value"), &mut target) {
                    (Some(v), Value::Object(m)) => {
                        m.insert("value".into(), v.clone());
                        format!("{item_ptr}/value")
                    }
                    _ => format!("{item_ptr}/reference"),
                };
                (target, value_ptr, format!("{item_ptr}/reference"))
            }
            None => (
                item.clone(),
                format!("{item_ptr}/value"),
                format!("{item_ptr}/name"),
            ),
        };
        let param = serde_json::from_value::<Parameter>(resolved).map_err(|e| {
            error(
                "param/invalid",
                format!("{at}: a parameter is malformed: {e}"),
                Some(
                    "a parameter has `name`, `in` (path, query, header or cookie) and `value`"
                        .to_string(),
                ),
            )
        })?;
        let in_ptr = if item.get("in").is_some() {
            format!("{item_ptr}/in")
        } else {
            name_ptr.clone()
        };
        Ok(ParamAt {
            param,
            value_ptr,
            name_ptr,
            in_ptr,
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

    /// Compiles an action list (inline objects and Reusable Objects). A broken
    /// action is reported at its place and left out; the others are still compiled.
    /// The expressions of their criteria go to `located`, with their places.
    #[allow(clippy::too_many_arguments)]
    fn actions(
        &mut self,
        doc: usize,
        wf: &Workflow,
        raw: &[Value],
        success: bool,
        list_ptr: &str,
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> Vec<Action> {
        let mut out: Vec<Action> = Vec::new();
        for (k, item) in raw.iter().enumerate() {
            let item_ptr = format!("{list_ptr}/{k}");
            match self.action(doc, wf, item, success, &item_ptr, &out, at, located) {
                Ok(a) => out.push(a),
                Err(e) => self.errors.push(e.at(&item_ptr)),
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn action(
        &mut self,
        doc: usize,
        wf: &Workflow,
        item: &Value,
        success: bool,
        item_ptr: &str,
        earlier: &[Action],
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> Result<Action, CompileError> {
        let kind = if success {
            "successActions"
        } else {
            "failureActions"
        };
        let what = if success { "onSuccess" } else { "onFailure" };
        // Inside a Reusable Object the fields are in the component.
        let (obj, base) = match item.get("reference") {
            Some(r) => {
                let obj = self
                    .component(doc, r, kind, at)
                    .map_err(|e| e.at(&format!("{item_ptr}/reference")))?;
                let name = r.as_str().and_then(|r| r.rsplit('.').next()).unwrap_or("");
                (obj, format!("/components/{kind}/{}", token(name)))
            }
            None => (item.clone(), item_ptr.to_string()),
        };
        let field = |f: &str| format!("{base}/{f}");
        let name = obj.get("name").and_then(Value::as_str).ok_or_else(|| {
            error(
                "action/invalid",
                format!("{at}: an action in `{what}` has no `name`"),
                None,
            )
        })?;
        if earlier.iter().any(|a| a.name == name) {
            return Err(error(
                "action/duplicate",
                format!("{at}: `{what}` holds two actions named `{name}`"),
                Some("an action list must not hold duplicates".to_string()),
            )
            .at(&field("name")));
        }
        let place = format!("{at}, action `{name}`");
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
        let step_id = obj.get("stepId").and_then(Value::as_str);
        let workflow_id = obj.get("workflowId").and_then(Value::as_str);
        if step_id.is_some() && workflow_id.is_some() {
            return Err(error(
                "action/invalid",
                format!("{place}: `stepId` and `workflowId` are mutually exclusive"),
                None,
            )
            .at(&field("workflowId")));
        }
        let jump = match (step_id, workflow_id) {
            (Some(s), None) => match wf.steps.iter().position(|x| x.step_id == s) {
                Some(i) => Some(Jump::Step(i)),
                None => {
                    return Err(error(
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
                    .at(&field("stepId")))
                }
            },
            (None, Some(w)) => Some(Jump::Workflow(
                self.resolve_workflow(doc, w, at)
                    .map_err(|e| e.at(&field("workflowId")))?,
            )),
            _ => None,
        };
        let action_kind = match (ty, success) {
            ("end", _) => ActionKind::End,
            ("goto", _) => match jump {
                Some(j) => ActionKind::Goto(j),
                None => {
                    return Err(error(
                        "action/invalid",
                        format!("{place}: a `goto` action needs a `stepId` or a `workflowId`"),
                        None,
                    )
                    .at(&field("type")))
                }
            },
            ("retry", false) => {
                let after = match obj.get("retryAfter") {
                    None => None,
                    Some(v) => match v.as_f64() {
                        Some(f) if (0.0..=1.0e7).contains(&f) => Some(f),
                        _ => {
                            return Err(error(
                                "action/invalid",
                                format!("{place}: `retryAfter` must be a non-negative number of seconds (at most 1e7)"),
                                None,
                            )
                            .at(&field("retryAfter")))
                        }
                    },
                };
                let limit = match obj.get("retryLimit") {
                    None => 1,
                    Some(v) => match v.as_u64() {
                        Some(n) => n.min(u32::MAX as u64) as u32,
                        None => {
                            return Err(error(
                                "action/invalid",
                                format!("{place}: `retryLimit` must be a non-negative integer"),
                                None,
                            )
                            .at(&field("retryLimit")))
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
                return Err(error(
                    "action/invalid",
                    format!("{place}: `type: {other}` is not an action type here"),
                    Some(format!("{what} actions are {allowed}")),
                )
                .at(&field("type")));
            }
        };
        let mut criteria = Vec::new();
        if let Some(list) = obj.get("criteria") {
            let list: Vec<Criterion> = serde_json::from_value(list.clone()).map_err(|e| {
                error(
                    "criteria/invalid",
                    format!("{place}: `criteria` is malformed: {e}"),
                    None,
                )
                .at(&field("criteria"))
            })?;
            for (i, c) in list.iter().enumerate() {
                let c_ptr = format!("{base}/criteria/{i}");
                let compiled = compile_criterion(&place, c, &c_ptr)?;
                locate_criterion(&compiled, &c_ptr, located);
                criteria.push(compiled);
            }
        }
        Ok(Action {
            name: name.to_string(),
            kind: action_kind,
            criteria,
        })
    }

    /// Compiles one step. Every independent check runs: a problem is reported at
    /// its place and only what depends on the broken part is skipped. `None` when
    /// the step could not be compiled whole (its problems are in `self.errors`).
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        doc: usize,
        wf: &Workflow,
        step: &Step,
        wf_params: &[ParamAt],
        wf_success: &[Action],
        wf_failure: &[Action],
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> Option<CompiledStep> {
        let ptr = |f: &str| format!("{}/{f}", at.pointer);
        let before = self.errors.len();
        // Mistakes the step is still checked past (as if fixed), reported last.
        let mut deferred: Vec<CompileError> = Vec::new();
        let targets = [
            ("operationId", step.operation_id.is_some()),
            ("operationPath", step.operation_path.is_some()),
            ("workflowId", step.workflow_id.is_some()),
        ];
        let given: Vec<&str> = targets.iter().filter(|t| t.1).map(|t| t.0).collect();
        if given.len() > 1 {
            self.errors.push(
                error(
                    "step/target",
                    format!("{at}: `operationId`, `operationPath` and `workflowId` are mutually exclusive"),
                    Some("give the step exactly one of them".to_string()),
                )
                .at(&ptr(given[1])),
            );
        }
        // Step parameters override workflow parameters with the same name and `in`.
        let own = self.parameter_list(doc, &step.parameters, &ptr("parameters"), at);
        let mut params: Vec<ParamAt> = wf_params
            .iter()
            .filter(|w| !own.iter().any(|o| same_param(&o.param, &w.param)))
            .cloned()
            .collect();
        params.extend(own);
        // Every value is compiled whatever happens to the operation.
        let values: Vec<Option<ValueExpr>> = params
            .iter()
            .map(|p| {
                let what = format!("{at}, parameter `{}`", p.param.name);
                self.value_at(&p.param.value, &p.value_ptr, &what, located)
            })
            .collect();
        let body = step
            .request_body
            .as_ref()
            .map(|rb| self.body_values(rb, at, located));

        let target = if let Some(w) = &step.workflow_id {
            if step.request_body.is_some() {
                self.errors.push(
                    error(
                        "step/invalid",
                        format!("{at}: a step that calls a workflow cannot have a `requestBody`"),
                        None,
                    )
                    .at(&ptr("requestBody")),
                );
            }
            match self.resolve_workflow(doc, w, at) {
                Ok(workflow) => {
                    let inputs = params
                        .iter()
                        .zip(values)
                        .filter_map(|(p, v)| Some((p.param.name.clone(), v?)))
                        .collect();
                    Some(StepTarget::Workflow { workflow, inputs })
                }
                Err(e) => {
                    self.errors.push(e.at(&ptr("workflowId")));
                    None
                }
            }
        } else {
            let target_ptr = if step.operation_path.is_some() && step.operation_id.is_none() {
                ptr("operationPath")
            } else {
                ptr("operationId")
            };
            // `api#/paths/…` (or the source's URL before the `#`) for
            // `{$sourceDescriptions.api.url}#/paths/…`: reported with its fix,
            // and the step checked as if it were written so.
            let fixed_path = step.operation_path.as_deref().and_then(|path| {
                let (e, fixed) = self.bare_operation_path(doc, path, at)?;
                deferred.push(e.at(&target_ptr));
                Some(fixed)
            });
            let fixed_step;
            let step = match fixed_path {
                Some(path) => {
                    fixed_step = Step {
                        operation_path: Some(path),
                        ..step.clone()
                    };
                    &fixed_step
                }
                None => step,
            };
            match self.resolve_operation(doc, step, at) {
                Ok((source, api, operation)) => self
                    .operation_call(
                        source,
                        api,
                        operation,
                        params,
                        values,
                        body,
                        at,
                        &target_ptr,
                    )
                    .map(|c| StepTarget::Operation(Box::new(c))),
                Err(e) => {
                    let e = if step.operation_id.is_none() && step.operation_path.is_none() {
                        e.at(&ptr("stepId"))
                    } else {
                        e.at(&target_ptr)
                    };
                    self.errors.push(e);
                    None
                }
            }
        };

        let mut success_criteria = Vec::new();
        for (i, c) in step.success_criteria.iter().enumerate() {
            let c_ptr = ptr(&format!("successCriteria/{i}"));
            match compile_criterion(&at.to_string(), c, &c_ptr) {
                Ok(compiled) => {
                    locate_criterion(&compiled, &c_ptr, located);
                    success_criteria.push(compiled);
                }
                Err(e) => self.errors.push(e.at(&c_ptr)),
            }
        }
        let mut on_success = self.actions(
            doc,
            wf,
            &step.on_success,
            true,
            &ptr("onSuccess"),
            at,
            located,
        );
        let mut on_failure = self.actions(
            doc,
            wf,
            &step.on_failure,
            false,
            &ptr("onFailure"),
            at,
            located,
        );
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
            let out_ptr = ptr(&format!("outputs/{}", token(name)));
            if !output_key_ok(name) {
                self.errors.push(
                    error(
                        "id/output-key",
                        format!("{at}: output name `{name}` must match ^[a-zA-Z0-9.-_]+$"),
                        Some("use letters, digits, `.`, `-` and `_` only".to_string()),
                    )
                    .at(&out_ptr),
                );
            }
            match compile_output(v) {
                Ok(compiled) => {
                    for e in compiled.expressions() {
                        located.push((out_ptr.clone(), e.clone()));
                    }
                    if let Some(e) = v
                        .as_str()
                        .and_then(|t| self.near_miss(t, &format!("{at}, output `{name}`")))
                    {
                        self.errors.push(e.at(&out_ptr));
                    }
                    outputs.push((name.clone(), compiled));
                }
                Err(m) => self.errors.push(
                    syntax_error(
                        &format!("{at}, output `{name}`"),
                        v.as_str().unwrap_or(""),
                        m,
                    )
                    .at(&out_ptr),
                ),
            }
        }
        let failed = self.errors.len() != before;
        // In the step's order: the target comes before what follows it.
        self.errors.splice(before..before, deferred);
        if failed {
            return None;
        }
        Some(CompiledStep {
            step_id: step.step_id.clone(),
            target: target?,
            success_criteria,
            on_success,
            on_failure,
            outputs,
        })
    }

    /// Compiles a value written in the document: every string inside it is
    /// compiled on its own, so a mistake is reported at the string that holds it
    /// and every expression is known with its place.
    fn value_at(
        &mut self,
        value: &Value,
        pointer: &str,
        what: &str,
        located: &mut Vec<(String, Expr)>,
    ) -> Option<ValueExpr> {
        let before = self.errors.len();
        let mut stack: Vec<(&Value, String)> = vec![(value, pointer.to_string())];
        while let Some((v, p)) = stack.pop() {
            match v {
                Value::String(s) => match ValueExpr::compile_str(s) {
                    Ok(c) => {
                        for e in c.expressions() {
                            located.push((p.clone(), e.clone()));
                        }
                        if let Some(e) = self.near_miss(s, what) {
                            self.errors.push(e.at(&p));
                        }
                    }
                    Err(e) => self
                        .errors
                        .push(syntax_error(what, s, e.to_string()).at(&p)),
                },
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push((item, format!("{p}/{i}")));
                    }
                }
                Value::Object(map) => {
                    for (k, item) in map.iter().rev() {
                        stack.push((item, format!("{p}/{}", token(k))));
                    }
                }
                _ => {}
            }
        }
        if self.errors.len() != before {
            return None;
        }
        match ValueExpr::compile(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors
                    .push(error("expr/syntax", format!("{what}: {e}"), None).at(pointer));
                None
            }
        }
    }

    /// Text that is nearly an expression (`$input.name`, `{$respons.body#/id}`)
    /// would be sent as it is: an error, unless the step or its workflow lists
    /// the text under `x-arazzo-literals` (text meant literally).
    fn near_miss(&self, text: &str, what: &str) -> Option<CompileError> {
        if !text.contains('$') || self.literals.iter().any(|l| l == text) {
            return None;
        }
        let whole = text
            .starts_with('$')
            .then(|| near_expression(text))
            .flatten();
        let (written, meant) = match whole {
            Some(meant) => (text.to_string(), meant),
            None => text.match_indices("{$").find_map(|(i, _)| {
                let inner = &text[i + 1..];
                let inner = &inner[..inner.find('}')?];
                Some((inner.to_string(), near_expression(inner)?))
            })?,
        };
        Some(
            error(
                "expr/near-miss",
                format!("{what}: `{written}` is not a runtime expression, so it would be sent as this text"),
                Some(format!(
                    "did you mean `{meant}`? (text meant literally goes in the step's `x-arazzo-literals` list)"
                )),
            )
            .within(written),
        )
    }

    /// The payload and replacements of a request body, compiled with their places.
    fn body_values(
        &mut self,
        rb: &crate::document::RequestBody,
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> BodyValues {
        let base = format!("{}/requestBody", at.pointer);
        let payload = rb.payload.as_ref().map(|p| {
            self.value_at(
                p,
                &format!("{base}/payload"),
                &format!("{at}, requestBody payload"),
                located,
            )
        });
        let replacements = rb
            .replacements
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let r_ptr = format!("{base}/replacements/{i}");
                let what = format!("{at}, replacement `{}`", r.target);
                (
                    r.target.clone(),
                    r_ptr.clone(),
                    self.value_at(&r.value, &format!("{r_ptr}/value"), &what, located),
                )
            })
            .collect();
        BodyValues {
            content_type: rb.content_type.clone(),
            payload,
            replacements,
        }
    }

    /// Checks the step's parameters and body against the operation it calls.
    #[allow(clippy::too_many_arguments)]
    fn operation_call(
        &mut self,
        source: String,
        api: Arc<OpenApi>,
        operation: Operation,
        params: Vec<ParamAt>,
        values: Vec<Option<ValueExpr>>,
        body: Option<BodyValues>,
        at: &Place,
        target_ptr: &str,
    ) -> Option<OperationCall> {
        let before = self.errors.len();
        let secret_params = match api.secret_params() {
            Ok(s) => s,
            Err(e) => {
                self.errors.push(
                    error(
                        "openapi/invalid",
                        format!("{at}: {e}"),
                        Some("fix or restore the security scheme: arazzo must know which parameters carry credentials to keep them out of every output".to_string()),
                    )
                    .at(target_ptr),
                );
                Vec::new()
            }
        };
        let mut parameters: Vec<CompiledParam> = Vec::new();
        // Path parameters the step gives, whether or not their value compiles.
        // One given with another `in` is reported as that (`param/wrong-in`).
        let given_path: Vec<String> = params
            .iter()
            .filter(|p| {
                p.param.location.as_deref() == Some("path")
                    || operation.param(&p.param.name, ParamIn::Path).is_some()
            })
            .map(|p| p.param.name.clone())
            .collect();
        for (p, value) in params.into_iter().zip(values) {
            let ParamAt {
                param: p,
                name_ptr,
                in_ptr,
                ..
            } = p;
            let Some(loc_text) = p.location.as_deref() else {
                self.errors.push(
                    error(
                        "param/missing-in",
                        format!("{at}: parameter `{}` has no `in`", p.name),
                        Some("parameters of an operation step need `in: path`, `query`, `header` or `cookie`".to_string()),
                    )
                    .at(&name_ptr),
                );
                continue;
            };
            let Some(location) = ParamIn::parse(loc_text) else {
                self.errors.push(
                    error(
                        "param/invalid-in",
                        format!("{at}: parameter `{}` has `in: {loc_text}`", p.name),
                        Some("`in` is one of path, query, header, cookie".to_string()),
                    )
                    .at(&in_ptr),
                );
                continue;
            };
            let spec = operation.param(&p.name, location).cloned();
            if spec.is_none() {
                if let Some(other) = operation.parameters.iter().find(|s| s.name == p.name) {
                    self.errors.push(
                        error(
                            "param/wrong-in",
                            format!(
                                "{at}: parameter `{}` is given `in: {loc_text}`, but the operation declares it `in: {}`",
                                p.name,
                                other.location.as_str()
                            ),
                            Some(format!("write `in: {}`", other.location.as_str())),
                        )
                        .at(&in_ptr),
                    );
                    continue;
                }
            }
            if location == ParamIn::Path && spec.is_none() {
                self.errors.push(
                    error(
                        "param/unknown-path-param",
                        format!(
                            "{at}: path parameter `{}` is not in the path `{}` of operation `{}`",
                            p.name,
                            operation.path,
                            operation.operation_id.as_deref().unwrap_or("?")
                        ),
                        Some(
                            match suggest(
                                &p.name,
                                operation
                                    .parameters
                                    .iter()
                                    .filter(|s| s.location == ParamIn::Path)
                                    .map(|s| s.name.as_str()),
                            ) {
                                Some(s) => s,
                                None => format!(
                                    "the operation's path parameters are: {}",
                                    names_in(&operation, ParamIn::Path)
                                ),
                            },
                        ),
                    )
                    .at(&name_ptr),
                );
                continue;
            }
            let Some(value) = value else { continue };
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
        let step_ptr = at.pointer.as_str();
        for spec in operation
            .parameters
            .iter()
            .filter(|s| s.location == ParamIn::Path)
        {
            if !given_path.contains(&spec.name) {
                self.errors.push(
                    error(
                        "param/missing-path-param",
                        format!(
                            "{at}: the required path parameter `{}` of `{} {}` is not given",
                            spec.name, operation.method, operation.path
                        ),
                        Some(format!(
                            "add `- name: {}\n  in: path\n  value: …` to the step's parameters",
                            spec.name
                        )),
                    )
                    .at(target_ptr),
                );
            }
        }
        let body = match body {
            None => None,
            Some(b) => {
                let content_type = b
                    .content_type
                    .clone()
                    .or_else(|| {
                        operation
                            .request_media_types()
                            .first()
                            .map(|s| s.to_string())
                    })
                    .unwrap_or_else(|| "application/json".to_string());
                let xml = content_type.to_ascii_lowercase().contains("xml");
                let mut replacements = Vec::new();
                let mut xml_replacements = Vec::new();
                for (target, r_ptr, value) in b.replacements {
                    // For an XML body the target is an XPath expression.
                    let checked = if xml {
                        crate::criteria::check_xpath(&target).map(|_| None).map_err(|m| (m, "replacement targets of an XML body are XPath expressions such as `/pet/name` or `/pet/@id`"))
                    } else {
                        Pointer::parse(&target).map(Some).map_err(|m| {
                            (m, "replacement targets are JSON Pointers such as `/pet/id`")
                        })
                    };
                    match checked {
                        Err((m, help)) => self.errors.push(
                            error(
                                "body/replacement-target",
                                format!("{at}, replacement target: {m}"),
                                Some(help.to_string()),
                            )
                            .at(&format!("{r_ptr}/target")),
                        ),
                        Ok(pointer) => {
                            let Some(value) = value else { continue };
                            match pointer {
                                Some(p) => replacements.push((p, value)),
                                None => xml_replacements.push((target, value)),
                            }
                        }
                    }
                }
                match b.payload {
                    Some(None) => None,
                    payload => Some(CompiledBody {
                        content_type,
                        payload: payload.flatten(),
                        replacements,
                        xml_replacements,
                    }),
                }
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
        let mut unreadable = Vec::new();
        for (what, schema) in schemas {
            if let Some(reason) = crate::schema::unreadable_ref(&api, schema) {
                unreadable.push(
                    error(
                        "source/unreadable-ref",
                        format!(
                            "{at}: the {what} schema of `{} {}` cannot be read: {reason}",
                            operation.method, operation.path
                        ),
                        Some("restore what the `$ref` names, or bundle the description into one file".to_string()),
                    )
                    .at(target_ptr),
                );
            }
        }
        self.errors.extend(unreadable);
        let _ = step_ptr;
        if self.errors.len() != before {
            return None;
        }
        Some(OperationCall {
            source,
            api,
            operation: Arc::new(operation),
            parameters,
            body,
            checkers: Default::default(),
        })
    }

    /// An operationPath whose part before `#` names a source by its name or its
    /// URL instead of `{$sourceDescriptions.<name>.url}`: the error, with its
    /// fix, and the path as it should be written.
    fn bare_operation_path(
        &self,
        doc: usize,
        path: &str,
        at: &Place,
    ) -> Option<(CompileError, String)> {
        let (head, fragment) = path.split_once('#')?;
        if head.starts_with("{$") {
            return None;
        }
        let d = &self.loaded.docs[doc].doc.doc;
        let source = d
            .source_descriptions
            .iter()
            .find(|s| s.name == head)
            .or_else(|| {
                d.source_descriptions
                    .iter()
                    .find(|s| !head.is_empty() && s.url == head)
            })
            .or_else(|| {
                // No head at all: the only OpenAPI source is meant.
                let mut openapi = self.openapi_sources(doc).into_iter();
                let only = openapi
                    .next()
                    .filter(|_| head.is_empty() && openapi.next().is_none())?;
                d.source_descriptions.iter().find(|s| s.name == only.0)
            })?;
        let with = format!("{{$sourceDescriptions.{}.url}}", source.name);
        let fixed = format!("{with}#{fragment}");
        let mut e = error(
            "ref/operation-path",
            format!(
                "{at}: operationPath `{path}` must start with `{{$sourceDescriptions.<name>.url}}`"
            ),
            Some(format!(
                "write `operationPath: '{fixed}'` (`arazzo validate --fix` does it)"
            )),
        );
        e.fix = Some(Box::new((format!("{head}#"), format!("{with}#"))));
        Some((e, fixed))
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
            ..Default::default()
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
                shared_operation_id(api, name, op_id, at)?;
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
                [(name, api)] => {
                    shared_operation_id(api, name, id, at)?;
                    match api.operation(id).map_err(wrap)? {
                        Some(op) => Ok((name.to_string(), Arc::clone(api), op)),
                        None => fail(
                            "ref/unknown-operation",
                            format!(
                                "{at}: operation `{id}` is not in source `{name}` (`{}`)",
                                display_url(&api.url)
                            ),
                            suggest(id, api.operation_ids()),
                        ),
                    }
                }
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

/// An operationId that several operations of the description share names none
/// of them for sure: which one the step means must be said by its path.
fn shared_operation_id(
    api: &OpenApi,
    source: &str,
    id: &str,
    at: &Place,
) -> Result<(), CompileError> {
    let Some(ops) = api.operations_sharing(id) else {
        return Ok(());
    };
    let list: Vec<String> = ops
        .iter()
        .map(|(path, method)| format!("{} {path}", method.to_ascii_uppercase()))
        .collect();
    let (path, method) = &ops[0];
    let escaped = path.replace('~', "~0").replace('/', "~1");
    fail(
        "ref/duplicate-operation-id",
        format!(
            "{at}: operationId `{id}` names {} operations of source `{source}`: {}",
            ops.len(),
            list.join(", ")
        ),
        Some(format!(
            "give each operation its own operationId in the description, or name the operation by its path, e.g. `operationPath: '{{$sourceDescriptions.{source}.url}}#/paths/{escaped}/{method}'`"
        )),
    )
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
        ..Default::default()
    })?;
    match pointer.tokens() {
        [paths, template, method] if paths == "paths" => {
            let op = api.operation_at(template, method).map_err(|e| CompileError {
                code: "ref/operation-path",
                pointer: None,
                message: format!("{at}: operationPath `{path}`: {e}"),
                help: None, ..Default::default()
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
            Expr::Inputs { name, pointer } => {
                if let Some(decl) = self.declared_inputs {
                    if let Some(e) = dot_access(e, name, pointer.as_ref(), |n| decl.contains(n)) {
                        return Err(e.message_at(place));
                    }
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
            Expr::Steps {
                step,
                output,
                pointer,
            } => {
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
                if let Some(e) = dot_access(e, output, pointer.as_ref(), |n| {
                    outs.is_some_and(|o| o.contains(n))
                }) {
                    return Err(e.message_at(place));
                }
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

/// `$steps.s.outputs.a.b` where `a` is declared and `a.b` is not: a dot used to
/// reach into the value of `a`, which the spec writes `$steps.s.outputs.a#/b`.
/// `declared` says whether a name exists. The error carries the rewrite.
fn dot_access(
    e: &Expr,
    name: &str,
    pointer: Option<&Pointer>,
    declared: impl Fn(&str) -> bool,
) -> Option<CompileError> {
    if declared(name) || !name.contains('.') {
        return None;
    }
    // The longest declared name the written one starts with.
    let split = name
        .match_indices('.')
        .map(|(i, _)| i)
        .rev()
        .find(|&i| declared(&name[..i]))?;
    let (head, rest) = (&name[..split], &name[split + 1..]);
    let mut tail: String = rest.split('.').map(|t| format!("/{}", token(t))).collect();
    if let Some(p) = pointer {
        tail.push_str(p.as_str());
    }
    let written = e.to_string();
    let prefix_len = written.len() - name.len() - pointer.map_or(0, |p| p.as_str().len() + 1);
    let fixed = format!("{}{head}#{tail}", &written[..prefix_len]);
    let mut err = error(
        "expr/dot-access",
        format!("`{written}` reads `{head}` with a dot: a dot after a name is part of the name, and there is no `{name}`"),
        Some(format!("write `{fixed}` (a JSON Pointer after `#` selects inside the value; `arazzo validate --fix` does it)")),
    );
    err.needle = Some(written.clone());
    err.fix = Some(Box::new((written, fixed)));
    Some(err)
}

/// `$response.body.a.b` (or `$request.body…`, also `{…}` inside text): dots
/// where the spec writes a JSON Pointer, `$response.body#/a/b`. The text
/// written and its rewrite, when the rewrite is an expression.
fn body_dot_access(text: &str) -> Option<(String, String)> {
    let start = ["$response.body.", "$request.body."]
        .iter()
        .filter_map(|p| text.find(p).map(|i| (i, p.len())))
        .min()?;
    let (at, prefix_len) = start;
    let rest = &text[at + prefix_len..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']')))
        .unwrap_or(rest.len());
    let path = rest[..end].trim_end_matches('.');
    if path.is_empty() || rest[end..].starts_with('#') {
        return None;
    }
    let mut pointer = String::new();
    for segment in path.split('.') {
        let (name, indexes) = segment.split_once('[').unwrap_or((segment, ""));
        if name.is_empty() && indexes.is_empty() {
            return None;
        }
        if !name.is_empty() {
            pointer.push('/');
            pointer.push_str(&token(name));
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            let n = index.strip_suffix(']')?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            pointer.push('/');
            pointer.push_str(n);
        }
    }
    let written = text[at..at + prefix_len + path.len()].to_string();
    let body = &written[..prefix_len - 1];
    let fixed = format!("{body}#{pointer}");
    crate::expr::parse_expression(&fixed).ok()?;
    Some((written, fixed))
}

/// An expression error, turned into the dot-access error with its fix when
/// the text is that mechanical mistake.
fn syntax_error(what: &str, text: &str, message: String) -> CompileError {
    match body_dot_access(text) {
        Some((written, fixed)) => {
            let mut e = error(
                "expr/dot-access",
                format!("{what}: `{written}` reaches into the body with dots; the spec writes a JSON Pointer after `#`"),
                Some(format!("write `{fixed}` (`arazzo validate --fix` does it)")),
            );
            e.needle = Some(written.clone());
            e.fix = Some(Box::new((written, fixed)));
            e
        }
        None => error("expr/syntax", format!("{what}: {message}"), None),
    }
}

impl CompileError {
    /// Prefixes the message with the place it is about.
    fn message_at(mut self, place: &str) -> CompileError {
        self.message = format!("{place}: {}", self.message);
        self
    }
}

fn compile_criterion(
    place: &str,
    c: &Criterion,
    c_ptr: &str,
) -> Result<CompiledCriterion, CompileError> {
    let condition_ptr = format!("{c_ptr}/condition");
    let kind = match (&c.kind, &c.version) {
        (None, _) => None,
        (Some(Value::String(s)), _) if s == "simple" => None,
        (Some(Value::String(s)), Some(v)) => Some(serde_json::json!({"type": s, "version": v})),
        (Some(k), _) => Some(k.clone()),
    };
    let Some(kind) = kind else {
        let cond = Condition::parse(&c.condition).map_err(|e| {
            error(
                if e.too_deep {
                    "expr/too-deep"
                } else {
                    "criteria/syntax"
                },
                format!(
                    "{place}: the condition `{}` is invalid: {}",
                    shorten(&c.condition),
                    e.message
                ),
                Some(if e.too_deep {
                    too_deep_help()
                } else {
                    match near_expressions_in(&c.condition).first() {
                        Some((_, meant)) => format!("did you mean `{meant}`?"),
                        None => "conditions look like `$statusCode == 201 && $response.body#/id != null`".into(),
                    }
                }),
            )
            .at(&condition_ptr)
        })
        .map_err(|e| match near_expressions_in(&c.condition).into_iter().next() {
            Some((written, _)) => e.within(written),
            None => e,
        })?;
        return Ok(CompiledCriterion {
            text: c.condition.clone(),
            check: CriterionCheck::Simple(cond),
        });
    };
    if let Some(m) = crate::criteria::too_deep(&kind, &c.condition) {
        return Err(error(
            "expr/too-deep",
            format!("{place}: criterion `{}`: {m}", shorten(&c.condition)),
            Some(too_deep_help()),
        )
        .at(&condition_ptr));
    }
    let check = crate::criteria::Check::compile(&kind, &c.condition).map_err(|m| {
        error(
            "criteria/invalid",
            format!("{place}: criterion `{}`: {m}", shorten(&c.condition)),
            None,
        )
        .at(&condition_ptr)
    })?;
    let Some(context) = &c.context else {
        return Err(error(
            "criteria/missing-context",
            format!("{place}: a `{}` criterion needs a `context`", check.type_name()),
            Some("add e.g. `context: $response.body` (the spec requires a context whenever `type` is given)".into()),
        )
        .at(&format!("{c_ptr}/type")));
    };
    let context = ValueExpr::compile_str(context).map_err(|e| {
        error(
            "expr/syntax",
            format!("{place}: criterion context: {e}"),
            None,
        )
        .at(&format!("{c_ptr}/context"))
    })?;
    Ok(CompiledCriterion {
        text: c.condition.clone(),
        check: CriterionCheck::Typed { context, check },
    })
}

/// The expressions of a compiled criterion, with the place each is written.
fn locate_criterion(c: &CompiledCriterion, c_ptr: &str, located: &mut Vec<(String, Expr)>) {
    let at = match &c.check {
        CriterionCheck::Simple(_) => format!("{c_ptr}/condition"),
        CriterionCheck::Typed { .. } => format!("{c_ptr}/context"),
    };
    for e in c.expressions() {
        located.push((at.clone(), e.clone()));
    }
}

/// A parameter with the places of its parts, for diagnostics.
#[derive(Debug, Clone)]
struct ParamAt {
    param: Parameter,
    value_ptr: String,
    name_ptr: String,
    in_ptr: String,
}

/// A request body's values, compiled before the operation is known.
struct BodyValues {
    content_type: Option<String>,
    /// `Some(None)`: a payload that does not compile (already reported).
    payload: Option<Option<ValueExpr>>,
    /// (target, pointer of the replacement, value)
    replacements: Vec<(String, String, Option<ValueExpr>)>,
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

/// A workflow's `inputs` schema with its `$ref`s into `doc` inlined and its
/// `allOf` properties lifted to the root, so its input names are in one place.
/// Needs only the Arazzo document's tree (shell completion reads no sources).
pub(crate) fn inputs_schema(doc: &Value, inputs: &Value) -> Result<Value, String> {
    let mut schema = inline_refs(doc, inputs, 0, &mut 0)?;
    lift_all_of(&mut schema, 0);
    Ok(schema)
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
