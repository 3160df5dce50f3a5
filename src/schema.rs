//! Checking values against the schemas of an OpenAPI description: OpenAPI 3.0
//! schemas are turned into JSON Schema 2020-12 (`nullable`, boolean
//! `exclusiveMinimum`/`exclusiveMaximum`, `readOnly` in requests), `$ref`s are
//! inlined, and the result is validated with the `jsonschema` crate.

use serde_json::{Map, Value};

use crate::openapi::OpenApi;

/// Schema nodes converted inline before every further `$ref` is converted
/// once into `$defs` and referenced from there. Inlining keeps the converted
/// schema readable for the common case; the cap keeps a description whose
/// `$ref`s fan out (each schema naming the next one twice) linear in its size.
const INLINE_BUDGET: usize = 4_000;

/// Deepest inline nesting of `$ref`s before they go to `$defs`: a long chain of
/// distinct `$ref`s is converted without deep recursion.
const MAX_INLINE_REFS: usize = 16;

/// Where `$ref` targets converted once are kept in the converted schema.
const DEF_PREFIX: &str = "arazzo-ref-";

/// One place where a value breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON Pointer into the checked value (`""` for the value itself).
    pub path: String,
    /// The rule, in words, never quoting the value.
    pub rule: String,
}

/// Converts an OpenAPI schema (3.0 or 3.1) of `api` into a standalone JSON Schema
/// for a request: `readOnly` properties are not required. `$ref`s are inlined,
/// except recursive ones and those past the inlining budget, which point into
/// the result's `$defs` (each target converted once).
pub fn to_json_schema(api: &OpenApi, schema: &Value) -> Value {
    Converter::new(api).run(schema)
}

/// The first `$ref` inside `schema` that cannot be resolved (a file that cannot
/// be read, a pointer to nothing), as a message.
pub fn unreadable_ref(api: &OpenApi, schema: &Value) -> Option<String> {
    let mut c = Converter::new(api);
    c.run(schema);
    c.errors.into_iter().next()
}

struct Converter<'a> {
    api: &'a OpenApi,
    v30: bool,
    errors: Vec<String>,
    /// The `$ref`s being inlined around the current node: meeting one again
    /// means the schema is recursive.
    inlining: Vec<String>,
    /// `$ref` text → its key in `$defs`.
    keys: std::collections::HashMap<String, String>,
    /// Targets given a key but not converted yet.
    pending: Vec<(String, Value)>,
    nodes: usize,
}

