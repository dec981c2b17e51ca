//! `spawn_app()` and friends: a real server on port 0 with a fresh database, SQLite or
//! PostgreSQL, and the simulator as its upstream.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use app::{
    model::{SessionStatus, SessionView},
    policy::{Backoff, SupervisorPolicy},
};
use leptos::config::LeptosOptions;
use serde_json::Value;
use server::{
    config::Settings,
    connector::simulator::SimConfig,
    connector::whatsapp::Reach,
    db::{DatabaseUrl, Db},
    events::WsLimits,
    secret_key::SecretKey,
    startup::{Application, Upstreams},
    state::AppState,
    webhooks::WebhookPolicy,
};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};
use whatsapp_rust::{
    anyhow, async_channel,
    http::{HttpClient, HttpRequest, HttpResponse},
    transport::{Transport, TransportEvent, TransportFactory},
};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's temporary folder.
    Sqlite,
    /// A fresh database on the server `TEST_DATABASE_URL` names.
    Postgres,
}

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::helpers::Backend::Sqlite).await
            })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::helpers::Backend::Postgres).await
            })+
        }
    };
}

pub use crate::process::lifeline_command;

/// A URL for a brand-new, empty database of the given kind.
pub async fn fresh_database(backend: Backend, dir: &TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("lifeline.db").display()),
        Backend::Postgres => {
            let admin = std::env::var("TEST_DATABASE_URL").expect(
                "PostgreSQL tests need TEST_DATABASE_URL=postgres://… (`make test` starts a \
                 throwaway PostgreSQL and sets it)",
            );
            let name = format!("lifeline_test_{}", uuid::Uuid::new_v4().simple());
            let url: DatabaseUrl = admin.parse().expect("TEST_DATABASE_URL does not parse");
            let DatabaseUrl::Postgres(options) = url else {
                panic!("TEST_DATABASE_URL is not postgres")
            };
            let pool =
                sqlx::PgPool::connect_with(options).await.expect("cannot reach TEST_DATABASE_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .expect("cannot create a test database");
            pool.close().await;
            with_database_name(&admin, &name)
        }
    }
}

/// `postgres://u@h:p/old?x=y` → `postgres://u@h:p/NAME?x=y`.
fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A way to WhatsApp where every connection fails with `error` (and the version lookup
/// is skipped), as on a machine without internet.
pub fn unreachable_whatsapp(error: &'static str) -> Reach {
    struct Refused(&'static str);
    #[whatsapp_rust::async_trait]
    impl TransportFactory for Refused {
        async fn create_transport(
            &self,
        ) -> anyhow::Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>)> {
            Err(anyhow::anyhow!("{}", self.0))
        }
    }
    Reach {
        transport: Arc::new(Refused(error)),
        http: Arc::new(NoHttp),
        version: Some((2, 3000, 0)),
    }
}

/// Timings for tests: the shapes of the production policy, in milliseconds.
pub fn fast_policy() -> SupervisorPolicy {
    let ms = Duration::from_millis;
    SupervisorPolicy {
        restore: Backoff::Steps { delays: vec![ms(50), ms(100), ms(150)], repeat_last: false },
        reconnect: Backoff::Doubling { base: ms(50), retries: 5, cap: None },
        jitter: 0.0,
        stable_after: ms(500),
        handshake_timeout: Duration::from_secs(2),
        // A first login waits up to 10 s for keys the double's phone never shares.
        login_timeout: Duration::from_secs(30),
        close_timeout: Duration::from_secs(5),
        max_concurrent_handshakes: 4,
        restore_spacing: ms(1),
        send_wait: Duration::from_secs(2),
        send_timeout: Duration::from_secs(1),
        // The watchdog stays out of tests that do not ask for it (see `watchdog_policy`).
        watchdog_every: Duration::from_secs(3600),
        probe_idle_after: Duration::from_secs(1800),
        probe_timeout: ms(200),
        recovery_budget: 3,
        recovery_window: Duration::from_secs(3600),
    }
}

/// [`fast_policy`] with a watchdog that passes every 50 ms.
pub fn watchdog_policy() -> SupervisorPolicy {
    SupervisorPolicy { watchdog_every: Duration::from_millis(50), ..fast_policy() }
}

/// A fast simulator.
pub fn fast_simulator() -> SimConfig {
    let ms = Duration::from_millis;
    SimConfig {
        handshake: ms(20),
        qr_every: ms(400),
        qr_codes: 3,
        flap_after: ms(50),
        witness: None,
    }
}

/// The API key every test server accepts (as `LIFELINE_API_KEY`).
pub const API_KEY: &str = "test-key-0123456789abcdef";
/// The admin password every test server is created with (as `LIFELINE_ADMIN_PASSWORD`).
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A running server with its own database.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client for it.
    pub client: reqwest::Client,
    /// The server's state, to look behind the HTTP surface.
    pub state: AppState,
    /// Its database URL (for restarts and for looking at rows).
    pub database_url: String,
    settings: Settings,
    pub policy: SupervisorPolicy,
    launch: Launch,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    dir: TempDir,
}

