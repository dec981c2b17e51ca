//! Server functions over sessions: the dashboard's side of the operator actions.

use leptos::prelude::*;

// The request bodies are named through `api::`: `#[server]` names each function's own
// argument struct after it (`create_session` → `CreateSession`).
#[cfg(feature = "ssr")]
use crate::model::{Needs, Scope, api};
use crate::{
    error::AppError,
    model::{
        SessionView,
        api::{ActionResult, SentMessage},
        history::SessionHistory,
    },
};

/// Every session, newest first.
#[server]
pub async fn list_sessions() -> Result<Vec<SessionView>, AppError> {
    super::authorized(Needs::Key(Scope::Read)).await?.list_sessions().await.map_err(super::fail)
}

/// Creates a session and starts pairing it by QR.
#[server]
pub async fn create_session(
    name: String,
    connector: String,
    pair_phone: Option<String>,
) -> Result<SessionView, AppError> {
    super::authorized(Needs::Key(Scope::Operate))
        .await?
        .create_session(api::CreateSession { name, connector, pair_phone })
        .await
        .map_err(super::fail)
}

/// Draws a pairing QR code (the text the event channel announced) as SVG. The server draws
/// it so that the browser carries no QR encoder; whoever may read the event channel, where
/// the code is announced, may have it drawn.
#[server(endpoint = "sessions/qr")]
pub async fn draw_qr(payload: String) -> Result<String, AppError> {
    super::authorized(Needs::Key(Scope::Read)).await?;
    crate::components::qr_svg(&payload).map_err(|e| super::fail(AppError::InvalidRequest(e)))
}

/// Connects a session anew and reports the first outcome.
#[server]
pub async fn reconnect_session(id: String) -> Result<ActionResult, AppError> {
    super::authorized(Needs::Key(Scope::Operate))
        .await?
        .reconnect_session(id)
        .await
        .map_err(super::fail)
}

/// Starts a session and keeps it running.
#[server]
pub async fn start_session(id: String) -> Result<SessionView, AppError> {
    super::authorized(Needs::Key(Scope::Operate))
        .await?
        .start_session(id)
        .await
        .map_err(super::fail)
}

/// Stops a session and keeps it stopped.
#[server]
pub async fn stop_session(id: String) -> Result<SessionView, AppError> {
    super::authorized(Needs::Key(Scope::Operate)).await?.stop_session(id).await.map_err(super::fail)
}

/// Allows or forbids connecting the session without a person.
#[server]
pub async fn set_auto_connect(id: String, on: bool) -> Result<SessionView, AppError> {
    super::authorized(Needs::Key(Scope::Operate))
        .await?
        .set_auto_connect(id, on)
        .await
        .map_err(super::fail)
}

/// Marks a session as one that matters most, or no longer: while any is marked, the dot
/// and the health status speak for the marked ones.
#[server]
pub async fn set_primary(id: String, on: bool) -> Result<SessionView, AppError> {
    super::authorized(Needs::Key(Scope::Operate))
        .await?
        .set_primary(id, on)
        .await
        .map_err(super::fail)
}

/// Logs a session out and forgets its credentials.
#[server]
pub async fn logout_session(id: String) -> Result<SessionView, AppError> {
    super::authorized(Needs::Key(Scope::Operate))
        .await?
        .logout_session(id)
        .await
        .map_err(super::fail)
}

/// Deletes a session and its history.
#[server]
pub async fn delete_session(id: String) -> Result<(), AppError> {
    super::authorized(Needs::Key(Scope::Operate))
        .await?
        .delete_session(id)
        .await
        .map_err(super::fail)
}

/// Sends a text message, restoring the session first if needed.
#[server]
pub async fn send_message(id: String, to: String, text: String) -> Result<SentMessage, AppError> {
    super::authorized(Needs::Key(Scope::Operate))
        .await?
        .send_message(id, api::SendMessage { to, text })
        .await
        .map_err(super::fail)
}

/// The connectors new sessions may use, the preferred one first.
#[server]
pub async fn list_connectors() -> Result<Vec<String>, AppError> {
    Ok(super::authorized(Needs::Key(Scope::Read)).await?.connectors())
}

/// A session and its status changes over the last 24 h, for the detail page.
#[server]
pub async fn get_session_history(id: String) -> Result<SessionHistory, AppError> {
    super::authorized(Needs::Key(Scope::Read)).await?.session_history(id).await.map_err(super::fail)
}
