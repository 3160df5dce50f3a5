//! The JSON tree of an OpenAPI description, read only as far as a run needs.
//!
//! A JSON description is checked for syntax in one pass, but only its small
//! top-level members are turned into `Value`s. Each path item and each
//! component (`#/components/<kind>/<name>`) is kept as a span of the text and
//! parsed the first time something asks for it, so a workflow calling four
//! operations of a 2 MB description builds the trees of those four path items
//! and the components they reference, nothing else. YAML descriptions (and JSON
//! whose shape is unusual) are parsed whole.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{item_operations, OpenApiError, ADDITIONAL, METHODS};

/// A description's tree: parsed whole, or lazily.
pub enum Tree {
    Full(Value),
    Lazy(Box<Lazy>),
}

impl fmt::Debug for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tree::Full(_) => f.write_str("Tree::Full"),
            Tree::Lazy(l) => write!(f, "Tree::Lazy({} bytes)", l.text.len()),
        }
    }
}

/// A JSON description read lazily.
pub struct Lazy {
    text: String,
    /// Every top-level member except `paths` and `components`, parsed.
    top: serde_json::Map<String, Value>,
    paths: Option<Section>,
    /// `components`, by kind (`schemas`, `parameters`, …).
    components: Option<Vec<(String, Section)>>,
    components_index: HashMap<String, usize>,
    /// The whole document, for the rare pointer that needs it.
    whole: OnceLock<Result<Value, String>>,
    /// Where `"operationId": "…"` appears in the text.
    operation_ids: OnceLock<TextIds>,
}

/// The string values of every `"operationId"` member in the text, found by a
/// byte search rather than a parse, with their offsets. Candidates only: one in
/// a link object, or in a component, is not an operation of a path item.
#[derive(Default)]
struct TextIds {
    at: HashMap<String, Vec<usize>>,
    /// Some value is written with escapes, so a search may miss it.
    escaped: bool,
}

impl TextIds {
    fn scan(text: &str) -> TextIds {
        let mut out = TextIds::default();
        let bytes = text.as_bytes();
        for start in memchr::memmem::find_iter(bytes, b"\"operationId\"") {
            let mut i = start + 13;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if bytes.get(i) != Some(&b':') {
                continue;
            }
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if bytes.get(i) != Some(&b'"') {
                continue;
            }
            let from = i + 1;
            let Some(len) = memchr::memchr2(b'"', b'\\', &bytes[from..]) else {
                continue;
            };
            if bytes[from + len] == b'\\' {
                out.escaped = true;
                continue;
            }
            out.at
                .entry(text[from..from + len].to_string())
                .or_default()
                .push(start);
        }
        out
    }
}

/// A JSON object whose members are parsed on demand.
struct Section {
    members: Vec<(String, Node)>,
    index: HashMap<String, usize>,
    whole: OnceLock<Result<Value, String>>,
}

struct Node {
    span: (usize, usize),
    value: OnceLock<Result<Value, String>>,
}

/// An object's members as raw JSON, in document order.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The top level, read in one pass: `paths` and each `components` kind as
/// members kept raw, everything else raw too (parsed afterwards).
struct Top<'a> {
    other: Vec<(String, &'a RawValue)>,
    paths: Option<Members<'a>>,
    components: Option<Vec<(String, Members<'a>)>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Top<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Kinds<'a>(Vec<(String, Members<'a>)>);
        impl<'de: 'a, 'a> Deserialize<'de> for Kinds<'a> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Kinds<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a components object")
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Self::Value, A::Error> {
                        let mut out = Vec::new();
                        while let Some(k) = map.next_key::<String>()? {
                            out.push((k, map.next_value::<Members<'de>>()?));
                        }
                        Ok(Kinds(out))
                    }
                }
                d.deserialize_map(V)
            }
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Top<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an OpenAPI description object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut top = Top {
                    other: Vec::new(),
                    paths: None,
                    components: None,
                };
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "paths" => top.paths = Some(map.next_value()?),
                        "components" => top.components = Some(map.next_value::<Kinds>()?.0),
                        _ => top.other.push((k, map.next_value()?)),
                    }
                }
                Ok(top)
            }
        }
        d.deserialize_map(V)
    }
}

/// The operationIds of a path item, by method (a fixed field's name, or an
/// `additionalOperations` key), without building its tree, and whether the
/// item is a `$ref`.
struct OperationIds(Vec<(String, String)>, bool);

