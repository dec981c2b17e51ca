//! The deep health report for the dashboard.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::model::{Needs, Scope};
use crate::{error::AppError, model::DeepHealth, policy::Policies};

/// The deep report, as `GET /health/deep` gives it to machines.
#[server]
pub async fn get_deep_health() -> Result<DeepHealth, AppError> {
    super::authorized(Needs::Key(Scope::Read)).await?.deep_health().await.map_err(super::fail)
}

/// The policies the server runs with, for the Settings page.
#[server]
pub async fn get_policies() -> Result<Policies, AppError> {
    Ok(super::authorized(Needs::Key(Scope::Read)).await?.policies())
}
