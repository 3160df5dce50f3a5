//! Runtime expressions (Arazzo 1.0.1 §Runtime Expressions), `{$…}` templates and
//! `simple` conditions.
//!
//! Everything here is parsed once, at compile time, into small trees the engine
//! evaluates against a [`Resolve`] context without touching the source text again.

mod condition;
pub mod criteria;
mod near;
mod parse;
mod selector;
mod template;
pub mod xpath;

pub use condition::{Condition, ConditionError};
pub(crate) use near::edit_distance;
pub use near::{near_expression, near_expressions_in};
pub use parse::{parse_expression, ExprError};
pub use selector::{Selector, Target};
pub use template::{Template, ValueExpr};

use serde_json::Value;
use std::borrow::Cow;

/// Deepest nesting of `(` and `!` in a `simple` condition, and of brackets in a
/// `regex`, `jsonpath` or `xpath` criterion. Their parsers recurse once per
/// level; real conditions nest a handful of levels, and this keeps every
/// parser far inside the smallest thread stack it runs on.
pub const MAX_NESTING: usize = 64;

/// Deepest nesting of arrays and objects in a payload or value that may hold
/// runtime expressions (compiled and evaluated recursively). Documents cannot
/// nest deeper than [`crate::read::MAX_DEPTH`] anyway; this bounds the
/// recursion for values that come from elsewhere.
pub const MAX_VALUE_DEPTH: usize = 256;

/// A JSON Pointer (RFC 6901) kept both as the text the author wrote and as decoded
/// reference tokens, so errors can quote it and evaluation never re-parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    text: String,
    tokens: Vec<String>,
}

impl Pointer {
    /// Parses the part after `#`: empty, or `/`-separated tokens with `~0`/`~1` escapes.
    pub fn parse(text: &str) -> Result<Pointer, String> {
        if text.is_empty() {
            return Ok(Pointer {
                text: String::new(),
                tokens: Vec::new(),
            });
        }
        if !text.starts_with('/') {
            return Err(format!("JSON Pointer `{text}` must start with `/`"));
        }
        let mut tokens = Vec::new();
        for raw in text[1..].split('/') {
            let mut out = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(format!(
                                "JSON Pointer `{text}` has a `~` not followed by 0 or 1 (write `~0` for `~` and `~1` for `/`)"
                            ))
                        }
                    }
                } else {
                    out.push(c);
                }
            }
            tokens.push(out);
        }
        Ok(Pointer {
            text: text.to_string(),
            tokens,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// Selects the referenced part of `value`; `None` when it does not exist.
    pub fn select<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        let mut cur = value;
        for tok in &self.tokens {
            cur = match cur {
                Value::Object(map) => map.get(tok.as_str())?,
                Value::Array(items) => {
                    if tok.len() > 1 && tok.starts_with('0') {
                        return None;
                    }
                    items.get(tok.parse::<usize>().ok()?)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }

    /// The shortest prefix of this pointer that selects nothing in `value`, as
    /// pointer text (`/data/id` when `/data` exists but has no `id`); `None`
    /// when the whole pointer selects something.
    pub fn first_missing(&self, value: &Value) -> Option<String> {
        let mut cur = value;
        let mut text = String::new();
        for tok in &self.tokens {
            text.push('/');
            text.push_str(&tok.replace('~', "~0").replace('/', "~1"));
            let next = match cur {
                Value::Object(map) => map.get(tok.as_str()),
                Value::Array(items) if tok.len() > 1 && tok.starts_with('0') => None,
                Value::Array(items) => tok.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(v) => cur = v,
                None => return Some(text),
            }
        }
        None
    }
}

/// Which data of another workflow a `$workflows.<id>.…` expression reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowPart {
    Inputs,
    Outputs,
}

/// One parsed runtime expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Arazzo 1.1's `$self`: the base URI of the document the expression is in.
    SelfUri,
    Url,
    Method,
    StatusCode,
    RequestHeader(String),
    RequestQuery(String),
    RequestPath(String),
    RequestBody(Option<Pointer>),
    ResponseHeader(String),
    ResponseBody(Option<Pointer>),
    /// 1.1 `$message.header.<name>`: a header of the message a message step sent or
    /// received.
    MessageHeader(String),
    /// 1.1 `$message.payload[#pointer]`: the payload of that message.
    MessagePayload(Option<Pointer>),
    Inputs {
        name: String,
        pointer: Option<Pointer>,
    },
    Outputs {
        name: String,
        pointer: Option<Pointer>,
    },
    Steps {
        step: String,
        output: String,
        pointer: Option<Pointer>,
    },
    Workflows {
        workflow: String,
        part: WorkflowPart,
        name: String,
        pointer: Option<Pointer>,
    },
    /// `$sourceDescriptions.<name>.<rest>`: `rest` is an operationId, a workflowId or `url`.
    SourceDescriptions {
        name: String,
        rest: String,
    },
    /// `$components.<kind>.<name>`.
    Components {
        kind: String,
        name: String,
    },
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn ptr(f: &mut std::fmt::Formatter<'_>, p: &Option<Pointer>) -> std::fmt::Result {
            match p {
                Some(p) => write!(f, "#{}", p.as_str()),
                None => Ok(()),
            }
        }
        match self {
            Expr::SelfUri => f.write_str("$self"),
            Expr::Url => f.write_str("$url"),
            Expr::Method => f.write_str("$method"),
            Expr::StatusCode => f.write_str("$statusCode"),
            Expr::RequestHeader(h) => write!(f, "$request.header.{h}"),
            Expr::RequestQuery(q) => write!(f, "$request.query.{q}"),
            Expr::RequestPath(p) => write!(f, "$request.path.{p}"),
            Expr::RequestBody(p) => {
                f.write_str("$request.body")?;
                ptr(f, p)
            }
            Expr::ResponseHeader(h) => write!(f, "$response.header.{h}"),
            Expr::ResponseBody(p) => {
                f.write_str("$response.body")?;
                ptr(f, p)
            }
            Expr::MessageHeader(h) => write!(f, "$message.header.{h}"),
            Expr::MessagePayload(p) => {
                f.write_str("$message.payload")?;
                ptr(f, p)
            }
            Expr::Inputs { name, pointer } => {
                write!(f, "$inputs.{name}")?;
                ptr(f, pointer)
            }
            Expr::Outputs { name, pointer } => {
                write!(f, "$outputs.{name}")?;
                ptr(f, pointer)
            }
            Expr::Steps {
                step,
                output,
                pointer,
            } => {
                write!(f, "$steps.{step}.outputs.{output}")?;
                ptr(f, pointer)
            }
            Expr::Workflows {
                workflow,
                part,
                name,
                pointer,
            } => {
                let part = match part {
                    WorkflowPart::Inputs => "inputs",
                    WorkflowPart::Outputs => "outputs",
                };
                write!(f, "$workflows.{workflow}.{part}.{name}")?;
                ptr(f, pointer)
            }
            Expr::SourceDescriptions { name, rest } => {
                write!(f, "$sourceDescriptions.{name}.{rest}")
            }
            Expr::Components { kind, name } => write!(f, "$components.{kind}.{name}"),
        }
    }
}

