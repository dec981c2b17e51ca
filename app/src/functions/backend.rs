//! The port through which server functions reach the running server.

use std::sync::Arc;

use leptos::prelude::use_context;

use crate::{error::AppError, model::SessionView};

/// What the dashboard's server functions need from the server. The server implements it
/// over its database and supervisor and provides a [`SharedBackend`] as Leptos context.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Every session, newest first.
    async fn list_sessions(&self) -> Result<Vec<SessionView>, AppError>;
}

/// The form in which the server provides its [`Backend`].
pub type SharedBackend = Arc<dyn Backend>;

/// The backend of the request being served.
pub fn backend() -> Result<SharedBackend, AppError> {
    use_context::<SharedBackend>()
        .ok_or_else(|| AppError::Internal("the server did not provide its backend".into()))
}
