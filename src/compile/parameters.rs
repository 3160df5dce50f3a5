//! Parameter lists (a workflow's, a step's): Parameter Objects and Reusable
//! Objects resolved, each with the places of its parts for diagnostics.

use serde_json::Value;

use super::compiler::{Compiler, Place};
use super::errors::{error, CompileError};
use crate::document::Parameter;

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
                    "a parameter has `name`, `in` (path, query, header or cookie) and `value`"
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
