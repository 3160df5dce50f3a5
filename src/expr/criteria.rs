//! The non-`simple` criterion types of a [Criterion Object]: `regex`, `jsonpath` and `xpath`.
//!
//! [`Check::compile`] turns a criterion's `type` and `condition` into a [`Check`] once, so a
//! bad pattern or expression is reported before anything runs; [`Check::eval`] applies it to
//! the criterion's `context` value, which the caller has already resolved.
//!
//! Truthiness follows Arazzo 1.1 §Condition Evaluation, which makes 1.0.1's prose precise:
//!
//! * `regex` passes when the pattern matches somewhere in the context text;
//! * `jsonpath` passes when the query returns a non-empty nodelist;
//! * `xpath` passes when the result's Effective Boolean Value is true;
//! * a `null` or undefined context, and any evaluation error, fails the criterion.
//!
//! # Dialects actually implemented
//!
//! **regex.** Arazzo does not name a dialect; like most tooling this module aims at ECMA-262
//! (JavaScript, without flags), which is what authors of these documents usually write. The
//! engine is [`fancy_regex`], chosen over the alternatives because:
//!
//! * the `regex` crate has no lookaround and no backreferences, both common in ECMA patterns;
//! * `regress` parses real ECMA-262 syntax but is a plain backtracker with no step limit, so
//!   a pattern such as `^(a|a)+\1b` on a hostile response body would hang the run;
//! * `fancy-regex` has lookaround and backreferences, hands every part that needs no
//!   backtracking to the linear-time `regex` crate, stops backtracking after
//!   [`REGEX_BACKTRACK_LIMIT`] steps, and caps the compiled size ([`REGEX_SIZE_LIMIT`]).
//!   It is also already in the dependency tree (through `jsonschema`).
//!
//! Before compiling, the pattern is rewritten so the ECMA-262 meaning wins where the two
//! syntaxes disagree: `\d`, `\w` and their negations are ASCII-only, `\s`/`\S` use the
//! ECMA whitespace set, `[^]` matches any character and `[]` none, `[` inside a class is a
//! literal, `[\b]` is backspace, `\cX` is a control character and `\0` is NUL. What remains
//! different from ECMA-262: `\b`/`\B` use Unicode word characters; `.` also matches `\r`,
//! U+2028 and U+2029 (ECMA excludes them); lookbehind must have a fixed length; `a{,3}` is a
//! quantifier rather than literal text; UTF-16 surrogate escapes such as `\uD83D` are
//! rejected; and the Rust extensions (`(?i)`, `\p{..}`, `\A`, `\z`, …) are accepted.
//! The search is unanchored (a match anywhere passes) unless the pattern anchors itself.
//!
//! **jsonpath.** [`serde_json_path`], an RFC 9535 implementation, with the context value
//! as the root. So `count()` counts nodes, not array items: the spec's example
//! `$[?count(@.pets) > 0]` gives an empty nodelist on `{"pets": [...]}` and a non-empty one
//! on `[{"pets": []}]` (checklist item 88). The version `draft-goessner-dispatch-jsonpath-00`
//! is accepted but evaluated by the same RFC 9535 engine: the common subset (`$.a.b`,
//! `$..a`, `[*]`, `[0]`, `[0:2]`, `[?(@.a == 1)]`) behaves the same, while Goessner's
//! script expressions such as `[(@.length-1)]` and `@.length` are not available.
//!
//! **xpath.** The default is XPath 3.1 (Arazzo 1.0.1 and 1.1 both say so); an Expression
//! Type Object picks `xpath-10`, `xpath-20`, `xpath-30` or `xpath-31`. `xpath-10` runs on
//! [`sxd_xpath`] with XPath 1.0's boolean conversion (non-empty node-set, non-empty string,
//! number other than 0 and NaN, or `true`); the others run on `xee_xpath` (XPath 3.1, whose
//! syntax and functions include 2.0's and 3.0's) with the Effective Boolean Value rules that
//! 2.0, 3.0 and 3.1 share: an empty sequence is false, a sequence whose first item is a node
//! is true, a single boolean, string or number by its value, and anything else is an error
//! (FORG0006), which fails the criterion with the reason. See [`super::xpath`] for the
//! engines, the namespace prefixes bound and the limits on XML.
//!
//! **jsonpointer** is a selector type (Selector Object, replacement targets), not a criterion
//! type: a criterion that names it is a compile error naming the four criterion types.
//!
//! [Criterion Object]: https://spec.openapis.org/arazzo/v1.0.1.html#criterion-object

use std::borrow::Cow;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use serde_json::Value;

/// Deepest element nesting of an XML document given to the XPath engine: its
/// parser is recursive (a hostile document must not overflow the stack), and it
/// looks up namespaces through every ancestor of every element, so time grows
/// with depth times size.
pub const MAX_XML_DEPTH: usize = 256;

/// Most elements, attributes and other markup of an XML document given to the XPath engine,
/// which keeps parsing and evaluation to a fraction of a second.
pub const MAX_XML_NODES: usize = 200_000;

/// Longest `condition` accepted, in bytes. Conditions are short expressions; anything far
/// beyond this is a mistake (or an attempt to make compilation slow).
pub const MAX_CONDITION_LEN: usize = 16 * 1024;

/// Deepest `[` nesting in a JSONPath expression: the parser backtracks through
/// nested filters, and its time grows about twofold with each level.
pub const MAX_JSONPATH_BRACKETS: usize = 8;

/// Most operators in one XPath or JSONPath expression: their parsers build and
/// walk an operator chain recursively.
pub const MAX_OPERATORS: usize = 256;

/// Backtracking steps a regex may take on one context value before it is abandoned (the
/// criterion then fails with a reason instead of hanging the run).
pub const REGEX_BACKTRACK_LIMIT: usize = 1_000_000;

/// Largest compiled size, in bytes, of the parts of a regex run by the linear-time engine.
pub const REGEX_SIZE_LIMIT: usize = 4 * 1024 * 1024;

const TYPES_HINT: &str = "use `regex`, `jsonpath` or `xpath` \
    (or an Expression Type Object such as {type: jsonpath, version: rfc9535})";
const JSONPATH_VERSIONS: &str = "`rfc9535` or `draft-goessner-dispatch-jsonpath-00`";
const XPATH_VERSIONS: &str = "`xpath-10`, `xpath-20`, `xpath-30` or `xpath-31`";

/// A compiled non-simple criterion.
#[derive(Debug, Clone)]
pub enum Check {
    /// `type: regex`.
    Regex(RegexCheck),
    /// `type: jsonpath`, or an Expression Type Object with `type: jsonpath`.
    JsonPath(JsonPathCheck),
    /// `type: xpath`, or an Expression Type Object with `type: xpath`.
    XPath(XPathCheck),
}

