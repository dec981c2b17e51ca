//! The REST routes over API keys (`/keys…`), for keys with the `admin` scope. People manage
//! keys in Settings; these let a provisioning script do the same.

use app::model::{ApiKeyView, CreatedApiKey, api::NewApiKey};
use axum::{Json, extract::State, http::StatusCode};

use super::error::{ApiFailure, ApiJson, ApiPath};
use super::openapi::Failures;
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiFailure>;

/// `GET /keys`: every key, newest first (never the keys themselves).
#[utoipa::path(
    get, operation_id = "list_keys", path = "/keys", tag = "keys", security(("api_key" = ["admin"]), ("login" = [])), responses((status = 200, description = "Every API key, newest first", body = Vec<ApiKeyView>), Failures)
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<ApiKeyView>>> {
    Ok(Json(state.access.list_keys().await?))
}

/// `POST /keys` `{"name", "scope"}`: 201 with the key, whose text appears only here.
#[utoipa::path(
    post, operation_id = "create_key", path = "/keys", tag = "keys", request_body = NewApiKey, security(("api_key" = ["admin"]), ("login" = [])), responses((status = 201, description = "Created; the key's text is only in this answer", body = CreatedApiKey), Failures)
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<NewApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    Ok((StatusCode::CREATED, Json(state.access.create_key(&request.name, request.scope).await?)))
}

/// `DELETE /keys/{id}`: revokes the key (it stays listed, as revoked) and closes its event
/// channels; 204.
#[utoipa::path(
    delete, operation_id = "revoke_key", path = "/keys/{id}", tag = "keys", params(("id" = String, Path, description = "The key")), security(("api_key" = ["admin"]), ("login" = [])), responses((status = 204, description = "Revoked; its event channels close"), Failures)
)]
pub async fn revoke(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.access.revoke_key(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
