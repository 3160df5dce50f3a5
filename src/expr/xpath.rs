//! XPath in the four versions Arazzo names: the `xpath` criterion, the
//! `xpath` Selector Object and the XPath targets of an XML payload's
//! replacements all come here.
//!
//! * `xpath-10` is evaluated by [`sxd_xpath`] (XPath 1.0): 1.0 syntax, the 1.0
//!   core functions, and 1.0's boolean conversion (`boolean()`) for criteria.
//! * `xpath-20`, `xpath-30` and `xpath-31` (the default) are evaluated by
//!   [`xee_xpath`], an XPath 3.1 engine: 3.1 is, apart from a few corner cases,
//!   a superset of 2.0 and 3.0, and the three versions share the Effective
//!   Boolean Value rules (empty sequence false, a node first true, a single
//!   boolean, string or number by its value, anything else an error — which
//!   fails the criterion with the reason).
//!
//! Every XML document is measured first ([`xml_within_limits`]: depth
//! [`MAX_XML_DEPTH`], tags [`MAX_XML_NODES`]) by a linear scan, before either
//! parser sees it, so a hostile document is refused quickly whichever engine
//! runs. Namespace prefixes declared anywhere in the document are bound for
//! the query (the first declaration of a prefix wins). xee's parser refuses a
//! DTD (`<!DOCTYPE …>`), so no entity is ever expanded.

use serde_json::Value;

use super::criteria::{XPathVersion, MAX_XML_DEPTH, MAX_XML_NODES};

/// Deepest nesting of `(`, `[` and `{` in an XPath 2.0/3.0/3.1 expression.
/// xee's parser takes about twice as long with each level (a few milliseconds
/// at 10 levels, seconds at 20), and an expression is compiled each time it
/// is evaluated; real expressions nest a handful of levels.
pub const MAX_XPATH3_NESTING: usize = 10;

/// Most path steps and sequence items (`/`, `,`, `!`, `|` outside string
/// literals) in an XPath 2.0/3.0/3.1 expression: xee's compile time grows
/// faster than linearly with them (a tenth of a second at 256 in a debug
/// build, seconds at 2,000).
pub const MAX_XPATH3_STEPS: usize = 256;

/// The separators [`MAX_XPATH3_STEPS`] counts.
fn steps(expression: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut n = 0;
    for c in expression.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if matches!(c, '/' | ',' | '!' | '|') => n += 1,
            None => {}
        }
    }
    n
}

/// Whether `expression` is an XPath expression of `version` (brackets and
/// operators within the limits, and syntax the engine accepts).
pub fn check(expression: &str, version: XPathVersion) -> Result<(), String> {
    if let Some(problem) = super::criteria::xpath_nesting(expression) {
        return Err(problem);
    }
    let depth = super::criteria::xpath_depth(expression);
    if version != XPathVersion::V1_0 && depth > MAX_XPATH3_NESTING {
        return Err(format!(
            "the XPath expression nests brackets {depth} levels deep, more than the \
             {MAX_XPATH3_NESTING} the XPath {} engine parses in reasonable time: write it with \
             fewer levels (or use `version: xpath-10`, which allows {})",
            version_number(version),
            crate::expr::MAX_NESTING
        ));
    }
    let n = steps(expression);
    if version != XPathVersion::V1_0 && n > MAX_XPATH3_STEPS {
        return Err(format!(
            "the XPath expression has {n} path steps and sequence items (`/`, `,`, `!`, `|`), \
             more than the {MAX_XPATH3_STEPS} the XPath {} engine compiles in reasonable time: \
             shorten it (`//name` reaches any depth)",
            version_number(version)
        ));
    }
    match version {
        XPathVersion::V1_0 => build_sxd(expression).map(|_| ()),
        _ => {
            let prefixes: Vec<(String, String)> = xpath_prefixes(expression)
                .into_iter()
                .map(|p| {
                    let uri = format!("urn:arazzo:prefix:{p}");
                    (p, uri)
                })
                .collect();
            let expression = expression.to_string();
            on_big_stack(move || {
                let mut documents = xee_xpath::Documents::new();
                compile3(&mut documents, &expression, &prefixes, version).map(|_| ())
            })
        }
    }
}

