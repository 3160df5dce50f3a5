//! Building an HTTP request from a compiled step: parameters serialized the way
//! OpenAPI describes (path `simple`, query `form`, header `simple`, cookie `form`,
//! a `querystring` in its media type), and the body encoded for its media type.

mod querystring;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

use crate::compile::{CompiledBody, CompiledParam, OperationCall};
use crate::expr::criteria::XPathVersion;
use crate::expr::{stringify, Resolve};
use crate::openapi::ParamIn;

/// Characters left as they are in a path segment or query component (RFC 3986
/// unreserved).
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Reserved characters kept for `allowReserved: true` query values.
pub(crate) const RESERVED_OK: &AsciiSet = &COMPONENT
    .remove(b':')
    .remove(b'/')
    .remove(b'?')
    .remove(b'#')
    .remove(b'[')
    .remove(b']')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// A request ready to send, and what `$request.*` expressions read afterwards.
#[derive(Debug, Clone)]
pub struct BuiltRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub path_params: Map<String, Value>,
    pub query_params: Map<String, Value>,
    pub body: Option<Value>,
    pub body_bytes: Option<Vec<u8>>,
    /// Values sent in credential parameters, to be registered as secrets.
    pub secrets: Vec<String>,
    /// Lower-case names of the headers that carry credentials.
    pub secret_headers: Vec<String>,
}

/// Why a request could not be built.
#[derive(Debug, Clone)]
pub struct BuildError(pub String);

/// Builds the request of an operation step: each parameter serialized into
/// the path, query, headers or cookies, then the URL and the body.
pub fn build(
    step: &OperationCall,
    base_url: &str,
    ctx: &dyn Resolve,
) -> Result<BuiltRequest, BuildError> {
    let op = &step.operation;
    let mut parts = Parts::new(&op.path);
    for p in &step.parameters {
        if p.location == ParamIn::Querystring {
            if let Some(built) = querystring::build(p, ctx)? {
                parts.add_querystring(p, built);
            }
            continue;
        }
        // Only an optional input that was not given leaves a parameter without
        // a value; a path or required parameter still needs one.
        if let Some(value) = parameter_value(p, ctx)? {
            parts.add(p, value);
        }
    }
    let mut headers = parts.headers;
    if !parts.cookies.is_empty() {
        headers.push(("Cookie".to_string(), parts.cookies.join("; ")));
    }
    refuse_dot_segments(&op.path, &parts.path, step)?;
    let url = join_url(base_url, &parts.path, &parts.query);
    let (body, body_bytes) = match &step.body {
        Some(b) => add_body(b, ctx, &mut headers)?,
        None => (None, None),
    };
    Ok(BuiltRequest {
        method: op.method.clone(),
        url,
        headers,
        path_params: parts.path_params,
        query_params: parts.query_params,
        body,
        body_bytes,
        secrets: parts.secrets,
        secret_headers: parts.secret_headers,
    })
}

/// The request taking shape as parameters are added, before the URL and body.
struct Parts {
    /// The path template with the parameters filled in so far.
    path: String,
    /// `name=value` query components, encoded.
    query: Vec<String>,
    headers: Vec<(String, String)>,
    /// `name=value` cookies, joined into one `Cookie` header at the end.
    cookies: Vec<String>,
    path_params: Map<String, Value>,
    query_params: Map<String, Value>,
    secrets: Vec<String>,
    secret_headers: Vec<String>,
}

impl Parts {
    fn new(template: &str) -> Parts {
        Parts {
            path: template.to_string(),
            query: Vec::new(),
            headers: Vec::new(),
            cookies: Vec::new(),
            path_params: Map::new(),
            query_params: Map::new(),
            secrets: Vec::new(),
            secret_headers: Vec::new(),
        }
    }

    /// Adds the query string of querystring parameter `p`: after the query
    /// parameters, if any (a step may not give both, but a server URL may
    /// hold a query).
    fn add_querystring(&mut self, p: &CompiledParam, built: querystring::Built) {
        if p.secret {
            self.secrets.push(stringify(Some(&built.value)));
        }
        if !built.text.is_empty() {
            self.query.push(built.text);
        }
        self.query_params.extend(built.query_params);
    }

