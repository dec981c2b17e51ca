//! whatsapp-rust's key store (its `Backend`) in Lifeline's own database, so a session's
//! keys live beside its row on SQLite or PostgreSQL and another instance can take the
//! session over.
//!
//! Every record is one row of `whatsapp_store`, addressed by `(session, space, scope,
//! item)`: `space` says what kind of record it is, `scope` groups records that are cleared
//! together (one app-state collection, one group), `item` is the record's own key. Scope
//! and item are stored as keyed hashes and the value is sealed with `LIFELINE_SECRET_KEY`
//! for that address ([`super::sealed_row`]), so the database shows neither keys nor
//! contacts, and a row copied into another session or slot does not open. `num` and `flag`
//! carry the little the store must order or filter by without opening values (prekey ids,
//! expiry times, "uploaded", "has key").
//!
//! The semantics follow wacore's `InMemoryBackend`, the crate's reference implementation;
//! the contract tests in `server/tests/api/whatsapp_store.rs` hold this store to them.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use serde::{Serialize, de::DeserializeOwned};
use whatsapp_rust::{
    async_trait,
    bytes::Bytes,
    wacore::{
        appstate::{hash::HashState, processor::AppStateMutationMAC},
        store::{
            Device,
            device::DEVICE_PROPS,
            error::{Result, StoreError},
            traits::{
                AppStateSyncKey, AppSyncStore, DeviceListRecord, DeviceStore, LidPnMappingEntry,
                MsgSecretEntry, MsgSecretStore, ProtocolStore, SignalStore, TcTokenEntry,
                merge_msg_secret_expiry, merge_msg_secret_message_ts,
            },
        },
    },
};

use super::sealed_row::{self, HASHED, StoredRow};
use crate::{
    db::{Db, leases::Fence, on_pool},
    secret_key::{SecretKey, hex},
};

/// The kinds of record, as stored in `space`.
pub(super) mod space {
    pub const DEVICE: &str = "device";
    pub const IDENTITY: &str = "identity";
    pub const SESSION: &str = "session";
    pub const PREKEY: &str = "prekey";
    pub const SIGNED_PREKEY: &str = "signed_prekey";
    pub const SENDER_KEY: &str = "sender_key";
    pub const SYNC_KEY: &str = "sync_key";
    pub const LATEST_SYNC_KEY: &str = "latest_sync_key";
    pub const VERSION: &str = "app_state_version";
    pub const MUTATION_MAC: &str = "mutation_mac";
    pub const SENDER_KEY_DEVICE: &str = "sender_key_device";
    pub const LID: &str = "lid_mapping";
    pub const PN: &str = "pn_mapping";
    pub const BASE_KEY: &str = "base_key";
    pub const DEVICE_LIST: &str = "device_list";
    pub const GROUP_METADATA: &str = "group_metadata";
    pub const TC_TOKEN: &str = "tc_token";
    pub const SENT_MESSAGE: &str = "sent_message";
    pub const PENDING_INBOUND: &str = "pending_inbound";
    pub const MSG_SECRET: &str = "msg_secret";
}

/// Writes a record, or replaces it, while the fence (`$9`, `$10`) holds.
fn upsert() -> String {
    format!(
        "INSERT INTO whatsapp_store (session_id, space, scope, item, value, num, flag, layout)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE {}
         ON CONFLICT (session_id, space, scope, item)
         DO UPDATE SET value = excluded.value, num = excluded.num, flag = excluded.flag,
            layout = excluded.layout",
        Fence::condition(9, 10)
    )
}

/// The columns a read takes into a [`Row`], for `concat!` into each statement.
macro_rules! row_columns {
    () => {
        "scope, item, value, num, flag, layout"
    };
}

/// One record of a batch write.
struct Write<'a> {
    scope: &'a str,
    item: String,
    plain: &'a [u8],
    num: i64,
    flag: bool,
}

impl<'a> Write<'a> {
    fn new(item: impl Into<String>, plain: &'a [u8]) -> Write<'a> {
        Write { scope: "", item: item.into(), plain, num: 0, flag: false }
    }
}

/// The id whatsapp-rust gets for the one device a store holds.
const DEVICE_ID: i32 = 1;
/// Separates the parts of a two-part item; never part of a JID or a message id.
const UNIT: char = '\u{1f}';
/// A message secret's length, which the stored value starts with.
const SECRET_LEN: usize = 32;

/// One session's store.
pub struct SqlStore {
    db: Db,
    key: SecretKey,
    session_id: String,
    /// Serialises this store's read-modify-write operations (merges, reverse indexes), which
    /// the client can run from several tasks at once.
    rmw: tokio::sync::Mutex<()>,
    /// Set once the client this store serves is done with: a client still winding down in
    /// the background must not write its device back after the supervisor wiped the keys
    /// (a logout) or behind the next attempt's own client.
    retired: AtomicBool,
    /// Writes hold it shared; [`SqlStore::retire`] takes it alone to wait for them.
    writes: tokio::sync::RwLock<()>,
    /// The lease the writes are made under; `None` for tools and tests that hold none.
    fence: Option<Fence>,
}

/// A write the database refused: another instance holds the session now.
#[derive(Debug, thiserror::Error)]
#[error("the key store of session {0} is fenced: another instance holds the session now")]
struct Fenced(String);

/// A write that came after the store was retired.
#[derive(Debug, thiserror::Error)]
#[error("the key store of session {0} is closed: the client that used it has ended")]
struct Retired(String);

#[derive(sqlx::FromRow)]
struct Row {
    scope: String,
    item: String,
    value: Vec<u8>,
    num: i64,
    flag: bool,
    layout: i16,
}

/// A record read and opened.
struct Record {
    /// Its scope, in clear.
    scope: String,
    /// Its item, in clear.
    item: String,
    /// Its bytes.
    value: Vec<u8>,
    num: i64,
    flag: bool,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").field("session_id", &self.session_id).finish_non_exhaustive()
    }
}

