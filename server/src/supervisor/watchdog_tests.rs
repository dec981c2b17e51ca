//! The watchdog against the simulator, in paused time: half an hour of silence or a whole
//! recovery budget's hour passes in no time, and the log is an in-memory stand-in for the
//! `recoveries` table (the table itself is tested against both databases in `tests/api`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use app::model::{
    Reason, SessionStatus,
    recovery::{Action, Outcome, Trigger},
};
use chrono::{DateTime, Utc};
use tokio::{sync::watch, time::Instant};
use tokio_util::sync::CancellationToken;

use super::{
    actor::SessionHandle,
    machine::Input,
    restore::RestoreState,
    tests::{Harness, is, policy, until},
    watchdog::{Clock, Recoverer, RecoveryLog, Watchdog},
};
use crate::{
    connector::simulator::Fault,
    db::{DbError, recoveries::NewRecovery},
};

#[derive(Clone, Debug, PartialEq)]
struct Row {
    session: String,
    at: DateTime<Utc>,
    trigger: Trigger,
    action: Action,
    outcome: Outcome,
}

/// The recovery log in memory.
#[derive(Default)]
struct MemoryLog(Mutex<Vec<Row>>);

#[async_trait::async_trait]
impl RecoveryLog for MemoryLog {
    async fn automatic_since(&self, since: DateTime<Utc>) -> Result<HashMap<String, u32>, DbError> {
        let mut used = HashMap::new();
        for row in self.0.lock().unwrap().iter() {
            if row.trigger.is_automatic() && row.at > since {
                *used.entry(row.session.clone()).or_default() += 1;
            }
        }
        Ok(used)
    }

    async fn start(&self, recovery: NewRecovery<'_>) -> Result<i64, DbError> {
        let NewRecovery { session_id, at, trigger, action } = recovery;
        let mut rows = self.0.lock().unwrap();
        let row =
            Row { session: session_id.into(), at, trigger, action, outcome: Outcome::Started };
        rows.push(row);
        Ok(rows.len() as i64 - 1)
    }

    async fn finish(
        &self,
        id: i64,
        outcome: Outcome,
        _error: Option<&str>,
        _event: &crate::webhooks::payload::Outgoing,
    ) -> Result<(), DbError> {
        self.0.lock().unwrap()[id as usize].outcome = outcome;
        Ok(())
    }
}

impl MemoryLog {
    fn rows(&self) -> Vec<Row> {
        self.0.lock().unwrap().clone()
    }
}

/// Wall-clock time that moves with the paused tokio clock.
fn virtual_clock() -> Clock {
    let (wall, start) = (Utc::now(), Instant::now());
    Arc::new(move || wall + chrono::Duration::from_std(start.elapsed()).unwrap())
}

struct Running {
    log: Arc<MemoryLog>,
    passes: watch::Receiver<u64>,
    restore: watch::Sender<RestoreState>,
    cancel: CancellationToken,
}

impl Running {
    /// Waits until `n` more passes have finished.
    async fn passes(&mut self, n: u64) {
        let target = *self.passes.borrow() + n;
        self.passes.wait_for(|p| *p >= target).await.unwrap();
    }
}

/// Starts a watchdog over `sessions` with `log`; restore counts as finished when `restored`.
fn watchdog(
    h: &Harness,
    sessions: Vec<SessionHandle>,
    log: Arc<MemoryLog>,
    restored: bool,
) -> Running {
    let clock = virtual_clock();
    let recoverer = Recoverer {
        log: log.clone(),
        policy: h.deps.policy.clone(),
        bus: h.deps.bus.clone(),
        metrics: h.deps.metrics.clone(),
        clock,
    };
    let dog = Watchdog::new(recoverer);
    let passes = dog.passes();
    let (restore, restore_rx) = watch::channel(RestoreState {
        started: true,
        finished: restored,
        ..RestoreState::default()
    });
    let cancel = CancellationToken::new();
    tokio::spawn(dog.run(move || sessions.clone(), restore_rx, cancel.clone()));
    Running { log, passes, restore, cancel }
}

/// A paired session whose upstream refused its first `refusals` handshakes: it has run its
/// retry ladder and given up (four refusals a ladder).
async fn gave_up(h: &Harness, refusals: u32) -> SessionHandle {
    let session = h.spawn("s", true);
    h.sim.inject("s", Fault::Refuse { count: refusals }).unwrap();
    session.input(Input::Start, None).await.unwrap();
    until(&session, |v| v.reason == Some(Reason::GaveUp)).await;
    session
}

async fn connected(h: &Harness, id: &str) -> SessionHandle {
    let session = h.spawn(id, true);
    session.input(Input::Start, None).await.unwrap();
    until(&session, is(SessionStatus::Connected)).await;
    session
}

