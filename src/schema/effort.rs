//! How much work a validator would do to check one value against a converted
//! schema, counted before it starts.
//!
//! A validator applies every branch of a `oneOf` (and, to report errors, of an
//! `anyOf`) to the same value, and does so again at every level of the value:
//! a recursive `oneOf` of three schemas checked on a value nested ten levels
//! deep is 3^10 checks, though schema and value are both small. Counting the
//! same walk with each (schema, value) pair counted once costs at most their
//! product, so the count is found in bounded time and the validator runs only
//! when its walk is bounded too.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// Most schema applications a value may cost; past this it is not checked.
pub const MAX_EFFORT: usize = 100_000;

/// Most (schema, value) pairs counted; past this the value is too costly.
const MAX_PAIRS: usize = 200_000;

/// Deepest nesting of schema applications followed, in value depth and
/// applicator nesting together: a validator recurses as deep.
const MAX_DEPTH: usize = 1_024;

const IN_PLACE: &[&str] = &["allOf", "anyOf", "oneOf", "not", "if", "then", "else"];

/// What the validator is asked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Whether the value is valid: an alternative its cheap keywords reject
    /// is dropped at once.
    Valid,
    /// Every error: each failed alternative is explained in full.
    Errors,
}

/// Whether checking `value` against `schema` (a converted schema, its `$ref`s
/// into its `$defs`) stays within [`MAX_EFFORT`] schema applications.
pub fn bounded(schema: &Value, value: &Value, mode: Mode) -> bool {
    let mut c = Count {
        defs: schema.get("$defs").and_then(Value::as_object),
        memo: HashMap::new(),
        mode,
    };
    c.visits(schema, value, 0) <= MAX_EFFORT
}

struct Count<'s> {
    defs: Option<&'s Map<String, Value>>,
    memo: HashMap<(*const Value, *const Value), usize>,
    mode: Mode,
}

impl<'s> Count<'s> {
    /// Schema applications made when `schema` is applied to `value`.
    fn visits(&mut self, schema: &'s Value, value: &Value, depth: usize) -> usize {
        const OVER: usize = MAX_EFFORT + 1;
        if depth > MAX_DEPTH || self.memo.len() > MAX_PAIRS {
            return OVER;
        }
        let key = (schema as *const Value, value as *const Value);
        if let Some(&n) = self.memo.get(&key) {
            return n;
        }
        let n = match schema {
            Value::Object(m) => self.object(m, value, depth).min(OVER),
            _ => 1,
        };
        self.memo.insert(key, n);
        n
    }

