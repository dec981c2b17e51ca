//! Webhook endpoints, the outbox of events and their deliveries.
//!
//! Times are milliseconds of the database's clock, as for leases: every instance agrees on
//! when a delivery is due and when a claim ran out.

use std::time::Duration;

use app::model::webhooks::{
    DeliveryState, DeliveryView, EventType, NewWebhook, UpdateWebhook, WebhookView,
};
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::{
    Db, DbError,
    leases::{millis, now_ms},
    on_pool,
};
use crate::webhooks::payload::Outgoing;

/// The condition under which endpoint `e` wants an event of type `$2` about session `$3`.
const WANTS: &str = "e.enabled
    AND EXISTS (SELECT 1 FROM webhook_endpoint_events t
                WHERE t.endpoint_id = e.id AND t.event_type = $2)
    AND (e.all_sessions OR EXISTS (SELECT 1 FROM webhook_endpoint_sessions s
                                   WHERE s.endpoint_id = e.id AND s.session_id = $3))";

/// The class of PostgreSQL's advisory locks that order a session's webhook events (the
/// other half of each lock's key is the session's id, hashed): a number of Lifeline's own,
/// apart from any other use of advisory locks in the same database.
pub const SESSION_ORDER_LOCK: i32 = 0x4c_49_46_45; // "LIFE"

/// The two statements that put an event into the outbox, for a transaction of the caller's
/// (the journal's, so that the event is stored with the change that caused it). Both bind
/// `$1` the event id, `$2` its type, `$3` its session, `$4` its body. Nothing is written
/// when no endpoint wants the event; deliveries only follow a written event (each
/// statement sees the endpoints anew, and one enabled in between must not get a delivery
/// without its event).
///
/// Events of one session are delivered in the order of their deliveries' ids, so the ids
/// must be given in the order the transactions commit. SQLite has one writer at a time,
/// whose transaction holds the lock to its end. On PostgreSQL, transactions run side by side
/// (the journal's and a sent message's, or two instances'): the first statement takes a
/// per-session lock, held to the end of the transaction, before the event is written, so a
/// second transaction about the same session waits and its ids come after. It is taken only
/// when an endpoint wants the event: without endpoints nothing waits.
pub fn enqueue_statements(db: &Db) -> [String; 2] {
    let now = now_ms(db);
    let (lock, from) = match db {
        Db::Sqlite(_) => (String::new(), ""),
        Db::Postgres(_) => (
            format!(
                "WITH ordered AS (
                     SELECT pg_advisory_xact_lock({SESSION_ORDER_LOCK}, hashtext($3::text)) AS held
                 ) "
            ),
            " FROM ordered",
        ),
    };
    [
        format!(
            "{lock}INSERT INTO webhook_events (id, event_type, session_id, body, created_ms)
             SELECT $1, $2, $3, $4, {now}{from}
             WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE {WANTS})"
        ),
        format!(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id, session_id, next_ms)
             SELECT $1, e.id, $3, {now} FROM webhook_endpoints e
             WHERE {WANTS} AND $4 IS NOT NULL
               AND EXISTS (SELECT 1 FROM webhook_events v WHERE v.id = $1)"
        ),
    ]
}

/// Puts `$event` (a [`crate::webhooks::payload::Outgoing`]) into the outbox inside
/// transaction `$tx` on `$db`, with the change that caused it; evaluates to whether any
/// endpoint wanted it. For use inside `on_pool!`, where the transaction's type is known.
macro_rules! enqueue_in {
    ($db:expr, $tx:expr, $event:expr) => {{
        let mut queued = false;
        for sql in $crate::db::webhooks::enqueue_statements($db) {
            queued |= sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&$event.id)
                .bind($event.event_type.as_str())
                .bind(&$event.session_id)
                .bind(&$event.body)
                .execute(&mut *$tx)
                .await?
                .rows_affected()
                > 0;
        }
        queued
    }};
}
pub(crate) use enqueue_in;

/// Puts one event into the outbox in a transaction of its own (for an event that no
/// stored change causes, a message sent say); whether any endpoint wanted it.
pub async fn enqueue(db: &Db, event: &Outgoing) -> Result<bool, DbError> {
    let queued = on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let queued = enqueue_in!(db, tx, event);
        tx.commit().await.map(|()| queued)
    })?;
    Ok(queued)
}

