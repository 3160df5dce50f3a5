//! Credentials: what the user supplies ([`store`]), which scheme each
//! request carries ([`select`]), OAuth 2.0 tokens ([`token`]) and the client
//! certificates of mutual TLS. The engine applies the selection to each
//! request (`engine/credentials.rs`); dry runs and preflight show and check it.
//!
//! Precedence, strongest first: a parameter the workflow sets itself (its own
//! `Authorization` or API key parameter), then `x-security` (the step's, then
//! the workflow's; a later entry over an earlier one), then the operation's
//! security requirements satisfied from the supplied credentials.

pub mod store;
pub mod token;

use std::collections::BTreeMap;
use std::sync::Arc;

use url::Url;

use crate::compile::{CallSecurity, Requirement};
use crate::openapi::security::{Flows, Scheme};
use crate::openapi::ParamIn;
pub use store::{env_name, Credentials, Known};
use token::{Endpoint, Grant, GrantKind, Tokens};

/// The credentials of a run, a batch or an MCP server: supplied values,
/// the tokens fetched with them, and a client per source that presents a
/// client certificate.
#[derive(Debug, Default)]
pub struct Auth {
    pub credentials: Credentials,
    pub tokens: Tokens,
    identities: BTreeMap<String, reqwest::Client>,
}

impl Auth {
    /// Builds the clients of the sources given a client certificate
    /// (`clientCert` and `clientKey` under any scheme of the source).
    pub fn new(
        credentials: Credentials,
        opts: &crate::http::ClientOptions,
    ) -> Result<Auth, String> {
        let mut identities = BTreeMap::new();
        for ((source, scheme), fields) in credentials.all() {
            match (fields.get("clientCert"), fields.get("clientKey")) {
                (Some(cert), Some(key)) => {
                    if identities.contains_key(source) {
                        continue;
                    }
                    let client = crate::http::client_with_identity(
                        opts,
                        std::path::Path::new(&cert.value),
                        std::path::Path::new(&key.value),
                    )
                    .map_err(|m| format!("source `{source}`, scheme `{scheme}`: {m}"))?;
                    identities.insert(source.clone(), client);
                }
                (Some(c), None) | (None, Some(c)) => {
                    let missing = if fields.contains_key("clientCert") {
                        "clientKey"
                    } else {
                        "clientCert"
                    };
                    return Err(format!(
                        "source `{source}`, scheme `{scheme}`: {} is given but not {missing}; set {}",
                        c.from,
                        env_name(source, scheme, missing)
                    ));
                }
                (None, None) => {}
            }
        }
        Ok(Auth {
            credentials,
            tokens: Tokens::default(),
            identities,
        })
    }

    /// The client that presents the source's client certificate, if one is
    /// supplied.
    pub fn client_for(&self, source: &str) -> Option<&reqwest::Client> {
        self.identities.get(source)
    }

