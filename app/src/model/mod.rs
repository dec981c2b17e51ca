//! The wire types: what the server says and the browser reads, in one definition.

mod health;
mod session;

pub use health::{Health, HealthStatus, SessionCounts, Tally, derive_status};
pub use session::{Desired, ParseError, Reason, SessionStatus, SessionView};
