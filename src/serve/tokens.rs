//! Bearer tokens that open an HTTP listener (`--token-file`).
//!
//! Only SHA-256 digests of the tokens are kept, and a presented token is
//! compared with every one of them in constant time: neither the time an
//! answer takes nor which token matched tells anything about a token.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The accepted tokens; empty means no authentication.
#[derive(Clone, Default)]
pub struct Tokens {
    digests: Vec<[u8; 32]>,
}

/// What a request's `Authorization` header amounts to.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A bearer token that is not one of the accepted ones, or a malformed header.
    Invalid,
}

impl Tokens {
    /// The tokens of a token file's text: one per line, surrounding spaces
    /// trimmed, blank lines and lines starting with `#` skipped.
    pub fn parse(text: &str) -> Vec<String> {
        // A file saved by an editor that writes a byte order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    }

    pub fn new(tokens: &[String]) -> Tokens {
        Tokens {
            digests: tokens.iter().map(|t| digest(t.as_bytes())).collect(),
        }
    }

    pub fn required(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Checks the value of an `Authorization` header (`None`: absent).
    pub fn check(&self, header: Option<&[u8]>) -> Verdict {
        if !self.required() {
            return Verdict::Allowed;
        }
        let Some(header) = header else {
            return Verdict::Missing;
        };
        let Some(token) = bearer(header) else {
            return Verdict::Invalid;
        };
        let presented = digest(token);
        // Every digest is compared, whatever matched before.
        let mut matched = subtle::Choice::from(0);
        for d in &self.digests {
            matched |= d.ct_eq(&presented);
        }
        if bool::from(matched) {
            Verdict::Allowed
        } else {
            Verdict::Invalid
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The token of `Bearer TOKEN` (the scheme is case-insensitive).
fn bearer(header: &[u8]) -> Option<&[u8]> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, token) = text.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_skips_comments_and_blank_lines() {
        let text = "# for team a\n  tok-a  \n\n#tok-x\ntok-b\r\n";
        assert_eq!(Tokens::parse(text), vec!["tok-a", "tok-b"]);
    }

    #[test]
    fn any_listed_token_opens() {
        let t = Tokens::new(&["tok-a".into(), "tok-b".into()]);
        assert_eq!(t.check(Some(b"Bearer tok-b")), Verdict::Allowed);
        assert_eq!(t.check(Some(b"bearer   tok-a ")), Verdict::Allowed);
        assert_eq!(t.check(Some(b"Bearer tok-c")), Verdict::Invalid);
        assert_eq!(t.check(Some(b"Bearer tok-a-longer")), Verdict::Invalid);
        assert_eq!(t.check(Some(b"Basic dG9rLWE=")), Verdict::Invalid);
        assert_eq!(t.check(Some(b"Bearer ")), Verdict::Invalid);
        assert_eq!(t.check(None), Verdict::Missing);
    }

    #[test]
    fn no_tokens_means_open() {
        assert_eq!(Tokens::default().check(None), Verdict::Allowed);
    }
}
