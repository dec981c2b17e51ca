//! Timing policies as pure functions, shared by the server and the browser.
//!
//! Nothing here reads a clock or sleeps: callers pass in what happened and get back how
//! long to wait, so every schedule is testable without time passing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the last light health poll saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LightPoll {
    /// The server answered; `uptime` is what it reported.
    Reached {
        /// Server uptime from the report.
        uptime: Duration,
    },
    /// The server did not answer, `failures` times in a row (at least 1).
    Unreachable {
        /// Consecutive failures so far.
        failures: u32,
    },
}

/// Timing of the dashboard's hybrid health poller (seed 004 §3, DESIGN.md "Browser status
/// client").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollPolicy {
    /// Light `/health` poll interval while all is well.
    pub light_every: Duration,
    /// Deep health poll interval.
    pub deep_every: Duration,
    /// Waits after consecutive failures; past the end the last one repeats.
    pub unreachable_backoff: [Duration; 3],
    /// Poll interval while the server has only just started.
    pub warmup_every: Duration,
    /// How long after start a server counts as "just started".
    pub warmup_uptime: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            light_every: Duration::from_secs(30),
            deep_every: Duration::from_secs(5 * 60),
            unreachable_backoff: [
                Duration::from_secs(5),
                Duration::from_secs(10),
                Duration::from_secs(30),
            ],
            warmup_every: Duration::from_secs(5),
            warmup_uptime: Duration::from_secs(60),
        }
    }
}

impl PollPolicy {
    /// How long to wait before the next light poll.
    pub fn next_light_delay(&self, last: LightPoll) -> Duration {
        match last {
            LightPoll::Reached { uptime } if uptime < self.warmup_uptime => self.warmup_every,
            LightPoll::Reached { .. } => self.light_every,
            LightPoll::Unreachable { failures } => {
                let i = (failures.max(1) as usize - 1).min(self.unreachable_backoff.len() - 1);
                self.unreachable_backoff[i]
            }
        }
    }

    /// Whether a server that reported `uptime` has only just started: the dashboard shows
    /// "Reconnecting…" and polls faster while this holds.
    pub fn in_warmup(&self, uptime: Duration) -> bool {
        uptime < self.warmup_uptime
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn steady_server_is_polled_every_30_s() {
        let p = PollPolicy::default();
        assert_eq!(p.next_light_delay(LightPoll::Reached { uptime: secs(3600) }), secs(30));
        assert_eq!(p.next_light_delay(LightPoll::Reached { uptime: secs(60) }), secs(30));
    }

    #[test]
    fn fresh_server_is_polled_every_5_s() {
        let p = PollPolicy::default();
        assert_eq!(p.next_light_delay(LightPoll::Reached { uptime: secs(0) }), secs(5));
        assert_eq!(p.next_light_delay(LightPoll::Reached { uptime: secs(59) }), secs(5));
        assert!(p.in_warmup(secs(59)));
        assert!(!p.in_warmup(secs(60)));
    }

    #[test]
    fn unreachable_backs_off_5_10_30_then_stays() {
        let p = PollPolicy::default();
        let waits: Vec<_> = (0..=6)
            .map(|failures| p.next_light_delay(LightPoll::Unreachable { failures }).as_secs())
            .collect();
        assert_eq!(waits, [5, 5, 10, 30, 30, 30, 30]);
    }
}
