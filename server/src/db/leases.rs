//! Instances and session leases: which Lifeline process may connect each session.
//!
//! A lease is granted to one instance at a time with a fencing token one higher than the
//! last grant's, and lasts until the database's clock passes its expiry. Every time here is
//! the database's (milliseconds since 1970): instances whose clocks disagree still agree on
//! when a lease ends. The holder renews all its leases in one statement; a lease that ran
//! out is not renewed but granted again, under a new token.

use std::time::Duration;

use sqlx::AssertSqlSafe;

use super::{Db, DbError, on_pool};

/// A grant's fencing token: strictly increasing per session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub i64);

/// What a write about a session carries so that the database refuses it once another
/// grant replaced this one: the holder's id and the grant's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// The holding instance's id.
    pub holder: std::sync::Arc<str>,
    /// The grant's token.
    pub token: Token,
}

impl Fence {
    /// The SQL condition that holds while the fence does, for a statement whose `$1` is
    /// the session and whose `$holder` and `$token` parameters carry the fence (a `NULL`
    /// holder: an unfenced write, by a tool or a test that holds no lease).
    pub fn condition(holder: usize, token: usize) -> String {
        format!(
            "(${holder} IS NULL OR EXISTS (SELECT 1 FROM session_leases
                 WHERE session_id = $1 AND holder = ${holder} AND token = ${token}))"
        )
    }

    /// The holder to bind for `fence` (`None`: unfenced).
    pub fn holder(fence: Option<&Fence>) -> Option<&str> {
        fence.map(|f| &*f.holder)
    }

    /// The token to bind for `fence`.
    pub fn token(fence: Option<&Fence>) -> Option<i64> {
        fence.map(|f| f.token.0)
    }
}

/// A lease this instance holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The session.
    pub session_id: String,
    /// The grant's token.
    pub token: Token,
}

/// An instance as the others see it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct InstanceRow {
    /// Random per process start.
    pub id: String,
    /// What people call it (`LIFELINE_INSTANCE_NAME`, or the host's name).
    pub name: String,
    /// When it started, database time.
    pub started_ms: i64,
    /// Its last heartbeat, database time.
    pub heartbeat_ms: i64,
    /// The most sessions it takes.
    pub capacity: i64,
    /// Whether it is handing its sessions over before maintenance.
    pub draining: bool,
    /// How many leases it holds now.
    pub held: i64,
}

/// How a lease row changes hands: to the new holder, one token up, the move (if any) done.
const GRANT: &str = "ON CONFLICT (session_id) DO UPDATE
             SET holder = excluded.holder, token = session_leases.token + 1,
                 expires_ms = excluded.expires_ms, moving_to = NULL";

