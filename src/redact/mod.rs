//! One place that knows the secrets of a run and removes them from anything
//! before it is shown or written.
//!
//! # How a secret is found
//!
//! Each secret is registered as a few literal *forms*: the secret itself, its
//! JSON escapes (once, twice, with `\/` and with `\uXXXX` for non-ASCII), its
//! XML escape, and its base64 (see below). Text is searched through a *view*
//! in which every `%XX` escape is decoded and every `+` reads as a space, and
//! each form is searched in the same view. So a form matches however each of
//! its characters was written: as it is, or percent-encoded in either hex case
//! (`%2F`, `%2f`), all of them, some of them (reserved characters left as they
//! are), and with `+` for a space as in forms.
//!
//! Base64: the base64 of any text that contains the secret (the secret alone,
//! `user:secret` in an HTTP Basic header, a JSON document holding it) contains
//! one of three strings determined by the secret alone, one per position of the
//! secret's first byte modulo 3: its *cores*. Each core is registered in the
//! standard and the URL-safe alphabet, and the full padded base64 of the secret
//! as well. Cores are registered only for secrets of [`BASE64_MIN`] bytes or
//! more, whose cores are at least 10 characters, so an unrelated base64 string
//! is not masked by chance. The characters at either end of a masked core that
//! mix bits of the secret with bits of its neighbours stay.
//!
//! # Speed
//!
//! `redact` runs on every line written, and a batch registers secrets per line.
//! Registering is incremental (no automaton is rebuilt): forms of 4 bytes or
//! more are indexed by their first 4 bytes, and a text is scanned once, looking
//! each position up in that index; with few forms, each is searched with
//! `memmem` instead. Text without `%` or `+` is searched as it is.

pub mod sanitize;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use serde_json::Value;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Secrets shorter than this are masked only as whole words.
pub const SHORT: usize = 4;

/// Secrets of at least this many bytes are also masked in base64 (their cores
/// are then at least 10 characters long).
pub const BASE64_MIN: usize = 8;

/// Up to this many forms, each is searched with `memmem`; beyond, the scan
/// through the prefix index is faster.
const FEW_FORMS: usize = 24;

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// A hasher for `u32` keys (the first 4 bytes of a form).
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17;
    }
}

type PrefixMap = HashMap<u32, Vec<u32>, BuildHasherDefault<PrefixHasher>>;

/// One form to search for, in view bytes.
#[derive(Debug)]
struct Form {
    bytes: Box<[u8]>,
    /// From a secret shorter than [`SHORT`]: masked only as a whole word.
    whole_word: bool,
    /// The searcher of a form searched with `memmem` (one of the first
    /// [`FEW_FORMS`], or one shorter than 4 bytes), built once: building it
    /// costs more than searching a short text with it.
    finder: Option<memchr::memmem::Finder<'static>>,
}

impl Form {
    fn find_iter<'v>(&'v self, view: &'v [u8]) -> impl Iterator<Item = usize> + 'v {
        let (built, ad_hoc) = match &self.finder {
            Some(f) => (Some(f.find_iter(view)), None),
            None => (None, Some(memchr::memmem::find_iter(view, &self.bytes[..]))),
        };
        built
            .into_iter()
            .flatten()
            .chain(ad_hoc.into_iter().flatten())
    }
}

#[derive(Debug, Default)]
struct Index {
    /// The secrets as registered.
    registered: HashSet<String>,
    forms: Vec<Form>,
    known: HashSet<Box<[u8]>>,
    /// Forms of at least 4 bytes, by their first 4 bytes.
    by_prefix: PrefixMap,
    /// Forms shorter than 4 bytes.
    tiny: Vec<u32>,
}

impl Index {
    fn push(&mut self, bytes: Vec<u8>, whole_word: bool) {
        if bytes.is_empty() || self.known.contains(bytes.as_slice()) {
            return;
        }
        let id = self.forms.len() as u32;
        if bytes.len() >= 4 {
            self.by_prefix
                .entry(prefix(&bytes, 0))
                .or_default()
                .push(id);
        } else {
            self.tiny.push(id);
        }
        let bytes: Box<[u8]> = bytes.into();
        self.known.insert(bytes.clone());
        let finder = (bytes.len() < 4 || (id as usize) < FEW_FORMS)
            .then(|| memchr::memmem::Finder::new(&bytes[..]).into_owned());
        self.forms.push(Form {
            bytes,
            whole_word,
            finder,
        });
    }