/// How to start a test server.
pub struct TestOptions {
    /// Which database.
    pub backend: Backend,
    /// Whether the simulator (and its fault route) is on.
    pub simulator: bool,
    /// The supervisor policy.
    pub policy: SupervisorPolicy,
    /// The admin created at start; `None` leaves the server waiting for setup.
    pub admin_password: Option<String>,
    /// Other origins allowed to call the server from a browser.
    pub cors_origins: Vec<String>,
    /// Host names the server answers to besides addresses and localhost.
    pub allowed_hosts: Vec<String>,
    /// Whether the login cookie is `Secure` (HTTPS).
    pub secure_cookies: bool,
    /// Proxies whose forwarded addresses are believed.
    pub trusted_proxies: Vec<String>,
    /// How often the database is probed.
    pub probe_every: Duration,
    /// The event channel's limits.
    pub ws: WsLimits,
    /// The dashboard's time scale.
    pub dashboard_time_scale: f64,
    /// Offers the WhatsApp connector (with a fresh secret key), reaching WhatsApp this way.
    pub whatsapp: Option<Reach>,
    /// A database (and secret key) the test prepared, instead of a fresh one.
    pub prepared: Option<Prepared>,
    /// How long a request may take, instead of the policy's deadline.
    pub request_deadline: Option<Duration>,
    /// How long session leases last (on PostgreSQL), instead of the default.
    pub lease_ttl: Option<Duration>,
}

/// A database a test fills before the server starts on it, with the secret key the server
/// will seal WhatsApp keys with.
pub struct Prepared {
    dir: TempDir,
    /// Its URL.
    pub url: String,
    /// An open pool on it (migrated).
    pub db: Db,
    /// The server's secret key.
    pub key: SecretKey,
}

impl Prepared {
    /// A fresh, migrated database of the given kind.
    pub async fn new(backend: Backend) -> Prepared {
        let dir = tempfile::tempdir().expect("no temporary folder");
        let url = fresh_database(backend, &dir).await;
        let db = Db::open(&url.parse().unwrap()).await.expect("cannot open the test database");
        Prepared { dir, url, db, key: SecretKey::generate() }
    }
}

/// A way to WhatsApp that leads to `double`.
pub fn through(double: &whatsapp_double::WhatsAppDouble) -> Reach {
    Reach {
        transport: double.transport(),
        http: Arc::new(NoHttp),
        version: Some(whatsapp_double::CLIENT_VERSION),
    }
}

/// The version lookup is skipped in tests (a fixed version is given); no request leaves.
struct NoHttp;

#[whatsapp_rust::async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, _: HttpRequest) -> anyhow::Result<HttpResponse> {
        anyhow::bail!("no HTTP in tests")
    }
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            backend: Backend::Sqlite,
            simulator: true,
            policy: fast_policy(),
            admin_password: Some(ADMIN_PASSWORD.into()),
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            probe_every: Duration::from_secs(10),
            ws: WsLimits::default(),
            dashboard_time_scale: 1.0,
            whatsapp: None,
            prepared: None,
            request_deadline: None,
            lease_ttl: None,
        }
    }
}

