//! Lifeline's shared crate.
//!
//! Everything both sides of the wire agree on lives here: the wire types ([`model`]), the
//! timing policies ([`policy`]), the dashboard's components and pages, the Leptos server
//! functions, and the browser-side status client. The `ssr` feature compiles the server's
//! half, `hydrate` the browser's.

// Leptos views are deeply nested types; the frame around every page exceeds the default.
#![recursion_limit = "256"]

pub mod components;
pub mod error;
pub mod functions;
pub mod model;
pub mod policy;
pub mod routes;
mod shell;
pub mod status;

pub use shell::{App, hash_file, shell};
