//! Benchmarks of the load → compile → run pipeline on the real, 2.1 MB Composio
//! OpenAPI description (`../shared/fixtures/composio/composio-openapi-original.json`,
//! or the file named by `ARAZZO_BENCH_OPENAPI`).
//!
//! ```sh
//! cargo bench --bench pipeline              # everything
//! cargo bench --bench pipeline -- load      # one group (a divan filter)
//! ```
//!
//! Everything here is measured in one warm process: costs a process pays once
//! (lazily compiled JSON Schemas, TLS roots, page faults) show in the first sample
//! only, so these numbers are lower bounds for the CLI. `scripts/bench.sh` measures
//! the binary itself, process start to exit.

#[path = "support/standin.rs"]
mod standin;

use std::borrow::Cow;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arazzo::compile::{check_document, compile, Program};
use arazzo::document::{self, Loaded};
use arazzo::engine::{self, RunOptions};
use arazzo::expr::{parse_expression, Condition, Expr, Pointer, Resolve, Template, ValueExpr};
use arazzo::openapi::OpenApi;
use arazzo::redact::Redactor;
use divan::{black_box, Bencher};
use serde_json::{json, Map, Value};
use url::Url;

const WORKFLOW_ID: &str = "provision-mcp-server";
const API_KEY: &str = "bench-api-key-5f0c1d2e";

fn main() {
    divan::main();
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The real Composio OpenAPI description.
fn openapi_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::var_os("ARAZZO_BENCH_OPENAPI")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                manifest_dir().join("../shared/fixtures/composio/composio-openapi-original.json")
            });
        std::fs::canonicalize(&path).unwrap_or_else(|e| {
            panic!(
                "the Composio OpenAPI description `{}` is needed: {e} (set ARAZZO_BENCH_OPENAPI)",
                path.display()
            )
        })
    })
}

fn openapi_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string(openapi_path()).expect("readable description"))
}

/// The shipped provisioning workflow with its source description pointed at the
/// real description, written to a temporary directory that lives as long as the
/// process.
fn workflow_path() -> &'static Path {
    static FIXTURE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_dir, path) = FIXTURE.get_or_init(|| {
        let shipped = std::fs::read_to_string(
            manifest_dir().join("workflows/provision-mcp-server.arazzo.yaml"),
        )
        .expect("the shipped workflow");
        let source = Url::from_file_path(openapi_path()).expect("an absolute path");
        let pointed = shipped.replace(
            "url: ../openapi/composio-openapi-original.json",
            &format!("url: {source}"),
        );
        assert_ne!(
            pointed, shipped,
            "the workflow's source URL line has changed"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("provision.arazzo.yaml");
        std::fs::write(&path, pointed).expect("writable");
        (dir, path)
    });
    path
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn client() -> reqwest::Client {
    arazzo::http::client(&arazzo::http::ClientOptions::default()).expect("an HTTP client")
}

/// The client that reads documents, as the commands build it.
fn fetcher() -> arazzo::http::Fetcher {
    arazzo::http::fetch_client(&arazzo::http::ClientOptions::default()).expect("an HTTP client")
}

fn load_workflow(rt: &tokio::runtime::Runtime, client: &arazzo::http::Fetcher) -> Loaded {
    let url = Url::from_file_path(workflow_path()).expect("an absolute path");
    rt.block_on(document::load(url, client))
        .expect("the workflow loads")
}

fn program_of(loaded: &Loaded) -> Program {
    compile(loaded, WORKFLOW_ID).expect("the workflow compiles")
}

fn inputs() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "apiKey": API_KEY,
        "toolkitSlug": "linear",
        "authType": "use_composio_managed_auth",
        "serverName": "Linear Bot",
        "allowedTools": ["LINEAR_CREATE_LINEAR_ISSUE", "LINEAR_LIST_LINEAR_TEAMS"],
        "userId": "alice",
    }) else {
        unreachable!()
    };
    map
}

/// The in-process stand-in, started once.
fn standin_addr() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let addr = listener.local_addr().expect("an address");
        std::thread::spawn(move || standin::serve(listener));
        addr
    })
}

fn run_options() -> RunOptions {
    let base = Url::parse(&format!("http://{}", standin_addr())).expect("a URL");
    RunOptions {
        servers: [("composioApi".to_string(), base)].into_iter().collect(),
        ..RunOptions::default()
    }
}

// ---------------------------------------------------------------------------
// Loading and indexing the 2.1 MB description
// ---------------------------------------------------------------------------

