//! A logged-in whatsapp-rust client as a Lifeline [`Link`], and the task that watches it.
//!
//! The client runs with its own reconnect turned off, so when its run loop returns the link
//! is over; the watcher then tells the supervisor why (the last event that explains it, or
//! the transport's own error) and the supervisor decides what comes next.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use tokio::task::JoinHandle;
use whatsapp_rust::{
    Client, Jid, RawNodeLease, async_channel,
    prelude::{IqError, SendError},
    wacore::{iq::keepalive::KeepaliveSpec, types::events::Event},
};

use super::{
    mapping::{Signal, map},
    observed::LastFailure,
    saver::DeviceSaver,
    store::SqlStore,
};
use crate::connector::{Ending, EventSink, Link, LinkError, Refusal, Upstream};

/// A client with its run loop going: what an attempt builds and a link keeps.
pub(super) struct Running {
    pub client: Arc<Client>,
    pub events: async_channel::Receiver<Arc<Event>>,
    pub driver: JoinHandle<()>,
    pub failure: LastFailure,
    /// Keeps raw stanzas coming as events (see [`Signal::Restart`]).
    pub raw: RawNodeLease,
    /// Writes the device record.
    pub saver: DeviceSaver,
    /// The client's key store, closed when the link ends.
    pub store: Arc<SqlStore>,
}

impl Running {
    /// Starts the client's run loop (again, after the reconnect pairing asks for).
    pub fn drive(client: &Arc<Client>) -> JoinHandle<()> {
        let client = client.clone();
        tokio::spawn(async move { client.run().await })
    }
}

/// A live WhatsApp connection.
pub struct WhatsAppLink {
    _raw: RawNodeLease,
    saver: DeviceSaver,
    store: Arc<SqlStore>,
    client: Arc<Client>,
    closing: Arc<AtomicBool>,
    watcher: JoinHandle<()>,
    driver: tokio::task::AbortHandle,
}

impl WhatsAppLink {
    /// Takes over a logged-in client and starts watching it.
    pub(super) fn start(running: Running, sink: EventSink) -> WhatsAppLink {
        let Running { client, events, driver, failure, raw, saver, store } = running;
        let closing = Arc::new(AtomicBool::new(false));
        let driver_abort = driver.abort_handle();
        let watcher = tokio::spawn(watch(events, driver, failure, sink, closing.clone()));
        WhatsAppLink { client, closing, watcher, driver: driver_abort, _raw: raw, saver, store }
    }
}

/// Forwards what happens on the link until its run loop ends, then reports the end once.
async fn watch(
    events: async_channel::Receiver<Arc<Event>>,
    mut driver: JoinHandle<()>,
    failure: LastFailure,
    sink: EventSink,
    closing: Arc<AtomicBool>,
) {
    let mut last_drop: Option<String> = None;
    let mut ended = false;
    let report = |event: &Event, last_drop: &mut Option<String>| -> bool {
        match map(event, Utc::now()) {
            Some(Signal::Message { at, received }) => sink.send(Upstream::Message { at, received }),
            Some(Signal::LoggedOut { .. }) => {
                sink.send(Upstream::Ended(Ending::LoggedOut));
                return true;
            }
            Some(Signal::Replaced) => {
                sink.send(Upstream::Ended(Ending::Replaced));
                return true;
            }
            Some(Signal::Restart) => {
                sink.send(Upstream::Ended(Ending::Restart));
                return true;
            }
            Some(Signal::Banned { until, .. }) => {
                sink.send(Upstream::Ended(Ending::Banned { until }));
                return true;
            }
            Some(Signal::Outdated) => {
                let error = super::connector::OUTDATED.to_owned();
                sink.send(Upstream::Ended(Ending::Refused {
                    refusal: Refusal::ClientOutdated,
                    error,
                }));
                return true;
            }
            Some(Signal::Failed { error, retry: false }) => {
                sink.send(Upstream::Ended(Ending::Refused { refusal: Refusal::Other, error }));
                return true;
            }
            Some(Signal::Dropped { error } | Signal::Failed { error, .. }) => {
                *last_drop = Some(error);
            }
            _ => {}
        }
        false
    };
    loop {
        tokio::select! {
            biased;
            event = events.recv() => match event {
                Ok(event) => ended |= report(&event, &mut last_drop),
                Err(_) => break,
            },
            _ = &mut driver => break,
        }
    }
    // Whatever was dispatched before the loop ended still counts.
    while let Ok(event) = events.try_recv() {
        ended |= report(&event, &mut last_drop);
    }
    if !ended && !closing.load(Ordering::SeqCst) {
        let error = last_drop
            .or_else(|| failure.take())
            .unwrap_or_else(|| "the connection to WhatsApp closed".into());
        sink.send(Upstream::Ended(Ending::Dropped { error }));
    }
}

/// `+27 82 123 4567`, `27821234567` or a full JID.
fn recipient(to: &str) -> Result<Jid, LinkError> {
    if to.contains('@') {
        return to.parse().map_err(|e| LinkError::Refused(format!("not a WhatsApp address: {e}")));
    }
    let digits: String = to.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 || to.chars().any(|c| c.is_alphabetic()) {
        return Err(LinkError::Refused(format!("not a phone number: {to:?}")));
    }
    Ok(Jid::pn(digits))
}

