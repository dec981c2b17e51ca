//! `lifeline monitor`: a quick look at a running Lifeline from a shell, cron or a
//! monitoring system. It reads `/health` (public) and, with an API key, `/health/deep`,
//! prints what it found and exits 0 ok, 1 degraded, 2 error, 3 unreachable.

pub mod check;
pub mod render;

use std::{
    io::{IsTerminal, Write},
    process::ExitCode,
    time::Duration,
};

use app::model::{DeepHealth, Health};
use chrono::Utc;
use serde::de::DeserializeOwned;

use check::{Fetched, Observation, Report, assess};
use render::{Colour, render};

/// How long one request may take before the server counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What `lifeline monitor` takes.
#[derive(Clone, Debug, clap::Args)]
pub struct MonitorArgs {
    /// The Lifeline to look at.
    #[arg(long, env = "LIFELINE_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// An API key, for the database, per-session detail and today's activity.
    #[arg(long, env = "LIFELINE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Look again every few seconds until interrupted.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between looks with --watch.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub interval: u64,
    /// Print one JSON object per look instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Looks once (or, with `--watch`, until interrupted) and returns the last verdict's code.
pub fn run(args: &MonitorArgs) -> ExitCode {
    let colour = if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        Colour::On
    } else {
        Colour::Off
    };
    // One client for every look: --watch reuses its connections.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    loop {
        let report = look(&agent, args);
        let text = if args.json {
            serde_json::to_string(&report).expect("a report always serialises") + "\n"
        } else {
            render(&report, colour)
        };
        let mut stdout = std::io::stdout().lock();
        if args.watch && !args.json && colour == Colour::On {
            // Redraw in place, as `watch` does.
            let _ = write!(stdout, "\x1b[H\x1b[2J");
        }
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
        if !args.watch {
            return ExitCode::from(report.exit_code);
        }
        std::thread::sleep(Duration::from_secs(args.interval));
    }
}

/// One look at `args.url`.
fn look(agent: &ureq::Agent, args: &MonitorArgs) -> Report {
    let base = args.url.trim_end_matches('/').to_owned();
    let light = fetch::<Health>(agent, &format!("{base}/health"), None);
    let deep = match (&light, args.api_key.as_deref().map(str::trim)) {
        (Fetched::Report(_), Some(key)) if !key.is_empty() => {
            Some(fetch::<DeepHealth>(agent, &format!("{base}/health/deep"), Some(key)))
        }
        _ => None,
    };
    assess(&Observation { url: base, at: Utc::now(), light, deep })
}

fn fetch<T: DeserializeOwned>(agent: &ureq::Agent, url: &str, key: Option<&str>) -> Fetched<T> {
    let mut request = agent.get(url).header("accept", "application/json");
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let mut response = match request.call() {
        Ok(response) => response,
        Err(e) => return Fetched::Unreachable(e.to_string()),
    };
    let status = response.status().as_u16();
    let body = match response.body_mut().read_to_string() {
        Ok(body) => body,
        Err(e) => return Fetched::Unreachable(format!("the answer broke off: {e}")),
    };
    // Health reports come with 200 or, when the server is in error, 503.
    match serde_json::from_str::<T>(&body) {
        Ok(report) if matches!(status, 200 | 503) => Fetched::Report(report),
        _ => {
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| body.chars().take(200).collect());
            Fetched::Refused { status, message }
        }
    }
}
