//! The dashboard's live view of the server: one context that every status component reads.
//!
//! [`provide_status`] puts a [`StatusState`] in context; in the browser it also opens the
//! `/ws` event channel and starts the health poller that keep it current. What the state
//! *means* for the dot and the badge is decided by the pure [`read`] function, what the
//! channel's frames mean by the pure [`Live`] reducer.

mod context;
mod indicator;
mod live;
#[cfg(feature = "hydrate")]
mod page;
#[cfg(feature = "hydrate")]
mod poller;
#[cfg(feature = "hydrate")]
mod socket;
mod socket_state;

pub use context::{StatusState, provide_status, use_status};
pub use indicator::{Indicator, Reading, read};
pub use live::{Applied, Live, QrCode, Restore};
pub use socket_state::SocketState;

/// Reconnects the event channel now (the "retry" button); a no-op on the server.
pub fn retry_socket() {
    #[cfg(feature = "hydrate")]
    socket::retry_now();
}
