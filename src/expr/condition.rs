//! `simple` conditions: literals, runtime-expression operands with `.member` and
//! `[n]` navigation, comparisons, `!`, `&&`, `||` and parentheses.
//!
//! Precedence is `!` over comparison over `&&` over `||`. A comparison joins exactly
//! two operands (`a < b < c` is rejected). Comparisons are loose, as the spec asks:
//! strings compare case-insensitively, numeric strings compare as numbers, and
//! `null` (or an undefined value) equals only `null`; any ordering with it is false.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::parse::parse_expression;
use super::{Expr, Resolve};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    pub message: String,
    /// Byte offset in the condition where the problem was found.
    pub offset: usize,
    /// The condition nests deeper than [`MAX_NESTING`](super::MAX_NESTING).
    pub too_deep: bool,
}

/// A parsed `simple` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Compare(Operand, Op, Operand),
    Test(Operand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Literal(Value),
    Ref { expr: Expr, nav: Vec<Nav> },
}

#[derive(Debug, Clone, PartialEq)]
enum Nav {
    Member(String),
    Index(usize),
}

impl Condition {
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        let mut p = Parser {
            s: text,
            pos: 0,
            depth: 0,
        };
        p.skip_ws();
        if p.at_end() {
            return Err(
                p.error("the condition is empty; write a comparison such as `$statusCode == 200`")
            );
        }
        if text.trim_start().starts_with("{$") && text.trim_end().ends_with('}') {
            return Err(p.error(
                "do not wrap a condition in `{…}`: write `$statusCode == 200`, not `{$statusCode == 200}`",
            ));
        }
        let root = p.or()?;
        p.skip_ws();
        if !p.at_end() {
            return Err(p.unexpected());
        }
        Ok(Condition { root })
    }

    /// Every runtime expression the condition reads.
    pub fn expressions(&self) -> Vec<&Expr> {
        fn walk<'a>(n: &'a Node, out: &mut Vec<&'a Expr>) {
            let operand = |o: &'a Operand, out: &mut Vec<&'a Expr>| {
                if let Operand::Ref { expr, .. } = o {
                    out.push(expr)
                }
            };
            match n {
                Node::Or(v) | Node::And(v) => v.iter().for_each(|c| walk(c, out)),
                Node::Not(c) => walk(c, out),
                Node::Compare(a, _, b) => {
                    operand(a, out);
                    operand(b, out);
                }
                Node::Test(o) => operand(o, out),
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }

    pub fn eval(&self, ctx: &dyn Resolve) -> bool {
        eval_node(&self.root, ctx)
    }

    /// The status code the condition requires, when it says `$statusCode == N`
    /// (alone or as one side of an `&&`).
    pub fn required_status(&self) -> Option<u16> {
        fn find(n: &Node) -> Option<u16> {
            match n {
                Node::And(items) => items.iter().find_map(find),
                Node::Compare(a, Op::Eq, b) => {
                    let (r, l) = match (a, b) {
                        (Operand::Ref { expr, nav }, Operand::Literal(v))
                        | (Operand::Literal(v), Operand::Ref { expr, nav }) => ((expr, nav), v),
                        _ => return None,
                    };
                    if *r.0 == Expr::StatusCode && r.1.is_empty() {
                        l.as_u64().and_then(|n| u16::try_from(n).ok())
                    } else {
                        None
                    }
                }
                _ => None,
            }
        }
        find(&self.root)
    }
}

fn eval_node(node: &Node, ctx: &dyn Resolve) -> bool {
    match node {
        Node::Or(items) => items.iter().any(|n| eval_node(n, ctx)),
        Node::And(items) => items.iter().all(|n| eval_node(n, ctx)),
        Node::Not(inner) => !eval_node(inner, ctx),
        Node::Test(o) => truthy(resolve_operand(o, ctx).as_deref()),
        Node::Compare(a, op, b) => {
            let a = resolve_operand(a, ctx);
            let b = resolve_operand(b, ctx);
            let (a, b) = (a.as_deref(), b.as_deref());
            match op {
                Op::Eq => loose_eq(a, b),
                Op::Ne => !loose_eq(a, b),
                Op::Lt => loose_cmp(a, b) == Some(Ordering::Less),
                Op::Le => matches!(loose_cmp(a, b), Some(Ordering::Less | Ordering::Equal)),
                Op::Gt => loose_cmp(a, b) == Some(Ordering::Greater),
                Op::Ge => matches!(loose_cmp(a, b), Some(Ordering::Greater | Ordering::Equal)),
            }
        }
    }
}

