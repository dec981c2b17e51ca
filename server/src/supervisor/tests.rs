//! The actor and restore against the simulator, in paused time: every wait below is
//! virtual, so a 45 s backoff takes no time and its length is exact.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use app::{
    model::{Desired, Event, Reason, SessionStatus, SessionView},
    policy::SupervisorPolicy,
};
use chrono::Utc;
use tokio::{
    sync::{Semaphore, broadcast, mpsc, watch},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    actor::{self, Deps, Seed, SendFailure, SessionHandle},
    journal::{Entry, Journal, Record},
    machine::Input,
    restore::{self, RestoreState},
};
use crate::{
    connector::simulator::{Fault, SimConfig, Simulator},
    db::leases::Token,
    events::{EventBus, Published},
    metrics::Metrics,
    status_board::StatusBoard,
};

/// The default policy without jitter, so waits are exact.
pub(super) fn policy() -> SupervisorPolicy {
    SupervisorPolicy { jitter: 0.0, ..SupervisorPolicy::default() }
}

pub(super) const HANDSHAKE: Duration = Duration::from_millis(400);

pub(super) struct Harness {
    pub(super) deps: Deps,
    pub(super) sim: Simulator,
    tasks: TaskTracker,
    journal: Arc<Mutex<Vec<Entry>>>,
    events: broadcast::Receiver<Arc<Published>>,
}