#[divan::bench_group(sample_count = 30, sample_size = 1)]
mod load {
    use super::*;

    /// Reading the file: the floor.
    #[divan::bench]
    fn read_file() -> String {
        std::fs::read_to_string(black_box(openapi_path())).unwrap()
    }

    /// A syntax check that builds nothing (what `jq empty` does).
    #[divan::bench]
    fn syntax_only() {
        serde_json::from_str::<serde::de::IgnoredAny>(black_box(openapi_text())).unwrap();
    }

    /// Text → `serde_json::Value` (insertion-ordered maps).
    #[divan::bench]
    fn parse_tree() -> Value {
        arazzo::read::parse_tree(black_box(openapi_text()), "description").unwrap()
    }

    /// Text → the lazy tree `arazzo` keeps: one syntax pass, the top level
    /// parsed, path items and components kept as spans of the text.
    #[divan::bench]
    fn lazy_read(bencher: Bencher) {
        bencher
            .with_inputs(|| openapi_text().to_string())
            .bench_local_values(|text| arazzo::openapi::Lazy::parse(text).ok().unwrap());
    }

    /// The four provisioning operations found by operationId in the lazy
    /// tree (a byte search, then their path items parsed).
    #[divan::bench]
    fn find_four_operations(bencher: Bencher) {
        let url = Url::from_file_path(openapi_path()).unwrap();
        bencher
            .with_inputs(|| {
                let lazy = arazzo::openapi::Lazy::parse(openapi_text().to_string())
                    .ok()
                    .unwrap();
                OpenApi::from_lazy(url.clone(), lazy).unwrap()
            })
            .bench_local_refs(|api| {
                for id in [
                    "postAuthConfigs",
                    "postMcpServers",
                    "getMcpById",
                    "postMcpServersByServerIdInstances",
                ] {
                    assert!(black_box(api.operation(id).unwrap()).is_some());
                }
            });
    }

    /// The full operationId index of the whole tree (built only when an
    /// operationId is not found, for suggestions).
    #[divan::bench]
    fn full_index(bencher: Bencher) {
        let tree = arazzo::read::parse_tree(openapi_text(), "description").unwrap();
        let url = Url::from_file_path(openapi_path()).unwrap();
        bencher
            .with_inputs(|| OpenApi::from_value(url.clone(), tree.clone()).unwrap())
            .bench_local_refs(|api| black_box(api.operation_ids().count()));
    }

    /// The workflow and its source: read, parse, index.
    #[divan::bench]
    fn load_document(bencher: Bencher) {
        let rt = runtime();
        let client = fetcher();
        bencher.bench_local(|| load_workflow(&rt, &client));
    }
}

// ---------------------------------------------------------------------------
// Compiling the provisioning workflow against the real description
// ---------------------------------------------------------------------------

#[divan::bench_group(sample_count = 30)]
mod compiling {
    use super::*;

    /// `compile`: operations resolved, expressions and conditions parsed.
    #[divan::bench]
    fn compile_workflow(bencher: Bencher) {
        let loaded = load_workflow(&runtime(), &fetcher());
        bencher.bench_local(|| program_of(black_box(&loaded)));
    }

    /// `check_document`: every workflow of the document, as `validate` does.
    #[divan::bench]
    fn check_whole_document(bencher: Bencher) {
        let loaded = load_workflow(&runtime(), &fetcher());
        bencher.bench_local(|| check_document(black_box(&loaded)).unwrap());
    }

    /// The literal payload and parameter values against the operations' schemas
    /// (OpenAPI schema → JSON Schema → a compiled `jsonschema` validator each).
    #[divan::bench]
    fn check_literals(bencher: Bencher) {
        let program = program_of(&load_workflow(&runtime(), &fetcher()));
        bencher.bench_local(|| arazzo::plan::check_literals(black_box(&program)));
    }

    /// Preflight: every request built from the inputs and checked.
    #[divan::bench]
    fn preflight_plan(bencher: Bencher) {
        let program = program_of(&load_workflow(&runtime(), &fetcher()));
        let inputs = inputs();
        let opts = run_options();
        let redactor = Redactor::new();
        bencher.bench_local(|| arazzo::plan::plan(black_box(&program), &inputs, &opts, &redactor));
    }

    /// The whole of `arazzo validate` on the document, in a warm process.
    #[divan::bench(sample_count = 10)]
    fn validate_file(bencher: Bencher) {
        let rt = runtime();
        let client = fetcher();
        let path = workflow_path();
        bencher.bench_local(|| rt.block_on(arazzo::check::pipeline::validate_file(path, &client)));
    }
}

