//! Workflow inputs from the command line, an inputs file and the environment,
//! typed by the workflow's inputs schema and checked before any request.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

/// Prefix of the environment variables that supply inputs.
pub const ENV_PREFIX: &str = "ARAZZO_INPUT_";

/// Why the inputs cannot be used; the help lists what the workflow takes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub message: String,
    pub help: String,
}

/// The environment variable names that supply input `name`: the upper-snake form
/// (`apiKey` → `ARAZZO_INPUT_API_KEY`) and the name as written (`ARAZZO_INPUT_apiKey`).
pub fn env_names(name: &str) -> [String; 2] {
    [
        format!("{ENV_PREFIX}{}", crate::auth::store::upper_snake(name)),
        format!("{ENV_PREFIX}{name}"),
    ]
}

fn properties(schema: Option<&Value>) -> Option<&Map<String, Value>> {
    schema?.get("properties")?.as_object()
}

fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A one-line-per-input description of what a workflow takes.
pub fn describe(workflow_id: &str, schema: Option<&Value>) -> String {
    let Some(props) = properties(schema) else {
        return format!("workflow `{workflow_id}` takes no inputs");
    };
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = format!("workflow `{workflow_id}` takes:");
    for (name, s) in props {
        let ty = types_of(s);
        let ty = if ty.is_empty() {
            "any".to_string()
        } else {
            ty.join("|")
        };
        let req = if required.contains(&name.as_str()) {
            "required"
        } else {
            "optional"
        };
        out.push_str(&format!("\n  {name} ({ty}, {req})"));
        if let Some(d) = s.get("description").and_then(Value::as_str) {
            let d = d.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push_str(&format!(" - {d}"));
        }
        out.push_str(&format!("  [env {}]", env_names(name)[0]));
    }
    out.push_str("\npass them with -i NAME=VALUE, --inputs FILE or the environment");
    out
}

