//! The REST routes over webhook endpoints (`/webhooks…`), for keys with the `admin` scope.

use app::model::webhooks::{
    CreatedWebhook, DeliveryView, NewWebhook, Redeliver, Redelivered, UpdateWebhook, WebhookView,
};
use axum::{Json, extract::State, http::StatusCode};

use super::error::{ApiFailure, ApiJson, ApiPath};
use super::openapi::Failures;
use crate::{state::AppState, webhooks::endpoints::WebhookError};

type ApiResult<T> = Result<T, ApiFailure>;

impl From<WebhookError> for ApiFailure {
    fn from(e: WebhookError) -> Self {
        ApiFailure(e.into())
    }
}

/// `GET /webhooks`: every endpoint, oldest first (never their secrets).
#[utoipa::path(
    get, operation_id = "list_webhooks", path = "/webhooks", tag = "webhooks", security(("api_key" = ["admin"]), ("login" = [])), responses((status = 200, description = "Every endpoint, oldest first", body = Vec<WebhookView>), Failures)
)]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<WebhookView>>> {
    Ok(Json(state.webhooks.list().await?))
}

/// `POST /webhooks` `{"url", "events", "sessions"}`: 201 with the endpoint and its secret,
/// which appears only here.
#[utoipa::path(
    post, operation_id = "create_webhook", path = "/webhooks", tag = "webhooks", request_body = NewWebhook, security(("api_key" = ["admin"]), ("login" = [])), responses((status = 201, description = "Created; the secret is only in this answer", body = CreatedWebhook), Failures)
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<NewWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    Ok((StatusCode::CREATED, Json(state.webhooks.create(&request).await?)))
}

/// `GET /webhooks/{id}`.
#[utoipa::path(
    get, operation_id = "get_webhook", path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = "The endpoint")), security(("api_key" = ["admin"]), ("login" = [])), responses((status = 200, description = "The endpoint", body = WebhookView), Failures)
)]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(state.webhooks.get(&id).await?))
}

/// `PATCH /webhooks/{id}` `{"url"?, "events"?, "sessions"?, "enabled"?}`.
#[utoipa::path(
    patch, operation_id = "update_webhook", path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = "The endpoint")), request_body = UpdateWebhook, security(("api_key" = ["admin"]), ("login" = [])), responses((status = 200, description = "The endpoint", body = WebhookView), Failures)
)]
pub async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateWebhook>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(state.webhooks.update(&id, &request).await?))
}

/// `DELETE /webhooks/{id}`: 204; its undelivered events are dropped with it.
#[utoipa::path(
    delete, operation_id = "delete_webhook", path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = "The endpoint")), security(("api_key" = ["admin"]), ("login" = [])), responses((status = 204, description = "Deleted, with its undelivered events"), Failures)
)]
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.webhooks.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /webhooks/{id}/deliveries`: the newest deliveries, newest first.
#[utoipa::path(
    get, operation_id = "list_deliveries", path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path, description = "The endpoint")), security(("api_key" = ["admin"]), ("login" = [])), responses((status = 200, description = "The newest deliveries, newest first", body = Vec<DeliveryView>), Failures)
)]
pub async fn deliveries(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    Ok(Json(state.webhooks.deliveries(&id).await?))
}

/// `POST /webhooks/{id}/redeliver` `{"event_id"}` or `{"failed_since"}`: how many
/// deliveries were queued again.
#[utoipa::path(
    post, operation_id = "redeliver", path = "/webhooks/{id}/redeliver", tag = "webhooks", params(("id" = String, Path, description = "The endpoint")), request_body = Redeliver, security(("api_key" = ["admin"]), ("login" = [])), responses((status = 200, description = "How many deliveries were queued again", body = Redelivered), Failures)
)]
pub async fn redeliver(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<Redeliver>,
) -> ApiResult<Json<Redelivered>> {
    Ok(Json(state.webhooks.redeliver(&id, &request).await?))
}
