//! Session news between instances sharing one PostgreSQL database, over LISTEN/NOTIFY: what
//! one instance's sessions do shows on every instance's dashboard and event channel.
//!
//! A status change travels with the write that stores it (the journal notifies inside its
//! transaction), so a change the database refused, from an instance that lost the session,
//! never reaches anyone. The rest of a session's news (QR and phone codes, recoveries,
//! deletion) is sent from the bus here. A receiver that lost its connection may have missed
//! notices; it then reads every session from the database again.
//!
//! The same channel carries operator actions on a session held elsewhere: a request names
//! the holder and a row in `session_commands`, a reply names the requester and the row.

use std::{sync::Arc, time::Duration};

use app::model::Event;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::EventBus;

/// The channel every instance listens on.
pub const CHANNEL: &str = "lifeline_events";

/// Sends a notice: `$1` the channel, `$2` the payload.
pub const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// One notice: what it says and the instance it comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The sending instance's id (a receiver ignores its own).
    pub from: String,
    /// What it says.
    pub body: Body,
}

/// What a notice says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Body {
    /// A session's news, for everyone.
    Event(Event),
    /// An action for instance `to` to carry out: row `id` of `session_commands`.
    Request {
        /// The holder's id.
        to: String,
        /// The row.
        id: String,
    },
    /// The outcome of row `id` is written, for instance `to` that asked.
    Reply {
        /// The requester's id.
        to: String,
        /// The row.
        id: String,
    },
}

impl Body {
    /// Whether the notice is for instance `me` (events are for everyone).
    fn is_for(&self, me: &str) -> bool {
        match self {
            Body::Event(_) => true,
            Body::Request { to, .. } | Body::Reply { to, .. } => to == me,
        }
    }
}

/// PostgreSQL refuses a notice longer than 8000 bytes; a view rarely comes near it, but
/// an upstream's error text is not Lifeline's to bound.
const MOST_PAYLOAD: usize = 7000;

impl Notice {
    /// The notice as the payload `pg_notify` sends, shortened to fit: a long error text is
    /// cut (the full text is in the database).
    pub fn payload(from: &str, body: Body) -> String {
        let mut notice = Notice { from: from.to_owned(), body };
        let text = |n: &Notice| serde_json::to_string(n).unwrap_or_default();
        let mut payload = text(&notice);
        // Halved until it fits: escaping makes the text's share of the payload unknowable
        // in advance (a control character takes six bytes), and a notice that does not fit
        // would fail the transaction that stores the change.
        while payload.len() > MOST_PAYLOAD
            && let Body::Event(Event::SessionStatus { session }) = &mut notice.body
            && let Some(error) = &mut session.last_error
        {
            let half = error.trim_end_matches('…').len() / 2;
            let cut = (0..=half).rev().find(|i| error.is_char_boundary(*i)).unwrap_or(0);
            error.truncate(cut);
            if cut == 0 {
                session.last_error = None;
            } else {
                error.push('…');
            }
            payload = text(&notice);
        }
        payload
    }
}

/// Whether the bus sends `event` to the other instances (status changes go with their
/// write, restore progress is this instance's own).
fn sent_from_bus(event: &Event) -> bool {
    matches!(
        event,
        Event::SessionRemoved { .. }
            | Event::Qr { .. }
            | Event::PairCode { .. }
            | Event::Recovery { .. }
    )
}