impl<'de> Deserialize<'de> for OperationIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Op {
            operation_id: Option<String>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OperationIds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a path item object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                let mut is_ref = false;
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    is_ref |= k == "$ref";
                    if let Some(m) = METHODS.iter().find(|m| **m == k) {
                        // An operation that is not an object is the resolver's to report.
                        if let OpOrAny(Ok(Op {
                            operation_id: Some(id),
                        })) = map.next_value::<OpOrAny>()?
                        {
                            out.push((m.to_string(), id));
                        }
                    } else if ADDITIONAL.contains(&k.as_ref()) {
                        // Few and small: read as a tree.
                        if let Some(ops) = map.next_value::<Value>()?.as_object() {
                            for (m, op) in ops {
                                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                                    out.push((m.clone(), id.to_string()));
                                }
                            }
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(OperationIds(out, is_ref))
            }
        }
        /// An operation object's operationId, or `None` for anything else.
        struct OpOrAny(Result<Op, ()>);
        impl<'de> Deserialize<'de> for OpOrAny {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(OpVisitor)
            }
        }
        struct OpVisitor;
        impl<'de> Visitor<'de> for OpVisitor {
            type Value = OpOrAny;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("anything")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut operation_id = None;
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if k == "operationId" {
                        // Not a string: nothing to index.
                        operation_id = map.next_value::<Value>()?.as_str().map(str::to_string);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(OpOrAny(Ok(Op { operation_id })))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(OpOrAny(Err(())))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(OpOrAny(Err(())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(OpOrAny(Err(())))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(OpOrAny(Err(())))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(OpOrAny(Err(())))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(OpOrAny(Err(())))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(OpOrAny(Err(())))
            }
        }
        d.deserialize_map(V)
    }
}

fn offset(text: &str, raw: &RawValue) -> (usize, usize) {
    let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
    (start, start + raw.get().len())
}

/// Parses a span of the text; an error names its line and column in the
/// whole file.
fn parse(text: &str, span: (usize, usize)) -> Result<Value, String> {
    serde_json::from_str(&text[span.0..span.1]).map_err(|e| {
        let before = &text[..span.0];
        let line = before.matches('\n').count() + e.line();
        let column = if e.line() == 1 {
            span.0 - before.rfind('\n').map_or(0, |i| i + 1) + e.column()
        } else {
            e.column()
        };
        let message = e.to_string();
        let message = message
            .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
            .unwrap_or(&message);
        match crate::read::too_deep(&message) {
            Some(m) => format!("{m} (line {line} column {column})"),
            None => format!("{message} at line {line} column {column}"),
        }
    })
}

impl Section {
    fn new(text: &str, Members(members): Members) -> Section {
        let mut index = HashMap::with_capacity(members.len());
        let members: Vec<(String, Node)> = members
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| {
                // Of two equal keys the last counts, as in a whole parse.
                index.insert(k.clone(), i);
                (
                    k,
                    Node {
                        span: offset(text, v),
                        value: OnceLock::new(),
                    },
                )
            })
            .collect();
        Section {
            members,
            index,
            whole: OnceLock::new(),
        }
    }

    fn member<'a>(&'a self, text: &str, name: &str) -> Result<Option<&'a Value>, OpenApiError> {
        match self.index.get(name) {
            Some(&i) => self.members[i].1.get(text).map(Some).map_err(|e| {
                OpenApiError::Invalid(format!("`{name}` in the description cannot be read: {e}"))
            }),
            None => Ok(None),
        }
    }

    fn whole(&self, text: &str) -> Result<&Value, OpenApiError> {
        self.whole
            .get_or_init(|| {
                let mut map = serde_json::Map::new();
                for (k, node) in &self.members {
                    map.insert(k.clone(), parse(text, node.span)?);
                }
                Ok(Value::Object(map))
            })
            .as_ref()
            .map_err(|e| unusable(e))
    }
}

impl Node {
    fn get(&self, text: &str) -> Result<&Value, &str> {
        self.value
            .get_or_init(|| parse(text, self.span))
            .as_ref()
            .map_err(String::as_str)
    }
}

fn unusable(e: &str) -> OpenApiError {
    OpenApiError::Invalid(format!("part of the description cannot be read: {e}"))
}

/// Unescapes one JSON Pointer token.
fn token(t: &str) -> std::borrow::Cow<'_, str> {
    if t.contains('~') {
        t.replace("~1", "/").replace("~0", "~").into()
    } else {
        t.into()
    }
}

