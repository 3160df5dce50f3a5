//! `arazzo::check`: the schema check over OAI's 1.0 and 1.1 schema fixtures and the corpus of real
//! Arazzo documents, and the source map over them and a 2 MB OpenAPI description.
//!
//! Fixtures live in `../shared` (beside this checkout).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arazzo::check::arazzo_schema::{check, SchemaIssue};
use arazzo::document::source_map::SourceMap;
use serde_json::Value;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel)
}

/// Parses like the loader: JSON when it looks like JSON, YAML otherwise.
fn parse(text: &str) -> Option<Value> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(v) = serde_json::from_str(trimmed) {
            return Some(v);
        }
    }
    serde_yaml_ng::from_str(trimmed).ok()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_under(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
}

/// Every node of `value` with its JSON Pointer.
fn all_pointers<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                all_pointers(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                all_pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push((at, value));
}

/// Whether the source text `at` of a string scalar holds `value`: exactly for a JSON-style
/// quoted string, else the start of the value with whitespace runs (line folding) collapsed.
fn holds(at: &str, value: &str) -> bool {
    if at.starts_with('"') {
        if let Ok(decoded) = serde_json::from_str::<String>(at) {
            return decoded == *value;
        }
    }
    if value.contains(['\\', '\'', '"']) {
        return true;
    }
    let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let value = squash(value);
    let start: String = value.chars().take(30).collect();
    squash(at).contains(&start)
}

