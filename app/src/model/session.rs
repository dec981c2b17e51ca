//! A WhatsApp session as the dashboard and the machines' API see it.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Observed state of a session: what the database stores and the dashboard shows.
///
/// The supervisor's state machine moves it (`server/src/supervisor/machine.rs`). The wire and
/// database spelling is snake_case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum SessionStatus {
    /// New session waiting for a QR scan.
    QrPending,
    /// A connection attempt is under way.
    Connecting,
    /// Linked and live.
    Connected,
    /// Dropped; another attempt is scheduled.
    Reconnecting,
    /// Not connected and not trying; the reason says why.
    Disconnected,
    /// Unlinked from the phone; only a new QR scan brings it back.
    LoggedOut,
}

/// Why a session is in its state (mostly meaningful for `disconnected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Reason {
    /// Every retry of the policy failed; `last_error` holds the last failure.
    GaveUp,
    /// An operator stopped it.
    Stopped,
    /// The server shut down cleanly; the next start restores it.
    ServerShutdown,
    /// Handed over to another instance sharing the database (a move, a drain, spreading
    /// the load); that instance connects it.
    HandedOver,
    /// Another client took the session over.
    Replaced,
    /// WhatsApp banned the number for a while.
    Banned,
    /// QR codes ran out before anyone scanned one.
    QrTimeout,
    /// The link dropped; a reconnect is scheduled.
    ConnectionLost,
    /// The last connection attempt failed; another is scheduled.
    AttemptFailed,
    /// WhatsApp no longer accepts this client version: Lifeline must be updated.
    ClientOutdated,
    /// WhatsApp refused the session for good; `last_error` says how.
    Refused,
}

/// What the operator wants the session to be doing, apart from what it is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Desired {
    /// Keep it connected: restore and recovery act on it.
    Running,
    /// Leave it alone until an operator starts it.
    Stopped,
}

/// A stored value that is not one of the known spellings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct ParseError {
    /// Which enumeration was being read.
    pub kind: &'static str,
    /// The text that did not match.
    pub value: String,
}

/// Implements the snake_case text form shared by the database and the wire.
macro_rules! text_enum {
    ($ty:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The snake_case spelling used in the database and on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl FromStr for $ty {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(ParseError { kind: $kind, value: other.to_owned() }),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(super) use text_enum;

text_enum!(SessionStatus, "session status", {
    QrPending => "qr_pending",
    Connecting => "connecting",
    Connected => "connected",
    Reconnecting => "reconnecting",
    Disconnected => "disconnected",
    LoggedOut => "logged_out",
});

text_enum!(Reason, "reason", {
    GaveUp => "gave_up",
    Stopped => "stopped",
    ServerShutdown => "server_shutdown",
    HandedOver => "handed_over",
    Replaced => "replaced",
    Banned => "banned",
    QrTimeout => "qr_timeout",
    ConnectionLost => "connection_lost",
    AttemptFailed => "attempt_failed",
    ClientOutdated => "client_outdated",
    Refused => "refused",
});

text_enum!(Desired, "desired state", {
    Running => "running",
    Stopped => "stopped",
});

impl SessionStatus {
    /// A short human label for the dashboard.
    pub fn label(self) -> &'static str {
        match self {
            SessionStatus::QrPending => "Waiting for QR scan",
            SessionStatus::Connecting => "Connecting",
            SessionStatus::Connected => "Connected",
            SessionStatus::Reconnecting => "Reconnecting",
            SessionStatus::Disconnected => "Disconnected",
            SessionStatus::LoggedOut => "Logged out",
        }
    }
}

impl Reason {
    /// A short human explanation for the dashboard.
    pub fn label(self) -> &'static str {
        match self {
            Reason::GaveUp => "gave up after retries",
            Reason::Stopped => "stopped by an operator",
            Reason::ServerShutdown => "server shut down",
            Reason::HandedOver => "handed over to another instance",
            Reason::Replaced => "replaced by another client",
            Reason::Banned => "temporarily banned",
            Reason::QrTimeout => "QR code not scanned in time",
            Reason::ConnectionLost => "connection lost",
            Reason::AttemptFailed => "connection attempt failed",
            Reason::ClientOutdated => "this Lifeline version is outdated",
            Reason::Refused => "refused by WhatsApp",
        }
    }

    /// What a person should do about it, where Lifeline cannot act on its own.
    pub fn advice(self) -> Option<&'static str> {
        match self {
            Reason::ClientOutdated => {
                Some("WhatsApp no longer accepts this version: update Lifeline, then reconnect")
            }
            Reason::Refused => Some(
                "WhatsApp refused this session: check the number in WhatsApp on the phone, \
                 then reconnect",
            ),
            Reason::Replaced => Some(
                "another device or server uses this session: stop it there, then reconnect here",
            ),
            Reason::Banned => Some("wait until the ban ends, then reconnect"),
            Reason::GaveUp => Some("fix what the last error names, then reconnect"),
            Reason::QrTimeout => Some("start the session again and scan the new QR code"),
            Reason::Stopped
            | Reason::ServerShutdown
            | Reason::HandedOver
            | Reason::ConnectionLost
            | Reason::AttemptFailed => None,
        }
    }
}

