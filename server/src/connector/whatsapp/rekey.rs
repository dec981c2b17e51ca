//! Moving the WhatsApp keys to another `LIFELINE_SECRET_KEY` (`lifeline rekey`), and
//! telling at start-up which key they are sealed with.

use std::collections::BTreeSet;

use thiserror::Error;

use super::store::{sealed_address, space};
use crate::{
    db::{Db, on_pool},
    sealed::{KeyId, SealError, SecretKey},
};

/// Why the keys could not be moved. Nothing was changed.
#[derive(Debug, Error)]
pub enum RekeyError {
    /// A stored value does not open with the old key.
    #[error("session {session}'s {space} record does not open with --from: {error}")]
    WrongOldKey {
        /// Whose record.
        session: String,
        /// Which kind of record.
        space: String,
        /// Why.
        error: SealError,
    },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(sqlx::FromRow)]
struct Sealed {
    session_id: String,
    space: String,
    scope: String,
    item: String,
    value: Vec<u8>,
}

/// Re-seals every stored WhatsApp key from `from` to `to` in one transaction: all of them
/// or, if any does not open with `from`, none. Returns how many values were re-sealed.
/// Values of the first format (without a key id) come out in the current one, so running it
/// with the same key on both sides upgrades them.
pub async fn rekey(db: &Db, from: &SecretKey, to: &SecretKey) -> Result<u64, RekeyError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let rows: Vec<Sealed> = sqlx::query_as(
            "SELECT session_id, space, scope, item, value FROM whatsapp_store
             ORDER BY session_id, space, scope, item",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let address = sealed_address(&row.session_id, &row.space, &row.scope, &row.item);
            let plain = from.open(&row.value, &address).map_err(|error| RekeyError::WrongOldKey {
                session: row.session_id.clone(),
                space: row.space.clone(),
                error,
            })?;
            sqlx::query(
                "UPDATE whatsapp_store SET value = $5
                 WHERE session_id = $1 AND space = $2 AND scope = $3 AND item = $4",
            )
            .bind(&row.session_id)
            .bind(&row.space)
            .bind(&row.scope)
            .bind(&row.item)
            .bind(to.seal(&plain, &address))
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
