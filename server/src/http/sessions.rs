//! The REST routes over sessions, for machines (`/sessions…`).

use app::model::{
    SessionView,
    api::{ActionResult, CreateSession, SendMessage, SentMessage, UpdateSession},
};
use axum::{Json, extract::State, http::StatusCode};

use super::error::{ApiFailure, ApiJson, ApiPath};
use super::openapi::Failures;
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiFailure>;

/// `GET /sessions`: every session, newest first.
#[utoipa::path(
    get, operation_id = "list_sessions", path = "/sessions", tag = "sessions", security(("api_key" = ["read"]), ("login" = [])), responses((status = 200, description = "Every session, newest first", body = Vec<SessionView>), Failures)
)]
pub async fn list(State(state): State<AppState>) -> Json<Vec<SessionView>> {
    Json(state.supervisor.list())
}

/// `GET /sessions/{id}`.
#[utoipa::path(
    get, operation_id = "get_session", path = "/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "The session")), security(("api_key" = ["read"]), ("login" = [])), responses((status = 200, description = "The session as it is now", body = SessionView), Failures)
)]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(state.supervisor.get(&id)?))
}

/// `POST /sessions` `{"name", "connector"}`: 201 with the session, which starts pairing.
#[utoipa::path(
    post, operation_id = "create_session", path = "/sessions", tag = "sessions", request_body = CreateSession, security(("api_key" = ["operate"]), ("login" = [])), responses((status = 201, description = "Created; pairing starts (QR codes on the event channel and as `session.qr` webhooks)", body = SessionView), Failures)
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateSession>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    Ok((StatusCode::CREATED, Json(state.supervisor.create(&request).await?)))
}

/// `PATCH /sessions/{id}` `{"auto_connect": bool, "primary": bool}` (either or both).
#[utoipa::path(
    patch, operation_id = "update_session", path = "/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "The session")), request_body = UpdateSession, security(("api_key" = ["operate"]), ("login" = [])), responses((status = 200, description = "The session as it is now", body = SessionView), Failures)
)]
pub async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(update): ApiJson<UpdateSession>,
) -> ApiResult<Json<SessionView>> {
    let mut view = None;
    if let Some(on) = update.auto_connect {
        view = Some(state.supervisor.set_auto_connect(&id, on).await?);
    }
    if let Some(on) = update.primary {
        view = Some(state.supervisor.set_primary(&id, on).await?);
    }
    view.map(Json).ok_or_else(|| {
        ApiFailure(app::error::AppError::InvalidRequest(
            "nothing to change: send {\"auto_connect\": true|false} or {\"primary\": true|false}"
                .into(),
        ))
    })
}

/// `DELETE /sessions/{id}`: 204.
#[utoipa::path(
    delete, operation_id = "delete_session", path = "/sessions/{id}", tag = "sessions", params(("id" = String, Path, description = "The session")), security(("api_key" = ["operate"]), ("login" = [])), responses((status = 204, description = "Deleted, with its credentials"), Failures)
)]
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.supervisor.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /sessions/{id}/reconnect`: `{success, message}` after the first attempt.
#[utoipa::path(
    post, operation_id = "reconnect_session", path = "/sessions/{id}/reconnect", tag = "sessions", params(("id" = String, Path, description = "The session")), security(("api_key" = ["operate"]), ("login" = [])), responses((status = 200, description = "The first outcome of connecting anew", body = ActionResult), Failures)
)]
pub async fn reconnect(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ActionResult>> {
    Ok(Json(state.supervisor.reconnect(&id).await?))
}

/// `POST /sessions/{id}/start`: desired running.
#[utoipa::path(
    post, operation_id = "start_session", path = "/sessions/{id}/start", tag = "sessions", params(("id" = String, Path, description = "The session")), security(("api_key" = ["operate"]), ("login" = [])), responses((status = 200, description = "The session as it is now", body = SessionView), Failures)
)]
pub async fn start(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(state.supervisor.start_session(&id).await?))
}

/// `POST /sessions/{id}/stop`: desired stopped.
#[utoipa::path(
    post, operation_id = "stop_session", path = "/sessions/{id}/stop", tag = "sessions", params(("id" = String, Path, description = "The session")), security(("api_key" = ["operate"]), ("login" = [])), responses((status = 200, description = "The session as it is now", body = SessionView), Failures)
)]
pub async fn stop(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(state.supervisor.stop_session(&id).await?))
}

/// `POST /sessions/{id}/logout`.
#[utoipa::path(
    post, operation_id = "logout_session", path = "/sessions/{id}/logout", tag = "sessions", params(("id" = String, Path, description = "The session")), security(("api_key" = ["operate"]), ("login" = [])), responses((status = 200, description = "The session as it is now", body = SessionView), Failures)
)]
pub async fn logout(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(state.supervisor.logout(&id).await?))
}

/// `POST /sessions/{id}/messages` `{"to", "text"}`.
#[utoipa::path(
    post, operation_id = "send_message", path = "/sessions/{id}/messages", tag = "sessions", params(("id" = String, Path, description = "The session")), request_body = SendMessage, security(("api_key" = ["operate"]), ("login" = [])), responses((status = 200, description = "Sent: WhatsApp's id of the message", body = SentMessage), Failures)
)]
pub async fn send(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(message): ApiJson<SendMessage>,
) -> ApiResult<Json<SentMessage>> {
    Ok(Json(state.supervisor.send(&id, &message).await?))
}
