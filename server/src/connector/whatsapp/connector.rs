//! The `whatsapp` connector: one whatsapp-rust client per connection attempt, its own
//! reconnect turned off (the supervisor owns that policy), its keys in Lifeline's database.

use std::sync::{Arc, atomic::Ordering};

use chrono::{DateTime, Utc};
use whatsapp_rust::{
    Client, TokioRuntime,
    http::{HttpClient, UreqHttpClient},
    pair_code::PairCodeOptions,
    store::persistence_manager::PersistenceManager,
    transport::{TokioWebSocketTransportFactory, TransportFactory},
    wacore::{
        store::traits::DeviceStore,
        types::events::{ChannelEventHandler, Event},
    },
};

use super::{
    link::{Running, WhatsAppLink},
    mapping::{Signal, map},
    observed::{LastFailure, ObservedHttp, ObservedTransport},
    saver::DeviceSaver,
    store::SqlStore,
};
use crate::{
    connector::{ConnectError, ConnectRequest, Connector, Link, Refusal, ShownCode, Upstream},
    db::Db,
    secret_key::SecretKey,
};

/// How long the pair-code request waits for the socket.
const PAIR_CODE_SOCKET_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a failed attempt waits for its client to stop before reporting.
const STOP_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);
/// How often one attempt follows WhatsApp's requests to start over before it gives up.
const MAX_RESTARTS: u32 = 3;

/// How the connector reaches WhatsApp: the real WebSocket and HTTPS by default; tests put a
/// failing transport here.
#[derive(Clone)]
pub struct Reach {
    /// Opens the WebSocket.
    pub transport: Arc<dyn TransportFactory>,
    /// Looks up the current WhatsApp Web version (and would fetch media).
    pub http: Arc<dyn HttpClient>,
    /// A fixed client version instead of looking it up.
    pub version: Option<(u32, u32, u32)>,
}

impl Default for Reach {
    fn default() -> Reach {
        Reach {
            transport: Arc::new(TokioWebSocketTransportFactory::new()),
            http: Arc::new(UreqHttpClient::new()),
            version: None,
        }
    }
}

impl std::fmt::Debug for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reach").field("version", &self.version).finish_non_exhaustive()
    }
}

/// Links sessions to WhatsApp as companion devices.
pub struct WhatsApp {
    db: Db,
    key: SecretKey,
    reach: Reach,
}

impl WhatsApp {
    /// A connector keeping keys in `db`, sealed with `key`.
    pub fn new(db: Db, key: SecretKey, reach: Reach) -> WhatsApp {
        WhatsApp { db, key, reach }
    }
}

/// What a paired session's `credentials` hold: the keys themselves live in the session's
/// key store, so the row only records which device it is.
fn credentials_for(phone_number: &str) -> Vec<u8> {
    format!("whatsapp-store:{phone_number}").into_bytes()
}

fn transient(what: &str, error: impl std::fmt::Display) -> ConnectError {
    ConnectError::Transient(format!("{what}: {error}"))
}

/// Stops a client whose attempt was abandoned (the supervisor dropped it, or it failed),
/// so no run loop outlives its attempt, and closes its key store first: what the supervisor
/// does next (a new attempt, wiping the keys) must not be written over by a client still
/// winding down.
struct StopOnDrop {
    store: Arc<SqlStore>,
    running: Option<(Arc<Client>, tokio::task::AbortHandle)>,
}

impl StopOnDrop {
    fn defuse(&mut self) {
        self.running = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some((client, driver)) = self.running.take() {
            self.store.retire_now();
            driver.abort();
            tokio::spawn(async move { client.disconnect().await });
        }
    }
}

