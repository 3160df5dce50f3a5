//! Message steps (Arazzo 1.1): a step on an AsyncAPI operation or channel, found
//! and checked here, so that a mistake (an unknown operation, a channel address
//! placeholder without a value, a receive that cannot be correlated, a protocol
//! `arazzo` does not speak) is reported at its field before anything is sent.

use std::sync::Arc;

use super::compiler::{Compiler, Place};
use super::errors::{error, suggest, token, CompileError};
use super::program::{CompiledParam, MessageAction, MessageCall, PayloadCheck, StepTarget};
use super::step::StepRequest;
use crate::asyncapi::{AsyncApi, MessageOp};
use crate::broker::Protocol;
use crate::document::{SourceRef, Step};
use crate::openapi::ParamIn;

/// What a message step names: the source, and the operation or channel.
struct Named {
    source: String,
    api: Arc<AsyncApi>,
    op: MessageOp,
    /// The step field that named it (`operationId`, `channelPath`, …).
    field: &'static str,
}

impl<'a> Compiler<'a> {
    /// The AsyncAPI sources of the document, with their names.
    fn async_sources(&self, doc: usize) -> Vec<(&'a str, &'a Arc<AsyncApi>)> {
        self.loaded.docs[doc]
            .sources
            .iter()
            .filter_map(|(n, s)| match s {
                SourceRef::AsyncApi(api) => Some((n.as_str(), api)),
                _ => None,
            })
            .collect()
    }

    /// Whether the step is a message step: it has a `channelPath` or an `action`, or
    /// its operationId (or the spec example's `operationPath:
    /// $sourceDescriptions.<asyncapi>.<id>`) names an AsyncAPI source, or is found in
    /// an AsyncAPI source and in no OpenAPI one.
    pub(super) fn is_message_step(&self, step: &Step, at: &Place) -> bool {
        if step.workflow_id.is_some() {
            return false;
        }
        if step.channel_path.is_some() || step.action.is_some() {
            return true;
        }
        let asyncs = self.async_sources(at.doc);
        let names_async = |s: &str| {
            let s = s.trim_start_matches('{');
            s.strip_prefix("$sourceDescriptions.").is_some_and(|rest| {
                let name = rest.split(['.', '#', '}']).next().unwrap_or("");
                asyncs.iter().any(|(n, _)| *n == name)
            })
        };
        if let Some(id) = &step.operation_id {
            if id.starts_with("$sourceDescriptions.") {
                return names_async(id);
            }
            let in_async = asyncs.iter().any(|(_, a)| a.has_operation(id));
            let in_openapi = self.loaded.docs[at.doc]
                .sources
                .iter()
                .any(|(_, s)| matches!(s, SourceRef::OpenApi(api) if api.has_operation(id)));
            return in_async && !in_openapi;
        }
        step.operation_path.as_deref().is_some_and(names_async)
    }

