//! A stand-in for WhatsApp's servers that speaks the real protocol, for Lifeline's tests and
//! benchmarks.
//!
//! Lifeline's `whatsapp` connector runs the unmodified whatsapp-rust client; this double is
//! the other end of its socket. It answers the Noise handshake (XX, and IK for a device that
//! kept the server's key), reads and writes the encrypted binary nodes, logs devices in or
//! refuses them as WhatsApp does (`<failure reason="401|402|405">`), links new devices when a
//! test "scans" their QR code, answers the requests a client makes after login (pre-keys,
//! pings, passive mode, device lists, key bundles) and, on cue, ends streams the ways
//! WhatsApp does: `515` after pairing, `conflict/replaced`, a dropped socket, or silence.
//!
//! Everything a client sends is recorded as [`Seen`], so a test waits for the stanza it
//! expects instead of sleeping. Connections are in-memory ([`WhatsAppDouble::transport`]) or,
//! for a client in another process, WebSocket on loopback ([`WhatsAppDouble::serve`]). It
//! never opens a connection to anything.

// wacore's key types take rand 0.10; the rest of the workspace is on 0.9.
extern crate rand_signal as rand;

mod answers;
mod connection;
mod handshake;
mod keys;
mod phone;
mod pipe;
mod socket;
mod wire;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

pub use handshake::Pattern;
use tokio::sync::{mpsc, watch};
use whatsapp_rust::{
    store::persistence_manager::PersistenceManager,
    transport::TransportFactory,
    wacore::store::{DeviceCommand, traits::Backend},
    wacore_binary::{Jid, Node},
};

pub use socket::serve;

/// The client version the double accepts; give it to the client as its version override
/// (the double serves no version lookup).
pub const CLIENT_VERSION: (u32, u32, u32) = (2, 3000, 1_030_000_000);

/// QR references offered to a new device (as WhatsApp does: the client rotates through them).
const DEFAULT_QR_REFERENCES: usize = 6;

/// How long [`WhatsAppDouble::wait_for`] waits before it calls a test hung.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// How WhatsApp refuses a login (`<failure reason=…>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401: the device was unlinked.
    LoggedOut,
    /// 402: the number is banned; `expires_in` when WhatsApp says for how long.
    Banned {
        /// The ban's remaining length, if the stanza carries one.
        expires_in: Option<Duration>,
    },
    /// 403: the account is locked.
    Locked,
    /// 405: this client version is no longer accepted.
    ClientOutdated,
    /// 503: the service is unavailable for now.
    Unavailable,
}

impl Refusal {
    fn code(self) -> u16 {
        match self {
            Refusal::LoggedOut => 401,
            Refusal::Banned { .. } => 402,
            Refusal::Locked => 403,
            Refusal::ClientOutdated => 405,
            Refusal::Unavailable => 503,
        }
    }
}

/// Something the double saw a client do.
#[derive(Clone, Debug)]
pub enum Seen {
    /// A device logged in.
    Login {
        /// The device.
        jid: Jid,
        /// Its login counter as the client sent it.
        login_counter: u32,
        /// How the handshake went.
        pattern: Pattern,
    },
    /// A login was refused.
    Refused {
        /// The device.
        jid: Jid,
        /// The `<failure>` reason sent.
        reason: u16,
    },
    /// A new device connected to pair and was offered QR references (none, when told so).
    Pairing,
    /// A new device asked for a code to type on the phone of this number.
    PhoneCodeRequested {
        /// The number, digits only.
        phone: String,
    },
    /// A device was linked to a number.
    Paired {
        /// The new device.
        jid: Jid,
    },
    /// A stanza from a logged-in device.
    Stanza {
        /// The device.
        jid: Jid,
        /// The stanza.
        node: Node,
    },
    /// A connection ended.
    Closed {
        /// The device, when it had logged in.
        jid: Option<Jid>,
    },
}

impl Seen {
    /// The stanza, when this is one from a device of `phone`.
    pub fn stanza_of(&self, phone: &str) -> Option<&Node> {
        match self {
            Seen::Stanza { jid, node } if jid.user == digits(phone) => Some(node),
            _ => None,
        }
    }
}

