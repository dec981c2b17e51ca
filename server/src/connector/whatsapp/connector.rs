//! The `whatsapp` connector: one whatsapp-rust client per connection attempt, its own
//! reconnect turned off (the supervisor owns that policy), its keys in Lifeline's database.

use std::sync::{Arc, atomic::Ordering};

use chrono::Utc;
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
    store::SqlStore,
};
use crate::{
    connector::{ConnectError, ConnectRequest, Connector, Link, Upstream},
    db::Db,
    sealed::SecretKey,
};

/// How long the pair-code request waits for the socket.
const PAIR_CODE_SOCKET_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

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
/// so no run loop outlives its attempt.
struct StopOnDrop(Option<(Arc<Client>, tokio::task::AbortHandle)>);

impl StopOnDrop {
    fn defuse(&mut self) {
        self.0 = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some((client, driver)) = self.0.take() {
            driver.abort();
            tokio::spawn(async move { client.disconnect().await });
        }
    }
}

/// What an event means while an attempt is under way.
#[derive(Debug, PartialEq, Eq)]
enum Meaning {
    /// News for the supervisor (a QR code, a pairing).
    Tell(Upstream),
    /// Why the attempt may end, should it end.
    Note(String),
    /// Logged in: the attempt made a link.
    LoggedIn,
    /// The attempt is over; the error says whether the supervisor may try again (it never
    /// retries a logout, a takeover or a ban).
    Failed(ConnectError),
    /// Nothing Lifeline acts on.
    Nothing,
}

fn during_attempt(signal: Signal) -> Meaning {
    match signal {
        Signal::Qr { code, expires_at } => Meaning::Tell(Upstream::Qr { code, expires_at }),
        Signal::PairCode { code, expires_at } => {
            Meaning::Tell(Upstream::PairCode { code, expires_at })
        }
        Signal::Paired { phone_number } => {
            let credentials = credentials_for(&phone_number);
            Meaning::Tell(Upstream::Paired { phone_number, credentials })
        }
        Signal::LoggedIn => Meaning::LoggedIn,
        Signal::QrExhausted => Meaning::Failed(ConnectError::QrTimeout),
        Signal::LoggedOut { .. } => Meaning::Failed(ConnectError::LoggedOut),
        Signal::Replaced => Meaning::Failed(ConnectError::Replaced),
        Signal::Banned { until, .. } => {
            Meaning::Failed(ConnectError::Banned { until: Some(until) })
        }
        Signal::Dropped { error } | Signal::Failed { error, .. } => Meaning::Note(error),
        Signal::Message { .. } => Meaning::Nothing,
    }
}

