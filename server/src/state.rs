//! What every request handler and server function shares.

use std::sync::Arc;

use app::{
    error::AppError,
    functions::Backend,
    model::{
        SessionView,
        api::{ActionResult, CreateSession, SendMessage, SentMessage},
    },
};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::{
    board::StatusBoard, connector::simulator::Simulator, db::Db, events::EventBus,
    http::to_app_error, supervisor::Supervisor,
};

/// Shared state of a running server. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Where the site's files are and what they are called.
    pub leptos: LeptosOptions,
    /// The database.
    pub db: Db,
    /// Live facts for `/health`.
    pub board: Arc<StatusBoard>,
    /// Every change, numbered.
    pub bus: EventBus,
    /// The sessions.
    pub supervisor: Supervisor,
    /// The simulated upstream, when the server runs with `--simulator` or `--demo`.
    pub simulator: Option<Simulator>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

#[async_trait::async_trait]
impl Backend for AppState {
    async fn list_sessions(&self) -> Result<Vec<SessionView>, AppError> {
        Ok(self.supervisor.list())
    }

    async fn create_session(&self, request: CreateSession) -> Result<SessionView, AppError> {
        self.supervisor.create(&request).await.map_err(to_app_error)
    }

    async fn reconnect_session(&self, id: String) -> Result<ActionResult, AppError> {
        self.supervisor.reconnect(&id).await.map_err(to_app_error)
    }

    async fn start_session(&self, id: String) -> Result<SessionView, AppError> {
        self.supervisor.start_session(&id).await.map_err(to_app_error)
    }

    async fn stop_session(&self, id: String) -> Result<SessionView, AppError> {
        self.supervisor.stop_session(&id).await.map_err(to_app_error)
    }

    async fn set_auto_connect(&self, id: String, on: bool) -> Result<SessionView, AppError> {
        self.supervisor.set_auto_connect(&id, on).await.map_err(to_app_error)
    }

    async fn logout_session(&self, id: String) -> Result<SessionView, AppError> {
        self.supervisor.logout(&id).await.map_err(to_app_error)
    }

    async fn delete_session(&self, id: String) -> Result<(), AppError> {
        self.supervisor.delete(&id).await.map_err(to_app_error)
    }

    async fn send_message(
        &self,
        id: String,
        message: SendMessage,
    ) -> Result<SentMessage, AppError> {
        self.supervisor.send(&id, &message).await.map_err(to_app_error)
    }
}
