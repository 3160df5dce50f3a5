//! Checking values against the schemas of an OpenAPI description: OpenAPI 3.0
//! schemas are turned into JSON Schema 2020-12 (`nullable`, boolean
//! `exclusiveMinimum`/`exclusiveMaximum`, `readOnly` in requests) with every
//! `$ref` kept as a reference ([`convert`]), schemas that no validator could
//! finish are refused ([`cost`]), and the rest is validated with the
//! `jsonschema` crate.

mod convert;
mod cost;
mod effort;
mod locate;
mod rule;

pub(crate) use rule::describe_rule;
use std::sync::Arc;

use serde_json::Value;

use crate::openapi::OpenApi;

pub use convert::Converted;

/// One place where a value breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON Pointer into the checked value (`""` for the value itself).
    pub path: String,
    /// The rule, in words, never quoting the value.
    pub rule: String,
}

/// Converts an OpenAPI schema (3.0 or 3.1) of `api` into a standalone JSON Schema
/// for a request: `readOnly` properties are not required, and every `$ref`
/// points into the result's `$defs`.
pub fn to_json_schema(api: &OpenApi, schema: &Value) -> Value {
    convert::convert(api, schema).schema
}

/// The first `$ref` reached from `schema` that cannot be resolved (a file that
/// cannot be read, a pointer to nothing, a loop of bare `$ref`s), as a message.
pub fn unreadable_ref(api: &OpenApi, schema: &Value) -> Option<String> {
    checker(api, schema).unreadable.clone()
}

/// The schema `node` stands for: itself, or what its `$ref` into the `$defs`
/// of `root` (a converted schema) names.
pub fn follow<'s>(root: &'s Value, mut node: &'s Value) -> &'s Value {
    // A converted target is never a bare `$ref` itself, but a few hops are cheap.
    for _ in 0..8 {
        let Some(target) = node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .and_then(|k| root.get("$defs")?.get(k))
        else {
            break;
        };
        node = target;
    }
    node
}

/// The checker of `schema` (of `api`), built once per description and schema:
/// every step that sends to one operation shares it.
pub fn checker(api: &OpenApi, schema: &Value) -> Arc<Checker> {
    let key = serde_json::to_string(schema).unwrap_or_default();
    convert::of(api)
        .checkers
        .get(&key, || Arc::new(Checker::new(api, schema)))
}

/// An OpenAPI schema converted to JSON Schema, with its validator: built once
/// per operation and reused by every run that checks a request against it.
pub struct Checker {
    /// The converted schema.
    pub schema: Value,
    validator: Option<jsonschema::Validator>,
    /// Why the schema cannot be checked at all.
    problem: Option<String>,
    /// The first `$ref` it reaches that cannot be read.
    unreadable: Option<String>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("schema", &self.schema)
            .finish()
    }
}

impl Checker {
    /// Converts `schema` (of `api`) and builds its validator. A schema the
    /// validator cannot build accepts everything (it was checked by `validate`).
    /// A schema no validator could finish (see [`cost`]) is one violation of
    /// every value, saying so.
    pub fn new(api: &OpenApi, schema: &Value) -> Checker {
        let converted = convert::convert(api, schema);
        let schema = converted.schema;
        let unreadable = converted.error;
        if let Some(problem) = cost::problem(&schema) {
            return Checker {
                schema,
                validator: None,
                problem: Some(problem),
                unreadable,
            };
        }
        let validator = jsonschema::validator_for(&schema).ok();
        Checker {
            schema,
            validator,
            problem: None,
            unreadable,
        }
    }

    /// Validates `value`. `skip(path, composite)` says which violations to
    /// leave out because they concern values not known yet: it is asked for the
    /// violation's path and each of its ancestors; `composite` is true for
    /// `oneOf`/`anyOf`/`not`/`if` failures, which unknown values deeper down can
    /// cause.
    pub fn violations(&self, value: &Value, skip: &dyn Fn(&str, bool) -> bool) -> Vec<Violation> {
        if let Some(problem) = &self.problem {
            return vec![Violation {
                path: String::new(),
                rule: problem.clone(),
            }];
        }
        let Some(validator) = &self.validator else {
            return Vec::new();
        };
        if !effort::bounded(&self.schema, value, effort::Mode::Valid) {
            return vec![Violation {
                path: String::new(),
                rule: format!(
                    "checking it against the schema would apply more than {} schemas (the schema's `oneOf`/`anyOf` branches multiply at every level of the value), too many to check; send a flatter value or simplify the schema",
                    effort::MAX_EFFORT
                ),
            }];
        }
        if validator.is_valid(value) {
            return Vec::new();
        }
        // Explaining a failed `oneOf` means explaining every alternative: on
        // a recursive schema, past what is bounded, the place is searched for
        // instead.
        if !effort::bounded(&self.schema, value, effort::Mode::Errors) {
            let v = locate::first_violation(&self.schema, value);
            if skip_path(&v.path, true, skip) {
                return Vec::new();
            }
            return vec![v];
        }
        let mut out: Vec<Violation> = Vec::new();
        for e in validator.iter_errors(value) {
            use jsonschema::error::ValidationErrorKind as K;
            let path = e.instance_path().to_string();
            let composite = matches!(
                e.kind(),
                K::OneOfNotValid { .. }
                    | K::OneOfMultipleValid { .. }
                    | K::AnyOf { .. }
                    | K::Not { .. }
            );
            if skip_path(&path, composite, skip) {
                continue;
            }
            let rule = describe_rule(e.kind(), &e.schema_path().to_string());
            let v = Violation { path, rule };
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }
}

/// The checkers of one operation call, by what they check (`body`,
/// `query limit`, …), built on first use.
#[derive(Default)]
pub struct Checkers(std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Checker>>>);

impl std::fmt::Debug for Checkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkers")
    }
}

