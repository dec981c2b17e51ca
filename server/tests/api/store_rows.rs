//! The WhatsApp key store's rows as the database holds them, for tests that look past the
//! store: what a copy of the database would show, and rows in the first layout.

use server::{
    connector::whatsapp::sealed_row::{self, WholeRow},
    db::Db,
    on_pool,
    secret_key::SecretKey,
};

async fn raw_rows(db: &Db) -> Vec<WholeRow> {
    let sql = format!("SELECT {} FROM whatsapp_store", WholeRow::COLUMNS);
    on_pool!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).fetch_all(pool).await)
        .unwrap()
}

/// [`to_clear_layout`] for one session's records, sealed with `key`.
pub async fn to_clear_layout_of(db: &Db, key: &SecretKey, session_id: &str) -> usize {
    clear(db, key, raw_rows(db).await.into_iter().filter(|r| r.session_id == session_id)).await
}

/// Every stored scope and item of the store, as the columns hold them.
pub async fn stored_addresses(db: &Db) -> Vec<String> {
    raw_rows(db).await.into_iter().flat_map(|row| [row.scope, row.item]).collect()
}

/// Rewrites every record in the first layout, as Lifeline stored them before addresses
/// were hashed: clear scope and item in the row, only the record's bytes in the value,
/// sealed for the clear address. Returns how many records there were.
pub async fn to_clear_layout(db: &Db, key: &SecretKey) -> usize {
    clear(db, key, raw_rows(db).await).await
}

async fn clear(db: &Db, key: &SecretKey, rows: impl IntoIterator<Item = WholeRow>) -> usize {
    let rows: Vec<WholeRow> = rows.into_iter().collect();
    for row in &rows {
        let opened = sealed_row::open(key, &row.stored()).unwrap();
        let address =
            sealed_row::sealed_for(&row.session_id, &row.space, &opened.scope, &opened.item);
        let value = key.seal(&opened.bytes, &address);
        on_pool!(db, pool => sqlx::query(
            "UPDATE whatsapp_store SET scope = $5, item = $6, value = $7, layout = $8
             WHERE session_id = $1 AND space = $2 AND scope = $3 AND item = $4"
        )
        .bind(&row.session_id)
        .bind(&row.space)
        .bind(&row.scope)
        .bind(&row.item)
        .bind(&opened.scope)
        .bind(&opened.item)
        .bind(value)
        .bind(sealed_row::CLEAR)
        .execute(pool)
        .await
        .map(drop))
        .unwrap();
    }
    rows.len()
}