/// Starts a server with the simulator on a fresh SQLite database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestOptions::default()).await
}

/// Starts a server with the simulator on a fresh database of the given kind.
pub async fn spawn_on(backend: Backend) -> TestApp {
    spawn_app_with(TestOptions { backend, ..TestOptions::default() }).await
}

/// Sends the servers' logs (and the WhatsApp client's) to the test's output, filtered by
/// `RUST_LOG` (errors only without it); a failing test shows them.
fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Starts a server as described.
pub async fn spawn_app_with(options: TestOptions) -> TestApp {
    capture_logs();
    let (dir, database_url, key) = match options.prepared {
        Some(Prepared { dir, url, db, key }) => {
            db.close().await;
            (dir, url, Some(key))
        }
        None => {
            let dir = tempfile::tempdir().expect("no temporary folder");
            let url = fresh_database(options.backend, &dir).await;
            (dir, url, None)
        }
    };
    let mut settings = test_settings(&dir, database_url.clone(), options.simulator);
    settings.admin_password = options.admin_password;
    settings.cors_origins = options.cors_origins;
    settings.allowed_hosts = options.allowed_hosts;
    settings.secure_cookies = options.secure_cookies;
    settings.trusted_proxies = options.trusted_proxies;
    settings.dashboard_time_scale = options.dashboard_time_scale;
    if let Some(ttl) = options.lease_ttl {
        settings.lease_ttl_secs = ttl.as_secs();
    }
    if options.whatsapp.is_some() {
        settings.secret_key = Some(key.unwrap_or_else(SecretKey::generate));
    }
    let launch = Launch {
        probe_every: options.probe_every,
        ws: options.ws,
        whatsapp: options.whatsapp,
        request_deadline: options.request_deadline,
    };
    launch_with(dir, settings, options.policy, database_url, launch).await
}

/// Webhook delivery for tests: the same eight attempts, milliseconds apart, and a short
/// look at the outbox.
pub fn fast_webhooks() -> WebhookPolicy {
    let ms = Duration::from_millis;
    WebhookPolicy {
        retries: Backoff::Steps { delays: vec![ms(20); 7], repeat_last: false },
        jitter: 0.0,
        timeout: Duration::from_secs(2),
        poll_every: ms(50),
        ..WebhookPolicy::default()
    }
}

/// Starts another instance on `first`'s database (PostgreSQL), named `name`, with the same
/// settings otherwise.
pub async fn spawn_instance(first: &TestApp, name: &str) -> TestApp {
    spawn_instance_with(first, name, first.policy.clone()).await
}

/// [`spawn_instance`] with a policy of its own.
pub async fn spawn_instance_with(first: &TestApp, name: &str, policy: SupervisorPolicy) -> TestApp {
    let dir = tempfile::tempdir().expect("no temporary folder");
    let mut settings = first.settings.clone();
    settings.data_dir = dir.path().join("data");
    settings.instance_name = Some(name.into());
    let url = first.database_url.clone();
    launch_with(dir, settings, policy, url, first.launch.clone()).await
}

/// Starts a server on an existing database (one a test prepared, say).
pub async fn spawn_on_database(
    dir: TempDir,
    database_url: String,
    simulator: bool,
    policy: SupervisorPolicy,
) -> TestApp {
    let settings = test_settings(&dir, database_url.clone(), simulator);
    launch(dir, settings, policy, database_url).await
}

fn test_settings(dir: &TempDir, database_url: String, simulator: bool) -> Settings {
    let mut settings = Settings::with_data_dir(dir.path().join("data"));
    settings.addr = "127.0.0.1:0".parse().unwrap();
    settings.database_url = Some(database_url);
    settings.simulator = simulator;
    settings.api_key = Some(API_KEY.into());
    settings
}