fn resolve_operand<'a>(o: &'a Operand, ctx: &'a dyn Resolve) -> Option<Cow<'a, Value>> {
    match o {
        Operand::Literal(v) => Some(Cow::Borrowed(v)),
        Operand::Ref { expr, nav } => {
            let mut v = ctx.resolve(expr)?;
            for step in nav {
                v = match v {
                    Cow::Borrowed(b) => Cow::Borrowed(navigate(b, step)?),
                    Cow::Owned(o) => Cow::Owned(navigate(&o, step)?.clone()),
                };
            }
            Some(v)
        }
    }
}

fn navigate<'v>(v: &'v Value, step: &Nav) -> Option<&'v Value> {
    match (step, v) {
        (Nav::Member(m), Value::Object(map)) => map.get(m.as_str()),
        (Nav::Index(i), Value::Array(items)) => items.get(*i),
        _ => None,
    }
}

/// `null`, `false` and undefined are falsy; every other value is truthy.
fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null) | Some(Value::Bool(false)))
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                None
            } else {
                t.parse::<f64>().ok().filter(|f| f.is_finite())
            }
        }
        _ => None,
    }
}

fn loose_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    let a = a.unwrap_or(&Value::Null);
    let b = b.unwrap_or(&Value::Null);
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::String(x), Value::String(y)) => {
            x.eq_ignore_ascii_case(y) || x.to_lowercase() == y.to_lowercase()
        }
        (Value::Number(_), Value::Number(_))
        | (Value::Number(_), Value::String(_))
        | (Value::String(_), Value::Number(_)) => match (as_number(a), as_number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => s
            .trim()
            .eq_ignore_ascii_case(if *x { "true" } else { "false" }),
        _ => a == b,
    }
}

