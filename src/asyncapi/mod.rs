//! AsyncAPI 2.6 and 3.0 descriptions (Arazzo 1.1 `type: asyncapi` sources): the
//! operations and channels message steps name, with the messages they carry (payload
//! and headers schemas, content type, where the correlation id lives), the servers
//! that host them and the bindings of each protocol. The description is kept as one
//! tree (external `$ref`s bundled in when it is loaded, as for OpenAPI); local `$ref`s
//! are followed here.

mod servers;

use serde_json::{Map, Value};
use url::Url;

pub use servers::{Server, ServerVariableError};

/// Most `$ref`s followed in a row before the chain is called a loop.
const MAX_REF_HOPS: usize = 64;

/// An AsyncAPI description.
#[derive(Debug)]
pub struct AsyncApi {
    pub url: Url,
    pub tree: Value,
    /// The payload schemas compiled so far, by JSON Pointer (each once per
    /// description, whatever the number of steps that send it).
    pub checkers: std::sync::Mutex<
        std::collections::HashMap<String, Option<std::sync::Arc<jsonschema::Validator>>>,
    >,
    /// The whole description as the one resource every payload schema's `$ref`s
    /// resolve in (built on first use).
    registry: std::sync::OnceLock<Option<jsonschema::Registry<'static>>>,
}

impl AsyncApi {
    pub fn new(url: Url, tree: Value) -> AsyncApi {
        AsyncApi {
            url,
            tree,
            checkers: Default::default(),
            registry: Default::default(),
        }
    }

    /// The schema at `pointer` compiled, with its `$ref`s (recursive ones too)
    /// resolved in the whole description; `None` when it does not compile.
    pub fn checker(&self, pointer: &str) -> Option<std::sync::Arc<jsonschema::Validator>> {
        let mut cache = self.checkers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(pointer) {
            return c.clone();
        }
        let registry = self
            .registry
            .get_or_init(|| {
                jsonschema::Registry::new()
                    .add(RESOURCE, self.tree.clone())
                    .ok()?
                    .prepare()
                    .ok()
            })
            .as_ref();
        let built = registry.and_then(|r| {
            let schema = serde_json::json!({"$ref": format!("{RESOURCE}#{pointer}")});
            jsonschema::options()
                .with_registry(r)
                .build(&schema)
                .ok()
                .map(std::sync::Arc::new)
        });
        cache.insert(pointer.to_string(), built.clone());
        built
    }
}

/// The URI the description is known by to the schema checker.
const RESOURCE: &str = "urn:arazzo:asyncapi";

/// The major version of a description (`asyncapi: 2.6.0` or `3.0.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2,
    V3,
}

/// What a message step names: an operation (by id), or a channel (by `channelPath`),
/// resolved to the channel, its messages and the servers that host it.
#[derive(Debug, Clone)]
pub struct MessageOp {
    /// The operation's id, when the step names an operation.
    pub id: Option<String>,
    /// Where the operation or channel is in the description (JSON Pointer).
    pub pointer: String,
    /// The description's own `action` for the operation (3.0 `send`/`receive`, 2.x
    /// `publish`/`subscribe`): the application's view, which a workflow talking to
    /// that application often reverses, so it is shown, never enforced.
    pub described_action: Option<String>,
    pub channel: Channel,
    /// The messages the operation may carry (all the channel's when it lists none).
    pub messages: Vec<MessageSpec>,
    /// The servers the channel is available on, in the description's order.
    pub servers: Vec<Server>,
    /// The operation's bindings (`bindings`, by protocol).
    pub operation_bindings: Option<Value>,
}

/// A channel: where messages go.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Its key in `channels` (for 2.x also its address).
    pub key: String,
    /// The address with its `{parameter}` placeholders, `None` when the description
    /// leaves it unknown (3.0 `address: null`).
    pub address: Option<String>,
    /// The parameters the address declares (3.0 `parameters`, 2.x `parameters`).
    pub parameters: Vec<String>,
    pub bindings: Option<Value>,
}