/// A compiled `regex` criterion.
#[derive(Debug, Clone)]
pub struct RegexCheck {
    pattern: String,
    regex: fancy_regex::Regex,
}

/// A compiled `jsonpath` criterion.
#[derive(Debug, Clone)]
pub struct JsonPathCheck {
    expression: String,
    version: JsonPathVersion,
    path: serde_json_path::JsonPath,
}

/// A checked `xpath` criterion. The expression was parsed by [`Check::compile`]; it is kept
/// as text and parsed again for each evaluation, because the parsed form of `sxd_xpath` is
/// neither `Send` nor `Sync` and this keeps [`Check`] both.
#[derive(Debug, Clone)]
pub struct XPathCheck {
    expression: String,
    version: XPathVersion,
}

/// The JSONPath version a criterion asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonPathVersion {
    /// RFC 9535, the default (named `rfc9535` in Arazzo 1.1).
    Rfc9535,
    /// `draft-goessner-dispatch-jsonpath-00`, evaluated with the RFC 9535 engine.
    GoessnerDraft00,
}

/// The XPath version a criterion, selector or replacement target asked for:
/// `xpath-10` runs on sxd-xpath, the others on xee-xpath (see [`super::xpath`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XPathVersion {
    /// `xpath-10`.
    V1_0,
    /// `xpath-20`.
    V2_0,
    /// `xpath-30`.
    V3_0,
    /// `xpath-31`, the default.
    V3_1,
}

impl JsonPathVersion {
    /// The version's name as written in an Expression Type Object.
    pub fn as_str(self) -> &'static str {
        match self {
            JsonPathVersion::Rfc9535 => "rfc9535",
            JsonPathVersion::GoessnerDraft00 => "draft-goessner-dispatch-jsonpath-00",
        }
    }
}

impl XPathVersion {
    /// The version's name as written in an Expression Type Object.
    pub fn as_str(self) -> &'static str {
        match self {
            XPathVersion::V1_0 => "xpath-10",
            XPathVersion::V2_0 => "xpath-20",
            XPathVersion::V3_0 => "xpath-30",
            XPathVersion::V3_1 => "xpath-31",
        }
    }
}

enum Kind {
    Regex,
    JsonPath(JsonPathVersion),
    XPath(XPathVersion),
}

impl Check {
    /// `kind` is the criterion `type`: "regex", "jsonpath", "xpath", or an Expression Type Object
    /// {type: jsonpath|xpath, version: ...} passed as serde_json::Value; returns a clear error for an
    /// invalid pattern/expression or an unknown type/version (message names the problem and the fix).
    pub fn compile(kind: &Value, condition: &str) -> Result<Check, String> {
        let kind = parse_kind(kind)?;
        let what = match kind {
            Kind::Regex => "regex pattern",
            Kind::JsonPath(_) => "JSONPath expression",
            Kind::XPath(_) => "XPath expression",
        };
        if condition.trim().is_empty() {
            return Err(format!(
                "the {what} in `condition` is empty: write the {what} to apply to the context"
            ));
        }
        if condition.len() > MAX_CONDITION_LEN {
            return Err(format!(
                "the {what} in `condition` is {} bytes long, over the limit of {MAX_CONDITION_LEN}: \
                 shorten it",
                condition.len()
            ));
        }
        if let Some(problem) = nesting_problem(&kind, condition) {
            return Err(problem);
        }
        guarded(|| match kind {
            Kind::Regex => compile_regex(condition).map(Check::Regex),
            Kind::JsonPath(version) => compile_jsonpath(condition, version).map(Check::JsonPath),
            Kind::XPath(version) => compile_xpath(condition, version).map(Check::XPath),
        })
    }

    /// Evaluates against the context value (the result of the criterion's `context` runtime expression,
    /// already resolved by the caller; None = undefined). Never panics; an evaluation error is Ok(false)
    /// plus a reason, returned as Err(String) so the caller can report it as a failed criterion.
    pub fn eval(&self, context: Option<&Value>) -> Result<bool, String> {
        let context = match context {
            None => {
                return Err(format!(
                    "the context is undefined, so the {} criterion fails: check that the \
                     criterion's `context` expression names a value that exists",
                    self.type_name()
                ))
            }
            Some(Value::Null) => {
                return Err(format!(
                    "the context is null, so the {} criterion fails",
                    self.type_name()
                ))
            }
            Some(value) => value,
        };
        guarded(|| match self {
            Check::Regex(check) => check.eval(context),
            Check::JsonPath(check) => check.eval(context),
            Check::XPath(check) => check.eval(context),
        })
    }

    /// [`Check::eval`], abandoned at `deadline` (`--max-duration`): with a
    /// deadline the evaluation runs on a thread of its own that the run stops
    /// waiting for when time is up (the engines cannot be interrupted; their
    /// inputs are bounded, so such a thread ends on its own).
    pub fn eval_until(
        &self,
        context: Option<&Value>,
        deadline: Option<Instant>,
    ) -> Result<bool, String> {
        let Some(deadline) = deadline else {
            return self.eval(context);
        };
        let abandoned = || {
            format!(
                "the {} criterion was abandoned: the run reached --max-duration",
                self.type_name()
            )
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(abandoned());
        }
        let check = self.clone();
        let value = context.cloned();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("arazzo-criterion".into())
            .spawn(move || {
                let _ = tx.send(check.eval(value.as_ref()));
            });
        if spawned.is_err() {
            return self.eval(context);
        }
        rx.recv_timeout(left).unwrap_or_else(|_| Err(abandoned()))
    }

    /// The criterion type: `regex`, `jsonpath` or `xpath`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Check::Regex(_) => "regex",
            Check::JsonPath(_) => "jsonpath",
            Check::XPath(_) => "xpath",
        }
    }

    /// The condition as written in the document.
    pub fn condition(&self) -> &str {
        match self {
            Check::Regex(check) => &check.pattern,
            Check::JsonPath(check) => &check.expression,
            Check::XPath(check) => &check.expression,
        }
    }

    /// The version asked for, for `jsonpath` and `xpath` (the default when none was given).
    pub fn version(&self) -> Option<&'static str> {
        match self {
            Check::Regex(_) => None,
            Check::JsonPath(check) => Some(check.version.as_str()),
            Check::XPath(check) => Some(check.version.as_str()),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version() {
            Some(version) => write!(f, "{} ({version}) `{}`", self.type_name(), self.condition()),
            None => write!(f, "{} `{}`", self.type_name(), self.condition()),
        }
    }
}