/// Sends this instance's session news from `bus` to the other instances until `cancel`.
pub async fn send_out(pool: PgPool, bus: EventBus, me: Arc<str>, cancel: CancellationToken) {
    let (mut events, _) = bus.subscribe();
    loop {
        let published = tokio::select! {
            () = cancel.cancelled() => return,
            next = events.recv() => match next {
                Ok(published) => published,
                // A code or a recovery notice missed: the next one replaces it.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
        };
        let event = &published.envelope.event;
        if published.remote || !sent_from_bus(event) {
            continue;
        }
        if let Err(e) = send(&pool, &me, Body::Event(event.clone())).await {
            tracing::warn!(error = %e, "could not tell the other instances a session's news");
        }
    }
}

/// Sends one notice from instance `me`.
pub async fn send(pool: &PgPool, me: &str, body: Body) -> Result<(), sqlx::Error> {
    sqlx::query(NOTIFY)
        .bind(CHANNEL)
        .bind(Notice::payload(me, body))
        .execute(pool)
        .await
        .map(|_| ())
}

/// What the receiving side hands each notice to, and asks to catch up after a gap.
#[async_trait::async_trait]
pub trait Receiver: Send + Sync + 'static {
    /// A notice from instance `from` for this one (or for everyone).
    async fn notice(&self, from: String, body: Body);
    /// Notices may have been missed: bring every session up to date from the database.
    async fn catch_up(&self);
}

/// How long to wait before listening again after the database refused.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// Listens for the other instances' notices until `cancel`, handing them to `receiver`.
pub async fn receive(
    pool: PgPool,
    me: Arc<str>,
    receiver: impl Receiver,
    cancel: CancellationToken,
) {
    loop {
        let listening = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            // Whatever happened before this connection listened is read from the rows.
            receiver.catch_up().await;
            loop {
                match listener.try_recv().await? {
                    Some(notification) => {
                        match serde_json::from_str::<Notice>(notification.payload()) {
                            Ok(notice) if *notice.from == *me || !notice.body.is_for(&me) => {}
                            Ok(notice) => receiver.notice(notice.from, notice.body).await,
                            Err(e) => tracing::warn!(error = %e, "an unreadable notice"),
                        }
                    }
                    // The connection dropped and came back: notices may be lost.
                    None => receiver.catch_up().await,
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            result = listening => if let Err(e) = result {
                tracing::warn!(error = %e, "not hearing from the other instances; listening again");
            },
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(RELISTEN_AFTER) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use app::model::SessionView;
    use chrono::Utc;

    use super::*;

    #[test]
    fn a_notice_reads_back_as_sent() {
        let view = SessionView::new("s".into(), "Shop".into(), "simulator".into(), Utc::now());
        let body = Body::Event(Event::SessionStatus { session: view });
        let notice: Notice = serde_json::from_str(&Notice::payload("a", body.clone())).unwrap();
        assert_eq!(notice, Notice { from: "a".into(), body });
        let reply = Body::Reply { to: "b".into(), id: "r".into() };
        assert!(reply.is_for("b") && !reply.is_for("a"));
    }

    #[test]
    fn a_long_error_is_cut_to_fit_a_notice() {
        let mut view = SessionView::new("s".into(), "Shop".into(), "simulator".into(), Utc::now());
        view.last_error = Some("é".repeat(10_000));
        let payload = Notice::payload("a", Body::Event(Event::SessionStatus { session: view }));
        assert!(payload.len() <= MOST_PAYLOAD, "{}", payload.len());
        let notice: Notice = serde_json::from_str(&payload).unwrap();
        let Body::Event(Event::SessionStatus { session }) = notice.body else { panic!() };
        assert!(session.last_error.unwrap().ends_with('…'));
    }

    #[test]
    fn an_error_of_escaped_characters_is_cut_to_fit_too() {
        let mut view = SessionView::new("s".into(), "Shop".into(), "simulator".into(), Utc::now());
        view.last_error = Some("\u{1}".repeat(7_000));
        let payload = Notice::payload("a", Body::Event(Event::SessionStatus { session: view }));
        assert!(payload.len() <= MOST_PAYLOAD, "{}", payload.len());
        assert!(serde_json::from_str::<Notice>(&payload).is_ok());
    }

    #[test]
    fn status_changes_travel_with_their_write_and_restore_progress_stays_home() {
        let view = SessionView::new("s".into(), "Shop".into(), "simulator".into(), Utc::now());
        assert!(!sent_from_bus(&Event::SessionStatus { session: view }));
        let restore = Event::RestoreProgress { total: 1, done: 0, connected: 0, failed: 0 };
        assert!(!sent_from_bus(&restore));
        assert!(sent_from_bus(&Event::SessionRemoved { session_id: "s".into() }));
    }
}
