//! OAuth 2.0 access tokens: fetched from the token endpoint (client
//! credentials, password or refresh token grant; the endpoint found by OpenID
//! Connect discovery when the scheme says so), kept for the whole run or
//! batch, refreshed before they expire and when the API refuses one.
//!
//! One slot per distinct grant, each behind an async lock held while its
//! token is fetched: steps and batch lines that need the same token at once
//! wait for one request instead of each sending their own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

use crate::redact::Redactor;

/// Largest token endpoint or discovery answer read.
const MAX_ANSWER: usize = 256 * 1024;

/// How a token is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GrantKind {
    ClientCredentials,
    Password {
        username: String,
        password: String,
    },
    /// Only a refresh token was supplied.
    Refresh,
    /// Only an access token was supplied: used as it is.
    Supplied,
}

/// Where the token endpoint is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Token(Url),
    /// An OpenID Connect discovery document naming it.
    Discovery(Url),
    /// None known (a supplied access token that cannot be renewed).
    None,
}

/// Everything a token request needs.
#[derive(Debug, Clone)]
pub struct Grant {
    pub endpoint: Endpoint,
    pub kind: GrantKind,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated, empty for none.
    pub scopes: String,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    /// How the scheme is named in messages: "scheme `oauth` of source `api`".
    pub label: String,
    /// Where refresh token requests go when the flow names a `refreshUrl`.
    pub refresh_endpoint: Option<Url>,
    /// Where the credentials were set (variables, files), for the help
    /// after a refusal.
    pub origin: String,
}

/// What makes two grants the same token request (not how they are named in
/// messages, nor where their credentials were set): the key of a slot.
type Key = (
    Endpoint,
    GrantKind,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<Url>,
);

impl Grant {
    fn key(&self) -> Key {
        (
            self.endpoint.clone(),
            self.kind.clone(),
            self.client_id.clone(),
            self.client_secret.clone(),
            self.scopes.clone(),
            self.access_token.clone(),
            self.refresh_token.clone(),
            self.refresh_endpoint.clone(),
        )
    }

    /// Tells `redactor` the grant's secrets in the forms a token request
    /// carries them: as written, form-encoded, and the HTTP Basic pair.
    fn register(&self, redactor: &Redactor) {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let password = match &self.kind {
            GrantKind::Password { password, .. } => Some(password),
            _ => None,
        };
        for s in [&self.client_secret, &self.access_token, &self.refresh_token]
            .into_iter()
            .flatten()
            .chain(password)
        {
            redactor.add(s);
            redactor.add(&enc(s));
        }
        if let (Some(id), Some(secret)) = (&self.client_id, &self.client_secret) {
            let pair = format!("{}:{}", enc(id), enc(secret));
            redactor.add(&crate::redact::base64(pair.as_bytes()));
        }
    }
}

/// Why no token could be had.
#[derive(Debug, Clone)]
pub struct TokenError(pub String);

#[derive(Debug, Clone)]
struct Token {
    access: Arc<str>,
    /// When to get a new one (some time before it expires).
    renew_at: Option<Instant>,
}

#[derive(Debug, Default)]
struct Slot {
    token: Option<Token>,
    /// The latest refresh token (a server may rotate it).
    refresh: Option<String>,
    started: bool,
}

/// Tokens of a run or a batch, by grant.
#[derive(Debug, Default)]
pub struct Tokens {
    slots: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<Slot>>>>,
    endpoints: Mutex<HashMap<Url, Arc<tokio::sync::Mutex<Option<Discovered>>>>>,
    /// Token requests sent, for the summary and tests.
    pub requests: AtomicU64,
}

/// What a discovery document says of the token endpoint.
#[derive(Debug, Clone)]
struct Discovered {
    token_endpoint: Url,
    /// `token_endpoint_auth_methods_supported` lists `client_secret_post`
    /// and not `client_secret_basic`.
    post_only: bool,
}

/// A token, and whether another could be had if the API refuses it.
#[derive(Debug, Clone)]
pub struct Bearer {
    pub token: Arc<str>,
    pub renewable: bool,
}

