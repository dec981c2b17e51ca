//! Access control: the dashboard's admin login and API keys for machines.
//!
//! Machines send `x-api-key` (or `Authorization: Bearer`); people log in to the dashboard
//! and carry an HttpOnly, SameSite=Strict session cookie. Either way the answer to a
//! request without valid credentials is the same 401, whatever was missing or wrong.

pub mod limiter;
pub mod revocations;
pub mod secrets;
pub mod throttle;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use app::model::{
    ApiKeyView, CreatedApiKey, Needs, Scope, SetupForm, check_new_password, check_username,
};
use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};
use thiserror::Error;

use self::{
    limiter::LoginLimiter,
    revocations::{Credential, Revocations, Watch},
    throttle::LoginThrottle,
};
use crate::{
    client_addr::limit_key,
    db::{
        Db, DbError,
        accounts::{self, User},
        api_keys::{self, StoredKey},
    },
};

/// The name of the dashboard's session cookie.
pub const COOKIE: &str = "lifeline_session";
/// Its name when cookies are `Secure`: browsers accept a `__Host-` cookie only from this
/// very host, over HTTPS, for every path, so no sibling subdomain can plant or shadow it.
pub const SECURE_COOKIE: &str = "__Host-lifeline_session";
/// The shortest `LIFELINE_API_KEY` the server accepts.
pub const MIN_API_KEY_CHARS: usize = 20;
/// Wrong API keys (or logins) an address may present per [`KEY_WINDOW`].
pub const KEY_FAILURES: usize = 20;
/// The window over which wrong keys count.
pub const KEY_WINDOW: Duration = Duration::from_secs(60);
/// How long a login lasts.
pub const LOGIN_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::days(7);
/// Login attempts one address may make within [`LOGIN_WINDOW`], across every account
/// (the per-account delays are in [`throttle`]).
pub const LOGIN_ATTEMPTS: usize = 30;
/// The window over which an address's login attempts count.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The account name setup attempts count under (setup codes are guessed as passwords are).
const SETUP: &str = "\u{0}setup";
/// Password hashes computed at once, at most. Each argon2 computation holds about 19 MiB:
/// unbounded, a burst of logins could take the server's memory (and the sessions with it).
pub const PASSWORD_CHECKS_AT_ONCE: usize = 4;
/// A key's last use is stored at most this often.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A logged-in dashboard user.
    Admin {
        /// Their name.
        username: String,
        /// The SHA-256 of the login's token (which login it is).
        login: String,
    },
    /// A machine with the key given by `LIFELINE_API_KEY`: the deployment's own key, with
    /// the `admin` scope.
    ConfiguredKey,
    /// A machine with a key created in Settings.
    ApiKey {
        /// Which key.
        id: String,
        /// What it may do.
        scope: Scope,
    },
}

impl Caller {
    /// What this caller may do, as a key scope (a login may do everything).
    pub fn scope(&self) -> Scope {
        match self {
            Caller::Admin { .. } | Caller::ConfiguredKey => Scope::Admin,
            Caller::ApiKey { scope, .. } => *scope,
        }
    }

    /// Whether this caller may do what `needs` says.
    pub fn may(&self, needs: Needs) -> bool {
        match needs {
            Needs::Key(scope) => self.scope() >= scope,
            Needs::Login => matches!(self, Caller::Admin { .. }),
        }
    }

    /// `Ok` when this caller may do what `needs` says, else the 403 it gets.
    pub fn permit(&self, needs: Needs) -> Result<(), app::error::AppError> {
        if self.may(needs) {
            Ok(())
        } else {
            Err(app::error::AppError::Forbidden(self.refusal(needs)))
        }
    }

    /// Why this caller may not do what `needs` says, for the 403 it gets.
    fn refusal(&self, needs: Needs) -> String {
        match needs {
            Needs::Login => "only a dashboard login may do this, not an API key".to_owned(),
            Needs::Key(scope) => format!(
                "this API key has the {} scope; this needs {scope} (create a key with that \
                 scope in Settings)",
                self.scope()
            ),
        }
    }
}

