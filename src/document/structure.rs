//! The structural rules of the Arazzo 1.0 and 1.1 schemas that the document
//! model does not enforce by itself, checked on every load (`run`, `mcp`,
//! `list`), so that a document `validate` refuses is never run: unknown fields
//! (a typo such as `succesCriteria` would otherwise be ignored), empty lists
//! the schema requires to be non-empty, the `arazzo` version, name patterns,
//! unique workflowIds, and the fields of Arazzo 1.1 in a document that declares
//! 1.0 ([`newer_features`]). It costs microseconds; `validate` runs the whole
//! JSON Schema of the document's version instead and says where each problem is.

use serde_json::Value;

pub(crate) const ROOT: &[&str] = &[
    "arazzo",
    "$self",
    "info",
    "sourceDescriptions",
    "workflows",
    "components",
];
pub(crate) const INFO: &[&str] = &["title", "summary", "description", "version"];
pub(crate) const SOURCE: &[&str] = &["name", "url", "type"];
pub(crate) const WORKFLOW: &[&str] = &[
    "workflowId",
    "summary",
    "description",
    "inputs",
    "dependsOn",
    "steps",
    "successActions",
    "failureActions",
    "outputs",
    "parameters",
];
pub(crate) const STEP: &[&str] = &[
    "description",
    "stepId",
    "operationId",
    "operationPath",
    "workflowId",
    "parameters",
    "requestBody",
    "successCriteria",
    "onSuccess",
    "onFailure",
    "outputs",
    "timeout",
    "dependsOn",
    "channelPath",
    "action",
    "correlationId",
];
pub(crate) const PARAMETER: &[&str] = &["name", "in", "value"];
pub(crate) const REQUEST_BODY: &[&str] = &["contentType", "payload", "replacements"];
pub(crate) const REPLACEMENT: &[&str] = &["target", "targetSelectorType", "value"];
// `version` beside `type` is the flat form of the Criterion Expression Type
// Object that documents in the wild use (the model reads it too).
pub(crate) const CRITERION: &[&str] = &["context", "condition", "type", "version"];
pub(crate) const EXPRESSION_TYPE: &[&str] = &["type", "version"];
pub(crate) const SUCCESS_ACTION: &[&str] = &[
    "name",
    "type",
    "workflowId",
    "stepId",
    "parameters",
    "criteria",
];
pub(crate) const FAILURE_ACTION: &[&str] = &[
    "name",
    "type",
    "workflowId",
    "stepId",
    "parameters",
    "retryAfter",
    "retryLimit",
    "criteria",
];
pub(crate) const COMPONENTS: &[&str] =
    &["inputs", "parameters", "successActions", "failureActions"];

/// The versions this tool reads, for messages.
pub const SUPPORTED: &str = "Arazzo 1.0.0, 1.0.1 and 1.1.0 (1.0.x and 1.1.x)";

/// The feature set an Arazzo document declares by its `arazzo` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V1_0,
    V1_1,
}

impl Version {
    /// The feature set of a version string by its `major.minor` (`1.0`, `1.0.1`, `1.1.0-rc1`);
    /// `None` for any other version. Whether the whole string is well formed is
    /// [`version_ok`]'s business.
    pub fn of(v: &str) -> Option<Version> {
        let minor = |m: &str| v == m || v.strip_prefix(m).is_some_and(|r| r.starts_with('.'));
        if minor("1.0") {
            Some(Version::V1_0)
        } else if minor("1.1") {
            Some(Version::V1_1)
        } else {
            None
        }
    }

    /// The version of the document `doc` (its `arazzo` field), when it is one this tool reads.
    pub fn of_doc(doc: &Value) -> Option<Version> {
        doc.get("arazzo")
            .and_then(Value::as_str)
            .and_then(Version::of)
    }

    /// `1.0` or `1.1`.
    pub fn name(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
        }
    }
}

