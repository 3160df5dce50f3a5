//! Checking values against the schemas of an OpenAPI description: OpenAPI 3.0
//! schemas are turned into JSON Schema 2020-12 (`nullable`, boolean
//! `exclusiveMinimum`/`exclusiveMaximum`, `readOnly` in requests), `$ref`s are
//! inlined, and the result is validated with the `jsonschema` crate.

use serde_json::{Map, Value};

use crate::openapi::OpenApi;

/// How deep `$ref`s are followed; deeper (recursive) schemas accept anything.
const MAX_DEPTH: usize = 24;

/// One place where a value breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON Pointer into the checked value (`""` for the value itself).
    pub path: String,
    /// The rule, in words, never quoting the value.
    pub rule: String,
}

/// Converts an OpenAPI schema (3.0 or 3.1) of `api` into a standalone JSON Schema
/// for a request: `readOnly` properties are not required.
pub fn to_json_schema(api: &OpenApi, schema: &Value) -> Value {
    let v30 = api.version.starts_with("3.0");
    convert(api, schema, v30, 0, &mut Vec::new())
}

/// The first `$ref` inside `schema` that cannot be resolved (a file that cannot
/// be read, a pointer to nothing), as a message.
pub fn unreadable_ref(api: &OpenApi, schema: &Value) -> Option<String> {
    let v30 = api.version.starts_with("3.0");
    let mut errors = Vec::new();
    convert(api, schema, v30, 0, &mut errors);
    errors.into_iter().next()
}

fn convert(
    api: &OpenApi,
    schema: &Value,
    v30: bool,
    depth: usize,
    errors: &mut Vec<String>,
) -> Value {
    if depth > MAX_DEPTH {
        return Value::Bool(true);
    }
    let schema = match api.resolve(schema) {
        Ok(s) => s,
        Err(e) => {
            errors.push(e.to_string());
            return Value::Bool(true);
        }
    };
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    let mut read_only_props: Vec<String> = Vec::new();
    for (k, v) in map {
        match k.as_str() {
            "$ref" | "example" | "examples" | "discriminator" | "xml" | "externalDocs"
            | "nullable" | "deprecated" => {}
            "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => {
                let mut props = Map::new();
                for (name, s) in v.as_object().into_iter().flatten() {
                    let resolved = api.resolve(s).unwrap_or(s);
                    if k == "properties"
                        && resolved.get("readOnly").and_then(Value::as_bool) == Some(true)
                    {
                        read_only_props.push(name.clone());
                    }
                    props.insert(name.clone(), convert(api, s, v30, depth + 1, errors));
                }
                out.insert(k.clone(), Value::Object(props));
            }
            "items"
            | "additionalProperties"
            | "not"
            | "contains"
            | "propertyNames"
            | "unevaluatedProperties"
            | "unevaluatedItems"
            | "if"
            | "then"
            | "else" => {
                let converted = match v {
                    Value::Array(list) if k == "items" => Value::Array(
                        list.iter()
                            .map(|s| convert(api, s, v30, depth + 1, errors))
                            .collect(),
                    ),
                    Value::Object(_) => convert(api, v, v30, depth + 1, errors),
                    other => other.clone(),
                };
                out.insert(k.clone(), converted);
            }
            "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                let list = v
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|s| convert(api, s, v30, depth + 1, errors))
                            .collect()
                    })
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Array(list));
            }
            "exclusiveMinimum" | "exclusiveMaximum" if v30 && v.is_boolean() => {
                let bound = if k == "exclusiveMinimum" {
                    "minimum"
                } else {
                    "maximum"
                };
                if v == &Value::Bool(true) {
                    if let Some(b) = map.get(bound) {
                        out.insert(k.clone(), b.clone());
                    }
                }
            }
            "minimum" | "maximum" if v30 => {
                let ex = if k == "minimum" {
                    "exclusiveMinimum"
                } else {
                    "exclusiveMaximum"
                };
                if map.get(ex) != Some(&Value::Bool(true)) {
                    out.insert(k.clone(), v.clone());
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if !read_only_props.is_empty() {
        if let Some(Value::Array(req)) = out.get_mut("required") {
            req.retain(|r| {
                !r.as_str()
                    .is_some_and(|r| read_only_props.iter().any(|p| p == r))
            });
        }
    }
    if v30 && map.get("nullable").and_then(Value::as_bool) == Some(true) {
        match out.get_mut("type") {
            Some(Value::String(t)) => {
                let t = t.clone();
                out.insert("type".into(), serde_json::json!([t, "null"]));
            }
            Some(Value::Array(ts)) => ts.push(Value::String("null".into())),
            _ => {}
        }
        if let Some(Value::Array(e)) = out.get_mut("enum") {
            e.push(Value::Null);
        }
    }
    Value::Object(out)
}

/// An OpenAPI schema converted to JSON Schema, with its validator: built once
/// per operation and reused by every run that checks a request against it.
pub struct Checker {
    /// The converted schema.
    pub schema: Value,
    validator: Option<jsonschema::Validator>,
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
    pub fn new(api: &OpenApi, schema: &Value) -> Checker {
        let schema = to_json_schema(api, schema);
        let validator = jsonschema::validator_for(&schema).ok();
        Checker { schema, validator }
    }

    /// Validates `value`. `skip(path, composite)` says which violations to
    /// leave out because they concern values not known yet: it is asked for the
    /// violation's path and each of its ancestors; `composite` is true for
    /// `oneOf`/`anyOf`/`not`/`if` failures, which unknown values deeper down can
    /// cause.
    pub fn violations(&self, value: &Value, skip: &dyn Fn(&str, bool) -> bool) -> Vec<Violation> {
        let Some(validator) = &self.validator else {
            return Vec::new();
        };
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
            let rule = crate::inputs::describe_rule(e.kind(), &e.schema_path().to_string());
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
    pub fn get(&self, key: &str, make: impl FnOnce() -> Checker) -> std::sync::Arc<Checker> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(key) {
            return c.clone();
        }
        let c = std::sync::Arc::new(make());
        map.insert(key.to_string(), c.clone());
        c
    }
}

fn skip_path(path: &str, composite: bool, skip: &dyn Fn(&str, bool) -> bool) -> bool {
    let mut prefix = path;
    loop {
        if skip(prefix, composite) {
            return true;
        }
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
