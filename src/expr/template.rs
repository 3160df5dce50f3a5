//! Values that may hold runtime expressions: a whole-value expression (keeps the
//! referenced value's type), a string with embedded `{$…}` segments (always a
//! string), or a structure holding either at any depth.

use serde_json::{Map, Value};
use std::borrow::Cow;

use super::parse::{looks_like_expression, parse_expression};
use super::{stringify, Expr, ExprError, Resolve, Selector};

/// A string with embedded `{$…}` expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Expr(Expr),
}

impl Template {
    /// Scans `s` for `{$…}` segments. Braces that do not open an expression are
    /// text, so JSON or XML written as a string keeps working. A segment that starts
    /// like an expression but does not parse is an error, not silently sent text.
    /// Returns `None` when `s` embeds no expression.
    pub fn parse(s: &str) -> Result<Option<Template>, ExprError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = s;
        while let Some(open) = rest.find("{$") {
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                if looks_like_expression(after.trim_end()) {
                    return Err(ExprError {
                        message: format!(
                            "in the text `{s}`: `{{{}` is not closed with `}}`",
                            after.trim_end()
                        ),
                    });
                }
                break;
            };
            let inner = &after[..close];
            if !looks_like_expression(inner) {
                text.push_str(&rest[..open + 2]);
                rest = &rest[open + 2..];
                continue;
            }
            let expr = parse_expression(inner).map_err(|e| ExprError {
                message: format!("in the text `{s}`: {}", e.message),
            })?;
            text.push_str(&rest[..open]);
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Expr(expr));
            rest = &after[close + 1..];
        }
        if parts.is_empty() {
            return Ok(None);
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Some(Template { parts }))
    }

    /// The strict template grammar of the expression test suites: text without
    /// braces and `{expression}` segments. Any stray brace, or a segment that is not
    /// an expression, makes the whole string a non-template and yields no expressions.
    pub fn extract_strict(s: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = s;
        loop {
            match rest.find(['{', '}']) {
                None => return found,
                Some(i) if rest.as_bytes()[i] == b'}' => return Vec::new(),
                Some(i) => {
                    let after = &rest[i + 1..];
                    let Some(close) = after.find('}') else {
                        return Vec::new();
                    };
                    let inner = &after[..close];
                    if inner.contains('{') || parse_expression(inner).is_err() {
                        return Vec::new();
                    }
                    found.push(inner.to_string());
                    rest = &after[close + 1..];
                }
            }
        }
    }

    pub fn expressions(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Text(_) => None,
        })
    }

    pub fn render(&self, ctx: &dyn Resolve) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => out.push_str(&stringify(ctx.resolve(e).as_deref())),
            }
        }
        out
    }

    /// Renders for a request: an embedded expression that resolved to nothing is
    /// an error (the reason from [`Resolve::missing`]), except an optional input
    /// that was not given, which renders as empty text.
    pub fn render_required(&self, ctx: &dyn Resolve) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => match ctx.resolve(e) {
                    Some(v) => out.push_str(&stringify(Some(&v))),
                    None => {
                        if let Some(why) = ctx.missing(e) {
                            return Err(why);
                        }
                    }
                },
            }
        }
        Ok(out)
    }
}

/// A JSON value compiled for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueExpr {
    /// Holds no expression anywhere inside.
    Literal(Value),
    /// A string that is exactly one runtime expression: the result keeps its type.
    Expr(Expr),
    Template(Template),
    Array(Vec<ValueExpr>),
    Object(Vec<(String, ValueExpr)>),
    /// A Selector Object (Arazzo 1.1): a selector applied to its context.
    Selector(Box<Selector>),
}

impl ValueExpr {
    /// Compiles a value; one nested deeper than
    /// [`MAX_VALUE_DEPTH`](super::MAX_VALUE_DEPTH) is an error (compiling and
    /// evaluating recurse once per level).
    pub fn compile(value: &Value) -> Result<ValueExpr, ExprError> {
        Self::compile_at(value, 0, false)
    }

    /// [`ValueExpr::compile`] for an Arazzo 1.1 value, where an object written
    /// as a Selector Object (see [`Selector::looks_like`]) is one.
    pub fn compile_with_selectors(value: &Value) -> Result<ValueExpr, ExprError> {
        Self::compile_at(value, 0, true)
    }