    /// Adds parameter `p` with its value where its location says, serialized in
    /// its style; a credential parameter's value is also kept as a secret.
    fn add(&mut self, p: &CompiledParam, value: Value) {
        if p.secret {
            self.secrets.push(stringify(Some(&value)));
            if p.location == ParamIn::Header {
                self.secret_headers.push(p.name.to_ascii_lowercase());
            }
        }
        let explode = p.spec.as_ref().and_then(|s| s.explode);
        let style = p.spec.as_ref().and_then(|s| s.style.as_deref());
        match p.location {
            ParamIn::Path => {
                let style = style.unwrap_or("simple");
                let text = path_style(&p.name, &value, style, explode.unwrap_or(false));
                let placeholder = format!("{{{}}}", p.name);
                self.path = self.path.replace(&placeholder, &text);
                self.path_params.insert(p.name.clone(), value);
            }
            ParamIn::Query => {
                let reserved = p.spec.as_ref().is_some_and(|s| s.allow_reserved);
                let set = if reserved { RESERVED_OK } else { COMPONENT };
                let style = style.unwrap_or("form");
                let explode = explode.unwrap_or(true);
                self.query
                    .extend(query_pairs(&p.name, &value, style, explode, set));
                self.query_params.insert(p.name.clone(), value);
            }
            ParamIn::Header => {
                let text =
                    simple_style(&value, explode.unwrap_or(false), percent_encoding::CONTROLS);
                self.headers.push((p.name.clone(), text));
            }
            ParamIn::Cookie => {
                let text = simple_style(&value, false, COMPONENT);
                self.cookies.push(format!("{}={text}", p.name));
            }
            // Built whole by `add_querystring`.
            ParamIn::Querystring => {}
        }
    }
}

/// The value of parameter `p`, or `None` for an optional one whose input was
/// not given; a path or required parameter without a value is an error.
fn parameter_value(p: &CompiledParam, ctx: &dyn Resolve) -> Result<Option<Value>, BuildError> {
    let value = p.value.eval_required(ctx).map_err(|why| {
        BuildError(format!(
            "{} parameter `{}` cannot be built: {why}",
            p.location.as_str(),
            p.name
        ))
    })?;
    if value.is_some() {
        return Ok(value);
    }
    let exprs: Vec<String> = p
        .value
        .expressions()
        .iter()
        .map(|e| format!("`{e}`"))
        .collect();
    if p.location == ParamIn::Path {
        return Err(BuildError(format!(
            "path parameter `{}` has no value: {} was not given",
            p.name,
            exprs.join(", ")
        )));
    }
    if p.spec.as_ref().is_some_and(|s| s.required) {
        return Err(BuildError(format!(
            "required {} parameter `{}` has no value: {} was not given",
            p.location.as_str(),
            p.name,
            exprs.join(", ")
        )));
    }
    Ok(None)
}

/// The URL: the base without its trailing `/`, the path, then the query
/// (after `&` when the base already has one).
fn join_url(base_url: &str, path: &str, query: &[String]) -> String {
    let mut url = base_url.trim_end_matches('/').to_string();
    url.push_str(path);
    if !query.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.join("&"));
    }
    url
}

/// Encodes the request body, and adds its `Content-Type` unless a header
/// parameter already set one.
fn add_body(
    b: &CompiledBody,
    ctx: &dyn Resolve,
    headers: &mut Vec<(String, String)>,
) -> Result<(Option<Value>, Option<Vec<u8>>), BuildError> {
    let (value, bytes, content_type) = encode_body(b, ctx)?;
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".to_string(), content_type));
    }
    Ok((value, bytes))
}