/// Every structural problem of the document, each as `where: what`.
pub fn problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = Checker { out: &mut out };
    c.fields(doc, ROOT, "the document");
    c.version(doc);
    if let Some(info) = doc.get("info") {
        c.fields(info, INFO, "`info`");
    }
    c.non_empty(doc.get("sourceDescriptions"), "`sourceDescriptions`");
    for (i, s) in items(doc.get("sourceDescriptions")) {
        let at = format!("sourceDescriptions[{i}]");
        c.fields(s, SOURCE, &at);
        if let Some(name) = s.get("name").and_then(Value::as_str) {
            if !name_ok(name, false) {
                c.say(
                    &at,
                    format!("the name `{name}` may hold only letters, digits, `_` and `-`"),
                );
            }
        }
    }
    c.non_empty(doc.get("workflows"), "`workflows`");
    let mut ids: Vec<&str> = Vec::new();
    for (i, w) in items(doc.get("workflows")) {
        let at = format!("workflows[{i}]");
        c.fields(w, WORKFLOW, &at);
        if let Some(id) = w.get("workflowId").and_then(Value::as_str) {
            if ids.contains(&id) {
                c.say(&at, format!("two workflows have the workflowId `{id}`"));
            }
            ids.push(id);
        }
        c.non_empty(w.get("steps"), &format!("{at}.steps"));
        for (j, step) in items(w.get("steps")) {
            c.step(step, &format!("{at}.steps[{j}]"));
        }
        for (k, p) in items(w.get("parameters")) {
            c.parameter(p, &format!("{at}.parameters[{k}]"));
        }
        for (k, a) in items(w.get("successActions")) {
            c.action(a, SUCCESS_ACTION, &format!("{at}.successActions[{k}]"));
        }
        for (k, a) in items(w.get("failureActions")) {
            c.action(a, FAILURE_ACTION, &format!("{at}.failureActions[{k}]"));
        }
    }
    if let Some(components) = doc.get("components") {
        c.fields(components, COMPONENTS, "`components`");
        for kind in COMPONENTS {
            let Some(map) = components.get(*kind).and_then(Value::as_object) else {
                continue;
            };
            for (key, v) in map {
                let at = format!("components.{kind}.{key}");
                if !name_ok(key, true) {
                    c.say(
                        &at,
                        format!("the key `{key}` may hold only letters, digits, `.`, `_` and `-`"),
                    );
                }
                match *kind {
                    "parameters" => c.parameter(v, &at),
                    "successActions" => c.action(v, SUCCESS_ACTION, &at),
                    "failureActions" => c.action(v, FAILURE_ACTION, &at),
                    _ => {}
                }
            }
        }
    }
    out
}

/// A well-formed version of a feature set this tool reads: `1.0.<n>` or `1.1.<n>`, with an
/// optional `-suffix` (the schemas' `^1\.[01]\.\d+(-.+)?$`).
pub fn version_ok(v: &str) -> bool {
    let Some(rest) = v.strip_prefix("1.0.").or_else(|| v.strip_prefix("1.1.")) else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && (rest.len() == digits || rest[digits..].len() > 1 && rest[digits..].starts_with('-'))
}

