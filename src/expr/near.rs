//! Text that is nearly a runtime expression: `$input.name`, `$respons.body#/id`,
//! `$statusCod`. Such text is not an expression, so it would be sent as it is;
//! `validate` reports it with the expression that was probably meant.

use super::parse::parse_expression;

/// The root names, without `$`.
const ROOTS: &[&str] = &[
    "url",
    "method",
    "statusCode",
    "request",
    "response",
    "inputs",
    "outputs",
    "steps",
    "workflows",
    "sourceDescriptions",
    "components",
];

/// When `text` starts with `$` and a misspelt root name, the expression it
/// probably means (which parses). `None` for an expression, and for text that
/// is not close to one (`$100`, `$HOME`, `$ref`).
pub fn near_expression(text: &str) -> Option<String> {
    let rest = text.strip_prefix('$')?;
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let (root, tail) = rest.split_at(end);
    if root.len() < 4 || ROOTS.contains(&root) {
        return None;
    }
    let best = ROOTS
        .iter()
        .filter(|r| close(root, r))
        .min_by_key(|r| edit_distance(&root.to_ascii_lowercase(), &r.to_ascii_lowercase()))?;
    let meant = format!("${best}{tail}");
    parse_expression(&meant).is_ok().then_some(meant)
}

/// Every `$…` word in `text` that is nearly an expression, with what it
/// probably means: for conditions and templates, where the expression is part
/// of a longer text.
pub fn near_expressions_in(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('$') {
        let word_end = text[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, '}' | ')' | ',' | '"' | '\''))
            .map_or(text.len(), |e| i + e);
        let word = &text[i..word_end];
        if let Some(meant) = near_expression(word) {
            out.push((word.to_string(), meant));
        }
    }
    out
}

/// A root written in another case, a letter or two off, or cut short or
/// lengthened (`$step`, `$input`, `$respons`, `$statuscode`, `$inputss`).
fn close(written: &str, root: &str) -> bool {
    let (w, r) = (written.to_ascii_lowercase(), root.to_ascii_lowercase());
    if w == r || r.starts_with(&w) || w.starts_with(&r) {
        return true;
    }
    let limit = if w.len() >= 6 { 2 } else { 1 };
    edit_distance(&w, &r) <= limit
}

/// Levenshtein distance between two names (in characters): for near-miss
/// expressions here and every did-you-mean of the compiler.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_roots_are_found() {
        let cases = [
            ("$input.name", "$inputs.name"),
            ("$step.x.outputs.y", "$steps.x.outputs.y"),
            ("$respons.body#/id", "$response.body#/id"),
            ("$statusCod", "$statusCode"),
            ("$statuscode", "$statusCode"),
            ("$output.token", "$outputs.token"),
            ("$workflow.w.outputs.o", "$workflows.w.outputs.o"),
            ("$sourceDescription.api.url", "$sourceDescriptions.api.url"),
            ("$Inputs.name", "$inputs.name"),
        ];
        for (written, meant) in cases {
            assert_eq!(
                near_expression(written).as_deref(),
                Some(meant),
                "{written}"
            );
        }
    }

    #[test]
    fn other_dollar_text_is_left_alone() {
        for text in [
            "$100",
            "$HOME",
            "$ref",
            "$inputs.name",
            "$statusCode",
            "plain",
            "$",
            "$price is $5",
            "$USD",
            "$stepper-motor",
        ] {
            assert_eq!(near_expression(text), None, "{text}");
        }
    }

    #[test]
    fn words_inside_text() {
        assert_eq!(
            near_expressions_in("$statusCod == 200 && $response.body#/id != null"),
            vec![("$statusCod".to_string(), "$statusCode".to_string())]
        );
        assert_eq!(
            near_expressions_in("Bearer {$input.token}"),
            vec![("$input.token".to_string(), "$inputs.token".to_string())]
        );
    }
}
