//! The wire types: what the server says and the browser reads, in one definition.

pub mod api;
mod event;
mod health;
mod session;

pub use event::{Envelope, Event};
pub use health::{Health, HealthStatus, SessionCounts, Tally, derive_status};
pub use session::{Desired, ParseError, Reason, SessionStatus, SessionView};