async fn launch(
    dir: TempDir,
    settings: Settings,
    policy: SupervisorPolicy,
    database_url: String,
) -> TestApp {
    launch_with(dir, settings, policy, database_url, Launch::default()).await
}

/// What a launch needs beyond the settings.
#[derive(Clone, Debug)]
struct Launch {
    probe_every: Duration,
    ws: WsLimits,
    whatsapp: Option<Reach>,
    request_deadline: Option<Duration>,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            probe_every: Duration::from_secs(10),
            ws: WsLimits::default(),
            whatsapp: None,
            request_deadline: None,
        }
    }
}

async fn launch_with(
    dir: TempDir,
    settings: Settings,
    policy: SupervisorPolicy,
    database_url: String,
    launch: Launch,
) -> TestApp {
    let site = LeptosOptions::builder()
        .output_name("lifeline")
        .site_root(dir.path().join("site").to_string_lossy().into_owned())
        .build();
    let upstreams = Upstreams {
        simulation: fast_simulator(),
        // Tests never reach the real WhatsApp: without a test's own, every attempt fails.
        whatsapp: launch.whatsapp.clone().unwrap_or_else(|| unreachable_whatsapp("offline test")),
    };
    let mut app = Application::build_with(&settings, site, policy.clone(), upstreams)
        .await
        .expect("server did not build")
        .with_probe_every(launch.probe_every)
        .with_ws_limits(launch.ws.clone())
        .with_webhook_policy(fast_webhooks());
    if let Some(deadline) = launch.request_deadline {
        app = app.with_request_deadline(deadline);
    }
    let addr = app.local_addr();
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-api-key", API_KEY.parse().unwrap());
    TestApp {
        addr,
        client: reqwest::Client::builder().default_headers(headers).build().unwrap(),
        state,
        database_url,
        settings,
        policy,
        launch,
        stop: Some(stop),
        server: Some(server),
        dir,
    }
}

