//! The REST routes over the instances sharing one database (`/instances…`) and moving a
//! session between them.

use app::model::instances::{Drain, InstanceView, MoveSession};
use axum::{Json, extract::State, http::StatusCode};

use super::error::{ApiFailure, ApiJson, ApiPath};
use super::openapi::Failures;
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiFailure>;

/// `GET /instances`: the live instances, oldest first, with the sessions each holds.
#[utoipa::path(
    get, operation_id = "list_instances", path = "/instances", tag = "instances", security(("api_key" = ["read"]), ("login" = [])), responses((status = 200, description = "The live instances, oldest first", body = Vec<InstanceView>), Failures)
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<InstanceView>>> {
    Ok(Json(state.supervisor.instances().await?))
}

/// `POST /instances/{name}/drain` `{"draining": bool}`: 204; the instance hands its
/// sessions over within one lease renewal (or takes its share again).
#[utoipa::path(
    post, operation_id = "drain_instance", path = "/instances/{name}/drain", tag = "instances", params(("name" = String, Path, description = "The instance")), request_body = Drain, security(("api_key" = ["operate"]), ("login" = [])), responses((status = 204, description = "Draining (or back in service)"), Failures)
)]
pub async fn drain(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(drain): ApiJson<Drain>,
) -> ApiResult<StatusCode> {
    state.supervisor.set_draining(&name, drain.draining).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /sessions/{id}/move` `{"instance": name}`: 202; the holder hands the session to
/// that instance at its next renewal.
#[utoipa::path(
    post, operation_id = "move_session", path = "/sessions/{id}/move", tag = "instances", params(("id" = String, Path, description = "The session")), request_body = MoveSession, security(("api_key" = ["operate"]), ("login" = [])), responses((status = 202, description = "Asked; the holder hands the session over at its next lease renewal"), Failures)
)]
pub async fn move_session(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<MoveSession>,
) -> ApiResult<StatusCode> {
    state.supervisor.move_session(&id, &request.instance).await?;
    Ok(StatusCode::ACCEPTED)
}
