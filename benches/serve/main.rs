//! The load generator of `scripts/bench-serve.sh`: a closed loop of
//! CONCURRENCY workers, each sending its next request as soon as the last one
//! is answered, for WARMUP seconds unmeasured and then SECONDS measured. Three
//! kinds of work:
//!
//! - `rest BASE TOKEN ...`: `POST BASE/workflows/provision-mcp-server/runs`
//!   with a JSON object of inputs; an answer counts when it is 200.
//! - `mcp BASE TOKEN ...`: each worker opens an MCP session of its own on
//!   `BASE/mcp` (`initialize`, `notifications/initialized`), then sends
//!   `tools/call provision-mcp-server` on it; an answer counts when it is 200
//!   and its JSON-RPC result (plain JSON or the `data:` of an event stream)
//!   has `isError: false`. The sessions are deleted at the end.
//! - `standin BASE KEY ...`: the four requests a provisioning run sends, one
//!   after another, straight to the Composio stand-in; a request counts when
//!   it is 2xx. Latencies are per request here, per run elsewhere.
//!
//! Every worker shares one HTTP client, the one `arazzo` itself builds
//! (`arazzo::http::client`), so connections are kept alive and reused.
//! `watch=PID,...` samples the CPU time of those processes over the measured
//! window. Prints one JSON object: `done` (runs, calls or requests answered
//! well inside the window), `failed`, `per_second`, `p50_ms`, `p99_ms`,
//! `seconds`, `cpu` (seconds per watched PID, and `self`) and the first
//! failure seen.
//!
//! Run through the script; `cargo bench --bench serve -- rest http://127.0.0.1:8080 TOKEN 8 5 1`
//! works too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The workflow every run and call runs.
const WORKFLOW: &str = "provision-mcp-server";

/// The stand-in's id for the server it "creates" (benches/support/standin.rs).
const SERVER_ID: &str = "mcp_bench_1";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rest,
    Mcp,
    Standin,
}

struct Plan {
    kind: Kind,
    base: String,
    /// The bearer token (rest, mcp) or the API key (standin).
    secret: String,
    concurrency: usize,
    warmup: Duration,
    measured: Duration,
    watch: Vec<u32>,
}

