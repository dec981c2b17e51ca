//! The session state machine: `(state, input, context) -> (state, actions)`, with no I/O.
//!
//! Everything a session does over time is decided here; the actor only carries out the
//! returned [`Action`]s and feeds back what happened as [`Input`]s. All timing comes from
//! the policy and the clock in [`Ctx`], so the rules are tested without time passing.

use std::time::Duration;

use app::{
    model::{Reason, SessionStatus},
    policy::{Schedule, SupervisorPolicy},
};
use chrono::{DateTime, Utc};

use crate::connector::Ending;

/// A session's observed state: what is persisted and shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Observed status.
    pub status: SessionStatus,
    /// Why, where that matters.
    pub reason: Option<Reason>,
    /// The last failure seen.
    pub last_error: Option<String>,
    /// Retries made or scheduled in the current schedule (0: first try, or none).
    pub attempt: u32,
    /// The schedule the attempt counter belongs to.
    pub schedule: Schedule,
    /// When the next retry is due (reconnecting), or until when a ban holds.
    pub next_retry_at: Option<DateTime<Utc>>,
    /// When the session was last connected.
    pub last_connected_at: Option<DateTime<Utc>>,
    /// Whether credentials are stored; without them a start pairs by QR.
    pub has_credentials: bool,
}

impl State {
    /// A session as found in storage.
    pub fn new(status: SessionStatus, has_credentials: bool) -> State {
        State {
            status,
            reason: None,
            last_error: None,
            attempt: 0,
            schedule: Schedule::Restore,
            next_retry_at: None,
            last_connected_at: None,
            has_credentials,
        }
    }

    /// Whether the session holds, or is trying to hold, a link right now.
    pub fn is_live(&self) -> bool {
        matches!(
            self.status,
            SessionStatus::QrPending
                | SessionStatus::Connecting
                | SessionStatus::Connected
                | SessionStatus::Reconnecting
        )
    }
}

/// What happened to a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Connect if not already connected or trying (start, restore, automatic recovery).
    Start,
    /// Connect anew even if connected: drop whatever link there is (operator reconnect,
    /// recovery of a dead link).
    Reconnect,
    /// The handshake finished: logged in and live.
    AttemptSucceeded,
    /// The handshake failed, for a reason worth retrying.
    AttemptFailed {
        /// What went wrong.
        error: String,
    },
    /// A QR code is up for scanning (pairing).
    QrShown,
    /// QR codes ran out unscanned.
    QrExhausted,
    /// The phone scanned the code; credentials are now stored.
    Paired,
    /// The link ended (a drop, a logout by the phone or an operator, a takeover, a ban, a
    /// refusal, or a routine restart).
    Ended(Ending),
    /// The scheduled retry is due.
    RetryDue,
    /// The link has been up for the policy's `stable_after`.
    Stable,
    /// An operator stopped the session.
    Stop,
    /// The server is shutting down.
    Shutdown,
    /// Another instance is to run the session.
    HandOver,
}

/// Something the actor must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Begin a connection attempt (pairing by QR when there are no credentials).
    Connect,
    /// Close the current link or abandon the attempt in flight.
    CloseLink,
    /// Delete the stored credentials.
    WipeCredentials,
    /// Feed [`Input::RetryDue`] after this long, replacing any earlier timer.
    ArmRetry(Duration),
    /// Forget any pending retry.
    CancelRetry,
    /// Feed [`Input::Stable`] after this long, replacing any earlier timer.
    ArmStable(Duration),
}

/// The outside facts a transition may use.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    /// Now, for timestamps.
    pub now: DateTime<Utc>,
    /// The policy in effect.
    pub policy: &'a SupervisorPolicy,
    /// A uniform sample in `[0, 1)` for jitter.
    pub jitter: f64,
}

/// The result of one transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The state after the input.
    pub state: State,
    /// What to carry out, in order.
    pub actions: Vec<Action>,
}

