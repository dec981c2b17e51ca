//! Connectors: how Lifeline reaches an upstream (WhatsApp, or the simulator).
//!
//! A connector opens one connection attempt at a time for a session and reports what
//! happens on it. It never retries and never decides policy: the supervisor does.

mod ending;
pub mod simulator;
pub mod whatsapp;

pub use ending::{Ending, Refusal, ShownCode};

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::db::leases::Fence;

/// Everything a connector needs to open a link for one session.
#[derive(Clone, Debug)]
pub struct ConnectRequest {
    /// The session.
    pub session_id: String,
    /// Stored credentials; `None` pairs a new device by QR.
    pub credentials: Option<Vec<u8>>,
    /// When pairing: the phone's number, to offer a code typed on the phone as well.
    pub pair_phone: Option<String>,
    /// Where to report what happens on the attempt and, once up, on the link.
    pub events: EventSink,
    /// Where to say that the upstream accepted the login (see [`Progress`]).
    pub progress: Progress,
    /// The lease the session is held under: what the connector stores about the session
    /// (its keys) is refused once another instance was granted it.
    pub fence: Fence,
}

/// How far an attempt got. Reaching the upstream and the handshake take seconds, but after
/// the upstream accepts a login the client may sync for minutes before it is live (the
/// offline backlog, the first app-state sync): the supervisor gives the two parts separate
/// budgets, and the connector says where the line is.
#[derive(Clone, Debug)]
pub struct Progress(Arc<tokio::sync::watch::Sender<bool>>);

impl Progress {
    /// A fresh attempt's progress, and the receiver that learns of the login.
    pub fn new() -> (Progress, tokio::sync::watch::Receiver<bool>) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (Progress(Arc::new(tx)), rx)
    }

    /// The upstream accepted the login; what remains is the client's own start-up.
    pub fn authenticated(&self) {
        self.0.send_replace(true);
    }
}

/// News from the upstream about one attempt or link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// A QR code to show for scanning.
    Qr(ShownCode),
    /// A code to type on the phone instead of scanning.
    PairCode(ShownCode),
    /// Pairing hit a problem the person at the phone must know about; it goes on.
    PairingProblem {
        /// What to tell them.
        message: String,
    },
    /// The phone scanned the code: these credentials log in from now on.
    Paired {
        /// The linked number, international form.
        phone_number: String,
        /// Opaque credentials to store.
        credentials: Vec<u8>,
    },
    /// The link ended.
    Ended(Ending),
    /// Messages arrived.
    Message {
        /// When the newest was sent.
        at: DateTime<Utc>,
        /// Those sent to this number by others (not its own, echoed back), for the
        /// `message.received` webhook.
        received: Vec<app::model::webhooks::ReceivedMessage>,
    },
}

/// What reaches a session's actor from one attempt, in the order it happened: news, and
/// the attempt's own result. One channel for both keeps "paired" ahead of "logged in".
pub enum Report {
    /// News from the upstream.
    Upstream(Upstream),
    /// The attempt ended: a link, or why not.
    Finished(Result<Arc<dyn Link>, ConnectError>),
}

/// The sending half the supervisor hands to a connector for one attempt. Each attempt gets
/// its own generation number, so news from an abandoned attempt is recognised and ignored.
#[derive(Clone, Debug)]
pub struct EventSink {
    generation: u64,
    tx: mpsc::UnboundedSender<(u64, Report)>,
}

impl EventSink {
    /// A sink that tags everything with `generation`.
    pub fn new(generation: u64, tx: mpsc::UnboundedSender<(u64, Report)>) -> EventSink {
        EventSink { generation, tx }
    }

    /// Reports `event`; silently dropped once the session is gone.
    pub fn send(&self, event: Upstream) {
        let _ = self.tx.send((self.generation, Report::Upstream(event)));
    }

    /// Reports the end of the attempt (the supervisor's side calls this, not connectors).
    pub fn finish(&self, result: Result<Arc<dyn Link>, ConnectError>) {
        let _ = self.tx.send((self.generation, Report::Finished(result)));
    }

