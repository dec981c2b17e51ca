//! Building and running a server: everything between parsed settings and a served socket.

use std::{
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use leptos::config::LeptosOptions;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use app::policy::SupervisorPolicy;

use crate::{
    access::{Access, AccessError},
    client_addr::{BadProxy, TrustedProxies},
    config::Settings,
    connector::{
        Connectors,
        simulator::{SimConfig, Simulator},
        whatsapp::{Reach, WhatsApp, rekey},
    },
    db::{DatabaseUrl, Db, DbError, InstanceLock, LockError, UrlError},
    db_probe, demo,
    events::{EventBus, WsLimits},
    http,
    metrics::Metrics,
    state::{AppState, Shared},
    status_board::StatusBoard,
    supervisor::{Supervisor, SupervisorParts},
    webhooks::{Deliverer, Outbox, WebhookPolicy, Webhooks},
};

/// How long open connections get to finish after a shutdown request.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not start. Each message is one line an operator can act on.
#[derive(Debug, Error)]
pub enum StartupError {
    /// The data folder cannot be created or written.
    #[error("data directory {} is not writable: {source}", path.display())]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The database URL is not usable.
    #[error(transparent)]
    DatabaseUrl(#[from] UrlError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DbError),
    /// Another process already serves this SQLite database.
    #[error(transparent)]
    AlreadyServed(#[from] LockError),
    /// Access control could not start (keys not loadable, admin not creatable).
    #[error("cannot set up access control: {0}")]
    Access(#[from] AccessError),
    /// Another process holds the address.
    #[error(
        "cannot listen on {addr}: the address is already in use (is another Lifeline running?)"
    )]
    AddrInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// WhatsApp credentials are stored sealed, and no key to open them was given.
    #[error(
        "{sessions} WhatsApp session(s) are stored but LIFELINE_SECRET_KEY is not set: set it \
         to the key they were stored with (`lifeline gen-key` makes a first one)"
    )]
    SecretKeyMissing {
        /// How many sessions need it.
        sessions: u64,
    },
    /// The stored WhatsApp keys were sealed with another key than the one given.
    #[error(
        "the stored WhatsApp keys were sealed with secret key {sealed_with}, but \
         LIFELINE_SECRET_KEY is key {this}: set the key they were sealed with, or move them to \
         the new one with `lifeline rekey --from OLD --to NEW` (Lifeline stopped)"
    )]
    SecretKeyChanged {
        /// The key ids the stored keys name.
        sealed_with: String,
        /// The configured key's id.
        this: String,
    },
    /// Stored WhatsApp keys of the first layout could not be converted.
    #[error(
        "cannot convert the stored WhatsApp keys to hashed addresses: {0} (sessions converted \
         so far stay converted; start with the key that sealed these keys, or delete that \
         session, which then needs a new QR scan)"
    )]
    KeyStore(#[from] rekey::RekeyError),
    /// A trusted proxy entry does not parse.
    #[error("LIFELINE_TRUSTED_PROXIES: {0}")]
    TrustedProxies(#[from] BadProxy),
    /// `LIFELINE_API_KEY` is short enough to guess.
    #[error(
        "LIFELINE_API_KEY has {0} characters; use at least {min} (`openssl rand -hex 24` makes \
         one)",
        min = crate::access::MIN_API_KEY_CHARS
    )]
    WeakApiKey(usize),
    /// Listening failed for another reason.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
}

/// A server that has bound its address, opened its database and started supervising its
/// sessions, ready to serve.
pub struct Application {
    /// Held while serving: no second instance runs the same SQLite database's sessions.
    _instance: Option<InstanceLock>,
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    demo: bool,
    probe_every: Duration,
    webhook_policy: WebhookPolicy,
    outbox: Outbox,
    /// How long instances count as alive after a heartbeat (the lease time).
    lease_ttl: Duration,
}

/// How the server's connectors reach their upstreams.
#[derive(Debug, Default)]
pub struct Upstreams {
    /// The simulator's timing (used with `--simulator` or `--demo`).
    pub simulation: SimConfig,
    /// How the WhatsApp connector reaches WhatsApp.
    pub whatsapp: Reach,
}

impl From<SimConfig> for Upstreams {
    fn from(simulation: SimConfig) -> Upstreams {
        Upstreams { simulation, whatsapp: Reach::default() }
    }
}

