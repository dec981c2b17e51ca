//! `lifeline copy-db`: everything Lifeline keeps, from one database into another, empty one
//! (SQLite to PostgreSQL when one instance is no longer enough, or back).
//!
//! Sessions keep their ids, so their WhatsApp keys (sealed and bound to the session id)
//! open on the other side with the same `LIFELINE_SECRET_KEY`. Dashboard logins are not
//! copied: people log in again. The target is written in one transaction, so a failed copy
//! leaves it empty.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::{Db, DbError, api_keys::KeyRow, on_pool, sessions::SessionRow};
use crate::connector::whatsapp::sealed_row::WholeRow;

/// What was copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Sessions.
    pub sessions: u64,
    /// Their history rows.
    pub events: u64,
    /// Their WhatsApp key records.
    pub keys: u64,
    /// Recovery log rows.
    pub recoveries: u64,
    /// Dashboard accounts.
    pub users: u64,
    /// API keys.
    pub api_keys: u64,
    /// Webhook endpoints.
    pub webhooks: u64,
    /// Webhook deliveries (pending, delivered and failed).
    pub deliveries: u64,
}

impl std::fmt::Display for Copied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sessions ({} history rows, {} WhatsApp key records), {} recoveries, {} accounts, \
             {} API keys, {} webhook endpoints ({} deliveries)",
            self.sessions,
            self.events,
            self.keys,
            self.recoveries,
            self.users,
            self.api_keys,
            self.webhooks,
            self.deliveries
        )
    }
}

/// Why a copy did not happen.
#[derive(Debug, Error)]
pub enum CopyError {
    /// Reading or writing failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The target already holds data that a copy would mix with.
    #[error("the target database is not empty ({0}); copy into a new, empty database")]
    NotEmpty(String),
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> CopyError {
        CopyError::Db(DbError::Query(e))
    }
}