/// What an event means while an attempt is under way.
#[derive(Debug, PartialEq, Eq)]
enum Meaning {
    /// News for the supervisor (a QR code, a phone code, a problem while pairing).
    Tell(Upstream),
    /// The phone linked this device: stored first, then told.
    Paired(String),
    /// The upstream accepted the login; the client's start-up sync follows.
    Authenticated,
    /// The upstream asked for a fresh login on a new socket.
    Restart,
    /// Why the attempt may end, should it end.
    Note(String),
    /// Logged in and live: the attempt made a link.
    LoggedIn,
    /// The QR codes ran out while a phone code is still valid: pairing goes on until it
    /// expires.
    QrSpent,
    /// The phone code on show is dead: ask for another.
    NewPairCode,
    /// The attempt is over; the error says whether the supervisor may try again (it never
    /// retries a logout, a takeover, a ban or a final refusal).
    Failed(ConnectError),
    /// Nothing Lifeline acts on.
    Nothing,
}

/// What the person pairing is told when the phone read the code but cannot link with it.
const SCANNED_WITHOUT_MULTIDEVICE: &str = "The phone read the QR code but cannot link devices: \
    update WhatsApp on the phone, then scan again (Settings → Linked devices).";

/// What an operator is told when WhatsApp no longer accepts this version.
pub(super) const OUTDATED: &str = "WhatsApp no longer accepts this client version (405): update Lifeline \
    to a newer release, then press Reconnect.";

fn during_attempt(signal: Signal) -> Meaning {
    match signal {
        Signal::Qr(code) => Meaning::Tell(Upstream::Qr(code)),
        Signal::PairCode(code) => Meaning::Tell(Upstream::PairCode(code)),
        Signal::PairCodeRefresh => Meaning::NewPairCode,
        Signal::ScannedWithoutMultidevice => {
            Meaning::Tell(Upstream::PairingProblem { message: SCANNED_WITHOUT_MULTIDEVICE.into() })
        }
        Signal::Paired { phone_number } => Meaning::Paired(phone_number),
        Signal::Authenticated => Meaning::Authenticated,
        Signal::Restart => Meaning::Restart,
        Signal::LoggedIn => Meaning::LoggedIn,
        Signal::QrExhausted { pair_code_pending: true } => Meaning::QrSpent,
        Signal::QrExhausted { pair_code_pending: false } => {
            Meaning::Failed(ConnectError::QrTimeout)
        }
        Signal::LoggedOut { .. } => Meaning::Failed(ConnectError::LoggedOut),
        Signal::Replaced => Meaning::Failed(ConnectError::Replaced),
        Signal::Banned { until, .. } => Meaning::Failed(ConnectError::Banned { until }),
        Signal::Outdated => Meaning::Failed(ConnectError::Refused {
            refusal: Refusal::ClientOutdated,
            error: OUTDATED.into(),
        }),
        Signal::Failed { error, retry: false } => {
            Meaning::Failed(ConnectError::Refused { refusal: Refusal::Other, error })
        }
        Signal::Dropped { error } | Signal::Failed { error, retry: true } => Meaning::Note(error),
        Signal::Message { .. } => Meaning::Nothing,
    }
}

/// Asks WhatsApp for a code to type on the phone once the socket is up. The code and any
/// refusal arrive as events; QR pairing goes on meanwhile, and whichever the person uses wins.
fn request_pair_code(client: &Arc<Client>, phone: &str) -> AbortOnDrop {
    let client = client.clone();
    let options = PairCodeOptions {
        phone_number: phone.chars().filter(char::is_ascii_digit).collect(),
        ..PairCodeOptions::default()
    };
    let task = tokio::spawn(async move {
        if client.wait_for_socket(PAIR_CODE_SOCKET_WAIT).await.is_ok() && !client.is_logged_in() {
            // A refusal is dispatched as an event too, which the attempt notes.
            let _ = client.pair_with_code(options).await;
        }
    });
    AbortOnDrop(task.abort_handle())
}

/// Aborts a helper task when the attempt ends.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where an attempt stands after one event.
enum Step {
    Continue,
    LoggedIn,
    Failed(ConnectError),
}

