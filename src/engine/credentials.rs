//! Credentials put on a built request: the schemes [`crate::auth::select`]
//! chooses, each written where its scheme says (header, query, cookie), with
//! OAuth 2.0 tokens fetched (once per run or batch) and renewed when the API
//! refuses one. Every value put here is registered as a secret.

use std::sync::Arc;

use percent_encoding::utf8_percent_encode;

use super::request::{BuiltRequest, COMPONENT};
use super::{Ctx, Runner};
use crate::auth::token::Grant;
use crate::auth::{self, Chosen, Target, Values};
use crate::compile::OperationCall;
use crate::expr::stringify;
use crate::openapi::security::{secret_field, Scheme};

/// What the credentials put on a request leave for after its response.
#[derive(Debug, Default)]
pub(super) struct Applied {
    /// The grant of the OAuth 2.0 token the request carries and the token,
    /// when another can be had: a 401 renews it once.
    pub renew: Option<(Grant, Arc<str>)>,
}

impl<'a, 'e> Runner<'a, 'e> {
    /// The values of the call's `x-security` entries, evaluated now; the
    /// secret ones are registered.
    pub(super) fn explicit_values(
        &self,
        call: &OperationCall,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<Values>, String> {
        let mut out = Vec::with_capacity(call.security.explicit.len());
        for entry in &call.security.explicit {
            let mut values = Values::new();
            for (field, expr) in &entry.values {
                let v = expr.eval_required(ctx).map_err(|why| {
                    format!(
                        "the x-security value `{field}` at {} cannot be evaluated: {why}",
                        entry.pointer
                    )
                })?;
                let Some(v) = v else { continue };
                let text = stringify(Some(&v));
                // An empty value gives nothing (as an empty variable does).
                if text.is_empty() {
                    continue;
                }
                if secret_field(field) {
                    self.redactor.add(&text);
                }
                values.insert(field.clone(), text);
            }
            out.push(values);
        }
        Ok(out)
    }

    /// Puts the credentials the call's security selects on `built`. `base`
    /// is the API's base URL (a relative token URL resolves against it).
    pub(super) async fn authorize(
        &self,
        call: &OperationCall,
        built: &mut BuiltRequest,
        base: &str,
        explicit: Vec<Values>,
    ) -> Result<Applied, String> {
        let auth = &*self.opts.auth;
        let selection = auth::select(
            &call.security,
            &call.source,
            auth,
            &explicit,
            auth::taken(&built.headers, built.query_params.keys()),
        )?;
        let mut applied = Applied::default();
        for chosen in &selection.chosen {
            let value = match &*chosen.scheme {
                Scheme::ApiKey { .. } => chosen.values["apiKey"].clone(),
                Scheme::Http { scheme } if scheme == "basic" => {
                    let pair = format!(
                        "{}:{}",
                        chosen.values["username"], chosen.values["password"]
                    );
                    format!("Basic {}", crate::redact::base64(pair.as_bytes()))
                }
                Scheme::Http { .. } => {
                    let token = chosen
                        .values
                        .get("token")
                        .or(chosen.values.get("accessToken"));
                    format!("Bearer {}", token.map_or("", String::as_str))
                }
                Scheme::OAuth2 { .. } | Scheme::OpenIdConnect { .. } => {
                    let grant = auth::grant_for(chosen, base)?;
                    let bearer = self.token(call, &grant).await?;
                    if bearer.renewable {
                        applied.renew = Some((grant, bearer.token.clone()));
                    }
                    format!("Bearer {}", bearer.token)
                }
                Scheme::MutualTls | Scheme::Unknown { .. } | Scheme::Invalid { .. } => continue,
            };
            self.put(built, chosen, value);
        }
        Ok(applied)
    }

    /// The token of `grant`, fetched with the source's client (which presents
    /// its client certificate, if any).
    pub(super) async fn token(
        &self,
        call: &OperationCall,
        grant: &Grant,
    ) -> Result<auth::token::Bearer, String> {
        let client = self
            .opts
            .auth
            .client_for(&call.source)
            .unwrap_or(self.client);
        self.opts
            .auth
            .tokens
            .bearer(grant, client, self.redactor)
            .await
            .map_err(|e| e.0)
    }

    /// After a 401 to a request that carried a renewable token: a new token
    /// put in place of the old. `Ok(false)` when no other token came.
    pub(super) async fn renew(
        &self,
        call: &OperationCall,
        built: &mut BuiltRequest,
        applied: &mut Applied,
    ) -> Result<bool, String> {
        let Some((grant, used)) = applied.renew.take() else {
            return Ok(false);
        };
        self.opts.auth.tokens.refused(&grant, &used).await;
        let bearer = self.token(call, &grant).await.map_err(|m| {
            format!(
                "the API refused the token of {} (HTTP 401), and a new one could not be had: {m}",
                grant.label
            )
        })?;
        if bearer.token == used {
            return Ok(false);
        }
        let value = format!("Bearer {}", bearer.token);
        built.secrets.push(value.clone());
        built.secrets.push(bearer.token.to_string());
        for (name, v) in built.headers.iter_mut() {
            if name.eq_ignore_ascii_case("authorization") {
                *v = value.clone();
            }
        }
        Ok(true)
    }

    /// Writes one credential where its scheme says, and registers it.
    fn put(&self, built: &mut BuiltRequest, chosen: &Chosen, value: String) {
        for (k, v) in &chosen.values {
            if secret_field(k) {
                built.secrets.push(v.clone());
            }
        }
        built.secrets.push(value.clone());
        match (&*chosen.scheme, Target::of(&chosen.scheme)) {
            (Scheme::ApiKey { name, .. }, Some(Target::Query(_))) => {
                let sep = if built.url.contains('?') { '&' } else { '?' };
                built.url = format!(
                    "{}{sep}{}={}",
                    built.url,
                    utf8_percent_encode(name, COMPONENT),
                    utf8_percent_encode(&value, COMPONENT)
                );
                // As sent, encoded: a query value is found in the URL.
                built
                    .secrets
                    .push(utf8_percent_encode(&value, COMPONENT).to_string());
            }
            (Scheme::ApiKey { name, .. }, Some(Target::Cookie(_))) => {
                let pair = format!("{name}={}", utf8_percent_encode(&value, COMPONENT));
                match built
                    .headers
                    .iter_mut()
                    .find(|(k, _)| k.eq_ignore_ascii_case("cookie"))
                {
                    Some((_, c)) => *c = format!("{c}; {pair}"),
                    None => built.headers.push(("Cookie".into(), pair)),
                }
                built.secret_headers.push("cookie".into());
            }
            (scheme, _) => {
                let name = match scheme {
                    Scheme::ApiKey { name, .. } => name.clone(),
                    _ => "Authorization".into(),
                };
                built.secret_headers.push(name.to_ascii_lowercase());
                built.headers.push((name, value));
            }
        }
    }
}
