//! Where each node of a YAML or JSON document sits in its text, by JSON Pointer.
//!
//! [`SourceMap::parse`] reads the same text the loader reads and records, for every node, the
//! byte range of its value and (for members of a mapping) of its key. Diagnostics then turn an
//! instance location such as `/workflows/0/steps/1/operationId` into a line and column.
//!
//! JSON text (the trimmed text starts with `{` or `[`) goes through a small position-tracking
//! scanner: it is much faster than a YAML parser on multi-megabyte OpenAPI descriptions. Anything
//! else, and JSON that the scanner rejects, goes through `saphyr-parser`, whose events carry
//! positions. Text that parses as neither gives an empty map.
//!
//! Offsets and lengths are in bytes; lines and columns are 1-based, and columns count characters
//! (Unicode scalar values), so a tab or an `é` is one column.

use std::borrow::Cow;

use saphyr_parser::{Event, Parser, ScalarStyle};

/// No node: the end of a sibling list, a node without children, a node that is not an alias.
const NONE: usize = usize::MAX;
/// How many aliases in a row `locate` follows before giving up (aliases of aliases).
const MAX_ALIAS_HOPS: usize = 64;

/// A place in the text: where a node's value (or key) starts and how long it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Byte offset of the first byte.
    pub offset: usize,
    /// Length in bytes (0 for an empty YAML value such as `key:`).
    pub len: usize,
    /// 1-based line of `offset`.
    pub line: usize,
    /// 1-based column of `offset`, counted in characters.
    pub column: usize,
    /// The JSON Pointer of the node this span belongs to. It is the pointer that was asked
    /// for when `exact` is true, otherwise the nearest ancestor that exists.
    pub pointer: String,
    /// Whether the node asked for exists (as opposed to a fallback to an ancestor).
    pub exact: bool,
}

impl Span {
    /// The byte range of the span.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}

impl From<&Span> for miette::SourceSpan {
    fn from(span: &Span) -> Self {
        (span.offset, span.len).into()
    }
}

/// How a node's text relates to YAML anchors and aliases (see [`SourceMap::sharing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// The text belongs to this node alone.
    Own,
    /// The pointer passes through an alias (`*name`), or names one: the text found is that of
    /// the anchored node, which the anchor's other uses share.
    ThroughAlias,
    /// The node, or one of its ancestors, is anchored (`&name`) and an alias repeats it.
    Anchored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scalar,
    Object,
    Array,
}

/// One node of the tree. Children are a singly linked list (`first` → `next` → …), so the whole
/// tree lives in one `Vec` and building it allocates almost nothing per node.
#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    /// The key as a member name: a range into `SourceMap::names`. Unused without `key`.
    name: (usize, usize),
    /// The byte range of the key's text, for members of a mapping.
    key: Option<(usize, usize)>,
    /// The byte range of the value's text.
    start: usize,
    end: usize,
    first: usize,
    last: usize,
    next: usize,
    /// For a YAML alias (`*name`): the anchored node whose children stand for this one's.
    alias: usize,
}

/// Maps JSON Pointers to the positions of keys and values in a YAML or JSON text.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    text: String,
    line_starts: Vec<usize>,
    /// Node 0, when present, is the root.
    nodes: Vec<Node>,
    /// Every member name, end to end.
    names: String,
}

impl SourceMap {
    /// Reads `text` (YAML or JSON). Never panics; text that does not parse gives an empty map.
    pub fn parse(text: &str) -> SourceMap {
        let built = std::panic::catch_unwind(|| {
            let mut builder = Builder::default();
            let ok = if looks_like_json(text) && scan_json(text, &mut builder).is_some() {
                true
            } else {
                builder = Builder::default();
                scan_yaml(text, &mut builder).is_some()
            };
            ok.then_some(builder)
        });
        match built {
            Ok(Some(b)) if !b.nodes.is_empty() => SourceMap {
                text: text.to_owned(),
                line_starts: line_starts(text),
                nodes: b.nodes,
                names: b.names,
            },
            _ => SourceMap::default(),
        }
    }

    /// Whether nothing was mapped (the text did not parse, or held no document).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The span of the value at `pointer` (RFC 6901: `""` is the whole document, `/a~1b/0` is
    /// member `a/b`, then item 0). When that node does not exist, the span of its nearest
    /// existing ancestor, with `exact == false` and `pointer` naming that ancestor. `None` when
    /// the map is empty or `pointer` is not a JSON Pointer.
    pub fn locate(&self, pointer: &str) -> Option<Span> {
        let (node, matched) = self.walk(pointer)?;
        let n = &self.nodes[node];
        Some(self.span(
            n.start,
            n.end - n.start,
            &pointer[..matched],
            matched == pointer.len(),
        ))
    }

