//! Managing webhook endpoints: what the REST routes and the dashboard call.

use app::{
    error::AppError,
    model::webhooks::{
        CreatedWebhook, DeliveryView, NewWebhook, Redeliver, Redelivered, UpdateWebhook,
        WebhookView,
    },
};

use super::{delivery::Outbox, signing};
use crate::db::{Db, DbError, webhooks};

/// The most deliveries one delivery-log page lists.
pub const DELIVERIES_SHOWN: u32 = 100;

/// Why managing endpoints failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The request is not valid.
    #[error("{0}")]
    Invalid(String),
    /// No endpoint has that id.
    #[error("no webhook endpoint has the id {0:?} (GET /webhooks lists them)")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<WebhookError> for AppError {
    fn from(e: WebhookError) -> Self {
        let message = e.to_string();
        match e {
            WebhookError::Invalid(_) => AppError::InvalidRequest(message),
            WebhookError::NotFound(_) => AppError::NoSuchWebhook(message),
            WebhookError::Database(_) => AppError::DatabaseError(message),
        }
    }
}

/// The endpoints, over the database. Cloning shares it.
#[derive(Clone, Debug)]
pub struct Webhooks {
    db: Db,
    outbox: Outbox,
}

impl Webhooks {
    /// Endpoints on `db`; redeliveries wake the deliverer through `outbox`.
    pub fn new(db: Db, outbox: Outbox) -> Webhooks {
        Webhooks { db, outbox }
    }

    /// Counts the delivery attempts recorded, changing with each.
    pub fn recorded(&self) -> tokio::sync::watch::Receiver<u64> {
        self.outbox.recorded()
    }

    /// Adds an endpoint with a new secret, shown only in this answer.
    pub async fn create(&self, request: &NewWebhook) -> Result<CreatedWebhook, WebhookError> {
        let request = request.validated().map_err(WebhookError::Invalid)?;
        let id = uuid::Uuid::new_v4().to_string();
        let secret = signing::new_secret();
        webhooks::create(&self.db, &id, &request, &secret).await?;
        tracing::info!(endpoint = %id, url = %request.url, "webhook endpoint added");
        Ok(CreatedWebhook { endpoint: self.get(&id).await?, secret })
    }

    /// Every endpoint, oldest first.
    pub async fn list(&self) -> Result<Vec<WebhookView>, WebhookError> {
        Ok(webhooks::list(&self.db, None).await?)
    }

    /// Endpoint `id`.
    pub async fn get(&self, id: &str) -> Result<WebhookView, WebhookError> {
        webhooks::list(&self.db, Some(id))
            .await?
            .pop()
            .ok_or_else(|| WebhookError::NotFound(id.to_owned()))
    }

    /// Changes endpoint `id` as `request` says.
    pub async fn update(
        &self,
        id: &str,
        request: &UpdateWebhook,
    ) -> Result<WebhookView, WebhookError> {
        let request = request.validated().map_err(WebhookError::Invalid)?;
        if !webhooks::update(&self.db, id, &request).await? {
            return Err(WebhookError::NotFound(id.to_owned()));
        }
        if request.enabled == Some(true) {
            self.outbox.wake();
        }
        self.get(id).await
    }

    /// Removes endpoint `id` and its deliveries.
    pub async fn delete(&self, id: &str) -> Result<(), WebhookError> {
        if !webhooks::delete(&self.db, id).await? {
            return Err(WebhookError::NotFound(id.to_owned()));
        }
        tracing::info!(endpoint = %id, "webhook endpoint removed");
        Ok(())
    }

    /// The newest deliveries to endpoint `id`.
    pub async fn deliveries(&self, id: &str) -> Result<Vec<DeliveryView>, WebhookError> {
        self.get(id).await?;
        Ok(webhooks::deliveries(&self.db, id, DELIVERIES_SHOWN).await?)
    }

    /// Queues deliveries to endpoint `id` again.
    pub async fn redeliver(
        &self,
        id: &str,
        request: &Redeliver,
    ) -> Result<Redelivered, WebhookError> {
        self.get(id).await?;
        let queued = match request {
            Redeliver::EventId(event) => {
                webhooks::redeliver(&self.db, id, Some(event), None).await?
            }
            Redeliver::FailedSince(since) => {
                webhooks::redeliver(&self.db, id, None, Some(*since)).await?
            }
        };
        if queued > 0 {
            self.outbox.wake();
        }
        Ok(Redelivered { queued })
    }
}
