//! Leptos server functions: the dashboard's reads and writes.
//!
//! They run on the server and reach Lifeline through the [`Backend`] port the server
//! provides as context, so this crate never depends on the server's internals.

#[cfg(feature = "ssr")]
mod backend;
mod sessions;

#[cfg(feature = "ssr")]
pub use backend::{Backend, SharedBackend, backend};
pub use sessions::*;
