//! AsyncAPI servers: where a channel's broker is, in which protocol, and which
//! security schemes it asks for. 3.0 writes `host` (+ `pathname`) and `protocol`;
//! 2.x writes `url` (with or without a scheme) and `protocol`; both may hold
//! `{variables}` whose `default` fills them.

use serde_json::Value;

use super::{AsyncApi, Version};

/// One server of a description.
#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    /// As written (`mqtt`, `amqp`, `kafka-secure`, …).
    pub protocol: String,
    pub protocol_version: Option<String>,
    /// `protocol://host[:port][/path]` with the variables' defaults put in, or why it
    /// cannot be made.
    pub url: Result<String, ServerVariableError>,
    /// The names of the security schemes it asks for (any one of them).
    pub security: Vec<String>,
    pub bindings: Option<Value>,
}

/// A server variable without a default: the URL cannot be made without `--server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVariableError(pub String);

impl Server {
    pub(super) fn read(
        api: &AsyncApi,
        name: &str,
        s: &Value,
        version: Version,
    ) -> Result<Server, String> {
        let protocol = s
            .get("protocol")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the server `{name}` has no `protocol`"))?
            .to_string();
        let written = match version {
            Version::V3 => {
                let host = s
                    .get("host")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("the server `{name}` has no `host`"))?;
                let path = s.get("pathname").and_then(Value::as_str).unwrap_or("");
                format!("{protocol}://{host}{path}")
            }
            Version::V2 => {
                let url = s
                    .get("url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("the server `{name}` has no `url`"))?;
                if url.contains("://") {
                    url.to_string()
                } else {
                    format!("{protocol}://{url}")
                }
            }
        };
        let url = fill_variables(&written, s.get("variables"), api).map_err(|v| {
            ServerVariableError(format!(
                "the server `{name}` has a variable `{v}` with no `default`"
            ))
        });
        Ok(Server {
            name: name.to_string(),
            protocol_version: s
                .get("protocolVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            security: security_names(s.get("security"), version),
            bindings: s.get("bindings").cloned(),
            protocol,
            url,
        })
    }
}

/// `text` with each `{name}` replaced by the variable's `default`; `Err` names a
/// variable that has none.
fn fill_variables(text: &str, vars: Option<&Value>, api: &AsyncApi) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + len];
        let var = vars
            .and_then(|v| v.get(name))
            .and_then(|v| api.resolve(v).ok());
        let default = var
            .and_then(|v| v.get("default"))
            .and_then(|d| {
                d.as_str()
                    .map(str::to_string)
                    .or_else(|| d.as_u64().map(|n| n.to_string()))
            })
            .ok_or_else(|| name.to_string())?;
        out.push_str(&rest[..open]);
        out.push_str(&default);
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// 3.0: a list of Security Scheme `$ref`s; 2.x: a list of `{name: [scopes]}`.
fn security_names(list: Option<&Value>, version: Version) -> Vec<String> {
    let Some(list) = list.and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for entry in list {
        match version {
            Version::V3 => {
                if let Some(r) = entry.get("$ref").and_then(Value::as_str) {
                    names.extend(
                        r.rsplit('/')
                            .next()
                            .map(|n| n.replace("~1", "/").replace("~0", "~")),
                    );
                }
            }
            Version::V2 => {
                if let Some(map) = entry.as_object() {
                    names.extend(map.keys().cloned());
                }
            }
        }
    }
    names
}
