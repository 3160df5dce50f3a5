//! One place that knows the secrets of a run and removes them from anything
//! before it is shown or written.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use serde_json::Value;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are masked only as whole words.
pub const SHORT: usize = 4;

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Replaces the occurrences of `secret` not adjacent to a word character.
fn mask_words(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(secret) {
        let before = rest[..i]
            .chars()
            .next_back()
            .or_else(|| out.chars().next_back());
        let after = rest[i + secret.len()..].chars().next();
        let whole = !before.is_some_and(is_word) && !after.is_some_and(is_word);
        out.push_str(&rest[..i]);
        out.push_str(if whole { MASK } else { secret });
        rest = &rest[i + secret.len()..];
    }
    out.push_str(rest);
    out
}

/// A shared, growing set of secret strings. Cloning shares the set.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
    /// The secrets as registered, before their other forms were added.
    registered: Arc<RwLock<std::collections::HashSet<String>>>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Registers a secret, along with the forms it takes inside URLs and JSON text.
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        // Already registered (a batch registers the shared key for every line).
        if !self
            .registered
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(secret.to_string())
        {
            return;
        }
        let mut forms = vec![secret.to_string()];
        // Every way the request builder may have percent-encoded it.
        for set in [
            percent_encoding::NON_ALPHANUMERIC,
            crate::engine::request::COMPONENT,
            crate::engine::request::RESERVED_OK,
        ] {
            forms.push(percent_encoding::utf8_percent_encode(secret, set).to_string());
        }
        let xml = secret
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;");
        forms.push(xml);
        // JSON-escaped once (a string in a JSON body) and twice (that body
        // quoted inside another JSON string, as error messages often do).
        let once = serde_json::to_string(secret).unwrap_or_default();
        let once = once[1..once.len().saturating_sub(1).max(1)].to_string();
        let twice = serde_json::to_string(&once).unwrap_or_default();
        let twice = twice[1..twice.len().saturating_sub(1).max(1)].to_string();
        forms.push(once);
        forms.push(twice);
        let mut set = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        for f in forms {
            if !set.contains(&f) {
                set.push(f);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        set.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Registers every string inside a value.
    pub fn add_value(&self, v: &Value) {
        match v {
            Value::String(s) => self.add(s),
            Value::Number(n) => self.add(&n.to_string()),
            Value::Array(items) => items.iter().for_each(|i| self.add_value(i)),
            Value::Object(m) => m.values().for_each(|i| self.add_value(i)),
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.read().map(|s| s.is_empty()).unwrap_or(false)
    }

    /// Masks every secret in `text`. A secret shorter than [`SHORT`] characters
    /// is masked only where it stands as a whole word, so that a one-digit PIN
    /// does not turn every digit of the output into a mask.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let set = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        for s in set.iter() {
            if !out.contains(s.as_str()) {
                continue;
            }
            if s.chars().count() >= SHORT {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            } else {
                let masked = mask_words(&out, s);
                if masked != *out {
                    out = Cow::Owned(masked);
                }
            }
        }
        out
    }

    /// True when `text` holds a secret.
    pub fn finds_secret(&self, text: &str) -> bool {
        matches!(self.redact(text), Cow::Owned(_))
    }

    /// Masks secrets in every string value of a JSON tree (numbers, booleans and
    /// keys are left as they are, so the JSON stays what it says it is).
    pub fn redact_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_value(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.redact_value(i)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_secrets_are_masked_as_whole_words_only() {
        let r = Redactor::new();
        r.add("1");
        assert_eq!(r.redact("pin=1&x=10"), "pin=***&x=10");
        assert_eq!(r.redact("127.0.0.1:8001"), "127.0.0.***:8001");
        let mut v = json!({"attempts": 1, "pin": "1", "url": "http://h/?p=1"});
        r.redact_value(&mut v);
        assert_eq!(
            v,
            json!({"attempts": 1, "pin": "***", "url": "http://h/?p=***"})
        );
    }

    #[test]
    fn doubly_escaped_secrets_are_masked() {
        let r = Redactor::new();
        r.add("ab\"cd");
        let echoed = serde_json::to_string(&json!({"msg": "{\"pw\":\"ab\\\"cd\"}"})).unwrap();
        assert!(!r.redact(&echoed).contains("cd"), "{}", r.redact(&echoed));
    }

    #[test]
    fn masks_plain_encoded_and_embedded_forms() {
        let r = Redactor::new();
        r.add("sk/a b\"c");
        assert_eq!(r.redact("key=sk/a b\"c!"), "key=***!");
        assert_eq!(r.redact("https://h/?k=sk%2Fa%20b%22c"), "https://h/?k=***");
        let mut v = json!({"a": ["x sk/a b\"c y"], "n": 1});
        r.redact_value(&mut v);
        assert_eq!(v, json!({"a": ["x *** y"], "n": 1}));
        assert_eq!(
            r.redact(&serde_json::to_string(&json!("sk/a b\"c")).unwrap()),
            "\"***\""
        );
    }
}
