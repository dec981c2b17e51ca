//! The `sessions` and `session_events` tables: what operators and the start-up read.
//! The supervisor's own writes go through its journal (`supervisor::journal`).

use app::model::{Desired, Reason, SessionStatus, SessionView};
use chrono::{DateTime, Utc};

use super::{
    Db, DbError,
    leases::{self, Token},
    on_pool,
};
use crate::webhooks::payload::Outgoing;

/// A session as stored: the view, plus what only the server may see.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSession {
    /// What leaves the server.
    pub view: SessionView,
    /// The connector's credentials, if paired.
    pub credentials: Option<Vec<u8>>,
    /// Whether the session takes part at all (inactive ones are never restored).
    pub is_active: bool,
}

/// A row of `sessions` as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SessionRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) connector: String,
    pub(super) phone_number: Option<String>,
    pub(super) auth_state: Option<Vec<u8>>,
    pub(super) is_active: bool,
    pub(super) status: String,
    pub(super) reason: Option<String>,
    pub(super) last_error: Option<String>,
    pub(super) attempt: i64,
    pub(super) next_retry_at: Option<DateTime<Utc>>,
    pub(super) last_connected_at: Option<DateTime<Utc>>,
    pub(super) last_message_at: Option<DateTime<Utc>>,
    pub(super) auto_connect: bool,
    pub(super) is_primary: bool,
    pub(super) desired: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
}

impl SessionRow {
    /// The columns it is read from, in its order.
    pub(super) const COLUMNS: &str = "id, name, connector, phone_number, auth_state, is_active, \
         status, reason, last_error, attempt, next_retry_at, last_connected_at, last_message_at, \
         auto_connect, is_primary, desired, created_at, updated_at";
}

impl TryFrom<SessionRow> for StoredSession {
    type Error = DbError;

    fn try_from(r: SessionRow) -> Result<StoredSession, DbError> {
        let corrupt = |e: app::model::ParseError| DbError::Corrupt {
            table: "sessions",
            detail: format!("session {}: {e}", r.id),
        };
        let view = SessionView {
            status: r.status.parse::<SessionStatus>().map_err(corrupt)?,
            reason: r.reason.as_deref().map(str::parse::<Reason>).transpose().map_err(corrupt)?,
            desired: r.desired.parse::<Desired>().map_err(corrupt)?,
            attempt: u32::try_from(r.attempt).unwrap_or(0),
            paired: r.auth_state.is_some(),
            id: r.id,
            name: r.name,
            connector: r.connector,
            phone_number: r.phone_number,
            last_error: r.last_error,
            next_retry_at: r.next_retry_at,
            last_connected_at: r.last_connected_at,
            last_message_at: r.last_message_at,
            auto_connect: r.auto_connect,
            primary: r.is_primary,
            created_at: r.created_at,
            updated_at: r.updated_at,
            held_by: None,
        };
        Ok(StoredSession { view, credentials: r.auth_state, is_active: r.is_active })
    }
}

/// Every session, newest first.
pub async fn load_all(db: &Db) -> Result<Vec<StoredSession>, DbError> {
    let sql = format!("SELECT {} FROM sessions ORDER BY created_at DESC, id", SessionRow::COLUMNS);
    let rows: Vec<SessionRow> = on_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await)?;
    rows.into_iter().map(StoredSession::try_from).collect()
}

/// One session; `None` when there is no such session.
pub async fn load(db: &Db, id: &str) -> Result<Option<StoredSession>, DbError> {
    let sql = format!("SELECT {} FROM sessions WHERE id = $1", SessionRow::COLUMNS);
    let row: Option<SessionRow> = on_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.map(StoredSession::try_from).transpose()
}

/// Stores a new session (with credentials, when it arrives already paired).
pub async fn insert(db: &Db, session: &StoredSession) -> Result<(), DbError> {
    write(db, session, "", None).await
}