// ---------------------------------------------------------------------------
// Runtime expressions, templates and conditions
// ---------------------------------------------------------------------------

/// A fixed evaluation context: inputs, a status code and a response body.
struct Ctx {
    inputs: Map<String, Value>,
    status: u16,
    body: Value,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            inputs: inputs(),
            status: 201,
            body: json!({
                "id": "mcp_1",
                "mcp_url": "https://backend.composio.dev/v3/mcp/mcp_1",
                "data": [{"id": "a", "status": "ACTIVE", "count": 3}, {"id": "b", "status": "x"}],
                "commands": {"cursor": "npx …", "claude": "npx …"},
            }),
        }
    }
}

fn select<'a>(value: &'a Value, pointer: &Option<Pointer>) -> Option<Cow<'a, Value>> {
    match pointer {
        None => Some(Cow::Borrowed(value)),
        Some(p) => p.select(value).map(Cow::Borrowed),
    }
}

impl Resolve for Ctx {
    fn resolve(&self, expr: &Expr) -> Option<Cow<'_, Value>> {
        match expr {
            Expr::StatusCode => Some(Cow::Owned(Value::from(self.status))),
            Expr::Inputs { name, pointer } => select(self.inputs.get(name)?, pointer),
            Expr::ResponseBody(pointer) => select(&self.body, pointer),
            Expr::Steps { output, .. } => Some(Cow::Owned(Value::String(format!("{output}_1")))),
            _ => None,
        }
    }
}

const EXPRESSIONS: &[&str] = &[
    "$statusCode",
    "$inputs.toolkitSlug",
    "$response.body#/auth_config/id",
    "$steps.createServer.outputs.serverId",
    "$response.header.Retry-After",
    "$workflows.provision-mcp-server.outputs.mcpUrl#/a~1b/0",
];

const CONDITIONS: &[&str] = &[
    "$statusCode == 201",
    "$statusCode == 201 && $response.body.data[0].status == 'active' || $inputs.userId != null",
    "!($response.body.data[0].count < 2) && $response.body#/mcp_url != ''",
];

#[divan::bench_group(sample_count = 50, sample_size = 200)]
mod expressions {
    use super::*;

    #[divan::bench(args = EXPRESSIONS)]
    fn parse(text: &str) -> Expr {
        parse_expression(black_box(text)).unwrap()
    }

    #[divan::bench(args = CONDITIONS)]
    fn parse_condition(text: &str) -> Condition {
        Condition::parse(black_box(text)).unwrap()
    }

    #[divan::bench(args = CONDITIONS)]
    fn eval_condition(bencher: Bencher, text: &str) {
        let condition = Condition::parse(text).unwrap();
        let ctx = Ctx::new();
        bencher.bench_local(|| black_box(&condition).eval(&ctx));
    }

