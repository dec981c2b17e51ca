//! The `recoveries` table: the recovery log, and the budget it implies.

use std::collections::HashMap;

use app::model::recovery::{Action, Outcome, Trigger};
use chrono::{DateTime, Utc};

use super::{Db, DbError, on_pool};
use crate::webhooks::payload::Outgoing;

/// One stored recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryRow {
    /// Row id.
    pub id: i64,
    /// Which session.
    pub session_id: String,
    /// When it began.
    pub at: DateTime<Utc>,
    /// Why.
    pub trigger: Trigger,
    /// What was done.
    pub action: Action,
    /// How it went.
    pub outcome: Outcome,
    /// What failed.
    pub error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    session_id: String,
    at: DateTime<Utc>,
    cause: String,
    action: String,
    outcome: String,
    error: Option<String>,
}

impl TryFrom<Row> for RecoveryRow {
    type Error = DbError;

    fn try_from(r: Row) -> Result<RecoveryRow, DbError> {
        let corrupt = |e: app::model::ParseError| DbError::Corrupt {
            table: "recoveries",
            detail: format!("recovery {}: {e}", r.id),
        };
        Ok(RecoveryRow {
            trigger: r.cause.parse().map_err(corrupt)?,
            action: r.action.parse().map_err(corrupt)?,
            outcome: r.outcome.parse().map_err(corrupt)?,
            id: r.id,
            session_id: r.session_id,
            at: r.at,
            error: r.error,
        })
    }
}

/// A recovery about to begin.
#[derive(Clone, Copy, Debug)]
pub struct NewRecovery<'a> {
    /// The session recovered.
    pub session_id: &'a str,
    /// When it began.
    pub at: DateTime<Utc>,
    /// What set it off (automatic triggers count against the session's budget).
    pub trigger: Trigger,
    /// What was done.
    pub action: Action,
}

/// Records that a recovery began; returns its row id for [`finish`].
pub async fn start(db: &Db, recovery: NewRecovery<'_>) -> Result<i64, DbError> {
    let NewRecovery { session_id, at, trigger, action } = recovery;
    let (id,): (i64,) = on_pool!(db, pool => sqlx::query_as(
        "INSERT INTO recoveries (session_id, at, cause, action, automatic, outcome)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
    )
    .bind(session_id)
    .bind(at)
    .bind(trigger.as_str())
    .bind(action.as_str())
    .bind(trigger.is_automatic())
    .bind(Outcome::Started.as_str())
    .fetch_one(pool)
    .await)?;
    Ok(id)
}

/// Records how recovery `id` went, with its webhook event.
pub async fn finish(
    db: &Db,
    id: i64,
    outcome: Outcome,
    error: Option<&str>,
    event: &Outgoing,
) -> Result<(), DbError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE recoveries SET outcome = $1, error = $2 WHERE id = $3")
            .bind(outcome.as_str())
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        super::webhooks::enqueue_in!(db, tx, event);
        tx.commit().await
    })?;
    Ok(())
}

/// How many automatic recoveries each session made since `since` (sessions with none are
/// absent).
pub async fn automatic_since(
    db: &Db,
    since: DateTime<Utc>,
) -> Result<HashMap<String, u32>, DbError> {
    let rows: Vec<(String, i64)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT session_id, COUNT(*) FROM recoveries
         WHERE automatic AND at > $1 GROUP BY session_id"
    )
    .bind(since)
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(|(id, n)| (id, u32::try_from(n).unwrap_or(u32::MAX))).collect())
}

/// How many recoveries, automatic or by a person, any session made since `since`.
pub async fn count_since(db: &Db, since: DateTime<Utc>) -> Result<u32, DbError> {
    let (n,): (i64,) = on_pool!(db, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM recoveries WHERE at >= $1"
    )
    .bind(since)
    .fetch_one(pool)
    .await)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// A session's recoveries since `since`, oldest first.
pub async fn for_session(
    db: &Db,
    session_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<RecoveryRow>, DbError> {
    let rows: Vec<Row> = on_pool!(db, pool => sqlx::query_as(
        "SELECT id, session_id, at, cause, action, outcome, error FROM recoveries
         WHERE session_id = $1 AND at > $2 ORDER BY at, id"
    )
    .bind(session_id)
    .bind(since)
    .fetch_all(pool)
    .await)?;
    rows.into_iter().map(RecoveryRow::try_from).collect()
}
