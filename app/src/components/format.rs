//! How times read on the dashboard.

use chrono::{DateTime, Utc};

/// `2026-11-22 10:03 UTC`, or `never`.
pub fn stamp(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// `10:03:07 UTC`: for what happened today, where the date is noise.
pub fn clock(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S UTC").to_string()
}
