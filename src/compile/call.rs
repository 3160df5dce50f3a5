//! A step's request checked against the operation it calls: each parameter's
//! `in` and name against the operation's, the path parameters all given, the
//! body's replacement targets, and every request schema readable.

use std::sync::Arc;

use super::compiler::{Compiler, Place};
use super::errors::{error, suggest, CompileError};
use super::operation::Resolved;
use super::parameters::ParamAt;
use super::program::{CompiledBody, CompiledParam, OperationCall};
use super::step::StepRequest;
use super::values::BodyValues;
use crate::expr::Target;
use crate::openapi::{OpenApi, Operation, ParamIn, ParamSpec, SecretParam};

impl<'a> Compiler<'a> {
    /// Checks the step's parameters and body against the operation it calls.
    pub(super) fn operation_call(
        &mut self,
        (source, api, operation): Resolved,
        request: StepRequest,
        at: &Place,
        target_ptr: &str,
    ) -> Option<OperationCall> {
        let before = self.errors.len();
        let secret_params = self.secret_params(&api, at, target_ptr);
        let StepRequest {
            params,
            values,
            body,
        } = request;
        // Path parameters the step gives, whether or not their value compiles.
        // One given with another `in` is reported as that (`param/wrong-in`).
        let given_path: Vec<String> = params
            .iter()
            .filter(|p| {
                p.param.location.as_deref() == Some("path")
                    || operation.param(&p.param.name, ParamIn::Path).is_some()
            })
            .map(|p| p.param.name.clone())
            .collect();
        self.querystring_params(&params, &operation, &secret_params, at);
        let mut parameters: Vec<CompiledParam> = Vec::new();
        for (p, value) in params.into_iter().zip(values) {
            let (location, spec) = match param_target(&p, &operation, at) {
                Ok(target) => target,
                Err(e) => {
                    self.errors.push(e);
                    continue;
                }
            };
            let Some(value) = value else { continue };
            let name = p.param.name;
            parameters.push(CompiledParam {
                secret: is_secret(&name, location, &secret_params),
                name,
                location,
                value,
                spec,
            });
        }
        self.missing_path_params(&operation, &given_path, at, target_ptr);
        let media = operation
            .request_media_types()
            .first()
            .map(|s| s.to_string());
        let body = body.and_then(|b| self.call_body(media, b, at));
        let call = OperationCall {
            source,
            api,
            operation: Arc::new(operation),
            parameters,
            body,
            checkers: Default::default(),
            security: Default::default(),
        };
        self.errors
            .extend(unreadable_schemas(&call, at, target_ptr));
        if self.errors.len() != before {
            return None;
        }
        Some(call)
    }

    /// The parameters the description's security schemes send credentials in.
    /// A scheme that cannot be read is reported: arazzo must know them.
    fn secret_params(&mut self, api: &OpenApi, at: &Place, target_ptr: &str) -> Vec<SecretParam> {
        match api.secret_params() {
            Ok(s) => s,
            Err(e) => {
                self.errors.push(
                    error(
                        "openapi/invalid",
                        format!("{at}: {e}"),
                        Some("fix or restore the security scheme: arazzo must know which parameters carry credentials to keep them out of every output".to_string()),
                    )
                    .at(target_ptr),
                );
                Vec::new()
            }
        }
    }

    /// Reports each path parameter of the operation the step does not give.
    fn missing_path_params(
        &mut self,
        operation: &Operation,
        given_path: &[String],
        at: &Place,
        target_ptr: &str,
    ) {
        for spec in operation
            .parameters
            .iter()
            .filter(|s| s.location == ParamIn::Path)
        {
            if !given_path.contains(&spec.name) {
                self.errors.push(
                    error(
                        "param/missing-path-param",
                        format!(
                            "{at}: the required path parameter `{}` of `{} {}` is not given",
                            spec.name, operation.method, operation.path
                        ),
                        Some(format!(
                            "add `- name: {}\n  in: path\n  value: …` to the step's parameters",
                            spec.name
                        )),
                    )
                    .at(target_ptr),
                );
            }
        }
    }

    /// The request body (or message payload): its content type (given, else
    /// `default` (the operation's first, the message's), else JSON) and its
    /// replacements, each target checked as a JSON Pointer, or an XPath for an XML
    /// body. `None` when the payload did not compile.
    pub(super) fn call_body(
        &mut self,
        default: Option<String>,
        b: BodyValues,
        at: &Place,
    ) -> Option<CompiledBody> {
        let content_type = b
            .content_type
            .clone()
            .or(default)
            .unwrap_or_else(|| "application/json".to_string());
        let xml = content_type.to_ascii_lowercase().contains("xml");
        let mut replacements = Vec::new();
        let mut xml_replacements = Vec::new();
        for (target, kind, r_ptr, value) in b.replacements {
            match Target::compile(&target, kind.as_ref(), xml) {
                Err((in_kind, m)) => self.errors.push(
                    error(
                        "body/replacement-target",
                        format!("{at}, replacement target: {m}"),
                        Some(target_help(xml).to_string()),
                    )
                    .at(&format!(
                        "{r_ptr}/{}",
                        if in_kind {
                            "targetSelectorType"
                        } else {
                            "target"
                        }
                    )),
                ),
                Ok(t) => {
                    let Some(value) = value else { continue };
                    if t.xpath_version().is_some() {
                        xml_replacements.push((t, value));
                    } else {
                        replacements.push((t, value));
                    }
                }
            }
        }
        match b.payload {
            Some(None) => None,
            payload => Some(CompiledBody {
                content_type,
                payload: payload.flatten(),
                replacements,
                xml_replacements,
            }),
        }
    }
}

