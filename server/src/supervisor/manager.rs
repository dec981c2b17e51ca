//! The supervisor: owns every session's actor, restores at start, shuts down cleanly, and
//! carries out what operators (dashboard or REST) ask for.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use app::{
    model::{
        Desired, Event, SessionStatus, SessionView,
        api::{ActionResult, CreateSession, SendMessage, SentMessage},
        instances::InstanceView,
        recovery::{Action, RecoveryBudgets, Trigger},
    },
    policy::SupervisorPolicy,
};
use chrono::Utc;
use tokio::{
    sync::{Semaphore, mpsc, watch},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    actor::{self, Deps, Seed, SendFailure, SessionHandle},
    error::SupervisorError,
    forward::{Awaiting, Command, FORGET_AFTER, Outcome},
    journal::{self, Journal, Writer},
    lease_clock::{Due, LeaseClock},
    machine::Input,
    ownership::{InstanceSettings, Ownership},
    remote::Remote,
    restore::{self, RestoreState},
    watchdog::{Recoverer, Watchdog},
};
use crate::{
    connector::{Connector, Connectors, LinkError},
    db::{
        Db, DbError, commands,
        leases::{self, Held, Token},
        sessions::{self, Flag, StoredSession},
    },
    events::{EventBus, relay},
    metrics::Metrics,
    status_board::StatusBoard,
};

/// What the supervisor is built from.
pub struct SupervisorParts {
    /// The database.
    pub db: Db,
    /// Where changes are announced.
    pub bus: EventBus,
    /// Where views and counts are kept.
    pub board: Arc<StatusBoard>,
    /// The policy in effect.
    pub policy: SupervisorPolicy,
    /// The connectors offered.
    pub connectors: Connectors,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Woken when webhook deliveries are queued.
    pub outbox: crate::webhooks::Outbox,
    /// How this instance presents itself to the others sharing the database.
    pub instance: InstanceSettings,
}

struct Inner {
    db: Db,
    ownership: Ownership,
    awaiting: Awaiting,
    deps: Deps,
    connectors: Connectors,
    handles: RwLock<HashMap<String, SessionHandle>>,
    actors: TaskTracker,
    background: TaskTracker,
    cancel: CancellationToken,
    /// Ends the lease renewals and the relay: only after the shutdown handed every session
    /// over, as links still open must stay covered by a live lease to the last.
    membership: CancellationToken,
    restore: watch::Receiver<RestoreState>,
    recoverer: Recoverer,
    watchdog_passes: watch::Receiver<u64>,
    outbox: crate::webhooks::Outbox,
}

/// The supervisor. Cloning shares it.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor").field("sessions", &self.handles().len()).finish()
    }
}

type Result<T, E = SupervisorError> = std::result::Result<T, E>;

