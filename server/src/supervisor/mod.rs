//! Session supervision: the pure state machine, one actor per session, the journal that
//! stores their changes, start-up restore, the manager that owns them all, what it reports
//! (the deep health report, a session's history), and the rules by which several
//! instances share sessions (lease timing, placement).

pub mod actor;
pub mod error;
mod forward;
pub mod journal;
pub mod lease_clock;
pub mod machine;
pub mod manager;
pub mod ownership;
pub mod placement;
pub mod recovery;
mod remote;
mod report;
pub mod restore;
pub mod watchdog;

pub use error::SupervisorError;
pub use manager::{Supervisor, SupervisorParts};
pub use ownership::InstanceSettings;
pub use restore::RestoreState;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod watchdog_tests;
