//! What every request handler and server function shares: the running server's parts,
//! behind one pointer.

use std::{sync::Arc, time::Duration};

use app::policy::DashboardPolicy;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio_util::sync::CancellationToken;

use crate::{
    access::Access,
    client_addr::TrustedProxies,
    connector::simulator::Simulator,
    db::Db,
    events::{Admission, EventBus, WsLimits},
    metrics::Metrics,
    status_board::StatusBoard,
    supervisor::Supervisor,
    webhooks::Webhooks,
};

/// Shared state of a running server: one pointer, so handing it to every request (and
/// every middleware) costs a single reference count, not one per field.
#[derive(Clone, Debug)]
pub struct AppState(pub(crate) Arc<Shared>);

impl AppState {
    /// Wraps the parts of a running server.
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] points to.
#[derive(Debug)]
pub struct Shared {
    /// Where the site's files are and what they are called.
    pub leptos: LeptosOptions,
    /// The database.
    pub db: Db,
    /// Live facts for `/health`.
    pub board: Arc<StatusBoard>,
    /// Every change, numbered.
    pub bus: EventBus,
    /// The sessions.
    pub supervisor: Supervisor,
    /// The simulated upstream, when the server runs with `--simulator` or `--demo`.
    pub simulator: Option<Simulator>,
    /// Logins and API keys.
    pub access: Arc<Access>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Browser origins besides this server's own that may call it.
    pub allowed_origins: Vec<String>,
    /// Host names this server answers to besides IP addresses and localhost.
    pub allowed_hosts: Vec<String>,
    /// Proxies whose forwarded client addresses are believed.
    pub trusted_proxies: TrustedProxies,
    /// Whether `/metrics` needs credentials.
    pub public_metrics: bool,
    /// The event channel's limits.
    pub ws: WsLimits,
    /// Open event channels per client address.
    pub ws_admission: Arc<Admission>,
    /// Fires when the server begins shutting down.
    pub shutdown: CancellationToken,
    /// The browser's schedules, rendered into every page.
    pub dashboard: DashboardPolicy,
    /// How long a request may take before the answer is a timeout (see
    /// `SupervisorPolicy::request_deadline`).
    pub request_deadline: Duration,
    /// The webhook endpoints.
    pub webhooks: Webhooks,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
