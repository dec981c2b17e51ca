//! Webhooks: events written to a durable outbox in the transaction of the change that
//! caused them, and delivered from there, signed per the Standard Webhooks specification,
//! at least once and in order per endpoint and session, retried over about a day.

pub mod delivery;
pub mod endpoints;
pub mod payload;
pub mod policy;
pub mod signing;

pub use delivery::{Deliverer, Outbox};
pub use endpoints::Webhooks;
pub use policy::WebhookPolicy;
