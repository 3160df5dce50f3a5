//! Criteria (a step's success criteria, an action's): a simple condition
//! parsed, or a `regex`, `jsonpath` or `xpath` check with its context.

use serde_json::Value;

use super::errors::{error, CompileError};
use super::program::{CompiledCriterion, CriterionCheck};
use crate::document::Criterion;
use crate::expr::{near_expressions_in, Condition, Expr, ValueExpr};

/// Compiles criterion `c`, written at `c_ptr`; `place` names it in messages.
pub(super) fn compile_criterion(
    place: &str,
    c: &Criterion,
    c_ptr: &str,
) -> Result<CompiledCriterion, CompileError> {
    let condition_ptr = format!("{c_ptr}/condition");
    let kind = match (&c.kind, &c.version) {
        (None, _) => None,
        (Some(Value::String(s)), _) if s == "simple" => None,
        (Some(Value::String(s)), Some(v)) => Some(serde_json::json!({"type": s, "version": v})),
        (Some(k), _) => Some(k.clone()),
    };
    let Some(kind) = kind else {
        return simple_criterion(place, c, &condition_ptr);
    };
    if let Err(m) = crate::expr::criteria::check_type(&kind) {
        return Err(error(
            "criteria/invalid",
            format!("{place}: criterion `{}`: {m}", shorten(&c.condition)),
            None,
        )
        .at(&format!("{c_ptr}/type")));
    }
    if let Some(m) = crate::expr::criteria::too_deep(&kind, &c.condition) {
        return Err(error(
            "expr/too-deep",
            format!("{place}: criterion `{}`: {m}", shorten(&c.condition)),
            Some(too_deep_help()),
        )
        .at(&condition_ptr));
    }
    let check = crate::expr::criteria::Check::compile(&kind, &c.condition).map_err(|m| {
        error(
            "criteria/invalid",
            format!("{place}: criterion `{}`: {m}", shorten(&c.condition)),
            None,
        )
        .at(&condition_ptr)
    })?;
    let Some(context) = &c.context else {
        return Err(error(
            "criteria/missing-context",
            format!("{place}: a `{}` criterion needs a `context`", check.type_name()),
            Some("add e.g. `context: $response.body` (the spec requires a context whenever `type` is given)".into()),
        )
        .at(&format!("{c_ptr}/type")));
    };
    let context = ValueExpr::compile_str(context).map_err(|e| {
        error(
            "expr/syntax",
            format!("{place}: criterion context: {e}"),
            None,
        )
        .at(&format!("{c_ptr}/context"))
    })?;
    Ok(CompiledCriterion {
        text: c.condition.clone(),
        check: CriterionCheck::Typed { context, check },
    })
}

/// A simple criterion: its condition parsed. A syntax error points at the
/// misspelt expression when there is one, with what it likely meant.
fn simple_criterion(
    place: &str,
    c: &Criterion,
    condition_ptr: &str,
) -> Result<CompiledCriterion, CompileError> {
    let cond = Condition::parse(&c.condition)
        .map_err(|e| {
            error(
                if e.too_deep {
                    "expr/too-deep"
                } else {
                    "criteria/syntax"
                },
                format!(
                    "{place}: the condition `{}` is invalid: {}",
                    shorten(&c.condition),
                    e.message
                ),
                Some(if e.too_deep {
                    too_deep_help()
                } else {
                    match near_expressions_in(&c.condition).first() {
                        Some((_, meant)) => format!("did you mean `{meant}`?"),
                        None => "conditions look like `$statusCode == 201 && $response.body#/id != null`".into(),
                    }
                }),
            )
            .at(condition_ptr)
        })
        .map_err(|e| match near_expressions_in(&c.condition).into_iter().next() {
            Some((written, _)) => e.within(written),
            None => e,
        })?;
    Ok(CompiledCriterion {
        text: c.condition.clone(),
        check: CriterionCheck::Simple(cond),
    })
}

/// The expressions of a compiled criterion, with the place each is written.
pub(super) fn locate_criterion(
    c: &CompiledCriterion,
    c_ptr: &str,
    located: &mut Vec<(String, Expr)>,
) {
    let at = match &c.check {
        CriterionCheck::Simple(_) => format!("{c_ptr}/condition"),
        CriterionCheck::Typed { .. } => format!("{c_ptr}/context"),
    };
    for e in c.expressions() {
        located.push((at.clone(), e.clone()));
    }
}

/// A condition as quoted in a message: whole when short, else its start.
fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 120;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]).into(),
        None => text.into(),
    }
}

/// Help for a condition nested too deep.
fn too_deep_help() -> String {
    format!(
        "nesting is limited to {} levels; split the condition into several criteria (all of them must hold) or drop redundant parentheses",
        crate::expr::MAX_NESTING
    )
}
