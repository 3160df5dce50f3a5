//! Finding the operation a step names: by `operationId` (bare, or
//! `$sourceDescriptions.<name>.<operationId>`) or by `operationPath`, among the
//! OpenAPI sources of the step's document.

use std::sync::Arc;

use super::compiler::{Compiler, Place};
use super::errors::{error, fail, suggest, CompileError};
use crate::document::{SourceRef, Step};
use crate::expr::Pointer;
use crate::openapi::{OpenApi, OpenApiError, Operation};
use crate::read::display_url;

/// An operation found for a step: the name of its source, the description,
/// and the operation.
pub(super) type Resolved = (String, Arc<OpenApi>, Operation);

/// The OpenAPI sources of a document, by name.
type Sources<'s> = [(&'s str, &'s Arc<OpenApi>)];

impl<'a> Compiler<'a> {
    /// An operationPath whose part before `#` names a source by its name or its
    /// URL instead of `{$sourceDescriptions.<name>.url}`: the error, with its
    /// fix, and the path as it should be written.
    pub(super) fn bare_operation_path(
        &self,
        path: &str,
        at: &Place,
    ) -> Option<(CompileError, String)> {
        let (head, fragment) = path.split_once('#')?;
        if head.starts_with("{$") {
            return None;
        }
        let doc = at.doc;
        let d = &self.loaded.docs[doc].doc.doc;
        let source = d
            .source_descriptions
            .iter()
            .find(|s| s.name == head)
            .or_else(|| {
                d.source_descriptions
                    .iter()
                    .find(|s| !head.is_empty() && s.url == head)
            })
            .or_else(|| {
                // No head at all: the only OpenAPI source is meant.
                let mut openapi = self.openapi_sources(doc).into_iter();
                let only = openapi
                    .next()
                    .filter(|_| head.is_empty() && openapi.next().is_none())?;
                d.source_descriptions.iter().find(|s| s.name == only.0)
            })?;
        let with = format!("{{$sourceDescriptions.{}.url}}", source.name);
        let fixed = format!("{with}#{fragment}");
        let mut e = error(
            "ref/operation-path",
            format!(
                "{at}: operationPath `{path}` must start with `{{$sourceDescriptions.<name>.url}}`"
            ),
            Some(format!(
                "write `operationPath: '{fixed}'` (`arazzo validate --fix` does it)"
            )),
        );
        e.fix = Some(Box::new((format!("{head}#"), format!("{with}#"))));
        Some((e, fixed))
    }

    /// The OpenAPI sources of document `doc`, with their names.
    fn openapi_sources(&self, doc: usize) -> Vec<(&'a str, &'a Arc<OpenApi>)> {
        self.loaded.docs[doc]
            .sources
            .iter()
            .filter_map(|(n, s)| match s {
                SourceRef::OpenApi(api) => Some((n.as_str(), api)),
                SourceRef::Arazzo(_) | SourceRef::AsyncApi(_) => None,
            })
            .collect()
    }

    /// Finds the operation the step names.
    pub(super) fn resolve_operation(
        &self,
        step: &Step,
        at: &Place,
    ) -> Result<Resolved, CompileError> {
        let sources = self.openapi_sources(at.doc);
        if let Some(id) = &step.operation_id {
            // `$sourceDescriptions.<name>.<operationId>`: split at the first dot after the name.
            return match id.strip_prefix("$sourceDescriptions.") {
                Some(rest) => operation_in_source(at, id, rest, &sources),
                None => operation_by_id(at, id, &sources),
            };
        }
        if let Some(path) = &step.operation_path {
            return resolve_operation_path(at, path, &sources);
        }
        fail(
            "step/target",
            format!("{at} names no operation"),
            Some(
                "give the step an `operationId`, an `operationPath` or a `workflowId`".to_string(),
            ),
        )
    }
}

/// An error of the description, while looking for an operation in it.
fn openapi_error(at: &Place, e: OpenApiError) -> CompileError {
    CompileError {
        code: "openapi/invalid",
        pointer: None,
        message: format!("{at}: {e}"),
        help: None,
        ..Default::default()
    }
}

/// `operationId: $sourceDescriptions.<name>.<operationId>` (`rest` is what
/// follows `$sourceDescriptions.`): the operation in that source.
fn operation_in_source(
    at: &Place,
    id: &str,
    rest: &str,
    sources: &Sources,
) -> Result<Resolved, CompileError> {
    let Some((name, op_id)) = rest.split_once('.') else {
        return fail(
            "step/target",
            format!("{at}: `{id}` names no operation"),
            Some("write `$sourceDescriptions.<source>.<operationId>`".to_string()),
        );
    };
    let Some((_, api)) = sources.iter().find(|(n, _)| *n == name) else {
        return fail("ref/unknown-source",
            format!("{at}: `{id}` names the source `{name}`, which is not an OpenAPI source description of this document"),
            Some(format!("OpenAPI sources: {}", sources.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))),
        );
    };
    shared_operation_id(api, name, op_id, at)?;
    match api.operation(op_id).map_err(|e| openapi_error(at, e))? {
        Some(op) => Ok((name.to_string(), Arc::clone(api), op)),
        None => fail(
            "ref/unknown-operation",
            format!("{at}: operation `{op_id}` is not in source `{name}`"),
            Some(unknown_operation_help(op_id, api)),
        ),
    }
}