fn loose_cmp(a: Option<&Value>, b: Option<&Value>) -> Option<Ordering> {
    let (a, b) = (a?, b?);
    if a.is_null() || b.is_null() {
        return None;
    }
    if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
        return x.partial_cmp(&y);
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        _ => None,
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    /// Open `(` and `!` around the current position: the parser recurses once
    /// for each, so it is bounded by [`MAX_NESTING`](super::MAX_NESTING).
    depth: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\n', '\r']);
        self.pos = self.s.len() - trimmed.len();
    }
    fn eat(&mut self, tok: &str) -> bool {
        if self.rest().starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }
    fn error(&self, message: impl Into<String>) -> ConditionError {
        ConditionError {
            message: message.into(),
            offset: self.pos,
            too_deep: false,
        }
    }
    /// Enters one more `(` or `!`, refusing to nest deeper than the limit.
    fn deeper(&mut self) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > super::MAX_NESTING {
            return Err(ConditionError {
                too_deep: true,
                ..self.error(format!(
                    "the condition nests `(` and `!` more than {} levels deep (at offset {}); write it with fewer parentheses",
                    super::MAX_NESTING,
                    self.pos
                ))
            });
        }
        Ok(())
    }
    fn unexpected(&self) -> ConditionError {
        if self.at_end() {
            return self.error("the condition ends too early: an operand or `)` is missing");
        }
        let near: String = self.rest().chars().take(12).collect();
        if self.peek_op().is_some() {
            return self.error(format!(
                "unexpected `{near}`: a comparison joins exactly two operands (write `a < b && b < c`, not `a < b < c`)"
            ));
        }
        self.error(format!(
            "unexpected `{near}` at offset {}: expected `&&`, `||`, `)` or the end",
            self.pos
        ))
    }

    fn or(&mut self) -> Result<Node, ConditionError> {
        let mut items = vec![self.and()?];
        loop {
            self.skip_ws();
            if self.eat("||") {
                self.skip_ws();
                items.push(self.and()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Node::Or(Vec::new()))
        } else {
            Node::Or(items)
        })
    }

    fn and(&mut self) -> Result<Node, ConditionError> {
        let mut items = vec![self.basic()?];
        loop {
            self.skip_ws();
            if self.eat("&&") {
                self.skip_ws();
                items.push(self.basic()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Node::And(Vec::new()))
        } else {
            Node::And(items)
        })
    }

    fn basic(&mut self) -> Result<Node, ConditionError> {
        self.skip_ws();
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.pos += 1;
            self.skip_ws();
            if self.eat("(") {
                self.deeper()?;
                let inner = self.paren_tail()?;
                self.depth -= 1;
                return Ok(Node::Not(Box::new(inner)));
            }
            let operand = self.comparable()?;
            return Ok(Node::Not(Box::new(Node::Test(operand))));
        }
        if self.eat("(") {
            self.deeper()?;
            let inner = self.paren_tail()?;
            self.depth -= 1;
            return Ok(inner);
        }
        let left = self.comparable()?;
        self.skip_ws();
        let Some((op, len)) = self.peek_op() else {
            return Ok(Node::Test(left));
        };
        self.pos += len;
        self.skip_ws();
        let right = self.comparable()?;
        Ok(Node::Compare(left, op, right))
    }

    fn paren_tail(&mut self) -> Result<Node, ConditionError> {
        self.skip_ws();
        let inner = self.or()?;
        self.skip_ws();
        if !self.eat(")") {
            return Err(if self.at_end() {
                self.error("a `(` is never closed: add the matching `)`")
            } else {
                self.unexpected()
            });
        }
        Ok(inner)
    }

    fn peek_op(&self) -> Option<(Op, usize)> {
        let r = self.rest();
        if r.starts_with("===") || r.starts_with("!==") {
            return None;
        }
        for (tok, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if r.starts_with(tok) {
                return Some((op, tok.len()));
            }
        }
        None
    }

    fn comparable(&mut self) -> Result<Operand, ConditionError> {
        let r = self.rest();
        match self.peek() {
            None => Err(self
                .error("the condition ends too early: an operand is missing after the operator")),
            Some('$') => {
                let len = r
                    .char_indices()
                    .skip(1)
                    .find(|&(_, c)| !is_operand_char(c))
                    .map(|(i, _)| i)
                    .unwrap_or(r.len());
                if len == 1 {
                    return Err(self.error("a lone `$` is not a runtime expression"));
                }
                let token = &r[..len];
                let start = self.pos;
                let operand = split_operand(token).map_err(|m| ConditionError {
                    message: m,
                    offset: start,
                    too_deep: false,
                })?;
                self.pos += len;
                Ok(operand)
            }
            Some('\'') => {
                let mut out = String::new();
                let mut chars = r.char_indices().skip(1).peekable();
                while let Some((i, c)) = chars.next() {
                    if c == '\'' {
                        if matches!(chars.peek(), Some((_, '\''))) {
                            chars.next();
                            out.push('\'');
                            continue;
                        }
                        self.pos += i + 1;
                        return Ok(Operand::Literal(Value::String(out)));
                    }
                    out.push(c);
                }
                Err(self.error("a string literal is not closed: add the closing `'` (write `''` for a quote inside)"))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let len = number_len(r).ok_or_else(|| {
                    self.error(format!(
                        "`{}` is not a number",
                        r.split(|c: char| c.is_whitespace()).next().unwrap_or(r)
                    ))
                })?;
                let text = &r[..len];
                let value = if let Ok(i) = text.parse::<i64>() {
                    Value::Number(Number::from(i))
                } else {
                    let f: f64 = text
                        .parse()
                        .map_err(|_| self.error(format!("`{text}` is not a number")))?;
                    Number::from_f64(f)
                        .map(Value::Number)
                        .ok_or_else(|| self.error(format!("`{text}` is out of range")))?
                };
                self.pos += len;
                Ok(Operand::Literal(value))
            }
            Some(_) => {
                for (kw, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if let Some(after) = r.strip_prefix(kw) {
                        if !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                            self.pos += kw.len();
                            return Ok(Operand::Literal(v));
                        }
                    }
                }
                let near: String = r.chars().take(16).collect();
                Err(self.error(format!(
                    "unexpected `{near}`: an operand is a runtime expression (`$statusCode`, `$response.body#/id`), a number, a 'quoted string', true, false or null"
                )))
            }
        }
    }
}

fn is_operand_char(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || matches!(c, '!' | '&' | '(' | ')' | '<' | '=' | '>' | '{' | '|' | '}'))
}

/// Length of an RFC 9535-style number at the start of `s`.
fn number_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[int_start] == b'0') {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if b.get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'.')
    {
        return None;
    }
    Some(i)
}

