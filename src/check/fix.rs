//! The text engine behind `arazzo validate --fix`: it changes string values of a YAML or JSON
//! document in place and touches no other byte.
//!
//! A fix must not cost the author their file's layout: comments, key order, quoting, indentation
//! and line endings stay as written. So [`apply`] never re-serialises the tree. It finds each
//! value's text with the [`SourceMap`], reads that text into small pieces that each know what
//! they decode to ([`Seg`]), swaps only the pieces that hold the text to replace, and writes the
//! result back in the value's own quoting. Only when the new text cannot be written that way (a
//! plain scalar that would turn into `true` or start a comment, a single-quoted one that would
//! need an escape) does the value change its quoting, and then only on a single line.
//!
//! Nothing is trusted blindly: each piece map is checked against the parser's own reading of
//! the value, each rewritten value is read back, and the whole new text is parsed again and
//! compared with the old tree (with the intended values put in). If anything differs, the
//! original text comes back untouched and every edit is reported as skipped: a `--fix` that
//! breaks a file is worse than none.
//!
//! [`diff`] renders the change as a unified diff for `--fix --dry-run`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::document::source_map::{Sharing, SourceMap, Span};

/// One change to one scalar string value: inside the value at `pointer`, the text `from` (a
/// substring of the value as parsed, i.e. decoded) becomes `to`. The first occurrence of `from`
/// is the one replaced.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Edit {
    /// JSON Pointer (RFC 6901) of the string value.
    pub pointer: String,
    /// The decoded text to replace.
    pub from: String,
    /// The decoded text to put in its place.
    pub to: String,
}

/// An edit that was made: where, and the value before and after it (decoded). When one value
/// gets several edits, each reports the value as it stood just before and just after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The edit's pointer.
    pub pointer: String,
    /// 1-based line of the value's text.
    pub line: usize,
    /// 1-based column of the value's text, in characters.
    pub column: usize,
    /// The decoded value before the edit.
    pub before: String,
    /// The decoded value after the edit.
    pub after: String,
}

/// What [`apply`] did: the new text, the edits made, and the edits left out with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The edited text; the input itself when nothing was applied.
    pub text: String,
    /// The edits made, in the order given.
    pub applied: Vec<Applied>,
    /// The edits not made, in the order given, each with why.
    pub skipped: Vec<(Edit, String)>,
}

/// Applies `edits` to `text` (YAML or JSON), changing only the bytes of the edited values.
///
/// Each edit replaces the first occurrence of `from` in the decoded string at `pointer`. An
/// edit is skipped (with a reason) when the pointer leads to no string, `from` does not occur,
/// the value is shared through a YAML anchor, the edit overlaps an earlier one on the same value,
/// or the value spans several lines and the edit would cross or add a line break. Edits of one
/// value are applied one after the other; edits of different values are independent.
///
/// The result is verified by parsing it again: the edited values must read as intended and
/// nothing else may change. If that fails, the original text is returned and every edit is
/// skipped. Never panics.
pub fn apply(text: &str, edits: &[Edit]) -> Outcome {
    apply_with(text, edits, &parse)
}

/// [`apply`] with the parser as a parameter, so that tests can make the final check fail.
fn apply_with(
    text: &str,
    edits: &[Edit],
    parse: &dyn Fn(&str) -> Option<(Format, Value)>,
) -> Outcome {
    if edits.is_empty() {
        return unchanged(text, edits, Vec::new());
    }
    let Some((format, tree)) = parse(text) else {
        let why = "the file does not parse as JSON or YAML";
        return unchanged(text, edits, skip_all(edits, why));
    };
    let map = SourceMap::parse(text);
    if map.is_empty() {
        let why = "the positions of values in the file could not be read";
        return unchanged(text, edits, skip_all(edits, why));
    }

    let mut skipped: Vec<(usize, String)> = Vec::new();
    let mut values = read_targets(text, &map, &tree, format, edits, &mut skipped);
    let changed = without_overlaps(&mut values, &mut skipped);
    if changed.is_empty() {
        skipped.sort_by_key(|(i, _)| *i);
        return unchanged(text, edits, skipped);
    }
    let out = spliced(text, &changed);
    if !verified(&out, tree, format, &changed, parse) {
        for value in &changed {
            for step in &value.steps {
                skipped.push((
                    step.edit,
                    "the edit would change the document's meaning".into(),
                ));
            }
        }
        skipped.sort_by_key(|(i, _)| *i);
        return unchanged(text, edits, skipped);
    }
    applied_outcome(out, edits, &changed, skipped)
}

/// The outcome that leaves `text` as it is: every edit is in `skipped` (by index, with why).
fn unchanged(text: &str, edits: &[Edit], skipped: Vec<(usize, String)>) -> Outcome {
    Outcome {
        text: text.to_owned(),
        applied: Vec::new(),
        skipped: skipped
            .into_iter()
            .map(|(i, why)| (edits[i].clone(), why))
            .collect(),
    }
}