/// Adds an endpoint.
pub async fn create(db: &Db, id: &str, endpoint: &NewWebhook, secret: &str) -> Result<(), DbError> {
    let now = now_ms(db);
    let sql = format!(
        "INSERT INTO webhook_endpoints (id, url, secret, all_sessions, created_ms)
         VALUES ($1, $2, $3, $4, {now})"
    );
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(id)
            .bind(&endpoint.url)
            .bind(secret)
            .bind(endpoint.sessions.is_none())
            .execute(&mut *tx)
            .await?;
        for event in &endpoint.events {
            sqlx::query("INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES ($1, $2)")
                .bind(id)
                .bind(event.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for session in endpoint.sessions.iter().flatten() {
            sqlx::query("INSERT INTO webhook_endpoint_sessions (endpoint_id, session_id) VALUES ($1, $2)")
                .bind(id)
                .bind(session)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })?;
    Ok(())
}

/// Changes what `update` names of endpoint `id`; `false` when there is no such endpoint.
/// Enabling an endpoint clears the reason it was paused and its failing streak.
pub async fn update(db: &Db, id: &str, update: &UpdateWebhook) -> Result<bool, DbError> {
    let found = on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let found = sqlx::query(
            "UPDATE webhook_endpoints SET url = COALESCE($2, url) WHERE id = $1",
        )
        .bind(id)
        .bind(&update.url)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if found {
            if let Some(enabled) = update.enabled {
                sqlx::query(
                    "UPDATE webhook_endpoints SET enabled = $2,
                         paused_reason = CASE WHEN $2 THEN NULL ELSE paused_reason END,
                         failing_since_ms = CASE WHEN $2 THEN NULL ELSE failing_since_ms END
                     WHERE id = $1",
                )
                .bind(id)
                .bind(enabled)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(events) = &update.events {
                sqlx::query("DELETE FROM webhook_endpoint_events WHERE endpoint_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                for event in events {
                    sqlx::query(
                        "INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES ($1, $2)",
                    )
                    .bind(id)
                    .bind(event.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
            }
            if let Some(sessions) = &update.sessions {
                sqlx::query("UPDATE webhook_endpoints SET all_sessions = $2 WHERE id = $1")
                    .bind(id)
                    .bind(sessions.is_none())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM webhook_endpoint_sessions WHERE endpoint_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                for session in sessions.iter().flatten() {
                    sqlx::query(
                        "INSERT INTO webhook_endpoint_sessions (endpoint_id, session_id) VALUES ($1, $2)",
                    )
                    .bind(id)
                    .bind(session)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await.map(|()| found)
    })?;
    Ok(found)
}

/// Removes endpoint `id` with its deliveries; `false` when there was none.
pub async fn delete(db: &Db, id: &str) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

type EndpointRow = (String, String, bool, bool, Option<String>, i64);

/// Every endpoint, oldest first (`id` given: that one only).
pub async fn list(db: &Db, id: Option<&str>) -> Result<Vec<WebhookView>, DbError> {
    let rows: Vec<EndpointRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT id, url, all_sessions, enabled, paused_reason, created_ms
         FROM webhook_endpoints WHERE $1 IS NULL OR id = $1 ORDER BY created_ms, id"
    )
    .bind(id)
    .fetch_all(pool)
    .await)?;
    let events: Vec<(String, String)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT endpoint_id, event_type FROM webhook_endpoint_events
         WHERE $1 IS NULL OR endpoint_id = $1"
    )
    .bind(id)
    .fetch_all(pool)
    .await)?;
    let sessions: Vec<(String, String)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT endpoint_id, session_id FROM webhook_endpoint_sessions
         WHERE $1 IS NULL OR endpoint_id = $1 ORDER BY session_id"
    )
    .bind(id)
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, url, all_sessions, enabled, paused_reason, created_ms)| {
            let mut types: Vec<EventType> = events
                .iter()
                .filter(|(e, _)| *e == id)
                .filter_map(|(_, t)| t.parse().ok())
                .collect();
            types.sort();
            let named = sessions.iter().filter(|(e, _)| *e == id).map(|(_, s)| s.clone()).collect();
            WebhookView {
                events: types,
                sessions: (!all_sessions).then_some(named),
                id,
                url,
                enabled,
                paused_reason,
                created_at: at(created_ms),
            }
        })
        .collect())
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A delivery claimed for sending, with what sending needs.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Claimed {
    /// The delivery.
    pub id: i64,
    /// The event: the `webhook-id`.
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// Where to.
    pub url: String,
    /// Its signing secret.
    pub secret: String,
    /// What to send.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i32,
}