    /// The span of the key of the member at `pointer`, e.g. of `operationId` in
    /// `operationId: getPet`. `None` unless that member exists and has a key (the root and
    /// array items have none). There is no fallback to an ancestor here: use [`Self::locate`].
    pub fn locate_key(&self, pointer: &str) -> Option<Span> {
        let (node, matched) = self.walk(pointer)?;
        if matched != pointer.len() {
            return None;
        }
        let (start, end) = self.nodes[node].key?;
        Some(self.span(start, end - start, pointer, true))
    }

    /// The span of the value at `pointer` when that node exists and is a scalar (not a
    /// mapping, a sequence or an alias): the place of a wrong value, as opposed to the key
    /// line of a wrong block.
    pub fn locate_scalar(&self, pointer: &str) -> Option<Span> {
        let (node, matched) = self.walk(pointer)?;
        let n = &self.nodes[node];
        if matched != pointer.len() || n.kind != Kind::Scalar || n.alias != NONE {
            return None;
        }
        Some(self.span(n.start, n.end - n.start, pointer, true))
    }

    /// How the value at `pointer` shares its text with other places through YAML anchors and
    /// aliases. An editor needs this: the text that [`Self::locate`] finds behind an alias is the
    /// anchored node's, so changing it changes every place that repeats the anchor. `None` when
    /// no node sits exactly at `pointer`.
    pub fn sharing(&self, pointer: &str) -> Option<Sharing> {
        let (node, matched) = self.walk(pointer)?;
        if matched != pointer.len() {
            return None;
        }
        // Walk again, noting each node on the way and whether an alias was followed.
        let mut path = vec![0];
        let mut at = 0;
        let mut segment = String::new();
        while at < pointer.len() {
            let raw = pointer[at + 1..].split('/').next().unwrap_or("");
            segment.clear();
            unescape_segment(raw, &mut segment);
            let here = *path.last().unwrap_or(&0);
            if self.nodes[here].alias != NONE {
                return Some(Sharing::ThroughAlias);
            }
            path.push(self.child(here, &segment)?);
            at += 1 + raw.len();
        }
        if self.nodes[node].alias != NONE {
            return Some(Sharing::ThroughAlias);
        }
        let repeated = self
            .nodes
            .iter()
            .any(|n| n.alias != NONE && path.contains(&n.alias));
        Some(if repeated {
            Sharing::Anchored
        } else {
            Sharing::Own
        })
    }

    fn span(&self, offset: usize, len: usize, pointer: &str, exact: bool) -> Span {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let line_start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(line_start..offset)
            .map_or(1, |s| s.chars().count() + 1);
        Span {
            offset,
            len,
            line,
            column,
            pointer: pointer.to_owned(),
            exact,
        }
    }

    /// Follows `pointer` as far as it goes: the deepest node reached and how many bytes of
    /// `pointer` lead to it.
    fn walk(&self, pointer: &str) -> Option<(usize, usize)> {
        if self.nodes.is_empty() || !(pointer.is_empty() || pointer.starts_with('/')) {
            return None;
        }
        let mut node = 0;
        let mut matched = 0;
        let mut segment = String::new();
        while matched < pointer.len() {
            let rest = &pointer[matched + 1..];
            let raw = rest.split('/').next().unwrap_or("");
            segment.clear();
            unescape_segment(raw, &mut segment);
            match self.child(node, &segment) {
                Some(c) => {
                    node = c;
                    matched += 1 + raw.len();
                }
                None => break,
            }
        }
        Some((node, matched))
    }

    fn child(&self, node: usize, segment: &str) -> Option<usize> {
        let mut target = node;
        let mut hops = 0;
        while self.nodes[target].alias != NONE {
            hops += 1;
            if hops > MAX_ALIAS_HOPS {
                return None;
            }
            target = self.nodes[target].alias;
        }
        let parent = &self.nodes[target];
        match parent.kind {
            Kind::Scalar => None,
            Kind::Array => {
                let index = array_index(segment)?;
                let mut c = parent.first;
                for _ in 0..index {
                    if c == NONE {
                        return None;
                    }
                    c = self.nodes[c].next;
                }
                (c != NONE).then_some(c)
            }
            Kind::Object => {
                // With duplicate keys the last one wins, as in the loaded tree.
                let mut found = None;
                let mut c = parent.first;
                while c != NONE {
                    let n = &self.nodes[c];
                    if n.key.is_some() && &self.names[n.name.0..n.name.1] == segment {
                        found = Some(c);
                    }
                    c = n.next;
                }
                found
            }
        }
    }
}

/// The end (exclusive) of the quoted scalar whose opening quote is at `start`.
fn quoted_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let quote = *bytes.get(start)?;
    if quote != b'\'' && quote != b'"' {
        return None;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The 1-based line and column (in characters) of byte `offset` in `text`. An offset past the
/// end is taken as the end; one inside a multi-byte character as the start of that character.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let bytes = before.as_bytes();
    let mut line = 1;
    let mut line_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            line += 1;
            line_start = i + 1;
        }
    }
    // A byte-order mark opens the text but is no column an editor shows.
    let shown = &before[line_start..];
    let shown = shown.strip_prefix('\u{feff}').unwrap_or(shown);
    (line, shown.chars().count() + 1)
}