/// The help for an operationId the description lacks: the nearest one, or,
/// when none is near, a few that exist and how to list them all.
fn unknown_operation_help(id: &str, api: &OpenApi) -> String {
    if let Some(near) = suggest(id, api.operation_ids()) {
        return near;
    }
    let some: Vec<&str> = api.operation_ids().take(5).collect();
    if some.is_empty() {
        return "the description defines no operationId: name the operation by `operationPath` instead".into();
    }
    format!(
        "check the spelling against the description; its operationIds include {}",
        some.iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A bare `operationId`: the operation in the document's only OpenAPI source.
/// With several, the step must say which.
fn operation_by_id(at: &Place, id: &str, sources: &Sources) -> Result<Resolved, CompileError> {
    match sources {
        [] => fail(
            "ref/unknown-source",
            format!("{at}: the document has no OpenAPI source description to find `{id}` in"),
            None,
        ),
        [(name, api)] => {
            shared_operation_id(api, name, id, at)?;
            match api.operation(id).map_err(|e| openapi_error(at, e))? {
                Some(op) => Ok((name.to_string(), Arc::clone(api), op)),
                None => fail(
                    "ref/unknown-operation",
                    format!(
                        "{at}: operation `{id}` is not in source `{name}` (`{}`)",
                        display_url(&api.url)
                    ),
                    Some(unknown_operation_help(id, api)),
                ),
            }
        }
        many => {
            let holders: Vec<&str> = many
                .iter()
                .filter(|(_, a)| a.has_operation(id))
                .map(|(n, _)| *n)
                .collect();
            fail(
                "ref/ambiguous-operation",
                format!("{at}: `operationId: {id}` is ambiguous with several OpenAPI sources"),
                Some(match holders.as_slice() {
                    [] => format!("no source defines `{id}`"),
                    hs => format!(
                        "write `operationId: $sourceDescriptions.{}.{id}` (defined in: {})",
                        hs[0],
                        hs.join(", ")
                    ),
                }),
            )
        }
    }
}

/// An operationId that several operations of the description share names none
/// of them for sure: which one the step means must be said by its path.
fn shared_operation_id(
    api: &OpenApi,
    source: &str,
    id: &str,
    at: &Place,
) -> Result<(), CompileError> {
    let Some(ops) = api.operations_sharing(id) else {
        return Ok(());
    };
    let list: Vec<String> = ops
        .iter()
        .map(|(path, method)| format!("{} {path}", shown_method(method)))
        .collect();
    let (path, method) = &ops[0];
    let escaped = path.replace('~', "~0").replace('/', "~1");
    // An `additionalOperations` method is named under that field.
    let method = match crate::openapi::METHODS.contains(&method.as_str()) {
        true => method.to_string(),
        false => format!(
            "additionalOperations/{}",
            method.replace('~', "~0").replace('/', "~1")
        ),
    };
    fail(
        "ref/duplicate-operation-id",
        format!(
            "{at}: operationId `{id}` names {} operations of source `{source}`: {}",
            ops.len(),
            list.join(", ")
        ),
        Some(format!(
            "give each operation its own operationId in the description, or name the operation by its path, e.g. `operationPath: '{{$sourceDescriptions.{source}.url}}#/paths/{escaped}/{method}'`"
        )),
    )
}

/// A method as the index keeps it, as sent: a fixed field upper-cased, an
/// `additionalOperations` key as written.
fn shown_method(method: &str) -> String {
    match crate::openapi::METHODS.contains(&method) {
        true => method.to_ascii_uppercase(),
        false => method.to_string(),
    }
}

/// `{$sourceDescriptions.<name>.url}#/paths/~1things~1{id}/get`, or for a
/// method of OpenAPI 3.2's `additionalOperations`
/// `…#/paths/~1things~1{id}/additionalOperations/COPY`.
fn resolve_operation_path(
    at: &Place,
    path: &str,
    sources: &Sources,
) -> Result<Resolved, CompileError> {
    let help = Some(
        "write `operationPath: '{$sourceDescriptions.<name>.url}#/paths/~1path~1{param}/get'`"
            .to_string(),
    );
    let Some((head, fragment)) = path.split_once('#') else {
        return fail(
            "ref/operation-path",
            format!("{at}: operationPath `{path}` has no `#` JSON Pointer"),
            help,
        );
    };
    let name = head
        .strip_prefix("{$sourceDescriptions.")
        .and_then(|r| r.strip_suffix(".url}"));
    let Some(name) = name else {
        return fail(
            "ref/operation-path",
            format!(
                "{at}: operationPath `{path}` must start with `{{$sourceDescriptions.<name>.url}}`"
            ),
            help,
        );
    };
    let Some((_, api)) = sources.iter().find(|(n, _)| *n == name) else {
        return fail("ref/unknown-source", 
            format!("{at}: operationPath names the source `{name}`, which is not an OpenAPI source of this document"),
            suggest(name, sources.iter().map(|(n, _)| *n)),
        );
    };
    let decoded = percent_encoding::percent_decode_str(fragment).decode_utf8_lossy();
    let pointer = Pointer::parse(&decoded).map_err(|m| CompileError {
        code: "ref/operation-path",
        pointer: None,
        message: format!("{at}: operationPath: {m}"),
        help: None,
        ..Default::default()
    })?;
    let found = match pointer.tokens() {
        [paths, template, method] if paths == "paths" => Some((template, method)),
        [paths, template, field, method]
            if paths == "paths" && crate::openapi::ADDITIONAL.contains(&field.as_str()) =>
        {
            Some((template, method))
        }
        _ => None,
    };
    match found {
        Some((template, method)) => {
            let op = api.operation_at(template, method).map_err(|e| CompileError {
                code: "ref/operation-path",
                pointer: None,
                message: format!("{at}: operationPath `{path}`: {e}"),
                help: None, ..Default::default()
            })?;
            Ok((name.to_string(), Arc::clone(api), op))
        }
        None => fail("ref/operation-path",
            format!("{at}: operationPath `{path}` does not point at an operation (`#/paths/<escaped path>/<method>`, or `…/additionalOperations/<METHOD>`)"),
            help,
        ),
    }
}