/// Claims up to `limit` due deliveries for instance `me` for `claim_for`: the oldest of
/// each endpoint and session (a later event waits until the earlier is delivered or has
/// failed for good), of enabled endpoints only (a paused one's wait until it is resumed),
/// none claimed by another instance whose claim still runs and that is
/// still alive (its heartbeat within `live`: a killed instance's claims are free once the
/// others see it dead, not only when they run out).
pub async fn claim(
    db: &Db,
    me: &str,
    limit: usize,
    claim_for: Duration,
    live: Duration,
) -> Result<Vec<Claimed>, DbError> {
    let now = now_ms(db);
    // PostgreSQL: instances claiming at once skip each other's rows instead of waiting.
    let skip = if matches!(db, Db::Postgres(_)) { "FOR UPDATE OF d SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE webhook_deliveries SET claimed_by = $1, claimed_until_ms = {now} + $2
         WHERE id IN (
             SELECT d.id FROM webhook_deliveries d
             WHERE d.state = 'pending' AND d.next_ms <= {now}
               AND EXISTS (SELECT 1 FROM webhook_endpoints e
                           WHERE e.id = d.endpoint_id AND e.enabled)
               AND (d.claimed_until_ms IS NULL OR d.claimed_until_ms <= {now}
                    OR (d.claimed_by <> $1
                        AND NOT EXISTS (SELECT 1 FROM instances i
                                        WHERE i.id = d.claimed_by
                                          AND i.heartbeat_ms > {now} - $4)))
               AND NOT EXISTS (
                   SELECT 1 FROM webhook_deliveries p
                   WHERE p.endpoint_id = d.endpoint_id
                     AND p.session_id IS NOT DISTINCT FROM d.session_id
                     AND p.state = 'pending' AND p.id < d.id)
             ORDER BY d.id LIMIT $3 {skip})
         RETURNING id"
    );
    let ids: Vec<(i64,)> = on_pool!(db, pool => sqlx::query_as(AssertSqlSafe(sql.clone()))
        .bind(me)
        .bind(millis(claim_for))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(millis(live))
        .fetch_all(pool)
        .await)?;
    let mut claimed = Vec::with_capacity(ids.len());
    for (id,) in ids {
        let row: Option<Claimed> = on_pool!(db, pool => sqlx::query_as(
            "SELECT d.id, d.event_id, d.endpoint_id, e.url, e.secret, v.body, d.attempts
             FROM webhook_deliveries d
             JOIN webhook_endpoints e ON e.id = d.endpoint_id
             JOIN webhook_events v ON v.id = d.event_id
             WHERE d.id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        claimed.extend(row);
    }
    Ok(claimed)
}

/// Frees every claim of instances other than `me`: on a database only this process can
/// open, any other claim is a dead process's.
pub async fn release_others(db: &Db, me: &str) -> Result<u64, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE webhook_deliveries SET claimed_by = NULL, claimed_until_ms = NULL
         WHERE claimed_by IS NOT NULL AND claimed_by <> $1"
    )
    .bind(me)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n)
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The answer's status, when there was one.
    pub status: Option<u16>,
    /// How long it took.
    pub latency: Duration,
    /// The answer's first bytes.
    pub response: Option<String>,
    /// Why there was no (good) answer.
    pub error: Option<String>,
    /// What comes next.
    pub next: Next,
}

/// What comes after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Delivered: nothing.
    Done,
    /// Another attempt after this wait.
    RetryAfter(Duration),
    /// No more attempts: the delivery failed.
    GiveUp,
    /// The endpoint answered 410 Gone: the delivery failed and the endpoint is paused.
    Gone,
}

/// The statements that record one attempt: the delivery's row, the endpoint's failing
/// streak, and its pausing.
fn recording(db: &Db, attempt: &Attempt) -> [String; 3] {
    let now = now_ms(db);
    let (state, next_ms) = match attempt.next {
        Next::Done => (DeliveryState::Delivered, "next_ms".to_owned()),
        Next::RetryAfter(wait) => (DeliveryState::Pending, format!("{now} + {}", millis(wait))),
        Next::GiveUp | Next::Gone => (DeliveryState::Failed, "next_ms".to_owned()),
    };
    let done = if state == DeliveryState::Pending { "NULL" } else { now };
    let state = state.as_str();
    let delivery = format!(
        "UPDATE webhook_deliveries SET state = '{state}', attempts = attempts + 1,
             next_ms = {next_ms}, claimed_by = NULL, claimed_until_ms = NULL, last_status = $3,
             last_latency_ms = $4, last_response = $5, last_error = $6, done_ms = {done}
         WHERE id = $1 AND claimed_by = $2
         RETURNING endpoint_id"
    );
    let streak = if attempt.next == Next::Done {
        "UPDATE webhook_endpoints SET failing_since_ms = NULL WHERE id = $1".to_owned()
    } else {
        format!(
            "UPDATE webhook_endpoints SET failing_since_ms = COALESCE(failing_since_ms, {now})
             WHERE id = $1"
        )
    };
    let pause = format!(
        "UPDATE webhook_endpoints SET enabled = FALSE, paused_reason = $2
         WHERE id = $1 AND enabled AND ($3 OR failing_since_ms <= {now} - $4)"
    );
    [delivery, streak, pause]
}