/// What the workers found, shared.
#[derive(Default)]
struct Tally {
    done: AtomicU64,
    failed: AtomicU64,
    /// Latencies (µs) of what was answered well inside the window.
    latencies: Mutex<Vec<u64>>,
    first_failure: Mutex<Option<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_failure.lock().unwrap();
        if first.is_none() {
            *first = Some(what);
        }
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("serve bench: {problem}");
    eprintln!(
        "usage: cargo bench --bench serve -- rest|mcp|standin BASE TOKEN_OR_KEY CONCURRENCY SECONDS WARMUP [watch=PID,...]"
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; nothing here takes flags.
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let plan = match args.as_slice() {
        [kind, base, secret, conc, secs, warm, rest @ ..] => {
            let kind = match *kind {
                "rest" => Kind::Rest,
                "mcp" => Kind::Mcp,
                "standin" => Kind::Standin,
                other => usage(&format!("unknown kind `{other}`")),
            };
            let number = |s: &str| -> f64 {
                s.parse::<f64>()
                    .ok()
                    .filter(|n| *n >= 0.0)
                    .unwrap_or_else(|| usage(&format!("`{s}` is not a number")))
            };
            let concurrency = number(conc) as usize;
            if concurrency == 0 {
                usage("the concurrency must be at least 1");
            }
            let mut watch = Vec::new();
            for extra in rest {
                let Some(pids) = extra.strip_prefix("watch=") else {
                    usage(&format!("unknown argument `{extra}`"));
                };
                for pid in pids.split(',').filter(|p| !p.is_empty()) {
                    watch.push(
                        pid.parse()
                            .unwrap_or_else(|_| usage(&format!("`{pid}` is not a PID"))),
                    );
                }
            }
            Plan {
                kind,
                base: base.trim_end_matches('/').to_string(),
                secret: secret.to_string(),
                concurrency,
                warmup: Duration::from_secs_f64(number(warm)),
                measured: Duration::from_secs_f64(number(secs)),
                watch,
            }
        }
        _ => usage("wrong arguments"),
    };
    let threads = std::env::var("LOAD_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let out = rt.block_on(measure(plan));
    println!("{out}");
}

async fn measure(plan: Plan) -> Value {
    let client =
        arazzo::http::client(&arazzo::http::ClientOptions::default()).unwrap_or_else(|e| usage(&e));
    let plan = Arc::new(plan);
    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    let window_start = start + plan.warmup;
    let window_end = window_start + plan.measured;

    let mut workers = Vec::new();
    for worker in 0..plan.concurrency {
        let (client, plan, tally) = (client.clone(), Arc::clone(&plan), Arc::clone(&tally));
        workers.push(tokio::spawn(async move {
            let mut session = None;
            if plan.kind == Kind::Mcp {
                match open_session(&client, &plan).await {
                    Ok(s) => session = Some(s),
                    Err(e) => {
                        tally.fail(format!("opening a session: {e}"));
                        return;
                    }
                }
            }
            let mut n: u64 = 0;
            let mut local: Vec<u64> = Vec::new();
            while Instant::now() < window_end {
                n += 1;
                let user = format!("user-{worker}-{n}");
                match plan.kind {
                    Kind::Rest => {
                        let began = Instant::now();
                        let r = rest_run(&client, &plan, &user).await;
                        account(&tally, &mut local, began, window_start, window_end, r);
                    }
                    Kind::Mcp => {
                        let s = session.as_deref().unwrap_or("");
                        let began = Instant::now();
                        let r = tool_call(&client, &plan, s, n, &user).await;
                        account(&tally, &mut local, began, window_start, window_end, r);
                    }
                    Kind::Standin => {
                        for step in 0..4 {
                            let began = Instant::now();
                            let r = standin_request(&client, &plan, step, &user).await;
                            account(&tally, &mut local, began, window_start, window_end, r);
                        }
                    }
                }
            }
            tally.latencies.lock().unwrap().extend(local);
            if let Some(s) = session {
                let _ = client
                    .delete(format!("{}/mcp", plan.base))
                    .bearer_auth(&plan.secret)
                    .header("mcp-session-id", s)
                    .send()
                    .await;
            }
        }));
    }

    // CPU time of the watched processes over the window.
    let mut watched: Vec<(String, u32)> = plan.watch.iter().map(|p| (p.to_string(), *p)).collect();
    watched.push(("self".into(), std::process::id()));
    tokio::time::sleep_until(window_start.into()).await;
    let before: Vec<Option<f64>> = watched.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    let measured_from = Instant::now();
    tokio::time::sleep_until(window_end.into()).await;
    let after: Vec<Option<f64>> = watched.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    let seconds = measured_from.elapsed().as_secs_f64();
    for w in workers {
        let _ = w.await;
    }

    let mut cpu = serde_json::Map::new();
    for (((name, _), b), a) in watched.iter().zip(before).zip(after) {
        if let (Some(b), Some(a)) = (b, a) {
            cpu.insert(name.clone(), json!(a - b));
        }
    }
    let mut latencies = std::mem::take(&mut *tally.latencies.lock().unwrap());
    latencies.sort_unstable();
    let pick = |q: f64| -> Value {
        if latencies.is_empty() {
            return Value::Null;
        }
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        json!(latencies[i] as f64 / 1000.0)
    };
    let done = tally.done.load(Ordering::Relaxed);
    let first_failure = tally.first_failure.lock().unwrap().clone();
    json!({
        "done": done,
        "failed": tally.failed.load(Ordering::Relaxed),
        "seconds": seconds,
        "per_second": done as f64 / seconds,
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "cpu": cpu,
        "first_failure": first_failure,
    })
}

/// Counts an answer: inside the window, its latency is kept; a failure is
/// counted wherever it happens (the warm-up must succeed too).
fn account(
    tally: &Tally,
    local: &mut Vec<u64>,
    began: Instant,
    window_start: Instant,
    window_end: Instant,
    result: Result<(), String>,
) {
    let ended = Instant::now();
    match result {
        Ok(()) => {
            if began >= window_start && ended <= window_end {
                tally.done.fetch_add(1, Ordering::Relaxed);
                local.push(ended.duration_since(began).as_micros() as u64);
            }
        }
        Err(e) => tally.fail(e),
    }
}

fn inputs(user: &str) -> Value {
    json!({
        "toolkitSlug": "linear",
        "authType": "use_composio_managed_auth",
        "serverName": "Linear Bot",
        "userId": user,
    })
}

async fn rest_run(client: &reqwest::Client, plan: &Plan, user: &str) -> Result<(), String> {
    let r = client
        .post(format!("{}/workflows/{WORKFLOW}/runs", plan.base))
        .bearer_auth(&plan.secret)
        .header("content-type", "application/json")
        .body(inputs(user).to_string())
        .send()
        .await
        .map_err(|e| format!("POST /runs: {e}"))?;
    let status = r.status().as_u16();
    let body = r.bytes().await.map_err(|e| format!("POST /runs: {e}"))?;
    if status != 200 {
        return Err(format!(
            "POST /runs answered {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(())
}

/// Sends one MCP message on the session (`None` before there is one); the
/// answer's status, session id and body.
async fn mcp_post(
    client: &reqwest::Client,
    plan: &Plan,
    session: Option<&str>,
    message: &Value,
) -> Result<(u16, Option<String>, String), String> {
    let mut request = client
        .post(format!("{}/mcp", plan.base))
        .bearer_auth(&plan.secret)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(message.to_string());
    if let Some(s) = session {
        request = request.header("mcp-session-id", s);
    }
    let r = request
        .send()
        .await
        .map_err(|e| format!("POST /mcp: {e}"))?;
    let status = r.status().as_u16();
    let id = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = r.text().await.map_err(|e| format!("POST /mcp: {e}"))?;
    Ok((status, id, body))
}

/// The JSON-RPC message of an answer: the body itself, or the first `data:`
/// of an event stream that holds a JSON object.
fn rpc_message(body: &str) -> Option<Value> {
    if body.trim_start().starts_with('{') {
        return serde_json::from_str(body).ok();
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim_start)
        .filter(|d| d.starts_with('{'))
        .find_map(|d| serde_json::from_str(d).ok())
}

async fn open_session(client: &reqwest::Client, plan: &Plan) -> Result<String, String> {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "arazzo-bench-serve", "version": "1"}}});
    let (status, id, body) = mcp_post(client, plan, None, &init).await?;
    let Some(id) = id.filter(|_| status == 200) else {
        return Err(format!(
            "initialize answered {status} without a session: {body}"
        ));
    };
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, body) = mcp_post(client, plan, Some(&id), &note).await?;
    if status != 202 {
        return Err(format!(
            "notifications/initialized answered {status}: {body}"
        ));
    }
    Ok(id)
}