/// What the test asks of a live connection.
#[derive(Debug)]
pub(crate) enum Cue {
    /// Write this node.
    Send(Node),
    /// End the stream with `<stream:error code=…>` and hang up.
    StreamError(String),
    /// End the stream because another client logged in with the same device.
    Replaced,
    /// Hang up without a word.
    Drop,
    /// Stop answering and stop sending, but keep the socket open (half-open).
    Silence,
    /// The phone scanned this connection's QR code.
    Scanned(phone::Scan),
    /// The person typed this code on the phone.
    CodeTyped(String),
    /// The server retires the phone code on show.
    RetireCode,
}

/// A device linked to a number.
#[derive(Clone, Debug)]
pub(crate) struct DeviceRecord {
    /// Its static Noise key: a login with another key is refused.
    pub noise: [u8; 32],
    /// The pre-keys it uploaded.
    pub prekeys: Option<keys::Uploaded>,
}

/// A WhatsApp account: one phone and its linked devices.
#[derive(Debug, Default)]
pub(crate) struct Account {
    pub lid: String,
    pub devices: BTreeMap<u16, DeviceRecord>,
    pub refusal: Option<Refusal>,
    pub offline_hold: Duration,
}

#[derive(Default)]
pub(crate) struct State {
    pub accounts: HashMap<String, Account>,
    /// Live connections by the number they are logged in as.
    pub live: HashMap<String, Vec<(u64, mpsc::UnboundedSender<Cue>)>>,
    /// Connections waiting for a QR scan, by the references they were offered.
    pub pairing: HashMap<String, mpsc::UnboundedSender<Cue>>,
    /// Connections waiting for a code typed on a phone, by that phone's number.
    pub phone_codes: HashMap<String, mpsc::UnboundedSender<Cue>>,
    /// How many QR references a pairing connection is offered.
    pub qr_references: usize,
    /// Key bundles of the other devices (contacts, the phones), made on first request.
    pub bundles: HashMap<String, keys::Device>,
    pub socket_refusal: Option<String>,
    pub next_connection: u64,
    pub next_lid: u64,
    pub seen: Vec<Seen>,
}

/// What every connection of one double shares.
pub(crate) struct Shared {
    pub identity: handshake::ServerIdentity,
    pub runtime: tokio::runtime::Handle,
    state: Mutex<State>,
    seen_count: watch::Sender<usize>,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, seen: Seen) {
        let count = {
            let mut state = self.state();
            state.seen.push(seen);
            state.seen.len()
        };
        self.seen_count.send_replace(count);
    }

    fn refuse_sockets(&self) -> Option<String> {
        self.state().socket_refusal.clone()
    }

    /// Sends `cue` to every live connection of `phone`; how many got it.
    fn cue(&self, phone: &str, cue: impl Fn() -> Cue) -> usize {
        let state = self.state();
        state
            .live
            .get(&digits(phone))
            .map(|conns| conns.iter().filter(|(_, tx)| tx.send(cue()).is_ok()).count())
            .unwrap_or(0)
    }
}

/// Seconds since the Unix epoch, as stanzas carry time.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `+27 82 123 4567` → `27821234567`.
pub(crate) fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// The double: cheap to clone, every clone the same server.
#[derive(Clone)]
pub struct WhatsAppDouble {
    shared: Arc<Shared>,
}

impl Default for WhatsAppDouble {
    fn default() -> Self {
        Self::start()
    }
}

impl WhatsAppDouble {
    /// A new double whose connections run on the current tokio runtime.
    pub fn start() -> WhatsAppDouble {
        let (seen_count, _) = watch::channel(0);
        WhatsAppDouble {
            shared: Arc::new(Shared {
                identity: handshake::ServerIdentity::generate(),
                runtime: tokio::runtime::Handle::current(),
                state: Mutex::new(State {
                    next_lid: 100_000_000_000_000,
                    qr_references: DEFAULT_QR_REFERENCES,
                    ..State::default()
                }),
                seen_count,
            }),
        }
    }

    /// A transport factory whose sockets lead to this double.
    pub fn transport(&self) -> Arc<dyn TransportFactory> {
        Arc::new(pipe::Factory { shared: self.shared.clone() })
    }