/// One attempt under way: the client, what it has said so far, and what the supervisor is
/// told.
struct Attempt<'a> {
    client: Arc<Client>,
    request: &'a ConnectRequest,
    /// Writes the device record; what follows a pairing or a login relies on it.
    saver: &'a DeviceSaver,
    /// Pairing ends with the server closing the socket (515) so the new device logs in on
    /// a fresh one, and WhatsApp may ask any login to start over the same way: the run loop
    /// is started again, a few times at most.
    relogin: bool,
    restarts: u32,
    last_error: Option<String>,
    pair_code: Option<AbortOnDrop>,
    /// When the phone code on show stops being valid.
    pair_code_until: Option<DateTime<Utc>>,
    /// The QR codes are spent; only the phone code keeps pairing alive.
    qr_spent: bool,
}

impl Attempt<'_> {
    async fn on(&mut self, event: &Event) -> Step {
        let Some(signal) = map(event, Utc::now()) else { return Step::Continue };
        match during_attempt(signal) {
            Meaning::Tell(news) => {
                if let Upstream::PairCode(ShownCode { expires_at, .. }) = &news {
                    self.pair_code_until = Some(*expires_at);
                }
                self.request.events.send(news);
            }
            Meaning::Paired(phone_number) => {
                self.restarts = 0;
                // Stored before Lifeline records the pairing: a session whose row says
                // paired must find its device after any crash.
                if let Err(e) = self.saver.save_now().await {
                    return Step::Failed(transient("cannot store the newly linked device", e));
                }
                self.relogin = true;
                let credentials = credentials_for(&phone_number);
                self.request.events.send(Upstream::Paired { phone_number, credentials });
            }
            Meaning::Authenticated => self.request.progress.authenticated(),
            Meaning::Restart => {
                self.restarts += 1;
                self.relogin = self.restarts <= MAX_RESTARTS;
            }
            Meaning::Note(error) => self.last_error = Some(error),
            Meaning::LoggedIn => {
                // The login counter, LID and server key the login changed.
                if let Err(e) = self.saver.save_now().await {
                    tracing::warn!(session = %self.request.session_id, error = %e, "cannot store the device after login");
                }
                return Step::LoggedIn;
            }
            Meaning::QrSpent => self.qr_spent = true,
            Meaning::NewPairCode => {
                if let Some(phone) = &self.request.pair_phone {
                    self.pair_code = Some(request_pair_code(&self.client, phone));
                }
            }
            Meaning::Failed(error) => return Step::Failed(error),
            Meaning::Nothing => {}
        }
        Step::Continue
    }

    /// Resolves when pairing has nothing left to wait for: the QR codes are spent and the
    /// phone code has expired.
    async fn pairing_over(&self) {
        match pairing_left(self.qr_spent, self.pair_code_until, Utc::now()) {
            Some(left) => tokio::time::sleep(left).await,
            None => std::future::pending().await,
        }
    }
}

