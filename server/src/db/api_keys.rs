//! The `api_keys` table.

use app::model::ApiKeyView;
use chrono::{DateTime, Utc};

use super::{Db, DbError, on_pool};

/// A key as stored: its view and the hash of the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    /// What is listed.
    pub view: ApiKeyView,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
}

/// Every column of a row (the copier carries them all).
#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) prefix: String,
    pub(super) scope: String,
    pub(super) key_hash: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) last_used_at: Option<DateTime<Utc>>,
    pub(super) revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = DbError;

    fn try_from(r: KeyRow) -> Result<StoredKey, DbError> {
        let scope = r.scope.parse().map_err(|e: app::model::ParseError| DbError::Corrupt {
            table: "api_keys",
            detail: format!("key {}: {e}", r.id),
        })?;
        Ok(StoredKey {
            view: ApiKeyView {
                id: r.id,
                name: r.name,
                prefix: r.prefix,
                scope,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                revoked_at: r.revoked_at,
            },
            key_hash: r.key_hash,
        })
    }
}

/// Every key, newest first.
pub async fn all(db: &Db) -> Result<Vec<StoredKey>, DbError> {
    let rows: Vec<KeyRow> = on_pool!(db, pool => sqlx::query_as(
        "SELECT id, name, prefix, scope, key_hash, created_at, last_used_at, revoked_at
         FROM api_keys ORDER BY created_at DESC"
    )
    .fetch_all(pool)
    .await)?;
    rows.into_iter().map(StoredKey::try_from).collect()
}

/// Stores a new key.
pub async fn insert(db: &Db, key: &StoredKey) -> Result<(), DbError> {
    let v = &key.view;
    on_pool!(db, pool => sqlx::query(
        "INSERT INTO api_keys (id, name, prefix, scope, key_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(&v.id)
    .bind(&v.name)
    .bind(&v.prefix)
    .bind(v.scope.as_str())
    .bind(&key.key_hash)
    .bind(v.created_at)
    .execute(pool)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Revokes a key; `false` when there is no such live key.
pub async fn revoke(db: &Db, id: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => sqlx::query(
        "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
    )
    .bind(id)
    .bind(at)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Records that a key was used.
pub async fn touch(db: &Db, id: &str, at: DateTime<Utc>) -> Result<(), DbError> {
    on_pool!(db, pool => sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}
