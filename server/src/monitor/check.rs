//! What a look at a running Lifeline amounts to, decided purely from what its health
//! endpoints answered: the verdict (and exit code) and the facts worth printing.

use std::collections::BTreeMap;

use app::model::{
    DatabaseHealth, DeepHealth, Desired, Health, HealthStatus, SessionStatus, TodayActivity,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What one endpoint gave.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetched<T> {
    /// A report.
    Report(T),
    /// An HTTP answer that is not a report: its status and what it said.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The body (Lifeline's error message when there is one).
        message: String,
    },
    /// No answer at all.
    Unreachable(String),
}

/// Everything fetched in one look.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Where.
    pub url: String,
    /// When.
    pub at: DateTime<Utc>,
    /// `GET /health`.
    pub light: Fetched<Health>,
    /// `GET /health/deep`; `None` when no API key was given.
    pub deep: Option<Fetched<DeepHealth>>,
}

/// The overall answer, with the exit code monitoring systems act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything that should run is connected.
    Ok,
    /// Up, but a session that should run is not connected.
    Degraded,
    /// The server answers but cannot work (database down), or the check itself is
    /// misconfigured (API key rejected, not a Lifeline server).
    Error,
    /// No answer.
    Unreachable,
}

impl Verdict {
    /// 0 ok, 1 degraded, 2 error, 3 unreachable.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Ok => 0,
            Verdict::Degraded => 1,
            Verdict::Error => 2,
            Verdict::Unreachable => 3,
        }
    }

    /// The word people read.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Degraded => "degraded",
            Verdict::Error => "error",
            Verdict::Unreachable => "unreachable",
        }
    }
}

/// Whether the deep data could be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// The key was accepted.
    Accepted,
    /// No key was given: only the public report was read.
    Missing,
    /// The server refused the key.
    Rejected,
    /// The server was not reached far enough to tell.
    Unchecked,
}

/// Sessions as counted for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sessions {
    /// All sessions.
    pub total: u32,
    /// By state (`connected`, `reconnecting`, …); with only the public report, by the
    /// three buckets it gives (`connected`, `connecting`, `disconnected`).
    pub by_state: BTreeMap<String, u32>,
}

/// One look at a Lifeline server, for people (rendered) and machines (`--json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Where.
    pub url: String,
    /// When.
    pub checked_at: DateTime<Utc>,
    /// The answer.
    pub verdict: Verdict,
    /// The exit code that goes with it.
    pub exit_code: u8,
    /// The server's own status, when it answered.
    pub server_status: Option<HealthStatus>,
    /// Seconds since the server started.
    pub uptime_seconds: Option<u64>,
    /// The database as the deep report measured it.
    pub database: Option<DatabaseHealth>,
    /// Sessions by state.
    pub sessions: Option<Sessions>,
    /// Today's messages and recoveries (deep report only).
    pub today: Option<TodayActivity>,
    /// Whether the deep data was read.
    pub api_key: KeyState,
    /// What is wrong, one line each, worst first.
    pub problems: Vec<String>,
    /// Things worth knowing that are not problems.
    pub notes: Vec<String>,
}

