//! The journal: the supervisor's writes to the database, batched behind its back.
//!
//! Actors never wait for the database: they hand each change to the journal and go on.
//! One writer task applies the changes in order, many per transaction, so a restore of
//! thousands of sessions costs a few transactions instead of thousands, and a slow disk
//! never stalls a reconnect. Shutdown drains it before the pool closes.

use std::time::Duration;

use app::model::{Reason, SessionStatus, SessionView};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::db::{Db, on_pool};

/// How many changes may wait for the writer before actors are made to wait (backpressure).
pub const CAPACITY: usize = 8192;
/// The most changes written in one transaction.
const BATCH: usize = 512;
/// How often a failed batch is tried before it is given up (and logged).
const TRIES: u32 = 5;

/// One change to write.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A session's state changed; `transition` when status or reason did (a history row).
    State {
        /// The session as it is now.
        view: SessionView,
        /// Its status before.
        from: SessionStatus,
        /// Whether this is a transition for the history, not only a counter update.
        transition: bool,
        /// What happened, for the history.
        detail: Option<String>,
    },
    /// New credentials (pairing) or none (logged out).
    Credentials {
        /// Which session.
        session_id: String,
        /// The linked number, if known.
        phone_number: Option<String>,
        /// The credentials; `None` wipes them.
        credentials: Option<Vec<u8>>,
        /// When.
        at: DateTime<Utc>,
    },
    /// A message arrived.
    LastMessage {
        /// Which session.
        session_id: String,
        /// When.
        at: DateTime<Utc>,
    },
}

/// What travels to the writer: changes, and requests to confirm they are stored.
#[derive(Debug)]
pub enum Record {
    /// A change.
    Entry(Box<Entry>),
    /// Answered once everything sent before it is written.
    Flush(oneshot::Sender<()>),
}

/// Where actors send their changes. Cloning shares it.
#[derive(Clone, Debug)]
pub struct Journal {
    tx: mpsc::Sender<Record>,
}

impl Journal {
    /// A journal and the receiving end its writer (or a test) reads.
    pub fn new() -> (Journal, mpsc::Receiver<Record>) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        (Journal { tx }, rx)
    }

    /// Queues `entry` for writing.
    pub async fn record(&self, entry: Entry) {
        if self.tx.send(Record::Entry(Box::new(entry))).await.is_err() {
            tracing::error!("journal writer is gone; a session change was not stored");
        }
    }

    /// Queues `entry` and waits until it is written: for what must survive a crash the
    /// moment after (credentials).
    pub async fn store(&self, entry: Entry) {
        self.record(entry).await;
        self.flush().await;
    }

    /// Waits until everything recorded so far is written (or given up on).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Record::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Writes everything the journal receives until every [`Journal`] is dropped.
pub async fn run_writer(db: Db, mut rx: mpsc::Receiver<Record>) {
    let mut records = Vec::with_capacity(BATCH);
    let mut batch = Vec::with_capacity(BATCH);
    let mut flushes = Vec::new();
    while rx.recv_many(&mut records, BATCH).await > 0 {
        for record in records.drain(..) {
            match record {
                Record::Entry(entry) => batch.push(*entry),
                Record::Flush(done) => flushes.push(done),
            }
        }
        if batch.is_empty() {
            flushes.drain(..).for_each(|done| {
                let _ = done.send(());
            });
            continue;
        }
        let mut tries = 0;
        loop {
            tries += 1;
            match write(&db, &batch).await {
                Ok(()) => break,
                Err(e) if tries < TRIES => {
                    tracing::warn!(error = %e, tries, "writing session changes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
                }
                Err(e) => {
                    // Every state entry writes the whole state, so the next change of each
                    // session repairs its row; only history rows of this batch are lost.
                    tracing::error!(error = %e, lost = batch.len(), "giving up on session changes");
                    break;
                }
            }
        }
        batch.clear();
        flushes.drain(..).for_each(|done| {
            let _ = done.send(());
        });
    }
}

async fn write(db: &Db, batch: &[Entry]) -> Result<(), sqlx::Error> {
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        for entry in batch {
            match entry {
                Entry::State { view: v, from, transition, detail } => {
                    sqlx::query(
                        "UPDATE sessions SET status = $2, reason = $3, last_error = $4,
                                attempt = $5, next_retry_at = $6, last_connected_at = $7,
                                updated_at = $8
                         WHERE id = $1",
                    )
                    .bind(&v.id)
                    .bind(v.status.as_str())
                    .bind(v.reason.map(Reason::as_str))
                    .bind(&v.last_error)
                    .bind(i64::from(v.attempt))
                    .bind(v.next_retry_at)
                    .bind(v.last_connected_at)
                    .bind(v.updated_at)
                    .execute(&mut *tx)
                    .await?;
                    if *transition {
                        // A session deleted meanwhile has no row to hang history on.
                        sqlx::query(
                            "INSERT INTO session_events
                                 (session_id, at, from_status, to_status, reason, detail)
                             SELECT $1, $2, $3, $4, $5, $6
                             WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1)",
                        )
                        .bind(&v.id)
                        .bind(v.updated_at)
                        .bind(from.as_str())
                        .bind(v.status.as_str())
                        .bind(v.reason.map(Reason::as_str))
                        .bind(detail)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                Entry::Credentials { session_id, phone_number, credentials, at } => {
                    sqlx::query(
                        "UPDATE sessions SET auth_state = $2,
                                phone_number = COALESCE($3, phone_number), updated_at = $4
                         WHERE id = $1",
                    )
                    .bind(session_id)
                    .bind(credentials)
                    .bind(phone_number)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    if credentials.is_none() {
                        // Wiped credentials include the keys a connector keeps beside the
                        // row: a logged-out device must never come back.
                        sqlx::query("DELETE FROM whatsapp_store WHERE session_id = $1")
                            .bind(session_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                Entry::LastMessage { session_id, at } => {
                    sqlx::query("UPDATE sessions SET last_message_at = $2 WHERE id = $1")
                        .bind(session_id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await
    })
}