/// Where a parameter goes in the operation: its `in`, and its definition when
/// the operation declares it. The problem that stops it, placed: no or a wrong
/// `in`, another `in` than the operation's, or a path parameter not in the path.
fn param_target(
    p: &ParamAt,
    operation: &Operation,
    at: &Place,
) -> Result<(ParamIn, Option<ParamSpec>), CompileError> {
    let name = &p.param.name;
    let Some(loc_text) = p.param.location.as_deref() else {
        return Err(error(
            "param/missing-in",
            format!("{at}: parameter `{name}` has no `in`"),
            Some(
                "parameters of an operation step need `in: path`, `query`, `querystring`, `header` or `cookie`"
                    .to_string(),
            ),
        )
        .at(&p.name_ptr));
    };
    let Some(location) = ParamIn::parse(loc_text) else {
        return Err(error(
            "param/invalid-in",
            format!("{at}: parameter `{name}` has `in: {loc_text}`"),
            Some("`in` is one of path, query, querystring, header, cookie".to_string()),
        )
        .at(&p.in_ptr));
    };
    let spec = operation.param(name, location).cloned();
    if spec.is_none() {
        if let Some(other) = operation.parameters.iter().find(|s| &s.name == name) {
            return Err(error(
                "param/wrong-in",
                format!(
                    "{at}: parameter `{name}` is given `in: {loc_text}`, but the operation declares it `in: {}`",
                    other.location.as_str()
                ),
                Some(format!("write `in: {}`", other.location.as_str())),
            )
            .at(&p.in_ptr));
        }
        if location == ParamIn::Path {
            return Err(unknown_path_param(name, operation, at).at(&p.name_ptr));
        }
    }
    Ok((location, spec))
}

/// A path parameter `name` the operation's path does not hold, with the ones
/// it does (or the closest) for help.
fn unknown_path_param(name: &str, operation: &Operation, at: &Place) -> CompileError {
    let path_params = operation
        .parameters
        .iter()
        .filter(|s| s.location == ParamIn::Path)
        .map(|s| s.name.as_str());
    error(
        "param/unknown-path-param",
        format!(
            "{at}: path parameter `{name}` is not in the path `{}` of operation `{}`",
            operation.path,
            operation.operation_id.as_deref().unwrap_or("?")
        ),
        Some(match suggest(name, path_params) {
            Some(s) => s,
            None => format!(
                "the operation's path parameters are: {}",
                names_in(operation, ParamIn::Path)
            ),
        }),
    )
}

/// Whether a parameter carries a credential: its name says so, or a security
/// scheme of the description sends one there.
fn is_secret(name: &str, location: ParamIn, secret_params: &[SecretParam]) -> bool {
    let lname = if location == ParamIn::Header {
        name.to_ascii_lowercase()
    } else {
        name.to_string()
    };
    crate::openapi::credential_name(name)
        || secret_params
            .iter()
            .any(|s| s.location == location && s.name == lname)
}

/// Help for a replacement target that does not compile.
fn target_help(xml: bool) -> &'static str {
    if xml {
        "replacement targets of an XML body are XPath expressions such as `/pet/name` or `/pet/@id`"
    } else {
        "replacement targets are JSON Pointers such as `/pet/id`, or JSONPath queries with `targetSelectorType: jsonpath`"
    }
}

/// Every schema the requests are checked against must resolve: a `$ref` into
/// a file that is missing would otherwise go unnoticed. One error per schema
/// that cannot be read.
fn unreadable_schemas(call: &OperationCall, at: &Place, target_ptr: &str) -> Vec<CompileError> {
    let operation = &call.operation;
    let mut schemas: Vec<(String, &serde_json::Value)> = call
        .parameters
        .iter()
        .filter_map(|p| {
            let schema = p.spec.as_ref()?.schema.as_ref()?;
            Some((format!("parameter `{}`", p.name), schema))
        })
        .collect();
    if let Some(b) = &call.body {
        if let Some(s) = operation.body_schema(Some(&b.content_type)) {
            schemas.push(("request body".to_string(), s));
        }
    }
    let mut unreadable = Vec::new();
    for (what, schema) in schemas {
        if let Some(reason) = crate::schema::unreadable_ref(&call.api, schema) {
            unreadable.push(
                error(
                    "source/unreadable-ref",
                    format!(
                        "{at}: the {what} schema of `{} {}` cannot be read: {reason}",
                        operation.method, operation.path
                    ),
                    Some(
                        "restore what the `$ref` names, or bundle the description into one file"
                            .to_string(),
                    ),
                )
                .at(target_ptr),
            );
        }
    }
    unreadable
}

/// The names of the operation's parameters in `loc`, for help; `none` if none.
fn names_in(op: &Operation, loc: ParamIn) -> String {
    let v: Vec<&str> = op
        .parameters
        .iter()
        .filter(|p| p.location == loc)
        .map(|p| p.name.as_str())
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
