//! Health for machines: `GET /health` (light, public), `GET /health/deep` (full, needs
//! credentials), and `/livez` and `/readyz` for orchestrators.

use app::model::{DeepHealth, Health, HealthStatus};
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde::Serialize;

use super::openapi::Failures;
use crate::state::AppState;

/// `GET /livez`: the process answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Liveness {
    /// Always `alive`.
    #[schema(example = "alive")]
    status: &'static str,
}

/// `GET /readyz`: whether this instance should get traffic.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// `ready` or `not_ready`.
    #[schema(example = "ready")]
    status: &'static str,
    /// Whether restoring the stored sessions has begun.
    restore_started: bool,
    /// Whether the database answers its probes.
    database: bool,
}

fn code(status: HealthStatus) -> StatusCode {
    match status {
        HealthStatus::Error => StatusCode::SERVICE_UNAVAILABLE,
        HealthStatus::Ok | HealthStatus::Degraded => StatusCode::OK,
    }
}

/// Answers from the in-memory board: no database query, no outside call. A server whose
/// database is gone answers 503 with the same body, so load balancers need not parse it.
#[utoipa::path(
    get, operation_id = "health", path = "/health", tag = "health", responses((status = 200, description = "Serving (`ok` or `degraded`)", body = Health), (status = 503, description = "The database does not answer", body = Health))
)]
pub async fn light(State(state): State<AppState>) -> impl IntoResponse {
    let report = state.board.health();
    (code(report.status), [(header::CACHE_CONTROL, "no-store")], Json(report))
}

/// The full report: a real database round trip now, and every session with its link.
#[utoipa::path(
    get, operation_id = "deep_health", path = "/health/deep", tag = "health", security(("api_key" = ["read"]), ("login" = [])), responses((status = 200, description = "Serving (`ok` or `degraded`)", body = DeepHealth), (status = 503, description = "The database does not answer", body = DeepHealth), Failures)
)]
pub async fn deep(State(state): State<AppState>) -> impl IntoResponse {
    let report = state.supervisor.deep_report().await;
    (code(report.status), [(header::CACHE_CONTROL, "no-store")], Json(report))
}

/// Alive as long as the process answers.
#[utoipa::path(
    get, operation_id = "livez", path = "/livez", tag = "health", responses((status = 200, description = "The process answers", body = Liveness))
)]
pub async fn livez() -> impl IntoResponse {
    Json(Liveness { status: "alive" })
}

/// Ready once migrations ran (the server would not listen otherwise) and restore started,
/// and while the database answers its probes.
#[utoipa::path(
    get, operation_id = "readyz", path = "/readyz", tag = "health", responses((status = 200, description = "Ready", body = Readiness), (status = 503, description = "Not ready yet, or the database does not answer", body = Readiness))
)]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let restore_started = state.supervisor.restore_state().borrow().started;
    let database = state.board.database_ok();
    let ready = restore_started && database;
    let status = if ready { "ready" } else { "not_ready" };
    let body = Readiness { status, restore_started, database };
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body))
}
