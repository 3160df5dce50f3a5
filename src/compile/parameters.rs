//! Parameter lists (a workflow's, a step's): Parameter Objects and Reusable
//! Objects resolved, each with the places of its parts for diagnostics.

use serde_json::Value;

use super::compiler::{Compiler, Place};
use super::errors::{error, CompileError};
use crate::document::Parameter;
use crate::openapi::{Operation, ParamIn, QueryMedia, SecretParam};

impl<'a> Compiler<'a> {
    /// Resolves a list of Parameter Objects and Reusable Objects. A broken item
    /// is reported at its place and left out; the others are still checked.
    pub(super) fn parameter_list(
        &mut self,
        raw: &[Value],
        list_ptr: &str,
        at: &Place,
    ) -> Vec<ParamAt> {
        let mut out: Vec<ParamAt> = Vec::new();
        for (k, item) in raw.iter().enumerate() {
            let item_ptr = format!("{list_ptr}/{k}");
            let p = match self.parameter(item, &item_ptr, at) {
                Ok(p) => p,
                Err(e) => {
                    self.errors.push(e.at(&item_ptr));
                    continue;
                }
            };
            if out.iter().any(|q| same_param(&q.param, &p.param)) {
                self.errors.push(
                    error(
                        "param/duplicate",
                        format!(
                            "{at}: parameter `{}`{} is given twice",
                            p.param.name,
                            p.param
                                .location
                                .as_deref()
                                .map(|l| format!(" (in {l})"))
                                .unwrap_or_default()
                        ),
                        Some(
                            "a parameter list must not hold duplicates (same name and `in`)"
                                .to_string(),
                        ),
                    )
                    .at(&p.name_ptr),
                );
                continue;
            }
            out.push(p);
        }
        out
    }

    /// Resolves one item of a parameter list (a Reusable Object's `value`
    /// overriding its component's) and notes where its parts are written.
    fn parameter(&self, item: &Value, item_ptr: &str, at: &Place) -> Result<ParamAt, CompileError> {
        let (resolved, value_ptr, name_ptr) = match item.get("reference") {
            Some(r) => {
                let mut target = self
                    .component(r, "parameters", at)
                    .map_err(|e| e.at(&format!("{item_ptr}/reference")))?;
                // A Reusable Object's `value` overrides the component's value.
                let value_ptr = match (item.get("value"), &mut target) {
                    (Some(v), Value::Object(m)) => {
                        m.insert("value".into(), v.clone());
                        format!("{item_ptr}/value")
                    }
                    _ => format!("{item_ptr}/reference"),
                };
                (target, value_ptr, format!("{item_ptr}/reference"))
            }
            None => (
                item.clone(),
                format!("{item_ptr}/value"),
                format!("{item_ptr}/name"),
            ),
        };
        let param = serde_json::from_value::<Parameter>(resolved).map_err(|e| {
            error(
                "param/invalid",
                format!("{at}: a parameter is malformed: {e}"),
                Some(
                    "a parameter has `name`, `in` (path, query, querystring, header or cookie) and `value`"
                        .to_string(),
                ),
            )
        })?;
        let in_ptr = if item.get("in").is_some() {
            format!("{item_ptr}/in")
        } else {
            name_ptr.clone()
        };
        Ok(ParamAt {
            param,
            value_ptr,
            name_ptr,
            in_ptr,
        })
    }
}

/// Whether two parameters are the same one: same `in` and name (a header's
/// name in any case).
pub(super) fn same_param(a: &Parameter, b: &Parameter) -> bool {
    let loc_a = a.location.as_deref().unwrap_or("");
    let loc_b = b.location.as_deref().unwrap_or("");
    loc_a == loc_b
        && if loc_a == "header" {
            a.name.eq_ignore_ascii_case(&b.name)
        } else {
            a.name == b.name
        }
}

/// A parameter with the places of its parts, for diagnostics.
#[derive(Debug, Clone)]
pub(super) struct ParamAt {
    pub(super) param: Parameter,
    pub(super) value_ptr: String,
    pub(super) name_ptr: String,
    pub(super) in_ptr: String,
}

