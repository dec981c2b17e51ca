//! Lifeline's server: supervises WhatsApp sessions and serves the dashboard, health and
//! events. The `lifeline` binary is a thin `main` over [`startup::Application`].

pub mod access;
pub mod board;
pub mod config;
pub mod connector;
pub mod db;
pub mod demo;
pub mod events;
pub mod http;
pub mod metrics;
pub mod monitor;
pub mod probe;
pub mod sealed;
pub mod shutdown;
pub mod site;
pub mod startup;
pub mod state;
pub mod supervisor;
pub mod telemetry;
pub mod today;
