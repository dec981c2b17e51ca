//! Accepting connections. axum's own `serve` builds hyper without a timer, and without one
//! hyper's deadline on request headers never runs: a client that sends nothing, or trickles
//! its headers a byte at a time, would hold a connection and its task forever. This loop is
//! that one with the deadline: a connection whose next request's headers are not all in
//! within [`HEADER_READ_TIMEOUT`] is closed — a fresh one that sends nothing, one that
//! trickles, and one left idle between requests alike.
//!
//! HTTP/1.1 only: browsers speak HTTP/2 only over TLS, which a proxy in front of Lifeline
//! ends, and proxies talk HTTP/1.1 to their upstreams. (Detecting cleartext HTTP/2 would
//! mean waiting for bytes before hyper's deadline starts.)

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo, http::Request};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

/// How long a client may take to send a request's headers, counted from when the server
/// starts waiting for them (so also: how long a connection may sit idle between requests).
/// Generous for a phone on a bad network; short for an attacker.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The most a request's head (request line and headers) may take: 64 KiB is eight times
/// what nginx lets through by default, and what a client sends beyond it gets 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How long to wait after a failed accept (out of file descriptors, most likely) before the
/// next, so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// for the connections to finish what they are doing (the caller bounds that wait).
/// Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    let closing = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection; pausing");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            request
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let closing = closing.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = closing.cancelled() => {
                    // Finishes the request under way, then closes.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    closing.cancel();
    connections.close();
    connections.wait().await;
}
