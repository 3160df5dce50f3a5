//! The credentials a user supplies, by source description and security
//! scheme: from the environment (`ARAZZO_AUTH_<SOURCE>_<SCHEME>_<FIELD>`,
//! `--env-file` filling in what the environment lacks) and `--auth-file`
//! (`{source: {scheme: {field: value}}}`), which wins field by field.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::openapi::security::{secret_field, FIELDS};

/// Prefix of the environment variables that supply credentials.
pub const ENV_PREFIX: &str = "ARAZZO_AUTH_";

/// The scheme name under which a source's client certificate may be given
/// when its description declares no `mutualTLS` scheme.
pub const MTLS: &str = "mtls";

/// Largest `--auth-file` read.
const MAX_AUTH_FILE: u64 = 1 << 20;

/// One supplied field: its value and where it came from (for messages,
/// never with the value).
#[derive(Debug, Clone)]
pub struct Supplied {
    pub value: String,
    /// `ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET`, or `--auth-file creds.yaml`.
    pub from: String,
}

/// A scheme's supplied fields, by field name.
pub type Fields = BTreeMap<String, Supplied>;

/// Every credential supplied for a run, by (source, scheme).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    sets: BTreeMap<(String, String), Fields>,
    /// Environment variables with the prefix that name nothing known, each
    /// with a did-you-mean when one is close: warnings for the user.
    pub warnings: Vec<String>,
}

/// The sources of a run and the security schemes each declares.
pub type Known = Vec<(String, Vec<String>)>;

impl Credentials {
    /// Reads the credentials for the `known` sources and schemes from `env`
    /// (the process environment, with `--env-file`'s variables added) and
    /// `auth_file`. `Err` is a message for exit code 2.
    pub fn load(
        known: &Known,
        env: &BTreeMap<String, String>,
        auth_file: Option<&Path>,
    ) -> Result<Credentials, String> {
        let mut creds = Credentials::default();
        creds.read_env(known, env)?;
        if let Some(path) = auth_file {
            creds.read_file(known, path)?;
        }
        Ok(creds)
    }

    /// The fields supplied for `scheme` of `source`.
    pub fn fields(&self, source: &str, scheme: &str) -> Option<&Fields> {
        self.sets.get(&(source.to_string(), scheme.to_string()))
    }

    /// Every (source, scheme) with its fields.
    pub fn all(&self) -> impl Iterator<Item = (&(String, String), &Fields)> {
        self.sets.iter()
    }

    /// Every secret value supplied (for the redactor).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.sets.values().flat_map(|f| {
            f.iter()
                .filter(|(k, _)| secret_field(k))
                .map(|(_, s)| s.value.as_str())
        })
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    fn read_env(&mut self, known: &Known, env: &BTreeMap<String, String>) -> Result<(), String> {
        let mut names: BTreeMap<String, (String, String, &str)> = BTreeMap::new();
        // Names two (source, scheme) pairs share once in upper snake case
        // (source `api` scheme `admin_key`, source `api_admin` scheme `key`).
        let mut shared: BTreeMap<String, String> = BTreeMap::new();
        for (source, schemes) in known {
            for scheme in schemes.iter().map(String::as_str).chain([MTLS]) {
                for field in FIELDS {
                    let name = env_name(source, scheme, field);
                    let meaning = (source.clone(), scheme.to_string(), field);
                    if let Some(other) = names.get(&name).filter(|o| **o != meaning) {
                        shared.insert(
                            name.clone(),
                            format!(
                                "scheme `{}` of source `{}` and scheme `{scheme}` of source `{source}`",
                                other.1, other.0
                            ),
                        );
                    }
                    names.insert(name, meaning);
                }
            }
        }
        for (var, value) in env.iter().filter(|(k, _)| k.starts_with(ENV_PREFIX)) {
            if let Some(both) = shared.get(var) {
                return Err(format!(
                    "{var} could mean {both}; give these credentials in --auth-file, where source and scheme are named apart"
                ));
            }
            match names.get(var) {
                // As CI systems set a variable whose secret is missing: an
                // empty credential would be sent, or would satisfy a scheme
                // in place of a later alternative.
                Some(_) if value.is_empty() => self
                    .warnings
                    .push(format!("{var} is empty, and is not used")),
                Some((source, scheme, field)) => {
                    self.sets
                        .entry((source.clone(), scheme.clone()))
                        .or_default()
                        .insert(
                            field.to_string(),
                            Supplied {
                                value: value.clone(),
                                from: var.clone(),
                            },
                        );
                }
                None => self.warnings.push(unknown_var(var, &names)),
            }
        }
        Ok(())
    }

    fn read_file(&mut self, known: &Known, path: &Path) -> Result<(), String> {
        let shown = path.display();
        refuse_shared(path)?;
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("--auth-file `{shown}` cannot be read: {e}"))?;
        if meta.len() > MAX_AUTH_FILE {
            return Err(format!(
                "--auth-file `{shown}` is larger than {MAX_AUTH_FILE} bytes"
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--auth-file `{shown}` cannot be read: {e}"))?;
        let tree: Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| format!("--auth-file `{shown}` is not YAML or JSON: {e}"))?;
        let from = format!("--auth-file {shown}");
        let sources = tree
            .as_object()
            .ok_or_else(|| format!("--auth-file `{shown}`: {FILE_SHAPE}"))?;
        for (source, schemes) in sources {
            let declared = lookup(known, source).ok_or_else(|| {
                unknown_in_file(
                    &shown.to_string(),
                    "source",
                    source,
                    known.iter().map(|k| k.0.as_str()),
                )
            })?;
            let schemes = schemes
                .as_object()
                .ok_or_else(|| format!("--auth-file `{shown}`, source `{source}`: {FILE_SHAPE}"))?;
            for (scheme, fields) in schemes {
                if scheme != MTLS && !declared.contains(scheme) {
                    let names = declared.iter().map(String::as_str).chain([MTLS]);
                    return Err(unknown_in_file(
                        &format!("{shown}`, source `{source}"),
                        "scheme",
                        scheme,
                        names,
                    ));
                }
                let set = self
                    .sets
                    .entry((source.clone(), scheme.clone()))
                    .or_default();
                read_fields(set, fields, &from).map_err(|m| {
                    format!("--auth-file `{shown}`, source `{source}`, scheme `{scheme}`: {m}")
                })?;
            }
        }
        Ok(())
    }
}