/// Why an access request was refused.
#[derive(Debug, Error)]
pub enum AccessError {
    /// Wrong username or password (never says which).
    #[error("wrong username or password")]
    WrongCredentials,
    /// Too many failed logins from this address (for this account).
    #[error("too many failed logins; try again in {}", wait_text(*.0))]
    TooManyAttempts(Duration),
    /// Setup was asked for, but an admin exists.
    #[error("an admin account already exists; log in instead")]
    AlreadySetUp,
    /// The setup code does not match the one in the server's log.
    #[error("the setup code is wrong: use the one the server printed in its log at start")]
    WrongSetupCode,
    /// The input does not fit.
    #[error("{0}")]
    Invalid(String),
    /// No such live key.
    #[error("no live API key with id {0:?}")]
    NoSuchKey(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbError),
    /// Hashing failed.
    #[error("could not hash the password: {0}")]
    Hashing(String),
    /// Every password check slot is taken.
    #[error("the server is busy checking passwords; try again in a moment")]
    Busy,
}

impl From<AccessError> for app::error::AppError {
    fn from(e: AccessError) -> Self {
        use app::error::AppError;
        let message = e.to_string();
        match e {
            AccessError::WrongCredentials => AppError::Unauthorized(message),
            AccessError::TooManyAttempts(_) => AppError::TooManyAttempts(message),
            AccessError::AlreadySetUp | AccessError::WrongSetupCode => AppError::Forbidden(message),
            AccessError::Invalid(_) => AppError::InvalidRequest(message),
            AccessError::NoSuchKey(_) => AppError::NoSuchKey(message),
            AccessError::Database(e) => {
                tracing::error!(error = %e, "database error behind an access request");
                AppError::DatabaseError(message)
            }
            AccessError::Hashing(_) => AppError::Internal(message),
            AccessError::Busy => AppError::Busy(message),
        }
    }
}

#[derive(Clone, Debug)]
struct KnownKey {
    id: String,
    scope: Scope,
    last_touch: Option<DateTime<Utc>>,
}

/// The access service. One per server.
#[derive(Debug)]
pub struct Access {
    db: Db,
    configured_key: Option<String>,
    keys: RwLock<HashMap<String, KnownKey>>,
    admin_exists: AtomicBool,
    limiter: Mutex<LoginLimiter>,
    /// Growing delays per account and address.
    throttle: Mutex<LoginThrottle>,
    /// Wrong credentials presented per address (keys are guessed as passwords are).
    wrong_keys: Mutex<LoginLimiter>,
    /// Bounds the password hashes computed at once (see [`PASSWORD_CHECKS_AT_ONCE`]).
    hashing: Arc<tokio::sync::Semaphore>,
    /// What the first admin must enter to claim the server; none once an admin exists.
    setup_code: Mutex<Option<String>>,
    secure_cookies: bool,
    /// What event channels each credential holds open.
    revocations: Arc<Revocations>,
}

impl Access {
    /// Loads the live API keys, and creates the admin from `admin_password` when none
    /// exists yet (automation's way past the setup page).
    pub async fn load(
        db: Db,
        configured_key: Option<String>,
        admin_password: Option<String>,
        secure_cookies: bool,
    ) -> Result<Access, AccessError> {
        let keys = api_keys::all(&db)
            .await?
            .into_iter()
            .filter(|k| k.view.revoked_at.is_none())
            .map(|k| {
                let known = KnownKey {
                    id: k.view.id,
                    scope: k.view.scope,
                    last_touch: k.view.last_used_at,
                };
                (k.key_hash, known)
            })
            .collect();
        let access = Access {
            admin_exists: AtomicBool::new(accounts::count_users(&db).await? > 0),
            db,
            configured_key: configured_key.filter(|k| !k.is_empty()),
            keys: RwLock::new(keys),
            limiter: Mutex::new(LoginLimiter::new(LOGIN_ATTEMPTS, LOGIN_WINDOW)),
            throttle: Mutex::new(LoginThrottle::default()),
            wrong_keys: Mutex::new(LoginLimiter::new(KEY_FAILURES, KEY_WINDOW)),
            hashing: Arc::new(tokio::sync::Semaphore::new(PASSWORD_CHECKS_AT_ONCE)),
            setup_code: Mutex::new(None),
            secure_cookies,
            revocations: Arc::default(),
        };
        if let Some(password) = admin_password.filter(|p| !p.is_empty()) {
            if access.admin_exists() {
                tracing::info!("an admin account exists; LIFELINE_ADMIN_PASSWORD is not used");
            } else {
                access.create_admin("admin", &password).await?;
                tracing::info!("created the admin account \"admin\" from LIFELINE_ADMIN_PASSWORD");
            }
        }
        Ok(access)
    }

