//! An `in: querystring` parameter (Arazzo 1.1, OpenAPI 3.2): the whole query
//! string as one value, written in the media type of the operation's
//! querystring parameter.
//!
//! - `application/x-www-form-urlencoded`, or no media type known (the
//!   operation declares no querystring parameter): a string is the query
//!   string as written. Characters a query may not hold are percent-encoded;
//!   `&`, `=`, `+` and `%XX` escapes are left as they are. A value embedded with
//!   `{$…}` is percent-encoded whole, so that `a&b=c` inside it stays one value
//!   and cannot add a parameter. An object (form media type only) is written
//!   `k=v&k2=v2`, an array member repeating its key.
//! - `application/json`: a string is the JSON text (a string embedded with
//!   `{$…}` escaped as inside a JSON string), an object, array or other value
//!   is written as JSON; the text is then percent-encoded whole.
//! - any other media type: the string, percent-encoded whole.
//!
//! `$request.query.<name>` reads the pairs of a form (or unknown) query
//! string, percent-decoded; for other media types the parameter's name gives
//! its value.

use std::borrow::Cow;
use std::fmt::Write;

use percent_encoding::utf8_percent_encode;
use serde_json::{Map, Value};

use super::{BuildError, COMPONENT};
use crate::compile::CompiledParam;
use crate::expr::{stringify, Expr, Resolve, ValueExpr};
use crate::openapi::QueryMedia;

/// A querystring parameter's query string, encoded, its value (for secrets),
/// and what `$request.query` reads of it.
pub(super) struct Built {
    pub(super) text: String,
    pub(super) value: Value,
    pub(super) query_params: Map<String, Value>,
}

/// Builds the query string of querystring parameter `p`; `None` for an
/// optional input that was not given.
pub(super) fn build(p: &CompiledParam, ctx: &dyn Resolve) -> Result<Option<Built>, BuildError> {
    let media = QueryMedia::of(p.spec.as_ref());
    let form_like = matches!(media, QueryMedia::Form | QueryMedia::Unknown);
    let value = match (&p.value, form_like) {
        // Embedded values are encoded as they are put in, so that none can
        // end the value it stands in or add a parameter.
        (ValueExpr::Template(t), true) => Value::String(
            t.render_required(&EncodeEmbedded(ctx))
                .map_err(|why| cannot_build(p, why))?,
        ),
        // Inside JSON text, an embedded string is escaped as in a JSON string,
        // so that a quote in it does not end the string it stands in.
        (ValueExpr::Template(t), false) if media == QueryMedia::Json => Value::String(
            t.render_required(&JsonEscaped(ctx))
                .map_err(|why| cannot_build(p, why))?,
        ),
        _ => match super::parameter_value(p, ctx)? {
            Some(v) => v,
            None => return Ok(None),
        },
    };
    let text = match (&value, media) {
        (Value::Object(_) | Value::Array(_), QueryMedia::Json) => strict(&value.to_string()),
        (Value::Object(map), QueryMedia::Form) => form(map),
        (Value::Object(_) | Value::Array(_), _) => return Err(cannot_build(p, structured(media))),
        (other, QueryMedia::Json | QueryMedia::Other) => strict(&stringify(Some(other))),
        (other, _) => as_written(&stringify(Some(other))),
    };
    let query_params = if form_like {
        pairs(&text)
    } else {
        Map::from_iter([(p.name.clone(), value.clone())])
    };
    Ok(Some(Built {
        text,
        value,
        query_params,
    }))
}

fn cannot_build(p: &CompiledParam, why: String) -> BuildError {
    BuildError(format!(
        "querystring parameter `{}` cannot be built: {why}",
        p.name
    ))
}

/// Why an object or array cannot be written in this media type.
fn structured(media: QueryMedia) -> String {
    match media {
        QueryMedia::Unknown => "its value is an object or array, and the operation declares no querystring parameter whose media type says how to write one: give the query string as a string (`a=1&b=2`)".into(),
        QueryMedia::Form => "an `application/x-www-form-urlencoded` query string is written from a string or an object, not an array".into(),
        _ => "the media type of the operation's querystring parameter is written from a string; only a JSON one is written from an object or array".into(),
    }
}

