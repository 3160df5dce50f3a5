//! Every check of a document without sending anything, as `arazzo validate`
//! runs them.
//! [`pipeline`] runs them in order on one file (syntax, the Arazzo JSON Schema in
//! [`arazzo_schema`], the sources, the compile checks, payloads, [`lint`]s);
//! [`diagnostics`] are what they find, placed in the text; [`fix`] applies
//! the certain fixes; [`ci_formats`] writes them for CI.

pub mod arazzo_schema;
pub mod ci_formats;
pub mod diagnostics;
pub mod fix;
pub mod lint;
pub mod pipeline;