/// The database's clock, in milliseconds since 1970: the one clock all instances share.
pub(super) fn now_ms(db: &Db) -> &'static str {
    match db {
        Db::Sqlite(_) => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
        Db::Postgres(_) => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Announces this instance (or announces it again after a database outage).
pub async fn register(db: &Db, id: &str, name: &str, capacity: u32) -> Result<(), DbError> {
    let now = now_ms(db);
    let sql = format!(
        "INSERT INTO instances (id, name, started_ms, heartbeat_ms, capacity)
         VALUES ($1, $2, {now}, {now}, $3)
         ON CONFLICT (id) DO UPDATE SET heartbeat_ms = {now}"
    );
    on_pool!(db, pool => sqlx::query(AssertSqlSafe(sql.clone()))
        .bind(id)
        .bind(name)
        .bind(i64::from(capacity))
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Records that this instance is alive; `false` when its row is gone (it was removed as
/// dead) and it must register again.
pub async fn heartbeat(db: &Db, id: &str) -> Result<bool, DbError> {
    let sql = format!("UPDATE instances SET heartbeat_ms = {} WHERE id = $1", now_ms(db));
    let n = on_pool!(db, pool => sqlx::query(AssertSqlSafe(sql.clone()))
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Marks an instance as draining (it hands its sessions over and takes no new ones), or
/// back in service; `false` when there is no instance by that id or name.
pub async fn set_draining(db: &Db, instance: &str, draining: bool) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE instances SET draining = $2 WHERE id = $1 OR name = $1"
    )
    .bind(instance)
    .bind(draining)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Removes the rows of instances not heard from within `silent` (they died long ago);
/// how many.
pub async fn forget_silent(db: &Db, silent: Duration) -> Result<u64, DbError> {
    let sql = format!("DELETE FROM instances WHERE heartbeat_ms < {} - $1", now_ms(db));
    let n = on_pool!(db, pool => sqlx::query(AssertSqlSafe(sql.clone()))
        .bind(millis(silent))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n)
}

/// Removes this instance's row at a clean shutdown (after its leases are released).
pub async fn deregister(db: &Db, id: &str) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query("DELETE FROM instances WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// The instances that gave a sign of life within `within`, with the leases each holds,
/// oldest first.
pub async fn live_instances(db: &Db, within: Duration) -> Result<Vec<InstanceRow>, DbError> {
    let now = now_ms(db);
    let sql = format!(
        "SELECT i.id, i.name, i.started_ms, i.heartbeat_ms, i.capacity, i.draining,
                (SELECT COUNT(*) FROM session_leases l
                 WHERE l.holder = i.id AND l.expires_ms > {now}) AS held
         FROM instances i
         WHERE i.heartbeat_ms > {now} - $1
         ORDER BY i.started_ms, i.id"
    );
    let rows = on_pool!(db, pool => sqlx::query_as::<_, InstanceRow>(AssertSqlSafe(sql.clone()))
        .bind(millis(within))
        .fetch_all(pool)
        .await)?;
    Ok(rows)
}

/// Grants `holder` the lease on `session_id` for `ttl` when nobody holds it (never held,
/// released, or run out) and no move names another live instance (one heard from within
/// `ttl`); returns the new token.
/// `None` when another instance holds it, or the session does not exist.
pub async fn claim(
    db: &Db,
    session_id: &str,
    holder: &str,
    ttl: Duration,
) -> Result<Option<Token>, DbError> {
    let now = now_ms(db);
    // Two instances claiming at once: the row lock makes the second re-read the first's
    // grant, which is live, so it gets nothing.
    let sql = format!(
        "INSERT INTO session_leases (session_id, holder, token, expires_ms)
         SELECT $1, $2, 1, {now} + $3 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1)
         {GRANT}
             WHERE (session_leases.holder IS NULL OR session_leases.expires_ms <= {now})
               AND (session_leases.moving_to IS NULL OR session_leases.moving_to = excluded.holder
                    OR NOT EXISTS (SELECT 1 FROM instances
                                   WHERE id = session_leases.moving_to
                                     AND heartbeat_ms > {now} - $3))
         RETURNING token"
    );
    let token: Option<(i64,)> = on_pool!(db, pool => sqlx::query_as(AssertSqlSafe(sql.clone()))
        .bind(session_id)
        .bind(holder)
        .bind(millis(ttl))
        .fetch_optional(pool)
        .await)?;
    Ok(token.map(|(t,)| Token(t)))
}

/// Grants `holder` every session for `ttl`, whoever held them (each under a new token):
/// for a database no other process can open (SQLite, claimed by the instance lock), where
/// the leases of a dead predecessor need not be waited out.
pub async fn seize_all(db: &Db, holder: &str, ttl: Duration) -> Result<Vec<Held>, DbError> {
    let now = now_ms(db);
    let sql = format!(
        "INSERT INTO session_leases (session_id, holder, token, expires_ms)
         SELECT id, $1, 1, {now} + $2 FROM sessions WHERE true
         {GRANT}
         RETURNING session_id, token"
    );
    granted(db, sql, holder, ttl).await
}

/// Extends every lease `holder` still holds to `ttl` from now; returns them. A lease that
/// ran out is not among them even if nobody took it: it must be claimed again, under a new
/// token.
pub async fn renew(db: &Db, holder: &str, ttl: Duration) -> Result<Vec<Held>, DbError> {
    let now = now_ms(db);
    let sql = format!(
        "UPDATE session_leases SET expires_ms = {now} + $2
         WHERE holder = $1 AND expires_ms > {now}
         RETURNING session_id, token"
    );
    granted(db, sql, holder, ttl).await
}

/// Runs `sql` (`$1` the holder, `$2` the lease's time to live in milliseconds), which
/// returns the leases it granted or extended.
async fn granted(db: &Db, sql: String, holder: &str, ttl: Duration) -> Result<Vec<Held>, DbError> {
    let rows: Vec<(String, i64)> = on_pool!(db, pool => sqlx::query_as(AssertSqlSafe(sql.clone()))
        .bind(holder)
        .bind(millis(ttl))
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(session_id, t)| Held { session_id, token: Token(t) }).collect())
}

/// Gives the lease up at once, so another instance can take the session without waiting
/// for it to run out; `false` when `holder` no longer held it under `token`.
pub async fn release(
    db: &Db,
    session_id: &str,
    holder: &str,
    token: Token,
) -> Result<bool, DbError> {
    let sql = format!(
        "UPDATE session_leases SET holder = NULL, expires_ms = {}
         WHERE session_id = $1 AND holder = $2 AND token = $3",
        now_ms(db)
    );
    let n = on_pool!(db, pool => sqlx::query(AssertSqlSafe(sql.clone()))
        .bind(session_id)
        .bind(holder)
        .bind(token.0)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Gives up every lease `holder` holds (a clean shutdown); how many.
pub async fn release_all(db: &Db, holder: &str) -> Result<u64, DbError> {
    let sql = format!(
        "UPDATE session_leases SET holder = NULL, expires_ms = {} WHERE holder = $1",
        now_ms(db)
    );
    let n = on_pool!(db, pool => sqlx::query(AssertSqlSafe(sql.clone()))
        .bind(holder)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n)
}

/// Asks for `session_id` to move to instance `to` (an id): only `to` may claim it next.
/// The holder sees the move at its next renewal and releases the session. `false` when
/// there is no such session.
pub async fn move_to(db: &Db, session_id: &str, to: &str) -> Result<bool, DbError> {
    let now = now_ms(db);
    let sql = format!(
        "INSERT INTO session_leases (session_id, holder, token, expires_ms, moving_to)
         SELECT $1, NULL, 0, {now}, $2 WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1)
         ON CONFLICT (session_id) DO UPDATE SET moving_to = excluded.moving_to"
    );
    let n = on_pool!(db, pool => sqlx::query(AssertSqlSafe(sql.clone()))
        .bind(session_id)
        .bind(to)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Sessions `holder` holds that an operator asked to move elsewhere.
pub async fn moving_away(db: &Db, holder: &str) -> Result<Vec<Held>, DbError> {
    let rows: Vec<(String, i64)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT session_id, token FROM session_leases
         WHERE holder = $1 AND moving_to IS NOT NULL AND moving_to <> $1
         ORDER BY session_id"
    )
    .bind(holder)
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().map(|(session_id, t)| Held { session_id, token: Token(t) }).collect())
}

/// Up to `limit` sessions nobody holds that `holder` may claim (never held, released, run
/// out, or moving to it or to an instance not heard from within `live`), those moving to
/// it first, then the oldest.
pub async fn claimable(
    db: &Db,
    holder: &str,
    limit: u32,
    live: Duration,
) -> Result<Vec<String>, DbError> {
    let now = now_ms(db);
    let sql = format!(
        "SELECT s.id FROM sessions s LEFT JOIN session_leases l ON l.session_id = s.id
         WHERE l.session_id IS NULL
            OR ((l.holder IS NULL OR l.expires_ms <= {now})
                AND (l.moving_to IS NULL OR l.moving_to = $1
                     OR NOT EXISTS (SELECT 1 FROM instances
                                    WHERE id = l.moving_to AND heartbeat_ms > {now} - $3)))
         ORDER BY CASE WHEN l.moving_to = $1 THEN 0 ELSE 1 END, s.created_at, s.id
         LIMIT $2"
    );
    let rows: Vec<(String,)> = on_pool!(db, pool => sqlx::query_as(AssertSqlSafe(sql.clone()))
        .bind(holder)
        .bind(i64::from(limit))
        .bind(millis(live))
        .fetch_all(pool)
        .await)?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The instance holding `session_id` now (a live lease): its id and name.
pub async fn holder_of(db: &Db, session_id: &str) -> Result<Option<(String, String)>, DbError> {
    let sql = format!(
        "SELECT l.holder, COALESCE(i.name, l.holder) FROM session_leases l
         LEFT JOIN instances i ON i.id = l.holder
         WHERE l.session_id = $1 AND l.holder IS NOT NULL AND l.expires_ms > {}",
        now_ms(db)
    );
    let row = on_pool!(db, pool => sqlx::query_as(AssertSqlSafe(sql.clone()))
        .bind(session_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row)
}

/// The token under which `holder` holds `session_id` now (a live lease), if it does.
pub async fn token_of(db: &Db, session_id: &str, holder: &str) -> Result<Option<Token>, DbError> {
    let sql = format!(
        "SELECT token FROM session_leases
         WHERE session_id = $1 AND holder = $2 AND expires_ms > {}",
        now_ms(db)
    );
    let row: Option<(i64,)> = on_pool!(db, pool => sqlx::query_as(AssertSqlSafe(sql.clone()))
        .bind(session_id)
        .bind(holder)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(|(t,)| Token(t)))
}

/// Who holds each session now (live leases only): session id → instance id and token.
pub async fn holders(db: &Db) -> Result<Vec<(String, String, Token)>, DbError> {
    let sql = format!(
        "SELECT session_id, holder, token FROM session_leases
         WHERE holder IS NOT NULL AND expires_ms > {} ORDER BY session_id",
        now_ms(db)
    );
    let rows: Vec<(String, String, i64)> =
        on_pool!(db, pool => sqlx::query_as(AssertSqlSafe(sql.clone())).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|(s, h, t)| (s, h, Token(t))).collect())
}