/// The criterion's truth: the Effective Boolean Value of `expression` on the
/// XML text `xml` (XPath 1.0's `boolean()` for `xpath-10`).
pub fn boolean(expression: &str, version: XPathVersion, xml: &str) -> Result<bool, String> {
    let xml = prepare(xml, "the context")?;
    match version {
        XPathVersion::V1_0 => with_sxd(expression, xml, "the XML document", |value| {
            Ok(value.boolean())
        }),
        _ => {
            let (expression, xml) = (expression.to_string(), xml.to_string());
            on_big_stack(move || {
                with_xee(&expression, version, &xml, |seq, _| {
                    seq.effective_boolean_value().map_err(|e| {
                        format!(
                        "XPath `{expression}` has no effective boolean value ({}: {}): it returned {}; \
                         wrap it in `exists(…)`, `count(…) > 0` or a comparison",
                        e.code(),
                        first_line(e.message()),
                        describe_sequence(seq)
                    )
                    })
                })
            })
        }
    }
}

/// A Selector Object's value: the string value of each selected node (a
/// number or boolean atomic value stays one), a single value when the
/// expression selects one item, an array for several. Selecting nothing is an
/// error.
pub fn select(expression: &str, version: XPathVersion, xml: &str) -> Result<Value, String> {
    let xml = prepare(xml, "the selector's context")?;
    let mut items = match version {
        XPathVersion::V1_0 => with_sxd(expression, xml, "the XML document", |value| {
            Ok(match value {
                sxd_xpath::Value::Nodeset(nodes) => nodes
                    .document_order()
                    .into_iter()
                    .map(|n| Value::String(n.string_value()))
                    .collect(),
                sxd_xpath::Value::Boolean(b) => vec![Value::Bool(b)],
                sxd_xpath::Value::Number(n) => vec![number(n)],
                sxd_xpath::Value::String(s) => vec![Value::String(s)],
            })
        })?,
        _ => {
            let (expression, xml) = (expression.to_string(), xml.to_string());
            on_big_stack(move || {
                with_xee(&expression, version, &xml, |seq, xot| {
                    seq.iter()
                        .map(|item| item_value(&expression, &item, xot))
                        .collect::<Result<Vec<_>, _>>()
                })
            })?
        }
    };
    match items.len() {
        0 => Err(format!(
            "the XPath selector `{expression}` selects nothing in the context"
        )),
        1 => Ok(items.remove(0)),
        _ => Ok(Value::Array(items)),
    }
}

/// Applies replacements to an XML body, in order: each target is an XPath
/// expression (of its version) whose selected elements get the value as their
/// text, attributes as their value, and text nodes as their text. A target
/// that selects nothing is an error (the body would silently keep the old
/// value).
pub fn replace(xml: &str, replacements: &[(&str, XPathVersion, String)]) -> Result<String, String> {
    let body = xml.trim_start_matches('\u{feff}');
    xml_within_limits(body, "the XML payload")?;
    let mut text = body.to_string();
    let mut i = 0;
    while i < replacements.len() {
        let version = replacements[i].1;
        // A run of targets of the same engine is applied on one parse.
        let run: Vec<(&str, &str)> = replacements[i..]
            .iter()
            .take_while(|r| (r.1 == XPathVersion::V1_0) == (version == XPathVersion::V1_0))
            .map(|r| (r.0, r.2.as_str()))
            .collect();
        i += run.len();
        text = if version == XPathVersion::V1_0 {
            replace_sxd(&text, &run)?
        } else {
            let owned: Vec<(String, String)> = run
                .iter()
                .map(|(t, v)| (t.to_string(), v.to_string()))
                .collect();
            on_big_stack(move || {
                let run: Vec<(&str, &str)> = owned
                    .iter()
                    .map(|(t, v)| (t.as_str(), v.as_str()))
                    .collect();
                replace_xee(&text, &run)
            })?
        };
    }
    Ok(text)
}

/// The XML text of a context, without a byte-order mark, within the limits.
fn prepare<'x>(text: &'x str, what: &str) -> Result<&'x str, String> {
    let xml = text.trim_start_matches('\u{feff}').trim_start();
    if xml.is_empty() {
        return Err(format!("{what} is empty text, not an XML document"));
    }
    xml_within_limits(xml, what)?;
    Ok(xml)
}

