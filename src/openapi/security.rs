//! Security Scheme Objects (`components.securitySchemes`) and Security
//! Requirement Objects (`security`), read into types the run can act on: what
//! a scheme sends, where, and, for OAuth 2.0, where its tokens come from.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::ParamIn;

/// The credential fields, one set of names everywhere: the environment
/// (`ARAZZO_AUTH_<SOURCE>_<SCHEME>_<FIELD>`), `--auth-file` and `x-security`.
pub const FIELDS: [&str; 11] = [
    "apiKey",
    "username",
    "password",
    "token",
    "clientId",
    "clientSecret",
    "scopes",
    "accessToken",
    "refreshToken",
    "clientCert",
    "clientKey",
];

/// Whether a field's value is a secret (masked in every output). A client
/// id, a user name, scopes and file paths are not.
pub fn secret_field(field: &str) -> bool {
    matches!(
        field,
        "apiKey" | "password" | "token" | "clientSecret" | "accessToken" | "refreshToken"
    )
}

/// One security scheme, as far as `arazzo` can act on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scheme {
    /// An API key in a header, query parameter or cookie.
    ApiKey { location: ParamIn, name: String },
    /// HTTP authentication: `basic`, `bearer`, or another scheme (kept
    /// lower-case) that `arazzo` cannot produce, such as `digest`.
    Http { scheme: String },
    /// OAuth 2.0 with its flows.
    OAuth2 { flows: Box<Flows> },
    /// OpenID Connect: the discovery document names the token endpoint.
    OpenIdConnect { url: String },
    /// A client certificate presented in the TLS handshake.
    MutualTls,
    /// A `type` this version of OpenAPI does not define.
    Unknown { kind: String },
    /// A scheme that cannot be read, and why.
    Invalid { why: String },
}

/// The OAuth 2.0 flows a scheme declares (OpenAPI's OAuth Flows Object).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flows {
    pub client_credentials: Option<Flow>,
    pub password: Option<Flow>,
    pub authorization_code: Option<Flow>,
    pub implicit: Option<Flow>,
    /// OpenAPI 3.2's device authorization flow.
    pub device_authorization: Option<Flow>,
}

/// One OAuth 2.0 flow: where tokens come from and the scopes it offers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flow {
    pub token_url: Option<String>,
    pub refresh_url: Option<String>,
    pub scopes: Vec<String>,
}

impl Flows {
    /// The first flow that names a token URL, for refreshing a token
    /// supplied directly: the flows `arazzo` runs first.
    pub fn any_token_url(&self) -> Option<&str> {
        [
            &self.client_credentials,
            &self.password,
            &self.authorization_code,
            &self.device_authorization,
        ]
        .into_iter()
        .flatten()
        .find_map(|f| f.refresh_url.as_deref().or(f.token_url.as_deref()))
    }
}

impl Scheme {
    /// Reads a (resolved) Security Scheme Object; `Err` says what is wrong.
    pub fn parse(v: &Value) -> Result<Scheme, String> {
        let obj = v.as_object().ok_or("a security scheme must be an object")?;
        let kind = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or("a security scheme needs a `type`")?;
        match kind {
            "apiKey" => {
                let name = str_field(obj, "name")
                    .ok_or("an apiKey scheme needs the `name` of its parameter")?;
                let location = match str_field(obj, "in") {
                    Some("header") => ParamIn::Header,
                    Some("query") => ParamIn::Query,
                    Some("cookie") => ParamIn::Cookie,
                    _ => return Err("an apiKey scheme needs `in`: header, query or cookie".into()),
                };
                // A header or cookie name is an HTTP token (RFC 9110 §5.6.2):
                // anything else would break the request or add to it.
                let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
                if name.is_empty() || (location != ParamIn::Query && !name.chars().all(token)) {
                    return Err(format!(
                        "the apiKey name `{}` cannot be sent as a {}: use letters, digits and !#$%&'*+-.^_`|~",
                        name.escape_debug(),
                        location.as_str()
                    ));
                }
                Ok(Scheme::ApiKey {
                    location,
                    name: name.to_string(),
                })
            }
            "http" => {
                let scheme = str_field(obj, "scheme")
                    .ok_or("an http scheme needs `scheme` (basic or bearer)")?;
                Ok(Scheme::Http {
                    scheme: scheme.to_ascii_lowercase(),
                })
            }
            "oauth2" => Ok(Scheme::OAuth2 {
                flows: Box::new(parse_flows(obj.get("flows"))?),
            }),
            "openIdConnect" => {
                let url = str_field(obj, "openIdConnectUrl")
                    .ok_or("an openIdConnect scheme needs `openIdConnectUrl`")?;
                Ok(Scheme::OpenIdConnect {
                    url: url.to_string(),
                })
            }
            "mutualTLS" => Ok(Scheme::MutualTls),
            other => Ok(Scheme::Unknown {
                kind: other.to_string(),
            }),
        }
    }