/// Every edit skipped for the same reason, when the file itself cannot be edited.
fn skip_all(edits: &[Edit], why: &str) -> Vec<(usize, String)> {
    (0..edits.len()).map(|i| (i, why.to_owned())).collect()
}

/// The values being edited, each read once however many edits it gets (found by the byte
/// offset of its text), with the edits made on them. An edit that cannot be made goes to
/// `skipped` with why.
fn read_targets<'a>(
    text: &'a str,
    map: &SourceMap,
    tree: &Value,
    format: Format,
    edits: &[Edit],
    skipped: &mut Vec<(usize, String)>,
) -> Vec<Target<'a>> {
    let mut values: Vec<Target<'_>> = Vec::new();
    let mut by_offset: HashMap<usize, usize> = HashMap::new();
    let mut seen: HashSet<&Edit> = HashSet::new();
    for (i, edit) in edits.iter().enumerate() {
        if !seen.insert(edit) {
            skipped.push((i, "the same edit is listed twice".into()));
            continue;
        }
        if edit.from.is_empty() {
            skipped.push((i, "nothing to replace: `from` is empty".into()));
            continue;
        }
        if edit.from == edit.to {
            skipped.push((i, "`from` and `to` are the same".into()));
            continue;
        }
        let span = match find_value(map, &edit.pointer) {
            Ok(span) => span,
            Err(why) => {
                skipped.push((i, why));
                continue;
            }
        };
        let index = match by_offset.get(&span.offset) {
            Some(&index) => index,
            None => match Target::read(text, map, tree, format, span, &edit.pointer) {
                Ok(value) => {
                    values.push(value);
                    by_offset.insert(values[values.len() - 1].span.offset, values.len() - 1);
                    values.len() - 1
                }
                Err(why) => {
                    skipped.push((i, why));
                    continue;
                }
            },
        };
        if let Err(why) = values[index].edit(i, &edit.from, &edit.to) {
            skipped.push((i, why));
        }
    }
    values
}

/// The values with a new text, in order of position. Each value's text lies after the
/// previous one's: scalars do not nest. Should two spans overlap all the same, the later value
/// is left alone (its edits skipped) rather than written over the earlier one.
fn without_overlaps<'v, 'a>(
    values: &'v mut [Target<'a>],
    skipped: &mut Vec<(usize, String)>,
) -> Vec<&'v Target<'a>> {
    values.sort_by_key(|v| v.span.offset);
    let mut changed: Vec<&Target<'_>> = Vec::new();
    let mut end = 0;
    for value in values.iter().filter(|v| v.rendered.is_some()) {
        if value.span.offset < end {
            for step in &value.steps {
                skipped.push((step.edit, "the value overlaps another edited value".into()));
            }
            continue;
        }
        end = value.span.range().end;
        changed.push(value);
    }
    changed
}

