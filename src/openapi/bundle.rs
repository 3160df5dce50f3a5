//! OpenAPI descriptions split over several files: every `$ref` into another
//! document (`./schemas.yaml#/Thing`, `https://…/common.json#/…`) is followed
//! when the description is loaded, and each document it reaches is placed
//! inside the root under `x-arazzo-external/<n>`, with the `$ref`s that point
//! into it rewritten to local ones. After that the description is one tree,
//! and everything else resolves `$ref`s as if it had been written that way.

use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value};
use url::Url;

use crate::read::{display_url, fetch, parse_tree, LoadError};

/// Where the documents reached by external `$ref`s are kept in the root.
pub const KEY: &str = "x-arazzo-external";

/// Beside a rewritten `$ref`: the reference as the description wrote it.
pub const WRITTEN: &str = "x-arazzo-ref";

/// Put in place of a document that cannot be read or parsed, with the
/// reason: an error only if something resolves through it.
pub const UNREADABLE: &str = "x-arazzo-unreadable";

/// Most documents one description may pull in.
const MAX_DOCUMENTS: usize = 200;

/// Whether the JSON text has a `$ref` whose value does not start with `#`:
/// a byte search, so that a description without any stays on the lazy path.
pub fn external_ref_in_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memmem::find_iter(bytes, b"\"$ref\"").any(|at| {
        let mut i = at + 6;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b':') {
            return false;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        bytes.get(i) == Some(&b'"') && bytes.get(i + 1) != Some(&b'#')
    })
}

/// Whether the tree has a `$ref` whose value does not start with `#`.
pub fn external_ref_in(v: &Value) -> bool {
    match v {
        Value::Object(m) => {
            m.get("$ref")
                .and_then(Value::as_str)
                .is_some_and(|r| !r.starts_with('#'))
                || m.values().any(external_ref_in)
        }
        Value::Array(items) => items.iter().any(external_ref_in),
        _ => false,
    }
}

/// Pulls every document that `root` (read from `url`) reaches through
/// `$ref`s into `root` itself. `what` names the description in messages.
pub async fn bundle(
    mut root: Value,
    url: &Url,
    client: &crate::http::Fetcher,
    what: &str,
) -> Result<Value, LoadError> {
    let mut index: HashMap<Url, usize> = HashMap::from([(without_fragment(url), 0)]);
    let mut pending: VecDeque<(usize, Url, String)> = VecDeque::new();
    let mut found: Vec<(usize, Url, String)> = Vec::new();
    rewrite(&mut root, 0, url, &mut index, &mut found)?;
    pending.extend(found.drain(..));

    let mut external = Map::new();
    while let Some((n, doc_url, cited)) = pending.pop_front() {
        // A document that cannot be read is an error only for a run that needs
        // it: descriptions often name files they do not ship.
        let unreadable = |reason: String| {
            let message = format!(
                "{what}: `$ref: {cited}` points into `{}`, which cannot be read: {reason}",
                display_url(&doc_url),
            );
            serde_json::json!({ UNREADABLE: message })
        };
        // A description read over the network never reads this machine's files.
        let from_network = matches!(url.scheme(), "http" | "https");
        if from_network && doc_url.scheme() == "file" {
            external.insert(
                n.to_string(),
                unreadable("a description fetched over http(s) may not read local files".into()),
            );
            continue;
        }
        let mut doc = match fetch(&doc_url, client).await {
            Err(e) => {
                external.insert(n.to_string(), unreadable(e.message));
                continue;
            }
            Ok(text) => match parse_tree(&text, "it") {
                Ok(doc) => doc,
                Err(e) => {
                    external.insert(n.to_string(), unreadable(e.message));
                    continue;
                }
            },
        };
        rewrite(&mut doc, n, &doc_url, &mut index, &mut found)?;
        pending.extend(found.drain(..));
        external.insert(n.to_string(), doc);
    }
    if let Value::Object(m) = &mut root {
        m.insert(KEY.into(), Value::Object(external));
    }
    Ok(root)
}

fn without_fragment(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_fragment(None);
    u
}