#[tokio::test(start_paused = true)]
async fn a_dead_link_under_a_connected_row_is_recovered_once() {
    let h = Harness::new(policy());
    let session = connected(&h, "s").await;
    let mut dog = watchdog(&h, vec![session.clone()], Arc::default(), true);
    dog.passes(2).await;
    assert!(dog.log.rows().is_empty(), "a healthy session was touched");

    h.sim.inject("s", Fault::Sever).unwrap();
    // The row still says connected: nothing told the actor.
    assert_eq!(session.view().status, SessionStatus::Connected);
    let handshakes = h.sim.handshakes();
    dog.passes(1).await;
    assert_eq!(session.view().status, SessionStatus::Connected);
    assert!(session.link_alive());
    dog.passes(5).await;
    let rows = dog.log.rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].trigger, rows[0].action), (Trigger::DeadLink, Action::Reconnect));
    assert_eq!(rows[0].outcome, Outcome::Recovered);
    assert_eq!(h.sim.handshakes(), handshakes + 1);
    dog.cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_stall_is_found_by_the_probe_and_reconnected_while_a_quiet_healthy_link_is_left() {
    let h = Harness::new(policy());
    let stalled = connected(&h, "stalled").await;
    let quiet = connected(&h, "quiet").await;
    let mut dog = watchdog(&h, vec![stalled.clone(), quiet.clone()], Arc::default(), true);
    let t0 = Instant::now();

    h.sim.inject("stalled", Fault::Stall).unwrap();
    // Half-open looks alive: only silence gives it away, after the policy's 30 minutes.
    dog.passes(29).await;
    assert!(dog.log.rows().is_empty());
    let mut waited = 0;
    while dog.log.rows().is_empty() {
        dog.passes(1).await;
        waited += 1;
        assert!(waited < 5, "the stall was never found");
    }
    assert!(t0.elapsed() >= Duration::from_secs(30 * 60));
    until(&stalled, is(SessionStatus::Connected)).await;
    dog.passes(1).await;
    let rows = dog.log.rows();
    assert_eq!(rows.len(), 1, "the quiet but healthy session was recovered too: {rows:?}");
    assert_eq!((rows[0].session.as_str(), rows[0].trigger), ("stalled", Trigger::ProbeFailed));
    assert_eq!(rows[0].outcome, Outcome::Recovered);
    // The quiet session answered its probe and is probed again only after another quiet
    // half hour, never reconnected.
    dog.passes(40).await;
    assert!(dog.log.rows().iter().all(|r| r.session == "stalled"));
    assert!(quiet.link_alive());
    dog.cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_fourth_automatic_recovery_inside_the_hour_waits_for_a_person() {
    let h = Harness::new(policy());
    // Enough refusals for the first start and three recoveries.
    let session = gave_up(&h, 16).await;
    let mut dog = watchdog(&h, vec![session.clone()], Arc::default(), true);

    while dog.log.rows().len() < 3 || session.view().reason != Some(Reason::GaveUp) {
        dog.passes(1).await;
    }
    let handshakes = h.sim.handshakes();
    // The rest of the hour: the watchdog looks, but no longer acts.
    dog.passes(30).await;
    let rows = dog.log.rows();
    assert_eq!(rows.len(), 3, "{rows:?}");
    // Each recovery started a retry ladder that failed (or was still failing when the
    // watchdog stopped waiting for it).
    assert!(
        rows.iter().all(|r| r.trigger == Trigger::Disconnected && r.outcome != Outcome::Recovered)
    );
    assert_eq!(h.sim.handshakes(), handshakes);
    assert_eq!(session.view().reason, Some(Reason::GaveUp));

    // A person's reconnect goes through, budget or not.
    session.input(Input::Reconnect, Some("operator".into())).await.unwrap();
    until(&session, is(SessionStatus::Connected)).await;
    dog.cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_restart_mid_hour_keeps_the_count() {
    let h = Harness::new(policy());
    let session = gave_up(&h, 4).await;

    // The previous run spent the budget 20 minutes ago; this run reads it from the log.
    let log = Arc::new(MemoryLog::default());
    let twenty_minutes_ago = Utc::now() - chrono::Duration::minutes(20);
    for _ in 0..3 {
        let recovery = NewRecovery {
            session_id: "s",
            at: twenty_minutes_ago,
            trigger: Trigger::Disconnected,
            action: Action::Start,
        };
        log.start(recovery).await.unwrap();
    }
    let mut dog = watchdog(&h, vec![session.clone()], log, true);
    dog.passes(35).await;
    assert_eq!(dog.log.rows().len(), 3, "the restart handed out a fresh budget");
    assert_eq!(session.view().reason, Some(Reason::GaveUp));

    // Once those three are an hour old, the watchdog may act again.
    dog.passes(10).await;
    until(&session, is(SessionStatus::Connected)).await;
    let rows = dog.log.rows();
    assert_eq!(rows.len(), 4);
    assert!(rows[3].at - twenty_minutes_ago >= chrono::Duration::minutes(60));
    dog.cancel.cancel();
}

#[tokio::test(start_paused = true)]
async fn the_watchdog_holds_off_until_restore_has_finished() {
    let h = Harness::new(policy());
    let session = gave_up(&h, 4).await;

    let mut dog = watchdog(&h, vec![session.clone()], Arc::default(), false);
    // Restore is still running: ten intervals pass and the watchdog never looks.
    tokio::time::sleep(h.deps.policy.watchdog_every * 10).await;
    assert_eq!(*dog.passes.borrow(), 0);
    assert!(dog.log.rows().is_empty());

    dog.restore.send_modify(|r| r.finished = true);
    dog.passes(1).await;
    until(&session, is(SessionStatus::Connected)).await;
    assert_eq!(dog.log.rows().len(), 1);
    dog.cancel.cancel();
}
