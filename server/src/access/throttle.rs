//! Growing delays between login attempts, per account and client address.
//!
//! A hard lock (five failures, then fifteen minutes of nothing) punishes the person who
//! mistyped as much as the guesser, and behind one address it punishes everyone. Here a
//! few attempts are free; after that each one waits twice as long as the last (1 s, 2 s,
//! 4 s… up to 15 min) — a person barely notices, a guesser gets a few dozen tries a day.
//! An attempt counts as it is let through, before its password is checked, so parallel
//! attempts cannot all slip in; a success forgets the account's failures at that address.

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{Duration, Instant},
};

/// Attempts allowed without waiting.
pub const FREE_ATTEMPTS: u32 = 3;
/// The first wait, doubled for every further attempt.
pub const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Entries remembered at most; beyond this, ones idle for a full wait are swept.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug)]
struct Entry {
    attempts: u32,
    not_before: Instant,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    entries: HashMap<(String, IpAddr), Entry>,
}

/// How long the attempt after `attempts` ones must wait.
pub fn wait_after(attempts: u32) -> Duration {
    match attempts.checked_sub(FREE_ATTEMPTS) {
        None => Duration::ZERO,
        Some(extra) => FIRST_WAIT.saturating_mul(1u32 << extra.min(20)).min(MAX_WAIT),
    }
}

impl LoginThrottle {
    /// Lets an attempt at `account` from `ip` through and counts it, or `Err(wait)`.
    pub fn attempt(&mut self, account: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.entries.len() >= MAX_TRACKED {
            self.entries.retain(|_, e| now < e.not_before + MAX_WAIT);
        }
        let key = (account.trim().to_lowercase(), ip);
        let entry = self.entries.entry(key).or_insert(Entry { attempts: 0, not_before: now });
        if now < entry.not_before {
            return Err(entry.not_before - now);
        }
        entry.attempts += 1;
        entry.not_before = now + wait_after(entry.attempts);
        Ok(())
    }

    /// Forgets the failures at `account` from `ip` after it logged in.
    pub fn succeeded(&mut self, account: &str, ip: IpAddr) {
        self.entries.remove(&(account.trim().to_lowercase(), ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_few_attempts_are_free_then_each_waits_twice_as_long() {
        let waits: Vec<u64> = (1..=6).map(|n| wait_after(n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 1, 2, 4, 8]);
        assert_eq!(wait_after(100), MAX_WAIT);
    }

    #[test]
    fn parallel_attempts_get_only_the_free_ones() {
        let mut t = LoginThrottle::default();
        let t0 = Instant::now();
        let through = (0..300).filter(|_| t.attempt("admin", ip("192.0.2.1"), t0).is_ok()).count();
        assert_eq!(through, FREE_ATTEMPTS as usize);
        assert_eq!(t.attempt("admin", ip("192.0.2.1"), t0), Err(Duration::from_secs(1)));
        // A second later the next one may try, and then waits two seconds.
        let t1 = t0 + Duration::from_secs(1);
        assert!(t.attempt("admin", ip("192.0.2.1"), t1).is_ok());
        assert_eq!(t.attempt("admin", ip("192.0.2.1"), t1), Err(Duration::from_secs(2)));
    }

    #[test]
    fn accounts_and_addresses_are_apart_and_success_forgets() {
        let mut t = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            t.attempt("admin", ip("192.0.2.1"), t0).unwrap();
        }
        assert!(t.attempt("Admin ", ip("192.0.2.1"), t0).is_err(), "the same account");
        assert!(t.attempt("admin", ip("192.0.2.2"), t0).is_ok(), "another address");
        assert!(t.attempt("owner", ip("192.0.2.1"), t0).is_ok(), "another account");
        t.succeeded("admin", ip("192.0.2.1"));
        assert!(t.attempt("admin", ip("192.0.2.1"), t0).is_ok());
    }
}