/// Byte offsets at which lines start: `\n`, `\r\n` and a lone `\r` end a line.
fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            starts.push(i + 1);
        }
    }
    starts
}

/// Decodes one reference token: `~1` is `/`, `~0` is `~` (anything else is kept as written).
fn unescape_segment(raw: &str, out: &mut String) {
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.peek() {
                Some('1') => {
                    chars.next();
                    out.push('/');
                    continue;
                }
                Some('0') => {
                    chars.next();
                    out.push('~');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
}

/// An array index as RFC 6901 writes it: `0`, or digits without a leading zero.
fn array_index(segment: &str) -> Option<usize> {
    let canonical = !segment.is_empty()
        && segment.bytes().all(|b| b.is_ascii_digit())
        && (segment == "0" || !segment.starts_with('0'));
    if canonical {
        segment.parse().ok()
    } else {
        None
    }
}

fn looks_like_json(text: &str) -> bool {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    t.starts_with('{') || t.starts_with('[')
}

/// Collects nodes while a parser walks the text.
#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    names: String,
    /// Open collections, innermost last.
    stack: Vec<usize>,
}

/// The key a new node is stored under in its parent.
enum Slot<'a> {
    /// The root, or an array item.
    Plain,
    /// A mapping member: its name and the byte range of the key's text.
    Member(&'a str, (usize, usize)),
    /// Not reachable by a pointer (the value of a YAML complex key, the key itself).
    Hidden,
}

impl Builder {
    fn add(&mut self, slot: Slot<'_>, kind: Kind, start: usize, end: usize) -> usize {
        let index = self.nodes.len();
        let (name, key, link) = match slot {
            Slot::Plain => ((0, 0), None, true),
            Slot::Member(name, key) => {
                let from = self.names.len();
                self.names.push_str(name);
                ((from, self.names.len()), Some(key), true)
            }
            Slot::Hidden => ((0, 0), None, false),
        };
        self.nodes.push(Node {
            kind,
            name,
            key,
            start,
            end,
            first: NONE,
            last: NONE,
            next: NONE,
            alias: NONE,
        });
        if link && index > 0 {
            if let Some(&parent) = self.stack.last() {
                let last = self.nodes[parent].last;
                if last == NONE {
                    self.nodes[parent].first = index;
                } else {
                    self.nodes[last].next = index;
                }
                self.nodes[parent].last = index;
            }
        }
        index
    }

    fn open(&mut self, slot: Slot<'_>, kind: Kind, start: usize) -> usize {
        let index = self.add(slot, kind, start, start);
        self.stack.push(index);
        index
    }

    /// Closes the innermost collection, which ends at `end`.
    fn close(&mut self, end: usize) {
        if let Some(index) = self.stack.pop() {
            let node = &mut self.nodes[index];
            node.end = end.max(node.start);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

/// The slot of a JSON value: a member when a key was read for it.
fn slot(key: Option<(usize, usize)>, name: &str) -> Slot<'_> {
    match key {
        Some(range) => Slot::Member(name, range),
        None => Slot::Plain,
    }
}

fn scan_json(text: &str, b: &mut Builder) -> Option<()> {
    let bytes = text.as_bytes();
    let mut pos = if text.starts_with('\u{feff}') { 3 } else { 0 };
    // Open containers, innermost last: true for an object.
    let mut objects: Vec<bool> = Vec::new();
    let mut key_buf = String::new();
    // The key of the value about to be read, when inside an object.
    let mut key: Option<(usize, usize)> = None;
    'value: loop {
        pos = skip_ws(bytes, pos);
        let start = pos;
        let c = *bytes.get(pos)?;
        match c {
            b'{' | b'[' => {
                let is_object = c == b'{';
                let kind = if is_object { Kind::Object } else { Kind::Array };
                b.open(slot(key.take(), &key_buf), kind, start);
                pos = skip_ws(bytes, pos + 1);
                let close = if is_object { b'}' } else { b']' };
                if bytes.get(pos) == Some(&close) {
                    pos += 1;
                    b.close(pos);
                } else {
                    objects.push(is_object);
                    if is_object {
                        key = Some(json_key(text, &mut pos, &mut key_buf)?);
                    }
                    continue 'value;
                }
            }
            b'"' => {
                pos = skip_string(bytes, pos)?;
                b.add(slot(key.take(), &key_buf), Kind::Scalar, start, pos);
            }
            _ => {
                pos = skip_literal(bytes, pos)?;
                b.add(slot(key.take(), &key_buf), Kind::Scalar, start, pos);
            }
        }
        // After a value: a comma, or the end of one or more containers.
        loop {
            pos = skip_ws(bytes, pos);
            let Some(&is_object) = objects.last() else {
                return (pos == bytes.len()).then_some(());
            };
            match *bytes.get(pos)? {
                b',' => {
                    pos += 1;
                    if is_object {
                        pos = skip_ws(bytes, pos);
                        key = Some(json_key(text, &mut pos, &mut key_buf)?);
                    }
                    continue 'value;
                }
                b'}' if is_object => {}
                b']' if !is_object => {}
                _ => return None,
            }
            pos += 1;
            objects.pop();
            b.close(pos);
        }
    }
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

/// From the opening quote at `pos` to just past the closing one.
fn skip_string(bytes: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos + 1;
    loop {
        match *bytes.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
}

/// A number, `true`, `false` or `null`: to just past its end.
fn skip_literal(bytes: &[u8], pos: usize) -> Option<usize> {
    for word in [&b"true"[..], b"false", b"null"] {
        if bytes[pos..].starts_with(word) {
            return Some(pos + word.len());
        }
    }
    let mut i = pos;
    while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = bytes.get(i) {
        i += 1;
    }
    (i > pos).then_some(i)
}

/// Reads `"name" :` at `pos` into `buf`, leaves `pos` at the value and returns the key's range.
fn json_key(text: &str, pos: &mut usize, buf: &mut String) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(*pos) != Some(&b'"') {
        return None;
    }
    let start = *pos;
    let end = skip_string(bytes, start)?;
    buf.clear();
    let raw = &text[start + 1..end - 1];
    if raw.contains('\\') {
        unescape_json(raw, buf)?;
    } else {
        buf.push_str(raw);
    }
    *pos = skip_ws(bytes, end);
    if bytes.get(*pos) != Some(&b':') {
        return None;
    }
    *pos += 1;
    Some((start, end))
}

fn unescape_json(raw: &str, out: &mut String) -> Option<()> {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hi = hex4(&mut chars)?;
                if (0xD800..0xDC00).contains(&hi) {
                    // A surrogate pair: `\uD83D\uDE00`.
                    let mut ahead = chars.clone();
                    if ahead.next() == Some('\\') && ahead.next() == Some('u') {
                        if let Some(lo) =
                            hex4(&mut ahead).filter(|lo| (0xDC00..0xE000).contains(lo))
                        {
                            chars = ahead;
                            let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            continue;
                        }
                    }
                }
                char::from_u32(hi).unwrap_or('\u{fffd}')
            }
            _ => return None,
        };
        out.push(decoded);
    }
    Some(())
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut value = 0;
    for _ in 0..4 {
        value = value * 16 + chars.next()?.to_digit(16)?;
    }
    Some(value)
}