async fn tool_call(
    client: &reqwest::Client,
    plan: &Plan,
    session: &str,
    id: u64,
    user: &str,
) -> Result<(), String> {
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": WORKFLOW, "arguments": inputs(user)}});
    let (status, _, body) = mcp_post(client, plan, Some(session), &call).await?;
    let answer = rpc_message(&body);
    let ok = status == 200
        && answer
            .as_ref()
            .is_some_and(|a| a["id"] == json!(id) && a["result"]["isError"] == json!(false));
    if !ok {
        return Err(format!("tools/call answered {status}: {body}"));
    }
    Ok(())
}

/// The `step`th request of a provisioning run, as the workflow sends it.
async fn standin_request(
    client: &reqwest::Client,
    plan: &Plan,
    step: usize,
    user: &str,
) -> Result<(), String> {
    let api = format!("{}/api/v3", plan.base);
    let request = match step {
        0 => client.post(format!("{api}/auth_configs")).body(
            json!({"toolkit": {"slug": "linear"},
                   "auth_config": {"type": "use_composio_managed_auth"}})
            .to_string(),
        ),
        1 => client.post(format!("{api}/mcp/servers")).body(
            json!({"name": "Linear Bot", "auth_config_ids": ["ac_bench_1"],
                   "managed_auth_via_composio": true})
            .to_string(),
        ),
        2 => client.get(format!("{api}/mcp/{SERVER_ID}")),
        _ => client
            .post(format!("{api}/mcp/servers/{SERVER_ID}/instances"))
            .body(json!({"user_id": user}).to_string()),
    };
    let request = if step == 2 {
        request
    } else {
        request.header("content-type", "application/json")
    };
    let r = request
        .header("x-api-key", &plan.secret)
        .send()
        .await
        .map_err(|e| format!("stand-in request {step}: {e}"))?;
    let status = r.status();
    let _ = r
        .bytes()
        .await
        .map_err(|e| format!("stand-in request {step}: {e}"))?;
    if !status.is_success() {
        return Err(format!("stand-in request {step} answered {status}"));
    }
    Ok(())
}

/// User + system CPU seconds of a process so far (`/proc/PID/stat`, in clock
/// ticks of 1/100 s, which is what Linux reports on every common build).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields after it are fixed.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
