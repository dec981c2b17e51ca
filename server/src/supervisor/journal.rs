//! The journal: the supervisor's writes to the database, batched behind its back.
//!
//! Actors never wait for the database: they hand each change to the journal and go on.
//! One writer task applies the changes in order, many per transaction, so a restore of
//! thousands of sessions costs a few transactions instead of thousands, and a slow disk
//! never stalls a reconnect. Shutdown drains it before the pool closes.

use std::{sync::Arc, time::Duration};

use app::model::{Event, Reason, SessionStatus, SessionView};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::{
    db::{
        Db,
        leases::{Fence, Token},
        on_pool, webhooks,
    },
    events::relay::{self, Body, Notice},
    webhooks::{
        Outbox,
        payload::{self, Outgoing},
    },
};

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
    /// A webhook event that changes no row (a QR code shown, a message received): queued
    /// in order with the session's other changes, and only while the lease holds.
    Webhook {
        /// Which session.
        session_id: String,
        /// The event.
        event: Outgoing,
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
    /// A change, made under the lease granted with `token`: the database refuses it once
    /// another grant replaced that one.
    Entry {
        /// The writer's lease on the session.
        token: Token,
        /// The change.
        entry: Box<Entry>,
    },
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

    /// Queues `entry`, made under the lease granted with `token`, for writing.
    pub async fn record(&self, token: Token, entry: Entry) {
        if self.tx.send(Record::Entry { token, entry: Box::new(entry) }).await.is_err() {
            tracing::error!("journal writer is gone; a session change was not stored");
        }
    }

    /// Queues `entry` and waits until it is written: for what must survive a crash the
    /// moment after (credentials).
    pub async fn store(&self, token: Token, entry: Entry) {
        self.record(token, entry).await;
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

/// The journal writer's place: the database, the instance it writes for, and where it
/// reports sessions whose writes the database refused (their lease went to another grant).
pub struct Writer {
    /// The database.
    pub db: Db,
    /// This instance's id: writes carry it with their token.
    pub holder: Arc<str>,
    /// Told the id of each session a write was refused for.
    pub refused: mpsc::UnboundedSender<String>,
    /// Woken when a batch queued webhook deliveries.
    pub outbox: Outbox,
}

/// Writes everything the journal receives until every [`Journal`] is dropped.
pub async fn run_writer(writer: Writer, mut rx: mpsc::Receiver<Record>) {
    let mut records = Vec::with_capacity(BATCH);
    let mut batch = Vec::with_capacity(BATCH);
    let mut flushes = Vec::new();
    while rx.recv_many(&mut records, BATCH).await > 0 {
        for record in records.drain(..) {
            match record {
                Record::Entry { token, entry } => batch.push((token, *entry)),
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
            match write(&writer.db, &writer.holder, &batch).await {
                Ok(Written { refused, queued }) => {
                    if queued {
                        writer.outbox.wake();
                    }
                    for session_id in refused {
                        tracing::warn!(
                            session = %session_id,
                            "a write for this session was refused: this instance no longer holds \
                             it (another instance took it over, or it was deleted)"
                        );
                        let _ = writer.refused.send(session_id);
                    }
                    break;
                }
                Err(e) if tries < TRIES => {
                    tracing::warn!(error = %e, tries, "writing session changes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
                }
                Err(e) => {
                    // Every state entry writes the whole state, so the next change of each
                    // session repairs its row; the history rows and webhook events of this
                    // batch are lost.
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

/// What writing a batch did.
struct Written {
    /// The sessions whose writes were refused.
    refused: Vec<String>,
    /// Whether webhook deliveries were queued.
    queued: bool,
}

/// Writes `batch` in one transaction, with the webhook events its status changes cause.
async fn write(db: &Db, holder: &str, batch: &[(Token, Entry)]) -> Result<Written, sqlx::Error> {
    let mut refused: Vec<String> = Vec::new();
    let mut queued = false;
    // Every write carries the fence (`$2` the holder, `$3` the token): a session deleted
    // meanwhile fails it too, its lease went with it.
    let fence = Fence::condition(2, 3);
    on_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        for (token, entry) in batch {
            let session_id = entry.session_id();
            if refused.iter().any(|r| r == session_id) {
                continue;
            }
            let stored = match entry {
                Entry::State { view: v, from, transition, detail } => {
                    let n = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE sessions SET status = $4, reason = $5, last_error = $6,
                                attempt = $7, next_retry_at = $8, last_connected_at = $9,
                                updated_at = $10
                         WHERE id = $1 AND {fence}"
                    )))
                    .bind(&v.id)
                    .bind(holder)
                    .bind(token.0)
                    .bind(v.status.as_str())
                    .bind(v.reason.map(Reason::as_str))
                    .bind(&v.last_error)
                    .bind(i64::from(v.attempt))
                    .bind(v.next_retry_at)
                    .bind(v.last_connected_at)
                    .bind(v.updated_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if n == 1 && matches!(db, Db::Postgres(_)) {
                        // The other instances hear of the change only once it is stored.
                        let event = Event::SessionStatus { session: v.clone() };
                        sqlx::query(relay::NOTIFY)
                            .bind(relay::CHANNEL)
                            .bind(Notice::payload(holder, Body::Event(event)))
                            .execute(&mut *tx)
                            .await?;
                    }
                    if n == 1 && *transition {
                        sqlx::query(
                            "INSERT INTO session_events
                                 (session_id, at, from_status, to_status, reason, detail, token)
                             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(&v.id)
                        .bind(v.updated_at)
                        .bind(from.as_str())
                        .bind(v.status.as_str())
                        .bind(v.reason.map(Reason::as_str))
                        .bind(detail)
                        .bind(token.0)
                        .execute(&mut *tx)
                        .await?;
                        // The webhook event is stored with the change, or not at all.
                        let event = payload::session_status(v, *from);
                        queued |= webhooks::enqueue_in!(db, tx, event);
                    }
                    n == 1
                }
                Entry::Credentials { session_id, phone_number, credentials, at } => {
                    let n = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE sessions SET auth_state = $4,
                                phone_number = COALESCE($5, phone_number), updated_at = $6
                         WHERE id = $1 AND {fence}"
                    )))
                    .bind(session_id)
                    .bind(holder)
                    .bind(token.0)
                    .bind(credentials)
                    .bind(phone_number)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if n == 1 && credentials.is_none() {
                        // Wiped credentials include the keys a connector keeps beside the
                        // row: a logged-out device must never come back.
                        sqlx::query("DELETE FROM whatsapp_store WHERE session_id = $1")
                            .bind(session_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    n == 1
                }
                Entry::Webhook { session_id, event } => {
                    // On PostgreSQL the row is locked before the outbox takes the session's
                    // ordering lock, the order every other writer takes them in (a delete
                    // locks the row, then queues `session.removed`): no deadlock, and the
                    // lease cannot change hands before the event is queued.
                    let lock_row = match db {
                        Db::Sqlite(_) => "",
                        Db::Postgres(_) => " FOR SHARE",
                    };
                    let held = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT 1 FROM sessions WHERE id = $1 AND {fence}{lock_row}"
                    )))
                    .bind(session_id)
                    .bind(holder)
                    .bind(token.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                    if held {
                        queued |= webhooks::enqueue_in!(db, tx, event);
                    }
                    held
                }
                Entry::LastMessage { session_id, at } => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE sessions SET last_message_at = $4 WHERE id = $1 AND {fence}"
                    )))
                    .bind(session_id)
                    .bind(holder)
                    .bind(token.0)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1
                }
            };
            if !stored {
                refused.push(session_id.to_owned());
            }
        }
        tx.commit().await
    })?;
    Ok(Written { refused, queued })
}

impl Entry {
    /// The session the change is about.
    pub fn session_id(&self) -> &str {
        match self {
            Entry::State { view, .. } => &view.id,
            Entry::Credentials { session_id, .. }
            | Entry::Webhook { session_id, .. }
            | Entry::LastMessage { session_id, .. } => session_id,
        }
    }
}
