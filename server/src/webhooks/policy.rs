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

/// The default waits between attempts, [`DEFAULT_RETRIES`] read.
pub fn default_waits() -> Vec<Duration> {
    parse_retries(DEFAULT_RETRIES).map(|Waits(waits)| waits).unwrap_or_default()
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        let s = Duration::from_secs(1);
        WebhookPolicy {
            retries: Backoff::Steps { delays: default_waits(), repeat_last: false },
            jitter: 0.2,
            timeout: 10 * s,
            pause_after: 24 * 3600 * s,
            response_bytes: 1024,
            in_flight: 32,
            poll_every: s,
        }
    }
}

/// The default retry ladder as the setting writes it.
pub const DEFAULT_RETRIES: &str = "5s,5m,30m,2h,5h,10h,10h";

/// The waits before a delivery's second, third … attempt, as a setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waits(pub Vec<Duration>);

/// A retry ladder written as waits separated by commas (`5s,5m,30m,2h`): the waits before
/// the second, third … attempt. At least one, none longer than a day.
pub fn parse_retries(text: &str) -> Result<Waits, String> {
    let waits = text
        .split(',')
        .map(|w| {
            humantime::parse_duration(w.trim())
                .map_err(|e| format!("{w:?} is not a wait like 5s, 30m or 2h: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if waits.is_empty() || waits.len() > 20 {
        return Err("give between 1 and 20 waits".into());
    }
    if let Some(long) = waits.iter().find(|w| **w > Duration::from_secs(24 * 3600)) {
        return Err(format!("{long:?} is longer than a day"));
    }
    Ok(Waits(waits))
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
    fn retry_ladders_are_read_from_settings() {
        let (m, h) = (Duration::from_secs(60), Duration::from_secs(3600));
        let waits = [Duration::from_secs(5), 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h];
        assert_eq!(default_waits(), waits);
        let short = parse_retries(" 100ms , 1s").unwrap();
        assert_eq!(short, Waits(vec![Duration::from_millis(100), Duration::from_secs(1)]));
        assert!(parse_retries("5s,soon").unwrap_err().contains("soon"));
        assert!(parse_retries("2d").unwrap_err().contains("day"));
    }

    #[test]
    fn eight_attempts_over_about_a_day() {
        let policy = WebhookPolicy::default();
        assert_eq!(policy.attempts(), 8);
        let total: Duration = (1..8).filter_map(|n| policy.retries.delay_before(n)).sum();
        assert!(total > Duration::from_secs(27 * 3600) && total < Duration::from_secs(28 * 3600));
        assert_eq!(policy.retries.delay_before(8), None);
    }
}