/// Stack of the thread xee runs on: its compiler recurses once per step of a
/// path and per operator, more deeply than a 2 MiB thread allows for the
/// longest expressions the limits let through. The memory is reserved, not
/// used, until it is needed.
const XEE_STACK: usize = 64 * 1024 * 1024;

/// Longest one XPath 2.0+ evaluation may take. The expression limits bound
/// its parse, not its work (`for $i in 1 to 100000000 …`), and xee cannot be
/// interrupted: past this the evaluation is abandoned (its thread ends on its
/// own; the run goes on, and a signal is seen again).
const XEE_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `f` (xee's work) on a thread with [`XEE_STACK`] of stack, waiting for
/// it at most [`XEE_TIME`]; a panic there is reported as an error.
fn on_big_stack<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("arazzo-xpath".into())
        .stack_size(XEE_STACK)
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err("internal error in the XPath engine".to_string()));
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start the XPath engine's thread: {e}"));
    }
    rx.recv_timeout(XEE_TIME).unwrap_or_else(|_| {
        Err(format!(
            "the XPath evaluation took longer than {} s and was abandoned; simplify the expression",
            XEE_TIME.as_secs()
        ))
    })
}

fn version_number(version: XPathVersion) -> &'static str {
    match version {
        XPathVersion::V1_0 => "1.0",
        XPathVersion::V2_0 => "2.0",
        XPathVersion::V3_0 => "3.0",
        XPathVersion::V3_1 => "3.1",
    }
}

fn number(n: f64) -> Value {
    serde_json::Number::from_f64(n)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(n.to_string()))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim_end_matches('.')
}

// ---------------------------------------------------------------------------------------
// XPath 2.0, 3.0 and 3.1: xee

/// Parses the XML, binds its prefixes, compiles and runs `expression`, and
/// hands the result to `then`.
fn with_xee<T>(
    expression: &str,
    version: XPathVersion,
    xml: &str,
    then: impl FnOnce(&xee_xpath::Sequence, &xot::Xot) -> Result<T, String>,
) -> Result<T, String> {
    let mut documents = xee_xpath::Documents::new();
    let doc = documents
        .add_string_without_uri(xml)
        .map_err(|e| xml_error("the context", xml, &e))?;
    let prefixes = xee_prefixes(&documents, doc);
    if let Some(prefix) = xpath_prefixes(expression)
        .into_iter()
        .find(|p| !prefixes.iter().any(|(q, _)| q == p))
    {
        return Err(unbound_prefix(expression, &prefix));
    }
    let query = compile3(&mut documents, expression, &prefixes, version)?;
    use xee_xpath::Query;
    let seq = query
        .execute(&mut documents, doc)
        .map_err(|e| xee_error(expression, &e))?;
    then(&seq, documents.xot())
}

fn compile3(
    _documents: &mut xee_xpath::Documents,
    expression: &str,
    prefixes: &[(String, String)],
    version: XPathVersion,
) -> Result<xee_xpath::query::SequenceQuery, String> {
    let mut builder = xee_xpath::context::StaticContextBuilder::default();
    for (prefix, uri) in prefixes {
        if !prefix.is_empty() {
            builder.add_namespace(prefix, uri);
        }
    }
    let queries = xee_xpath::Queries::new(builder);
    queries.sequence(expression).map_err(|e| {
        let at = e
            .span
            .map(|s| format!(" at position {}", s.range().start))
            .unwrap_or_default();
        format!(
            "invalid XPath expression `{expression}`{at}: {} ({}): write an XPath {} expression \
             such as `count(/root/pets/*) > 0` or `/root/status = 'available'`",
            first_line(e.error.message()),
            e.error.code(),
            version_number(version)
        )
    })
}

/// Every prefix declared in the document, with its namespace (first wins).
fn xee_prefixes(
    documents: &xee_xpath::Documents,
    doc: xee_xpath::DocumentHandle,
) -> Vec<(String, String)> {
    let xot = documents.xot();
    let mut out: Vec<(String, String)> = Vec::new();
    let Some(root) = documents.document_node(doc) else {
        return out;
    };
    for node in xot.descendants(root) {
        if !xot.is_element(node) {
            continue;
        }
        for (prefix, ns) in xot.namespaces(node).iter() {
            let prefix = xot.prefix_str(prefix);
            if !out.iter().any(|(p, _)| p == prefix) {
                out.push((prefix.to_string(), xot.namespace_str(*ns).to_string()));
            }
        }
    }
    out
}