impl<'a> Compiler<'a> {
    /// The `in: querystring` parameters of an operation step (Arazzo 1.1,
    /// OpenAPI 3.2), checked: at most one; none beside `in: query` parameters
    /// (OpenAPI forbids both in one operation; a credential that a security
    /// scheme sends in the query is allowed); and a value its media type can
    /// write (an object or array needs a declared media type that writes one).
    pub(super) fn querystring_params(
        &mut self,
        params: &[ParamAt],
        operation: &Operation,
        secret: &[SecretParam],
        at: &Place,
    ) {
        let is_in = |p: &ParamAt, loc: &str| p.param.location.as_deref() == Some(loc);
        let credential = |p: &ParamAt| {
            secret
                .iter()
                .any(|s| s.location == ParamIn::Query && s.name == p.param.name)
        };
        let strings: Vec<&ParamAt> = params.iter().filter(|p| is_in(p, "querystring")).collect();
        let queries: Vec<&ParamAt> = params
            .iter()
            .filter(|p| is_in(p, "query") && !credential(p))
            .collect();
        let Some(first) = strings.first() else {
            if let Some(q) = queries.first() {
                self.query_beside_declared_querystring(q, operation, at);
            }
            return;
        };
        for extra in &strings[1..] {
            self.errors.push(
                error(
                    "param/querystring-twice",
                    format!(
                        "{at}: parameter `{}` is a second `in: querystring` parameter (`{}` is the first)",
                        extra.param.name, first.param.name
                    ),
                    Some("a request has one query string: give all of it in one querystring parameter".to_string()),
                )
                .at(&extra.in_ptr),
            );
        }
        if !queries.is_empty() {
            let names: Vec<String> = queries
                .iter()
                .map(|q| format!("`{}`", q.param.name))
                .collect();
            self.errors.push(
                error(
                    "param/querystring-with-query",
                    format!(
                        "{at}: the querystring parameter `{}` is given together with `in: query` parameter{} {}",
                        first.param.name,
                        if names.len() == 1 { "" } else { "s" },
                        names.join(", ")
                    ),
                    Some("a querystring parameter is the whole query string, and OpenAPI forbids both in one operation: put those values in its value, or give `in: query` parameters only".to_string()),
                )
                .at(&first.in_ptr),
            );
        }
        for p in &strings {
            let refused = unwritable_querystring(&p.param.value, operation);
            if let Some(why) = refused {
                self.errors.push(
                    error(
                        "param/querystring-value",
                        format!("{at}: the value of querystring parameter `{}` cannot be written: {why}", p.param.name),
                        Some("give the query string as a string, e.g. `value: 'a={$inputs.a}&b=2'`".to_string()),
                    )
                    .at(&p.value_ptr),
                );
            }
        }
    }
}

impl<'a> Compiler<'a> {
    /// An `in: query` parameter the operation does not declare, given to an
    /// operation that takes its whole query string as a querystring parameter.
    fn query_beside_declared_querystring(
        &mut self,
        q: &ParamAt,
        operation: &Operation,
        at: &Place,
    ) {
        let Some(qs) = operation.querystring() else {
            return;
        };
        if operation.param(&q.param.name, ParamIn::Query).is_some() {
            return;
        }
        self.errors.push(
            error(
                "param/querystring-with-query",
                format!(
                    "{at}: parameter `{}` is given `in: query`, but `{} {}` takes its whole query string as the querystring parameter `{}`",
                    q.param.name, operation.method, operation.path, qs.name
                ),
                Some(format!(
                    "give the query string in one parameter: `- name: {}\n  in: querystring\n  value: '{}=…'`",
                    qs.name, q.param.name
                )),
            )
            .at(&q.in_ptr),
        );
    }
}

/// Why a querystring value written as an object or array cannot be sent in
/// the media type of the operation's querystring parameter (`None`: it can,
/// or it is a string or scalar, written as text).
fn unwritable_querystring(value: &Value, operation: &Operation) -> Option<String> {
    let media = QueryMedia::of(operation.querystring());
    match (value, media) {
        (Value::Object(_) | Value::Array(_), QueryMedia::Json) => None,
        (Value::Object(_), QueryMedia::Form) => None,
        (Value::Object(_) | Value::Array(_), QueryMedia::Unknown) => Some(format!(
            "`{} {}` declares no querystring parameter whose media type says how to write an object or array",
            operation.method, operation.path
        )),
        (Value::Array(_), QueryMedia::Form) => Some(
            "an `application/x-www-form-urlencoded` query string is written from a string or an object, not an array".to_string(),
        ),
        (Value::Object(_) | Value::Array(_), _) => Some(format!(
            "the querystring parameter's media type `{}` is written from a string",
            operation.querystring().and_then(|s| s.media_type.as_deref()).unwrap_or("?")
        )),
        _ => None,
    }
}
