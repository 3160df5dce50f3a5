//! The runtime-expression grammar of Arazzo 1.0.1 (plus 1.1's `$self`), with the structure the spec's
//! examples give to `$steps`, `$workflows`, `$sourceDescriptions` and `$components`.

use super::{Expr, Pointer, WorkflowPart};

/// Why a string is not a runtime expression. The message names the rule and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        message: message.into(),
    })
}

/// The roots a runtime expression can start with, for messages.
pub(crate) const ROOTS: &[&str] = &[
    "$self",
    "$url",
    "$method",
    "$statusCode",
    "$request.",
    "$response.",
    "$message.",
    "$inputs.",
    "$outputs.",
    "$steps.",
    "$workflows.",
    "$sourceDescriptions.",
    "$components.",
];

/// True when `s` begins like a runtime expression (`$` + a known root name followed
/// by `.` or the end), so a failure to parse it is a mistake rather than literal text.
pub(crate) fn looks_like_expression(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('$') else {
        return false;
    };
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let root = &rest[..end];
    let after = rest[end..].chars().next();
    matches!(
        root,
        "self"
            | "url"
            | "method"
            | "statusCode"
            | "request"
            | "response"
            | "message"
            | "inputs"
            | "outputs"
            | "steps"
            | "workflows"
            | "sourceDescriptions"
            | "components"
    ) && matches!(after, None | Some('.') | Some('#'))
}