impl Supervisor {
    /// Loads every session, corrects rows a crashed run left behind, starts one actor per
    /// session and begins restoring the ones that should run.
    pub async fn start(parts: SupervisorParts) -> Result<Supervisor, DbError> {
        let SupervisorParts { db, bus, board, policy, connectors, metrics, instance, outbox } =
            parts;
        let ownership = Ownership::join(db.clone(), instance).await?;
        let joined = Instant::now();
        let held = ownership.take_at_start().await?;
        let corrected = sessions::correct_unclean(&db, ownership.id(), None, Utc::now()).await?;
        if !corrected.is_empty() {
            tracing::warn!(
                sessions = corrected.len(),
                "the previous run did not shut down cleanly; corrected the sessions it left live"
            );
        }
        let stored = sessions::load_all(&db).await?;

        let (journal, records) = Journal::new();
        let background = TaskTracker::new();
        let (refused_tx, refused) = mpsc::unbounded_channel();
        let writer = Writer {
            db: db.clone(),
            holder: ownership.id().clone(),
            refused: refused_tx,
            outbox: outbox.clone(),
        };
        background.spawn(journal::run_writer(writer, records));
        let policy = Arc::new(policy);
        let deps = Deps {
            handshakes: Arc::new(Semaphore::new(policy.max_concurrent_handshakes.max(1) as usize)),
            policy: policy.clone(),
            bus: bus.clone(),
            board,
            journal,
            metrics,
            holder: ownership.id().clone(),
        };
        let (restore_tx, restore_rx) = watch::channel(RestoreState::default());
        let recoverer = Recoverer {
            log: Arc::new(db.clone()),
            policy: policy.clone(),
            bus: bus.clone(),
            metrics: deps.metrics.clone(),
            clock: Arc::new(Utc::now),
        };
        let watchdog = Watchdog::new(recoverer.clone());
        let supervisor = Supervisor {
            inner: Arc::new(Inner {
                db,
                ownership,
                awaiting: Awaiting::default(),
                outbox: outbox.clone(),
                deps,
                connectors,
                handles: RwLock::default(),
                actors: TaskTracker::new(),
                background,
                cancel: CancellationToken::new(),
                membership: CancellationToken::new(),
                restore: restore_rx.clone(),
                recoverer,
                watchdog_passes: watchdog.passes(),
            }),
        };

        let mut to_restore = Vec::new();
        let holders = supervisor.inner.ownership.holder_names().await;
        for mut session in stored {
            let Some(token) = held.get(&session.view.id).copied() else {
                // Held by another instance: shown, not run.
                session.view.held_by = holders.get(&session.view.id).cloned();
                supervisor.inner.deps.board.upsert(session.view);
                continue;
            };
            let restorable = supervisor.restorable(&session);
            let handle = supervisor.spawn_actor(session, None, token);
            if restorable {
                to_restore.push(handle);
            }
        }
        let inner = &supervisor.inner;
        inner.background.spawn(supervisor.clone().fence_refused(refused));
        if !inner.ownership.exclusive() {
            let cancel = inner.membership.clone();
            inner.background.spawn(supervisor.clone().keep_leases(joined, cancel));
        }
        if let Db::Postgres(pool) = &inner.db {
            let me = inner.ownership.id().clone();
            let bus = inner.deps.bus.clone();
            let cancel = inner.membership.clone();
            inner.background.spawn(relay::send_out(pool.clone(), bus, me.clone(), cancel.clone()));
            inner.background.spawn(relay::receive(
                pool.clone(),
                me,
                Remote(supervisor.clone()),
                cancel,
            ));
        }
        let sessions = supervisor.clone();
        inner.background.spawn(watchdog.run(
            move || sessions.handles(),
            restore_rx,
            inner.cancel.child_token(),
        ));
        inner.background.spawn(restore::run(
            to_restore,
            policy,
            bus,
            restore_tx,
            inner.cancel.child_token(),
        ));
        Ok(supervisor)
    }

    /// Restore acts on sessions that are active, paired, allowed to connect on their own,
    /// meant to run, and whose connector this server offers.
    fn restorable(&self, s: &StoredSession) -> bool {
        s.is_active
            && s.credentials.is_some()
            && s.view.auto_connect
            && s.view.desired == Desired::Running
            && s.view.status != SessionStatus::LoggedOut
            && self.inner.connectors.get(&s.view.connector).is_some()
    }

    fn connector(&self, name: &str) -> Result<Arc<dyn Connector>, String> {
        self.inner
            .connectors
            .get(name)
            .ok_or_else(|| unavailable_hint(name, &self.inner.connectors))
    }