    /// Whether an admin account exists (else the dashboard shows its setup page).
    pub fn admin_exists(&self) -> bool {
        self.admin_exists.load(Ordering::Relaxed)
    }

    /// Who sent these headers: an API key first, then the session cookie.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Option<Caller> {
        if let Some(key) = presented_key(headers) {
            return self.check_key(key).await;
        }
        let login = secrets::digest(self.session_token(headers)?);
        match accounts::login_user(&self.db, &login, Utc::now()).await {
            Ok(user) => user.map(|username| Caller::Admin { username, login }),
            Err(e) => {
                tracing::error!(error = %e, "checking a login failed");
                None
            }
        }
    }

    async fn check_key(&self, key: &str) -> Option<Caller> {
        if let Some(configured) = &self.configured_key
            && secrets::same_secret(key, configured)
        {
            return Some(Caller::ConfiguredKey);
        }
        // Looked up by its hash: the map never sees the key, and no comparison of the
        // key's own bytes can leak timing.
        let hash = secrets::digest(key);
        let now = Utc::now();
        let (id, scope, touch) = {
            let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
            let known = keys.get_mut(&hash)?;
            let touch = known.last_touch.is_none_or(|t| now - t >= TOUCH_EVERY);
            if touch {
                known.last_touch = Some(now);
            }
            (known.id.clone(), known.scope, touch)
        };
        if touch && let Err(e) = api_keys::touch(&self.db, &id, now).await {
            tracing::warn!(error = %e, "could not record an API key's use");
        }
        Some(Caller::ApiKey { id, scope })
    }

    async fn create_admin(&self, username: &str, password: &str) -> Result<User, AccessError> {
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            username: username.to_owned(),
            password_hash: hash_blocking(self.hashing_slot()?, password).await?,
        };
        if !accounts::create_first_user(&self.db, &user, Utc::now()).await? {
            self.admin_exists.store(true, Ordering::Relaxed);
            return Err(AccessError::AlreadySetUp);
        }
        self.admin_exists.store(true, Ordering::Relaxed);
        Ok(user)
    }

    /// The code that claims this server while it has no admin: made at start, printed in
    /// the log (only someone who can read that can claim the server), gone once used.
    pub fn setup_code(&self) -> Option<String> {
        if self.admin_exists() {
            return None;
        }
        let mut code = self.setup_code.lock().unwrap_or_else(PoisonError::into_inner);
        Some(code.get_or_insert_with(secrets::setup_code).clone())
    }

    /// Creates the admin account on first start and logs it in; returns the `Set-Cookie`.
    /// Attempts count against `client` as logins do, so the code cannot be guessed.
    pub async fn setup(
        &self,
        client: IpAddr,
        https: bool,
        form: SetupForm<'_>,
    ) -> Result<String, AccessError> {
        if self.admin_exists() {
            return Err(AccessError::AlreadySetUp);
        }
        self.let_through(SETUP, client)?;
        let expected = self.setup_code().ok_or(AccessError::AlreadySetUp)?;
        if !secrets::same_code(form.code, &expected) {
            tracing::warn!(%client, "wrong setup code");
            return Err(AccessError::WrongSetupCode);
        }
        // Whoever has the code read the log: a mistyped password is no guess.
        self.forget_failures(SETUP, client);
        check_username(form.username).map_err(AccessError::Invalid)?;
        check_new_password(form.password, form.confirm).map_err(AccessError::Invalid)?;
        let user = self.create_admin(form.username.trim(), form.password).await?;
        tracing::info!(username = %user.username, "admin account created");
        self.start_login(&user, https).await
    }

    /// Checks a login; returns the `Set-Cookie` of a new session.
    pub async fn login(
        &self,
        client: IpAddr,
        https: bool,
        username: &str,
        password: &str,
    ) -> Result<String, AccessError> {
        // A slot first: a refusal for load must not count against the address.
        let slot = self.hashing_slot()?;
        self.let_through(username, client)?;
        let user = accounts::user_by_name(&self.db, username.trim()).await?;
        let stored =
            user.as_ref().map_or(secrets::decoy_hash().to_owned(), |u| u.password_hash.clone());
        let matches = verify_blocking(slot, password, stored).await;
        match user.filter(|_| matches) {
            Some(user) => {
                self.forget_failures(username, client);
                tracing::info!(username = %user.username, %client, "logged in");
                self.start_login(&user, https).await
            }
            None => {
                tracing::warn!(%client, "failed login");
                Err(AccessError::WrongCredentials)
            }
        }
    }

    /// Lets an attempt at `account` from `client` through and counts it: the address's cap
    /// first, then the account's growing delay.
    fn let_through(&self, account: &str, client: IpAddr) -> Result<(), AccessError> {
        let (key, now) = (limit_key(client), Instant::now());
        self.limiter().attempt(key, now).map_err(AccessError::TooManyAttempts)?;
        self.throttle().attempt(account, key, now).map_err(AccessError::TooManyAttempts)
    }

    fn forget_failures(&self, account: &str, client: IpAddr) {
        let key = limit_key(client);
        self.limiter().succeeded(key);
        self.throttle().succeeded(account, key);
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, LoginThrottle> {
        self.throttle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A password-hashing slot, or [`AccessError::Busy`] when all are taken.
    fn hashing_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AccessError> {
        self.hashing.clone().try_acquire_owned().map_err(|_| AccessError::Busy)
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, LoginLimiter> {
        self.limiter.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn start_login(&self, user: &User, https: bool) -> Result<String, AccessError> {
        let token = secrets::random_token();
        let now = Utc::now();
        accounts::create_login(
            &self.db,
            &secrets::digest(&token),
            &user.id,
            now,
            now + LOGIN_LIFETIME,
        )
        .await?;
        Ok(self.cookie(&token, LOGIN_LIFETIME.num_seconds(), https))
    }

    /// Ends the session these headers carry; returns the `Set-Cookie` that clears it.
    pub async fn logout(&self, headers: &HeaderMap, https: bool) -> Result<String, AccessError> {
        if let Some(token) = self.session_token(headers) {
            let login = secrets::digest(token);
            accounts::delete_login(&self.db, &login, Utc::now()).await?;
            self.revocations.revoke(&Credential::Login(login));
        }
        Ok(self.cookie("", 0, https))
    }

    /// The login cookie, `Secure` and host-only (`__Host-`) when the server is configured
    /// for HTTPS or this request came over HTTPS through a trusted proxy.
    fn cookie(&self, value: &str, max_age: i64, https: bool) -> String {
        let secure = self.always_secure() || https;
        let name = if secure { SECURE_COOKIE } else { COOKIE };
        Cookie::build((name, value))
            .path("/")
            .max_age(cookie::time::Duration::seconds(max_age))
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(secure)
            .build()
            .to_string()
    }

    /// Whether the server was told it is served over HTTPS (`--secure-cookies`).
    pub fn always_secure(&self) -> bool {
        self.secure_cookies
    }

    /// The login token these headers carry. A `__Host-` cookie is taken always (a browser
    /// keeps one only from this host, over HTTPS); the plain one only on a server not
    /// configured for HTTPS, where a sibling subdomain could otherwise plant one.
    pub fn session_token<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        session_token(headers, SECURE_COOKIE)
            .or_else(|| (!self.secure_cookies).then(|| session_token(headers, COOKIE)).flatten())
    }

    /// `Err(wait)` when `client` presented too many wrong credentials lately: it is not
    /// even checked (a key check is cheap, but guessing must not be).
    pub fn guessing(&self, client: IpAddr) -> Result<(), Duration> {
        self.wrong_keys().blocked(limit_key(client), Instant::now())
    }

    /// Counts wrong credentials presented by `client`.
    pub fn wrong_credentials(&self, client: IpAddr) {
        self.wrong_keys().failed(limit_key(client), Instant::now());
    }

    fn wrong_keys(&self) -> std::sync::MutexGuard<'_, LoginLimiter> {
        self.wrong_keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the password of the admin logged in with these headers. Its other logins
    /// end (whoever else knew the old password is out); this one stays.
    pub async fn change_password(
        &self,
        headers: &HeaderMap,
        current: &str,
        password: &str,
        confirm: &str,
    ) -> Result<(), AccessError> {
        let token = self.session_token(headers).ok_or_else(|| {
            AccessError::Invalid(
                "only a dashboard login can change the admin password, not an API key".into(),
            )
        })?;
        let token_hash = secrets::digest(token);
        let username = accounts::login_user(&self.db, &token_hash, Utc::now())
            .await?
            .ok_or(AccessError::WrongCredentials)?;
        let user = accounts::user_by_name(&self.db, &username)
            .await?
            .ok_or(AccessError::WrongCredentials)?;
        let matches = verify_blocking(self.hashing_slot()?, current, user.password_hash).await;
        if !matches {
            return Err(AccessError::Invalid("the current password is wrong".into()));
        }
        check_new_password(password, confirm).map_err(AccessError::Invalid)?;
        if password == current {
            return Err(AccessError::Invalid(
                "the new password is the same as the current one".into(),
            ));
        }
        let hash = hash_blocking(self.hashing_slot()?, password).await?;
        accounts::set_password(&self.db, &user.id, &hash, &token_hash, Utc::now()).await?;
        self.revocations.revoke_logins_of(&user.username, &token_hash);
        tracing::info!(username = %user.username, "admin password changed; other logins ended");
        Ok(())
    }

    /// Every key, newest first.
    pub async fn list_keys(&self) -> Result<Vec<ApiKeyView>, AccessError> {
        Ok(api_keys::all(&self.db).await?.into_iter().map(|k| k.view).collect())
    }

    /// Creates a key; its text is in the answer and nowhere else.
    pub async fn create_key(&self, name: &str, scope: Scope) -> Result<CreatedApiKey, AccessError> {
        let name = app::model::api::valid_name(name)
            .map_err(|why| AccessError::Invalid(format!("the key's {why}")))?;
        let secret = secrets::random_token();
        let prefix = format!("ll_{}", &secret[..8]);
        let key = format!("{prefix}_{}", &secret[8..]);
        let stored = StoredKey {
            view: ApiKeyView {
                id: uuid::Uuid::new_v4().to_string(),
                name: name.to_owned(),
                prefix,
                scope,
                created_at: Utc::now(),
                last_used_at: None,
                revoked_at: None,
            },
            key_hash: secrets::digest(&key),
        };
        api_keys::insert(&self.db, &stored).await?;
        self.keys.write().unwrap_or_else(PoisonError::into_inner).insert(
            stored.key_hash,
            KnownKey { id: stored.view.id.clone(), scope, last_touch: None },
        );
        tracing::info!(
            key = %stored.view.prefix, name = %stored.view.name, %scope, "API key created"
        );
        Ok(CreatedApiKey { key, info: stored.view })
    }

    /// Revokes a key: it is refused from this moment on.
    pub async fn revoke_key(&self, id: &str) -> Result<(), AccessError> {
        if !api_keys::revoke(&self.db, id, Utc::now()).await? {
            return Err(AccessError::NoSuchKey(id.to_owned()));
        }
        self.keys.write().unwrap_or_else(PoisonError::into_inner).retain(|_, k| k.id != id);
        self.revocations.revoke(&Credential::Key(id.to_owned()));
        tracing::info!(key = %id, "API key revoked; its event channels are closed");
        Ok(())
    }

    /// A hold on the credential `caller` came with, which completes when it is revoked
    /// here. Check the credentials again after taking it: one revoked in between is not
    /// seen by the watch.
    pub fn watch(&self, caller: &Caller) -> Watch {
        match caller {
            Caller::Admin { username, login } => {
                self.revocations.watch(Credential::Login(login.clone()), Some(username))
            }
            Caller::ApiKey { id, .. } => self.revocations.watch(Credential::Key(id.clone()), None),
            Caller::ConfiguredKey => Watch::never(),
        }
    }
}

/// Hashes `password` off the async threads, holding `slot` while it does.
async fn hash_blocking(
    slot: tokio::sync::OwnedSemaphorePermit,
    password: &str,
) -> Result<String, AccessError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        secrets::hash_password(&password)
    })
    .await
    .map_err(|e| AccessError::Hashing(e.to_string()))?
    .map_err(|e| AccessError::Hashing(e.to_string()))
}