/// Applies `input` to `state`.
pub fn transition(state: &State, input: &Input, ctx: Ctx<'_>) -> Step {
    use SessionStatus as S;
    let mut next = state.clone();
    let mut actions = Vec::new();

    match (state.status, input) {
        // Starting: anything that is not already live begins a fresh effort.
        (S::Disconnected | S::LoggedOut, Input::Start) | (_, Input::Reconnect) => {
            if state.is_live() {
                actions.push(Action::CloseLink);
            }
            next.status = S::Connecting;
            next.reason = None;
            next.attempt = 0;
            next.schedule = Schedule::Restore;
            next.next_retry_at = None;
            actions.extend([Action::CancelRetry, Action::Connect]);
        }
        (S::Reconnecting, Input::Start) => {
            // Someone wants it now: do the scheduled retry early.
            next.status = S::Connecting;
            next.next_retry_at = None;
            actions.extend([Action::CancelRetry, Action::Connect]);
        }
        // Already live or trying: a start asks for nothing more.
        (S::QrPending | S::Connecting | S::Connected, Input::Start) => {}

        (S::Connecting | S::QrPending, Input::AttemptSucceeded) => {
            next.status = S::Connected;
            next.reason = None;
            next.last_error = None;
            next.next_retry_at = None;
            next.last_connected_at = Some(ctx.now);
            actions.push(Action::ArmStable(ctx.policy.stable_after));
        }

        (S::Connecting | S::QrPending, Input::AttemptFailed { error })
        | (S::Connecting | S::QrPending, Input::Ended(Ending::Dropped { error })) => {
            // A drop can arrive while the attempt is still in flight: end it either way.
            actions.push(Action::CloseLink);
            retry_or_give_up(&mut next, &mut actions, error, Reason::AttemptFailed, ctx);
        }

        (S::Connecting, Input::QrShown) => next.status = S::QrPending,

        (S::Connecting | S::QrPending, Input::QrExhausted) => {
            next.status = S::Disconnected;
            next.reason = Some(Reason::QrTimeout);
            next.last_error = Some("no QR code was scanned in time".into());
            actions.push(Action::CloseLink);
        }

        (_, Input::Paired) => next.has_credentials = true,

        (S::Connected, Input::Ended(Ending::Dropped { error })) => {
            actions.push(Action::CloseLink);
            if next.schedule != Schedule::Reconnect {
                next.schedule = Schedule::Reconnect;
                next.attempt = 0;
            }
            retry_or_give_up(&mut next, &mut actions, error, Reason::ConnectionLost, ctx);
        }

        (S::Connected, Input::Ended(Ending::Restart)) => {
            next.status = S::Connecting;
            next.next_retry_at = None;
            actions.extend([Action::CloseLink, Action::Connect]);
        }

        (S::LoggedOut, Input::Ended(Ending::LoggedOut)) => {}
        (_, Input::Ended(Ending::LoggedOut)) => {
            next.status = S::LoggedOut;
            next.reason = None;
            next.attempt = 0;
            next.next_retry_at = None;
            next.has_credentials = false;
            actions.extend([Action::CloseLink, Action::CancelRetry, Action::WipeCredentials]);
        }

        (
            S::Connecting | S::QrPending | S::Connected | S::Reconnecting,
            Input::Ended(Ending::Replaced),
        ) => {
            stop_as(&mut next, &mut actions, Reason::Replaced);
            next.last_error = Some("another client took over this session".into());
        }

        (
            S::Connecting | S::QrPending | S::Connected | S::Reconnecting,
            Input::Ended(Ending::Banned { until }),
        ) => {
            stop_as(&mut next, &mut actions, Reason::Banned);
            next.next_retry_at = *until;
            next.last_error = Some("WhatsApp temporarily banned this number".into());
        }

        (
            S::Connecting | S::QrPending | S::Connected | S::Reconnecting,
            Input::Ended(Ending::Refused { refusal, error }),
        ) => {
            stop_as(&mut next, &mut actions, refusal.reason());
            next.last_error = Some(error.clone());
        }

        (S::Reconnecting, Input::RetryDue) => {
            next.status = S::Connecting;
            next.next_retry_at = None;
            actions.push(Action::Connect);
        }

        (S::Connected, Input::Stable) => {
            next.attempt = 0;
            next.schedule = Schedule::Reconnect;
        }

        (S::LoggedOut, Input::Stop) => {}
        (S::Disconnected, Input::Stop) if state.reason == Some(Reason::Stopped) => {}
        (_, Input::Stop) => stop_as(&mut next, &mut actions, Reason::Stopped),

        (S::QrPending | S::Connecting | S::Connected | S::Reconnecting, Input::Shutdown) => {
            stop_as(&mut next, &mut actions, Reason::ServerShutdown)
        }
        (S::QrPending | S::Connecting | S::Connected | S::Reconnecting, Input::HandOver) => {
            stop_as(&mut next, &mut actions, Reason::HandedOver)
        }

        // Stale or duplicate news: a second drop notice, a late handshake result, a timer
        // that fired after its reason went away. Ignoring them is what keeps one real
        // change to one event. Every pair is named, so a new status or input does not
        // compile until it is decided on here.
        (
            S::Disconnected | S::Connected | S::Reconnecting | S::LoggedOut,
            Input::AttemptSucceeded | Input::AttemptFailed { .. } | Input::QrExhausted,
        )
        | (
            S::Disconnected | S::QrPending | S::Connected | S::Reconnecting | S::LoggedOut,
            Input::QrShown,
        )
        | (
            S::Disconnected | S::Reconnecting | S::LoggedOut,
            Input::Ended(Ending::Dropped { .. }),
        )
        | (
            S::Disconnected | S::QrPending | S::Connecting | S::Reconnecting | S::LoggedOut,
            Input::Ended(Ending::Restart) | Input::Stable,
        )
        | (
            S::Disconnected | S::LoggedOut,
            Input::Ended(Ending::Replaced | Ending::Banned { .. } | Ending::Refused { .. })
            | Input::Shutdown
            | Input::HandOver,
        )
        | (
            S::Disconnected | S::QrPending | S::Connecting | S::Connected | S::LoggedOut,
            Input::RetryDue,
        ) => {}
    }
    Step { state: next, actions }
}