/// Refuses a path whose parameter made a segment `.` or `..` (in any percent-
/// encoding, decoded as often as a server might): URL resolution and many
/// servers would move such a request to the current or parent path.
fn refuse_dot_segments(
    template: &str,
    built: &str,
    step: &OperationCall,
) -> Result<(), BuildError> {
    let templ: Vec<&str> = template.split('/').collect();
    let segs: Vec<&str> = built.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        if !is_dot_segment(seg) {
            continue;
        }
        // Parameter values are percent-encoded (a `/` in one is `%2F`), so the
        // segments line up with the template's.
        let from = templ.get(i).filter(|_| templ.len() == segs.len());
        let names: Vec<String> = step
            .parameters
            .iter()
            .filter(|p| p.location == ParamIn::Path)
            .filter(|p| from.is_none_or(|t| t.contains(&format!("{{{}}}", p.name))))
            .map(|p| format!("`{}`", p.name))
            .collect();
        if names.is_empty() {
            continue;
        }
        return Err(BuildError(format!(
            "path parameter {} makes the path segment `{seg}`, which a server reads as {} \
             path: arazzo does not send it (check the value, e.g. an id an earlier response returned)",
            names.join(", "),
            if is_dot_segment_exact(seg, "..") { "the parent" } else { "the current" }
        )));
    }
    Ok(())
}

fn is_dot_segment(seg: &str) -> bool {
    // Only dots, `%` and hex digits can decode to `.` or `..`: most segments
    // (ids, names) are ruled out without decoding.
    let candidate = !seg.is_empty()
        && seg
            .bytes()
            .all(|b| b == b'.' || b == b'%' || b.is_ascii_hexdigit());
    candidate && (is_dot_segment_exact(seg, ".") || is_dot_segment_exact(seg, ".."))
}

/// `seg` is `dots` once percent-escapes are decoded, up to a few times over.
fn is_dot_segment_exact(seg: &str, dots: &str) -> bool {
    let mut cur = seg.to_string();
    for _ in 0..4 {
        if cur == dots {
            return true;
        }
        let next = percent_encoding::percent_decode_str(&cur)
            .decode_utf8_lossy()
            .into_owned();
        if next == cur {
            return false;
        }
        cur = next;
    }
    cur == dots
}