/// Asks WhatsApp for a code to type on the phone once the socket is up. The code and any
/// refusal arrive as events; QR pairing goes on meanwhile, and whichever the person uses wins.
fn request_pair_code(client: &Arc<Client>, phone: &str) -> tokio::task::AbortHandle {
    let client = client.clone();
    let options = PairCodeOptions {
        phone_number: phone.chars().filter(char::is_ascii_digit).collect(),
        ..PairCodeOptions::default()
    };
    tokio::spawn(async move {
        if client.wait_for_socket(PAIR_CODE_SOCKET_WAIT).await.is_ok() && !client.is_logged_in() {
            // A refusal is dispatched as an event too, which the attempt notes.
            let _ = client.pair_with_code(options).await;
        }
    })
    .abort_handle()
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

#[async_trait::async_trait]
impl Connector for WhatsApp {
    async fn connect(&self, request: ConnectRequest) -> Result<Arc<dyn Link>, ConnectError> {
        let session_id = request.session_id.as_str();
        let store = Arc::new(SqlStore::new(self.db.clone(), self.key.clone(), session_id));
        if request.credentials.is_some() {
            // A paired session must find its device; without it only a new pairing helps.
            match store.load().await {
                Ok(Some(device)) if device.pn.is_some() => {}
                Ok(_) => return Err(ConnectError::LoggedOut),
                Err(e) => return Err(transient("cannot read this session's keys", e)),
            }
        } else {
            // Every pairing starts from a fresh identity: nothing half-paired lingers.
            SqlStore::wipe(&self.db, session_id)
                .await
                .map_err(|e| transient("cannot reset this session's keys", e))?;
        }
        let persistence = PersistenceManager::new(store)
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

        let mut driver = Running::drive(&client);
        let mut guard = StopOnDrop(Some((client.clone(), driver.abort_handle())));
        let _pair_code = match (&request.pair_phone, &request.credentials) {
            (Some(phone), None) => Some(AbortOnDrop(request_pair_code(&client, phone))),
            _ => None,
        };
        let mut last_error: Option<String> = None;
        let mut relogin = false;
        let step = |event: &Event, last_error: &mut Option<String>, relogin: &mut bool| {
            let Some(signal) = map(event, Utc::now()) else { return Step::Continue };
            match during_attempt(signal) {
                Meaning::Tell(news) => {
                    // Pairing ends with the server closing the socket (515) so the new
                    // device logs in on a fresh one: that close is expected once.
                    *relogin |= matches!(news, Upstream::Paired { .. });
                    request.events.send(news);
                    Step::Continue
                }
                Meaning::Note(error) => {
                    *last_error = Some(error);
                    Step::Continue
                }
                Meaning::LoggedIn => Step::LoggedIn,
                Meaning::Failed(error) => Step::Failed(error),
                Meaning::Nothing => Step::Continue,
            }
        };
        loop {
            let outcome = tokio::select! {
                biased;
                event = events.recv() => match event {
                    Ok(event) => step(&event, &mut last_error, &mut relogin),
                    Err(_) => Step::Failed(ConnectError::Transient("the WhatsApp client stopped".into())),
                },
                _ = &mut driver => {
                    // The run loop ended: what it dispatched on the way out explains why.
                    let mut outcome = Step::Continue;
                    while let Ok(event) = events.try_recv() {
                        outcome = step(&event, &mut last_error, &mut relogin);
                        if !matches!(outcome, Step::Continue) {
                            break;
                        }
                    }
                    match outcome {
                        Step::Continue if relogin => {
                            relogin = false;
                            driver = Running::drive(&client);
                            guard.0 = Some((client.clone(), driver.abort_handle()));
                            continue;
                        }
                        Step::Continue => Step::Failed(ConnectError::Transient(
                            last_error
                                .take()
                                .or_else(|| failure.take())
                                .unwrap_or_else(|| "the connection to WhatsApp closed before login".into()),
                        )),
                        decided => decided,
                    }
                }
            };
            match outcome {
                Step::Continue => {}
                Step::LoggedIn => {
                    guard.defuse();
                    let running = Running { client, events, driver, failure };
                    return Ok(Arc::new(WhatsAppLink::start(running, request.events.clone())));
                }
                Step::Failed(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn an_attempt_ends_for_good_on_logout_takeover_ban_and_unscanned_codes() {
        let until = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let logout = Signal::LoggedOut { reason: "the phone unlinked this device".into() };
        assert_eq!(during_attempt(logout), Meaning::Failed(ConnectError::LoggedOut));
        assert_eq!(during_attempt(Signal::Replaced), Meaning::Failed(ConnectError::Replaced));
        let ban = Signal::Banned { until, reason: "temporarily banned".into() };
        assert_eq!(
            during_attempt(ban),
            Meaning::Failed(ConnectError::Banned { until: Some(until) })
        );
        assert_eq!(during_attempt(Signal::QrExhausted), Meaning::Failed(ConnectError::QrTimeout));
    }

    #[test]
    fn pairing_news_reaches_the_supervisor_and_drops_only_explain_the_end() {
        let qr = Signal::Qr { code: "2@x".into(), expires_at: Utc::now() };
        assert!(matches!(during_attempt(qr), Meaning::Tell(Upstream::Qr { .. })));
        let paired = during_attempt(Signal::Paired { phone_number: "+27821231234".into() });
        assert_eq!(
            paired,
            Meaning::Tell(Upstream::Paired {
                phone_number: "+27821231234".into(),
                credentials: b"whatsapp-store:+27821231234".to_vec(),
            })
        );
        let dropped = Signal::Dropped { error: "disconnected: stream ended".into() };
        assert_eq!(during_attempt(dropped), Meaning::Note("disconnected: stream ended".into()));
        assert_eq!(during_attempt(Signal::LoggedIn), Meaning::LoggedIn);
    }
}