impl Tokens {
    fn slot(&self, grant: &Grant) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(grant.key()).or_default().clone()
    }

    /// The token for `grant`: the one held while it is fresh, else a new one.
    /// `redactor` is told the grant's secrets and every token received.
    pub async fn bearer(
        &self,
        grant: &Grant,
        client: &reqwest::Client,
        redactor: &Redactor,
    ) -> Result<Bearer, TokenError> {
        let slot = self.slot(grant);
        let mut slot = slot.lock().await;
        if !slot.started {
            slot.started = true;
            slot.refresh = grant.refresh_token.clone();
            if let Some(a) = &grant.access_token {
                slot.token = Some(Token {
                    access: a.as_str().into(),
                    renew_at: None,
                });
            }
        }
        let renewable = grant.endpoint != Endpoint::None
            && (slot.refresh.is_some() || grant.kind != GrantKind::Supplied);
        if let Some(t) = &slot.token {
            if t.renew_at.is_none_or(|at| Instant::now() < at) {
                return Ok(Bearer {
                    token: t.access.clone(),
                    renewable,
                });
            }
        }
        let token = self.fetch(grant, &mut slot, client, redactor).await?;
        Ok(Bearer { token, renewable })
    }

    /// The API refused `used`: forget it (unless another request already
    /// replaced it), so that the next [`Tokens::bearer`] fetches a new one.
    pub async fn refused(&self, grant: &Grant, used: &str) {
        let slot = self.slot(grant);
        let mut slot = slot.lock().await;
        if slot.token.as_ref().is_some_and(|t| &*t.access == used) {
            slot.token = None;
        }
    }

    /// Gets a new token: with the refresh token when there is one (falling
    /// back to the grant itself if the server refuses it), else by the grant.
    async fn fetch(
        &self,
        grant: &Grant,
        slot: &mut Slot,
        client: &reqwest::Client,
        redactor: &Redactor,
    ) -> Result<Arc<str>, TokenError> {
        grant.register(redactor);
        let (endpoint, post_only) = self.endpoint(grant, client).await?;
        let mut refresh_error = None;
        if let Some(rt) = slot.refresh.clone() {
            let form = vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", rt),
            ];
            let at = grant.refresh_endpoint.as_ref().unwrap_or(&endpoint);
            match self
                .request(grant, at, post_only, form, client, redactor)
                .await
            {
                Ok(answer) => return Ok(store(slot, answer, redactor)),
                Err(e) => {
                    // A refused refresh token is not tried again.
                    slot.refresh = None;
                    refresh_error = Some(e);
                }
            }
        }
        let mut form = match &grant.kind {
            GrantKind::ClientCredentials => vec![("grant_type", "client_credentials".to_string())],
            GrantKind::Password { username, password } => vec![
                ("grant_type", "password".to_string()),
                ("username", username.clone()),
                ("password", password.clone()),
            ],
            GrantKind::Refresh | GrantKind::Supplied => {
                return Err(refresh_error.unwrap_or_else(|| {
                    TokenError(format!(
                        "the access token supplied for {} was refused and no refresh token is supplied to renew it",
                        grant.label
                    ))
                }))
            }
        };
        if !grant.scopes.is_empty() {
            form.push(("scope", grant.scopes.clone()));
        }
        let answer = self
            .request(grant, &endpoint, post_only, form, client, redactor)
            .await?;
        Ok(store(slot, answer, redactor))
    }

    /// The token endpoint of `grant`, with discovery done once per URL.
    async fn endpoint(
        &self,
        grant: &Grant,
        client: &reqwest::Client,
    ) -> Result<(Url, bool), TokenError> {
        let url = match &grant.endpoint {
            Endpoint::Token(u) => return Ok((u.clone(), false)),
            Endpoint::None => {
                return Err(TokenError(format!(
                    "{} names no token endpoint, so no token can be fetched",
                    grant.label
                )))
            }
            Endpoint::Discovery(u) => u.clone(),
        };
        let cell = {
            let mut map = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(url.clone()).or_default().clone()
        };
        let mut cell = cell.lock().await;
        if let Some(d) = &*cell {
            return Ok((d.token_endpoint.clone(), d.post_only));
        }
        let d = discover(&url, client, &grant.label).await?;
        *cell = Some(d.clone());
        Ok((d.token_endpoint, d.post_only))
    }

    /// One token request (two if the server refuses HTTP Basic client
    /// authentication and might take the credentials in the form).
    async fn request(
        &self,
        grant: &Grant,
        endpoint: &Url,
        post_only: bool,
        form: Vec<(&str, String)>,
        client: &reqwest::Client,
        redactor: &Redactor,
    ) -> Result<Answer, TokenError> {
        let basic = grant.client_secret.is_some() && !post_only;
        let first = self.post(grant, endpoint, basic, &form, client).await;
        match first {
            Err(Refusal::Server {
                status: 401,
                ref error,
                ..
            }) if basic && error == "invalid_client" => self
                .post(grant, endpoint, false, &form, client)
                .await
                .map_err(|r| r.into_error(grant, endpoint, redactor)),
            other => other.map_err(|r| r.into_error(grant, endpoint, redactor)),
        }
    }

    async fn post(
        &self,
        grant: &Grant,
        endpoint: &Url,
        basic: bool,
        form: &[(&str, String)],
        client: &reqwest::Client,
    ) -> Result<Answer, Refusal> {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            body.append_pair(k, v);
        }
        let mut req = client
            .post(endpoint.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        match (&grant.client_id, &grant.client_secret) {
            (Some(id), Some(secret)) if basic => {
                // RFC 6749 §2.3.1: both form-encoded, then joined.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let pair = format!("{}:{}", enc(id), enc(secret));
                req = req.header(
                    "authorization",
                    format!("Basic {}", crate::redact::base64(pair.as_bytes())),
                );
            }
            (Some(id), secret) => {
                body.append_pair("client_id", id);
                if let Some(s) = secret {
                    body.append_pair("client_secret", s);
                }
            }
            _ => {}
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = req
            .body(body.finish())
            .send()
            .await
            .map_err(|e| Refusal::Unreachable(crate::http::describe_error(&e)))?;
        let status = resp.status().as_u16();
        let text = read_capped(resp)
            .await
            .map_err(|why| Refusal::Garbled { status, why })?;
        parse_answer(status, &text)
    }
}