fn retry_or_give_up(
    next: &mut State,
    actions: &mut Vec<Action>,
    error: &str,
    reason: Reason,
    ctx: Ctx<'_>,
) {
    next.last_error = Some(error.to_owned());
    let retry = next.attempt + 1;
    match next.schedule.backoff(ctx.policy).jittered_before(retry, ctx.policy.jitter, ctx.jitter) {
        Some(wait) => {
            next.status = SessionStatus::Reconnecting;
            next.reason = Some(reason);
            next.attempt = retry;
            next.next_retry_at = chrono::Duration::from_std(wait).ok().map(|w| ctx.now + w);
            actions.push(Action::ArmRetry(wait));
        }
        None => {
            next.status = SessionStatus::Disconnected;
            next.reason = Some(Reason::GaveUp);
            next.next_retry_at = None;
        }
    }
}

fn stop_as(next: &mut State, actions: &mut Vec<Action>, reason: Reason) {
    next.status = SessionStatus::Disconnected;
    next.reason = Some(reason);
    next.next_retry_at = None;
    actions.extend([Action::CloseLink, Action::CancelRetry]);
}

/// Whether `from → to` is a move the machine may make.
pub fn is_legal(from: SessionStatus, to: SessionStatus) -> bool {
    use SessionStatus as S;
    from == to
        || matches!(
            (from, to),
            (
                S::Disconnected | S::LoggedOut | S::Reconnecting | S::Connected | S::QrPending,
                S::Connecting
            ) | (S::Connecting, S::QrPending | S::Connected | S::Reconnecting)
                | (S::QrPending, S::Connected | S::Reconnecting)
                | (S::Connected, S::Reconnecting)
                | (_, S::Disconnected | S::LoggedOut)
        )
}

#[cfg(test)]
mod tests {
    use app::model::SessionStatus as S;
    use proptest::prelude::*;

    use super::*;
    use crate::connector::Refusal;

