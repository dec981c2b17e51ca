//! Command line and settings: one typed [`Settings`] from flags and `LIFELINE_*` variables.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use app::policy::{Backoff, DashboardPolicy, SupervisorPolicy};
use clap::{Parser, Subcommand, ValueEnum};

use crate::{
    connector::simulator::SimConfig,
    events::WsLimits,
    secret_key::SecretKey,
    supervisor::{InstanceSettings, lease_clock::LeaseTiming},
    webhooks::{self, WebhookPolicy},
};

/// Lifeline keeps WhatsApp sessions alive and shows, live, that they are.
#[derive(Debug, Parser)]
#[command(name = "lifeline", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; without one, Lifeline serves.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Settings for serving when no subcommand is given.
    #[command(flatten)]
    pub serve: Settings,
}

/// The subcommands of `lifeline`.
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: supervise the sessions, serve the dashboard, health and events.
    Serve(Settings),
    /// Print a new random secret key for LIFELINE_SECRET_KEY (base64) and exit.
    GenKey,
    /// Look at a running Lifeline: exit 0 ok, 1 degraded, 2 error, 3 unreachable.
    Monitor(crate::monitor::MonitorArgs),
    /// Copy everything from one database into another, empty one (stop Lifeline first).
    CopyDb(CopyDbArgs),
    /// Re-seal the stored WhatsApp keys from one secret key to another, all in one
    /// transaction (stop Lifeline first).
    Rekey(RekeyArgs),
    /// Hand every session of an instance over to the others before maintenance (several
    /// instances on one PostgreSQL), or put it back in service with --undo.
    Drain(DrainArgs),
}

/// What `lifeline drain` takes.
#[derive(Clone, Debug, clap::Args)]
pub struct DrainArgs {
    /// The instance's name (`LIFELINE_INSTANCE_NAME`, by default its host's name).
    pub instance: String,
    /// Put the instance back in service: it takes its share of sessions again.
    #[arg(long)]
    pub undo: bool,
    /// The database the instances share: `postgres://…`.
    #[arg(long, env = "LIFELINE_DATABASE_URL")]
    pub database_url: String,
}

/// What `lifeline rekey` takes. The keys may come from the environment, to keep them out
/// of the process list and the shell's history.
#[derive(Clone, Debug, clap::Args)]
pub struct RekeyArgs {
    /// The key the WhatsApp keys are sealed with now.
    #[arg(long, env = "LIFELINE_OLD_SECRET_KEY", hide_env_values = true)]
    pub from: SecretKey,
    /// The key to seal them with (then set it as LIFELINE_SECRET_KEY).
    #[arg(long, env = "LIFELINE_SECRET_KEY", hide_env_values = true)]
    pub to: SecretKey,
    /// The database: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "LIFELINE_DATABASE_URL")]
    pub database_url: String,
}

/// What `lifeline copy-db` takes.
#[derive(Clone, Debug, clap::Args)]
pub struct CopyDbArgs {
    /// The database to copy: `sqlite://PATH` or `postgres://…`.
    #[arg(long)]
    pub from: String,
    /// The empty database to copy into (created tables and all).
    #[arg(long)]
    pub to: String,
}

/// What a command line asks for.
#[derive(Debug)]
pub enum Task {
    /// Serve with these settings.
    Serve(Box<Settings>),
    /// Print a new secret key.
    GenKey,
    /// Look at a running server.
    Monitor(crate::monitor::MonitorArgs),
    /// Copy a database.
    CopyDb(CopyDbArgs),
    /// Move the WhatsApp keys to another secret key.
    Rekey(RekeyArgs),
    /// Drain an instance, or put it back in service.
    Drain(DrainArgs),
}

