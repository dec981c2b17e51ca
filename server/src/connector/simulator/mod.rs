//! The simulator: an in-process stand-in for WhatsApp, with fault injection.
//!
//! It behaves like an upstream that pairs by QR, logs in with stored credentials, and can
//! be told to misbehave in every way the supervisor must survive: drop, flap, log out,
//! stall half-open, be replaced, refuse, answer slowly, ban. Demos and tests drive it
//! through [`Simulator::inject`]; the HTTP route `/dev/simulator/…` exposes that only when
//! the server runs with `--simulator` or `--demo`. With a [`witness`], every simulated link
//! is also seen from outside the instance that holds it.

pub mod witness;

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use app::model::{Reason, SessionView, webhooks::ReceivedMessage};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use thiserror::Error;
use tokio::sync::oneshot;

use super::{
    ConnectError, ConnectRequest, Connector, Ending, EventSink, Link, LinkError, Refusal,
    ShownCode, Upstream,
};
use crate::db::sessions::StoredSession;

/// Timing of the simulated upstream.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// How long a normal handshake takes.
    pub handshake: Duration,
    /// How long each QR code stays valid.
    pub qr_every: Duration,
    /// How many QR codes a pairing offers before giving up.
    pub qr_codes: u32,
    /// How long after coming up a flapping link drops.
    pub flap_after: Duration,
    /// Where the [`witness`] listens, if one watches the links.
    pub witness: Option<std::net::SocketAddr>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            handshake: Duration::from_millis(400),
            qr_every: Duration::from_secs(20),
            qr_codes: 6,
            flap_after: Duration::from_millis(500),
            witness: None,
        }
    }
}

/// One way to make the simulated upstream misbehave (or a phone scan a code).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The live link sends `count` disconnect notices at once and dies.
    Drop {
        /// How many notices in the burst.
        #[serde(default = "one")]
        count: u32,
    },
    /// The next `count` links drop shortly after they come up.
    Flap {
        /// How many links.
        #[serde(default = "one")]
        count: u32,
    },
    /// The phone unlinks the session: the live link says so, the credentials die.
    Logout,
    /// The live link goes half-open: it looks up, but nothing answers.
    Stall,
    /// The live link dies without a word: no disconnect notice ever reaches Lifeline, so
    /// only a look at the link itself finds it dead.
    Sever,
    /// Another client takes the session over.
    Replaced,
    /// WhatsApp stops accepting this client version (as it does with 405): the live link
    /// ends with a final refusal that no retry overcomes.
    Outdated,
    /// WhatsApp bans the number for `seconds`.
    Ban {
        /// How long the ban lasts.
        #[serde(default = "hour")]
        seconds: u64,
    },
    /// The next `count` connection attempts are refused.
    Refuse {
        /// How many attempts.
        #[serde(default = "one")]
        count: u32,
    },
    /// The next `count` handshakes take `seconds` each.
    SlowHandshake {
        /// How many handshakes.
        #[serde(default = "one")]
        count: u32,
        /// How long each takes.
        #[serde(default = "ten")]
        seconds: u64,
    },
    /// The next `count` sends are refused by the upstream.
    RefuseSend {
        /// How many sends.
        #[serde(default = "one")]
        count: u32,
    },
    /// `count` text messages arrive on the live link.
    Message {
        /// How many.
        #[serde(default = "one")]
        count: u32,
        /// Who sends them (a phone number); a made-up one when absent.
        #[serde(default)]
        from: Option<String>,
        /// What they say; numbered test texts when absent.
        #[serde(default)]
        text: Option<String>,
    },
    /// The phone scans the current QR code, linking `phone_number`.
    Scan {
        /// The number to link; a made-up one when absent.
        #[serde(default)]
        phone_number: Option<String>,
    },
}

fn one() -> u32 {
    1
}
fn ten() -> u64 {
    10
}
fn hour() -> u64 {
    3600
}

/// Why a fault could not be applied.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FaultError {
    /// The fault acts on a live link and the session has none.
    #[error("session {0} has no live simulated link")]
    NoLink(String),
    /// `scan` needs a QR code on screen.
    #[error("session {0} is not showing a QR code")]
    NotPairing(String),
    /// A count of zero does nothing, which is surely not what was meant.
    #[error("count must be at least 1")]
    ZeroCount,
}

#[derive(Default)]
struct SimSession {
    refuse: u32,
    slow: Vec<Duration>,
    flap: u32,
    refuse_send: u32,
    link: Option<Arc<SimLink>>,
    scan: Option<oneshot::Sender<Option<String>>>,
}