fn item_value(expression: &str, item: &xee_xpath::Item, xot: &xot::Xot) -> Result<Value, String> {
    use xee_xpath::{Atomic, Item};
    match item {
        Item::Node(node) => Ok(Value::String(xot.string_value(*node))),
        Item::Atomic(Atomic::Boolean(b)) => Ok(Value::Bool(*b)),
        Item::Atomic(
            Atomic::Integer(..) | Atomic::Decimal(_) | Atomic::Double(_) | Atomic::Float(_),
        ) => {
            let text = item
                .string_value(xot)
                .map_err(|e| xee_error(expression, &e.into()))?;
            Ok(match serde_json::from_str::<serde_json::Number>(&text) {
                Ok(n) => Value::Number(n),
                Err(_) => Value::String(text),
            })
        }
        Item::Atomic(_) => item
            .string_value(xot)
            .map(Value::String)
            .map_err(|e| xee_error(expression, &e.into())),
        Item::Function(_) => Err(format!(
            "the XPath selector `{expression}` returns a function, map or array, which has no \
             JSON value here: select nodes or atomic values"
        )),
    }
}

fn describe_sequence(seq: &xee_xpath::Sequence) -> String {
    use xee_xpath::Item;
    let n = seq.len();
    let first = seq.iter().next();
    match (n, first) {
        (_, Some(Item::Function(_))) => "a function, map or array".to_string(),
        (1, _) => "one value of a type without one".to_string(),
        (n, _) => format!("a sequence of {n} atomic values"),
    }
}

fn xee_error(expression: &str, e: &xee_xpath::error::Error) -> String {
    let code = e.error.code();
    if code == "XPST0017" {
        return format!(
            "XPath `{expression}` calls a function that does not exist (XPST0017): check its name \
             and number of arguments"
        );
    }
    format!(
        "XPath `{expression}` could not be evaluated: {} ({code})",
        first_line(e.error.message())
    )
}

fn xml_error(what: &str, xml: &str, e: &xee_xpath::error::DocumentsError) -> String {
    let xee_xpath::error::DocumentsError::Parse(parse) = e else {
        return format!("{what} cannot be read as XML: {e}");
    };
    if matches!(parse, xot::ParseError::DtdUnsupported(_)) {
        return format!(
            "{what} declares a DTD (`<!DOCTYPE …>`), which the XPath 3.1 engine does not read: \
             remove it, or use `version: xpath-10`"
        );
    }
    let (line, column) = line_column(xml, parse.span().start);
    format!("{what} is not well-formed XML (line {line}, column {column}): {parse}")
}

fn unbound_prefix(expression: &str, prefix: &str) -> String {
    format!(
        "XPath `{expression}` uses the namespace prefix `{prefix}`, which the XML document does \
         not declare: use a prefix declared in the document, or match on `local-name()`"
    )
}

/// Replacements with xee: each target's selected nodes get the text.
fn replace_xee(xml: &str, run: &[(&str, &str)]) -> Result<String, String> {
    let mut documents = xee_xpath::Documents::new();
    let doc = documents
        .add_string_without_uri(xml)
        .map_err(|e| xml_error("the XML payload", xml, &e))?;
    let prefixes = xee_prefixes(&documents, doc);
    for (target, text) in run {
        if let Some(prefix) = xpath_prefixes(target)
            .into_iter()
            .find(|p| !prefixes.iter().any(|(q, _)| q == p))
        {
            return Err(format!(
                "replacement `{target}` uses the namespace prefix `{prefix}`, which the XML payload does not declare"
            ));
        }
        let query = compile3(&mut documents, target, &prefixes, XPathVersion::V3_1)?;
        use xee_xpath::Query;
        let seq = query
            .execute(&mut documents, doc)
            .map_err(|e| xee_error(target, &e))?;
        let mut nodes = Vec::new();
        for item in seq.iter() {
            match item {
                xee_xpath::Item::Node(n) => nodes.push(n),
                _ => {
                    return Err(format!(
                        "replacement `{target}` is not a path to elements or attributes of the XML payload"
                    ))
                }
            }
        }
        if nodes.is_empty() {
            return Err(format!(
                "replacement `{target}` selects nothing in the XML payload"
            ));
        }
        let xot = documents.xot_mut();
        for node in nodes {
            set_text(xot, node, text).map_err(|what| {
                format!("replacement `{target}` selects {what}, not an element, attribute or text")
            })?;
        }
    }
    let root = documents
        .document_node(doc)
        .ok_or_else(|| "the XML payload was lost".to_string())?;
    let mut out = documents
        .xot()
        .to_string(root)
        .map_err(|e| format!("cannot write the XML payload: {e}"))?;
    // Keep the payload's own declaration, which the writer drops.
    if let Some(decl) = xml_declaration(xml) {
        out.insert_str(0, decl);
    }
    Ok(out)
}

