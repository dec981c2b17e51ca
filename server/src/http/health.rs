//! Health for machines: `GET /health` (light, public), `GET /health/deep` (full, needs
//! credentials), and `/livez` and `/readyz` for orchestrators.

use app::model::{
    DatabaseHealth, DeepHealth, HealthStatus, SessionHealth, TodayActivity, derive_status,
};
use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use chrono::{SubsecRound, Utc};

use crate::{probe::PROBE_TIMEOUT, state::AppState};

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
    let report = deep_report(&state).await;
    (code(report.status), [(header::CACHE_CONTROL, "no-store")], Json(report))
}

/// Builds the deep report (for `GET /health/deep` and the dashboard's server function).
pub async fn deep_report(state: &AppState) -> DeepHealth {
    let database = match tokio::time::timeout(PROBE_TIMEOUT, state.db.ping()).await {
        Ok(Ok(latency)) => {
            DatabaseHealth { connected: true, latency_ms: latency.as_secs_f64() * 1e3 }
        }
        _ => DatabaseHealth { connected: false, latency_ms: PROBE_TIMEOUT.as_secs_f64() * 1e3 },
    };
    // Unknown (null) rather than a guess when the log cannot be read.
    let budgets = if database.connected {
        tokio::time::timeout(PROBE_TIMEOUT, state.supervisor.recovery_budgets())
            .await
            .ok()
            .and_then(Result::ok)
    } else {
        None
    };
    let budget = state.supervisor.policy().recovery_budget;
    let now = Utc::now();
    let age = |t: Option<chrono::DateTime<Utc>>| t.map(|t| (now - t).num_seconds().max(0) as u64);
    let sessions = state
        .supervisor
        .list()
        .into_iter()
        .map(|v| {
            let connected = v.status == app::model::SessionStatus::Connected;
            let recovery_budget_left =
                budgets.as_ref().map(|b| b.get(&v.id).copied().unwrap_or(budget));
            SessionHealth {
                socket_alive: state.supervisor.socket_alive(&v.id),
                last_message_age_seconds: age(v.last_message_at),
                last_connected_age_seconds: if connected {
                    Some(0)
                } else {
                    age(v.last_connected_at)
                },
                session_id: v.id,
                phone_number: v.phone_number,
                connection_status: v.status,
                last_connected_at: v.last_connected_at,
                last_message_at: v.last_message_at,
                name: v.name,
                reason: v.reason,
                advice: v.reason.and_then(|r| r.advice()).map(str::to_owned),
                attempt: v.attempt,
                next_retry_at: v.next_retry_at,
                last_error: v.last_error,
                desired: v.desired,
                recovery_budget_left,
            }
        })
        .collect();
    let counts = state.metrics.today();
    let recoveries = if database.connected {
        let count = crate::db::recoveries::count_since(&state.db, counts.since);
        tokio::time::timeout(PROBE_TIMEOUT, count).await.ok().and_then(Result::ok)
    } else {
        None
    };
    let today = TodayActivity {
        since: counts.since.trunc_subsecs(0),
        messages_received: counts.received,
        messages_sent: counts.sent,
        recoveries,
    };
    DeepHealth {
        status: derive_status(&state.board.tally(), database.connected),
        timestamp: now.trunc_subsecs(3),
        uptime: state.board.uptime().as_secs(),
        database,
        sessions,
        today: Some(today),
    }
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
