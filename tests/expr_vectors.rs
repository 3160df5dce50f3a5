//! The runtime-expression and `simple` condition vectors from ../shared/suites.

use std::borrow::Cow;
use std::path::PathBuf;

use arazzo::expr::{parse_expression, Condition, Expr, Resolve, Template};
use serde_json::Value;

fn suite(rel: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/suites")
        .join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("vectors are JSON")
}

fn strings<'a>(v: &'a Value, key: &str, field: Option<&str>) -> Vec<&'a str> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| match field {
            Some(f) => x[f].as_str().unwrap(),
            None => x.as_str().unwrap(),
        })
        .collect()
}

#[test]
fn runtime_expressions_arazzo_1_0_1_valid_and_invalid() {
    let v = suite("swaggerexpert-arazzo-runtime-expression/vectors-arazzo-1.0.1.json");
    let valid = strings(&v, "valid", Some("expr"));
    assert!(valid.len() >= 60);
    for e in valid {
        let parsed = parse_expression(e);
        assert!(parsed.is_ok(), "should parse: {e:?}: {parsed:?}");
    }
    let invalid = strings(&v, "invalid", Some("expr"));
    assert!(invalid.len() >= 8);
    for e in invalid {
        assert!(parse_expression(e).is_err(), "should not parse: {e:?}");
    }
}

#[test]
fn parsed_expressions_print_back_as_written() {
    let v = suite("swaggerexpert-arazzo-runtime-expression/vectors-arazzo-1.0.1.json");
    for e in strings(&v, "valid", Some("expr")) {
        assert_eq!(parse_expression(e).unwrap().to_string(), e);
    }
}

#[test]
fn runtime_expressions_arazzo_1_1_invalid_are_rejected_too() {
    // 1.1 tightened names; everything it rejects that 1.0.1 also rejects, we reject.
    let v = suite("swaggerexpert-arazzo-runtime-expression/vectors-arazzo-1.1.json");
    for e in strings(&v, "invalid", Some("expr")) {
        if e.starts_with("$request.body#") {
            continue; // allowed by the 1.0.1 grammar, tested above
        }
        assert!(parse_expression(e).is_err(), "should not parse: {e:?}");
    }
}

/// Template extraction follows the 1.1 vectors: `}` closes an embedded expression.
/// (The 1.0.1 grammar lets a body pointer swallow the closing `}`, which makes
/// `{$response.body#/id}` unusable; 1.1 fixed that and we follow it.)
#[test]
fn template_extraction_vectors() {
    for file in [
        "swaggerexpert-arazzo-runtime-expression/vectors-arazzo-1.1.json",
        "swaggerexpert-arazzo-runtime-expression/vectors-arazzo-1.0.1.json",
    ] {
        let v = suite(file);
        let cases = v["extract"].as_array().unwrap();
        assert!(cases.len() >= 30);
        for case in cases {
            let template = case["template"].as_str().unwrap();
            let mut expected: Vec<&str> = case["expressions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            if file.contains("1.0.1")
                && (template.starts_with("{$request.body#")
                    || template.starts_with("{$response.body#"))
            {
                expected = vec![&template[1..template.len() - 1]];
            }
            assert_eq!(
                Template::extract_strict(template),
                expected,
                "template {template:?} ({file})"
            );
        }
    }
}

#[test]
fn simple_conditions_valid_and_invalid() {
    let v = suite("swaggerexpert-arazzo-criterion/vectors.json");
    let valid = strings(&v, "valid", None);
    assert_eq!(valid.len(), 41);
    for c in valid {
        let parsed = Condition::parse(c);
        assert!(parsed.is_ok(), "should parse: {c:?}: {parsed:?}");
    }
    let invalid = strings(&v, "invalid", None);
    assert_eq!(invalid.len(), 9);
    for c in invalid {
        assert!(Condition::parse(c).is_err(), "should not parse: {c:?}");
    }
}

/// Resolves the base expressions of the suite's context map.
struct SuiteContext(serde_json::Map<String, Value>);

impl Resolve for SuiteContext {
    fn resolve(&self, expr: &Expr) -> Option<Cow<'_, Value>> {
        match expr {
            Expr::ResponseBody(Some(p)) => {
                p.select(self.0.get("$response.body")?).map(Cow::Borrowed)
            }
            other => self.0.get(&other.to_string()).map(Cow::Borrowed),
        }
    }
}

#[test]
fn simple_conditions_evaluate_as_the_suite_expects() {
    let v = suite("swaggerexpert-arazzo-criterion/vectors.json");
    let ctx = SuiteContext(v["evaluate"]["context"].as_object().unwrap().clone());
    let cases = v["evaluate"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 29);
    for case in cases {
        let text = case["condition"].as_str().unwrap();
        let expected = case["expected"].as_bool().unwrap();
        let cond = Condition::parse(text).unwrap();
        assert_eq!(cond.eval(&ctx), expected, "condition {text:?}");
    }
}