fn xml_declaration(xml: &str) -> Option<&str> {
    let t = xml.trim_start();
    if !t.starts_with("<?xml") {
        return None;
    }
    t.find("?>").map(|end| &t[..end + 2])
}

fn set_text(xot: &mut xot::Xot, node: xot::Node, text: &str) -> Result<(), &'static str> {
    match xot.value(node) {
        xot::Value::Element(_) => {
            let children: Vec<xot::Node> = xot.children(node).collect();
            for child in children {
                xot.remove(child)
                    .map_err(|_| "a node that cannot be changed")?;
            }
            xot.append_text(node, text)
                .map_err(|_| "a node that cannot be changed")
        }
        xot::Value::Attribute(attribute) => {
            let name = attribute.name();
            let parent = xot.parent(node).ok_or("an attribute without an element")?;
            xot.set_attribute(parent, name, text);
            Ok(())
        }
        xot::Value::Text(_) => {
            if let Some(t) = xot.text_mut(node) {
                t.set(text);
            }
            Ok(())
        }
        xot::Value::Document => Err("the whole document"),
        _ => Err("a comment, processing instruction or namespace"),
    }
}

// ---------------------------------------------------------------------------------------
// XPath 1.0: sxd

/// Parses `xml` with sxd, binds its prefixes, runs `expression` on its root.
fn with_sxd<T>(
    expression: &str,
    xml: &str,
    what: &str,
    then: impl FnOnce(sxd_xpath::Value<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let package = sxd_document::parser::parse(xml).map_err(|err| {
        let (line, column) = line_column(xml, err.location());
        format!("{what} is not well-formed XML (line {line}, column {column}): {err}")
    })?;
    let document = package.as_document();
    let xpath = build_sxd(expression)?;
    let mut context = sxd_xpath::Context::new();
    let bound = bind_document_prefixes(&document, &mut context);
    // sxd-xpath panics on a name test with an unbound prefix; report it instead.
    if let Some(prefix) = xpath_prefixes(expression)
        .into_iter()
        .find(|p| !bound.contains(p))
    {
        return Err(unbound_prefix(expression, &prefix));
    }
    let value = xpath
        .evaluate(&context, document.root())
        .map_err(|err| xpath_eval_error(expression, &err.to_string()))?;
    then(value)
}

fn build_sxd(expression: &str) -> Result<sxd_xpath::XPath, String> {
    match sxd_xpath::Factory::new().build(expression) {
        Ok(Some(xpath)) => Ok(xpath),
        Ok(None) => Err(format!(
            "invalid XPath expression `{expression}`: it contains no expression"
        )),
        Err(err) => Err(format!(
            "invalid XPath expression `{expression}`: {err}: write an XPath 1.0 expression \
             such as `count(/root/pets/*) > 0` or `/root/status = 'available'` (`version: \
             xpath-10` is XPath 1.0; drop the version for XPath 3.1)"
        )),
    }
}

/// Replacements with sxd (XPath 1.0 targets).
fn replace_sxd(body: &str, replacements: &[(&str, &str)]) -> Result<String, String> {
    use sxd_xpath::nodeset::Node;
    let package = sxd_document::parser::parse(body).map_err(|err| {
        let (line, column) = line_column(body, err.location());
        format!("the XML payload is not well-formed (line {line}, column {column}): {err}")
    })?;
    let document = package.as_document();
    for (target, text) in replacements {
        let xpath = build_sxd(target)?;
        let mut context = sxd_xpath::Context::new();
        let bound = bind_document_prefixes(&document, &mut context);
        if let Some(prefix) = xpath_prefixes(target)
            .into_iter()
            .find(|p| !bound.contains(p))
        {
            return Err(format!(
                "replacement `{target}` uses the namespace prefix `{prefix}`, which the XML payload does not declare"
            ));
        }
        let value = xpath
            .evaluate(&context, document.root())
            .map_err(|err| xpath_eval_error(target, &err.to_string()))?;
        let sxd_xpath::Value::Nodeset(nodes) = value else {
            return Err(format!(
                "replacement `{target}` is not a path to elements or attributes of the XML payload"
            ));
        };
        let nodes = nodes.document_order();
        if nodes.is_empty() {
            return Err(format!(
                "replacement `{target}` selects nothing in the XML payload"
            ));
        }
        for node in nodes {
            match node {
                Node::Element(e) => {
                    e.set_text(text);
                }
                Node::Attribute(a) => {
                    if let Some(parent) = a.parent() {
                        parent.set_attribute_value(a.name(), text);
                    }
                }
                Node::Text(t) => t.set_text(text),
                _ => {
                    return Err(format!(
                        "replacement `{target}` selects something other than an element, attribute or text"
                    ))
                }
            }
        }
    }
    let mut out = Vec::new();
    sxd_document::writer::Writer::new()
        .set_single_quotes(false)
        .format_document(&document, &mut out)
        .map_err(|e| format!("cannot write the XML payload: {e}"))?;
    let mut text = String::from_utf8(out).map_err(|e| e.to_string())?;
    // The writer adds a declaration; keep the payload's own choice.
    if !body.trim_start().starts_with("<?xml") {
        if let Some(end) = text.find("?>").filter(|_| text.starts_with("<?xml")) {
            text = text[end + 2..].to_string();
        }
    }
    Ok(text)
}

/// Refuses XML that is nested deeper than [`MAX_XML_DEPTH`] or has more than
/// [`MAX_XML_NODES`] pieces of markup, by a linear scan before any parser sees it.
/// The scan counts tags (`<a>`, `</a>`, `<a/>`), skipping comments, CDATA,
/// processing instructions and declarations, and quoted attribute values.
pub(crate) fn xml_within_limits(xml: &str, what: &str) -> Result<(), String> {
    let bytes = xml.as_bytes();
    let (mut depth, mut nodes, mut i) = (0usize, 0usize, 0usize);
    let skip_to = |from: usize, end: &str| {
        memchr::memmem::find(&bytes[from..], end.as_bytes())
            .map_or(bytes.len(), |j| from + j + end.len())
    };
    while let Some(j) = memchr::memchr(b'<', &bytes[i..]) {
        i += j;
        let rest = &bytes[i..];
        if rest.starts_with(b"<!--") {
            i = skip_to(i + 4, "-->");
            continue;
        }
        if rest.starts_with(b"<![CDATA[") {
            i = skip_to(i + 9, "]]>");
            continue;
        }
        if rest.starts_with(b"<?") {
            i = skip_to(i + 2, "?>");
            continue;
        }
        nodes += 1;
        if nodes > MAX_XML_NODES {
            return Err(format!(
                "{what} has more than {MAX_XML_NODES} XML tags, more than arazzo evaluates XPath on: \
                 check a smaller part of the response (e.g. with a regex criterion) or ask the API for less"
            ));
        }
        let closing = rest.get(1) == Some(&b'/');
        let declaration = rest.get(1) == Some(&b'!');
        // Find the end of the tag, skipping quoted attribute values.
        let mut k = i + 1;
        let mut quote: Option<u8> = None;
        while k < bytes.len() {
            let c = bytes[k];
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None if c == b'"' || c == b'\'' => quote = Some(c),
                None if c == b'>' => break,
                None => {}
            }
            k += 1;
        }
        let self_closing = k > i + 1 && bytes.get(k - 1) == Some(&b'/');
        if closing {
            depth = depth.saturating_sub(1);
        } else if !declaration && !self_closing {
            depth += 1;
            if depth > MAX_XML_DEPTH {
                return Err(format!(
                    "{what} nests XML elements more than {MAX_XML_DEPTH} levels deep, deeper than arazzo \
                     parses: such a document is refused rather than risk the run"
                ));
            }
        }
        i = k + 1;
        if i >= bytes.len() {
            break;
        }
    }
    Ok(())
}

