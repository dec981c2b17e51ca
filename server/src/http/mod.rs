//! The HTTP surface: health and REST routes for machines, the dashboard and its server
//! functions for people.

mod dev;
mod error;
mod health;
mod sessions;

use std::sync::Arc;

use app::{App, functions::SharedBackend, shell};
use axum::{
    Router,
    extract::DefaultBodyLimit,
    response::Redirect,
    routing::{get, post},
};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, file_and_error_handler, generate_route_list};
use tower_http::trace::TraceLayer;

pub use error::{ApiFailure, to_app_error};

use crate::state::AppState;

/// The largest REST request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(state.clone());
    let options = state.leptos.clone();
    let mut machines = Router::new()
        .route("/health", get(health::light))
        .route("/sessions", get(sessions::list).post(sessions::create))
        .route(
            "/sessions/{id}",
            get(sessions::get).patch(sessions::update).delete(sessions::delete),
        )
        .route("/sessions/{id}/reconnect", post(sessions::reconnect))
        .route("/sessions/{id}/start", post(sessions::start))
        .route("/sessions/{id}/stop", post(sessions::stop))
        .route("/sessions/{id}/logout", post(sessions::logout))
        .route("/sessions/{id}/messages", post(sessions::send));
    if state.simulator.is_some() {
        machines = machines.route("/dev/simulator/sessions/{id}/fault", post(dev::fault));
    }
    machines
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .route("/", get(|| async { Redirect::temporary("/dashboard") }))
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
