//! The Selector Object of Arazzo 1.1 (`{context, selector, type}`) and the
//! targets of Payload Replacement Objects (`target` read as
//! `targetSelectorType` says).
//!
//! **What counts as a Selector Object.** Where 1.1 allows one (an output, a
//! parameter value, anywhere inside a payload, a replacement value), an object
//! is read as a Selector Object when it has exactly the three keys `context`,
//! `selector` and `type`, and its `context` is a string that starts with `$`.
//! Its `type` and `selector` are then checked, so a misspelt type is an error,
//! not an object sent as it is. An object literal of that shape cannot be
//! written directly in a 1.1 document; pass it from an input instead.
//!
//! **Results.** `jsonpointer`: the value at the pointer. `jsonpath`: the value
//! of the one node selected, or an array of the nodes' values when the query
//! selects several. `xpath`: the string value of the one node (a number or
//! boolean stays one), an array for several. Selecting nothing is an error
//! naming the selector: a request that needs the value is not sent, and an
//! output that holds it is undefined, with that reason.

use std::borrow::Cow;
use std::time::Instant;

use serde_json::{Map, Value};

use super::criteria::{self, describe, SelectorType, XPathVersion};
use super::{parse_expression, Expr, Pointer, Resolve};

/// A compiled Selector Object.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    context: Expr,
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    JsonPath(serde_json_path::JsonPath),
    JsonPointer(Pointer),
    XPath(XPathVersion),
}

/// The three keys of a Selector Object.
const KEYS: [&str; 3] = ["context", "selector", "type"];

impl Selector {
    /// Whether `map` is written as a Selector Object (see the module's documentation).
    pub fn looks_like(map: &Map<String, Value>) -> bool {
        map.len() == KEYS.len()
            && KEYS.iter().all(|k| map.contains_key(*k))
            && map
                .get("context")
                .and_then(Value::as_str)
                .is_some_and(|c| c.trim_start().starts_with('$'))
    }