/// Words an XPath evaluation error; sxd-xpath prints unknown names in their `Debug` form.
fn xpath_eval_error(expression: &str, detail: &str) -> String {
    let name = detail
        .split_once("local_part: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name);
    match name {
        Some(name) if detail.starts_with("unknown function") => format!(
            "XPath `{expression}` calls `{name}()`, which is not an XPath 1.0 function: the criterion asks for `xpath-10`; drop the \
             version (XPath 3.1) to use XPath 2.0+ functions"
        ),
        Some(name) if detail.starts_with("unknown variable") => format!(
            "XPath `{expression}` uses the variable `${name}`, which is not defined: embed \
             values in the condition instead of using variables"
        ),
        _ => format!("XPath `{expression}` could not be evaluated: {detail}"),
    }
}

/// Binds every namespace prefix declared in the document (first declaration wins), so a
/// query can use the same prefixes as the document it is applied to. Returns the prefixes.
fn bind_document_prefixes(
    document: &sxd_document::dom::Document<'_>,
    context: &mut sxd_xpath::Context<'_>,
) -> Vec<String> {
    use sxd_document::dom::{ChildOfElement, ChildOfRoot};
    let mut bound: Vec<String> = Vec::new();
    let mut stack: Vec<sxd_document::dom::Element<'_>> = document
        .root()
        .children()
        .into_iter()
        .filter_map(|child| match child {
            ChildOfRoot::Element(element) => Some(element),
            _ => None,
        })
        .collect();
    while let Some(element) = stack.pop() {
        for namespace in element.namespaces_in_scope() {
            if !bound.iter().any(|p| p == namespace.prefix()) {
                bound.push(namespace.prefix().to_string());
                context.set_namespace(namespace.prefix(), namespace.uri());
            }
        }
        // Children are pushed in reverse so the walk is in document order.
        let children = element.children();
        stack.extend(children.into_iter().rev().filter_map(|child| match child {
            ChildOfElement::Element(element) => Some(element),
            _ => None,
        }));
    }
    bound
}

/// The namespace prefixes an XPath expression uses (`p` in `p:name`, `p:*`, `p:f()`),
/// ignoring string literals and axis separators (`child::`).
pub(crate) fn xpath_prefixes(expression: &str) -> Vec<String> {
    let chars: Vec<char> = expression.chars().collect();
    // XML's NameStartChar and NameChar, as the XPath engine reads names.
    let is_start = |c: char| {
        matches!(c, 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
            | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
            | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
            | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
            | '\u{10000}'..='\u{EFFFF}')
    };
    let is_name = |c: char| {
        is_start(c)
            || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}'
                | '\u{203F}'..='\u{2040}')
    };
    let mut prefixes: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            // Skip a string literal (XPath 1.0 has no escapes inside literals).
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            i += 1;
        } else if is_start(c) {
            let start = i;
            while i < chars.len() && is_name(chars[i]) {
                i += 1;
            }
            if chars.get(i) == Some(&':') && chars.get(i + 1).is_some_and(|&n| n != ':') {
                let prefix: String = chars[start..i].iter().collect();
                if !prefixes.contains(&prefix) {
                    prefixes.push(prefix);
                }
            }
        } else if c.is_ascii_digit() {
            // A number such as `1.5`: skip it whole so it is not read as a name.
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    prefixes
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const XML: &str = "<r xmlns:m='urn:m'><a n='1'>x</a><a n='2'>y</a><m:b>7</m:b></r>";

    #[test]
    fn effective_boolean_value_by_version() {
        let v31 = XPathVersion::V3_1;
        assert_eq!(boolean("//a", v31, XML), Ok(true));
        assert_eq!(boolean("//missing", v31, XML), Ok(false));
        assert_eq!(boolean("'0'", v31, XML), Ok(true));
        assert_eq!(boolean("0", v31, XML), Ok(false));
        let err = boolean("//a/string()", v31, XML).unwrap_err();
        assert!(
            err.contains("FORG0006") && err.contains("2 atomic values"),
            "{err}"
        );
        // 1.0 compares two strings as numbers; 2.0+ as strings.
        assert_eq!(boolean("'10' > '9'", XPathVersion::V1_0, XML), Ok(true));
        assert_eq!(boolean("'10' > '9'", XPathVersion::V2_0, XML), Ok(false));
    }

    #[test]
    fn selections_are_values() {
        let v31 = XPathVersion::V3_1;
        assert_eq!(select("//a[1]", v31, XML), Ok(json!("x")));
        assert_eq!(select("//a/@n", v31, XML), Ok(json!(["1", "2"])));
        assert_eq!(select("count(//a)", v31, XML), Ok(json!(2)));
        assert_eq!(select("//a = 'y'", v31, XML), Ok(json!(true)));
        assert_eq!(select("/r/m:b", v31, XML), Ok(json!("7")));
        assert_eq!(select("string-join(//a, ',')", v31, XML), Ok(json!("x,y")));
        assert_eq!(
            select("//a", XPathVersion::V1_0, XML),
            Ok(json!(["x", "y"]))
        );
        assert_eq!(
            select("count(//a)", XPathVersion::V1_0, XML),
            Ok(json!(2.0))
        );
        let err = select("//missing", v31, XML).unwrap_err();
        assert!(err.contains("selects nothing"), "{err}");
        let err = select("map {'a': 1}", v31, XML).unwrap_err();
        assert!(err.contains("map"), "{err}");
    }

    #[test]
    fn replacements_in_either_engine() {
        let out = replace(
            "<?xml version=\"1.0\"?><r><a n='1'>x</a><a n='2'>y</a></r>",
            &[
                ("//a[@n='2']", XPathVersion::V3_1, "Y".into()),
                ("//a[1]/@n", XPathVersion::V1_0, "one".into()),
                ("//a[last()]/text()", XPathVersion::V3_0, "z".into()),
            ],
        )
        .unwrap();
        assert!(out.starts_with("<?xml"), "{out}");
        assert!(out.contains("<a n=\"one\">x</a><a n=\"2\">z</a>"), "{out}");
        let err = replace("<r/>", &[("//a", XPathVersion::V3_1, "1".into())]).unwrap_err();
        assert!(err.contains("selects nothing"), "{err}");
        let err = replace("<r/>", &[("count(//a)", XPathVersion::V3_1, "1".into())]).unwrap_err();
        assert!(err.contains("not a path"), "{err}");
    }

    #[test]
    fn documents_xee_cannot_read_are_explained() {
        let v31 = XPathVersion::V3_1;
        let err = boolean("/r", v31, "<!DOCTYPE r><r/>").unwrap_err();
        assert!(err.contains("DTD"), "{err}");
        let err = boolean("/r", v31, "<r>\n<a></b></r>").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        let err = boolean("/a", v31, &deep).unwrap_err();
        assert!(err.contains("more than 256 levels"), "{err}");
        let err = check("(", v31).unwrap_err();
        assert!(err.contains("invalid XPath expression `(`"), "{err}");
        assert!(check("/q:a", v31).is_ok());
    }
}

