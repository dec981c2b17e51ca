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

/// Timing of the dashboard's hybrid health poller: light polls every 30 s, a deep one every
/// 5 min, faster while the server has just started, backing off while it is unreachable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollPolicy {
    /// Light `/health` poll interval while all is well.
    pub light_every: Duration,
    /// Deep health poll interval.
    pub deep_every: Duration,
    /// Waits after consecutive failures; it never gives up.
    pub unreachable_backoff: Backoff,
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
            unreachable_backoff: Backoff::Steps {
                delays: vec![
                    Duration::from_secs(5),
                    Duration::from_secs(10),
                    Duration::from_secs(30),
                ],
                repeat_last: true,
            },
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
                // The ladder repeats its last wait, so it always has one.
                self.unreachable_backoff.delay_before(failures.max(1)).unwrap_or(self.light_every)
            }
        }
    }

    /// Whether a server that reported `uptime` has only just started: the dashboard shows
    /// "Reconnecting…" and polls faster while this holds.
    pub fn in_warmup(&self, uptime: Duration) -> bool {
        uptime < self.warmup_uptime
    }
}

/// A ladder of waits between retries: how long to wait before retry `n` (1-based), and
/// when to stop. Every retry schedule in Lifeline is one: restoring and reconnecting
/// sessions, the browser's event channel, and its health poller while the server is away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "BackoffFields")]
pub enum Backoff {
    /// Fixed waits, one per retry: `[5 s, 15 s, 45 s]` retries three times; with
    /// `repeat_last`, the last wait repeats for ever instead.
    Steps {
        /// The wait before each retry.
        delays: Vec<Duration>,
        /// Whether the last wait repeats once the list is used up.
        #[serde(default)]
        repeat_last: bool,
    },
    /// `base × 2ⁿ⁻¹` before retry `n`, never above `cap`, for `retries` retries.
    Doubling {
        /// The wait before the first retry.
        base: Duration,
        /// How many retries before giving up.
        retries: u32,
        /// The longest wait, jitter included.
        #[serde(default)]
        cap: Option<Duration>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum BackoffKind {
    Steps,
    Doubling,
}

#[derive(Deserialize)]
struct BackoffFields {
    kind: BackoffKind,
    delays: Option<Vec<Duration>>,
    #[serde(default)]
    repeat_last: bool,
    base: Option<Duration>,
    retries: Option<u32>,
    cap: Option<Duration>,
}

impl TryFrom<BackoffFields> for Backoff {
    type Error = String;

    fn try_from(f: BackoffFields) -> Result<Self, String> {
        let missing = |name: &str| format!("missing field `{name}`");
        Ok(match f.kind {
            BackoffKind::Steps => Backoff::Steps {
                delays: f.delays.ok_or_else(|| missing("delays"))?,
                repeat_last: f.repeat_last,
            },
            BackoffKind::Doubling => Backoff::Doubling {
                base: f.base.ok_or_else(|| missing("base"))?,
                retries: f.retries.ok_or_else(|| missing("retries"))?,
                cap: f.cap,
            },
        })
    }
}

impl Backoff {
    /// The wait before retry `n` (1-based), or `None` once the schedule is exhausted.
    pub fn delay_before(&self, n: u32) -> Option<Duration> {
        if n == 0 || self.retries().is_some_and(|retries| n > retries) {
            return None;
        }
        match self {
            Backoff::Steps { delays, .. } => delays.get(n as usize - 1).or(delays.last()).copied(),
            Backoff::Doubling { base, cap: None, .. } => {
                // Without a cap, a wait too long to express is no wait at all.
                base.checked_mul(1u32.checked_shl(n - 1)?)
            }
            Backoff::Doubling { base, cap: Some(cap), .. } => {
                let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
                Some(base.saturating_mul(factor).min(*cap))
            }
        }
    }

    /// The wait before retry `n` stretched by up to `fraction` of itself (`sample` is
    /// uniform in `[0, 1)`), never above the cap.
    pub fn jittered_before(&self, n: u32, fraction: f64, sample: f64) -> Option<Duration> {
        let wait = jittered(self.delay_before(n)?, fraction, sample);
        Some(match self {
            Backoff::Doubling { cap: Some(cap), .. } => wait.min(*cap),
            _ => wait,
        })
    }

    /// How many retries the schedule allows; `None`: it never gives up.
    pub fn retries(&self) -> Option<u32> {
        match self {
            // An empty list has no wait to repeat.
            Backoff::Steps { delays, repeat_last: true } if !delays.is_empty() => None,
            Backoff::Steps { delays, .. } => Some(u32::try_from(delays.len()).unwrap_or(u32::MAX)),
            Backoff::Doubling { retries, .. } => Some(*retries),
        }
    }

    /// The same ladder with every wait multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Backoff {
        let f = |d: Duration| d.mul_f64(factor);
        match self {
            Backoff::Steps { delays, repeat_last } => Backoff::Steps {
                delays: delays.iter().copied().map(f).collect(),
                repeat_last: *repeat_last,
            },
            Backoff::Doubling { base, retries, cap } => {
                Backoff::Doubling { base: f(*base), retries: *retries, cap: cap.map(f) }
            }
        }
    }
}

/// Stretches `delay` by up to `fraction` of itself; `sample` is uniform in `[0, 1)`.
///
/// Jitter only ever lengthens a wait, so the documented schedule is a lower bound, and
/// sessions that failed together do not all retry in the same instant.
pub fn jittered(delay: Duration, fraction: f64, sample: f64) -> Duration {
    let stretch = (fraction * sample.clamp(0.0, 1.0)).max(0.0);
    delay.mul_f64(1.0 + stretch)
}

/// How the server keeps sessions alive: retries, timeouts, the watchdog and its budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupervisorPolicy {
    /// Retries after a failed start or restore: 5 s, 15 s, 45 s, then `gave_up`.
    pub restore: Backoff,
    /// Retries after a live connection drops: 5 s doubling, 5 times, then `gave_up`.
    pub reconnect: Backoff,
    /// Largest extra fraction added to any wait.
    pub jitter: f64,
    /// A connection up this long is stable: its retry counter starts again from zero.
    pub stable_after: Duration,
    /// Reaching the upstream and logging in (up to the upstream's acceptance) must take no
    /// longer than this.
    pub handshake_timeout: Duration,
    /// After the upstream accepted the login, how long the session may take to become live
    /// (WhatsApp first delivers what arrived while it was away, for up to a minute, and a
    /// newly paired device syncs its settings, for up to three).
    pub login_timeout: Duration,
    /// How long closing a link may take (the client stores its state on the way out).
    pub close_timeout: Duration,
    /// Handshakes in flight at once, across all sessions.
    pub max_concurrent_handshakes: u32,
    /// Least time between two start-up restores (jitter is added).
    pub restore_spacing: Duration,
    /// How long a send waits for a session that is being restored.
    pub send_wait: Duration,
    /// How long sending one message may take.
    pub send_timeout: Duration,
    /// How often the watchdog looks at every session that should run.
    pub watchdog_every: Duration,
    /// A live session that has received nothing this long gets a liveness probe.
    pub probe_idle_after: Duration,
    /// How long the probe's answer may take before the link counts as dead.
    pub probe_timeout: Duration,
    /// Automatic recoveries allowed per session within `recovery_window`.
    pub recovery_budget: u32,
    /// The sliding window of the budget.
    pub recovery_window: Duration,
}

