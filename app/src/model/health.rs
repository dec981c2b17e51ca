//! The health reports (`GET /health`, `GET /health/deep`) and how their status is derived.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SessionStatus;

/// Overall state of a Lifeline server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum HealthStatus {
    /// Every session that should run is connected and the database answers.
    Ok,
    /// The server runs, but some session that should run is not connected.
    Degraded,
    /// The database is unreachable or a critical part failed.
    Error,
}

impl HealthStatus {
    /// The wire spelling: `ok`, `degraded` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ok => "ok",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Error => "error",
        }
    }
}

/// Sessions by coarse state, the `sessions` object of `GET /health`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionCounts {
    /// Every session Lifeline knows.
    pub total: u32,
    /// Linked and live.
    pub connected: u32,
    /// On the way: waiting for a QR scan, connecting or reconnecting.
    pub connecting: u32,
    /// Not trying: disconnected for any reason, or logged out.
    pub disconnected: u32,
}

/// `GET /health`: the light report, cheap enough to poll every 30 s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Health {
    /// Derived with [`derive_status`].
    pub status: HealthStatus,
    /// When the report was made (RFC 3339).
    pub timestamp: DateTime<Utc>,
    /// Seconds since the server started.
    pub uptime: u64,
    /// Sessions by coarse state.
    pub sessions: SessionCounts,
}

/// `GET /health/deep`: the full report, polled by the dashboard every 5 min and by
/// monitoring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeepHealth {
    /// Derived like the light report's, with the database measured just now.
    pub status: HealthStatus,
    /// When the report was made.
    pub timestamp: DateTime<Utc>,
    /// Seconds since the server started.
    pub uptime: u64,
    /// A real round trip to the database.
    pub database: DatabaseHealth,
    /// Every session.
    pub sessions: Vec<SessionHealth>,
    /// Activity since midnight UTC (or since the server started, if later).
    #[serde(default)]
    pub today: Option<TodayActivity>,
    /// The live instances sharing the database, with their load (one on SQLite); empty
    /// when the database could not be read.
    #[serde(default)]
    pub instances: Vec<super::instances::InstanceView>,
    /// The webhook outbox; `None` when the database could not say.
    #[serde(default)]
    pub webhooks: Option<OutboxHealth>,
}

/// How deep the webhook outbox is, in the deep report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OutboxHealth {
    /// Deliveries waiting for an attempt (retries included).
    pub pending: u64,
    /// How long ago the oldest of them happened, in seconds.
    pub oldest_pending_age_seconds: Option<u64>,
}

/// What happened today, in the deep report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TodayActivity {
    /// Counting since.
    pub since: DateTime<Utc>,
    /// Messages that arrived on any session.
    pub messages_received: u64,
    /// Messages sent through Lifeline.
    pub messages_sent: u64,
    /// Recoveries, automatic and by people; `None` when the log could not be read.
    pub recoveries: Option<u32>,
}

/// The database part of the deep report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DatabaseHealth {
    /// Whether it answered.
    pub connected: bool,
    /// How long the round trip took, in milliseconds.
    pub latency_ms: f64,
}

/// One session in the deep report: its state and link, then what recovery knows of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionHealth {
    /// The session's id.
    pub session_id: String,
    /// The linked number.
    pub phone_number: Option<String>,
    /// Its observed state.
    pub connection_status: SessionStatus,
    /// When it was last live.
    pub last_connected_at: Option<DateTime<Utc>>,
    /// When a message last arrived.
    pub last_message_at: Option<DateTime<Utc>>,
    /// Whether the transport says the link is up (a half-open link says yes).
    pub socket_alive: bool,
    /// The operator's name for it.
    pub name: String,
    /// Why it is in its state.
    pub reason: Option<super::Reason>,
    /// Retry number in the current schedule.
    pub attempt: u32,
    /// When the next retry is due.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// The last failure seen.
    pub last_error: Option<String>,
    /// What a person should do about the session's state, where Lifeline cannot act alone.
    #[serde(default)]
    pub advice: Option<String>,
    /// Seconds since a message arrived, if one ever did.
    pub last_message_age_seconds: Option<u64>,
    /// Seconds since the session was last connected (0 while connected).
    pub last_connected_age_seconds: Option<u64>,
    /// What the operator wants it to do.
    pub desired: super::Desired,
    /// Whether the operator marked it as one that matters most (while any session is, the
    /// report's status speaks for the marked ones).
    #[serde(default)]
    pub primary: bool,
    /// Automatic recoveries the watchdog may still make this hour (a person always may);
    /// null when the recovery log could not be read.
    pub recovery_budget_left: Option<u32>,
    /// The name of the instance holding the session (`socketAlive` is as that instance
    /// sees it: false here for a session another instance holds); null when none holds it
    /// or the database could not be read.
    #[serde(default)]
    pub held_by: Option<String>,
}

