//! The status board: every session's current view and the counts `GET /health` reports,
//! kept in memory so that health, listings and snapshots cost no database query.
//!
//! Session actors update it on every change, in the same step in which they publish the
//! change on the event bus.

use std::{
    collections::HashMap,
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use app::model::{Counted, Health, SessionView, Tally, derive_status};
use chrono::{SubsecRound, Utc};
use tokio::sync::watch;

#[derive(Debug, Default)]
struct Sessions {
    views: HashMap<String, SessionView>,
    tally: Tally,
}

/// Sessions by id, their counts, and the database's last known condition.
#[derive(Debug)]
pub struct StatusBoard {
    started: Instant,
    sessions: RwLock<Sessions>,
    database_ok: watch::Sender<bool>,
    database_latency_us: AtomicU64,
}

impl Default for StatusBoard {
    fn default() -> Self {
        StatusBoard::new()
    }
}

impl StatusBoard {
    /// An empty board for a server that starts now, with a database that just answered.
    pub fn new() -> StatusBoard {
        StatusBoard {
            started: Instant::now(),
            sessions: RwLock::default(),
            database_ok: watch::Sender::new(true),
            database_latency_us: AtomicU64::new(0),
        }
    }

    /// Adds or replaces a session's view, keeping the counts in step.
    pub fn upsert(&self, view: SessionView) {
        let mut s = self.sessions.write().unwrap_or_else(PoisonError::into_inner);
        s.tally.add(Counted::from(&view));
        if let Some(old) = s.views.insert(view.id.clone(), view) {
            s.tally.remove(Counted::from(&old));
        }
    }

    /// Forgets a session.
    pub fn remove(&self, id: &str) {
        let mut s = self.sessions.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = s.views.remove(id) {
            s.tally.remove(Counted::from(&old));
        }
    }

    /// One session's view.
    pub fn get(&self, id: &str) -> Option<SessionView> {
        self.sessions.read().unwrap_or_else(PoisonError::into_inner).views.get(id).cloned()
    }

    /// Every session, newest first.
    pub fn list(&self) -> Vec<SessionView> {
        let mut all: Vec<_> = self
            .sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .views
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        all
    }

    /// The current counts.
    pub fn tally(&self) -> Tally {
        self.sessions.read().unwrap_or_else(PoisonError::into_inner).tally
    }

    /// Records the outcome of a database probe.
    pub fn record_database(&self, outcome: Option<Duration>) {
        self.database_ok.send_if_modified(|ok| std::mem::replace(ok, outcome.is_some()) != *ok);
        if let Some(latency) = outcome {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            self.database_latency_us.store(us, Ordering::Relaxed);
        }
    }

    /// Whether the database answered its last probe.
    pub fn database_ok(&self) -> bool {
        *self.database_ok.borrow()
    }

    /// Sees every change between the database answering and not.
    pub fn database_changes(&self) -> watch::Receiver<bool> {
        self.database_ok.subscribe()
    }

    /// How long the last successful probe took.
    pub fn database_latency(&self) -> Duration {
        Duration::from_micros(self.database_latency_us.load(Ordering::Relaxed))
    }

    /// How long the server has been up.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The light report, as of now.
    pub fn health(&self) -> Health {
        let tally = self.tally();
        Health {
            status: derive_status(&tally, self.database_ok()),
            // Milliseconds are precision enough for a health report and easier to read.
            timestamp: Utc::now().trunc_subsecs(3),
            uptime: self.uptime().as_secs(),
            sessions: tally.counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use app::model::{Desired, HealthStatus, SessionStatus};

    use super::*;

    fn view(id: &str, status: SessionStatus, desired: Desired) -> SessionView {
        SessionView {
            status,
            desired,
            ..SessionView::new(id.into(), id.into(), "simulator".into(), Utc::now())
        }
    }

    #[test]
    fn report_follows_sessions_and_probe() {
        let board = StatusBoard::new();
        assert_eq!(board.health().status, HealthStatus::Ok);

        board.upsert(view("a", SessionStatus::Reconnecting, Desired::Running));
        let h = board.health();
        assert_eq!(h.status, HealthStatus::Degraded);
        assert_eq!(h.sessions.connecting, 1);

        board.upsert(view("a", SessionStatus::Connected, Desired::Running));
        let h = board.health();
        assert_eq!(h.status, HealthStatus::Ok);
        assert_eq!((h.sessions.total, h.sessions.connected, h.sessions.connecting), (1, 1, 0));

        board.record_database(None);
        assert_eq!(board.health().status, HealthStatus::Error);
        board.record_database(Some(Duration::from_millis(3)));
        assert_eq!(board.health().status, HealthStatus::Ok);
        assert_eq!(board.database_latency(), Duration::from_millis(3));

        board.remove("a");
        assert_eq!(board.tally(), Tally::default());
    }
}
