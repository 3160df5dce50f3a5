//! What each fuzz target does with its input, here so that the targets
//! (`fuzz/fuzz_targets/*.rs`, run by `scripts/fuzz.sh`) and the regression
//! tests (`tests/fuzz_regressions.rs`, which feed every input a fuzzer once
//! crashed on) run the same code. Each function takes any bytes, must return
//! without panicking, and checks a few properties on the way.

use std::borrow::Cow;

use serde_json::{json, Value};
use url::Url;

use crate::expr::{parse_expression, Condition, Expr, Resolve, Template, ValueExpr};

/// What a fuzz target runs: it takes any bytes.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("expression", expression),
    ("condition", condition),
    ("template", template),
    ("criteria", criteria),
    ("document", document),
    ("openapi", openapi),
];

fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// A context in which every expression has a value of some shape.
struct Everything(Value);

impl Everything {
    fn new() -> Everything {
        Everything(json!({
            "a": [1, "2", {"b": null, "c": true}],
            "n": "10",
            "s": "Text",
            "o": {"x": {"y": [0.5, -3]}}
        }))
    }
}

impl Resolve for Everything {
    fn resolve(&self, expr: &Expr) -> Option<Cow<'_, Value>> {
        let whole = |p: &Option<crate::expr::Pointer>| match p {
            None => Some(Cow::Borrowed(&self.0)),
            Some(p) => p.select(&self.0).map(Cow::Borrowed),
        };
        match expr {
            Expr::StatusCode => Some(Cow::Owned(json!(200))),
            Expr::Url => Some(Cow::Owned(json!("http://127.0.0.1/x"))),
            Expr::Method => Some(Cow::Owned(json!("GET"))),
            Expr::ResponseBody(p) | Expr::RequestBody(p) => whole(p),
            Expr::Inputs { pointer, .. }
            | Expr::Outputs { pointer, .. }
            | Expr::Steps { pointer, .. }
            | Expr::Workflows { pointer, .. } => whole(pointer),
            _ => Some(Cow::Owned(json!("v"))),
        }
    }
}

/// A runtime expression: parsed, and what parses is shown the way it parses
/// again.
pub fn expression(data: &[u8]) {
    let s = text(data);
    if let Ok(e) = parse_expression(&s) {
        let shown = e.to_string();
        let again = parse_expression(&shown)
            .unwrap_or_else(|err| panic!("`{s}` parses, but its display `{shown}` not: {err}"));
        assert_eq!(again, e, "`{s}` shown as `{shown}`");
    }
}

/// A `simple` condition: parsed, inspected and evaluated.
pub fn condition(data: &[u8]) {
    let s = text(data);
    if let Ok(c) = Condition::parse(&s) {
        let _ = c.expressions();
        let _ = c.required_status();
        let _ = c.eval(&Everything::new());
    }
}

/// A string with `{$…}` templates, and, when the input is JSON, a payload
/// value that may hold expressions anywhere: compiled and evaluated.
pub fn template(data: &[u8]) {
    let s = text(data);
    let ctx = Everything::new();
    if let Ok(Some(t)) = Template::parse(&s) {
        let _ = t.render(&ctx);
        let _ = t.expressions().count();
    }
    let _ = Template::extract_strict(&s);
    if let Ok(v) = ValueExpr::compile_str(&s) {
        let _ = v.eval(&ctx);
    }
    if let Ok(value) = serde_json::from_str::<Value>(&s) {
        if let Ok(v) = ValueExpr::compile(&value) {
            let _ = v.expressions();
            let _ = v.eval(&ctx);
        }
    }
}

/// A `regex`, `jsonpath` or `xpath` criterion (chosen by the first byte):
/// compiled, and evaluated against JSON and XML contexts.
pub fn criteria(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let kind = match which % 3 {
        0 => json!("regex"),
        1 => json!("jsonpath"),
        _ => json!("xpath"),
    };
    let condition = text(rest);
    // A context may follow the condition after a NUL byte.
    let (condition, context) = match condition.split_once('\0') {
        Some((c, x)) => (c.to_string(), Some(x.to_string())),
        None => (condition.into_owned(), None),
    };
    if let Ok(check) = crate::expr::criteria::Check::compile(&kind, &condition) {
        let _ = check.eval(Some(&Everything::new().0));
        let _ = check.eval(Some(&json!("<r a='1'><p>x</p><p>y</p></r>")));
        if let Some(x) = context {
            let _ = check.eval(Some(&Value::String(x)));
        }
    }
}

/// An Arazzo document as text: parsed, structure-checked and modelled as
/// `run` loads it, and read for `validate` (source map, JSON Schema).
pub fn document(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let url = Url::parse("file:///fuzz/flow.arazzo.yaml").expect("a URL");
    let _ = crate::document::parse_arazzo(url, s);
    let file = crate::check::diagnostics::SourceFile::new("flow.arazzo.yaml".into(), s.to_string());
    for pointer in ["", "/workflows/0/steps/0", "/info/title", "/a/b/0"] {
        let _ = file.at(
            Some(pointer),
            "fuzz",
            crate::check::diagnostics::Severity::Error,
            String::new(),
            None,
        );
    }
    if let Ok(tree) = crate::read::parse_tree(s, "the input") {
        let _ = crate::check::arazzo_schema::check(&tree);
    }
}

/// An OpenAPI description as text: read lazily (or whole), every operation
/// looked up, and its request schemas converted and checked against a value.
pub fn openapi(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let url = Url::parse("file:///fuzz/api.json").expect("a URL");
    let api = match crate::openapi::Lazy::parse(s.to_string()) {
        Ok(lazy) => crate::openapi::OpenApi::from_lazy(url, lazy),
        Err(text) => match crate::read::parse_tree(&text, "the input") {
            Ok(tree) => crate::openapi::OpenApi::from_value(url, tree),
            Err(_) => return,
        },
    };
    let Ok(api) = api else {
        return;
    };
    let _ = api.secret_params();
    let ids: Vec<String> = api.operation_ids().take(64).map(str::to_string).collect();
    let value = json!({"a": [1, {"b": "x"}], "n": 1});
    for id in ids {
        let Ok(Some(op)) = api.operation(&id) else {
            continue;
        };
        let _ = api.operation_at(&op.path, &op.method);
        let mut schemas: Vec<&Value> = op
            .parameters
            .iter()
            .filter_map(|p| p.schema.as_ref())
            .collect();
        for media in op
            .request_body
            .as_ref()
            .and_then(|b| b.get("content"))
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|c| c.values())
        {
            schemas.extend(media.get("schema"));
        }
        for schema in schemas.into_iter().take(8) {
            let checker = crate::schema::checker(&api, schema);
            let _ = checker.violations(&value, &|_, _| false);
        }
    }
}