/// What counting a session takes from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Its observed state.
    pub status: SessionStatus,
    /// Whether its desired state is running (one an operator stopped on purpose does not
    /// make the server degraded).
    pub should_run: bool,
    /// Whether the operator marked it as one that matters most.
    pub primary: bool,
}

impl From<&super::SessionView> for Counted {
    fn from(view: &super::SessionView) -> Counted {
        Counted {
            status: view.status,
            should_run: view.desired == super::Desired::Running,
            primary: view.primary,
        }
    }
}

/// Running counts from which [`SessionCounts`] and the health status follow.
///
/// Besides the public counts it keeps how many sessions *should* run and how many of those
/// are connected, overall and among the sessions marked primary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// The public counts.
    pub counts: SessionCounts,
    /// Sessions whose desired state is running.
    pub wanted: u32,
    /// Of those, the connected ones.
    pub wanted_connected: u32,
    /// Sessions marked primary, whatever their desired state.
    pub primaries: u32,
    /// Marked sessions whose desired state is running.
    pub wanted_primary: u32,
    /// Of those, the connected ones.
    pub wanted_primary_connected: u32,
}

impl Tally {
    /// Counts one session in.
    pub fn add(&mut self, session: Counted) {
        self.adjust(session, |n| *n += 1);
    }

    /// Counts one session out (the reverse of [`Tally::add`] with the same session).
    pub fn remove(&mut self, session: Counted) {
        self.adjust(session, |n| *n = n.saturating_sub(1));
    }

    fn adjust(&mut self, session: Counted, step: impl Fn(&mut u32)) {
        let Counted { status, should_run, primary } = session;
        let connected = status == SessionStatus::Connected;
        step(&mut self.counts.total);
        step(match status {
            SessionStatus::Connected => &mut self.counts.connected,
            SessionStatus::QrPending | SessionStatus::Connecting | SessionStatus::Reconnecting => {
                &mut self.counts.connecting
            }
            SessionStatus::Disconnected | SessionStatus::LoggedOut => &mut self.counts.disconnected,
        });
        if primary {
            step(&mut self.primaries);
        }
        if should_run {
            step(&mut self.wanted);
            if connected {
                step(&mut self.wanted_connected);
            }
            if primary {
                step(&mut self.wanted_primary);
                if connected {
                    step(&mut self.wanted_primary_connected);
                }
            }
        }
    }

    /// Whether every session the status speaks for is connected: the marked ones that
    /// should run while any session is marked primary, else every one that should run.
    pub fn all_up(&self) -> bool {
        if self.primaries > 0 {
            self.wanted_primary_connected >= self.wanted_primary
        } else {
            self.wanted_connected >= self.wanted
        }
    }
}

impl FromIterator<Counted> for Tally {
    fn from_iter<I: IntoIterator<Item = Counted>>(iter: I) -> Self {
        let mut tally = Tally::default();
        for session in iter {
            tally.add(session);
        }
        tally
    }
}

