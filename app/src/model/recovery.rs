//! Automatic and manual recoveries: what the watchdog (or a person) did about a session
//! that should be live and was not, as the recovery log stores it and the event reports it.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ParseError, session::text_enum};

/// Why a recovery was attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Trigger {
    /// The database said connected, but the link was dead.
    DeadLink,
    /// Nothing arrived for a long time and the liveness probe got no answer.
    ProbeFailed,
    /// The session had stopped trying (gave up, or was left disconnected).
    Disconnected,
    /// A person asked (Reconnect button, REST, server function).
    Manual,
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Action {
    /// Dropped whatever link there was and connected anew.
    Reconnect,
    /// Started connecting a session that had stopped trying.
    Start,
}

/// How it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// Under way (a row stays so only if the server stopped in the middle).
    Started,
    /// Connected again.
    Recovered,
    /// Did not connect; `error` says why.
    Failed,
    /// Still retrying when the watchdog stopped waiting; the retry ladder carries on.
    StillTrying,
}

text_enum!(Trigger, "recovery trigger", {
    DeadLink => "dead_link",
    ProbeFailed => "probe_failed",
    Disconnected => "disconnected",
    Manual => "manual",
});
text_enum!(Action, "recovery action", { Reconnect => "reconnect", Start => "start" });
text_enum!(Outcome, "recovery outcome", {
    Started => "started",
    Recovered => "recovered",
    Failed => "failed",
    StillTrying => "still_trying",
});

impl Trigger {
    /// Whether the watchdog acted on its own (and the attempt counts against the budget).
    pub fn is_automatic(self) -> bool {
        self != Trigger::Manual
    }

    /// Why, for people.
    pub fn label(self) -> &'static str {
        match self {
            Trigger::DeadLink => "connected on record, but the link was dead",
            Trigger::ProbeFailed => "silent for a long time, and the liveness probe got no answer",
            Trigger::Disconnected => "had stopped trying",
            Trigger::Manual => "asked for by a person",
        }
    }
}

/// One row of the recovery log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Recovery {
    /// When it began.
    pub at: DateTime<Utc>,
    /// Which session.
    pub session_id: String,
    /// Why.
    pub trigger: Trigger,
    /// What was done.
    pub action: Action,
    /// How it went.
    pub outcome: Outcome,
    /// What failed, if it did.
    pub error: Option<String>,
    /// Automatic recoveries left to the session in the current window, after this one.
    pub budget_left: u32,
}

/// One row of the recovery log as the session's history shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRecovery {
    /// When it began.
    pub at: DateTime<Utc>,
    /// Why.
    pub trigger: Trigger,
    /// What was done.
    pub action: Action,
    /// How it went.
    pub outcome: Outcome,
    /// What failed, if it did.
    pub error: Option<String>,
}

/// Each session's automatic recoveries within the window, against the budget: the one
/// place that says how many a session has left.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryBudgets {
    budget: u32,
    used: std::collections::HashMap<String, u32>,
}

impl RecoveryBudgets {
    /// `budget` per session, of which each session in `used` spent that many.
    pub fn new(budget: u32, used: std::collections::HashMap<String, u32>) -> RecoveryBudgets {
        RecoveryBudgets { budget, used }
    }

    /// Automatic recoveries `session_id` has left: never below zero, and the whole budget
    /// for a session that used none.
    pub fn left(&self, session_id: &str) -> u32 {
        self.budget.saturating_sub(self.used.get(session_id).copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for t in [Trigger::DeadLink, Trigger::ProbeFailed, Trigger::Disconnected, Trigger::Manual] {
            assert_eq!(t.as_str().parse::<Trigger>(), Ok(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{}\"", t.as_str()));
        }
        for o in [Outcome::Started, Outcome::Recovered, Outcome::Failed, Outcome::StillTrying] {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
        }
        assert!("sometimes".parse::<Action>().is_err());
    }

    #[test]
    fn only_manual_recoveries_are_outside_the_budget() {
        assert!(Trigger::DeadLink.is_automatic());
        assert!(!Trigger::Manual.is_automatic());
        let used = [("a".to_owned(), 1), ("b".to_owned(), 7)].into();
        let budgets = RecoveryBudgets::new(3, used);
        assert_eq!((budgets.left("a"), budgets.left("b"), budgets.left("c")), (2, 0, 3));
    }
}