    fn spawn_actor(
        &self,
        mut session: StoredSession,
        pair_phone: Option<String>,
        token: Token,
    ) -> SessionHandle {
        session.view.held_by = self.inner.ownership.shown_name();
        let id = session.view.id.clone();
        self.inner.deps.board.upsert(session.view.clone());
        let seed = Seed {
            connector: self.connector(&session.view.connector),
            view: session.view,
            credentials: session.credentials,
            pair_phone,
            token,
        };
        let handle = actor::spawn(seed, self.inner.deps.clone(), &self.inner.actors);
        self.inner
            .handles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, handle.clone());
        handle
    }

    fn handles(&self) -> Vec<SessionHandle> {
        self.inner
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The handle of session `id`.
    pub fn handle(&self, id: &str) -> Result<SessionHandle> {
        self.inner
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
            .ok_or_else(|| SupervisorError::NotFound(id.to_owned()))
    }

    /// Every session, newest first.
    pub fn list(&self) -> Vec<SessionView> {
        self.inner.deps.board.list()
    }

    /// One session.
    pub fn get(&self, id: &str) -> Result<SessionView> {
        self.inner.deps.board.get(id).ok_or_else(|| SupervisorError::NotFound(id.to_owned()))
    }

    /// The connectors new sessions may use, the one they use by default first.
    pub fn connector_names(&self) -> Vec<&'static str> {
        self.inner.connectors.names()
    }

    /// Counts the watchdog's finished passes.
    pub fn watchdog_passes(&self) -> watch::Receiver<u64> {
        self.inner.watchdog_passes.clone()
    }

    /// Automatic recoveries each session has left this window.
    pub async fn recovery_budgets(&self) -> Result<RecoveryBudgets, DbError> {
        self.inner.recoverer.budgets().await
    }

    /// Where start-up restore got to.
    pub fn restore_state(&self) -> watch::Receiver<RestoreState> {
        self.inner.restore.clone()
    }

    /// The policy in effect.
    pub fn policy(&self) -> &SupervisorPolicy {
        &self.inner.deps.policy
    }

    /// The database, for the reports.
    pub(super) fn db(&self) -> &Db {
        &self.inner.db
    }

    /// What the actors share, for the reports.
    pub(super) fn deps(&self) -> &Deps {
        &self.inner.deps
    }

    /// Creates a session and starts pairing it by QR.
    pub async fn create(&self, request: &CreateSession) -> Result<SessionView> {
        let request = self.checked(request)?;
        let id = uuid::Uuid::new_v4().to_string();
        if let Some((to, name)) = self.inner.ownership.home_for_new().await? {
            let command = Command::Create { request: request.clone() };
            match self.forward(&id, &to, &name, command).await {
                Ok(outcome) => {
                    let view = outcome.view()?;
                    tracing::info!(session = %view.id, instance = %name, "session created on another instance");
                    return Ok(view);
                }
                // Never taken up, so never created there: that instance is as good as gone.
                Err(SupervisorError::HolderSilent { taken: false, .. }) => tracing::warn!(
                    instance = %name,
                    "the least loaded instance did not take the new session up; creating it here"
                ),
                // It does not offer the connector (this one does: it was checked above).
                Err(SupervisorError::Elsewhere(app::error::AppError::ConnectorUnavailable(_))) => {
                    tracing::info!(instance = %name, "the least loaded instance lacks the connector; creating the session here")
                }
                Err(e) => return Err(e),
            }
        }
        self.create_here(id, request).await
    }

    /// `request` made valid, for a connector this instance has.
    fn checked(&self, request: &CreateSession) -> Result<CreateSession> {
        let request = request.validated().map_err(SupervisorError::Invalid)?;
        self.connector(&request.connector).map_err(|hint| {
            SupervisorError::ConnectorUnavailable { name: request.connector.clone(), hint }
        })?;
        Ok(request)
    }

    /// [`Self::create`] on this instance, under id `id`.
    async fn create_here(&self, id: String, request: CreateSession) -> Result<SessionView> {
        // Checked again: a forwarded request comes from another instance, which may run
        // other connectors.
        let request = self.checked(&request)?;
        let view = SessionView::new(id, request.name, request.connector, Utc::now());
        let stored = StoredSession { view, credentials: None, is_active: true };
        let token = self.inner.ownership.create(&stored).await?;
        let handle = self.spawn_actor(stored, request.pair_phone.clone(), token);
        let mut watch = handle.watch();
        handle
            .input(Input::Start, Some("created; pairing by QR code".into()))
            .await
            .map_err(gone)?;
        // Answer with the session as it is once the start has been taken in.
        let view = watch
            .wait_for(|v| v.status != SessionStatus::Disconnected)
            .await
            .map(|v| v.clone())
            .map_err(|_| SupervisorError::ShuttingDown)?;
        tracing::info!(session = %view.id, name = %view.name, connector = %view.connector, "session created");
        Ok(view)
    }

    /// [`Self::reconnect`] of a session this instance runs.
    async fn reconnect_here(&self, id: &str) -> Result<ActionResult> {
        let handle = self.handle(id)?;
        let view = handle.view();
        if !view.paired {
            return Err(SupervisorError::NotPaired(id.to_owned()));
        }
        self.set_desired(&handle, id, Desired::Running).await?;
        // A person's reconnect goes in the recovery log too, outside the budget.
        let (trigger, action) = (Trigger::Manual, Action::Reconnect);
        let at = (self.inner.recoverer.clock)();
        let row = self.inner.recoverer.begin(&handle, trigger, action).await;
        let wait = self.inner.deps.policy.first_attempt_wait();
        let view = handle
            .input_and_settle(
                Input::Reconnect,
                Some("reconnect requested by an operator".into()),
                wait,
            )
            .await
            .map_err(|_| SupervisorError::ShuttingDown)?;
        self.inner.recoverer.end(row, &view, at, trigger, action).await;
        Ok(describe_outcome(&view))
    }

    /// [`Self::start_session`] of a session this instance runs.
    async fn start_here(&self, id: &str) -> Result<SessionView> {
        let handle = self.handle(id)?;
        self.set_desired(&handle, id, Desired::Running).await?;
        handle.input(Input::Start, Some("started by an operator".into())).await.map_err(gone)?;
        Ok(self.settled_view(&handle).await)
    }

    /// [`Self::stop_session`] of a session this instance runs.
    async fn stop_here(&self, id: &str) -> Result<SessionView> {
        let handle = self.handle(id)?;
        self.set_desired(&handle, id, Desired::Stopped).await?;
        handle.input(Input::Stop, Some("stopped by an operator".into())).await.map_err(gone)?;
        Ok(self.settled_view(&handle).await)
    }

    /// [`Self::set_auto_connect`] and [`Self::set_primary`] of a session this instance runs.
    async fn set_flag_here(&self, id: &str, flag: Flag, on: bool) -> Result<SessionView> {
        let handle = self.handle(id)?;
        if !sessions::set_flag(&self.inner.db, id, flag, on, Utc::now()).await? {
            return Err(SupervisorError::NotFound(id.to_owned()));
        }
        handle.set_flag(flag, on).await.map_err(gone)?;
        Ok(self.settled_view(&handle).await)
    }

    /// [`Self::logout`] of a session this instance runs.
    async fn logout_here(&self, id: &str) -> Result<SessionView> {
        let handle = self.handle(id)?;
        handle.logout().await.map_err(gone)?;
        Ok(self.settled_view(&handle).await)
    }

    /// [`Self::delete`] of a session this instance runs.
    async fn delete_here(&self, id: &str) -> Result<()> {
        let handle = self.handle(id)?;
        handle.remove().await;
        self.inner.handles.write().unwrap_or_else(PoisonError::into_inner).remove(id);
        self.inner.deps.board.remove(id);
        let event = crate::webhooks::payload::session_removed(id, Utc::now());
        sessions::delete(&self.inner.db, id, &event).await?;
        self.inner.deps.bus.publish(Event::SessionRemoved { session_id: id.to_owned() });
        tracing::info!(session = %id, "session deleted");
        Ok(())
    }

    /// [`Self::send`] through a session this instance runs.
    async fn send_here(&self, id: &str, message: &SendMessage) -> Result<SentMessage> {
        let message = message.validated().map_err(SupervisorError::Invalid)?;
        let handle = self.handle(id)?;
        let view = handle.view();
        if view.desired == Desired::Stopped {
            return Err(SupervisorError::Stopped(id.to_owned()));
        }
        if !view.paired {
            return Err(SupervisorError::NotPaired(id.to_owned()));
        }
        if view.status != SessionStatus::Connected {
            self.wait_connected(&handle, id).await?;
        }
        match handle.send(message.to.clone(), message.text.clone()).await.map_err(gone)? {
            Ok(message_id) => {
                tracing::info!(session = %id, to = %message.to, "message sent");
                self.announce_sent(id, &message_id, &message).await;
                Ok(SentMessage { id: message_id })
            }
            Err(SendFailure::NotConnected) | Err(SendFailure::Link(LinkError::Closed)) => {
                Err(SupervisorError::Upstream("the link closed before the message was sent".into()))
            }
            Err(SendFailure::Link(LinkError::Refused(why))) => Err(SupervisorError::Upstream(why)),
            Err(SendFailure::Timeout) => {
                Err(SupervisorError::UpstreamTimeout(self.inner.deps.policy.send_timeout.as_secs()))
            }
        }
    }

    /// Queues the `message.sent` webhook of a message that went out. The message is sent
    /// whatever becomes of this: a failure to queue is logged, never the send's answer.
    async fn announce_sent(&self, id: &str, message_id: &str, message: &SendMessage) {
        let event = crate::webhooks::payload::message_sent(
            id,
            message_id,
            &message.to,
            &message.text,
            Utc::now(),
        );
        match crate::db::webhooks::enqueue(&self.inner.db, &event).await {
            Ok(true) => self.inner.outbox.wake(),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "could not queue the message.sent webhook")
            }
        }
    }

    async fn wait_connected(&self, handle: &SessionHandle, id: &str) -> Result<()> {
        let since = Utc::now();
        let mut watch = handle.watch();
        handle
            .input(Input::Start, Some("restoring to send a message".into()))
            .await
            .map_err(gone)?;
        let wait = self.inner.deps.policy.send_wait;
        let outcome = tokio::time::timeout(
            wait,
            watch.wait_for(|v| {
                v.status == SessionStatus::Connected
                    || (v.updated_at >= since
                        && matches!(
                            v.status,
                            SessionStatus::Disconnected | SessionStatus::LoggedOut
                        ))
            }),
        )
        .await;
        let view = match outcome {
            Ok(Ok(view)) => view.clone(),
            Ok(Err(_)) => return Err(SupervisorError::ShuttingDown),
            Err(_) => {
                return Err(SupervisorError::StillRestoring {
                    id: id.to_owned(),
                    status: handle.view().status.to_string(),
                    waited_secs: wait.as_secs(),
                });
            }
        };
        match view.status {
            SessionStatus::Connected => Ok(()),
            SessionStatus::LoggedOut => Err(SupervisorError::NotPaired(id.to_owned())),
            _ => Err(SupervisorError::Upstream(
                view.last_error.unwrap_or_else(|| "the session could not connect".into()),
            )),
        }
    }

    async fn set_desired(&self, handle: &SessionHandle, id: &str, desired: Desired) -> Result<()> {
        if handle.view().desired != desired {
            if !sessions::set_desired(&self.inner.db, id, desired, Utc::now()).await? {
                return Err(SupervisorError::NotFound(id.to_owned()));
            }
            handle.set_desired(desired).await.map_err(gone)?;
        }
        Ok(())
    }

    /// The view once the actor has taken in every command sent before this call.
    async fn settled_view(&self, handle: &SessionHandle) -> SessionView {
        let _ = handle.sync().await;
        handle.view()
    }

    /// Connects anew (dropping any current link) and waits for the first outcome.
    pub async fn reconnect(&self, id: &str) -> Result<ActionResult> {
        self.act(id, Command::Reconnect).await?.action()
    }

    /// Starts a session (pairing by QR if it has no credentials) and keeps it running.
    pub async fn start_session(&self, id: &str) -> Result<SessionView> {
        self.act(id, Command::Start).await?.view()
    }

    /// Stops a session and keeps it stopped until started again.
    pub async fn stop_session(&self, id: &str) -> Result<SessionView> {
        self.act(id, Command::Stop).await?.view()
    }

    /// Allows or forbids connecting without a person (restore and recovery).
    pub async fn set_auto_connect(&self, id: &str, on: bool) -> Result<SessionView> {
        self.act(id, Command::SetAutoConnect { on }).await?.view()
    }

    /// Marks a session as one that matters most (or no longer): while any is marked, the
    /// health status speaks for the marked ones only.
    pub async fn set_primary(&self, id: &str, on: bool) -> Result<SessionView> {
        self.act(id, Command::SetPrimary { on }).await?.view()
    }

    /// Logs a session out upstream and forgets its credentials.
    pub async fn logout(&self, id: &str) -> Result<SessionView> {
        self.act(id, Command::Logout).await?.view()
    }

    /// Deletes a session: its link is closed, its row and history removed.
    pub async fn delete(&self, id: &str) -> Result<()> {
        self.act(id, Command::Delete).await?.done()
    }

    /// Sends a text. A session that should be connected but is not is restored first, and
    /// the send waits (bounded by the policy's `send_wait`) for it to connect.
    pub async fn send(&self, id: &str, message: &SendMessage) -> Result<SentMessage> {
        let message = message.validated().map_err(SupervisorError::Invalid)?;
        self.act(id, Command::Send { message }).await?.sent()
    }

    /// Carries out `command` on session `id` here, where it runs (or, on SQLite, must).
    pub(super) async fn carry_out(&self, id: &str, command: Command) -> Result<Outcome> {
        Ok(match command {
            Command::Reconnect => Outcome::Action(self.reconnect_here(id).await?),
            Command::Start => Outcome::View(self.start_here(id).await?),
            Command::Stop => Outcome::View(self.stop_here(id).await?),
            Command::SetAutoConnect { on } => {
                Outcome::View(self.set_flag_here(id, Flag::AutoConnect, on).await?)
            }
            Command::SetPrimary { on } => {
                Outcome::View(self.set_flag_here(id, Flag::Primary, on).await?)
            }
            Command::Logout => Outcome::View(self.logout_here(id).await?),
            Command::Delete => {
                self.delete_here(id).await?;
                Outcome::Done
            }
            Command::Send { message } => Outcome::Sent(self.send_here(id, &message).await?),
            Command::Create { request } => {
                Outcome::View(self.create_here(id.to_owned(), request).await?)
            }
        })
    }

    /// This instance's id (random per process start): what its claims in the database
    /// name.
    pub fn instance_id(&self) -> Arc<str> {
        self.inner.ownership.id().clone()
    }

    /// This instance's place among those sharing the database.
    pub(super) fn ownership(&self) -> &Ownership {
        &self.inner.ownership
    }

    /// Forwarded actions waiting for their holder's reply.
    pub(super) fn awaiting(&self) -> &Awaiting {
        &self.inner.awaiting
    }

    /// Whether session `id` has a link whose transport says it is up.
    pub fn socket_alive(&self, id: &str) -> bool {
        self.handle(id).is_ok_and(|h| h.link_alive())
    }

    /// Fences each session whose writes the database refused.
    async fn fence_refused(self, mut refused: mpsc::UnboundedReceiver<String>) {
        while let Some(id) = refused.recv().await {
            self.fence(&id).await;
        }
    }

    /// Drops session `id`'s link at once and forgets its actor: this instance may have lost
    /// the session to another.
    async fn fence(&self, id: &str) {
        let handle = self.inner.handles.write().unwrap_or_else(PoisonError::into_inner).remove(id);
        if let Some(handle) = handle {
            handle.fence(self.inner.ownership.settings().timing.fence_close()).await;
        }
    }

    async fn fence_all(&self) {
        let ids: Vec<String> = self.handles().iter().map(|h| h.view().id).collect();
        let mut fencing = tokio::task::JoinSet::new();
        for id in ids {
            let supervisor = self.clone();
            fencing.spawn(async move { supervisor.fence(&id).await });
        }
        fencing.join_all().await;
    }

    /// On a shared database: renews this instance's leases in time, fences every session
    /// it may have lost before another instance can be granted it, and claims its share of
    /// the sessions nobody holds (those of a dead instance once their leases ran out).
    async fn keep_leases(self, since: Instant, cancel: CancellationToken) {
        let ownership = &self.inner.ownership;
        let mut clock = LeaseClock::new(ownership.settings().timing, since);
        clock.renewed(since);
        loop {
            match clock.due(Instant::now()) {
                Due::Fence => {
                    tracing::error!(
                        sessions = self.handles().len(),
                        "cannot renew the session leases in time: closing every link, so that \
                         no number is ever held by two instances; they come back once the \
                         database answers"
                    );
                    self.fence_all().await;
                    clock.fenced();
                }
                Due::Renew => {
                    let began = Instant::now();
                    let fence_at = clock.fence_at();
                    let renewed = tokio::select! {
                        renewed = ownership.renew() => renewed,
                        // Still waiting at the fence: the next round fences.
                        () = sleep_until(fence_at) => continue,
                        () = cancel.cancelled() => return,
                    };
                    match renewed {
                        Ok(held) => {
                            clock.renewed(began);
                            self.settle(held).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "renewing the session leases failed; retrying");
                            clock.failed(Instant::now());
                        }
                    }
                }
                Due::Wait(at) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = cancel.cancelled() => return,
                },
            }
        }
    }

    /// After a renewal: fences the sessions run here whose lease is gone or granted anew,
    /// then claims and runs this instance's share of the free ones.
    async fn settle(&self, held: Vec<Held>) {
        let held: HashMap<String, Token> =
            held.into_iter().map(|h| (h.session_id, h.token)).collect();
        for handle in self.handles() {
            let id = handle.view().id;
            if held.get(&id) == Some(&handle.token()) {
                continue;
            }
            // Created here while the renewal ran, perhaps: asked again before letting go.
            let me = self.inner.ownership.id();
            match leases::token_of(&self.inner.db, &id, me).await {
                Ok(Some(token)) if token == handle.token() => {}
                Ok(_) => {
                    tracing::warn!(session = %id, "this instance no longer holds the session");
                    self.fence(&id).await;
                }
                // Unknown: safer to let go; the session comes back through placement.
                Err(e) => {
                    tracing::warn!(session = %id, error = %e, "could not check a lease; letting go");
                    self.fence(&id).await;
                }
            }
        }
        if self.inner.cancel.is_cancelled() {
            // Shutting down: keep what is held covered, take nothing new.
            return;
        }
        if let Err(e) = commands::forget_older_than(&self.inner.db, FORGET_AFTER).await {
            tracing::warn!(error = %e, "could not remove old forwarded actions");
        }
        if let Err(e) = leases::forget_silent(&self.inner.db, FORGET_AFTER).await {
            tracing::warn!(error = %e, "could not remove long-dead instances");
        }
        let count = u32::try_from(self.handles().len()).unwrap_or(u32::MAX);
        let round = match self.inner.ownership.round(count).await {
            Ok(round) => round,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim free sessions");
                return;
            }
        };
        let mut taken_over = Vec::new();
        for (id, token) in round.granted {
            taken_over.extend(self.adopt(&id, token).await);
        }
        if !taken_over.is_empty() {
            let (policy, cancel) =
                (self.inner.deps.policy.clone(), self.inner.cancel.child_token());
            self.inner.background.spawn(restore::take_over(taken_over, policy, cancel));
        }
        for moving in round.moving_away {
            self.hand_on(&moving.session_id, None, "an operator moved it").await;
        }
        // The newest sessions go first: they have the least to lose.
        let mut mine: Vec<SessionView> = self.handles().iter().map(SessionHandle::view).collect();
        mine.sort_by_key(|v| std::cmp::Reverse(v.created_at));
        for view in mine.into_iter().take(round.shed as usize) {
            let why = if round.to.is_some() { "spreading the load" } else { "draining" };
            self.hand_on(&view.id, round.to.as_deref(), why).await;
        }
    }

    /// Closes session `id`'s link, stores its last state and gives its lease up, to
    /// instance `to` when named: a handover without waiting for the lease to run out.
    async fn hand_on(&self, id: &str, to: Option<&str>, why: &str) {
        let handle = self.inner.handles.write().unwrap_or_else(PoisonError::into_inner).remove(id);
        let Some(handle) = handle else { return };
        handle.hand_over().await;
        self.inner.deps.journal.flush().await;
        match self.inner.ownership.hand_on(id, handle.token(), to).await {
            Ok(()) => tracing::info!(session = %id, reason = why, "handed the session on"),
            Err(e) => tracing::warn!(
                session = %id,
                error = %e,
                "could not hand the session on; another instance takes it once its lease runs out"
            ),
        }
    }

    /// The instances sharing the database, with their load.
    pub async fn instances(&self) -> Result<Vec<InstanceView>> {
        Ok(self.inner.ownership.instances().await?)
    }

    /// Drains the instance called `name` (it hands every session over and takes none), or
    /// puts it back in service.
    pub async fn set_draining(&self, name: &str, draining: bool) -> Result<()> {
        if self.inner.ownership.exclusive() {
            return Err(SupervisorError::Invalid(
                "only instances sharing a PostgreSQL database can be drained".into(),
            ));
        }
        if !self.inner.ownership.set_draining(name, draining).await? {
            return Err(SupervisorError::NoInstance(name.to_owned()));
        }
        Ok(())
    }

    /// Asks for session `id` to move to the instance called `instance`; its holder hands it
    /// over at its next renewal.
    pub async fn move_session(&self, id: &str, instance: &str) -> Result<()> {
        if self.deps().board.get(id).is_none() {
            return Err(SupervisorError::NotFound(id.to_owned()));
        }
        if self.inner.ownership.exclusive() {
            return Err(SupervisorError::Invalid(
                "only instances sharing a PostgreSQL database can move sessions".into(),
            ));
        }
        if !self.inner.ownership.move_session(id, instance).await? {
            return Err(SupervisorError::NoInstance(instance.to_owned()));
        }
        Ok(())
    }

    /// Runs a session this instance was just granted; returns it when it should be
    /// restored.
    async fn adopt(&self, id: &str, token: Token) -> Option<SessionHandle> {
        let (db, me) = (&self.inner.db, self.inner.ownership.id());
        if let Err(e) = sessions::correct_unclean(db, me, Some(id), Utc::now()).await {
            tracing::warn!(session = %id, error = %e, "could not correct the session's stale row");
        }
        let session = match sessions::load(db, id).await {
            Ok(Some(session)) => session,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "could not load a session taken over");
                return None;
            }
        };
        let restorable = self.restorable(&session);
        let handle = self.spawn_actor(session, None, token);
        tracing::info!(session = %id, "took the session over");
        restorable.then_some(handle)
    }

    /// Waits until every session change so far is stored.
    pub async fn flush_journal(&self) {
        self.inner.deps.journal.flush().await;
    }

    /// Stops restore, closes every link, stores `disconnected / server_shutdown` for each
    /// live session (desired state kept, so the next start restores them) and waits until
    /// all of it is written.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let handles = self.handles();
        tracing::info!(sessions = handles.len(), "closing every session");
        let mut closing = tokio::task::JoinSet::new();
        for handle in handles {
            closing.spawn(async move { handle.shutdown().await });
        }
        closing.join_all().await;
        self.inner.actors.close();
        self.inner.actors.wait().await;
        self.inner.deps.journal.flush().await;
        tracing::info!("every session closed and stored");
        // Only now: another instance may take the sessions over at once.
        self.inner.ownership.leave().await;
        self.inner.membership.cancel();
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn gone(_: actor::Gone) -> SupervisorError {
    SupervisorError::ShuttingDown
}

