//! Lifeline's integration tests: one binary, each test on its own server (port 0) and its
//! own fresh database.

mod access;
mod chaos;
mod copy_db;
mod dashboard;
mod dashboard_functions;
mod deadline;
mod events;
mod health;
mod helpers;
mod hostile;
mod instances;
mod leases;
mod lifecycle;
mod monitor;
mod observability;
mod openapi;
mod process;
mod recovery;
mod rekey;
mod sessions;
mod startup;
mod store_rows;
mod webhooks;
mod whatsapp;
mod whatsapp_double;
mod whatsapp_store;
