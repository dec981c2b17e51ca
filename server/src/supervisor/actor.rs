//! One task per session: carries out what the state machine decides.
//!
//! The actor owns the session's link, timers and credentials. Everything reaches it as a
//! message (commands from the [`SessionHandle`], news from the connector, results of
//! connection attempts), so there is never a race between, say, a drop and a stop. It
//! never blocks on the network: attempts and sends run in tasks of their own.

use std::{sync::Arc, time::Duration};

use app::{
    model::{Desired, Event, SessionStatus, SessionView},
    policy::SupervisorPolicy,
};
use chrono::{DateTime, Utc};
use tokio::{
    sync::{Semaphore, mpsc, oneshot, watch},
    task::AbortHandle,
    time::Instant,
};

use super::{
    journal::{Entry, Journal},
    machine::{Action, Ctx, Input, State, transition},
};
use crate::{
    connector::{
        ConnectError, ConnectRequest, Connector, Ending, EventSink, Link, LinkError, Progress,
        Report, ShownCode, Upstream,
    },
    db::{
        leases::{Fence, Token},
        sessions::Flag,
    },
    events::EventBus,
    metrics::Metrics,
    status_board::StatusBoard,
    webhooks::payload::{self, Outgoing},
};

/// Arrival times of messages are stored at most this often per session.
const MESSAGE_WRITE_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// What every actor shares.
#[derive(Clone)]
pub struct Deps {
    /// The policy in effect.
    pub policy: Arc<SupervisorPolicy>,
    /// Where changes are announced.
    pub bus: EventBus,
    /// Where views and counts are kept.
    pub board: Arc<StatusBoard>,
    /// Where changes are stored.
    pub journal: Journal,
    /// Bounds handshakes in flight across all sessions.
    pub handshakes: Arc<Semaphore>,
    /// Counts attempts.
    pub metrics: Arc<Metrics>,
    /// This instance's id: with a session's token, the lease its writes are made under.
    pub holder: Arc<str>,
}

/// What an actor starts from: the stored session.
pub struct Seed {
    /// The session as stored.
    pub view: SessionView,
    /// Its credentials.
    pub credentials: Option<Vec<u8>>,
    /// Its connector, or why there is none.
    pub connector: Result<Arc<dyn Connector>, String>,
    /// The phone's number, when pairing may also go by a code typed on the phone.
    pub pair_phone: Option<String>,
    /// The lease this instance holds the session under: every write carries it.
    pub token: Token,
}

/// Why a send through the actor failed.
#[derive(Debug, PartialEq, Eq)]
pub enum SendFailure {
    /// No live link at the moment of sending.
    NotConnected,
    /// The upstream failed or refused.
    Link(LinkError),
    /// The upstream did not answer within the policy's send timeout.
    Timeout,
}

enum Command {
    Input(Input, Option<String>),
    SetDesired(Desired),
    SetFlag(Flag, bool),
    Logout(oneshot::Sender<()>),
    Send {
        to: String,
        text: String,
        reply: oneshot::Sender<Result<String, SendFailure>>,
    },
    Probe(oneshot::Sender<Result<Duration, SendFailure>>),
    Sync(oneshot::Sender<()>),
    /// Close as the input (a shutdown or a handover) says, then end.
    Shutdown(Input, oneshot::Sender<()>),
    Remove(oneshot::Sender<()>),
    Fence(Duration, oneshot::Sender<()>),
}

/// The session is gone (deleted, or the server is shutting down).
#[derive(Debug, PartialEq, Eq)]
pub struct Gone;

/// A cheap, cloneable handle to one session's actor.
#[derive(Clone)]
pub struct SessionHandle {
    tx: mpsc::Sender<Command>,
    view: watch::Receiver<SessionView>,
    link: watch::Receiver<Option<Arc<dyn Link>>>,
    token: Token,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle").field("id", &self.view.borrow().id).finish()
    }
}

impl SessionHandle {
    /// The lease this instance holds the session under.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The session as of its last change.
    pub fn view(&self) -> SessionView {
        self.view.borrow().clone()
    }

    /// A receiver that sees every change of the session's view.
    pub fn watch(&self) -> watch::Receiver<SessionView> {
        self.view.clone()
    }