fn show(issues: &[SchemaIssue]) -> String {
    issues
        .iter()
        .map(|i| {
            format!(
                "  {} [{}] {}\n    help: {}",
                i.pointer, i.code, i.message, i.help
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fixtures whose expected outcome conflicts with the tolerances `check` applies
/// (see `apply_tolerances`), with the reason. None of OAI's 1.0 fixtures does today.
const TOLERANCE_CONFLICTS: &[(&str, &str)] = &[];

fn fixtures(version: &str, outcome: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_under(
        &shared(&format!(
            "reference/arazzo/schema-tests/v{version}/{outcome}"
        )),
        &mut files,
    );
    assert!(!files.is_empty(), "no v{version} {outcome} fixtures found");
    files
}

/// Every `pass` fixture of OAI's 1.0 and 1.1 schema tests is valid against the schema of its
/// version (1.1: "This string MUST be the version number of the Arazzo Specification that the
/// Arazzo Description uses. The `arazzo` field MUST be used by tooling to interpret the Arazzo
/// Description.").
#[test]
fn oai_pass_fixtures_have_no_issue() {
    for version in ["1.0", "1.1"] {
        for path in fixtures(version, "pass") {
            let text = std::fs::read_to_string(&path).unwrap();
            let doc = parse(&text).unwrap_or_else(|| panic!("{} does not parse", path.display()));
            let issues = check(&doc);
            assert!(
                issues.is_empty(),
                "{} should be valid:\n{}",
                path.display(),
                show(&issues)
            );
            // The loader's structure check (`run`, `list`, `mcp`) agrees.
            let url = url::Url::from_file_path(&path).unwrap();
            if let Err(e) = arazzo::document::parse_arazzo(url, &text) {
                panic!("{} is refused by the loader: {}", path.display(), e.message);
            }
        }
    }
}

#[test]
fn oai_fail_fixtures_have_issues() {
    for path in fixtures("1.0", "fail") {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let doc = parse(&text).unwrap_or_else(|| panic!("{name} does not parse"));
        let issues = check(&doc);
        if let Some((_, why)) = TOLERANCE_CONFLICTS.iter().find(|(n, _)| *n == name) {
            assert!(
                issues.is_empty(),
                "{name} is tolerated ({why}) but got:\n{}",
                show(&issues)
            );
            continue;
        }
        assert!(!issues.is_empty(), "{name} should have issues");
        println!("{name}:\n{}", show(&issues));
    }
}

/// Each `fail` fixture of OAI's 1.1 schema tests, with the reason it fails: an issue at this
/// pointer with this code, whose message holds this text. Each one is failed by the schema
/// check for the reason its name gives.
const V1_1_FAILS: &[(&str, &str, &str, &str)] = &[
    // Step Object: "channelPath … a reference to an AsyncAPI channel"; one target only.
    (
        "async-both-operationId-and-channelPath.arazzo.yaml",
        "/workflows/0/steps/0",
        "schema/oneOf",
        "`operationId` and `channelPath`",
    ),
    // `action` is REQUIRED for an AsyncAPI step.
    (
        "async-channelPath-without-action.arazzo.yaml",
        "/workflows/0/steps/0",
        "schema/required",
        "`action`",
    ),
    (
        "async-depends-on-duplicate-values.arazzo.yaml",
        "/workflows/0/steps/1/dependsOn",
        "schema/unique-items",
        "same entry twice",
    ),
    (
        "async-depends-on-empty.arazzo.yaml",
        "/workflows/0/steps/1/dependsOn",
        "schema/min-items",
        "is empty",
    ),
    // dependsOn: a stepId, `$workflows.<workflowId>.steps.<stepId>` or
    // `$sourceDescriptions.<name>.<workflowId>.steps.<stepId>`; `$steps.x` is none of them.
    (
        "async-depends-on-invalid-reference.arazzo.yaml",
        "/workflows/0/steps/1/dependsOn/0",
        "schema/pattern",
        "`$steps.sendEvent`, which is not a step reference",
    ),
    // A channelPath names an AsyncAPI channel; the only source is `type: openapi`.
    (
        "channel-path-is-invalid-for-openapi.arazzo.yaml",
        "/workflows/0/steps/0/channelPath",
        "ref/wrong-source-type",
        "no AsyncAPI source",
    ),
    (
        "invalid-arazzo-version.yaml",
        "/arazzo",
        "schema/type",
        "must be a string",
    ),
    // correlationId: "Only applicable to `asyncapi` steps with action `receive`".
    (
        "invalid-async-correlation-id-non-receive-action.arazzo.yaml",
        "/workflows/0/steps/0/action",
        "schema/enum",
        "`receive`",
    ),
    (
        "invalid-async-parameter-without-in.arazzo.yaml",
        "/workflows/0/steps/0/parameters/0",
        "schema/required",
        "`in`",
    ),
    (
        "invalid-async.arazzo.yaml",
        "/workflows/0/steps/0/action",
        "schema/enum",
        "`send` or `receive`",
    ),
    (
        "invalid-expression-type-object.arazzo.yaml",
        "/workflows/0/steps/0/outputs/brokenSelector/type/version",
        "schema/enum",
        "`rfc9535`",
    ),
    (
        "invalid-openapi-parameter-without-in.arazzo.yaml",
        "/workflows/0/steps/0/parameters/0",
        "schema/required",
        "`in`",
    ),
    (
        "invalid-openapi-success-criteria.arazzo.yaml",
        "/workflows/0/steps/0/successCriteria",
        "schema/min-items",
        "is empty",
    ),
    (
        "invalid-querystring-without-value.arazzo.yaml",
        "/workflows/0/steps/0/parameters/0",
        "schema/required",
        "`value`",
    ),
    (
        "invalid-selector-object.arazzo.yaml",
        "/workflows/0/steps/0/outputs/brokenOutput",
        "schema/required",
        "`type`",
    ),
    // "The `$self` URI MUST NOT contain a fragment identifier."
    (
        "invalid-self-fragment.arazzo.yaml",
        "/$self",
        "schema/pattern",
        "$self",
    ),
    (
        "invalid-targetSelectorType.arazzo.yaml",
        "/workflows/0/steps/0/requestBody/replacements/0/targetSelectorType",
        "schema/",
        "targetSelectorType",
    ),
    (
        "invalid-workflow-step-with-operationId.arazzo.yaml",
        "/workflows/0/steps/0",
        "schema/oneOf",
        "`operationId` and `workflowId`",
    ),
    (
        "invalid-workflow-success-criteria.arazzo.yaml",
        "/workflows/0/steps/0/successCriteria",
        "schema/min-items",
        "is empty",
    ),
    ("not-an-object.yaml", "", "schema/type", "must be a mapping"),
    (
        "openapi-both-operationId-and-operationPath.arazzo.yaml",
        "/workflows/0/steps/0",
        "schema/oneOf",
        "`operationId` and `operationPath`",
    ),
    (
        "openapi-duplicate-parameters.arazzo.yaml",
        "/workflows/0/steps/0/parameters",
        "schema/unique-items",
        "same entry twice",
    ),
    (
        "openapi-missing-operation-target.arazzo.yaml",
        "/workflows/0/steps/0",
        "schema/oneOf",
        "none of",
    ),
    (
        "workflow-duplicate-parameters.arazzo.yaml",
        "/workflows/0/steps/0/parameters",
        "schema/unique-items",
        "same entry twice",
    ),
    (
        "workflow-missing-workflowId.arazzo.yaml",
        "/workflows/0/steps/0",
        "schema/oneOf",
        "none of",
    ),
    (
        "workflow-step-with-action.arazzo.yaml",
        "/workflows/0/steps/0/action",
        "schema/unknown-field",
        "`action`",
    ),
    (
        "workflow-step-with-channelPath.arazzo.yaml",
        "/workflows/0/steps/0",
        "schema/oneOf",
        "`workflowId` and `channelPath`",
    ),
];

#[test]
fn oai_1_1_fail_fixtures_fail_for_their_reason() {
    let files = fixtures("1.1", "fail");
    let mut report = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let doc = parse(&text).unwrap_or_else(|| panic!("{name} does not parse"));
        let issues = check(&doc);
        println!("{name}:\n{}", show(&issues));
        let Some((_, pointer, code, text)) = V1_1_FAILS.iter().find(|f| f.0 == name) else {
            report.push(format!("{name}: no expected reason listed"));
            continue;
        };
        let found = issues
            .iter()
            .any(|i| i.pointer == *pointer && i.code.starts_with(code) && i.message.contains(text));
        if !found {
            report.push(format!(
                "{name}: expected {code} at `{pointer}` mentioning {text:?}, got:\n{}",
                show(&issues)
            ));
        }
    }
    assert_eq!(
        files.len(),
        V1_1_FAILS.len(),
        "a fixture was added or removed"
    );
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn fail_fixture_messages() {
    let doc = parse(
        &std::fs::read_to_string(shared(
            "reference/arazzo/schema-tests/v1.0/fail/invalid-arazzo-version.yaml",
        ))
        .unwrap(),
    )
    .unwrap();
    let issues = check(&doc);
    // `arazzo: 2` is a number; the fixture's step also names no operation.
    let version = issues
        .iter()
        .find(|i| i.pointer == "/arazzo")
        .expect("an issue on `arazzo`");
    assert_eq!(version.code, "schema/type");
    assert!(version.help.contains("arazzo: 1.0.1"), "{}", show(&issues));
    assert!(version.help.contains("arazzo: 1.1.0"), "{}", show(&issues));

    let doc = parse(
        &std::fs::read_to_string(shared(
            "reference/arazzo/schema-tests/v1.0/fail/not-an-object.yaml",
        ))
        .unwrap(),
    )
    .unwrap();
    let issues = check(&doc);
    assert_eq!(issues.len(), 1, "{}", show(&issues));
    assert_eq!(
        (issues[0].pointer.as_str(), issues[0].code),
        ("", "schema/type")
    );
}

/// Every Arazzo document of the corpus: `check` and the source map must not panic, and every
/// issue must point at a place the source map finds. Real documents may have issues: they are
/// counted and summarised, not failed.
#[test]
fn corpus_documents() {
    let mut files = Vec::new();
    files_under(&shared("corpus"), &mut files);
    assert!(!files.is_empty(), "no corpus found");
    let root = shared("corpus");
    let (mut documents, mut with_issues, mut unparsed) = (0, 0, 0);
    let mut codes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut messages: BTreeMap<String, usize> = BTreeMap::new();
    let mut report = Vec::new();
    let mut unmapped = Vec::new();
    let mut misplaced = Vec::new();
    let mut nodes = 0;
    let (mut check_time, mut map_time) = (Duration::ZERO, Duration::ZERO);
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let Some(doc) = parse(&text) else {
            unparsed += 1;
            continue;
        };
        if doc.get("arazzo").is_none() {
            continue;
        }
        documents += 1;
        let started = Instant::now();
        let issues = check(&doc);
        check_time += started.elapsed();
        let started = Instant::now();
        let map = SourceMap::parse(&text);
        map_time += started.elapsed();
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        // Every node of the loaded tree is where the source map says: same pointer, and for a
        // string scalar the text at the span holds the value.
        let mut pointers = Vec::new();
        all_pointers(&doc, String::new(), &mut pointers);
        for (pointer, value) in &pointers {
            match map.locate(pointer) {
                Some(span) if span.exact => {
                    if let Value::String(s) = value {
                        let at = &text[span.range()];
                        if !holds(at, s) {
                            misplaced.push(format!("{rel}: {pointer} → {at:?}"));
                        }
                    }
                }
                _ => misplaced.push(format!("{rel}: {pointer} not found")),
            }
        }
        nodes += pointers.len();
        for issue in &issues {
            let found = if issue.code == "schema/unknown-field" {
                map.locate_key(&issue.pointer)
            } else {
                map.locate(&issue.pointer).filter(|s| s.exact)
            };
            if found.is_none() {
                unmapped.push(format!("{rel}: {}", issue.pointer));
            }
        }
        if issues.is_empty() {
            continue;
        }
        with_issues += 1;
        for issue in &issues {
            *codes.entry(issue.code).or_default() += 1;
            // The problem without its place, to see which problems recur.
            let generic = if let Some((_, f)) = issue.message.split_once(" has an unknown field ") {
                format!("unknown field {f}")
            } else if let Some((_, f)) = issue.message.split_once(" is missing the required ") {
                format!("missing {f}")
            } else {
                let field = issue
                    .pointer
                    .rsplit('/')
                    .find(|s| !s.bytes().all(|b| b.is_ascii_digit()))
                    .unwrap_or("");
                format!("{} at `{field}`", issue.code)
            };
            *messages.entry(generic).or_default() += 1;
        }
        report.push(format!(
            "{rel} ({} issues)\n{}",
            issues.len(),
            show(&issues)
        ));
    }
    println!("\n=== corpus: {documents} Arazzo documents, {with_issues} with schema issues ({unparsed} files did not parse) ===");
    println!("  check: {check_time:?} in all, source maps: {map_time:?} in all");
    let mut by_count: Vec<_> = codes.into_iter().collect();
    by_count.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (code, n) in &by_count {
        println!("  {n:5}  {code}");
    }
    let mut common: Vec<_> = messages.into_iter().collect();
    common.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    println!("most common:");
    for (m, n) in common.iter().take(15) {
        println!("  {n:5}  {m}");
    }
    println!("\n{}", report.join("\n"));
    assert!(
        documents > 100,
        "expected the corpus to hold Arazzo documents, found {documents}"
    );
    println!(
        "source map: {nodes} nodes checked, {} misplaced",
        misplaced.len()
    );
    assert!(
        misplaced.is_empty(),
        "nodes the source map misplaces:\n{}",
        misplaced[..misplaced.len().min(30)].join("\n")
    );
    assert!(
        unmapped.is_empty(),
        "issues the source map cannot place:\n{}",
        unmapped.join("\n")
    );
}

/// The embedded schemas are OAI's files unchanged below the added header comment.
#[test]
fn embedded_schema_is_the_reference_copy() {
    for version in ["1.0", "1.1"] {
        let embedded = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("src/check/arazzo-{version}-schema.yaml")),
        )
        .unwrap();
        let reference = std::fs::read_to_string(shared(&format!(
            "reference/arazzo/schemas/v{version}-dev-WIP/schema.yaml"
        )))
        .unwrap();
        let body = embedded
            .split_once("\n\n$id:")
            .map(|(_, rest)| format!("$id:{rest}"))
            .expect("header, blank line, then the schema");
        assert_eq!(body, reference, "arazzo-{version}-schema.yaml");
    }
}

#[test]
fn source_map_on_a_2mb_openapi_description() {
    let path = shared("fixtures/composio/composio-openapi-original.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.len() > 2_000_000);
    let started = Instant::now();
    let map = SourceMap::parse(&text);
    let elapsed = started.elapsed();
    println!("SourceMap::parse on {} bytes: {elapsed:?}", text.len());

    let pointer = "/paths/~1api~1v3~1mcp~1{id}/get/operationId";
    let span = map.locate(pointer).expect("found");
    assert!(span.exact);
    let value: Value = serde_json::from_str(&text).unwrap();
    let expected = value.pointer(pointer).and_then(Value::as_str).unwrap();
    assert_eq!(&text[span.range()], format!("\"{expected}\""));
    let (line, column) = arazzo::document::source_map::line_col(&text, span.offset);
    assert_eq!((span.line, span.column), (line, column));
    let key = map.locate_key(pointer).unwrap();
    assert_eq!(&text[key.range()], "\"operationId\"");
    assert_eq!(key.line, span.line);
    println!("{pointer} → line {}, column {}", span.line, span.column);

    // Every node of the description is found, and every string scalar's span decodes to it.
    let mut pointers = Vec::new();
    all_pointers(&value, String::new(), &mut pointers);
    let started = Instant::now();
    for (pointer, node) in &pointers {
        let span = map.locate(pointer).expect("found");
        assert!(span.exact, "{pointer} not found");
        if let Value::String(s) = node {
            assert!(holds(&text[span.range()], s), "{pointer} misplaced");
        }
    }
    println!(
        "{} pointers located in {:?}",
        pointers.len(),
        started.elapsed()
    );

    // Cheap enough for an unoptimised build too; release builds take a few milliseconds.
    assert!(
        elapsed.as_millis() < 1500,
        "SourceMap::parse took {elapsed:?} on a 2 MB document"
    );
}