/// A context whose every value is text, percent-encoded as a query component.
struct EncodeEmbedded<'a>(&'a dyn Resolve);

impl Resolve for EncodeEmbedded<'_> {
    fn resolve(&self, expr: &Expr) -> Option<Cow<'_, Value>> {
        let v = self.0.resolve(expr)?;
        let text = utf8_percent_encode(&stringify(Some(&v)), COMPONENT).to_string();
        Some(Cow::Owned(Value::String(text)))
    }
    fn missing(&self, expr: &Expr) -> Option<String> {
        self.0.missing(expr)
    }
}

/// A context whose strings are JSON-escaped (without their quotes) and whose
/// other values are their JSON text.
struct JsonEscaped<'a>(&'a dyn Resolve);

impl Resolve for JsonEscaped<'_> {
    fn resolve(&self, expr: &Expr) -> Option<Cow<'_, Value>> {
        let v = self.0.resolve(expr)?;
        let text = match v.as_ref() {
            Value::String(s) => {
                let quoted = Value::String(s.clone()).to_string();
                quoted[1..quoted.len() - 1].to_string()
            }
            other => other.to_string(),
        };
        Some(Cow::Owned(Value::String(text)))
    }
    fn missing(&self, expr: &Expr) -> Option<String> {
        self.0.missing(expr)
    }
}

/// Text percent-encoded whole: everything but the unreserved characters.
fn strict(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// A query string as written: a leading `?` dropped, `%XX` escapes and every
/// character RFC 3986 allows in a query kept, anything else (spaces, `#`,
/// quotes, braces, a `%` that starts no escape, non-ASCII) percent-encoded.
pub(super) fn as_written(text: &str) -> String {
    let text = text.strip_prefix('?').unwrap_or(text);
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let escape = c == '%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if escape || c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// An object as `application/x-www-form-urlencoded`: `k=v` pairs, an array
/// member repeating its key, nested objects as JSON text.
fn form(map: &Map<String, Value>) -> String {
    let mut out: Vec<String> = Vec::new();
    for (k, v) in map {
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for item in items {
            out.push(format!("{}={}", strict(k), strict(&stringify(Some(item)))));
        }
    }
    out.join("&")
}

/// The pairs of a query string, percent-decoded (`+` as a space): one value
/// as a string, a repeated name as an array.
fn pairs(text: &str) -> Map<String, Value> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut out = Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), Value::String(decode(v)));
        match out.get_mut(&k) {
            Some(Value::Array(items)) => items.push(v),
            Some(first) => *first = Value::Array(vec![first.take(), v]),
            None => {
                out.insert(k, v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_query_string_is_sent_as_written_with_only_forbidden_characters_encoded() {
        assert_eq!(
            as_written("filter=active&sort=desc&limit=50"),
            "filter=active&sort=desc&limit=50"
        );
        assert_eq!(as_written("?q=a b&x=%41%zz#"), "q=a%20b&x=%41%25zz%23");
        assert_eq!(as_written("n=é\"{}"), "n=%C3%A9%22%7B%7D");
        assert_eq!(as_written("a=1+2&p=/x?:@"), "a=1+2&p=/x?:@");
    }

    #[test]
    fn objects_are_form_pairs_and_pairs_are_read_back() {
        let v = json!({"a": "x y&z", "t": ["1", 2], "n": null});
        let text = form(v.as_object().unwrap());
        assert_eq!(text, "a=x%20y%26z&t=1&t=2&n=");
        assert_eq!(
            Value::Object(pairs(&text)),
            json!({"a": "x y&z", "t": ["1", "2"], "n": ""})
        );
        assert_eq!(
            Value::Object(pairs("q=a+b&flag")),
            json!({"q": "a b", "flag": ""})
        );
    }
}
