//! Values written in the document (parameter values, request bodies,
//! outputs): every string compiled to an expression or a template, with the
//! diagnostics for text that is nearly an expression or mistypes one.

use serde_json::Value;

use super::compiler::{Compiler, Place};
use super::errors::{error, token, CompileError};
use crate::expr::{near_expression, Expr, Selector, ValueExpr};

impl<'a> Compiler<'a> {
    /// Compiles a value written in the document: every string inside it is
    /// compiled on its own, so a mistake is reported at the string that holds it
    /// and every expression is known with its place.
    pub(super) fn value_at(
        &mut self,
        value: &Value,
        pointer: &str,
        what: &str,
        located: &mut Vec<(String, Expr)>,
    ) -> Option<ValueExpr> {
        let before = self.errors.len();
        let mut stack: Vec<(&Value, String)> = vec![(value, pointer.to_string())];
        while let Some((v, p)) = stack.pop() {
            match v {
                Value::String(s) => match ValueExpr::compile_str(s) {
                    Ok(c) => {
                        for e in c.expressions() {
                            located.push((p.clone(), e.clone()));
                        }
                        if let Some(e) = self.near_miss(s, what) {
                            self.errors.push(e.at(&p));
                        }
                    }
                    Err(e) => self
                        .errors
                        .push(syntax_error(what, s, e.to_string()).at(&p)),
                },
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate().rev() {
                        stack.push((item, format!("{p}/{i}")));
                    }
                }
                Value::Object(map) if self.selectors && Selector::looks_like(map) => {
                    match Selector::compile(map) {
                        Ok(selector) => {
                            located.push((format!("{p}/context"), selector.context().clone()))
                        }
                        Err((field, m)) => self.errors.push(
                            error(
                                "selector/invalid",
                                format!("{what}: {m}"),
                                Some(SELECTOR_HELP.to_string()),
                            )
                            .at(&format!("{p}/{field}")),
                        ),
                    }
                }
                Value::Object(map) => {
                    for (k, item) in map.iter().rev() {
                        stack.push((item, format!("{p}/{}", token(k))));
                    }
                }
                _ => {}
            }
        }
        if self.errors.len() != before {
            return None;
        }
        let compiled = if self.selectors {
            ValueExpr::compile_with_selectors(value)
        } else {
            ValueExpr::compile(value)
        };
        match compiled {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors
                    .push(error("expr/syntax", format!("{what}: {e}"), None).at(pointer));
                None
            }
        }
    }

    /// Text that is nearly an expression (`$input.name`, `{$respons.body#/id}`)
    /// would be sent as it is: an error, unless the step or its workflow lists
    /// the text under `x-arazzo-literals` (text meant literally).
    pub(super) fn near_miss(&self, text: &str, what: &str) -> Option<CompileError> {
        if !text.contains('$') || self.literals.iter().any(|l| l == text) {
            return None;
        }
        let whole = text
            .starts_with('$')
            .then(|| near_expression(text))
            .flatten();
        let (written, meant) = match whole {
            Some(meant) => (text.to_string(), meant),
            None => text.match_indices("{$").find_map(|(i, _)| {
                let inner = &text[i + 1..];
                let inner = &inner[..inner.find('}')?];
                Some((inner.to_string(), near_expression(inner)?))
            })?,
        };
        Some(
            error(
                "expr/near-miss",
                format!("{what}: `{written}` is not a runtime expression, so it would be sent as this text"),
                Some(format!(
                    "did you mean `{meant}`? (text meant literally goes in the step's `x-arazzo-literals` list)"
                )),
            )
            .within(written),
        )
    }

    /// The payload and replacements of a request body, compiled with their places.
    pub(super) fn body_values(
        &mut self,
        rb: &crate::document::RequestBody,
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> BodyValues {
        let base = format!("{}/requestBody", at.pointer);
        let payload = rb.payload.as_ref().map(|p| {
            self.value_at(
                p,
                &format!("{base}/payload"),
                &format!("{at}, requestBody payload"),
                located,
            )
        });
        let replacements = rb
            .replacements
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let r_ptr = format!("{base}/replacements/{i}");
                let what = format!("{at}, replacement `{}`", r.target);
                (
                    r.target.clone(),
                    r.target_selector_type.clone(),
                    r_ptr.clone(),
                    self.value_at(&r.value, &format!("{r_ptr}/value"), &what, located),
                )
            })
            .collect();
        BodyValues {
            content_type: rb.content_type.clone(),
            payload,
            replacements,
        }
    }
}

