//! The wire types: what the server says and the browser reads, in one definition.

mod access;
pub mod api;
mod event;
mod health;
pub mod history;
pub mod instances;
pub mod recovery;
mod session;
pub mod webhooks;
pub mod ws;
mod ws_read;

pub use access::{
    ApiKeyView, AuthState, CreatedApiKey, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, Needs, Scope,
    SetupForm, check_new_password, check_username,
};
pub use event::{Envelope, Event};
pub use health::{
    Counted, DatabaseHealth, DeepHealth, Health, HealthStatus, OutboxHealth, SessionCounts,
    SessionHealth, Tally, TodayActivity, derive_status,
};
pub use session::{Desired, ParseError, Reason, SessionStatus, SessionView};
