//! How the upstream ends a link, and the codes it shows while pairing: the vocabulary a
//! connector reports in and the session machine decides on, stated once for both.

use app::model::Reason;
use chrono::{DateTime, Utc};

/// The upstream ended the link (or the attempt's link), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It asks for a fresh login at once: routine, neither a failure nor counted against
    /// the retries.
    Restart,
    /// The link was lost; worth reconnecting.
    Dropped {
        /// What the upstream or transport said.
        error: String,
    },
    /// The phone unlinked this device (or an operator logged it out): the credentials are
    /// dead.
    LoggedOut,
    /// Another client logged in with the same credentials; reconnecting would fight it.
    Replaced,
    /// The number is banned until the given time.
    Banned {
        /// When the ban ends, if known.
        until: Option<DateTime<Utc>>,
    },
    /// The upstream refused the session for good: no retry can help until a person acts.
    Refused {
        /// What kind of refusal.
        refusal: Refusal,
        /// What the upstream said, and what to do.
        error: String,
    },
}

/// Refusals that no retry can overcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The upstream no longer accepts this client version.
    ClientOutdated,
    /// Any other refusal the upstream marks as final.
    Other,
}

impl Refusal {
    /// The reason a session refused this way shows.
    pub fn reason(self) -> Reason {
        match self {
            Refusal::ClientOutdated => Reason::ClientOutdated,
            Refusal::Other => Reason::Refused,
        }
    }
}

/// A code on show while pairing (a QR payload, or eight characters to type on the phone);
/// each replaces the one before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShownCode {
    /// The payload.
    pub code: String,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}
