//! An index over an OpenAPI 3.0, 3.1 or 3.2 description, read straight from its
//! JSON tree. Building a typed model of every schema is unnecessary (and costly on a
//! 2 MB description): a run needs only the operations it calls, which are resolved
//! on demand, `$ref`s included.

pub mod bundle;
pub mod security;
mod tree;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use url::Url;

pub use tree::Lazy;
use tree::Tree;

/// The Path Item fields that hold an operation, one per HTTP method (`query`
/// is OpenAPI 3.2's; it is read in any 3.x description that writes it).
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace", "query",
];

/// The Path Item fields that map other HTTP methods, written as they are sent
/// (`COPY`, `PURGE`), to operations: OpenAPI 3.2's `additionalOperations`, and
/// the extension that carries it in 3.0 and 3.1 descriptions.
pub const ADDITIONAL: &[&str] = &["additionalOperations", "x-oai-additionalOperations"];

/// The operations of a path item (`$ref` not followed): each with its method
/// as the index keeps it, the fixed field's name (`get`) or the
/// `additionalOperations` key as written (`COPY`).
pub(crate) fn item_operations(item: &Value) -> Vec<(String, &Value)> {
    let mut out: Vec<(String, &Value)> = METHODS
        .iter()
        .filter_map(|m| item.get(*m).map(|op| (m.to_string(), op)))
        .collect();
    for field in ADDITIONAL {
        for (m, op) in item
            .get(*field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            out.push((m.clone(), op));
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    #[error("{0}")]
    Invalid(String),
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ParamIn {
    Path,
    Query,
    Header,
    Cookie,
    /// OpenAPI 3.2: the whole query string as one value, in the media type of
    /// the parameter's `content`.
    Querystring,
}

impl ParamIn {
    pub fn parse(s: &str) -> Option<ParamIn> {
        Some(match s {
            "path" => ParamIn::Path,
            "query" => ParamIn::Query,
            "header" => ParamIn::Header,
            "cookie" => ParamIn::Cookie,
            "querystring" => ParamIn::Querystring,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ParamIn::Path => "path",
            ParamIn::Query => "query",
            ParamIn::Header => "header",
            ParamIn::Cookie => "cookie",
            ParamIn::Querystring => "querystring",
        }
    }
}

/// An OpenAPI Parameter Object, `$ref` resolved.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    pub name: String,
    pub location: ParamIn,
    pub required: bool,
    pub schema: Option<Value>,
    pub style: Option<String>,
    pub explode: Option<bool>,
    pub allow_reserved: bool,
    /// The media type of the parameter's `content` (its first, for OpenAPI
    /// allows exactly one), lower-case: how an `in: querystring` value is
    /// written.
    pub media_type: Option<String>,
    /// The schema of that media type, `$ref` resolved.
    pub content_schema: Option<Value>,
}

/// How an `in: querystring` value is written, by the media type of the
/// operation's querystring parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryMedia {
    /// The operation declares no querystring parameter (or one without
    /// `content`): a string is sent as the query string it is.
    Unknown,
    /// `application/x-www-form-urlencoded`: `k=v&k2=v2`.
    Form,
    /// `application/json` (or `+json`): the JSON text, percent-encoded.
    Json,
    /// Any other media type: the text, percent-encoded.
    Other,
}

impl QueryMedia {
    /// The media of a querystring parameter as the operation declares it.
    pub fn of(spec: Option<&ParamSpec>) -> QueryMedia {
        let Some(mt) = spec.and_then(|s| s.media_type.as_deref()) else {
            return QueryMedia::Unknown;
        };
        let mt = mt.split(';').next().unwrap_or("").trim();
        if mt == "application/x-www-form-urlencoded" {
            QueryMedia::Form
        } else if mt == "application/json" || mt.ends_with("+json") {
            QueryMedia::Json
        } else {
            QueryMedia::Other
        }
    }
}

/// One operation with everything a request needs.
#[derive(Debug, Clone)]
pub struct Operation {
    pub operation_id: Option<String>,
    /// The HTTP method as sent: upper-case for a fixed Path Item field
    /// (`GET`, `QUERY`), as written for an `additionalOperations` key (`COPY`).
    pub method: String,
    pub path: String,
    pub parameters: Vec<ParamSpec>,
    /// The resolved Request Body Object, if any.
    pub request_body: Option<Value>,
    /// Responses by status code (`"201"`, `"4XX"`, `"default"`), resolved.
    pub responses: Map<String, Value>,
    /// Effective server URLs: operation, then path item, then document level.
    pub servers: Vec<String>,
    /// The security alternatives that apply: the operation's `security`, else
    /// the description's (empty: none required).
    pub security: Vec<security::Alternative>,
}

impl Operation {
    /// The schema of the request body for `content_type` (default
    /// `application/json`): the exact media type, else a `type/*` range that
    /// covers it, else `*/*`.
    pub fn body_schema(&self, content_type: Option<&str>) -> Option<&Value> {
        let content = self.request_body.as_ref()?.get("content")?.as_object()?;
        let wanted = content_type
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_else(|| "application/json".into());
        let media = content
            .iter()
            .find(|(k, _)| k.to_ascii_lowercase() == wanted)
            .or_else(|| {
                content
                    .iter()
                    .find(|(k, _)| k.ends_with("/*") && wanted.starts_with(k.trim_end_matches('*')))
            })
            .or_else(|| content.iter().find(|(k, _)| k.as_str() == "*/*"))?;
        media.1.get("schema")
    }

    /// The media types the operation's request body accepts, in document order.
    pub fn request_media_types(&self) -> Vec<&str> {
        self.request_body
            .as_ref()
            .and_then(|b| b.get("content"))
            .and_then(Value::as_object)
            .map(|c| c.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The operation's `in: querystring` parameter (OpenAPI 3.2), if any.
    pub fn querystring(&self) -> Option<&ParamSpec> {
        self.parameters
            .iter()
            .find(|p| p.location == ParamIn::Querystring)
    }

    /// The parameter `name` in `location`. An operation has at most one
    /// `querystring` parameter: a step's, whatever its name, is that one.
    pub fn param(&self, name: &str, location: ParamIn) -> Option<&ParamSpec> {
        if location == ParamIn::Querystring {
            return self.querystring();
        }
        self.parameters.iter().find(|p| {
            p.location == location
                && if location == ParamIn::Header {
                    p.name.eq_ignore_ascii_case(name)
                } else {
                    p.name == name
                }
        })
    }
}

/// The operation of a (resolved) path item for `method`, with the method to
/// send: a fixed field (`get`, or `GET` in any case) upper-cased, else an
/// `additionalOperations` key exactly as written.
fn path_item_operation<'v>(item: &'v Value, method: &str) -> Option<(&'v Value, String)> {
    let fixed = |m: &str| {
        METHODS
            .iter()
            .find(|f| **f == m)
            .and_then(|f| item.get(*f))
            .map(|op| (op, m.to_ascii_uppercase()))
    };
    let additional = || {
        ADDITIONAL
            .iter()
            .find_map(|field| item.get(*field)?.get(method))
            .map(|op| (op, method.to_string()))
    };
    fixed(method)
        .or_else(additional)
        .or_else(|| fixed(&method.to_ascii_lowercase()))
}

/// Whether a parameter's name alone says it carries a credential (whatever the
/// description's security schemes say): `Authorization`, API keys, access
/// tokens, passwords, client secrets.
pub fn credential_name(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    matches!(
        n.as_str(),
        "authorization"
            | "proxyauthorization"
            | "apikey"
            | "xapikey"
            | "apitoken"
            | "xapitoken"
            | "accesstoken"
            | "xaccesstoken"
            | "xauthtoken"
            | "authtoken"
            | "password"
            | "clientsecret"
            | "secret"
            | "xsecret"
    )
}

/// A credential-carrying parameter named by a security scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretParam {
    pub location: ParamIn,
    /// Lower-case for headers.
    pub name: String,
}

/// A loaded OpenAPI description.
#[derive(Debug)]
pub struct OpenApi {
    pub url: Url,
    pub version: String,
    doc: Tree,
    /// operationId → (path template, method: a fixed field's lower-case name or
    /// an `additionalOperations` key), built on first use: a run finds its few
    /// operations without it.
    by_id: OnceLock<HashMap<String, (String, String)>>,
    /// operationIds that name more than one operation, with every (path, method).
    duplicates: OnceLock<Vec<SharedId>>,
    /// What a later stage derives from the description and keeps with it,
    /// so that it is built once per description: the JSON Schema checkers of
    /// `crate::schema`. Typed `Any` because that stage sits above this one.
    pub(crate) derived: OnceLock<Box<dyn std::any::Any + Send + Sync>>,
    /// The security schemes, read on first use.
    schemes: OnceLock<Result<std::sync::Arc<security::Schemes>, String>>,
}

/// An operationId and the operations (path template, method) that share it.
pub type SharedId = (String, Vec<(String, String)>);

impl OpenApi {
    /// An index over a description parsed whole (YAML, or built in memory).
    pub fn from_value(url: Url, doc: Value) -> Result<OpenApi, OpenApiError> {
        OpenApi::new(url, Tree::Full(doc))
    }

    /// An index over a JSON description read lazily: only the operations and
    /// components a caller asks for are ever parsed into trees.
    pub fn from_lazy(url: Url, doc: Lazy) -> Result<OpenApi, OpenApiError> {
        OpenApi::new(url, Tree::Lazy(Box::new(doc)))
    }

    fn new(url: Url, doc: Tree) -> Result<OpenApi, OpenApiError> {
        let version = match doc.top("openapi").and_then(Value::as_str) {
            Some(v) if v.starts_with("3.") => v.to_string(),
            Some(v) => {
                return Err(OpenApiError::Invalid(format!(
                    "OpenAPI version `{v}` is not supported: arazzo reads OpenAPI 3.0, 3.1 and 3.2"
                )))
            }
            None if doc.top("swagger").is_some() => {
                return Err(OpenApiError::Invalid(
                    "this is a Swagger 2.0 description; arazzo reads OpenAPI 3.0, 3.1 and 3.2 (convert it first, e.g. with swagger2openapi)".into(),
                ))
            }
            None => {
                return Err(OpenApiError::Invalid(
                    "not an OpenAPI description: the `openapi` field is missing".into(),
                ))
            }
        };
        Ok(OpenApi {
            url,
            version,
            doc,
            by_id: OnceLock::new(),
            duplicates: OnceLock::new(),
            derived: OnceLock::new(),
            schemes: OnceLock::new(),
        })
    }

    fn index(&self) -> &HashMap<String, (String, String)> {
        self.by_id.get_or_init(|| {
            let mut by_id = HashMap::new();
            for (id, path, method) in self.doc.operation_ids() {
                // Of two operations with one operationId, the first counts.
                by_id.entry(id).or_insert((path, method));
            }
            by_id
        })
    }

    /// operationIds that two or more operations share (an OpenAPI description
    /// must not have any), in document order, each with its operations. A
    /// description read lazily is parsed whole only when its text writes some
    /// operationId twice.
    pub fn duplicate_operation_ids(&self) -> &[SharedId] {
        self.duplicates.get_or_init(|| {
            if !self.doc.may_repeat_operation_ids() {
                return Vec::new();
            }
            let mut out: Vec<SharedId> = Vec::new();
            for (id, path, method) in self.doc.operation_ids() {
                match out.iter_mut().find(|(i, _)| *i == id) {
                    Some((_, ops)) => ops.push((path, method)),
                    None => out.push((id, vec![(path, method)])),
                }
            }
            out.retain(|(_, ops)| ops.len() > 1);
            out
        })
    }

    /// The operations that share `id`, when more than one does.
    pub fn operations_sharing(&self, id: &str) -> Option<&[(String, String)]> {
        self.duplicate_operation_ids()
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, ops)| ops.as_slice())
    }

    pub fn operation_ids(&self) -> impl Iterator<Item = &str> {
        self.index().keys().map(String::as_str)
    }

    /// Where the operation with this operationId is: path template and method.
    fn locate(&self, id: &str) -> Option<(String, String)> {
        match self.doc.find_operation(id) {
            Ok(found) => found,
            Err(()) => self.index().get(id).cloned(),
        }
    }

    pub fn has_operation(&self, id: &str) -> bool {
        self.locate(id).is_some()
    }

    /// Resolves an operation by operationId.
    pub fn operation(&self, id: &str) -> Result<Option<Operation>, OpenApiError> {
        match self.locate(id) {
            Some((path, method)) => self.operation_at(&path, &method).map(Some),
            None => Ok(None),
        }
    }

    /// Resolves the operation at a path template and method: a fixed field's
    /// name (`get`, `query`, in any case), or a key of the path item's
    /// `additionalOperations` (`COPY`, exactly as written there).
    pub fn operation_at(&self, path: &str, method: &str) -> Result<Operation, OpenApiError> {
        let item = self
            .doc
            .path_item(path)?
            .ok_or_else(|| OpenApiError::Invalid(format!("no path `{path}` in the description")))?;
        let item = self.resolve(item)?;
        let (op, method) = path_item_operation(item, method).ok_or_else(|| {
            OpenApiError::Invalid(format!("path `{path}` has no `{method}` operation"))
        })?;
        let op = self.resolve(op)?;

        let mut parameters: Vec<ParamSpec> = Vec::new();
        for list in [item.get("parameters"), op.get("parameters")]
            .into_iter()
            .flatten()
        {
            for p in list.as_array().into_iter().flatten() {
                let spec = self.param_spec(p)?;
                // Operation-level parameters override path-level ones (same name and in).
                parameters.retain(|q| !(q.name == spec.name && q.location == spec.location));
                parameters.push(spec);
            }
        }

        let request_body = match op.get("requestBody") {
            Some(b) => Some(self.resolve(b)?.clone()),
            None => None,
        };
        let mut responses = Map::new();
        if let Some(r) = op.get("responses").and_then(Value::as_object) {
            for (code, resp) in r {
                responses.insert(code.clone(), self.resolve(resp)?.clone());
            }
        }
        let servers = [
            op.get("servers"),
            item.get("servers"),
            self.doc.top("servers"),
        ]
        .into_iter()
        .flatten()
        .find(|s| s.as_array().is_some_and(|a| !a.is_empty()))
        .map(|s| self.server_urls(s))
        .unwrap_or_default();
        let security = op
            .get("security")
            .or_else(|| self.doc.top("security"))
            .map(security::parse_requirements)
            .unwrap_or_default();
        Ok(Operation {
            security,
            operation_id: op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_string),
            method,
            path: path.to_string(),
            parameters,
            request_body,
            responses,
            servers,
        })
    }

    fn param_spec(&self, p: &Value) -> Result<ParamSpec, OpenApiError> {
        let p = self.resolve(p)?;
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| OpenApiError::Invalid("a parameter has no `name`".into()))?;
        let location = p
            .get("in")
            .and_then(Value::as_str)
            .and_then(ParamIn::parse)
            .ok_or_else(|| {
                OpenApiError::Invalid(format!("parameter `{name}` has no valid `in`"))
            })?;
        let schema = match p.get("schema") {
            Some(s) => Some(self.resolve(s)?.clone()),
            None => None,
        };
        let content = p
            .get("content")
            .and_then(Value::as_object)
            .and_then(|c| c.iter().next());
        let content_schema = match content.and_then(|(_, m)| self.resolve(m).ok()?.get("schema")) {
            Some(s) => Some(self.resolve(s)?.clone()),
            None => None,
        };
        Ok(ParamSpec {
            name: name.to_string(),
            location,
            required: location == ParamIn::Path
                || p.get("required").and_then(Value::as_bool).unwrap_or(false),
            schema,
            style: p.get("style").and_then(Value::as_str).map(str::to_string),
            explode: p.get("explode").and_then(Value::as_bool),
            allow_reserved: p
                .get("allowReserved")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            media_type: content.map(|(k, _)| k.to_ascii_lowercase()),
            content_schema,
        })
    }

    /// Server URLs with variables set to their defaults, resolved against the
    /// description's own URL when relative.
    fn server_urls(&self, servers: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for s in servers.as_array().into_iter().flatten() {
            let Some(mut url) = s.get("url").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            if let Some(vars) = s.get("variables").and_then(Value::as_object) {
                for (k, v) in vars {
                    if let Some(d) = v.get("default").and_then(Value::as_str) {
                        url = url.replace(&format!("{{{k}}}"), d);
                    }
                }
            }
            if Url::parse(&url).is_err() {
                if let Ok(joined) = self.url.join(&url) {
                    url = joined.to_string();
                }
            }
            out.push(url);
        }
        out
    }

    /// The parameters that carry credentials: every apiKey scheme's parameter, and
    /// the Authorization header for http, oauth2 and openIdConnect schemes. A
    /// scheme that cannot be read is an error: the parameter it names would
    /// otherwise not be known as a secret.
    pub fn secret_params(&self) -> Result<Vec<SecretParam>, OpenApiError> {
        let mut out = Vec::new();
        let schemes = match self.doc.pointer("/components/securitySchemes")? {
            Some(v) => v,
            None => return Ok(out),
        };
        let Some(schemes) = schemes.as_object() else {
            return Ok(out);
        };
        for (name, scheme) in schemes {
            let scheme = self.resolve(scheme).map_err(|e| {
                OpenApiError::Invalid(format!("security scheme `{name}` cannot be read: {e}"))
            })?;
            match scheme.get("type").and_then(Value::as_str) {
                Some("apiKey") => {
                    let loc = scheme
                        .get("in")
                        .and_then(Value::as_str)
                        .and_then(ParamIn::parse);
                    if let (Some(location), Some(name)) =
                        (loc, scheme.get("name").and_then(Value::as_str))
                    {
                        let name = if location == ParamIn::Header {
                            name.to_ascii_lowercase()
                        } else {
                            name.to_string()
                        };
                        out.push(SecretParam { location, name });
                    }
                }
                Some("http" | "oauth2" | "openIdConnect") => out.push(SecretParam {
                    location: ParamIn::Header,
                    name: "authorization".into(),
                }),
                _ => {}
            }
        }
        Ok(out)
    }

    /// The description's security schemes by name, read once; `Err` names
    /// the first that cannot be read and why.
    pub fn security_schemes(&self) -> Result<std::sync::Arc<security::Schemes>, String> {
        self.schemes
            .get_or_init(|| {
                let mut out = security::Schemes::new();
                let schemes = self
                    .doc
                    .pointer("/components/securitySchemes")
                    .map_err(|e| e.to_string())?;
                let Some(schemes) = schemes.and_then(Value::as_object) else {
                    return Ok(std::sync::Arc::new(out));
                };
                for (name, scheme) in schemes {
                    // One unreadable scheme leaves the others usable.
                    let parsed = self
                        .resolve(scheme)
                        .map_err(|e| e.to_string())
                        .and_then(security::Scheme::parse)
                        .unwrap_or_else(|why| security::Scheme::Invalid { why });
                    out.insert(name.clone(), std::sync::Arc::new(parsed));
                }
                Ok(std::sync::Arc::new(out))
            })
            .clone()
    }

    /// Follows `$ref` chains inside this document.
    pub fn resolve<'a>(&'a self, v: &'a Value) -> Result<&'a Value, OpenApiError> {
        self.doc.resolve(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api() -> OpenApi {
        OpenApi::from_value(
            Url::parse("file:///tmp/api.json").unwrap(),
            json!({
                "openapi": "3.1.0",
                "servers": [{"url": "https://{region}.example.com/v1", "variables": {"region": {"default": "eu"}}}],
                "paths": {
                    "/things/{id}": {
                        "parameters": [{"$ref": "#/components/parameters/id"}, {"name": "q", "in": "query"}],
                        "get": {"operationId": "getThing", "parameters": [{"name": "q", "in": "query", "required": true}],
                                "responses": {"200": {"$ref": "#/components/responses/ok"}}},
                        "delete": {"operationId": "deleteThing", "servers": [{"url": "/rel"}]}
                    }
                },
                "components": {
                    "parameters": {"id": {"name": "id", "in": "path", "schema": {"type": "string"}}},
                    "responses": {"ok": {"description": "ok"}},
                    "securitySchemes": {"k": {"type": "apiKey", "in": "header", "name": "X-Key"}, "b": {"type": "http", "scheme": "bearer"}}
                }
            }),
        )
        .unwrap()
    }

    #[test]
    fn resolves_operations_with_refs_and_overrides() {
        let a = api();
        let op = a.operation("getThing").unwrap().unwrap();
        assert_eq!(op.method, "GET");
        assert_eq!(op.path, "/things/{id}");
        assert_eq!(op.parameters.len(), 2);
        assert!(op.param("q", ParamIn::Query).unwrap().required);
        assert!(op.param("id", ParamIn::Path).unwrap().required);
        assert_eq!(op.servers, vec!["https://eu.example.com/v1"]);
        assert_eq!(op.responses["200"]["description"], "ok");
        let del = a.operation("deleteThing").unwrap().unwrap();
        assert_eq!(del.servers, vec!["file:///rel"]);
        assert_eq!(
            a.secret_params().unwrap(),
            vec![
                SecretParam {
                    location: ParamIn::Header,
                    name: "x-key".into()
                },
                SecretParam {
                    location: ParamIn::Header,
                    name: "authorization".into()
                }
            ]
        );
    }

    #[test]
    fn openapi_32_methods_and_querystring_parameters() {
        let a = OpenApi::from_value(
            Url::parse("file:///tmp/api.json").unwrap(),
            json!({
                "openapi": "3.2.0",
                "paths": {"/d": {
                    "get": {"operationId": "getD", "parameters": [{"name": "qs", "in": "querystring",
                        "content": {"application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/q"}}}}]},
                    "query": {"operationId": "queryD"},
                    "additionalOperations": {"COPY": {"operationId": "copyD"}}
                }},
                "components": {"schemas": {"q": {"type": "object"}}}
            }),
        )
        .unwrap();
        assert_eq!(a.operation("queryD").unwrap().unwrap().method, "QUERY");
        assert_eq!(a.operation("copyD").unwrap().unwrap().method, "COPY");
        assert_eq!(a.operation_at("/d", "COPY").unwrap().method, "COPY");
        assert_eq!(a.operation_at("/d", "GET").unwrap().method, "GET");
        assert!(a.operation_at("/d", "copy").is_err());
        let get = a.operation("getD").unwrap().unwrap();
        let qs = get.param("anyName", ParamIn::Querystring).unwrap();
        assert_eq!(qs.name, "qs");
        assert_eq!(
            qs.media_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(qs.content_schema, Some(json!({"type": "object"})));
        assert_eq!(QueryMedia::of(Some(qs)), QueryMedia::Form);
        assert_eq!(QueryMedia::of(None), QueryMedia::Unknown);
    }

    #[test]
    fn rejects_swagger_and_bad_refs() {
        let u = Url::parse("file:///x").unwrap();
        assert!(OpenApi::from_value(u.clone(), json!({"swagger": "2.0"})).is_err());
        let doc = Tree::Full(json!({"a": {"$ref": "#/nope"}, "b": {"$ref": "other.yaml#/x"}}));
        assert!(doc.resolve(doc.top("a").unwrap()).is_err());
        assert!(doc
            .resolve(doc.top("b").unwrap())
            .unwrap_err()
            .to_string()
            .contains("another document"));
    }
}