impl Cli {
    /// The settings to serve with, whichever way `serve` was asked for. Plain
    /// `DATABASE_URL` fills in when neither the flag nor `LIFELINE_DATABASE_URL` is given.
    pub fn into_task(self) -> Task {
        let mut settings = match self.command {
            Some(Command::Serve(settings)) => settings,
            Some(Command::GenKey) => return Task::GenKey,
            Some(Command::Monitor(args)) => return Task::Monitor(args),
            Some(Command::CopyDb(args)) => return Task::CopyDb(args),
            Some(Command::Rekey(args)) => return Task::Rekey(args),
            Some(Command::Drain(args)) => return Task::Drain(args),
            None => self.serve,
        };
        if settings.database_url.is_none() {
            settings.database_url = std::env::var("DATABASE_URL").ok();
        }
        settings.database_url = settings.database_url.filter(|url| !url.trim().is_empty());
        Task::Serve(Box::new(settings))
    }
}

/// How the server runs. Every setting is also read from its `LIFELINE_*` variable, so
/// scripts and systemd units can drive it without flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "LIFELINE_ADDR", default_value_t = DEFAULT_ADDR)]
    pub addr: SocketAddr,

    /// Folder for Lifeline's own files; the default SQLite database lives here.
    #[arg(long, env = "LIFELINE_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Database to use: sqlite://PATH or postgres://USER@HOST/DB; plain DATABASE_URL is
    /// honoured too. Unset: SQLite at DATA_DIR/lifeline.db.
    #[arg(long, env = "LIFELINE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, env = "LIFELINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// API key that machines send as `x-api-key` to reach the protected routes.
    #[arg(long, env = "LIFELINE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Password for the dashboard's "admin" account, created on first start when no admin
    /// exists (instead of the setup page). Ignored once an admin exists.
    #[arg(long, env = "LIFELINE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// The names this server is reached by (the Host a browser or proxy sends), comma-
    /// separated, like lifeline.example.com. IP addresses and localhost always work; any
    /// other name is refused (421), which keeps DNS rebinding out.
    #[arg(long, env = "LIFELINE_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Proxies in front of Lifeline (nginx…), comma-separated addresses or networks like
    /// 127.0.0.1 or 10.0.0.0/8: from these only, the client's address is read from
    /// X-Forwarded-For / Forwarded (for the login lockout and the channel limit).
    #[arg(long, env = "LIFELINE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Event channels (/ws) one client address may hold open at once (IPv6: per /64).
    #[arg(long, env = "LIFELINE_WS_PER_ADDRESS", default_value_t = WsLimits::default().per_address)]
    pub ws_per_address: usize,

    /// Other sites allowed to call this server from a browser (CORS), comma-separated
    /// origins like https://ops.example.com. Default: none (same origin only).
    #[arg(long, env = "LIFELINE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Serve /metrics without credentials (for a Prometheus that cannot send a key).
    #[arg(long, env = "LIFELINE_PUBLIC_METRICS")]
    pub public_metrics: bool,

    /// Mark the login cookie Secure (set this when the dashboard is served over HTTPS).
    #[arg(long, env = "LIFELINE_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Start with three simulated sessions (healthy, flapping, logged out after a while),
    /// so the dashboard shows life without a phone. Implies --simulator.
    #[arg(long, env = "LIFELINE_DEMO")]
    pub demo: bool,

    /// Offer the simulated connector and its fault-injection route
    /// (POST /dev/simulator/sessions/{id}/fault), for tests and trials.
    #[arg(long, env = "LIFELINE_SIMULATOR")]
    pub simulator: bool,

    /// Most session handshakes in flight at once (restore and reconnects alike).
    #[arg(long, env = "LIFELINE_MAX_HANDSHAKES",
          default_value_t = SupervisorPolicy::default().max_concurrent_handshakes,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_handshakes: u32,

    /// Least time between two session restores at start-up, in milliseconds (jitter is
    /// added).
    #[arg(long, env = "LIFELINE_RESTORE_SPACING_MS", default_value_t = default_restore_spacing_ms())]
    pub restore_spacing_ms: u64,

    /// How long each simulated QR code stays on screen before the next, in seconds (the
    /// simulator offers six before pairing times out).
    #[arg(long, env = "LIFELINE_SIMULATOR_QR_EVERY",
          default_value_t = SimConfig::default().qr_every.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub simulator_qr_every: u64,

    /// Report every simulated link to a witness listening at this address, which sees the
    /// links of all instances at once (the multi-instance chaos test runs one).
    #[arg(long, env = "LIFELINE_SIMULATOR_WITNESS")]
    pub simulator_witness: Option<SocketAddr>,

    /// The key WhatsApp credentials are sealed with in the database: 32 bytes as base64
    /// or 64 hex digits (`lifeline gen-key` makes one). Required once WhatsApp sessions
    /// exist; keep it safe, the stored sessions cannot be opened without it.
    #[arg(long, env = "LIFELINE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<SecretKey>,

    /// This instance's name among those sharing one PostgreSQL database (shown with the
    /// sessions it holds; `lifeline drain NAME` names it). Default: the host's name.
    #[arg(long, env = "LIFELINE_INSTANCE_NAME")]
    pub instance_name: Option<String>,

    /// The most sessions this instance holds when several share one PostgreSQL database.
    #[arg(long, env = "LIFELINE_INSTANCE_CAPACITY",
          default_value_t = InstanceSettings::DEFAULT_CAPACITY,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub instance_capacity: u32,

    /// How long a session lease lasts on PostgreSQL, in seconds: a dead instance's sessions
    /// wait this long for another to take them over; an instance that cannot renew closes
    /// its links a fifth of it before the end.
    #[arg(long, env = "LIFELINE_LEASE_TTL_SECS",
          default_value_t = LeaseTiming::DEFAULT_TTL.as_secs(),
          value_parser = clap::value_parser!(u64).range(3..=600))]
    pub lease_ttl_secs: u64,

    /// Waits between a webhook delivery's attempts (the first is at once), separated by
    /// commas; after the last the delivery has failed and is kept for redelivery.
    #[arg(long, env = "LIFELINE_WEBHOOK_RETRIES", default_value = webhooks::policy::DEFAULT_RETRIES,
          value_parser = webhooks::policy::parse_retries)]
    pub webhook_retries: webhooks::policy::Waits,

    /// How long one webhook request may take, connecting included, in seconds.
    #[arg(long, env = "LIFELINE_WEBHOOK_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub webhook_timeout_secs: u64,

    /// Multiply every dashboard timing (polls, reconnects, heartbeat) by this factor, from
    /// 0.01 to 10: tests run the real schedule faster, a slow network may want it slower.
    #[arg(long, env = "LIFELINE_DASHBOARD_TIME_SCALE", default_value_t = UNSCALED,
          value_parser = time_scale)]
    pub dashboard_time_scale: f64,
}

