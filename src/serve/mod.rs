//! Workflows served to agents and platforms: the runs themselves
//! ([`runner`]), one MCP tool per workflow ([`mcp_tools`], over stdio or
//! streamable HTTP) and a REST API ([`rest`], its OpenAPI description in
//! [`rest_doc`]), both on one HTTP listener ([`listener`]) behind the same
//! guards ([`guard`]: tokens, Origin, sizes, concurrency; [`access_log`]).

pub mod accept;
pub mod access_log;
pub mod guard;
pub mod jsonrpc;
pub mod listener;
pub mod mcp_tools;
pub mod rest;
pub mod rest_doc;
pub mod runner;
pub mod runs;
pub mod tokens;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rmcp::model::Tool;

use crate::engine::RunOptions;
use crate::report::printer::Printer;
use crate::report::problem::Problem;
use runner::{Activity, Runner, Served};

/// Everything checked and loaded, ready for a transport.
pub struct Ready {
    pub tools: Vec<Tool>,
    pub served: Vec<Served>,
    pub client: reqwest::Client,
    /// How each run goes; its `stop` stops the server too.
    pub opts: RunOptions,
    /// Whether each run is checked before any request is sent.
    pub preflight: bool,
}

/// How the workflows are offered.
pub enum Transport {
    /// MCP over standard input and output (`arazzo mcp`).
    Stdio,
    /// An HTTP listener (`arazzo mcp --http`, `arazzo serve`).
    Http(listener::Listen),
}

/// Serves the workflows until the client leaves (stdio) or a signal stops the
/// server, once the runs going on are answered; decides the exit code.
pub fn serve(
    ready: Ready,
    transport: Transport,
    printer: &Printer,
    rt: tokio::runtime::Runtime,
) -> Result<u8, Problem> {
    let Ready {
        tools,
        served,
        client,
        opts,
        preflight,
    } = ready;
    let stop = opts.stop.clone();
    let activity = Arc::new(Activity::default());
    let runner = Runner {
        served,
        client,
        opts,
        redactor: printer.redactor.clone(),
        preflight,
        activity: Arc::clone(&activity),
    };

    // From here on runs may send requests: a signal drains them.
    stop.arm();
    let local = tokio::task::LocalSet::new();
    let (waiter, drained) = (stop.clone(), Arc::clone(&activity));
    let stop_for_transport = stop.clone();
    let result = local.block_on(&rt, async move {
        let catalogue = rest::Catalogue::new(&runner.served, &tools);
        let jobs = runner::start(runner);
        let handler = mcp_tools::Handler::new(tools, jobs.clone(), printer.redactor.clone());
        let stopped = async move {
            waiter.wait().await;
            drained.drained().await;
        };
        match transport {
            Transport::Stdio => mcp_tools::serve_stdio(handler, &stop_for_transport, stopped).await,
            Transport::Http(listen) => {
                let app = listener::App {
                    handler,
                    jobs,
                    catalogue,
                    stop: stop_for_transport,
                };
                listener::serve_http(app, listen, printer, stopped).await
            }
        }
    })?;
    // A stdin reader blocked on a client that keeps the pipe open must not
    // hold the exit.
    rt.shutdown_background();
    // Stopped by a signal: the exit code says so when a run was cut short.
    Ok(match stop.requested() {
        Some(signal) if activity.cut.load(Ordering::SeqCst) > 0 => signal.exit_code(),
        _ => result,
    })
}
