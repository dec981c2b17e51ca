//! The frames of the `/ws` event channel.
//!
//! Server to client: a `snapshot` first, then every [`Envelope`] as it is published
//! (`session_status`, `qr`, `restore_progress`, `session_removed`), plus `pong`, `replay`
//! and `error`. Client to server: `ping` and `resume`.

use serde::{Deserialize, Serialize};

use super::{Envelope, Health, SessionView};

/// The frames the server sends besides events.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ServerFrame {
    /// A control frame.
    Control(Control),
    /// An event.
    Event(Envelope),
}

impl ServerFrame {
    /// Reads a frame as the server sent it (see `ws_read` for why this is not derived).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        super::ws_read::frame(text)
    }
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
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::model::{
        Event, HealthStatus, Reason, SessionCounts, SessionStatus,
        recovery::{Action, Outcome, Recovery, Trigger},
    };

    fn every_frame() -> Vec<ServerFrame> {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 13, 30, 0).unwrap();
        let mut session = SessionView::new("s1".into(), "Shop".into(), "simulator".into(), at);
        session.status = SessionStatus::Disconnected;
        session.reason = Some(Reason::GaveUp);
        session.next_retry_at = Some(at);
        session.held_by = Some("lifeline-a".into());
        let health = Health {
            status: HealthStatus::Degraded,
            timestamp: at,
            uptime: 42,
            sessions: SessionCounts::default(),
        };
        let events = vec![
            Event::SessionStatus { session: session.clone() },
            Event::SessionRemoved { session_id: "s2".into() },
            Event::Qr { session_id: "s1".into(), code: "2@abc,def".into(), expires_at: at },
            Event::PairCode { session_id: "s1".into(), code: "ABCD1234".into(), expires_at: at },
            Event::Recovery {
                recovery: Recovery {
                    at,
                    session_id: "s1".into(),
                    trigger: Trigger::DeadLink,
                    action: Action::Reconnect,
                    outcome: Outcome::Recovered,
                    error: Some("\"quoted\" \u{e9}".into()),
                    budget_left: 2,
                },
            },
            Event::RestoreProgress { total: 5, done: 3, connected: 2, failed: 1 },
        ];
        let envelopes: Vec<Envelope> =
            (1..).zip(events).map(|(seq, event)| Envelope { seq, at, event }).collect();
        let mut frames = vec![
            ServerFrame::Control(Control::Snapshot { seq: 9, sessions: vec![session], health }),
            ServerFrame::Control(Control::Pong),
            ServerFrame::Control(Control::Replay { events: envelopes.clone(), through: 6 }),
            ServerFrame::Control(Control::Replay { events: vec![], through: 6 }),
            ServerFrame::Control(Control::Error { message: "not a frame".into() }),
        ];
        frames.extend(envelopes.into_iter().map(ServerFrame::Event));
        frames
    }

    #[test]
    fn every_frame_reads_back_as_written() {
        for frame in every_frame() {
            let text = serde_json::to_string(&frame).unwrap();
            assert_eq!(ServerFrame::from_json(&text).unwrap(), frame, "{text}");
            if let ServerFrame::Event(envelope) = &frame {
                assert_eq!(&Envelope::from_json(&text).unwrap(), envelope, "{text}");
            }
        }
    }

    #[test]
    fn field_order_and_unknown_fields_do_not_matter() {
        for frame in every_frame() {
            let serde_json::Value::Object(fields) = serde_json::to_value(&frame).unwrap() else {
                panic!("a frame is an object")
            };
            // Reversed, with a field a newer server might add.
            let mut reversed: serde_json::Map<_, _> = fields.into_iter().rev().collect();
            reversed.insert("added_later".into(), serde_json::json!({"nested": [1, 2]}));
            let text = serde_json::Value::Object(reversed).to_string();
            assert_eq!(ServerFrame::from_json(&text).unwrap(), frame, "{text}");
        }
    }

    #[test]
    fn frames_tell_control_from_events() {
        let text =
            r#"{"seq":7,"at":"2026-12-05T13:30:00Z","type":"session_removed","session_id":"s"}"#;
        let ServerFrame::Event(envelope) = ServerFrame::from_json(text).unwrap() else {
            panic!("an event")
        };
        assert_eq!(envelope.seq, 7);
        assert_eq!(envelope.event, Event::SessionRemoved { session_id: "s".into() });
        assert_eq!(
            ServerFrame::from_json(r#"{"type":"pong"}"#).unwrap(),
            ServerFrame::Control(Control::Pong)
        );
    }

    #[test]
    fn what_is_not_a_frame_is_refused_with_the_reason() {
        let refused = |text: &str| ServerFrame::from_json(text).unwrap_err().to_string();
        assert!(refused(r#"{"type":"shout"}"#).contains("unknown variant `shout`"));
        assert!(refused(r#"{"seq":1}"#).contains("missing field `type`"));
        // An event without its place in the stream, or without its own fields.
        assert!(refused(r#"{"type":"session_removed","session_id":"s"}"#).contains("`seq`"));
        assert!(
            refused(r#"{"type":"session_removed","seq":1,"at":"2026-12-05T13:30:00Z"}"#)
                .contains("`session_id`")
        );
        assert!(
            refused(r#"{"type":"replay","events":[{"type":"pong"}],"through":1}"#)
                .contains("unknown variant `pong`")
        );
        assert!(refused(r#"{"type":"snapshot","seq":"1"}"#).contains("invalid type"));
        assert!(refused("[1,2]").contains("invalid type"));
        assert!(refused("not json").contains("expected"));
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
