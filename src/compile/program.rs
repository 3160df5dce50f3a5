//! What compiling makes: a [`Program`] of workflows whose steps hold resolved
//! operations, parsed expressions and criteria, and actions with their jumps as
//! indexes. The engine runs it without reading the documents again.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use crate::expr::{Condition, Expr, Target, ValueExpr};
use crate::openapi::{OpenApi, Operation, ParamIn, ParamSpec};

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
    /// JSON Pointer and JSONPath targets (JSON and other structured bodies).
    pub replacements: Vec<(Target, ValueExpr)>,
    /// XPath targets, for an XML body (its payload is XML text).
    pub xml_replacements: Vec<(Target, ValueExpr)>,
}

#[derive(Debug, Clone)]
pub enum CriterionCheck {
    Simple(Condition),
    /// `regex`, `jsonpath` or `xpath`, applied to the value of `context`.
    Typed {
        context: ValueExpr,
        check: crate::expr::criteria::Check,
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
    /// The credentials the request may carry.
    pub security: CallSecurity,
}

/// What a call's credentials come from: the operation's security
/// requirements (satisfied from the credentials the user supplies) and the
/// `x-security` entries of its workflow and step (see `compile/security.rs`).
#[derive(Debug, Clone, Default)]
pub struct CallSecurity {
    /// The alternatives of the operation's `security` (else the
    /// description's), in order: the first whose credentials are all there
    /// is used. Empty: the operation requires none.
    pub alternatives: Vec<Vec<Requirement>>,
    /// `x-security` entries, the workflow's then the step's: a later entry
    /// wins over an earlier one that sets the same header, query or cookie.
    pub explicit: Vec<ExplicitScheme>,
}

/// One scheme of a security requirement.
#[derive(Debug, Clone)]
pub struct Requirement {
    /// The scheme's name in `components.securitySchemes`.
    pub name: String,
    /// `None` when the description does not define (or cannot read) it.
    pub scheme: Option<Arc<crate::openapi::security::Scheme>>,
    /// The OAuth 2.0 scopes the requirement lists.
    pub scopes: Vec<String>,
}

/// One `x-security` entry: a scheme (named in the description, or written
/// inline) and the credential fields it gives, values possibly expressions.
#[derive(Debug, Clone)]
pub struct ExplicitScheme {
    /// The description's name for the scheme (`schemeName`); `None` inline.
    pub name: Option<String>,
    pub scheme: Arc<crate::openapi::security::Scheme>,
    /// Credential fields (`token`, `clientSecret`, …) and their values.
    pub values: Vec<(String, ValueExpr)>,
    /// Where the entry is written (JSON Pointer), for messages.
    pub pointer: String,
}

/// A message step (Arazzo 1.1): a message sent on, or awaited from, a channel of
/// an AsyncAPI description.
#[derive(Debug, Clone)]
pub struct MessageCall {
    pub source: String,
    pub api: Arc<crate::asyncapi::AsyncApi>,
    /// The operation or channel the step names, resolved.
    pub op: Arc<crate::asyncapi::MessageOp>,
    pub action: MessageAction,
    /// `in: path` parameters: the values of the channel address's `{placeholders}`.
    pub address_params: Vec<(String, ValueExpr)>,
    /// `in: header` parameters: the headers of a sent message.
    pub headers: Vec<CompiledParam>,
    /// The payload of a sent message (`requestBody`).
    pub body: Option<CompiledBody>,
    /// `receive`: the correlation id awaited (the step's `correlationId`).
    pub correlation_id: Option<ValueExpr>,
    /// `receive`: where the messages the channel may carry hold their correlation
    /// id (a message matches when any of these gives the awaited value).
    pub correlations: Vec<crate::asyncapi::Correlation>,
    /// `send`: the payload schemas of the messages the operation may carry, one
    /// of which the payload must match (checked at preflight).
    pub payload_checks: Arc<Vec<PayloadCheck>>,
}

/// The direction of a message step, from the workflow's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAction {
    Send,
    Receive,
}

impl MessageAction {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageAction::Send => "send",
            MessageAction::Receive => "receive",
        }
    }
}

/// A message's payload schema, compiled.
#[derive(Clone)]
pub struct PayloadCheck {
    /// The message's name in the description.
    pub message: String,
    pub validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for PayloadCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadCheck")
            .field("message", &self.message)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub enum StepTarget {
    Operation(Box<OperationCall>),
    /// Arazzo 1.1: send or receive a message (an AsyncAPI operation or channel).
    Message(Box<MessageCall>),
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
    /// 1.1 `parameters`: the inputs passed to the workflow the action goes
    /// to (over those it takes from the current workflow's inputs).
    pub inputs: Vec<(String, ValueExpr)>,
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
    /// 1.1 `timeout`: the longest the step may run, retries and all.
    pub timeout: Option<std::time::Duration>,
    /// 1.1: what must complete before the step starts (in a workflow that
    /// runs as a graph; see [`CompiledWorkflow::parallel`]).
    pub deps: super::StepDeps,
    /// Outputs that a later step sends as an `x-security` credential (a token from a login
    /// step): secrets from the moment the response arrives, before anything
    /// about it is logged.
    pub secret_outputs: Vec<String>,
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
            StepTarget::Message(m) => {
                for (_, v) in &m.address_params {
                    exprs.extend(v.expressions());
                }
                for p in &m.headers {
                    exprs.extend(p.value.expressions());
                }
                if let Some(b) = &m.body {
                    if let Some(p) = &b.payload {
                        exprs.extend(p.expressions());
                    }
                    for (_, v) in b.replacements.iter().chain(&b.xml_replacements) {
                        exprs.extend(v.expressions());
                    }
                }
                if let Some(c) = &m.correlation_id {
                    exprs.extend(c.expressions());
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
            for (_, v) in &a.inputs {
                exprs.extend(v.expressions());
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
            StepTarget::Message(m) => (
                m.action.as_str().to_ascii_uppercase(),
                m.op.channel.address.clone().unwrap_or_default(),
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CompiledWorkflow {
    pub workflow_id: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// Index into [`Loaded::docs`](crate::document::Loaded::docs) of the document that defines the workflow.
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
    /// 1.1: some step declares `dependsOn`, so the steps run as a graph
    /// (each when its prerequisites completed, independent ones at once)
    /// rather than in list order.
    pub parallel: bool,
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
    /// The value of `$self` in each loaded document (by
    /// [`CompiledWorkflow::doc`]).
    pub doc_self: Vec<String>,
}

impl Program {
    pub fn entry(&self) -> &CompiledWorkflow {
        &self.workflows[0]
    }
}