impl Default for SupervisorPolicy {
    fn default() -> Self {
        SupervisorPolicy {
            restore: Backoff::Steps {
                delays: vec![
                    Duration::from_secs(5),
                    Duration::from_secs(15),
                    Duration::from_secs(45),
                ],
                repeat_last: false,
            },
            reconnect: Backoff::Doubling { base: Duration::from_secs(5), retries: 5, cap: None },
            jitter: 0.25,
            stable_after: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(30),
            login_timeout: Duration::from_secs(5 * 60),
            close_timeout: Duration::from_secs(20),
            max_concurrent_handshakes: 4,
            restore_spacing: Duration::from_millis(250),
            send_wait: Duration::from_secs(20),
            send_timeout: Duration::from_secs(30),
            watchdog_every: Duration::from_secs(60),
            probe_idle_after: Duration::from_secs(30 * 60),
            probe_timeout: Duration::from_secs(10),
            recovery_budget: 3,
            recovery_window: Duration::from_secs(3600),
        }
    }
}

/// Which retry schedule governs the current effort to connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// A start, restore or operator reconnect: first try at once, then the restore ladder.
    Restore,
    /// A live connection dropped: every try waits, on the doubling ladder.
    Reconnect,
}

impl Schedule {
    /// The ladder of waits this schedule retries on.
    pub fn backoff(self, policy: &SupervisorPolicy) -> &Backoff {
        match self {
            Schedule::Restore => &policy.restore,
            Schedule::Reconnect => &policy.reconnect,
        }
    }
}