    /// Writes an already-linked device for `phone` into `backend` (as a client that paired
    /// earlier would have stored it) and registers it with the double; returns its JID.
    /// The device has a push name, so its logins take the path of a device that has synced.
    pub async fn link(&self, backend: Arc<dyn Backend>, phone: &str) -> Result<Jid, String> {
        let manager = PersistenceManager::new(backend).await.map_err(|e| e.to_string())?;
        let (jid, lid) = self.register_device(phone, noise_key_of(&manager));
        store_linked(&manager, &jid, &lid).await?;
        Ok(jid)
    }

    /// Links a new device of `phone` whose static Noise key is `noise`; returns its JID and
    /// LID. With [`noise_key_of`] and [`store_linked`] this is [`Self::link`] for a store in
    /// another process.
    pub fn register_device(&self, phone: &str, noise: [u8; 32]) -> (Jid, Jid) {
        let jid = register(&self.shared, phone, noise);
        let lid = self.lid_of(&jid);
        (jid, lid)
    }

    /// The phone of `phone` scans `qr` (the code a client shows while pairing): the server
    /// links the device and tells its connection, as WhatsApp does after a scan.
    pub fn scan(&self, qr: &str, phone: &str) -> Result<(), String> {
        let scan = phone::Scan::read(qr, phone)?;
        let state = self.shared.state();
        let connection = state.pairing.get(&scan.reference).ok_or_else(|| {
            format!("no connection is showing the QR reference {}", scan.reference)
        })?;
        connection.send(Cue::Scanned(scan)).map_err(|_| "that connection is closed".to_owned())
    }

    /// The person types `code` on the phone of `phone` (Settings → Linked devices → Link with
    /// phone number): the server hands it to the device that asked for it.
    pub fn type_code(&self, phone: &str, code: &str) -> Result<(), String> {
        let state = self.shared.state();
        let connection = state
            .phone_codes
            .get(&digits(phone))
            .ok_or_else(|| format!("no device is waiting for a code for {phone}"))?;
        connection
            .send(Cue::CodeTyped(code.to_owned()))
            .map_err(|_| "that connection is closed".into())
    }

    /// The server retires the phone code that the device pairing with `phone` shows.
    pub fn retire_code(&self, phone: &str) -> Result<(), String> {
        let state = self.shared.state();
        let connection = state
            .phone_codes
            .get(&digits(phone))
            .ok_or_else(|| format!("no device is waiting for a code for {phone}"))?;
        connection.send(Cue::RetireCode).map_err(|_| "that connection is closed".into())
    }

    /// New devices are offered this many QR references. With none, the (empty) offer comes
    /// once the device has asked for a phone code: its QR codes are spent from the start.
    pub fn qr_references(&self, count: usize) {
        self.shared.state().qr_references = count;
    }

    /// The devices linked to `phone`.
    pub fn linked_devices(&self, phone: &str) -> Vec<Jid> {
        let user = digits(phone);
        let state = self.shared.state();
        state
            .accounts
            .get(&user)
            .map(|a| a.devices.keys().map(|d| Jid::pn_device(user.clone(), *d)).collect())
            .unwrap_or_default()
    }

    /// Every later login of `phone`'s devices is refused this way, until [`Self::accept_logins`].
    pub fn refuse_logins(&self, phone: &str, refusal: Refusal) {
        self.shared.state().accounts.entry(digits(phone)).or_default().refusal = Some(refusal);
    }

    /// Logins of `phone` are accepted again.
    pub fn accept_logins(&self, phone: &str) {
        self.shared.state().accounts.entry(digits(phone)).or_default().refusal = None;
    }

    /// After a device of `phone` goes active, the end of its offline backlog comes this late.
    pub fn hold_offline_drain(&self, phone: &str, hold: Duration) {
        self.shared.state().accounts.entry(digits(phone)).or_default().offline_hold = hold;
    }

    /// New sockets fail with `error` (the network is down), or work again with `None`.
    pub fn refuse_sockets(&self, error: Option<&str>) {
        self.shared.state().socket_refusal = error.map(str::to_owned);
    }

    /// Ends the streams of `phone`'s live connections with `<stream:error code=…>`; returns
    /// how many there were.
    pub fn stream_error(&self, phone: &str, code: &str) -> usize {
        self.shared.cue(phone, || Cue::StreamError(code.to_owned()))
    }