/// Checks `password` against `stored` off the async threads, holding `slot` while it does.
async fn verify_blocking(
    slot: tokio::sync::OwnedSemaphorePermit,
    password: &str,
    stored: String,
) -> bool {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        secrets::verify_password(&password, &stored)
    })
    .await
    .unwrap_or(false)
}

/// "45 s", "3 min": how long to wait, for people.
fn wait_text(wait: Duration) -> String {
    match wait.as_secs() {
        0..60 => format!("{} s", wait.as_secs().max(1)),
        secs => format!("{} min", secs.div_ceil(60)),
    }
}

/// The API key in `x-api-key` or `Authorization: Bearer`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        })
        .map(str::trim)
}

/// Only the headers that carry credentials (API key, bearer token, login cookie): what a
/// long-lived connection keeps to check its credentials again later, instead of every
/// header of its request.
pub fn credential_headers(headers: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in
        [header::HeaderName::from_static("x-api-key"), header::AUTHORIZATION, header::COOKIE]
    {
        for value in headers.get_all(&name) {
            kept.append(name.clone(), value.clone());
        }
    }
    kept
}

/// The session token in the `Cookie` header, under the cookie name `cookie`.
pub fn session_token<'h>(headers: &'h HeaderMap, cookie: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == cookie)
        .find_map(|c| c.value_raw().filter(|value| !value.is_empty()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn credentials_are_found_where_clients_put_them() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("authorization", HeaderValue::from_static("Bearer k2"));
        assert_eq!(presented_key(&h), Some("k2"));
        h.insert("x-api-key", HeaderValue::from_static(" k1 "));
        assert_eq!(presented_key(&h), Some("k1"));

        let mut c = HeaderMap::new();
        c.insert("cookie", HeaderValue::from_static("theme=dark; lifeline_session=abc; x=y"));
        assert_eq!(session_token(&c, COOKIE), Some("abc"));
        // Over HTTPS only the __Host- cookie counts: a plain one may come from a sibling.
        assert_eq!(session_token(&c, SECURE_COOKIE), None);
        c.insert("cookie", HeaderValue::from_static("__Host-lifeline_session=def"));
        assert_eq!(session_token(&c, SECURE_COOKIE), Some("def"));
        c.insert("cookie", HeaderValue::from_static("lifeline_session="));
        assert_eq!(session_token(&c, COOKIE), None);
    }

    #[test]
    fn a_channel_keeps_only_the_headers_that_carry_credentials() {
        let mut h = HeaderMap::new();
        h.insert("user-agent", HeaderValue::from_static("Mozilla/5.0 (a long string)"));
        h.insert("sec-websocket-key", HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="));
        h.insert("authorization", HeaderValue::from_static("Bearer k2"));
        h.append("cookie", HeaderValue::from_static("theme=dark"));
        h.append("cookie", HeaderValue::from_static("lifeline_session=abc"));
        let kept = credential_headers(&h);
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert!(kept.get("user-agent").is_none());
        // What credentials are read from it is what is read from the whole request.
        assert_eq!(presented_key(&kept), presented_key(&h));
        assert_eq!(session_token(&kept, COOKIE), Some("abc"));
        h.insert("x-api-key", HeaderValue::from_static("k1"));
        assert_eq!(presented_key(&credential_headers(&h)), Some("k1"));
    }
}
