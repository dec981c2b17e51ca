//! The frames of the `/ws` event channel.
//!
//! Server to client: a `snapshot` first, then every [`Envelope`] as it is published
//! (`session_status`, `qr`, `restore_progress`, `session_removed`), plus `pong`, `replay`
//! and `error`. Client to server: `ping` and `resume`.

use serde::{Deserialize, Serialize};

use super::{Envelope, Health, SessionView};

/// The frames the server sends besides events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// Everything as of event `seq`: the first frame of every connection, and the answer to
    /// a resume that reaches further back than the server remembers.
    Snapshot {
        /// The last event the snapshot includes; events after it follow.
        seq: u64,
        /// Every session.
        sessions: Vec<SessionView>,
        /// The light health report.
        health: Health,
    },
    /// The answer to a client's `ping`.
    Pong,
    /// The events a resuming client missed, oldest first, up to `through`.
    Replay {
        /// The missed events.
        events: Vec<Envelope>,
        /// The last event included (the snapshot's `seq`).
        through: u64,
    },
    /// The client sent something the server does not understand; the connection stays up.
    Error {
        /// What was wrong.
        message: String,
    },
}

/// Any frame from the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServerFrame {
    /// A control frame.
    Control(Control),
    /// An event.
    Event(Envelope),
}

/// The frames a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Are you there? Answered with `pong`.
    Ping,
    /// Send me the events after `after_seq` that I missed while disconnected.
    Resume {
        /// The last event this client saw.
        after_seq: u64,
    },
}

/// Close codes the server uses, with their meaning (also in the README).
pub mod close {
    /// The server is shutting down; reconnect later.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame was larger than the server accepts.
    pub const TOO_BIG: u16 = 1009;
    /// The client did not answer the server's pings.
    pub const HEARTBEAT_MISSED: u16 = 4000;
    /// The login or key behind the connection is no longer valid.
    pub const CREDENTIALS_EXPIRED: u16 = 4001;
    /// The client fell too far behind the event stream; reconnect and resume.
    pub const TOO_SLOW: u16 = 4008;
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::model::{Event, HealthStatus, SessionCounts};

    #[test]
    fn frames_tell_control_from_events() {
        let event = ServerFrame::Event(Envelope {
            seq: 7,
            at: Utc::now(),
            event: Event::SessionRemoved { session_id: "s".into() },
        });
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains("\"type\":\"session_removed\""), "{text}");
        assert_eq!(serde_json::from_str::<ServerFrame>(&text).unwrap(), event);

        let snapshot = ServerFrame::Control(Control::Snapshot {
            seq: 3,
            sessions: vec![],
            health: Health {
                status: HealthStatus::Ok,
                timestamp: Utc::now(),
                uptime: 1,
                sessions: SessionCounts::default(),
            },
        });
        let text = serde_json::to_string(&snapshot).unwrap();
        assert_eq!(serde_json::from_str::<ServerFrame>(&text).unwrap(), snapshot);
        assert_eq!(
            serde_json::from_str::<ServerFrame>(r#"{"type":"pong"}"#).unwrap(),
            ServerFrame::Control(Control::Pong)
        );
    }

    #[test]
    fn client_frames() {
        assert_eq!(
            serde_json::from_str::<ClientFrame>(r#"{"type":"ping"}"#).unwrap(),
            ClientFrame::Ping
        );
        assert_eq!(
            serde_json::from_str::<ClientFrame>(r#"{"type":"resume","after_seq":12}"#).unwrap(),
            ClientFrame::Resume { after_seq: 12 }
        );
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"resume"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
    }
}
