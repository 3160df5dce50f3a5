//! Where a value breaks its schema, when the validator's own report would
//! cost too much.
//!
//! To explain a failed `oneOf`, a validator reports why every alternative
//! failed, fully, at every level: on a recursive schema that is exponential in
//! the depth of the value even when each alternative is told apart by one
//! member (`op: and`). Here the walk follows only the alternatives whose
//! cheap keywords accept the value, as a reader would, and names the first
//! member that breaks a `type`, `const`, `enum`, `required` or closed object.
//! Bounded by a visit budget; without a clear place it says so at the value.

use serde_json::{Map, Value};

use super::Violation;

/// Most (schema, value) visits of one search.
const BUDGET: usize = 100_000;

/// The first place found where `value` breaks `schema` (converted, its `$ref`s
/// into its `$defs`), or a violation of the whole value that says the place is
/// not known.
pub fn first_violation(schema: &Value, value: &Value) -> Violation {
    let mut walk = Walk {
        defs: schema.get("$defs").and_then(Value::as_object),
        visits: 0,
    };
    walk.find(schema, value, "").unwrap_or_else(|| Violation {
        path: String::new(),
        rule: "does not match the schema (its `oneOf`/`anyOf` alternatives are too many to say where, at this depth)".into(),
    })
}

struct Walk<'s> {
    defs: Option<&'s Map<String, Value>>,
    visits: usize,
}

/// `node` with its `$ref`s into `defs` followed (a few hops: a converted
/// target is never a bare `$ref` itself).
pub(super) fn follow<'s>(defs: Option<&'s Map<String, Value>>, mut node: &'s Value) -> &'s Value {
    for _ in 0..8 {
        match node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .and_then(|k| defs?.get(k))
        {
            Some(target) => node = target,
            None => break,
        }
    }
    node
}

/// Whether the cheap keywords of `schema` reject `value` before anything
/// below it is looked at: its own type, const, enum, required or closed
/// object, or the type, const or enum of a scalar member. (The `jsonschema`
/// crate checks these before it descends, whatever the order of the members:
/// measured on tests/fixtures/recursive/filters and with its members
/// reversed.)
pub(super) fn rejects(defs: Option<&Map<String, Value>>, schema: &Value, value: &Value) -> bool {
    let schema = follow(defs, schema);
    if local_rule(schema, value).is_some() {
        return true;
    }
    let (Value::Object(members), Some(props)) =
        (value, schema.get("properties").and_then(Value::as_object))
    else {
        return false;
    };
    members.iter().any(|(name, member)| {
        !member.is_object()
            && !member.is_array()
            && props
                .get(name)
                .is_some_and(|p| local_rule(follow(defs, p), member).is_some())
    })
}

impl<'s> Walk<'s> {
    fn follow(&self, node: &'s Value) -> &'s Value {
        follow(self.defs, node)
    }

    fn find(&mut self, schema: &'s Value, value: &Value, path: &str) -> Option<Violation> {
        self.visits += 1;
        if self.visits > BUDGET {
            return None;
        }
        let schema = self.follow(schema);
        let at = |rule: String| {
            Some(Violation {
                path: path.to_string(),
                rule,
            })
        };
        if let Some(rule) = local_rule(schema, value) {
            return at(rule);
        }
        for k in ["allOf", "then"] {
            for branch in branches(schema, k) {
                if let Some(v) = self.find(branch, value, path) {
                    return Some(v);
                }
            }
        }
        for k in ["oneOf", "anyOf"] {
            let all = branches(schema, k);
            if all.is_empty() {
                continue;
            }
            let open: Vec<&Value> = all
                .into_iter()
                .filter(|b| !rejects(self.defs, b, value))
                .collect();
            match open.as_slice() {
                [] => return at(format!("matches none of the allowed alternatives ({k})")),
                [only] => {
                    if let Some(v) = self.find(only, value, path) {
                        return Some(v);
                    }
                }
                _ => {}
            }
        }
        match value {
            Value::Object(members) => self.members(schema, members, path),
            Value::Array(items) => {
                let each = schema.get("items").filter(|s| !s.is_array())?;
                items
                    .iter()
                    .enumerate()
                    .find_map(|(i, item)| self.find(each, item, &format!("{path}/{i}")))
            }
            _ => None,
        }
    }

    fn members(
        &mut self,
        schema: &'s Value,
        members: &Map<String, Value>,
        path: &str,
    ) -> Option<Violation> {
        let props = schema.get("properties").and_then(Value::as_object);
        let extra = schema.get("additionalProperties");
        for (name, member) in members {
            let here = format!("{path}/{}", name.replace('~', "~0").replace('/', "~1"));
            let sub = props.and_then(|p| p.get(name)).or(extra);
            if let Some(v) = sub.and_then(|s| self.find(s, member, &here)) {
                return Some(v);
            }
        }
        None
    }
}

fn branches<'s>(schema: &'s Value, k: &str) -> Vec<&'s Value> {
    match schema.get(k) {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

/// The rule of `schema` itself (not below it) that `value` breaks, in words.
fn local_rule(schema: &Value, value: &Value) -> Option<String> {
    if schema == &Value::Bool(false) {
        return Some("is not allowed here".into());
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() && !types.iter().any(|t| is_type(t, value)) {
            return Some(format!("expected a value of type {}", types.join(" or ")));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            return Some(format!("must be {c}"));
        }
    }
    if let Some(list) = schema.get("enum").and_then(Value::as_array) {
        if !list.contains(value) {
            return Some(format!("must be one of {}", Value::Array(list.clone())));
        }
    }
    let members = value.as_object()?;
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !members.contains_key(r) {
            return Some(format!("the field \"{r}\" is required"));
        }
    }
    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        let props = schema.get("properties").and_then(Value::as_object);
        let unexpected: Vec<String> = members
            .keys()
            .filter(|k| !props.is_some_and(|p| p.contains_key(*k)))
            .map(|k| format!("\"{k}\""))
            .collect();
        if !unexpected.is_empty() {
            return Some(format!("unexpected field(s) {}", unexpected.join(", ")));
        }
    }
    None
}

/// Whether `value` is of JSON Schema type `t`.
fn is_type(t: &str, value: &Value) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_the_alternative_the_value_names() {
        let s = json!({"$ref": "#/$defs/f", "$defs": {
            "f": {"oneOf": [{"$ref": "#/$defs/and"}, {"$ref": "#/$defs/cmp"}]},
            "and": {"required": ["op"], "properties": {"op": {"const": "and"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/f"}}}},
            "cmp": {"required": ["op", "field"], "properties": {"op": {"enum": ["eq", "lt"]},
                    "field": {"type": "string"}}}
        }});
        let v = json!({"op": "and", "children": [{"op": "and", "children": [
            {"op": "eq", "field": "a"}, {"op": "eq", "field": 5}]}]});
        let found = first_violation(&s, &v);
        assert_eq!(found.path, "/children/0/children/1");
        assert_eq!(
            found.rule,
            "matches none of the allowed alternatives (oneOf)"
        );
        let v = json!({"op": "and", "children": [{"op": "neq", "field": "a"}]});
        assert_eq!(first_violation(&s, &v).path, "/children/0");
    }
}