/// Whether a criterion `type` names a type (and version) this module checks;
/// the error says what is wrong with the `type` itself.
pub fn check_type(kind: &Value) -> Result<(), String> {
    parse_kind(kind).map(|_| ())
}

/// Why `condition` nests too deep for its engine to parse safely, if it does.
/// `validate` reports this as `expr/too-deep`.
pub fn too_deep(kind: &Value, condition: &str) -> Option<String> {
    nesting_problem(&parse_kind(kind).ok()?, condition)
}

fn nesting_problem(kind: &Kind, condition: &str) -> Option<String> {
    let syntax = match kind {
        Kind::Regex => Syntax::Regex,
        Kind::JsonPath(_) => Syntax::JsonPath,
        Kind::XPath(_) => Syntax::XPath,
    };
    let n = measure(condition, syntax);
    let max = crate::expr::MAX_NESTING;
    let what = match syntax {
        Syntax::Regex => "regex pattern",
        Syntax::JsonPath => "JSONPath expression",
        Syntax::XPath => "XPath expression",
    };
    if n.depth > max {
        return Some(format!(
            "the {what} nests brackets more than {max} levels deep: write it with fewer levels"
        ));
    }
    if syntax == Syntax::JsonPath && n.square > MAX_JSONPATH_BRACKETS {
        return Some(format!(
            "the {what} nests `[` more than {MAX_JSONPATH_BRACKETS} levels deep: write it with fewer nested filters"
        ));
    }
    if syntax != Syntax::Regex && n.operators > MAX_OPERATORS {
        return Some(format!(
            "the {what} has more than {MAX_OPERATORS} operators: split it into several criteria"
        ));
    }
    None
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Regex,
    JsonPath,
    XPath,
}

#[derive(Default)]
struct Measure {
    /// Deepest nesting of `(`, `[` and `{`.
    depth: usize,
    /// Deepest nesting of `[` alone.
    square: usize,
    /// Operator characters and words (`or`, `and`, `div`, `mod`).
    operators: usize,
}

/// Measures the nesting of an expression outside its string literals (and, in a
/// regex, outside escapes and character classes, where brackets are literal).
/// Closing brackets without an opener are ignored: the engine reports them.
fn measure(text: &str, syntax: Syntax) -> Measure {
    let mut m = Measure::default();
    let (mut depth, mut square) = (0usize, 0usize);
    let mut stack: Vec<u8> = Vec::new();
    let mut quote: Option<char> = None;
    let mut in_class = false;
    let mut word = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            // JSONPath strings have backslash escapes; XPath strings have none.
            if c == '\\' && syntax == Syntax::JsonPath {
                chars.next();
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if syntax == Syntax::Regex {
            if c == '\\' {
                chars.next();
                continue;
            }
            if in_class {
                in_class = c != ']';
                continue;
            }
            if c == '[' {
                in_class = true;
                continue;
            }
        }
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if matches!(word.as_str(), "or" | "and" | "div" | "mod") {
            m.operators += 1;
        }
        word.clear();
        match c {
            '\'' | '"' if syntax != Syntax::Regex => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                m.depth = m.depth.max(depth);
                if c == '[' {
                    square += 1;
                    m.square = m.square.max(square);
                }
                stack.push(c as u8);
            }
            ')' | ']' | '}' => {
                if let Some(open) = stack.pop() {
                    depth -= 1;
                    if open == b'[' {
                        square -= 1;
                    }
                }
            }
            '+' | '-' | '*' | '|' | '&' | '=' | '<' | '>' | '!' => m.operators += 1,
            _ => {}
        }
    }
    m
}

/// Runs `f`, turning a panic inside a third-party engine into an error.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no details".to_string());
            Err(format!("internal error in the criterion engine: {detail}"))
        }
    }
}

const POINTER_IN_CRITERION: &str = "a criterion cannot use `jsonpointer`: the criterion types \
    are `simple`, `regex`, `jsonpath` and `xpath` (JSON Pointer is for Selector Objects and \
    replacement targets; to test a value, use a simple condition such as \
    `$response.body#/id != null`)";

fn parse_kind(kind: &Value) -> Result<Kind, String> {
    match kind {
        Value::String(name) => match name.as_str() {
            "regex" => Ok(Kind::Regex),
            "jsonpath" => Ok(Kind::JsonPath(JsonPathVersion::Rfc9535)),
            "xpath" => Ok(Kind::XPath(XPathVersion::V3_1)),
            "jsonpointer" => Err(POINTER_IN_CRITERION.to_string()),
            "simple" => Err(
                "criterion type `simple` is evaluated by the simple condition \
                 language, not as a regex, JSONPath or XPath check"
                    .to_string(),
            ),
            other => Err(format!("unknown criterion type `{other}`: {TYPES_HINT}")),
        },
        Value::Object(object) => {
            if let Some(Value::String(ty)) = object.get("type") {
                if matches!(ty.as_str(), "regex" | "simple") {
                    return Err(format!(
                        "an Expression Type Object only applies to `jsonpath` or `xpath`; \
                         for {ty} write `type: {ty}` as a plain string"
                    ));
                }
            }
            match expression_type(object, false)? {
                SelectorType::JsonPath(v) => Ok(Kind::JsonPath(v)),
                SelectorType::XPath(v) => Ok(Kind::XPath(v)),
                SelectorType::JsonPointer => Err(POINTER_IN_CRITERION.to_string()),
            }
        }
        other => Err(format!(
            "the criterion `type` must be a string or an Expression Type Object, not {}: \
             {TYPES_HINT}",
            describe(other)
        )),
    }
}

/// The type of a Selector Object (`type`) or of a replacement target
/// (`targetSelectorType`): `jsonpath`, `xpath`, `jsonpointer`, or an
/// Expression Type Object naming one of them with a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorType {
    /// `jsonpath`.
    JsonPath(JsonPathVersion),
    /// `xpath`.
    XPath(XPathVersion),
    /// `jsonpointer` (RFC 6901).
    JsonPointer,
}

impl SelectorType {
    /// Reads a `type` (or `targetSelectorType`) as written in the document.
    pub fn parse(kind: &Value) -> Result<SelectorType, String> {
        match kind {
            Value::String(name) => match name.as_str() {
                "jsonpath" => Ok(SelectorType::JsonPath(JsonPathVersion::Rfc9535)),
                "xpath" => Ok(SelectorType::XPath(XPathVersion::V3_1)),
                "jsonpointer" => Ok(SelectorType::JsonPointer),
                other => Err(format!(
                    "unknown selector type `{other}`: use `jsonpath`, `xpath` or `jsonpointer` (or \
                     an Expression Type Object such as {{type: xpath, version: xpath-30}})"
                )),
            },
            Value::Object(object) => expression_type(object, true),
            other => Err(format!(
                "the selector type must be a string or an Expression Type Object, not {}: use \
                 `jsonpath`, `xpath` or `jsonpointer`",
                describe(other)
            )),
        }
    }

