//! The one middleware around every route: refuses hosts the server does not answer to and
//! cross-site writes, gates the dashboard's pages, answers a request that takes too long
//! with a timeout (health for machines excepted: it is answered from memory), adds the
//! security headers, and times the request for `/metrics`. What a request's handler logs
//! is inside a `request` span naming its method and route, so an operator reading "session
//! created" or "failed login" sees which call did it.
//!
//! One layer rather than four: each layer costs an allocation and a clone of the state per
//! request, and `/health` is meant to be answered as cheaply as axum allows.

use std::{net::SocketAddr, time::Instant};

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

use app::error::AppError;
use axum::response::IntoResponse;
use tracing::Instrument;

use super::{ApiFailure, auth, security};
use crate::{
    client_addr::{self as client, ClientAddr, ViaHttps},
    state::AppState,
};

/// Runs the rest of the stack, answering a timeout if it takes longer than the request
/// deadline. The work runs as a task of its own, so a request that times out is not cut
/// off half-way (a session stored but never started): it finishes; only nobody waits. The
/// task carries the caller's span along.
async fn within_deadline(
    state: &AppState,
    route: Option<&MatchedPath>,
    next: Next,
    request: Request,
) -> Response {
    let deadline = state.request_deadline;
    let mut work = tokio::spawn(next.run(request).in_current_span());
    match tokio::time::timeout(deadline, &mut work).await {
        Ok(Ok(response)) => response,
        Ok(Err(failed)) => {
            let route = route.map(MatchedPath::as_str);
            tracing::error!(route, error = %failed, "a request's handler failed");
            let failure =
                AppError::Internal("the server failed while answering; see its log".into());
            ApiFailure(failure).into_response()
        }
        Err(_) => {
            tracing::warn!(
                route = route.map(MatchedPath::as_str),
                seconds = deadline.as_secs(),
                "a request is taking longer than any should; answered with a timeout"
            );
            ApiFailure(AppError::RequestTimeout(format!(
                "no answer within {} s; what was asked may still be carried out: check before \
                 asking again",
                deadline.as_secs()
            )))
            .into_response()
        }
    }
}

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
    let route_name = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let at_once = super::answered_at_once(route.as_ref().map(MatchedPath::as_str));
    // Not for health checks: they log nothing, and they are answered as cheaply as can be.
    let span = if at_once {
        tracing::Span::none()
    } else {
        tracing::info_span!("request", %method, route = %route_name)
    };
    let mut response = if let Some(refused) = auth::unknown_host(&request, &state.allowed_hosts) {
        refused
    } else if let Some(refused) = auth::cross_site(&request, &state.allowed_origins) {
        refused
    } else if at_once {
        next.run(request).await
    } else if auth::is_dashboard_page(&request) {
        let (uri, headers) = (request.uri().clone(), request.headers().clone());
        match auth::dashboard_gate(&state, &uri, &headers).instrument(span.clone()).await {
            Some(elsewhere) => elsewhere,
            None => within_deadline(&state, route.as_ref(), next, request).instrument(span).await,
        }
    } else {
        within_deadline(&state, route.as_ref(), next, request).instrument(span).await
    };
    security::add_headers(response.headers_mut(), https);
    let took = start.elapsed();
    let status = response.status();
    state.metrics.http_request(&method, route_name, status, took);
    tracing::debug!(%method, route = route_name, status = status.as_u16(), micros = took.as_micros() as u64, "request");
    response
}