/// One message a channel carries.
#[derive(Debug, Clone)]
pub struct MessageSpec {
    /// Its name (key or `name`), for messages.
    pub name: String,
    pub pointer: String,
    pub content_type: Option<String>,
    /// The payload schema (a JSON Schema, local `$ref`s still in it).
    pub payload: Option<Value>,
    /// Where the payload schema is in the description (its `$ref`s followed).
    pub payload_pointer: Option<String>,
    pub headers: Option<Value>,
    pub correlation: Option<Correlation>,
    pub bindings: Option<Value>,
}

/// Where a message's correlation id is: `$message.header#/<ptr>` or
/// `$message.payload#/<ptr>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    pub in_header: bool,
    /// The JSON Pointer into the headers or the payload (`/orderId`).
    pub pointer: String,
    /// As the description writes it.
    pub location: String,
}

impl Correlation {
    /// Reads an AsyncAPI runtime expression `location`.
    pub fn parse(location: &str) -> Result<Correlation, String> {
        let (in_header, rest) = if let Some(r) = location.strip_prefix("$message.header") {
            (true, r)
        } else if let Some(r) = location.strip_prefix("$message.payload") {
            (false, r)
        } else {
            return Err(format!(
                "the correlation id location `{location}` is not `$message.header#/…` or `$message.payload#/…`"
            ));
        };
        let pointer = match rest.strip_prefix('#') {
            Some(p) if p.is_empty() || p.starts_with('/') => p.to_string(),
            _ if rest.is_empty() => String::new(),
            _ => {
                return Err(format!(
                    "the correlation id location `{location}` has no JSON Pointer after `#` (e.g. `$message.header#/correlationId`)"
                ))
            }
        };
        if in_header && pointer.is_empty() {
            return Err(format!(
                "the correlation id location `{location}` names no header: write `$message.header#/<name>`"
            ));
        }
        Ok(Correlation {
            in_header,
            pointer,
            location: location.to_string(),
        })
    }
}

impl AsyncApi {
    /// The description's major version; `Err` names what it says instead.
    pub fn version(&self) -> Result<Version, String> {
        match self.tree.get("asyncapi").and_then(Value::as_str) {
            Some(v) if v.starts_with("3.") => Ok(Version::V3),
            Some(v) if v.starts_with("2.") => Ok(Version::V2),
            Some(v) => Err(format!(
                "AsyncAPI `{v}` is not supported: message steps read AsyncAPI 2.x (2.6) and 3.0"
            )),
            None => Err("the description has no `asyncapi` version field".into()),
        }
    }

