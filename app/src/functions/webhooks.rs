//! Server functions over webhook endpoints (Settings → Webhooks). They need what the REST
//! routes (`/webhooks…`) need: a dashboard login or a key with the `admin` scope. Requests
//! travel as JSON: they carry lists, which form encoding does not keep.

use leptos::{prelude::*, server_fn::codec::Json};

#[cfg(feature = "ssr")]
use crate::model::{Needs, Scope};
use crate::{
    error::AppError,
    model::webhooks::{
        CreatedWebhook, DeliveryView, NewWebhook, Redeliver, Redelivered, UpdateWebhook,
        WebhookView,
    },
};

/// Every endpoint, oldest first.
#[server]
pub async fn list_webhooks() -> Result<Vec<WebhookView>, AppError> {
    super::authorized(Needs::Key(Scope::Admin)).await?.list_webhooks().await.map_err(super::fail)
}

/// Adds an endpoint; the answer is the only place its signing secret appears.
#[server(input = Json)]
pub async fn create_webhook(request: NewWebhook) -> Result<CreatedWebhook, AppError> {
    super::authorized(Needs::Key(Scope::Admin))
        .await?
        .create_webhook(request)
        .await
        .map_err(super::fail)
}

/// Changes an endpoint: pausing or resuming it, among others.
#[server(input = Json)]
pub async fn change_webhook(id: String, request: UpdateWebhook) -> Result<WebhookView, AppError> {
    super::authorized(Needs::Key(Scope::Admin))
        .await?
        .update_webhook(id, request)
        .await
        .map_err(super::fail)
}

/// Removes an endpoint and its undelivered events.
#[server]
pub async fn delete_webhook(id: String) -> Result<(), AppError> {
    super::authorized(Needs::Key(Scope::Admin)).await?.delete_webhook(id).await.map_err(super::fail)
}

/// An endpoint's newest deliveries, newest first.
#[server]
pub async fn webhook_deliveries(id: String) -> Result<Vec<DeliveryView>, AppError> {
    super::authorized(Needs::Key(Scope::Admin))
        .await?
        .webhook_deliveries(id)
        .await
        .map_err(super::fail)
}

/// Queues one event, or every failed delivery since a time, to the endpoint again.
#[server(input = Json)]
pub async fn redeliver_webhook(id: String, request: Redeliver) -> Result<Redelivered, AppError> {
    super::authorized(Needs::Key(Scope::Admin))
        .await?
        .redeliver_webhook(id, request)
        .await
        .map_err(super::fail)
}