impl TestApp {
    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request failed")
    }

    /// POST `body` as JSON to `path`.
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(&body).send().await.expect("request failed")
    }

    /// POST with no body.
    pub async fn post_empty(&self, path: &str) -> reqwest::Response {
        self.client.post(self.url(path)).send().await.expect("request failed")
    }

    /// Logs in as the admin through the login form; returns the `Cookie` header to send.
    pub async fn login(&self) -> String {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = client
            .post(self.url("/api/auth/login"))
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("next", "")])
            .send()
            .await
            .unwrap();
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("lifeline_session="))
            .unwrap_or_else(|| panic!("no session cookie from login: {}", r.status()))
            .to_owned();
        cookie.split(';').next().unwrap().to_owned()
    }

    /// Posts the login form as a script would (JSON answer, no redirect followed).
    pub async fn login_attempt(&self, password: &str) -> reqwest::Response {
        self.anonymous()
            .post(self.url("/api/auth/login"))
            .header("accept", "application/json")
            .form(&[("username", "admin"), ("password", password), ("next", "")])
            .send()
            .await
            .unwrap()
    }

    /// GET `path` as the login behind `cookie` (no API key, no redirects followed).
    pub async fn get_as(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.anonymous().get(self.url(path)).header("cookie", cookie).send().await.unwrap()
    }

    /// Creates an API key with `scope` over REST, as the login `cookie`; returns the key's
    /// text and its id.
    pub async fn create_key(&self, cookie: &str, name: &str, scope: &str) -> (String, String) {
        let r = self
            .anonymous()
            .post(self.url("/keys"))
            .header("cookie", cookie)
            .json(&serde_json::json!({"name": name, "scope": scope}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "the key was not created");
        let created: Value = r.json().await.unwrap();
        assert_eq!(created["info"]["scope"], scope);
        let text = |v: &Value| v.as_str().unwrap().to_owned();
        (text(&created["key"]), text(&created["info"]["id"]))
    }

    /// A client that sends no credentials and follows no redirects.
    pub fn anonymous(&self) -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }

    /// Creates a simulator session through the API; returns its id.
    pub async fn create_session(&self, name: &str) -> String {
        let r = self
            .post("/sessions", serde_json::json!({"name": name, "connector": "simulator"}))
            .await;
        assert_eq!(r.status(), 201, "create failed: {}", r.text().await.unwrap());
        r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
    }

    /// Injects a simulator fault through the API.
    pub async fn fault(&self, id: &str, fault: Value) {
        let r = self.post(&format!("/dev/simulator/sessions/{id}/fault"), fault).await;
        assert_eq!(r.status(), 200, "fault failed: {}", r.text().await.unwrap());
    }

    /// Creates a session and pairs it by "scanning" its QR code; returns once connected.
    pub async fn paired_session(&self, name: &str) -> String {
        let id = self.create_session(name).await;
        self.until(&id, |v| v.status == SessionStatus::QrPending).await;
        self.fault(&id, serde_json::json!({"kind": "scan"})).await;
        self.until(&id, |v| v.status == SessionStatus::Connected).await;
        id
    }

    /// Waits for the session's first view that satisfies `f` (an event, not a poll; the
    /// 10 s bound only turns a hang into a failure).
    pub async fn until(&self, id: &str, f: impl Fn(&SessionView) -> bool) -> SessionView {
        let handle = self.held(id, Duration::from_secs(10)).await;
        let mut watch = handle.watch();
        match tokio::time::timeout(Duration::from_secs(10), watch.wait_for(|v| f(v))).await {
            Ok(view) => view.expect("the session's actor ended").clone(),
            Err(_) => panic!("session {id} never got there; it is {:?}", handle.view()),
        }
    }

    /// The handle of a session this server runs, once it does: after a crash on
    /// PostgreSQL, a restarted server takes its sessions over only when the dead run's
    /// leases run out. Each event published is a moment to look again.
    async fn held(&self, id: &str, limit: Duration) -> server::supervisor::actor::SessionHandle {
        let (mut events, _) = self.state.bus.subscribe();
        let wait = async {
            loop {
                if let Ok(handle) = self.state.supervisor.handle(id) {
                    return handle;
                }
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = events.recv().await {
                    panic!("the server stopped before it ran session {id}");
                }
            }
        };
        tokio::time::timeout(limit, wait)
            .await
            .unwrap_or_else(|_| panic!("this server never ran session {id}"))
    }

    /// Like [`Self::until`], for things that take a known long time (a first WhatsApp login
    /// waits for the phone's app-state keys).
    pub async fn until_within(
        &self,
        id: &str,
        limit: Duration,
        f: impl Fn(&SessionView) -> bool,
    ) -> SessionView {
        let handle = self.held(id, limit).await;
        let mut watch = handle.watch();
        match tokio::time::timeout(limit, watch.wait_for(|v| f(v))).await {
            Ok(view) => view.expect("the session's actor ended").clone(),
            Err(_) => panic!("session {id} never got there; it is {:?}", handle.view()),
        }
    }

    /// The first event, from the server's start, for which `pick` gives something (the
    /// 10 s bound only turns a hang into a failure).
    pub async fn event<T>(&self, pick: impl Fn(&app::model::Event) -> Option<T>) -> T {
        let bus = &self.state.bus;
        let (mut live, _) = bus.subscribe();
        let past = bus.replay_after(0).unwrap_or_default();
        if let Some(found) = past.iter().find_map(|p| pick(&p.envelope.event)) {
            return found;
        }
        let wait = async {
            loop {
                match live.recv().await {
                    Ok(published) => {
                        if let Some(found) = pick(&published.envelope.event) {
                            return found;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => std::future::pending::<()>().await,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.expect("no such event")
    }

    /// Waits for `n` more watchdog passes.
    pub async fn watchdog_passes(&self, n: u64) {
        let mut passes = self.state.supervisor.watchdog_passes();
        let target = *passes.borrow() + n;
        tokio::time::timeout(Duration::from_secs(30), passes.wait_for(|p| *p >= target))
            .await
            .expect("the watchdog stopped passing")
            .unwrap();
    }

    /// Closes the server's database and waits until its probe notices (start the server
    /// with a short `probe_every`).
    pub async fn lose_database(&self) {
        let mut database = self.state.board.database_changes();
        self.state.db.close().await;
        tokio::time::timeout(Duration::from_secs(10), database.wait_for(|ok| !ok))
            .await
            .expect("the probe never noticed")
            .unwrap();
    }

    /// The key the server seals WhatsApp keys with.
    pub fn secret_key(&self) -> SecretKey {
        self.settings.secret_key.clone().expect("this server has no secret key")
    }

    /// A fresh pool on the test's database, to look at rows.
    pub async fn db(&self) -> Db {
        let url: DatabaseUrl = self.database_url.parse().unwrap();
        Db::open(&url).await.expect("cannot open the test database")
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    /// Stops the server and waits for it, keeping its data directory (and so its database).
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task panicked").expect("server failed");
        }
    }

    /// Stops the server gracefully and starts a new one on the same database.
    pub async fn restart(self) -> TestApp {
        self.restart_after(async |_| {}).await
    }

    /// Stops the server gracefully, lets `change` alter the database (as an older version
    /// of Lifeline would have left it, say), and starts a new server on it.
    pub async fn restart_after(mut self, change: impl AsyncFnOnce(&Db)) -> TestApp {
        self.shutdown().await;
        let db = self.db().await;
        change(&db).await;
        db.close().await;
        let TestApp { dir, settings, policy, database_url, launch, .. } = self;
        launch_with(dir, settings, policy, database_url, launch).await
    }
}

/// How long leases last for a server a test kills: the shortest allowed, as the next
/// server waits that long before it takes the sessions over.
const KILLED_LEASE_TTL: Duration = Duration::from_secs(3);

/// A server on a runtime of its own, so that it can die as a process does under `kill -9`:
/// every task stops where it is, nothing is closed, flushed or stored on the way out.
pub struct Killable {
    app: TestApp,
    runtime: tokio::runtime::Runtime,
}

impl Killable {
    /// Starts a server as described, on its own runtime.
    pub async fn start(mut options: TestOptions) -> Killable {
        // After the kill, the next server waits out the dead one's leases (PostgreSQL).
        options.lease_ttl = options.lease_ttl.or(Some(KILLED_LEASE_TTL));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("cannot build a runtime");
        let app = runtime.spawn(spawn_app_with(options)).await.expect("the server did not start");
        Killable { app, runtime }
    }

    /// The running server.
    pub fn app(&self) -> &TestApp {
        &self.app
    }

    /// Kills the server, then starts a new one (on the test's runtime) on the same database.
    pub async fn kill_and_restart(self) -> TestApp {
        let Killable { app, runtime } = self;
        // Its tasks stop where they are; waiting until they are gone stands for the system
        // releasing a dead process's file locks (the SQLite instance claim among them).
        tokio::task::spawn_blocking(move || runtime.shutdown_timeout(Duration::from_secs(10)))
            .await
            .unwrap();
        let TestApp { dir, settings, policy, database_url, launch, .. } = app;
        launch_with(dir, settings, policy, database_url, launch).await
    }
}

/// The tests' Python (`make test-tools` installs it and its pinned packages; `TEST_PYTHON`
/// names it).
pub fn test_python() -> std::path::PathBuf {
    let python = std::env::var("TEST_PYTHON").unwrap_or_else(|_| {
        format!("{}/.cache/lifeline/python/bin/python", std::env::var("HOME").unwrap_or_default())
    });
    assert!(
        std::path::Path::new(&python).exists(),
        "no test Python at {python}: `make test-tools` installs it"
    );
    python.into()
}

/// Runs `scripts/<script>` with the tests' Python, `input` on its standard input: what it
/// printed when it succeeded, or when it did not.
pub async fn python_tool(script: &str, input: String) -> Result<String, String> {
    let python = test_python();
    let script = format!("{}/../scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let run = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(python)
            .arg(&script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    });
    let out = run.await.unwrap();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() { Ok(said) } else { Err(said) }
}