    /// Compiles a Selector Object. The error names the field at fault
    /// (`context`, `selector` or `type`) and what is wrong.
    pub fn compile(map: &Map<String, Value>) -> Result<Selector, (&'static str, String)> {
        let context = map.get("context").and_then(Value::as_str).unwrap_or("");
        let context = parse_expression(context.trim()).map_err(|e| {
            (
                "context",
                format!(
                    "the selector's `context` must be one runtime expression, such as \
                     `$response.body`: {}",
                    e.message
                ),
            )
        })?;
        let kind = map.get("type").unwrap_or(&Value::Null);
        let kind = SelectorType::parse(kind).map_err(|m| ("type", m))?;
        let text = match map.get("selector") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) => {
                return Err((
                    "selector",
                    format!(
                        "the {} selector is empty: write the expression to apply to the context",
                        kind.name()
                    ),
                ))
            }
            Some(other) => {
                return Err((
                    "selector",
                    format!("the `selector` must be a string, not {}", describe(other)),
                ))
            }
            None => return Err(("selector", "the `selector` is missing".to_string())),
        };
        if text.len() > criteria::MAX_CONDITION_LEN {
            return Err((
                "selector",
                format!(
                    "the selector is {} bytes long, over the limit of {}: shorten it",
                    text.len(),
                    criteria::MAX_CONDITION_LEN
                ),
            ));
        }
        let kind = compile_kind(&text, kind).map_err(|m| ("selector", m))?;
        Ok(Selector {
            context,
            text,
            kind,
        })
    }

    /// The runtime expression of `context`.
    pub fn context(&self) -> &Expr {
        &self.context
    }

    /// The selector as written, with its type: ``jsonpath `$.id` ``.
    pub fn describe(&self) -> String {
        let ty = match &self.kind {
            Kind::JsonPath(_) => "jsonpath".to_string(),
            Kind::JsonPointer(_) => "jsonpointer".to_string(),
            Kind::XPath(v) => format!("xpath ({})", v.as_str()),
        };
        format!("{ty} selector `{}` on `{}`", self.text, self.context)
    }

    /// Evaluates the selector in `ctx`. `Ok(None)`: the context is an optional
    /// input that was not given (the value is left out, like the input's);
    /// `Err`: why there is no value.
    pub fn eval(&self, ctx: &dyn Resolve) -> Result<Option<Value>, String> {
        let Some(context) = ctx.resolve(&self.context) else {
            return match ctx.missing(&self.context) {
                Some(why) => Err(format!("the {}: {why}", self.describe())),
                None => Ok(None),
            };
        };
        // Before the run (a dry run, preflight) a context that needs a
        // response is the placeholder `{<expression>}`: so is the selection.
        let placeholder = format!("{{{}}}", self.context);
        if context.as_str() == Some(placeholder.as_str()) {
            return Ok(Some(Value::String(placeholder)));
        }
        self.apply_until(context, ctx.deadline()).map(Some)
    }

    /// Applies the selector to a context value, abandoned at `deadline` (the
    /// XPath and JSONPath engines cannot be interrupted: with a deadline they
    /// run on a thread of their own, on inputs bounded in size).
    fn apply_until(
        &self,
        context: Cow<'_, Value>,
        deadline: Option<Instant>,
    ) -> Result<Value, String> {
        let Some(deadline) = deadline.filter(|_| !matches!(self.kind, Kind::JsonPointer(_))) else {
            return self.apply(&context);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let abandoned = || {
            format!(
                "the {} was abandoned: the run reached --max-duration",
                self.describe()
            )
        };
        if left.is_zero() {
            return Err(abandoned());
        }
        let selector = self.clone();
        let value = context.into_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("arazzo-selector".into())
            .spawn(move || {
                let _ = tx.send(selector.apply(&value));
            });
        if spawned.is_err() {
            return Err(abandoned());
        }
        rx.recv_timeout(left).unwrap_or_else(|_| Err(abandoned()))
    }

    /// Applies the selector to the value of its context.
    pub fn apply(&self, context: &Value) -> Result<Value, String> {
        if context.is_null() {
            return Err(format!("the {}: the context is null", self.describe()));
        }
        criteria::guarded(|| match &self.kind {
            Kind::JsonPath(path) => {
                let parsed;
                let root = match json_root(context) {
                    Ok(Some(v)) => {
                        parsed = v;
                        &parsed
                    }
                    Ok(None) => context,
                    Err(e) => return Err(format!("the {}: {e}", self.describe())),
                };
                let mut nodes = path.query(root).all();
                match nodes.len() {
                    0 => Err(format!("the {} selects nothing", self.describe())),
                    1 => Ok(nodes.remove(0).clone()),
                    _ => Ok(Value::Array(nodes.into_iter().cloned().collect())),
                }
            }
            Kind::JsonPointer(pointer) => {
                let parsed;
                let root = match json_root(context) {
                    Ok(Some(v)) => {
                        parsed = v;
                        &parsed
                    }
                    Ok(None) => context,
                    Err(e) => return Err(format!("the {}: {e}", self.describe())),
                };
                pointer.select(root).cloned().ok_or_else(|| {
                    let at = pointer.first_missing(root).unwrap_or_default();
                    format!(
                        "the {} selects nothing (found nothing at `{at}`)",
                        self.describe()
                    )
                })
            }
            Kind::XPath(version) => match context {
                Value::String(xml) => super::xpath::select(&self.text, *version, xml)
                    .map_err(|e| format!("the {}: {e}", self.describe())),
                other => Err(format!(
                    "the {} needs XML text as its context, but the context is {}",
                    self.describe(),
                    describe(other)
                )),
            },
        })
    }
}

/// A JSON text context parsed (`Some`), a context used as it is (`None`), or
/// text that looks like JSON but does not parse.
fn json_root(context: &Value) -> Result<Option<Value>, String> {
    let Value::String(text) = context else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(Some(v)),
        Err(e) if criteria::looks_like_json_container(text) => Err(format!(
            "the context is text that looks like JSON but does not parse ({e})"
        )),
        Err(_) => Ok(None),
    }
}

