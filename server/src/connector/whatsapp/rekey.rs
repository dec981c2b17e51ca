//! Re-sealing the WhatsApp key store: moving it to another `LIFELINE_SECRET_KEY`
//! (`lifeline rekey`), converting rows of the first layout at start-up, and telling which
//! key the keys are sealed with.

use std::collections::BTreeSet;

use thiserror::Error;

use super::{
    sealed_row::{self, CLEAR, HASHED, OpenError, WholeRow},
    store::space,
};
use crate::{
    db::{Db, on_pool},
    secret_key::{KeyId, SecretKey},
};

/// Why the keys could not be re-sealed. Nothing was changed.
#[derive(Debug, Error)]
pub enum RekeyError {
    /// A stored value does not open with the key it was read with.
    #[error("session {session}'s {space} record does not open with {with}: {error}")]
    WrongOldKey {
        /// Whose record.
        session: String,
        /// Which kind of record.
        space: String,
        /// Which key was tried, as the operator gave it.
        with: &'static str,
        /// Why.
        error: OpenError,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Re-seals every stored WhatsApp key from `from` to `to` in one transaction: all of them
/// or, if any does not open with `from`, none. Returns how many records were re-sealed.
/// Their address hashes are made anew under `to`, and records of an older format or
/// layout come out in the current one, so running it with the same key on both sides
/// upgrades them.
pub async fn rekey(db: &Db, from: &SecretKey, to: &SecretKey) -> Result<u64, RekeyError> {
    reseal(db, from, to, Rows::All, "--from").await
}

/// Converts the records still in the first layout (clear addresses) to hashed addresses,
/// one session per transaction, saying how far it got. Returns how many there were. A
/// start with nothing left to convert costs one indexed query.
pub async fn convert(db: &Db, key: &SecretKey) -> Result<u64, RekeyError> {
    let sessions: Vec<(String,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT DISTINCT session_id FROM whatsapp_store WHERE layout = $1 ORDER BY session_id"
    )
    .bind(CLEAR)
    .fetch_all(pool)
    .await)?;
    let mut converted = 0;
    for (done, (session,)) in sessions.iter().enumerate() {
        let records = reseal(db, key, key, Rows::ClearOf(session), "LIFELINE_SECRET_KEY").await?;
        converted += records;
        tracing::info!(
            session = %session,
            records,
            sessions = format!("{} of {}", done + 1, sessions.len()),
            "WhatsApp keys now stored under hashed addresses"
        );
    }
    Ok(converted)
}

/// Which rows a re-seal takes.
enum Rows<'a> {
    /// Every row of every session.
    All,
    /// The rows of this session still in the first layout.
    ClearOf(&'a str),
}

async fn reseal(
    db: &Db,
    from: &SecretKey,
    to: &SecretKey,
    rows: Rows<'_>,
    with: &'static str,
) -> Result<u64, RekeyError> {
    let (filter, session) = match rows {
        Rows::All => ("", None),
        Rows::ClearOf(session) => ("WHERE session_id = $1 AND layout = $2", Some(session)),
    };
    let sql = format!(
        "SELECT {} FROM whatsapp_store {filter} ORDER BY session_id, space, scope, item",
        WholeRow::COLUMNS
    );
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        if let Some(session) = session {
            query = query.bind(session).bind(CLEAR);
        }
        let rows: Vec<WholeRow> = query.fetch_all(&mut *tx).await?;
        for row in &rows {
            let opened = sealed_row::open(from, &row.stored()).map_err(|error| {
                RekeyError::WrongOldKey {
                    session: row.session_id.clone(),
                    space: row.space.clone(),
                    with,
                    error,
                }
            })?;
            let (scope, item) = (&opened.scope, &opened.item);
            let sealed = sealed_row::seal(to, &row.session_id, &row.space, scope, item, &opened.bytes);
            sqlx::query(
                "UPDATE whatsapp_store SET scope = $5, item = $6, value = $7, layout = $8
                 WHERE session_id = $1 AND space = $2 AND scope = $3 AND item = $4",
            )
            .bind(&row.session_id)
            .bind(&row.space)
            .bind(&row.scope)
            .bind(&row.item)
            .bind(sealed.scope)
            .bind(sealed.item)
            .bind(sealed.value)
            .bind(HASHED)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    })
}

/// The keys the stored WhatsApp device records say they were sealed with (records of the
/// first format name none and are left out).
pub async fn sealing_keys(db: &Db) -> Result<BTreeSet<KeyId>, sqlx::Error> {
    let values: Vec<(Vec<u8>,)> = on_pool!(db, pool => sqlx::query_as(
        "SELECT value FROM whatsapp_store WHERE space = $1"
    )
    .bind(space::DEVICE)
    .fetch_all(pool)
    .await)?;
    Ok(values.iter().filter_map(|(v,)| SecretKey::sealed_with(v)).collect())
}
