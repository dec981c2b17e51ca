//! The port through which server functions reach the running server.

use std::sync::Arc;

use leptos::prelude::use_context;

use crate::{
    error::AppError,
    model::{
        SessionView,
        api::{ActionResult, CreateSession, SendMessage, SentMessage},
    },
};

/// What the dashboard's server functions need from the server. The server implements it
/// over its supervisor and provides a [`SharedBackend`] as Leptos context.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Every session, newest first.
    async fn list_sessions(&self) -> Result<Vec<SessionView>, AppError>;
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
    /// Logs a session out and forgets its credentials.
    async fn logout_session(&self, id: String) -> Result<SessionView, AppError>;
    /// Deletes a session.
    async fn delete_session(&self, id: String) -> Result<(), AppError>;
    /// Sends a text message, restoring the session first if needed.
    async fn send_message(&self, id: String, message: SendMessage)
    -> Result<SentMessage, AppError>;
}

/// The form in which the server provides its [`Backend`].
pub type SharedBackend = Arc<dyn Backend>;

/// The backend of the request being served.
pub fn backend() -> Result<SharedBackend, AppError> {
    use_context::<SharedBackend>()
        .ok_or_else(|| AppError::Internal("the server did not provide its backend".into()))
}