    fn policy() -> SupervisorPolicy {
        SupervisorPolicy { jitter: 0.0, ..SupervisorPolicy::default() }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().to_utc()
    }

    fn step(state: &State, input: Input) -> Step {
        transition(state, &input, Ctx { now: now(), policy: &policy(), jitter: 0.0 })
    }

    fn run(mut state: State, inputs: impl IntoIterator<Item = Input>) -> (State, Vec<Action>) {
        let mut all = Vec::new();
        for input in inputs {
            let s = step(&state, input);
            state = s.state;
            all.extend(s.actions);
        }
        (state, all)
    }

    fn paired(status: S) -> State {
        State::new(status, true)
    }

    fn failed() -> Input {
        Input::AttemptFailed { error: "refused".into() }
    }

    fn dropped() -> Input {
        Input::Ended(Ending::Dropped { error: "stream closed".into() })
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn start_connects_and_success_arms_the_stability_timer() {
        let s = step(&paired(S::Disconnected), Input::Start);
        assert_eq!(s.state.status, S::Connecting);
        assert_eq!(s.actions, [Action::CancelRetry, Action::Connect]);
        let s = step(&s.state, Input::AttemptSucceeded);
        assert_eq!(s.state.status, S::Connected);
        assert_eq!(s.state.last_connected_at, Some(now()));
        assert_eq!(s.actions, [Action::ArmStable(secs(60))]);
    }

    #[test]
    fn a_restart_asked_by_the_upstream_reconnects_at_once_without_counting() {
        let live = State { attempt: 2, schedule: Schedule::Reconnect, ..paired(S::Connected) };
        let s = step(&live, Input::Ended(Ending::Restart));
        assert_eq!((s.state.status, s.state.reason), (S::Connecting, None));
        assert_eq!((s.state.attempt, s.state.schedule), (2, Schedule::Reconnect));
        assert_eq!(s.actions, [Action::CloseLink, Action::Connect]);
        // Only a live link can be restarted; anywhere else the news is stale.
        for status in [S::Connecting, S::Reconnecting, S::Disconnected, S::LoggedOut, S::QrPending]
        {
            let s = step(&paired(status), Input::Ended(Ending::Restart));
            assert_eq!((s.state, s.actions), (paired(status), vec![]), "{status}");
        }
    }

    #[test]
    fn a_final_refusal_stops_the_session_with_its_reason_and_no_retry() {
        for status in [S::Connecting, S::QrPending, S::Connected, S::Reconnecting] {
            let refused = Input::Ended(Ending::Refused {
                refusal: Refusal::ClientOutdated,
                error: "update Lifeline".into(),
            });
            let s = step(&paired(status), refused);
            assert_eq!(s.state.status, S::Disconnected, "{status}");
            assert_eq!(s.state.reason, Some(Reason::ClientOutdated));
            assert_eq!(s.state.last_error.as_deref(), Some("update Lifeline"));
            assert_eq!(s.state.next_retry_at, None);
            assert_eq!(s.actions, [Action::CloseLink, Action::CancelRetry]);
            assert!(s.state.has_credentials, "a refusal is not a logout");
        }
        // A stopped session ignores a late refusal.
        let stopped = step(
            &paired(S::Disconnected),
            Input::Ended(Ending::Refused { refusal: Refusal::Other, error: "late".into() }),
        );
        assert!(stopped.actions.is_empty());
    }

    #[test]
    fn restore_retries_at_5_15_45_then_gives_up_with_the_last_error() {
        let mut state = step(&paired(S::Disconnected), Input::Start).state;
        let mut waits = Vec::new();
        loop {
            let s =
                step(&state, Input::AttemptFailed { error: format!("refused {}", waits.len()) });
            state = s.state;
            match s.actions.last() {
                Some(Action::ArmRetry(d)) => {
                    assert_eq!(state.status, S::Reconnecting);
                    assert_eq!(state.reason, Some(Reason::AttemptFailed));
                    assert_eq!(
                        state.next_retry_at,
                        Some(now() + chrono::Duration::from_std(*d).unwrap())
                    );
                    waits.push(d.as_secs());
                    state = step(&state, Input::RetryDue).state;
                    assert_eq!(state.status, S::Connecting);
                }
                _ => break,
            }
        }
        assert_eq!(waits, [5, 15, 45]);
        assert_eq!(state.status, S::Disconnected);
        assert_eq!(state.reason, Some(Reason::GaveUp));
        assert_eq!(state.last_error.as_deref(), Some("refused 3"));
        assert_eq!(state.attempt, 3);
    }

    #[test]
    fn a_drop_reconnects_at_5_10_20_40_80_then_gives_up() {
        let connected = run(paired(S::Disconnected), [Input::Start, Input::AttemptSucceeded]).0;
        let mut s = step(&connected, dropped());
        assert_eq!(s.actions[0], Action::CloseLink);
        let mut waits = Vec::new();
        while let Some(Action::ArmRetry(d)) = s.actions.last() {
            assert_eq!(
                s.state.reason,
                Some(Reason::ConnectionLost)
                    .filter(|_| waits.is_empty())
                    .or(Some(Reason::AttemptFailed))
            );
            waits.push(d.as_secs());
            let due = step(&s.state, Input::RetryDue).state;
            s = step(&due, failed());
        }
        assert_eq!(waits, [5, 10, 20, 40, 80]);
        assert_eq!((s.state.status, s.state.reason), (S::Disconnected, Some(Reason::GaveUp)));
    }

    #[test]
    fn the_counter_resets_only_after_a_stable_connection() {
        let up = run(paired(S::Disconnected), [Input::Start, Input::AttemptSucceeded]).0;
        // Flapping: up, down before stable, up again… the count keeps climbing.
        let (flapping, _) =
            run(up.clone(), [dropped(), Input::RetryDue, Input::AttemptSucceeded, dropped()]);
        assert_eq!(flapping.attempt, 2);
        // Stable for a while: the next drop starts from the first retry again.
        let (steady, _) = run(
            up,
            [dropped(), Input::RetryDue, Input::AttemptSucceeded, Input::Stable, dropped()],
        );
        assert_eq!(steady.attempt, 1);
        assert_eq!(steady.next_retry_at, Some(now() + chrono::Duration::seconds(5)));
    }

    #[test]
    fn five_unstable_drops_give_up() {
        let mut state = run(paired(S::Disconnected), [Input::Start, Input::AttemptSucceeded]).0;
        for _ in 0..5 {
            state = run(state, [dropped(), Input::RetryDue, Input::AttemptSucceeded]).0;
        }
        let (state, _) = run(state, [dropped()]);
        assert_eq!((state.status, state.reason), (S::Disconnected, Some(Reason::GaveUp)));
    }

    #[test]
    fn logout_wipes_credentials_and_never_reconnects_by_itself() {
        let up = run(paired(S::Disconnected), [Input::Start, Input::AttemptSucceeded]).0;
        let s = step(&up, Input::Ended(Ending::LoggedOut));
        assert_eq!(s.state.status, S::LoggedOut);
        assert!(!s.state.has_credentials);
        assert_eq!(s.actions, [Action::CloseLink, Action::CancelRetry, Action::WipeCredentials]);
        for input in
            [Input::RetryDue, Input::Stable, dropped(), failed(), Input::Shutdown, Input::Stop]
        {
            let after = step(&s.state, input.clone());
            assert_eq!(after.state, s.state, "{input:?} moved a logged-out session");
            assert!(after.actions.is_empty(), "{input:?} acted on a logged-out session");
        }
    }

    #[test]
    fn replaced_and_banned_stop_for_good() {
        let up = run(paired(S::Disconnected), [Input::Start, Input::AttemptSucceeded]).0;
        let until = now() + chrono::Duration::hours(1);
        for (input, reason) in [
            (Input::Ended(Ending::Replaced), Reason::Replaced),
            (Input::Ended(Ending::Banned { until: Some(until) }), Reason::Banned),
        ] {
            let s = step(&up, input);
            assert_eq!((s.state.status, s.state.reason), (S::Disconnected, Some(reason)));
            assert!(!s.actions.contains(&Action::Connect));
            let (later, actions) = run(s.state, [Input::RetryDue, Input::Stable, dropped()]);
            assert_eq!(later.status, S::Disconnected);
            assert!(actions.is_empty());
        }
        assert_eq!(
            step(&up, Input::Ended(Ending::Banned { until: Some(until) })).state.next_retry_at,
            Some(until)
        );
    }

    #[test]
    fn duplicate_drop_notices_are_one_change() {
        let up = run(paired(S::Disconnected), [Input::Start, Input::AttemptSucceeded]).0;
        let first = step(&up, dropped());
        for _ in 0..100 {
            let again = step(&first.state, dropped());
            assert_eq!(again.state, first.state);
            assert!(again.actions.is_empty());
        }
    }

    #[test]
    fn pairing_goes_through_qr_pending_and_times_out() {
        let unpaired = State::new(S::Disconnected, false);
        let (pairing, _) = run(unpaired.clone(), [Input::Start, Input::QrShown, Input::QrShown]);
        assert_eq!(pairing.status, S::QrPending);
        let (linked, _) = run(pairing.clone(), [Input::Paired, Input::AttemptSucceeded]);
        assert_eq!(linked.status, S::Connected);
        assert!(linked.has_credentials);
        let s = step(&pairing, Input::QrExhausted);
        assert_eq!((s.state.status, s.state.reason), (S::Disconnected, Some(Reason::QrTimeout)));
        assert_eq!(s.actions, [Action::CloseLink]);
    }

    #[test]
    fn stop_and_shutdown_close_live_sessions() {
        let up = run(paired(S::Disconnected), [Input::Start, Input::AttemptSucceeded]).0;
        let s = step(&up, Input::Stop);
        assert_eq!((s.state.status, s.state.reason), (S::Disconnected, Some(Reason::Stopped)));
        assert_eq!(s.actions, [Action::CloseLink, Action::CancelRetry]);
        let s = step(&up, Input::Shutdown);
        assert_eq!(
            (s.state.status, s.state.reason),
            (S::Disconnected, Some(Reason::ServerShutdown))
        );
        let s = step(&up, Input::HandOver);
        assert_eq!((s.state.status, s.state.reason), (S::Disconnected, Some(Reason::HandedOver)));
        assert_eq!(s.actions, [Action::CloseLink, Action::CancelRetry]);
        // A session that was not live keeps its reason: nothing was shut down.
        let gave_up = State { reason: Some(Reason::GaveUp), ..paired(S::Disconnected) };
        assert_eq!(step(&gave_up, Input::Shutdown).state, gave_up);
        assert_eq!(step(&gave_up, Input::HandOver).state, gave_up);
    }

    #[test]
    fn reconnect_forces_a_fresh_attempt_even_when_connected() {
        let up = run(paired(S::Disconnected), [Input::Start, Input::AttemptSucceeded]).0;
        let s = step(&up, Input::Reconnect);
        assert_eq!(s.state.status, S::Connecting);
        assert_eq!(s.actions, [Action::CloseLink, Action::CancelRetry, Action::Connect]);
        // Start, by contrast, leaves a live session alone.
        assert_eq!(step(&up, Input::Start).state, up);
    }

    /// A time within a day of `now()`, either side, or none.
    fn any_time() -> impl Strategy<Value = Option<DateTime<Utc>>> {
        proptest::option::of(
            (-86_400i64..86_400).prop_map(|s| now() + chrono::Duration::seconds(s)),
        )
    }

    fn any_input() -> impl Strategy<Value = Input> {
        let error = "[a-z ]{0,12}";
        let refusal = proptest::sample::select(vec![Refusal::ClientOutdated, Refusal::Other]);
        prop_oneof![
            Just(Input::Start),
            Just(Input::Reconnect),
            Just(Input::AttemptSucceeded),
            error.prop_map(|error| Input::AttemptFailed { error }),
            Just(Input::QrShown),
            Just(Input::QrExhausted),
            Just(Input::Paired),
            error.prop_map(|error| Input::Ended(Ending::Dropped { error })),
            Just(Input::Ended(Ending::LoggedOut)),
            Just(Input::Ended(Ending::Replaced)),
            any_time().prop_map(|until| Input::Ended(Ending::Banned { until })),
            Just(Input::Ended(Ending::Restart)),
            (refusal, error)
                .prop_map(|(refusal, error)| Input::Ended(Ending::Refused { refusal, error })),
            Just(Input::RetryDue),
            Just(Input::Stable),
            Just(Input::Stop),
            Just(Input::Shutdown),
            Just(Input::HandOver),
        ]
    }

    /// Any state a session can be found in: every status, reason and schedule, with or
    /// without credentials, a retry time and a last connection.
    fn any_state() -> impl Strategy<Value = State> {
        let statuses = proptest::sample::select(S::ALL.to_vec());
        let reasons = proptest::option::of(proptest::sample::select(Reason::ALL.to_vec()));
        let schedules = proptest::sample::select(vec![Schedule::Restore, Schedule::Reconnect]);
        (statuses, reasons, schedules, any::<bool>(), 0u32..6, any_time(), any_time()).prop_map(
            |(status, reason, schedule, creds, attempt, next_retry_at, last_connected_at)| State {
                reason,
                schedule,
                attempt,
                next_retry_at,
                last_connected_at,
                ..State::new(status, creds)
            },
        )
    }

    /// Inputs that come from an operator (or restore/recovery, which the manager gates).
    fn is_request(input: &Input) -> bool {
        matches!(input, Input::Start | Input::Reconnect)
    }

    proptest! {
        #[test]
        fn every_transition_is_legal_and_bounded(
            start in any_state(),
            inputs in proptest::collection::vec(any_input(), 1..60),
        ) {
            let policy = policy();
            let mut state = start;
            for input in inputs {
                let s = transition(&state, &input, Ctx { now: now(), policy: &policy, jitter: 0.5 });
                prop_assert!(is_legal(state.status, s.state.status),
                    "{:?} -> {:?} on {input:?}", state.status, s.state.status);
                let bound = match s.state.schedule {
                    Schedule::Restore => policy.restore.retries().unwrap_or(u32::MAX),
                    Schedule::Reconnect => policy.reconnect.retries().unwrap_or(u32::MAX),
                };
                prop_assert!(s.state.attempt <= bound.max(state.attempt),
                    "attempt {} past the bound {bound}", s.state.attempt);
                if s.actions.contains(&Action::Connect) {
                    // Nothing connects a session unless asked to, its retry fell due, or the
                    // upstream itself asked for a fresh login.
                    prop_assert!(
                        is_request(&input) || matches!(input, Input::RetryDue | Input::Ended(Ending::Restart))
                    );
                }
                if s.state.status == S::Reconnecting && state.status != S::Reconnecting {
                    // Entering reconnecting always schedules the retry it announces.
                    prop_assert!(s.state.next_retry_at.is_some());
                    prop_assert!(s.actions.iter().any(|a| matches!(a, Action::ArmRetry(_))));
                }
                state = s.state;
            }
        }

        #[test]
        fn logged_out_and_replaced_never_reconnect_on_their_own(
            inputs in proptest::collection::vec(any_input(), 1..60),
        ) {
            let policy = policy();
            for start in [
                State::new(S::LoggedOut, false),
                State { reason: Some(Reason::Replaced), ..State::new(S::Disconnected, true) },
            ] {
                let mut state = start;
                for input in inputs.iter().take_while(|i| !is_request(i)) {
                    let s = transition(&state, input, Ctx { now: now(), policy: &policy, jitter: 0.0 });
                    prop_assert!(!s.actions.contains(&Action::Connect), "{input:?} reconnected");
                    prop_assert!(!s.actions.iter().any(|a| matches!(a, Action::ArmRetry(_))));
                    prop_assert!(!s.state.is_live(), "{input:?} made it live");
                    state = s.state;
                }
            }
        }
    }
}
