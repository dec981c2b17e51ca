//! A session's recent history and the status timeline drawn from it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Reason, SessionStatus, SessionView};

/// One recorded status change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// When.
    pub at: DateTime<Utc>,
    /// The state before.
    pub from: SessionStatus,
    /// The state after.
    pub to: SessionStatus,
    /// Why, where that matters.
    pub reason: Option<Reason>,
    /// What happened, for people.
    pub detail: Option<String>,
}

/// `session_history`: the session now, and its changes over a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionHistory {
    /// The session as it is.
    pub session: SessionView,
    /// Where the window starts.
    pub since: DateTime<Utc>,
    /// When the history was read (the window's end).
    pub until: DateTime<Utc>,
    /// The state at `since`, when a change before the window says so.
    pub status_at_start: Option<SessionStatus>,
    /// The changes inside the window, oldest first.
    pub changes: Vec<StatusChange>,
    /// The recovery log inside the window, oldest first.
    pub recoveries: Vec<super::recovery::LoggedRecovery>,
    /// Automatic recoveries the watchdog may still make this hour.
    pub recovery_budget_left: u32,
}

/// How far back the detail page looks.
pub const HISTORY_WINDOW: Duration = Duration::hours(24);

/// The most changes one history carries; a session that flapped more keeps its newest.
pub const HISTORY_LIMIT: u32 = 2000;

/// One stretch of the timeline in one state.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// Start, as a fraction of the window (0 to 1).
    pub start: f64,
    /// End, as a fraction of the window.
    pub end: f64,
    /// The state over the stretch; `None` where nothing is known (before the session
    /// existed, or before the oldest change kept).
    pub status: Option<SessionStatus>,
}

/// The timeline of a history: spans that tile the window, and where attempts began.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Consecutive spans from 0 to 1.
    pub spans: Vec<Span>,
    /// Positions (fractions of the window) of the connection attempts.
    pub attempts: Vec<f64>,
    /// Positions of the recoveries (the watchdog's or a person's).
    pub recoveries: Vec<f64>,
    /// Share of the time on record (the window less its unknown stretches) spent connected.
    pub connected_share: f64,
}

impl SessionHistory {
    /// For each change, whether it began a connection attempt with stored credentials: a
    /// retry, a restore, a recovery or an operator's start; not the handshake that leads to
    /// a QR code for pairing.
    pub fn attempts(&self) -> Vec<bool> {
        let c = &self.changes;
        (0..c.len())
            .map(|i| {
                c[i].to == SessionStatus::Connecting
                    && c[i].from != SessionStatus::QrPending
                    && c.get(i + 1).is_none_or(|next| next.to != SessionStatus::QrPending)
            })
            .collect()
    }

    /// Cuts the window into spans, one per state the session was in.
    pub fn timeline(&self) -> Timeline {
        let length = (self.until - self.since).num_milliseconds().max(1) as f64;
        let at = |t: DateTime<Utc>| {
            ((t - self.since).num_milliseconds() as f64 / length).clamp(0.0, 1.0)
        };
        let mut spans = Vec::new();
        let mut attempts = Vec::new();
        let mut position = 0.0;
        let mut status = self.status_at_start;
        let attempt = self.attempts();
        for (change, attempt) in self.changes.iter().zip(attempt) {
            let x = at(change.at);
            if x > position {
                spans.push(Span { start: position, end: x, status });
                position = x;
            }
            status = Some(change.to);
            if attempt {
                attempts.push(x);
            }
        }
        if position < 1.0 {
            spans.push(Span { start: position, end: 1.0, status });
        }
        let length_of = |keep: &dyn Fn(&Span) -> bool| -> f64 {
            spans.iter().filter(|s| keep(s)).map(|s| s.end - s.start).sum()
        };
        let known = length_of(&|s| s.status.is_some());
        let connected = length_of(&|s| s.status == Some(SessionStatus::Connected));
        let connected_share = if known > 0.0 { connected / known } else { 0.0 };
        let recoveries = self.recoveries.iter().map(|r| at(r.at)).collect();
        Timeline { spans, attempts, recoveries, connected_share }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use SessionStatus::*;

    fn t(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, hour, 0, 0).unwrap()
    }

    fn change(hour: u32, from: SessionStatus, to: SessionStatus) -> StatusChange {
        StatusChange { at: t(hour), from, to, reason: None, detail: None }
    }

    fn history(start: Option<SessionStatus>, changes: Vec<StatusChange>) -> SessionHistory {
        let now = t(0) + Duration::hours(24);
        SessionHistory {
            session: SessionView::new("s".into(), "s".into(), "simulator".into(), now),
            since: t(0),
            until: now,
            status_at_start: start,
            changes,
            recoveries: Vec::new(),
            recovery_budget_left: 3,
        }
    }

    #[test]
    fn spans_tile_the_window_in_order() {
        let h = history(
            Some(Connected),
            vec![
                change(6, Connected, Reconnecting),
                change(9, Reconnecting, Connecting),
                change(12, Connecting, Connected),
            ],
        );
        let tl = h.timeline();
        let statuses: Vec<_> = tl.spans.iter().map(|s| s.status).collect();
        let want = [Some(Connected), Some(Reconnecting), Some(Connecting), Some(Connected)];
        assert_eq!(statuses, want);
        assert_eq!(tl.spans[0].start, 0.0);
        assert_eq!(tl.spans[1].start, 0.25);
        assert_eq!(tl.spans[2].start, 0.375);
        assert_eq!(tl.spans[3].start, 0.5);
        assert_eq!(tl.spans[3].end, 1.0);
        assert!((tl.connected_share - 0.75).abs() < 1e-9);
        // The drop only schedules a retry; the retry itself is the attempt.
        assert_eq!(tl.attempts, [0.375]);
    }

    #[test]
    fn unknown_before_the_first_change_without_an_earlier_state() {
        let h = history(
            None,
            vec![
                change(18, Disconnected, Connecting),
                change(18, Connecting, QrPending),
                change(18, QrPending, Connected),
            ],
        );
        let tl = h.timeline();
        assert_eq!(tl.spans.len(), 2);
        assert_eq!(tl.spans[0].status, None);
        assert_eq!(tl.spans[1].status, Some(Connected));
        // Pairing is not a recovery attempt, and the unknown morning does not count
        // against the share.
        assert!(tl.attempts.is_empty());
        assert_eq!(h.attempts(), [false, false, false]);
        assert_eq!(tl.connected_share, 1.0);
    }

    #[test]
    fn a_restore_and_an_operator_start_are_attempts() {
        let h = history(
            Some(Disconnected),
            vec![change(1, Disconnected, Connecting), change(1, Connecting, Connected)],
        );
        assert_eq!(h.attempts(), [true, false]);
    }

    #[test]
    fn a_quiet_day_is_one_span() {
        let tl = history(Some(Connected), vec![]).timeline();
        assert_eq!(tl.spans, [Span { start: 0.0, end: 1.0, status: Some(Connected) }]);
        assert_eq!(tl.connected_share, 1.0);
    }
}
