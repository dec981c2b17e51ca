//! The per-number facts the status UI shows (phone, connection status, last connection,
//! error), drawn from the session list, and the phone mask the badge shows.

use chrono::{DateTime, Utc};

use crate::model::{Desired, Reason, SessionHealth, SessionStatus, SessionView};

/// What the indicators need to know of one session, whichever report it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The session's id.
    pub id: String,
    /// The operator's name for it.
    pub name: String,
    /// The linked number.
    pub phone_number: Option<String>,
    /// Its observed state.
    pub status: SessionStatus,
    /// Why it is in that state.
    pub reason: Option<Reason>,
    /// What the operator wants.
    pub desired: Desired,
    /// When it was last live.
    pub last_connected_at: Option<DateTime<Utc>>,
    /// The last failure seen.
    pub last_error: Option<String>,
    /// Whether credentials are stored (without them only a QR scan helps).
    pub paired: bool,
}

impl From<&SessionView> for Facts {
    fn from(s: &SessionView) -> Facts {
        Facts {
            id: s.id.clone(),
            name: s.name.clone(),
            phone_number: s.phone_number.clone(),
            status: s.status,
            reason: s.reason,
            desired: s.desired,
            last_connected_at: s.last_connected_at,
            last_error: s.last_error.clone(),
            paired: s.paired,
        }
    }
}

impl From<&SessionHealth> for Facts {
    fn from(s: &SessionHealth) -> Facts {
        Facts {
            id: s.session_id.clone(),
            name: s.name.clone(),
            phone_number: s.phone_number.clone(),
            status: s.connection_status,
            reason: s.reason,
            desired: s.desired,
            last_connected_at: s.last_connected_at,
            last_error: s.last_error.clone(),
            // The deep report has no credentials flag; a linked number implies a pairing.
            paired: s.phone_number.is_some(),
        }
    }
}

/// The number the indicators speak for and what a "Reconnect" click would act on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The session shown: a connected one if any, else the one that should run and was
    /// live most recently.
    pub primary: Option<Facts>,
    /// Sessions that should run, are not connected, and a reconnect can bring back
    /// (a logged-out or never-paired session needs a QR scan instead).
    pub reconnectable: Vec<String>,
    /// Sessions that should run but need a QR scan before anything else helps.
    pub need_pairing: Vec<String>,
}

/// Picks the session to show and the ones to reconnect.
pub fn summarize(sessions: &[Facts]) -> Summary {
    let wanted = |s: &&Facts| s.desired == Desired::Running;
    let primary = sessions
        .iter()
        .filter(|s| s.status == SessionStatus::Connected)
        .max_by_key(|s| s.last_connected_at)
        .or_else(|| sessions.iter().filter(wanted).max_by_key(|s| s.last_connected_at))
        .or_else(|| sessions.first())
        .cloned();
    let mut summary = Summary { primary, ..Summary::default() };
    for s in sessions.iter().filter(wanted) {
        match s.status {
            SessionStatus::Connected => {}
            SessionStatus::LoggedOut | SessionStatus::QrPending => {
                summary.need_pairing.push(s.id.clone());
            }
            _ if !s.paired => summary.need_pairing.push(s.id.clone()),
            _ => summary.reconnectable.push(s.id.clone()),
        }
    }
    summary
}

/// `+27821231234` → `+27 **** 1234`: enough to tell numbers apart, not enough to dial.
pub fn mask_phone(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 8 {
        // Too short to keep a prefix and a suffix and still hide anything.
        let tail: String = digits[digits.len().saturating_sub(2)..].iter().collect();
        return format!("**** {tail}");
    }
    let head: String = digits[..2].iter().collect();
    let tail: String = digits[digits.len() - 4..].iter().collect();
    format!("+{head} **** {tail}")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn facts(id: &str, status: SessionStatus, desired: Desired, hour: Option<u32>) -> Facts {
        Facts {
            id: id.into(),
            name: id.into(),
            phone_number: Some(format!("+2782123{id}")),
            status,
            reason: None,
            desired,
            last_connected_at: hour.map(|h| Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap()),
            last_error: None,
            paired: true,
        }
    }

    #[test]
    fn masks_keep_the_country_code_and_the_last_four_digits() {
        assert_eq!(mask_phone("+27821231234"), "+27 **** 1234");
        assert_eq!(mask_phone("27 82 123 1234"), "+27 **** 1234");
        assert_eq!(mask_phone("+1234567"), "**** 67");
        assert_eq!(mask_phone(""), "**** ");
    }

    #[test]
    fn a_connected_session_is_shown_before_a_more_recent_dropped_one() {
        use {Desired::Running, SessionStatus::*};
        let list =
            [facts("a", Reconnecting, Running, Some(12)), facts("b", Connected, Running, Some(9))];
        let s = summarize(&list);
        assert_eq!(s.primary.unwrap().id, "b");
        assert_eq!(s.reconnectable, ["a"]);
    }

    #[test]
    fn without_a_connected_one_the_most_recently_live_wanted_session_is_shown() {
        use {Desired::*, SessionStatus::*};
        let list = [
            facts("stopped", Disconnected, Stopped, Some(23)),
            facts("old", Disconnected, Running, Some(1)),
            facts("new", Disconnected, Running, Some(5)),
        ];
        let s = summarize(&list);
        assert_eq!(s.primary.unwrap().id, "new");
        // A session an operator stopped is not reconnected behind their back.
        assert_eq!(s.reconnectable, ["old", "new"]);
    }

    #[test]
    fn logged_out_and_unpaired_sessions_need_a_scan_not_a_reconnect() {
        use {Desired::Running, SessionStatus::*};
        let mut fresh = facts("fresh", Disconnected, Running, None);
        fresh.paired = false;
        let list = [
            facts("out", LoggedOut, Running, Some(1)),
            fresh,
            facts("qr", QrPending, Running, None),
            facts("dropped", Disconnected, Running, Some(2)),
        ];
        let s = summarize(&list);
        assert_eq!(s.reconnectable, ["dropped"]);
        assert_eq!(s.need_pairing, ["out", "fresh", "qr"]);
    }

    #[test]
    fn nothing_to_show_without_sessions() {
        assert_eq!(summarize(&[]), Summary::default());
    }
}
