//! The accept loop: one HTTP/1.1 connection task per socket, with a deadline for request
//! headers, WebSocket upgrades, the peer's address for handlers, and a graceful stop.
//!
//! Why not `axum::serve`: it builds hyper without a timer, and hyper then switches its
//! header-read timeout off, so a client that sends half a request line and waits holds a socket
//! and a task for ever (slowloris, audit M6). Here each connection is hyper's HTTP/1 builder
//! with `TokioTimer` and [`ServeConfig::header_read_timeout`]: a client that has not finished
//! its request headers that long after it started (or after its previous request on a kept-alive
//! connection) is disconnected.
//!
//! Why HTTP/1 only, not hyper-util's auto (HTTP/1 + HTTP/2) builder: browsers speak HTTP/2 only
//! over TLS, which this server leaves to a proxy, and the auto builder first waits for up to 24
//! bytes to tell the protocols apart with no deadline at all, so a client that sends nothing (or
//! the start of the HTTP/2 preface) would escape the header timeout.
//!
//! Otherwise it keeps what `axum::serve` did:
//! - **upgrades**: connections are served `with_upgrades`, so `/ws` works;
//! - **peer address**: every request carries `ConnectInfo<SocketAddr>` in its extensions, so
//!   handlers can extract `axum::extract::ConnectInfo<SocketAddr>`;
//! - **graceful stop**: when `shutdown` fires the loop stops accepting and drops the listener,
//!   every connection finishes the request it is serving and closes (idle ones at once), and
//!   [`serve`] returns when all have. Upgraded WebSockets have left hyper by then; they stop
//!   through their own cancellation (see `connection`).

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::Layer;

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    /// Longest wait for a request's headers to arrive in full.
    pub header_read_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` fires and every connection has finished.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: CancellationToken,
) {
    // Each connection task holds a receiver; `closed()` resolves when the last one is gone.
    let (all_closed, open) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let task = connection(stream, peer, router.clone(), config, shutdown.clone());
                let open = open.clone();
                tokio::spawn(async move {
                    task.await;
                    drop(open);
                });
            }
            Err(err) => accept_failed(err).await,
        }
    }
    drop(listener);
    drop(open);
    all_closed.closed().await;
}

/// Serves one connection until it closes, or until `shutdown` and its current request is done.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    config: ServeConfig,
    shutdown: CancellationToken,
) {
    let service = TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(router));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let mut conn = pin!(builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades());
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%peer, "connection ended: {err}");
    }
}

/// Errors about one connection (reset before it was accepted) are skipped; others (out of file
/// descriptors) are logged and the loop pauses, as `axum::serve` does, instead of spinning.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept failed: {err}; pausing for a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
