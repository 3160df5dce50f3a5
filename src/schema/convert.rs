//! OpenAPI schemas turned into JSON Schema 2020-12, each `$ref` target once per
//! description.
//!
//! A `$ref` is never expanded: it becomes a reference into the converted
//! schema's `$defs`, and its target is converted the first time any checker of
//! the description needs it and kept in the description's [`Converted`] cache.
//! A schema's cost is then the size of the schemas it reaches, however they
//! recurse or fan out, and a description is converted at most once however
//! many steps use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::openapi::OpenApi;

/// Where converted `$ref` targets are kept in a converted schema.
pub(crate) const DEF_PREFIX: &str = "arazzo-ref-";

/// The `$ref` targets of one description converted so far, and the checkers
/// built from them, shared by every step that uses the description.
#[derive(Default)]
pub struct Converted {
    targets: Mutex<Targets>,
    pub(super) checkers: super::Checkers,
}

/// The cache of `api`, made on first use. It lives in the description's
/// `derived` slot, which only this function fills, always with a `Converted`.
pub(super) fn of(api: &OpenApi) -> &Converted {
    let slot = api
        .derived
        .get_or_init(|| Box::new(Converted::default()) as Box<dyn std::any::Any + Send + Sync>);
    slot.downcast_ref::<Converted>()
        .unwrap_or_else(|| unreachable!("only schema::convert::of fills the slot"))
}

impl std::fmt::Debug for Converted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Converted")
    }
}

#[derive(Default)]
struct Targets {
    /// `$ref` text → index into `targets`.
    index: HashMap<String, usize>,
    targets: Vec<Target>,
}

/// One converted `$ref` target.
struct Target {
    schema: Arc<Value>,
    /// The targets its own `$ref`s name.
    refs: Vec<usize>,
    /// Why a `$ref` met while converting it (itself included) cannot be read.
    error: Option<String>,
}

/// A schema converted with the closure of `$ref` targets it reaches.
pub struct Closure {
    /// The converted schema, its targets in `$defs`.
    pub schema: Value,
    /// The first `$ref` in the closure that cannot be read.
    pub error: Option<String>,
}

/// Converts `schema` (of `api`) for checking a request: `readOnly` properties are
/// not required. Every `$ref` it reaches is a reference into the result's
/// `$defs`, each target converted once for the whole description.
pub fn convert(api: &OpenApi, schema: &Value) -> Closure {
    let mut targets = of(api).targets.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Converter {
        api,
        v30: api.version.starts_with("3.0"),
        targets: &mut targets,
        refs: Vec::new(),
        queue: Vec::new(),
    };
    let mut root = c.convert(schema);
    let roots = std::mem::take(&mut c.refs);
    // Targets reached for the first time are converted here, from a worklist:
    // however long a chain of `$ref`s, no recursion follows it.
    while let Some((i, r)) = c.queue.pop() {
        c.fill(i, &r);
    }
    let mut error = None;
    let mut defs = Map::new();
    let mut stack = roots;
    let mut seen = vec![false; targets.targets.len()];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let t = &targets.targets[i];
        if error.is_none() {
            error.clone_from(&t.error);
        }
        defs.insert(format!("{DEF_PREFIX}{i}"), (*t.schema).clone());
        stack.extend(t.refs.iter().copied());
    }
    if !defs.is_empty() {
        if let Value::Object(m) = &mut root {
            match m.get_mut("$defs") {
                Some(Value::Object(existing)) => existing.extend(defs),
                _ => {
                    m.insert("$defs".into(), Value::Object(defs));
                }
            }
        } else {
            // `true` or `false` with `$defs` would change nothing; an object
            // keeps them.
            let mut m = Map::new();
            m.insert("allOf".into(), Value::Array(vec![root]));
            m.insert("$defs".into(), Value::Object(defs));
            root = Value::Object(m);
        }
    }
    Closure {
        schema: root,
        error,
    }
}

/// Placeholder of a target being converted: never read, since a target is
/// filled before `convert` returns.
fn unfilled() -> Target {
    Target {
        schema: Arc::new(Value::Bool(true)),
        refs: Vec::new(),
        error: None,
    }
}

struct Converter<'a, 't> {
    api: &'a OpenApi,
    v30: bool,
    targets: &'t mut Targets,
    /// Targets named by the schema being converted.
    refs: Vec<usize>,
    /// Targets given an index but not converted yet, with their `$ref` text.
    queue: Vec<(usize, String)>,
}

