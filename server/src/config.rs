//! Command line and settings: one typed [`Settings`] from flags and `LIFELINE_*` variables.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

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
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: supervise the sessions, serve the dashboard, health and events.
    Serve(Settings),
}

impl Cli {
    /// The settings to serve with, whichever way `serve` was asked for. Plain
    /// `DATABASE_URL` fills in when neither the flag nor `LIFELINE_DATABASE_URL` is given.
    pub fn into_serve_settings(self) -> Settings {
        let mut settings = match self.command {
            Some(Command::Serve(settings)) => settings,
            None => self.serve,
        };
        if settings.database_url.is_none() {
            settings.database_url = std::env::var("DATABASE_URL").ok();
        }
        settings.database_url = settings.database_url.filter(|url| !url.trim().is_empty());
        settings
    }
}

/// How the server runs. Every setting is also read from its `LIFELINE_*` variable, so
/// scripts and systemd units can drive it without flags.
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "LIFELINE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Folder for Lifeline's own files; the default SQLite database lives here.
    #[arg(long, env = "LIFELINE_DATA_DIR", default_value = "./data")]
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
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            data_dir: data_dir.into(),
            database_url: None,
            log_format: LogFormat::Text,
            api_key: None,
        }
    }

    /// Where the default SQLite database lives.
    pub fn default_sqlite_path(&self) -> PathBuf {
        self.data_dir.join("lifeline.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Settings {
        Cli::try_parse_from(args).unwrap().into_serve_settings()
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
    fn bad_address_is_refused_by_the_parser() {
        assert!(Cli::try_parse_from(["lifeline", "--addr", "localhost"]).is_err());
    }
}