    /// The type's name: `jsonpath`, `xpath` or `jsonpointer`.
    pub fn name(self) -> &'static str {
        match self {
            SelectorType::JsonPath(_) => "jsonpath",
            SelectorType::XPath(_) => "xpath",
            SelectorType::JsonPointer => "jsonpointer",
        }
    }
}

/// An Expression Type Object: `type` and its (required) `version`.
/// `jsonpointer` is only allowed where `pointer` is (selectors, targets).
fn expression_type(
    object: &serde_json::Map<String, Value>,
    pointer: bool,
) -> Result<SelectorType, String> {
    let types = if pointer {
        "`jsonpath`, `xpath` or `jsonpointer`"
    } else {
        "`jsonpath` or `xpath`"
    };
    let ty = match object.get("type") {
        Some(Value::String(ty)) => ty.as_str(),
        Some(other) => {
            return Err(format!(
                "the Expression Type Object's `type` must be a string, not {}: use {types}",
                describe(other)
            ))
        }
        None => {
            return Err(format!(
                "the Expression Type Object has no `type`: add `type:` with {types}"
            ))
        }
    };
    let allowed = match ty {
        "jsonpath" => JSONPATH_VERSIONS,
        "xpath" => XPATH_VERSIONS,
        "jsonpointer" if pointer => "`rfc6901`",
        "jsonpointer" => return Err(POINTER_IN_CRITERION.to_string()),
        other => {
            return Err(format!(
                "unknown Expression Type Object type `{other}`: use {types}"
            ))
        }
    };
    let version = match object.get("version") {
        Some(Value::String(version)) => version.as_str(),
        Some(other) => {
            return Err(format!(
                "the Expression Type Object's `version` must be a string, not {}: \
                 use {allowed}",
                describe(other)
            ))
        }
        None => {
            return Err(format!(
                "the Expression Type Object for `{ty}` has no `version` (it is \
                 required): add one of {allowed}, or write `type: {ty}` as a plain \
                 string for the default"
            ))
        }
    };
    Ok(match (ty, version) {
        ("jsonpath", "rfc9535") => SelectorType::JsonPath(JsonPathVersion::Rfc9535),
        ("jsonpath", "draft-goessner-dispatch-jsonpath-00") => {
            SelectorType::JsonPath(JsonPathVersion::GoessnerDraft00)
        }
        ("xpath", "xpath-10") => SelectorType::XPath(XPathVersion::V1_0),
        ("xpath", "xpath-20") => SelectorType::XPath(XPathVersion::V2_0),
        ("xpath", "xpath-30") => SelectorType::XPath(XPathVersion::V3_0),
        ("xpath", "xpath-31") => SelectorType::XPath(XPathVersion::V3_1),
        ("jsonpointer", "rfc6901") => SelectorType::JsonPointer,
        _ => {
            return Err(format!(
                "unsupported {ty} version `{version}`: use {allowed}"
            ))
        }
    })
}

pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------------
// regex

fn compile_regex(pattern: &str) -> Result<RegexCheck, String> {
    let translated = ecma_to_fancy(pattern);
    let regex = fancy_regex::RegexBuilder::new(&translated)
        .backtrack_limit(REGEX_BACKTRACK_LIMIT)
        .delegate_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|err| regex_compile_error(pattern, &translated, &err))?;
    Ok(RegexCheck {
        pattern: pattern.to_string(),
        regex,
    })
}

fn regex_compile_error(pattern: &str, translated: &str, err: &fancy_regex::Error) -> String {
    let mut detail = err.to_string();
    if let fancy_regex::Error::CompileError(fancy_regex::CompileError::InnerError(inner)) = err {
        if let Some(limit) = inner.size_limit() {
            return format!(
                "regex pattern `{pattern}` is too large once compiled (limit {limit} bytes): \
                 use smaller repetition counts or narrower character classes"
            );
        }
        if let Some(syntax) = inner.syntax_error() {
            // The syntax error is a multi-line picture ending in "error: <what>".
            let text = syntax.to_string();
            let what = text
                .lines()
                .rev()
                .find_map(|line| line.strip_prefix("error: "))
                .unwrap_or(&text);
            detail = what.to_string();
        }
    }
    if let fancy_regex::Error::CompileError(fancy_regex::CompileError::LookBehindNotConst) = err {
        detail = "lookbehind must match a fixed number of characters with this engine".into();
    }
    let mut message = format!("invalid regex pattern `{pattern}`: {detail}");
    if translated != pattern {
        message.push_str(&format!(
            " (positions refer to the pattern as rewritten for ECMA-262 compatibility: \
             `{translated}`)"
        ));
    }
    message.push_str(": fix the pattern (ECMA-262 syntax, no slashes or flags)");
    message
}

impl RegexCheck {
    fn eval(&self, context: &Value) -> Result<bool, String> {
        let text: Cow<'_, str> = match context {
            Value::String(s) => Cow::Borrowed(s),
            Value::Number(n) => Cow::Owned(n.to_string()),
            Value::Bool(b) => Cow::Owned(b.to_string()),
            Value::Array(_) | Value::Object(_) => Cow::Owned(context.to_string()),
            Value::Null => return Err("the context is null, so the regex criterion fails".into()),
        };
        self.regex.is_match(&text).map_err(|err| match err {
            fancy_regex::Error::RuntimeError(fancy_regex::RuntimeError::BacktrackLimitExceeded) => {
                format!(
                    "regex `{}` gave up after {REGEX_BACKTRACK_LIMIT} backtracking steps on a \
                     context of {} bytes: simplify the pattern (avoid nested repetition \
                     combined with backreferences or lookaround)",
                    self.pattern,
                    text.len()
                )
            }
            other => format!("regex `{}` could not be evaluated: {other}", self.pattern),
        })
    }
}

/// ECMA-262 whitespace (`\s`): WhiteSpace plus LineTerminator, as class items.
const ECMA_SPACE: &str = r"\t\n\x{B}\x{C}\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";
const ECMA_DIGIT: &str = "0-9";
const ECMA_WORD: &str = "0-9A-Za-z_";

