//! The status board: the live facts `GET /health` reports, kept in memory so that the
//! endpoint answers without a database query or any other I/O.

use std::{
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use app::model::{Health, Tally, derive_status};
use chrono::{SubsecRound, Utc};

/// Counts of sessions by state and the database's last known condition.
#[derive(Debug)]
pub struct StatusBoard {
    started: Instant,
    tally: RwLock<Tally>,
    database_ok: AtomicBool,
    database_latency_us: AtomicU64,
}

impl StatusBoard {
    /// A board for a server that starts now with `tally` sessions and a database that just
    /// answered (it was migrated a moment ago).
    pub fn new(tally: Tally) -> StatusBoard {
        StatusBoard {
            started: Instant::now(),
            tally: RwLock::new(tally),
            database_ok: AtomicBool::new(true),
            database_latency_us: AtomicU64::new(0),
        }
    }

    /// Replaces the session counts.
    pub fn set_tally(&self, tally: Tally) {
        *self.tally.write().unwrap_or_else(PoisonError::into_inner) = tally;
    }

    /// Records the outcome of a database probe.
    pub fn record_database(&self, outcome: Option<Duration>) {
        self.database_ok.store(outcome.is_some(), Ordering::Relaxed);
        if let Some(latency) = outcome {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            self.database_latency_us.store(us, Ordering::Relaxed);
        }
    }

    /// Whether the database answered its last probe.
    pub fn database_ok(&self) -> bool {
        self.database_ok.load(Ordering::Relaxed)
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
        let tally = *self.tally.read().unwrap_or_else(PoisonError::into_inner);
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
    use app::model::{HealthStatus, SessionStatus};

    use super::*;

    #[test]
    fn report_follows_tally_and_probe() {
        let board = StatusBoard::new(Tally::default());
        assert_eq!(board.health().status, HealthStatus::Ok);

        board.set_tally([(SessionStatus::Reconnecting, true)].into_iter().collect());
        let h = board.health();
        assert_eq!(h.status, HealthStatus::Degraded);
        assert_eq!(h.sessions.connecting, 1);

        board.record_database(None);
        assert_eq!(board.health().status, HealthStatus::Error);
        board.record_database(Some(Duration::from_millis(3)));
        assert_eq!(board.health().status, HealthStatus::Degraded);
        assert_eq!(board.database_latency(), Duration::from_millis(3));
    }
}
