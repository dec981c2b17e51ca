//! Server functions over API keys (Settings page). They need a dashboard login: an API key,
//! whatever its scope, manages keys through the REST routes (`/keys`) only with `admin`.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::model::Needs;
use crate::{
    error::AppError,
    model::{ApiKeyView, CreatedApiKey, Scope},
};

/// Every API key, newest first.
#[server]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, AppError> {
    super::authorized(Needs::Login).await?.list_api_keys().await.map_err(super::fail)
}

/// Creates an API key; the answer is the only place its text appears.
#[server]
pub async fn create_api_key(name: String, scope: Scope) -> Result<CreatedApiKey, AppError> {
    super::authorized(Needs::Login).await?.create_api_key(name, scope).await.map_err(super::fail)
}

/// Revokes an API key: refused from now on.
#[server]
pub async fn revoke_api_key(id: String) -> Result<(), AppError> {
    super::authorized(Needs::Login).await?.revoke_api_key(id).await.map_err(super::fail)
}