/// Stands in for the database writer: keeps every entry and confirms every flush.
fn collect(mut records: mpsc::Receiver<Record>) -> Arc<Mutex<Vec<Entry>>> {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let keep = stored.clone();
    tokio::spawn(async move {
        while let Some(record) = records.recv().await {
            match record {
                Record::Entry { entry, .. } => keep.lock().unwrap().push(*entry),
                Record::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    stored
}

impl Harness {
    pub(super) fn new(policy: SupervisorPolicy) -> Harness {
        let (journal, records) = Journal::new();
        let bus = EventBus::default();
        let (events, _) = bus.subscribe();
        let deps = Deps {
            handshakes: Arc::new(Semaphore::new(policy.max_concurrent_handshakes as usize)),
            policy: Arc::new(policy),
            bus,
            board: Arc::new(StatusBoard::new()),
            journal,
            metrics: Arc::new(Metrics::default()),
            holder: "test".into(),
        };
        let sim = Simulator::new(SimConfig { handshake: HANDSHAKE, ..SimConfig::default() });
        Harness { deps, sim, tasks: TaskTracker::new(), journal: collect(records), events }
    }

    pub(super) fn spawn(&self, id: &str, paired: bool) -> SessionHandle {
        let view = SessionView {
            paired,
            reason: Some(Reason::ServerShutdown),
            ..SessionView::new(id.into(), id.into(), "simulator".into(), Utc::now())
        };
        let seed = Seed {
            view,
            credentials: paired.then(|| format!("sim:{id}:test").into_bytes()),
            connector: Ok(Arc::new(self.sim.clone())),
            pair_phone: None,
            token: Token(1),
        };
        actor::spawn(seed, self.deps.clone(), &self.tasks)
    }

    /// The status changes published so far, as (status, reason) pairs.
    fn statuses(&mut self) -> Vec<(SessionStatus, Option<Reason>)> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            if let Event::SessionStatus { session } = &e.envelope.event {
                out.push((session.status, session.reason));
            }
        }
        out
    }

    /// The entries stored since the last call.
    async fn journal(&mut self) -> Vec<Entry> {
        // The collector answers a flush only after everything sent before it.
        self.deps.journal.flush().await;
        std::mem::take(&mut *self.journal.lock().unwrap())
    }
}

/// Waits (in virtual time) for the first view that satisfies `f`.
pub(super) async fn until(handle: &SessionHandle, f: impl Fn(&SessionView) -> bool) -> SessionView {
    let mut view: watch::Receiver<SessionView> = handle.watch();
    tokio::time::timeout(Duration::from_secs(3600), view.wait_for(|v| f(v)))
        .await
        .expect("the session never got there")
        .expect("the actor ended")
        .clone()
}

pub(super) fn is(status: SessionStatus) -> impl Fn(&SessionView) -> bool {
    move |v| v.status == status
}

#[tokio::test(start_paused = true)]
async fn start_connects_after_one_handshake() {
    let mut h = Harness::new(policy());
    let session = h.spawn("s", true);
    let t0 = Instant::now();
    session.input(Input::Start, None).await.unwrap();
    let view = until(&session, is(SessionStatus::Connected)).await;
    assert_eq!(t0.elapsed(), HANDSHAKE);
    assert!(view.last_connected_at.is_some());
    assert!(h.sim.has_live_link("s"));
    assert_eq!(h.statuses(), [(SessionStatus::Connecting, None), (SessionStatus::Connected, None)]);
    assert_eq!(h.deps.board.tally().counts.connected, 1);
}

#[tokio::test(start_paused = true)]
async fn a_drop_reconnects_after_5_s() {
    let mut h = Harness::new(policy());
    let session = h.spawn("s", true);
    session.input(Input::Start, None).await.unwrap();
    until(&session, is(SessionStatus::Connected)).await;
    h.statuses();

    h.sim.inject("s", Fault::Drop { count: 1 }).unwrap();
    let t0 = Instant::now();
    let view = until(&session, is(SessionStatus::Reconnecting)).await;
    assert_eq!((view.attempt, view.reason), (1, Some(Reason::ConnectionLost)));
    until(&session, is(SessionStatus::Connected)).await;
    assert_eq!(t0.elapsed(), Duration::from_secs(5) + HANDSHAKE);
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_drop_notices_is_one_status_event() {
    let mut h = Harness::new(policy());
    let session = h.spawn("s", true);
    session.input(Input::Start, None).await.unwrap();
    until(&session, is(SessionStatus::Connected)).await;
    h.statuses();

    h.sim.inject("s", Fault::Drop { count: 100 }).unwrap();
    until(&session, is(SessionStatus::Reconnecting)).await;
    // Let the actor take in all hundred notices before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.statuses(), [(SessionStatus::Reconnecting, Some(Reason::ConnectionLost))]);
}

#[tokio::test(start_paused = true)]
async fn refused_restores_follow_the_5_15_45_ladder_then_give_up() {
    let mut h = Harness::new(policy());
    let session = h.spawn("s", true);
    h.sim.inject("s", Fault::Refuse { count: 10 }).unwrap();
    let t0 = Instant::now();
    session.input(Input::Start, None).await.unwrap();
    let view = until(&session, |v| v.reason == Some(Reason::GaveUp)).await;
    assert_eq!(view.status, SessionStatus::Disconnected);
    assert!(view.last_error.unwrap().contains("refused"));
    // Four handshakes and the three waits between them.
    assert_eq!(t0.elapsed(), HANDSHAKE * 4 + Duration::from_secs(5 + 15 + 45));
    let attempts: Vec<_> =
        h.statuses().into_iter().filter(|(s, _)| *s == SessionStatus::Reconnecting).collect();
    assert_eq!(attempts.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn flapping_links_give_up_after_five_unstable_drops() {
    let h = Harness::new(policy());
    let session = h.spawn("s", true);
    h.sim.inject("s", Fault::Flap { count: 100 }).unwrap();
    session.input(Input::Start, None).await.unwrap();
    let view = until(&session, |v| v.reason == Some(Reason::GaveUp)).await;
    assert_eq!((view.status, view.attempt), (SessionStatus::Disconnected, 5));
}

#[tokio::test(start_paused = true)]
async fn a_stable_link_starts_counting_again() {
    let h = Harness::new(policy());
    let session = h.spawn("s", true);
    session.input(Input::Start, None).await.unwrap();
    until(&session, is(SessionStatus::Connected)).await;
    h.sim.inject("s", Fault::Drop { count: 1 }).unwrap();
    until(&session, is(SessionStatus::Reconnecting)).await;
    until(&session, is(SessionStatus::Connected)).await;
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(session.view().attempt, 0, "the counter did not reset after a stable minute");
    h.sim.inject("s", Fault::Drop { count: 1 }).unwrap();
    let view = until(&session, is(SessionStatus::Reconnecting)).await;
    assert_eq!(view.attempt, 1);
}

#[tokio::test(start_paused = true)]
async fn logged_out_sessions_never_come_back_by_themselves() {
    let mut h = Harness::new(policy());
    let session = h.spawn("s", true);
    session.input(Input::Start, None).await.unwrap();
    until(&session, is(SessionStatus::Connected)).await;
    h.journal().await;

    h.sim.inject("s", Fault::Logout).unwrap();
    let view = until(&session, is(SessionStatus::LoggedOut)).await;
    assert!(!view.paired);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(session.view().status, SessionStatus::LoggedOut);
    assert!(!h.sim.has_live_link("s"));
    let wiped = h
        .journal()
        .await
        .into_iter()
        .any(|e| matches!(e, Entry::Credentials { credentials: None, .. }));
    assert!(wiped, "the credentials were not wiped from storage");
}

#[tokio::test(start_paused = true)]
async fn replaced_and_banned_sessions_stay_down() {
    for (fault, reason) in
        [(Fault::Replaced, Reason::Replaced), (Fault::Ban { seconds: 60 }, Reason::Banned)]
    {
        let h = Harness::new(policy());
        let session = h.spawn("s", true);
        session.input(Input::Start, None).await.unwrap();
        until(&session, is(SessionStatus::Connected)).await;
        h.sim.inject("s", fault).unwrap();
        let view = until(&session, |v| v.reason == Some(reason)).await;
        assert_eq!(view.status, SessionStatus::Disconnected);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(session.view().status, SessionStatus::Disconnected);
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_link_looks_alive_but_does_not_answer() {
    let h = Harness::new(policy());
    let session = h.spawn("s", true);
    session.input(Input::Start, None).await.unwrap();
    until(&session, is(SessionStatus::Connected)).await;
    h.sim.inject("s", Fault::Stall).unwrap();
    assert!(session.link_alive(), "a half-open link should look up");
    let t0 = Instant::now();
    assert_eq!(session.probe().await.unwrap(), Err(SendFailure::Timeout));
    assert_eq!(t0.elapsed(), policy().probe_timeout);
    assert_eq!(
        session.send("+27821234567".into(), "hi".into()).await.unwrap(),
        Err(SendFailure::Timeout)
    );
}

#[tokio::test(start_paused = true)]
async fn pairing_shows_rotating_qr_codes_then_connects_on_scan() {
    let mut h = Harness::new(policy());
    let session = h.spawn("new", false);
    session.input(Input::Start, None).await.unwrap();
    until(&session, is(SessionStatus::QrPending)).await;
    tokio::time::sleep(SimConfig::default().qr_every + Duration::from_secs(1)).await;
    let codes: Vec<String> = std::iter::from_fn(|| h.events.try_recv().ok())
        .filter_map(|e| match &e.envelope.event {
            Event::Qr { code, .. } => Some(code.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(codes.len(), 2, "codes: {codes:?}");
    assert_ne!(codes[0], codes[1], "the code did not rotate");

    h.sim.inject("new", Fault::Scan { phone_number: Some("+27820000099".into()) }).unwrap();
    let view = until(&session, is(SessionStatus::Connected)).await;
    assert!(view.paired);
    assert_eq!(view.phone_number.as_deref(), Some("+27820000099"));
    let stored = h.journal().await.into_iter().any(|e| {
        matches!(e, Entry::Credentials { credentials: Some(_), phone_number: Some(p), .. } if p == "+27820000099")
    });
    assert!(stored, "the new credentials were not stored");
}

#[tokio::test(start_paused = true)]
async fn unscanned_codes_run_out() {
    let h = Harness::new(policy());
    let session = h.spawn("new", false);
    session.input(Input::Start, None).await.unwrap();
    let view = until(&session, |v| v.reason == Some(Reason::QrTimeout)).await;
    assert_eq!(view.status, SessionStatus::Disconnected);
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_the_link_and_stores_server_shutdown() {
    let mut h = Harness::new(policy());
    let session = h.spawn("s", true);
    session.input(Input::Start, None).await.unwrap();
    until(&session, is(SessionStatus::Connected)).await;
    h.journal().await;
    session.shutdown().await;
    assert!(!h.sim.has_live_link("s"));
    let last = h.journal().await.pop().expect("nothing stored at shutdown");
    let Entry::State { view, from, transition, .. } = last else { panic!("{last:?}") };
    assert!(transition);
    assert_eq!(from, SessionStatus::Connected);
    assert_eq!(
        (view.status, view.reason),
        (SessionStatus::Disconnected, Some(Reason::ServerShutdown))
    );
    assert_eq!(view.desired, Desired::Running, "shutdown must keep the desired state");
}

#[tokio::test(start_paused = true)]
async fn restore_spaces_starts_and_bounds_handshakes() {
    let policy = SupervisorPolicy {
        max_concurrent_handshakes: 3,
        restore_spacing: Duration::from_millis(10),
        ..policy()
    };
    let mut h = Harness::new(policy.clone());
    let sessions: Vec<_> = (0..40).map(|i| h.spawn(&format!("s{i}"), true)).collect();
    // Two of them cannot connect: restore must report them, not wait for them forever.
    h.sim.inject("s7", Fault::Refuse { count: 100 }).unwrap();
    h.sim.inject("s8", Fault::Refuse { count: 100 }).unwrap();
    let (progress, mut watch) = tokio::sync::watch::channel(RestoreState::default());
    let bus = h.deps.bus.clone();
    tokio::spawn(restore::run(sessions, Arc::new(policy), bus, progress, CancellationToken::new()));
    let done = watch.wait_for(|s| s.finished).await.unwrap().to_owned();
    assert_eq!((done.total, done.done, done.connected, done.failed), (40, 40, 38, 2));
    assert_eq!(h.sim.max_concurrent_handshakes(), 3);
    let last = std::iter::from_fn(|| h.events.try_recv().ok())
        .filter(|e| matches!(e.envelope.event, Event::RestoreProgress { .. }))
        .last()
        .unwrap();
    assert_eq!(
        last.envelope.event,
        Event::RestoreProgress { total: 40, done: 40, connected: 38, failed: 2 }
    );
}