/// Turns the text of `-i NAME=VALUE` (or an environment variable) into a value of
/// the input's declared type: strings are taken as written, other types as JSON.
pub fn typed_value(name: &str, text: &str, schema: Option<&Value>) -> Result<Value, String> {
    let ty = schema.map(types_of).unwrap_or_default();
    if ty.is_empty() || ty.contains(&"string") {
        return Ok(Value::String(text.to_string()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(_) => {
            let example = match ty[0] {
                "array" => "[\"a\",\"b\"]",
                "object" => "{\"key\":\"value\"}",
                "integer" => "42",
                "number" => "1.5",
                "boolean" => "true",
                "null" => "null",
                _ => "a JSON value",
            };
            Err(format!(
                "input `{name}` is of type {} and takes JSON, e.g. -i '{name}={example}'; the given value is not valid JSON",
                ty.join("|")
            ))
        }
    }
}

/// Where inputs come from, lowest precedence first: environment, file, `-i`.
pub struct InputSources<'a> {
    pub cli: &'a [(String, String)],
    pub file: Option<Map<String, Value>>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Assembles and checks the inputs of a workflow.
pub fn assemble(
    workflow_id: &str,
    schema: Option<&Value>,
    src: InputSources<'_>,
) -> Result<Map<String, Value>, InputError> {
    let inputs = gather(workflow_id, schema, src)?;
    finish(workflow_id, schema, inputs)
}

/// Where an input's value came from. A failure message names it (never the
/// value), so that a user knows which setting to check or change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `-i NAME=VALUE`.
    Flag,
    /// The `--inputs` file.
    File,
    /// The environment variable named.
    Env(String),
}

/// The inputs gathered from their sources, with where each one came from.
#[derive(Debug, Default)]
pub struct Gathered {
    pub values: Map<String, Value>,
    pub origins: BTreeMap<String, Origin>,
}

/// Collects and types the inputs from their sources (unknown names refused),
/// without checking what is required: a batch adds more per line.
pub fn gather(
    workflow_id: &str,
    schema: Option<&Value>,
    src: InputSources<'_>,
) -> Result<Map<String, Value>, InputError> {
    gather_traced(workflow_id, schema, src).map(|g| g.values)
}

/// As [`gather`], also recording where each input came from: the source that
/// won by precedence (environment, then file, then `-i`).
pub fn gather_traced(
    workflow_id: &str,
    schema: Option<&Value>,
    src: InputSources<'_>,
) -> Result<Gathered, InputError> {
    // The help (what the workflow takes) is written only when there is an error.
    let err = |message: String| InputError {
        message,
        help: describe(workflow_id, schema),
    };
    let props = properties(schema);
    let known = |name: &str| props.is_some_and(|p| p.contains_key(name));
    let mut inputs = Map::new();
    let mut origins = BTreeMap::new();
    // Set but empty: what CI gives for a secret it does not have. Read as
    // not set; a required input left so is named with its variable below.
    let mut empty_env: Vec<(String, String)> = Vec::new();

    if let Some(p) = props {
        for (name, s) in p {
            for var in env_names(name) {
                if let Some(text) = (src.env)(&var) {
                    if text.is_empty() {
                        empty_env.push((name.clone(), var));
                        continue;
                    }
                    let v = typed_value(name, &text, Some(s))
                        .map_err(|m| err(format!("{m} (from the environment variable {var})")))?;
                    inputs.insert(name.clone(), v);
                    origins.insert(name.clone(), Origin::Env(var));
                    break;
                }
            }
        }
    }
    if let Some(file) = src.file {
        for (name, v) in file {
            if !known(&name) {
                return Err(err(format!(
                    "the inputs file gives `{name}`, which workflow `{workflow_id}` does not take"
                )));
            }
            origins.insert(name.clone(), Origin::File);
            inputs.insert(name, v);
        }
    }
    for (name, text) in src.cli {
        if !known(name) {
            let hint = crate::compile::suggest(
                name,
                props.into_iter().flat_map(|p| p.keys().map(String::as_str)),
            )
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
            return Err(err(format!(
                "unknown input `{name}`: workflow `{workflow_id}` does not take it{hint}"
            )));
        }
        let v = typed_value(name, text, props.and_then(|p| p.get(name))).map_err(err)?;
        inputs.insert(name.clone(), v);
        origins.insert(name.clone(), Origin::Flag);
    }
    let required = |name: &str| {
        schema
            .and_then(|s| s.get("required"))
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|v| v.as_str() == Some(name)))
    };
    if let Some((name, var)) = empty_env
        .iter()
        .find(|(name, _)| !inputs.contains_key(name) && required(name))
    {
        return Err(InputError {
            message: format!(
                "missing required input `{name}`: the environment variable {var} is set but empty"
            ),
            help: format!(
                "a CI secret that is not defined is passed as an empty value: define it, or pass -i {name}=VALUE\n{}",
                describe(workflow_id, schema)
            ),
        });
    }
    Ok(Gathered {
        values: inputs,
        origins,
    })
}

/// Adds one batch line's inputs (a JSON object, or CSV text typed like `-i`)
/// over the shared ones.
pub fn merge_line(
    workflow_id: &str,
    schema: Option<&Value>,
    shared: &Map<String, Value>,
    line: Map<String, Value>,
    as_text: bool,
) -> Result<Map<String, Value>, InputError> {
    let props = properties(schema);
    let mut inputs = shared.clone();
    for (name, v) in line {
        if !props.is_some_and(|p| p.contains_key(&name)) {
            return Err(InputError {
                message: format!(
                    "unknown input `{name}`: workflow `{workflow_id}` does not take it"
                ),
                help: describe(workflow_id, schema),
            });
        }
        let v = match (&v, as_text) {
            (Value::String(text), true) => {
                typed_value(&name, text, props.and_then(|p| p.get(&name))).map_err(|m| {
                    InputError {
                        message: m,
                        help: describe(workflow_id, schema),
                    }
                })?
            }
            _ => v,
        };
        inputs.insert(name, v);
    }
    Ok(inputs)
}

/// Checks the assembled inputs: every required one present, the schema holds.
pub fn finish(
    workflow_id: &str,
    schema: Option<&Value>,
    inputs: Map<String, Value>,
) -> Result<Map<String, Value>, InputError> {
    let err = |message: String| InputError {
        message,
        help: describe(workflow_id, schema),
    };

    // Required inputs, with a message that lists every missing one at once.
    if let Some(required) = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
    {
        let missing: Vec<&str> = required
            .iter()
            .filter_map(Value::as_str)
            .filter(|r| !inputs.contains_key(*r))
            .collect();
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let plural = if missing.len() > 1 { "s" } else { "" };
            return Err(err(format!("missing required input{plural} {list}")));
        }
    }

    if let Some(schema) = schema {
        validate(schema, &Value::Object(inputs.clone())).map_err(err)?;
    }
    Ok(inputs)
}