/// Rewrites the `$ref`s of document `n` (read from `base`) to point inside
/// the bundle, numbering each new document it names and listing it in `found`.
fn rewrite(
    v: &mut Value,
    n: usize,
    base: &Url,
    index: &mut HashMap<Url, usize>,
    found: &mut Vec<(usize, Url, String)>,
) -> Result<(), LoadError> {
    match v {
        Value::Object(m) => {
            let mut written = None;
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                let (doc, fragment) = match r.split_once('#') {
                    Some((doc, fragment)) => (doc, fragment),
                    None => (r.as_str(), ""),
                };
                let target = if doc.is_empty() {
                    n
                } else {
                    let joined = base.join(doc).map_err(|e| {
                        LoadError::new(
                            format!(
                                "`$ref: {r}` in `{}` is not a usable reference: {e}",
                                display_url(base)
                            ),
                            None,
                        )
                    })?;
                    let key = without_fragment(&joined);
                    match index.get(&key) {
                        Some(&i) => i,
                        None => {
                            let i = index.len();
                            if i > MAX_DOCUMENTS {
                                return Err(LoadError::new(
                                    format!(
                                        "the description reaches more than {MAX_DOCUMENTS} documents through `$ref`s"
                                    ),
                                    Some("bundle the description into one file".into()),
                                ));
                            }
                            index.insert(key.clone(), i);
                            found.push((i, key, r.clone()));
                            i
                        }
                    }
                };
                let local = if target == 0 {
                    format!("#{fragment}")
                } else {
                    format!("#/{KEY}/{target}{fragment}")
                };
                if *r != local {
                    written = Some(std::mem::replace(r, local));
                }
            }
            // The `$ref` as written, for messages.
            if let Some(original) = written {
                m.insert(WRITTEN.into(), Value::String(original));
            }
            for (k, child) in m.iter_mut() {
                if k != "$ref" {
                    rewrite(child, n, base, index, found)?;
                }
            }
        }
        Value::Array(items) => {
            for child in items {
                rewrite(child, n, base, index, found)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_refs_are_found_in_text_and_trees() {
        assert!(!external_ref_in_text(r##"{"a": {"$ref": "#/x"}}"##));
        assert!(external_ref_in_text(r##"{"a": {"$ref" : "./b.yaml#/x"}}"##));
        assert!(external_ref_in_text(r##"{"a": {"$ref":"b.json"}}"##));
        assert!(!external_ref_in_text(r##"{"a": "$ref"}"##));
        assert!(!external_ref_in(
            &serde_json::json!({"a": [{"$ref": "#/x"}]})
        ));
        assert!(external_ref_in(
            &serde_json::json!({"a": [{"$ref": "x.yaml"}]})
        ));
    }

    #[test]
    fn refs_are_rewritten_into_the_bundle() {
        let base = Url::parse("file:///api/root.yaml").unwrap();
        let mut index = HashMap::from([(base.clone(), 0)]);
        let mut found = Vec::new();
        let mut v = serde_json::json!({
            "a": {"$ref": "#/local"},
            "b": {"$ref": "common.yaml#/components/schemas/X"},
            "c": [{"$ref": "./common.yaml"}, {"$ref": "sub/other.json#/Y"}],
            "d": {"$ref": "root.yaml#/back"},
            "x-ext": {"properties": {"x-p": {"$ref": "#/local"}}}
        });
        rewrite(&mut v, 0, &base, &mut index, &mut found).unwrap();
        assert_eq!(v["a"]["$ref"], "#/local");
        assert_eq!(v["b"]["$ref"], "#/x-arazzo-external/1/components/schemas/X");
        assert_eq!(v["b"]["x-arazzo-ref"], "common.yaml#/components/schemas/X");
        assert!(v["a"].get("x-arazzo-ref").is_none());
        assert_eq!(v["c"][0]["$ref"], "#/x-arazzo-external/1");
        assert_eq!(v["c"][1]["$ref"], "#/x-arazzo-external/2/Y");
        assert_eq!(v["d"]["$ref"], "#/back");
        assert_eq!(v["x-ext"]["properties"]["x-p"]["$ref"], "#/local");
        let urls: Vec<String> = found.iter().map(|(_, u, _)| u.to_string()).collect();
        assert_eq!(
            urls,
            ["file:///api/common.yaml", "file:///api/sub/other.json"]
        );
        // Inside document 2, a local ref stays inside document 2, also under
        // names that look like extensions.
        let mut w = serde_json::json!({"z": {"$ref": "#/Y"}, "x-name": {"$ref": "#/Z"}});
        let sub = Url::parse("file:///api/sub/other.json").unwrap();
        rewrite(&mut w, 2, &sub, &mut index, &mut found).unwrap();
        assert_eq!(w["z"]["$ref"], "#/x-arazzo-external/2/Y");
        assert_eq!(w["x-name"]["$ref"], "#/x-arazzo-external/2/Z");
    }
}
