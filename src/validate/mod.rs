//! Building blocks of `arazzo validate`: what the Arazzo JSON Schema says
//! about a document ([`schema`]), certain fixes ([`fix`]) and the CI output
//! formats ([`ci_formats`]).

pub mod ci_formats;
pub mod fix;
pub mod schema;