/// How long pairing may still wait: no limit while QR codes are up (the client rotates
/// them and says when they run out); once they are spent, until the phone code on show
/// expires (nothing, without one).
fn pairing_left(
    qr_spent: bool,
    pair_code_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<std::time::Duration> {
    if !qr_spent {
        return None;
    }
    let until = pair_code_until.unwrap_or(now);
    Some((until - now).to_std().unwrap_or_default())
}

#[async_trait::async_trait]
impl Connector for WhatsApp {
    async fn connect(&self, request: ConnectRequest) -> Result<Arc<dyn Link>, ConnectError> {
        let session_id = request.session_id.as_str();
        let fence = request.fence.clone();
        let store = Arc::new(SqlStore::fenced(
            self.db.clone(),
            self.key.clone(),
            session_id,
            fence.clone(),
        ));
        if request.credentials.is_some() {
            // A paired session must find its device; without it only a new pairing helps.
            match store.load().await {
                Ok(Some(device)) if device.pn.is_some() => {}
                Ok(_) => return Err(ConnectError::LoggedOut),
                Err(e) => return Err(transient("cannot read this session's keys", e)),
            }
        } else {
            // Every pairing starts from a fresh identity: nothing half-paired lingers.
            SqlStore::wipe(&self.db, session_id, Some(&fence))
                .await
                .map_err(|e| transient("cannot reset this session's keys", e))?;
        }
        let persistence = PersistenceManager::new(store.clone())
            .await
            .map_err(|e| transient("cannot open this session's keys", e))?;
        let failure = LastFailure::default();
        let mut builder = Client::builder()
            .with_runtime(TokioRuntime)
            .with_persistence_manager(Arc::new(persistence))
            .with_transport_factory(ObservedTransport {
                inner: self.reach.transport.clone(),
                failure: failure.clone(),
            })
            .with_http_client(ObservedHttp {
                inner: self.reach.http.clone(),
                failure: failure.clone(),
            })
            // Lifeline keeps sessions alive; it does not archive chats.
            .with_skip_history_sync(true);
        if let Some(version) = self.reach.version {
            builder = builder.with_version_override(version);
        }
        let client = builder
            .build()
            .await
            .map_err(|e| transient("cannot start the WhatsApp client", e))?
            .into_client();
        client.enable_auto_reconnect.store(false, Ordering::SeqCst);
        let (handler, events) = ChannelEventHandler::new();
        client.subscribe_handler(handler).detach();

        // The stanzas the client tells no event for (its acceptance of the login, a request
        // to start over) are read off the raw ones, for as long as the client lives.
        let raw = client.acquire_raw_node_forwarding();
        let saver = DeviceSaver::start(client.persistence_manager());
        let mut attempt = Attempt {
            client: client.clone(),
            request: &request,
            saver: &saver,
            relogin: false,
            restarts: 0,
            last_error: None,
            pair_code: None,
            pair_code_until: None,
            qr_spent: false,
        };
        let mut driver = Running::drive(&client);
        let mut guard = StopOnDrop {
            store: store.clone(),
            running: Some((client.clone(), driver.abort_handle())),
        };
        if let (Some(phone), None) = (&request.pair_phone, &request.credentials) {
            attempt.pair_code = Some(request_pair_code(&client, phone));
        }
        loop {
            let outcome = tokio::select! {
                biased;
                event = events.recv() => match event {
                    Ok(event) => attempt.on(&event).await,
                    Err(_) => Step::Failed(ConnectError::Transient("the WhatsApp client stopped".into())),
                },
                _ = &mut driver => {
                    // The run loop ended: what it dispatched on the way out explains why.
                    let mut outcome = Step::Continue;
                    while let Ok(event) = events.try_recv() {
                        outcome = attempt.on(&event).await;
                        if !matches!(outcome, Step::Continue) {
                            break;
                        }
                    }
                    match outcome {
                        Step::Continue if attempt.relogin => {
                            attempt.relogin = false;
                            driver = Running::drive(&client);
                            guard.running = Some((client.clone(), driver.abort_handle()));
                            continue;
                        }
                        Step::Continue => Step::Failed(ConnectError::Transient(
                            attempt.last_error
                                .take()
                                .or_else(|| failure.take())
                                .unwrap_or_else(|| "the connection to WhatsApp closed before login".into()),
                        )),
                        decided => decided,
                    }
                }
                _ = attempt.pairing_over() => Step::Failed(ConnectError::QrTimeout),
            };
            match outcome {
                Step::Continue => {}
                Step::LoggedIn => {
                    guard.defuse();
                    drop(attempt);
                    let running = Running { client, events, driver, failure, raw, saver, store };
                    return Ok(Arc::new(WhatsAppLink::start(running, request.events.clone())));
                }
                Step::Failed(error) => {
                    // Stopped before the failure is told: the supervisor may wipe the keys
                    // next (a logout), and a client still shutting down would write its
                    // device back behind that.
                    guard.defuse();
                    driver.abort();
                    drop(attempt);
                    drop(saver);
                    if tokio::time::timeout(STOP_BUDGET, client.disconnect()).await.is_err() {
                        tracing::warn!(session = %session_id, "the WhatsApp client took long to stop");
                    }
                    // Whatever it still does in the background reaches the keys no more.
                    store.retire().await;
                    return Err(error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn an_attempt_ends_for_good_on_logout_takeover_ban_refusal_and_unscanned_codes() {
        let until = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let logout = Signal::LoggedOut { reason: "the phone unlinked this device".into() };
        assert_eq!(during_attempt(logout), Meaning::Failed(ConnectError::LoggedOut));
        assert_eq!(during_attempt(Signal::Replaced), Meaning::Failed(ConnectError::Replaced));
        for until in [Some(until), None] {
            let ban = Signal::Banned { until, reason: "banned".into() };
            assert_eq!(during_attempt(ban), Meaning::Failed(ConnectError::Banned { until }));
        }
        let spent = Signal::QrExhausted { pair_code_pending: false };
        assert_eq!(during_attempt(spent), Meaning::Failed(ConnectError::QrTimeout));
        let Meaning::Failed(ConnectError::Refused { refusal, error }) =
            during_attempt(Signal::Outdated)
        else {
            panic!("an outdated client was not refused for good")
        };
        assert_eq!(refusal, Refusal::ClientOutdated);
        assert!(error.contains("update Lifeline"), "{error}");
        let final_refusal =
            Signal::Failed { error: "WhatsApp refused (BadUserAgent)".into(), retry: false };
        assert_eq!(
            during_attempt(final_refusal),
            Meaning::Failed(ConnectError::Refused {
                refusal: Refusal::Other,
                error: "WhatsApp refused (BadUserAgent)".into()
            })
        );
    }

    #[test]
    fn spent_qr_codes_end_pairing_when_the_phone_code_expires() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let code_until = Some(now + chrono::Duration::seconds(95));
        assert_eq!(pairing_left(false, code_until, now), None, "the QR codes still run");
        assert_eq!(pairing_left(true, code_until, now), Some(std::time::Duration::from_secs(95)));
        assert_eq!(pairing_left(true, None, now), Some(std::time::Duration::ZERO));
        let expired = Some(now - chrono::Duration::seconds(5));
        assert_eq!(pairing_left(true, expired, now), Some(std::time::Duration::ZERO));
    }

    #[test]
    fn retryable_failures_and_drops_only_explain_the_end() {
        let dropped = Signal::Dropped { error: "disconnected: stream ended".into() };
        assert_eq!(during_attempt(dropped), Meaning::Note("disconnected: stream ended".into()));
        let busy = Signal::Failed { error: "service unavailable".into(), retry: true };
        assert_eq!(during_attempt(busy), Meaning::Note("service unavailable".into()));
    }

    #[test]
    fn pairing_news_reaches_the_supervisor_and_a_live_phone_code_outlasts_the_qr_codes() {
        let qr = Signal::Qr(ShownCode { code: "2@x".into(), expires_at: Utc::now() });
        assert!(matches!(during_attempt(qr), Meaning::Tell(Upstream::Qr(_))));
        let paired = during_attempt(Signal::Paired { phone_number: "+27821231234".into() });
        assert_eq!(paired, Meaning::Paired("+27821231234".into()));
        assert_eq!(credentials_for("+27821231234"), b"whatsapp-store:+27821231234".to_vec());
        assert_eq!(
            during_attempt(Signal::QrExhausted { pair_code_pending: true }),
            Meaning::QrSpent
        );
        assert_eq!(during_attempt(Signal::PairCodeRefresh), Meaning::NewPairCode);
        assert!(matches!(
            during_attempt(Signal::ScannedWithoutMultidevice),
            Meaning::Tell(Upstream::PairingProblem { .. })
        ));
        assert_eq!(during_attempt(Signal::Authenticated), Meaning::Authenticated);
        assert_eq!(during_attempt(Signal::LoggedIn), Meaning::LoggedIn);
    }
}
