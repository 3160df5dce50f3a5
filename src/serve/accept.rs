//! Accepting connections for the HTTP listener, with the limits a server open
//! to other machines needs and `axum::serve` does not set: a client has
//! [`HEADER_TIMEOUT`] to send a request's headers (a slow or silent client is
//! closed instead of holding its connection for ever), at most
//! [`MAX_CONNECTIONS`] connections are served at once (more wait to be
//! accepted), and a stop lets the requests going on finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a client may take to send a request's headers, and to start the
/// next request on a kept-alive connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a stop waits for connections to end after the runs were answered.
const CLOSING: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `stopped`, then closes the connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    stopped: impl std::future::Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    tokio::pin!(stopped);
    loop {
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => s,
            _ = &mut stopped => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stopped => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            // Out of file descriptors, or a connection reset before it was
            // taken: wait a little rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .layer(Extension(ConnectInfo::<SocketAddr>(peer)));
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(CLOSING, graceful.shutdown()).await;
}