    /// Follows `$ref`s (local ones, and those bundling rewrote to local) from `v`.
    pub fn resolve<'a>(&'a self, mut v: &'a Value) -> Result<&'a Value, String> {
        for _ in 0..MAX_REF_HOPS {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return Ok(v);
            };
            v = self.pointer(r)?;
        }
        Err(format!(
            "`$ref`s lead to `$ref`s more than {MAX_REF_HOPS} times in a row (a loop?)"
        ))
    }

    /// Where `ptr` ends up once the `$ref`s at it are followed (as far as they go).
    fn final_pointer(&self, ptr: &str) -> String {
        let mut at = ptr.trim_start_matches('#').to_string();
        for _ in 0..MAX_REF_HOPS {
            match self
                .tree
                .pointer(&at)
                .and_then(|v| v.get("$ref"))
                .and_then(Value::as_str)
            {
                Some(r) if r.starts_with('#') => at = r.trim_start_matches('#').to_string(),
                _ => break,
            }
        }
        at
    }

    /// The value at a local reference `#/a/b` (or a bare JSON Pointer).
    pub fn pointer(&self, r: &str) -> Result<&Value, String> {
        let ptr = r.strip_prefix('#').unwrap_or(r);
        if !ptr.is_empty() && !ptr.starts_with('/') {
            return Err(format!(
                "`{r}` is not a reference into this description (`#/…`)"
            ));
        }
        self.tree
            .pointer(ptr)
            .ok_or_else(|| format!("`{r}` points at nothing in the description"))
    }

    /// The ids of every operation, for did-you-mean and listings.
    pub fn operation_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        if let Some(ops) = self.tree.get("operations").and_then(Value::as_object) {
            ids.extend(ops.keys().cloned());
        }
        for (_, c) in self.channels() {
            for k in ["publish", "subscribe"] {
                if let Some(id) = c.get(k).and_then(|o| o.get("operationId")) {
                    ids.extend(id.as_str().map(str::to_string));
                }
            }
        }
        ids
    }

    /// Whether the description defines the operation `id`.
    pub fn has_operation(&self, id: &str) -> bool {
        self.operation_ids().iter().any(|i| i == id)
    }

    fn channels(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.tree
            .get("channels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
    }

    /// The operation `id`: `Ok(None)` when there is none by that id.
    pub fn operation(&self, id: &str) -> Result<Option<MessageOp>, String> {
        if let Some(op) = self.tree.get("operations").and_then(|o| o.get(id)) {
            let pointer = format!("/operations/{}", escape(id));
            return self.v3_operation(Some(id), &pointer, op).map(Some);
        }
        for (key, channel) in self.channels() {
            for k in ["publish", "subscribe"] {
                let Some(op) = channel.get(k) else { continue };
                if op.get("operationId").and_then(Value::as_str) == Some(id) {
                    let pointer = format!("/channels/{}/{k}", escape(key));
                    return self.v2_operation(Some(id), &pointer, key, k).map(Some);
                }
            }
        }
        Ok(None)
    }

    /// What a `channelPath` pointer names: a channel (every message it carries), or
    /// an operation (3.0 `#/operations/x`, 2.x `#/channels/x/publish`).
    pub fn at_pointer(&self, pointer: &str) -> Result<MessageOp, String> {
        let ptr = pointer.strip_prefix('#').unwrap_or(pointer);
        let parts: Vec<String> = ptr.split('/').skip(1).map(unescape).collect();
        match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["channels", key] => self.channel_op(ptr, key),
            ["channels", key, k @ ("publish" | "subscribe")] => {
                self.v2_operation(None, ptr, key, k)
            }
            ["operations", id] => {
                let op = self.pointer(ptr)?;
                self.v3_operation(Some(id), ptr, op)
            }
            ["components", "channels", _] => self.channel_op(ptr, parts[2].as_str()),
            _ => Err(format!(
                "`#{ptr}` is not a channel (`#/channels/<name>`) or an operation (`#/operations/<id>`)"
            )),
        }
    }

    /// A whole channel, as a channelPath names it: every message of every operation.
    fn channel_op(&self, ptr: &str, key: &str) -> Result<MessageOp, String> {
        let channel = self.resolve(self.pointer(ptr)?)?;
        let mut messages = self.channel_messages(ptr, channel)?;
        if self.version()? == Version::V2 {
            for k in ["publish", "subscribe"] {
                if let Some(op) = channel.get(k) {
                    messages.extend(self.v2_messages(&format!("{ptr}/{k}"), op)?);
                }
            }
        }
        Ok(MessageOp {
            id: None,
            pointer: ptr.to_string(),
            described_action: None,
            channel: self.channel(key, channel)?,
            messages,
            servers: self.channel_servers(channel)?,
            operation_bindings: None,
        })
    }

    fn v3_operation(&self, id: Option<&str>, ptr: &str, op: &Value) -> Result<MessageOp, String> {
        let op = self.resolve(op)?;
        let channel_ref = op
            .get("channel")
            .ok_or_else(|| format!("the operation at `#{ptr}` names no `channel`"))?;
        let channel_ptr = channel_ref
            .get("$ref")
            .and_then(Value::as_str)
            .map(|r| r.trim_start_matches('#').to_string())
            .unwrap_or_else(|| format!("{ptr}/channel"));
        let channel = self.resolve(channel_ref)?;
        let key = channel_ptr
            .rsplit('/')
            .next()
            .map(unescape)
            .unwrap_or_default();
        let messages = match op.get("messages").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, m)| self.message(&format!("{ptr}/messages/{i}"), m))
                .collect::<Result<Vec<_>, _>>()?,
            None => self.channel_messages(&channel_ptr, channel)?,
        };
        Ok(MessageOp {
            id: id.map(str::to_string),
            pointer: ptr.to_string(),
            described_action: op.get("action").and_then(Value::as_str).map(str::to_string),
            channel: self.channel(&key, channel)?,
            messages,
            servers: self.channel_servers(channel)?,
            operation_bindings: op.get("bindings").map(|b| self.resolved(b)),
        })
    }

    fn v2_operation(
        &self,
        id: Option<&str>,
        ptr: &str,
        key: &str,
        which: &str,
    ) -> Result<MessageOp, String> {
        let channel = self.resolve(
            self.tree
                .get("channels")
                .and_then(|c| c.get(key))
                .ok_or_else(|| format!("no channel `{key}`"))?,
        )?;
        let op = self.resolve(
            channel
                .get(which)
                .ok_or_else(|| format!("the channel `{key}` has no `{which}`"))?,
        )?;
        Ok(MessageOp {
            id: id.map(str::to_string),
            pointer: ptr.to_string(),
            described_action: Some(which.to_string()),
            channel: self.channel(key, channel)?,
            messages: self.v2_messages(ptr, op)?,
            servers: self.channel_servers(channel)?,
            operation_bindings: op.get("bindings").map(|b| self.resolved(b)),
        })
    }

    /// A 2.x operation's `message`: one, or `oneOf` a list.
    fn v2_messages(&self, ptr: &str, op: &Value) -> Result<Vec<MessageSpec>, String> {
        let Some(m) = op.get("message") else {
            return Ok(Vec::new());
        };
        let resolved = self.resolve(m)?;
        match resolved.get("oneOf").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, m)| self.message(&format!("{ptr}/message/oneOf/{i}"), m))
                .collect(),
            None => Ok(vec![self.message(&format!("{ptr}/message"), m)?]),
        }
    }

    /// Every message a 3.0 channel lists.
    fn channel_messages(&self, ptr: &str, channel: &Value) -> Result<Vec<MessageSpec>, String> {
        let Some(map) = channel.get("messages").and_then(Value::as_object) else {
            return Ok(Vec::new());
        };
        map.iter()
            .map(|(k, m)| self.message(&format!("{ptr}/messages/{}", escape(k)), m))
            .collect()
    }

    fn channel(&self, key: &str, channel: &Value) -> Result<Channel, String> {
        let address = match channel.get("address") {
            Some(Value::String(a)) => Some(a.clone()),
            Some(Value::Null) => None,
            Some(_) => {
                return Err(format!(
                    "the channel `{key}` has an `address` that is not a string"
                ))
            }
            // 2.x: the key is the address.
            None if self.version()? == Version::V2 => Some(key.to_string()),
            None => Some(key.to_string()),
        };
        let parameters = channel
            .get("parameters")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        Ok(Channel {
            key: key.to_string(),
            address,
            parameters,
            bindings: channel.get("bindings").map(|b| self.resolved(b)),
        })
    }

    fn message(&self, ptr: &str, m: &Value) -> Result<MessageSpec, String> {
        let pointer = m
            .get("$ref")
            .and_then(Value::as_str)
            .map(|r| r.trim_start_matches('#').to_string())
            .unwrap_or_else(|| ptr.to_string());
        let final_ptr = self.final_pointer(&pointer);
        let m = self.resolve(m)?;
        let payload_pointer = m.get("payload").map(|_| {
            let at = self.final_pointer(&format!("{final_ptr}/payload"));
            match self.tree.pointer(&at) {
                Some(v) if v.get("schemaFormat").is_some() && v.get("schema").is_some() => {
                    self.final_pointer(&format!("{at}/schema"))
                }
                _ => at,
            }
        });
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| pointer.rsplit('/').next().map(unescape).unwrap_or_default());
        let correlation = match m.get("correlationId") {
            Some(c) => {
                let c = self.resolve(c)?;
                let location = c.get("location").and_then(Value::as_str).ok_or_else(|| {
                    format!("the correlationId of message `{name}` has no `location`")
                })?;
                Some(Correlation::parse(location).map_err(|e| format!("message `{name}`: {e}"))?)
            }
            None => None,
        };
        let schema = |k: &str| -> Result<Option<Value>, String> {
            let Some(s) = m.get(k) else { return Ok(None) };
            let s = self.resolve(s)?;
            // 3.0 Multi Format Schema Object: `{schemaFormat, schema}`.
            Ok(Some(match (s.get("schemaFormat"), s.get("schema")) {
                (Some(_), Some(inner)) => self.resolve(inner)?.clone(),
                _ => s.clone(),
            }))
        };
        Ok(MessageSpec {
            content_type: m
                .get("contentType")
                .and_then(Value::as_str)
                .or_else(|| self.tree.get("defaultContentType").and_then(Value::as_str))
                .map(str::to_string),
            payload: schema("payload")?,
            payload_pointer,
            headers: schema("headers")?,
            correlation,
            bindings: m.get("bindings").map(|b| self.resolved(b)),
            name,
            pointer,
        })
    }

    /// A bindings object with a `$ref` (or each protocol's entry's `$ref`) followed.
    fn resolved(&self, b: &Value) -> Value {
        let Ok(b) = self.resolve(b) else {
            return Value::Null;
        };
        match b.as_object() {
            Some(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v).unwrap_or(v).clone()))
                    .collect::<Map<_, _>>(),
            ),
            None => b.clone(),
        }
    }

    /// The servers the channel is on: those it lists (3.0 `$ref`s, 2.x names), or
    /// every server of the description when it lists none.
    fn channel_servers(&self, channel: &Value) -> Result<Vec<Server>, String> {
        let all = self.servers()?;
        let Some(list) = channel.get("servers").and_then(Value::as_array) else {
            return Ok(all);
        };
        let mut chosen = Vec::new();
        for s in list {
            let name = match (s.as_str(), s.get("$ref").and_then(Value::as_str)) {
                (Some(n), _) => n.to_string(),
                (None, Some(r)) => r.rsplit('/').next().map(unescape).unwrap_or_default(),
                _ => continue,
            };
            match all.iter().find(|sv| sv.name == name) {
                Some(sv) => chosen.push(sv.clone()),
                None => {
                    return Err(format!(
                        "the channel lists a server `{name}` that `servers` does not define"
                    ))
                }
            }
        }
        Ok(chosen)
    }

    /// Every server of the description, in its order.
    pub fn servers(&self) -> Result<Vec<Server>, String> {
        let Some(map) = self.tree.get("servers").and_then(Value::as_object) else {
            return Ok(Vec::new());
        };
        let version = self.version()?;
        map.iter()
            .map(|(name, s)| Server::read(self, name, self.resolve(s)?, version))
            .collect()
    }

    /// The security scheme named `name` in `components.securitySchemes`.
    pub fn security_scheme(&self, name: &str) -> Option<&Value> {
        let s = self
            .tree
            .pointer("/components/securitySchemes")?
            .get(name)?;
        self.resolve(s).ok()
    }

    /// The names of `components.securitySchemes`.
    pub fn security_scheme_names(&self) -> Vec<String> {
        self.tree
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A JSON Pointer token for `s`.
pub fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests;