#[derive(sqlx::FromRow)]
struct SessionEvent {
    session_id: String,
    at: DateTime<Utc>,
    from_status: String,
    to_status: String,
    reason: Option<String>,
    detail: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Recovery {
    session_id: String,
    at: DateTime<Utc>,
    cause: String,
    action: String,
    automatic: bool,
    outcome: String,
    error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct User {
    id: String,
    username: String,
    password_hash: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Everything read from the source.
struct Contents {
    sessions: Vec<SessionRow>,
    events: Vec<SessionEvent>,
    recoveries: Vec<Recovery>,
    keys: Vec<WholeRow>,
    users: Vec<User>,
    api_keys: Vec<KeyRow>,
    endpoints: Vec<EndpointRow>,
    subscriptions: Vec<(String, String)>,
    chosen_sessions: Vec<(String, String)>,
    outbox: Vec<OutboxRow>,
    deliveries: Vec<DeliveryRow>,
}

/// A webhook endpoint: id, url, secret, all sessions, enabled, paused reason, failing
/// since, created.
type EndpointRow = (String, String, String, bool, bool, Option<String>, Option<i64>, i64);
/// An outbox event: id, type, session, body, created.
type OutboxRow = (String, String, Option<String>, String, i64);
/// A delivery, without its number and its claim (both belong to the source): event,
/// endpoint, session, state, attempts, next attempt, last status, latency, answer, error,
/// done.
type DeliveryRow = (
    String,
    String,
    Option<String>,
    String,
    i32,
    i64,
    Option<i32>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

async fn read(from: &Db) -> Result<Contents, sqlx::Error> {
    on_pool!(from, pool => {
        // One snapshot: rows added while reading do not half-appear.
        let mut tx = pool.begin().await?;
        let contents = Contents {
            sessions: sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM sessions ORDER BY created_at, id",
                SessionRow::COLUMNS
            )))
            .fetch_all(&mut *tx)
            .await?,
            // Without their lease tokens: those name grants of the source database.
            events: sqlx::query_as(
                "SELECT session_id, at, from_status, to_status, reason, detail
                 FROM session_events ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await?,
            recoveries: sqlx::query_as(
                "SELECT session_id, at, cause, action, automatic, outcome, error
                 FROM recoveries ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await?,
            keys: sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM whatsapp_store",
                WholeRow::COLUMNS
            )))
            .fetch_all(&mut *tx)
            .await?,
            users: sqlx::query_as(
                "SELECT id, username, password_hash, created_at, updated_at FROM users",
            )
            .fetch_all(&mut *tx)
            .await?,
            api_keys: sqlx::query_as(
                "SELECT id, name, prefix, scope, key_hash, created_at, last_used_at, revoked_at
                 FROM api_keys",
            )
            .fetch_all(&mut *tx)
            .await?,
            endpoints: sqlx::query_as(
                "SELECT id, url, secret, all_sessions, enabled, paused_reason, failing_since_ms,
                        created_ms
                 FROM webhook_endpoints",
            )
            .fetch_all(&mut *tx)
            .await?,
            subscriptions: sqlx::query_as(
                "SELECT endpoint_id, event_type FROM webhook_endpoint_events",
            )
            .fetch_all(&mut *tx)
            .await?,
            chosen_sessions: sqlx::query_as(
                "SELECT endpoint_id, session_id FROM webhook_endpoint_sessions",
            )
            .fetch_all(&mut *tx)
            .await?,
            outbox: sqlx::query_as(
                "SELECT id, event_type, session_id, body, created_ms FROM webhook_events",
            )
            .fetch_all(&mut *tx)
            .await?,
            // In their order: it is the order of delivery per endpoint and session.
            deliveries: sqlx::query_as(
                "SELECT event_id, endpoint_id, session_id, state, attempts, next_ms, last_status,
                        last_latency_ms, last_response, last_error, done_ms
                 FROM webhook_deliveries ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await?,
        };
        tx.commit().await?;
        Ok(contents)
    })
}

async fn already_there(to: &Db) -> Result<Option<String>, sqlx::Error> {
    let mut found = Vec::new();
    for table in ["sessions", "users", "api_keys", "webhook_endpoints"] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let (n,): (i64,) =
            on_pool!(to, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await)?;
        if n > 0 {
            found.push(format!("{n} rows in {table}"));
        }
    }
    Ok((!found.is_empty()).then(|| found.join(", ")))
}

