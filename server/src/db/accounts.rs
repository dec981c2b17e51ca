//! The `users` and `login_sessions` tables.

use chrono::{DateTime, Utc};

use super::{Db, DbError, on_pool};

/// A dashboard account.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    /// Stable identifier.
    pub id: String,
    /// Login name.
    pub username: String,
    /// argon2 PHC string.
    pub password_hash: String,
}

/// How many accounts exist.
pub async fn count_users(db: &Db) -> Result<i64, DbError> {
    let (n,): (i64,) =
        on_pool!(db, pool => sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(pool).await)?;
    Ok(n)
}

/// The account called `username`.
pub async fn user_by_name(db: &Db, username: &str) -> Result<Option<User>, DbError> {
    Ok(on_pool!(db, pool => sqlx::query_as(
        "SELECT id, username, password_hash FROM users WHERE username = $1"
    )
    .bind(username)
    .fetch_optional(pool)
    .await)?)
}

/// Creates the first account, unless one exists already (checked in the same statement, so
/// two racing set-ups cannot both win). Returns whether it was created.
pub async fn create_first_user(db: &Db, user: &User, at: DateTime<Utc>) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "INSERT INTO users (id, username, password_hash, created_at, updated_at)
         SELECT $1, $2, $3, $4, $4 WHERE NOT EXISTS (SELECT 1 FROM users)"
    )
    .bind(&user.id)
    .bind(&user.username)
    .bind(&user.password_hash)
    .bind(at)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Stores a login session by the hash of its token.
pub async fn create_login(
    db: &Db,
    token_hash: &str,
    user_id: &str,
    at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO login_sessions (token_hash, user_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4)"
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(at)
    .bind(expires_at)
    .execute(pool)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// The username behind a live login session.
pub async fn login_user(
    db: &Db,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, DbError> {
    let row: Option<(String,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT u.username FROM login_sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > $2"
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(|(name,)| name))
}

/// Ends a login session, and any that expired.
pub async fn delete_login(db: &Db, token_hash: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query(
        "DELETE FROM login_sessions WHERE token_hash = $1 OR expires_at <= $2"
    )
    .bind(token_hash)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Replaces a user's password hash and ends every login of theirs but `keep_token_hash`.
pub async fn set_password(
    db: &Db,
    user_id: &str,
    password_hash: &str,
    keep_token_hash: &str,
    at: DateTime<Utc>,
) -> Result<(), DbError> {
    on_pool!(db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(at)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM login_sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user_id)
            .bind(keep_token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }.await)?;
    Ok(())
}