/// OpenAPI `simple` style: scalars as text, arrays comma-joined, objects as
/// `k,v,k,v` (or `k=v,k=v` exploded).
/// A path parameter in its OpenAPI style: `simple` (`3,4`), `label` (`.3,4`,
/// exploded `.3.4`) or `matrix` (`;id=3,4`, exploded `;id=3;id=4`).
fn path_style(name: &str, value: &Value, style: &str, explode: bool) -> String {
    let enc = |s: &str| utf8_percent_encode(s, COMPONENT).to_string();
    let text = |v: &Value| enc(&stringify(Some(v)));
    match style {
        "label" => {
            let sep = if explode { "." } else { "," };
            match value {
                Value::Array(items) => {
                    format!(".{}", items.iter().map(text).collect::<Vec<_>>().join(sep))
                }
                Value::Object(map) => format!(
                    ".{}",
                    map.iter()
                        .map(|(k, v)| if explode {
                            format!("{}={}", enc(k), text(v))
                        } else {
                            format!("{},{}", enc(k), text(v))
                        })
                        .collect::<Vec<_>>()
                        .join(sep)
                ),
                other => format!(".{}", text(other)),
            }
        }
        "matrix" => {
            let key = enc(name);
            let pair = |k: &str, v: String| {
                if v.is_empty() {
                    format!(";{k}")
                } else {
                    format!(";{k}={v}")
                }
            };
            match value {
                Value::Array(items) if explode => {
                    items.iter().map(|i| pair(&key, text(i))).collect()
                }
                Value::Array(items) => {
                    pair(&key, items.iter().map(text).collect::<Vec<_>>().join(","))
                }
                Value::Object(map) if explode => {
                    map.iter().map(|(k, v)| pair(&enc(k), text(v))).collect()
                }
                Value::Object(map) => pair(
                    &key,
                    map.iter()
                        .map(|(k, v)| format!("{},{}", enc(k), text(v)))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                other => pair(&key, text(other)),
            }
        }
        _ => simple_style(value, explode, COMPONENT),
    }
}

fn simple_style(value: &Value, explode: bool, set: &'static AsciiSet) -> String {
    let enc = |s: &str| utf8_percent_encode(s, set).to_string();
    match value {
        Value::Array(items) => items
            .iter()
            .map(|i| enc(&stringify(Some(i))))
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                if explode {
                    format!("{}={}", enc(k), enc(&stringify(Some(v))))
                } else {
                    format!("{},{}", enc(k), enc(&stringify(Some(v))))
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        other => enc(&stringify(Some(other))),
    }
}

fn query_pairs(
    name: &str,
    value: &Value,
    style: &str,
    explode: bool,
    set: &'static AsciiSet,
) -> Vec<String> {
    let enc = |s: &str| utf8_percent_encode(s, set).to_string();
    let key = enc(name);
    match (value, style) {
        (Value::Array(items), _) if explode && style == "form" => items
            .iter()
            .map(|i| format!("{key}={}", enc(&stringify(Some(i)))))
            .collect(),
        (Value::Array(items), _) => {
            let sep = match style {
                "spaceDelimited" => "%20",
                "pipeDelimited" => "|",
                _ => ",",
            };
            vec![format!(
                "{key}={}",
                items
                    .iter()
                    .map(|i| enc(&stringify(Some(i))))
                    .collect::<Vec<_>>()
                    .join(sep)
            )]
        }
        (Value::Object(map), "deepObject") => map
            .iter()
            .map(|(k, v)| format!("{key}%5B{}%5D={}", enc(k), enc(&stringify(Some(v)))))
            .collect(),
        (Value::Object(map), _) if explode => map
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(&stringify(Some(v)))))
            .collect(),
        (Value::Object(map), _) => vec![format!(
            "{key}={}",
            map.iter()
                .map(|(k, v)| format!("{},{}", enc(k), enc(&stringify(Some(v)))))
                .collect::<Vec<_>>()
                .join(",")
        )],
        (other, _) => vec![format!("{key}={}", enc(&stringify(Some(other))))],
    }
}

fn is_json(content_type: &str) -> bool {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct == "application/json" || ct.ends_with("+json")
}

/// Evaluates the payload, applies replacements, and encodes it for its media type.
/// The body as a value, as bytes, and the Content-Type to send (which, for
/// multipart, carries the boundary).
pub(crate) type Encoded = (Option<Value>, Option<Vec<u8>>, String);

pub(crate) fn encode_body(b: &CompiledBody, ctx: &dyn Resolve) -> Result<Encoded, BuildError> {
    let Some(value) = payload(b, ctx)? else {
        return Ok((None, None, b.content_type.clone()));
    };
    let ct = b.content_type.to_ascii_lowercase();
    if ct.starts_with("multipart/") && value.is_object() {
        let boundary = boundary();
        let bytes = multipart(&value, &boundary);
        let header = format!(
            "{}; boundary={boundary}",
            b.content_type
                .split(';')
                .next()
                .unwrap_or("multipart/form-data")
                .trim()
        );
        return Ok((Some(value), Some(bytes), header));
    }
    let xmlish = ct.contains("xml");
    if xmlish && !value.is_string() {
        return Err(BuildError(format!(
            "a `{}` payload is written as a string (XML text, with `{{$…}}` for values); this one is {}",
            b.content_type,
            if value.is_object() { "an object" } else { "not a string" }
        )));
    }
    let value = match (&value, b.xml_replacements.is_empty()) {
        (Value::String(xml), false) => Value::String(replace_in_xml(xml, b, ctx)?),
        _ => value,
    };
    let bytes = payload_bytes(&value, &ct);
    Ok((Some(value), Some(bytes), b.content_type.clone()))
}