/// Decides what `observation` amounts to.
pub fn assess(observation: &Observation) -> Report {
    let mut report = Report {
        url: observation.url.clone(),
        checked_at: observation.at,
        verdict: Verdict::Ok,
        exit_code: 0,
        server_status: None,
        uptime_seconds: None,
        database: None,
        sessions: None,
        today: None,
        api_key: KeyState::Unchecked,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let mut verdict = Verdict::Ok;
    match &observation.light {
        Fetched::Unreachable(why) => {
            report.problems.push(format!("no answer from {}: {why}", observation.url));
            return finish(report, Verdict::Unreachable);
        }
        Fetched::Refused { status, message } => {
            report.problems.push(format!(
                "{}/health answered HTTP {status}, not a Lifeline health report: {message}",
                observation.url
            ));
            return finish(report, Verdict::Error);
        }
        Fetched::Report(health) => {
            verdict = verdict.max(server_verdict(health.status));
            report.server_status = Some(health.status);
            report.uptime_seconds = Some(health.uptime);
            let c = &health.sessions;
            let by_state = [
                ("connected", c.connected),
                ("connecting", c.connecting),
                ("disconnected", c.disconnected),
            ];
            report.sessions = Some(Sessions {
                total: c.total,
                by_state: by_state
                    .iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(s, n)| ((*s).into(), *n))
                    .collect(),
            });
            if health.status == HealthStatus::Error {
                report
                    .problems
                    .push("the server reports an error: its database does not answer".into());
            }
        }
    }
    match &observation.deep {
        None => {
            report.api_key = KeyState::Missing;
            report.notes.push(
                "no API key: database, per-session detail and today's activity need one \
                 (--api-key or LIFELINE_API_KEY)"
                    .into(),
            );
        }
        Some(Fetched::Refused { status: 401, .. }) => {
            report.api_key = KeyState::Rejected;
            report.problems.push(
                "the API key was rejected (HTTP 401): check --api-key or LIFELINE_API_KEY".into(),
            );
            verdict = verdict.max(Verdict::Error);
        }
        Some(Fetched::Refused { status, message }) => {
            report.problems.push(format!("/health/deep answered HTTP {status}: {message}"));
            verdict = verdict.max(Verdict::Error);
        }
        Some(Fetched::Unreachable(why)) => {
            report.problems.push(format!("/health/deep did not answer: {why}"));
            verdict = verdict.max(Verdict::Error);
        }
        Some(Fetched::Report(deep)) => {
            report.api_key = KeyState::Accepted;
            verdict = verdict.max(server_verdict(deep.status));
            // Measured just now, with the database: the fresher word.
            report.server_status = Some(deep.status);
            if !deep.database.connected && !report.problems.iter().any(|p| p.contains("database")) {
                report.problems.push("the database does not answer".into());
            }
            report.database = Some(deep.database.clone());
            report.today = deep.today.clone();
            let mut by_state = BTreeMap::new();
            for s in &deep.sessions {
                *by_state.entry(s.connection_status.as_str().to_owned()).or_default() += 1;
                let wanted = s.desired == Desired::Running;
                if wanted && s.connection_status != SessionStatus::Connected {
                    let mut line = format!("{}: {}", s.name, s.connection_status.label());
                    if let Some(reason) = s.reason {
                        line.push_str(&format!(" ({})", reason.label()));
                    }
                    if s.attempt > 0 {
                        line.push_str(&format!(", attempt {}", s.attempt));
                    }
                    if let Some(error) = &s.last_error {
                        line.push_str(&format!(": {error}"));
                    }
                    report.problems.push(line);
                }
            }
            report.sessions = Some(Sessions { total: deep.sessions.len() as u32, by_state });
        }
    }
    finish(report, verdict)
}

fn server_verdict(status: HealthStatus) -> Verdict {
    match status {
        HealthStatus::Ok => Verdict::Ok,
        HealthStatus::Degraded => Verdict::Degraded,
        HealthStatus::Error => Verdict::Error,
    }
}

fn finish(mut report: Report, verdict: Verdict) -> Report {
    report.verdict = verdict;
    report.exit_code = verdict.exit_code();
    report
}

#[cfg(test)]
mod tests {
    use app::model::{Reason, SessionCounts, SessionHealth};

    use super::*;

    fn light(status: HealthStatus, connected: u32, disconnected: u32) -> Health {
        Health {
            status,
            timestamp: Utc::now(),
            uptime: 60,
            sessions: SessionCounts {
                total: connected + disconnected,
                connected,
                connecting: 0,
                disconnected,
            },
        }
    }

