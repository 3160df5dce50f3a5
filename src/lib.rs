//! `arazzo`: load an Arazzo 1.0 or 1.1 document and the OpenAPI descriptions it names,
//! compile a workflow, and run it step by step against real HTTP servers.
//!
//! The pipeline is read → document → compile → plan/engine → report: [`read`] reads
//! any document within its limits, [`document`] loads an Arazzo document with its
//! sources, [`openapi`] indexes OpenAPI descriptions, [`expr`] parses runtime
//! expressions and conditions, [`compile`] resolves everything a workflow needs,
//! [`plan`] checks requests before anything is sent, [`engine`] runs the workflow,
//! [`report`] shows what happened and [`redact`] keeps secrets out of every output.
//! [`commands`] holds one file per subcommand. `docs/ARCHITECTURE.md` is the map.

pub mod asyncapi;
pub mod auth;
pub mod batch;
pub mod broker;
pub mod check;
pub mod cli;
pub mod commands;
pub mod compile;
pub mod document;
pub mod engine;
pub mod expr;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod openapi;
pub mod plan;
pub mod read;
pub mod redact;
pub mod report;
pub mod schema;
pub mod serve;