/// The Arazzo 1.1 features a document uses, each as its JSON Pointer and what it is: in a
/// document that declares `arazzo: 1.0.x` each is an error at that place (`validate`) or a
/// refusal to load it (`run`, `list`, `mcp`). The list: `$self`; `type: asyncapi` sources; a
/// step's `timeout`, `dependsOn`, `channelPath`, `action` and `correlationId`; `in: querystring`
/// (and `channel`); `parameters` on a success or failure action; `targetSelectorType` on a
/// payload replacement; Selector Objects as outputs, parameter values and replacement values;
/// the `jsonpointer` expression type and the `rfc9535` and `xpath-31` versions.
pub fn newer_features(doc: &Value) -> Vec<(String, String)> {
    let mut f = Features { out: Vec::new() };
    if doc.get("$self").is_some() {
        f.field("/$self", "$self", "the document's own URI");
    }
    for (i, s) in items(doc.get("sourceDescriptions")) {
        if s.get("type").and_then(Value::as_str) == Some("asyncapi") {
            f.say(
                format!("/sourceDescriptions/{i}/type"),
                "`type: asyncapi` (an AsyncAPI source) is Arazzo 1.1".into(),
            );
        }
    }
    for (i, w) in items(doc.get("workflows")) {
        let at = format!("/workflows/{i}");
        f.outputs(w, &at);
        for (k, p) in items(w.get("parameters")) {
            f.parameter(p, &format!("{at}/parameters/{k}"));
        }
        for list in ["successActions", "failureActions"] {
            for (k, a) in items(w.get(list)) {
                f.action(a, &format!("{at}/{list}/{k}"));
            }
        }
        for (j, step) in items(w.get("steps")) {
            f.step(step, &format!("{at}/steps/{j}"));
        }
    }
    if let Some(components) = doc.get("components") {
        for kind in ["parameters", "successActions", "failureActions"] {
            let Some(map) = components.get(kind).and_then(Value::as_object) else {
                continue;
            };
            for (key, v) in map {
                let at = format!("/components/{kind}/{}", pointer_token(key));
                if kind == "parameters" {
                    f.parameter(v, &at);
                } else {
                    f.action(v, &at);
                }
            }
        }
    }
    f.out
}

/// Criteria of a 1.1 document that give `version` beside `type` (1.0's flat form), by the
/// pointer of that `version`.
fn flat_criterion_versions(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut criteria = |list: Option<&Value>, at: String| {
        for (k, c) in items(list) {
            if c.get("version").is_some() {
                out.push(format!("{at}/{k}/version"));
            }
        }
    };
    let mut actions = Vec::new();
    for (i, w) in items(doc.get("workflows")) {
        for list in ["successActions", "failureActions"] {
            for (k, a) in items(w.get(list)) {
                actions.push((a, format!("/workflows/{i}/{list}/{k}")));
            }
        }
        for (j, step) in items(w.get("steps")) {
            let at = format!("/workflows/{i}/steps/{j}");
            criteria(step.get("successCriteria"), format!("{at}/successCriteria"));
            for list in ["onSuccess", "onFailure"] {
                for (k, a) in items(step.get(list)) {
                    actions.push((a, format!("{at}/{list}/{k}")));
                }
            }
        }
    }
    if let Some(components) = doc.get("components") {
        for kind in ["successActions", "failureActions"] {
            for (key, a) in components
                .get(kind)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                actions.push((a, format!("/components/{kind}/{}", pointer_token(key))));
            }
        }
    }
    for (a, at) in actions {
        criteria(a.get("criteria"), format!("{at}/criteria"));
    }
    out
}

/// Collects [`newer_features`].
struct Features {
    out: Vec<(String, String)>,
}

impl Features {
    fn say(&mut self, pointer: String, what: String) {
        self.out.push((pointer, what));
    }

    fn field(&mut self, pointer: &str, name: &str, what: &str) {
        self.say(
            pointer.to_string(),
            format!("`{name}` ({what}) is an Arazzo 1.1 field"),
        );
    }

    fn step(&mut self, step: &Value, at: &str) {
        for (name, what) in [
            ("timeout", "the step's time limit"),
            ("dependsOn", "steps this one waits for"),
            ("channelPath", "an AsyncAPI channel"),
            ("action", "send or receive a message"),
            ("correlationId", "a message's correlation id"),
        ] {
            if step.get(name).is_some() {
                self.field(&format!("{at}/{name}"), name, what);
            }
        }
        for (k, p) in items(step.get("parameters")) {
            self.parameter(p, &format!("{at}/parameters/{k}"));
        }
        if let Some(body) = step.get("requestBody") {
            for (k, r) in items(body.get("replacements")) {
                let at = format!("{at}/requestBody/replacements/{k}");
                if r.get("targetSelectorType").is_some() {
                    self.field(
                        &format!("{at}/targetSelectorType"),
                        "targetSelectorType",
                        "how the target is read",
                    );
                }
                if r.get("value").is_some_and(is_selector) {
                    self.selector(format!("{at}/value"), "replacement value");
                }
            }
        }
        for (k, c) in items(step.get("successCriteria")) {
            self.criterion(c, &format!("{at}/successCriteria/{k}"));
        }
        for list in ["onSuccess", "onFailure"] {
            for (k, a) in items(step.get(list)) {
                self.action(a, &format!("{at}/{list}/{k}"));
            }
        }
        self.outputs(step, at);
    }

