//! The run report: plain data that every output (human, JSON) only reads.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Succeeded,
    Failed,
    /// A run stopped by SIGINT or SIGTERM (runs only).
    Interrupted,
    /// A step whose request was in flight when the run was interrupted: the
    /// server may or may not have acted on it (steps only).
    Uncertain,
}

/// What kind of problem ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// A successCriteria condition did not hold.
    Criteria,
    /// The request could not be sent or no response came (connection refused,
    /// reset, timeout, TLS).
    Transport,
    /// The request could not be built from the values at hand.
    Request,
    /// The response could not be read (too large, cut off).
    Response,
    /// A workflow the step called failed.
    Workflow,
    /// A workflow listed in `dependsOn` failed.
    Dependency,
    /// The run used up its step budget (`--max-steps`).
    Budget,
    /// The run reached `--max-duration`.
    Timeout,
    /// A batch line's inputs were unusable, or a workflow started by another
    /// (`dependsOn`, goto, retry) got inputs its schema refuses.
    Inputs,
    /// Preflight found a batch line's requests invalid (nothing was sent).
    Preflight,
    /// The run was stopped by SIGINT or SIGTERM.
    Interrupted,
    /// A batch line could not be continued from its journaled report.
    Resume,
    /// Credentials could not be had: a token endpoint refused them or could
    /// not be reached, or an `x-security` entry lacks a field.
    Auth,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunError {
    pub step_id: Option<String>,
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    pub step_id: String,
    /// The workflow the step belongs to, for steps of called workflows and
    /// dependencies (absent for the workflow that was run).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    pub workflow_id: Option<String>,
    pub status: Status,
    pub status_code: Option<u16>,
    pub attempts: u32,
    pub outputs: Map<String, Value>,
    pub duration_ms: u64,
    /// The operation called, e.g. `POST /api/v3/mcp/servers`.
    pub method: String,
    pub url: String,
    /// Carried over from the report a resumed run continued (nothing was sent
    /// for it in this run).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[serde(default)]
    pub resumed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub workflow_id: String,
    pub status: Status,
    pub outputs: Map<String, Value>,
    pub steps: Vec<StepReport>,
    pub error: Option<RunError>,
    pub duration_ms: u64,
    /// The inputs of the run, secret ones left out (so that `--resume` can
    /// continue the run; secrets are supplied again).
    #[serde(default)]
    pub inputs: Map<String, Value>,
    /// The names of the inputs left out of `inputs` because they are secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_inputs: Vec<String>,
    /// Workflows other than the entry one that finished (called or `dependsOn`
    /// workflows), with their outputs, for `$workflows.<id>.outputs` on resume.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub workflows: Map<String, Value>,
}

impl RunReport {
    pub fn succeeded(&self) -> bool {
        self.status == Status::Succeeded
    }

    pub fn interrupted(&self) -> bool {
        self.status == Status::Interrupted
    }
}
