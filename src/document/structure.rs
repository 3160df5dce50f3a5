//! The structural rules of the Arazzo 1.0 schema that the document model does
//! not enforce by itself, checked on every load (`run`, `mcp`, `list`), so
//! that a document `validate` refuses is never run: unknown fields (a typo
//! such as `succesCriteria` would otherwise be ignored), empty lists the
//! schema requires to be non-empty, the `arazzo` version, name patterns, and
//! unique workflowIds. It costs microseconds; `validate` runs the whole JSON
//! Schema instead and says where each problem is.

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

/// Every structural problem of the document, each as `where: what`.
pub fn problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut c = Checker { out: &mut out };
    c.fields(doc, ROOT, "the document");
    if let Some(v) = doc.get("arazzo").and_then(Value::as_str) {
        if !version_ok(v) {
            c.say(
                "`arazzo`",
                format!("`{v}` is not an Arazzo 1.0 version (write `1.0.1`)"),
            );
        }
    }
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

fn version_ok(v: &str) -> bool {
    let Some(rest) = v.strip_prefix("1.0.").or_else(|| v.strip_prefix("1.1.")) else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && (rest.len() == digits || rest[digits..].len() > 1 && rest[digits..].starts_with('-'))
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
            "`arazzo`: `1.0` is not an Arazzo 1.0 version",
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
    }
}