const FILE_SHAPE: &str = "write `{source: {scheme: {field: value}}}`, e.g. `api: {oauth: {clientId: my-app, clientSecret: …}}`";

fn lookup<'k>(known: &'k Known, source: &str) -> Option<&'k Vec<String>> {
    known.iter().find(|k| k.0 == source).map(|k| &k.1)
}

/// Reads one scheme's fields from the auth file into `set`.
fn read_fields(set: &mut Fields, fields: &Value, from: &str) -> Result<(), String> {
    let fields = fields.as_object().ok_or(FILE_SHAPE)?;
    for (field, value) in fields {
        if !FIELDS.contains(&field.as_str()) {
            let hint = crate::compile::suggest(field, FIELDS.iter().copied())
                .map(|s| format!("; {s}"))
                .unwrap_or_default();
            return Err(format!(
                "`{field}` is not a credential field{hint} (the fields are {})",
                FIELDS.join(", ")
            ));
        }
        let value = match value {
            Value::String(s) => s.clone(),
            // YAML reads `0x1F`, `1e3` or `1.10` as numbers: sent back as
            // text they would not be what was written.
            Value::Number(_) | Value::Bool(_) => {
                return Err(format!(
                    "`{field}` must be a string, and YAML reads the value as a {}: quote it (`{field}: \"…\"`)",
                    if value.is_number() { "number" } else { "boolean" }
                ))
            }
            Value::Array(items) if field == "scopes" => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            _ => return Err(format!("`{field}` must be a string")),
        };
        if value.is_empty() {
            return Err(format!("`{field}` is empty"));
        }
        set.insert(
            field.clone(),
            Supplied {
                value,
                from: from.to_string(),
            },
        );
    }
    Ok(())
}

/// Refuses an auth file that other users may read or write: the secrets in
/// it would not be the user's alone.
#[cfg(unix)]
fn refuse_shared(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("--auth-file `{}` cannot be read: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o066 != 0 {
        return Err(format!(
            "--auth-file `{}` can be read or written by other users (mode {mode:03o}); its secrets must be yours alone: run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_shared(_path: &Path) -> Result<(), String> {
    Ok(())
}

fn unknown_in_file<'n>(
    file: &str,
    what: &str,
    name: &str,
    names: impl Iterator<Item = &'n str> + Clone,
) -> String {
    let hint = crate::compile::suggest(name, names.clone())
        .map(|s| format!("{s} "))
        .unwrap_or_default();
    let all: Vec<&str> = names.collect();
    format!(
        "--auth-file `{file}`: no {what} `{name}`; {hint}the {what}s are {}",
        if all.is_empty() {
            "none".to_string()
        } else {
            all.join(", ")
        }
    )
}

/// The warning for a variable with the prefix that names nothing known.
fn unknown_var(var: &str, names: &BTreeMap<String, (String, String, &str)>) -> String {
    let hint = crate::compile::suggest(var, names.keys().map(String::as_str))
        .map(|s| format!("; {s}"))
        .unwrap_or_default();
    format!("{var} names no source, security scheme and credential field of this document, and is not used{hint}")
}

/// The environment variable of a field: `ARAZZO_AUTH_` and the source,
/// scheme and field names in upper snake case, joined by `_`.
pub fn env_name(source: &str, scheme: &str, field: &str) -> String {
    format!(
        "{ENV_PREFIX}{}_{}_{}",
        upper_snake(source),
        upper_snake(scheme),
        upper_snake(field)
    )
}

/// `clientSecret` → `CLIENT_SECRET`, `my-api` → `MY_API` (the input
/// variables `ARAZZO_INPUT_…` are named the same way).
pub fn upper_snake(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower_or_digit = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && prev_lower_or_digit {
            out.push('_');
        }
        prev_lower_or_digit = c.is_ascii_lowercase() || c.is_ascii_digit();
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push('_');
        }
    }
    out
}