// ---------------------------------------------------------------------------------------------
// YAML

/// Turns saphyr's character indices into byte offsets, moving a cursor through the text (the
/// events come almost in order, so this is linear overall).
struct Cursor<'t> {
    text: &'t str,
    ascii: bool,
    chars: usize,
    bytes: usize,
}

impl<'t> Cursor<'t> {
    fn new(text: &'t str) -> Self {
        Cursor {
            text,
            ascii: text.is_ascii(),
            chars: 0,
            bytes: 0,
        }
    }

    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        while self.chars < char_index {
            match self.text[self.bytes..].chars().next() {
                Some(c) => {
                    self.bytes += c.len_utf8();
                    self.chars += 1;
                }
                None => return self.bytes,
            }
        }
        while self.chars > char_index {
            match self.text[..self.bytes].chars().next_back() {
                Some(c) => {
                    self.bytes -= c.len_utf8();
                    self.chars -= 1;
                }
                None => break,
            }
        }
        self.bytes
    }
}

/// What an open YAML collection is waiting for.
struct Frame {
    node: usize,
    mapping: bool,
    /// For a mapping: the key read and not yet given a value.
    pending: Option<PendingKey>,
    /// This collection is itself a (complex) key of its parent mapping.
    is_key: bool,
}

enum PendingKey {
    Named { name: String, range: (usize, usize) },
    Hidden,
}

fn scan_yaml(text: &str, b: &mut Builder) -> Option<()> {
    let mut cursor = Cursor::new(text);
    let mut scan = YamlScan {
        text,
        b,
        frames: Vec::new(),
        anchors: Default::default(),
        last_end: 0,
        seen_root: false,
    };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.ok()?;
        let start = cursor.byte(span.start.index());
        let end = cursor.byte(span.end.index()).max(start);
        match event {
            Event::DocumentEnd if scan.seen_root => return Some(()),
            Event::StreamEnd => return Some(()),
            Event::Scalar(value, style, anchor, _) => {
                scan.scalar(value, style, anchor, (start, end))
            }
            Event::Alias(id) => scan.alias(id, (start, end)),
            Event::MappingStart(anchor, _) => scan.open(true, anchor, start),
            Event::SequenceStart(anchor, _) => scan.open(false, anchor, start),
            Event::MappingEnd | Event::SequenceEnd => scan.close((start, end))?,
            _ => {}
        }
    }
    Some(())
}

