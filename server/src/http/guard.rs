//! The one middleware around every route: refuses hosts the server does not answer to and
//! cross-site writes, gates the dashboard's pages, adds the security headers, and times the
//! request for `/metrics`.
//!
//! One layer rather than four: each layer costs an allocation and a clone of the state per
//! request, and `/health` is meant to be answered as cheaply as axum allows.

use std::time::Instant;

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

use super::{auth, security};
use crate::{
    client_addr::{self as client, ClientAddr, ViaHttps},
    state::AppState,
};

/// See the module documentation.
pub async fn around(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied()
    {
        let client = client::client_address(peer.ip(), request.headers(), &state.trusted_proxies);
        request.extensions_mut().insert(ClientAddr(client));
        if client::forwarded_https(peer.ip(), request.headers(), &state.trusted_proxies) {
            request.extensions_mut().insert(ViaHttps);
        }
    }
    let https = state.access.always_secure() || ViaHttps::of(request.extensions());
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = if let Some(refused) = auth::unknown_host(&request, &state.allowed_hosts) {
        refused
    } else if let Some(refused) = auth::cross_site(&request, &state.allowed_origins) {
        refused
    } else if auth::is_dashboard_page(&request) {
        let (uri, headers) = (request.uri().clone(), request.headers().clone());
        match auth::dashboard_gate(&state, &uri, &headers).await {
            Some(elsewhere) => elsewhere,
            None => next.run(request).await,
        }
    } else {
        next.run(request).await
    };
    security::add_headers(response.headers_mut(), https);
    let took = start.elapsed();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let status = response.status().as_u16();
    state.metrics.http_request(&method, route, status, took);
    tracing::debug!(%method, route, status, micros = took.as_micros() as u64, "request");
    response
}