    /// A condition on a large (2.1 MB) response body: navigation with `.member`
    /// resolves `$response.body` first (a copy of the whole body, as `Resolve`
    /// returns owned values); a JSON Pointer copies only what it selects.
    #[divan::bench(
        args = ["$response.body.info.title != ''", "$response.body#/info/title != ''"],
        sample_count = 10,
        sample_size = 1
    )]
    fn eval_condition_big_body(bencher: Bencher, text: &str) {
        let condition = Condition::parse(text).unwrap();
        let ctx = Ctx {
            body: arazzo::read::parse_tree(openapi_text(), "description").unwrap(),
            ..Ctx::new()
        };
        assert!(condition.eval(&ctx));
        bencher.bench_local(|| black_box(&condition).eval(&ctx));
    }

    /// `x-api-key: {$inputs.apiKey}`-style interpolation.
    #[divan::bench]
    fn render_template(bencher: Bencher) {
        let template = Template::parse("Bearer {$inputs.apiKey} for {$inputs.userId}")
            .unwrap()
            .unwrap();
        let ctx = Ctx::new();
        bencher.bench_local(|| black_box(&template).render(&ctx));
    }

    fn server_payload() -> Value {
        json!({
            "name": "$inputs.serverName",
            "auth_config_ids": ["$steps.createAuthConfig.outputs.authConfigId"],
            "allowed_tools": "$inputs.allowedTools",
            "managed_auth_via_composio": true,
        })
    }

    /// The `createServer` request body, compiled.
    #[divan::bench]
    fn compile_payload(bencher: Bencher) {
        let payload = server_payload();
        bencher.bench_local(|| ValueExpr::compile(black_box(&payload)).unwrap());
    }

    /// The `createServer` request body, evaluated.
    #[divan::bench]
    fn eval_payload(bencher: Bencher) {
        let payload = ValueExpr::compile(&server_payload()).unwrap();
        let ctx = Ctx::new();
        bencher.bench_local(|| black_box(&payload).eval(&ctx));
    }

    #[divan::bench]
    fn select_pointer(bencher: Bencher) {
        let pointer = Pointer::parse("/data/1/status").unwrap();
        let ctx = Ctx::new();
        bencher.bench_local(|| black_box(&pointer).select(&ctx.body).cloned());
    }

    /// A `regex` criterion (compiled once, evaluated).
    #[divan::bench]
    fn eval_regex_criterion(bencher: Bencher) {
        let check = arazzo::expr::criteria::Check::compile(&json!("regex"), r"^mcp_\d+$").unwrap();
        let value = json!("mcp_12345");
        bencher.bench_local(|| black_box(&check).eval(Some(&value)).unwrap());
    }

    /// A `jsonpath` criterion (compiled once, evaluated).
    #[divan::bench]
    fn eval_jsonpath_criterion(bencher: Bencher) {
        let check =
            arazzo::expr::criteria::Check::compile(&json!("jsonpath"), "$.data[?@.count > 2]")
                .unwrap();
        let ctx = Ctx::new();
        bencher.bench_local(|| black_box(&check).eval(Some(&ctx.body)).unwrap());
    }
}

// ---------------------------------------------------------------------------
// Full runs against the in-process stand-in
// ---------------------------------------------------------------------------

#[divan::bench_group(sample_count = 30)]
mod run {
    use super::*;

    fn run_once(
        rt: &tokio::runtime::Runtime,
        program: &Program,
        loaded: &Loaded,
        inputs: &Map<String, Value>,
        client: &reqwest::Client,
        opts: &RunOptions,
    ) -> arazzo::engine::outcome::RunReport {
        let redactor = Redactor::new();
        redactor.add(API_KEY);
        let report = rt.block_on(engine::run(
            program,
            loaded,
            inputs,
            client,
            opts,
            &redactor,
            &mut |_| {},
        ));
        assert!(report.succeeded(), "the run failed: {:?}", report.error);
        report
    }

    /// The four requests, with a compiled program and a warm client (kept-alive
    /// connection): the engine's own cost plus four local round trips.
    #[divan::bench]
    fn workflow_warm_client(bencher: Bencher) {
        let rt = runtime();
        let client = client();
        let loaded = load_workflow(&rt, &fetcher());
        let program = program_of(&loaded);
        let (inputs, opts) = (inputs(), run_options());
        bencher.bench_local(|| run_once(&rt, &program, &loaded, &inputs, &client, &opts));
    }

    /// As the CLI does: a new HTTP client (TLS roots, new connection) per run.
    #[divan::bench]
    fn workflow_new_client(bencher: Bencher) {
        let rt = runtime();
        let loaded = load_workflow(&rt, &fetcher());
        let program = program_of(&loaded);
        let (inputs, opts) = (inputs(), run_options());
        bencher.bench_local(|| run_once(&rt, &program, &loaded, &inputs, &client(), &opts));
    }

    /// Both HTTP clients, load the document and its 2.1 MB source, compile,
    /// preflight, run: the whole `arazzo run` pipeline in a warm process.
    #[divan::bench(sample_count = 15)]
    fn load_compile_preflight_run(bencher: Bencher) {
        let rt = runtime();
        let (inputs, opts) = (inputs(), run_options());
        bencher.bench_local(|| {
            let client = client();
            let fetcher = arazzo::http::fetch_client(&arazzo::http::ClientOptions::default())
                .expect("an HTTP client");
            let loaded = load_workflow(&rt, &fetcher);
            let program = program_of(&loaded);
            let redactor = Redactor::new();
            assert!(arazzo::plan::check_literals(&program).is_empty());
            let planned = arazzo::plan::plan(&program, &inputs, &opts, &redactor);
            assert!(planned.iter().all(|p| p.problems.is_empty()));
            run_once(&rt, &program, &loaded, &inputs, &client, &opts)
        });
    }
}

