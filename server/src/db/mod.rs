//! Storage: one [`Db`] over SQLite (the default) or PostgreSQL, and its repositories.
//!
//! Queries are written once in the SQL both dialects accept (`$1` placeholders work in
//! SQLite too) and run on whichever pool is in use through [`on_pool!`]. Where the dialects
//! really differ, the migrations do: `migrations/sqlite` and `migrations/postgres`.

pub mod accounts;
pub mod api_keys;
pub mod commands;
pub mod copy;
pub mod leases;
pub mod recoveries;
pub mod sessions;
mod single_instance;
mod url;
pub mod webhooks;

use std::time::{Duration, Instant};

use sqlx::{
    ConnectOptions, Connection, PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use thiserror::Error;

pub use single_instance::{InstanceLock, LockError};
pub use url::{DatabaseUrl, UrlError};

/// How long SQLite waits on a lock before giving up: long enough that a burst of writers
/// queues instead of ever showing "database is locked" to anyone.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for a pooled connection before reporting the database as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection pool on one of the supported databases.
#[derive(Clone, Debug)]
pub enum Db {
    /// The embedded default.
    Sqlite(SqlitePool),
    /// For several instances and larger fleets.
    Postgres(PgPool),
}

/// Runs the same query code against whichever pool `db` holds: `$pool` is bound to a
/// `&SqlitePool` in one arm and a `&PgPool` in the other. Exported for the tests, which
/// query the tables directly.
#[macro_export]
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub use on_pool;

/// Why the database could not be opened or used.
#[derive(Debug, Error)]
pub enum DbError {
    /// Opening or connecting failed; `target` names the database without secrets.
    #[error("cannot open the database {target}: {source}")]
    Connect {
        /// Where it was (password removed).
        target: String,
        /// What went wrong.
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database {target}: {source}")]
    Migrate {
        /// Where it was (password removed).
        target: String,
        /// What went wrong.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value was not one Lifeline writes.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// Which table.
        table: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

impl Db {
    /// Opens a pool on `url` (creating a SQLite file if needed) and migrates it.
    pub async fn open(url: &DatabaseUrl) -> Result<Db, DbError> {
        let target = url.redacted();
        let connect = |source| DbError::Connect { target: target.clone(), source };
        let db = match url {
            DatabaseUrl::Sqlite(options) => {
                let options = options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(connect)?;
                Db::Sqlite(pool)
            }
            DatabaseUrl::Postgres(options) => {
                // One direct connection first: a pool that cannot connect only reports
                // "timed out", while this says "connection refused" or "password failed".
                options.connect().await.map_err(&connect)?.close().await.map_err(&connect)?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(options.clone())
                    .await
                    .map_err(connect)?;
                Db::Postgres(pool)
            }
        };
        db.migrate().await.map_err(|source| DbError::Migrate { target, source })?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Db::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await,
            Db::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await,
        }
    }

    /// A real round trip to the database; returns how long it took.
    pub async fn ping(&self) -> Result<Duration, sqlx::Error> {
        let start = Instant::now();
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(start.elapsed())
    }

    /// Which database this is, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection, waiting for queries in flight.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}
