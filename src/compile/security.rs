//! The credentials a step's request may carry: its operation's security
//! requirements with their schemes looked up, and the Redocly `x-security`
//! entries of its workflow and step, checked where they are written.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::compiler::{Compiler, Place};
use super::errors::{error, suggest, token, CompileError};
use super::program::{CallSecurity, ExplicitScheme, Requirement};
use crate::expr::Expr;
use crate::openapi::security::{Scheme, Schemes, FIELDS};
use crate::openapi::{OpenApi, Operation};

const CODE: &str = "auth/x-security";

impl<'a> Compiler<'a> {
    /// The security of the step at `at`, which calls `operation` of `api`.
    pub(super) fn call_security(
        &mut self,
        api: &OpenApi,
        operation: &Operation,
        at: &Place,
        located: &mut Vec<(String, Expr)>,
    ) -> CallSecurity {
        // A scheme that cannot be read leaves its requirements unsatisfiable;
        // `validate` warns about them (see `check/lint.rs`).
        let schemes = api.security_schemes().unwrap_or_default();
        let alternatives = operation
            .security
            .iter()
            .map(|alt| {
                alt.iter()
                    .map(|(name, scopes)| Requirement {
                        name: name.clone(),
                        scheme: schemes.get(name).cloned(),
                        scopes: scopes.clone(),
                    })
                    .collect()
            })
            .collect();
        let mut explicit = Vec::new();
        let before = self.errors.len();
        let wf_pointer = at
            .pointer
            .rsplit_once("/steps/")
            .map_or(at.pointer.as_str(), |(w, _)| w)
            .to_string();
        let step = at
            .step
            .and_then(|id| at.workflow.steps.iter().find(|s| s.step_id == id));
        let lists = [
            (at.workflow.x_security.as_ref(), wf_pointer),
            (step.and_then(|s| s.x_security.as_ref()), at.pointer.clone()),
        ];
        for (level, (list, owner)) in lists.into_iter().enumerate() {
            let Some(list) = list else { continue };
            // A workflow's entries are named as the workflow's, not the step's.
            let who = if level == 0 {
                format!("workflow `{}`", at.workflow.workflow_id)
            } else {
                at.to_string()
            };
            let pointer = format!("{owner}/x-security");
            let Some(items) = list.as_array() else {
                self.errors.push(
                    error(
                        CODE,
                        format!("{who}: `x-security` must be a list of entries"),
                        Some(ENTRY_HELP.to_string()),
                    )
                    .at(&pointer),
                );
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let here = format!("{pointer}/{i}");
                match self.explicit_scheme(item, &schemes, &here, &who, located) {
                    Ok(e) => explicit.push(e),
                    Err(e) => self.errors.push(e),
                }
            }
        }
        // A workflow's entries are compiled with each step: report a problem
        // in one once, at the first step.
        let earlier: Vec<Option<String>> = self.errors[..before]
            .iter()
            .map(|e| e.pointer.clone())
            .collect();
        let mut i = before;
        while i < self.errors.len() {
            if self.errors[i].pointer.is_some() && earlier.contains(&self.errors[i].pointer) {
                self.errors.remove(i);
            } else {
                i += 1;
            }
        }
        CallSecurity {
            alternatives,
            explicit,
        }
    }

    /// One `x-security` entry: `schemeName` (a scheme of the step's source)
    /// or an inline `scheme`, and `values` of known credential fields.
    fn explicit_scheme(
        &mut self,
        item: &Value,
        schemes: &Schemes,
        pointer: &str,
        at: &str,
        located: &mut Vec<(String, Expr)>,
    ) -> Result<ExplicitScheme, CompileError> {
        let fail = |m: String, field: &str| {
            let p = if field.is_empty() {
                pointer.to_string()
            } else {
                format!("{pointer}/{field}")
            };
            error(CODE, format!("{at}: {m}"), Some(ENTRY_HELP.to_string())).at(&p)
        };
        let obj = item
            .as_object()
            .ok_or_else(|| fail("an `x-security` entry must be an object".into(), ""))?;
        let (name, scheme) = match (obj.get("schemeName"), obj.get("scheme")) {
            (Some(_), Some(_)) => {
                return Err(fail(
                    "an `x-security` entry gives `schemeName` or `scheme`, not both".into(),
                    "scheme",
                ))
            }
            (Some(n), None) => {
                let n = n
                    .as_str()
                    .ok_or_else(|| fail("`schemeName` must be a string".into(), "schemeName"))?;
                (Some(n.to_string()), named_scheme(n, schemes, pointer, at)?)
            }
            (None, Some(s)) => {
                let parsed = Scheme::parse(s).map_err(|m| fail(m, "scheme"))?;
                (None, Arc::new(parsed))
            }
            (None, None) => {
                return Err(fail(
                    "an `x-security` entry needs `schemeName` (a scheme of the source description) or an inline `scheme`".into(),
                    "",
                ))
            }
        };
        if *scheme == Scheme::MutualTls {
            let mut e = fail(
                "an `x-security` entry cannot give a client certificate (mutualTLS)".into(),
                if name.is_some() {
                    "schemeName"
                } else {
                    "scheme"
                },
            );
            e.help = Some("supply `clientCert` and `clientKey` with ARAZZO_AUTH_<SOURCE>_<SCHEME>_CLIENT_CERT and …_CLIENT_KEY or in --auth-file: every request to the source then presents the certificate".into());
            return Err(e);
        }
        let values = match obj.get("values") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(fail("`values` must be an object".into(), "values")),
        };
        let mut compiled = Vec::new();
        for (field, value) in &values {
            let here = format!("{pointer}/values/{}", token(field));
            if !FIELDS.contains(&field.as_str()) {
                let hint = suggest(field, FIELDS.iter().copied())
                    .map(|s| format!("{s} "))
                    .unwrap_or_default();
                return Err(error(
                    CODE,
                    format!("{at}: `{field}` is not a credential field"),
                    Some(format!("{hint}the fields are {}", FIELDS.join(", "))),
                )
                .at(&here));
            }
            let what = format!("{at}, x-security value `{field}`");
            if let Some(v) = self.value_at(value, &here, &what, located) {
                compiled.push((field.clone(), v));
            }
        }
        Ok(ExplicitScheme {
            name,
            scheme,
            values: compiled,
            pointer: pointer.to_string(),
        })
    }
}

/// The scheme `name` of the step's source description.
fn named_scheme(
    name: &str,
    schemes: &Schemes,
    pointer: &str,
    at: &str,
) -> Result<Arc<Scheme>, CompileError> {
    schemes.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = schemes.keys().map(String::as_str).collect();
        let help = match suggest(name, known.iter().copied()) {
            Some(s) => s,
            None if known.is_empty() => {
                "the source description defines no security schemes: write the scheme inline with `scheme`".into()
            }
            None => format!("the source description's schemes are {}", known.join(", ")),
        };
        error(
            CODE,
            format!("{at}: the source description has no security scheme `{name}`"),
            Some(help),
        )
        .at(&format!("{pointer}/schemeName"))
    })
}

const ENTRY_HELP: &str = "write `x-security: [{schemeName: <a scheme of the source description>, values: {token: $inputs.token}}]`, or an inline `scheme: {type: http, scheme: bearer}` in place of `schemeName`";
