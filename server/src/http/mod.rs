//! The HTTP surface: health, metrics and REST routes for machines, the dashboard and its
//! server functions for people, and the checks and headers every response gets.

mod auth;
mod cache;
mod dev;
mod error;
mod guard;
mod health;
mod instances;
mod keys;
mod metrics;
pub mod openapi;
mod reference;
mod security;
pub mod serve;
mod sessions;
mod webhooks;
pub mod ws;

use std::sync::Arc;

use app::{App, functions::SharedBackend, model::Scope, shell};
use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, Request, State},
    http::{StatusCode, Uri, header},
    middleware::from_fn_with_state,
    response::{IntoResponse, Redirect},
    routing::{delete, get, patch, post},
};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, file_and_error_handler, generate_route_list};
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;

pub use auth::origin_allowed;
pub use error::ApiFailure;

use crate::state::AppState;

/// The largest REST request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const HEALTH: &str = "/health";
const LIVEZ: &str = "/livez";
const READYZ: &str = "/readyz";

/// Whether `route` is answered from memory at once (health for machines), so it needs no
/// guard against taking too long and pays for none.
fn answered_at_once(route: Option<&str>) -> bool {
    matches!(route, Some(HEALTH | LIVEZ | READYZ))
}

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(state.clone());
    let options = state.leptos.clone();
    let dashboard = state.dashboard.clone();
    let pages = file_and_error_handler::<AppState, _>(shell);
    let files = leptos_axum::site_pkg_dir_service(&options);

    // Each route's scope is where the route is: what only looks needs `read`, what acts on
    // sessions `operate`, what manages keys and webhooks `admin` (a login may do all).
    let mut reading = Router::new()
        .route("/health/deep", get(health::deep))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}", get(sessions::get))
        .route("/instances", get(instances::list))
        .route("/ws", get(ws::upgrade));
    let mut operating = Router::new()
        .route("/sessions", post(sessions::create))
        .route("/sessions/{id}", patch(sessions::update).delete(sessions::delete))
        .route("/sessions/{id}/reconnect", post(sessions::reconnect))
        .route("/sessions/{id}/start", post(sessions::start))
        .route("/sessions/{id}/stop", post(sessions::stop))
        .route("/sessions/{id}/logout", post(sessions::logout))
        .route("/sessions/{id}/messages", post(sessions::send))
        .route("/sessions/{id}/move", post(instances::move_session))
        .route("/instances/{name}/drain", post(instances::drain));
    let administering = Router::new()
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", delete(keys::revoke))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::get).patch(webhooks::update).delete(webhooks::delete),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/redeliver", post(webhooks::redeliver));
    let mut public = Router::new()
        .route(HEALTH, get(health::light))
        .route(LIVEZ, get(health::livez))
        .route(READYZ, get(health::readyz))
        .route("/openapi.json", get(openapi::document))
        .route("/api", get(reference::page))
        .route(reference::STYLESHEET, get(reference::stylesheet));
    if state.simulator.is_some() {
        operating = operating.route("/dev/simulator/sessions/{id}/fault", post(dev::fault));
    }
    if state.public_metrics {
        public = public.route("/metrics", get(metrics::metrics));
    } else {
        reading = reading.route("/metrics", get(metrics::metrics));
    }
    let gate = |scope| from_fn_with_state(auth::Gate::new(&state, scope), auth::require_caller);
    // The body limit only where bodies are read: `/health` pays for no layer it needs not.
    let protected = reading
        .route_layer(gate(Scope::Read))
        .merge(operating.route_layer(gate(Scope::Operate)))
        .merge(administering.route_layer(gate(Scope::Admin)))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));

    let router = public
        .merge(protected)
        .route("/", get(|| async { Redirect::temporary("/dashboard") }))
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            move || {
                provide_context(backend.clone());
                provide_context(dashboard.clone());
                security::page_policy();
            },
            move || shell(options.clone()),
        )
        // After every route: it applies to the routes registered before it.
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(move |uri: Uri, state: State<AppState>, request: Request| {
            let (pages, files) = (pages.clone(), files.clone());
            async move {
                // Under /dashboard: static files, else the dashboard's own "not found" page
                // for people. Elsewhere only a static file is looked for, and a path that
                // does not exist gets the JSON error, without rendering a page to discard.
                if uri.path().starts_with("/dashboard") {
                    return pages(uri, state, request).await;
                }
                // The file is asked for as a plain GET that keeps only the accepted
                // encodings and the browser's copy's date (to answer "not modified").
                let mut probe = Request::builder().uri(uri.clone());
                for name in [header::ACCEPT_ENCODING, header::IF_MODIFIED_SINCE] {
                    if let Some(value) = request.headers().get(&name) {
                        probe = probe.header(name, value);
                    }
                }
                let probe = probe.body(Body::empty()).expect("a URI from a request is valid");
                match files.oneshot(probe).await {
                    Ok(mut found)
                        if matches!(found.status(), StatusCode::OK | StatusCode::NOT_MODIFIED) =>
                    {
                        found
                            .headers_mut()
                            .insert(header::CACHE_CONTROL, cache::for_file(uri.path()));
                        found.into_response()
                    }
                    _ => error::no_such_route(&uri).into_response(),
                }
            }
        })
        // Router layers wrap each route, so the route template is known to the timer.
        .layer(from_fn_with_state(state.clone(), guard::around));
    // CORS only when other origins are allowed; by default the browser's same-origin rule
    // stands and no CORS headers are sent at all.
    let router = match security::cors(&state.allowed_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    // Brotli or gzip, as the client accepts, for what is made per request (pages, JSON,
    // metrics). The site's files are compressed once at build time (`--precompress`) and
    // served as they are: a response that already has a Content-Encoding passes untouched.
    router.layer(CompressionLayer::new().br(true).gzip(true)).with_state(state)
}