    fn compile_at(value: &Value, depth: usize, selectors: bool) -> Result<ValueExpr, ExprError> {
        if depth > super::MAX_VALUE_DEPTH && (value.is_array() || value.is_object()) {
            return Err(ExprError {
                message: format!(
                    "the value nests arrays and objects more than {} levels deep",
                    super::MAX_VALUE_DEPTH
                ),
            });
        }
        Ok(match value {
            Value::String(s) => Self::compile_str(s)?,
            Value::Array(items) => {
                let compiled = items
                    .iter()
                    .map(|i| ValueExpr::compile_at(i, depth + 1, selectors))
                    .collect::<Result<Vec<_>, _>>()?;
                if compiled.iter().all(|c| matches!(c, ValueExpr::Literal(_))) {
                    ValueExpr::Literal(value.clone())
                } else {
                    ValueExpr::Array(compiled)
                }
            }
            Value::Object(map) if selectors && Selector::looks_like(map) => {
                let selector = Selector::compile(map).map_err(|(field, message)| ExprError {
                    message: format!("selector `{field}`: {message}"),
                })?;
                ValueExpr::Selector(Box::new(selector))
            }
            Value::Object(map) => {
                let compiled = map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), ValueExpr::compile_at(v, depth + 1, selectors)?)))
                    .collect::<Result<Vec<_>, ExprError>>()?;
                if compiled
                    .iter()
                    .all(|(_, c)| matches!(c, ValueExpr::Literal(_)))
                {
                    ValueExpr::Literal(value.clone())
                } else {
                    ValueExpr::Object(compiled)
                }
            }
            other => ValueExpr::Literal(other.clone()),
        })
    }

    pub fn compile_str(s: &str) -> Result<ValueExpr, ExprError> {
        if s.starts_with('$') {
            match parse_expression(s) {
                Ok(e) => return Ok(ValueExpr::Expr(e)),
                Err(e) if looks_like_expression(s) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(match Template::parse(s)? {
            Some(t) => ValueExpr::Template(t),
            None => ValueExpr::Literal(Value::String(s.to_string())),
        })
    }

    /// Evaluates to a value; `None` when a whole-value expression is undefined.
    /// Object members whose value is undefined are left out, so an optional input
    /// that was not given is never sent as `null`.
    pub fn eval(&self, ctx: &dyn Resolve) -> Option<Value> {
        match self {
            ValueExpr::Literal(v) => Some(v.clone()),
            ValueExpr::Expr(e) => ctx.resolve(e).map(Cow::into_owned),
            ValueExpr::Template(t) => Some(Value::String(t.render(ctx))),
            ValueExpr::Selector(s) => s.eval(ctx).ok().flatten(),
            ValueExpr::Array(items) => Some(Value::Array(
                items.iter().filter_map(|i| i.eval(ctx)).collect(),
            )),
            ValueExpr::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (k, v) in members {
                    if let Some(v) = v.eval(ctx) {
                        map.insert(k.clone(), v);
                    }
                }
                Some(Value::Object(map))
            }
        }
    }

    /// Evaluates a value a request needs (a parameter, a payload, a replacement).
    /// Nothing may be silently lost: an expression anywhere inside that resolves
    /// to nothing is an error, with the reason from [`Resolve::missing`]. The one
    /// exception is an optional input that was not given: it drops the member or
    /// item that holds it (`Ok(None)` when it is the whole value) and renders as
    /// empty text inside a string.
    pub fn eval_required(&self, ctx: &dyn Resolve) -> Result<Option<Value>, String> {
        Ok(match self {
            ValueExpr::Literal(v) => Some(v.clone()),
            ValueExpr::Expr(e) => match ctx.resolve(e) {
                Some(v) => Some(v.into_owned()),
                None => match ctx.missing(e) {
                    Some(why) => return Err(why),
                    None => None,
                },
            },
            ValueExpr::Template(t) => Some(Value::String(t.render_required(ctx)?)),
            ValueExpr::Selector(s) => s.eval(ctx)?,
            ValueExpr::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    if let Some(v) = i.eval_required(ctx)? {
                        out.push(v);
                    }
                }
                Some(Value::Array(out))
            }
            ValueExpr::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (k, v) in members {
                    if let Some(v) = v.eval_required(ctx)? {
                        map.insert(k.clone(), v);
                    }
                }
                Some(Value::Object(map))
            }
        })
    }

    /// Why a Selector Object inside has no value in `ctx` (the first that
    /// has none), for the message about an output that is undefined.
    pub fn selector_failure(&self, ctx: &dyn Resolve) -> Option<String> {
        match self {
            ValueExpr::Selector(s) => s.eval(ctx).err(),
            ValueExpr::Array(items) => items.iter().find_map(|i| i.selector_failure(ctx)),
            ValueExpr::Object(members) => members.iter().find_map(|(_, v)| v.selector_failure(ctx)),
            _ => None,
        }
    }

    /// Every expression inside, in document order.
    pub fn expressions(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            ValueExpr::Literal(_) => {}
            ValueExpr::Expr(e) => out.push(e),
            ValueExpr::Template(t) => out.extend(t.expressions()),
            ValueExpr::Selector(s) => out.push(s.context()),
            ValueExpr::Array(items) => items.iter().for_each(|i| i.collect(out)),
            ValueExpr::Object(members) => members.iter().for_each(|(_, v)| v.collect(out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Ctx;
    impl Resolve for Ctx {
        fn resolve(&self, e: &Expr) -> Option<Cow<'_, Value>> {
            match e {
                Expr::Inputs { name, .. } if name == "tags" => Some(json!(["a", "b"])),
                Expr::Inputs { name, .. } if name == "n" => Some(json!(3)),
                Expr::Inputs { name, .. } if name == "s" => Some(json!("x")),
                Expr::Inputs { name, .. } if name == "nul" => Some(Value::Null),
                _ => None,
            }
            .map(Cow::Owned)
        }
    }

    #[test]
    fn types_are_preserved_and_missing_members_dropped() {
        let v = ValueExpr::compile(&json!({
            "tags": "$inputs.tags",
            "n": "$inputs.n",
            "gone": "$inputs.missing",
            "nul": "$inputs.nul",
            "text": "n={$inputs.n}, tags={$inputs.tags}, none={$inputs.missing}",
            "deep": [{"s": "$inputs.s"}],
            "lit": "price $5 {not} {$100}"
        }))
        .unwrap();
        assert_eq!(
            v.eval(&Ctx).unwrap(),
            json!({
                "tags": ["a", "b"],
                "n": 3,
                "nul": null,
                "text": "n=3, tags=[\"a\",\"b\"], none=",
                "deep": [{"s": "x"}],
                "lit": "price $5 {not} {$100}"
            })
        );
    }

    #[test]
    fn required_values_refuse_what_is_missing_but_omitted_inputs() {
        struct Strict;
        impl Resolve for Strict {
            fn resolve(&self, e: &Expr) -> Option<Cow<'_, Value>> {
                Ctx.resolve(e).map(|v| Cow::Owned(v.into_owned()))
            }
            fn missing(&self, e: &Expr) -> Option<String> {
                match e {
                    Expr::Inputs { name, .. } if name == "missing" => None,
                    other => Some(format!("`{other}` is gone")),
                }
            }
        }
        let v = ValueExpr::compile(&json!({
            "n": "$inputs.n",
            "gone": "$inputs.missing",
            "text": "none={$inputs.missing}",
            "deep": [{"s": "$inputs.s"}, "$inputs.missing"]
        }))
        .unwrap();
        assert_eq!(
            v.eval_required(&Strict).unwrap(),
            Some(json!({"n": 3, "text": "none=", "deep": [{"s": "x"}]}))
        );
        assert_eq!(
            ValueExpr::compile(&json!("$inputs.missing"))
                .unwrap()
                .eval_required(&Strict),
            Ok(None)
        );
        for bad in [
            json!({"a": {"b": ["$steps.s.outputs.id"]}}),
            json!("id={$steps.s.outputs.id}"),
            json!("$steps.s.outputs.id"),
        ] {
            assert_eq!(
                ValueExpr::compile(&bad).unwrap().eval_required(&Strict),
                Err("`$steps.s.outputs.id` is gone".to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn json_text_templates() {
        let v = ValueExpr::compile(&json!("{\"petId\": \"{$inputs.s}\"}")).unwrap();
        assert_eq!(v.eval(&Ctx).unwrap(), json!("{\"petId\": \"x\"}"));
    }

    #[test]
    fn values_nested_past_the_limit_are_refused() {
        let mut v = json!("$inputs.s");
        for _ in 0..crate::expr::MAX_VALUE_DEPTH {
            v = json!([v]);
        }
        assert!(ValueExpr::compile(&v).is_ok());
        let e = ValueExpr::compile(&json!({ "a": [v] })).unwrap_err();
        assert!(e.message.contains("more than 256 levels"), "{e}");
    }

    #[test]
    fn typos_are_errors() {
        assert!(ValueExpr::compile(&json!("$steps.a.output.b")).is_err());
        assert!(ValueExpr::compile(&json!("id={$steps.a.output.b}")).is_err());
    }
}
