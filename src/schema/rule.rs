//! A failed JSON Schema keyword in words, for every message that reports a
//! value the schema refuses (inputs, payloads, preflight).

/// Describes a failed keyword without quoting the instance.
pub(crate) fn describe_rule(
    kind: &jsonschema::error::ValidationErrorKind,
    schema_path: &str,
) -> String {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    match kind {
        K::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => ts
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            format!("expected a value of type {expected}")
        }
        K::Required { property } => format!("the field {property} is required"),
        K::Enum { options } => format!("must be one of {options}"),
        K::Constant { expected_value } => format!("must be {expected_value}"),
        K::MinLength { limit } => format!("must be at least {limit} characters long"),
        K::MaxLength { limit } => format!("must be at most {limit} characters long"),
        K::Pattern { pattern } => format!("must match the pattern {pattern}"),
        K::Minimum { limit } => format!("must be at least {limit}"),
        K::Maximum { limit } => format!("must be at most {limit}"),
        K::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
        K::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        K::MinItems { limit } => format!("must have at least {limit} items"),
        K::MaxItems { limit } => format!("must have at most {limit} items"),
        K::UniqueItems => "items must be unique".to_string(),
        K::AdditionalProperties { unexpected } => {
            format!("unexpected field(s) {}", unexpected.join(", "))
        }
        K::Format { format } => format!("must be a valid {format}"),
        K::OneOfNotValid { .. } => "matches none of the allowed alternatives (oneOf)".to_string(),
        K::OneOfMultipleValid { .. } => {
            "matches more than one of the alternatives, where exactly one is allowed (oneOf)"
                .to_string()
        }
        K::AnyOf { .. } => "matches none of the allowed alternatives (anyOf)".to_string(),
        K::Not { .. } => "matches a schema it must not match (not)".to_string(),
        K::MultipleOf { multiple_of } => format!("must be a multiple of {multiple_of}"),
        K::MinProperties { limit } => format!("must have at least {limit} fields"),
        K::MaxProperties { limit } => format!("must have at most {limit} fields"),
        K::FalseSchema => "is not allowed here".to_string(),
        K::UnevaluatedProperties { unexpected } => {
            format!("unexpected field(s) {}", unexpected.join(", "))
        }
        _ => format!("does not satisfy the schema rule at {schema_path}"),
    }
}