    /// Every match in `view`, as `(start, end)`, not overlapping: at each
    /// position the longest form wins, and the search goes on after it.
    fn find(&self, view: &[u8]) -> Vec<(usize, usize)> {
        let mut found: Vec<(usize, usize)> = Vec::new();
        let accept = |form: &Form, start: usize| {
            let end = start + form.bytes.len();
            let word_before = start > 0 && is_word_byte(view[start - 1]);
            let word_after = view.get(end).is_some_and(|&b| is_word_byte(b));
            !form.whole_word || !(word_before || word_after)
        };
        if self.forms.len() <= FEW_FORMS {
            for form in &self.forms {
                for start in form.find_iter(view) {
                    if accept(form, start) {
                        found.push((start, start + form.bytes.len()));
                    }
                }
            }
        } else {
            for &id in &self.tiny {
                let form = &self.forms[id as usize];
                for start in form.find_iter(view) {
                    if accept(form, start) {
                        found.push((start, start + form.bytes.len()));
                    }
                }
            }
            if view.len() >= 4 && !self.by_prefix.is_empty() {
                for start in 0..=view.len() - 4 {
                    let Some(ids) = self.by_prefix.get(&prefix(view, start)) else {
                        continue;
                    };
                    let best = ids
                        .iter()
                        .map(|&id| &self.forms[id as usize])
                        .filter(|f| view[start..].starts_with(&f.bytes) && accept(f, start))
                        .map(|f| f.bytes.len())
                        .max();
                    if let Some(len) = best {
                        found.push((start, start + len));
                    }
                }
            }
        }
        if found.len() > 1 {
            // Leftmost first, the longest of those starting together first.
            found.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            let mut kept: Vec<(usize, usize)> = Vec::with_capacity(found.len());
            for m in found {
                match kept.last_mut() {
                    Some(last) if m.0 < last.1 => last.1 = last.1.max(m.1),
                    _ => kept.push(m),
                }
            }
            found = kept;
        }
        found
    }
}