// ---------------------------------------------------------------------------
// The redactor, on 10 KB of output with 1 and 1,000 registered secrets, against
// the implementation it replaced (kept below as `baseline`, verbatim in what it
// does: every form of every secret searched and replaced in turn).
//
//     cargo bench --bench pipeline -- redact
// ---------------------------------------------------------------------------

mod redact {
    use super::*;

    /// A secret of the kind a batch registers per line.
    fn secret(i: usize) -> String {
        format!("sk_live_{i:06}_Zx81q")
    }

    /// About 10 KB of log and report text, holding secret 0 raw, percent-encoded
    /// and JSON-escaped, and otherwise URLs, JSON and base64 without secrets.
    fn text() -> String {
        let mut t = String::new();
        let mut i = 0;
        while t.len() < 10 * 1024 {
            t.push_str(&format!(
                "createServer: POST https://backend.composio.dev/api/v3/mcp/servers?page={i}&q=a%20b+c\n\
                 createServer: > x-api-key: {}\n\
                 createServer: < {{\"id\": \"srv_{i}\", \"name\": \"Linear Bot\", \"token\": \"dGhpcyBpcyBub3QgYSBzZWNyZXQ=\"}}\n",
                if i % 8 == 0 { secret(0) } else { "***".to_string() }
            ));
            i += 1;
        }
        t
    }

    fn new_with(n: usize) -> Redactor {
        let r = Redactor::new();
        for i in 0..n {
            r.add(&secret(i));
        }
        r
    }

    #[divan::bench(args = [1, 1000])]
    fn current(bencher: Bencher, n: usize) {
        let r = new_with(n);
        let text = text();
        assert!(!r.redact(&text).contains(&secret(0)));
        bencher.bench_local(|| r.redact(black_box(&text)).len());
    }

    #[divan::bench(args = [1, 1000])]
    fn baseline(bencher: Bencher, n: usize) {
        let r = old::Redactor::default();
        for i in 0..n {
            r.add(&secret(i));
        }
        let text = text();
        bencher.bench_local(|| r.redact(black_box(&text)).len());
    }

    /// A batch line: one more secret registered, then one line redacted.
    #[divan::bench(args = [1000])]
    fn current_register_then_redact(bencher: Bencher, n: usize) {
        let r = new_with(n);
        let line = text()[..200].to_string();
        let mut next = n;
        bencher.bench_local(|| {
            next += 1;
            r.add(&secret(next));
            r.redact(black_box(&line)).len()
        });
    }

    #[divan::bench(args = [1000])]
    fn baseline_register_then_redact(bencher: Bencher, n: usize) {
        let r = old::Redactor::default();
        for i in 0..n {
            r.add(&secret(i));
        }
        let line = text()[..200].to_string();
        let mut next = n;
        bencher.bench_local(|| {
            next += 1;
            r.add(&secret(next));
            r.redact(black_box(&line)).len()
        });
    }

    /// The redactor before issue 13: each form (plain, three percent-encodings,
    /// XML, JSON once and twice) kept in a list sorted longest first, and each
    /// searched and replaced in turn.
    mod old {
        use std::borrow::Cow;
        use std::sync::RwLock;

        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

        const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');

        #[derive(Default)]
        pub struct Redactor {
            secrets: RwLock<Vec<String>>,
            registered: RwLock<std::collections::HashSet<String>>,
        }

        impl Redactor {
            pub fn add(&self, secret: &str) {
                if !self.registered.write().unwrap().insert(secret.to_string()) {
                    return;
                }
                let mut forms = vec![secret.to_string()];
                for set in [NON_ALPHANUMERIC, COMPONENT, COMPONENT] {
                    forms.push(percent_encoding::utf8_percent_encode(secret, set).to_string());
                }
                forms.push(secret.replace('&', "&amp;").replace('<', "&lt;"));
                let once = serde_json::to_string(secret).unwrap();
                let once = once[1..once.len() - 1].to_string();
                let twice = serde_json::to_string(&once).unwrap();
                forms.push(twice[1..twice.len() - 1].to_string());
                forms.push(once);
                let mut set = self.secrets.write().unwrap();
                for f in forms {
                    if !set.contains(&f) {
                        set.push(f);
                    }
                }
                set.sort_by_key(|s| std::cmp::Reverse(s.len()));
            }

            pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
                let set = self.secrets.read().unwrap();
                let mut out: Cow<'a, str> = Cow::Borrowed(text);
                for s in set.iter() {
                    if out.contains(s.as_str()) {
                        out = Cow::Owned(out.replace(s.as_str(), "***"));
                    }
                }
                out
            }
        }
    }
}
