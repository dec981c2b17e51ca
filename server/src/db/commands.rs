//! Operator actions handed from the instance that took the request to the instance holding
//! the session, and their outcomes (both as JSON the supervisor reads and writes).

use std::time::Duration;

use sqlx::AssertSqlSafe;

use super::{Db, DbError, leases::now_ms, on_pool};

/// The outcome of an action taken up and still under way (an outcome itself is never
/// empty: it is JSON).
const TAKEN: &str = "";

/// Records an action for `holder` to carry out on `session_id`.
pub async fn put(
    db: &Db,
    id: &str,
    session_id: &str,
    holder: &str,
    command: &str,
) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO session_commands (id, session_id, holder, command, created_ms)
         VALUES ($1, $2, $3, $4, {})",
        now_ms(db)
    );
    on_pool!(db, pool => sqlx::query(AssertSqlSafe(sql.clone()))
        .bind(id)
        .bind(session_id)
        .bind(holder)
        .bind(command)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Takes action `id` up for `holder`, if nobody did yet, it was not withdrawn and it is
/// younger than `within`: its session and the command. From then on the caller waits for
/// the outcome rather than withdrawing it.
pub async fn take(
    db: &Db,
    id: &str,
    holder: &str,
    within: Duration,
) -> Result<Option<(String, String)>, DbError> {
    // Older than the take-up time, its caller has given up on it (or is about to):
    // carrying it out now would act after "nothing was done" was answered.
    let sql = format!(
        "UPDATE session_commands SET outcome = $3
         WHERE id = $1 AND holder = $2 AND outcome IS NULL AND created_ms > {} - $4
         RETURNING session_id, command",
        now_ms(db)
    );
    let row = on_pool!(db, pool => sqlx::query_as(AssertSqlSafe(sql.clone()))
        .bind(id)
        .bind(holder)
        .bind(TAKEN)
        .bind(i64::try_from(within.as_millis()).unwrap_or(i64::MAX))
        .fetch_optional(pool)
        .await)?;
    Ok(row)
}

/// Withdraws action `id` unless its holder took it up: `true` when withdrawn, so that it
/// will never be carried out.
pub async fn withdraw(db: &Db, id: &str) -> Result<bool, DbError> {
    let done = on_pool!(db, pool => sqlx::query(
        "DELETE FROM session_commands WHERE id = $1 AND outcome IS NULL"
    )
    .bind(id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Records how action `id` went.
pub async fn answer(db: &Db, id: &str, outcome: &str) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query("UPDATE session_commands SET outcome = $2 WHERE id = $1")
        .bind(id)
        .bind(outcome)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// The outcome of action `id`, removing the row once it has one.
pub async fn take_outcome(db: &Db, id: &str) -> Result<Option<String>, DbError> {
    let outcome: Option<(Option<String>,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT outcome FROM session_commands WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await)?;
    let outcome = outcome.and_then(|(o,)| o).filter(|o| o != TAKEN);
    if outcome.is_some() {
        forget(db, id).await?;
    }
    Ok(outcome)
}

/// Removes action `id` (answered, or given up on).
pub async fn forget(db: &Db, id: &str) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query("DELETE FROM session_commands WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Removes actions older than `age` that nobody came back for; how many.
pub async fn forget_older_than(db: &Db, age: Duration) -> Result<u64, DbError> {
    let sql = format!("DELETE FROM session_commands WHERE created_ms < {} - $1", now_ms(db));
    let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    let n = on_pool!(db, pool => sqlx::query(AssertSqlSafe(sql.clone()))
        .bind(age)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n)
}
