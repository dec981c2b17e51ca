//! `GET /metrics`.

use axum::{extract::State, http::header, response::IntoResponse};

use super::openapi::Failures;
use crate::{db_probe::PROBE_TIMEOUT, state::AppState};

/// The Prometheus text exposition.
#[utoipa::path(
    get, operation_id = "metrics", path = "/metrics", tag = "health", security(("api_key" = ["read"]), ("login" = [])), responses((status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String), Failures)
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Read for each scrape; when the database does not answer in time the last values stay
    // (and `lifeline_database_up` says why).
    let depth = crate::db::webhooks::depth(&state.db);
    if let Ok(Ok((pending, oldest))) = tokio::time::timeout(PROBE_TIMEOUT, depth).await {
        state.metrics.set_outbox(pending, oldest);
    }
    let text = state.metrics.render(&state.board, state.bus.last_seq());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}
