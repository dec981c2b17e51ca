//! The dashboard's server functions, answered by this server: the app's [`Backend`] port
//! over the running server's parts.

use std::net::IpAddr;

use app::{
    error::AppError,
    functions::Backend,
    model::{
        ApiKeyView, AuthState, CreatedApiKey, DeepHealth, Health, Needs, Scope, SessionView,
        SetupForm,
        api::{ActionResult, CreateSession, SendMessage, SentMessage},
        history::SessionHistory,
        instances::InstanceView,
        webhooks::{
            CreatedWebhook, DeliveryView, NewWebhook, Redeliver, Redelivered, UpdateWebhook,
            WebhookView,
        },
    },
    policy::Policies,
};
use axum::http::{HeaderMap, request::Parts};

use crate::{
    access::Caller,
    client_addr::{ClientAddr, ViaHttps},
    state::AppState,
};

/// The address a request came from (see [`ClientAddr`]).
fn client_of(request: &Parts) -> IpAddr {
    ClientAddr::of(&request.extensions)
}

#[async_trait::async_trait]
impl Backend for AppState {
    async fn authorize(&self, headers: &HeaderMap, needs: Needs) -> Result<(), AppError> {
        match self.access.authenticate(headers).await {
            Some(caller) => caller.permit(needs),
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

    fn light_health(&self) -> Health {
        self.board.health()
    }

    async fn deep_health(&self) -> Result<DeepHealth, AppError> {
        Ok(self.supervisor.deep_report().await)
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
        Policies { supervisor: self.supervisor.policy().clone(), dashboard: self.dashboard.clone() }
    }

    async fn list_sessions(&self) -> Result<Vec<SessionView>, AppError> {
        Ok(self.supervisor.list())
    }

    fn connectors(&self) -> Vec<String> {
        self.supervisor.connector_names().into_iter().map(str::to_owned).collect()
    }

    async fn session_history(&self, id: String) -> Result<SessionHistory, AppError> {
        Ok(self.supervisor.history(&id).await?)
    }

    async fn create_session(&self, request: CreateSession) -> Result<SessionView, AppError> {
        self.supervisor.create(&request).await.map_err(AppError::from)
    }

    async fn reconnect_session(&self, id: String) -> Result<ActionResult, AppError> {
        self.supervisor.reconnect(&id).await.map_err(AppError::from)
    }

    async fn start_session(&self, id: String) -> Result<SessionView, AppError> {
        self.supervisor.start_session(&id).await.map_err(AppError::from)
    }

    async fn stop_session(&self, id: String) -> Result<SessionView, AppError> {
        self.supervisor.stop_session(&id).await.map_err(AppError::from)
    }

    async fn set_auto_connect(&self, id: String, on: bool) -> Result<SessionView, AppError> {
        self.supervisor.set_auto_connect(&id, on).await.map_err(AppError::from)
    }

    async fn set_primary(&self, id: String, on: bool) -> Result<SessionView, AppError> {
        self.supervisor.set_primary(&id, on).await.map_err(AppError::from)
    }

    async fn logout_session(&self, id: String) -> Result<SessionView, AppError> {
        self.supervisor.logout(&id).await.map_err(AppError::from)
    }

    async fn delete_session(&self, id: String) -> Result<(), AppError> {
        self.supervisor.delete(&id).await.map_err(AppError::from)
    }

    async fn send_message(
        &self,
        id: String,
        message: SendMessage,
    ) -> Result<SentMessage, AppError> {
        self.supervisor.send(&id, &message).await.map_err(AppError::from)
    }

    async fn list_instances(&self) -> Result<Vec<InstanceView>, AppError> {
        self.supervisor.instances().await.map_err(AppError::from)
    }

    async fn set_draining(&self, name: String, draining: bool) -> Result<(), AppError> {
        self.supervisor.set_draining(&name, draining).await.map_err(AppError::from)
    }

    async fn move_session(&self, id: String, instance: String) -> Result<(), AppError> {
        self.supervisor.move_session(&id, &instance).await.map_err(AppError::from)
    }

    async fn list_webhooks(&self) -> Result<Vec<WebhookView>, AppError> {
        self.webhooks.list().await.map_err(AppError::from)
    }

    async fn create_webhook(&self, request: NewWebhook) -> Result<CreatedWebhook, AppError> {
        self.webhooks.create(&request).await.map_err(AppError::from)
    }

    async fn update_webhook(
        &self,
        id: String,
        request: UpdateWebhook,
    ) -> Result<WebhookView, AppError> {
        self.webhooks.update(&id, &request).await.map_err(AppError::from)
    }

    async fn delete_webhook(&self, id: String) -> Result<(), AppError> {
        self.webhooks.delete(&id).await.map_err(AppError::from)
    }

    async fn webhook_deliveries(&self, id: String) -> Result<Vec<DeliveryView>, AppError> {
        self.webhooks.deliveries(&id).await.map_err(AppError::from)
    }

    async fn redeliver_webhook(
        &self,
        id: String,
        request: Redeliver,
    ) -> Result<Redelivered, AppError> {
        self.webhooks.redeliver(&id, &request).await.map_err(AppError::from)
    }
}
