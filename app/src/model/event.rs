//! Events on the bus and the `/ws` channel: what changed, with a sequence number.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SessionView;

/// Something that happened, as the server tells every listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A session's observed state changed (one event per real change).
    SessionStatus {
        /// The session as it is now.
        session: SessionView,
    },
    /// A session was deleted.
    SessionRemoved {
        /// Which one.
        session_id: String,
    },
    /// A new QR code to scan for a pairing session; replaces the previous one.
    Qr {
        /// Which session is pairing.
        session_id: String,
        /// The code's payload, rendered as a QR image by the dashboard.
        code: String,
        /// When the code stops being valid.
        expires_at: DateTime<Utc>,
    },
    /// A code to type on the phone (Link with phone number instead) for a pairing session;
    /// replaces the previous one.
    PairCode {
        /// Which session is pairing.
        session_id: String,
        /// Eight characters, as WhatsApp shows them.
        code: String,
        /// When the code stops being valid.
        expires_at: DateTime<Utc>,
    },
    /// A recovery was attempted, by the watchdog or a person, and this is how it went.
    Recovery {
        /// What was done and how it went.
        recovery: super::recovery::Recovery,
    },
    /// Start-up restore advanced.
    RestoreProgress {
        /// Sessions restore acts on.
        total: u32,
        /// Of those, settled so far (connected or given up).
        done: u32,
        /// Of the settled, connected.
        connected: u32,
        /// Of the settled, not connected.
        failed: u32,
    },
}

/// An [`Event`] with its place in the stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Envelope {
    /// Strictly increasing, starting at 1; a gap tells a client it missed something.
    pub seq: u64,
    /// When the server published it.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

impl Envelope {
    /// Reads an event as the server sent it (see `ws_read` for why this is not derived).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        super::ws_read::envelope(text)
    }
}
