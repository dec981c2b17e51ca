//! The REST routes over webhook endpoints (`/webhooks…`), for keys with the `admin` scope.

use app::model::webhooks::{
    CreatedWebhook, DeliveryView, NewWebhook, Redeliver, Redelivered, UpdateWebhook, WebhookView,
};
use axum::{Json, extract::State, http::StatusCode};

use super::error::{ApiFailure, ApiJson, ApiPath};
use crate::{state::AppState, webhooks::endpoints::WebhookError};

type ApiResult<T> = Result<T, ApiFailure>;

impl From<WebhookError> for ApiFailure {
    fn from(e: WebhookError) -> Self {
        ApiFailure(e.into())
    }
}

/// `GET /webhooks`: every endpoint, oldest first (never their secrets).
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<WebhookView>>> {
    Ok(Json(state.webhooks.list().await?))
}

/// `POST /webhooks` `{"url", "events", "sessions"}`: 201 with the endpoint and its secret,
/// which appears only here.
pub async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<NewWebhook>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    Ok((StatusCode::CREATED, Json(state.webhooks.create(&request).await?)))
}

/// `GET /webhooks/{id}`.
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(state.webhooks.get(&id).await?))
}

/// `PATCH /webhooks/{id}` `{"url"?, "events"?, "sessions"?, "enabled"?}`.
pub async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateWebhook>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(state.webhooks.update(&id, &request).await?))
}

/// `DELETE /webhooks/{id}`: 204; its undelivered events are dropped with it.
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.webhooks.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /webhooks/{id}/deliveries`: the newest deliveries, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    Ok(Json(state.webhooks.deliveries(&id).await?))
}

/// `POST /webhooks/{id}/redeliver` `{"event_id"}` or `{"failed_since"}`: how many
/// deliveries were queued again.
pub async fn redeliver(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<Redeliver>,
) -> ApiResult<Json<Redelivered>> {
    Ok(Json(state.webhooks.redeliver(&id, &request).await?))
}
