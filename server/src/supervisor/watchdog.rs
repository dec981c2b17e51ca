//! The auto-recovery watchdog: on the policy's interval it looks at every session that
//! should be live, probes the silent ones, and recovers what it finds wrong, within a
//! budget of automatic recoveries per session per hour that the recovery log keeps (so a
//! restart does not reset it). It holds off until start-up restore has finished, so the two
//! never act on one session at once.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use app::{
    model::{
        Event,
        recovery::{Action, Outcome, Recovery, RecoveryBudgets, Trigger},
    },
    policy::SupervisorPolicy,
};
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    actor::SessionHandle,
    machine::Input,
    recovery::{Finding, inspect, outcome_of},
    restore::RestoreState,
};
use crate::{
    db::{
        Db, DbError,
        recoveries::{self, NewRecovery},
    },
    events::EventBus,
    metrics::Metrics,
    webhooks::payload::{self, Outgoing},
};

/// Where recoveries are written and the budget is read.
#[async_trait::async_trait]
pub trait RecoveryLog: Send + Sync + 'static {
    /// Automatic recoveries per session since `since`.
    async fn automatic_since(&self, since: DateTime<Utc>) -> Result<HashMap<String, u32>, DbError>;
    /// Records a recovery's start; returns its id.
    async fn start(&self, recovery: NewRecovery<'_>) -> Result<i64, DbError>;
    /// Records how it went.
    async fn finish(
        &self,
        id: i64,
        outcome: Outcome,
        error: Option<&str>,
        event: &Outgoing,
    ) -> Result<(), DbError>;
}

#[async_trait::async_trait]
impl RecoveryLog for Db {
    async fn automatic_since(&self, since: DateTime<Utc>) -> Result<HashMap<String, u32>, DbError> {
        recoveries::automatic_since(self, since).await
    }

    async fn start(&self, recovery: NewRecovery<'_>) -> Result<i64, DbError> {
        recoveries::start(self, recovery).await
    }

    async fn finish(
        &self,
        id: i64,
        outcome: Outcome,
        error: Option<&str>,
        event: &Outgoing,
    ) -> Result<(), DbError> {
        recoveries::finish(self, id, outcome, error, event).await
    }
}

/// The wall clock the watchdog reads (tests drive it with paused time).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// What a recovery needs, whoever starts it.
#[derive(Clone)]
pub struct Recoverer {
    /// Where attempts are written.
    pub log: Arc<dyn RecoveryLog>,
    /// The policy in effect.
    pub policy: Arc<SupervisorPolicy>,
    /// Where attempts are announced.
    pub bus: EventBus,
    /// Counts attempts.
    pub metrics: Arc<Metrics>,
    /// The time.
    pub clock: Clock,
}

impl Recoverer {
    /// How many automatic recoveries `session_id` has left in the current window.
    pub async fn budget_left(&self, session_id: &str) -> Result<u32, DbError> {
        Ok(self.budgets().await?.left(session_id))
    }

    /// What each session has left of its budget, from the automatic recoveries inside the
    /// window.
    pub async fn budgets(&self) -> Result<RecoveryBudgets, DbError> {
        let window = chrono::Duration::from_std(self.policy.recovery_window).unwrap_or_default();
        let used = self.log.automatic_since((self.clock)() - window).await?;
        Ok(RecoveryBudgets::new(self.policy.recovery_budget, used))
    }

    /// Records the start of a recovery of `handle`'s session, counted against its budget
    /// when automatic; `None` when it could not be written (the attempt goes ahead: a
    /// database hiccup must not keep a session down).
    pub async fn begin(
        &self,
        handle: &SessionHandle,
        trigger: Trigger,
        action: Action,
    ) -> Option<i64> {
        let id = handle.view().id;
        self.metrics.recovery(trigger);
        tracing::info!(session = %id, trigger = trigger.as_str(), action = action.as_str(), "recovery");
        let recovery = NewRecovery { session_id: &id, at: (self.clock)(), trigger, action };
        match self.log.start(recovery).await {
            Ok(row) => Some(row),
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "could not write the recovery log");
                None
            }
        }
    }

    /// Records and announces how a recovery that began at `at` ended, from the view the
    /// session settled in.
    pub async fn end(
        &self,
        row: Option<i64>,
        view: &app::model::SessionView,
        at: DateTime<Utc>,
        trigger: Trigger,
        action: Action,
    ) {
        let (outcome, error) = outcome_of(view);
        // The row counts against the budget from its start, so the budget is known now.
        let budget_left = self.budget_left(&view.id).await.unwrap_or(0);
        let recovery = Recovery {
            at,
            session_id: view.id.clone(),
            trigger,
            action,
            outcome,
            error,
            budget_left,
        };
        let event = payload::recovery(&recovery, (self.clock)());
        if let Some(row) = row
            && let Err(e) = self.log.finish(row, outcome, recovery.error.as_deref(), &event).await
        {
            tracing::warn!(session = %view.id, error = %e, "could not write the recovery's outcome");
        }
        tracing::info!(session = %view.id, outcome = outcome.as_str(), budget_left, "recovery ended");
        self.bus.publish(Event::Recovery { recovery });
    }

    /// Acts on the session and waits (at most a handshake and a little more) for the
    /// first outcome; the record and the event say how it went.
    pub async fn recover(&self, handle: &SessionHandle, trigger: Trigger, action: Action) {
        let at = (self.clock)();
        let row = self.begin(handle, trigger, action).await;
        let input = match action {
            Action::Reconnect => Input::Reconnect,
            Action::Start => Input::Start,
        };
        let detail = Some(format!("watchdog: {}", trigger.label()));
        let wait = self.policy.first_attempt_wait();
        let Ok(view) = handle.input_and_settle(input, detail, wait).await else { return };
        self.end(row, &view, at, trigger, action).await;
    }
}

