//! Leptos server functions: the dashboard's reads and writes.
//!
//! They run on the server and reach Lifeline through the [`Backend`] port the server
//! provides as context, so this crate never depends on the server's internals. All but
//! the login and setup functions need a login.

mod auth;
#[cfg(feature = "ssr")]
mod backend;
mod health;
mod instances;
mod keys;
mod sessions;
mod webhooks;

pub use auth::*;
#[cfg(feature = "ssr")]
pub use backend::{Backend, SharedBackend, authorized, backend, fail, request};
pub use health::*;
pub use instances::*;
pub use keys::*;
pub use sessions::*;
pub use webhooks::*;