/// The payload with its replacements applied (a replacement into no payload
/// starts an object); `None` when there is neither.
fn payload(b: &CompiledBody, ctx: &dyn Resolve) -> Result<Option<Value>, BuildError> {
    let mut value = match &b.payload {
        Some(p) => p
            .eval_required(ctx)
            .map_err(|why| BuildError(format!("the request body cannot be built: {why}")))?,
        None => None,
    };
    for (target, replacement) in &b.replacements {
        let v = replacement.eval_required(ctx).map_err(|why| {
            BuildError(format!(
                "replacement `{}` cannot be built: {why}",
                target.as_str()
            ))
        })?;
        let Some(v) = v else {
            continue;
        };
        let root = value.get_or_insert_with(|| Value::Object(Map::new()));
        let locations = target
            .json_locations(root)
            .map_err(|m| BuildError(format!("replacement `{}`: {m}", target.as_str())))?;
        for pointer in locations {
            set_pointer(root, pointer.tokens(), v.clone())
                .map_err(|m| BuildError(format!("replacement `{}`: {m}", target.as_str())))?;
        }
    }
    Ok(value)
}

/// An XML payload with the body's XPath replacements applied.
fn replace_in_xml(xml: &str, b: &CompiledBody, ctx: &dyn Resolve) -> Result<String, BuildError> {
    let mut values: Vec<(&str, XPathVersion, String)> = Vec::new();
    for (target, v) in &b.xml_replacements {
        let v = v.eval_required(ctx).map_err(|why| {
            BuildError(format!(
                "replacement `{}` cannot be built: {why}",
                target.as_str()
            ))
        })?;
        if let (Some(v), Some(version)) = (v, target.xpath_version()) {
            values.push((target.as_str(), version, stringify(Some(&v))));
        }
    }
    crate::expr::xpath::replace(xml, &values).map_err(BuildError)
}

/// The bytes of a (non-multipart) payload for lower-case media type `ct`.
fn payload_bytes(value: &Value, ct: &str) -> Vec<u8> {
    match value {
        // A string payload is the body text itself, whatever the media type.
        Value::String(s) => s.as_bytes().to_vec(),
        _ if is_json(ct) => serde_json::to_vec(value).unwrap_or_default(),
        // Form fields: arrays as repeated keys (OpenAPI's default `form`, exploded).
        Value::Object(map) if ct.starts_with("application/x-www-form-urlencoded") => map
            .iter()
            .flat_map(|(k, v)| {
                let items: Vec<&Value> = match v {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                items.into_iter().map(move |item| {
                    format!(
                        "{}={}",
                        utf8_percent_encode(k, COMPONENT),
                        utf8_percent_encode(&stringify(Some(item)), COMPONENT)
                    )
                })
            })
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes(),
        other if ct.starts_with("text/") => stringify(Some(other)).into_bytes(),
        other => serde_json::to_vec(other).unwrap_or_default(),
    }
}

fn boundary() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("arazzo-{:x}-{:x}", nanos, std::process::id())
}

/// `multipart/form-data`: one part per member (one per item for arrays); text
/// for scalars, JSON for objects.
fn multipart(value: &Value, boundary: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut part = |name: &str, v: &Value| {
        let escaped = name.replace('"', "%22");
        out.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{escaped}\"\r\n"
        ));
        match v {
            Value::Object(_) => {
                out.push_str("Content-Type: application/json\r\n\r\n");
                out.push_str(&v.to_string());
            }
            other => {
                out.push_str("\r\n");
                out.push_str(&stringify(Some(other)));
            }
        }
        out.push_str("\r\n");
    };
    for (k, v) in value.as_object().into_iter().flatten() {
        match v {
            Value::Array(items) => items.iter().for_each(|i| part(k, i)),
            other => part(k, other),
        }
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out.into_bytes()
}

