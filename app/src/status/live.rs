//! What the event channel has told the browser: a pure reducer over server frames.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::{
    Counted, Envelope, Event, Health, HealthStatus, SessionView, Tally, derive_status,
    recovery::Recovery,
    ws::{Control, ServerFrame},
};

/// A QR code on screen for a pairing session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrCode {
    /// The code's payload.
    pub code: String,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}

/// Start-up restore as last reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Restore {
    /// Sessions being restored.
    pub total: u32,
    /// Settled so far.
    pub done: u32,
    /// Settled as connected.
    pub connected: u32,
    /// Settled as not connected.
    pub failed: u32,
}

/// The state the event channel builds up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Live {
    /// The last event applied (or the snapshot's).
    pub seq: u64,
    /// Every session, newest first; `None` before the first snapshot.
    pub sessions: Option<Vec<SessionView>>,
    /// The light report, kept current from the events.
    pub health: Option<Health>,
    /// QR codes of pairing sessions.
    pub qr: HashMap<String, QrCode>,
    /// Codes to type on the phone, for sessions pairing by phone number.
    pub pair_codes: HashMap<String, QrCode>,
    /// Restore progress.
    pub restore: Option<Restore>,
    /// The last recovery of each session, as announced.
    pub recoveries: HashMap<String, Recovery>,
}

/// What applying a frame amounted to.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// State changed.
    Changed,
    /// Nothing to do (an old or duplicate event, a pong).
    Nothing,
    /// The server answered a ping.
    Pong,
    /// Events missed while disconnected, for whoever keeps a timeline: the answer to a
    /// `resume`, which the dashboard itself never sends (each connection's snapshot brings
    /// it up to date); clients that keep every event do.
    Replayed(Vec<Envelope>),
    /// The server did not understand something the client sent.
    Refused(String),
}

impl Live {
    /// Applies one frame from the server.
    pub fn apply(&mut self, frame: ServerFrame) -> Applied {
        match frame {
            ServerFrame::Control(Control::Snapshot { seq, sessions, health }) => {
                self.seq = seq;
                self.sessions = Some(sessions);
                self.health = Some(health);
                Applied::Changed
            }
            ServerFrame::Control(Control::Pong) => Applied::Pong,
            ServerFrame::Control(Control::Replay { events, .. }) => Applied::Replayed(events),
            ServerFrame::Control(Control::Error { message }) => Applied::Refused(message),
            // Events at or before what is known already are in the snapshot.
            ServerFrame::Event(envelope) if envelope.seq <= self.seq => Applied::Nothing,
            ServerFrame::Event(envelope) => {
                self.seq = envelope.seq;
                self.event(envelope.event);
                Applied::Changed
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::SessionStatus { session } => {
                if session.status != crate::model::SessionStatus::QrPending {
                    self.qr.remove(&session.id);
                    self.pair_codes.remove(&session.id);
                }
                let sessions = self.sessions.get_or_insert_with(Vec::new);
                match sessions.iter_mut().find(|s| s.id == session.id) {
                    Some(known) => *known = session,
                    None => sessions.insert(0, session),
                }
                self.recount();
            }
            Event::SessionRemoved { session_id } => {
                if let Some(sessions) = &mut self.sessions {
                    sessions.retain(|s| s.id != session_id);
                }
                self.qr.remove(&session_id);
                self.pair_codes.remove(&session_id);
                self.recoveries.remove(&session_id);
                self.recount();
            }
            Event::Qr { session_id, code, expires_at } => {
                self.qr.insert(session_id, QrCode { code, expires_at });
            }
            Event::PairCode { session_id, code, expires_at } => {
                self.pair_codes.insert(session_id, QrCode { code, expires_at });
            }
            Event::Recovery { recovery } => {
                self.recoveries.insert(recovery.session_id.clone(), recovery);
            }
            Event::RestoreProgress { total, done, connected, failed } => {
                self.restore = Some(Restore { total, done, connected, failed });
            }
        }
    }

    /// Keeps the report's counts and status in step with the sessions.
    fn recount(&mut self) {
        let (Some(health), Some(sessions)) = (&mut self.health, &self.sessions) else { return };
        let tally: Tally = sessions.iter().map(Counted::from).collect();
        health.sessions = tally.counts;
        // The database's condition is not in the events: keep what the server last said.
        health.status = derive_status(&tally, health.status != HealthStatus::Error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SessionCounts, SessionStatus};

    fn session(id: &str, status: SessionStatus) -> SessionView {
        SessionView {
            status,
            ..SessionView::new(id.into(), id.into(), "simulator".into(), Utc::now())
        }
    }

    fn snapshot(seq: u64, sessions: Vec<SessionView>) -> ServerFrame {
        ServerFrame::Control(Control::Snapshot {
            seq,
            health: Health {
                status: HealthStatus::Ok,
                timestamp: Utc::now(),
                uptime: 100,
                sessions: SessionCounts::default(),
            },
            sessions,
        })
    }

    fn status(seq: u64, s: SessionView) -> ServerFrame {
        ServerFrame::Event(Envelope {
            seq,
            at: Utc::now(),
            event: Event::SessionStatus { session: s },
        })
    }

    #[test]
    fn events_keep_sessions_and_counts_current() {
        let mut live = Live::default();
        live.apply(snapshot(5, vec![session("a", SessionStatus::Connected)]));
        live.apply(status(6, session("a", SessionStatus::Reconnecting)));
        let h = live.health.clone().unwrap();
        assert_eq!((h.sessions.total, h.sessions.connecting), (1, 1));
        assert_eq!(h.status, HealthStatus::Degraded);

        live.apply(status(7, session("b", SessionStatus::Connected)));
        live.apply(status(8, session("a", SessionStatus::Connected)));
        assert_eq!(live.health.as_ref().unwrap().status, HealthStatus::Ok);
        assert_eq!(live.sessions.as_ref().unwrap().len(), 2);
        assert_eq!(live.seq, 8);
    }

    #[test]
    fn old_events_are_ignored_after_a_snapshot() {
        let mut live = Live::default();
        live.apply(snapshot(10, vec![session("a", SessionStatus::Connected)]));
        assert_eq!(
            live.apply(status(9, session("a", SessionStatus::Disconnected))),
            Applied::Nothing
        );
        assert_eq!(live.sessions.as_ref().unwrap()[0].status, SessionStatus::Connected);
    }

    #[test]
    fn qr_codes_come_and_go_with_pairing() {
        let mut live = Live::default();
        live.apply(snapshot(1, vec![]));
        let qr = Event::Qr { session_id: "n".into(), code: "c1".into(), expires_at: Utc::now() };
        live.apply(ServerFrame::Event(Envelope { seq: 2, at: Utc::now(), event: qr }));
        assert_eq!(live.qr["n"].code, "c1");
        let code = Event::PairCode {
            session_id: "n".into(),
            code: "ABCD1234".into(),
            expires_at: Utc::now(),
        };
        live.apply(ServerFrame::Event(Envelope { seq: 3, at: Utc::now(), event: code }));
        assert_eq!(live.pair_codes["n"].code, "ABCD1234");
        live.apply(status(4, session("n", SessionStatus::Connected)));
        assert!(live.qr.is_empty());
        assert!(live.pair_codes.is_empty());
    }

    #[test]
    fn a_database_error_survives_recounting() {
        let mut live = Live::default();
        live.apply(snapshot(1, vec![]));
        live.health.as_mut().unwrap().status = HealthStatus::Error;
        live.apply(status(2, session("a", SessionStatus::Connected)));
        assert_eq!(live.health.unwrap().status, HealthStatus::Error);
    }
}