impl SupervisorPolicy {
    /// How long a recovery (an operator's reconnect, the watchdog's) waits to tell how its
    /// first attempt went: the handshake's budget, and a little for the attempt to be
    /// reported back.
    pub fn first_attempt_wait(&self) -> Duration {
        self.handshake_timeout + Duration::from_secs(5)
    }

    /// How long one request may take before its answer is a timeout. No request waits on
    /// sessions longer than a send (waiting for a restore, then for the upstream), a
    /// reconnect's first attempt and a close together; one still running after that is
    /// stuck (a database statement that never returns).
    pub fn request_deadline(&self) -> Duration {
        self.send_wait + self.send_timeout + self.first_attempt_wait() + self.close_timeout
    }
}

/// How the browser keeps its `/ws` event channel up: reconnect waits and the heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SocketPolicy {
    /// Waits between reconnects; past the last it gives up until the network or the page
    /// comes back.
    pub reconnect: Backoff,
    /// Largest extra fraction added to a wait.
    pub jitter: f64,
    /// How often the client pings.
    pub heartbeat: Duration,
    /// How long a pong may take before the socket counts as half-open.
    pub pong_timeout: Duration,
}

impl Default for SocketPolicy {
    fn default() -> Self {
        SocketPolicy {
            reconnect: Backoff::Doubling {
                base: Duration::from_secs(1),
                retries: 10,
                cap: Some(Duration::from_secs(10)),
            },
            jitter: 0.25,
            heartbeat: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
        }
    }
}

/// The browser's schedules as the server hands them to the page, so the dashboard runs on
/// the values the server was started with (and shows them on the Settings page).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DashboardPolicy {
    /// The health poller's schedule.
    pub poll: PollPolicy,
    /// The event channel's schedule.
    pub socket: SocketPolicy,
}

impl DashboardPolicy {
    /// Every wait and limit of time multiplied by `factor`, the warm-up length included so
    /// the schedule keeps its shape: tests run the real schedule, only faster.
    pub fn scaled(self, factor: f64) -> DashboardPolicy {
        let f = |d: Duration| d.mul_f64(factor);
        let DashboardPolicy { poll, socket } = self;
        DashboardPolicy {
            poll: PollPolicy {
                light_every: f(poll.light_every),
                deep_every: f(poll.deep_every),
                unreachable_backoff: poll.unreachable_backoff.scaled(factor),
                warmup_every: f(poll.warmup_every),
                warmup_uptime: f(poll.warmup_uptime),
            },
            socket: SocketPolicy {
                reconnect: socket.reconnect.scaled(factor),
                heartbeat: f(socket.heartbeat),
                pong_timeout: f(socket.pong_timeout),
                ..socket
            },
        }
    }
}