#[derive(Default)]
struct World {
    sessions: HashMap<String, SimSession>,
    revoked: HashSet<Vec<u8>>,
}

/// The simulated upstream. Cloning shares it.
#[derive(Clone, Default)]
pub struct Simulator {
    config: SimConfig,
    world: Arc<Mutex<World>>,
    in_flight: Arc<AtomicU32>,
    max_in_flight: Arc<AtomicU32>,
    handshakes: Arc<AtomicU64>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Simulator {
    /// A simulator with the given timing.
    pub fn new(config: SimConfig) -> Simulator {
        Simulator { config, ..Simulator::default() }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the upstream of `session_id` misbehave; returns what was done, for people.
    pub fn inject(&self, session_id: &str, fault: Fault) -> Result<String, FaultError> {
        let count = match &fault {
            Fault::Drop { count }
            | Fault::Flap { count }
            | Fault::Refuse { count }
            | Fault::SlowHandshake { count, .. }
            | Fault::RefuseSend { count }
            | Fault::Message { count, .. } => *count,
            _ => 1,
        };
        if count == 0 {
            return Err(FaultError::ZeroCount);
        }
        let mut world = self.world();
        let session = world.sessions.entry(session_id.to_owned()).or_default();
        let live = || {
            session
                .link
                .clone()
                .filter(|l| l.alive.load(Ordering::SeqCst))
                .ok_or_else(|| FaultError::NoLink(session_id.to_owned()))
        };
        let done = match fault {
            Fault::Drop { count } => {
                let link = live()?;
                link.alive.store(false, Ordering::SeqCst);
                for i in 0..count {
                    let error = format!("stream closed by upstream (simulated drop {})", i + 1);
                    link.sink.send(Upstream::Ended(Ending::Dropped { error }));
                }
                format!("dropped the link ({count} notices)")
            }
            Fault::Flap { count } => {
                session.flap += count;
                format!("the next {count} links will drop after coming up")
            }
            Fault::Logout => {
                let link = live()?;
                link.alive.store(false, Ordering::SeqCst);
                let credentials = link.credentials.clone();
                link.sink.send(Upstream::Ended(Ending::LoggedOut));
                world.revoked.insert(credentials);
                "logged the session out from the phone".to_owned()
            }
            Fault::Stall => {
                live()?.stalled.store(true, Ordering::SeqCst);
                "the link is now half-open: up, but silent".to_owned()
            }
            Fault::Sever => {
                live()?.alive.store(false, Ordering::SeqCst);
                "the link died without a disconnect notice".to_owned()
            }
            Fault::Replaced => {
                let link = live()?;
                link.alive.store(false, Ordering::SeqCst);
                link.sink.send(Upstream::Ended(Ending::Replaced));
                "another client took the session over".to_owned()
            }
            Fault::Outdated => {
                let link = live()?;
                link.alive.store(false, Ordering::SeqCst);
                link.sink.send(Upstream::Ended(Ending::Refused {
                    refusal: Refusal::ClientOutdated,
                    error: "the simulated WhatsApp no longer accepts this client version (405): \
                            update Lifeline, then reconnect"
                        .into(),
                }));
                "WhatsApp refuses this client version".to_owned()
            }
            Fault::Ban { seconds } => {
                let link = live()?;
                link.alive.store(false, Ordering::SeqCst);
                let until = Utc::now() + chrono::Duration::seconds(seconds as i64);
                link.sink.send(Upstream::Ended(Ending::Banned { until: Some(until) }));
                format!("banned for {seconds} s")
            }
            Fault::Refuse { count } => {
                session.refuse += count;
                format!("the next {count} connection attempts will be refused")
            }
            Fault::SlowHandshake { count, seconds } => {
                session.slow.extend((0..count).map(|_| Duration::from_secs(seconds)));
                format!("the next {count} handshakes will take {seconds} s")
            }
            Fault::RefuseSend { count } => {
                session.refuse_send += count;
                format!("the next {count} sends will be refused")
            }
            Fault::Message { count, from, text } => {
                let link = live()?;
                let from = from.unwrap_or_else(|| SIMULATED_SENDER.to_owned());
                for n in 1..=count {
                    let at = Utc::now();
                    let text = text.clone().unwrap_or_else(|| format!("Simulated message {n}"));
                    let message = ReceivedMessage {
                        message_id: format!("SIM{}", uuid::Uuid::new_v4().simple()).to_uppercase(),
                        chat: format!("{}@s.whatsapp.net", from.trim_start_matches('+')),
                        from: from.clone(),
                        push_name: Some("Simulated sender".into()),
                        kind: "text".into(),
                        text: Some(text),
                        timestamp: at,
                    };
                    link.sink.send(Upstream::Message { at, received: vec![message] });
                }
                format!("{count} messages arrived")
            }
            Fault::Scan { phone_number } => {
                let scan = session
                    .scan
                    .take()
                    .ok_or_else(|| FaultError::NotPairing(session_id.to_owned()))?;
                scan.send(phone_number)
                    .map_err(|_| FaultError::NotPairing(session_id.to_owned()))?;
                "the phone scanned the QR code".to_owned()
            }
        };
        Ok(done)
    }

    /// A session already paired with the simulator, as a previous run would have stored it
    /// (demos, tests and benchmarks start from these).
    pub fn paired_session(id: String, name: String, now: DateTime<Utc>) -> StoredSession {
        let credentials = Some(format!("sim:{id}:stored").into_bytes());
        let view = SessionView {
            paired: true,
            reason: Some(Reason::ServerShutdown),
            ..SessionView::new(id, name, "simulator".into(), now)
        };
        StoredSession { view, credentials, is_active: true }
    }

    /// The most credentialed handshakes that were ever in flight at once.
    pub fn max_concurrent_handshakes(&self) -> u32 {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many credentialed handshakes were started.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// Whether `session_id` has a link that is up (stalled links count: they look up).
    pub fn has_live_link(&self, session_id: &str) -> bool {
        self.world()
            .sessions
            .get(session_id)
            .and_then(|s| s.link.as_ref())
            .is_some_and(|l| l.alive.load(Ordering::SeqCst))
    }

    async fn pair(&self, request: &ConnectRequest) -> Result<(String, Vec<u8>), ConnectError> {
        let id = &request.session_id;
        if request.pair_phone.is_some() {
            // One code for the whole pairing, as WhatsApp gives (about three minutes).
            let lasts = self.config.qr_every * self.config.qr_codes;
            let code: String = (0..8)
                .map(|_| {
                    char::from(PAIR_CODE_ALPHABET[rand::random_range(0..PAIR_CODE_ALPHABET.len())])
                })
                .collect();
            let expires_at = Utc::now() + chrono::Duration::from_std(lasts).unwrap_or_default();
            request.events.send(Upstream::PairCode(ShownCode { code, expires_at }));
        }
        for n in 1..=self.config.qr_codes {
            let (scanned, scan) = oneshot::channel();
            self.world().sessions.entry(id.clone()).or_default().scan = Some(scanned);
            let expires = chrono::Duration::from_std(self.config.qr_every).unwrap_or_default();
            request.events.send(Upstream::Qr(ShownCode {
                code: format!("lifeline-sim:{id}:{n}:{:08x}", rand::random::<u32>()),
                expires_at: Utc::now() + expires,
            }));
            tokio::select! {
                phone = scan => {
                    let phone = phone.ok().flatten().unwrap_or_else(|| made_up_number(id));
                    let credentials = format!("sim:{id}:{:016x}", rand::random::<u64>()).into_bytes();
                    request.events.send(Upstream::Paired {
                        phone_number: phone.clone(),
                        credentials: credentials.clone(),
                    });
                    return Ok((phone, credentials));
                }
                _ = tokio::time::sleep(self.config.qr_every) => {}
            }
            if request.events.is_closed() {
                break;
            }
        }
        if let Some(s) = self.world().sessions.get_mut(id) {
            s.scan = None;
        }
        Err(ConnectError::QrTimeout)
    }
}

/// Who simulated messages come from unless the fault names someone: a number in a range
/// reserved for fiction, so it is nobody's.
const SIMULATED_SENDER: &str = "+15555550100";

/// The characters WhatsApp's pairing codes are made of (no 0/O, 1/I/L, U).
const PAIR_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";

/// A stable fake number per session, so demos look real without being anyone's.
fn made_up_number(session_id: &str) -> String {
    let hash = session_id.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!("+2782{:07}", hash % 10_000_000)
}

/// Counts a credentialed handshake in flight for as long as it lives.
struct InFlight<'a>(&'a Simulator);

impl<'a> InFlight<'a> {
    fn enter(sim: &'a Simulator) -> InFlight<'a> {
        sim.handshakes.fetch_add(1, Ordering::SeqCst);
        let now = sim.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        sim.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(sim)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Connector for Simulator {
    async fn connect(&self, request: ConnectRequest) -> Result<Arc<dyn Link>, ConnectError> {
        let id = request.session_id.clone();
        let credentials = match &request.credentials {
            Some(credentials) => {
                let _in_flight = InFlight::enter(self);
                let (refused, slow) = {
                    let mut world = self.world();
                    let s = world.sessions.entry(id.clone()).or_default();
                    let refused = s.refuse > 0;
                    s.refuse = s.refuse.saturating_sub(1);
                    let slow = (!s.slow.is_empty()).then(|| s.slow.remove(0));
                    (refused, slow)
                };
                tokio::time::sleep(slow.unwrap_or(self.config.handshake)).await;
                if refused {
                    return Err(ConnectError::Transient(
                        "connection refused by upstream (simulated)".into(),
                    ));
                }
                if self.world().revoked.contains(credentials) {
                    return Err(ConnectError::LoggedOut);
                }
                credentials.clone()
            }
            None => self.pair(&request).await?.1,
        };

        let link = Arc::new(SimLink {
            session_id: id.clone(),
            credentials,
            sink: request.events.clone(),
            alive: AtomicBool::new(true),
            stalled: AtomicBool::new(false),
            sim: self.clone(),
            presence: Mutex::new(None),
        });
        if let Some(addr) = self.config.witness {
            let hello = witness::Hello {
                session_id: link.session_id.clone(),
                holder: request.fence.holder.to_string(),
                token: request.fence.token.0,
            };
            let presence =
                witness::attend(addr, &hello, Arc::downgrade(&link)).await.map_err(|e| {
                    ConnectError::Transient(format!("cannot reach the simulator's witness: {e}"))
                })?;
            *link.presence.lock().unwrap_or_else(PoisonError::into_inner) = Some(presence);
        }
        let flap = {
            let mut world = self.world();
            let s = world.sessions.entry(id).or_default();
            if let Some(old) = s.link.replace(link.clone()) {
                old.alive.store(false, Ordering::SeqCst);
            }
            let flap = s.flap > 0;
            s.flap = s.flap.saturating_sub(1);
            flap
        };
        if flap {
            let link = link.clone();
            let after = self.config.flap_after;
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                if link.alive.swap(false, Ordering::SeqCst) {
                    let error = "stream closed by upstream (simulated flap)".into();
                    link.sink.send(Upstream::Ended(Ending::Dropped { error }));
                }
            });
        }
        Ok(link)
    }
}

/// One simulated link.
struct SimLink {
    session_id: String,
    credentials: Vec<u8>,
    sink: EventSink,
    alive: AtomicBool,
    stalled: AtomicBool,
    sim: Simulator,
    /// The link's connection to the witness, while it is up.
    presence: Mutex<Option<witness::Presence>>,
}

impl witness::Watched for SimLink {
    fn is_up(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    fn lost(&self, why: &str) {
        if self.alive.swap(false, Ordering::SeqCst) {
            self.sink.send(Upstream::Ended(Ending::Dropped { error: why.to_owned() }));
        }
    }
}

impl SimLink {
    async fn answer(&self) -> Result<(), LinkError> {
        if self.stalled.load(Ordering::SeqCst) {
            // Half-open: the request goes out and nothing ever comes back.
            std::future::pending::<()>().await;
        }
        if !self.alive.load(Ordering::SeqCst) {
            return Err(LinkError::Closed);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Link for SimLink {
    async fn send_text(&self, to: &str, _text: &str) -> Result<String, LinkError> {
        self.answer().await?;
        let refused = {
            let mut world = self.sim.world();
            let s = world.sessions.entry(self.session_id.clone()).or_default();
            let refused = s.refuse_send > 0;
            s.refuse_send = s.refuse_send.saturating_sub(1);
            refused
        };
        if refused {
            return Err(LinkError::Refused(format!("{to} cannot receive messages (simulated)")));
        }
        Ok(format!("SIM{:016X}", rand::random::<u64>()))
    }

    async fn probe(&self, _within: Duration) -> Result<Duration, LinkError> {
        // The actor bounds the wait; a stalled simulated link never answers.
        self.answer().await?;
        Ok(Duration::from_millis(1))
    }

    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    async fn logout(&self) -> Result<(), LinkError> {
        self.answer().await?;
        self.alive.store(false, Ordering::SeqCst);
        self.sim.world().revoked.insert(self.credentials.clone());
        Ok(())
    }

    async fn close(&self) {
        self.alive.store(false, Ordering::SeqCst);
        // The witness sees the hold end now, before the lease can pass to another instance.
        self.presence.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}
