//! Lifeline's server: supervises WhatsApp sessions and serves the dashboard, health and
//! events. The `lifeline` binary is a thin `main` over [`startup::Application`].

pub mod access;
pub mod backend;
pub mod client_addr;
pub mod config;
pub mod connector;
pub mod daily_counts;
pub mod dashboard_files;
pub mod db;
pub mod db_probe;
pub mod demo;
pub mod events;
pub mod http;
pub mod metrics;
pub mod monitor;
pub mod secret_key;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod status_board;
pub mod supervisor;
pub mod telemetry;
pub mod webhooks;
