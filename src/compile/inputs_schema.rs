//! A workflow's inputs schema made readable in one place: `$ref`s into the
//! document inlined, `allOf` properties lifted to the root.

use serde_json::{Map, Value};

/// A workflow's `inputs` schema with its `$ref`s into `doc` inlined and its
/// `allOf` properties lifted to the root, so its input names are in one place.
/// Needs only the Arazzo document's tree (shell completion reads no sources).
pub(crate) fn inputs_schema(doc: &Value, inputs: &Value) -> Result<Value, String> {
    let mut schema = inline_refs(doc, inputs, 0, &mut 0)?;
    lift_all_of(&mut schema, 0);
    Ok(schema)
}

/// Copies the `properties` and `required` of `allOf` branches up to the root of
/// an inputs schema, so the inputs a workflow takes can be read in one place.
/// Validation is unchanged: every branch must hold anyway.
fn lift_all_of(schema: &mut Value, depth: usize) {
    if depth > 8 {
        return;
    }
    let Some(branches) = schema.get("allOf").and_then(Value::as_array).cloned() else {
        return;
    };
    for mut branch in branches {
        lift_all_of(&mut branch, depth + 1);
        let Value::Object(root) = schema else {
            return;
        };
        if let Some(props) = branch.get("properties").and_then(Value::as_object) {
            let target = root
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(t) = target {
                for (k, v) in props {
                    t.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        if let Some(req) = branch.get("required").and_then(Value::as_array) {
            let target = root
                .entry("required")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(t) = target {
                for r in req {
                    if !t.contains(r) {
                        t.push(r.clone());
                    }
                }
            }
        }
    }
}

/// Most nodes an inputs schema may have once its `$ref`s are inlined: `$ref`s
/// that name one component many times, at many levels, multiply.
const MAX_INLINED_NODES: usize = 100_000;

/// Inlines `$ref`s that point into this document (`#/components/inputs/x`);
/// `nodes` counts what was made so far.
fn inline_refs(doc: &Value, v: &Value, depth: usize, nodes: &mut usize) -> Result<Value, String> {
    if depth > 32 {
        return Err("`$ref`s nest more than 32 deep (a cycle?)".into());
    }
    *nodes += 1;
    if *nodes > MAX_INLINED_NODES {
        return Err(format!(
            "the schema grows past {MAX_INLINED_NODES} nodes once its `$ref`s are inlined; name each component fewer times"
        ));
    }
    Ok(match v {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                let Some(ptr) = r.strip_prefix('#') else {
                    return Err(format!(
                        "`$ref: {r}` must point into this document (`#/components/inputs/…`)"
                    ));
                };
                let target = doc
                    .pointer(ptr)
                    .ok_or_else(|| format!("`$ref: {r}` points at nothing"))?;
                let mut resolved = inline_refs(doc, target, depth + 1, nodes)?;
                // Sibling keywords next to `$ref` apply too (JSON Schema 2020-12).
                if let Value::Object(rm) = &mut resolved {
                    for (k, sib) in map.iter().filter(|(k, _)| *k != "$ref") {
                        rm.insert(k.clone(), inline_refs(doc, sib, depth + 1, nodes)?);
                    }
                }
                resolved
            } else {
                let mut out = Map::with_capacity(map.len());
                for (k, x) in map {
                    out.insert(k.clone(), inline_refs(doc, x, depth + 1, nodes)?);
                }
                Value::Object(out)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| inline_refs(doc, i, depth + 1, nodes))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}
