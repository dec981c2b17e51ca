//! The event bus: every change the server announces, numbered, with a replay ring; and the
//! limits of the `/ws` channel that carries it to clients ([`WsLimits`], [`Admission`]).
//!
//! Publishers never wait for listeners: a listener that falls behind the broadcast
//! channel's capacity is told it lagged and must resynchronise (the `/ws` hub sends it a
//! fresh snapshot), so one slow reader never slows the supervisor.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError},
};

use app::model::{Envelope, Event};
use axum::extract::ws::Utf8Bytes;
use chrono::Utc;
use tokio::sync::broadcast;

mod admission;
mod limits;
pub mod relay;

pub use admission::{Admission, Ticket};
pub use limits::WsLimits;

/// How many recent events are kept for replay to reconnecting clients.
pub const RING_CAPACITY: usize = 4096;

/// An event as published: the envelope, and its JSON text made once for every listener.
#[derive(Debug)]
pub struct Published {
    /// The numbered event.
    pub envelope: Envelope,
    /// `envelope` as the JSON text the event channel sends.
    pub json: Utf8Bytes,
    /// Whether another instance sharing the database told it (so it is not sent back out).
    pub remote: bool,
}

struct Inner {
    next_seq: u64,
    ring: VecDeque<Arc<Published>>,
}

/// The bus. Cloning shares it.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Mutex<Inner>>,
    tx: broadcast::Sender<Arc<Published>>,
    ring_capacity: usize,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus").field("last_seq", &self.last_seq()).finish()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::with_capacity(RING_CAPACITY)
    }
}

/// A replay request this bus cannot answer with events: it reached further back than the
/// ring holds, or named a sequence number this bus never issued (a client of the server's
/// previous run, whose numbering started over). Either way the client needs everything anew.
#[derive(Debug, PartialEq, Eq)]
pub struct TooOld;

impl EventBus {
    /// A bus that keeps the last `ring_capacity` events.
    pub fn with_capacity(ring_capacity: usize) -> EventBus {
        let (tx, _) = broadcast::channel(ring_capacity.max(16));
        EventBus {
            inner: Arc::new(Mutex::new(Inner {
                next_seq: 1,
                ring: VecDeque::with_capacity(ring_capacity),
            })),
            tx,
            ring_capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Numbers `event`, keeps it for replay and hands it to every listener.
    pub fn publish(&self, event: Event) -> u64 {
        self.publish_as(event, false)
    }

    /// [`Self::publish`] for news another instance sharing the database told.
    pub fn publish_remote(&self, event: Event) -> u64 {
        self.publish_as(event, true)
    }

    fn publish_as(&self, event: Event, remote: bool) -> u64 {
        // Numbering and sending under one lock keeps the broadcast in sequence order.
        let mut inner = self.lock();
        let envelope = Envelope { seq: inner.next_seq, at: Utc::now(), event };
        // Serialised once here rather than once per connected client.
        let json = serde_json::to_string(&envelope).unwrap_or_default().into();
        let published = Arc::new(Published { envelope, json, remote });
        inner.next_seq += 1;
        if inner.ring.len() == self.ring_capacity {
            inner.ring.pop_front();
        }
        inner.ring.push_back(published.clone());
        let _ = self.tx.send(published);
        inner.next_seq - 1
    }

    /// Listens from now on; also returns the last sequence number published before.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<Published>>, u64) {
        let inner = self.lock();
        (self.tx.subscribe(), inner.next_seq - 1)
    }

    /// The last sequence number published (0 before any).
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// Every event after `seq`, or [`TooOld`] when some of them already left the ring or
    /// `seq` was never issued.
    pub fn replay_after(&self, seq: u64) -> Result<Vec<Arc<Published>>, TooOld> {
        let inner = self.lock();
        let oldest = inner.ring.front().map_or(inner.next_seq, |e| e.envelope.seq);
        if seq.saturating_add(1) < oldest || seq >= inner.next_seq {
            return Err(TooOld);
        }
        Ok(inner.ring.iter().filter(|e| e.envelope.seq > seq).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(id: &str) -> Event {
        Event::SessionRemoved { session_id: id.into() }
    }

    #[test]
    fn sequence_numbers_start_at_1_and_increase() {
        let bus = EventBus::with_capacity(8);
        assert_eq!(bus.last_seq(), 0);
        assert_eq!(bus.publish(removed("a")), 1);
        assert_eq!(bus.publish(removed("b")), 2);
        assert_eq!(bus.last_seq(), 2);
    }

    #[tokio::test]
    async fn listeners_get_events_in_order() {
        let bus = EventBus::with_capacity(8);
        bus.publish(removed("before"));
        let (mut rx, last) = bus.subscribe();
        assert_eq!(last, 1);
        bus.publish(removed("a"));
        bus.publish(removed("b"));
        let first = rx.recv().await.unwrap();
        assert_eq!(first.envelope.seq, 2);
        assert_eq!(Envelope::from_json(&first.json).unwrap(), first.envelope);
        assert_eq!(rx.recv().await.unwrap().envelope.seq, 3);
    }

    #[test]
    fn replay_inside_and_beyond_the_ring() {
        let bus = EventBus::with_capacity(4);
        for i in 0..10 {
            bus.publish(removed(&i.to_string()));
        }
        // The ring holds 7..=10.
        let seqs = |v: Vec<Arc<Published>>| v.iter().map(|e| e.envelope.seq).collect::<Vec<_>>();
        assert_eq!(seqs(bus.replay_after(8).unwrap()), [9, 10]);
        assert_eq!(seqs(bus.replay_after(6).unwrap()), [7, 8, 9, 10]);
        assert_eq!(seqs(bus.replay_after(10).unwrap()), Vec::<u64>::new());
        assert!(matches!(bus.replay_after(5), Err(TooOld)));
        // Numbers from a previous run of the server, or made up.
        assert!(matches!(bus.replay_after(11), Err(TooOld)));
        assert!(matches!(bus.replay_after(u64::MAX), Err(TooOld)));
    }
}
