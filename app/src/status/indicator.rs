//! What the status indicators show, derived purely from what the poller last saw.

use crate::{
    model::{Health, HealthStatus},
    policy::PollPolicy,
};

/// The binary state of the header dot and the sidebar badge, plus "not known yet".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indicator {
    /// No poll has finished yet.
    Checking,
    /// WhatsApp works: the server answers, is healthy and holds a live session.
    Connected,
    /// Anything else; the detail says what.
    Disconnected,
}

impl Indicator {
    /// Lower-case name used as the `data-state` attribute and CSS hook.
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::Checking => "checking",
            Indicator::Connected => "connected",
            Indicator::Disconnected => "disconnected",
        }
    }
}

/// The texts and state of the indicators at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Green, red or not known yet.
    pub indicator: Indicator,
    /// The dot's tooltip.
    pub tooltip: &'static str,
    /// The badge's label.
    pub label: &'static str,
    /// One sentence saying why, for the expanded badge and screen readers.
    pub detail: String,
}

/// Derives what the indicators show from the last report and whether the server answered.
pub fn read(health: Option<&Health>, reachable: Option<bool>, policy: &PollPolicy) -> Reading {
    let (indicator, detail) = match (reachable, health) {
        (None, _) => (Indicator::Checking, "Checking the server…".to_owned()),
        (Some(false), _) | (Some(true), None) => {
            (Indicator::Disconnected, "The Lifeline server is not answering.".to_owned())
        }
        (Some(true), Some(h)) => describe(h, policy),
    };
    let (tooltip, label) = match indicator {
        Indicator::Checking => ("WhatsApp: Checking…", "WhatsApp Checking…"),
        Indicator::Connected => ("WhatsApp: Connected", "WhatsApp Connected"),
        Indicator::Disconnected => {
            ("WhatsApp: Disconnected - Click for details", "WhatsApp Offline")
        }
    };
    Reading { indicator, tooltip, label, detail }
}

fn describe(h: &Health, policy: &PollPolicy) -> (Indicator, String) {
    let s = h.sessions;
    let warming_up = policy.in_warmup(std::time::Duration::from_secs(h.uptime));
    match h.status {
        HealthStatus::Error => {
            (Indicator::Disconnected, "The server cannot reach its database.".to_owned())
        }
        _ if s.total == 0 => (Indicator::Disconnected, "No WhatsApp session yet.".to_owned()),
        HealthStatus::Ok if s.connected > 0 => {
            (Indicator::Connected, format!("{} of {} sessions connected.", s.connected, s.total))
        }
        _ if warming_up => (Indicator::Disconnected, "Reconnecting…".to_owned()),
        _ => {
            (Indicator::Disconnected, format!("{} of {} sessions connected.", s.connected, s.total))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::model::SessionCounts;

    fn health(status: HealthStatus, uptime: u64, total: u32, connected: u32) -> Health {
        Health {
            status,
            timestamp: Utc::now(),
            uptime,
            sessions: SessionCounts {
                total,
                connected,
                connecting: 0,
                disconnected: total - connected,
            },
        }
    }

    fn ind(h: Option<&Health>, reachable: Option<bool>) -> Indicator {
        read(h, reachable, &PollPolicy::default()).indicator
    }

    #[test]
    fn unknown_until_the_first_poll() {
        assert_eq!(ind(None, None), Indicator::Checking);
    }

    #[test]
    fn green_only_when_healthy_with_a_live_session() {
        let up = health(HealthStatus::Ok, 3600, 2, 2);
        assert_eq!(ind(Some(&up), Some(true)), Indicator::Connected);
        let r = read(Some(&up), Some(true), &PollPolicy::default());
        assert_eq!(r.tooltip, "WhatsApp: Connected");
        assert_eq!(r.label, "WhatsApp Connected");
    }

    #[test]
    fn red_when_unreachable_even_with_an_old_good_report() {
        let up = health(HealthStatus::Ok, 3600, 2, 2);
        let r = read(Some(&up), Some(false), &PollPolicy::default());
        assert_eq!(r.indicator, Indicator::Disconnected);
        assert_eq!(r.tooltip, "WhatsApp: Disconnected - Click for details");
        assert_eq!(r.label, "WhatsApp Offline");
    }

    #[test]
    fn red_when_degraded_error_or_empty() {
        let degraded = health(HealthStatus::Degraded, 3600, 2, 1);
        let error = health(HealthStatus::Error, 3600, 2, 2);
        let empty = health(HealthStatus::Ok, 3600, 0, 0);
        for h in [&degraded, &error, &empty] {
            assert_eq!(ind(Some(h), Some(true)), Indicator::Disconnected);
        }
        let r = read(Some(&empty), Some(true), &PollPolicy::default());
        assert_eq!(r.detail, "No WhatsApp session yet.");
    }

    #[test]
    fn a_fresh_server_says_reconnecting() {
        let fresh = health(HealthStatus::Degraded, 10, 2, 0);
        let r = read(Some(&fresh), Some(true), &PollPolicy::default());
        assert_eq!(r.indicator, Indicator::Disconnected);
        assert_eq!(r.detail, "Reconnecting…");
    }
}