fn database(error: sqlx::Error) -> StoreError {
    StoreError::Database(Box::new(error))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Serialization(Box::new(e)))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Serialization(Box::new(e)))
}

fn two(first: &str, second: &str) -> String {
    format!("{first}{UNIT}{second}")
}

fn id_of(record: &Record) -> Result<u32> {
    let item = &record.item;
    item.parse().map_err(|_| StoreError::Validation(format!("stored id {item:?}")))
}

fn array<const N: usize>(bytes: Vec<u8>, what: &str) -> Result<[u8; N]> {
    bytes.try_into().map_err(|b: Vec<u8>| {
        StoreError::Validation(format!("stored {what} has {} bytes, not {N}", b.len()))
    })
}

impl SqlStore {
    /// The store of session `session_id`, sealing with `key`. The session's row must exist.
    pub fn new(db: Db, key: SecretKey, session_id: impl Into<String>) -> SqlStore {
        SqlStore {
            db,
            key,
            session_id: session_id.into(),
            rmw: tokio::sync::Mutex::new(()),
            retired: AtomicBool::new(false),
            writes: tokio::sync::RwLock::new(()),
            fence: None,
        }
    }

    /// A store whose writes are made under `fence`: the database refuses them once another
    /// instance was granted the session.
    pub fn fenced(db: Db, key: SecretKey, session_id: impl Into<String>, fence: Fence) -> SqlStore {
        SqlStore { fence: Some(fence), ..SqlStore::new(db, key, session_id) }
    }

    /// Refuses every write from now on; one already under way may still land.
    pub fn retire_now(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }

    /// Refuses every write from now on and waits for the ones under way: once it returns,
    /// nothing more reaches the database through this store.
    pub async fn retire(&self) {
        self.retire_now();
        drop(self.writes.write().await);
    }