/// Reads a dotenv file: `NAME=value` lines, `#` comments, an optional
/// `export `, values optionally in single quotes (taken as written) or
/// double quotes (with `\n`, `\"` and `\\` escapes). `Err` names the line.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let shown = path.display();
    let meta =
        std::fs::metadata(path).map_err(|e| format!("--env-file `{shown}` cannot be read: {e}"))?;
    if meta.len() > MAX_AUTH_FILE {
        return Err(format!(
            "--env-file `{shown}` is larger than {MAX_AUTH_FILE} bytes"
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--env-file `{shown}` cannot be read: {e}"))?;
    // A byte order mark (as some Windows editors write) is not part of the
    // first name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "--env-file `{shown}`, line {}: expected NAME=value",
                n + 1
            ));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            // Not echoed: a line written wrongly may be a secret.
            return Err(format!(
                "--env-file `{shown}`, line {}: what comes before `=` is not a variable name (letters, digits and `_`)",
                n + 1
            ));
        }
        let value = unquote(value.trim())
            .map_err(|m| format!("--env-file `{shown}`, line {}: {m}", n + 1))?;
        out.push((name.to_string(), value));
    }
    Ok(out)
}

/// A value as written after `=`: in single quotes (taken as written), in
/// double quotes (with `\n`, `\"` and `\\` escapes), or bare; a quoted value
/// may be followed by a ` # comment`, a bare one ends at ` #`. `Err` says
/// what is wrong with it.
fn unquote(v: &str) -> Result<String, String> {
    let Some(quote) = v.chars().next().filter(|c| *c == '\'' || *c == '"') else {
        // An unquoted value ends at ` #` (a comment).
        return Ok(match v.find(" #") {
            Some(i) => v[..i].trim_end().to_string(),
            None => v.to_string(),
        });
    };
    let mut out = String::new();
    let mut chars = v[1..].char_indices();
    let rest = loop {
        let Some((i, c)) = chars.next() else {
            return Err(format!("the value's opening {quote} is never closed"));
        };
        if c == quote {
            break &v[1 + i + 1..];
        }
        if c == '\\' && quote == '"' {
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, other)) => out.push(other),
                None => return Err(format!("the value's opening {quote} is never closed")),
            }
        } else {
            out.push(c);
        }
    };
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with('#') {
        // The text itself is not shown: it may be part of a secret.
        return Err(format!(
            "text follows the value's closing {quote}; quote the whole value, or start a comment with ` #`"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_upper_snake() {
        assert_eq!(
            env_name("api", "oauth", "clientSecret"),
            "ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET"
        );
        assert_eq!(
            env_name("petStore", "api-key", "apiKey"),
            "ARAZZO_AUTH_PET_STORE_API_KEY_API_KEY"
        );
    }

    #[test]
    fn environment_is_matched_against_known_names() {
        let known: Known = vec![("api".into(), vec!["oauth".into()])];
        let env: BTreeMap<String, String> = [
            ("ARAZZO_AUTH_API_OAUTH_CLIENT_ID", "id"),
            ("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRT", "x"),
            ("PATH", "/bin"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let c = Credentials::load(&known, &env, None).unwrap();
        assert_eq!(c.fields("api", "oauth").unwrap()["clientId"].value, "id");
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("ARAZZO_AUTH_API_OAUTH_CLIENT_SECRET"));
    }

    #[test]
    fn an_empty_variable_supplies_nothing() {
        let known: Known = vec![("api".into(), vec!["key".into()])];
        let env: BTreeMap<String, String> =
            [("ARAZZO_AUTH_API_KEY_API_KEY".to_string(), String::new())].into();
        let c = Credentials::load(&known, &env, None).unwrap();
        assert!(c.fields("api", "key").is_none());
        assert_eq!(
            c.warnings,
            vec!["ARAZZO_AUTH_API_KEY_API_KEY is empty, and is not used"]
        );
    }

    #[test]
    fn dotenv_values() {
        assert_eq!(unquote("'a b'").unwrap(), "a b");
        assert_eq!(unquote("\"a\\nb\"").unwrap(), "a\nb");
        assert_eq!(unquote("abc # note").unwrap(), "abc");
        assert_eq!(unquote("\"a #b\" # note").unwrap(), "a #b");
        assert_eq!(unquote("'a\\b' #note").unwrap(), "a\\b");
        assert_eq!(unquote("\"a\\\"b\"").unwrap(), "a\"b");
        assert!(unquote("\"abc").is_err());
        assert!(unquote("'abc' def").is_err());
    }
}
