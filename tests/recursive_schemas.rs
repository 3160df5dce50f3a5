//! `validate` and `run` on descriptions whose schemas recurse, fan out, chain
//! and loop (tests/fixtures/recursive, written by
//! scripts/gen-recursive-fixtures.py): every one is checked under a memory cap
//! far below what expanding its `$ref`s would take, finds the real mistakes,
//! and says plainly which values it cannot check and why.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use support::cli::{arazzo_std, Running};
use support::echo::{Echo, Reply};

/// Address space the process may use: a fixture that expanded its schemas
/// would need gigabytes (the real documents these copy took 7.5 and 15 GB).
const MEMORY_CAP_KIB: u64 = 1024 * 1024;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recursive")
}

/// `arazzo <args>` in `dir` with its address space capped; a run that does not
/// end within a minute fails the test (a hang, not a timing).
fn capped(dir: &Path, args: &[&str]) -> support::cli::Out {
    let cmd = arazzo_std();
    let bin = cmd.get_program().to_owned();
    let mut sh = std::process::Command::new("sh");
    sh.arg("-c")
        .arg(format!("ulimit -v {MEMORY_CAP_KIB} && exec \"$0\" \"$@\""))
        .arg(bin)
        .args(args)
        .current_dir(dir);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    Running::start(sh).finish(Duration::from_secs(60))
}

fn validate(name: &str) -> Vec<Value> {
    let out = capped(
        &fixtures(),
        &[
            "validate",
            &format!("{name}.arazzo.json"),
            "--format",
            "json",
        ],
    );
    assert!(
        out.code == 0 || out.code == 3,
        "validate {name} ends with a verdict, not {}: {}",
        out.code,
        out.stderr
    );
    serde_json::from_str::<Value>(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}", out.stderr))
        .as_array()
        .unwrap()
        .clone()
}

