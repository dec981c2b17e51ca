//! Messages counted per UTC day, for the "today" part of the deep report (and so for
//! `lifeline monitor`). Counted in memory: a restart begins a new count, and the report
//! says since when it counts.

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};

/// Today's counts, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Counting since: midnight UTC, or the server's start if that was later.
    pub since: DateTime<Utc>,
    /// Messages that arrived on any session.
    pub received: u64,
    /// Messages sent through Lifeline.
    pub sent: u64,
}

#[derive(Debug)]
struct Day {
    date: NaiveDate,
    received: u64,
    sent: u64,
}

/// The running count of one day, rolled over at midnight UTC.
#[derive(Debug)]
pub struct Today {
    started: DateTime<Utc>,
    day: Mutex<Day>,
}

impl Today {
    /// Starts counting at `now`.
    pub fn new(now: DateTime<Utc>) -> Today {
        Today {
            started: now,
            day: Mutex::new(Day { date: now.date_naive(), received: 0, sent: 0 }),
        }
    }

    fn with_day<T>(&self, now: DateTime<Utc>, f: impl FnOnce(&mut Day) -> T) -> T {
        let mut day = self.day.lock().unwrap_or_else(|e| e.into_inner());
        if day.date != now.date_naive() {
            *day = Day { date: now.date_naive(), received: 0, sent: 0 };
        }
        f(&mut day)
    }

    /// Counts a message that arrived.
    pub fn received(&self, now: DateTime<Utc>) {
        self.with_day(now, |d| d.received += 1);
    }

    /// Counts a message sent.
    pub fn sent(&self, now: DateTime<Utc>) {
        self.with_day(now, |d| d.sent += 1);
    }

    /// The counts of the day `now` falls in.
    pub fn counts(&self, now: DateTime<Utc>) -> Counts {
        let midnight = now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        self.with_day(now, |d| Counts {
            since: midnight.max(self.started),
            received: d.received,
            sent: d.sent,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    #[test]
    fn counts_start_with_the_server_and_roll_over_at_midnight_utc() {
        let today = Today::new(at(22, 9));
        today.received(at(22, 10));
        today.received(at(22, 11));
        today.sent(at(22, 12));
        assert_eq!(today.counts(at(22, 13)), Counts { since: at(22, 9), received: 2, sent: 1 });

        // The next day starts at zero, counted from midnight.
        assert_eq!(today.counts(at(23, 1)), Counts { since: at(23, 0), received: 0, sent: 0 });
        today.sent(at(23, 2));
        assert_eq!(today.counts(at(23, 3)).sent, 1);
    }
}
