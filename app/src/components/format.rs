//! How times and durations read, on the dashboard and in `lifeline monitor`.

use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};

// Spelled out field by field rather than with a `strftime` pattern: chrono's pattern
// interpreter would otherwise be compiled into the dashboard's first load for two formats.

/// `2026-11-22 10:03 UTC`, or `never`.
pub fn stamp(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "never".to_owned(),
        |t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute()
            )
        },
    )
}

/// `10:03:07 UTC`: for what happened today, where the date is noise.
pub fn clock(t: DateTime<Utc>) -> String {
    format!("{:02}:{:02}:{:02} UTC", t.hour(), t.minute(), t.second())
}

/// `3 d 4 h`, `2 h 5 min`, `7 min 3 s` or `12 s`: how long something has lasted (an
/// uptime), where the two largest units are enough.
pub fn lasted(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// `5 s`, `1.5 s`, `2 min`, `250 ms`: a setting's duration, short and exact.
pub fn span(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        _ => format!("{:.1} s", d.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_before() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z").unwrap().to_utc();
        assert_eq!(stamp(Some(t)), t.format("%Y-%m-%d %H:%M UTC").to_string());
        assert_eq!(stamp(Some(t)), "2026-01-02 03:04 UTC");
        assert_eq!(stamp(None), "never");
        assert_eq!(clock(t), t.format("%H:%M:%S UTC").to_string());
        assert_eq!(clock(t), "03:04:05 UTC");
    }

    #[test]
    fn lasting_reads_naturally() {
        assert_eq!(lasted(12), "12 s");
        assert_eq!(lasted(7 * 60 + 3), "7 min 3 s");
        assert_eq!(lasted(2 * 3600 + 5 * 60), "2 h 5 min");
        assert_eq!(lasted(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
    }

    #[test]
    fn spans_read_short_and_exact() {
        assert_eq!(span(Duration::from_millis(250)), "250 ms");
        assert_eq!(span(Duration::from_secs(5)), "5 s");
        assert_eq!(span(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(span(Duration::from_secs(300)), "5 min");
    }
}
