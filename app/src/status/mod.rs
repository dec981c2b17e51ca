//! The dashboard's live view of the server: one context that every status component reads.
//!
//! [`provide_status`] puts a [`StatusState`] in context; in the browser it also starts the
//! health poller that keeps it current. What the state *means* for the dot and the badge is
//! decided by the pure [`read`] function.

mod context;
mod indicator;
#[cfg(feature = "hydrate")]
mod poller;

pub use context::{StatusState, provide_status, use_status};
pub use indicator::{Indicator, Reading, read};
