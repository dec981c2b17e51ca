//! One client's event channel: snapshot, then every event in order, heartbeats both ways,
//! resume on request, and a clean close for every way it can end.

use std::{
    future::{Future, poll_fn},
    pin::pin,
    task::Poll,
    time::{Duration, Instant},
};

use app::model::ws::{ClientFrame, Control, close};
use axum::{
    extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket},
    http::HeaderMap,
};
use chrono::Utc;
use tokio::sync::broadcast::error::RecvError;

use crate::events::Ticket;
use crate::{access::revocations::Watch, state::AppState};

/// Why a channel whose credentials went away is closed.
const REVOKED: &str = "the key was revoked or the login ended; log in again";

/// How often (in events delivered) a connection measures its backlog and samples its lag.
const CHECK_EVERY: u64 = 16;

/// How a connection ended, for the close frame and the log.
struct Ending {
    code: u16,
    reason: &'static str,
}

impl Ending {
    const fn new(code: u16, reason: &'static str) -> Ending {
        Ending { code, reason }
    }
}

/// Serves one connection until it ends; the ticket keeps its place in the per-address count.
/// `watch` completes when the credentials the channel was opened with are revoked.
pub async fn serve(
    mut socket: WebSocket,
    state: AppState,
    credentials: HeaderMap,
    _ticket: Ticket,
    watch: Watch,
) {
    state.metrics.ws_clients(1);
    let ending = run(&mut socket, &state, &credentials, &watch).await;
    if let Some(ending) = ending {
        tracing::debug!(code = ending.code, reason = ending.reason, "closing an event channel");
        let frame = CloseFrame { code: ending.code, reason: Utf8Bytes::from_static(ending.reason) };
        let _ = send_within(&mut socket, Message::Close(Some(frame)), state.ws.send_timeout).await;
    }
    state.metrics.ws_clients(-1);
}

