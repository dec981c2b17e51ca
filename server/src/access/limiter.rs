//! Login rate limiting: a sliding window of attempts per client address.
//!
//! An attempt is counted when it is let through, before its password is checked: logins
//! sent in parallel cannot all pass the check before the first failure is known.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    time::{Duration, Instant},
};

/// Remembers login attempts per address and refuses an address with too many recent ones;
/// a successful login forgets them.
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: HashMap<IpAddr, VecDeque<Instant>>,
}

/// Addresses remembered at most; beyond this, stale entries are swept.
const MAX_TRACKED: usize = 10_000;

impl LoginLimiter {
    /// Allows `max_failures` failures per `window` and address.
    pub fn new(max_failures: usize, window: Duration) -> LoginLimiter {
        LoginLimiter { max_failures, window, failures: HashMap::new() }
    }

    fn recent(&mut self, ip: IpAddr, now: Instant) -> &mut VecDeque<Instant> {
        let window = self.window;
        let times = self.failures.entry(ip).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= window) {
            times.pop_front();
        }
        times
    }

    /// Lets an attempt from `ip` through and counts it, or `Err(wait)` when `ip` must wait
    /// before trying again.
    pub fn attempt(&mut self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        self.blocked(ip, now)?;
        self.failed(ip, now);
        Ok(())
    }

    /// `Err(wait)` when `ip` reached the limit (nothing is counted): for failures that are
    /// cheap to check and counted after the fact with [`Self::failed`].
    pub fn blocked(&mut self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let (max, window) = (self.max_failures, self.window);
        let times = self.recent(ip, now);
        match times.front() {
            Some(oldest) if times.len() >= max => Err(window - now.duration_since(*oldest)),
            _ => Ok(()),
        }
    }

    /// Counts a failure from `ip`.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) {
        self.sweep(now);
        self.recent(ip, now).push_back(now);
    }

    fn sweep(&mut self, now: Instant) {
        if self.failures.len() >= MAX_TRACKED {
            let window = self.window;
            self.failures
                .retain(|_, t| t.back().is_some_and(|last| now.duration_since(*last) < window));
        }
    }

    /// Forgets `ip`'s failures after a successful login.
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.failures.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_opens_after_the_window() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let mut l = LoginLimiter::new(5, Duration::from_secs(900));
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(l.attempt(ip, t0 + Duration::from_secs(i)).is_ok(), "refused after {i}");
        }
        let wait = l.attempt(ip, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(890));
        assert!(l.attempt(other, t0).is_ok(), "another address is not locked");
        assert!(l.attempt(ip, t0 + Duration::from_secs(901)).is_ok(), "the oldest aged out");
    }

    #[test]
    fn attempts_count_when_let_through_so_parallel_ones_cannot_all_pass() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut l = LoginLimiter::new(5, Duration::from_secs(900));
        let t0 = Instant::now();
        // 300 at once, none of them answered yet.
        let through = (0..300).filter(|_| l.attempt(ip, t0).is_ok()).count();
        assert_eq!(through, 5);
    }

    #[test]
    fn failures_counted_after_the_fact_block_only_at_the_limit() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut l = LoginLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(l.blocked(ip, t0).is_ok(), "checking counts nothing");
        }
        for _ in 0..3 {
            l.failed(ip, t0);
        }
        assert_eq!(l.blocked(ip, t0 + Duration::from_secs(15)), Err(Duration::from_secs(45)));
    }

    #[test]
    fn success_clears() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut l = LoginLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        l.attempt(ip, t0).unwrap();
        l.succeeded(ip);
        l.attempt(ip, t0).unwrap();
        assert!(l.attempt(ip, t0).is_ok());
    }
}