/// The watchdog's loop and what it remembers between passes.
pub struct Watchdog {
    recoverer: Recoverer,
    /// When a probe last got an answer, per session.
    heard: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
    passes: watch::Sender<u64>,
}

impl Watchdog {
    /// A watchdog that recovers through `recoverer`.
    pub fn new(recoverer: Recoverer) -> Watchdog {
        Watchdog { recoverer, heard: Arc::default(), passes: watch::channel(0).0 }
    }

    /// Counts finished passes (each one's probes and recoveries included), for whoever
    /// wants to wait for the watchdog rather than for time.
    pub fn passes(&self) -> watch::Receiver<u64> {
        self.passes.subscribe()
    }

    /// Runs until `cancel` fires: first waits for restore to finish, then passes over
    /// `sessions()` on the policy's interval.
    pub async fn run(
        self,
        sessions: impl Fn() -> Vec<SessionHandle> + Send + 'static,
        mut restore: watch::Receiver<RestoreState>,
        cancel: CancellationToken,
    ) {
        tokio::select! {
            // A restore that ended without saying so (its sender gone) also lets us start.
            _ = restore.wait_for(|r| r.finished) => {}
            () = cancel.cancelled() => return,
        }
        let every = self.recoverer.policy.watchdog_every;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.pass(&sessions()).await,
                () = cancel.cancelled() => break,
            }
        }
    }

    /// One look at every session; waits for what it started.
    pub async fn pass(&self, sessions: &[SessionHandle]) {
        let budgets = match self.recoverer.budgets().await {
            Ok(budgets) => budgets,
            Err(e) => {
                // Without the log the budget cannot be kept: better to wait a pass.
                tracing::warn!(error = %e, "watchdog: cannot read the recovery log; skipping a pass");
                return;
            }
        };
        let now = (self.recoverer.clock)();
        let round = TaskTracker::new();
        for handle in sessions {
            let view = handle.view();
            let heard =
                self.heard.lock().unwrap_or_else(PoisonError::into_inner).get(&view.id).copied();
            let policy = &self.recoverer.policy;
            let Some(finding) = inspect(&view, handle.link_alive(), heard, now, policy) else {
                continue;
            };
            if budgets.left(&view.id) == 0 {
                tracing::debug!(session = %view.id, ?finding, "watchdog: recovery budget spent; a person must act");
                continue;
            }
            let (recoverer, handle, heard) =
                (self.recoverer.clone(), handle.clone(), self.heard.clone());
            // Each session's probe or recovery runs beside the others'.
            round.spawn(async move {
                let id = handle.view().id;
                let needed = finding != Finding::Silent || !probe(&recoverer, &handle).await;
                if needed {
                    let (trigger, action) = finding.recovery();
                    recoverer.recover(&handle, trigger, action).await;
                } else {
                    heard
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(id, (recoverer.clock)());
                }
            });
        }
        round.close();
        // The pass waits for its own work, so a slow probe delays the next pass instead of
        // overlapping it, and no session is ever looked at twice at once.
        round.wait().await;
        self.passes.send_modify(|n| *n += 1);
    }
}

/// Whether the session's link answers a round trip in time.
async fn probe(recoverer: &Recoverer, handle: &SessionHandle) -> bool {
    // The same deadline as the link's round trip, so an actor busy elsewhere (closing a
    // link, waiting on the database) does not hold up the whole pass either.
    let answered = tokio::time::timeout(recoverer.policy.probe_timeout, handle.probe()).await;
    let ok = matches!(answered, Ok(Ok(Ok(_))));
    if !ok {
        tracing::warn!(session = %handle.view().id, "watchdog: the liveness probe got no answer");
    }
    ok
}