/// Where the server listens unless told otherwise.
const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3000);
/// Where Lifeline keeps its files unless told otherwise.
const DEFAULT_DATA_DIR: &str = "./data";
/// The dashboard's schedule as it is, neither faster nor slower.
const UNSCALED: f64 = 1.0;

fn default_restore_spacing_ms() -> u64 {
    u64::try_from(SupervisorPolicy::default().restore_spacing.as_millis()).unwrap_or(u64::MAX)
}

fn time_scale(text: &str) -> Result<f64, String> {
    let scale: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if (0.01..=10.0).contains(&scale) {
        Ok(scale)
    } else {
        Err(format!("{scale} is outside 0.01 to 10"))
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Settings {
    /// Settings with every default, data under `data_dir`: what tests and embedders start from.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Settings {
        Settings {
            addr: DEFAULT_ADDR,
            data_dir: data_dir.into(),
            database_url: None,
            log_format: LogFormat::Text,
            api_key: None,
            admin_password: None,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            ws_per_address: WsLimits::default().per_address,
            cors_origins: Vec::new(),
            public_metrics: false,
            secure_cookies: false,
            demo: false,
            simulator: false,
            max_handshakes: SupervisorPolicy::default().max_concurrent_handshakes,
            restore_spacing_ms: default_restore_spacing_ms(),
            dashboard_time_scale: UNSCALED,
            simulator_qr_every: SimConfig::default().qr_every.as_secs(),
            simulator_witness: None,
            secret_key: None,
            instance_name: None,
            instance_capacity: InstanceSettings::DEFAULT_CAPACITY,
            lease_ttl_secs: LeaseTiming::DEFAULT_TTL.as_secs(),
            webhook_retries: webhooks::policy::Waits(webhooks::policy::default_waits()),
            webhook_timeout_secs: WebhookPolicy::default().timeout.as_secs(),
        }
    }

    /// How this instance presents itself to the others sharing its database.
    pub fn instance(&self) -> InstanceSettings {
        InstanceSettings {
            name: self.instance_name.clone().unwrap_or_else(InstanceSettings::default_name),
            capacity: self.instance_capacity,
            timing: LeaseTiming { ttl: Duration::from_secs(self.lease_ttl_secs) },
        }
    }

    /// Whether the simulated connector is offered.
    pub fn simulator_enabled(&self) -> bool {
        self.simulator || self.demo
    }

    /// The supervisor policy: the defaults with this server's settings applied.
    pub fn policy(&self) -> SupervisorPolicy {
        SupervisorPolicy {
            max_concurrent_handshakes: self.max_handshakes,
            restore_spacing: Duration::from_millis(self.restore_spacing_ms),
            ..SupervisorPolicy::default()
        }
    }

    /// How webhooks are delivered.
    pub fn webhook_policy(&self) -> WebhookPolicy {
        WebhookPolicy {
            retries: Backoff::Steps { delays: self.webhook_retries.0.clone(), repeat_last: false },
            timeout: Duration::from_secs(self.webhook_timeout_secs),
            ..WebhookPolicy::default()
        }
    }

    /// The browser's schedules after the time scale.
    pub fn dashboard_policy(&self) -> DashboardPolicy {
        DashboardPolicy::default().scaled(self.dashboard_time_scale)
    }

    /// Where the default SQLite database lives.
    pub fn default_sqlite_path(&self) -> PathBuf {
        self.data_dir.join("lifeline.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line alone: the environment the tests run in (a developer's own
    /// `LIFELINE_*`) is not read.
    fn parse(args: &[&str]) -> Settings {
        use clap::{CommandFactory, FromArgMatches};
        let no_env = |arg: clap::Arg| arg.env(None::<&str>);
        let command = Cli::command().mut_args(no_env).mut_subcommands(|sub| sub.mut_args(no_env));
        let cli = Cli::from_arg_matches(&command.try_get_matches_from(args).unwrap()).unwrap();
        match cli.command {
            Some(Command::Serve(settings)) => settings,
            None => cli.serve,
            Some(other) => panic!("asked to serve, got {other:?}"),
        }
    }

    #[test]
    fn monitor_takes_its_url_key_and_schedule() {
        let task = Cli::try_parse_from([
            "lifeline",
            "monitor",
            "--url",
            "http://h:1",
            "--watch",
            "--json",
        ])
        .unwrap()
        .into_task();
        let Task::Monitor(args) = task else { panic!("not monitor: {task:?}") };
        assert_eq!(
            (args.url.as_str(), args.watch, args.json, args.interval),
            ("http://h:1", true, true, 5)
        );
        assert!(Cli::try_parse_from(["lifeline", "monitor", "--interval", "0"]).is_err());
    }

    #[test]
    fn a_bad_secret_key_is_refused_at_parse_time_and_gen_key_needs_no_settings() {
        let err = Cli::try_parse_from(["lifeline", "--secret-key", "too-short"]).unwrap_err();
        assert!(err.to_string().contains("lifeline gen-key"), "{err}");
        let key = SecretKey::generate().to_base64();
        assert!(parse(&["lifeline", "--secret-key", &key]).secret_key.is_some());
        let gen_key = Cli::try_parse_from(["lifeline", "gen-key"]).unwrap().into_task();
        assert!(matches!(gen_key, Task::GenKey));
    }

    #[test]
    fn the_dashboard_time_scale_is_bounded() {
        assert_eq!(parse(&["lifeline"]).dashboard_policy(), DashboardPolicy::default());
        let fast = parse(&["lifeline", "--dashboard-time-scale", "0.1"]).dashboard_policy();
        assert_eq!(fast.poll.light_every, Duration::from_secs(3));
        for bad in ["0", "-1", "11", "fast"] {
            let err = Cli::try_parse_from(["lifeline", "--dashboard-time-scale", bad]);
            assert!(err.is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_command_line_defaults_are_the_embedders_defaults() {
        let parsed = parse(&["lifeline"]);
        assert_eq!(
            format!("{parsed:?}"),
            format!("{:?}", Settings::with_data_dir(DEFAULT_DATA_DIR))
        );
    }

    #[test]
    fn bare_lifeline_serves_with_defaults() {
        let s = parse(&["lifeline"]);
        assert_eq!(s.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.log_format, LogFormat::Text);
    }

    #[test]
    fn serve_subcommand_and_top_level_flags_agree() {
        let a = parse(&["lifeline", "--addr", "0.0.0.0:8080", "--log-format", "json"]);
        let b = parse(&["lifeline", "serve", "--addr", "0.0.0.0:8080", "--log-format", "json"]);
        assert_eq!(a.addr, b.addr);
        assert_eq!(a.log_format, LogFormat::Json);
        assert_eq!(b.log_format, LogFormat::Json);
    }

    #[test]
    fn supervisor_settings_reach_the_policy() {
        let s = parse(&["lifeline", "--max-handshakes", "9", "--restore-spacing-ms", "40"]);
        let p = s.policy();
        assert_eq!(p.max_concurrent_handshakes, 9);
        assert_eq!(p.restore_spacing, Duration::from_millis(40));
        assert_eq!(p.restore, SupervisorPolicy::default().restore);
        assert!(Cli::try_parse_from(["lifeline", "--max-handshakes", "0"]).is_err());
        assert!(parse(&["lifeline", "--demo"]).simulator_enabled());
        assert!(!parse(&["lifeline"]).simulator_enabled());
    }

    #[test]
    fn webhook_settings_reach_the_webhook_policy() {
        let s = parse(&["lifeline", "--webhook-retries", "1s, 1m", "--webhook-timeout-secs", "3"]);
        let p = s.webhook_policy();
        let delays = vec![Duration::from_secs(1), Duration::from_secs(60)];
        assert_eq!(p.retries, Backoff::Steps { delays, repeat_last: false });
        assert_eq!(p.timeout, Duration::from_secs(3));
        assert_eq!(parse(&["lifeline"]).webhook_policy(), WebhookPolicy::default());
        assert!(Cli::try_parse_from(["lifeline", "--webhook-retries", "often"]).is_err());
        assert!(Cli::try_parse_from(["lifeline", "--webhook-timeout-secs", "0"]).is_err());
    }

    #[test]
    fn cors_origins_are_a_list() {
        let s = parse(&["lifeline", "--cors-origins", "https://a.example,https://b.example"]);
        assert_eq!(s.cors_origins, ["https://a.example", "https://b.example"]);
        assert!(parse(&["lifeline"]).cors_origins.is_empty());
    }

    #[test]
    fn bad_address_is_refused_by_the_parser() {
        assert!(Cli::try_parse_from(["lifeline", "--addr", "localhost"]).is_err());
    }
}