/// One session's row, as listed on the Sessions page and returned by the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionView {
    /// Stable identifier.
    pub id: String,
    /// The operator's name for it.
    pub name: String,
    /// Which connector drives it: `whatsapp` or `simulator`.
    pub connector: String,
    /// The linked phone number, once paired.
    pub phone_number: Option<String>,
    /// Whether credentials are stored: without them only a QR scan brings it back.
    pub paired: bool,
    /// Observed state.
    pub status: SessionStatus,
    /// Why it is in that state, where that matters.
    pub reason: Option<Reason>,
    /// The last failure seen, for `gave_up` and friends.
    pub last_error: Option<String>,
    /// Retry number within the current schedule (0: first try, or none pending).
    pub attempt: u32,
    /// When the next attempt is due.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Last time the session was live.
    pub last_connected_at: Option<DateTime<Utc>>,
    /// Last time a message arrived.
    pub last_message_at: Option<DateTime<Utc>>,
    /// Whether restore and recovery may connect it without a person.
    pub auto_connect: bool,
    /// Whether the operator marked it as one that matters most: while any session is
    /// marked, the health status (and the dashboard's dot) speaks for the marked ones only.
    #[serde(default)]
    pub primary: bool,
    /// What the operator wants it to be doing.
    pub desired: Desired,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its row last changed.
    pub updated_at: DateTime<Utc>,
    /// The instance holding the session, when several share one PostgreSQL database (absent
    /// on SQLite, where the one instance holds them all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

impl SessionView {
    /// A session that has just been created: unpaired, not connected, meant to run, and
    /// allowed to connect on its own.
    pub fn new(id: String, name: String, connector: String, now: DateTime<Utc>) -> SessionView {
        SessionView {
            id,
            name,
            connector,
            phone_number: None,
            paired: false,
            status: SessionStatus::Disconnected,
            reason: None,
            last_error: None,
            attempt: 0,
            next_retry_at: None,
            last_connected_at: None,
            last_message_at: None,
            auto_connect: true,
            primary: false,
            desired: Desired::Running,
            created_at: now,
            updated_at: now,
            held_by: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for s in SessionStatus::ALL {
            assert_eq!(s.as_str().parse::<SessionStatus>(), Ok(*s));
            assert_eq!(serde_json::to_string(s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>(), Ok(*r));
        }
        for d in Desired::ALL {
            assert_eq!(d.as_str().parse::<Desired>(), Ok(*d));
        }
    }

    #[test]
    fn unknown_text_is_an_error_naming_the_value() {
        let err = "online".parse::<SessionStatus>().unwrap_err();
        assert_eq!(err.to_string(), "unknown session status \"online\"");
    }
}