/// Follows the rest of a pointer (`""` or `/a/b`) inside `v`.
fn rest<'a>(v: &'a Value, ptr: &str) -> Option<&'a Value> {
    if ptr.is_empty() {
        Some(v)
    } else {
        v.pointer(ptr)
    }
}

/// Splits `/first/rest…` into the unescaped first token and the rest.
fn split(ptr: &str) -> Option<(std::borrow::Cow<'_, str>, &str)> {
    let p = ptr.strip_prefix('/')?;
    match p.find('/') {
        Some(i) => Some((token(&p[..i]), &p[i..])),
        None => Some((token(p), "")),
    }
}

impl Lazy {
    /// Reads a JSON description. `Err` gives the text back when it is not a
    /// JSON object or its syntax is broken (the caller reports which).
    pub fn parse(text: String) -> Result<Lazy, String> {
        let body = text.trim_start_matches('\u{feff}').trim_start();
        let Ok(Top {
            other,
            paths,
            components,
        }) = serde_json::from_str::<Top>(body)
        else {
            return Err(text);
        };
        let mut top = serde_json::Map::new();
        for (k, raw) in other {
            match serde_json::from_str::<Value>(raw.get()) {
                Ok(v) => {
                    top.insert(k, v);
                }
                Err(_) => return Err(text),
            }
        }
        let paths = paths.map(|m| Section::new(&text, m));
        let mut components_index = HashMap::new();
        let components = components.map(|kinds| {
            kinds
                .into_iter()
                .enumerate()
                .map(|(i, (kind, m))| {
                    components_index.insert(kind.clone(), i);
                    (kind, Section::new(&text, m))
                })
                .collect()
        });
        Ok(Lazy {
            text,
            top,
            paths,
            components,
            components_index,
            whole: OnceLock::new(),
            operation_ids: OnceLock::new(),
        })
    }

    /// Whether the top level has this member.
    pub fn has(&self, key: &str) -> bool {
        match key {
            "paths" => self.paths.is_some(),
            "components" => self.components.is_some(),
            _ => self.top.contains_key(key),
        }
    }

    /// The text as read.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text, for a caller that decides this is not an OpenAPI description.
    pub fn into_text(self) -> String {
        self.text
    }

    fn whole(&self) -> Result<&Value, OpenApiError> {
        self.whole
            .get_or_init(|| {
                let body = self.text.trim_start_matches('\u{feff}').trim_start();
                serde_json::from_str(body).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| unusable(e))
    }
}

impl Tree {
    /// A top-level member other than `paths` and `components`.
    pub fn top(&self, key: &str) -> Option<&Value> {
        match self {
            Tree::Full(v) => v.get(key),
            Tree::Lazy(l) => l.top.get(key),
        }
    }

    /// The path item at `path` as written (before `$ref` resolution).
    pub fn path_item(&self, path: &str) -> Result<Option<&Value>, OpenApiError> {
        match self {
            Tree::Full(v) => Ok(v.get("paths").and_then(|p| p.get(path))),
            Tree::Lazy(l) => match &l.paths {
                Some(s) => s.member(&l.text, path),
                None => Ok(None),
            },
        }
    }

    /// Follows a JSON Pointer (escaped, `~1`/`~0`, not percent-encoded).
    pub fn pointer(&self, ptr: &str) -> Result<Option<&Value>, OpenApiError> {
        let l = match self {
            Tree::Full(v) => return Ok(rest(v, ptr)),
            Tree::Lazy(l) => l,
        };
        let Some((first, after)) = split(ptr) else {
            return Ok(rest(l.whole()?, ptr));
        };
        match first.as_ref() {
            "paths" => {
                let Some(paths) = &l.paths else {
                    return Ok(None);
                };
                match split(after) {
                    Some((name, after)) => {
                        Ok(paths.member(&l.text, &name)?.and_then(|v| rest(v, after)))
                    }
                    None => Ok(rest(paths.whole(&l.text)?, after)),
                }
            }
            "components" => {
                let Some(kinds) = &l.components else {
                    return Ok(None);
                };
                let Some((kind, after)) = split(after) else {
                    return Ok(rest(l.whole()?, ptr));
                };
                let Some(&k) = l.components_index.get(kind.as_ref()) else {
                    return Ok(None);
                };
                let section = &kinds[k].1;
                match split(after) {
                    Some((name, after)) => {
                        Ok(section.member(&l.text, &name)?.and_then(|v| rest(v, after)))
                    }
                    None => Ok(rest(section.whole(&l.text)?, after)),
                }
            }
            other => Ok(l.top.get(other).and_then(|v| rest(v, after))),
        }
    }