/// Stores a new session held by `holder` from the start, for `ttl`: one transaction, so no
/// other instance sharing the database can claim it in between. Its token is the first.
pub async fn insert_held(
    db: &Db,
    session: &StoredSession,
    holder: &str,
    ttl: std::time::Duration,
) -> Result<Token, DbError> {
    write(db, session, "", Some((holder, ttl))).await?;
    Ok(FIRST_TOKEN)
}

/// Inserts `session`, or resets an existing row with its id to it (credentials, state and
/// desired state; name and history are kept).
pub async fn insert_or_reset(db: &Db, session: &StoredSession) -> Result<(), DbError> {
    write(
        db,
        session,
        "ON CONFLICT (id) DO UPDATE SET
             connector = excluded.connector, phone_number = excluded.phone_number,
             auth_state = excluded.auth_state, is_active = excluded.is_active,
             auto_connect = excluded.auto_connect, desired = excluded.desired,
             status = excluded.status, reason = excluded.reason, last_error = NULL,
             attempt = excluded.attempt, next_retry_at = NULL, updated_at = excluded.updated_at",
        None,
    )
    .await
}

/// The token of a session's first lease.
const FIRST_TOKEN: Token = Token(1);

async fn write(
    db: &Db,
    session: &StoredSession,
    on_conflict: &'static str,
    held: Option<(&str, std::time::Duration)>,
) -> Result<(), DbError> {
    let v = &session.view;
    let sql = format!(
        "INSERT INTO sessions (id, name, connector, phone_number, auth_state, is_active,
                               auto_connect, desired, status, reason, attempt, created_at,
                               updated_at, is_primary)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) {on_conflict}"
    );
    let lease = format!(
        "INSERT INTO session_leases (session_id, holder, token, expires_ms)
         VALUES ($1, $2, $3, {} + $4)",
        leases::now_ms(db)
    );
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(&v.id)
        .bind(&v.name)
        .bind(&v.connector)
        .bind(&v.phone_number)
        .bind(&session.credentials)
        .bind(session.is_active)
        .bind(v.auto_connect)
        .bind(v.desired.as_str())
        .bind(v.status.as_str())
        .bind(v.reason.map(Reason::as_str))
        .bind(i64::from(v.attempt))
        .bind(v.created_at)
        .bind(v.updated_at)
        .bind(v.primary)
        .execute(&mut *tx)
        .await?;
        if let Some((holder, ttl)) = held {
            sqlx::query(sqlx::AssertSqlSafe(lease.clone()))
                .bind(&v.id)
                .bind(holder)
                .bind(FIRST_TOKEN.0)
                .bind(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })?;
    Ok(())
}

/// Records what the operator wants; `false` when there is no such session.
pub async fn set_desired(
    db: &Db,
    id: &str,
    desired: Desired,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE sessions SET desired = $2, updated_at = $3 WHERE id = $1"
    )
    .bind(id)
    .bind(desired.as_str())
    .bind(at)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// A yes-or-no setting of a session's row.
#[derive(Clone, Copy, Debug)]
pub enum Flag {
    /// Whether restore and recovery may connect it without a person.
    AutoConnect,
    /// Whether the operator marked it as one that matters most.
    Primary,
}

impl Flag {
    fn column(self) -> &'static str {
        match self {
            Flag::AutoConnect => "auto_connect",
            Flag::Primary => "is_primary",
        }
    }
}

/// Sets one of a session's flags; `false` when there is no such session.
pub async fn set_flag(
    db: &Db,
    id: &str,
    flag: Flag,
    on: bool,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let sql = format!("UPDATE sessions SET {} = $2, updated_at = $3 WHERE id = $1", flag.column());
    let n = on_pool!(db, pool => sqlx::query(sqlx::AssertSqlSafe(sql))
    .bind(id)
    .bind(on)
    .bind(at)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Deletes a session and its history; `false` when there was none.
pub async fn delete(db: &Db, id: &str, event: &Outgoing) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let n = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 1 {
            super::webhooks::enqueue_in!(db, tx, event);
        }
        tx.commit().await.map(|()| n)
    })?;
    Ok(n == 1)
}

/// What a start-up after a crash or `kill -9` writes on rows that still claim a link.
pub const UNCLEAN_DETAIL: &str =
    "the previous run ended without a clean shutdown (crash or kill -9); corrected at start";

