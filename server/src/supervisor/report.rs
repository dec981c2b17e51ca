//! What the supervisor reports beyond a session's view: the deep health report (for
//! `GET /health/deep` and the dashboard) and one session's recent history.

use app::model::{
    DatabaseHealth, DeepHealth, OutboxHealth, SessionHealth, SessionStatus, TodayActivity,
    derive_status,
    history::{HISTORY_LIMIT, HISTORY_WINDOW, SessionHistory, StatusChange},
    recovery::LoggedRecovery,
};
use chrono::{DateTime, SubsecRound, Utc};

use super::{Supervisor, SupervisorError};
use crate::{
    db::{self, DbError},
    db_probe::PROBE_TIMEOUT,
};

impl Supervisor {
    /// The full report: a database round trip now, and every session with its link. A
    /// part the database must answer (recoveries, budgets) is unknown (null) rather than
    /// guessed when it does not answer in time.
    pub async fn deep_report(&self) -> DeepHealth {
        let db = self.db();
        let (board, metrics) = (&self.deps().board, &self.deps().metrics);
        let database = match tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await {
            Ok(Ok(latency)) => {
                DatabaseHealth { connected: true, latency_ms: latency.as_secs_f64() * 1e3 }
            }
            _ => DatabaseHealth { connected: false, latency_ms: PROBE_TIMEOUT.as_secs_f64() * 1e3 },
        };
        let budgets = if database.connected {
            tokio::time::timeout(PROBE_TIMEOUT, self.recovery_budgets())
                .await
                .ok()
                .and_then(Result::ok)
        } else {
            None
        };
        let (instances, holders) = if database.connected {
            tokio::time::timeout(PROBE_TIMEOUT, self.ownership().placement())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default()
        } else {
            Default::default()
        };
        let now = Utc::now();
        let age = |t: Option<DateTime<Utc>>| t.map(|t| (now - t).num_seconds().max(0) as u64);
        let sessions = self
            .list()
            .into_iter()
            .map(|v| {
                let connected = v.status == SessionStatus::Connected;
                SessionHealth {
                    socket_alive: self.socket_alive(&v.id),
                    recovery_budget_left: budgets.as_ref().map(|b| b.left(&v.id)),
                    held_by: holders.get(&v.id).cloned(),
                    last_message_age_seconds: age(v.last_message_at),
                    last_connected_age_seconds: if connected {
                        Some(0)
                    } else {
                        age(v.last_connected_at)
                    },
                    session_id: v.id,
                    phone_number: v.phone_number,
                    connection_status: v.status,
                    last_connected_at: v.last_connected_at,
                    last_message_at: v.last_message_at,
                    name: v.name,
                    reason: v.reason,
                    advice: v.reason.and_then(|r| r.advice()).map(str::to_owned),
                    attempt: v.attempt,
                    next_retry_at: v.next_retry_at,
                    last_error: v.last_error,
                    desired: v.desired,
                    primary: v.primary,
                }
            })
            .collect();
        let counts = metrics.today();
        let recoveries = if database.connected {
            let count = db::recoveries::count_since(db, counts.since);
            tokio::time::timeout(PROBE_TIMEOUT, count).await.ok().and_then(Result::ok)
        } else {
            None
        };
        let webhooks = if database.connected {
            let depth = db::webhooks::depth(db);
            tokio::time::timeout(PROBE_TIMEOUT, depth).await.ok().and_then(Result::ok).map(
                |(pending, oldest)| OutboxHealth {
                    pending,
                    oldest_pending_age_seconds: oldest.map(|age| age.as_secs()),
                },
            )
        } else {
            None
        };
        let today = TodayActivity {
            since: counts.since.trunc_subsecs(0),
            messages_received: counts.received,
            messages_sent: counts.sent,
            recoveries,
        };
        DeepHealth {
            status: derive_status(&board.tally(), database.connected),
            timestamp: now.trunc_subsecs(3),
            uptime: board.uptime().as_secs(),
            database,
            sessions,
            today: Some(today),
            instances,
            webhooks,
        }
    }

    /// Session `id` now, with its changes and recoveries over the history window. Every
    /// change already shown is in it: the journal is flushed first.
    pub async fn history(&self, id: &str) -> Result<SessionHistory, SupervisorError> {
        let session = self.get(id)?;
        self.flush_journal().await;
        let until = Utc::now();
        let since = until - HISTORY_WINDOW;
        let (before, rows) = db::sessions::history(self.db(), id, since, HISTORY_LIMIT).await?;
        let changes = rows
            .into_iter()
            .map(|row| {
                Ok(StatusChange {
                    at: row.at,
                    from: stored(id, &row.from_status)?,
                    to: stored(id, &row.to_status)?,
                    reason: row.reason.as_deref().map(|r| stored(id, r)).transpose()?,
                    detail: row.detail,
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        let status_at_start = before.map(|b| stored(id, &b.to_status)).transpose()?;
        let recoveries = db::recoveries::for_session(self.db(), id, since)
            .await?
            .into_iter()
            .map(|r| LoggedRecovery {
                at: r.at,
                trigger: r.trigger,
                action: r.action,
                outcome: r.outcome,
                error: r.error,
            })
            .collect();
        let recovery_budget_left = self.recovery_budgets().await?.left(id);
        Ok(SessionHistory {
            session,
            since,
            until,
            status_at_start,
            changes,
            recoveries,
            recovery_budget_left,
        })
    }
}

/// A status or reason read back from a session's history.
fn stored<T>(id: &str, text: &str) -> Result<T, DbError>
where
    T: std::str::FromStr<Err = app::model::ParseError>,
{
    text.parse().map_err(|e| DbError::Corrupt {
        table: "session_events",
        detail: format!("session {id}'s history: {e}"),
    })
}