/// Splits an operand token into the runtime expression and the `.member` / `[n]`
/// navigation applied to its value.
fn split_operand(token: &str) -> Result<Operand, String> {
    let body = &token[1..];
    let root_len = body
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(body.len());
    let root = &body[..root_len];
    let after_root = 1 + root_len;
    // Whether a `.` follows the root (anything else, such as a non-ASCII
    // letter, leaves the token to the expression parser, which says why).
    let dotted = token[after_root..].starts_with('.');
    // Index in `token` where navigation starts.
    let nav_start = match root {
        "inputs" | "outputs" | "steps" | "workflows" if !dotted => token.len(),
        "url" | "method" | "statusCode" | "self" => after_root,
        "request" | "response" => {
            let rest = &token[after_root..];
            if rest.starts_with(".body#") {
                token.len()
            } else if rest.starts_with(".body") {
                after_root + ".body".len()
            } else {
                token.len()
            }
        }
        "inputs" | "outputs" => segment_end(token, after_root + 1),
        "steps" | "workflows" => {
            // <id>.<outputs|inputs>.<name>
            let id_end = token[after_root + 1..]
                .find('.')
                .map(|i| after_root + 1 + i)
                .unwrap_or(token.len());
            let part_end = token[(id_end + 1).min(token.len())..]
                .find('.')
                .map(|i| id_end + 1 + i)
                .unwrap_or(token.len());
            segment_end(token, part_end + 1)
        }
        _ => token.len(),
    };
    let nav_start = nav_start.min(token.len());
    let (base, nav_text) = token.split_at(nav_start);
    let expr = parse_expression(base).map_err(|e| e.message)?;
    let nav = parse_nav(nav_text).map_err(|m| format!("`{token}`: {m}"))?;
    Ok(Operand::Ref { expr, nav })
}

/// End of a name segment starting at `start`: at `.` or `[` (navigation follows), or
/// the end of the token when a `#` pointer starts.
fn segment_end(token: &str, start: usize) -> usize {
    if start >= token.len() {
        return token.len();
    }
    let seg = &token[start..];
    match seg.find(['.', '[', '#']) {
        Some(i) if seg.as_bytes()[i] == b'#' => token.len(),
        Some(i) => start + i,
        None => token.len(),
    }
}

fn parse_nav(mut s: &str) -> Result<Vec<Nav>, String> {
    let mut nav = Vec::new();
    while !s.is_empty() {
        if let Some(rest) = s.strip_prefix('.') {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            if end == 0 {
                return Err("a `.` must be followed by a member name".into());
            }
            nav.push(Nav::Member(rest[..end].to_string()));
            s = &rest[end..];
        } else if let Some(rest) = s.strip_prefix('[') {
            let end = rest.find(']').ok_or("a `[` is not closed with `]`")?;
            let idx = &rest[..end];
            if idx.is_empty() || !idx.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!("`[{idx}]` is not an array index (write `[0]`)"));
            }
            nav.push(Nav::Index(idx.parse().map_err(|_| "index too large")?));
            s = &rest[end + 1..];
        } else {
            return Err(format!(
                "unexpected `{s}` (navigate with `.member` or `[index]`)"
            ));
        }
    }
    Ok(nav)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Ctx(Value);
    impl Resolve for Ctx {
        fn resolve(&self, e: &Expr) -> Option<Cow<'_, Value>> {
            match e {
                Expr::StatusCode => Some(Cow::Owned(json!(200))),
                Expr::ResponseBody(None) => Some(Cow::Borrowed(&self.0)),
                Expr::ResponseBody(Some(p)) => p.select(&self.0).map(Cow::Borrowed),
                _ => None,
            }
        }
    }

    #[test]
    fn precedence_and_navigation() {
        let ctx = Ctx(json!({"a": [{"b": "X"}], "n": "10"}));
        let t = |c: &str| Condition::parse(c).unwrap().eval(&ctx);
        assert!(t("$response.body.a[0].b == 'x'"));
        assert!(t("$response.body#/a/0/b == 'X'"));
        assert!(t("false || true && true"));
        assert!(!t("(false || true) && false"));
        assert!(t("$response.body.n > 9"));
        assert!(t("!$response.body.missing"));
        assert!(!t("$response.body.missing < 1"));
        assert!(t("$statusCode==200"));
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Condition::parse("$statusCode < 200 < 300").unwrap_err();
        assert!(e.message.contains("exactly two operands"), "{e}");
        let e = Condition::parse("{$statusCode == 200}").unwrap_err();
        assert!(e.message.contains("do not wrap"), "{e}");
        let e = Condition::parse("'abc").unwrap_err();
        assert!(e.message.contains("not closed"), "{e}");
        assert!(Condition::parse("$steps.x.output.y == 1").is_err());
    }
}