impl Checkers {
    pub fn get(
        &self,
        key: &str,
        make: impl FnOnce() -> std::sync::Arc<Checker>,
    ) -> std::sync::Arc<Checker> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(key) {
            return c.clone();
        }
        let c = make();
        map.insert(key.to_string(), c.clone());
        c
    }
}

/// Whether a violation at `path` is left out: asked of the path (composite
/// or not) and of each ancestor as a plain value. Unknown values elsewhere
/// under an ancestor cannot make a `oneOf` at `path` fail.
fn skip_path(path: &str, composite: bool, skip: &dyn Fn(&str, bool) -> bool) -> bool {
    let mut prefix = path;
    let mut composite = composite;
    loop {
        if skip(prefix, composite) {
            return true;
        }
        composite = false;
        match prefix.rfind('/') {
            Some(i) => prefix = &prefix[..i],
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use url::Url;

    #[test]
    fn converts_openapi_30_keywords() {
        let api = OpenApi::from_value(
            Url::parse("file:///x.json").unwrap(),
            json!({"openapi": "3.0.3", "paths": {}, "components": {"schemas": {
                "Name": {"type": "string", "minLength": 4, "nullable": true},
                "Thing": {"type": "object", "required": ["id", "name"], "properties": {
                    "id": {"type": "string", "readOnly": true},
                    "name": {"$ref": "#/components/schemas/Name"},
                    "n": {"type": "integer", "minimum": 0, "exclusiveMinimum": true}
                }}
            }}}),
        )
        .unwrap();
        let c = Checker::new(&api, &json!({"$ref": "#/components/schemas/Thing"}));
        let violations =
            |_: &(), v: &Value, skip: &dyn Fn(&str, bool) -> bool| c.violations(v, skip);
        let s = ();
        let none = |_: &str, _: bool| false;
        assert!(violations(&s, &json!({"name": null}), &none).is_empty());
        assert!(violations(&s, &json!({"name": "abcd", "n": 1}), &none).is_empty());
        let v = violations(&s, &json!({"name": "ab", "n": 0}), &none);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v
            .iter()
            .any(|x| x.path == "/name" && x.rule.contains("at least 4")));
        let v = violations(&s, &json!({}), &none);
        assert_eq!(v[0].rule, "the field \"name\" is required");
        let skip = |p: &str, _: bool| p == "/name";
        assert!(violations(&s, &json!({"name": 5}), &skip).is_empty());
    }
}
#[cfg(test)]
mod small_stack {
    use super::*;
    use serde_json::json;
    use url::Url;

    #[test]
    fn a_recursive_schema_checks_the_deepest_document_on_a_small_stack() {
        let api = OpenApi::from_value(
            Url::parse("file:///x.json").unwrap(),
            json!({"openapi": "3.1.0", "paths": {}, "components": {"schemas": {
                "N": {"type": "object", "properties": {
                    "c": {"$ref": "#/components/schemas/N"},
                    "l": {"type": "array", "items": {"$ref": "#/components/schemas/N"}},
                    "n": {"type": "integer"}}}
            }}}),
        )
        .unwrap();
        // As deep as a parsed document can be, alternating objects and arrays.
        let mut v = json!({"n": "not a number"});
        for i in 0..crate::read::MAX_DEPTH / 2 - 1 {
            v = if i % 2 == 0 {
                json!({"c": v})
            } else {
                json!({"l": [v]})
            };
        }
        let found = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let c = Checker::new(&api, &json!({"$ref": "#/components/schemas/N"}));
                c.violations(&v, &|_, _| false).len()
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(found, 1);
    }
}