/// `text` with the new texts of `changed` spliced in; the text between them is copied as it is.
fn spliced(text: &str, changed: &[&Target<'_>]) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut copied = 0;
    for value in changed {
        let range = value.span.range();
        out.push_str(text.get(copied..range.start).unwrap_or_default());
        out.push_str(value.props);
        out.push_str(value.rendered.as_deref().unwrap_or_default());
        copied = range.end;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

/// Whether the new text `out` parses the same way as the old one did (to `tree`), with the
/// edited values reading as intended and nothing else moved.
fn verified(
    out: &str,
    tree: Value,
    format: Format,
    changed: &[&Target<'_>],
    parse: &dyn Fn(&str) -> Option<(Format, Value)>,
) -> bool {
    let mut expected = tree;
    for value in changed {
        if let Some(slot) = expected.pointer_mut(&value.pointer) {
            *slot = Value::String(value.current());
        }
    }
    matches!(parse(out), Some((f, new)) if f == format && new == expected)
}

/// The outcome of edits made and verified: the new text, each edit made with the value
/// before and after it, and the edits skipped, both in the order given.
fn applied_outcome(
    out: String,
    edits: &[Edit],
    changed: &[&Target<'_>],
    mut skipped: Vec<(usize, String)>,
) -> Outcome {
    let mut applied: Vec<(usize, Applied)> = changed
        .iter()
        .flat_map(|value| {
            value.steps.iter().map(|step| {
                (
                    step.edit,
                    Applied {
                        pointer: edits[step.edit].pointer.clone(),
                        line: value.span.line,
                        column: value.span.column,
                        before: step.before.clone(),
                        after: step.after.clone(),
                    },
                )
            })
        })
        .collect();
    applied.sort_by_key(|(i, _)| *i);
    skipped.sort_by_key(|(i, _)| *i);
    Outcome {
        text: out,
        applied: applied.into_iter().map(|(_, a)| a).collect(),
        skipped: skipped
            .into_iter()
            .map(|(i, why)| (edits[i].clone(), why))
            .collect(),
    }
}

/// JSON text is parsed as JSON, everything else as YAML, exactly as the loader does, so that
/// "the same tree" means the same thing to `--fix` and to `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

/// Parses `text` the way the loader ([`crate::read::parse_tree`]) does, noting which syntax
/// it took: JSON strings and YAML double-quoted scalars escape differently.
fn parse(text: &str) -> Option<(Format, Value)> {
    let body = text.trim_start_matches('\u{feff}');
    let trimmed = body.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(tree) = serde_json::from_str::<Value>(body) {
            return Some((Format::Json, tree));
        }
    }
    crate::read::parse_tree(text, "the file")
        .ok()
        .map(|tree| (Format::Yaml, tree))
}

/// The span of the value at `pointer`, if it is there and its text is its own.
fn find_value(map: &SourceMap, pointer: &str) -> Result<Span, String> {
    let Some(span) = map.locate(pointer) else {
        return Err(format!("`{pointer}` is not a JSON Pointer into this file"));
    };
    if !span.exact {
        return Err(format!("there is no value at `{pointer}`"));
    }
    match map.sharing(pointer) {
        Some(Sharing::Own) => Ok(span),
        Some(Sharing::ThroughAlias) => Err(
            "the value is reached through a YAML alias: editing it would also change the places \
             that use the same anchor"
                .into(),
        ),
        Some(Sharing::Anchored) => Err(
            "the value is (inside) a YAML anchor that an alias repeats: editing it would also \
             change the places that use the alias"
                .into(),
        ),
        None => Err(format!("there is no value at `{pointer}`")),
    }
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// A JSON string.
    Json,
    /// YAML `"..."`.
    Double,
    /// YAML `'...'`.
    Single,
    /// YAML without quotes.
    Plain,
    /// YAML `|`.
    Literal,
    /// YAML `>`.
    Folded,
}

impl Style {
    /// The style of a scalar's text (anchor and tag removed): YAML decides it by the first
    /// character, which a plain scalar may not take from the others.
    fn of(scalar: &str, format: Format) -> Style {
        match scalar.as_bytes().first() {
            Some(b'"') if format == Format::Json => Style::Json,
            Some(b'"') => Style::Double,
            Some(b'\'') => Style::Single,
            Some(b'|') => Style::Literal,
            Some(b'>') => Style::Folded,
            _ => Style::Plain,
        }
    }
}

/// What a piece of a scalar's text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Text that reads as itself.
    Text,
    /// One escaped character: `\n`, `\u00e9`, `''`.
    Escape,
    /// Structure: quotes, a block scalar's header, indentation, and the line breaks with the
    /// white space around them, which YAML folds. An edit never reaches into one.
    Break,
    /// The text an earlier edit put in.
    Edited,
}

/// A piece of a scalar's text and what it decodes to. A scalar is a run of these, and its value
/// is their decoded texts end to end: that is what lets an edit find its bytes.
#[derive(Debug, Clone)]
struct Seg<'a> {
    raw: Cow<'a, str>,
    dec: Cow<'a, str>,
    kind: Kind,
}

impl<'a> Seg<'a> {
    fn text(s: &'a str) -> Self {
        Seg {
            raw: Cow::Borrowed(s),
            dec: Cow::Borrowed(s),
            kind: Kind::Text,
        }
    }

    fn escape(raw: &'a str, c: char) -> Self {
        Seg {
            raw: Cow::Borrowed(raw),
            dec: Cow::Owned(c.to_string()),
            kind: Kind::Escape,
        }
    }

    fn structure(raw: &'a str, dec: impl Into<Cow<'a, str>>) -> Self {
        Seg {
            raw: Cow::Borrowed(raw),
            dec: dec.into(),
            kind: Kind::Break,
        }
    }
}

fn decoded(segs: &[Seg<'_>]) -> String {
    segs.iter().map(|s| s.dec.as_ref()).collect()
}

fn raw(segs: &[Seg<'_>]) -> String {
    segs.iter().map(|s| s.raw.as_ref()).collect()
}

/// One edit made to a value, with the value around it.
#[derive(Debug, Clone)]
struct Step {
    edit: usize,
    before: String,
    after: String,
}

/// A string value being edited.
#[derive(Debug)]
struct Target<'a> {
    pointer: String,
    span: Span,
    /// Anchor and tag in front of the scalar (`&a !!str `), kept as they are.
    props: &'a str,
    style: Style,
    /// The text spans more than one line: edits stay within a line.
    multiline: bool,
    /// Inside a YAML flow collection (`[...]`, `{...}`), where a plain scalar may not hold
    /// `,[]{}`.
    flow: bool,
    /// What decodes after the block scalar's text: the final line breaks that chomping keeps
    /// (and trailing blanks), which the span leaves out.
    tail: String,
    segs: Vec<Seg<'a>>,
    /// An edit's text cannot be written in the value's quoting, so the value is written anew.
    requote: bool,
    /// The value's new text (without `props`), once an edit succeeded.
    rendered: Option<String>,
    steps: Vec<Step>,
}

impl<'a> Target<'a> {
    /// Reads the value at `span` into pieces and checks them against the parsed tree.
    fn read(
        text: &'a str,
        map: &SourceMap,
        tree: &Value,
        format: Format,
        mut span: Span,
        pointer: &str,
    ) -> Result<Self, String> {
        let parsed = match tree.pointer(pointer) {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(format!(
                    "the value at `{pointer}` is {}, not a string",
                    kind_name(other)
                ))
            }
            None => return Err(format!("there is no value at `{pointer}`")),
        };
        let unreadable = || "the value's text could not be matched with its value".to_owned();
        let whole = text.get(span.range()).ok_or_else(unreadable)?;
        let (props, scalar) = match format {
            Format::Json => ("", whole),
            Format::Yaml => split_properties(whole),
        };
        let style = Style::of(scalar, format);
        // The parser's span of a quoted scalar can run on over the white space and comment
        // after it: the value ends at its closing quote.
        let scalar = match style {
            Style::Json | Style::Double | Style::Single => scalar
                .get(..quoted_len(scalar).ok_or_else(unreadable)?)
                .ok_or_else(unreadable)?,
            _ => scalar,
        };
        span.len = props.len() + scalar.len();
        let mut segs = decode(style, scalar).ok_or_else(unreadable)?;
        let mine = decoded(&segs);
        let tail = match style {
            // The span stops at the last character that is not white space; what the value
            // has past it can only be white space and line breaks.
            Style::Literal | Style::Folded => parsed
                .strip_prefix(mine.as_str())
                .filter(|t| t.chars().all(|c| matches!(c, '\n' | ' ' | '\t')))
                .ok_or_else(unreadable)?
                .to_owned(),
            _ if mine == parsed => String::new(),
            _ => return Err(unreadable()),
        };
        if !tail.is_empty() {
            segs.push(Seg {
                raw: Cow::Borrowed(""),
                dec: Cow::Owned(tail.clone()),
                kind: Kind::Break,
            });
        }
        let multiline =
            matches!(style, Style::Literal | Style::Folded) || scalar.contains(['\n', '\r']);
        let flow = format == Format::Yaml && in_flow_collection(text, map, pointer);
        Ok(Target {
            pointer: pointer.to_owned(),
            span,
            props,
            style,
            multiline,
            flow,
            tail,
            segs,
            requote: false,
            rendered: None,
            steps: Vec::new(),
        })
    }

    /// The value as it stands after the edits so far.
    fn current(&self) -> String {
        decoded(&self.segs)
    }

    /// Applies edit number `index` (`from` → `to`) on top of the earlier ones, or explains why
    /// not and leaves the value as it was.
    fn edit(&mut self, index: usize, from: &str, to: &str) -> Result<(), String> {
        let before = self.current();
        let Some(start) = before.find(from) else {
            return Err(format!("`{from}` does not occur in the value"));
        };
        if self.multiline && has_line_break(from) {
            return Err(
                "the value spans several lines and `from` crosses a line break: only text within \
                 one line is edited"
                    .into(),
            );
        }
        let encoded = encode(self.style, to, self.multiline)?;
        let segs = splice(
            &self.segs,
            start,
            start + from.len(),
            to,
            encoded.as_deref(),
        )?;
        let requote = self.requote || encoded.is_none();
        let rendered = self.render(&segs, requote)?;
        let after = decoded(&segs);
        self.segs = segs;
        self.requote = requote;
        self.rendered = Some(rendered);
        self.steps.push(Step {
            edit: index,
            before,
            after,
        });
        Ok(())
    }

    /// The scalar's new text for `segs`, in its own style when that can hold it, else quoted
    /// anew; read back to make sure it decodes to what `segs` say.
    fn render(&self, segs: &[Seg<'_>], requote: bool) -> Result<String, String> {
        let intended = decoded(segs);
        let mut text = (!requote).then(|| raw(segs));
        if self.style == Style::Plain {
            if let Some(t) = &text {
                if !plain_reads_as(self.props, t, &intended, self.flow) {
                    text = None;
                }
            }
        }
        let text =
            match text {
                Some(t) => t,
                None if self.multiline => return Err(
                    "the new value cannot be written in the value's style, and a value that spans \
                     several lines is not re-quoted"
                        .into(),
                ),
                None => quote(&intended),
            };
        let format = if self.style == Style::Json {
            Format::Json
        } else {
            Format::Yaml
        };
        let back = decode(Style::of(&text, format), &text).map(|s| decoded(&s) + &self.tail);
        if back.as_deref() != Some(intended.as_str()) {
            return Err(
                "the new text would not read back as the intended value (white space at the edge \
                 of a line is folded away)"
                    .into(),
            );
        }
        Ok(text)
    }
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether an ancestor of `pointer` is a YAML flow collection, written `[...]` or `{...}`
/// (after any anchor and tag).
fn in_flow_collection(text: &str, map: &SourceMap, pointer: &str) -> bool {
    pointer
        .match_indices('/')
        .map(|(i, _)| &pointer[..i])
        .filter_map(|ancestor| text.get(map.locate(ancestor)?.range()))
        .any(|node| split_properties(node).1.starts_with(['[', '{']))
}

/// The length of the quoted scalar at the start of `s` (which starts with its quote), up to
/// and with the closing quote.
fn quoted_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let quote = *b.first()?;
    let mut i = 1;
    loop {
        match *b.get(i)? {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && b.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// Splits a YAML scalar's text into its properties (anchor `&a`, tag `!t`, with the white space
/// and comments after them) and the scalar itself.
fn split_properties(whole: &str) -> (&str, &str) {
    let b = whole.as_bytes();
    let mut pos = 0;
    while matches!(b.get(pos), Some(b'&' | b'!')) {
        while pos < b.len() && !matches!(b[pos], b' ' | b'\t' | b'\n' | b'\r') {
            pos += 1;
        }
        loop {
            while matches!(b.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                pos += 1;
            }
            if b.get(pos) != Some(&b'#') {
                break;
            }
            while pos < b.len() && !matches!(b[pos], b'\n' | b'\r') {
                pos += 1;
            }
        }
    }
    whole.split_at(pos)
}

// ---------------------------------------------------------------------------------------------
// Reading a scalar's text into pieces

fn decode(style: Style, scalar: &str) -> Option<Vec<Seg<'_>>> {
    match style {
        Style::Literal | Style::Folded => decode_block(scalar),
        _ => decode_flow(scalar, style),
    }
}

/// Length of the line break at the start of `s`: `\r\n`, `\n` or `\r`; 0 if none.
fn break_len(s: &str) -> usize {
    match s.as_bytes() {
        [b'\r', b'\n', ..] => 2,
        [b'\n' | b'\r', ..] => 1,
        _ => 0,
    }
}

/// From the line break at `at`: past it, past the empty lines after it and past the next
/// line's leading white space. Returns where that ends and how many empty lines there were.
fn fold_end(s: &str, at: usize) -> (usize, usize) {
    let b = s.as_bytes();
    let mut pos = at + break_len(&s[at..]);
    let mut empty = 0;
    loop {
        while matches!(b.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        let n = break_len(&s[pos..]);
        if n == 0 {
            return (pos, empty);
        }
        empty += 1;
        pos += n;
    }
}

/// What a folded line break reads as: a space, or one line feed per empty line.
fn folded(empty: usize) -> Cow<'static, str> {
    if empty == 0 {
        Cow::Borrowed(" ")
    } else {
        Cow::Owned("\n".repeat(empty))
    }
}

/// A flow scalar (JSON string, YAML plain or quoted) into pieces. `None` when the text is not
/// what `style` allows (which the caller reports as unreadable).
fn decode_flow(scalar: &str, style: Style) -> Option<Vec<Seg<'_>>> {
    let quote = match style {
        Style::Json | Style::Double => Some('"'),
        Style::Single => Some('\''),
        _ => None,
    };
    let mut segs = Vec::new();
    let inner = match quote {
        Some(q) => {
            let inner = scalar.strip_prefix(q)?.strip_suffix(q)?;
            segs.push(Seg::structure(&scalar[..1], ""));
            inner
        }
        None => scalar,
    };
    let b = inner.as_bytes();
    let escapes = matches!(style, Style::Json | Style::Double);
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        let piece = match b[i] {
            b'\\' if escapes => {
                if style == Style::Double && matches!(b.get(i + 1), Some(b'\n' | b'\r')) {
                    // An escaped line break: it and the next line's indentation read as nothing.
                    let (end, empty) = fold_end(inner, i + 1);
                    Some((end, Seg::structure(&inner[i..end], "\n".repeat(empty))))
                } else {
                    let (len, c) = if style == Style::Json {
                        json_escape_at(&inner[i..])?
                    } else {
                        yaml_escape_at(&inner[i..])?
                    };
                    Some((i + len, Seg::escape(&inner[i..i + len], c)))
                }
            }
            b'\'' if style == Style::Single => {
                if b.get(i + 1) != Some(&b'\'') {
                    return None;
                }
                Some((i + 2, Seg::escape(&inner[i..i + 2], '\'')))
            }
            b'"' if quote == Some('"') => return None,
            b'\n' | b'\r' if style != Style::Json => {
                let (end, empty) = fold_end(inner, i);
                Some((end, Seg::structure(&inner[i..end], folded(empty))))
            }
            b' ' | b'\t' if style != Style::Json => {
                let mut end = i;
                while matches!(b.get(end), Some(b' ' | b'\t')) {
                    end += 1;
                }
                if matches!(b.get(end), Some(b'\n' | b'\r')) {
                    // White space before a line break is folded away with it.
                    let (end, empty) = fold_end(inner, end);
                    Some((end, Seg::structure(&inner[i..end], folded(empty))))
                } else {
                    i = end;
                    continue;
                }
            }
            c if c < 0x20 && style == Style::Json => return None,
            _ => None,
        };
        match piece {
            Some((end, seg)) => {
                if run < i {
                    segs.push(Seg::text(&inner[run..i]));
                }
                segs.push(seg);
                i = end;
                run = end;
            }
            None => i += 1,
        }
    }
    if run < inner.len() {
        segs.push(Seg::text(&inner[run..]));
    }
    if quote.is_some() {
        segs.push(Seg::structure(&scalar[scalar.len() - 1..], ""));
    }
    Some(segs)
}

/// A JSON escape at the start of `s` (which starts with `\`): its length and character.
fn json_escape_at(s: &str) -> Option<(usize, char)> {
    let c = match s.as_bytes().get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let high = hex(s.get(2..6)?)?;
            if (0xD800..0xDC00).contains(&high) {
                // A surrogate pair is one character written as two escapes.
                if s.get(6..8)? != "\\u" {
                    return None;
                }
                let low = hex(s.get(8..12)?)?;
                if !(0xDC00..0xE000).contains(&low) {
                    return None;
                }
                let c = char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?;
                return Some((12, c));
            }
            return Some((6, char::from_u32(high)?));
        }
        _ => return None,
    };
    Some((2, c))
}

/// A YAML double-quoted escape at the start of `s` (which starts with `\`).
fn yaml_escape_at(s: &str) -> Option<(usize, char)> {
    let c = match s.as_bytes().get(1)? {
        b'0' => '\0',
        b'a' => '\u{7}',
        b'b' => '\u{8}',
        b't' | b'\t' => '\t',
        b'n' => '\n',
        b'v' => '\u{b}',
        b'f' => '\u{c}',
        b'r' => '\r',
        b'e' => '\u{1b}',
        b' ' => ' ',
        b'"' => '"',
        b'/' => '/',
        b'\\' => '\\',
        b'N' => '\u{85}',
        b'_' => '\u{a0}',
        b'L' => '\u{2028}',
        b'P' => '\u{2029}',
        b'x' => return Some((4, char::from_u32(hex(s.get(2..4)?)?)?)),
        b'u' => return Some((6, char::from_u32(hex(s.get(2..6)?)?)?)),
        b'U' => return Some((10, char::from_u32(hex(s.get(2..10)?)?)?)),
        _ => return None,
    };
    Some((2, c))
}

fn hex(digits: &str) -> Option<u32> {
    if digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(digits, 16).ok()
    } else {
        None
    }
}