/// Keeps a new token (and refresh token) in the slot; returns the token.
fn store(slot: &mut Slot, answer: Answer, redactor: &Redactor) -> Arc<str> {
    redactor.add(&answer.access);
    if let Some(r) = &answer.refresh {
        redactor.add(r);
        slot.refresh = Some(r.clone());
    }
    let access: Arc<str> = answer.access.as_str().into();
    slot.token = Some(Token {
        access: access.clone(),
        renew_at: answer.expires_in.map(|life| {
            // Renew a fifth of the lifetime early, at most 30 s.
            let margin = (life / 5).min(Duration::from_secs(30));
            Instant::now() + life.saturating_sub(margin)
        }),
    });
    access
}

/// A token endpoint's good answer.
struct Answer {
    access: String,
    refresh: Option<String>,
    expires_in: Option<Duration>,
}

/// A token endpoint's refusal, before it is worded for the user.
enum Refusal {
    Unreachable(String),
    Server {
        status: u16,
        error: String,
        description: Option<String>,
    },
    Garbled {
        status: u16,
        why: String,
    },
}

impl Refusal {
    /// The message, with the server's text masked before it is cut short
    /// (a secret cut in two would no longer be found).
    fn into_error(self, grant: &Grant, endpoint: &Url, redactor: &Redactor) -> TokenError {
        let clip = |t: &str| clip(&redactor.redact(t));
        let at = crate::read::display_url(endpoint);
        TokenError(match self {
            Refusal::Unreachable(why) => format!(
                "the token endpoint {at} of {} could not be reached: {why}",
                grant.label
            ),
            Refusal::Server {
                status,
                error,
                description,
            } => {
                let said = description
                    .map(|d| format!(" ({})", clip(&d)))
                    .unwrap_or_default();
                let check = if grant.origin.is_empty() {
                    String::new()
                } else {
                    format!("; check the credentials set in {}", grant.origin)
                };
                format!(
                    "the token endpoint {at} of {} refused the request: HTTP {status} `{}`{said}{check}",
                    grant.label,
                    clip(&error)
                )
            }
            Refusal::Garbled { status, why } => format!(
                "the token endpoint {at} of {} answered HTTP {status} without a usable token: {why}",
                grant.label
            ),
        })
    }
}

/// Text from the server, cut short for a message.
fn clip(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).take(200).collect();
    s
}

fn parse_answer(status: u16, text: &str) -> Result<Answer, Refusal> {
    let json: Option<Value> = serde_json::from_str(text).ok();
    if !(200..300).contains(&status) {
        if let Some(error) = json.as_ref().and_then(|j| j.get("error")?.as_str()) {
            return Err(Refusal::Server {
                status,
                error: error.to_string(),
                description: json
                    .as_ref()
                    .and_then(|j| j.get("error_description")?.as_str())
                    .map(str::to_string),
            });
        }
        let why = if (300..400).contains(&status) {
            "it is a redirect, which arazzo does not follow: credentials go only to the token endpoint the description names".into()
        } else {
            "the answer is not an OAuth 2.0 error (no `error` field)".into()
        };
        return Err(Refusal::Garbled { status, why });
    }
    let Some(json) = json else {
        return Err(Refusal::Garbled {
            status,
            why: "the answer is not JSON".into(),
        });
    };
    let access = match json.get("access_token") {
        Some(Value::String(a)) if !a.trim().is_empty() => a,
        Some(Value::String(_)) => {
            return Err(Refusal::Garbled {
                status,
                why: "the answer's `access_token` is empty".into(),
            })
        }
        Some(_) => {
            return Err(Refusal::Garbled {
                status,
                why: "the answer's `access_token` is not a string".into(),
            })
        }
        None => {
            return Err(Refusal::Garbled {
                status,
                why: "the answer has no `access_token`".into(),
            })
        }
    };
    if let Some(t) = json.get("token_type").and_then(Value::as_str) {
        if !t.eq_ignore_ascii_case("bearer") {
            return Err(Refusal::Garbled {
                status,
                why: format!(
                    "the token type is `{}`; arazzo sends bearer tokens only",
                    clip(t)
                ),
            });
        }
    }
    let expires_in = match json.get("expires_in") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s >= 0.0)
    .map(|s| Duration::from_secs_f64(s.min(1e9)));
    Ok(Answer {
        access: access.to_string(),
        refresh: json
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(str::to_string),
        expires_in,
    })
}

