//! `GET /ws`: the event channel. Credentials and Origin are checked at the handshake, so a
//! refused client gets an HTTP answer (401, 403, 429), never a socket that says nothing.

mod admission;
mod connection;

use std::time::Duration;

use app::error::AppError;
use axum::{
    Extension,
    extract::{State, WebSocketUpgrade},
    http::HeaderMap,
    response::{IntoResponse, Response},
};

pub use admission::{Admission, Ticket};

use super::{
    client::{ClientAddr, limit_key},
    error::ApiFailure,
    origin_allowed,
};
use crate::{access::Caller, state::AppState};

/// The channel's limits and timings.
#[derive(Clone, Debug)]
pub struct WsLimits {
    /// How often the server pings each client (and re-checks its credentials).
    pub heartbeat: Duration,
    /// How long a client may take to answer a ping.
    pub pong_timeout: Duration,
    /// How long one frame may take to leave before the client counts as stuck.
    pub send_timeout: Duration,
    /// How many events a client may fall behind before it is dropped.
    pub max_behind: usize,
    /// The largest message a client may send, in bytes; a larger one closes the channel
    /// with 1009.
    pub max_message: usize,
    /// Open channels allowed per client address.
    pub per_address: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            heartbeat: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(10),
            max_behind: 1024,
            max_message: 4 * 1024,
            per_address: 32,
        }
    }
}

/// Checks the handshake and upgrades (authentication ran before this, as for every
/// protected route).
pub async fn upgrade(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddr>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.allowed_origins) {
        return ApiFailure(AppError::Forbidden(
            "WebSocket connections from another site are refused".into(),
        ))
        .into_response();
    }
    let limits = state.ws.clone();
    let Some(ticket) = state.ws_admission.admit(limit_key(client.0), limits.per_address) else {
        return ApiFailure(AppError::TooManyAttempts(format!(
            "this address already holds {} event channels",
            limits.per_address
        )))
        .into_response();
    };
    // The transport refuses outright what is far too big to buffer; up to that, the channel
    // closes cleanly with 1009 and a reason.
    let hard_limit = limits.max_message.saturating_mul(16).max(64 * 1024);
    // Revoking the key or ending the login closes the channel at once, not at the next
    // heartbeat.
    let watch = state.access.watch(&caller);
    ws.max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| connection::serve(socket, state, headers, ticket, watch))
}