impl Converter<'_, '_> {
    /// Converts the target of `$ref` `r`, given index `i`.
    fn fill(&mut self, i: usize, r: &str) {
        let api = self.api;
        let written = serde_json::json!({ "$ref": r });
        let (schema, error) = match api.resolve(&written) {
            Ok(target) => (self.convert_resolved(target), None),
            Err(e) => (Value::Bool(true), Some(e.to_string())),
        };
        self.targets.targets[i] = Target {
            schema: Arc::new(schema),
            refs: std::mem::take(&mut self.refs),
            error,
        };
    }

    /// A `$ref` as a reference into `$defs`, its target given an index.
    fn reference(&mut self, r: &str) -> Value {
        let i = match self.targets.index.get(r) {
            Some(&i) => i,
            None => {
                let i = self.targets.targets.len();
                self.targets.index.insert(r.to_string(), i);
                self.targets.targets.push(unfilled());
                self.queue.push((i, r.to_string()));
                i
            }
        };
        if !self.refs.contains(&i) {
            self.refs.push(i);
        }
        serde_json::json!({ "$ref": format!("#/$defs/{DEF_PREFIX}{i}") })
    }

    fn convert(&mut self, schema: &Value) -> Value {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            return self.reference(r);
        }
        self.convert_resolved(schema)
    }

    fn convert_resolved(&mut self, schema: &Value) -> Value {
        let v30 = self.v30;
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
                    let props = self.convert_named(k, v, &mut read_only_props);
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
                    if let Some(bound) = exclusive_bound(map, k, v) {
                        out.insert(k.clone(), bound.clone());
                    }
                }
                "minimum" | "maximum" if v30 => {
                    if !made_exclusive(map, k) {
                        out.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        not_required(&mut out, &read_only_props);
        if v30 && map.get("nullable").and_then(Value::as_bool) == Some(true) {
            add_null(&mut out);
        }
        Value::Object(out)
    }

    /// A map of named schemas (`properties`, `$defs`, …), each converted. The names of
    /// `readOnly` properties go to `read_only_props`.
    fn convert_named(
        &mut self,
        k: &str,
        v: &Value,
        read_only_props: &mut Vec<String>,
    ) -> Map<String, Value> {
        let api = self.api;
        let mut props = Map::new();
        for (name, s) in v.as_object().into_iter().flatten() {
            let resolved = api.resolve(s).unwrap_or(s);
            if k == "properties" && resolved.get("readOnly").and_then(Value::as_bool) == Some(true)
            {
                read_only_props.push(name.clone());
            }
            props.insert(name.clone(), self.convert(s));
        }
        props
    }
}

/// OpenAPI 3.0's `exclusiveMinimum: true` (or `exclusiveMaximum`, `k`, of the schema `map`)
/// says that `minimum` is exclusive; in JSON Schema the keyword holds the bound itself. The
/// bound, or `None` to leave the keyword out.
fn exclusive_bound<'v>(map: &'v Map<String, Value>, k: &str, v: &Value) -> Option<&'v Value> {
    let bound = if k == "exclusiveMinimum" {
        "minimum"
    } else {
        "maximum"
    };
    if v == &Value::Bool(true) {
        map.get(bound)
    } else {
        None
    }
}

/// An OpenAPI 3.0 `minimum` (or `maximum`, `k`) that `exclusiveMinimum: true` made exclusive:
/// it is left out, the exclusive keyword taking its value.
fn made_exclusive(map: &Map<String, Value>, k: &str) -> bool {
    let ex = if k == "minimum" {
        "exclusiveMinimum"
    } else {
        "exclusiveMaximum"
    };
    map.get(ex) == Some(&Value::Bool(true))
}

/// A request carries no `readOnly` property: those named are taken out of `required`.
fn not_required(out: &mut Map<String, Value>, read_only_props: &[String]) {
    if read_only_props.is_empty() {
        return;
    }
    if let Some(Value::Array(req)) = out.get_mut("required") {
        req.retain(|r| {
            !r.as_str()
                .is_some_and(|r| read_only_props.iter().any(|p| p == r))
        });
    }
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema says it: `null` among the types, and among
/// the values of an `enum`.
fn add_null(out: &mut Map<String, Value>) {
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