/// Rows left live by a run that died without shutting down, among the sessions `holder`
/// has just been granted (all of them, or `only` the one named): no process holds their
/// links any more, so they become `disconnected / server_shutdown` (desired state
/// untouched, so restore picks them up). Returns the corrected ids with their stale status.
pub async fn correct_unclean(
    db: &Db,
    holder: &str,
    only: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Vec<(String, SessionStatus)>, DbError> {
    const LIVE: &str = "('qr_pending', 'connecting', 'connected', 'reconnecting')";
    const HELD: &str = "id IN (SELECT session_id FROM session_leases WHERE holder = $1)
                        AND (CAST($2 AS TEXT) IS NULL OR id = $2)";
    let rows: Vec<(String, String)> = on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, status FROM sessions WHERE status IN {LIVE} AND {HELD}"
        )))
        .bind(holder)
        .bind(only)
        .fetch_all(&mut *tx)
        .await?;
        for (id, status) in &rows {
            sqlx::query(
                "INSERT INTO session_events
                     (session_id, at, from_status, to_status, reason, detail, token)
                 VALUES ($1, $2, $3, 'disconnected', 'server_shutdown', $4,
                         (SELECT token FROM session_leases WHERE session_id = $1))"
            )
            .bind(id)
            .bind(at)
            .bind(status)
            .bind(UNCLEAN_DETAIL)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE sessions SET status = 'disconnected', reason = 'server_shutdown',
                    next_retry_at = NULL, updated_at = $3
             WHERE status IN {LIVE} AND {HELD}"
        )))
        .bind(holder)
        .bind(only)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(rows)
    })?;
    rows.into_iter()
        .map(|(id, status)| {
            let status = status.parse().map_err(|e: app::model::ParseError| DbError::Corrupt {
                table: "sessions",
                detail: format!("session {id}: {e}"),
            })?;
            Ok((id, status))
        })
        .collect()
}

/// How many sessions use `connector`.
pub async fn count_by_connector(db: &Db, connector: &str) -> Result<u64, DbError> {
    let (n,): (i64,) = on_pool!(db, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM sessions WHERE connector = $1"
    )
    .bind(connector)
    .fetch_one(pool)
    .await)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// One row of a session's history.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Status before.
    pub from_status: String,
    /// Status after.
    pub to_status: String,
    /// Reason after, if any.
    pub reason: Option<String>,
    /// What happened, for people.
    pub detail: Option<String>,
}

/// A session's history, oldest first, at most `limit` rows (the newest ones).
pub async fn events(db: &Db, id: &str, limit: u32) -> Result<Vec<SessionEvent>, DbError> {
    let mut rows: Vec<SessionEvent> = on_pool!(db, pool => sqlx::query_as(
        "SELECT at, from_status, to_status, reason, detail FROM session_events
         WHERE session_id = $1 ORDER BY id DESC LIMIT $2"
    )
    .bind(id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await)?;
    rows.reverse();
    Ok(rows)
}

/// A session's changes since `since`, oldest first (at most `limit`, the newest ones), and
/// the last change before `since`, which says what state the window starts in.
pub async fn history(
    db: &Db,
    id: &str,
    since: DateTime<Utc>,
    limit: u32,
) -> Result<(Option<SessionEvent>, Vec<SessionEvent>), DbError> {
    let before: Option<SessionEvent> = on_pool!(db, pool => sqlx::query_as(
        "SELECT at, from_status, to_status, reason, detail FROM session_events
         WHERE session_id = $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT 1"
    )
    .bind(id)
    .bind(since)
    .fetch_optional(pool)
    .await)?;
    let mut rows: Vec<SessionEvent> = on_pool!(db, pool => sqlx::query_as(
        "SELECT at, from_status, to_status, reason, detail FROM session_events
         WHERE session_id = $1 AND at >= $2 ORDER BY at DESC, id DESC LIMIT $3"
    )
    .bind(id)
    .bind(since)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await)?;
    rows.reverse();
    Ok((before, rows))
}
