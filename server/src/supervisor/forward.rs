//! Acting on a session another instance holds (several share one PostgreSQL database): the
//! action is written to `session_commands` and the holder is notified; it carries the
//! action out as if asked directly, writes the outcome and notifies back. The caller gets
//! the holder's answer, errors included, or a clear "the holder did not answer".

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use app::{
    error::AppError,
    model::{
        SessionView,
        api::{ActionResult, CreateSession, SendMessage, SentMessage},
    },
};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{Supervisor, SupervisorError};
use crate::{
    db::{Db, commands, leases},
    events::relay::{self, Body},
};

/// An action on a session, as handed to its holder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Command {
    /// Connect anew.
    Reconnect,
    /// Start and keep running.
    Start,
    /// Stop and keep stopped.
    Stop,
    /// Allow or forbid connecting without a person.
    SetAutoConnect {
        /// Allowed.
        on: bool,
    },
    /// Mark or unmark the session as one that matters most.
    SetPrimary {
        /// Marked.
        on: bool,
    },
    /// Log out upstream.
    Logout,
    /// Delete the session.
    Delete,
    /// Send a text.
    Send {
        /// The message.
        message: SendMessage,
    },
    /// Create the session (under the id it is addressed to) and start pairing it: a new
    /// session goes to the least loaded instance.
    Create {
        /// What was asked for.
        request: CreateSession,
    },
}

/// How an action went, as the holder reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Outcome {
    /// A reconnect's result.
    Action(ActionResult),
    /// The session after the action.
    View(SessionView),
    /// Done (a deletion).
    Done,
    /// The message sent.
    Sent(SentMessage),
    /// The action was refused or failed.
    Failed(AppError),
}

/// An outcome that is not the kind the action yields: an instance of another version.
fn unexpected(outcome: Outcome) -> SupervisorError {
    SupervisorError::Elsewhere(AppError::Internal(format!(
        "the instance holding the session answered {outcome:?}; are all instances the same \
         Lifeline version?"
    )))
}

impl Outcome {
    /// A reconnect's result.
    pub fn action(self) -> Result<ActionResult, SupervisorError> {
        match self {
            Outcome::Action(result) => Ok(result),
            other => Err(unexpected(other)),
        }
    }

    /// The session after the action.
    pub fn view(self) -> Result<SessionView, SupervisorError> {
        match self {
            Outcome::View(view) => Ok(view),
            other => Err(unexpected(other)),
        }
    }

    /// Done.
    pub fn done(self) -> Result<(), SupervisorError> {
        match self {
            Outcome::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// The message sent.
    pub fn sent(self) -> Result<SentMessage, SupervisorError> {
        match self {
            Outcome::Sent(sent) => Ok(sent),
            other => Err(unexpected(other)),
        }
    }
}

/// Forwarded actions waiting for their holder's reply, by row id.
#[derive(Debug, Default)]
pub struct Awaiting(Mutex<HashMap<String, oneshot::Sender<()>>>);

impl Awaiting {
    fn insert(&self, id: &str) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(id.to_owned(), tx);
        rx
    }

    fn remove(&self, id: &str) -> Option<oneshot::Sender<()>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(id)
    }
}

/// How long a forwarded row is kept when nobody came back for it.
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);

impl Supervisor {
    /// Carries out `command` on session `id`: here when this instance runs it, else through
    /// the instance that holds it.
    pub(super) async fn act(&self, id: &str, command: Command) -> Result<Outcome, SupervisorError> {
        if self.handle(id).is_ok() || self.ownership().exclusive() {
            return self.carry_out(id, command).await;
        }
        match leases::holder_of(self.db(), id).await? {
            Some((holder, name)) if *holder != **self.ownership().id() => {
                self.forward(id, &holder, &name, command).await
            }
            // Granted to this instance a moment ago, or between holders.
            Some(_) | None if self.deps().board.get(id).is_some() => {
                Err(SupervisorError::Unheld(id.to_owned()))
            }
            _ => Err(SupervisorError::NotFound(id.to_owned())),
        }
    }