#[async_trait::async_trait]
impl Link for WhatsAppLink {
    async fn send_text(&self, to: &str, text: &str) -> Result<String, LinkError> {
        let to = recipient(to)?;
        if !self.client.is_connected() {
            return Err(LinkError::Closed);
        }
        match self.client.send_text(to, text).await {
            Ok(sent) => Ok(sent.message_id),
            Err(SendError::NotLoggedIn) => Err(LinkError::Closed),
            Err(e) => Err(LinkError::Refused(e.to_string())),
        }
    }

    async fn probe(&self, within: Duration) -> Result<Duration, LinkError> {
        let start = Instant::now();
        match self.client.execute(KeepaliveSpec::with_timeout(within)).await {
            Ok(()) => Ok(start.elapsed()),
            Err(IqError::NotConnected) => Err(LinkError::Closed),
            Err(e) => Err(LinkError::Refused(format!("keepalive failed: {e}"))),
        }
    }

    fn is_alive(&self) -> bool {
        self.client.is_connected() && !self.watcher.is_finished()
    }

    async fn logout(&self) -> Result<(), LinkError> {
        self.closing.store(true, Ordering::SeqCst);
        // Unlinks the device upstream; the keys themselves go with the session's credentials
        // (the supervisor wipes them, and with them this session's key store).
        self.client.logout().await;
        Ok(())
    }

    async fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        // The device record first: whatever the disconnect below gets to do before the
        // caller's budget runs out, the device is on disk.
        if let Err(e) = self.saver.save_now().await {
            tracing::warn!(error = %e, "cannot store the device record while closing");
        }
        self.client.disconnect().await;
        self.driver.abort();
        self.watcher.abort();
        // Nothing the client still has going may write after the link is over: the
        // supervisor may wipe the keys next, or start another client on them.
        self.store.retire().await;
    }
}

impl Drop for WhatsAppLink {
    fn drop(&mut self) {
        self.store.retire_now();
        self.driver.abort();
        self.watcher.abort();
    }
}

#[cfg(test)]
mod tests {
    use whatsapp_rust::wacore::{
        net::DisconnectReason,
        types::events::{ConnectFailureReason, Disconnected, LoggedOut},
    };

    use super::*;
    use crate::connector::Report;

    /// Runs the watcher over `events` with a run loop that has already ended; returns what
    /// it told the supervisor.
    async fn watched(events: Vec<Event>, failure: LastFailure, closing: bool) -> Vec<Upstream> {
        let (tx, rx) = async_channel::unbounded();
        for event in events {
            tx.send(Arc::new(event)).await.unwrap();
        }
        let (sink_tx, mut sink_rx) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async {});
        let closing = Arc::new(AtomicBool::new(closing));
        watch(rx, driver, failure, EventSink::new(7, sink_tx), closing).await;
        let mut told = Vec::new();
        while let Ok((generation, report)) = sink_rx.try_recv() {
            assert_eq!(generation, 7);
            if let Report::Upstream(news) = report {
                told.push(news);
            }
        }
        told
    }

    #[tokio::test]
    async fn a_logout_on_a_live_link_is_reported_once_and_never_as_a_drop() {
        let out =
            LoggedOut::builder().on_connect(false).reason(ConnectFailureReason::LoggedOut).build();
        let told = watched(vec![Event::LoggedOut(out)], LastFailure::default(), false).await;
        assert_eq!(told, vec![Upstream::Ended(Ending::LoggedOut)]);
    }

    #[tokio::test]
    async fn a_dropped_link_says_why() {
        let dropped =
            Disconnected::builder().reason(DisconnectReason::ReadError("reset".into())).build();
        let told = watched(vec![Event::Disconnected(dropped)], LastFailure::default(), false).await;
        assert_eq!(
            told,
            vec![Upstream::Ended(Ending::Dropped {
                error: "disconnected: read error: reset".into()
            })]
        );

        // Without an event, the transport's own error explains the end.
        let failure = LastFailure::default();
        failure.set("cannot reach WhatsApp: connection refused".into());
        let told = watched(Vec::new(), failure, false).await;
        assert_eq!(
            told,
            vec![Upstream::Ended(Ending::Dropped {
                error: "cannot reach WhatsApp: connection refused".into()
            })]
        );
    }

    #[tokio::test]
    async fn a_link_closed_by_lifeline_reports_nothing() {
        assert!(watched(Vec::new(), LastFailure::default(), true).await.is_empty());
    }

    #[test]
    fn recipients_are_numbers_or_addresses() {
        assert_eq!(recipient("+27 82 123 4567").unwrap(), Jid::pn("27821234567"));
        assert_eq!(recipient("27821234567@s.whatsapp.net").unwrap(), Jid::pn("27821234567"));
        assert!(recipient("hello").is_err());
        assert!(recipient("12").is_err());
        assert!(recipient("+27abc1234567").is_err());
    }
}