    /// Whether anyone still listens (the session was not deleted or shut down).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Why an attempt did not produce a link.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConnectError {
    /// Worth retrying: refused, timed out, network down.
    #[error("{0}")]
    Transient(String),
    /// The stored credentials were rejected: the session is logged out.
    #[error("the credentials were rejected: the phone unlinked this session")]
    LoggedOut,
    /// Another client holds the session.
    #[error("another client holds this session")]
    Replaced,
    /// The number is banned.
    #[error("WhatsApp temporarily banned this number")]
    Banned {
        /// When the ban ends, if known.
        until: Option<DateTime<Utc>>,
    },
    /// Pairing ended without a scan.
    #[error("no QR code was scanned in time")]
    QrTimeout,
    /// The upstream refused for good: retrying cannot help until a person acts.
    #[error("{error}")]
    Refused {
        /// What kind of refusal.
        refusal: Refusal,
        /// What the upstream said, and what to do.
        error: String,
    },
}

/// Why a send or a probe failed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LinkError {
    /// The upstream answered with a refusal.
    #[error("the upstream refused: {0}")]
    Refused(String),
    /// The link is down.
    #[error("the link is closed")]
    Closed,
}

/// A live, logged-in connection for one session.
#[async_trait::async_trait]
pub trait Link: Send + Sync + 'static {
    /// Sends a text message; returns the upstream's message id.
    async fn send_text(&self, to: &str, text: &str) -> Result<String, LinkError>;
    /// A round trip that needs an answer (the keepalive) `within` this long; returns how
    /// long it took.
    async fn probe(&self, within: Duration) -> Result<Duration, LinkError>;
    /// Whether the transport believes it is up. A half-open link says yes.
    fn is_alive(&self) -> bool;
    /// Unlinks the device upstream, so the credentials stop working.
    async fn logout(&self) -> Result<(), LinkError>;
    /// Closes the link cleanly.
    async fn close(&self);
}

/// Opens links for sessions.
#[async_trait::async_trait]
pub trait Connector: Send + Sync + 'static {
    /// Makes one attempt. With credentials it resolves once logged in; without, it reports
    /// QR codes and [`Upstream::Paired`] on the sink and resolves once the new device is in.
    async fn connect(&self, request: ConnectRequest) -> Result<Arc<dyn Link>, ConnectError>;
}

/// The connectors this server offers, by name.
#[derive(Clone, Default)]
pub struct Connectors {
    by_name: HashMap<&'static str, Arc<dyn Connector>>,
    /// The one new sessions use unless told otherwise.
    preferred: Option<&'static str>,
}

impl Connectors {
    /// Offers `connector` under `name`.
    pub fn with(mut self, name: &'static str, connector: Arc<dyn Connector>) -> Connectors {
        self.by_name.insert(name, connector);
        self
    }

    /// The connector called `name`, if offered.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Connector>> {
        self.by_name.get(name).cloned()
    }

    /// Lists `name` first among the names offered.
    pub fn preferring(mut self, name: &'static str) -> Connectors {
        self.preferred = Some(name);
        self
    }

    /// The names offered: the preferred one first, then the others sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.by_name.keys().copied().collect();
        names.sort_unstable_by_key(|n| (Some(*n) != self.preferred, *n));
        names
    }
}

impl std::fmt::Debug for Connectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{simulator::Simulator, *};

    #[test]
    fn the_preferred_connector_is_offered_first() {
        let sim: Arc<dyn Connector> = Arc::new(Simulator::new(Default::default()));
        let offered = Connectors::default().with("whatsapp", sim.clone()).with("simulator", sim);
        assert_eq!(offered.names(), ["simulator", "whatsapp"]);
        assert_eq!(offered.clone().preferring("whatsapp").names(), ["whatsapp", "simulator"]);
        assert_eq!(offered.preferring("simulator").names(), ["simulator", "whatsapp"]);
    }
}
