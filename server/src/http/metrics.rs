//! `GET /metrics`.

use axum::{extract::State, http::header, response::IntoResponse};

use crate::state::AppState;

/// The Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.metrics.render(&state.board, state.bus.last_seq());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}