fn prefix(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The search view of `text`: `%XX` escapes decoded, `+` read as a space; with,
/// when it differs from the text, the view positions of the decoded escapes
/// (each one is 2 bytes shorter in the view than in the text).
fn view(text: &[u8]) -> (Cow<'_, [u8]>, Vec<usize>) {
    if memchr::memchr2(b'%', b'+', text).is_none() {
        return (Cow::Borrowed(text), Vec::new());
    }
    let mut out = Vec::with_capacity(text.len());
    let mut escapes = Vec::new();
    let mut copied = 0;
    for i in memchr::memchr2_iter(b'%', b'+', text) {
        if i < copied {
            continue; // inside an escape already decoded
        }
        out.extend_from_slice(&text[copied..i]);
        if text[i] == b'+' {
            out.push(b' ');
            copied = i + 1;
            continue;
        }
        let decoded = match (text.get(i + 1), text.get(i + 2)) {
            (Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match decoded {
            Some(d) => {
                escapes.push(out.len());
                out.push(if d == b'+' { b' ' } else { d });
                copied = i + 3;
            }
            None => {
                out.push(b'%');
                copied = i + 1;
            }
        }
    }
    out.extend_from_slice(&text[copied..]);
    (Cow::Owned(out), escapes)
}

/// The position in the text of view position `i` (or of the end, for `i` past
/// the last byte of a match).
fn text_offset(escapes: &[usize], i: usize) -> usize {
    i + 2 * escapes.partition_point(|&e| e < i)
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 (standard alphabet, padded).
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(STD[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The base64 characters determined by `secret` alone when it starts at byte
/// offset `offset` (0, 1 or 2) modulo 3 of the encoded text.
fn base64_core(secret: &[u8], offset: usize) -> String {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(secret);
    let end = padded.len();
    padded.extend_from_slice(&[0, 0, 0]);
    let encoded = base64(&padded);
    encoded
        .char_indices()
        .filter(|(j, _)| {
            let (g, p) = (j / 4, j % 4);
            // The bytes each character of a group takes bits from.
            let (lo, hi) = match p {
                0 => (3 * g, 3 * g),
                1 => (3 * g, 3 * g + 1),
                2 => (3 * g + 1, 3 * g + 2),
                _ => (3 * g + 2, 3 * g + 2),
            };
            lo >= offset && hi < end
        })
        .map(|(_, c)| c)
        .collect()
}

fn url_safe(b64: &str) -> String {
    b64.replace('+', "-").replace('/', "_")
}

/// The literal forms a secret takes in text.
fn forms_of(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    forms.push(
        secret
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&apos;"),
    );
    // JSON-escaped once (a string in a JSON body) and twice (that body quoted
    // inside another JSON string, as error messages often do); with `\/` (PHP)
    // and with `\uXXXX` for every non-ASCII character (Python).
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    let once = quoted[1..quoted.len().saturating_sub(1).max(1)].to_string();
    let quoted = serde_json::to_string(&once).unwrap_or_default();
    let twice = quoted[1..quoted.len().saturating_sub(1).max(1)].to_string();
    forms.push(once.replace('/', "\\/"));
    let mut ascii = String::new();
    for c in once.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    forms.push(ascii);
    forms.push(once);
    forms.push(twice);
    if secret.len() >= BASE64_MIN {
        let full = base64(secret.as_bytes());
        forms.push(url_safe(&full));
        forms.push(full);
        for offset in 0..3 {
            let core = base64_core(secret.as_bytes(), offset);
            forms.push(url_safe(&core));
            forms.push(core);
        }
    }
    forms
}

/// A shared, growing set of secret strings. Cloning shares the set.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    index: Arc<RwLock<Index>>,
    /// Whose secrets are masked too (see [`Redactor::child`]).
    parent: Option<Arc<Redactor>>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// A redactor that masks what this one masks (now and later) and what is
    /// added to it alone. A served run masks its caller's secrets with one,
    /// so that they stay out of other callers' answers: a caller must not be
    /// able to mask text in everyone's answers, nor grow the server's set
    /// for ever.
    pub fn child(&self) -> Redactor {
        Redactor {
            index: Arc::default(),
            parent: Some(Arc::new(self.clone())),
        }
    }

    /// Registers a secret, along with the forms it takes inside URLs, JSON,
    /// XML and base64.
    pub fn add(&self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        // Already registered (a batch registers the shared key for every line).
        if !index.registered.insert(secret.to_string()) {
            return;
        }
        let whole_word = secret.chars().count() < SHORT;
        for form in forms_of(secret) {
            // As the view reads a raw occurrence (a `%XX` inside the secret
            // decoded, `+` as a space), and as it reads an encoded one.
            let (v, _) = view(form.as_bytes());
            let v = v.into_owned();
            let plus: Vec<u8> = form
                .bytes()
                .map(|b| if b == b'+' { b' ' } else { b })
                .collect();
            if plus != v {
                index.push(plus, whole_word);
            }
            index.push(v, whole_word);
        }
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
        let own = self
            .index
            .read()
            .map(|s| s.forms.is_empty())
            .unwrap_or(false);
        own && self.parent.as_ref().is_none_or(|p| p.is_empty())
    }

    /// Masks every secret in `text`. A secret shorter than [`SHORT`] characters
    /// is masked only where it stands as a whole word, so that a one-digit PIN
    /// does not turn every digit of the output into a mask.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let own = self.redact_own(text);
        let Some(parent) = &self.parent else {
            return own;
        };
        if let Cow::Owned(masked) = parent.redact(&own) {
            return Cow::Owned(masked);
        }
        own
    }

    /// Masks the secrets added to this redactor itself.
    fn redact_own<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        if index.forms.is_empty() || text.is_empty() {
            return Cow::Borrowed(text);
        }
        let (v, escapes) = view(text.as_bytes());
        let found = index.find(&v);
        drop(index);
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        let at = |i: usize| text_offset(&escapes, i);
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (start, end) in found {
            let (start, end) = (at(start), at(end));
            if start < copied || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
                continue;
            }
            out.push_str(&text[copied..start]);
            out.push_str(MASK);
            copied = end;
        }
        if copied == 0 && out.is_empty() {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
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
    fn a_child_masks_its_parents_secrets_and_keeps_its_own() {
        let server = Redactor::new();
        server.add("server-key-123");
        let run = server.child();
        run.add("caller-secret-456");
        server.add("added-later-789");
        let text = "server-key-123 caller-secret-456 added-later-789";
        assert_eq!(run.redact(text), "*** *** ***");
        assert_eq!(server.redact(text), "*** caller-secret-456 ***");
        assert!(!run.is_empty());
        assert!(server.child().redact("plain") == "plain");
    }

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

    #[test]
    fn percent_encodings_in_any_case_and_any_mix() {
        let r = Redactor::new();
        r.add("p@ss/w+rd é");
        for text in [
            "p@ss/w+rd é",
            "p%40ss%2Fw%2Brd%20%C3%A9",
            "p%40ss%2fw%2brd%20%c3%a9",
            "p%40ss/w+rd+%C3%a9",
            "p@ss%2Fw%2Brd+é",
            "%70%40%73%73%2f%77%2B%72%64%20%c3%A9",
        ] {
            assert_eq!(r.redact(&format!("[{text}]")), "[***]", "{text}");
        }
        // A secret holding a `%` is found raw and encoded.
        let r = Redactor::new();
        r.add("100%cd-key");
        assert_eq!(r.redact("x 100%cd-key y"), "x *** y");
        assert_eq!(r.redact("x 100%25cd-key y"), "x *** y");
        assert_eq!(r.redact("x 100%25c%64%2dkey y"), "x *** y");
        // Nothing else is touched.
        assert_eq!(r.redact("50%2F off + more"), "50%2F off + more");
    }

    #[test]
    fn json_escapes_of_other_encoders() {
        let r = Redactor::new();
        r.add("a/b-ü-key");
        assert_eq!(r.redact(r#"{"k":"a\/b-ü-key"}"#), r#"{"k":"***"}"#);
        assert_eq!(r.redact(r#"{"k":"a/b-\u00fc-key"}"#), r#"{"k":"***"}"#);
    }

    #[test]
    fn base64_cores_catch_the_secret_inside_any_base64() {
        let key = "sk_live_abc123/+xyz";
        let r = Redactor::new();
        r.add(key);
        for prefix in ["", "u", "us", "user:", "alice:", "{\"key\": \""] {
            let plain = format!("{prefix}{key}\" and more");
            let std = base64(plain.as_bytes());
            let unpadded = std.trim_end_matches('=').to_string();
            for encoded in [std.clone(), unpadded, url_safe(&std)] {
                let line = format!("Authorization: Basic {encoded}");
                let shown = r.redact(&line);
                assert!(shown.contains(MASK), "{prefix:?}: {shown}");
                assert!(!shown.contains(&encoded), "{prefix:?}: {shown}");
            }
        }
        // The secret's own base64, padded or not, goes whole.
        assert_eq!(r.redact(&base64(key.as_bytes())), MASK);
        // A short secret gets no cores, so no accidental masks.
        let r = Redactor::new();
        r.add("abc1234");
        let unrelated = base64(b"zzabc1234zz");
        assert_eq!(r.redact(&unrelated), unrelated);
    }

    #[test]
    fn cores_are_the_characters_the_secret_decides() {
        // "Man" is "TWFu"; at offset 1 only the last two characters of the
        // first group and what follows are decided by the secret.
        assert_eq!(base64_core(b"Man", 0), "TWFu");
        assert_eq!(base64_core(b"ManMan", 0), "TWFuTWFu");
        assert!(base64(b"xManMan").contains(&base64_core(b"ManMan", 1)));
        assert!(base64(b"xyManMan").contains(&base64_core(b"ManMan", 2)));
        assert_eq!(base64(b"Ma"), "TWE=");
    }

    #[test]
    fn many_secrets_use_the_prefix_index() {
        let r = Redactor::new();
        for i in 0..200 {
            r.add(&format!("secret-number-{i:04}"));
        }
        r.add("7");
        let text = "a secret-number-0042 b secret-number-0199%21 c 7 d 17";
        assert_eq!(r.redact(text), "a *** b ***%21 c *** d 17");
        assert_eq!(r.redact("secret%2Dnumber-0001"), "***");
        assert_eq!(r.redact("nothing here"), "nothing here");
    }
}
