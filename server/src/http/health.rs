//! `GET /health`: the light report of seed 004.

use app::model::HealthStatus;
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};

use crate::state::AppState;

/// Answers from the in-memory board: no database query, no outside call. A server whose
/// database is gone answers 503 with the same body, so load balancers need not parse it.
pub async fn light(State(state): State<AppState>) -> impl IntoResponse {
    let report = state.board.health();
    let code = match report.status {
        HealthStatus::Error => StatusCode::SERVICE_UNAVAILABLE,
        HealthStatus::Ok | HealthStatus::Degraded => StatusCode::OK,
    };
    (code, [(header::CACHE_CONTROL, "no-store")], Json(report))
}
