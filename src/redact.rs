//! One place that knows the secrets of a run and removes them from anything
//! before it is shown or written.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use serde_json::Value;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// A shared, growing set of secret strings. Cloning shares the set.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
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
        let mut forms = vec![secret.to_string()];
        // Every way the request builder may have percent-encoded it.
        for set in [
            percent_encoding::NON_ALPHANUMERIC,
            crate::engine::request::COMPONENT,
            crate::engine::request::RESERVED_OK,
        ] {
            forms.push(percent_encoding::utf8_percent_encode(secret, set).to_string());
        }
        let json = serde_json::to_string(secret).unwrap_or_default();
        if json.len() > 2 {
            forms.push(json[1..json.len() - 1].to_string());
        }
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

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let set = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        for s in set.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
        out
    }

    /// Masks secrets in every string of a JSON tree (keys included).
    pub fn redact_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_value(i)),
            Value::Object(map) => {
                let needs_key_change = map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_)));
                if needs_key_change {
                    let old = std::mem::take(map);
                    for (k, mut val) in old {
                        self.redact_value(&mut val);
                        map.insert(self.redact(&k).into_owned(), val);
                    }
                } else {
                    map.values_mut().for_each(|i| self.redact_value(i));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_plain_encoded_and_embedded_forms() {
        let r = Redactor::new();
        r.add("sk/a b\"c");
        assert_eq!(r.redact("key=sk/a b\"c!"), "key=***!");
        assert_eq!(r.redact("https://h/?k=sk%2Fa%20b%22c"), "https://h/?k=***");
        let mut v = json!({"a": ["x sk/a b\"c y"], "sk/a b\"c": 1});
        r.redact_value(&mut v);
        assert_eq!(v, json!({"a": ["x *** y"], "***": 1}));
        assert_eq!(
            r.redact(&serde_json::to_string(&json!("sk/a b\"c")).unwrap()),
            "\"***\""
        );
    }
}