/// How a block scalar's line reads once the indentation is gone (the folding of `>` depends on
/// it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Line {
    Empty,
    /// Starts with a space or tab: `>` keeps the line breaks around it.
    Spaced,
    Normal,
}

/// A block scalar (`|` or `>`, from its header to its last character that is not white space)
/// into pieces. Only the header with an automatically detected indentation is understood: with
/// an explicit indentation indicator (`|2`) the indentation depends on the parent's, which the
/// text alone does not tell.
fn decode_block(scalar: &str) -> Option<Vec<Seg<'_>>> {
    let is_folded = scalar.starts_with('>');
    let header_end = scalar.find(['\n', '\r']).unwrap_or(scalar.len());
    let indicators = scalar.get(1..header_end)?;
    for c in indicators
        .chars()
        .take_while(|c| !matches!(c, ' ' | '\t' | '#'))
    {
        if !matches!(c, '-' | '+') {
            return None;
        }
    }
    let body_start = header_end + break_len(&scalar[header_end..]);
    let mut segs = vec![Seg::structure(&scalar[..body_start], "")];
    let body = &scalar[body_start..];

    // Lines: (content, line break after it).
    let mut lines: Vec<(&str, &str)> = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let end = body[pos..]
            .find(['\n', '\r'])
            .map_or(body.len(), |i| pos + i);
        let n = break_len(&body[end..]);
        lines.push((&body[pos..end], &body[end..end + n]));
        pos = end + n;
    }
    let spaces = |line: &str| line.len() - line.trim_start_matches(' ').len();
    let indent = lines
        .iter()
        .find(|(line, _)| !line.trim_start_matches(' ').is_empty())
        .map(|(line, _)| spaces(line))?;
    let mut kinds = Vec::with_capacity(lines.len());
    for (line, _) in &lines {
        let cut = spaces(line).min(indent);
        let rest = &line[cut..];
        kinds.push(if rest.is_empty() {
            Line::Empty
        } else if cut < indent {
            // A less indented line would have ended the scalar.
            return None;
        } else if rest.starts_with([' ', '\t']) {
            Line::Spaced
        } else {
            Line::Normal
        });
    }
    for (i, (line, line_break)) in lines.iter().enumerate() {
        let cut = spaces(line).min(indent);
        if cut > 0 {
            segs.push(Seg::structure(&line[..cut], ""));
        }
        if cut < line.len() {
            segs.push(Seg::text(&line[cut..]));
        }
        if line_break.is_empty() {
            continue;
        }
        let next = kinds[i + 1..].iter().position(|k| *k != Line::Empty);
        let reads_as = match (is_folded, kinds[i], next) {
            (true, Line::Normal, Some(gap)) if kinds[i + 1 + gap] == Line::Normal => {
                // Between two lines of text, a single line break is a space; with empty lines
                // in between, it is dropped and each empty line is a line feed.
                if gap == 0 {
                    " "
                } else {
                    ""
                }
            }
            _ => "\n",
        };
        segs.push(Seg::structure(line_break, reads_as));
    }
    Some(segs)
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Replaces the decoded range `start..end` of `segs` with `to`, written as `encoded` (`None`:
/// not writable in the value's style; the caller re-quotes the whole value).
fn splice<'a>(
    segs: &[Seg<'a>],
    start: usize,
    end: usize,
    to: &str,
    encoded: Option<&str>,
) -> Result<Vec<Seg<'a>>, String> {
    let mut out = Vec::with_capacity(segs.len() + 2);
    let mut inserted = false;
    let mut at = 0;
    for seg in segs {
        let (s, e) = (at, at + seg.dec.len());
        at = e;
        // A piece that decodes to nothing is inside only when strictly inside: the quotes
        // and the indentation at either end stay.
        let before = e <= start;
        let after = s >= end;
        if before || after {
            if after && !inserted {
                out.push(edited(to, encoded));
                inserted = true;
            }
            out.push(seg.clone());
            continue;
        }
        match seg.kind {
            Kind::Text => {
                let (Some(head), Some(tail)) = (
                    seg.raw.get(..start.saturating_sub(s)),
                    seg.raw.get(end.min(e) - s..),
                ) else {
                    return Err("the text to replace could not be found in the file".into());
                };
                if !head.is_empty() {
                    out.push(Seg {
                        raw: Cow::Owned(head.to_owned()),
                        dec: Cow::Owned(head.to_owned()),
                        kind: Kind::Text,
                    });
                }
                if !inserted {
                    out.push(edited(to, encoded));
                    inserted = true;
                }
                if !tail.is_empty() {
                    out.push(Seg {
                        raw: Cow::Owned(tail.to_owned()),
                        dec: Cow::Owned(tail.to_owned()),
                        kind: Kind::Text,
                    });
                }
            }
            Kind::Escape if s >= start && e <= end => {
                if !inserted {
                    out.push(edited(to, encoded));
                    inserted = true;
                }
            }
            Kind::Escape => {
                return Err("the text to replace starts or ends inside an escape".into());
            }
            Kind::Break => {
                return Err(
                    "the text to replace crosses a line break or a quote in the file: only text \
                     within one line is edited"
                        .into(),
                );
            }
            Kind::Edited => {
                return Err(
                    "the text to replace overlaps an earlier edit of the same value".into(),
                );
            }
        }
    }
    if !inserted {
        out.push(edited(to, encoded));
    }
    Ok(out)
}