fn compile_kind(text: &str, kind: SelectorType) -> Result<Kind, String> {
    match kind {
        SelectorType::JsonPointer => Pointer::parse(text)
            .map(Kind::JsonPointer)
            .map_err(|m| format!("invalid JSON Pointer selector: {m}")),
        SelectorType::JsonPath(version) => {
            if let Some(m) = criteria::too_deep(&serde_json::json!("jsonpath"), text) {
                return Err(m);
            }
            criteria::guarded(|| criteria::compile_jsonpath(text, version))
                .map(|c| Kind::JsonPath(c.into_path()))
        }
        SelectorType::XPath(version) => {
            criteria::guarded(|| super::xpath::check(text, version)).map(|_| Kind::XPath(version))
        }
    }
}

/// Where a Payload Replacement Object sets its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A JSON Pointer (the default for a JSON body).
    Pointer(Pointer),
    /// A JSONPath query: every location it selects is set.
    JsonPath {
        text: String,
        path: serde_json_path::JsonPath,
    },
    /// An XPath expression (the default for an XML body).
    XPath { text: String, version: XPathVersion },
}

impl Target {
    /// Compiles `target` as `kind` says (`targetSelectorType`), or by the
    /// payload's media type when it is absent. The error says whether the
    /// `targetSelectorType` (true) or the `target` (false) is at fault.
    pub fn compile(
        target: &str,
        kind: Option<&Value>,
        xml: bool,
    ) -> Result<Target, (bool, String)> {
        let kind = match kind {
            Some(k) => SelectorType::parse(k).map_err(|m| (true, m))?,
            None if xml => SelectorType::XPath(XPathVersion::V3_1),
            None => SelectorType::JsonPointer,
        };
        match (kind, xml) {
            (SelectorType::XPath(_), false) => {
                return Err((
                    true,
                    "an `xpath` target needs an XML payload (a `contentType` containing `xml`): \
                     use `jsonpointer` or `jsonpath` for this body"
                        .to_string(),
                ))
            }
            (SelectorType::JsonPath(_) | SelectorType::JsonPointer, true) => {
                return Err((
                    true,
                    format!(
                        "a `{}` target cannot be applied to an XML payload: use `xpath`",
                        kind.name()
                    ),
                ))
            }
            _ => {}
        }
        let compiled =
            match kind {
                SelectorType::JsonPointer => Pointer::parse(target).map(Target::Pointer),
                SelectorType::JsonPath(version) => {
                    match criteria::too_deep(&serde_json::json!("jsonpath"), target) {
                        Some(m) => Err(m),
                        None => criteria::guarded(|| criteria::compile_jsonpath(target, version))
                            .map(|c| Target::JsonPath {
                                text: target.to_string(),
                                path: c.into_path(),
                            }),
                    }
                }
                SelectorType::XPath(version) => criteria::guarded(|| {
                    super::xpath::check(target, version)
                })
                .map(|_| Target::XPath {
                    text: target.to_string(),
                    version,
                }),
            };
        compiled.map_err(|m| (false, m))
    }

    /// The target as written.
    pub fn as_str(&self) -> &str {
        match self {
            Target::Pointer(p) => p.as_str(),
            Target::JsonPath { text, .. } | Target::XPath { text, .. } => text,
        }
    }

    /// The JSON locations the target sets in `root`: the pointer itself, or
    /// every location a JSONPath query selects (one that selects nothing is an
    /// error: the value would be silently dropped).
    pub fn json_locations(&self, root: &Value) -> Result<Vec<Pointer>, String> {
        match self {
            Target::Pointer(p) => Ok(vec![p.clone()]),
            Target::JsonPath { text, path } => {
                let located = path.query_located(root);
                if located.is_empty() {
                    return Err(format!(
                        "the JSONPath target `{text}` selects nothing in the payload"
                    ));
                }
                located
                    .iter()
                    .map(|n| Pointer::parse(&n.location().to_json_pointer()))
                    .collect()
            }
            Target::XPath { text, .. } => Err(format!(
                "the XPath target `{text}` applies to XML payloads only"
            )),
        }
    }

