//! OAuth 2.0 tokens fetched before the first request: a token endpoint that
//! refuses the credentials (or cannot be reached) stops the run before
//! anything is sent to the API, not after its first steps created resources.

use super::{base_url, Runner};
use crate::auth::{self, Target};
use crate::compile::StepTarget;
use crate::engine::outcome::{ErrorKind, RunError};
use crate::openapi::security::Scheme;

impl<'a, 'e> Runner<'a, 'e> {
    /// Fetches the token of every OAuth 2.0 or OpenID Connect scheme that an
    /// operation step of the program will carry from the supplied
    /// credentials (`x-security` values, which may depend on earlier
    /// responses, are fetched when their step runs). `Err` is the error of
    /// the first step whose token cannot be had.
    pub(super) async fn prefetch_tokens(&self) -> Result<(), RunError> {
        if self.opts.auth.credentials.is_empty() {
            return Ok(());
        }
        for wf in &self.program.workflows {
            for step in &wf.steps {
                let StepTarget::Operation(call) = &step.target else {
                    continue;
                };
                let Ok(base) = base_url(call, self.opts) else {
                    continue;
                };
                let mut taken = auth::param_targets(&call.parameters);
                // What `x-security` sends is fetched when its step runs.
                taken.extend(
                    call.security
                        .explicit
                        .iter()
                        .filter_map(|e| Target::of(&e.scheme)),
                );
                let Ok(selection) =
                    auth::select(&call.security, &call.source, &self.opts.auth, &[], taken)
                else {
                    continue;
                };
                for chosen in &selection.chosen {
                    if !matches!(
                        &*chosen.scheme,
                        Scheme::OAuth2 { .. } | Scheme::OpenIdConnect { .. }
                    ) {
                        continue;
                    }
                    let fail = |message: String| RunError {
                        step_id: Some(step.step_id.clone()),
                        kind: ErrorKind::Auth,
                        message: format!("{message} (before any request was sent)"),
                    };
                    let grant = auth::grant_for(chosen, &base).map_err(fail)?;
                    let stop = &self.opts.stop;
                    tokio::select! {
                        biased;
                        got = self.token(call, &grant) => { got.map_err(fail)?; }
                        signal = stop.wait() => {
                            return Err(self.interrupted_error(
                                &step.step_id,
                                signal,
                                "while fetching an OAuth 2.0 token, before any request was sent",
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
