//! The Arazzo 1.0.1 and 1.1 object model, as written by authors. Values that may hold
//! runtime expressions stay `serde_json::Value` here; `compile` turns them into
//! evaluable trees.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub arazzo: String,
    /// 1.1: the document's own URI, the base for its relative references.
    #[serde(default, rename = "$self")]
    pub self_uri: Option<String>,
    pub info: Info,
    pub source_descriptions: Vec<SourceDescription>,
    pub workflows: Vec<Workflow>,
    #[serde(default)]
    pub components: Option<Components>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub title: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub version: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceDescription {
    pub name: String,
    pub url: String,
    #[serde(default, rename = "type")]
    pub kind: Option<SourceKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Openapi,
    Arazzo,
    /// 1.1: an AsyncAPI description (message steps are not run yet).
    Asyncapi,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    pub workflow_id: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub inputs: Option<Value>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    pub steps: Vec<Step>,
    #[serde(default)]
    pub success_actions: Vec<Value>,
    #[serde(default)]
    pub failure_actions: Vec<Value>,
    #[serde(default)]
    pub outputs: Map<String, Value>,
    #[serde(default)]
    pub parameters: Vec<Value>,
    /// Redocly's `x-security`: credentials applied to every operation step.
    #[serde(default, rename = "x-security")]
    pub x_security: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub step_id: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub operation_id: Option<String>,
    #[serde(default)]
    pub operation_path: Option<String>,
    #[serde(default)]
    pub workflow_id: Option<String>,
    /// 1.1: an AsyncAPI channel (message steps).
    #[serde(default)]
    pub channel_path: Option<String>,
    #[serde(default)]
    pub parameters: Vec<Value>,
    #[serde(default)]
    pub request_body: Option<RequestBody>,
    #[serde(default)]
    pub success_criteria: Vec<Criterion>,
    #[serde(default)]
    pub on_success: Vec<Value>,
    #[serde(default)]
    pub on_failure: Vec<Value>,
    #[serde(default)]
    pub outputs: Map<String, Value>,
    /// 1.1: the longest the step may run, in milliseconds, retries and all.
    #[serde(default)]
    pub timeout: Option<u64>,
    /// 1.1: steps that must complete before this one starts.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// 1.1: `send` or `receive` (message steps).
    #[serde(default)]
    pub action: Option<String>,
    /// 1.1: the correlation id a `receive` waits for (message steps).
    #[serde(default)]
    pub correlation_id: Option<Value>,
    /// Redocly's `x-security`: credentials applied to this step's request.
    #[serde(default, rename = "x-security")]
    pub x_security: Option<Value>,
}

/// A Parameter Object. Reusable Objects (`reference`) are kept apart by the
/// compiler, which reads the raw value first.
#[derive(Debug, Clone, Deserialize)]
pub struct Parameter {
    pub name: String,
    #[serde(default, rename = "in")]
    pub location: Option<String>,
    pub value: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestBody {
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(default)]
    pub replacements: Vec<Replacement>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replacement {
    pub target: String,
    /// 1.1: how `target` is read (`jsonpointer`, `jsonpath`, `xpath`, or an
    /// Expression Type Object); absent, it follows the payload's media type.
    #[serde(default)]
    pub target_selector_type: Option<Value>,
    pub value: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Criterion {
    #[serde(default)]
    pub context: Option<String>,
    pub condition: String,
    #[serde(default, rename = "type")]
    pub kind: Option<Value>,
    /// The flat form of a Criterion Expression Type's version, next to `type`
    /// (accepted because the 1.0 JSON Schema models it that way).
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Components {
    #[serde(default)]
    pub inputs: Map<String, Value>,
    #[serde(default)]
    pub parameters: Map<String, Value>,
    #[serde(default)]
    pub success_actions: Map<String, Value>,
    #[serde(default)]
    pub failure_actions: Map<String, Value>,
}
