//! The deep health report for the dashboard.

use leptos::prelude::*;

use crate::{error::AppError, model::DeepHealth, policy::Policies};

/// The deep report, as `GET /health/deep` gives it to machines.
#[server]
pub async fn get_deep_health() -> Result<DeepHealth, AppError> {
    super::authorized().await?.deep_health().await
}

/// The policies the server runs with, for the Settings page.
#[server]
pub async fn get_policies() -> Result<Policies, AppError> {
    Ok(super::authorized().await?.policies())
}
