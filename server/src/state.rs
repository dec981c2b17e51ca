//! What every request handler and server function shares.

use std::sync::Arc;

use app::{error::AppError, functions::Backend, model::SessionView};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::{
    board::StatusBoard,
    db::{self, Db},
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
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

#[async_trait::async_trait]
impl Backend for AppState {
    async fn list_sessions(&self) -> Result<Vec<SessionView>, AppError> {
        db::sessions::list(&self.db).await.map_err(|e| {
            tracing::error!(error = %e, "listing sessions failed");
            AppError::Database(e.to_string())
        })
    }
}