/// Parses a string that must be exactly one runtime expression.
pub fn parse_expression(s: &str) -> Result<Expr, ExprError> {
    let Some(body) = s.strip_prefix('$') else {
        return err(format!(
            "`{s}` is not a runtime expression: expressions start with `$` (one of {})",
            ROOTS.join(", ")
        ));
    };
    let (root, rest) = match body.find('.') {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    match (root, rest) {
        // Arazzo 1.1: the document's own URI.
        ("self", None) => Ok(Expr::SelfUri),
        ("url", None) => Ok(Expr::Url),
        ("method", None) => Ok(Expr::Method),
        ("statusCode", None) => Ok(Expr::StatusCode),
        ("request", Some(rest)) => parse_message(s, rest, true),
        ("response", Some(rest)) => parse_message(s, rest, false),
        ("message", Some(rest)) => parse_message_expr(s, rest),
        ("inputs", Some(rest)) => {
            let (name, pointer) = name_and_pointer(s, rest)?;
            Ok(Expr::Inputs { name, pointer })
        }
        ("outputs", Some(rest)) => {
            let (name, pointer) = name_and_pointer(s, rest)?;
            Ok(Expr::Outputs { name, pointer })
        }
        ("steps", Some(rest)) => parse_steps(s, rest),
        ("workflows", Some(rest)) => parse_workflows(s, rest),
        ("sourceDescriptions", Some(rest)) => parse_source_descriptions(s, rest),
        ("components", Some(rest)) => parse_components(s, rest),
        ("self" | "url" | "method" | "statusCode", Some(_)) => {
            err(format!("`{s}`: `${root}` takes nothing after it"))
        }
        (
            "request" | "response" | "message" | "inputs" | "outputs" | "steps" | "workflows"
            | "sourceDescriptions" | "components",
            None,
        ) => err(format!(
            "`{s}` is incomplete: `${root}` needs a name after a `.`"
        )),
        _ => err(format!(
            "`{s}` is not a runtime expression: unknown root `${root}` (expected one of {})",
            ROOTS.join(", ")
        )),
    }
}

/// `$message.header.<name>` or `$message.payload[#pointer]` (Arazzo 1.1): the
/// message a message step sent or received. `$message.body` is read as
/// `$message.payload` (the ABNF's shared `source` allows it), and the 1.1 text's own
/// example `$message.payload.orderId` as `$message.payload#/orderId`.
fn parse_message_expr(s: &str, rest: &str) -> Result<Expr, ExprError> {
    let bad = || {
        err(format!(
            "`{s}`: a message expression is `$message.header.<name>` or `$message.payload#/<pointer>`"
        ))
    };
    if let Some(name) = rest.strip_prefix("header.") {
        check_name(s, name)?;
        return Ok(Expr::MessageHeader(name.to_string()));
    }
    let tail = match rest
        .strip_prefix("payload")
        .or_else(|| rest.strip_prefix("body"))
    {
        Some(t) => t,
        None => return bad(),
    };
    if tail.is_empty() {
        return Ok(Expr::MessagePayload(None));
    }
    if let Some(p) = tail.strip_prefix('#') {
        let pointer = Pointer::parse(p).map_err(|m| ExprError {
            message: format!("`{s}`: {m}"),
        })?;
        return Ok(Expr::MessagePayload(Some(pointer)));
    }
    match tail.strip_prefix('.') {
        Some(path) if !path.is_empty() && path.split('.').all(|seg| !seg.is_empty()) => {
            let pointer: String = path
                .split('.')
                .map(|seg| format!("/{}", seg.replace('~', "~0").replace('/', "~1")))
                .collect();
            let pointer = Pointer::parse(&pointer).map_err(|m| ExprError {
                message: format!("`{s}`: {m}"),
            })?;
            Ok(Expr::MessagePayload(Some(pointer)))
        }
        _ => bad(),
    }
}

/// `$steps.<stepId>.outputs.<name>`, `rest` being what follows `$steps.` in `s`.
fn parse_steps(s: &str, rest: &str) -> Result<Expr, ExprError> {
    let Some((step, tail)) = rest.split_once('.') else {
        return err(format!(
            "`{s}`: a step expression is `$steps.<stepId>.outputs.<name>`"
        ));
    };
    let Some(output) = tail.strip_prefix("outputs.") else {
        return err(format!(
            "`{s}`: after the step id comes `outputs.<name>` (`$steps.{step}.outputs.<name>`)"
        ));
    };
    check_id(s, step, "step id")?;
    let (output, pointer) = name_and_pointer(s, output)?;
    Ok(Expr::Steps {
        step: step.to_string(),
        output,
        pointer,
    })
}

/// `$workflows.<workflowId>.outputs.<name>` or `.inputs.<name>`, `rest` being what follows
/// `$workflows.` in `s`.
fn parse_workflows(s: &str, rest: &str) -> Result<Expr, ExprError> {
    let Some((workflow, tail)) = rest.split_once('.') else {
        return err(format!(
            "`{s}`: a workflow expression is `$workflows.<workflowId>.outputs.<name>` or `.inputs.<name>`"
        ));
    };
    check_id(s, workflow, "workflow id")?;
    let (part, name) = if let Some(n) = tail.strip_prefix("outputs.") {
        (WorkflowPart::Outputs, n)
    } else if let Some(n) = tail.strip_prefix("inputs.") {
        (WorkflowPart::Inputs, n)
    } else {
        return err(format!(
            "`{s}`: after the workflow id comes `outputs.<name>` or `inputs.<name>`"
        ));
    };
    let (name, pointer) = name_and_pointer(s, name)?;
    Ok(Expr::Workflows {
        workflow: workflow.to_string(),
        part,
        name,
        pointer,
    })
}

/// `$sourceDescriptions.<name>.<operationId|workflowId|url>`, `rest` being what follows
/// `$sourceDescriptions.` in `s`.
fn parse_source_descriptions(s: &str, rest: &str) -> Result<Expr, ExprError> {
    let Some((name, tail)) = rest.split_once('.') else {
        return err(format!(
            "`{s}`: a source expression is `$sourceDescriptions.<name>.<operationId|workflowId|url>`"
        ));
    };
    check_id(s, name, "source description name")?;
    check_name(s, tail)?;
    Ok(Expr::SourceDescriptions {
        name: name.to_string(),
        rest: tail.to_string(),
    })
}

/// `$components.<kind>.<name>`, `rest` being what follows `$components.` in `s`.
fn parse_components(s: &str, rest: &str) -> Result<Expr, ExprError> {
    let Some((kind, name)) = rest.split_once('.') else {
        return err(format!(
            "`{s}`: a components expression is `$components.<inputs|parameters|successActions|failureActions>.<name>`"
        ));
    };
    check_id(s, kind, "component kind")?;
    check_name(s, name)?;
    Ok(Expr::Components {
        kind: kind.to_string(),
        name: name.to_string(),
    })
}

fn parse_message(s: &str, rest: &str, request: bool) -> Result<Expr, ExprError> {
    if let Some(token) = rest.strip_prefix("header.") {
        if token.is_empty() || !token.chars().all(is_tchar) {
            return err(format!(
                "`{s}`: a header name is one or more token characters (letters, digits and !#$%&'*+-.^_`|~)"
            ));
        }
        return Ok(if request {
            Expr::RequestHeader(token.to_string())
        } else {
            Expr::ResponseHeader(token.to_string())
        });
    }
    if let Some(name) = rest.strip_prefix("query.") {
        check_name(s, name)?;
        if request {
            return Ok(Expr::RequestQuery(name.to_string()));
        }
    } else if let Some(name) = rest.strip_prefix("path.") {
        check_name(s, name)?;
        if request {
            return Ok(Expr::RequestPath(name.to_string()));
        }
    } else if rest == "body" || rest.starts_with("body#") {
        let pointer = match rest.strip_prefix("body#") {
            Some(p) => Some(Pointer::parse(p).map_err(|m| ExprError {
                message: format!("`{s}`: {m}"),
            })?),
            None => None,
        };
        return Ok(if request {
            Expr::RequestBody(pointer)
        } else {
            Expr::ResponseBody(pointer)
        });
    }
    let which = if request { "$request" } else { "$response" };
    if request {
        err(format!(
            "`{s}`: `{which}.` is followed by `header.<name>`, `query.<name>`, `path.<name>` or `body` (optionally `body#/json/pointer`)"
        ))
    } else {
        err(format!(
            "`{s}`: `{which}.` is followed by `header.<name>` or `body` (optionally `body#/json/pointer`)"
        ))
    }
}

/// `name` or `name#/pointer`.
fn name_and_pointer(s: &str, rest: &str) -> Result<(String, Option<Pointer>), ExprError> {
    let (name, pointer) = match rest.split_once('#') {
        Some((n, p)) => (
            n,
            Some(Pointer::parse(p).map_err(|m| ExprError {
                message: format!("`{s}`: {m}"),
            })?),
        ),
        None => (rest, None),
    };
    check_name(s, name)?;
    if let Some(p) = &pointer {
        if p.as_str().contains(['{', '}']) {
            return err(format!("`{s}`: `{{` and `}}` cannot appear here"));
        }
    }
    Ok((name.to_string(), pointer))
}

fn check_name(s: &str, name: &str) -> Result<(), ExprError> {
    if name.is_empty() {
        return err(format!("`{s}` is incomplete: a name is missing at the end"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '{' | '}'))
    {
        let what = if c.is_whitespace() {
            "white space".to_string()
        } else {
            format!("`{c}`")
        };
        return err(format!(
            "`{s}`: {what} cannot appear in a name (to embed an expression in text, write `{{$…}}`)"
        ));
    }
    Ok(())
}

fn check_id(s: &str, id: &str, what: &str) -> Result<(), ExprError> {
    if id.is_empty() {
        return err(format!("`{s}`: the {what} is empty"));
    }
    // Step and workflow ids only SHOULD avoid spaces, and the 1.0.1 grammar lets
    // a name hold them, so an id with inner spaces is accepted here.
    if id.trim() != id {
        return err(format!("`{s}`: the {what} starts or ends with white space"));
    }
    match id.chars().find(|c| matches!(c, '{' | '}')) {
        Some(c) => err(format!("`{s}`: `{c}` cannot appear in a {what}")),
        None => Ok(()),
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_forms() {
        assert_eq!(
            parse_expression("$steps.a-b.outputs.x.y#/0/id").unwrap(),
            Expr::Steps {
                step: "a-b".into(),
                output: "x.y".into(),
                pointer: Some(Pointer::parse("/0/id").unwrap())
            }
        );
        assert_eq!(
            parse_expression("$sourceDescriptions.api.op.with.dots").unwrap(),
            Expr::SourceDescriptions {
                name: "api".into(),
                rest: "op.with.dots".into()
            }
        );
        assert_eq!(
            parse_expression("$response.header.X.Y").unwrap(),
            Expr::ResponseHeader("X.Y".into())
        );
    }

    #[test]
    fn helpful_errors() {
        let e = parse_expression("$steps.a.output.x").unwrap_err();
        assert!(e.message.contains("outputs.<name>"), "{e}");
        let e = parse_expression("$inputs.").unwrap_err();
        assert!(e.message.contains("incomplete"), "{e}");
        let e = parse_expression("$response.query.x").unwrap_err();
        assert!(e.message.contains("header.<name>"), "{e}");
        assert!(parse_expression("$statusCode.x").is_err());
        assert!(parse_expression("$inputs.a b").is_err());
    }

    #[test]
    fn looks_like() {
        assert!(looks_like_expression("$inputs.x"));
        assert!(looks_like_expression("$inputs"));
        assert!(looks_like_expression("$steps.x.output.y"));
        assert!(!looks_like_expression("$urlfoo"));
        assert!(!looks_like_expression("$100"));
        assert!(!looks_like_expression("price $5"));
    }
}