/// A YAML scan between two events: what is open, what anchors name, how far it has read.
struct YamlScan<'t, 'b> {
    text: &'t str,
    b: &'b mut Builder,
    /// Open collections, innermost last.
    frames: Vec<Frame>,
    /// Anchor id → the node it names.
    anchors: std::collections::HashMap<usize, usize>,
    /// End (in bytes) of the last thing read, to find block scalar indicators.
    last_end: usize,
    /// A value has been read: the first document's end is the end of the scan.
    seen_root: bool,
}

impl YamlScan<'_, '_> {
    /// A scalar at the parser's byte range `(start, end)`: the key a mapping waits for, else a
    /// value. Its range is narrowed to what a reader sees as the value.
    fn scalar(
        &mut self,
        value: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        (start, end): (usize, usize),
    ) {
        let text = self.text;
        let (start, end) = match style {
            ScalarStyle::Literal | ScalarStyle::Folded => {
                block_scalar_range(text, self.last_end, start, end)
            }
            // The parser's span can run on past the closing quote (over a
            // comment that follows): the value ends at its quote.
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => (
                start,
                quoted_end(text, start)
                    .unwrap_or(end)
                    .min(end.max(start + 1)),
            ),
            _ => (start, end),
        };
        self.last_end = end;
        match self.frames.last_mut() {
            Some(f) if f.mapping && f.pending.is_none() => {
                // A key.
                f.pending = Some(PendingKey::Named {
                    name: value.into_owned(),
                    range: (start, end),
                });
            }
            _ => {
                let node = add_value(self.b, &mut self.frames, Kind::Scalar, start, end);
                self.seen_root = true;
                if anchor > 0 {
                    self.anchors.insert(anchor, node);
                }
            }
        }
    }

    /// An alias: a value of its anchor's kind that points to the anchored node, or a key no
    /// pointer can name.
    fn alias(&mut self, id: usize, (start, end): (usize, usize)) {
        self.last_end = end;
        let target = self.anchors.get(&id).copied().unwrap_or(NONE);
        let kind = if target == NONE {
            Kind::Scalar
        } else {
            self.b.nodes[target].kind
        };
        match self.frames.last_mut() {
            Some(f) if f.mapping && f.pending.is_none() => {
                f.pending = Some(PendingKey::Hidden);
            }
            _ => {
                let node = add_value(self.b, &mut self.frames, kind, start, end);
                self.seen_root = true;
                self.b.nodes[node].alias = target;
            }
        }
    }

    /// The start of a mapping or sequence: a value, or a complex key (kept out of reach of
    /// pointers).
    fn open(&mut self, mapping: bool, anchor: usize, start: usize) {
        let kind = if mapping { Kind::Object } else { Kind::Array };
        let is_key = matches!(self.frames.last(), Some(f) if f.mapping && f.pending.is_none());
        let node = if is_key {
            self.b.add(Slot::Hidden, kind, start, start)
        } else {
            add_value(self.b, &mut self.frames, kind, start, start)
        };
        self.b.stack.push(node);
        self.seen_root = true;
        if anchor > 0 {
            self.anchors.insert(anchor, node);
        }
        self.frames.push(Frame {
            node,
            mapping,
            pending: None,
            is_key,
        });
    }

    /// The end of the innermost collection; `None` when nothing is open (the events are not
    /// what a parser gives).
    fn close(&mut self, (start, end): (usize, usize)) -> Option<()> {
        let frame = self.frames.pop()?;
        let b = &mut *self.b;
        // A flow collection's end event covers its `}` or `]`; a block collection's is
        // empty and may lie past trailing comments, so it ends with its last child.
        let close_at = if end > start {
            end
        } else {
            let last = b.nodes[frame.node].last;
            if last == NONE {
                self.last_end.max(b.nodes[frame.node].start)
            } else {
                b.nodes[last].end
            }
        };
        b.close(close_at);
        self.last_end = self.last_end.max(close_at);
        if frame.is_key {
            if let Some(parent) = self.frames.last_mut() {
                parent.pending = Some(PendingKey::Hidden);
            }
        }
        Some(())
    }
}

/// Adds a value node under the innermost open collection, consuming its pending key.
fn add_value(b: &mut Builder, frames: &mut [Frame], kind: Kind, start: usize, end: usize) -> usize {
    match frames.last_mut() {
        Some(f) if f.mapping => match f.pending.take() {
            Some(PendingKey::Named { name, range }) => {
                b.add(Slot::Member(&name, range), kind, start, end)
            }
            _ => b.add(Slot::Hidden, kind, start, end),
        },
        _ => b.add(Slot::Plain, kind, start, end),
    }
}