fn edited<'a>(to: &str, encoded: Option<&str>) -> Seg<'a> {
    Seg {
        raw: Cow::Owned(encoded.unwrap_or_default().to_owned()),
        dec: Cow::Owned(to.to_owned()),
        kind: Kind::Edited,
    }
}

/// `to` written for a value of `style`. `Ok(None)`: not writable in that style, but the value
/// can be re-quoted (it is on one line); `Err`: not writable at all.
fn encode(style: Style, to: &str, multiline: bool) -> Result<Option<String>, String> {
    if multiline && has_line_break(to) {
        return Err(
            "the value spans several lines and the new text has a line break: only text within \
             one line is edited"
                .into(),
        );
    }
    let bare = to.chars().all(|c| printable(c) && !is_line_break(c));
    Ok(match style {
        Style::Json => Some(json_escape(to)),
        Style::Double => Some(yaml_escape(to)),
        Style::Single if bare => Some(to.replace('\'', "''")),
        Style::Plain if bare => Some(to.to_owned()),
        Style::Literal | Style::Folded if bare => Some(to.to_owned()),
        _ if multiline => {
            return Err(
                "the new text has characters that only a double-quoted scalar can hold, and a \
                 value that spans several lines is not re-quoted"
                    .into(),
            )
        }
        _ => None,
    })
}