    fn object(&mut self, m: &'s Map<String, Value>, value: &Value, depth: usize) -> usize {
        let mut n = 1usize;
        let mut add = |c: &mut Self, s: &'s Value, v: &Value| {
            n = n.saturating_add(c.visits(s, v, depth + 1));
        };
        if let Some(target) = m
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .and_then(|k| self.defs?.get(k))
        {
            add(self, target, value);
        }
        for (k, s) in m {
            match k.as_str() {
                // Asked whether a value is valid, a validator tries an
                // alternative's cheap keywords first (see `locate::rejects`):
                // one they reject costs nothing below.
                "anyOf" | "oneOf" => {
                    for branch in s.as_array().into_iter().flatten() {
                        if self.mode == Mode::Errors
                            || !super::locate::rejects(self.defs, branch, value)
                        {
                            add(self, branch, value);
                        }
                    }
                }
                k if IN_PLACE.contains(&k) => match s {
                    Value::Array(list) => list.iter().for_each(|s| add(self, s, value)),
                    s => add(self, s, value),
                },
                "dependentSchemas" => {
                    for s in s.as_object().into_iter().flat_map(Map::values) {
                        add(self, s, value);
                    }
                }
                _ => {}
            }
        }
        match value {
            Value::Object(members) => {
                let props = m.get("properties").and_then(Value::as_object);
                let patterns = m.get("patternProperties").and_then(Value::as_object);
                let rest = ["additionalProperties", "unevaluatedProperties"]
                    .iter()
                    .filter_map(|k| m.get(*k))
                    .collect::<Vec<_>>();
                for (name, v) in members {
                    let named = props.and_then(|p| p.get(name));
                    if let Some(s) = named {
                        add(self, s, v);
                    }
                    // Patterns are counted as if each matched: an upper bound.
                    for s in patterns.into_iter().flat_map(Map::values) {
                        add(self, s, v);
                    }
                    if named.is_none() {
                        rest.iter().for_each(|s| add(self, s, v));
                    }
                }
            }
            Value::Array(items) => {
                let prefix = m.get("prefixItems").and_then(Value::as_array);
                let tuple = m.get("items").and_then(Value::as_array);
                let each = m.get("items").filter(|s| !s.is_array());
                for (i, v) in items.iter().enumerate() {
                    let positional = prefix.or(tuple).and_then(|p| p.get(i));
                    match positional {
                        Some(s) => add(self, s, v),
                        None => {
                            each.into_iter().for_each(|s| add(self, s, v));
                            if let Some(s) = m.get("unevaluatedItems") {
                                add(self, s, v);
                            }
                        }
                    }
                    if let Some(s) = m.get("contains") {
                        add(self, s, v);
                    }
                }
            }
            _ => {}
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bounded_valid(s: &Value, v: &Value) -> bool {
        bounded(s, v, Mode::Valid)
    }

    fn nested(levels: usize) -> Value {
        let mut v = json!({"kind": "x"});
        for _ in 0..levels {
            v = json!({"kind": "x", "next": v});
        }
        v
    }

    #[test]
    fn recursion_through_properties_costs_as_much_as_the_value() {
        let s = json!({"$ref": "#/$defs/n", "$defs": {"n": {
            "properties": {"next": {"$ref": "#/$defs/n"}, "kind": {"type": "string"}}
        }}});
        assert!(bounded_valid(&s, &nested(120)));
    }

    #[test]
    fn branches_a_validator_rejects_at_once_cost_nothing() {
        // `op` tells the alternatives apart; it comes before `children`.
        let s = json!({"$ref": "#/$defs/f", "$defs": {
            "f": {"oneOf": [{"$ref": "#/$defs/and"}, {"$ref": "#/$defs/or"}]},
            "and": {"required": ["op"], "properties": {"op": {"const": "and"},
                    "children": {"items": {"$ref": "#/$defs/f"}}}},
            "or": {"required": ["op"], "properties": {"op": {"enum": ["or"]},
                   "children": {"items": {"$ref": "#/$defs/f"}}}}
        }});
        let mut v = json!({"op": "and"});
        for d in 0..60 {
            v = json!({"op": if d % 2 == 0 { "or" } else { "and" }, "children": [v]});
        }
        assert!(bounded_valid(&s, &v));
        // The same with `children` first.
        let mut v = json!({"op": "and"});
        for d in 0..60 {
            v = json!({"children": [v], "op": if d % 2 == 0 { "or" } else { "and" }});
        }
        assert!(bounded_valid(&s, &v));
        // Alternatives that nothing tells apart: every one is followed.
        let s = json!({"$ref": "#/$defs/f", "$defs": {
            "f": {"oneOf": [{"$ref": "#/$defs/and"}, {"$ref": "#/$defs/or"}]},
            "and": {"properties": {"children": {"items": {"$ref": "#/$defs/f"}}}},
            "or": {"properties": {"children": {"items": {"$ref": "#/$defs/f"}}}}
        }});
        assert!(!bounded_valid(&s, &v));
    }

    #[test]
    fn branches_that_multiply_at_every_level_are_too_costly() {
        // Three branches, each recursing into `next`: 3^n applications.
        let s = json!({"$ref": "#/$defs/n", "$defs": {
            "n": {"oneOf": [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/b"}, {"$ref": "#/$defs/c"}]},
            "a": {"properties": {"next": {"$ref": "#/$defs/n"}}},
            "b": {"properties": {"next": {"$ref": "#/$defs/n"}}},
            "c": {"properties": {"next": {"$ref": "#/$defs/n"}}}
        }});
        assert!(bounded_valid(&s, &nested(5)));
        assert!(!bounded_valid(&s, &nested(30)));
    }
}