    /// Leave to write, held for the length of the write.
    async fn writable(&self) -> Result<tokio::sync::RwLockReadGuard<'_, ()>> {
        let leave = self.writes.read().await;
        if self.retired.load(Ordering::SeqCst) {
            return Err(StoreError::Connection(Box::new(Retired(self.session_id.clone()))));
        }
        Ok(leave)
    }

    /// The session this store belongs to.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Deletes everything stored for the session, while `fence` holds: a logged-out device
    /// must never come back.
    pub async fn wipe(
        db: &Db,
        session_id: &str,
        fence: Option<&Fence>,
    ) -> std::result::Result<u64, sqlx::Error> {
        let sql = format!(
            "DELETE FROM whatsapp_store WHERE session_id = $1 AND {}",
            Fence::condition(2, 3)
        );
        let affected = on_pool!(db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(session_id)
        .bind(Fence::holder(fence))
        .bind(Fence::token(fence))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(affected)
    }

    /// Adds the fence to a statement being built whose first parameter is the session.
    fn push_fence<DB: sqlx::Database>(&self, query: &mut sqlx::QueryBuilder<DB>)
    where
        Option<String>: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
        Option<i64>: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
        String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        let fence = self.fence.as_ref();
        let holder = || Fence::holder(fence).map(str::to_owned);
        query.push(" AND (").push_bind(holder()).push(" IS NULL OR EXISTS (");
        query.push("SELECT 1 FROM session_leases WHERE session_id = ");
        query.push_bind(self.session_id.clone());
        query.push(" AND holder = ").push_bind(holder());
        query.push(" AND token = ").push_bind(Fence::token(fence)).push("))");
    }

    /// A scope or item as its row holds it.
    fn hashed(&self, space: &str, part: &str) -> String {
        sealed_row::hashed(&self.key, &self.session_id, space, part)
    }

    fn hashed_all(&self, space: &str, parts: &[String]) -> Vec<String> {
        parts.iter().map(|part| self.hashed(space, part)).collect()
    }

    fn open(&self, space: &str, row: Row) -> Result<Record> {
        let stored = StoredRow {
            session_id: &self.session_id,
            space,
            scope: &row.scope,
            item: &row.item,
            value: &row.value,
            layout: row.layout,
        };
        let opened = sealed_row::open(&self.key, &stored).map_err(|e| {
            StoreError::Validation(format!("a {space} record of session {}: {e}", self.session_id))
        })?;
        let (num, flag) = (row.num, row.flag);
        Ok(Record { scope: opened.scope, item: opened.item, value: opened.bytes, num, flag })
    }

    fn open_all(&self, space: &str, rows: Vec<Row>) -> Result<Vec<Record>> {
        rows.into_iter().map(|row| self.open(space, row)).collect()
    }

    async fn put(
        &self,
        space: &str,
        scope: &str,
        item: &str,
        plain: &[u8],
        num: i64,
        flag: bool,
    ) -> Result<()> {
        let sealed = sealed_row::seal(&self.key, &self.session_id, space, scope, item, plain);
        let _leave = self.writable().await?;
        let fence = self.fence.as_ref();
        let written = on_pool!(&self.db, pool => sqlx::query(sqlx::AssertSqlSafe(upsert()))
            .bind(&self.session_id)
            .bind(space)
            .bind(sealed.scope)
            .bind(sealed.item)
            .bind(sealed.value)
            .bind(num)
            .bind(flag)
            .bind(HASHED)
            .bind(Fence::holder(fence))
            .bind(Fence::token(fence))
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(database)?;
        self.stored(written)
    }

    /// An upsert that wrote nothing was refused by the fence.
    fn stored(&self, written: u64) -> Result<()> {
        if written == 0 {
            return Err(StoreError::Connection(Box::new(Fenced(self.session_id.clone()))));
        }
        Ok(())
    }

    /// Writes every record of `space` in one transaction: a batch (the 812 pre-keys of a
    /// first login, a burst of Signal sessions) lands whole or not at all, for one commit.
    async fn put_all<'a>(
        &self,
        space: &str,
        writes: impl IntoIterator<Item = Write<'a>>,
    ) -> Result<()> {
        let sealed: Vec<_> = writes
            .into_iter()
            .map(|w| {
                let sealed =
                    sealed_row::seal(&self.key, &self.session_id, space, w.scope, &w.item, w.plain);
                (sealed, w.num, w.flag)
            })
            .collect();
        if sealed.is_empty() {
            return Ok(());
        }
        let _leave = self.writable().await?;
        let (fence, sql) = (self.fence.as_ref(), upsert());
        let written = on_pool!(&self.db, pool => async {
            let mut tx = pool.begin().await?;
            let mut written = 0;
            for (sealed, num, flag) in &sealed {
                written = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(&self.session_id)
                    .bind(space)
                    .bind(&sealed.scope)
                    .bind(&sealed.item)
                    .bind(&sealed.value)
                    .bind(num)
                    .bind(flag)
                    .bind(HASHED)
                    .bind(Fence::holder(fence))
                    .bind(Fence::token(fence))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if written == 0 {
                    // Fenced: the batch is not ours to write; nothing of it lands.
                    break;
                }
            }
            if written == 0 { tx.rollback().await } else { tx.commit().await }?;
            Ok::<_, sqlx::Error>(written)
        }
        .await)
        .map_err(database)?;
        self.stored(written)
    }

    /// The records of `space` and `scope` whose item is one of `items`, in one query.
    async fn records_among(
        &self,
        space: &str,
        scope: &str,
        items: &[String],
    ) -> Result<Vec<Record>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (scope, items) = (self.hashed(space, scope), self.hashed_all(space, items));
        let rows = on_pool!(&self.db, pool => {
            let mut query = sqlx::QueryBuilder::new(concat!(
                "SELECT ",
                row_columns!(),
                " FROM whatsapp_store WHERE session_id = "
            ));
            query.push_bind(&self.session_id).push(" AND space = ").push_bind(space);
            query.push(" AND scope = ").push_bind(&scope).push(" AND item IN (");
            let mut list = query.separated(", ");
            for item in &items {
                list.push_bind(item);
            }
            list.push_unseparated(")");
            query.build_query_as::<Row>().fetch_all(pool).await
        })
        .map_err(database)?;
        self.open_all(space, rows)
    }

    /// Sets `flag` on the rows of `space` whose item is one of `items`, in one statement
    /// (an update: a row deleted meanwhile stays deleted).
    async fn flag_among(&self, space: &str, items: &[String], flag: bool) -> Result<u64> {
        self.among("UPDATE whatsapp_store SET flag = ", Some(flag), space, None, items).await
    }

    /// Deletes the rows of `space` (and `scope`, or every scope) whose item is one of
    /// `items`, in one statement.
    async fn delete_among(
        &self,
        space: &str,
        scope: Option<&str>,
        items: &[String],
    ) -> Result<u64> {
        self.among("DELETE FROM whatsapp_store", None, space, scope, items).await
    }

    async fn among(
        &self,
        head: &str,
        flag: Option<bool>,
        space: &str,
        scope: Option<&str>,
        items: &[String],
    ) -> Result<u64> {
        if items.is_empty() {
            return Ok(0);
        }
        let scope = scope.map(|scope| self.hashed(space, scope));
        let items = self.hashed_all(space, items);
        let _leave = self.writable().await?;
        on_pool!(&self.db, pool => {
            let mut query = sqlx::QueryBuilder::new(head);
            if let Some(flag) = flag {
                query.push_bind(flag);
            }
            query.push(" WHERE session_id = ").push_bind(&self.session_id);
            query.push(" AND space = ").push_bind(space);
            self.push_fence(&mut query);
            if let Some(scope) = &scope {
                query.push(" AND scope = ").push_bind(scope);
            }
            query.push(" AND item IN (");
            let mut list = query.separated(", ");
            for item in &items {
                list.push_bind(item);
            }
            list.push_unseparated(")");
            query.build().execute(pool).await.map(|done| done.rows_affected())
        })
        .map_err(database)
    }

    /// Runs `sql`, a statement on the one record at `(space, scope, item)` (`$1` to `$4`)
    /// that returns it, and opens what it returns.
    async fn one(
        &self,
        sql: &str,
        space: &str,
        scope: &str,
        item: &str,
        fenced: bool,
    ) -> Result<Option<Record>> {
        let fence = self.fence.as_ref();
        let row = on_pool!(&self.db, pool => {
            let query = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.to_owned()))
                .bind(&self.session_id)
                .bind(space)
                .bind(self.hashed(space, scope))
                .bind(self.hashed(space, item));
            let query = if fenced {
                query.bind(Fence::holder(fence)).bind(Fence::token(fence))
            } else {
                query
            };
            query.fetch_optional(pool).await
        })
        .map_err(database)?;
        row.map(|row| self.open(space, row)).transpose()
    }

    async fn record(&self, space: &str, scope: &str, item: &str) -> Result<Option<Record>> {
        let sql = concat!(
            "SELECT ",
            row_columns!(),
            " FROM whatsapp_store WHERE session_id = $1 AND space = $2 AND scope = $3 AND item = $4"
        );
        self.one(sql, space, scope, item, false).await
    }

    async fn get(&self, space: &str, scope: &str, item: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.record(space, scope, item).await?.map(|record| record.value))
    }

    async fn get_decoded<T: DeserializeOwned>(
        &self,
        space: &str,
        scope: &str,
        item: &str,
    ) -> Result<Option<T>> {
        match self.get(space, scope, item).await? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every record of `space`, or of one scope in it, in the order of their clear scope
    /// and item (the rows' own order, by hash, means nothing).
    async fn records(&self, space: &str, scope: Option<&str>) -> Result<Vec<Record>> {
        let rows = on_pool!(&self.db, pool => sqlx::query_as::<_, Row>(concat!(
            "SELECT ",
            row_columns!(),
            " FROM whatsapp_store WHERE session_id = $1 AND space = $2 AND ($3 IS NULL OR scope = $3)"
        ))
        .bind(&self.session_id)
        .bind(space)
        .bind(scope.map(|scope| self.hashed(space, scope)))
        .fetch_all(pool)
        .await)
        .map_err(database)?;
        let mut records = self.open_all(space, rows)?;
        records.sort_by(|a, b| (&a.scope, &a.item).cmp(&(&b.scope, &b.item)));
        Ok(records)
    }

    /// Deletes one record (`scope` `None`: that item in every scope).
    async fn delete(&self, space: &str, scope: Option<&str>, item: &str) -> Result<u64> {
        let _leave = self.writable().await?;
        let sql = format!(
            "DELETE FROM whatsapp_store
             WHERE session_id = $1 AND space = $2 AND ($3 IS NULL OR scope = $3) AND item = $4
               AND {}",
            Fence::condition(5, 6)
        );
        let fence = self.fence.as_ref();
        let affected = on_pool!(&self.db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(&self.session_id)
        .bind(space)
        .bind(scope.map(|scope| self.hashed(space, scope)))
        .bind(self.hashed(space, item))
        .bind(Fence::holder(fence))
        .bind(Fence::token(fence))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .map_err(database)?;
        Ok(affected)
    }

    /// Deletes a whole scope (`None`: the whole space).
    async fn clear(&self, space: &str, scope: Option<&str>) -> Result<u64> {
        let _leave = self.writable().await?;
        let sql = format!(
            "DELETE FROM whatsapp_store
             WHERE session_id = $1 AND space = $2 AND ($3 IS NULL OR scope = $3) AND {}",
            Fence::condition(4, 5)
        );
        let fence = self.fence.as_ref();
        let affected = on_pool!(&self.db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(&self.session_id)
        .bind(space)
        .bind(scope.map(|scope| self.hashed(space, scope)))
        .bind(Fence::holder(fence))
        .bind(Fence::token(fence))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .map_err(database)?;
        Ok(affected)
    }

    /// Deletes the rows of `space` whose `num` is below `cutoff`.
    async fn delete_below(&self, space: &str, cutoff: i64) -> Result<u32> {
        let _leave = self.writable().await?;
        let sql = format!(
            "DELETE FROM whatsapp_store WHERE session_id = $1 AND space = $2 AND num < $3 AND {}",
            Fence::condition(4, 5)
        );
        let fence = self.fence.as_ref();
        let affected = on_pool!(&self.db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(&self.session_id)
        .bind(space)
        .bind(cutoff)
        .bind(Fence::holder(fence))
        .bind(Fence::token(fence))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .map_err(database)?;
        Ok(u32::try_from(affected).unwrap_or(u32::MAX))
    }

    /// Reads and deletes one record in one statement, so two takers never both get it.
    async fn take(&self, space: &str, scope: &str, item: &str) -> Result<Option<Vec<u8>>> {
        let _leave = self.writable().await?;
        let sql = format!(
            "DELETE FROM whatsapp_store
             WHERE session_id = $1 AND space = $2 AND scope = $3 AND item = $4 AND {}
             RETURNING {}",
            Fence::condition(5, 6),
            row_columns!()
        );
        Ok(self.one(&sql, space, scope, item, true).await?.map(|record| record.value))
    }

    async fn max_num(&self, space: &str) -> Result<Option<i64>> {
        let (max,): (Option<i64>,) = on_pool!(&self.db, pool => sqlx::query_as(
            "SELECT MAX(num) FROM whatsapp_store WHERE session_id = $1 AND space = $2"
        )
        .bind(&self.session_id)
        .bind(space)
        .fetch_one(pool)
        .await)
        .map_err(database)?;
        Ok(max)
    }

    async fn msg_secret(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<(Vec<u8>, i64, i64)>> {
        let Some(record) = self.record(space::MSG_SECRET, chat, &two(sender, msg_id)).await? else {
            return Ok(None);
        };
        let mut value = record.value;
        if value.len() != SECRET_LEN + 8 {
            return Err(StoreError::Validation(format!(
                "stored message secret has {} bytes",
                value.len()
            )));
        }
        let ts = i64::from_be_bytes(array(value.split_off(SECRET_LEN), "message time")?);
        Ok(Some((value, record.num, ts)))
    }
}

#[async_trait]
impl SignalStore for SqlStore {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> Result<()> {
        self.put(space::IDENTITY, "", address, &key, 0, false).await
    }

    async fn put_identities_batch(&self, identities: &[(Arc<str>, [u8; 32])]) -> Result<()> {
        let writes = identities.iter().map(|(address, key)| Write::new(&**address, key));
        self.put_all(space::IDENTITY, writes).await
    }

    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>> {
        match self.get(space::IDENTITY, "", address).await? {
            Some(bytes) => array(bytes, "identity key").map(Some),
            None => Ok(None),
        }
    }

    async fn delete_identity(&self, address: &str) -> Result<()> {
        self.delete(space::IDENTITY, Some(""), address).await.map(drop)
    }

    async fn get_session(&self, address: &str) -> Result<Option<Bytes>> {
        Ok(self.get(space::SESSION, "", address).await?.map(Bytes::from))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> Result<()> {
        self.put(space::SESSION, "", address, session, 0, false).await
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> Result<()> {
        let writes = sessions.iter().map(|(address, session)| Write::new(&**address, session));
        self.put_all(space::SESSION, writes).await
    }

    async fn delete_session(&self, address: &str) -> Result<()> {
        self.delete(space::SESSION, Some(""), address).await.map(drop)
    }

    async fn store_prekey(&self, id: u32, record: &[u8], uploaded: bool) -> Result<()> {
        self.put(space::PREKEY, "", &id.to_string(), record, i64::from(id), uploaded).await
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], uploaded: bool) -> Result<()> {
        let writes = keys.iter().map(|(id, record)| Write {
            num: i64::from(*id),
            flag: uploaded,
            ..Write::new(id.to_string(), record)
        });
        self.put_all(space::PREKEY, writes).await
    }

    async fn load_prekey(&self, id: u32) -> Result<Option<Bytes>> {
        Ok(self.get(space::PREKEY, "", &id.to_string()).await?.map(Bytes::from))
    }

    async fn load_prekeys_batch(&self, ids: &[u32]) -> Result<Vec<(u32, Bytes)>> {
        let items: Vec<String> = ids.iter().map(u32::to_string).collect();
        let mut records = self.records_among(space::PREKEY, "", &items).await?;
        // In the order asked for, as the one-by-one lookup would give them.
        records.sort_by_key(|record| ids.iter().position(|id| i64::from(*id) == record.num));
        records.into_iter().map(|record| Ok((id_of(&record)?, Bytes::from(record.value)))).collect()
    }

    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> Result<()> {
        let items: Vec<String> = ids.iter().map(u32::to_string).collect();
        self.flag_among(space::PREKEY, &items, true).await.map(drop)
    }

    async fn remove_prekey(&self, id: u32) -> Result<()> {
        self.delete(space::PREKEY, Some(""), &id.to_string()).await.map(drop)
    }

    async fn get_max_prekey_id(&self) -> Result<u32> {
        let max = self.max_num(space::PREKEY).await?.unwrap_or(0);
        u32::try_from(max).map_err(|_| StoreError::Validation(format!("stored prekey id {max}")))
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> Result<()> {
        self.put(space::SIGNED_PREKEY, "", &id.to_string(), record, i64::from(id), false).await
    }

    async fn load_signed_prekey(&self, id: u32) -> Result<Option<Vec<u8>>> {
        self.get(space::SIGNED_PREKEY, "", &id.to_string()).await
    }

    async fn load_all_signed_prekeys(&self) -> Result<Vec<(u32, Vec<u8>)>> {
        let records = self.records(space::SIGNED_PREKEY, None).await?;
        records.into_iter().map(|record| Ok((id_of(&record)?, record.value))).collect()
    }

    async fn remove_signed_prekey(&self, id: u32) -> Result<()> {
        self.delete(space::SIGNED_PREKEY, Some(""), &id.to_string()).await.map(drop)
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> Result<()> {
        self.put(space::SENDER_KEY, "", address, record, 0, false).await
    }

    async fn put_sender_keys_batch(&self, sender_keys: &[(Arc<str>, Bytes)]) -> Result<()> {
        let writes = sender_keys.iter().map(|(address, record)| Write::new(&**address, record));
        self.put_all(space::SENDER_KEY, writes).await
    }

    async fn get_sender_key(&self, address: &str) -> Result<Option<Vec<u8>>> {
        self.get(space::SENDER_KEY, "", address).await
    }

    async fn delete_sender_key(&self, address: &str) -> Result<()> {
        self.delete(space::SENDER_KEY, Some(""), address).await.map(drop)
    }
}

#[async_trait]
impl AppSyncStore for SqlStore {
    async fn get_sync_key(&self, key_id: &[u8]) -> Result<Option<AppStateSyncKey>> {
        self.get_decoded(space::SYNC_KEY, "", &hex(key_id)).await
    }

    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> Result<()> {
        self.put(space::SYNC_KEY, "", &hex(key_id), &encode(&key)?, key.timestamp, false).await?;
        self.put(space::LATEST_SYNC_KEY, "", "", key_id, 0, false).await
    }

    async fn get_version(&self, name: &str) -> Result<HashState> {
        Ok(self.get_decoded(space::VERSION, "", name).await?.unwrap_or_default())
    }

    async fn set_version(&self, name: &str, state: HashState) -> Result<()> {
        let version = i64::try_from(state.version).unwrap_or(i64::MAX);
        self.put(space::VERSION, "", name, &encode(&state)?, version, false).await
    }

    async fn put_mutation_macs(
        &self,
        name: &str,
        version: u64,
        mutations: &[AppStateMutationMAC],
    ) -> Result<()> {
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        let writes = mutations.iter().map(|m| Write {
            scope: name,
            num: version,
            ..Write::new(hex(&m.index_mac), &m.value_mac)
        });
        self.put_all(space::MUTATION_MAC, writes).await
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(space::MUTATION_MAC, name, &hex(index_mac)).await
    }

    async fn get_mutation_macs(
        &self,
        name: &str,
        index_macs: &[[u8; 32]],
    ) -> Result<std::collections::HashMap<[u8; 32], Vec<u8>>> {
        let items: Vec<String> = index_macs.iter().map(|m| hex(m)).collect();
        let records = self.records_among(space::MUTATION_MAC, name, &items).await?;
        let by_item: std::collections::HashMap<&str, &[u8; 32]> =
            items.iter().map(String::as_str).zip(index_macs).collect();
        Ok(records
            .into_iter()
            .filter_map(|record| by_item.get(record.item.as_str()).map(|mac| (**mac, record.value)))
            .collect())
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> Result<()> {
        let items: Vec<String> = index_macs.iter().map(|m| hex(m)).collect();
        self.delete_among(space::MUTATION_MAC, Some(name), &items).await.map(drop)
    }

    async fn clear_mutation_macs(&self, name: &str) -> Result<()> {
        self.clear(space::MUTATION_MAC, Some(name)).await.map(drop)
    }

    async fn get_latest_sync_key_id(&self) -> Result<Option<Vec<u8>>> {
        self.get(space::LATEST_SYNC_KEY, "", "").await
    }
}

#[async_trait]
impl ProtocolStore for SqlStore {
    async fn get_sender_key_devices(&self, group_jid: &str) -> Result<Vec<(String, bool)>> {
        let records = self.records(space::SENDER_KEY_DEVICE, Some(group_jid)).await?;
        Ok(records.into_iter().map(|record| (record.item, record.flag)).collect())
    }

    async fn set_sender_key_status(&self, group_jid: &str, entries: &[(&str, bool)]) -> Result<()> {
        let writes = entries.iter().map(|(device_jid, has_key)| Write {
            scope: group_jid,
            flag: *has_key,
            ..Write::new(*device_jid, &[])
        });
        self.put_all(space::SENDER_KEY_DEVICE, writes).await
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> Result<()> {
        self.clear(space::SENDER_KEY_DEVICE, Some(group_jid)).await.map(drop)
    }

    async fn delete_sender_key_device_rows(&self, device_jids: &[&str]) -> Result<()> {
        let items: Vec<String> = device_jids.iter().map(|j| (*j).to_owned()).collect();
        self.delete_among(space::SENDER_KEY_DEVICE, None, &items).await.map(drop)
    }

    async fn clear_all_sender_key_devices(&self) -> Result<()> {
        self.clear(space::SENDER_KEY_DEVICE, None).await.map(drop)
    }

    async fn get_lid_mapping(&self, lid: &str) -> Result<Option<LidPnMappingEntry>> {
        self.get_decoded(space::LID, "", lid).await
    }

    async fn get_pn_mapping(&self, phone: &str) -> Result<Option<LidPnMappingEntry>> {
        match self.get(space::PN, "", phone).await? {
            Some(lid) => self.get_lid_mapping(&String::from_utf8_lossy(&lid)).await,
            None => Ok(None),
        }
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> Result<()> {
        let _guard = self.rmw.lock().await;
        // The reverse index follows the mapping: a LID that moved to another number no
        // longer answers for the old one.
        if let Some(old) = self.get_lid_mapping(&entry.lid).await?
            && old.phone_number != entry.phone_number
        {
            self.delete(space::PN, Some(""), &old.phone_number).await?;
        }
        self.put(space::PN, "", &entry.phone_number, entry.lid.as_bytes(), 0, false).await?;
        self.put(space::LID, "", &entry.lid, &encode(entry)?, entry.updated_at, false).await
    }

    async fn get_all_lid_mappings(&self) -> Result<Vec<LidPnMappingEntry>> {
        let records = self.records(space::LID, None).await?;
        records.iter().map(|record| decode(&record.value)).collect()
    }

    async fn save_base_key(&self, address: &str, message_id: &str, base_key: &[u8]) -> Result<()> {
        self.put(space::BASE_KEY, address, message_id, base_key, 0, false).await
    }

    async fn has_same_base_key(
        &self,
        address: &str,
        message_id: &str,
        current_base_key: &[u8],
    ) -> Result<bool> {
        let stored = self.get(space::BASE_KEY, address, message_id).await?;
        Ok(stored.is_some_and(|stored| stored == current_base_key))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> Result<()> {
        self.delete(space::BASE_KEY, Some(address), message_id).await.map(drop)
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> Result<()> {
        self.put(space::DEVICE_LIST, "", &record.user, &encode(&record)?, record.timestamp, false)
            .await
    }

    async fn update_device_lists(&self, records: Vec<DeviceListRecord>) -> Result<()> {
        let encoded = records.iter().map(|r| Ok((r, encode(r)?))).collect::<Result<Vec<_>>>()?;
        let writes = encoded
            .iter()
            .map(|(r, bytes)| Write { num: r.timestamp, ..Write::new(r.user.clone(), bytes) });
        self.put_all(space::DEVICE_LIST, writes).await
    }

    async fn get_devices(&self, user: &str) -> Result<Option<DeviceListRecord>> {
        self.get_decoded(space::DEVICE_LIST, "", user).await
    }

    async fn delete_devices(&self, user: &str) -> Result<()> {
        self.delete(space::DEVICE_LIST, Some(""), user).await.map(drop)
    }

    async fn get_group_metadata(&self, group_jid: &str) -> Result<Option<Vec<u8>>> {
        self.get(space::GROUP_METADATA, "", group_jid).await
    }

    async fn put_group_metadata(&self, group_jid: &str, blob: &[u8]) -> Result<()> {
        self.put(space::GROUP_METADATA, "", group_jid, blob, 0, false).await
    }

    async fn delete_group_metadata(&self, group_jid: &str) -> Result<()> {
        self.delete(space::GROUP_METADATA, Some(""), group_jid).await.map(drop)
    }

    async fn get_tc_token(&self, jid: &str) -> Result<Option<TcTokenEntry>> {
        self.get_decoded(space::TC_TOKEN, "", jid).await
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> Result<()> {
        self.put(space::TC_TOKEN, "", jid, &encode(entry)?, entry.token_timestamp, false).await
    }

    async fn delete_tc_token(&self, jid: &str) -> Result<()> {
        self.delete(space::TC_TOKEN, Some(""), jid).await.map(drop)
    }

    async fn get_all_tc_token_jids(&self) -> Result<Vec<String>> {
        let records = self.records(space::TC_TOKEN, None).await?;
        Ok(records.into_iter().map(|record| record.item).collect())
    }

    async fn delete_expired_tc_tokens(&self, token_cutoff: i64, sender_cutoff: i64) -> Result<u32> {
        let _guard = self.rmw.lock().await;
        let mut deleted = 0;
        // The rule looks inside the sealed entry, so it runs here rather than in SQL.
        for record in self.records(space::TC_TOKEN, None).await? {
            let entry: TcTokenEntry = decode(&record.value)?;
            let token_live = !entry.token.is_empty() && entry.token_timestamp >= token_cutoff;
            let sender_live = entry.sender_timestamp.is_some_and(|ts| ts >= sender_cutoff);
            if !(token_live || sender_live) {
                deleted += self.delete(space::TC_TOKEN, Some(""), &record.item).await?;
            }
        }
        Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
    }

    async fn touch_tc_token_sender_timestamp(
        &self,
        jid: &str,
        sender_timestamp: i64,
    ) -> Result<()> {
        let _guard = self.rmw.lock().await;
        let entry = match self.get_tc_token(jid).await? {
            Some(existing) => TcTokenEntry {
                sender_timestamp: Some(
                    existing.sender_timestamp.map_or(sender_timestamp, |e| e.max(sender_timestamp)),
                ),
                ..existing
            },
            None => TcTokenEntry {
                token: Vec::new(),
                token_timestamp: sender_timestamp,
                sender_timestamp: Some(sender_timestamp),
            },
        };
        self.put_tc_token(jid, &entry).await
    }

    async fn store_received_tc_token(
        &self,
        jid: &str,
        token: &[u8],
        token_timestamp: i64,
    ) -> Result<()> {
        let _guard = self.rmw.lock().await;
        let existing = self.get_tc_token(jid).await?;
        // A fresher real token stays; a placeholder never blocks the first real one.
        if let Some(existing) = &existing
            && !existing.token.is_empty()
            && token_timestamp < existing.token_timestamp
        {
            return Ok(());
        }
        let sender_timestamp = existing.and_then(|e| e.sender_timestamp);
        let entry = TcTokenEntry { token: token.to_vec(), token_timestamp, sender_timestamp };
        self.put_tc_token(jid, &entry).await
    }

    async fn store_sent_message(
        &self,
        chat_jid: &str,
        message_id: &str,
        payload: &[u8],
    ) -> Result<()> {
        let now = whatsapp_rust::wacore::time::now_secs();
        self.put(space::SENT_MESSAGE, chat_jid, message_id, payload, now, false).await
    }

    async fn take_sent_message(&self, chat_jid: &str, message_id: &str) -> Result<Option<Vec<u8>>> {
        self.take(space::SENT_MESSAGE, chat_jid, message_id).await
    }

    async fn delete_expired_sent_messages(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.delete_below(space::SENT_MESSAGE, cutoff_timestamp).await
    }

    async fn store_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        message: &[u8],
    ) -> Result<()> {
        let now = whatsapp_rust::wacore::time::now_secs();
        self.put(space::PENDING_INBOUND, chat, &two(sender, id), message, now, false).await
    }

    async fn get_pending_inbound(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>> {
        self.get(space::PENDING_INBOUND, chat, &two(sender, id)).await
    }

    async fn delete_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> Result<()> {
        self.delete(space::PENDING_INBOUND, Some(chat), &two(sender, id)).await.map(drop)
    }

    async fn delete_expired_pending_inbound(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.delete_below(space::PENDING_INBOUND, cutoff_timestamp).await
    }
}

#[async_trait]
impl MsgSecretStore for SqlStore {
    async fn put_msg_secrets(&self, entries: Vec<MsgSecretEntry>) -> Result<usize> {
        let _guard = self.rmw.lock().await;
        let stored = entries.len();
        for entry in entries {
            let (expires_at, message_ts) =
                match self.msg_secret(&entry.chat, &entry.sender, &entry.msg_id).await? {
                    Some((_, expires_at, message_ts)) => (
                        merge_msg_secret_expiry(expires_at, entry.expires_at),
                        merge_msg_secret_message_ts(message_ts, entry.message_ts),
                    ),
                    None => (entry.expires_at, entry.message_ts),
                };
            // The value carries the secret and the parent message's time; `num` the expiry,
            // which the clean-up filters on.
            let mut value = entry.secret.to_vec();
            value.extend_from_slice(&message_ts.to_be_bytes());
            let item = two(&entry.sender, &entry.msg_id);
            self.put(space::MSG_SECRET, &entry.chat, &item, &value, expires_at, false).await?;
        }
        Ok(stored)
    }

    async fn get_msg_secret(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self.msg_secret(chat, sender, msg_id).await?.map(|(secret, _, _)| secret))
    }

    async fn get_msg_secret_with_ts(
        &self,
        chat: &str,
        sender: &str,
        msg_id: &str,
    ) -> Result<Option<(Vec<u8>, i64)>> {
        Ok(self.msg_secret(chat, sender, msg_id).await?.map(|(secret, _, ts)| (secret, ts)))
    }

    async fn delete_expired_msg_secrets(&self, cutoff_timestamp: i64) -> Result<u32> {
        // Expiry 0 means "never".
        let _leave = self.writable().await?;
        let sql = format!(
            "DELETE FROM whatsapp_store
             WHERE session_id = $1 AND space = $2 AND num <> 0 AND num <= $3 AND {}",
            Fence::condition(4, 5)
        );
        let fence = self.fence.as_ref();
        let affected = on_pool!(&self.db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
        .bind(&self.session_id)
        .bind(space::MSG_SECRET)
        .bind(cutoff_timestamp)
        .bind(Fence::holder(fence))
        .bind(Fence::token(fence))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .map_err(database)?;
        Ok(u32::try_from(affected).unwrap_or(u32::MAX))
    }
}

#[async_trait]
impl DeviceStore for SqlStore {
    async fn save(&self, device: &Device) -> Result<()> {
        self.put(space::DEVICE, "", "", &encode(device)?, 0, false).await
    }

    async fn load(&self) -> Result<Option<Device>> {
        let Some(mut device) = self.get_decoded::<Device>(space::DEVICE, "", "").await? else {
            return Ok(None);
        };
        // Not serialised: the properties this build announces, as the crate's own store does.
        device.device_props = Arc::new(DEVICE_PROPS.clone());
        Ok(Some(device))
    }

    async fn exists(&self) -> Result<bool> {
        Ok(self.record(space::DEVICE, "", "").await?.is_some())
    }

    async fn create(&self) -> Result<i32> {
        if !self.exists().await? {
            self.save(&Device::new()).await?;
        }
        Ok(DEVICE_ID)
    }
}
