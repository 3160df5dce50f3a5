//! The error a compile reports ([`CompileError`]), the helpers that build one,
//! and the "did you mean" help ([`suggest`]) its messages share.

/// A problem found while compiling: names the place, says how to fix it.
#[derive(Debug, Clone, Default, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    /// A stable code, e.g. `ref/unknown-operation`, for filtering and CI annotations.
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
    /// JSON Pointer into the document of the offending node, when known.
    pub pointer: Option<String>,
    /// The text inside that node the problem is about (an expression inside a
    /// template or a condition), to place the diagnostic on it.
    pub needle: Option<String>,
    /// A certain fix: inside the string at `pointer`, `from` becomes `to`.
    pub fix: Option<Box<(String, String)>>,
}

impl CompileError {
    /// Recodes an unknown-workflow error for the context that found it (e.g. a
    /// `dependsOn` entry).
    pub(super) fn code_as(mut self, code: &'static str) -> CompileError {
        if self.code == "ref/unknown-workflow" {
            self.code = code;
        }
        self
    }

    /// Points the error at a node, unless it already points somewhere more precise.
    pub fn at(mut self, pointer: &str) -> CompileError {
        if self.pointer.is_none() {
            self.pointer = Some(pointer.to_string());
        }
        self
    }

    /// Points the error at a piece of text inside its node.
    pub(super) fn within(mut self, needle: impl Into<String>) -> CompileError {
        if self.needle.is_none() {
            self.needle = Some(needle.into());
        }
        self
    }

    /// Prefixes the message with the place it is about.
    pub(super) fn message_at(mut self, place: &str) -> CompileError {
        self.message = format!("{place}: {}", self.message);
        self
    }
}

/// A new error with a code, a message and a help line, placed later.
pub(crate) fn error(
    code: &'static str,
    message: impl Into<String>,
    help: impl Into<Option<String>>,
) -> CompileError {
    CompileError {
        code,
        message: message.into(),
        help: help.into(),
        pointer: None,
        needle: None,
        fix: None,
    }
}

/// A JSON Pointer token for a member name.
pub(crate) fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// [`error`], as the `Err` of a result.
pub(super) fn fail<T>(
    code: &'static str,
    message: impl Into<String>,
    help: impl Into<Option<String>>,
) -> Result<T, CompileError> {
    Err(error(code, message, help))
}

/// "did you mean" help from the closest candidates.
pub fn suggest<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let lw = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| (crate::expr::edit_distance(&lw, &c.to_ascii_lowercase()), c))
        .collect();
    scored.sort();
    let best = scored.first().map(|(d, _)| *d).unwrap_or(usize::MAX);
    let close: Vec<&str> = scored
        .iter()
        .filter(|(d, c)| *d == best && *d <= (wanted.len().max(c.len()) / 4).max(2))
        .take(3)
        .map(|(_, c)| *c)
        .collect();
    if close.is_empty() {
        None
    } else {
        Some(format!(
            "did you mean {}?",
            close
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let c = ["postMcpServers", "getMcpById", "deleteMcpById"];
        assert_eq!(
            suggest("getMcpByID", c.iter().copied()).as_deref(),
            Some("did you mean `getMcpById`?")
        );
        assert_eq!(suggest("zzzzzzzzzzzz", c.iter().copied()), None);
    }
}