/// Records attempts of deliveries claimed by `me`, in one transaction (an attempt whose
/// claim went to another instance meanwhile changes nothing); keeps each endpoint's
/// failing streak, and pauses it after a 410 or once it has failed for `pause_after`.
/// Whether each attempt paused its endpoint.
pub async fn record(
    db: &Db,
    me: &str,
    attempts: &[(i64, &Attempt)],
    pause_after: Duration,
) -> Result<Vec<bool>, DbError> {
    let failing = format!("every delivery failed for {} h", pause_after.as_secs() / 3600);
    let paused = on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let mut paused = Vec::with_capacity(attempts.len());
        for (id, attempt) in attempts {
            let [delivery, streak, pause] = recording(db, attempt);
            let endpoint: Option<(String,)> = sqlx::query_as(AssertSqlSafe(delivery))
                .bind(id)
                .bind(me)
                .bind(attempt.status.map(i32::from))
                .bind(millis(attempt.latency))
                .bind(&attempt.response)
                .bind(&attempt.error)
                .fetch_optional(&mut *tx)
                .await?;
            let mut now_paused = false;
            if let Some((endpoint,)) = endpoint {
                sqlx::query(AssertSqlSafe(streak)).bind(&endpoint).execute(&mut *tx).await?;
                if attempt.next != Next::Done {
                    let gone = attempt.next == Next::Gone;
                    let reason = if gone { "the endpoint answered 410 Gone" } else { &failing };
                    now_paused = sqlx::query(AssertSqlSafe(pause))
                        .bind(&endpoint)
                        .bind(reason)
                        .bind(gone)
                        .bind(millis(pause_after))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1;
                }
            }
            paused.push(now_paused);
        }
        tx.commit().await.map(|()| paused)
    })?;
    Ok(paused)
}

type DeliveryRow = (
    i64,
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
    i64,
);

/// The newest `limit` deliveries to endpoint `endpoint`, newest first.
pub async fn deliveries(db: &Db, endpoint: &str, limit: u32) -> Result<Vec<DeliveryView>, DbError> {
    let rows: Vec<DeliveryRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT d.id, d.event_id, v.event_type, d.session_id, d.state, d.attempts, d.next_ms,
                d.last_status, d.last_latency_ms, d.last_response, d.last_error, v.created_ms
         FROM webhook_deliveries d JOIN webhook_events v ON v.id = d.event_id
         WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2"
    )
    .bind(endpoint)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let state: DeliveryState = r.4.parse().ok()?;
            Some(DeliveryView {
                id: r.0,
                event_id: r.1,
                event_type: r.2.parse().ok()?,
                session_id: r.3,
                attempts: u32::try_from(r.5).unwrap_or_default(),
                next_attempt_at: (state == DeliveryState::Pending).then(|| at(r.6)),
                state,
                last_status: r.7.and_then(|s| u16::try_from(s).ok()),
                last_latency_ms: r.8.and_then(|l| u64::try_from(l).ok()),
                last_response: r.9,
                last_error: r.10,
                created_at: at(r.11),
            })
        })
        .collect())
}

/// Queues deliveries of endpoint `endpoint` again, at once, with a fresh set of attempts:
/// those of event `event_id` when given, else every failed one of events since `since`.
/// How many.
pub async fn redeliver(
    db: &Db,
    endpoint: &str,
    event_id: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> Result<u64, DbError> {
    let now = now_ms(db);
    let sql = format!(
        "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_ms = {now},
             claimed_by = NULL, claimed_until_ms = NULL, done_ms = NULL
         WHERE endpoint_id = $1
           AND (($2 IS NOT NULL AND event_id = $2)
                OR ($2 IS NULL AND state = 'failed'
                    AND event_id IN (SELECT id FROM webhook_events WHERE created_ms >= $3)))"
    );
    let n = on_pool!(db, pool => sqlx::query(AssertSqlSafe(sql.clone()))
        .bind(endpoint)
        .bind(event_id)
        .bind(since.map_or(0, |s| s.timestamp_millis()))
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n)
}

/// How deep the outbox is: deliveries pending, and how old the oldest pending event is.
pub async fn depth(db: &Db) -> Result<(u64, Option<Duration>), DbError> {
    let now = now_ms(db);
    let sql = format!(
        "SELECT COUNT(*), {now} - MIN(v.created_ms) FROM webhook_deliveries d
         JOIN webhook_events v ON v.id = d.event_id WHERE d.state = 'pending'"
    );
    let (count, age): (i64, Option<i64>) =
        on_pool!(db, pool => sqlx::query_as(AssertSqlSafe(sql.clone())).fetch_one(pool).await)?;
    let age = age.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or_default()));
    Ok((u64::try_from(count).unwrap_or_default(), age))
}
