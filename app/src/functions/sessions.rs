//! Server functions over sessions.

use leptos::prelude::*;

use crate::{error::AppError, model::SessionView};

/// Every session, newest first.
#[server]
pub async fn list_sessions() -> Result<Vec<SessionView>, AppError> {
    super::backend()?.list_sessions().await
}
