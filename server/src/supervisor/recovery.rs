//! What the watchdog looks for, decided purely from a session's view: no clock, no I/O.

use app::{
    model::{
        Desired, Reason, SessionStatus, SessionView,
        recovery::{Action, Outcome, Trigger},
    },
    policy::SupervisorPolicy,
};
use chrono::{DateTime, Utc};

/// Something wrong with a session that should be live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding {
    /// Connected on record, but the transport says the link is down.
    DeadLink,
    /// Connected and up, but nothing heard for the policy's idle time: probe it.
    Silent,
    /// Not connected and not trying any more.
    StoppedTrying,
}

impl Finding {
    /// The trigger and action a recovery for this finding records (a silent session is
    /// recovered only once its probe has failed).
    pub fn recovery(self) -> (Trigger, Action) {
        match self {
            Finding::DeadLink => (Trigger::DeadLink, Action::Reconnect),
            Finding::Silent => (Trigger::ProbeFailed, Action::Reconnect),
            Finding::StoppedTrying => (Trigger::Disconnected, Action::Start),
        }
    }
}

/// Looks at one session. `heard` is when a probe last got an answer; it counts as news
/// like an arriving message does.
pub fn inspect(
    view: &SessionView,
    link_alive: bool,
    heard: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: &SupervisorPolicy,
) -> Option<Finding> {
    // The watchdog acts only where a person allowed Lifeline to act alone.
    if view.desired != Desired::Running || !view.auto_connect || !view.paired {
        return None;
    }
    match view.status {
        SessionStatus::Connected if !link_alive => Some(Finding::DeadLink),
        SessionStatus::Connected => {
            let last = [view.last_connected_at, view.last_message_at, heard]
                .into_iter()
                .flatten()
                .max()?;
            let idle = now.signed_duration_since(last).to_std().unwrap_or_default();
            (idle >= policy.probe_idle_after).then_some(Finding::Silent)
        }
        // Replaced, banned, stopped, refused and QR timeouts wait for a person (or the ban's
        // end): fighting another client for a number is how numbers get banned, and a refusal
        // WhatsApp calls final answers every retry the same way.
        SessionStatus::Disconnected => match view.reason {
            None
            | Some(
                Reason::GaveUp
                | Reason::ConnectionLost
                | Reason::AttemptFailed
                | Reason::ServerShutdown
                | Reason::HandedOver,
            ) if view.next_retry_at.is_none() => Some(Finding::StoppedTrying),
            _ => None,
        },
        _ => None,
    }
}

/// How an attempt ended, from the view it settled in.
pub fn outcome_of(view: &SessionView) -> (Outcome, Option<String>) {
    let error = || {
        view.last_error
            .clone()
            .or_else(|| view.reason.map(|r| r.label().to_owned()))
            .or_else(|| Some(view.status.label().to_owned()))
    };
    match view.status {
        SessionStatus::Connected => (Outcome::Recovered, None),
        SessionStatus::Connecting | SessionStatus::Reconnecting => (Outcome::StillTrying, error()),
        _ if view.next_retry_at.is_some() => (Outcome::StillTrying, error()),
        _ => (Outcome::Failed, error()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn session(status: SessionStatus, reason: Option<Reason>) -> SessionView {
        let now = Utc::now();
        SessionView {
            status,
            reason,
            paired: true,
            last_connected_at: Some(now),
            ..SessionView::new("s".into(), "s".into(), "simulator".into(), now)
        }
    }

    fn look(view: &SessionView, alive: bool, after: Duration) -> Option<Finding> {
        let now = view.last_connected_at.unwrap() + after;
        inspect(view, alive, None, now, &SupervisorPolicy::default())
    }

    #[test]
    fn a_connected_row_over_a_dead_link_is_found_at_once() {
        let v = session(SessionStatus::Connected, None);
        assert_eq!(look(&v, false, Duration::ZERO), Some(Finding::DeadLink));
        assert_eq!(look(&v, true, Duration::ZERO), None);
    }

    #[test]
    fn thirty_silent_minutes_call_for_a_probe_and_news_resets_them() {
        let mut v = session(SessionStatus::Connected, None);
        assert_eq!(look(&v, true, Duration::from_secs(29 * 60)), None);
        assert_eq!(look(&v, true, Duration::from_secs(30 * 60)), Some(Finding::Silent));
        v.last_message_at = v.last_connected_at.map(|t| t + chrono::Duration::minutes(20));
        assert_eq!(look(&v, true, Duration::from_secs(30 * 60)), None);
        // An answered probe counts as news too.
        let heard = v.last_connected_at.map(|t| t + chrono::Duration::minutes(25));
        let now = v.last_connected_at.unwrap() + chrono::Duration::minutes(50);
        assert_eq!(inspect(&v, true, heard, now, &SupervisorPolicy::default()), None);
    }

    #[test]
    fn sessions_that_stopped_trying_are_started_again() {
        for reason in [Some(Reason::GaveUp), Some(Reason::ServerShutdown), None] {
            let v = session(SessionStatus::Disconnected, reason);
            assert_eq!(look(&v, false, Duration::ZERO), Some(Finding::StoppedTrying), "{reason:?}");
        }
    }

    #[test]
    fn what_needs_a_person_is_left_alone() {
        for reason in [
            Reason::Replaced,
            Reason::Banned,
            Reason::Stopped,
            Reason::QrTimeout,
            Reason::ClientOutdated,
            Reason::Refused,
        ] {
            let v = session(SessionStatus::Disconnected, Some(reason));
            assert_eq!(look(&v, false, Duration::ZERO), None, "{reason:?}");
        }
        for status in [
            SessionStatus::LoggedOut,
            SessionStatus::QrPending,
            SessionStatus::Connecting,
            SessionStatus::Reconnecting,
        ] {
            assert_eq!(look(&session(status, None), false, Duration::ZERO), None, "{status:?}");
        }
        let mut stopped = session(SessionStatus::Disconnected, Some(Reason::GaveUp));
        stopped.desired = Desired::Stopped;
        assert_eq!(look(&stopped, false, Duration::ZERO), None);
        let mut manual_only = session(SessionStatus::Disconnected, Some(Reason::GaveUp));
        manual_only.auto_connect = false;
        assert_eq!(look(&manual_only, false, Duration::ZERO), None);
        let mut unpaired = session(SessionStatus::Disconnected, Some(Reason::GaveUp));
        unpaired.paired = false;
        assert_eq!(look(&unpaired, false, Duration::ZERO), None);
        // A retry already scheduled is the ladder's business, not the watchdog's.
        let mut retrying = session(SessionStatus::Disconnected, Some(Reason::AttemptFailed));
        retrying.next_retry_at = Some(Utc::now());
        assert_eq!(look(&retrying, false, Duration::ZERO), None);
    }

    #[test]
    fn outcomes_follow_the_settled_view() {
        assert_eq!(
            outcome_of(&session(SessionStatus::Connected, None)),
            (Outcome::Recovered, None)
        );
        let mut failed = session(SessionStatus::Disconnected, Some(Reason::GaveUp));
        failed.last_error = Some("refused".into());
        assert_eq!(outcome_of(&failed), (Outcome::Failed, Some("refused".into())));
        let retrying = session(SessionStatus::Reconnecting, Some(Reason::ConnectionLost));
        assert_eq!(outcome_of(&retrying).0, Outcome::StillTrying);
    }
}
