//! Control characters from documents and servers, made visible.
//!
//! Text that reaches a terminal may come from anywhere: a step id, a response
//! body quoted in a failure, a header logged at `-vv`. A control character in
//! it could move the cursor, recolour or clear the screen, and a bidi override
//! could show text in another order than it has. So every such character is
//! written as a visible escape instead: `\u{1b}` for ESC, `\u{202e}` for
//! RIGHT-TO-LEFT OVERRIDE (lower-case hex, Rust's notation). Line feeds and
//! tabs stay as they are.
//!
//! The [`Printer`](crate::report::printer::Printer) applies [`escape`] to everything it
//! writes, before it turns the tool's own styling into colours
//! ([`Style::paint`](crate::report::terminal::Style::paint)), so the colours survive and
//! nothing else can colour. JSON output uses [`escape_json`] instead: serde
//! already writes C0 controls as `\u00XX`, and the rest become `\uXXXX`
//! escapes, which decode to the same strings.

use std::borrow::Cow;

/// Whether `c` is shown escaped: C0 controls except `\n` and `\t`, DEL, C1
/// controls (U+0080–U+009F), and the bidi controls (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069).
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}'
        | '\u{b}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `text` with every unsafe character written as `\u{XX}`.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Serialized JSON with every unsafe character that serde writes as it is
/// (DEL, C1 and bidi controls) written as a `\uXXXX` escape. Such characters
/// only occur inside strings, where the escape means the same character.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) {
            // Every unsafe character is in the Basic Multilingual Plane.
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Where byte `offset` of `text` lands in `escape(text)`.
pub fn escaped_offset(text: &str, offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    before
        .chars()
        .filter(|c| is_unsafe(*c))
        .map(|c| format!("\\u{{{:x}}}", c as u32).len() - c.len_utf8())
        .sum::<usize>()
        + offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped_and_the_rest_kept() {
        assert_eq!(escape("plain\ttext\nline"), "plain\ttext\nline");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(escape("a\rb\u{7f}\u{85}"), "a\\u{d}b\\u{7f}\\u{85}");
        assert_eq!(
            escape("x\u{202e}y\u{2066}\u{200f}\u{61c}"),
            "x\\u{202e}y\\u{2066}\\u{200f}\\u{61c}"
        );
        assert_eq!(escape("é ü 😀 \u{a0}"), "é ü 😀 \u{a0}");
    }

    #[test]
    fn json_escapes_decode_to_the_same_value() {
        let v = serde_json::json!({"k\u{202e}": "a\u{1b}b\u{85}c\u{7f}d\u{2069}"});
        let text = serde_json::to_string(&v).unwrap();
        let escaped = escape_json(&text);
        assert!(!escaped.chars().any(is_unsafe), "{escaped}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&escaped).unwrap(),
            v
        );
    }

    #[test]
    fn offsets_move_past_escapes() {
        let text = "a\u{1b}b\u{202e}c";
        let escaped = escape(text);
        let c = text.find('c').unwrap();
        assert_eq!(&escaped[escaped_offset(text, c)..], "c");
        assert_eq!(escaped_offset(text, 1), 1);
    }
}