/// The diagnostics other than unused outputs, as (code, pointer, message).
fn findings(name: &str) -> Vec<(String, String, String)> {
    validate(name)
        .into_iter()
        .filter(|d| d["code"] != "output/unused")
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["pointer"].as_str().unwrap_or("").to_string(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn mutually_recursive_bodies_are_checked_field_by_field() {
    let found = findings("mutual");
    // The shallow payload of the first step is checked: two members lack the
    // `kind` their schema requires, and one `either` matches both of its
    // `oneOf` alternatives (so the `anyOf` above it fails), each reported
    // where it is.
    let first: Vec<_> = found
        .iter()
        .filter(|(_, _, m)| m.starts_with("step `send0`"))
        .map(|(c, p, m)| {
            assert_eq!(c, "payload/schema");
            let p = p
                .strip_prefix("/workflows/0/steps/0/requestBody/payload")
                .unwrap();
            (p.to_string(), m.split(": ").last().unwrap().to_string())
        })
        .collect();
    let expected = [
        ("/a", "the field \"kind\" is required"),
        ("/a/b", "the field \"kind\" is required"),
        (
            "/b/a/any",
            "matches none of the allowed alternatives (anyOf)",
        ),
    ];
    assert_eq!(
        first,
        expected.map(|(p, m)| (p.to_string(), m.to_string())),
        "{found:#?}"
    );
    // The deep payloads of the others would cost 3^n checks through the
    // recursive `oneOf`: each says it is not checked and why, once.
    for k in 1..8 {
        let at: Vec<_> = found
            .iter()
            .filter(|(_, _, m)| m.starts_with(&format!("step `send{k}`")))
            .collect();
        assert_eq!(at.len(), 1, "send{k}: {found:#?}");
        assert!(at[0].2.contains("too many to check"), "{}", at[0].2);
        assert!(at[0].2.contains("`oneOf`/`anyOf` branches"), "{}", at[0].2);
    }
}

#[test]
fn a_recursive_filter_language_is_checked_to_the_deepest_leaf() {
    // `oneOf` of and/or/comparison, told apart by `op`: a 30-level filter is
    // checked in full, whatever the order of its members.
    assert_eq!(findings("filters"), vec![]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixtures().join("filters.openapi.json"),
        dir.path().join("filters.openapi.json"),
    )
    .unwrap();
    let mut doc: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("filters.arazzo.json")).unwrap(),
    )
    .unwrap();
    // The deepest comparison of the second step gets an operator the schema
    // does not have.
    let mut leaf = &mut doc["workflows"][0]["steps"][1]["requestBody"]["payload"]["where"];
    let mut depth = 0;
    while leaf.get("children").is_some() {
        leaf = &mut leaf["children"][0];
        depth += 1;
    }
    assert_eq!(depth, 30);
    leaf["op"] = json!("neq");
    std::fs::write(dir.path().join("filters.arazzo.json"), doc.to_string()).unwrap();
    let out = capped(
        dir.path(),
        &["validate", "filters.arazzo.json", "--format", "json"],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let errors: Vec<&Value> = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{v:#}");
    assert_eq!(errors[0]["code"], "payload/schema");
    let pointer = errors[0]["pointer"].as_str().unwrap();
    assert!(
        pointer.starts_with("/workflows/0/steps/1/requestBody/payload/where/children/0"),
        "{pointer}"
    );
}

#[test]
fn a_long_chain_through_properties_is_checked_without_deep_recursion() {
    let found = findings("deep");
    // 1,500 schemas, each naming the next as a property: nothing to report but
    // the response pointer that leaves the schema, on every step.
    assert_eq!(found.len(), 8, "{found:#?}");
    for (code, _, message) in &found {
        assert_eq!(code, "response/unknown-field", "{message}");
        assert!(message.contains("/nothing`"), "{message}");
    }
}

#[test]
fn fan_out_and_in_place_chains_are_refused_with_the_reason() {
    for (name, why) in [
        ("fanout", "applies more than 100000 schemas to one value"),
        ("chain", "levels deep"),
    ] {
        let found = findings(name);
        let refused: Vec<_> = found
            .iter()
            .filter(|(c, _, m)| c == "payload/schema" && m.contains(why))
            .collect();
        assert_eq!(refused.len(), 8, "{name}: {found:#?}");
    }
}

#[test]
fn ref_loops_and_schemas_applying_themselves_are_named() {
    let found = findings("cycle");
    let loops = found
        .iter()
        .filter(|(c, _, m)| c == "source/unreadable-ref" && m.contains("(a cycle?)"))
        .count();
    let selves = found
        .iter()
        .filter(|(c, _, m)| c == "payload/schema" && m.contains("applies itself to the same value"))
        .count();
    assert_eq!((loops, selves), (4, 4), "{found:#?}");
}

#[test]
fn the_large_descriptions_of_the_benchmark_stay_under_the_cap() {
    // The benchmark's descriptions are 1 to 2 MB: written by the script into
    // a scratch folder, each validated under the same cap.
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gen-recursive-fixtures.py");
    let made = std::process::Command::new("python3")
        .arg(script)
        .arg(dir.path())
        .arg("--big")
        .status()
        .expect("python3 runs the fixture script");
    assert!(made.success());
    for name in ["mutual", "deep", "chain", "fanout", "cycle", "filters"] {
        let out = capped(
            dir.path(),
            &[
                "validate",
                &format!("{name}.arazzo.json"),
                "--format",
                "json",
            ],
        );
        assert!(out.code == 0 || out.code == 3, "{name}: {}", out.stderr);
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert!(!v.as_array().unwrap().is_empty(), "{name}");
    }
}

#[test]
fn a_run_sends_a_recursive_body_after_checking_it() {
    // The first step of the mutual fixture, made valid, against a server.
    let server = Echo::start();
    server.reply(Reply::json(
        201,
        &json!({"kind": "s0", "a": {"kind": "s1"}}),
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut api: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("mutual.openapi.json")).unwrap(),
    )
    .unwrap();
    api["servers"] = json!([{ "url": server.base_url() }]);
    std::fs::write(dir.path().join("mutual.openapi.json"), api.to_string()).unwrap();
    let mut doc: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("mutual.arazzo.json")).unwrap(),
    )
    .unwrap();
    let wf = &mut doc["workflows"][0];
    let mut step = wf["steps"][0].clone();
    step["requestBody"] = json!({
        "contentType": "application/json",
        "payload": {"kind": "any", "a": {"kind": "any", "list": [{"kind": "s4"}],
                    "either": {"kind": "s6", "b": {"kind": "any"}}}},
        "replacements": [{"target": "/a/either/b/kind", "value": "$inputs.id"}]
    });
    step["outputs"] = json!({"deep": "$response.body#/a/kind"});
    wf["steps"] = json!([step]);
    wf["outputs"] = json!({"deep": "$steps.send0.outputs.deep"});
    std::fs::write(dir.path().join("flow.arazzo.json"), doc.to_string()).unwrap();

    let out = capped(
        dir.path(),
        &[
            "run",
            "mutual",
            "-f",
            "flow.arazzo.json",
            "--input",
            "id=any",
            "-o",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["outputs"]["deep"], "s1", "{report:#}");
    let sent = server.api_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["a"]["either"]["b"]["kind"], "any");
    assert_eq!(sent[0].json()["a"]["list"][0]["kind"], "s4");

    // The same body missing a required member is stopped before sending.
    let mut bad = doc.clone();
    bad["workflows"][0]["steps"][0]["requestBody"]["payload"]["a"]["list"] = json!([{}]);
    std::fs::write(dir.path().join("bad.arazzo.json"), bad.to_string()).unwrap();
    let out = capped(
        dir.path(),
        &[
            "run",
            "mutual",
            "-f",
            "bad.arazzo.json",
            "--input",
            "id=any",
        ],
    );
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(out.all().contains("/a/list/0"), "{}", out.all());
    assert_eq!(server.api_requests().len(), 1, "nothing more was sent");
}