/// Checks inputs handed to a called workflow against its inputs schema.
pub fn check(schema: Option<&Value>, inputs: &Map<String, Value>) -> Result<(), String> {
    let Some(schema) = schema else {
        return Ok(());
    };
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        let missing: Vec<&str> = required
            .iter()
            .filter_map(Value::as_str)
            .filter(|r| !inputs.contains_key(*r))
            .collect();
        if !missing.is_empty() {
            return Err(format!("missing required input(s) {}", missing.join(", ")));
        }
    }
    validate(schema, &Value::Object(inputs.clone()))
}

/// Validates the inputs object against the JSON Schema. Messages name the input
/// and the rule, never the value (it may be a secret).
fn validate(schema: &Value, instance: &Value) -> Result<(), String> {
    let validator = validator(schema)?;
    let problems: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| {
            let path = e.instance_path().to_string();
            let place = if path.is_empty() {
                "the inputs".to_string()
            } else {
                let mut parts = path.trim_start_matches('/').splitn(2, '/');
                let name = parts.next().unwrap_or_default();
                match parts.next() {
                    Some(rest) => format!("input `{name}` at /{rest}"),
                    None => format!("input `{name}`"),
                }
            };
            format!(
                "{place}: {}",
                crate::schema::describe_rule(e.kind(), &e.schema_path().to_string())
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The validator of an inputs schema, built once per schema and process: a
/// batch checks every line's inputs against the same schema.
fn validator(schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
    type Cache = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = schema.to_string();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(v.clone());
    }
    let v =
        Arc::new(jsonschema::validator_for(schema).map_err(|e| {
            format!("the workflow's inputs schema is not a valid JSON Schema: {e}")
        })?);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= 256 {
        map.clear();
    }
    map.insert(key, v.clone());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn env_name_forms() {
        assert_eq!(
            env_names("apiKey"),
            [
                "ARAZZO_INPUT_API_KEY".to_string(),
                "ARAZZO_INPUT_apiKey".to_string()
            ]
        );
        assert_eq!(env_names("user-id")[0], "ARAZZO_INPUT_USER_ID");
        assert_eq!(env_names("HTTPServer2x")[0], "ARAZZO_INPUT_HTTPSERVER2X");
    }

    #[test]
    fn typing_follows_the_schema() {
        let arr = json!({"type": "array"});
        assert_eq!(
            typed_value("a", "[\"x\"]", Some(&arr)).unwrap(),
            json!(["x"])
        );
        assert!(typed_value("a", "x,y", Some(&arr)).is_err());
        let s = json!({"type": "string"});
        assert_eq!(typed_value("s", "42", Some(&s)).unwrap(), json!("42"));
        assert_eq!(typed_value("s", "a=b", None).unwrap(), json!("a=b"));
    }

    #[test]
    fn origins_follow_precedence() {
        let schema = json!({"type": "object", "properties": {
            "a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string"}}});
        let env =
            |var: &str| (var == "ARAZZO_INPUT_A" || var == "ARAZZO_INPUT_B").then(|| "e".into());
        let file = json!({"b": "f", "c": "f"}).as_object().cloned();
        let cli = [("c".to_string(), "x".to_string())];
        let src = InputSources {
            cli: &cli,
            file,
            env: &env,
        };
        let g = gather_traced("w", Some(&schema), src).unwrap();
        assert_eq!(g.origins["a"], Origin::Env("ARAZZO_INPUT_A".into()));
        assert_eq!(g.origins["b"], Origin::File);
        assert_eq!(g.origins["c"], Origin::Flag);
        assert_eq!(g.values["c"], json!("x"));
    }

    #[test]
    fn validation_never_quotes_values() {
        let schema =
            json!({"type": "object", "properties": {"k": {"type": "integer", "minimum": 5}}});
        let e = validate(&schema, &json!({"k": "hunter2"})).unwrap_err();
        assert!(e.contains("input `k`"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}
