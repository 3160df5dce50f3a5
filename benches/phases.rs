//! Where a cold `arazzo validate` and `arazzo run` spend their time and memory:
//! each phase of the two commands, timed in a fresh process (as the CLI pays it:
//! lazily built schemas, first page faults and all), with the peak RSS reached
//! by the end of the phase. Each measurement is a child process; the table shows
//! medians.
//!
//! ```sh
//! cargo bench --bench phases            # 9 processes per command
//! cargo bench --bench phases -- 25      # 25
//! cargo bench --bench phases -- --experiments   # and where jsonschema spends it
//! ```

#[path = "support/standin.rs"]
mod standin;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use arazzo::document;
use arazzo::engine::RunOptions;
use arazzo::redact::Redactor;
use serde_json::Value;
use url::Url;

const WORKFLOW_ID: &str = "provision-mcp-server";

/// Peak resident set size of this process so far, in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Times phases and prints one `name micros peak_kib` line for each.
struct Phases {
    last: Instant,
}

impl Phases {
    fn start() -> Phases {
        Phases {
            last: Instant::now(),
        }
    }

    fn done(&mut self, name: &str) {
        let micros = self.last.elapsed().as_micros();
        println!("{name} {micros} {}", peak_rss_kib());
        self.last = Instant::now();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// `arazzo validate FILE`, phase by phase (as `app` and `check::validate_file`
/// do it).
fn child_validate(workflow: &Path) {
    let mut p = Phases::start();
    let rt = runtime();
    let client = arazzo::http::fetch_client(&arazzo::http::ClientOptions::default()).unwrap();
    p.done("runtime+fetch_client");
    let text = std::fs::read_to_string(workflow).unwrap();
    let tree: Value = serde_yaml_ng::from_str(&text).unwrap();
    p.done("read+parse_workflow_yaml");
    let issues = arazzo::check::arazzo_schema::check(&tree);
    assert!(issues.is_empty(), "{:?}", issues.len());
    p.done("arazzo_json_schema_check");
    let url = Url::from_file_path(workflow).unwrap();
    let loaded = rt.block_on(document::load(url, &client)).unwrap();
    p.done("load(parse+index_2.1MB_openapi)");
    let program = arazzo::compile::check_document(&loaded).unwrap();
    p.done("check_document(compile)");
    let literal = arazzo::plan::check_literals(&program);
    assert!(literal.is_empty());
    p.done("check_literals(request_schemas)");
    let findings = arazzo::check::lint::lint(&program, &loaded);
    p.done("lint");
    drop((findings, program, loaded, tree));
    p.done("drop");
}

/// `arazzo run` with the stand-in at `base`, phase by phase (as `app` does it).
fn child_run(workflow: &Path, base: &str) {
    let mut p = Phases::start();
    let rt = runtime();
    let client_opts = arazzo::http::ClientOptions::default();
    let client = arazzo::http::client(&client_opts).unwrap();
    p.done("runtime+http_client");
    let fetcher = arazzo::http::fetch_client(&client_opts).unwrap();
    p.done("fetch_client");
    let url = Url::from_file_path(workflow).unwrap();
    let loaded = rt.block_on(document::load(url, &fetcher)).unwrap();
    p.done("load(parse+index_openapi)");
    let program = arazzo::compile::compile(&loaded, WORKFLOW_ID).unwrap();
    p.done("compile");
    let cli: Vec<(String, String)> = [
        ("apiKey", "bench-api-key-5f0c1d2e"),
        ("toolkitSlug", "linear"),
        ("authType", "use_composio_managed_auth"),
        ("serverName", "Linear Bot"),
        ("userId", "alice"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let env = |_: &str| None;
    let inputs = arazzo::engine::inputs::assemble(
        WORKFLOW_ID,
        program.entry().inputs_schema.as_ref(),
        arazzo::engine::inputs::InputSources {
            cli: &cli,
            file: None,
            env: &env,
        },
    )
    .map_err(|e| e.message)
    .unwrap();
    p.done("inputs(json_schema)");
    let redactor = Redactor::new();
    redactor.add("bench-api-key-5f0c1d2e");
    let opts = RunOptions {
        servers: [("composioApi".to_string(), Url::parse(base).unwrap())]
            .into_iter()
            .collect(),
        ..RunOptions::default()
    };
    assert!(arazzo::plan::check_literals(&program).is_empty());
    p.done("preflight_check_literals");
    let planned = arazzo::plan::plan(&program, &inputs, &opts, &redactor);
    assert!(planned.iter().all(|s| s.problems.is_empty()));
    p.done("preflight_plan");
    let report = rt.block_on(arazzo::engine::run(
        &program,
        &loaded,
        &inputs,
        &client,
        &opts,
        &redactor,
        &mut |_| {},
    ));
    assert!(report.succeeded(), "{:?}", report.error);
    p.done("run(4_requests)");
    let mut v = serde_json::to_value(&report).unwrap();
    redactor.redact_value(&mut v);
    let _ = serde_json::to_string_pretty(&v).unwrap();
    p.done("report");
}

/// Cold costs inside the `jsonschema` crate that the phases above pay, one
/// experiment per process: the evidence behind the suggestions in
/// `docs/performance.md`.
fn child_experiment(name: &str, workflow: &Path) {
    let mut p = Phases::start();
    match name {
        // The first validator built in a process validates its schema against
        // the draft 2020-12 meta-schema, whose validator is compiled lazily.
        "meta-schema" => {
            let _ = jsonschema::validator_for(&serde_json::json!({"type": "string"})).unwrap();
            p.done("first_validator_for(trivial_schema)");
            let _ = jsonschema::validator_for(&serde_json::json!({"type": "integer"})).unwrap();
            p.done("second_validator_for(trivial_schema)");
        }
        // The Arazzo 1.0 schema as `validate` builds it, and without the
        // `$defs/schema` reference to the whole JSON Schema 2020-12 meta-schema.
        "arazzo-schema" | "arazzo-schema-without-$defs/schema" => {
            let text =
                std::fs::read_to_string(manifest_dir().join("src/check/arazzo-1.0-schema.yaml"))
                    .unwrap();
            let mut schema: Value = serde_yaml_ng::from_str(&text).unwrap();
            arazzo::check::arazzo_schema::apply_tolerances(&mut schema);
            if name != "arazzo-schema" {
                schema["$defs"]["schema"] = serde_json::json!({"type": ["object", "boolean"]});
            }
            p.done("read+parse_schema");
            let v = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&schema)
                .unwrap();
            p.done("build_validator");
            let text = std::fs::read_to_string(workflow).unwrap();
            let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
            assert!(v.is_valid(&doc));
            p.done("validate_document");
        }
        // The request body schemas of the workflow's operations, converted to
        // JSON Schema and compiled one by one (as `check_literals` does).
        "request-schemas" => {
            let rt = runtime();
            let client =
                arazzo::http::fetch_client(&arazzo::http::ClientOptions::default()).unwrap();
            let loaded = rt
                .block_on(document::load(
                    Url::from_file_path(workflow).unwrap(),
                    &client,
                ))
                .unwrap();
            let program = arazzo::compile::compile(&loaded, WORKFLOW_ID).unwrap();
            let _ = jsonschema::validator_for(&serde_json::json!({"type": "string"})).unwrap();
            p.done("setup(load+compile+meta-schema)");
            for step in &program.entry().steps {
                let arazzo::compile::StepTarget::Operation(call) = &step.target else {
                    continue;
                };
                let Some(schema) = call
                    .operation
                    .request_body
                    .as_ref()
                    .and_then(|b| b.pointer("/content/application~1json/schema"))
                else {
                    continue;
                };
                let converted = arazzo::schema::to_json_schema(&call.api, schema);
                let size = serde_json::to_string(&converted).unwrap().len();
                p.done(&format!("convert_{}({}_bytes)", step.step_id, size));
                let _ = jsonschema::validator_for(&converted).unwrap();
                p.done(&format!("build_validator_{}", step.step_id));
            }
        }
        other => panic!("unknown experiment `{other}`"),
    }
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Writes the shipped workflow into `dir` twice: as shipped (its 48 KB
/// provisioning subset, copied beside it) and pointed at the real description.
fn workflows(dir: &Path) -> (PathBuf, PathBuf) {
    let shipped =
        std::fs::read_to_string(manifest_dir().join("workflows/provision-mcp-server.arazzo.yaml"))
            .unwrap();
    let line = "url: ../openapi/composio-openapi-original.json";
    assert!(shipped.contains(line), "the workflow's source URL changed");
    let real = std::env::var_os("ARAZZO_BENCH_OPENAPI")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            manifest_dir().join("../shared/fixtures/composio/composio-openapi-original.json")
        });
    let real = std::fs::canonicalize(&real)
        .unwrap_or_else(|e| panic!("`{}`: {e} (set ARAZZO_BENCH_OPENAPI)", real.display()));
    let subset = manifest_dir().join("openapi/composio-openapi-original.json");
    let to_real = dir.join("real.arazzo.yaml");
    let to_subset = dir.join("shipped.arazzo.yaml");
    let url = |p: &Path| Url::from_file_path(p).unwrap().to_string();
    std::fs::write(
        &to_real,
        shipped.replace(line, &format!("url: {}", url(&real))),
    )
    .unwrap();
    std::fs::write(
        &to_subset,
        shipped.replace(line, &format!("url: {}", url(&subset))),
    )
    .unwrap();
    (to_subset, to_real)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs `args` in `runs` child processes; prints the median time of each phase
/// and the median peak RSS at its end.
fn measure(title: &str, args: &[&str], runs: usize) {
    let mut order: Vec<String> = Vec::new();
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut peaks: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let exe = std::env::current_exe().unwrap();
    for _ in 0..runs {
        let out = Command::new(&exe).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{title}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [name, micros, kib] = f[..] else { continue };
            if !order.iter().any(|o| o == name) {
                order.push(name.to_string());
            }
            times
                .entry(name.to_string())
                .or_default()
                .push(micros.parse::<f64>().unwrap() / 1000.0);
            peaks
                .entry(name.to_string())
                .or_default()
                .push(kib.parse::<f64>().unwrap() / 1024.0);
        }
    }
    println!("\n{title} ({runs} fresh processes, medians)");
    println!("{:<36} {:>10} {:>16}", "phase", "ms", "peak RSS MiB");
    let mut total = 0.0;
    for name in &order {
        let t = median(times[name].clone());
        total += t;
        println!("{name:<36} {t:>10.2} {:>16.1}", median(peaks[name].clone()));
    }
    println!("{:<36} {total:>10.2}", "total (sum of medians)");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child-validate") => return child_validate(Path::new(&args[1])),
        Some("--child-run") => return child_run(Path::new(&args[1]), &args[2]),
        Some("--child-experiment") => return child_experiment(&args[1], Path::new(&args[2])),
        _ => {}
    }
    let runs = args
        .iter()
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(9)
        .max(1);
    let dir = tempfile::tempdir().unwrap();
    let (shipped, real) = workflows(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || standin::serve(listener));

    let real = real.to_str().unwrap();
    let shipped = shipped.to_str().unwrap();
    measure(
        "arazzo validate (real 2.1 MB description)",
        &["--child-validate", real],
        runs,
    );
    measure(
        "arazzo run (shipped 48 KB subset)",
        &["--child-run", shipped, &base],
        runs,
    );
    measure(
        "arazzo run (real 2.1 MB description)",
        &["--child-run", real, &base],
        runs,
    );
    if args.iter().any(|a| a == "--experiments") {
        for name in [
            "meta-schema",
            "arazzo-schema",
            "arazzo-schema-without-$defs/schema",
            "request-schemas",
        ] {
            measure(
                &format!("experiment: {name}"),
                &["--child-experiment", name, real],
                runs,
            );
        }
    }
}
