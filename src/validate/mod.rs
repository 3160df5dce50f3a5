//! Building blocks of `arazzo validate`: where things are in a document's text
//! ([`source_map`]), what the Arazzo JSON Schema says about it ([`schema`]),
//! and the CI output formats ([`ci_formats`]).

pub mod ci_formats;
pub mod fix;
pub mod schema;
pub mod source_map;
