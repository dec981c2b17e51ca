//! The REST routes over sessions, for machines (`/sessions…`).

use app::model::{
    SessionView,
    api::{ActionResult, CreateSession, SendMessage, SentMessage, UpdateSession},
};
use axum::{Json, extract::State, http::StatusCode};

use super::error::{ApiFailure, ApiJson, ApiPath};
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiFailure>;

/// `GET /sessions`: every session, newest first.
pub async fn list(State(state): State<AppState>) -> Json<Vec<SessionView>> {
    Json(state.supervisor.list())
}

/// `GET /sessions/{id}`.
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(state.supervisor.get(&id)?))
}

/// `POST /sessions` `{"name", "connector"}`: 201 with the session, which starts pairing.
pub async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateSession>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    Ok((StatusCode::CREATED, Json(state.supervisor.create(&request).await?)))
}

/// `PATCH /sessions/{id}` `{"auto_connect": bool}`.
pub async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(update): ApiJson<UpdateSession>,
) -> ApiResult<Json<SessionView>> {
    let Some(on) = update.auto_connect else {
        return Err(ApiFailure(app::error::AppError::InvalidRequest(
            "nothing to change: send {\"auto_connect\": true|false}".into(),
        )));
    };
    Ok(Json(state.supervisor.set_auto_connect(&id, on).await?))
}

/// `DELETE /sessions/{id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.supervisor.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /sessions/{id}/reconnect`: `{success, message}` after the first attempt.
pub async fn reconnect(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ActionResult>> {
    Ok(Json(state.supervisor.reconnect(&id).await?))
}

/// `POST /sessions/{id}/start`: desired running.
pub async fn start(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(state.supervisor.start_session(&id).await?))
}

/// `POST /sessions/{id}/stop`: desired stopped.
pub async fn stop(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(state.supervisor.stop_session(&id).await?))
}

/// `POST /sessions/{id}/logout`.
pub async fn logout(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(state.supervisor.logout(&id).await?))
}

/// `POST /sessions/{id}/messages` `{"to", "text"}`.
pub async fn send(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(message): ApiJson<SendMessage>,
) -> ApiResult<Json<SentMessage>> {
    Ok(Json(state.supervisor.send(&id, &message).await?))
}