/// The status of both reports: `error` when the database does not answer, `degraded` when
/// a session the status speaks for ([`Tally::all_up`]) is not connected, `ok` otherwise.
pub fn derive_status(tally: &Tally, database_ok: bool) -> HealthStatus {
    if !database_ok {
        HealthStatus::Error
    } else if !tally.all_up() {
        HealthStatus::Degraded
    } else {
        HealthStatus::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionStatus::*;

    fn counted(status: SessionStatus, should_run: bool, primary: bool) -> Counted {
        Counted { status, should_run, primary }
    }

    #[test]
    fn buckets_cover_every_state_once() {
        let tally: Tally = SessionStatus::ALL.iter().map(|s| counted(*s, false, false)).collect();
        let c = tally.counts;
        assert_eq!(c.total, 6);
        assert_eq!(c.connected + c.connecting + c.disconnected, c.total);
        assert_eq!((c.connected, c.connecting, c.disconnected), (1, 3, 2));
    }

    #[test]
    fn remove_undoes_add() {
        let mut t = Tally::default();
        for s in SessionStatus::ALL {
            for (should_run, primary) in
                [(true, false), (false, false), (true, true), (false, true)]
            {
                let before = t;
                t.add(counted(*s, should_run, primary));
                t.remove(counted(*s, should_run, primary));
                assert_eq!(t, before);
                t.add(counted(*s, should_run, primary));
            }
        }
    }

    #[test]
    fn derivation_matrix() {
        let of = |sessions: &[(SessionStatus, bool, bool)]| -> Tally {
            sessions.iter().map(|&(s, run, primary)| counted(s, run, primary)).collect()
        };
        let none = Tally::default();
        let all_up = of(&[(Connected, true, false), (Connected, true, false)]);
        let one_down = of(&[(Connected, true, false), (Reconnecting, true, false)]);
        let stopped_on_purpose = of(&[(Connected, true, false), (Disconnected, false, false)]);
        // With a session marked primary, only the marked ones count...
        let primary_up = of(&[(Connected, true, true), (Reconnecting, true, false)]);
        let primary_down = of(&[(Reconnecting, true, true), (Connected, true, false)]);
        // ...and a marked one stopped on purpose does not hand the say back to the others.
        let primary_stopped = of(&[(Disconnected, false, true), (Reconnecting, true, false)]);

        assert_eq!(derive_status(&none, true), HealthStatus::Ok);
        assert_eq!(derive_status(&all_up, true), HealthStatus::Ok);
        assert_eq!(derive_status(&one_down, true), HealthStatus::Degraded);
        assert_eq!(derive_status(&stopped_on_purpose, true), HealthStatus::Ok);
        assert_eq!(derive_status(&primary_up, true), HealthStatus::Ok);
        assert_eq!(derive_status(&primary_down, true), HealthStatus::Degraded);
        assert_eq!(derive_status(&primary_stopped, true), HealthStatus::Ok);
        for t in [none, all_up, one_down, stopped_on_purpose, primary_up, primary_down] {
            assert_eq!(derive_status(&t, false), HealthStatus::Error);
        }
    }

    #[test]
    fn deep_report_has_its_documented_field_names() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().to_utc();
        let deep = DeepHealth {
            status: HealthStatus::Ok,
            timestamp: t,
            uptime: 5,
            database: DatabaseHealth { connected: true, latency_ms: 0.5 },
            sessions: vec![SessionHealth {
                session_id: "s".into(),
                phone_number: Some("+27821234567".into()),
                connection_status: SessionStatus::Connected,
                last_connected_at: Some(t),
                last_message_at: None,
                socket_alive: true,
                name: "Shop".into(),
                reason: None,
                attempt: 0,
                next_retry_at: None,
                last_error: None,
                advice: None,
                last_message_age_seconds: None,
                last_connected_age_seconds: Some(0),
                desired: super::super::Desired::Running,
                primary: true,
                recovery_budget_left: Some(3),
                held_by: Some("a".into()),
            }],
            today: Some(TodayActivity {
                since: t,
                messages_received: 4,
                messages_sent: 2,
                recoveries: Some(1),
            }),
            instances: Vec::new(),
            webhooks: Some(OutboxHealth { pending: 3, oldest_pending_age_seconds: Some(40) }),
        };
        let v = serde_json::to_value(&deep).unwrap();
        assert_eq!(v["database"], serde_json::json!({"connected": true, "latencyMs": 0.5}));
        let s = &v["sessions"][0];
        for field in [
            "sessionId",
            "phoneNumber",
            "connectionStatus",
            "lastConnectedAt",
            "lastMessageAt",
            "socketAlive",
            "recoveryBudgetLeft",
            "heldBy",
            "primary",
        ] {
            assert!(s.get(field).is_some(), "{field} missing: {s}");
        }
        assert_eq!(s["connectionStatus"], "connected");
        assert_eq!(
            v["today"],
            serde_json::json!({"since": "2026-11-22T10:00:00Z", "messagesReceived": 4,
                               "messagesSent": 2, "recoveries": 1})
        );
        assert_eq!(v["webhooks"], serde_json::json!({"pending": 3, "oldestPendingAgeSeconds": 40}));
    }

    #[test]
    fn light_report_has_its_documented_field_names() {
        let h = Health {
            status: HealthStatus::Degraded,
            timestamp: DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().to_utc(),
            uptime: 42,
            sessions: SessionCounts { total: 3, connected: 1, connecting: 1, disconnected: 1 },
        };
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "status": "degraded",
                "timestamp": "2026-11-22T10:00:00Z",
                "uptime": 42,
                "sessions": {"total": 3, "connected": 1, "connecting": 1, "disconnected": 1}
            })
        );
    }
}