impl Application {
    /// Checks the settings, binds the address, opens (and migrates) the database and starts
    /// the supervisor, which begins restoring sessions.
    pub async fn build(settings: &Settings, leptos: LeptosOptions) -> Result<Self, StartupError> {
        let simulation = SimConfig {
            qr_every: Duration::from_secs(settings.simulator_qr_every),
            witness: settings.simulator_witness,
            ..SimConfig::default()
        };
        Self::build_with(settings, leptos, settings.policy(), simulation).await
    }

    /// [`Application::build`] with an explicit policy and simulator timing (tests use
    /// shorter waits than production).
    pub async fn build_with(
        settings: &Settings,
        leptos: LeptosOptions,
        policy: SupervisorPolicy,
        upstreams: impl Into<Upstreams>,
    ) -> Result<Self, StartupError> {
        let Upstreams { simulation, whatsapp } = upstreams.into();
        if let Some(key) = settings.api_key.as_deref().filter(|k| !k.is_empty())
            && key.chars().count() < crate::access::MIN_API_KEY_CHARS
        {
            return Err(StartupError::WeakApiKey(key.chars().count()));
        }
        let trusted_proxies = TrustedProxies::parse(&settings.trusted_proxies)?;
        let url = match &settings.database_url {
            Some(url) => url.parse::<DatabaseUrl>()?,
            None => {
                prepare_data_dir(&settings.data_dir)?;
                DatabaseUrl::sqlite_file(&settings.default_sqlite_path())
            }
        };
        let listener = bind(settings.addr).await?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr: settings.addr, source })?;
        let instance = InstanceLock::claim(&url)?;
        let db = Db::open(&url).await?;
        tracing::info!(database = %url.redacted(), "database ready");
        if settings.secret_key.is_none() {
            let sealed = crate::db::sessions::count_by_connector(&db, "whatsapp").await?;
            if sealed > 0 {
                return Err(StartupError::SecretKeyMissing { sessions: sealed });
            }
        }
        if let Some(key) = &settings.secret_key {
            // Refused here, rather than every WhatsApp session failing to read its keys.
            let sealed_with = rekey::sealing_keys(&db).await.map_err(DbError::from)?;
            if sealed_with.iter().any(|id| *id != key.id()) {
                let sealed_with: Vec<_> = sealed_with.iter().map(ToString::to_string).collect();
                let (sealed_with, this) = (sealed_with.join(", "), key.id().to_string());
                return Err(StartupError::SecretKeyChanged { sealed_with, this });
            }
            // Rows written before addresses were hashed name contacts in clear until then.
            let converted = rekey::convert(&db, key).await?;
            if converted > 0 {
                tracing::info!(records = converted, "WhatsApp key store now hashes addresses");
            }
        }
        if settings.demo {
            demo::seed(&db).await?;
        }

        let mut connectors = Connectors::default();
        let simulator = settings.simulator_enabled().then(|| Simulator::new(simulation));
        if let Some(simulator) = &simulator {
            connectors = connectors.with("simulator", Arc::new(simulator.clone()));
        }
        // Without a key there is nowhere safe to keep WhatsApp keys: the connector is then
        // not offered, and creating a session says which setting is missing.
        if let Some(key) = &settings.secret_key {
            let whatsapp = WhatsApp::new(db.clone(), key.clone(), whatsapp);
            connectors = connectors.with("whatsapp", Arc::new(whatsapp));
        }
        // New sessions are real ones, except in the demo, which is about showing the
        // simulator's sessions without a phone.
        connectors = connectors.preferring(if settings.demo { "simulator" } else { "whatsapp" });
        let access = Access::load(
            db.clone(),
            settings.api_key.clone(),
            settings.admin_password.clone(),
            settings.secure_cookies,
        )
        .await?;
        if let Some(code) = access.setup_code() {
            // Only whoever can read this log can claim the server: an unclaimed server
            // found on the network first is not handed to a stranger.
            tracing::warn!(
                "no admin account yet: open http://{addr}/dashboard/setup and enter the setup \
                 code {code} (a new one at every start until an admin exists; or set \
                 LIFELINE_ADMIN_PASSWORD)"
            );
        }
        let bus = EventBus::default();
        let board = Arc::new(StatusBoard::new());
        let metrics = Arc::new(Metrics::default());
        let request_deadline = policy.request_deadline();
        let outbox = Outbox::default();
        let supervisor = Supervisor::start(SupervisorParts {
            db: db.clone(),
            bus: bus.clone(),
            board: board.clone(),
            policy,
            connectors,
            metrics: metrics.clone(),
            instance: settings.instance(),
            outbox: outbox.clone(),
        })
        .await?;
        let webhooks = Webhooks::new(db.clone(), outbox.clone());
        let state = AppState::new(Shared {
            leptos,
            db,
            board,
            bus,
            supervisor,
            simulator,
            access: Arc::new(access),
            metrics,
            allowed_origins: settings.cors_origins.clone(),
            allowed_hosts: settings.allowed_hosts.clone(),
            trusted_proxies,
            public_metrics: settings.public_metrics,
            ws: WsLimits { per_address: settings.ws_per_address.max(1), ..WsLimits::default() },
            ws_admission: Arc::default(),
            shutdown: CancellationToken::new(),
            dashboard: settings.dashboard_policy(),
            request_deadline,
            webhooks,
        });
        Ok(Application {
            _instance: instance,
            listener,
            addr,
            state,
            demo: settings.demo,
            probe_every: db_probe::PROBE_EVERY,
            webhook_policy: settings.webhook_policy(),
            outbox,
            lease_ttl: settings.instance().timing.ttl,
        })
    }

    /// The address actually bound (port 0 becomes a real port).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Probes the database this often instead of every [`db_probe::PROBE_EVERY`].
    pub fn with_probe_every(mut self, every: Duration) -> Self {
        self.probe_every = every;
        self
    }

    /// Answers requests still running after `deadline` with a timeout, instead of after the
    /// policy's request deadline.
    pub fn with_request_deadline(mut self, deadline: Duration) -> Self {
        let shared = Arc::get_mut(&mut self.state.0).expect("the state is not shared before run");
        shared.request_deadline = deadline;
        self
    }

    /// Delivers webhooks under `policy` instead of the default one.
    pub fn with_webhook_policy(mut self, policy: WebhookPolicy) -> Self {
        self.webhook_policy = policy;
        self
    }

    /// Uses these event channel limits instead of the defaults.
    pub fn with_ws_limits(mut self, limits: WsLimits) -> Self {
        let shared = Arc::get_mut(&mut self.state.0).expect("the state is not shared before run");
        shared.ws = limits;
        self
    }

    /// The shared state, for tests that look behind the HTTP surface.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains connections and background tasks and
    /// closes the database.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), io::Error> {
        let Application {
            _instance: instance,
            listener,
            addr,
            state,
            demo,
            probe_every,
            webhook_policy,
            outbox,
            lease_ttl,
        } = self;
        let cancel = state.shutdown.clone();
        let tasks = TaskTracker::new();
        tasks.spawn(db_probe::run(
            state.db.clone(),
            state.board.clone(),
            probe_every,
            cancel.clone(),
        ));
        let me = state.supervisor.instance_id();
        let deliverer = Deliverer::new(state.db.clone(), me, lease_ttl, webhook_policy, outbox);
        tasks.spawn(deliverer.run(cancel.clone()));
        if let (true, Some(simulator)) = (demo, state.simulator.clone()) {
            tracing::info!("demo: three simulated sessions; watch the dashboard");
            tasks.spawn(demo::run(simulator, cancel.clone()));
        }

        tracing::info!("Lifeline listening on http://{addr}");
        let trigger = cancel.clone();
        // The peer address feeds the login lockout and the per-address channel limit.
        let server = http::serve::serve(listener, http::router(state.clone()), async move {
            shutdown.await;
            trigger.cancel();
        });
        let drained = async {
            cancel.cancelled().await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        };
        tokio::select! {
            () = server => {}
            _ = drained => tracing::warn!(
                "connections still open {} s after shutdown began; closing them",
                DRAIN_TIMEOUT.as_secs()
            ),
        }
        cancel.cancel();
        state.supervisor.shutdown().await;
        tasks.close();
        tasks.wait().await;
        state.db.close().await;
        // Only now may another instance take the database over.
        drop(instance);
        tracing::info!("Lifeline stopped");
        Ok(())
    }
}

/// Creates the data folder if needed and proves it writable: a read-only folder must stop
/// the start here, not surface later as a failed write.
fn prepare_data_dir(dir: &Path) -> Result<(), StartupError> {
    let fail = |source| StartupError::DataDir { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(".lifeline-write-check");
    std::fs::write(&probe, b"ok").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).await.map_err(|source| match source.kind() {
        io::ErrorKind::AddrInUse => StartupError::AddrInUse { addr },
        _ => StartupError::Bind { addr, source },
    })
}
