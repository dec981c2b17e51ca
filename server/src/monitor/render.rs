//! A report as people read it on a terminal: a few aligned lines, coloured when the output
//! is a terminal (and `NO_COLOR` is not set), plain otherwise.

use std::fmt::Write as _;

use app::components::format::lasted;

use super::check::{KeyState, Report, Verdict};

/// How to write colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// ANSI colours.
    On,
    /// Plain text.
    Off,
}

fn paint(colour: Colour, code: &str, text: &str) -> String {
    match colour {
        Colour::On => format!("\x1b[{code}m{text}\x1b[0m"),
        Colour::Off => text.to_owned(),
    }
}

fn verdict_code(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ok => "1;32",
        Verdict::Degraded => "1;33",
        Verdict::Error | Verdict::Unreachable => "1;31",
    }
}

/// The report as text, ending with a newline.
pub fn render(report: &Report, colour: Colour) -> String {
    let mut out = String::new();
    let verdict =
        paint(colour, verdict_code(report.verdict), &report.verdict.as_str().to_uppercase());
    let _ = writeln!(out, "Lifeline at {}: {verdict}", report.url);
    let row = |out: &mut String, label: &str, text: String| {
        let _ = writeln!(out, "  {label:<10} {text}");
    };
    if let Some(uptime) = report.uptime_seconds {
        let status = report.server_status.map(|s| s.as_str()).unwrap_or("unknown");
        row(&mut out, "server", format!("{status}, up {}", lasted(uptime)));
    }
    if let Some(db) = &report.database {
        let text = if db.connected {
            format!("connected ({:.1} ms)", db.latency_ms)
        } else {
            paint(colour, "31", "not answering")
        };
        row(&mut out, "database", text);
    }
    if let Some(sessions) = &report.sessions {
        let parts: Vec<String> =
            sessions.by_state.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let text = if parts.is_empty() {
            "none".to_owned()
        } else {
            format!("{} in all: {}", sessions.total, parts.join(", "))
        };
        row(&mut out, "sessions", text);
    }
    if let Some(today) = &report.today {
        let recoveries = match today.recoveries {
            Some(1) => "1 recovery".to_owned(),
            Some(n) => format!("{n} recoveries"),
            None => "recoveries unknown".to_owned(),
        };
        row(
            &mut out,
            "today",
            format!(
                "{} messages received, {} sent, {recoveries} (since {})",
                today.messages_received,
                today.messages_sent,
                today.since.format("%Y-%m-%d %H:%M UTC")
            ),
        );
    }
    for problem in &report.problems {
        let _ = writeln!(out, "  {} {problem}", paint(colour, "31", "!"));
    }
    for note in &report.notes {
        let _ = writeln!(out, "  {} {note}", paint(colour, "2", "note:"));
    }
    if report.api_key == KeyState::Rejected {
        let _ = writeln!(out, "  (the public report above is all that could be read)");
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::{super::check::Sessions, *};
    use app::model::{DatabaseHealth, HealthStatus, TodayActivity};

    fn report() -> Report {
        Report {
            url: "http://127.0.0.1:3000".into(),
            checked_at: Utc::now(),
            verdict: Verdict::Degraded,
            exit_code: 1,
            server_status: Some(HealthStatus::Degraded),
            uptime_seconds: Some(3 * 3600 + 5 * 60),
            database: Some(DatabaseHealth { connected: true, latency_ms: 1.25 }),
            sessions: Some(Sessions {
                total: 3,
                by_state: [("connected".to_owned(), 2), ("reconnecting".to_owned(), 1)].into(),
            }),
            today: Some(TodayActivity {
                since: Utc::now(),
                messages_received: 14,
                messages_sent: 3,
                recoveries: Some(1),
            }),
            api_key: KeyState::Accepted,
            problems: vec!["Support: Reconnecting, attempt 2: connection refused".into()],
            notes: vec![],
        }
    }

    #[test]
    fn plain_text_says_everything_without_escape_codes() {
        let text = render(&report(), Colour::Off);
        assert!(text.starts_with("Lifeline at http://127.0.0.1:3000: DEGRADED\n"), "{text}");
        assert!(text.contains("server     degraded, up 3 h 5 min"), "{text}");
        assert!(
            text.contains("database   connected (1.2 ms)") || text.contains("(1.3 ms)"),
            "{text}"
        );
        assert!(text.contains("sessions   3 in all: 2 connected, 1 reconnecting"), "{text}");
        assert!(text.contains("14 messages received, 3 sent, 1 recovery"), "{text}");
        assert!(text.contains("! Support: Reconnecting"), "{text}");
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn a_terminal_gets_colours() {
        let text = render(&report(), Colour::On);
        assert!(text.contains("\x1b[1;33mDEGRADED\x1b[0m"), "{text}");
    }
}