    /// The path and method of the operation with this operationId, found
    /// without indexing every operation. `Err(())` when the quick way cannot
    /// tell (a whole tree, escapes in the text, a `$ref` path item): the
    /// caller then uses the full index.
    pub fn find_operation(&self, id: &str) -> Result<Option<(String, String)>, ()> {
        let Tree::Lazy(l) = self else {
            return Err(());
        };
        let ids = l.operation_ids.get_or_init(|| TextIds::scan(&l.text));
        if ids.escaped || id.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            return Err(());
        }
        let Some(paths) = &l.paths else {
            return Ok(None);
        };
        let candidates = ids.at.get(id).map(Vec::as_slice).unwrap_or_default();
        // Written more than once (a link naming it, or a duplicate operationId):
        // the full index decides, so that the first operation in document
        // order counts whichever way the description is read.
        if candidates.len() > 1 {
            return Err(());
        }
        for &at in candidates {
            // The path item whose text holds this occurrence.
            let i = paths.members.partition_point(|(_, n)| n.span.1 <= at);
            let Some((path, node)) = paths.members.get(i) else {
                continue;
            };
            if at < node.span.0 || paths.index.get(path) != Some(&i) {
                continue;
            }
            let Ok(item) = node.get(&l.text) else {
                return Err(());
            };
            for (m, op) in item_operations(item) {
                if op.get("operationId").and_then(Value::as_str) == Some(id) {
                    return Ok(Some((path.clone(), m)));
                }
            }
        }
        // Not in a path item as written: perhaps behind a `$ref`.
        Err(())
    }

    /// Every operationId with its path and method, in document order. Path
    /// items given by `$ref` are resolved; operations are not parsed.
    /// Whether two operations may share an operationId: always for a tree
    /// parsed whole (it is cheap to look), and for lazy text only when some
    /// operationId value is written more than once (or with escapes).
    pub fn may_repeat_operation_ids(&self) -> bool {
        match self {
            Tree::Full(_) => true,
            Tree::Lazy(l) => {
                let ids = l.operation_ids.get_or_init(|| TextIds::scan(&l.text));
                ids.escaped || ids.at.values().any(|at| at.len() > 1)
            }
        }
    }