    /// The target of a message step, or `None` with its problems reported.
    pub(super) fn message_target(
        &mut self,
        step: &Step,
        request: StepRequest,
        at: &Place,
    ) -> Option<StepTarget> {
        let named = match self.find_message_op(step, at) {
            Ok(n) => n,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        let action = self.message_action(step, at)?;
        let target_ptr = at.pointer_to(named.field);
        let before = self.errors.len();
        self.check_protocols(&named, &target_ptr, at);
        self.check_headers(step, &named, &request, action, at);
        let address = self.address_of(&named, &target_ptr, at);
        let (address_params, headers) =
            self.message_params(&named, &request, action, address.as_deref(), at);
        let body = self.message_body(&named, request, action, at);
        let (correlation_id, correlations) = self.correlation(step, &named, action, at);
        if self.errors.len() != before {
            return None;
        }
        let payload_checks = Arc::new(payload_checks(&named));
        Some(StepTarget::Message(Box::new(MessageCall {
            source: named.source,
            api: named.api,
            op: Arc::new(named.op),
            action,
            address_params,
            headers,
            body,
            correlation_id,
            correlations,
            payload_checks,
        })))
    }

    /// The step's `action`: required on a message step (the description's own action
    /// is the application's side, which a workflow often reverses).
    fn message_action(&mut self, step: &Step, at: &Place) -> Option<MessageAction> {
        match step.action.as_deref() {
            Some("send") => Some(MessageAction::Send),
            Some("receive") => Some(MessageAction::Receive),
            Some(other) => {
                self.errors.push(
                    error(
                        "step/action",
                        format!("{at}: `action: {other}` is neither `send` nor `receive`"),
                        Some("write `action: send` to publish a message, or `action: receive` to wait for one".into()),
                    )
                    .at(&at.pointer_to("action")),
                );
                None
            }
            None => {
                let ptr = if step.channel_path.is_some() {
                    "channelPath"
                } else {
                    "stepId"
                };
                self.errors.push(
                    error(
                        "step/action",
                        format!("{at} is a message step without an `action`"),
                        Some("add `action: send` (publish the message) or `action: receive` (wait for one); the AsyncAPI operation's own action describes the application's side, so arazzo does not guess".into()),
                    )
                    .at(&at.pointer_to(ptr)),
                );
                None
            }
        }
    }

    /// Finds the operation or channel the step names: by `channelPath`, by a
    /// pointer in `operationId`/`operationPath`, or by operation id.
    fn find_message_op(&self, step: &Step, at: &Place) -> Result<Named, CompileError> {
        if let Some(path) = &step.channel_path {
            return self.op_at_pointer(path, "channelPath", "step/channel-path", at);
        }
        let (field, written) = match (&step.operation_id, &step.operation_path) {
            (Some(id), _) => ("operationId", id.as_str()),
            (None, Some(p)) => ("operationPath", p.as_str()),
            (None, None) => {
                return Err(error(
                    "step/target",
                    format!("{at} is a message step that names no operation or channel"),
                    Some("add `operationId: <id>` or `channelPath: $sourceDescriptions.<source>#/channels/<channel>`".into()),
                )
                .at(&at.pointer_to("stepId")))
            }
        };
        if written.contains('#') {
            return self.op_at_pointer(written, field, "step/operation", at);
        }
        self.op_by_id(written, field, at)
    }

    /// The AsyncAPI source `name` of the step's document.
    fn async_source(
        &self,
        name: &str,
        field: &str,
        at: &Place,
    ) -> Result<(String, Arc<AsyncApi>), CompileError> {
        let asyncs = self.async_sources(at.doc);
        if let Some((n, a)) = asyncs.iter().find(|(n, _)| *n == name) {
            return Ok((n.to_string(), Arc::clone(a)));
        }
        let names: Vec<&str> = asyncs.iter().map(|(n, _)| *n).collect();
        Err(error(
            "ref/unknown-source",
            format!("{at}: no AsyncAPI source description is named `{name}`"),
            suggest(name, names.iter().copied())
                .or_else(|| Some(format!("the AsyncAPI sources are: {}", list(&names)))),
        )
        .at(&at.pointer_to(field)))
    }

    /// What `written` (`$sourceDescriptions.<source>#/…` and its other forms) points
    /// at: a channel or an operation.
    fn op_at_pointer(
        &self,
        written: &str,
        field: &'static str,
        code: &'static str,
        at: &Place,
    ) -> Result<Named, CompileError> {
        let names: Vec<&str> = self.async_sources(at.doc).iter().map(|(n, _)| *n).collect();
        let (name, pointer) = split_path(written, &names).map_err(|m| {
            error(
                code,
                format!("{at}: {m}"),
                Some("write `$sourceDescriptions.<source>#/channels/<channel>`".into()),
            )
            .at(&at.pointer_to(field))
        })?;
        let (source, api) = self.async_source(&name, field, at)?;
        let op = api.at_pointer(&pointer).map_err(|m| {
            error(code, format!("{at}: `{written}`: {m}"), channel_help(&api))
                .at(&at.pointer_to(field))
        })?;
        Ok(Named {
            source,
            api,
            op,
            field,
        })
    }

    /// The operation `written` (`<id>` or `$sourceDescriptions.<source>.<id>`): in the
    /// source it names, else in the one AsyncAPI source that has it.
    fn op_by_id(
        &self,
        written: &str,
        field: &'static str,
        at: &Place,
    ) -> Result<Named, CompileError> {
        let (candidates, id) = match written.strip_prefix("$sourceDescriptions.") {
            Some(rest) => {
                let (name, id) = rest.split_once('.').unwrap_or((rest, ""));
                (vec![self.async_source(name, field, at)?], id)
            }
            None => (
                self.async_sources(at.doc)
                    .iter()
                    .map(|(n, a)| (n.to_string(), Arc::clone(a)))
                    .collect(),
                written,
            ),
        };
        let mut found = Vec::new();
        for (name, api) in &candidates {
            match api.operation(id) {
                Ok(Some(op)) => found.push((name.clone(), Arc::clone(api), op)),
                Ok(None) => {}
                Err(m) => {
                    return Err(error(
                        "step/operation",
                        format!("{at}: operation `{id}` of source `{name}`: {m}"),
                        None,
                    )
                    .at(&at.pointer_to(field)))
                }
            }
        }
        if found.len() == 1 {
            let (source, api, op) = found.remove(0);
            return Ok(Named {
                source,
                api,
                op,
                field,
            });
        }
        Err(if found.is_empty() {
            let ids: Vec<String> = candidates
                .iter()
                .flat_map(|(_, a)| a.operation_ids())
                .collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            error(
                "ref/unknown-operation",
                format!("{at}: no AsyncAPI operation has the id `{id}`"),
                suggest(id, ids.iter().copied())
                    .or_else(|| Some(format!("the operations are: {}", list(&ids)))),
            )
        } else {
            let sources: Vec<String> = found.iter().map(|f| format!("`{}`", f.0)).collect();
            error(
                "ref/ambiguous-operation",
                format!(
                    "{at}: the operation `{id}` is in several AsyncAPI sources ({})",
                    sources.join(", ")
                ),
                Some(format!(
                    "name the source: `operationId: $sourceDescriptions.{}.{id}`",
                    found[0].0
                )),
            )
        }
        .at(&at.pointer_to(field)))
    }

    /// Every server of the channel must be usable, or at least one: a protocol
    /// message steps do not speak is an error naming those they do.
    fn check_protocols(&mut self, named: &Named, target_ptr: &str, at: &Place) {
        let servers = &named.op.servers;
        if servers.is_empty()
            || servers
                .iter()
                .any(|s| Protocol::from_name(&s.protocol).is_some())
        {
            return;
        }
        let written: Vec<String> = servers
            .iter()
            .map(|s| format!("`{}` ({})", s.name, s.protocol))
            .collect();
        self.errors.push(
            error(
                "source/protocol",
                format!(
                    "{at}: the channel's servers speak no protocol arazzo sends messages over: {}",
                    written.join(", ")
                ),
                Some(format!(
                    "message steps speak {}; give a broker of one of them with `--server {}=<scheme>://host:port`",
                    crate::broker::SUPPORTED,
                    named.source
                )),
            )
            .at(target_ptr),
        );
    }

    /// Where every server of the channel speaks a protocol whose messages carry no
    /// headers (MQTT 3.1.1, WebSocket), a header parameter, or a correlation id read
    /// from a header, can never work: an error at it.
    fn check_headers(
        &mut self,
        step: &Step,
        named: &Named,
        request: &StepRequest,
        action: MessageAction,
        at: &Place,
    ) {
        let usable: Vec<(Protocol, Option<&str>)> = named
            .op
            .servers
            .iter()
            .filter_map(|s| {
                Some((
                    Protocol::from_name(&s.protocol)?.0,
                    s.protocol_version.as_deref(),
                ))
            })
            .collect();
        if usable.is_empty() || usable.iter().any(|(p, v)| p.has_headers(*v)) {
            return;
        }
        let which = match usable[0] {
            (Protocol::Ws, _) => "WebSocket messages",
            _ => "MQTT 3.1.1 messages",
        };
        for p in &request.params {
            if action == MessageAction::Send && p.param.location.as_deref() == Some("header") {
                self.errors.push(
                    error(
                        "param/invalid-in",
                        format!("{at}: parameter `{}` is a header, and {which} (the channel's servers) carry no headers", p.param.name),
                        Some("put the value in the payload (`requestBody`) instead".into()),
                    )
                    .at(&p.in_ptr),
                );
            }
        }
        let all_in_headers = named
            .op
            .messages
            .iter()
            .filter_map(|m| m.correlation.as_ref())
            .all(|c| c.in_header);
        let any = named.op.messages.iter().any(|m| m.correlation.is_some());
        if action == MessageAction::Receive
            && step.correlation_id.is_some()
            && any
            && all_in_headers
        {
            self.errors.push(
                error(
                    "step/correlation-id",
                    format!("{at}: the channel's messages keep their correlation id in a header, and {which} (the channel's servers) carry no headers, so no message could ever match"),
                    Some("in the AsyncAPI description, give the message a `correlationId.location` in the payload (`$message.payload#/<field>`)".into()),
                )
                .at(&at.pointer_to("correlationId")),
            );
        }
    }

    /// The channel's address (placeholders and all); a channel whose address the
    /// description leaves unknown (`address: null`) cannot be used.
    fn address_of(&mut self, named: &Named, target_ptr: &str, at: &Place) -> Option<String> {
        match &named.op.channel.address {
            Some(a) => Some(a.clone()),
            None => {
                self.errors.push(
                    error(
                        "step/channel-address",
                        format!(
                            "{at}: the channel `{}` has `address: null` (decided at run time by the application), so there is nowhere to send or listen",
                            named.op.channel.key
                        ),
                        Some("give the channel an address in the AsyncAPI description".into()),
                    )
                    .at(target_ptr),
                );
                None
            }
        }
    }

    /// The step's parameters: `in: path` fill the address's placeholders (each one
    /// needs a value, and no other is allowed); `in: header` become the sent message's
    /// headers. Any other `in`, or a header on a receive, is an error.
    #[allow(clippy::type_complexity)]
    fn message_params(
        &mut self,
        named: &Named,
        request: &StepRequest,
        action: MessageAction,
        address: Option<&str>,
        at: &Place,
    ) -> (Vec<(String, crate::expr::ValueExpr)>, Vec<CompiledParam>) {
        let placeholders = address.map(placeholders).unwrap_or_default();
        let mut address_params = Vec::new();
        let mut headers = Vec::new();
        for (p, value) in request.params.iter().zip(&request.values) {
            let name = &p.param.name;
            match p.param.location.as_deref() {
                Some("path") => {
                    if address.is_some() && !placeholders.iter().any(|h| h == name) {
                        self.errors.push(
                            error(
                                "param/unknown-path-param",
                                format!("{at}: parameter `{name}` (`in: path`) fills no `{{{name}}}` in the channel address `{}`", address.unwrap_or("")),
                                suggest(name, placeholders.iter().map(String::as_str))
                                    .or_else(|| Some(if placeholders.is_empty() {
                                        "the address has no placeholders; remove the parameter".to_string()
                                    } else {
                                        format!("the address's placeholders are: {}", list(&placeholders.iter().map(String::as_str).collect::<Vec<_>>()))
                                    })),
                            )
                            .at(&p.name_ptr),
                        );
                    } else if let Some(v) = value {
                        address_params.push((name.clone(), v.clone()));
                    }
                }
                Some("header") if action == MessageAction::Send => {
                    if let Some(v) = value {
                        headers.push(CompiledParam {
                            name: name.clone(),
                            location: ParamIn::Header,
                            value: v.clone(),
                            spec: None,
                            secret: false,
                        });
                    }
                }
                Some("header") => self.errors.push(
                    error(
                        "param/invalid-in",
                        format!("{at}: parameter `{name}` is a header, and a receive step sends nothing"),
                        Some("remove it; to wait for a particular message, use `correlationId` or `successCriteria`".into()),
                    )
                    .at(&p.in_ptr),
                ),
                other => self.errors.push(
                    error(
                        "param/invalid-in",
                        format!(
                            "{at}: parameter `{name}` has `in: {}`; a message step takes `in: path` (a channel address placeholder) and `in: header` (a message header)",
                            other.unwrap_or("(none)")
                        ),
                        Some("write `in: path` or `in: header`".into()),
                    )
                    .at(if other.is_some() { &p.in_ptr } else { &p.name_ptr }),
                ),
            }
        }
        for h in &placeholders {
            if !request
                .params
                .iter()
                .any(|p| &p.param.name == h && p.param.location.as_deref() == Some("path"))
            {
                self.errors.push(
                    error(
                        "param/missing-path-param",
                        format!(
                            "{at}: the channel address `{}` has the placeholder `{{{h}}}` and no parameter gives it",
                            address.unwrap_or("")
                        ),
                        Some(format!("add a parameter `{{name: {h}, in: path, value: …}}`")),
                    )
                    .at(&at.pointer_to(named.field)),
                );
            }
        }
        (address_params, headers)
    }

    /// A send's payload (`requestBody`), in the message's content type unless the step
    /// gives one; a receive has none.
    fn message_body(
        &mut self,
        named: &Named,
        request: StepRequest,
        action: MessageAction,
        at: &Place,
    ) -> Option<super::program::CompiledBody> {
        let body = request.body?;
        if action == MessageAction::Receive {
            self.errors.push(
                error(
                    "step/invalid",
                    format!(
                        "{at}: a receive step sends nothing, so it cannot have a `requestBody`"
                    ),
                    Some("move the payload to a `send` step, or remove it".into()),
                )
                .at(&at.pointer_to("requestBody")),
            );
            return None;
        }
        let default = named
            .op
            .messages
            .iter()
            .find_map(|m| m.content_type.clone());
        self.call_body(default, body, at)
    }

    /// A receive's `correlationId`, with where the channel's messages hold theirs.
    #[allow(clippy::type_complexity)]
    fn correlation(
        &mut self,
        step: &Step,
        named: &Named,
        action: MessageAction,
        at: &Place,
    ) -> (
        Option<crate::expr::ValueExpr>,
        Vec<crate::asyncapi::Correlation>,
    ) {
        let Some(value) = &step.correlation_id else {
            return (None, Vec::new());
        };
        let ptr = at.pointer_to("correlationId");
        if action == MessageAction::Send {
            self.errors.push(
                error(
                    "step/correlation-id",
                    format!("{at}: `correlationId` applies to a receive step, and this step sends"),
                    Some("put the correlation id in the message itself (a header or payload field, where the AsyncAPI message's `correlationId.location` says) and give the receive step the `correlationId`".into()),
                )
                .at(&ptr),
            );
            return (None, Vec::new());
        }
        let mut located = Vec::new();
        let what = format!("{at}, correlationId");
        let compiled = self.value_at(value, &ptr, &what, &mut located);
        let mut correlations: Vec<crate::asyncapi::Correlation> = Vec::new();
        for m in &named.op.messages {
            if let Some(c) = &m.correlation {
                if !correlations.contains(c) {
                    correlations.push(c.clone());
                }
            }
        }
        if correlations.is_empty() {
            let names: Vec<String> = named
                .op
                .messages
                .iter()
                .map(|m| format!("`{}`", m.name))
                .collect();
            self.errors.push(
                error(
                    "step/correlation-id",
                    format!(
                        "{at}: `correlationId` is given, and no message of the channel ({}) says where its correlation id is",
                        if names.is_empty() { "none listed".to_string() } else { names.join(", ") }
                    ),
                    Some("add `correlationId: {location: '$message.header#/<name>'}` (or `$message.payload#/<field>`) to the message in the AsyncAPI description, or remove the step's `correlationId` to take the first message".into()),
                )
                .at(&ptr),
            );
        }
        (compiled, correlations)
    }
}

/// `$sourceDescriptions.<name>#/ptr`, `{$sourceDescriptions.<name>.url}#/ptr`, or
/// `#/ptr` when the document has one AsyncAPI source: the source and the pointer.
fn split_path(path: &str, names: &[&str]) -> Result<(String, String), String> {
    let Some((head, pointer)) = path.split_once('#') else {
        return Err(format!("`{path}` has no `#/…` JSON Pointer"));
    };
    let head = head.trim();
    let name = if head.is_empty() {
        match names {
            [one] => one.to_string(),
            _ => {
                return Err(format!(
                    "`{path}` does not say which AsyncAPI source it points into"
                ))
            }
        }
    } else if let Some(inner) = head
        .strip_prefix("{$sourceDescriptions.")
        .and_then(|h| h.strip_suffix(".url}"))
    {
        inner.to_string()
    } else if let Some(inner) = head.strip_prefix("$sourceDescriptions.") {
        inner.trim_end_matches(".url").to_string()
    } else {
        return Err(format!(
            "`{path}` does not start with `$sourceDescriptions.<source>`"
        ));
    };
    Ok((name, format!("#{pointer}")))
}

/// The `{name}` placeholders of a channel address.
pub(crate) fn placeholders(address: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = address;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        out.push(rest[open + 1..open + len].to_string());
        rest = &rest[open + len + 1..];
    }
    out
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        return "(none)".into();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Help listing a description's channels.
fn channel_help(api: &AsyncApi) -> Option<String> {
    let keys: Vec<String> = api
        .tree
        .get("channels")
        .and_then(|c| c.as_object())
        .map(|c| {
            c.keys()
                .map(|k| format!("`#/channels/{}`", token(k)))
                .collect()
        })
        .unwrap_or_default();
    (!keys.is_empty()).then(|| format!("the channels are: {}", keys.join(", ")))
}

/// The payload schemas of the operation's messages, compiled once per description
/// (`$ref`s resolved in the whole description, recursive ones too); one that does
/// not compile is left out (`validate` reports it).
fn payload_checks(named: &Named) -> Vec<PayloadCheck> {
    named
        .op
        .messages
        .iter()
        .filter_map(|m| {
            let validator = named.api.checker(m.payload_pointer.as_deref()?)?;
            Some(PayloadCheck {
                message: m.name.clone(),
                validator,
            })
        })
        .collect()
}