fn unavailable_hint(name: &str, connectors: &Connectors) -> String {
    let offered = connectors.names();
    match name {
        "simulator" => "start the server with --simulator or --demo to use it".into(),
        "whatsapp" => "set LIFELINE_SECRET_KEY (`lifeline gen-key` prints one) and restart \
                       Lifeline: WhatsApp keys are stored encrypted with it"
            .into(),
        _ if offered.is_empty() => {
            "this server offers no connector (start it with --simulator to try one)".into()
        }
        _ => format!("offered: {}", offered.join(", ")),
    }
}

/// The answer to a reconnect: what came of the first attempt.
fn describe_outcome(view: &SessionView) -> ActionResult {
    let error = view.last_error.as_deref().unwrap_or("unknown error");
    let (success, message) = match view.status {
        SessionStatus::Connected => (true, "connected".to_owned()),
        SessionStatus::Connecting => (false, "still connecting; watch the session's status".into()),
        SessionStatus::Reconnecting => (
            false,
            match view.next_retry_at {
                Some(at) => {
                    format!("attempt failed: {error}; retrying at {}", at.format("%H:%M:%S UTC"))
                }
                None => format!("attempt failed: {error}"),
            },
        ),
        SessionStatus::QrPending => (false, "waiting for a QR scan".into()),
        SessionStatus::LoggedOut => {
            (false, "logged out: start the session and scan a new QR code".into())
        }
        SessionStatus::Disconnected => (
            false,
            format!(
                "not connected ({}): {error}",
                view.reason.map_or("disconnected", |r| r.label())
            ),
        ),
    };
    ActionResult { success, message }
}
