//! Server functions over API keys (Settings page).

use leptos::prelude::*;

use crate::{
    error::AppError,
    model::{ApiKeyView, CreatedApiKey},
};

/// Every API key, newest first.
#[server]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, AppError> {
    super::authorized().await?.list_api_keys().await
}

/// Creates an API key; the answer is the only place its text appears.
#[server]
pub async fn create_api_key(name: String) -> Result<CreatedApiKey, AppError> {
    super::authorized().await?.create_api_key(name).await
}

/// Revokes an API key: refused from now on.
#[server]
pub async fn revoke_api_key(id: String) -> Result<(), AppError> {
    super::authorized().await?.revoke_api_key(id).await
}
