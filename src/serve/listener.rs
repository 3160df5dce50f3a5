//! The HTTP listener of `arazzo serve` and `arazzo mcp --http`: MCP at
//! `/mcp`, with `serve` the REST API beside it, `/healthz`, all behind the
//! same guards and access log.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::Semaphore;

use super::guard::Guard;
use super::mcp_tools::Handler;
use super::rest::{self, Catalogue, Rest};
use super::runner::Jobs;
use super::runs::RunStore;
use super::tokens::Tokens;
use crate::engine::interrupt::Stop;
use crate::report::printer::Printer;
use crate::report::problem::{exit, Problem};

/// How the listener is set up (from `ListenArgs`).
pub struct Listen {
    /// `--http ADDR`.
    pub addr: String,
    pub allow_hosts: Vec<String>,
    pub tokens: Tokens,
    pub allow_origins: Vec<String>,
    pub max_request_size: usize,
    pub max_concurrent_runs: usize,
    /// Whether the REST API is served (`serve`) or only MCP (`mcp --http`).
    pub rest: bool,
    /// The command, for the first line: `arazzo serve`.
    pub name: &'static str,
}

/// What the routes serve.
pub struct App {
    pub handler: Handler,
    pub jobs: Jobs,
    pub catalogue: Catalogue,
    pub stop: Stop,
}

/// Refuses to listen on an address others can reach without a token, unless
/// the operator said so (`--allow-unauthenticated`). Called before anything
/// is loaded.
pub fn check_exposure(
    addr: &str,
    tokens: &Tokens,
    allow_unauthenticated: bool,
) -> Result<(), Problem> {
    if tokens.required() || allow_unauthenticated {
        return Ok(());
    }
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default();
    if resolved.iter().all(|a| a.ip().is_loopback()) {
        return Ok(());
    }
    Err(Problem::usage(
        format!("`{addr}` can be reached from other machines, and no --token-file was given: anyone who reaches it could run the workflows"),
        Some("give --token-file FILE (bearer tokens, one per line), listen on 127.0.0.1, or pass --allow-unauthenticated if something in front of this server authenticates".into()),
    ))
}

/// Serves until `stopped` (a signal, once the runs going on are answered).
pub async fn serve_http(
    app: App,
    listen: Listen,
    printer: &Printer,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<u8, Problem> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

    let addr = &listen.addr;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Problem::usage(
            format!("cannot listen on `{addr}`: {e}"),
            Some("give --http an address and port, e.g. 127.0.0.1:9090".into()),
        )
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| Problem::usage(format!("cannot listen on `{addr}`: {e}"), None))?;
    // The Host header is checked against these (DNS rebinding protection).
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !local.ip().is_unspecified() {
        hosts.push(local.ip().to_string());
    }
    hosts.extend(listen.allow_hosts.iter().cloned());
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts.clone());
    let cancel = config.cancellation_token.clone();
    let handler = app.handler.clone();
    let sessions = Arc::new(LocalSessionManager::default());
    let service =
        StreamableHttpService::new(move || Ok(handler.clone()), Arc::clone(&sessions), config);
    let slots = Arc::new(Semaphore::new(listen.max_concurrent_runs));
    let gate = super::jsonrpc::Gate {
        slots: Arc::clone(&slots),
        sessions,
    };
    let mcp = Router::new()
        .route_service("/mcp", service)
        .layer(from_fn_with_state(gate, super::jsonrpc::check_messages));
    let health = Router::new()
        .route("/healthz", get(rest::healthz))
        .with_state(app.stop.clone());
    let mut router = Router::new().merge(mcp).merge(health);
    if listen.rest {
        let openapi = super::rest_doc::describe(&app.catalogue, listen.tokens.required());
        let rest = Rest {
            catalogue: app.catalogue,
            jobs: app.jobs,
            runs: RunStore::default(),
            slots,
            stop: app.stop.clone(),
            redactor: printer.redactor.clone(),
            openapi: serde_json::to_vec(&openapi).unwrap_or_default().into(),
        };
        router = router.merge(rest::routes(Arc::new(rest)));
    }
    let guard = Arc::new(Guard {
        tokens: listen.tokens.clone(),
        origins: listen.allow_origins.clone(),
        hosts,
        max_body: listen.max_request_size,
    });
    let router = router
        .fallback(not_found)
        .layer(map_response(method_not_allowed))
        .layer(from_fn_with_state(guard, super::guard::guard))
        .layer(from_fn_with_state(
            printer.line_writer(),
            super::access_log::log_requests,
        ));
    announce(&listen, local, printer);
    super::accept::serve(listener, router, async move {
        stopped.await;
        cancel.cancel();
    })
    .await;
    Ok(exit::SUCCEEDED)
}

fn announce(listen: &Listen, local: SocketAddr, printer: &Printer) {
    if printer.style.quiet {
        return;
    }
    let shown = if local.is_ipv6() {
        format!("[{}]:{}", local.ip(), local.port())
    } else {
        local.to_string()
    };
    let auth = if listen.tokens.required() {
        "bearer token required"
    } else {
        "no token required"
    };
    let line = if listen.rest {
        format!("{}: listening on http://{shown} (REST /workflows, MCP /mcp, OpenAPI /openapi.json; {auth})\n", listen.name)
    } else {
        format!(
            "{}: listening on http://{shown}/mcp (streamable HTTP; {auth})\n",
            listen.name
        )
    };
    printer.err(&line);
}

async fn not_found() -> Response {
    rest::problem(
        StatusCode::NOT_FOUND,
        "Not found",
        "nothing is served at this path: see /openapi.json (REST) or /mcp (MCP)",
    )
}

/// A 405 with a problem body (axum's own has none; its `Allow` stays).
async fn method_not_allowed(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response
            .headers()
            .contains_key(axum::http::header::CONTENT_TYPE)
    {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let mut answer = rest::problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "this path does not take this method (the Allow header lists those it takes)",
    );
    if let Some(allow) = allow {
        answer
            .headers_mut()
            .insert(axum::http::header::ALLOW, allow);
    }
    answer
}
