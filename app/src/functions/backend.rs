//! The port through which server functions reach the running server.

use std::sync::Arc;

use http::{HeaderMap, request::Parts};
use leptos::prelude::use_context;

use crate::{
    error::AppError,
    model::{
        ApiKeyView, AuthState, CreatedApiKey, DeepHealth, Health, Needs, Scope, SessionView,
        SetupForm,
        api::{ActionResult, CreateSession, SendMessage, SentMessage},
        history::SessionHistory,
        instances::InstanceView,
        webhooks::{
            CreatedWebhook, DeliveryView, NewWebhook, Redeliver, Redelivered, UpdateWebhook,
            WebhookView,
        },
    },
    policy::Policies,
};

/// What the dashboard's server functions need from the server. The server implements it
/// over its supervisor and access control, and provides a [`SharedBackend`] as context.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// `Ok` when the request carries credentials that may do what `needs` says: 401 when
    /// it carries none that are valid, 403 when its key's scope is too narrow.
    async fn authorize(&self, headers: &HeaderMap, needs: Needs) -> Result<(), AppError>;
    /// Whether the visitor must set up, log in, or is logged in.
    async fn auth_state(&self, headers: &HeaderMap) -> AuthState;
    /// Creates the first admin; returns the `Set-Cookie` of its login.
    async fn setup(&self, request: &Parts, form: SetupForm<'_>) -> Result<String, AppError>;
    /// Checks a login; returns the `Set-Cookie` of the new session.
    async fn login(
        &self,
        request: &Parts,
        username: &str,
        password: &str,
    ) -> Result<String, AppError>;
    /// Ends the request's login; returns the `Set-Cookie` that clears it.
    async fn logout(&self, request: &Parts) -> Result<String, AppError>;
    /// Changes the logged-in admin's password; other logins of the account end.
    async fn change_password(
        &self,
        headers: &HeaderMap,
        current: &str,
        password: &str,
        confirm: &str,
    ) -> Result<(), AppError>;

    /// Every API key, newest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyView>, AppError>;
    /// Creates an API key (its text is in the answer only).
    async fn create_api_key(&self, name: String, scope: Scope) -> Result<CreatedApiKey, AppError>;
    /// Revokes an API key.
    async fn revoke_api_key(&self, id: String) -> Result<(), AppError>;

    /// The light health report, from memory (as `GET /health` answers).
    fn light_health(&self) -> Health;
    /// The deep health report.
    async fn deep_health(&self) -> Result<DeepHealth, AppError>;
    /// The policies the server runs with.
    fn policies(&self) -> Policies;

    /// Every session, newest first.
    async fn list_sessions(&self) -> Result<Vec<SessionView>, AppError>;
    /// The connectors new sessions may use, the preferred one first.
    fn connectors(&self) -> Vec<String>;
    /// A session and its status changes over the last [`HISTORY_WINDOW`].
    ///
    /// [`HISTORY_WINDOW`]: crate::model::history::HISTORY_WINDOW
    async fn session_history(&self, id: String) -> Result<SessionHistory, AppError>;
    /// Creates a session and starts pairing it.
    async fn create_session(&self, request: CreateSession) -> Result<SessionView, AppError>;
    /// Connects anew and reports the first outcome.
    async fn reconnect_session(&self, id: String) -> Result<ActionResult, AppError>;
    /// Starts a session and keeps it running.
    async fn start_session(&self, id: String) -> Result<SessionView, AppError>;
    /// Stops a session and keeps it stopped.
    async fn stop_session(&self, id: String) -> Result<SessionView, AppError>;
    /// Allows or forbids connecting without a person.
    async fn set_auto_connect(&self, id: String, on: bool) -> Result<SessionView, AppError>;
    /// Marks a session as one that matters most (or no longer).
    async fn set_primary(&self, id: String, on: bool) -> Result<SessionView, AppError>;
    /// Logs a session out and forgets its credentials.
    async fn logout_session(&self, id: String) -> Result<SessionView, AppError>;
    /// Deletes a session.
    async fn delete_session(&self, id: String) -> Result<(), AppError>;
    /// Sends a text message, restoring the session first if needed.
    async fn send_message(&self, id: String, message: SendMessage)
    -> Result<SentMessage, AppError>;

    /// The live instances sharing the database, with their load.
    async fn list_instances(&self) -> Result<Vec<InstanceView>, AppError>;
    /// Drains the instance called `name` (or puts it back in service).
    async fn set_draining(&self, name: String, draining: bool) -> Result<(), AppError>;
    /// Asks for a session to move to the instance called `instance`.
    async fn move_session(&self, id: String, instance: String) -> Result<(), AppError>;

    /// Every webhook endpoint, oldest first.
    async fn list_webhooks(&self) -> Result<Vec<WebhookView>, AppError>;
    /// Adds a webhook endpoint; the answer is the only place its secret appears.
    async fn create_webhook(&self, request: NewWebhook) -> Result<CreatedWebhook, AppError>;
    /// Changes a webhook endpoint (pausing and resuming it too).
    async fn update_webhook(
        &self,
        id: String,
        request: UpdateWebhook,
    ) -> Result<WebhookView, AppError>;
    /// Removes a webhook endpoint and its undelivered events.
    async fn delete_webhook(&self, id: String) -> Result<(), AppError>;
    /// An endpoint's newest deliveries, newest first.
    async fn webhook_deliveries(&self, id: String) -> Result<Vec<DeliveryView>, AppError>;
    /// Queues deliveries to an endpoint again.
    async fn redeliver_webhook(
        &self,
        id: String,
        request: Redeliver,
    ) -> Result<Redelivered, AppError>;
}

/// The form in which the server provides its [`Backend`].
pub type SharedBackend = Arc<dyn Backend>;

/// The backend of the request being served, whoever is asking.
pub fn backend() -> Result<SharedBackend, AppError> {
    use_context::<SharedBackend>()
        .ok_or_else(|| AppError::Internal("the server did not provide its backend".into()))
}

/// The request being served.
pub fn request() -> Result<Parts, AppError> {
    use_context::<Parts>()
        .ok_or_else(|| AppError::Internal("the request is not in the server's context".into()))
}

/// The backend, for a request whose credentials may do what `needs` says: every server
/// function but login and setup goes through here.
pub async fn authorized(needs: Needs) -> Result<SharedBackend, AppError> {
    let backend = backend()?;
    backend.authorize(&request()?.headers, needs).await.map_err(fail)?;
    Ok(backend)
}

/// Gives the response the error's HTTP status (server functions answer 500 otherwise).
pub fn fail(error: AppError) -> AppError {
    if let (Some(response), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(error.http_status()),
    ) {
        response.set_status(status);
    }
    error
}