impl<'a> Converter<'a> {
    fn new(api: &'a OpenApi) -> Converter<'a> {
        Converter {
            api,
            v30: api.version.starts_with("3.0"),
            errors: Vec::new(),
            inlining: Vec::new(),
            keys: std::collections::HashMap::new(),
            pending: Vec::new(),
            nodes: 0,
        }
    }

    fn run(&mut self, schema: &Value) -> Value {
        let mut root = self.convert(schema);
        let mut defs = Map::new();
        // A worklist, not recursion: each target is converted once, and what it
        // references is queued in turn.
        while let Some((key, target)) = self.pending.pop() {
            let converted = self.convert(&target);
            defs.insert(key, converted);
        }
        if !defs.is_empty() {
            if let Value::Object(m) = &mut root {
                match m.get_mut("$defs") {
                    Some(Value::Object(existing)) => existing.extend(defs),
                    _ => {
                        m.insert("$defs".into(), Value::Object(defs));
                    }
                }
            }
        }
        root
    }

    /// A `$ref` kept as a reference into `$defs`, its target queued once.
    fn reference(&mut self, r: &str, target: &Value) -> Value {
        let key = match self.keys.get(r) {
            Some(k) => k.clone(),
            None => {
                let k = format!("{DEF_PREFIX}{}", self.keys.len());
                self.keys.insert(r.to_string(), k.clone());
                self.pending.push((k.clone(), target.clone()));
                k
            }
        };
        serde_json::json!({ "$ref": format!("#/$defs/{key}") })
    }

    fn convert(&mut self, schema: &Value) -> Value {
        self.nodes += 1;
        let api = self.api;
        let v30 = self.v30;
        let written = schema.get("$ref").and_then(Value::as_str);
        let schema = match api.resolve(schema) {
            Ok(s) => s,
            Err(e) => {
                self.errors.push(e.to_string());
                return Value::Bool(true);
            }
        };
        if let Some(r) = written {
            if self.keys.contains_key(r)
                || self.inlining.iter().any(|x| x == r)
                || self.inlining.len() >= MAX_INLINE_REFS
                || self.nodes > INLINE_BUDGET
            {
                return self.reference(r, schema);
            }
            self.inlining.push(r.to_string());
            let out = self.convert_resolved(schema, v30);
            self.inlining.pop();
            return out;
        }
        self.convert_resolved(schema, v30)
    }

    fn convert_resolved(&mut self, schema: &Value, v30: bool) -> Value {
        let api = self.api;
        let Value::Object(map) = schema else {
            return schema.clone();
        };
        let mut out = Map::new();
        let mut read_only_props: Vec<String> = Vec::new();
        for (k, v) in map {
            match k.as_str() {
                // `$id` would change what the `$defs` references resolve against.
                "$ref" | "$id" | "example" | "examples" | "discriminator" | "xml"
                | "externalDocs" | "nullable" | "deprecated" => {}
                "properties" | "patternProperties" | "$defs" | "definitions"
                | "dependentSchemas" => {
                    let mut props = Map::new();
                    for (name, s) in v.as_object().into_iter().flatten() {
                        let resolved = api.resolve(s).unwrap_or(s);
                        if k == "properties"
                            && resolved.get("readOnly").and_then(Value::as_bool) == Some(true)
                        {
                            read_only_props.push(name.clone());
                        }
                        props.insert(name.clone(), self.convert(s));
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
                        Value::Array(list) if k == "items" => {
                            Value::Array(list.iter().map(|s| self.convert(s)).collect())
                        }
                        Value::Object(_) => self.convert(v),
                        other => other.clone(),
                    };
                    out.insert(k.clone(), converted);
                }
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                    let list = v
                        .as_array()
                        .map(|l| l.iter().map(|s| self.convert(s)).collect())
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
}

/// Most schema nodes a converted schema may stand for once every `$ref` into
/// its `$defs` is expanded (a recursive one counted once): a validator walks
/// them all, so `allOf: [A, A]` nested 40 times would never finish.
pub const MAX_EXPANDED_NODES: usize = 100_000;

/// Why `schema` is too large to validate against, if it is.
fn too_large(schema: &Value) -> Option<String> {
    let defs = schema.get("$defs").and_then(Value::as_object);
    let mut sizes: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut active: Vec<&str> = Vec::new();
    let n = expanded(schema, defs, &mut sizes, &mut active, 0);
    (n > MAX_EXPANDED_NODES).then(|| {
        format!(
            "the schema stands for more than {MAX_EXPANDED_NODES} schema nodes once its `$ref`s are expanded, too many to check; simplify the description's `$ref`s"
        )
    })
}

/// The size of `v` with `$defs` references expanded, saturating past the cap.
fn expanded<'s>(
    v: &'s Value,
    defs: Option<&'s Map<String, Value>>,
    sizes: &mut std::collections::HashMap<&'s str, usize>,
    active: &mut Vec<&'s str>,
    depth: usize,
) -> usize {
    const CAP: usize = MAX_EXPANDED_NODES + 1;
    // The converted schema nests no deeper than its description (a parsed
    // document), plus one level per `$defs` hop, which `active` bounds.
    if depth > 4 * crate::document::MAX_DEPTH {
        return CAP;
    }
    match v {
        Value::Object(m) => {
            if let Some(key) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            {
                if let Some(&n) = sizes.get(key) {
                    return n;
                }
                if active.contains(&key) {
                    return 1;
                }
                let Some((k, target)) = defs.and_then(|d| d.get_key_value(key)) else {
                    return 1;
                };
                active.push(k);
                let n = expanded(target, defs, sizes, active, depth + 1);
                active.pop();
                sizes.insert(k, n);
                return n;
            }
            let mut total = 1usize;
            for (k, child) in m {
                if k == "$defs" && depth == 0 {
                    continue;
                }
                total = total.saturating_add(expanded(child, defs, sizes, active, depth + 1));
                if total >= CAP {
                    return CAP;
                }
            }
            total
        }
        Value::Array(items) => {
            let mut total = 1usize;
            for child in items {
                total = total.saturating_add(expanded(child, defs, sizes, active, depth + 1));
                if total >= CAP {
                    return CAP;
                }
            }
            total
        }
        _ => 1,
    }
}

/// An OpenAPI schema converted to JSON Schema, with its validator: built once
/// per operation and reused by every run that checks a request against it.
pub struct Checker {
    /// The converted schema.
    pub schema: Value,
    validator: Option<jsonschema::Validator>,
    /// Why the schema cannot be checked at all.
    problem: Option<String>,
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
    /// A schema too large to check once its `$ref`s are expanded is one
    /// violation of every value, saying so.
    pub fn new(api: &OpenApi, schema: &Value) -> Checker {
        let schema = to_json_schema(api, schema);
        if let Some(problem) = too_large(&schema) {
            return Checker {
                schema,
                validator: None,
                problem: Some(problem),
            };
        }
        let validator = jsonschema::validator_for(&schema).ok();
        Checker {
            schema,
            validator,
            problem: None,
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
        for i in 0..crate::document::MAX_DEPTH / 2 - 1 {
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