/// A block scalar (`|` or `>`) starts, for a reader, at its indicator, which the parser's span
/// leaves out; and its trailing blank lines are no use in a diagnostic.
fn block_scalar_range(text: &str, last_end: usize, start: usize, end: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let mut trimmed_end = end.min(text.len());
    while trimmed_end > start && bytes[trimmed_end - 1].is_ascii_whitespace() {
        trimmed_end -= 1;
    }
    // The header is on the nearest line above the content that is not blank.
    let mut line_end = text[..start.min(text.len())].rfind('\n').unwrap_or(0);
    let header = loop {
        let line_start = text[..line_end].rfind('\n').map_or(0, |i| i + 1);
        let line = &text[line_start..line_end];
        if !line.trim().is_empty() || line_start == 0 {
            break line_start;
        }
        line_end = line_start - 1;
    };
    let from = header.max(last_end).min(line_end);
    let found = text[from..line_end].find(['|', '>']).map(|i| from + i);
    match found {
        Some(indicator) if indicator < start => (indicator, trimmed_end.max(indicator + 1)),
        _ => (start, trimmed_end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of the value at `pointer`.
    fn value<'a>(text: &'a str, map: &SourceMap, pointer: &str) -> &'a str {
        let span = map.locate(pointer).expect(pointer);
        assert!(span.exact, "{pointer} fell back to {}", span.pointer);
        &text[span.range()]
    }

    fn key<'a>(text: &'a str, map: &SourceMap, pointer: &str) -> &'a str {
        let span = map.locate_key(pointer).expect(pointer);
        &text[span.range()]
    }

    fn at(map: &SourceMap, pointer: &str) -> (usize, usize) {
        let span = map.locate(pointer).expect(pointer);
        (span.line, span.column)
    }

    const YAML: &str = "\
arazzo: 1.0.1
info:
  title: Pets   # a comment
  version: '1'
sourceDescriptions:
  - name: petstore
    url: ./openapi.yaml
    type: openapi