    pub(super) async fn forward(
        &self,
        id: &str,
        holder: &str,
        name: &str,
        command: Command,
    ) -> Result<Outcome, SupervisorError> {
        let Db::Postgres(pool) = self.db() else {
            return self.carry_out(id, command).await;
        };
        let row = uuid::Uuid::new_v4().to_string();
        let text = serde_json::to_string(&command).unwrap_or_default();
        commands::put(self.db(), &row, id, holder, &text).await?;
        let replied = self.awaiting().insert(&row);
        let me = self.ownership().id().clone();
        let request = Body::Request { to: holder.to_owned(), id: row.clone() };
        if let Err(e) = relay::send(pool, &me, request).await {
            self.awaiting().remove(&row);
            let _ = commands::forget(self.db(), &row).await;
            return Err(SupervisorError::Database(e.into()));
        }
        // A live holder takes the action up at once; one that has not within a lease's
        // time is taken for gone, and the action is withdrawn so that it never happens.
        let mut replied = replied;
        let take_up = self.ownership().settings().timing.take_up();
        let mut answered =
            tokio::time::timeout(take_up, &mut replied).await.is_ok_and(|r| r.is_ok());
        let silent = |waited: Duration, taken: bool| SupervisorError::HolderSilent {
            id: id.to_owned(),
            instance: name.to_owned(),
            waited_secs: waited.as_secs(),
            taken,
        };
        let mut waited = take_up;
        if !answered {
            let withdrawn = commands::withdraw(self.db(), &row).await;
            if !matches!(withdrawn, Ok(false)) {
                // Withdrawn, or unknown: the holder refuses it once it is older than the
                // take-up time anyway, so nothing is done behind the caller's back.
                self.awaiting().remove(&row);
                withdrawn?;
                return Err(silent(take_up, false));
            }
            // Taken up: it is under way, so its outcome is worth a whole request's wait.
            let wait = self.policy().request_deadline();
            answered = tokio::time::timeout(wait, replied).await.is_ok_and(|r| r.is_ok());
            waited += wait;
        }
        self.awaiting().remove(&row);
        let outcome = if answered { commands::take_outcome(self.db(), &row).await? } else { None };
        let Some(outcome) = outcome else {
            let _ = commands::forget(self.db(), &row).await;
            return Err(silent(waited, true));
        };
        match serde_json::from_str::<Outcome>(&outcome) {
            Ok(Outcome::Failed(e)) => Err(SupervisorError::Elsewhere(e)),
            Ok(outcome) => Ok(outcome),
            Err(e) => Err(SupervisorError::Elsewhere(AppError::Internal(format!(
                "the instance holding the session answered in a form this one cannot read: {e}"
            )))),
        }
    }

    /// Another instance asks this one, the holder, to carry out row `id`.
    pub(super) async fn requested(&self, from: String, id: String) {
        let me = self.ownership().id().clone();
        let Db::Postgres(pool) = self.db() else { return };
        let within = self.ownership().settings().timing.take_up();
        let (session_id, text) = match commands::take(self.db(), &id, &me, within).await {
            Ok(Some(row)) => row,
            // Withdrawn (this instance was too slow), or not for it.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not take up an action another instance handed over");
                return;
            }
        };
        let outcome = match serde_json::from_str::<Command>(&text) {
            // Only what runs here (or is to be created here): a session lost meanwhile is
            // not forwarded again.
            Ok(command)
                if self.handle(&session_id).is_ok()
                    || matches!(command, Command::Create { .. }) =>
            {
                match self.carry_out(&session_id, command).await {
                    Ok(outcome) => outcome,
                    Err(e) => Outcome::Failed(e.into()),
                }
            }
            Ok(_) => Outcome::Failed(SupervisorError::Unheld(session_id).into()),
            Err(e) => Outcome::Failed(AppError::InvalidRequest(format!(
                "an action this instance cannot read: {e}"
            ))),
        };
        let text = serde_json::to_string(&outcome).unwrap_or_default();
        if let Err(e) = commands::answer(self.db(), &id, &text).await {
            tracing::warn!(error = %e, "could not answer an action another instance handed over");
            return;
        }
        if let Err(e) = relay::send(pool, &me, Body::Reply { to: from, id }).await {
            tracing::warn!(error = %e, "could not tell another instance its action is done");
        }
    }

    /// The holder answered row `id`.
    pub(super) fn replied(&self, id: &str) {
        if let Some(waiting) = self.awaiting().remove(id) {
            let _ = waiting.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_outcomes_read_back_as_written() {
        let message = SendMessage { to: "+27820000001".into(), text: "hi ✓".into() };
        for command in
            [Command::Reconnect, Command::SetAutoConnect { on: false }, Command::Send { message }]
        {
            let text = serde_json::to_string(&command).unwrap();
            assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), command);
        }
        let failed = Outcome::Failed(AppError::SessionStopped("stopped".into()));
        let text = serde_json::to_string(&failed).unwrap();
        assert_eq!(serde_json::from_str::<Outcome>(&text).unwrap(), failed);
        assert!(matches!(Outcome::Done.view(), Err(SupervisorError::Elsewhere(_))));
    }
}