/// Rewrites an ECMA-262 pattern into `fancy-regex` syntax with the same meaning, where the
/// two disagree and a rewrite is possible (see the module documentation). Anything not
/// recognised is copied unchanged, so the engine reports its own errors.
fn ecma_to_fancy(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '\\' => {
                let Some(&e) = chars.get(i) else {
                    out.push('\\');
                    continue;
                };
                i += 1;
                let shorthand = match e {
                    'd' | 'D' => Some(ECMA_DIGIT),
                    'w' | 'W' => Some(ECMA_WORD),
                    's' | 'S' => Some(ECMA_SPACE),
                    _ => None,
                };
                if let Some(items) = shorthand {
                    let negated = e.is_ascii_uppercase();
                    match (in_class, negated) {
                        (false, false) => out.push_str(&format!("[{items}]")),
                        (false, true) | (true, true) => out.push_str(&format!("[^{items}]")),
                        (true, false) => out.push_str(items),
                    }
                    // ECMA (Annex B) reads `[\d-z]` as three items; keep the `-` literal.
                    if in_class && chars.get(i) == Some(&'-') && chars.get(i + 1) != Some(&']') {
                        out.push_str(r"\-");
                        i += 1;
                    }
                    continue;
                }
                match e {
                    'b' if in_class => out.push_str(r"\x{8}"),
                    'c' if chars.get(i).is_some_and(|l| l.is_ascii_alphabetic()) => {
                        let code = (chars[i] as u32) % 32;
                        out.push_str(&format!(r"\x{{{code:X}}}"));
                        i += 1;
                    }
                    '0' if !chars.get(i).is_some_and(|d| d.is_ascii_digit()) => {
                        out.push_str(r"\x{0}");
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                let negated = chars.get(i) == Some(&'^');
                let after = if negated { i + 1 } else { i };
                if chars.get(after) == Some(&']') {
                    // `[]` matches nothing and `[^]` matches anything, in ECMA-262.
                    out.push_str(if negated { r"[\s\S]" } else { r"[^\s\S]" });
                    i = after + 1;
                    continue;
                }
                out.push('[');
                if negated {
                    out.push('^');
                    i += 1;
                }
                in_class = true;
            }
            // Inside an ECMA class these are plain characters; in Rust they start a nested
            // class or a set operation (`&&`, `~~`, `--`).
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && chars.get(i) == Some(&'-') => {
                out.push_str(r"-\-");
                i += 1;
            }
            ']' if in_class => {
                out.push(']');
                in_class = false;
            }
            _ => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// jsonpath

pub(crate) fn compile_jsonpath(
    expression: &str,
    version: JsonPathVersion,
) -> Result<JsonPathCheck, String> {
    let path = serde_json_path::JsonPath::parse(expression).map_err(|err| {
        let mut message = format!(
            "invalid JSONPath expression `{expression}`: at position {}, {}: write an RFC 9535 \
             query that starts with `$`, e.g. `$.pets[*]` or `$[?@.status == 'sold']`",
            err.position(),
            err.message()
        );
        if version == JsonPathVersion::GoessnerDraft00 {
            message.push_str(
                " (draft-goessner-dispatch-jsonpath-00 queries are evaluated with the RFC 9535 \
                 engine, so script expressions such as `(@.length-1)` are not supported)",
            );
        }
        message
    })?;
    Ok(JsonPathCheck {
        expression: expression.to_string(),
        version,
        path,
    })
}

impl JsonPathCheck {
    /// The compiled query.
    pub(crate) fn into_path(self) -> serde_json_path::JsonPath {
        self.path
    }

    fn eval(&self, context: &Value) -> Result<bool, String> {
        let parsed;
        let root = match context {
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(value) => {
                    parsed = value;
                    &parsed
                }
                Err(err) if looks_like_json_container(text) => {
                    return Err(format!(
                        "the context is text that looks like JSON but does not parse ({err}), \
                         so the JSONPath `{}` cannot be applied",
                        self.expression
                    ))
                }
                // A plain string is a valid (if dull) JSON root.
                Err(_) => context,
            },
            other => other,
        };
        Ok(!self.path.query(root).is_empty())
    }
}

pub(crate) fn looks_like_json_container(text: &str) -> bool {
    matches!(text.trim_start().chars().next(), Some('{' | '['))
}

// ---------------------------------------------------------------------------------------
// xpath (the engines are in `super::xpath`)

fn compile_xpath(expression: &str, version: XPathVersion) -> Result<XPathCheck, String> {
    super::xpath::check(expression, version)?;
    Ok(XPathCheck {
        expression: expression.to_string(),
        version,
    })
}

/// Why an XPath expression nests too deep for the parsers, if it does.
pub(crate) fn xpath_nesting(expression: &str) -> Option<String> {
    nesting_problem(&Kind::XPath(XPathVersion::V3_1), expression)
}

/// Deepest nesting of `(`, `[` and `{` in an XPath expression, outside its
/// string literals.
pub(crate) fn xpath_depth(expression: &str) -> usize {
    measure(expression, Syntax::XPath).depth
}

impl XPathCheck {
    fn eval(&self, context: &Value) -> Result<bool, String> {
        let Value::String(text) = context else {
            return Err(format!(
                "the xpath criterion needs XML text as its context, but the context is {}: \
                 point `context` at an XML response body",
                describe(context)
            ));
        };
        super::xpath::boolean(&self.expression, self.version, text)
    }
}

// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::super::xpath::{xml_within_limits, xpath_prefixes};
    use super::*;
    use serde_json::json;

    fn check(kind: Value, condition: &str) -> Check {
        Check::compile(&kind, condition)
            .unwrap_or_else(|err| panic!("`{condition}` should compile: {err}"))
    }

    fn compile_err(kind: Value, condition: &str) -> String {
        match Check::compile(&kind, condition) {
            Ok(check) => panic!("`{condition}` should not compile, got {check}"),
            Err(err) => err,
        }
    }

    #[test]
    fn nesting_is_measured_outside_strings_and_classes() {
        let deep = "(".repeat(70);
        // Brackets inside string literals and regex classes do not nest.
        assert!(too_deep(&json!("xpath"), &format!("contains(., '{deep}')")).is_none());
        assert!(too_deep(&json!("jsonpath"), &format!("$[?@.a == \"{deep}\"]")).is_none());
        assert!(too_deep(&json!("regex"), &format!("[{deep}]x\\(")).is_none());
        assert!(too_deep(&json!("regex"), &format!("{deep}x{}", ")".repeat(70))).is_some());
        // An escaped quote does not end a JSONPath string; XPath has no escapes.
        assert!(too_deep(&json!("jsonpath"), &format!("$[?@.a == 'x\\'{deep}']")).is_none());
        assert!(too_deep(&json!("xpath"), &format!("'x\\'{deep}")).is_some());
        assert!(too_deep(&json!("xpath"), &vec!["1"; 258].join(" or ")).is_some());
        assert!(too_deep(&json!("xpath"), &vec!["1"; 200].join(" or ")).is_none());
    }

    #[test]
    fn xml_depth_skips_what_is_not_an_element() {
        let xml =
            "<?xml version='1.0'?><!DOCTYPE r><!-- <a><a> --><r a='>'><b/><![CDATA[<c><c>]]></r>";
        assert!(xml_within_limits(xml, "x").is_ok());
        let deep = format!("{}{}", "<a>".repeat(257), "</a>".repeat(257));
        assert!(xml_within_limits(&deep, "the context")
            .unwrap_err()
            .contains("more than 256 levels"));
        let ok = format!("{}{}", "<a x=\"1\">".repeat(256), "</a>".repeat(256));
        assert!(xml_within_limits(&ok, "x").is_ok());
    }

    fn regex_on(pattern: &str, context: Value) -> Result<bool, String> {
        check(json!("regex"), pattern).eval(Some(&context))
    }

    fn jsonpath_on(expression: &str, context: Value) -> Result<bool, String> {
        check(json!("jsonpath"), expression).eval(Some(&context))
    }

    fn xpath_on(expression: &str, xml: &str) -> Result<bool, String> {
        check(json!("xpath"), expression).eval(Some(&json!(xml)))
    }

    // --- type and version handling

    #[test]
    fn unknown_type_names_the_supported_ones() {
        let err = compile_err(json!("glob"), "*");
        assert!(err.contains("`glob`"), "{err}");
        for name in ["regex", "jsonpath", "xpath"] {
            assert!(err.contains(name), "{err}");
        }
        let err = compile_err(json!("simple"), "$statusCode == 200");
        assert!(err.contains("simple"), "{err}");
        let err = compile_err(json!(42), "x");
        assert!(err.contains("a number"), "{err}");
        let err = compile_err(json!("JSONPath"), "$");
        assert!(err.contains("jsonpath"), "{err}");
    }

    #[test]
    fn expression_type_object_versions() {
        let ok = [
            (
                json!({"type": "jsonpath", "version": "draft-goessner-dispatch-jsonpath-00"}),
                "$.a",
            ),
            (json!({"type": "jsonpath", "version": "rfc9535"}), "$.a"),
            (json!({"type": "xpath", "version": "xpath-10"}), "/a"),
            (json!({"type": "xpath", "version": "xpath-20"}), "/a"),
            (json!({"type": "xpath", "version": "xpath-30"}), "/a"),
            (json!({"type": "xpath", "version": "xpath-31"}), "/a"),
        ];
        for (kind, condition) in ok {
            let compiled = check(kind.clone(), condition);
            assert_eq!(compiled.version(), kind["version"].as_str());
        }
        assert_eq!(check(json!("jsonpath"), "$").version(), Some("rfc9535"));
        assert_eq!(check(json!("xpath"), "/a").version(), Some("xpath-31"));
        assert_eq!(check(json!("regex"), "a").version(), None);

        let err = compile_err(json!({"type": "xpath", "version": "xpath-40"}), "/a");
        assert!(
            err.contains("`xpath-40`") && err.contains("xpath-10"),
            "{err}"
        );
        let err = compile_err(json!({"type": "jsonpath", "version": "xpath-30"}), "$");
        assert!(
            err.contains("rfc9535") && err.contains("draft-goessner"),
            "{err}"
        );
        let err = compile_err(json!({"type": "jsonpath"}), "$");
        assert!(err.contains("no `version`"), "{err}");
        let err = compile_err(json!({"version": "rfc9535"}), "$");
        assert!(err.contains("no `type`"), "{err}");
        let err = compile_err(json!({"type": "regex", "version": "x"}), "a");
        assert!(err.contains("type: regex"), "{err}");
        let err = compile_err(json!({"type": "xpath", "version": 3}), "/a");
        assert!(err.contains("must be a string"), "{err}");
    }

    #[test]
    fn goessner_draft_is_evaluated_with_the_rfc_engine() {
        let kind = json!({"type": "jsonpath", "version": "draft-goessner-dispatch-jsonpath-00"});
        let c = check(kind.clone(), "$.store.book[?(@.price < 10)].title");
        let body = json!({"store": {"book": [{"price": 8, "title": "a"}, {"price": 12}]}});
        assert_eq!(c.eval(Some(&body)), Ok(true));
        let err = compile_err(kind, "$.store.book[(@.length-1)]");
        assert!(err.contains("script expressions"), "{err}");
    }

    #[test]
    fn empty_and_oversized_conditions_are_rejected() {
        let err = compile_err(json!("regex"), "  ");
        assert!(err.contains("empty"), "{err}");
        let err = compile_err(json!("jsonpath"), &"$".repeat(MAX_CONDITION_LEN + 1));
        assert!(err.contains("limit"), "{err}");
    }

    #[test]
    fn check_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Check>();
        let c = check(json!("xpath"), "/a");
        assert_eq!(c.to_string(), "xpath (xpath-31) `/a`");
        assert_eq!(c.clone().condition(), "/a");
    }

    // --- undefined and null context

    #[test]
    fn undefined_or_null_context_fails_with_a_reason() {
        for (kind, condition) in [
            (json!("regex"), ".*"),
            (json!("jsonpath"), "$"),
            (json!("xpath"), "true()"),
        ] {
            let c = check(kind, condition);
            let err = c.eval(None).unwrap_err();
            assert!(err.contains("undefined"), "{err}");
            let err = c.eval(Some(&Value::Null)).unwrap_err();
            assert!(err.contains("null"), "{err}");
        }
    }

    // --- regex

    #[test]
    fn regex_spec_example_on_status_code() {
        assert_eq!(regex_on("^200$", json!(200)), Ok(true));
        assert_eq!(regex_on("^200$", json!(201)), Ok(false));
        assert_eq!(regex_on("^200$", json!("200")), Ok(true));
        // Arazzo 1.1's example.
        assert_eq!(regex_on(r"^2\d{2}$", json!(204)), Ok(true));
        assert_eq!(regex_on(r"^2\d{2}$", json!(404)), Ok(false));
    }

    #[test]
    fn regex_stringifies_the_context() {
        assert_eq!(regex_on("^true$", json!(true)), Ok(true));
        assert_eq!(regex_on(r"^1\.5$", json!(1.5)), Ok(true));
        assert_eq!(regex_on(r#""id":1"#, json!({"id": 1, "n": "x"})), Ok(true));
        assert_eq!(regex_on(r#"^\[1,2\]$"#, json!([1, 2])), Ok(true));
    }

    #[test]
    fn regex_searches_unless_anchored() {
        assert_eq!(regex_on("ok", json!("status: ok!")), Ok(true));
        assert_eq!(regex_on("^ok$", json!("status: ok!")), Ok(false));
        assert_eq!(regex_on("^ok", json!("ok then")), Ok(true));
        // `$` without a flag is the end of the text only, as in ECMA-262.
        assert_eq!(regex_on("a$", json!("a\nb")), Ok(false));
    }

    #[test]
    fn regex_lookaround_and_backreferences() {
        assert_eq!(
            regex_on(r"^(?=.*\d)(?=.*[a-z]).{8,}$", json!("abc12345")),
            Ok(true)
        );
        assert_eq!(
            regex_on(r"^(?=.*\d)(?=.*[a-z]).{8,}$", json!("abcdefgh")),
            Ok(false)
        );
        assert_eq!(
            regex_on(r"(?<!un)available", json!("unavailable")),
            Ok(false)
        );
        assert_eq!(regex_on(r"(?<!un)available", json!("available")), Ok(true));
        assert_eq!(regex_on(r"(\w)\1", json!("hello")), Ok(true));
        assert_eq!(regex_on(r"(?<q>['x])\k<q>", json!("a''b")), Ok(true));
    }

    #[test]
    fn regex_follows_ecma_where_rust_differs() {
        // `\d` and `\w` are ASCII-only in ECMA-262.
        assert_eq!(regex_on(r"^\d+$", json!("٢٠٠")), Ok(false));
        assert_eq!(regex_on(r"^\w+$", json!("café")), Ok(false));
        assert_eq!(regex_on(r"^[\w.]+$", json!("a.b_c")), Ok(true));
        assert_eq!(regex_on(r"^[^\d]+$", json!("abc")), Ok(true));
        assert_eq!(regex_on(r"^[a\D]$", json!("x")), Ok(true));
        assert_eq!(regex_on(r"^\D$", json!("7")), Ok(false));
        // ECMA whitespace includes U+FEFF and excludes U+0085.
        assert_eq!(regex_on(r"^\s$", json!("\u{feff}")), Ok(true));
        assert_eq!(regex_on(r"^\s$", json!("\u{85}")), Ok(false));
        assert_eq!(regex_on(r"^\S+$", json!("a\u{85}")), Ok(true));
        // `[^]` is any character, `[]` is none.
        assert_eq!(regex_on(r"^a[^]b$", json!("a\nb")), Ok(true));
        assert_eq!(regex_on(r"a[]", json!("a")), Ok(false));
        // `[` inside a class is literal; `&&` and `~~` are not set operations.
        assert_eq!(regex_on(r"^[[]$", json!("[")), Ok(true));
        assert_eq!(regex_on(r"^[a&&b]+$", json!("a&b")), Ok(true));
        assert_eq!(regex_on(r"^[~~]$", json!("~")), Ok(true));
        // Annex B: `[\d-z]` is a digit, `-` or `z`.
        assert_eq!(regex_on(r"^[\d-z]+$", json!("1-z")), Ok(true));
        // Escapes.
        assert_eq!(regex_on(r"[\b]", json!("a\u{8}")), Ok(true));
        assert_eq!(regex_on(r"\cJ", json!("a\nb")), Ok(true));
        assert_eq!(regex_on(r"a\0", json!("a\u{0}")), Ok(true));
        assert_eq!(regex_on(r"^\/api\/v1$", json!("/api/v1")), Ok(true));
        assert_eq!(regex_on(r"\u0041", json!("A")), Ok(true));
        // An escaped bracket is not a class.
        assert_eq!(regex_on(r"^\[\d\]$", json!("[7]")), Ok(true));
    }

    #[test]
    fn regex_invalid_patterns_are_compile_errors() {
        let err = compile_err(json!("regex"), "(unclosed");
        assert!(
            err.starts_with("invalid regex pattern `(unclosed`"),
            "{err}"
        );
        let err = compile_err(json!("regex"), "[z-a]");
        assert!(
            err.contains("invalid regex pattern") && err.contains("range"),
            "{err}"
        );
        let err = compile_err(json!("regex"), r"(?<=a+)b");
        assert!(err.contains("lookbehind"), "{err}");
        let err = compile_err(json!("regex"), r"\k<nope>");
        assert!(err.contains("invalid regex pattern"), "{err}");
    }

    #[test]
    fn regex_pathological_patterns_are_bounded() {
        let err = compile_err(json!("regex"), "(?:a{1000}){1000}");
        assert!(err.contains("too large"), "{err}");
        let c = check(json!("regex"), r"^(a|a)+\1b");
        let err = c
            .eval(Some(&json!(format!("{}!", "a".repeat(40)))))
            .unwrap_err();
        assert!(err.contains("backtracking"), "{err}");
        // Nested repetition without backtracking features runs in linear time.
        let c = check(json!("regex"), r"^(a+)+$");
        assert_eq!(
            c.eval(Some(&json!(format!("{}!", "a".repeat(10_000))))),
            Ok(false)
        );
    }

    // --- jsonpath

    #[test]
    fn jsonpath_spec_example_follows_rfc_9535() {
        // Checklist item 88: the filter applies to the root's children, and count() counts
        // nodes. On an object with a `pets` member the children are the array itself, which
        // has no `pets`, so the nodelist is empty.
        let example = "$[?count(@.pets) > 0]";
        assert_eq!(
            jsonpath_on(example, json!({"pets": [{"name": "Rex"}]})),
            Ok(false)
        );
        // On an array of objects, `@.pets` selects one node even when the array is empty.
        assert_eq!(jsonpath_on(example, json!([{"pets": []}])), Ok(true));
        assert_eq!(jsonpath_on(example, json!([{"cats": []}])), Ok(false));
    }

    #[test]
    fn jsonpath_wildcard_on_pets() {
        assert_eq!(
            jsonpath_on("$.pets[*]", json!({"pets": [{"name": "Rex"}]})),
            Ok(true)
        );
        assert_eq!(jsonpath_on("$.pets[*]", json!({"pets": []})), Ok(false));
        assert_eq!(jsonpath_on("$.pets[*]", json!({"cats": [1]})), Ok(false));
        assert_eq!(
            jsonpath_on(
                "$.pets[?@.status == 'sold']",
                json!({"pets": [{"status": "sold"}]})
            ),
            Ok(true)
        );
        assert_eq!(
            jsonpath_on("$..name", json!({"a": {"b": {"name": 1}}})),
            Ok(true)
        );
    }

    #[test]
    fn jsonpath_parses_json_text_contexts() {
        let text = json!(r#"{"pets": [{"name": "Rex"}]}"#);
        assert_eq!(jsonpath_on("$.pets[*]", text), Ok(true));
        assert_eq!(jsonpath_on("$.pets[*]", json!(" [1] ")), Ok(false));
        let err = jsonpath_on("$.pets[*]", json!(r#"{"pets": ["#)).unwrap_err();
        assert!(err.contains("does not parse"), "{err}");
        // A plain string is its own root.
        assert_eq!(jsonpath_on("$", json!("hello")), Ok(true));
        assert_eq!(jsonpath_on("$.a", json!("hello")), Ok(false));
    }

    #[test]
    fn jsonpath_invalid_expressions_are_compile_errors() {
        for bad in ["$[?", "pets[*]", "$.pets[", "$[?(@.a ==)]"] {
            let err = compile_err(json!("jsonpath"), bad);
            assert!(err.contains("invalid JSONPath expression"), "{err}");
            assert!(err.contains("position"), "{err}");
        }
    }

    // --- xpath

    const PETS_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<root>
  <pets>
    <pet id="1"><name>Rex</name></pet>
    <pet id="2"><name>Tom</name></pet>
  </pets>
  <status>available</status>
</root>"#;

    #[test]
    fn xpath_count_and_string_comparison() {
        // Arazzo 1.1's examples.
        assert_eq!(xpath_on("count(/root/pets/*) > 0", PETS_XML), Ok(true));
        assert_eq!(xpath_on("/root/pets", PETS_XML), Ok(true));
        assert_eq!(xpath_on("count(/root/pets/pet) = 3", PETS_XML), Ok(false));
        assert_eq!(xpath_on("/root/status = 'available'", PETS_XML), Ok(true));
        assert_eq!(xpath_on("/root/status = 'sold'", PETS_XML), Ok(false));
        assert_eq!(
            xpath_on("/root/pets/pet[@id='2']/name = 'Tom'", PETS_XML),
            Ok(true)
        );
        assert_eq!(
            xpath_on("contains(/root/status, 'avail')", PETS_XML),
            Ok(true)
        );
    }

    #[test]
    fn xpath_effective_boolean_value() {
        // node-set
        assert_eq!(xpath_on("/root/missing", PETS_XML), Ok(false));
        // string
        assert_eq!(xpath_on("string(/root/status)", PETS_XML), Ok(true));
        assert_eq!(xpath_on("string(/root/missing)", PETS_XML), Ok(false));
        // number
        assert_eq!(xpath_on("count(/root/pets/pet)", PETS_XML), Ok(true));
        assert_eq!(xpath_on("count(/root/missing)", PETS_XML), Ok(false));
        assert_eq!(xpath_on("number('x')", PETS_XML), Ok(false));
        // boolean
        assert_eq!(xpath_on("false()", PETS_XML), Ok(false));
        assert_eq!(xpath_on("not(/root/missing)", PETS_XML), Ok(true));
    }

    #[test]
    fn xpath_versions_all_evaluate() {
        for version in ["xpath-10", "xpath-20", "xpath-30", "xpath-31"] {
            let c = check(
                json!({"type": "xpath", "version": version}),
                "count(//pet) = 2",
            );
            assert_eq!(c.eval(Some(&json!(PETS_XML))), Ok(true), "{version}");
        }
    }

    #[test]
    fn xpath_binds_document_prefixes() {
        let xml = r#"<s:Envelope xmlns:s="urn:soap"><s:Body><m:ok xmlns:m="urn:m">1</m:ok></s:Body></s:Envelope>"#;
        assert_eq!(xpath_on("/s:Envelope/s:Body/m:ok = 1", xml), Ok(true));
        let xml = r#"<root xmlns="urn:default"><a/></root>"#;
        assert_eq!(xpath_on("/root", xml), Ok(false));
        assert_eq!(xpath_on("/*[local-name()='root']/*", xml), Ok(true));
    }

    #[test]
    fn xpath_errors() {
        let err = compile_err(json!("xpath"), "/root/[");
        assert!(
            err.starts_with("invalid XPath expression `/root/[`"),
            "{err}"
        );
        let err = xpath_on("/root", "<root><a></b></root>").unwrap_err();
        assert!(
            err.contains("not well-formed XML") && err.contains("line 1"),
            "{err}"
        );
        let err = xpath_on("/root", "not xml at all").unwrap_err();
        assert!(err.contains("not well-formed XML"), "{err}");
        let err = xpath_on("/root", "<a>\n<b>\n</a>").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        let err = xpath_on("/root", "").unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let c = check(json!("xpath"), "/root");
        let err = c.eval(Some(&json!({"root": 1}))).unwrap_err();
        assert!(
            err.contains("XML text") && err.contains("an object"),
            "{err}"
        );
        // XPath 2.0+ functions work by default (3.1) and not in XPath 1.0.
        assert_eq!(
            xpath_on("matches(/root/status, 'av.*')", PETS_XML),
            Ok(true)
        );
        let v10 = json!({"type": "xpath", "version": "xpath-10"});
        let err = check(v10.clone(), "matches(/root/status, 'av.*')")
            .eval(Some(&json!(PETS_XML)))
            .unwrap_err();
        assert!(
            err.contains("`matches()`") && err.contains("XPath 1.0"),
            "{err}"
        );
        let err = xpath_on("/x:root", PETS_XML).unwrap_err();
        assert!(err.contains("prefix `x`"), "{err}");
        let err = xpath_on("/root/pets/pet[@id = 'a:b']/q:name", PETS_XML).unwrap_err();
        assert!(
            err.contains("prefix `q`") && !err.contains("prefix `a`"),
            "{err}"
        );
        let err = check(v10, "$v").eval(Some(&json!(PETS_XML))).unwrap_err();
        assert!(err.contains("variable `$v`"), "{err}");
        let err = compile_err(json!("xpath"), "$v");
        assert!(err.contains("XPST0008"), "{err}");
    }

    #[test]
    fn xpath_prefix_scan() {
        assert_eq!(
            xpath_prefixes("/s:Envelope/child::m:ok[@x:a = 'y:z']"),
            ["s", "m", "x"]
        );
        assert_eq!(
            xpath_prefixes("count(//pet) > 1.5 and ancestor-or-self::*"),
            Vec::<String>::new()
        );
        assert_eq!(xpath_prefixes("/p:*"), ["p"]);
    }
}