/// Runs the channel; `Some` when the server ends it, `None` when the client went away.
/// `credentials` are the headers of the request that opened it that carry credentials.
async fn run(
    socket: &mut WebSocket,
    state: &AppState,
    credentials: &HeaderMap,
    watch: &Watch,
) -> Option<Ending> {
    let limits = &state.ws;
    // A revocation between the request's authentication and the watch taking hold is not
    // seen by the watch; this sees it.
    if state.access.authenticate(credentials).await.is_none() {
        return Some(Ending::new(close::CREDENTIALS_EXPIRED, REVOKED));
    }
    // Subscribing before the snapshot is taken means no event falls between the two.
    let (mut events, _) = state.bus.subscribe();
    let snapshot_seq = state.bus.last_seq();
    if send(
        socket,
        state,
        &Control::Snapshot {
            seq: snapshot_seq,
            sessions: state.supervisor.list(),
            health: state.board.health(),
        },
    )
    .await
    .is_err()
    {
        return None;
    }

    let mut heartbeat = tokio::time::interval(limits.heartbeat);
    heartbeat.tick().await;
    let mut awaiting_pong: Option<Instant> = None;
    let mut delivered: u64 = 0;
    // Made once for the channel's life: made anew on every turn of the loop, each would
    // join and leave its token's list of waiters once per event, and every channel of the
    // server waits on the same shutdown token (as every channel of one login does on its
    // revocation), so each event would have every channel queue for one lock.
    let mut shutdown = pin!(state.shutdown.cancelled());
    let mut revoked = pin!(watch.revoked());
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                return Some(Ending::new(close::GOING_AWAY, "server shutting down"));
            }
            _ = &mut revoked => return Some(Ending::new(close::CREDENTIALS_EXPIRED, REVOKED)),
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Pong(_))) => awaiting_pong = None,
                Some(Ok(Message::Ping(_))) => {} // answered by the WebSocket layer itself
                Some(Ok(Message::Text(text))) if text.len() > limits.max_message => {
                    return Some(Ending::new(close::TOO_BIG, "frame larger than the server accepts"));
                }
                Some(Ok(Message::Text(text))) => {
                    if answer(socket, state, &text, snapshot_seq).await.is_err() {
                        return None;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let error = Control::Error { message: "binary frames are not understood; send JSON text".into() };
                    if send(socket, state, &error).await.is_err() {
                        return None;
                    }
                }
            },
            event = events.recv() => match event {
                Ok(published) => {
                    delivered += 1;
                    // Measuring the backlog takes the channel's lock: every few events is
                    // enough to catch a client that keeps falling behind.
                    if delivered.is_multiple_of(CHECK_EVERY) && events.len() > limits.max_behind {
                        return Some(Ending::new(close::TOO_SLOW, "too far behind the event stream; reconnect and resume"));
                    }
                    // The text made once at publishing, shared: no copy per client.
                    let frame = Message::Text(published.json.clone());
                    match send_within(socket, frame, limits.send_timeout).await {
                        Ok(()) if delivered.is_multiple_of(CHECK_EVERY) => {
                            let lag = (Utc::now() - published.envelope.at).to_std().unwrap_or_default();
                            state.metrics.event_lag(lag);
                        }
                        Ok(()) => {}
                        Err(Unsent::Failed) => return None,
                        Err(Unsent::TimedOut) => return Some(Ending::new(close::TOO_SLOW, "not reading; reconnect and resume")),
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    return Some(Ending::new(close::TOO_SLOW, "too far behind the event stream; reconnect and resume"));
                }
                Err(RecvError::Closed) => return Some(Ending::new(close::GOING_AWAY, "server shutting down")),
            },
            _ = heartbeat.tick() => {
                if awaiting_pong.is_some_and(|sent| sent.elapsed() >= limits.pong_timeout) {
                    return Some(Ending::new(close::HEARTBEAT_MISSED, "no answer to pings"));
                }
                // A login that ended or a key that was revoked ends the channel too.
                if state.access.authenticate(credentials).await.is_none() {
                    return Some(Ending::new(close::CREDENTIALS_EXPIRED, REVOKED));
                }
                if awaiting_pong.is_none() {
                    awaiting_pong = Some(Instant::now());
                }
                if send_within(socket, Message::Ping(Default::default()), limits.send_timeout).await.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Answers one text frame from the client.
async fn answer(
    socket: &mut WebSocket,
    state: &AppState,
    text: &str,
    snapshot_seq: u64,
) -> Result<(), Unsent> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(ClientFrame::Ping) => send(socket, state, &Control::Pong).await,
        Ok(ClientFrame::Resume { after_seq }) => {
            let reply = match state.bus.replay_after(after_seq) {
                Ok(missed) => Control::Replay {
                    events: missed
                        .iter()
                        .filter(|e| e.envelope.seq <= snapshot_seq)
                        .map(|e| e.envelope.clone())
                        .collect(),
                    through: snapshot_seq,
                },
                // Further back than the ring remembers: everything anew.
                Err(_) => Control::Snapshot {
                    seq: state.bus.last_seq(),
                    sessions: state.supervisor.list(),
                    health: state.board.health(),
                },
            };
            send(socket, state, &reply).await
        }
        Err(e) => {
            let message = format!(
                "not understood ({e}); send {{\"type\":\"ping\"}} or {{\"type\":\"resume\",\"after_seq\":N}}"
            );
            send(socket, state, &Control::Error { message }).await
        }
    }
}

fn text(value: &impl serde::Serialize) -> Message {
    Message::Text(serde_json::to_string(value).unwrap_or_default().into())
}

async fn send(socket: &mut WebSocket, state: &AppState, control: &Control) -> Result<(), Unsent> {
    send_within(socket, text(control), state.ws.send_timeout).await
}

/// Why a frame did not go out.
#[derive(Debug)]
enum Unsent {
    /// The connection failed.
    Failed,
    /// It could not leave within the limit: the client is not reading.
    TimedOut,
}

/// Sends `message`, giving up after `limit`. A frame that leaves at once (the socket's
/// buffer has room, as it has for a client that reads) is sent without arming a timer:
/// at every event, every client would otherwise put one in the runtime's timer wheel and
/// take it out again, which costs more than the send.
async fn send_within(
    socket: &mut WebSocket,
    message: Message,
    limit: Duration,
) -> Result<(), Unsent> {
    let mut sending = pin!(socket.send(message));
    let first = poll_fn(|cx| Poll::Ready(sending.as_mut().poll(cx))).await;
    let result = match first {
        Poll::Ready(result) => result,
        Poll::Pending => {
            tokio::time::timeout(limit, sending).await.map_err(|_| Unsent::TimedOut)?
        }
    };
    result.map_err(|_| Unsent::Failed)
}