    /// The supplied values of `scheme` of `source` (an empty value counts
    /// as not supplied: a CI secret that is not set expands to nothing).
    fn supplied(&self, source: &str, scheme: &str) -> Values {
        self.credentials
            .fields(source, scheme)
            .map(|f| {
                f.iter()
                    .filter(|(_, s)| !s.value.is_empty())
                    .map(|(k, s)| (k.clone(), s.value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Where the fields of `scheme` of `source` were set, for messages.
    fn origin(&self, source: &str, scheme: &str) -> String {
        let mut from: Vec<&str> = Vec::new();
        for s in self
            .credentials
            .fields(source, scheme)
            .into_iter()
            .flat_map(|f| f.values())
        {
            if !from.contains(&s.from.as_str()) {
                from.push(&s.from);
            }
        }
        from.join(", ")
    }

    /// Whether any credential is supplied for `source`:
    /// then requirements left unmet are a mistake, not an API used without.
    pub fn intends(&self, source: &str) -> bool {
        self.credentials.all().any(|((s, _), _)| s == source)
    }
}

/// Credential fields and their values.
pub type Values = BTreeMap<String, String>;

/// Where a scheme puts its credential in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A header, by lower-case name.
    Header(String),
    Query(String),
    Cookie(String),
}

impl Target {
    pub fn of(scheme: &Scheme) -> Option<Target> {
        match scheme {
            Scheme::ApiKey { location, name } => Some(match location {
                ParamIn::Query => Target::Query(name.clone()),
                ParamIn::Cookie => Target::Cookie(name.clone()),
                _ => Target::Header(name.to_ascii_lowercase()),
            }),
            Scheme::Http { .. } | Scheme::OAuth2 { .. } | Scheme::OpenIdConnect { .. } => {
                Some(Target::Header("authorization".into()))
            }
            Scheme::MutualTls | Scheme::Unknown { .. } | Scheme::Invalid { .. } => None,
        }
    }
}

/// A scheme chosen for a request, with its credentials.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// For messages and dry runs: "`oauth` (oauth2, client credentials)".
    pub label: String,
    pub scheme: Arc<Scheme>,
    pub values: Values,
    /// The requirement's scopes (none for `x-security`).
    pub scopes: Vec<String>,
    /// Where its values came from, for help after a 401: `x-security at
    /// /workflows/0/x-security/0`, or the variables and files that set them.
    pub origin: String,
}

/// What a request will carry.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub chosen: Vec<Chosen>,
    /// Why the operation's requirements are not met, with the fix, when no
    /// alternative is satisfied.
    pub unsatisfied: Option<String>,
}

/// Chooses what a request to `source` carries. `explicit` holds each
/// `x-security` entry's values as evaluated; `taken` the targets the
/// request's own parameters set (those win, and are never doubled).
pub fn select(
    security: &CallSecurity,
    source: &str,
    auth: &Auth,
    explicit: &[Values],
    mut taken: Vec<Target>,
) -> Result<Selection, String> {
    let mut chosen = Vec::new();
    for (entry, given) in security.explicit.iter().zip(explicit).rev() {
        let mut values = match &entry.name {
            Some(n) => auth.supplied(source, n),
            None => Values::new(),
        };
        values.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
        let target = Target::of(&entry.scheme);
        if target.as_ref().is_some_and(|t| taken.contains(t)) {
            continue;
        }
        if let Some(missing) = lacking(&entry.scheme, &values, false) {
            return Err(format!(
                "the x-security entry at {} ({}) {missing}",
                entry.pointer,
                entry.scheme.describe()
            ));
        }
        let name = entry
            .name
            .as_deref()
            .map(|n| format!("`{n}` "))
            .unwrap_or_default();
        chosen.push(Chosen {
            label: format!("{name}({}, x-security)", how(&entry.scheme, &values)),
            scheme: entry.scheme.clone(),
            values,
            scopes: Vec::new(),
            origin: format!("x-security at {}", entry.pointer),
        });
        taken.extend(target);
    }
    let identity = auth.client_for(source).is_some();
    let mut unmet = Vec::new();
    for alt in &security.alternatives {
        let mut lacks = Vec::new();
        for r in alt {
            if let Some(why) = requirement_lacks(r, source, auth, &taken, identity) {
                lacks.push(why);
            }
        }
        if lacks.is_empty() {
            for r in alt {
                let scheme = r
                    .scheme
                    .clone()
                    .expect("a satisfied requirement has its scheme");
                let target = Target::of(&scheme);
                if target.as_ref().is_some_and(|t| taken.contains(t)) {
                    continue;
                }
                let values = auth.supplied(source, &r.name);
                chosen.push(Chosen {
                    label: format!(
                        "`{}` of source `{source}` ({})",
                        r.name,
                        how(&scheme, &values)
                    ),
                    scheme,
                    values,
                    scopes: r.scopes.clone(),
                    origin: auth.origin(source, &r.name),
                });
                taken.extend(target);
            }
            return Ok(Selection {
                chosen,
                unsatisfied: None,
            });
        }
        unmet.push(lacks.join(" and "));
    }
    let unsatisfied = (!unmet.is_empty()).then(|| {
        if unmet.len() == 1 {
            format!("the operation requires {}", unmet[0])
        } else {
            format!("the operation requires one of: {}", unmet.join("; or "))
        }
    });
    Ok(Selection {
        chosen,
        unsatisfied,
    })
}

/// Why requirement `r` cannot be met now, or `None` when it can.
fn requirement_lacks(
    r: &Requirement,
    source: &str,
    auth: &Auth,
    taken: &[Target],
    identity: bool,
) -> Option<String> {
    let Some(scheme) = &r.scheme else {
        return Some(format!(
            "`{}`, which the description's securitySchemes do not define",
            r.name
        ));
    };
    if Target::of(scheme).is_some_and(|t| taken.contains(&t)) {
        return None;
    }
    let values = auth.supplied(source, &r.name);
    let missing = lacking(scheme, &values, identity)?;
    let vars = |fields: &[&str]| -> String {
        fields
            .iter()
            .map(|f| env_name(source, &r.name, f))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let fix = match &**scheme {
        Scheme::ApiKey { .. } => vars(&["apiKey"]),
        Scheme::Http { scheme } if scheme == "basic" => vars(&["username", "password"]),
        Scheme::Http { scheme } if scheme == "bearer" => vars(&["token"]),
        Scheme::Http { .. } => String::new(),
        Scheme::OAuth2 { flows }
            if flows.client_credentials.is_none() && flows.password.is_none() =>
        {
            vars(&["accessToken"])
        }
        Scheme::OAuth2 { .. } | Scheme::OpenIdConnect { .. } => format!(
            "{} (or {})",
            vars(&["clientId", "clientSecret"]),
            vars(&["accessToken"])
        ),
        Scheme::MutualTls => vars(&["clientCert", "clientKey"]),
        Scheme::Unknown { .. } | Scheme::Invalid { .. } => String::new(),
    };
    let fix = if fix.is_empty() {
        String::new()
    } else {
        format!(": set {fix}, or put them in --auth-file")
    };
    Some(format!(
        "`{}` ({}), which {missing}{fix}",
        r.name,
        scheme.describe()
    ))
}

/// Why no supplied credential could ever satisfy requirement `r` (its
/// scheme is not defined, or is of a kind `arazzo` cannot produce), unless
/// something in `covered` sends it; `None` when one could.
pub fn unproducible(r: &Requirement, covered: &[Target]) -> Option<String> {
    let Some(scheme) = &r.scheme else {
        return Some(format!(
            "`{}` (not among the description's securitySchemes)",
            r.name
        ));
    };
    if Target::of(scheme).is_some_and(|t| covered.contains(&t)) {
        return None;
    }
    match &**scheme {
        Scheme::Http { scheme } if scheme != "basic" && scheme != "bearer" => Some(format!(
            "`{}` (HTTP `{scheme}` authentication, which arazzo cannot produce)",
            r.name
        )),
        Scheme::Unknown { kind } => Some(format!(
            "`{}` (of type `{kind}`, which arazzo does not know)",
            r.name
        )),
        Scheme::Invalid { why } => Some(format!("`{}` (which cannot be read: {why})", r.name)),
        _ => None,
    }
}

/// What `values` lack for `scheme`, worded to follow "the scheme …";
/// `None` when they are enough.
fn lacking(scheme: &Scheme, values: &Values, identity: bool) -> Option<String> {
    let has = |f: &str| values.contains_key(f);
    match scheme {
        Scheme::ApiKey { .. } if has("apiKey") => None,
        Scheme::ApiKey { .. } => Some("has no `apiKey`".into()),
        Scheme::Http { scheme } if scheme == "basic" => match (has("username"), has("password")) {
            (true, true) => None,
            (true, false) => Some("has no `password`".into()),
            (false, true) => Some("has no `username`".into()),
            (false, false) => Some("has no `username` and `password`".into()),
        },
        Scheme::Http { scheme } if scheme == "bearer" => {
            (!(has("token") || has("accessToken"))).then(|| "has no `token`".into())
        }
        Scheme::Http { scheme } => Some(format!(
            "uses HTTP `{scheme}` authentication, which arazzo cannot produce; send the header as a step parameter"
        )),
        Scheme::OAuth2 { flows } => oauth_lacks(Some(flows), values),
        Scheme::OpenIdConnect { .. } => oauth_lacks(None, values),
        Scheme::MutualTls if identity || (has("clientCert") && has("clientKey")) => None,
        Scheme::MutualTls => Some("has no `clientCert` and `clientKey`".into()),
        Scheme::Unknown { kind } => Some(format!("is of type `{kind}`, which arazzo does not know")),
        Scheme::Invalid { why } => Some(format!("cannot be read: {why}")),
    }
}

fn oauth_lacks(flows: Option<&Flows>, values: &Values) -> Option<String> {
    if grant_kind(flows, values).is_some() {
        return None;
    }
    let interactive = flows.is_some_and(|f| {
        f.client_credentials.is_none()
            && f.password.is_none()
            && (f.authorization_code.is_some()
                || f.implicit.is_some()
                || f.device_authorization.is_some())
    });
    Some(if interactive {
        "has only flows that need a browser or a person (authorization code, implicit, device); supply an `accessToken` (and a `refreshToken` to renew it)".into()
    } else {
        "has no `clientId` and `clientSecret` (nor an `accessToken` or `refreshToken`)".into()
    })
}

/// How an OAuth 2.0 or OpenID Connect scheme gets its tokens with
/// `values`, by the flows it declares (`None`: any, as OpenID Connect).
fn grant_kind(flows: Option<&Flows>, values: &Values) -> Option<GrantKind> {
    let has = |f: &str| values.contains_key(f);
    let refreshable = flows.is_none_or(|f| f.any_token_url().is_some());
    // A user's name and password say whose token it is: they win over the
    // client's own credentials when the scheme offers both flows.
    if has("username") && has("password") && flows.is_none_or(|f| f.password.is_some()) {
        Some(GrantKind::Password {
            username: values["username"].clone(),
            password: values["password"].clone(),
        })
    } else if has("clientId")
        && has("clientSecret")
        && flows.is_none_or(|f| f.client_credentials.is_some())
    {
        Some(GrantKind::ClientCredentials)
    } else if has("refreshToken") && refreshable {
        Some(GrantKind::Refresh)
    } else if has("accessToken") {
        Some(GrantKind::Supplied)
    } else {
        None
    }
}

/// "http bearer", "oauth2, client credentials", for labels.
fn how(scheme: &Scheme, values: &Values) -> String {
    let flows = match scheme {
        Scheme::OAuth2 { flows } => Some(&**flows),
        Scheme::OpenIdConnect { .. } => None,
        other => return other.describe(),
    };
    let grant = match grant_kind(flows, values) {
        Some(GrantKind::ClientCredentials) => "client credentials",
        Some(GrantKind::Password { .. }) => "password",
        Some(GrantKind::Refresh) => "refresh token",
        Some(GrantKind::Supplied) | None => "access token",
    };
    format!("{}, {grant}", scheme.describe())
}

/// The token request of an OAuth 2.0 or OpenID Connect choice; `base` is
/// the API's base URL, against which a relative token URL resolves.
pub fn grant_for(chosen: &Chosen, base: &str) -> Result<Grant, String> {
    let values = &chosen.values;
    let mut refresh_endpoint = None;
    let (kind, endpoint) = match &*chosen.scheme {
        Scheme::OAuth2 { flows } => {
            let kind = grant_kind(Some(flows), values)
                .ok_or_else(|| format!("{} has no usable credentials", chosen.label))?;
            let url = match &kind {
                GrantKind::ClientCredentials => flows
                    .client_credentials
                    .as_ref()
                    .and_then(|f| f.token_url.as_deref()),
                GrantKind::Password { .. } => {
                    flows.password.as_ref().and_then(|f| f.token_url.as_deref())
                }
                _ => flows.any_token_url(),
            };
            let flow = match &kind {
                GrantKind::ClientCredentials => flows.client_credentials.as_ref(),
                GrantKind::Password { .. } => flows.password.as_ref(),
                _ => None,
            };
            let refresh_url = match flow {
                Some(f) => f.refresh_url.as_deref(),
                None => flows.any_token_url(),
            };
            if let Some(r) = refresh_url {
                refresh_endpoint = Some(absolute(r, base, &chosen.label)?);
            }
            let endpoint = match url {
                Some(u) => Endpoint::Token(absolute(u, base, &chosen.label)?),
                None if kind == GrantKind::Supplied => Endpoint::None,
                None => return Err(format!("{}: the flow names no `tokenUrl`", chosen.label)),
            };
            (kind, endpoint)
        }
        Scheme::OpenIdConnect { url } => {
            let kind = grant_kind(None, values)
                .ok_or_else(|| format!("{} has no usable credentials", chosen.label))?;
            (
                kind,
                Endpoint::Discovery(absolute(url, base, &chosen.label)?),
            )
        }
        _ => return Err(format!("{} does not use tokens", chosen.label)),
    };
    let scopes = match values.get("scopes") {
        Some(s) => s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        None => chosen.scopes.join(" "),
    };
    Ok(Grant {
        endpoint,
        kind,
        client_id: values.get("clientId").cloned(),
        client_secret: values.get("clientSecret").cloned(),
        scopes,
        access_token: values.get("accessToken").cloned(),
        refresh_token: values.get("refreshToken").cloned(),
        label: format!("scheme {}", chosen.label),
        refresh_endpoint,
        origin: chosen.origin.clone(),
    })
}

/// A token or discovery URL, resolved against the API's base URL when
/// relative, and allowed to carry credentials.
fn absolute(url: &str, base: &str, label: &str) -> Result<Url, String> {
    let parsed = match Url::parse(url) {
        Ok(u) => u,
        Err(_) => Url::parse(base)
            .and_then(|b| b.join(url))
            .map_err(|e| format!("{label}: `{url}` is not a URL: {e}"))?,
    };
    token::check_endpoint(&parsed)
        .map_err(|m| format!("{label}: refusing the token endpoint {m}"))?;
    Ok(parsed)
}

/// Where a request's own parameters already put something a scheme would:
/// its headers (and the cookies in its `Cookie` header) and query parameters.
pub fn taken<'q>(
    headers: &[(String, String)],
    query: impl Iterator<Item = &'q String>,
) -> Vec<Target> {
    let mut out: Vec<Target> = headers
        .iter()
        .map(|(k, _)| Target::Header(k.to_ascii_lowercase()))
        .collect();
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("cookie") {
            out.extend(
                v.split(';')
                    .filter_map(|c| c.split_once('='))
                    .map(|(n, _)| Target::Cookie(n.trim().to_string())),
            );
        }
    }
    out.extend(query.map(|k| Target::Query(k.clone())));
    out
}

/// Where a call's own parameters send something, as known before the
/// request is built (their names and places): what they set, schemes leave.
pub fn param_targets(params: &[crate::compile::CompiledParam]) -> Vec<Target> {
    params
        .iter()
        .filter_map(|p| match p.location {
            ParamIn::Header => Some(Target::Header(p.name.to_ascii_lowercase())),
            ParamIn::Query => Some(Target::Query(p.name.clone())),
            ParamIn::Cookie => Some(Target::Cookie(p.name.clone())),
            _ => None,
        })
        .collect()
}