    fn outputs(&mut self, owner: &Value, at: &str) {
        for (name, v) in owner
            .get("outputs")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if v.is_object() {
                self.selector(format!("{at}/outputs/{}", pointer_token(name)), "output");
            }
        }
    }

    fn selector(&mut self, pointer: String, what: &str) {
        self.say(
            pointer,
            format!(
                "a Selector Object (`context`, `selector`, `type`) as {} {what} is Arazzo 1.1",
                if what.starts_with('o') { "an" } else { "a" }
            ),
        );
    }

    fn parameter(&mut self, p: &Value, at: &str) {
        if let Some(place @ ("querystring" | "channel")) = p.get("in").and_then(Value::as_str) {
            self.say(format!("{at}/in"), format!("`in: {place}` is Arazzo 1.1"));
        }
        if p.get("value").is_some_and(is_selector) {
            self.selector(format!("{at}/value"), "parameter value");
        }
    }

    fn action(&mut self, a: &Value, at: &str) {
        if a.get("reference").is_some() {
            return;
        }
        if a.get("parameters").is_some() {
            self.field(
                &format!("{at}/parameters"),
                "parameters",
                "inputs of the workflow an action goes to",
            );
        }
        for (k, c) in items(a.get("criteria")) {
            self.criterion(c, &format!("{at}/criteria/{k}"));
        }
    }

    fn criterion(&mut self, c: &Value, at: &str) {
        let (kind, version, version_at) = match c.get("type") {
            Some(t @ Value::Object(_)) => (
                t.get("type"),
                t.get("version"),
                format!("{at}/type/version"),
            ),
            t => (t, c.get("version"), format!("{at}/version")),
        };
        if kind.and_then(Value::as_str) == Some("jsonpointer") {
            let pointer = if c.get("type").is_some_and(Value::is_object) {
                format!("{at}/type/type")
            } else {
                format!("{at}/type")
            };
            self.say(
                pointer,
                "the `jsonpointer` expression type is Arazzo 1.1".into(),
            );
        }
        if let Some(v @ ("rfc9535" | "xpath-31")) = version.and_then(Value::as_str) {
            self.say(
                version_at,
                format!("the expression type version `{v}` is Arazzo 1.1"),
            );
        }
    }
}

/// An object that reads as a Selector Object: it has a `selector`.
fn is_selector(v: &Value) -> bool {
    v.get("selector").is_some()
}

/// A key as a JSON Pointer token.
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// `/workflows/0/steps/2/timeout` as `workflows[0].steps[2].timeout`, as the other problems
/// name places.
fn display_pointer(pointer: &str) -> String {
    let mut out = String::new();
    for s in pointer.split('/').skip(1) {
        let s = s.replace("~1", "/").replace("~0", "~");
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{s}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&s);
        }
    }
    out
}

fn name_ok(name: &str, dots: bool) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (dots && c == '.'))
}

fn items(v: Option<&Value>) -> impl Iterator<Item = (usize, &Value)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

struct Checker<'o> {
    out: &'o mut Vec<String>,
}

