//! `GET /ws`: the event channel. Credentials and Origin are checked at the handshake, so a
//! refused client gets an HTTP answer (401, 403, 429), never a socket that says nothing.

mod connection;

use app::error::AppError;
use axum::{
    Extension,
    extract::{State, WebSocketUpgrade},
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::{error::ApiFailure, origin_allowed};
use crate::{
    access::{Caller, credential_headers},
    client_addr::{ClientAddr, limit_key},
    state::AppState,
};

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
    // What the connection keeps to check its credentials at every heartbeat.
    let credentials = credential_headers(&headers);
    // A client only sends small frames (ping, resume), so a read buffer the size of the
    // largest one it may send is enough; the transport's default (128 KiB, written to in
    // full on every read) would be most of what each connected dashboard costs. A larger
    // frame still grows the buffer as it needs.
    ws.max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .read_buffer_size(limits.max_message)
        .on_upgrade(move |socket| connection::serve(socket, state, credentials, ticket, watch))
}
