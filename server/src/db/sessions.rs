//! The `sessions` table.

use app::model::{Desired, Reason, SessionStatus, SessionView, Tally};
use chrono::{DateTime, Utc};

use super::{Db, DbError, on_pool};

/// A `sessions` row as stored; [`SessionView`] is what leaves the server.
#[derive(Debug, sqlx::FromRow)]
struct SessionRow {
    id: String,
    name: String,
    phone_number: Option<String>,
    status: String,
    reason: Option<String>,
    last_error: Option<String>,
    attempt: i64,
    next_retry_at: Option<DateTime<Utc>>,
    last_connected_at: Option<DateTime<Utc>>,
    last_message_at: Option<DateTime<Utc>>,
    auto_connect: bool,
    desired: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const VIEW_COLUMNS: &str = "id, name, phone_number, status, reason, last_error, attempt, \
     next_retry_at, last_connected_at, last_message_at, auto_connect, desired, created_at, updated_at";

impl TryFrom<SessionRow> for SessionView {
    type Error = DbError;

    fn try_from(r: SessionRow) -> Result<SessionView, DbError> {
        let corrupt = |e: app::model::ParseError| DbError::Corrupt {
            table: "sessions",
            detail: format!("session {}: {e}", r.id),
        };
        Ok(SessionView {
            status: r.status.parse::<SessionStatus>().map_err(corrupt)?,
            reason: r.reason.as_deref().map(str::parse::<Reason>).transpose().map_err(corrupt)?,
            desired: r.desired.parse::<Desired>().map_err(corrupt)?,
            attempt: u32::try_from(r.attempt).unwrap_or(0),
            id: r.id,
            name: r.name,
            phone_number: r.phone_number,
            last_error: r.last_error,
            next_retry_at: r.next_retry_at,
            last_connected_at: r.last_connected_at,
            last_message_at: r.last_message_at,
            auto_connect: r.auto_connect,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Every session, newest first.
pub async fn list(db: &Db) -> Result<Vec<SessionView>, DbError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM sessions ORDER BY created_at DESC, id"
    ));
    let rows: Vec<SessionRow> = on_pool!(db, pool => sqlx::query_as(sql).fetch_all(pool).await)?;
    rows.into_iter().map(SessionView::try_from).collect()
}

/// Counts every session by state, and which of them should be running.
pub async fn tally(db: &Db) -> Result<Tally, DbError> {
    let rows: Vec<(String, bool)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT status, (desired = 'running' AND is_active) AS should_run FROM sessions"
    )
    .fetch_all(pool)
    .await)?;
    rows.into_iter()
        .map(|(status, should_run)| {
            let status = status
                .parse::<SessionStatus>()
                .map_err(|e| DbError::Corrupt { table: "sessions", detail: e.to_string() })?;
            Ok((status, should_run))
        })
        .collect()
}
