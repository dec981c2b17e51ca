//! The HTTP surface: health for machines, the dashboard and its server functions.

mod health;

use std::sync::Arc;

use app::{App, functions::SharedBackend, shell};
use axum::{Router, routing::get};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, file_and_error_handler, generate_route_list};
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(state.clone());
    let options = state.leptos.clone();
    Router::new()
        .route("/health", get(health::light))
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            move || provide_context(backend.clone()),
            move || shell(options.clone()),
        )
        .fallback(file_and_error_handler::<AppState, _>(shell))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