    /// The XPath version of an XPath target.
    pub fn xpath_version(&self) -> Option<XPathVersion> {
        match self {
            Target::XPath { version, .. } => Some(*version),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn selector(v: Value) -> Result<Selector, (&'static str, String)> {
        Selector::compile(v.as_object().unwrap())
    }

    #[test]
    fn what_counts_as_a_selector_object() {
        let yes = json!({"context": "$response.body", "selector": "$.a", "type": "jsonpath"});
        assert!(Selector::looks_like(yes.as_object().unwrap()));
        for no in [
            json!({"context": "literal", "selector": "$.a", "type": "jsonpath"}),
            json!({"context": "$response.body", "selector": "$.a"}),
            json!({"context": "$response.body", "selector": "$.a", "type": "jsonpath", "x": 1}),
            json!({"context": 1, "selector": "$.a", "type": "jsonpath"}),
        ] {
            assert!(!Selector::looks_like(no.as_object().unwrap()), "{no}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            selector(json!({"context": "$response.body", "selector": "$[", "type": "jsonpath"}));
        assert_eq!(e.unwrap_err().0, "selector");
        let e =
            selector(json!({"context": "$response.body", "selector": "a", "type": "jsonpointer"}));
        assert_eq!(e.unwrap_err().0, "selector");
        let e =
            selector(json!({"context": "$response.body", "selector": "/a", "type": "JSONPath"}));
        assert_eq!(e.unwrap_err().0, "type");
        let e =
            selector(json!({"context": "$respons.body", "selector": "/a", "type": "jsonpointer"}));
        assert_eq!(e.unwrap_err().0, "context");
    }

    #[test]
    fn results_by_type() {
        let body = json!({"items": [{"id": 1}, {"id": 2}], "one": {"id": 3}});
        let s = |sel: &str, ty: Value| {
            selector(json!({"context": "$response.body", "selector": sel, "type": ty}))
                .unwrap()
                .apply(&body)
        };
        assert_eq!(s("$.one.id", json!("jsonpath")), Ok(json!(3)));
        assert_eq!(s("$.items[*].id", json!("jsonpath")), Ok(json!([1, 2])));
        assert_eq!(s("/items/1/id", json!("jsonpointer")), Ok(json!(2)));
        let err = s("/items/5/id", json!("jsonpointer")).unwrap_err();
        assert!(err.contains("found nothing at `/items/5`"), "{err}");
        let err = s("$.nope", json!("jsonpath")).unwrap_err();
        assert!(
            err.contains("jsonpath selector `$.nope`") && err.contains("selects nothing"),
            "{err}"
        );
        let err = s("/a", json!("xpath")).unwrap_err();
        assert!(err.contains("needs XML text"), "{err}");
        // A JSON text context is parsed.
        let text = selector(json!({"context": "$inputs.t", "selector": "$.a", "type": "jsonpath"}))
            .unwrap()
            .apply(&json!("{\"a\": [1]}"));
        assert_eq!(text, Ok(json!([1])));
    }

    #[test]
    fn targets() {
        let t = Target::compile("$.items[*].q", Some(&json!("jsonpath")), false).unwrap();
        let root = json!({"items": [{"q": 1}, {"q": 2}]});
        let at: Vec<String> = t
            .json_locations(&root)
            .unwrap()
            .iter()
            .map(|p| p.as_str().to_string())
            .collect();
        assert_eq!(at, ["/items/0/q", "/items/1/q"]);
        assert!(Target::compile("/a", None, false).is_ok());
        assert!(matches!(
            Target::compile("/a", None, true),
            Ok(Target::XPath { .. })
        ));
        assert!(!Target::compile("a", None, false).unwrap_err().0);
        assert!(
            Target::compile("/a", Some(&json!("xpath")), false)
                .unwrap_err()
                .0
        );
        assert!(
            Target::compile("/a", Some(&json!("jsonpath")), true)
                .unwrap_err()
                .0
        );
    }
}
