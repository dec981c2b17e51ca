//! The deep health report for the dashboard.

use leptos::prelude::*;

use crate::{error::AppError, model::DeepHealth};

/// The deep report, as `GET /health/deep` gives it to machines.
#[server]
pub async fn get_deep_health() -> Result<DeepHealth, AppError> {
    super::authorized().await?.deep_health().await
}