    pub fn operation_ids(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let from_value = |path: &str, item: &Value, out: &mut Vec<_>| {
            if !item.is_object() {
                return;
            }
            for (m, op) in item_operations(item) {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    out.push((id.to_string(), path.to_string(), m));
                }
            }
        };
        match self {
            Tree::Full(v) => {
                for (path, item) in v
                    .get("paths")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    let item = self.resolve(item).unwrap_or(item);
                    from_value(path, item, &mut out);
                }
            }
            Tree::Lazy(l) => {
                let Some(paths) = &l.paths else {
                    return out;
                };
                for (i, (path, node)) in paths.members.iter().enumerate() {
                    // A path written twice: the last one counts, as in a whole parse.
                    if paths.index.get(path) != Some(&i) {
                        continue;
                    }
                    let text = &l.text[node.span.0..node.span.1];
                    match serde_json::from_str::<OperationIds>(text) {
                        Ok(OperationIds(_, true)) => {
                            // A `$ref` path item: read it and what it points at.
                            if let Ok(item) = node.get(&l.text) {
                                let item = self.resolve(item).unwrap_or(item);
                                from_value(path, item, &mut out);
                            }
                        }
                        Ok(OperationIds(ids, false)) => {
                            for (m, id) in ids {
                                out.push((id, path.clone(), m));
                            }
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        out
    }

    /// Why `$ref: r` (pointer `ptr`) resolves to nothing: a document of the
    /// bundle that could not be read says so itself.
    fn nothing_at(&self, r: &str, ptr: &str) -> OpenApiError {
        let prefix = format!("/{}/", super::bundle::KEY);
        if let Some(rest) = ptr.strip_prefix(&prefix) {
            let n = rest.split('/').next().unwrap_or_default();
            let marker = format!("{prefix}{n}/{}", super::bundle::UNREADABLE);
            if let Ok(Some(Value::String(m))) = self.pointer(&marker) {
                return OpenApiError::Invalid(m.clone());
            }
            return OpenApiError::Invalid(format!("`$ref: {r}` points at nothing in that file"));
        }
        OpenApiError::Invalid(format!("`$ref: {r}` points at nothing in the description"))
    }

    /// Follows local `$ref` chains (`#/…`), guarding against cycles.
    pub fn resolve<'a>(&'a self, mut v: &'a Value) -> Result<&'a Value, OpenApiError> {
        for _ in 0..32 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return Ok(v);
            };
            let Some(ptr) = r.strip_prefix('#') else {
                return Err(OpenApiError::Invalid(format!(
                    "`$ref: {r}` points into another document that was not loaded with this one; write it as a plain `$ref` (a relative path or URL and a `#/…` pointer)"
                )));
            };
            let decoded = percent_encoding::percent_decode_str(ptr).decode_utf8_lossy();
            v = match self.pointer(&decoded)? {
                // A whole document of the bundle that could not be read.
                Some(target)
                    if target
                        .get(super::bundle::UNREADABLE)
                        .is_some_and(Value::is_string) =>
                {
                    return Err(OpenApiError::Invalid(
                        target[super::bundle::UNREADABLE]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    ));
                }
                Some(target) => target,
                None => {
                    let written = v
                        .get(super::bundle::WRITTEN)
                        .and_then(Value::as_str)
                        .unwrap_or(r);
                    return Err(self.nothing_at(written, &decoded));
                }
            };
        }
        Err(OpenApiError::Invalid(
            "a `$ref` chain is longer than 32 links (a cycle?)".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn both(doc: &Value) -> [Tree; 2] {
        [
            Tree::Full(doc.clone()),
            Tree::Lazy(Box::new(Lazy::parse(doc.to_string()).unwrap())),
        ]
    }

    #[test]
    fn lazy_and_full_trees_answer_alike() {
        let doc = json!({
            "openapi": "3.1.0",
            "servers": [{"url": "https://x"}],
            "paths": {
                "/a/{id}": {"get": {"operationId": "getA", "parameters": [{"$ref": "#/components/parameters/id"}]},
                            "parameters": [], "summary": "s",
                            "post": {"operationId": "postA"}, "put": 3},
                "/b": {"$ref": "#/components/pathItems/b"},
                "/c~d": {"delete": {"operationId": "delC"}}
            },
            "components": {
                "parameters": {"id": {"name": "id", "in": "path"}},
                "pathItems": {"b": {"get": {"operationId": "getB", "description": "has a \"$ref\" string"}}},
                "schemas": {"a/b": {"type": "string"}, "loop": {"$ref": "#/components/schemas/loop"}}
            },
            "x-extra": {"k": [1, 2]}
        });
        for t in both(&doc) {
            assert_eq!(t.top("openapi"), Some(&json!("3.1.0")));
            let ids = t.operation_ids();
            assert_eq!(
                ids,
                vec![
                    ("getA".to_string(), "/a/{id}".to_string(), "get".to_string()),
                    ("postA".into(), "/a/{id}".into(), "post".into()),
                    ("getB".into(), "/b".into(), "get".into()),
                    ("delC".into(), "/c~d".into(), "delete".into()),
                ],
                "{t:?}"
            );
            assert_eq!(
                t.pointer("/components/parameters/id/in").unwrap(),
                Some(&json!("path"))
            );
            assert_eq!(
                t.pointer("/components/schemas/a~1b").unwrap(),
                Some(&json!({"type": "string"}))
            );
            assert_eq!(
                t.pointer("/paths/~1c~0d/delete/operationId").unwrap(),
                Some(&json!("delC"))
            );
            assert_eq!(t.pointer("/x-extra/k/1").unwrap(), Some(&json!(2)));
            assert_eq!(
                t.pointer("/components/parameters").unwrap().unwrap()["id"]["name"],
                "id"
            );
            assert_eq!(
                t.pointer("/components").unwrap().unwrap()["schemas"]["a/b"]["type"],
                "string"
            );
            assert_eq!(t.pointer("").unwrap().unwrap()["openapi"], "3.1.0");
            assert_eq!(t.pointer("/components/nothing/x").unwrap(), None);
            assert_eq!(t.pointer("/paths/~1zzz").unwrap(), None);
            let item = t.path_item("/b").unwrap().unwrap();
            assert_eq!(t.resolve(item).unwrap()["get"]["operationId"], "getB");
            let looped = t.pointer("/components/schemas/loop").unwrap().unwrap();
            assert!(t
                .resolve(looped)
                .unwrap_err()
                .to_string()
                .contains("32 links"));
        }
    }

    #[test]
    fn operations_are_found_by_a_text_search_and_checked() {
        let doc = r##"{"openapi": "3.0.0",
            "paths": {
              "/x": {"get": {"operationId": "getX",
                             "responses": {"200": {"links": {"l": {"operationId" : "getY"}}}}}},
              "/y": {"post": {"operationId":"getY"}},
              "/r": {"$ref": "#/components/pathItems/r"}
            },
            "components": {"pathItems": {"r": {"get": {"operationId": "getR"}}}}}"##;
        let t = Tree::Lazy(Box::new(Lazy::parse(doc.into()).unwrap()));
        assert_eq!(
            t.find_operation("getX"),
            Ok(Some(("/x".into(), "get".into())))
        );
        // The link in /x names getY too: the full index decides.
        assert_eq!(t.find_operation("getY"), Err(()));
        assert!(t.operation_ids().contains(&(
            "getY".to_string(),
            "/y".to_string(),
            "post".to_string()
        )));
        // Behind a `$ref`, or absent: the full index decides.
        assert_eq!(t.find_operation("getR"), Err(()));
        assert_eq!(t.find_operation("nope"), Err(()));
        assert_eq!(t.find_operation("a\"b"), Err(()));
        let escaped =
            r#"{"openapi": "3.0.0", "paths": {"/x": {"get": {"operationId": "get\u0058"}}}}"#;
        let t = Tree::Lazy(Box::new(Lazy::parse(escaped.into()).unwrap()));
        assert_eq!(t.find_operation("getX"), Err(()));
        assert_eq!(
            t.operation_ids(),
            vec![("getX".into(), "/x".into(), "get".into())]
        );
        assert_eq!(Tree::Full(json!({})).find_operation("getX"), Err(()));
    }

    #[test]
    fn a_path_written_twice_counts_once_as_in_a_whole_parse() {
        let doc = r#"{"openapi": "3.0.0", "paths": {
            "/a": {"get": {"operationId": "listThings"}},
            "/a": {"delete": {"operationId": "delA"}, "get": {"operationId": "getOther"}}}}"#;
        let lazy = Tree::Lazy(Box::new(Lazy::parse(doc.into()).unwrap()));
        let full = Tree::Full(serde_json::from_str(doc).unwrap());
        for t in [&lazy, &full] {
            let ids = t.operation_ids();
            assert!(!ids.iter().any(|(id, _, _)| id == "listThings"), "{ids:?}");
            assert!(ids.contains(&("getOther".into(), "/a".into(), "get".into())));
        }
        assert_eq!(lazy.find_operation("listThings"), Err(()));
        assert_eq!(
            lazy.find_operation("getOther"),
            Ok(Some(("/a".into(), "get".into())))
        );
    }

    #[test]
    fn openapi_32_query_and_additional_operations_are_indexed() {
        let doc = r#"{"openapi": "3.2.0", "paths": {
            "/d": {"query": {"operationId": "queryD"},
                   "additionalOperations": {"COPY": {"operationId": "copyD"}, "PURGE": {}},
                   "x-oai-additionalOperations": {"LINK": {"operationId": "linkD"}}}}}"#;
        let lazy = Tree::Lazy(Box::new(Lazy::parse(doc.into()).unwrap()));
        let full = Tree::Full(serde_json::from_str(doc).unwrap());
        for t in [&lazy, &full] {
            assert_eq!(
                t.operation_ids(),
                vec![
                    ("queryD".to_string(), "/d".to_string(), "query".to_string()),
                    ("copyD".into(), "/d".into(), "COPY".into()),
                    ("linkD".into(), "/d".into(), "LINK".into()),
                ]
            );
        }
        assert_eq!(
            lazy.find_operation("copyD"),
            Ok(Some(("/d".into(), "COPY".into())))
        );
        assert_eq!(
            lazy.find_operation("queryD"),
            Ok(Some(("/d".into(), "query".into())))
        );
    }

    #[test]
    fn not_an_object_or_broken_json_is_given_back() {
        assert!(Lazy::parse("[1]".into()).is_err());
        assert!(Lazy::parse("{\"a\": }".into()).is_err());
        assert!(Lazy::parse("{\"paths\": 3}".into()).is_err());
        assert!(Lazy::parse("{\"components\": {\"schemas\": []}}".into()).is_err());
        let l = Lazy::parse("\u{feff} {\"openapi\": \"3.0.0\"}".into()).unwrap();
        assert!(l.has("openapi") && !l.has("paths"));
    }
}