async fn read_capped(mut resp: reqwest::Response) -> Result<String, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| crate::http::describe_error(&e))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Reads an OpenID Connect discovery document for its token endpoint.
async fn discover(
    url: &Url,
    client: &reqwest::Client,
    label: &str,
) -> Result<Discovered, TokenError> {
    let at = crate::read::display_url(url);
    let fail = |why: String| {
        TokenError(format!(
            "the OpenID Connect discovery document {at} of {label} {why}"
        ))
    };
    let resp = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| {
            fail(format!(
                "could not be read: {}",
                crate::http::describe_error(&e)
            ))
        })?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(fail(format!("answered HTTP {status}")));
    }
    let text = read_capped(resp)
        .await
        .map_err(|e| fail(format!("could not be read: {e}")))?;
    let doc: Value = serde_json::from_str(&text).map_err(|_| fail("is not JSON".into()))?;
    let endpoint = doc
        .get("token_endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("names no `token_endpoint`".into()))?;
    check_issuer(url, &doc).map_err(fail)?;
    let token_endpoint = Url::parse(endpoint)
        .map_err(|e| fail(format!("names a token endpoint that is not a URL: {e}")))?;
    check_endpoint(&token_endpoint).map_err(|m| fail(format!("names a token endpoint {m}")))?;
    let methods: Vec<&str> = doc
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Ok(Discovered {
        token_endpoint,
        post_only: methods.contains(&"client_secret_post")
            && !methods.contains(&"client_secret_basic"),
    })
}

/// OpenID Connect Discovery 1.0 §4.3: the `issuer` a discovery document
/// names must be the URL it was read from, less `/.well-known/openid-configuration`;
/// a document that names another issuer is refused (it could send the
/// credentials elsewhere). A URL of another form is not checked.
fn check_issuer(url: &Url, doc: &Value) -> Result<(), String> {
    const WELL_KNOWN: &str = "/.well-known/openid-configuration";
    let text = url.as_str();
    let Some(base) = text.strip_suffix(WELL_KNOWN) else {
        return Ok(());
    };
    let issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or("");
    if issuer.trim_end_matches('/') == base.trim_end_matches('/') {
        Ok(())
    } else {
        Err(format!(
            "names the issuer `{}`, not `{}` it was read from (OpenID Connect Discovery requires them to match)",
            clip(issuer),
            crate::read::display_url(&Url::parse(base).unwrap_or_else(|_| url.clone()))
        ))
    }
}

/// Client secrets, passwords and refresh tokens go to a token endpoint only
/// over https, or over http to this machine (a local test server).
pub fn check_endpoint(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "over plain http ({}): arazzo sends credentials to a token endpoint only over https, or over http to this machine",
            crate::read::display_url(url)
        )),
        other => Err(format!("with the scheme `{other}`, which is not http(s)")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        let a = parse_answer(
            200,
            r#"{"access_token":"t","token_type":"Bearer","expires_in":60,"refresh_token":"r"}"#,
        )
        .ok()
        .unwrap();
        assert_eq!(a.access, "t");
        assert_eq!(a.refresh.as_deref(), Some("r"));
        assert_eq!(a.expires_in, Some(Duration::from_secs(60)));
        assert!(matches!(
            parse_answer(
                401,
                r#"{"error":"invalid_client","error_description":"no"}"#
            ),
            Err(Refusal::Server { status: 401, .. })
        ));
        assert!(matches!(
            parse_answer(200, "<html>"),
            Err(Refusal::Garbled { .. })
        ));
        assert!(matches!(
            parse_answer(200, r#"{"access_token":"t","token_type":"mac"}"#),
            Err(Refusal::Garbled { .. })
        ));
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(check_endpoint(&Url::parse("http://127.0.0.1:9/t").unwrap()).is_ok());
        assert!(check_endpoint(&Url::parse("http://localhost/t").unwrap()).is_ok());
        assert!(check_endpoint(&Url::parse("https://a.example/t").unwrap()).is_ok());
        assert!(check_endpoint(&Url::parse("http://a.example/t").unwrap()).is_err());
    }
}