    fn session(name: &str, status: SessionStatus, desired: Desired) -> SessionHealth {
        SessionHealth {
            session_id: name.into(),
            phone_number: None,
            connection_status: status,
            last_connected_at: None,
            last_message_at: None,
            socket_alive: status == SessionStatus::Connected,
            name: name.into(),
            reason: (status == SessionStatus::Disconnected).then_some(Reason::GaveUp),
            attempt: 3,
            next_retry_at: None,
            last_error: Some("connection refused".into()),
            advice: None,
            last_message_age_seconds: None,
            last_connected_age_seconds: None,
            desired,
            primary: false,
            held_by: None,
            recovery_budget_left: Some(3),
        }
    }

    fn deep(status: HealthStatus, database: bool, sessions: Vec<SessionHealth>) -> DeepHealth {
        DeepHealth {
            status,
            timestamp: Utc::now(),
            uptime: 60,
            database: DatabaseHealth { connected: database, latency_ms: 1.0 },
            sessions,
            today: None,
            instances: Vec::new(),
            webhooks: None,
        }
    }

    fn look(light: Fetched<Health>, deep: Option<Fetched<DeepHealth>>) -> Report {
        assess(&Observation { url: "http://x".into(), at: Utc::now(), light, deep })
    }

    #[test]
    fn each_state_has_its_exit_code() {
        let ok = look(Fetched::Report(light(HealthStatus::Ok, 2, 0)), None);
        assert_eq!((ok.verdict, ok.exit_code), (Verdict::Ok, 0));
        assert_eq!(ok.api_key, KeyState::Missing);
        assert!(ok.notes[0].contains("LIFELINE_API_KEY"));

        let degraded = look(Fetched::Report(light(HealthStatus::Degraded, 1, 1)), None);
        assert_eq!((degraded.verdict, degraded.exit_code), (Verdict::Degraded, 1));

        let error = look(Fetched::Report(light(HealthStatus::Error, 0, 2)), None);
        assert_eq!((error.verdict, error.exit_code), (Verdict::Error, 2));

        let gone = look(Fetched::Unreachable("connection refused".into()), None);
        assert_eq!((gone.verdict, gone.exit_code), (Verdict::Unreachable, 3));
        assert!(gone.problems[0].contains("connection refused"));
    }

    #[test]
    fn a_rejected_key_or_a_stranger_is_an_error() {
        let rejected = look(
            Fetched::Report(light(HealthStatus::Ok, 1, 0)),
            Some(Fetched::Refused { status: 401, message: "unauthorized".into() }),
        );
        assert_eq!((rejected.verdict, rejected.api_key), (Verdict::Error, KeyState::Rejected));
        assert!(rejected.problems[0].contains("rejected"));

        let stranger = look(Fetched::Refused { status: 404, message: "Not Found".into() }, None);
        assert_eq!(stranger.verdict, Verdict::Error);
    }

    #[test]
    fn the_deep_report_names_each_session_that_should_run_and_does_not() {
        let sessions = vec![
            session("Shop", SessionStatus::Connected, Desired::Running),
            session("Support", SessionStatus::Disconnected, Desired::Running),
            session("Spare", SessionStatus::Disconnected, Desired::Stopped),
        ];
        let report = look(
            Fetched::Report(light(HealthStatus::Degraded, 1, 2)),
            Some(Fetched::Report(deep(HealthStatus::Degraded, true, sessions))),
        );
        assert_eq!(report.verdict, Verdict::Degraded);
        assert_eq!(report.api_key, KeyState::Accepted);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].starts_with("Support: Disconnected"), "{:?}", report.problems);
        assert!(report.problems[0].contains("connection refused"));
        let sessions = report.sessions.unwrap();
        assert_eq!(sessions.total, 3);
        assert_eq!(sessions.by_state["disconnected"], 2);
    }

    #[test]
    fn a_database_down_in_the_deep_report_is_an_error() {
        let report = look(
            Fetched::Report(light(HealthStatus::Ok, 0, 0)),
            Some(Fetched::Report(deep(HealthStatus::Error, false, vec![]))),
        );
        assert_eq!(report.verdict, Verdict::Error);
        assert!(report.problems.iter().any(|p| p.contains("database")), "{:?}", report.problems);
    }
}