/// Every policy in effect on a server, for the Settings page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policies {
    /// How sessions are kept alive.
    pub supervisor: SupervisorPolicy,
    /// How the dashboard polls and reconnects.
    pub dashboard: DashboardPolicy,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn restore_ladder_is_5_15_45_then_stops() {
        let p = SupervisorPolicy::default();
        let waits: Vec<_> = (1..=4).map(|n| p.restore.delay_before(n)).collect();
        assert_eq!(waits, [Some(secs(5)), Some(secs(15)), Some(secs(45)), None]);
        assert_eq!(p.restore.retries(), Some(3));
        assert_eq!(p.restore.delay_before(0), None);
    }

    #[test]
    fn reconnect_doubles_from_5_s_five_times() {
        let p = SupervisorPolicy::default();
        let waits: Vec<_> = (1..=6).map(|n| p.reconnect.delay_before(n)).collect();
        let s = |n| Some(secs(n));
        assert_eq!(waits, [s(5), s(10), s(20), s(40), s(80), None]);
    }

    #[test]
    fn doubling_never_overflows() {
        let b = Backoff::Doubling { base: Duration::MAX, retries: 100, cap: None };
        assert_eq!(b.delay_before(2), None);
        let b = Backoff::Doubling { base: secs(1), retries: 100, cap: None };
        assert_eq!(b.delay_before(40), None);
        let capped = Backoff::Doubling { base: secs(1), retries: 100, cap: Some(secs(10)) };
        assert_eq!(capped.delay_before(40), Some(secs(10)));
        let nothing = Backoff::Steps { delays: vec![], repeat_last: true };
        assert_eq!((nothing.retries(), nothing.delay_before(1)), (Some(0), None));
    }

    #[test]
    fn a_request_may_take_as_long_as_every_wait_it_can_make_together() {
        // A send's wait for a restore and for the upstream, a first attempt, a close.
        assert_eq!(SupervisorPolicy::default().request_deadline(), secs(20 + 30 + 35 + 20));
    }

    #[test]
    fn jitter_only_lengthens_and_is_bounded() {
        assert_eq!(jittered(secs(10), 0.25, 0.0), secs(10));
        assert_eq!(jittered(secs(10), 0.25, 0.5), Duration::from_millis(11_250));
        assert!(jittered(secs(10), 0.25, 0.999_999) < Duration::from_millis(12_500));
        assert_eq!(jittered(secs(10), 0.25, 7.0), Duration::from_millis(12_500));
        assert_eq!(jittered(secs(10), 0.0, 0.7), secs(10));
    }

    #[test]
    fn socket_reconnects_1_2_4_8_10_then_stops_after_10() {
        let p = SocketPolicy::default();
        let wait = |n, sample| p.reconnect.jittered_before(n, p.jitter, sample);
        let waits: Vec<_> = (1..=11).map(|n| wait(n, 0.0).map(|d| d.as_secs())).collect();
        let s = Some;
        assert_eq!(waits, [s(1), s(2), s(4), s(8), s(10), s(10), s(10), s(10), s(10), s(10), None]);
        assert_eq!(wait(0, 0.0), None);
        // Jitter lengthens, but never past the cap.
        assert!(wait(2, 0.99).unwrap() > secs(2));
        assert_eq!(wait(5, 0.99), Some(secs(10)));
    }

    #[test]
    fn scaling_shortens_every_wait_and_keeps_the_shape() {
        let p = DashboardPolicy::default().scaled(0.1);
        assert_eq!(p.poll.light_every, secs(3));
        assert_eq!(p.poll.deep_every, secs(30));
        let poll_waits: Vec<_> =
            (1..=4).filter_map(|n| p.poll.unreachable_backoff.delay_before(n)).collect();
        assert_eq!(poll_waits, [Duration::from_millis(500), secs(1), secs(3), secs(3)]);
        assert_eq!(p.poll.warmup_every, Duration::from_millis(500));
        assert_eq!(p.poll.warmup_uptime, secs(6));
        let socket = &p.socket.reconnect;
        assert_eq!(socket.delay_before(1), Some(Duration::from_millis(100)));
        assert_eq!(socket.delay_before(9), Some(secs(1)), "the cap scales too");
        assert_eq!(p.socket.heartbeat, secs(3));
        assert_eq!(p.socket.pong_timeout, secs(1));
        assert_eq!(socket.retries(), Some(10));
        assert_eq!(DashboardPolicy::default().scaled(1.0), DashboardPolicy::default());
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

    #[test]
    fn ladders_read_back_as_written_and_say_what_is_missing() {
        let ladders = [
            SupervisorPolicy::default().restore,
            SupervisorPolicy::default().reconnect,
            Backoff::Steps { delays: vec![secs(1)], repeat_last: true },
            Backoff::Doubling { base: secs(1), retries: 10, cap: Some(secs(10)) },
        ];
        for ladder in ladders {
            let text = serde_json::to_string(&ladder).unwrap();
            assert_eq!(serde_json::from_str::<Backoff>(&text).unwrap(), ladder, "{text}");
        }
        // The optional fields have their defaults; the other kind's fields are ignored.
        let read = |text: &str| serde_json::from_str::<Backoff>(text);
        assert_eq!(
            read(r#"{"delays":[{"secs":2,"nanos":0}],"base":null,"kind":"steps"}"#).unwrap(),
            Backoff::Steps { delays: vec![secs(2)], repeat_last: false }
        );
        let refused = |text: &str| read(text).unwrap_err().to_string();
        assert!(refused(r#"{"kind":"steps"}"#).contains("missing field `delays`"));
        assert!(
            refused(r#"{"kind":"doubling","base":{"secs":1,"nanos":0}}"#).contains("`retries`")
        );
        assert!(refused(r#"{"kind":"spiral"}"#).contains("unknown variant `spiral`"));
        assert!(refused(r#"{"delays":[]}"#).contains("missing field `kind`"));
    }
}
