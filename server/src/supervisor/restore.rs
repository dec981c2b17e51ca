//! Start-up restore: bring back every session that was meant to be running.
//!
//! Sessions are started one after another with a minimum spacing (plus jitter) so a
//! thousand of them do not hit WhatsApp in the same second; how many handshakes run at once
//! is bounded separately by the supervisor's handshake semaphore. Each session settles
//! through its own retry ladder; progress (n of N) is published as it does.

use std::sync::Arc;

use app::{
    model::{Event, SessionStatus, SessionView},
    policy::{SupervisorPolicy, jittered},
};
use chrono::Utc;
use tokio::{sync::watch, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::{actor::SessionHandle, machine::Input};
use crate::events::EventBus;

/// Where restore got to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestoreState {
    /// Sessions to restore.
    pub total: u32,
    /// Settled so far.
    pub done: u32,
    /// Settled as connected.
    pub connected: u32,
    /// Settled as not connected (gave up, logged out, replaced, banned).
    pub failed: u32,
    /// Whether restore has begun.
    pub started: bool,
    /// Whether every session has settled (or restore was cancelled).
    pub finished: bool,
}

/// A session restore is done with: connected, or not trying any more.
fn settled(view: &SessionView) -> bool {
    matches!(
        view.status,
        SessionStatus::Connected | SessionStatus::Disconnected | SessionStatus::LoggedOut
    )
}

/// Restores `sessions` in order, reporting on `progress` and the bus, until all settle or
/// `cancel` fires.
pub async fn run(
    sessions: Vec<SessionHandle>,
    policy: Arc<SupervisorPolicy>,
    bus: EventBus,
    progress: watch::Sender<RestoreState>,
    cancel: CancellationToken,
) {
    let mut state = RestoreState {
        total: u32::try_from(sessions.len()).unwrap_or(u32::MAX),
        started: true,
        ..RestoreState::default()
    };
    tracing::info!(sessions = state.total, "restoring sessions");
    report(&bus, &progress, state);

    let mut waiting = JoinSet::new();
    for (i, session) in sessions.into_iter().enumerate() {
        if i > 0 && !spaced(&policy, &cancel).await {
            break;
        }
        let since = Utc::now();
        let mut view = session.watch();
        if session.input(Input::Start, Some("restored at start-up".into())).await.is_err() {
            continue;
        }
        waiting.spawn(async move {
            // Holding the handle keeps the session's actor alive while restore watches it.
            let _session = session;
            // Only a settlement after the start counts, not the state it was found in.
            let settled = view.wait_for(|v| v.updated_at >= since && settled(v)).await;
            settled.map(|v| v.status == SessionStatus::Connected).unwrap_or(false)
        });
    }

    loop {
        let connected = tokio::select! {
            _ = cancel.cancelled() => break,
            next = waiting.join_next() => match next {
                Some(result) => result.unwrap_or(false),
                None => break,
            },
        };
        state.done += 1;
        if connected {
            state.connected += 1;
        } else {
            state.failed += 1;
        }
        report(&bus, &progress, state);
    }
    state.finished = true;
    progress.send_replace(state);
    tracing::info!(
        connected = state.connected,
        failed = state.failed,
        total = state.total,
        "restore finished: {} of {} sessions connected",
        state.connected,
        state.total,
    );
}

/// Starts sessions this instance was just granted because their holder died or let them
/// go, spaced as at start-up so that one instance's death does not become a burst of
/// logins at the others; each then settles through its own retry ladder.
pub async fn take_over(
    sessions: Vec<SessionHandle>,
    policy: Arc<SupervisorPolicy>,
    cancel: CancellationToken,
) {
    for (i, session) in sessions.into_iter().enumerate() {
        if i > 0 && !spaced(&policy, &cancel).await {
            return;
        }
        let why = Some("taken over from another instance".into());
        // An error: fenced or removed meanwhile, nothing to start.
        let _ = session.input(Input::Start, why).await;
    }
}

/// Waits the spacing between two starts; `false` when cancelled first.
async fn spaced(policy: &SupervisorPolicy, cancel: &CancellationToken) -> bool {
    let pause = jittered(policy.restore_spacing, policy.jitter, rand::random());
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(pause) => true,
    }
}

fn report(bus: &EventBus, progress: &watch::Sender<RestoreState>, state: RestoreState) {
    progress.send_replace(state);
    bus.publish(Event::RestoreProgress {
        total: state.total,
        done: state.done,
        connected: state.connected,
        failed: state.failed,
    });
}
