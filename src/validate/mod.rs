//! Building blocks of `arazzo validate`: where things are in a document's text
//! ([`source_map`]) and what the Arazzo JSON Schema says about it ([`schema`]).

pub mod fix;
pub mod schema;
pub mod source_map;