/// Whether the plain scalar `text` (after `props`) reads as the string `intended` where it
/// stands: not as a number, boolean or null, not cut by a comment or turned into a mapping, a
/// sequence or a directive, and (in a flow collection) without `,[]{}`.
fn plain_reads_as(props: &str, text: &str, intended: &str, flow: bool) -> bool {
    if flow && text.contains([',', '[', ']', '{', '}']) {
        return false;
    }
    let doc = format!("{props}{text}");
    matches!(serde_yaml_ng::from_str::<Value>(&doc), Ok(Value::String(s)) if s == intended)
}

/// A value written anew: single quotes when they can hold it, else double quotes.
fn quote(value: &str) -> String {
    if value.chars().all(|c| printable(c) && !is_line_break(c)) {
        format!("'{}'", value.replace('\'', "''"))
    } else {
        format!("\"{}\"", yaml_escape(value))
    }
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn has_line_break(s: &str) -> bool {
    s.chars().any(is_line_break)
}

/// YAML's printable characters (`c-printable`), less the byte order mark.
fn printable(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}'
        | '\u{e000}'..='\u{fffd}' | '\u{10000}'..='\u{10ffff}')
        && c != '\u{feff}'
}

/// The inside of a JSON string for `s`: only what JSON requires is escaped.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The inside of a YAML double-quoted scalar for `s`: quotes, backslashes, line breaks, tabs
/// and everything YAML does not allow unescaped.
fn yaml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Diff

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// A unified diff (`--- a/PATH`, `+++ b/PATH`, `@@ -l,n +l,n @@` hunks with 3 lines of context)
/// from `old` to `new`, for `--fix --dry-run`. Empty when they are equal.
///
/// Edits never add or remove line breaks, so the texts are compared line by line and changed
/// lines close together (at most 6 unchanged lines apart) share a hunk. If the line counts do
/// differ, the whole region between the common first and last lines is one change. `path`
/// should be relative, as `git apply` and `patch -p1` expect; a line without a final newline
/// is marked `\ No newline at end of file`.
pub fn diff(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();

    // Changes as (start in a, end in a, start in b, end in b), in order.
    let mut changes: Vec<(usize, usize, usize, usize)> = Vec::new();
    if a.len() == b.len() {
        for i in 0..a.len() {
            if a[i] == b[i] {
                continue;
            }
            match changes.last_mut() {
                Some(last) if last.1 == i => {
                    last.1 = i + 1;
                    last.3 = i + 1;
                }
                _ => changes.push((i, i + 1, i, i + 1)),
            }
        }
    } else {
        let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let suffix = a[prefix..]
            .iter()
            .rev()
            .zip(b[prefix..].iter().rev())
            .take_while(|(x, y)| x == y)
            .count();
        changes.push((prefix, a.len() - suffix, prefix, b.len() - suffix));
    }

    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    let mut i = 0;
    while i < changes.len() {
        // Gather the changes whose contexts touch.
        let mut j = i;
        while j + 1 < changes.len() && changes[j + 1].0 - changes[j].1 <= 2 * CONTEXT {
            j += 1;
        }
        let first = changes[i];
        let last = changes[j];
        let lead = first.0.min(CONTEXT);
        let trail = (a.len() - last.1).min(CONTEXT);
        let (a_start, a_end) = (first.0 - lead, last.1 + trail);
        let (b_start, b_end) = (first.2 - lead, last.3 + trail);
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(a_start, a_end - a_start),
            range(b_start, b_end - b_start)
        ));
        let mut at = a_start;
        for &(a0, a1, b0, b1) in &changes[i..=j] {
            for line in &a[at..a0] {
                push_line(&mut out, ' ', line);
            }
            for line in &a[a0..a1] {
                push_line(&mut out, '-', line);
            }
            for line in &b[b0..b1] {
                push_line(&mut out, '+', line);
            }
            at = a1;
        }
        for line in &a[at..a_end] {
            push_line(&mut out, ' ', line);
        }
        i = j + 1;
    }
    out
}

/// A hunk's range: `start,count` with 1-based start, `start` alone for one line, and the line
/// before for none (as `diff -u` writes them).
fn range(start: usize, count: usize) -> String {
    match count {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        n => format!("{},{n}", start + 1),
    }
}

fn push_line(out: &mut String, mark: char, line: &str) {
    out.push(mark);
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

#[cfg(test)]
mod tests;