/// Copies everything from `from` into `to`, which must be empty (both already migrated).
pub async fn copy(from: &Db, to: &Db) -> Result<Copied, CopyError> {
    if let Some(found) = already_there(to).await? {
        return Err(CopyError::NotEmpty(found));
    }
    let c = read(from).await?;
    on_pool!(to, pool => {
        let mut tx = pool.begin().await?;
        for u in &c.users {
            sqlx::query(
                "INSERT INTO users (id, username, password_hash, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&u.id)
            .bind(&u.username)
            .bind(&u.password_hash)
            .bind(u.created_at)
            .bind(u.updated_at)
            .execute(&mut *tx)
            .await?;
        }
        for k in &c.api_keys {
            sqlx::query(
                "INSERT INTO api_keys (id, name, prefix, scope, key_hash, created_at, last_used_at,
                        revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&k.id)
            .bind(&k.name)
            .bind(&k.prefix)
            .bind(&k.scope)
            .bind(&k.key_hash)
            .bind(k.created_at)
            .bind(k.last_used_at)
            .bind(k.revoked_at)
            .execute(&mut *tx)
            .await?;
        }
        for s in &c.sessions {
            sqlx::query(
                "INSERT INTO sessions (id, name, connector, phone_number, auth_state,
                        is_active, auto_connect, desired, status, reason, last_error, attempt,
                        next_retry_at, last_connected_at, last_message_at, created_at, updated_at,
                        is_primary)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                         $17, $18)",
            )
            .bind(&s.id)
            .bind(&s.name)
            .bind(&s.connector)
            .bind(&s.phone_number)
            .bind(&s.auth_state)
            .bind(s.is_active)
            .bind(s.auto_connect)
            .bind(&s.desired)
            .bind(&s.status)
            .bind(&s.reason)
            .bind(&s.last_error)
            .bind(s.attempt)
            .bind(s.next_retry_at)
            .bind(s.last_connected_at)
            .bind(s.last_message_at)
            .bind(s.created_at)
            .bind(s.updated_at)
            .bind(s.is_primary)
            .execute(&mut *tx)
            .await?;
        }
        for e in &c.events {
            sqlx::query(
                "INSERT INTO session_events (session_id, at, from_status, to_status, reason, detail)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&e.session_id)
            .bind(e.at)
            .bind(&e.from_status)
            .bind(&e.to_status)
            .bind(&e.reason)
            .bind(&e.detail)
            .execute(&mut *tx)
            .await?;
        }
        for r in &c.recoveries {
            sqlx::query(
                "INSERT INTO recoveries (session_id, at, cause, action, automatic, outcome, error)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&r.session_id)
            .bind(r.at)
            .bind(&r.cause)
            .bind(&r.action)
            .bind(r.automatic)
            .bind(&r.outcome)
            .bind(&r.error)
            .execute(&mut *tx)
            .await?;
        }
        for k in &c.keys {
            sqlx::query(
                "INSERT INTO whatsapp_store (session_id, space, scope, item, value, num, flag,
                        layout)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&k.session_id)
            .bind(&k.space)
            .bind(&k.scope)
            .bind(&k.item)
            .bind(&k.value)
            .bind(k.num)
            .bind(k.flag)
            .bind(k.layout)
            .execute(&mut *tx)
            .await?;
        }
        for e in &c.endpoints {
            sqlx::query(
                "INSERT INTO webhook_endpoints (id, url, secret, all_sessions, enabled,
                        paused_reason, failing_since_ms, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&e.0)
            .bind(&e.1)
            .bind(&e.2)
            .bind(e.3)
            .bind(e.4)
            .bind(&e.5)
            .bind(e.6)
            .bind(e.7)
            .execute(&mut *tx)
            .await?;
        }
        for (table, column, rows) in [
            ("webhook_endpoint_events", "event_type", &c.subscriptions),
            ("webhook_endpoint_sessions", "session_id", &c.chosen_sessions),
        ] {
            let sql = format!("INSERT INTO {table} (endpoint_id, {column}) VALUES ($1, $2)");
            for (endpoint, value) in rows {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(endpoint)
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for e in &c.outbox {
            sqlx::query(
                "INSERT INTO webhook_events (id, event_type, session_id, body, created_ms)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&e.0)
            .bind(&e.1)
            .bind(&e.2)
            .bind(&e.3)
            .bind(e.4)
            .execute(&mut *tx)
            .await?;
        }
        for d in &c.deliveries {
            sqlx::query(
                "INSERT INTO webhook_deliveries (event_id, endpoint_id, session_id, state,
                        attempts, next_ms, last_status, last_latency_ms, last_response,
                        last_error, done_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&d.0)
            .bind(&d.1)
            .bind(&d.2)
            .bind(&d.3)
            .bind(d.4)
            .bind(d.5)
            .bind(d.6)
            .bind(d.7)
            .bind(&d.8)
            .bind(&d.9)
            .bind(d.10)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok::<(), sqlx::Error>(())
    })?;
    let n = |len: usize| len as u64;
    Ok(Copied {
        sessions: n(c.sessions.len()),
        events: n(c.events.len()),
        keys: n(c.keys.len()),
        recoveries: n(c.recoveries.len()),
        users: n(c.users.len()),
        api_keys: n(c.api_keys.len()),
        webhooks: n(c.endpoints.len()),
        deliveries: n(c.deliveries.len()),
    })
}