/// Sets the value at a JSON Pointer, creating object members as needed.
fn set_pointer(root: &mut Value, tokens: &[String], v: Value) -> Result<(), String> {
    let Some((last, parents)) = tokens.split_last() else {
        *root = v;
        return Ok(());
    };
    let mut cur = root;
    for t in parents {
        cur = match cur {
            Value::Object(m) => m
                .entry(t.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            Value::Array(items) => {
                let i: usize = t
                    .parse()
                    .map_err(|_| format!("`{t}` is not an array index"))?;
                items
                    .get_mut(i)
                    .ok_or_else(|| format!("index {i} is past the end of the array"))?
            }
            _ => {
                return Err(format!(
                    "`{t}` cannot be reached: its parent is not an object or array"
                ))
            }
        };
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), v);
            Ok(())
        }
        Value::Array(items) if last == "-" => {
            items.push(v);
            Ok(())
        }
        Value::Array(items) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("`{last}` is not an array index"))?;
            let slot = items
                .get_mut(i)
                .ok_or_else(|| format!("index {i} is past the end of the array"))?;
            *slot = v;
            Ok(())
        }
        _ => Err("the target's parent is not an object or array".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn path_styles_follow_the_openapi_table() {
        // The examples of the OpenAPI 3 style table (id = 5, [3, 4, 5], {R: 100, G: 200}).
        let prim = json!(5);
        let arr = json!([3, 4, 5]);
        let obj = json!({"R": 100, "G": 200});
        let cases = [
            ("simple", false, &prim, "5"),
            ("simple", false, &arr, "3,4,5"),
            ("simple", true, &obj, "R=100,G=200"),
            ("simple", false, &obj, "R,100,G,200"),
            ("label", false, &prim, ".5"),
            ("label", false, &arr, ".3,4,5"),
            ("label", true, &arr, ".3.4.5"),
            ("label", false, &obj, ".R,100,G,200"),
            ("label", true, &obj, ".R=100.G=200"),
            ("matrix", false, &prim, ";id=5"),
            ("matrix", false, &arr, ";id=3,4,5"),
            ("matrix", true, &arr, ";id=3;id=4;id=5"),
            ("matrix", false, &obj, ";id=R,100,G,200"),
            ("matrix", true, &obj, ";R=100;G=200"),
        ];
        for (style, explode, value, want) in cases {
            assert_eq!(
                path_style("id", value, style, explode),
                want,
                "{style} {explode} {value}"
            );
        }
        assert_eq!(path_style("id", &json!(""), "matrix", false), ";id");
        assert_eq!(path_style("id", &json!("a/b"), "label", false), ".a%2Fb");
    }

    #[test]
    fn styles() {
        assert_eq!(simple_style(&json!("a b/c"), false, COMPONENT), "a%20b%2Fc");
        assert_eq!(simple_style(&json!(["a", 1]), false, COMPONENT), "a,1");
        assert_eq!(
            query_pairs("t", &json!(["a", "b c"]), "form", true, COMPONENT),
            vec!["t=a", "t=b%20c"]
        );
        assert_eq!(
            query_pairs("t", &json!(["a", "b"]), "form", false, COMPONENT),
            vec!["t=a,b"]
        );
        assert_eq!(
            query_pairs("f", &json!({"x": 1}), "deepObject", true, COMPONENT),
            vec!["f%5Bx%5D=1"]
        );
    }

    #[test]
    fn dot_segments_in_any_encoding() {
        for seg in [".", "..", "%2e", "%2E%2e", ".%2E", "%252e%252E", "%25252e"] {
            assert!(is_dot_segment(seg), "{seg}");
        }
        for seg in ["...", "a..", "%2e%2e%2e", "", ".a", "%2f.."] {
            assert!(!is_dot_segment(seg), "{seg}");
        }
    }

    #[test]
    fn pointer_set() {
        let mut v = json!({"a": [1, 2]});
        set_pointer(&mut v, &["a".into(), "1".into()], json!(9)).unwrap();
        set_pointer(&mut v, &["b".into(), "c".into()], json!(true)).unwrap();
        assert_eq!(v, json!({"a": [1, 9], "b": {"c": true}}));
        assert!(set_pointer(&mut v, &["a".into(), "5".into()], json!(0)).is_err());
    }
}