workflows:
  - workflowId: adopt
    description: |
      Adopt a pet.
      Twice.

    steps:
      - stepId: find
        operationId: findPets
        parameters: [{name: limit, in: query, value: 10}, {name: \"x\", in: header, value: y}]
      - stepId: adopt
        operationPath: '{$sourceDescriptions.petstore.url}#/paths/~1pets~1{id}/post'
        requestBody:
          payload: {\"a/b\": 1, \"c~d\": [true, null]}
        successCriteria:
          - condition: $statusCode == 200
    outputs:
      \"quoted key\": >-
        folded
        text
      \"x/y~z\": $steps.find.outputs.a
";

    #[test]
    fn yaml_values_keys_lines_and_columns() {
        let map = SourceMap::parse(YAML);
        assert!(!map.is_empty());
        assert_eq!(value(YAML, &map, "/arazzo"), "1.0.1");
        assert_eq!(at(&map, "/arazzo"), (1, 9));
        assert_eq!(key(YAML, &map, "/arazzo"), "arazzo");
        assert_eq!(value(YAML, &map, "/info/title"), "Pets");
        assert_eq!(value(YAML, &map, "/info/version"), "'1'");
        assert_eq!(at(&map, "/info/version"), (4, 12));
        assert_eq!(at(&map, "/sourceDescriptions/0"), (6, 5));
        assert_eq!(value(YAML, &map, "/sourceDescriptions/0/type"), "openapi");
        assert_eq!(
            value(YAML, &map, "/workflows/0/description"),
            "|\n      Adopt a pet.\n      Twice."
        );
        assert_eq!(at(&map, "/workflows/0/description"), (11, 18));
        let step = map.locate("/workflows/0/steps/1/operationPath").unwrap();
        assert_eq!((step.line, step.column), (20, 24));
        assert_eq!(
            key(YAML, &map, "/workflows/0/steps/1/operationPath"),
            "operationPath"
        );
        assert_eq!(
            map.locate_key("/workflows/0/steps/1/operationPath")
                .map(|s| (s.line, s.column)),
            Some((20, 9))
        );
        // Flow style.
        assert_eq!(
            value(YAML, &map, "/workflows/0/steps/0/parameters/0"),
            "{name: limit, in: query, value: 10}"
        );
        assert_eq!(
            value(YAML, &map, "/workflows/0/steps/0/parameters/0/value"),
            "10"
        );
        assert_eq!(
            value(YAML, &map, "/workflows/0/steps/0/parameters/1/name"),
            "\"x\""
        );
        assert_eq!(
            at(&map, "/workflows/0/steps/0/parameters/1/value"),
            (18, 90)
        );
        // Keys with `/` and `~`, quoted.
        assert_eq!(
            value(YAML, &map, "/workflows/0/steps/1/requestBody/payload/a~1b"),
            "1"
        );
        assert_eq!(
            value(
                YAML,
                &map,
                "/workflows/0/steps/1/requestBody/payload/c~0d/1"
            ),
            "null"
        );
        assert_eq!(
            key(YAML, &map, "/workflows/0/steps/1/requestBody/payload/c~0d"),
            "\"c~d\""
        );
        assert_eq!(
            value(YAML, &map, "/workflows/0/outputs/quoted key"),
            ">-\n        folded\n        text"
        );
        assert_eq!(
            value(YAML, &map, "/workflows/0/outputs/x~1y~0z"),
            "$steps.find.outputs.a"
        );
        // A block collection ends with its last child, not at the next key.
        assert_eq!(
            value(YAML, &map, "/workflows/0/steps/1/successCriteria"),
            "- condition: $statusCode == 200"
        );
        assert!(value(YAML, &map, "/sourceDescriptions").ends_with("type: openapi"));
        assert_eq!(value(YAML, &map, ""), YAML.trim_end());
    }

    #[test]
    fn fallback_to_nearest_ancestor() {
        let map = SourceMap::parse(YAML);
        let span = map.locate("/workflows/0/steps/0/nope/deeper").unwrap();
        assert!(!span.exact);
        assert_eq!(span.pointer, "/workflows/0/steps/0");
        assert_eq!((span.line, span.column), (16, 9));
        let span = map.locate("/workflows/7").unwrap();
        assert_eq!(span.pointer, "/workflows");
        assert!(map.locate_key("/workflows/0/steps/0/nope").is_none());
        assert!(
            map.locate_key("/workflows/0").is_none(),
            "items have no key"
        );
        assert!(map.locate_key("").is_none());
        assert!(map.locate("no-slash").is_none());
        // Non-canonical array indices don't resolve.
        assert_eq!(map.locate("/workflows/00").unwrap().pointer, "/workflows");
        assert_eq!(map.locate("/workflows/-").unwrap().pointer, "/workflows");
    }

    #[test]
    fn yaml_aliases_anchors_and_empty_values() {
        let text = "base: &b\n  a: 1\n  b: [x, y]\nuse: *b\nempty:\nlist:\n  - \n  - ~\n";
        let map = SourceMap::parse(text);
        assert_eq!(value(text, &map, "/use"), "*b");
        // Inside an alias, positions are those of the anchored node.
        assert_eq!(value(text, &map, "/use/b/1"), "y");
        assert_eq!(at(&map, "/use/b/1"), (3, 10));
        let empty = map.locate("/empty").unwrap();
        assert!(empty.exact);
        assert_eq!((empty.len, empty.line), (0, 5));
        assert_eq!(value(text, &map, "/list/1"), "~");
        assert!(map.locate("/list/2").is_some_and(|s| !s.exact));
    }

    #[test]
    fn sharing_through_anchors_and_aliases() {
        let text =
            "base: &b\n  a: 1\n  b: [x, y]\nuse: *b\nlone: &l 3\nname: &n s\nagain: *n\nplain: p\n";
        let map = SourceMap::parse(text);
        assert_eq!(map.sharing("/plain"), Some(Sharing::Own));
        assert_eq!(
            map.sharing("/lone"),
            Some(Sharing::Own),
            "an anchor no alias uses"
        );
        assert_eq!(map.sharing("/use"), Some(Sharing::ThroughAlias));
        assert_eq!(map.sharing("/use/b/1"), Some(Sharing::ThroughAlias));
        assert_eq!(map.sharing("/again"), Some(Sharing::ThroughAlias));
        assert_eq!(map.sharing("/base/b/0"), Some(Sharing::Anchored));
        assert_eq!(map.sharing("/name"), Some(Sharing::Anchored));
        assert_eq!(map.sharing("/nope"), None);
        assert_eq!(map.sharing("nope"), None);
        let json = SourceMap::parse(r#"{"a": ["x"]}"#);
        assert_eq!(json.sharing("/a/0"), Some(Sharing::Own));
        assert_eq!(json.sharing(""), Some(Sharing::Own));
    }

    #[test]
    fn yaml_complex_keys_and_documents() {
        let text = "? [a, b]\n: hidden\nplain: 1\n---\nsecond: 2\n";
        let map = SourceMap::parse(text);
        assert_eq!(value(text, &map, "/plain"), "1");
        assert!(!map.locate("/second").unwrap().exact);
        let text = "---\n# only a comment\nk: v\n...\n";
        let map = SourceMap::parse(text);
        assert_eq!(value(text, &map, "/k"), "v");
    }

    #[test]
    fn unicode_bom_and_crlf() {
        let text = "\u{feff}é: \"ü\"\r\nnext:\r\n  - \"日本\"\r\n";
        let map = SourceMap::parse(text);
        assert_eq!(value(text, &map, "/é"), "\"ü\"");
        assert_eq!(at(&map, "/é"), (1, 5));
        assert_eq!(value(text, &map, "/next/0"), "\"日本\"");
        assert_eq!(at(&map, "/next/0"), (3, 5));
        assert_eq!(line_col(text, text.find("日本").unwrap()), (3, 6));
    }

    const JSON: &str = r#"{
  "arazzo": "1.0.1",
  "info": {"title": "T", "version": "1"},
  "workflows": [
    {
      "workflowId": "w",
      "steps": [
        {"stepId": "a", "operationId": "x"},
        {"stepId": "b", "workflowId": "w2", "parameters": []}
      ]
    }
  ],
  "paths": {"/a/{id}": {"get": {"operationId": "getA"}}, "t~il\"de\u00e9": -1.5e3, "esc\/aped": {}}
}"#;

    #[test]
    fn json_values_keys_lines_and_columns() {
        let map = SourceMap::parse(JSON);
        assert_eq!(value(JSON, &map, "/arazzo"), "\"1.0.1\"");
        assert_eq!(at(&map, "/arazzo"), (2, 13));
        assert_eq!(key(JSON, &map, "/arazzo"), "\"arazzo\"");
        assert_eq!(
            value(JSON, &map, "/info"),
            r#"{"title": "T", "version": "1"}"#
        );
        assert_eq!(at(&map, "/workflows/0/steps/1/workflowId"), (9, 39));
        assert_eq!(value(JSON, &map, "/workflows/0/steps/1/parameters"), "[]");
        assert_eq!(
            value(JSON, &map, "/paths/~1a~1{id}/get/operationId"),
            "\"getA\""
        );
        assert_eq!(value(JSON, &map, "/paths/t~0il\"deé"), "-1.5e3");
        assert_eq!(value(JSON, &map, "/paths/esc~1aped"), "{}");
        assert_eq!(value(JSON, &map, ""), JSON);
        let miss = map.locate("/workflows/0/steps/2").unwrap();
        assert_eq!(
            (miss.pointer.as_str(), miss.exact),
            ("/workflows/0/steps", false)
        );
    }

    #[test]
    fn bad_text_gives_an_empty_map() {
        for text in [
            "",
            "   ",
            "{\"a\": ",
            "key: [unclosed",
            "a: b: c",
            "\t- x",
            "{\"a\": 1} trailing",
            "[1, 2,]",
            "\u{0}\u{1}",
            "*alias",
            "- - - - [[[[{{{{",
        ] {
            let map = SourceMap::parse(text);
            let _ = map.locate("/a");
            let _ = map.locate_key("/a");
            let _ = map.locate("");
        }
        assert!(SourceMap::parse("key: [unclosed").is_empty());
        assert!(SourceMap::parse("").is_empty());
        // JSON that the scanner rejects may still be YAML.
        let text = "[1, 2,]";
        let map = SourceMap::parse(text);
        assert!(map.is_empty() || map.locate("/0").is_some());
    }

    /// Truncated and garbled versions of the test documents: no panic, whatever comes out.
    #[test]
    fn damaged_text_never_panics() {
        for text in [YAML, JSON] {
            let boundaries = (0..text.len()).filter(|&i| text.is_char_boundary(i));
            for (n, cut) in boundaries.enumerate() {
                let map = SourceMap::parse(&text[..cut]);
                let _ = map.locate("/workflows/0/steps/1/operationPath");
                let _ = map.locate_key("/info/title");
                if n % 3 == 0 {
                    for garbage in ["{", "\"", ":", "- ", "\t", "]", "&a ", "*a", "|"] {
                        let garbled = format!("{}{garbage}{}", &text[..cut], &text[cut..]);
                        let map = SourceMap::parse(&garbled);
                        let _ = map.locate("/workflows/0/steps/0/parameters/1");
                    }
                }
            }
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let map = SourceMap::parse(&deep);
        assert_eq!(map.locate("/0/0/0").unwrap().offset, 3);
    }

    #[test]
    fn a_quoted_value_ends_at_its_quote_not_at_a_comment() {
        let text = "a: 'x''y' # c\nb: \"q\\\"r\"  # d\nc: plain # e\n";
        let map = SourceMap::parse(text);
        let at = |p: &str| &text[map.locate(p).unwrap().range()];
        assert_eq!(at("/a"), "'x''y'");
        assert_eq!(at("/b"), "\"q\\\"r\"");
        assert_eq!(at("/c"), "plain");
    }

    #[test]
    fn line_col_helper() {
        let text = "ab\ncd\r\nef\rgh";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 1), (1, 2));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 7), (3, 1));
        assert_eq!(line_col(text, 10), (4, 1));
        assert_eq!(line_col(text, 999), (4, 3));
        assert_eq!(line_col("é", 1), (1, 1));
        // A byte-order mark takes no column.
        assert_eq!(line_col("\u{feff}ab", 3), (1, 1));
        assert_eq!(line_col("\u{feff}ab", 4), (1, 2));
    }
}
