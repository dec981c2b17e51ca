//! When an instance renews its leases and when it must let its sessions go, decided purely
//! from the instants its renewals began and ended.
//!
//! A renewal that began at `t` and succeeded set each lease to end `ttl` after the
//! database's clock read it, which is no earlier than `t`: so the lease is certainly still
//! ours until `t + ttl` on this machine's monotonic clock, whatever the wall clocks say. The
//! instance closes its links a margin before that (self-fencing): when renewals fail or
//! stall, or the process was paused, its links are down before another instance can be
//! granted the sessions, and two instances never hold one number at once.

use std::time::Duration;

use tokio::time::Instant;

/// The lease's time to live and what follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a grant or renewal lasts.
    pub ttl: Duration,
}

impl LeaseTiming {
    /// The default time to live: a dead instance's sessions wait this long for a new
    /// holder; shorter makes a database hiccup fence sessions sooner.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(15);

    /// Renewals come three to a lease, so one lost or slow renewal costs nothing.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 3
    }

    /// How long before a lease could end the links are closed: time for closing (a
    /// dropped socket, not a polite goodbye) and for this process to be scheduled.
    pub fn fence_margin(&self) -> Duration {
        self.ttl / 5
    }

    /// How long dropping a lost session's link may take: well inside the margin, so that
    /// fencing every session of an instance still ends before its leases could.
    pub fn fence_close(&self) -> Duration {
        self.fence_margin() / 2
    }

    /// How long an action handed to another instance may wait to be taken up: a live
    /// instance takes it up at once, and one silent for a lease's time is treated as gone
    /// (its sessions are given to others then too).
    pub fn take_up(&self) -> Duration {
        self.ttl
    }

    /// After a failed renewal, the next try comes sooner than a routine renewal would.
    pub fn retry_every(&self) -> Duration {
        self.ttl / 10
    }
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming { ttl: Self::DEFAULT_TTL }
    }
}

/// What the clock tells the renewal loop to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Close every link: the leases may end before another renewal could land.
    Fence,
    /// Renew now.
    Renew,
    /// Nothing until then.
    Wait(Instant),
}

/// One instance's renewal state.
#[derive(Clone, Debug)]
pub struct LeaseClock {
    timing: LeaseTiming,
    /// Until when the last successful renewal covers the leases (minus the margin).
    safe_until: Option<Instant>,
    next_renewal: Instant,
}

impl LeaseClock {
    /// A clock with no lease yet; the first renewal is due at once.
    pub fn new(timing: LeaseTiming, now: Instant) -> LeaseClock {
        LeaseClock { timing, safe_until: None, next_renewal: now }
    }

    /// A renewal (or a claim) that began at `began` succeeded.
    pub fn renewed(&mut self, began: Instant) {
        let safe = began + self.timing.ttl - self.timing.fence_margin();
        self.safe_until = Some(self.safe_until.map_or(safe, |s| s.max(safe)));
        self.next_renewal = began + self.timing.renew_every();
    }

    /// A renewal failed at `now`: try again soon.
    pub fn failed(&mut self, now: Instant) {
        self.next_renewal = now + self.timing.retry_every();
    }

    /// Links are closed: nothing is held until the next successful renewal.
    pub fn fenced(&mut self) {
        self.safe_until = None;
    }

    /// When links must be closed unless a renewal lands first; `None` while nothing is held.
    pub fn fence_at(&self) -> Option<Instant> {
        self.safe_until
    }

    /// Whether links may be kept up at `now`.
    pub fn holds(&self, now: Instant) -> bool {
        self.safe_until.is_some_and(|until| now < until)
    }

    /// What to do at `now`.
    pub fn due(&self, now: Instant) -> Due {
        match self.safe_until {
            Some(until) if now >= until => Due::Fence,
            _ if now >= self.next_renewal => Due::Renew,
            Some(until) => Due::Wait(until.min(self.next_renewal)),
            None => Due::Wait(self.next_renewal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_default_renews_every_5_s_and_fences_3_s_before_the_end() {
        let t = LeaseTiming::default();
        assert_eq!((t.ttl, t.renew_every(), t.fence_margin()), (secs(15), secs(5), secs(3)));
        assert!(t.retry_every() < t.renew_every());
    }

    #[test]
    fn renewals_keep_the_leases_and_each_is_due_a_third_of_the_way() {
        let start = Instant::now();
        let mut clock = LeaseClock::new(LeaseTiming::default(), start);
        assert_eq!(clock.due(start), Due::Renew);
        assert!(!clock.holds(start));
        clock.renewed(start);
        assert!(clock.holds(start + secs(11)));
        assert_eq!(clock.due(start + secs(1)), Due::Wait(start + secs(5)));
        assert_eq!(clock.due(start + secs(5)), Due::Renew);
        clock.renewed(start + secs(5));
        assert_eq!(clock.due(start + secs(6)), Due::Wait(start + secs(10)));
        assert!(clock.holds(start + secs(16)));
    }

    #[test]
    fn failing_renewals_fence_before_the_lease_can_end() {
        let start = Instant::now();
        let mut clock = LeaseClock::new(LeaseTiming::default(), start);
        clock.renewed(start);
        // The database stops answering: renewals are retried every 1.5 s…
        let mut now = start + secs(5);
        while clock.due(now) == Due::Renew {
            clock.failed(now);
            let Due::Wait(next) = clock.due(now) else { break };
            now = next;
        }
        // …until the margin before the earliest possible end: 15 s - 3 s.
        assert_eq!(clock.due(start + secs(12)), Due::Fence);
        assert!(!clock.holds(start + secs(12)));
        assert!(now <= start + secs(12), "woke only after the fence was due: {:?}", now - start);
        clock.fenced();
        assert!(!clock.holds(start + secs(12)));
        assert_ne!(clock.due(start + secs(12)), Due::Fence, "fenced twice");
    }

    #[test]
    fn a_process_paused_past_its_leases_fences_before_anything_else() {
        let start = Instant::now();
        let mut clock = LeaseClock::new(LeaseTiming::default(), start);
        clock.renewed(start);
        // SIGSTOP for a minute: on waking, the renewal is due too, but fencing comes first.
        assert_eq!(clock.due(start + secs(60)), Due::Fence);
    }

    #[test]
    fn a_slow_renewal_counts_from_when_it_began() {
        let start = Instant::now();
        let mut clock = LeaseClock::new(LeaseTiming::default(), start);
        // Began at 0, answered at 9 s: the database may have read its clock at 0.
        clock.renewed(start);
        assert!(!clock.holds(start + secs(12)));
        // A late answer to an older renewal never shortens what a newer one gave.
        clock.renewed(start + secs(5));
        clock.renewed(start);
        assert!(clock.holds(start + secs(16)));
    }
}
