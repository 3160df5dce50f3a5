//! Checks an Arazzo document against the JSON Schema of its version (1.0 or 1.1, by its
//! `arazzo` field) and says what is wrong in words a person can act on.
//!
//! The schemas are OAI's work-in-progress iterations (`arazzo-1.0-schema.yaml` and
//! `arazzo-1.1-schema.yaml` beside this file, Apache-2.0, from the OpenAPI Initiative's
//! Arazzo-Specification repository). The published 2024-08-01 iteration of 1.0 is not used: it
//! wrongly requires `retryAfter` and a target on every retry action (checklist 76), which the
//! WIP iteration fixes. Where a schema is stricter than its specification, the deviation is
//! made on the loaded schema ([`apply_tolerances`]).
//!
//! A document that declares 1.0 but uses a field of 1.1 (`timeout`, `$self`, …) gets one
//! issue at that field, `schema/arazzo-1.1`, whose help is to set `arazzo: 1.1.0`, instead of
//! the 1.0 schema's "unknown field" (see [`structure::newer_features`]).
//!
//! A raw JSON Schema report is mostly noise: `oneOf` and `anyOf` report every alternative, and
//! `unevaluatedProperties` (which the schema puts on every object) flags a property as unknown
//! whenever anything inside it fails, so one bad field deep down comes back as "unknown field"
//! at every level above it. [`check`] keeps the alternative the document most likely meant,
//! drops "unknown" reports of properties that have their own errors, turns "exactly one of
//! these fields" into one message, and names places as `workflows[0].steps[2]`.

use crate::document::structure::{self, Version};
use std::collections::HashSet;
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::{json, Value};

/// The schema texts, embedded in the binary: no file or network access at run time. Their
/// `$ref`s are local (`#/$defs/…`, `#workflowId`, `#stepId`) except the 2020-12 meta-schema
/// used for workflow inputs, which the `jsonschema` crate ships.
static SCHEMA_1_0: &str = include_str!("arazzo-1.0-schema.yaml");
static SCHEMA_1_1: &str = include_str!("arazzo-1.1-schema.yaml");

/// The version whose schema checks `doc`: the one its `arazzo` field declares, else (a
/// version this tool does not read, a number, nothing) the newest, whose `arazzo` pattern
/// then says what is wrong.
pub fn schema_version(doc: &Value) -> Version {
    let declared = match doc.get("arazzo") {
        Some(Value::String(s)) => Version::of(s),
        Some(Value::Number(n)) => Version::of(&n.to_string()),
        _ => None,
    };
    declared.unwrap_or(Version::V1_1)
}

/// One thing the schema rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaIssue {
    /// JSON Pointer of the offending node (for an unknown field, the field itself; for a missing
    /// field, the object that lacks it).
    pub pointer: String,
    /// Stable identifier: `schema/required`, `schema/unknown-field`, `schema/type`,
    /// `schema/enum`, `schema/pattern`, `schema/oneOf`, `schema/min-items`,
    /// `schema/unique-items`, `schema/range` or `schema/invalid`.
    pub code: &'static str,
    /// What is wrong, and where (`workflows[0].steps[2]`).
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// Every schema issue of `doc`, in document order. An empty list means the document is valid
/// against the (tolerant, see [`apply_tolerances`]) Arazzo 1.0 schema.
pub fn check(doc: &Value) -> Vec<SchemaIssue> {
    let version = schema_version(doc);
    let errors: Vec<ValidationError<'_>> = validator(version).iter_errors(doc).collect();
    let found = convert_all(doc, &errors);
    // Arazzo 1.1 in a 1.0 document: said once, at the field, instead of what the 1.0 schema
    // says about it there (or under it).
    let newer = match version {
        Version::V1_0 => structure::newer_features(doc),
        Version::V1_1 => Vec::new(),
    };
    let covered = |pointer: &str| {
        newer
            .iter()
            .any(|(p, _)| pointer == p || pointer.starts_with(&format!("{p}/")))
    };
    let mut issues: Vec<(Vec<usize>, SchemaIssue)> = Vec::new();
    if version == Version::V1_1 {
        for issue in channels_without_asyncapi(doc) {
            issues.push((document_order(doc, &issue.pointer), issue));
        }
    }
    for (pointer, what) in &newer {
        let issue = newer_feature(doc, pointer, what);
        issues.push((document_order(doc, &issue.pointer), issue));
    }
    for f in merge_required(found) {
        let issue = render(doc, f);
        if covered(&issue.pointer) {
            continue;
        }
        if !issues.iter().any(|(_, i)| *i == issue) {
            issues.push((document_order(doc, &issue.pointer), issue));
        }
    }
    issues.sort_by(|a, b| a.0.cmp(&b.0));
    issues.into_iter().map(|(_, i)| i).collect()
}

/// `ref/wrong-source-type`: a step with a `channelPath` (an AsyncAPI channel) in a 1.1
/// document whose sources all declare a type and none is `asyncapi`: there is no channel to
/// name. (Known without loading the sources, so said with the schema's findings.)
fn channels_without_asyncapi(doc: &Value) -> Vec<SchemaIssue> {
    let sources: Vec<&Value> = doc
        .get("sourceDescriptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let kinds: Vec<Option<&str>> = sources
        .iter()
        .map(|s| s.get("type").and_then(Value::as_str))
        .collect();
    if kinds.is_empty() || kinds.iter().any(|k| matches!(k, None | Some("asyncapi"))) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, w) in doc
        .get("workflows")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for (j, step) in w
            .get("steps")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if step.get("channelPath").is_none() {
                continue;
            }
            let pointer = format!("/workflows/{i}/steps/{j}/channelPath");
            let subject = subject(doc, parent(&pointer), Kind::Step, false);
            out.push(issue(
                pointer,
                "ref/wrong-source-type",
                format!("{subject} has a `channelPath`, which names a channel of an AsyncAPI source, but the document has no AsyncAPI source description (every one declares another `type`)"),
                "an OpenAPI step names its operation by `operationId` or `operationPath`; a channelPath needs a source with `type: asyncapi`".to_string(),
            ));
        }
    }
    out
}

/// `schema/arazzo-1.1`: a feature of Arazzo 1.1 in a document that declares 1.0.
fn newer_feature(doc: &Value, pointer: &str, what: &str) -> SchemaIssue {
    let declared = doc.get("arazzo").and_then(Value::as_str).unwrap_or("1.0");
    issue(
        pointer.to_string(),
        "schema/arazzo-1.1",
        format!(
            "`{}`: {what}, and the document declares `arazzo: {declared}`",
            display_path(pointer)
        ),
        "set `arazzo: 1.1.0` to use Arazzo 1.1, or remove it".to_string(),
    )
}

fn validator(version: Version) -> &'static Validator {
    static V1_0: OnceLock<Validator> = OnceLock::new();
    static V1_1: OnceLock<Validator> = OnceLock::new();
    let (cell, text) = match version {
        Version::V1_0 => (&V1_0, SCHEMA_1_0),
        Version::V1_1 => (&V1_1, SCHEMA_1_1),
    };
    cell.get_or_init(|| {
        let mut schema: Value =
            serde_yaml_ng::from_str(text).expect("the embedded Arazzo schema is YAML");
        apply_tolerances(&mut schema);
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .build(&schema)
            .expect("the embedded Arazzo schema compiles")
    })
}