/// A request body's values, compiled before the operation is known.
pub(super) struct BodyValues {
    pub(super) content_type: Option<String>,
    /// `Some(None)`: a payload that does not compile (already reported).
    pub(super) payload: Option<Option<ValueExpr>>,
    /// (target, targetSelectorType, pointer of the replacement, value)
    pub(super) replacements: Vec<(String, Option<Value>, String, Option<ValueExpr>)>,
}

/// Output names MUST match `^[a-zA-Z0-9.-_]+$`.
pub(super) fn output_key_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Help for a Selector Object that does not compile.
pub(super) const SELECTOR_HELP: &str = "a Selector Object is `{context: $response.body, selector: $.id, type: jsonpath}`: `type` is `jsonpath`, `xpath` or `jsonpointer`, or an Expression Type Object such as `{type: xpath, version: xpath-30}`";

/// An output's value: a runtime expression (or a template) written as a
/// string, or a Selector Object (`{context, selector, type}`, Arazzo 1.1).
pub(super) fn compile_output(v: &Value) -> Result<ValueExpr, String> {
    match v {
        Value::String(s) => ValueExpr::compile_str(s).map_err(|e| e.message),
        Value::Object(map) if Selector::looks_like(map) => match Selector::compile(map) {
            Ok(s) => Ok(ValueExpr::Selector(Box::new(s))),
            Err((field, m)) => Err(format!("selector `{field}`: {m}; {SELECTOR_HELP}")),
        },
        _ => Err("an output is a runtime expression string or a Selector Object ({context, selector, type})".into()),
    }
}

/// `$response.body.a.b` (or `$request.body…`, also `{…}` inside text): dots
/// where the spec writes a JSON Pointer, `$response.body#/a/b`. The text
/// written and its rewrite, when the rewrite is an expression.
fn body_dot_access(text: &str) -> Option<(String, String)> {
    let start = ["$response.body.", "$request.body."]
        .iter()
        .filter_map(|p| text.find(p).map(|i| (i, p.len())))
        .min()?;
    let (at, prefix_len) = start;
    let rest = &text[at + prefix_len..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']')))
        .unwrap_or(rest.len());
    let path = rest[..end].trim_end_matches('.');
    if path.is_empty() || rest[end..].starts_with('#') {
        return None;
    }
    let mut pointer = String::new();
    for segment in path.split('.') {
        let (name, indexes) = segment.split_once('[').unwrap_or((segment, ""));
        if name.is_empty() && indexes.is_empty() {
            return None;
        }
        if !name.is_empty() {
            pointer.push('/');
            pointer.push_str(&token(name));
        }
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            let n = index.strip_suffix(']')?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            pointer.push('/');
            pointer.push_str(n);
        }
    }
    let written = text[at..at + prefix_len + path.len()].to_string();
    let body = &written[..prefix_len - 1];
    let fixed = format!("{body}#{pointer}");
    crate::expr::parse_expression(&fixed).ok()?;
    Some((written, fixed))
}

/// An expression error, turned into the dot-access error with its fix when
/// the text is that mechanical mistake.
pub(super) fn syntax_error(what: &str, text: &str, message: String) -> CompileError {
    match body_dot_access(text) {
        Some((written, fixed)) => {
            let mut e = error(
                "expr/dot-access",
                format!("{what}: `{written}` reaches into the body with dots; the spec writes a JSON Pointer after `#`"),
                Some(format!("write `{fixed}` (`arazzo validate --fix` does it)")),
            );
            e.needle = Some(written.clone());
            e.fix = Some(Box::new((written, fixed)));
            e
        }
        None => error("expr/syntax", format!("{what}: {message}"), None),
    }
}