impl Checker<'_> {
    /// The `arazzo` version, and what the version it declares does not have: 1.1 fields in
    /// a 1.0 document, a `$self` with a fragment or 1.0's flat criterion `version` in 1.1.
    fn version(&mut self, doc: &Value) {
        let version = doc.get("arazzo").and_then(Value::as_str);
        if let Some(v) = version {
            if !version_ok(v) {
                self.say(
                    "`arazzo`",
                    format!(
                        "`{v}` is not an Arazzo version this tool reads (write `1.1.0` or `1.0.1`)"
                    ),
                );
            }
        }
        match version.and_then(Version::of) {
            Some(Version::V1_0) => {
                for (pointer, what) in newer_features(doc) {
                    self.say(
                        &display_pointer(&pointer),
                        format!("{what} (set `arazzo: 1.1.0`)"),
                    );
                }
            }
            Some(Version::V1_1) => {
                if let Some(s) = doc.get("$self").and_then(Value::as_str) {
                    if s.contains('#') {
                        self.say(
                            "`$self`",
                            format!("`{s}` has a fragment (`#…`), which `$self` must not have"),
                        );
                    }
                }
                for pointer in flat_criterion_versions(doc) {
                    self.say(
                        &display_pointer(&pointer),
                        "a criterion's `version` beside `type` is Arazzo 1.0's form; in 1.1 write `type: {type: jsonpath, version: …}`".into(),
                    );
                }
            }
            None => {}
        }
    }

    fn say(&mut self, at: &str, what: String) {
        self.out.push(format!("{at}: {what}"));
    }

    /// Fields other than `allowed` and `x-` extensions.
    fn fields(&mut self, v: &Value, allowed: &[&str], at: &str) {
        let Some(map) = v.as_object() else {
            return;
        };
        for k in map.keys() {
            if !k.starts_with("x-") && !allowed.contains(&k.as_str()) {
                self.say(at, format!("unknown field `{k}`"));
            }
        }
    }

    fn non_empty(&mut self, v: Option<&Value>, at: &str) {
        if v.and_then(Value::as_array).is_some_and(Vec::is_empty) {
            self.say(at, "must not be empty".into());
        }
    }

    /// A Reusable Object (`reference`) may carry other keys: they are ignored.
    fn reusable(v: &Value) -> bool {
        v.get("reference").is_some()
    }

    fn step(&mut self, step: &Value, at: &str) {
        self.fields(step, STEP, at);
        for (k, p) in items(step.get("parameters")) {
            self.parameter(p, &format!("{at}.parameters[{k}]"));
        }
        if let Some(body) = step.get("requestBody") {
            let at = format!("{at}.requestBody");
            self.fields(body, REQUEST_BODY, &at);
            for (k, r) in items(body.get("replacements")) {
                self.fields(r, REPLACEMENT, &format!("{at}.replacements[{k}]"));
            }
        }
        self.non_empty(
            step.get("successCriteria"),
            &format!("{at}.successCriteria"),
        );
        for (k, c) in items(step.get("successCriteria")) {
            self.criterion(c, &format!("{at}.successCriteria[{k}]"));
        }
        for (k, a) in items(step.get("onSuccess")) {
            self.action(a, SUCCESS_ACTION, &format!("{at}.onSuccess[{k}]"));
        }
        for (k, a) in items(step.get("onFailure")) {
            self.action(a, FAILURE_ACTION, &format!("{at}.onFailure[{k}]"));
        }
    }

    fn parameter(&mut self, p: &Value, at: &str) {
        if !Self::reusable(p) {
            self.fields(p, PARAMETER, at);
        }
    }

    fn action(&mut self, a: &Value, allowed: &[&str], at: &str) {
        if Self::reusable(a) {
            return;
        }
        self.fields(a, allowed, at);
        self.non_empty(a.get("criteria"), &format!("{at}.criteria"));
        for (k, c) in items(a.get("criteria")) {
            self.criterion(c, &format!("{at}.criteria[{k}]"));
        }
    }

    fn criterion(&mut self, c: &Value, at: &str) {
        self.fields(c, CRITERION, at);
        if let Some(t) = c.get("type").filter(|t| t.is_object()) {
            self.fields(t, EXPRESSION_TYPE, &format!("{at}.type"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_what_the_model_would_ignore() {
        let doc = json!({
            "arazzo": "1.0", "info": {"title": "t", "version": "1", "x-ok": 1}, "foo": 1,
            "sourceDescriptions": [{"name": "a pi", "url": "x"}],
            "workflows": [
                {"workflowId": "w", "steps": [{"stepId": "s", "operationId": "o",
                    "succesCriteria": [], "successCriteria": [],
                    "parameters": [{"reference": "$components.parameters.p", "extra": 1},
                                   {"name": "n", "in": "query", "value": 1, "typo": 2}]}]},
                {"workflowId": "w", "steps": []}
            ],
            "components": {"parameters": {"p g": {"name": "a", "in": "query", "value": 1}}}
        });
        let p = problems(&doc);
        let want = [
            "the document: unknown field `foo`",
            "`arazzo`: `1.0` is not an Arazzo version this tool reads",
            "sourceDescriptions[0]: the name `a pi`",
            "workflows[0].steps[0]: unknown field `succesCriteria`",
            "workflows[0].steps[0].successCriteria: must not be empty",
            "workflows[0].steps[0].parameters[1]: unknown field `typo`",
            "workflows[1]: two workflows have the workflowId `w`",
            "workflows[1].steps: must not be empty",
            "components.parameters.p g: the key `p g`",
        ];
        for w in want {
            assert!(
                p.iter().any(|x| x.starts_with(w)),
                "{w} missing from {p:#?}"
            );
        }
        assert_eq!(p.len(), want.len(), "{p:#?}");
        assert!(version_ok("1.0.1") && version_ok("1.0.0-rc1") && !version_ok("1.0.x"));
        assert!(version_ok("1.1.0") && !version_ok("1.2.0") && !version_ok("1.1"));
        assert_eq!(Version::of("1.1"), Some(Version::V1_1));
        assert_eq!(Version::of("1.0.1"), Some(Version::V1_0));
        assert_eq!(Version::of("1.10.0"), None);
        assert_eq!(Version::of("2.0.0"), None);
    }

    #[test]
    fn arazzo_1_1_fields_in_a_1_0_document() {
        let doc = json!({
            "arazzo": "1.0.1", "$self": "https://x/y", "info": {"title": "t", "version": "1"},
            "sourceDescriptions": [{"name": "a", "url": "x", "type": "asyncapi"}],
            "workflows": [{"workflowId": "w", "steps": [{"stepId": "s", "operationId": "o",
                "timeout": 5, "parameters": [{"name": "q", "in": "querystring", "value": "a=b"}],
                "outputs": {"id": {"context": "$response.body", "selector": "/id", "type": "jsonpointer"}},
                "onSuccess": [{"name": "n", "type": "goto", "workflowId": "w", "parameters": []}]}]}]
        });
        let p = problems(&doc);
        let want = [
            "$self: `$self`",
            "sourceDescriptions[0].type: `type: asyncapi`",
            "workflows[0].steps[0].timeout: `timeout`",
            "workflows[0].steps[0].parameters[0].in: `in: querystring`",
            "workflows[0].steps[0].onSuccess[0].parameters: `parameters`",
            "workflows[0].steps[0].outputs.id: a Selector Object",
        ];
        for w in want {
            assert!(
                p.iter().any(|x| x.starts_with(w)),
                "{w} missing from {p:#?}"
            );
        }
        assert_eq!(p.len(), want.len(), "{p:#?}");
        assert!(p.iter().all(|x| x.ends_with("(set `arazzo: 1.1.0`)")));
        let mut doc = doc;
        doc["arazzo"] = json!("1.1.0");
        assert_eq!(problems(&doc), Vec::<String>::new());
        doc["$self"] = json!("https://x/y#frag");
        assert_eq!(problems(&doc).len(), 1);
        // 1.0's flat criterion `version` is not 1.1's.
        doc["$self"] = json!("https://x/y");
        doc["workflows"][0]["steps"][0]["successCriteria"] = json!([
            {"context": "$response.body", "condition": "$.a", "type": "jsonpath",
             "version": "draft-goessner-dispatch-jsonpath-00"}
        ]);
        let p = problems(&doc);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(
            p[0].starts_with("workflows[0].steps[0].successCriteria[0].version: "),
            "{p:#?}"
        );
    }
}