    /// Another client "logs in" with `phone`'s device: its live connections are ended with
    /// `conflict/replaced`.
    pub fn replace(&self, phone: &str) -> usize {
        self.shared.cue(phone, || Cue::Replaced)
    }

    /// Hangs up `phone`'s live connections without a word.
    pub fn drop_connections(&self, phone: &str) -> usize {
        self.shared.cue(phone, || Cue::Drop)
    }

    /// `phone`'s live connections stop answering but stay open (half-open sockets).
    pub fn go_silent(&self, phone: &str) -> usize {
        self.shared.cue(phone, || Cue::Silence)
    }

    /// Sends `node` on `phone`'s live connections.
    pub fn send(&self, phone: &str, node: Node) -> usize {
        self.shared.cue(phone, || Cue::Send(node.clone()))
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.state().seen.clone()
    }

    /// Waits for the first thing seen, from the start, that `matches`; panics with `what`
    /// after a generous limit so a missing stanza fails the test instead of hanging it.
    pub async fn wait_for(&self, what: &str, matches: impl Fn(&Seen) -> bool) -> Seen {
        self.wait_for_after(0, what, matches).await
    }

    /// Like [`Self::wait_for`], counting only what was seen after the first `skip` things.
    pub async fn wait_for_after(
        &self,
        skip: usize,
        what: &str,
        matches: impl Fn(&Seen) -> bool,
    ) -> Seen {
        let mut count = self.shared.seen_count.subscribe();
        let mut from = skip;
        let wait = async {
            loop {
                {
                    let state = self.shared.state();
                    if let Some(found) =
                        state.seen[from.min(state.seen.len())..].iter().find(|s| matches(s))
                    {
                        return found.clone();
                    }
                    from = state.seen.len().max(skip);
                }
                if count.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        match tokio::time::timeout(WAIT_LIMIT, wait).await {
            Ok(seen) => seen,
            Err(_) => panic!("the WhatsApp double never saw {what}; it saw: {:#?}", self.seen()),
        }
    }

    /// How many things have been seen so far (a mark for [`Self::wait_for_after`]).
    pub fn seen_so_far(&self) -> usize {
        self.shared.state().seen.len()
    }

    fn lid_of(&self, jid: &Jid) -> Jid {
        let mut state = self.shared.state();
        lid_of(&mut state, jid)
    }
}

/// The static Noise key of the device a store holds (what the server knows it by).
pub fn noise_key_of(manager: &PersistenceManager) -> [u8; 32] {
    let device = manager.get_device_snapshot();
    device.noise_key.public_key.public_key_bytes().try_into().expect("X25519 keys are 32 bytes")
}

/// Writes into a store what a client records when WhatsApp links its device as `jid`/`lid`
/// (and a push name, as after the first sync).
pub async fn store_linked(
    manager: &PersistenceManager,
    jid: &Jid,
    lid: &Jid,
) -> Result<(), String> {
    manager.process_command(DeviceCommand::SetId(Some(jid.clone()))).await;
    manager.process_command(DeviceCommand::SetLid(Some(lid.clone()))).await;
    manager.process_command(DeviceCommand::SetPushName("Lifeline test".into())).await;
    manager.flush().await.map_err(|e| e.to_string())
}

/// Links a new device with Noise key `noise` to `phone`; returns its JID.
pub(crate) fn register(shared: &Shared, phone: &str, noise: [u8; 32]) -> Jid {
    let user = digits(phone);
    let mut state = shared.state();
    let account = state.accounts.entry(user.clone()).or_default();
    let device = account.devices.keys().next_back().map_or(1, |d| d + 1);
    account.devices.insert(device, DeviceRecord { noise, prekeys: None });
    Jid::pn_device(user, device)
}

/// The LID of a device (an account's LID is made on first use).
pub(crate) fn lid_of(state: &mut State, jid: &Jid) -> Jid {
    let next = state.next_lid;
    let account = state.accounts.entry(jid.user.to_string()).or_default();
    if account.lid.is_empty() {
        account.lid = next.to_string();
        state.next_lid += 1;
    }
    let account = state.accounts.get(jid.user.as_str()).expect("just made");
    Jid::lid_device(account.lid.clone(), jid.device)
}
