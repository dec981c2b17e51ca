//! Health for machines: `GET /health` (light, public), `GET /health/deep` (full, needs
//! credentials), and `/livez` and `/readyz` for orchestrators.

use app::model::HealthStatus;
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};

use crate::state::AppState;

fn code(status: HealthStatus) -> StatusCode {
    match status {
        HealthStatus::Error => StatusCode::SERVICE_UNAVAILABLE,
        HealthStatus::Ok | HealthStatus::Degraded => StatusCode::OK,
    }
}

/// Answers from the in-memory board: no database query, no outside call. A server whose
/// database is gone answers 503 with the same body, so load balancers need not parse it.
pub async fn light(State(state): State<AppState>) -> impl IntoResponse {
    let report = state.board.health();
    (code(report.status), [(header::CACHE_CONTROL, "no-store")], Json(report))
}

/// The full report: a real database round trip now, and every session with its link.
pub async fn deep(State(state): State<AppState>) -> impl IntoResponse {
    let report = state.supervisor.deep_report().await;
    (code(report.status), [(header::CACHE_CONTROL, "no-store")], Json(report))
}

/// Alive as long as the process answers.
pub async fn livez() -> impl IntoResponse {
    Json(serde_json::json!({"status": "alive"}))
}

/// Ready once migrations ran (the server would not listen otherwise) and restore started,
/// and while the database answers its probes.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let restore_started = state.supervisor.restore_state().borrow().started;
    let database = state.board.database_ok();
    let ready = restore_started && database;
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "restoreStarted": restore_started,
        "database": database,
    });
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}
