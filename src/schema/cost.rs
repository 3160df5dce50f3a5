//! Whether checking a value against a converted schema is bounded.
//!
//! A validator walks the schema once per value node, and on one node it
//! applies every schema reached through `$ref`, `allOf`, `anyOf`, `oneOf`,
//! `not`, `if`/`then`/`else` and `dependentSchemas`. Recursion through
//! `properties` or `items` is harmless (it stops where the value stops), but
//! `allOf: [A, A]` nested 40 times asks for 2^40 checks of one node, and a
//! schema that applies itself to the same node never stops. Both are found
//! here, in time linear in the converted schema.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Most schemas one value node may be checked against.
pub const MAX_PER_NODE: usize = 100_000;

/// Deepest nesting of in-place applicators (and `$ref`s between them) that is
/// checked: a validator follows it by recursion.
const MAX_NESTING: usize = 256;

/// Keywords whose subschemas apply to the same value node.
const IN_PLACE: &[&str] = &["allOf", "anyOf", "oneOf", "not", "if", "then", "else"];

/// Keywords whose subschemas apply to the node's members or items.
const BELOW: &[&str] = &[
    "properties",
    "patternProperties",
    "items",
    "prefixItems",
    "additionalProperties",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
];

/// Why values cannot be checked against `schema` in bounded time, if so.
pub fn problem(schema: &Value) -> Option<String> {
    let mut walk = Walk {
        defs: schema.get("$defs").and_then(Value::as_object),
        memo: HashMap::new(),
        below: vec![schema],
    };
    while let Some(node) = walk.below.pop() {
        match walk.in_place(node, 0) {
            Ok(n) if n > MAX_PER_NODE => {
                return Some(format!(
                    "the schema applies more than {MAX_PER_NODE} schemas to one value once its `allOf`/`anyOf`/`oneOf` and `$ref`s are followed, too many to check; simplify the description's `$ref`s"
                ))
            }
            Ok(_) => {}
            Err(Unbounded::Cycle) => {
                return Some(
                    "the schema applies itself to the same value (through `$ref` and `allOf`/`anyOf`/`oneOf`/`not` alone), so no value can be checked against it; make the recursion go through `properties` or `items`".into(),
                )
            }
            Err(Unbounded::Deep) => {
                return Some(format!(
                    "the schema nests `allOf`/`anyOf`/`oneOf`/`not` and `$ref`s more than {MAX_NESTING} levels deep on one value, too deep to check"
                ))
            }
        }
    }
    None
}

enum Unbounded {
    Cycle,
    Deep,
}

enum Memo {
    Active,
    Done(usize),
}

struct Walk<'s> {
    defs: Option<&'s Map<String, Value>>,
    /// `$defs` key → how many schemas it applies to one node.
    memo: HashMap<&'s str, Memo>,
    /// Subschemas still to be walked, each applying to some node below.
    below: Vec<&'s Value>,
}

impl<'s> Walk<'s> {
    /// How many schemas `node` applies to the value node it is checked on.
    fn in_place(&mut self, node: &'s Value, depth: usize) -> Result<usize, Unbounded> {
        if depth > MAX_NESTING {
            return Err(Unbounded::Deep);
        }
        let Value::Object(m) = node else {
            return Ok(1);
        };
        let mut total = 1usize;
        if let Some(key) = m
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            total = total.saturating_add(self.target(key, depth)?);
        }
        for (k, v) in m {
            if IN_PLACE.contains(&k.as_str()) {
                let children: Vec<&Value> = match v {
                    Value::Array(list) => list.iter().collect(),
                    other => vec![other],
                };
                for child in children {
                    total = total.saturating_add(self.in_place(child, depth + 1)?);
                }
            } else if k == "dependentSchemas" {
                for child in v.as_object().into_iter().flat_map(|m| m.values()) {
                    total = total.saturating_add(self.in_place(child, depth + 1)?);
                }
            } else if BELOW.contains(&k.as_str()) {
                match (k.as_str(), v) {
                    ("properties" | "patternProperties", Value::Object(o)) => {
                        self.below.extend(o.values())
                    }
                    (_, Value::Array(list)) => self.below.extend(list),
                    (_, other) => self.below.push(other),
                }
            }
            if total > MAX_PER_NODE {
                return Ok(total);
            }
        }
        Ok(total)
    }

    /// The cost of the `$defs` target `key`, computed once.
    fn target(&mut self, key: &'s str, depth: usize) -> Result<usize, Unbounded> {
        let Some((key, target)) = self.defs.and_then(|d| d.get_key_value(key)) else {
            return Ok(0);
        };
        match self.memo.get(key.as_str()) {
            Some(Memo::Done(n)) => return Ok(*n),
            Some(Memo::Active) => return Err(Unbounded::Cycle),
            None => {}
        }
        self.memo.insert(key, Memo::Active);
        let n = self.in_place(target, depth + 1)?;
        self.memo.insert(key, Memo::Done(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defs(d: Value) -> Value {
        json!({"$ref": "#/$defs/a", "$defs": d})
    }

    #[test]
    fn recursion_through_properties_is_bounded() {
        let s = defs(json!({
            "a": {"properties": {"b": {"$ref": "#/$defs/b"}}, "items": {"$ref": "#/$defs/a"}},
            "b": {"allOf": [{"$ref": "#/$defs/a"}], "additionalProperties": {"$ref": "#/$defs/b"}}
        }));
        assert_eq!(problem(&s), None);
    }

    #[test]
    fn fan_out_on_one_node_is_too_large() {
        let mut d = Map::new();
        for i in 0..40 {
            let r = json!({"$ref": format!("#/$defs/f{}", i + 1)});
            d.insert(format!("f{i}"), json!({"allOf": [r, r]}));
        }
        d.insert("f40".into(), json!({"type": "object"}));
        let s = json!({"$ref": "#/$defs/f0", "$defs": d});
        assert!(problem(&s).unwrap().contains("more than"));
    }

    #[test]
    fn a_schema_applying_itself_is_a_cycle() {
        let s = defs(json!({
            "a": {"properties": {"x": {"$ref": "#/$defs/b"}}},
            "b": {"oneOf": [{"$ref": "#/$defs/c"}, {"type": "null"}]},
            "c": {"allOf": [{"$ref": "#/$defs/b"}]}
        }));
        assert!(problem(&s).unwrap().contains("applies itself"));
    }

    #[test]
    fn a_long_in_place_chain_is_too_deep_without_deep_recursion() {
        let mut d = Map::new();
        for i in 0..10_000 {
            d.insert(
                format!("c{i}"),
                json!({"allOf": [{"$ref": format!("#/$defs/c{}", i + 1)}]}),
            );
        }
        let s = json!({"$ref": "#/$defs/c0", "$defs": d});
        assert!(problem(&s).unwrap().contains("levels deep"));
    }
}
