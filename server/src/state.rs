//! What every request handler and server function shares.

use std::sync::Arc;

use std::net::IpAddr;

use app::{
    error::AppError,
    functions::Backend,
    model::{
        ApiKeyView, AuthState, CreatedApiKey, DeepHealth, Needs, Scope, SessionView, SetupForm,
        api::{ActionResult, CreateSession, SendMessage, SentMessage},
        history::{HISTORY_LIMIT, HISTORY_WINDOW, SessionHistory, StatusChange},
        recovery::LoggedRecovery,
    },
    policy::{DashboardPolicy, Policies},
};
use axum::{
    extract::FromRef,
    http::{HeaderMap, request::Parts},
};
use leptos::config::LeptosOptions;
use tokio_util::sync::CancellationToken;

use crate::http::client::{ClientAddr, TrustedProxies, ViaHttps};
use crate::{
    access::{Access, Caller},
    board::StatusBoard,
    connector::simulator::Simulator,
    db::Db,
    events::EventBus,
    http::{
        deep_report, to_app_error,
        ws::{Admission, WsLimits},
    },
    metrics::Metrics,
    supervisor::Supervisor,
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
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The address a request came from (see [`ClientAddr`]).
fn client_of(request: &Parts) -> IpAddr {
    ClientAddr::of(&request.extensions)
}

/// A status or reason read back from a session's history.
fn stored<T>(id: &str, text: &str) -> Result<T, AppError>
where
    T: std::str::FromStr<Err = app::model::ParseError>,
{
    text.parse()
        .map_err(|e| AppError::Internal(format!("session {id}'s history is unreadable: {e}")))
}

#[async_trait::async_trait]
impl Backend for AppState {
    async fn authorize(&self, headers: &HeaderMap, needs: Needs) -> Result<(), AppError> {
        match self.access.authenticate(headers).await {
            Some(caller) if caller.may(needs) => Ok(()),
            Some(caller) => Err(AppError::Forbidden(caller.refusal(needs))),
            None => Err(AppError::Unauthorized("log in to the dashboard first".into())),
        }
    }

    async fn auth_state(&self, headers: &HeaderMap) -> AuthState {
        if !self.access.admin_exists() {
            return AuthState::NeedsSetup;
        }
        match self.access.authenticate(headers).await {
            Some(Caller::Admin { username, .. }) => AuthState::LoggedIn { username },
            Some(_) | None => AuthState::LoggedOut,
        }
    }

    async fn setup(&self, request: &Parts, setup: SetupForm<'_>) -> Result<String, AppError> {
        let https = ViaHttps::of(&request.extensions);
        self.access.setup(client_of(request), https, setup).await.map_err(AppError::from)
    }

    async fn login(
        &self,
        request: &Parts,
        username: &str,
        password: &str,
    ) -> Result<String, AppError> {
        let https = ViaHttps::of(&request.extensions);
        self.access
            .login(client_of(request), https, username, password)
            .await
            .map_err(AppError::from)
    }

    async fn logout(&self, request: &Parts) -> Result<String, AppError> {
        let https = ViaHttps::of(&request.extensions);
        self.access.logout(&request.headers, https).await.map_err(AppError::from)
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyView>, AppError> {
        self.access.list_keys().await.map_err(AppError::from)
    }

    async fn create_api_key(&self, name: String, scope: Scope) -> Result<CreatedApiKey, AppError> {
        self.access.create_key(&name, scope).await.map_err(AppError::from)
    }

    async fn revoke_api_key(&self, id: String) -> Result<(), AppError> {
        self.access.revoke_key(&id).await.map_err(AppError::from)
    }

    async fn deep_health(&self) -> Result<DeepHealth, AppError> {
        Ok(deep_report(self).await)
    }

    async fn change_password(
        &self,
        headers: &HeaderMap,
        current: &str,
        password: &str,
        confirm: &str,
    ) -> Result<(), AppError> {
        self.access
            .change_password(headers, current, password, confirm)
            .await
            .map_err(AppError::from)
    }

    fn policies(&self) -> Policies {
        Policies { supervisor: self.supervisor.policy().clone(), dashboard: self.dashboard }
    }

    async fn list_sessions(&self) -> Result<Vec<SessionView>, AppError> {
        Ok(self.supervisor.list())
    }

    fn connectors(&self) -> Vec<String> {
        self.supervisor.connector_names().into_iter().map(str::to_owned).collect()
    }

    async fn session_history(&self, id: String) -> Result<SessionHistory, AppError> {
        let session = self.supervisor.get(&id).map_err(to_app_error)?;
        // The history then holds every change up to the state just read.
        self.supervisor.flush_journal().await;
        let until = chrono::Utc::now();
        let since = until - HISTORY_WINDOW;
        let (before, rows) = crate::db::sessions::history(&self.db, &id, since, HISTORY_LIMIT)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, session = %id, "reading a session's history failed");
                AppError::DatabaseError(e.to_string())
            })?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            changes.push(StatusChange {
                at: row.at,
                from: stored(&id, &row.from_status)?,
                to: stored(&id, &row.to_status)?,
                reason: row.reason.as_deref().map(|r| stored(&id, r)).transpose()?,
                detail: row.detail,
            });
        }
        let status_at_start = before.map(|b| stored(&id, &b.to_status)).transpose()?;
        let database = |e: crate::db::DbError| {
            tracing::error!(error = %e, session = %id, "reading a session's recoveries failed");
            AppError::DatabaseError(e.to_string())
        };
        let recoveries = crate::db::recoveries::for_session(&self.db, &id, since)
            .await
            .map_err(database)?
            .into_iter()
            .map(|r| LoggedRecovery {
                at: r.at,
                trigger: r.trigger,
                action: r.action,
                outcome: r.outcome,
                error: r.error,
            })
            .collect();
        let budget = self.supervisor.policy().recovery_budget;
        let recovery_budget_left = self
            .supervisor
            .recovery_budgets()
            .await
            .map_err(database)?
            .get(&id)
            .copied()
            .unwrap_or(budget);
        Ok(SessionHistory {
            session,
            since,
            until,
            status_at_start,
            changes,
            recoveries,
            recovery_budget_left,
        })
    }

    async fn create_session(&self, request: CreateSession) -> Result<SessionView, AppError> {
        self.supervisor.create(&request).await.map_err(to_app_error)
    }

    async fn reconnect_session(&self, id: String) -> Result<ActionResult, AppError> {
        self.supervisor.reconnect(&id).await.map_err(to_app_error)
    }

    async fn start_session(&self, id: String) -> Result<SessionView, AppError> {
        self.supervisor.start_session(&id).await.map_err(to_app_error)
    }

    async fn stop_session(&self, id: String) -> Result<SessionView, AppError> {
        self.supervisor.stop_session(&id).await.map_err(to_app_error)
    }

    async fn set_auto_connect(&self, id: String, on: bool) -> Result<SessionView, AppError> {
        self.supervisor.set_auto_connect(&id, on).await.map_err(to_app_error)
    }

    async fn logout_session(&self, id: String) -> Result<SessionView, AppError> {
        self.supervisor.logout(&id).await.map_err(to_app_error)
    }

    async fn delete_session(&self, id: String) -> Result<(), AppError> {
        self.supervisor.delete(&id).await.map_err(to_app_error)
    }

    async fn send_message(
        &self,
        id: String,
        message: SendMessage,
    ) -> Result<SentMessage, AppError> {
        self.supervisor.send(&id, &message).await.map_err(to_app_error)
    }
}