/// Where a schema is stricter than its specification, the checklist says to accept what
/// the specification allows. Each deviation is made here, on the loaded schema, rather than by
/// filtering errors afterwards: inside a `oneOf` a filtered error would still change which
/// alternative matches.
///
/// - Checklist 59 / 168: a Payload Replacement `value` may be any JSON value ("Any |
///   {expression}"); the schema types it as a string. Its `type` is removed.
/// - Checklist 83 / 168: properties added to a Reusable Object "MUST be ignored"; the schema
///   rejects them with `unevaluatedProperties: false`, which is removed.
/// - Checklist 91 / 168: a Criterion `type` may be a Criterion Expression Type Object
///   (`type: {type: jsonpath, version: draft-goessner-dispatch-jsonpath-00}`); the schema only
///   takes the flat form (`type: jsonpath` plus `version:` on the criterion). Both are accepted.
/// - Checklist 168: `type: simple` without `context` is accepted (`simple` is the default, and
///   a simple condition names its own operands). Other types still need a `context`.
/// - Checklist 76 needs nothing: the WIP schema no longer requires `retryAfter` or a target on
///   retry actions.
///
/// The 1.1 schema keeps the Reusable Object and `type: simple` defects (removed the same way)
/// and fixes the Criterion Expression Type one; its `value` of a Payload Replacement is "Any |
/// {expression} | Selector Object" in the 1.1 text but a string or a Selector Object in the
/// schema, and a Parameter's `value` (the same type in the text) may not be an object there.
/// Both take any value in 1.1, an object with a `selector` being checked as a Selector Object.
///
/// Not changed: output names (`^[a-zA-Z0-9\.\-_]+$`, checklist 168) stay unchecked, as in the
/// schema; extra keys elsewhere stay errors.
pub fn apply_tolerances(schema: &mut Value) {
    let defs = &mut schema["$defs"];
    let has_selectors = defs.get("selector-object").is_some();
    for at in [
        "/payload-replacement-object/properties/value",
        "/parameter-object/properties/value",
    ] {
        let Some(value) = defs.pointer_mut(at).and_then(Value::as_object_mut) else {
            continue;
        };
        if has_selectors {
            value.remove("oneOf");
            value.insert(
                "if".into(),
                json!({ "type": "object", "required": ["selector"] }),
            );
            value.insert("then".into(), json!({ "$ref": "#/$defs/selector-object" }));
        } else if at.starts_with("/payload") {
            value.remove("type");
        }
    }
    if let Some(reusable) = defs["reusable-object"].as_object_mut() {
        reusable.remove("unevaluatedProperties");
    }
    if let Some(type_schema) = defs.pointer_mut("/criterion-object/anyOf/0/properties/type") {
        let names = type_schema.take();
        *type_schema = json!({
            "anyOf": [names, { "$ref": "#/$defs/criterion-expression-type-object" }]
        });
    }
    if let Some(criterion) = defs["criterion-object"].as_object_mut() {
        if let Some(dependent) = criterion.remove("dependentRequired") {
            criterion.insert(
                "if".into(),
                json!({ "required": ["type"], "properties": { "type": { "const": "simple" } } }),
            );
            criterion.insert("else".into(), json!({ "dependentRequired": dependent }));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// From raw errors to findings

/// One finding, before it is put into words.
#[derive(Debug, Clone, PartialEq)]
struct Found {
    /// Instance location of the object or value concerned.
    pointer: String,
    what: What,
}

#[derive(Debug, Clone, PartialEq)]
enum What {
    /// Missing fields of the object at `pointer`.
    Required(Vec<String>),
    /// A field of the object at `pointer` that the schema does not know.
    Unknown(String),
    /// The value has the wrong type; these are the allowed ones.
    Type(Vec<String>),
    Enum(Vec<Value>),
    Const(Value),
    Pattern(String),
    /// A key of the object at `pointer` does not match the pattern.
    KeyPattern {
        key: String,
        pattern: String,
    },
    MinItems(u64),
    UniqueItems,
    Range(String),
    /// The object must have exactly one of `fields`; `present` are those it has.
    ExactlyOne {
        fields: Vec<String>,
        present: Vec<String>,
    },
    /// More than one alternative of a `oneOf` fits.
    Ambiguous,
    /// A step's `dependsOn` entry in none of its three forms.
    DependsOn,
    Other(String),
}

/// Converts one list of errors (the top level, or one alternative of a `oneOf`): all the
/// errors in the list are evaluated together, so a property that has errors of its own is not
/// also reported as unknown.
fn convert_all(doc: &Value, errors: &[ValidationError<'_>]) -> Vec<Found> {
    let mut scope = HashSet::new();
    for e in errors {
        collect_paths(e, &mut scope);
    }
    errors
        .iter()
        .flat_map(|e| convert(doc, e, &scope))
        .collect()
}

fn collect_paths(e: &ValidationError<'_>, into: &mut HashSet<String>) {
    into.insert(e.instance_path().as_str().to_owned());
    match e.kind() {
        ValidationErrorKind::AnyOf { context }
        | ValidationErrorKind::OneOfNotValid { context }
        | ValidationErrorKind::OneOfMultipleValid { context } => {
            for e in context.iter().flatten() {
                collect_paths(e, into);
            }
        }
        _ => {}
    }
}

fn has_errors_under(scope: &HashSet<String>, pointer: &str) -> bool {
    scope.iter().any(|p| {
        p.strip_prefix(pointer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

fn convert(doc: &Value, e: &ValidationError<'_>, scope: &HashSet<String>) -> Vec<Found> {
    let pointer = e.instance_path().as_str().to_owned();
    let what = match e.kind() {
        ValidationErrorKind::Required { property } => What::Required(vec![value_text(property)]),
        ValidationErrorKind::UnevaluatedProperties { unexpected }
        | ValidationErrorKind::AdditionalProperties { unexpected } => {
            // A field the object's kind defines, reported because a subschema that evaluates
            // it failed on something else inside the object (the 1.1 step shapes are `allOf`s,
            // whose failures drop what they evaluated), is not unknown.
            let kind = kind_at(&pointer);
            let reusable = doc
                .pointer(&pointer)
                .and_then(|v| v.get("reference"))
                .is_some()
                && matches!(
                    kind,
                    Kind::Parameter | Kind::SuccessAction | Kind::FailureAction
                );
            let failed_inside = scope
                .iter()
                .any(|p| p.len() > pointer.len() + 1 && p.starts_with(&format!("{pointer}/")));
            return unexpected
                .iter()
                .filter(|name| !has_errors_under(scope, &child(&pointer, name)))
                .filter(|name| !(failed_inside && kind.fields(reusable).contains(&name.as_str())))
                .map(|name| Found {
                    pointer: pointer.clone(),
                    what: What::Unknown(name.clone()),
                })
                .collect();
        }
        ValidationErrorKind::Type { kind } => What::Type(match kind {
            TypeKind::Single(t) => vec![t.to_string()],
            TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
        }),
        ValidationErrorKind::Enum { options } => {
            What::Enum(options.as_array().cloned().unwrap_or_default())
        }
        ValidationErrorKind::Constant { expected_value } => What::Const((**expected_value).clone()),
        ValidationErrorKind::Pattern { pattern } => What::Pattern(pattern.clone()),
        ValidationErrorKind::PropertyNames { error } => match error.kind() {
            ValidationErrorKind::Pattern { pattern } => What::KeyPattern {
                key: value_text(error.instance()),
                pattern: pattern.clone(),
            },
            _ => What::Other(error.to_string()),
        },
        ValidationErrorKind::MinItems { limit } => What::MinItems(*limit as _),
        ValidationErrorKind::UniqueItems => What::UniqueItems,
        ValidationErrorKind::Minimum { limit } => What::Range(format!("{limit} or more")),
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            What::Range(format!("more than {limit}"))
        }
        ValidationErrorKind::Maximum { limit } => What::Range(format!("{limit} or less")),
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            What::Range(format!("less than {limit}"))
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            return collapse(doc, &pointer, &context[..]);
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => ambiguous(doc, &pointer),
        _ => What::Other(e.to_string()),
    };
    vec![Found { pointer, what }]
}

/// One finding set for a `oneOf`/`anyOf` that no alternative satisfies: the alternatives'
/// own errors, for the alternative the document most likely meant.
fn collapse(doc: &Value, pointer: &str, branches: &[Vec<ValidationError<'static>>]) -> Vec<Found> {
    let value = doc.pointer(pointer);
    // A 1.1 step's `dependsOn` entry: one of three reference forms.
    if kind_at(parent(parent(pointer))) == Kind::Step
        && last_segment(parent(pointer)) == "dependsOn"
    {
        return vec![Found {
            pointer: pointer.to_owned(),
            what: What::DependsOn,
        }];
    }
    // `oneOf: [{required: [a]}, {required: [b]}, …]`: "exactly one of a, b, …".
    let fields: Option<Vec<String>> = branches
        .iter()
        .map(|b| match b.as_slice() {
            [e] if e.instance_path().as_str() == pointer => match e.kind() {
                ValidationErrorKind::Required { property } => Some(value_text(property)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    // (Not for Reusable Object alternatives, whose only requirement is `reference`.)
    let fields = fields.filter(|f| f.len() > 1 && !f.iter().any(|f| f == "reference"));
    if let Some(fields) = fields {
        // The schema's goto rule (`if: {properties: {type: {const: goto}}}`) also fires when
        // `type` is missing; that is reported as a missing `type` instead.
        let is_target = fields.iter().all(|f| f == "workflowId" || f == "stepId");
        if is_target && value.and_then(|v| v.get("type")) != Some(&json!("goto")) {
            return Vec::new();
        }
        return vec![Found {
            pointer: pointer.to_owned(),
            what: What::ExactlyOne {
                fields,
                present: Vec::new(),
            },
        }];
    }

    let converted: Vec<Vec<Found>> = branches.iter().map(|b| convert_all(doc, b)).collect();
    if kind_at(pointer) == Kind::Step && converted.len() == 3 {
        if let Some(found) = step_shape(value, pointer, &converted) {
            return found;
        }
    }
    // Reusable Object or not: `reference` tells.
    let has_reference = value.and_then(|v| v.get("reference")).is_some();
    let fits = |found: &[Found]| {
        found.iter().all(|f| {
            f.pointer != pointer
                || match &f.what {
                    What::Required(names) => {
                        has_reference || !names.iter().any(|n| n == "reference")
                    }
                    What::Unknown(name) => !has_reference || name != "reference",
                    // An alternative of another type than the value's was not meant (a
                    // Selector Object written as an output is not a string gone wrong).
                    What::Type(_) => false,
                    _ => true,
                }
        })
    };
    let mut candidates: Vec<usize> = (0..converted.len())
        .filter(|&i| fits(&converted[i]))
        .collect();
    if candidates.is_empty() {
        candidates = (0..converted.len()).collect();
    }
    // Fewest findings, then the deepest (the alternative that got furthest), then the first.
    let best = candidates.into_iter().min_by_key(|&i| {
        let depth = converted[i]
            .iter()
            .map(|f| f.pointer.matches('/').count())
            .max()
            .unwrap_or(0);
        (converted[i].len(), usize::MAX - depth, i)
    });
    best.map(|i| converted[i].clone()).unwrap_or_default()
}

/// A 1.1 step is an OpenAPI, an AsyncAPI or a workflow step (the schema's `oneOf` of three
/// shapes): its fields say which it meant, whatever the other shapes would report. A field
/// of the step the meant shape allows is not reported as unknown there (the shapes are
/// `allOf`s, whose failures drop what they evaluated), and two targets are one finding.
fn step_shape(
    value: Option<&Value>,
    pointer: &str,
    converted: &[Vec<Found>],
) -> Option<Vec<Found>> {
    let has = |f: &str| value.and_then(|v| v.get(f)).is_some();
    const TARGETS: [&str; 4] = ["operationId", "operationPath", "workflowId", "channelPath"];
    let present: Vec<String> = TARGETS
        .iter()
        .filter(|f| has(f))
        .map(|f| f.to_string())
        .collect();
    if present.len() > 1 {
        return Some(vec![Found {
            pointer: pointer.to_owned(),
            what: What::ExactlyOne {
                fields: TARGETS.iter().map(|f| f.to_string()).collect(),
                present,
            },
        }]);
    }
    let (meant, not_here): (usize, &[&str]) = if has("workflowId") {
        (
            2,
            &[
                "operationId",
                "operationPath",
                "channelPath",
                "action",
                "correlationId",
            ],
        )
    } else if ["channelPath", "action", "correlationId"]
        .iter()
        .any(|f| has(f))
    {
        (1, &["operationPath", "workflowId"])
    } else {
        (0, &["workflowId", "channelPath", "action", "correlationId"])
    };
    let found: Vec<Found> = converted[meant]
        .iter()
        .filter(|f| match &f.what {
            What::Unknown(name) if f.pointer == pointer => {
                !structure::STEP.contains(&name.as_str()) || not_here.contains(&name.as_str())
            }
            _ => true,
        })
        .cloned()
        .collect();
    (!found.is_empty()).then_some(found)
}

/// A `oneOf` that several alternatives satisfy: in Arazzo, an object with more than one of a
/// set of mutually exclusive fields.
fn ambiguous(doc: &Value, pointer: &str) -> What {
    let value = doc.pointer(pointer);
    let has = |name: &str| value.and_then(|v| v.get(name)).is_some();
    let exclusive: &[&str] = match kind_at(pointer) {
        Kind::Step => &["operationId", "operationPath", "workflowId", "channelPath"],
        Kind::SuccessAction | Kind::FailureAction => &["workflowId", "stepId"],
        _ => &[],
    };
    let present: Vec<String> = exclusive
        .iter()
        .filter(|f| has(f))
        .map(|f| f.to_string())
        .collect();
    if present.len() > 1 {
        What::ExactlyOne {
            fields: exclusive.iter().map(|f| f.to_string()).collect(),
            present,
        }
    } else {
        What::Ambiguous
    }
}

/// Folds the missing fields of one object into one finding.
fn merge_required(found: Vec<Found>) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for f in found {
        if let What::Required(names) = &f.what {
            if let Some(What::Required(existing)) = out
                .iter_mut()
                .find(|o| o.pointer == f.pointer && matches!(o.what, What::Required(_)))
                .map(|o| &mut o.what)
            {
                for n in names {
                    if !existing.contains(n) {
                        existing.push(n.clone());
                    }
                }
                continue;
            }
        }
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// What an instance location is

/// The Arazzo object at an instance location, found by walking the document's structure from
/// the root (so that a `steps` key inside a JSON Schema or a payload is not taken for a
/// workflow's steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Root,
    Info,
    Source,
    Workflow,
    Step,
    Parameter,
    SuccessAction,
    FailureAction,
    Criterion,
    ExpressionType,
    RequestBody,
    Replacement,
    Components,
    /// A JSON Schema (workflow inputs, `components.inputs`).
    Schema,
    /// Anything else: a field's value, a payload, an extension.
    Other,
}

fn kind_at(pointer: &str) -> Kind {
    let segments = segments(pointer);
    let mut kind = Kind::Root;
    let mut i = 0;
    while i < segments.len() {
        let s = segments[i].as_str();
        let next_is_entry = i + 1 < segments.len();
        kind = match (kind, s) {
            (Kind::Root, "info") => Kind::Info,
            (Kind::Root, "components") => Kind::Components,
            (Kind::Root, "sourceDescriptions") if next_is_entry => {
                i += 1;
                Kind::Source
            }
            (Kind::Root, "workflows") if next_is_entry => {
                i += 1;
                Kind::Workflow
            }
            (Kind::Workflow, "steps") if next_is_entry => {
                i += 1;
                Kind::Step
            }
            (Kind::Workflow | Kind::Step | Kind::Components, "parameters") if next_is_entry => {
                i += 1;
                Kind::Parameter
            }
            (Kind::Workflow | Kind::Components, "successActions") | (Kind::Step, "onSuccess")
                if next_is_entry =>
            {
                i += 1;
                Kind::SuccessAction
            }
            (Kind::Workflow | Kind::Components, "failureActions") | (Kind::Step, "onFailure")
                if next_is_entry =>
            {
                i += 1;
                Kind::FailureAction
            }
            (Kind::Step, "successCriteria")
            | (Kind::SuccessAction | Kind::FailureAction, "criteria")
                if next_is_entry =>
            {
                i += 1;
                Kind::Criterion
            }
            (Kind::Criterion, "type") => Kind::ExpressionType,
            (Kind::Step, "requestBody") => Kind::RequestBody,
            (Kind::RequestBody, "replacements") if next_is_entry => {
                i += 1;
                Kind::Replacement
            }
            (Kind::Workflow, "inputs") => return Kind::Schema,
            (Kind::Components, "inputs") if next_is_entry => return Kind::Schema,
            _ => return Kind::Other,
        };
        i += 1;
    }
    kind
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Root => "the document",
            Kind::Info => "info",
            Kind::Source => "source description",
            Kind::Workflow => "workflow",
            Kind::Step => "step",
            Kind::Parameter => "parameter",
            Kind::SuccessAction => "success action",
            Kind::FailureAction => "failure action",
            Kind::Criterion => "criterion",
            Kind::ExpressionType => "expression type",
            Kind::RequestBody => "request body",
            Kind::Replacement => "payload replacement",
            Kind::Components => "components",
            Kind::Schema => "JSON Schema",
            Kind::Other => "object",
        }
    }

    /// The fields the specification defines for this object (besides `x-` extensions).
    fn fields(self, reusable: bool) -> &'static [&'static str] {
        if reusable {
            return &["reference", "value"];
        }
        match self {
            Kind::Root => structure::ROOT,
            Kind::Info => structure::INFO,
            Kind::Source => structure::SOURCE,
            Kind::Workflow => structure::WORKFLOW,
            Kind::Step => structure::STEP,
            Kind::Parameter => structure::PARAMETER,
            Kind::SuccessAction => structure::SUCCESS_ACTION,
            Kind::FailureAction => structure::FAILURE_ACTION,
            Kind::Criterion => structure::CRITERION,
            Kind::ExpressionType => structure::EXPRESSION_TYPE,
            Kind::RequestBody => structure::REQUEST_BODY,
            Kind::Replacement => structure::REPLACEMENT,
            Kind::Components => structure::COMPONENTS,
            Kind::Schema | Kind::Other => &[],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Into words

fn render(doc: &Value, found: Found) -> SchemaIssue {
    let Found { pointer, what } = found;
    let at = At::new(doc, pointer);
    match what {
        What::Required(names) => at.missing_fields(&names),
        What::Unknown(name) => at.unknown_field(&name),
        What::Type(expected) => at.wrong_type(&expected),
        What::Enum(options) => at.not_an_option(&options),
        What::Const(expected) => at.not_the_constant(&expected),
        What::Pattern(pattern) => at.no_match(&pattern),
        What::KeyPattern { key, pattern } => at.key_no_match(&key, &pattern),
        What::MinItems(limit) => at.too_few_items(limit),
        What::UniqueItems => issue(
            at.pointer,
            "schema/unique-items",
            format!("`{}` has the same entry twice", at.place),
            "remove the repeated entry".to_string(),
        ),
        What::Range(bound) => issue(
            at.pointer,
            "schema/range",
            format!("`{}` must be {bound}", at.place),
            format!("use a value that is {bound}"),
        ),
        What::ExactlyOne { fields, present } => at.not_exactly_one(&fields, &present),
        What::Ambiguous => issue(
            at.pointer,
            "schema/oneOf",
            format!("{} fits more than one of the shapes allowed here", at.subject),
            format!(
                "make it one kind of object: for a reusable reference only `reference` (and `value`); otherwise the fields of a {}",
                at.kind.noun()
            ),
        ),
        What::DependsOn => issue(
            at.pointer,
            "schema/pattern",
            format!(
                "`{}` is {}, which is not a step reference",
                at.place,
                shown(at.value)
            ),
            "write a stepId of this workflow (`sendEvent`), `$workflows.<workflowId>.steps.<stepId>` or `$sourceDescriptions.<name>.<workflowId>.steps.<stepId>`".to_string(),
        ),
        What::Other(text) => issue(
            at.pointer,
            "schema/invalid",
            format!("`{}` is invalid: {text}", at.place),
            "see the Arazzo specification (of the version the document declares) for this object".to_string(),
        ),
    }
}

fn issue(pointer: String, code: &'static str, message: String, help: String) -> SchemaIssue {
    SchemaIssue {
        pointer,
        code,
        message,
        help,
    }
}

/// The place a schema error is about, with what every message about it needs: the value there,
/// the kind of object it is, and how to name it.
struct At<'a> {
    pointer: String,
    value: Option<&'a Value>,
    kind: Kind,
    /// A parameter or action written as a reusable `reference` object.
    reusable: bool,
    /// "step `createUser` (workflows[0].steps[2])", see [`subject`].
    subject: String,
    /// The place for a reader: `workflows[0].steps[2]`.
    place: String,
    /// The pointer's last segment: the field (or index) the value is under.
    field: String,
    /// The document is checked against the 1.1 schema.
    v1_1: bool,
}

impl<'a> At<'a> {
    fn new(doc: &'a Value, pointer: String) -> At<'a> {
        let value = doc.pointer(&pointer);
        let kind = kind_at(&pointer);
        let reusable = value.and_then(|v| v.get("reference")).is_some()
            && matches!(
                kind,
                Kind::Parameter | Kind::SuccessAction | Kind::FailureAction
            );
        At {
            subject: subject(doc, &pointer, kind, reusable),
            place: display_path(&pointer),
            field: last_segment(&pointer),
            v1_1: schema_version(doc) == Version::V1_1,
            pointer,
            value,
            kind,
            reusable,
        }
    }

    /// `schema/required`: the missing fields, with how to write each one.
    fn missing_fields(self, names: &[String]) -> SchemaIssue {
        let (kind, subject) = (self.kind, &self.subject);
        let message = format!(
            "{subject} is missing the required field{} {}",
            if names.len() > 1 { "s" } else { "" },
            list(names, "and")
        );
        let mut help = names
            .iter()
            .map(|n| required_help(kind, self.reusable, n))
            .collect::<Vec<_>>()
            .join("; ");
        // `- name: $components.failureActions.retry` for `- reference: …`.
        let named = self
            .value
            .and_then(|v| v.get("name"))
            .and_then(Value::as_str);
        if let Some(name) = named.filter(|n| n.starts_with("$components.")) {
            if matches!(
                kind,
                Kind::Parameter | Kind::SuccessAction | Kind::FailureAction
            ) {
                help = format!(
                    "to use a reusable {} from components, write `reference: {name}` instead of `name: {name}`",
                    kind.noun()
                );
            }
        }
        issue(self.pointer, "schema/required", message, help)
    }

    /// `schema/unknown-field`, placed at the field: the field it may be a typo of, else the
    /// fields the object has.
    fn unknown_field(self, name: &str) -> SchemaIssue {
        let kind = self.kind;
        let known = kind.fields(self.reusable);
        let noun = match kind {
            Kind::Root => "an Arazzo document".to_string(),
            Kind::Info | Kind::Components => format!("`{}`", kind.noun()),
            _ if self.reusable => "a reusable object".to_string(),
            _ if kind.noun().starts_with(['a', 'e', 'i', 'o', 'u']) => {
                format!("an {}", kind.noun())
            }
            _ => format!("a {}", kind.noun()),
        };
        let help = match suggestion(name, known) {
            _ if kind == Kind::Criterion && name == "version" => {
                "in Arazzo 1.1 a criterion's version goes in an Expression Type Object: `type: {type: jsonpath, version: rfc9535}`".to_string()
            }
            _ if kind == Kind::Root && name == "$schema" => {
                "an Arazzo document does not declare a `$schema`; remove it (the version is given by `arazzo: 1.1.0` or `arazzo: 1.0.1`)".to_string()
            }
            Some(s) if s == name && kind == Kind::Step => format!(
                "`{name}` belongs to another kind of step (`channelPath`, `action` and `correlationId` to an AsyncAPI step, `operationPath` to an OpenAPI step, `workflowId` to a step that calls a workflow): remove it from this one"
            ),
            Some(s) if s == name => format!("`{name}` does not belong here: remove it"),
            Some(s) => format!(
                "did you mean `{s}`? Field names are case-sensitive; otherwise remove `{name}`, or rename it `x-{name}` to keep it as an extension"
            ),
            None if known.is_empty() => {
                format!("remove `{name}`, or rename it `x-{name}` to keep it as an extension")
            }
            None => format!(
                "remove `{name}`, or rename it `x-{name}` to keep it as an extension; {noun} has the fields {}",
                list(known, "and")
            ),
        };
        let subject = &self.subject;
        let message = format!("{subject} has an unknown field `{name}`");
        issue(
            child(&self.pointer, name),
            "schema/unknown-field",
            message,
            help,
        )
    }

    /// `schema/type`: the types allowed against the one found; the document itself not being
    /// a mapping is said on its own.
    fn wrong_type(self, expected: &[String]) -> SchemaIssue {
        let actual = self.value.map_or("nothing", json_type);
        let wanted: Vec<String> = expected.iter().map(|t| with_article(t)).collect();
        let place = &self.place;
        let message = format!(
            "`{place}` must be {}, not {}",
            list(&wanted, "or"),
            with_article(actual)
        );
        if self.pointer.is_empty() {
            let message = format!(
                "the document must be a mapping (object) of Arazzo fields, not {}",
                with_article(actual)
            );
            let help = "an Arazzo document is a mapping that starts with `arazzo: 1.1.0` (or `arazzo: 1.0.1`), followed by `info`, `sourceDescriptions` and `workflows`".to_string();
            return issue(self.pointer, "schema/type", message, help);
        }
        let help = if self.pointer == "/arazzo" {
            "write the Arazzo version as a string: `arazzo: 1.1.0` (or `arazzo: 1.0.1`)".to_string()
        } else {
            type_help(&self.field, expected, actual)
        };
        issue(self.pointer, "schema/type", message, help)
    }

    /// `schema/enum` for a value not among the allowed ones.
    fn not_an_option(self, options: &[Value]) -> SchemaIssue {
        let names: Vec<String> = options.iter().map(value_text).collect();
        let place = &self.place;
        let message = format!(
            "`{place}` is {}; it must be one of {}",
            shown(self.value),
            list(&names, "or")
        );
        let help = enum_help(
            kind_at(parent(&self.pointer)),
            &self.field,
            self.value,
            &names,
        );
        issue(self.pointer, "schema/enum", message, help)
    }

    /// `schema/enum` for a value other than the one allowed.
    fn not_the_constant(self, expected: &Value) -> SchemaIssue {
        let place = &self.place;
        let message = format!(
            "`{place}` is {}; it must be `{}`",
            shown(self.value),
            value_text(expected)
        );
        let help = if self.field == "version" && self.kind == Kind::ExpressionType {
            "for `type: jsonpath` the version is `draft-goessner-dispatch-jsonpath-00`; leave the expression type object out to use RFC 9535 JSONPath".to_string()
        } else {
            format!("set it to `{}`", value_text(expected))
        };
        issue(self.pointer, "schema/enum", message, help)
    }

    /// `schema/pattern` for a value; the Arazzo version and source names get their own help.
    fn no_match(self, pattern: &str) -> SchemaIssue {
        let place = &self.place;
        let message = format!(
            "`{place}` is {}, which does not match `{pattern}`",
            shown(self.value)
        );
        let help = if self.pointer == "/arazzo" {
            format!(
                "this tool reads {}: set `arazzo: 1.1.0` (or `arazzo: 1.0.1`) when the document is written for one of them",
                structure::SUPPORTED
            )
        } else if self.pointer == "/$self" {
            "remove the fragment (`#` and what follows): `$self` is the document's own URI, which has none".to_string()
        } else if self.field == "name" && kind_at(parent(&self.pointer)) == Kind::Source {
            "use only letters, digits, `_` and `-` in a source description name (it is used in `$sourceDescriptions.<name>` expressions)".to_string()
        } else {
            format!("change the value so that it matches `{pattern}`")
        };
        issue(self.pointer, "schema/pattern", message, help)
    }

    /// `schema/pattern` for a key (of `components`, say), placed at the key.
    fn key_no_match(self, key: &str, pattern: &str) -> SchemaIssue {
        let place = &self.place;
        let message = format!("`{place}` has the key `{key}`, which does not match `{pattern}`");
        let help = "rename it using only letters, digits, `.`, `-` and `_` (references such as `$components.parameters.<name>` depend on it)".to_string();
        issue(child(&self.pointer, key), "schema/pattern", message, help)
    }

    /// `schema/min-items`: an empty (or too short) list, with what belongs in it.
    fn too_few_items(self, limit: u64) -> SchemaIssue {
        let place = &self.place;
        let message = if limit == 1 {
            format!("`{place}` is empty")
        } else {
            format!("`{place}` has fewer than {limit} entries")
        };
        let field = &self.field;
        let help = match field.as_str() {
            "steps" => "add at least one step".to_string(),
            "workflows" => "add at least one workflow".to_string(),
            "sourceDescriptions" => {
                "add the OpenAPI or Arazzo description the workflows call".to_string()
            }
            "successCriteria" | "criteria" => {
                format!("add a criterion, or remove the empty `{field}`")
            }
            _ => format!("add an entry, or remove the empty `{field}`"),
        };
        issue(self.pointer, "schema/min-items", message, help)
    }

    /// `schema/oneOf` for fields that exclude each other: what a step calls and where a goto
    /// goes are said in their own words.
    fn not_exactly_one(self, fields: &[String], present: &[String]) -> SchemaIssue {
        let subject = &self.subject;
        let (message, help) = if self.kind == Kind::Step {
            let v1_1 = fields.iter().any(|f| f == "channelPath") || self.v1_1;
            let help = if v1_1 {
                "give the step exactly one of operationId, operationPath, workflowId or (an AsyncAPI step, with `action`) channelPath"
            } else {
                "give the step exactly one of operationId, operationPath or workflowId"
            };
            let all: Vec<String> = if v1_1 {
                vec![
                    "operationId".into(),
                    "operationPath".into(),
                    "workflowId".into(),
                    "channelPath".into(),
                ]
            } else {
                vec![
                    "operationId".into(),
                    "operationPath".into(),
                    "workflowId".into(),
                ]
            };
            let fields = if present.is_empty() { &all[..] } else { fields };
            if present.is_empty() {
                (
                    format!(
                        "{subject} does not say what to call: it has none of {}",
                        list(fields, "or")
                    ),
                    help.to_string(),
                )
            } else {
                (
                    format!(
                        "{subject} has {}, which exclude each other",
                        list(present, "and")
                    ),
                    format!("{help}; keep one and remove the others"),
                )
            }
        } else if fields.iter().all(|f| f == "workflowId" || f == "stepId") {
            let help = "give a goto action exactly one of `stepId` (a step of this workflow) or `workflowId`";
            if present.is_empty() {
                (
                    format!("{subject} is a goto without a target"),
                    help.to_string(),
                )
            } else {
                (
                    format!("{subject} has both `workflowId` and `stepId`"),
                    help.to_string(),
                )
            }
        } else if present.is_empty() {
            (
                format!("{subject} needs one of {}", list(fields, "or")),
                format!("add exactly one of {}", list(fields, "or")),
            )
        } else {
            (
                format!(
                    "{subject} has {}, which exclude each other",
                    list(present, "and")
                ),
                format!("keep exactly one of {}", list(fields, "or")),
            )
        };
        issue(self.pointer, "schema/oneOf", message, help)
    }
}

/// "step `createUser` (workflows[0].steps[2])", "the document", "info".
fn subject(doc: &Value, pointer: &str, kind: Kind, reusable: bool) -> String {
    let place = display_path(pointer);
    let noun = if reusable {
        "reusable object"
    } else {
        kind.noun()
    };
    match kind {
        Kind::Root => "the document".to_string(),
        Kind::Info | Kind::Components => format!("`{place}`"),
        Kind::Other | Kind::Schema => format!("`{place}`"),
        _ => {
            let value = doc.pointer(pointer);
            let id_field = match kind {
                Kind::Workflow => "workflowId",
                Kind::Step => "stepId",
                _ => "name",
            };
            match value.and_then(|v| v.get(id_field)).and_then(Value::as_str) {
                Some(id) if !id.is_empty() && id.len() <= 80 => {
                    format!("{noun} `{id}` ({place})")
                }
                _ => format!("{noun} `{place}`"),
            }
        }
    }
}

fn required_help(kind: Kind, reusable: bool, field: &str) -> String {
    let text = match (kind, field) {
        (_, "reference") if reusable || matches!(kind, Kind::Parameter | Kind::SuccessAction | Kind::FailureAction) => {
            "add `reference`, a runtime expression such as `$components.parameters.page`"
        }
        (Kind::Root, "arazzo") => "add `arazzo: 1.1.0` (or `arazzo: 1.0.1`) at the top of the document",
        (Kind::Root, "info") => "add `info` with a `title` and a `version` (of this document)",
        (Kind::Root, "sourceDescriptions") => {
            "add `sourceDescriptions`, listing the API descriptions the workflows call (`name`, `url`, `type: openapi`)"
        }
        (Kind::Root, "workflows") => {
            "add `workflows` with at least one workflow (a `workflowId` and its `steps`)"
        }
        (Kind::Info, "title") => "add a human-readable `title` to `info`",
        (Kind::Info, "version") => {
            "add `version` to `info`: the version of this document (not of the Arazzo specification), e.g. `version: 1.0.0`"
        }
        (Kind::Source, "name") => {
            "add `name` (letters, digits, `_` and `-`); steps refer to it as `$sourceDescriptions.<name>`"
        }
        (Kind::Source, "url") => {
            "add `url`: where the OpenAPI or Arazzo description is (a path relative to this document, or a URL)"
        }
        (Kind::Workflow, "workflowId") => "add a `workflowId` that is unique in the document",
        (Kind::Workflow, "steps") => "add `steps` with at least one step",
        (Kind::Step, "stepId") => "add a `stepId` that is unique within the workflow",
        (Kind::Parameter, "name") => "add the parameter's `name`",
        (Kind::Parameter, "value") => {
            "add the parameter's `value`: a literal, or a runtime expression such as `$inputs.id`"
        }
        (Kind::Parameter, "in") => {
            "add `in` (path, query, header or cookie): parameters of an operation step need it; only parameters passed to a workflow leave it out"
        }
        (Kind::SuccessAction | Kind::FailureAction, "name") => "give the action a `name`",
        (Kind::SuccessAction | Kind::FailureAction, "workflowId") => {
            "an action's `parameters` are the inputs of the workflow it goes to: add that `workflowId`, or remove `parameters`"
        }
        (Kind::SuccessAction, "type") => "add `type`: `end` or `goto`",
        (Kind::FailureAction, "type") => "add `type`: `end`, `goto` or `retry`",
        (Kind::Criterion, "condition") => {
            "add the `condition` to check, e.g. `condition: $statusCode == 200`"
        }
        (Kind::Criterion, "context") => {
            "a regex, jsonpath or xpath criterion needs the `context` it applies to, e.g. `context: $response.body`"
        }
        (Kind::Criterion | Kind::ExpressionType, "version") => {
            "add `version`: `draft-goessner-dispatch-jsonpath-00` for jsonpath; `xpath-10`, `xpath-20` or `xpath-30` for xpath"
        }
        (Kind::Criterion | Kind::ExpressionType, "type") => {
            "add `type`: `jsonpath` or `xpath`"
        }
        (Kind::Replacement, "target") => {
            "add `target`: a JSON Pointer into the request body (an XPath for XML bodies)"
        }
        (Kind::Replacement, "value") => "add the `value` to set at the target",
        _ => return format!("add `{field}`"),
    };
    text.to_string()
}

fn type_help(field: &str, expected: &[String], actual: &str) -> String {
    let one = |t: &str| expected.len() == 1 && expected[0] == t;
    if one("array") {
        format!("write `{field}` as a list, each entry on its own line starting with `- `")
    } else if one("object") {
        format!("write `{field}` as a mapping of fields (`name: value` lines, indented under `{field}:`)")
    } else if one("string") && actual == "null" {
        format!("give `{field}` a value: it is empty (or `null`)")
    } else if one("string") && matches!(actual, "number" | "integer" | "boolean") {
        format!(
            "put the value in quotes: unquoted, YAML reads it as {}",
            with_article(actual)
        )
    } else {
        format!(
            "change `{field}` to {}",
            list(
                &expected.iter().map(|t| with_article(t)).collect::<Vec<_>>(),
                "or"
            )
        )
    }
}

fn enum_help(owner: Kind, field: &str, value: Option<&Value>, names: &[String]) -> String {
    let text = value.and_then(Value::as_str).unwrap_or_default();
    match (owner, field) {
        (Kind::Source, "type") => {
            "use `openapi` for an OpenAPI description, `arazzo` for another Arazzo document or (Arazzo 1.1) `asyncapi` for an AsyncAPI description".to_string()
        }
        (Kind::Parameter, "in") if text.eq_ignore_ascii_case("body") => {
            "a request body is not a parameter: put it in the step's `requestBody` (`payload`)".to_string()
        }
        (Kind::Parameter, "in") => "use one of path, query, header or cookie (or, in Arazzo 1.1, querystring)".to_string(),
        (Kind::SuccessAction, "type") if text == "retry" => {
            "`retry` is only for failure actions (`onFailure`, `failureActions`); a success action is `end` or `goto`".to_string()
        }
        (Kind::SuccessAction, "type") => "use `end` or `goto`".to_string(),
        (Kind::FailureAction, "type") => "use `end`, `goto` or `retry`".to_string(),
        (Kind::Criterion, "type") | (Kind::ExpressionType, "type") => {
            "use simple, regex, jsonpath or xpath, or an object such as `{type: jsonpath, version: draft-goessner-dispatch-jsonpath-00}`".to_string()
        }
        _ => format!("use one of {}", list(names, "or")),
    }
}

/// The closest known field: the same name in another case, or one or two typos away.
fn suggestion(name: &str, known: &[&'static str]) -> Option<&'static str> {
    if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        return Some(k);
    }
    let most = match name.chars().count() {
        0..=2 => return None,
        3 => 1,
        _ => 2,
    };
    known
        .iter()
        .map(|k| (edit_distance(&name.to_lowercase(), &k.to_lowercase()), *k))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

// ---------------------------------------------------------------------------------------------
// Small helpers

fn segments(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn child(pointer: &str, name: &str) -> String {
    format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1"))
}

fn parent(pointer: &str) -> &str {
    pointer.rfind('/').map_or("", |i| &pointer[..i])
}

fn last_segment(pointer: &str) -> String {
    segments(pointer).pop().unwrap_or_default()
}

/// `/workflows/0/steps/2/operationId` → `workflows[0].steps[2].operationId`.
pub fn display_path(pointer: &str) -> String {
    let mut out = String::new();
    for s in segments(pointer) {
        let plain_key = s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'));
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{s}]"));
        } else if plain_key {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&s);
        } else {
            out.push_str(&format!("[{}]", Value::String(s)));
        }
    }
    if out.is_empty() {
        "(document root)".to_string()
    } else {
        out
    }
}

/// A sort key that puts issues in the order their nodes appear in the document.
fn document_order(doc: &Value, pointer: &str) -> Vec<usize> {
    let mut key = Vec::new();
    let mut node = Some(doc);
    for s in segments(pointer) {
        let (position, next) = match node {
            Some(Value::Object(map)) => (
                map.keys().position(|k| *k == s).unwrap_or(usize::MAX),
                map.get(&s),
            ),
            Some(Value::Array(items)) => {
                let i = s.parse::<usize>().unwrap_or(usize::MAX);
                (i, items.get(i))
            }
            _ => (usize::MAX, None),
        };
        key.push(position);
        node = next;
    }
    key
}

/// A property name or enum option as text: strings without quotes, anything else as JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A short value shown in a message (names, versions, enum words); long values are elided so
/// that a message never carries much of the document.
fn shown(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) if s.chars().count() <= 60 => format!("`{s}`"),
        Some(Value::String(_)) => "a long string".to_string(),
        Some(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => format!("`{v}`"),
        Some(v) => with_article(json_type(v)),
        None => "missing".to_string(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn with_article(t: &str) -> String {
    match t {
        "null" => "null".to_string(),
        "array" => "a list (array)".to_string(),
        "object" => "a mapping (object)".to_string(),
        "integer" => "an integer".to_string(),
        "nothing" => "nothing".to_string(),
        other => format!("a {other}"),
    }
}

/// `a`, `b` and `c` (each name in backticks unless it already reads as a phrase).
fn list<S: AsRef<str>>(items: &[S], last_word: &str) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| {
            let s = s.as_ref();
            if s.contains(' ') {
                s.to_string()
            } else {
                format!("`{s}`")
            }
        })
        .collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!(
            "{} {last_word} {}",
            quoted[..n - 1].join(", "),
            quoted[n - 1]
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid document with one workflow; `edit` changes it before the check.
    fn doc_with(edit: impl FnOnce(&mut Value)) -> Value {
        let mut doc: Value = serde_yaml_ng::from_str(
            r#"
arazzo: 1.0.1
info: {title: Pets, version: 1.0.0}
sourceDescriptions:
  - {name: petstore, url: ./openapi.yaml, type: openapi}
workflows:
  - workflowId: adopt
    steps:
      - stepId: find
        operationId: findPets
        parameters:
          - {name: limit, in: query, value: 10}
        successCriteria:
          - condition: $statusCode == 200
      - stepId: adopt
        operationId: adoptPet
        requestBody:
          payload: {id: 1}
"#,
        )
        .unwrap();
        edit(&mut doc);
        doc
    }

    fn set(doc: &mut Value, pointer: &str, value: Value) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match doc.pointer_mut(parent).unwrap() {
            Value::Object(map) => {
                map.insert(key.to_string(), value);
            }
            Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
            _ => panic!("{parent} is not a container"),
        }
    }

    fn remove(doc: &mut Value, pointer: &str) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        doc.pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .shift_remove(key);
    }

    fn only(issues: &[SchemaIssue]) -> &SchemaIssue {
        assert_eq!(issues.len(), 1, "{issues:#?}");
        &issues[0]
    }

    #[test]
    fn a_valid_document_has_no_issue() {
        assert_eq!(check(&doc_with(|_| {})), Vec::new());
    }

    #[test]
    fn a_step_without_an_operation() {
        let doc = doc_with(|d| remove(d, "/workflows/0/steps/1/operationId"));
        let issue = only(&check(&doc)).clone();
        assert_eq!(issue.pointer, "/workflows/0/steps/1");
        assert_eq!(issue.code, "schema/oneOf");
        assert!(issue
            .message
            .contains("step `adopt` (workflows[0].steps[1])"));
        assert_eq!(
            issue.help,
            "give the step exactly one of operationId, operationPath or workflowId"
        );
    }

    #[test]
    fn a_step_with_two_operations() {
        let doc = doc_with(|d| set(d, "/workflows/0/steps/1/workflowId", json!("other")));
        let issue = only(&check(&doc)).clone();
        assert_eq!(issue.code, "schema/oneOf");
        assert!(
            issue.message.contains("`operationId` and `workflowId`"),
            "{}",
            issue.message
        );
    }

    #[test]
    fn missing_fields_are_one_issue_per_object() {
        let doc = doc_with(|d| set(d, "/info", json!({"summary": "x"})));
        let issue = only(&check(&doc)).clone();
        assert_eq!(
            (issue.pointer.as_str(), issue.code),
            ("/info", "schema/required")
        );
        assert!(
            issue.message.contains("`title` and `version`"),
            "{}",
            issue.message
        );
    }

    #[test]
    fn an_error_deep_down_is_not_also_an_unknown_field_above() {
        // unevaluatedProperties would otherwise flag `workflows`, `steps`, `parameters`, …
        let doc = doc_with(|d| set(d, "/workflows/0/steps/0/parameters/0/in", json!("body")));
        let issue = only(&check(&doc)).clone();
        assert_eq!(issue.pointer, "/workflows/0/steps/0/parameters/0/in");
        assert_eq!(issue.code, "schema/enum");
        assert!(issue.help.contains("requestBody"), "{}", issue.help);
    }

    #[test]
    fn an_unknown_field_with_a_suggestion() {
        let doc = doc_with(|d| {
            let step = d.pointer_mut("/workflows/0/steps/1").unwrap();
            let id = step
                .as_object_mut()
                .unwrap()
                .shift_remove("operationId")
                .unwrap();
            step["operationID"] = id;
        });
        let issues = check(&doc);
        let unknown = issues
            .iter()
            .find(|i| i.code == "schema/unknown-field")
            .expect("unknown field");
        assert_eq!(unknown.pointer, "/workflows/0/steps/1/operationID");
        assert!(unknown.help.starts_with("did you mean `operationId`?"));
        // The step then names no operation either.
        assert!(issues.iter().any(|i| i.code == "schema/oneOf"));
    }

    #[test]
    fn a_parameter_of_an_operation_needs_in() {
        let doc = doc_with(|d| remove(d, "/workflows/0/steps/0/parameters/0/in"));
        let issue = only(&check(&doc)).clone();
        assert_eq!(
            (issue.pointer.as_str(), issue.code),
            ("/workflows/0/steps/0/parameters/0", "schema/required")
        );
        assert!(issue.message.contains("`in`"));
    }

    #[test]
    fn wrong_types_say_what_to_write() {
        let doc = doc_with(|d| set(d, "/info/version", json!(1.0)));
        let issue = only(&check(&doc)).clone();
        assert_eq!(issue.code, "schema/type");
        assert!(
            issue.message.contains("`info.version` must be a string"),
            "{}",
            issue.message
        );
        assert!(issue.help.contains("quotes"));
        let doc = doc_with(|d| set(d, "/workflows/0/steps", json!({"stepId": "x"})));
        let issue = only(&check(&doc)).clone();
        assert!(issue.help.contains("as a list"), "{}", issue.help);
        let issue = only(&check(&json!(["not", "an", "object"]))).clone();
        assert_eq!((issue.pointer.as_str(), issue.code), ("", "schema/type"));
    }

    #[test]
    fn goto_actions_need_one_target() {
        let doc = doc_with(|d| {
            set(
                d,
                "/workflows/0/steps/0/onSuccess",
                json!([{"name": "next", "type": "goto"}]),
            )
        });
        let issue = only(&check(&doc)).clone();
        assert_eq!(issue.pointer, "/workflows/0/steps/0/onSuccess/0");
        assert_eq!(issue.code, "schema/oneOf");
        assert!(
            issue.help.contains("exactly one of `stepId`"),
            "{}",
            issue.help
        );
        // A missing `type` is reported as such, not as a goto without target.
        let doc = doc_with(|d| set(d, "/workflows/0/steps/0/onFailure", json!([{"name": "x"}])));
        let issue = only(&check(&doc)).clone();
        assert_eq!(issue.code, "schema/required");
        assert!(issue.message.contains("`type`"));
    }

    #[test]
    fn reusable_objects() {
        let doc = doc_with(|d| {
            set(
                d,
                "/workflows/0/steps/0/parameters/0",
                json!({"reference": "$components.parameters.page", "value": 2}),
            )
        });
        assert_eq!(check(&doc), Vec::new());
        // Checklist 83: extra keys on a Reusable Object are ignored.
        let doc = doc_with(|d| {
            set(
                d,
                "/workflows/0/steps/0/onSuccess",
                json!([{"reference": "$components.successActions.done", "note": "x"}]),
            )
        });
        assert_eq!(check(&doc), Vec::new());
        // `name: $components…` where `reference:` was meant.
        let doc = doc_with(|d| {
            set(
                d,
                "/workflows/0/steps/0/onFailure",
                json!([{"name": "$components.failureActions.retry"}]),
            )
        });
        let issue = only(&check(&doc)).clone();
        assert!(
            issue
                .help
                .contains("reference: $components.failureActions.retry"),
            "{}",
            issue.help
        );
    }

    #[test]
    fn tolerated_schema_defects() {
        // Checklist 59: a replacement value of any type.
        let doc = doc_with(|d| {
            set(
                d,
                "/workflows/0/steps/1/requestBody/replacements",
                json!([{"target": "/id", "value": 2}, {"target": "/tags", "value": ["a"]}]),
            )
        });
        assert_eq!(check(&doc), Vec::new());
        // Checklist 91: a Criterion Expression Type Object as the value of `type`, and the
        // flat form.
        let doc = doc_with(|d| {
            set(
                d,
                "/workflows/0/steps/0/successCriteria",
                json!([
                    {"context": "$response.body", "condition": "$.pets", "type": {"type": "jsonpath", "version": "draft-goessner-dispatch-jsonpath-00"}},
                    {"context": "$response.body", "condition": "$.pets", "type": "jsonpath", "version": "draft-goessner-dispatch-jsonpath-00"},
                    {"context": "$response.body", "condition": "//a", "type": {"type": "xpath", "version": "xpath-30"}},
                ]),
            )
        });
        assert_eq!(check(&doc), Vec::new());
        // …but a wrong version is still wrong.
        let doc = doc_with(|d| {
            set(
                d,
                "/workflows/0/steps/0/successCriteria/0",
                json!({"context": "$response.body", "condition": "$.pets", "type": {"type": "jsonpath", "version": "rfc9535"}}),
            )
        });
        let issue = only(&check(&doc)).clone();
        assert_eq!(
            issue.pointer,
            "/workflows/0/steps/0/successCriteria/0/type/version"
        );
        // Checklist 168: `type: simple` without `context`; other types still need it.
        let doc = doc_with(|d| {
            set(
                d,
                "/workflows/0/steps/0/successCriteria/0/type",
                json!("simple"),
            )
        });
        assert_eq!(check(&doc), Vec::new());
        let doc = doc_with(|d| {
            set(
                d,
                "/workflows/0/steps/0/successCriteria/0/type",
                json!("regex"),
            )
        });
        let issue = only(&check(&doc)).clone();
        assert_eq!(issue.code, "schema/required");
        assert!(issue.message.contains("`context`"));
        // Checklist 76: retry needs neither retryAfter nor a target.
        let doc = doc_with(|d| {
            set(
                d,
                "/workflows/0/steps/0/onFailure",
                json!([{"name": "again", "type": "retry"}]),
            )
        });
        assert_eq!(check(&doc), Vec::new());
    }

    #[test]
    fn source_description_names_and_versions() {
        let doc = doc_with(|d| {
            set(d, "/sourceDescriptions/0/name", json!("pet store"));
            set(d, "/arazzo", json!("1.2.0"));
        });
        let issues = check(&doc);
        assert_eq!(issues.len(), 2, "{issues:#?}");
        assert_eq!(issues[0].pointer, "/arazzo");
        assert!(
            issues[0].help.contains("arazzo: 1.1.0"),
            "{}",
            issues[0].help
        );
        assert_eq!(issues[1].code, "schema/pattern");
        assert!(issues[1].help.contains("letters, digits"));
    }

    #[test]
    fn issues_come_in_document_order() {
        let doc = doc_with(|d| {
            remove(d, "/workflows/0/steps/1/operationId");
            remove(d, "/info/title");
            set(d, "/x-ok", json!(1));
            set(d, "/zzz", json!(1));
        });
        let pointers: Vec<String> = check(&doc).into_iter().map(|i| i.pointer).collect();
        assert_eq!(pointers, ["/info", "/workflows/0/steps/1", "/zzz"]);
    }

    #[test]
    fn the_schema_compiles_offline_and_stays_a_valid_2020_12_schema() {
        for (text, version, minor) in [
            (SCHEMA_1_0, Version::V1_0, "1.0"),
            (SCHEMA_1_1, Version::V1_1, "1.1"),
        ] {
            let mut schema: Value = serde_yaml_ng::from_str(text).unwrap();
            assert_eq!(
                schema["$schema"],
                json!("https://json-schema.org/draft/2020-12/schema")
            );
            assert_eq!(
                schema["$id"],
                json!(format!(
                    "https://spec.openapis.org/arazzo/{minor}/schema/WORK-IN-PROGRESS"
                ))
            );
            apply_tolerances(&mut schema);
            assert!(jsonschema::draft202012::meta::is_valid(&schema));
            // Built without the crate's HTTP resolver: every `$ref` resolved locally (the
            // 2020-12 meta-schema ships with the crate).
            let _ = validator(version);
            // Workflow inputs are checked against the 2020-12 meta-schema through that `$ref`.
            let doc = doc_with(|d| {
                set(d, "/arazzo", json!(format!("{minor}.0")));
                set(d, "/workflows/0/inputs", json!({"type": "objec"}));
            });
            let issue = only(&check(&doc)).clone();
            assert_eq!(
                (issue.pointer.as_str(), issue.code),
                ("/workflows/0/inputs/type", "schema/enum")
            );
        }
    }

    #[test]
    fn arazzo_1_1_fields_in_a_1_0_document_and_tolerances_of_1_1() {
        // `timeout` in 1.0: one issue at the field, with the fix.
        let doc = doc_with(|d| set(d, "/workflows/0/steps/0/timeout", json!(500)));
        let issue = only(&check(&doc)).clone();
        assert_eq!(
            (issue.pointer.as_str(), issue.code),
            ("/workflows/0/steps/0/timeout", "schema/arazzo-1.1")
        );
        assert!(issue.help.contains("set `arazzo: 1.1.0`"), "{}", issue.help);
        // In 1.1 it is fine, and so are a literal object as a parameter value and any
        // replacement value.
        let doc = doc_with(|d| {
            set(d, "/arazzo", json!("1.1.0"));
            set(d, "/workflows/0/steps/0/timeout", json!(500));
            set(
                d,
                "/workflows/0/steps/0/parameters/0/value",
                json!({"a": 1}),
            );
            set(
                d,
                "/workflows/0/steps/1/requestBody/replacements",
                json!([{"target": "/id", "value": 2}]),
            );
        });
        assert_eq!(check(&doc), Vec::new());
        // …but an object with a `selector` must be a whole Selector Object.
        let doc = doc_with(|d| {
            set(d, "/arazzo", json!("1.1.0"));
            set(
                d,
                "/workflows/0/steps/0/parameters/0/value",
                json!({"context": "$response.body", "selector": "/id"}),
            );
        });
        let issue = only(&check(&doc)).clone();
        assert_eq!(issue.code, "schema/required");
        assert!(issue.message.contains("`type`"), "{}", issue.message);
        // `$self` with a fragment.
        let doc = doc_with(|d| {
            set(d, "/arazzo", json!("1.1.0"));
            set(d, "/$self", json!("https://x.example/a.yaml#/x"));
        });
        let issue = only(&check(&doc)).clone();
        assert_eq!(
            (issue.pointer.as_str(), issue.code),
            ("/$self", "schema/pattern")
        );
        assert!(issue.help.contains("fragment"), "{}", issue.help);
    }

    #[test]
    fn paths_for_people() {
        assert_eq!(display_path(""), "(document root)");
        assert_eq!(
            display_path("/workflows/0/steps/12/operationId"),
            "workflows[0].steps[12].operationId"
        );
        assert_eq!(display_path("/outputs/a~1b c"), r#"outputs["a/b c"]"#);
        assert_eq!(edit_distance("operationID", "operationId"), 1);
        assert_eq!(suggestion("stepid", &["stepId"]), Some("stepId"));
        assert_eq!(suggestion("typ", &["type"]), Some("type"));
        assert_eq!(suggestion("zzzzzz", &["type"]), None);
    }
}