#[cfg(test)]
mod stack_tests {
    use super::*;

    /// The deepest and longest expressions the limits let through compile
    /// and run quickly, called from a small stack (xee runs on a thread of its
    /// own); one level or step more is refused before xee's parser sees it.
    #[test]
    fn the_largest_allowed_expressions_are_quick_from_a_small_stack() {
        let n = MAX_XPATH3_NESTING;
        let expressions = [
            format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            format!("/r{}", "[a".repeat(n) + &"]".repeat(n)),
            vec!["1"; 256].join(" or "),
            format!("/r{}", "/a".repeat(MAX_XPATH3_STEPS - 1)),
            format!("count(({}))", vec!["1"; MAX_XPATH3_STEPS].join(",")),
        ];
        let started = std::time::Instant::now();
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                for e in &expressions {
                    check(e, XPathVersion::V3_1).unwrap();
                    boolean(e, XPathVersion::V3_1, "<r><a/></r>").unwrap();
                }
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let deeper = format!("{}1{}", "(".repeat(n + 1), ")".repeat(n + 1));
        let err = check(&deeper, XPathVersion::V3_1).unwrap_err();
        assert!(err.contains("11 levels deep"), "{err}");
        assert!(check(&deeper, XPathVersion::V1_0).is_ok());
        let longer = format!("/r{}", "/a".repeat(MAX_XPATH3_STEPS));
        let err = check(&longer, XPathVersion::V3_0).unwrap_err();
        assert!(err.contains("257 path steps"), "{err}");
        assert!(check("'/,/,/'", XPathVersion::V3_1).is_ok());
    }
}