    async fn command(&self, command: Command) -> Result<(), Gone> {
        self.tx.send(command).await.map_err(|_| Gone)
    }

    /// Feeds an input to the state machine (`detail` goes to the history).
    pub async fn input(&self, input: Input, detail: Option<String>) -> Result<(), Gone> {
        self.command(Command::Input(input, detail)).await
    }

    /// Records the operator's desired state on the view.
    pub async fn set_desired(&self, desired: Desired) -> Result<(), Gone> {
        self.command(Command::SetDesired(desired)).await
    }

    /// Records one of the session's flags on the view.
    pub async fn set_flag(&self, flag: Flag, on: bool) -> Result<(), Gone> {
        self.command(Command::SetFlag(flag, on)).await
    }

    /// Logs the session out upstream (best effort) and forgets its credentials.
    pub async fn logout(&self) -> Result<(), Gone> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Logout(tx)).await?;
        rx.await.map_err(|_| Gone)
    }

    /// Feeds `input` and waits, at most `wait`, for the attempt it starts to leave
    /// `connecting`: the view it settled in, or the view as it stands when the wait ran out.
    pub async fn input_and_settle(
        &self,
        input: Input,
        detail: Option<String>,
        wait: Duration,
    ) -> Result<SessionView, Gone> {
        let since = Utc::now();
        let mut watch = self.watch();
        self.input(input, detail).await?;
        let settled = tokio::time::timeout(
            wait,
            watch.wait_for(|v| v.updated_at >= since && v.status != SessionStatus::Connecting),
        )
        .await
        // Owned at once: the watch's guard must not be held across an await.
        .map(|seen| seen.map(|v| v.clone()));
        match settled {
            Ok(Ok(view)) => Ok(view),
            Ok(Err(_)) => Err(Gone),
            Err(_) => Ok(self.view()),
        }
    }

    /// Sends a text over the live link.
    pub async fn send(
        &self,
        to: String,
        text: String,
    ) -> Result<Result<String, SendFailure>, Gone> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Send { to, text, reply }).await?;
        rx.await.map_err(|_| Gone)
    }

    /// A round trip over the live link.
    pub async fn probe(&self) -> Result<Result<Duration, SendFailure>, Gone> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Probe(tx)).await?;
        rx.await.map_err(|_| Gone)
    }

    /// Whether the session has a link whose transport says it is up (read without asking
    /// the actor, so a deep health report over thousands of sessions stays cheap).
    pub fn link_alive(&self) -> bool {
        self.link.borrow().as_ref().is_some_and(|l| l.is_alive())
    }

    /// Resolves once the actor has taken in every command sent before this one.
    pub async fn sync(&self) -> Result<(), Gone> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Sync(tx)).await?;
        rx.await.map_err(|_| Gone)
    }

    /// Closes the link, stores `disconnected / server_shutdown` if it was live, and ends the
    /// actor; resolves once it has.
    pub async fn shutdown(&self) {
        self.close_as(Input::Shutdown).await;
    }

    /// [`Self::shutdown`] for a handover to another instance: stores
    /// `disconnected / handed_over`.
    pub async fn hand_over(&self) {
        self.close_as(Input::HandOver).await;
    }

    async fn close_as(&self, input: Input) {
        let (tx, rx) = oneshot::channel();
        if self.command(Command::Shutdown(input, tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Closes the link and ends the actor without storing anything (the row is deleted).
    pub async fn remove(&self) {
        let (tx, rx) = oneshot::channel();
        if self.command(Command::Remove(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// This instance may no longer hold the session: the link is dropped within `budget`
    /// (however far a polite close got) and the actor ends without storing anything, as
    /// another instance may own the session's rows by now.
    pub async fn fence(&self, budget: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.command(Command::Fence(budget, tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

type AttemptResult = Result<Arc<dyn Link>, ConnectError>;

struct Actor {
    deps: Deps,
    connector: Result<Arc<dyn Connector>, String>,
    state: State,
    view: SessionView,
    credentials: Option<Vec<u8>>,
    pair_phone: Option<String>,
    token: Token,
    link: Option<Arc<dyn Link>>,
    /// Bumped with every attempt and every close: news tagged with an older number is stale.
    generation: u64,
    attempt: Option<AbortHandle>,
    retry_at: Option<Instant>,
    stable_at: Option<Instant>,
    last_message_written: Option<DateTime<Utc>>,
    view_tx: watch::Sender<SessionView>,
    link_tx: watch::Sender<Option<Arc<dyn Link>>>,
    reports_tx: mpsc::UnboundedSender<(u64, Report)>,
}

/// Starts the actor of one session.
pub fn spawn(seed: Seed, deps: Deps, tasks: &tokio_util::task::TaskTracker) -> SessionHandle {
    let (tx, rx) = mpsc::channel(64);
    let (view_tx, view_rx) = watch::channel(seed.view.clone());
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let (link_tx, link_rx) = watch::channel(None);
    let token = seed.token;
    let mut state = State::new(seed.view.status, seed.credentials.is_some());
    state.reason = seed.view.reason;
    state.last_error = seed.view.last_error.clone();
    state.attempt = seed.view.attempt;
    state.last_connected_at = seed.view.last_connected_at;
    let actor = Actor {
        deps,
        connector: seed.connector,
        state,
        view: seed.view,
        credentials: seed.credentials,
        pair_phone: seed.pair_phone,
        token: seed.token,
        link: None,
        generation: 0,
        attempt: None,
        retry_at: None,
        stable_at: None,
        last_message_written: None,
        view_tx,
        link_tx,
        reports_tx,
    };
    tasks.spawn(actor.run(rx, reports_rx));
    SessionHandle { tx, view: view_rx, link: link_rx, token }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut reports: mpsc::UnboundedReceiver<(u64, Report)>,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => {
                        if !self.handle(command).await {
                            break;
                        }
                    }
                    // Every handle is gone: nobody can reach this session any more.
                    None => break,
                },
                Some((generation, report)) = reports.recv() => match report {
                    Report::Upstream(news) if generation == self.generation => {
                        self.upstream(news).await
                    }
                    Report::Upstream(_) => {}
                    Report::Finished(result) if generation == self.generation => {
                        self.attempt = None;
                        self.attempt_done(result).await;
                    }
                    Report::Finished(result) => {
                        if let Ok(link) = result {
                            // An abandoned attempt came up after all: it must not linger.
                            close(link, self.deps.policy.close_timeout).await;
                        }
                    }
                },
                _ = sleep_until(self.retry_at) => {
                    self.retry_at = None;
                    self.apply(Input::RetryDue, None).await;
                }
                _ = sleep_until(self.stable_at) => {
                    self.stable_at = None;
                    self.apply(Input::Stable, None).await;
                }
            }
        }
        self.abandon().await;
    }

    /// Handles one command; `false` ends the actor.
    async fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Input(input, detail) => self.apply(input, detail).await,
            Command::SetDesired(desired) => {
                self.view.desired = desired;
                self.announce();
            }
            Command::SetFlag(flag, on) => {
                match flag {
                    Flag::AutoConnect => self.view.auto_connect = on,
                    Flag::Primary => self.view.primary = on,
                }
                self.announce();
            }
            Command::Logout(reply) => {
                if let Some(link) = self.link.clone() {
                    // Best effort: a dead link cannot unlink, but the credentials go anyway.
                    let budget = self.deps.policy.close_timeout;
                    match tokio::time::timeout(budget, link.logout()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(session = %self.view.id, error = %e, "upstream logout failed")
                        }
                        Err(_) => {
                            tracing::warn!(session = %self.view.id, "upstream logout timed out")
                        }
                    }
                }
                self.apply(
                    Input::Ended(Ending::LoggedOut),
                    Some("logged out by an operator".into()),
                )
                .await;
                let _ = reply.send(());
            }
            Command::Send { to, text, reply } => match self.live_link() {
                Some(link) => {
                    let timeout = self.deps.policy.send_timeout;
                    let metrics = self.deps.metrics.clone();
                    tokio::spawn(async move {
                        let result =
                            match tokio::time::timeout(timeout, link.send_text(&to, &text)).await {
                                Ok(r) => r.map_err(SendFailure::Link),
                                Err(_) => Err(SendFailure::Timeout),
                            };
                        if result.is_ok() {
                            metrics.message_sent();
                        }
                        let _ = reply.send(result);
                    });
                }
                None => {
                    let _ = reply.send(Err(SendFailure::NotConnected));
                }
            },
            Command::Probe(reply) => match self.live_link() {
                Some(link) => {
                    // One deadline for the whole probe: the link's own round trip and the
                    // wait for it.
                    let within = self.deps.policy.probe_timeout;
                    tokio::spawn(async move {
                        let result = match tokio::time::timeout(within, link.probe(within)).await {
                            Ok(r) => r.map_err(SendFailure::Link),
                            Err(_) => Err(SendFailure::Timeout),
                        };
                        let _ = reply.send(result);
                    });
                }
                None => {
                    let _ = reply.send(Err(SendFailure::NotConnected));
                }
            },
            Command::Sync(reply) => {
                let _ = reply.send(());
            }
            Command::Shutdown(input, reply) => {
                self.apply(input, None).await;
                self.abandon().await;
                let _ = reply.send(());
                return false;
            }
            Command::Remove(reply) => {
                self.abandon().await;
                let _ = reply.send(());
                return false;
            }
            Command::Fence(budget, reply) => {
                tracing::warn!(
                    session = %self.view.id,
                    "closing the session's link: this instance may no longer hold it"
                );
                self.retry_at = None;
                self.close_link_within(budget).await;
                let _ = reply.send(());
                return false;
            }
        }
        true
    }

    fn live_link(&self) -> Option<Arc<dyn Link>> {
        (self.state.status == SessionStatus::Connected).then(|| self.link.clone()).flatten()
    }

    async fn attempt_done(&mut self, result: AttemptResult) {
        let input = match result {
            Ok(link) => {
                self.link_tx.send_replace(Some(link.clone()));
                self.link = Some(link);
                Input::AttemptSucceeded
            }
            Err(ConnectError::Transient(error)) => Input::AttemptFailed { error },
            Err(ConnectError::LoggedOut) => Input::Ended(Ending::LoggedOut),
            Err(ConnectError::Replaced) => Input::Ended(Ending::Replaced),
            Err(ConnectError::Banned { until }) => Input::Ended(Ending::Banned { until }),
            Err(ConnectError::QrTimeout) => Input::QrExhausted,
            Err(ConnectError::Refused { refusal, error }) => {
                Input::Ended(Ending::Refused { refusal, error })
            }
        };
        self.apply(input, None).await;
        if self.state.status != SessionStatus::Connected {
            // The machine did not take the link (it was stopped meanwhile, say).
            if let Some(link) = self.link.take() {
                self.link_tx.send_replace(None);
                close(link, self.deps.policy.close_timeout).await;
            }
        }
    }

    async fn upstream(&mut self, news: Upstream) {
        match news {
            Upstream::Qr(ShownCode { code, expires_at }) => {
                self.apply(Input::QrShown, None).await;
                let session_id = self.view.id.clone();
                self.webhook(payload::session_qr(&session_id, &code, expires_at, Utc::now())).await;
                self.deps.bus.publish(Event::Qr { session_id, code, expires_at });
            }
            Upstream::PairCode(ShownCode { code, expires_at }) => {
                self.apply(Input::QrShown, None).await;
                let session_id = self.view.id.clone();
                let event = payload::session_pair_code(&session_id, &code, expires_at, Utc::now());
                self.webhook(event).await;
                self.deps.bus.publish(Event::PairCode { session_id, code, expires_at });
            }
            Upstream::Paired { phone_number, credentials } => {
                let at = Utc::now();
                self.credentials = Some(credentials.clone());
                self.view.phone_number = Some(phone_number.clone());
                // Written through, not behind: a pairing lost to a crash means a person has
                // to scan a QR code again.
                let entry = Entry::Credentials {
                    session_id: self.view.id.clone(),
                    phone_number: Some(phone_number),
                    credentials: Some(credentials),
                    at,
                };
                self.deps.journal.store(self.token, entry).await;
                self.apply(Input::Paired, Some("paired by QR code".into())).await;
            }
            Upstream::Ended(ending) => {
                let detail = match ending {
                    Ending::Restart => Some("WhatsApp asked for a fresh login".into()),
                    Ending::LoggedOut => Some("the phone unlinked this session".into()),
                    _ => None,
                };
                self.apply(Input::Ended(ending), detail).await
            }
            Upstream::PairingProblem { message } => {
                // Shown with the pairing, which goes on: the person can act on it.
                tracing::warn!(session = %self.view.id, problem = %message, "pairing problem");
                self.state.last_error = Some(message);
                self.announce();
            }
            Upstream::Message { at, received } => {
                self.deps.metrics.message_received();
                for message in &received {
                    self.webhook(payload::message_received(&self.view.id, message)).await;
                }
                self.view.last_message_at = Some(at);
                self.show();
                let due = self.last_message_written.is_none_or(|t| at - t >= MESSAGE_WRITE_EVERY);
                if due {
                    self.last_message_written = Some(at);
                    let session_id = self.view.id.clone();
                    self.deps
                        .journal
                        .record(self.token, Entry::LastMessage { session_id, at })
                        .await;
                }
            }
        }
    }

    /// Queues a webhook event in order with the session's stored changes.
    async fn webhook(&self, event: Outgoing) {
        let entry = Entry::Webhook { session_id: self.view.id.clone(), event };
        self.deps.journal.record(self.token, entry).await;
    }

    /// Runs `input` through the machine, carries out the actions, stores and announces.
    async fn apply(&mut self, input: Input, detail: Option<String>) {
        let ctx = Ctx { now: Utc::now(), policy: &self.deps.policy, jitter: rand::random() };
        let step = transition(&self.state, &input, ctx);
        if step.state == self.state && step.actions.is_empty() {
            return;
        }
        let before = self.state.clone();
        self.state = step.state;
        for action in step.actions {
            self.perform(action).await;
        }
        if self.state != before {
            self.changed(&before, detail).await;
        }
    }

    async fn perform(&mut self, action: Action) {
        match action {
            Action::Connect => self.connect(),
            Action::CloseLink => self.close_link().await,
            Action::WipeCredentials => {
                self.credentials = None;
                let entry = Entry::Credentials {
                    session_id: self.view.id.clone(),
                    phone_number: None,
                    credentials: None,
                    at: Utc::now(),
                };
                // Written through: dead credentials must not outlive a crash.
                self.deps.journal.store(self.token, entry).await;
            }
            Action::ArmRetry(after) => self.retry_at = Some(Instant::now() + after),
            Action::CancelRetry => self.retry_at = None,
            Action::ArmStable(after) => self.stable_at = Some(Instant::now() + after),
        }
    }

    fn connect(&mut self) {
        self.deps.metrics.connect_attempt(self.state.schedule);
        self.generation += 1;
        let sink = EventSink::new(self.generation, self.reports_tx.clone());
        let connector = match &self.connector {
            Ok(connector) => connector.clone(),
            Err(why) => {
                sink.finish(Err(ConnectError::Transient(why.clone())));
                return;
            }
        };
        let (progress, authenticated) = Progress::new();
        let request = ConnectRequest {
            session_id: self.view.id.clone(),
            credentials: self.credentials.clone(),
            pair_phone: self.pair_phone.clone(),
            events: sink.clone(),
            progress,
            fence: Fence { holder: self.deps.holder.clone(), token: self.token },
        };
        let handshakes = self.deps.handshakes.clone();
        let (handshake, login) =
            (self.deps.policy.handshake_timeout, self.deps.policy.login_timeout);
        let task = tokio::spawn(async move {
            let result = if request.credentials.is_some() {
                // Only logins count against the bound: pairing waits minutes for a person.
                let Ok(permit) = handshakes.acquire_owned().await else {
                    sink.finish(Err(ConnectError::Transient("the server is shutting down".into())));
                    return;
                };
                within_budgets(connector.connect(request), authenticated, permit, handshake, login)
                    .await
            } else {
                connector.connect(request).await
            };
            sink.finish(result);
        });
        self.attempt = Some(task.abort_handle());
    }

    async fn close_link(&mut self) {
        self.close_link_within(self.deps.policy.close_timeout).await;
    }

    async fn close_link_within(&mut self, budget: Duration) {
        // Whatever was in flight belongs to the past now.
        self.generation += 1;
        self.stable_at = None;
        if let Some(attempt) = self.attempt.take() {
            attempt.abort();
        }
        if let Some(link) = self.link.take() {
            self.link_tx.send_replace(None);
            close(link, budget).await;
        }
    }

    /// Ends everything the actor started, for good.
    async fn abandon(&mut self) {
        self.retry_at = None;
        self.close_link().await;
    }

    /// Refreshes the view from the state and shows it (board and watchers).
    fn show(&mut self) {
        self.refresh_view();
        self.publish_view();
    }

    /// Brings the view up to the state, without showing it to anyone yet.
    fn refresh_view(&mut self) {
        let s = &self.state;
        let v = &mut self.view;
        v.status = s.status;
        v.reason = s.reason;
        v.last_error = s.last_error.clone();
        v.attempt = s.attempt;
        v.next_retry_at = s.next_retry_at;
        v.last_connected_at = s.last_connected_at;
        v.paired = s.has_credentials;
    }

    /// Shows the view to the board and to whoever watches this session.
    fn publish_view(&mut self) {
        self.deps.board.upsert(self.view.clone());
        self.view_tx.send_replace(self.view.clone());
    }

    /// Shows and announces an operator's change that is not a state transition.
    fn announce(&mut self) {
        self.view.updated_at = Utc::now();
        self.show();
        self.deps.bus.publish(Event::SessionStatus { session: self.view.clone() });
    }

    async fn changed(&mut self, before: &State, detail: Option<String>) {
        self.view.updated_at = Utc::now();
        self.refresh_view();
        let transition = before.status != self.state.status || before.reason != self.state.reason;
        let detail = detail.or_else(|| {
            (transition && self.state.last_error != before.last_error)
                .then(|| self.state.last_error.clone())
                .flatten()
        });
        let entry = Entry::State {
            view: self.view.clone(),
            from: before.status,
            transition,
            detail: detail.clone(),
        };
        self.deps.journal.record(self.token, entry).await;
        // Shown only once journalled: whoever sees this state and then flushes the journal
        // (the session's history) finds the change in it.
        self.publish_view();
        if transition {
            tracing::info!(
                session = %self.view.id,
                from = %before.status,
                to = %self.state.status,
                reason = self.state.reason.map(|r| r.as_str()),
                attempt = self.state.attempt,
                detail = detail.as_deref(),
                "session {}",
                self.state.status,
            );
            self.deps.bus.publish(Event::SessionStatus { session: self.view.clone() });
        }
    }
}

async fn close(link: Arc<dyn Link>, budget: Duration) {
    if tokio::time::timeout(budget, link.close()).await.is_err() {
        tracing::warn!("closing a link took longer than {} s; dropping it", budget.as_secs());
    }
}

/// Runs one login attempt within its two budgets: `handshake` until the upstream accepts
/// the login, then `login` until the session is live. The handshake permit is given back
/// at the line, so a long sync does not hold up other sessions' handshakes.
async fn within_budgets(
    attempt: impl std::future::Future<Output = Result<Arc<dyn Link>, ConnectError>>,
    mut authenticated: watch::Receiver<bool>,
    permit: tokio::sync::OwnedSemaphorePermit,
    handshake: Duration,
    login: Duration,
) -> Result<Arc<dyn Link>, ConnectError> {
    tokio::pin!(attempt);
    let accepted = async {
        // A connector that never says so keeps the handshake budget for the whole attempt.
        if authenticated.wait_for(|a| *a).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let first = tokio::time::timeout(handshake, async {
        tokio::select! {
            result = &mut attempt => Some(result),
            () = accepted => None,
        }
    })
    .await;
    match first {
        Ok(Some(result)) => result,
        Err(_) => Err(ConnectError::Transient(format!(
            "no answer within {} s (handshake timeout)",
            handshake.as_secs()
        ))),
        Ok(None) => {
            drop(permit);
            tokio::time::timeout(login, attempt).await.unwrap_or_else(|_| {
                Err(ConnectError::Transient(format!(
                    "logged in, but not live within {} s (login timeout)",
                    login.as_secs()
                )))
            })
        }
    }
}