    /// The scheme's type as OpenAPI spells it, with the HTTP scheme:
    /// `apiKey (header X-Key)`, `http bearer`, `oauth2`.
    pub fn describe(&self) -> String {
        match self {
            Scheme::ApiKey { location, name } => format!("apiKey ({} {name})", location.as_str()),
            Scheme::Http { scheme } => format!("http {scheme}"),
            Scheme::OAuth2 { .. } => "oauth2".into(),
            Scheme::OpenIdConnect { .. } => "openIdConnect".into(),
            Scheme::MutualTls => "mutualTLS".into(),
            Scheme::Unknown { kind } => kind.clone(),
            Scheme::Invalid { .. } => "unreadable".into(),
        }
    }
}

fn str_field<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v str> {
    obj.get(name).and_then(Value::as_str)
}

fn parse_flows(v: Option<&Value>) -> Result<Flows, String> {
    let Some(obj) = v.and_then(Value::as_object) else {
        return Err("an oauth2 scheme needs `flows`".into());
    };
    let flow = |name: &str| -> Option<Flow> {
        let f = obj.get(name)?.as_object()?;
        Some(Flow {
            token_url: str_field(f, "tokenUrl").map(str::to_string),
            refresh_url: str_field(f, "refreshUrl").map(str::to_string),
            scopes: f
                .get("scopes")
                .and_then(Value::as_object)
                .map(|s| s.keys().cloned().collect())
                .unwrap_or_default(),
        })
    };
    Ok(Flows {
        client_credentials: flow("clientCredentials"),
        password: flow("password"),
        authorization_code: flow("authorizationCode"),
        implicit: flow("implicit"),
        device_authorization: flow("deviceAuthorization"),
    })
}

/// A description's security schemes by name; `Err` names the first that
/// cannot be read.
pub type Schemes = BTreeMap<String, Arc<Scheme>>;

/// One alternative of a `security` list: every scheme named must be
/// satisfied, each with the scopes listed. An empty alternative (`{}`)
/// means no credentials are needed.
pub type Alternative = Vec<(String, Vec<String>)>;

/// Reads a `security` list (operation or description level). Anything that
/// is not a list of objects of string lists reads as no requirement.
pub fn parse_requirements(v: &Value) -> Vec<Alternative> {
    let Some(list) = v.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(Value::as_object)
        .map(|alt| {
            alt.iter()
                .map(|(name, scopes)| {
                    let scopes = scopes
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    (name.clone(), scopes)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schemes_read() {
        let k = Scheme::parse(&json!({"type": "apiKey", "in": "query", "name": "key"})).unwrap();
        assert_eq!(
            k,
            Scheme::ApiKey {
                location: ParamIn::Query,
                name: "key".into()
            }
        );
        let o = Scheme::parse(&json!({"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://a/token", "scopes": {"read": "", "write": ""}}}})).unwrap();
        let Scheme::OAuth2 { flows } = o else {
            panic!()
        };
        let cc = flows.client_credentials.unwrap();
        assert_eq!(cc.token_url.as_deref(), Some("https://a/token"));
        assert_eq!(cc.scopes, vec!["read", "write"]);
        assert!(Scheme::parse(&json!({"type": "apiKey", "in": "body", "name": "k"})).is_err());
        assert!(Scheme::parse(&json!({"type": "oauth2"})).is_err());
    }

    #[test]
    fn requirements_read() {
        let r = parse_requirements(&json!([{"a": [], "b": ["read"]}, {}]));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0][1], ("b".to_string(), vec!["read".to_string()]));
        assert!(r[1].is_empty());
    }
}
