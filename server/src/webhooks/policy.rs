//! How hard Lifeline tries to deliver a webhook, and what it trusts a receiver with.

use std::time::Duration;

use app::policy::Backoff;

/// Retries, timeouts and limits of webhook delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookPolicy {
    /// The waits between attempts after the first (which is at once): 5 s, 5 min, 30 min,
    /// 2 h, 5 h, 10 h, 10 h — eight attempts over about a day.
    pub retries: Backoff,
    /// Largest extra fraction added to each wait.
    pub jitter: f64,
    /// How long one request may take, connecting included.
    pub timeout: Duration,
    /// An endpoint failing without a success for this long is paused.
    pub pause_after: Duration,
    /// How much of an answer is read and kept for the delivery log.
    pub response_bytes: usize,
    /// Deliveries under way at once, per instance.
    pub in_flight: usize,
    /// How often the outbox is looked at when nothing wakes the deliverer (due retries,
    /// events queued by another instance).
    pub poll_every: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        let (s, m, h) =
            (Duration::from_secs(1), Duration::from_secs(60), Duration::from_secs(3600));
        WebhookPolicy {
            retries: Backoff::Steps {
                delays: vec![5 * s, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h],
                repeat_last: false,
            },
            jitter: 0.2,
            timeout: 10 * s,
            pause_after: 24 * h,
            response_bytes: 1024,
            in_flight: 32,
            poll_every: s,
        }
    }
}

impl WebhookPolicy {
    /// How long a claimed delivery stays with the instance that claimed it: its request
    /// and the writing of the outcome. A claim that outlives it (the instance died) lets
    /// another instance deliver.
    pub fn claim_for(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(5)
    }

    /// The attempts a delivery gets in all.
    pub fn attempts(&self) -> u32 {
        self.retries.retries().map_or(u32::MAX, |r| r.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_attempts_over_about_a_day() {
        let policy = WebhookPolicy::default();
        assert_eq!(policy.attempts(), 8);
        let total: Duration = (1..8).filter_map(|n| policy.retries.delay_before(n)).sum();
        assert!(total > Duration::from_secs(27 * 3600) && total < Duration::from_secs(28 * 3600));
        assert_eq!(policy.retries.delay_before(8), None);
    }
}