/// What an evaluation context must answer. `None` means "undefined": the value does
/// not exist (an input that was not given, a pointer that selects nothing, a step
/// that has not run).
pub trait Resolve {
    /// The value of `expr`, borrowed from the context where it lives there (a
    /// response body is never copied to be compared or navigated), or `None`
    /// when it is undefined.
    fn resolve(&self, expr: &Expr) -> Option<Cow<'_, Value>>;

    /// Why `expr` resolved to nothing, for a request that needs its value.
    /// `None` means the absence is allowed and simply drops the field: only an
    /// optional input that was not given at all. `Some(reason)` stops the
    /// request from being sent; the reason names the expression and, where the
    /// context knows it, what found nothing.
    fn missing(&self, expr: &Expr) -> Option<String> {
        Some(format!("`{expr}` is undefined"))
    }

    /// When an XPath or JSONPath evaluation (a Selector Object's) must give
    /// up: the run's `--max-duration`, if any.
    fn deadline(&self) -> Option<std::time::Instant> {
        None
    }
}

/// Applies an optional pointer to a value of the context.
pub(crate) fn apply_pointer<'a>(
    value: &'a Value,
    pointer: &Option<Pointer>,
) -> Option<Cow<'a, Value>> {
    match pointer {
        None => Some(Cow::Borrowed(value)),
        Some(p) if p.tokens().is_empty() => Some(Cow::Borrowed(value)),
        Some(p) => p.select(value).map(Cow::Borrowed),
    }
}

/// Text form of a value embedded in a string: scalars as their text, structures as
/// JSON, null and undefined as the empty string (Arazzo 1.1 §Runtime Expressions).
pub fn stringify(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointer_escapes_and_arrays() {
        let v = json!({"a/b": {"c~d": [10, 20]}, "": 1});
        let p = Pointer::parse("/a~1b/c~0d/1").unwrap();
        assert_eq!(p.select(&v), Some(&json!(20)));
        assert_eq!(Pointer::parse("/").unwrap().select(&v), Some(&json!(1)));
        assert_eq!(Pointer::parse("/a~1b/c~0d/01").unwrap().select(&v), None);
        assert!(Pointer::parse("/a~2").is_err());
        assert!(Pointer::parse("a").is_err());
        let p = Pointer::parse("/a~1b/c~0d/5/x").unwrap();
        assert_eq!(p.first_missing(&v).as_deref(), Some("/a~1b/c~0d/5"));
        assert_eq!(Pointer::parse("/a~1b").unwrap().first_missing(&v), None);
        assert_eq!(
            Pointer::parse("/id")
                .unwrap()
                .first_missing(&json!({}))
                .as_deref(),
            Some("/id")
        );
    }

    #[test]
    fn stringify_rules() {
        assert_eq!(stringify(None), "");
        assert_eq!(stringify(Some(&Value::Null)), "");
        assert_eq!(stringify(Some(&json!("x"))), "x");
        assert_eq!(stringify(Some(&json!(1.5))), "1.5");
        assert_eq!(stringify(Some(&json!([1, "a"]))), "[1,\"a\"]");
    }
}
