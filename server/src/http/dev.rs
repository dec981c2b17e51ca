//! `POST /dev/simulator/sessions/{id}/fault`: fault injection, mounted only when the server
//! runs with `--simulator` or `--demo`.

use app::{error::AppError, model::api::ActionResult};
use axum::{Json, extract::State};

use super::error::{ApiFailure, ApiJson, ApiPath};
use crate::{connector::simulator::Fault, state::AppState};

/// Makes the simulated upstream of session `id` misbehave.
pub async fn fault(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(fault): ApiJson<Fault>,
) -> Result<Json<ActionResult>, ApiFailure> {
    let simulator = state
        .simulator
        .as_ref()
        .ok_or_else(|| ApiFailure(AppError::Internal("the simulator is not running".into())))?;
    let session = state.supervisor.get(&id)?;
    if session.connector != "simulator" {
        return Err(ApiFailure(AppError::Conflict(format!(
            "session {id:?} uses the {} connector, not the simulator",
            session.connector
        ))));
    }
    let message =
        simulator.inject(&id, fault).map_err(|e| ApiFailure(AppError::Conflict(e.to_string())))?;
    tracing::info!(session = %id, "simulator: {message}");
    Ok(Json(ActionResult { success: true, message }))
}
