//! What can go wrong when asking the supervisor to act on a session.

use app::error::AppError;
use thiserror::Error;

use crate::db::DbError;

/// A refused or failed operator action; each maps to the wire error (and so the stable
/// code machines match on) below.
#[derive(Debug, Error)]
pub enum SupervisorError {
    /// No session with that id.
    #[error("no session with id {0:?}")]
    NotFound(String),
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The connector asked for is not offered by this server.
    #[error("connector {name:?} is not available on this server ({hint})")]
    ConnectorUnavailable {
        /// What was asked for.
        name: String,
        /// What is available, or how to enable it.
        hint: String,
    },
    /// The session has no credentials: only a new QR scan brings it back.
    #[error("session {0:?} is not paired (or was logged out): start it and scan the QR code")]
    NotPaired(String),
    /// The operator stopped the session.
    #[error("session {0:?} is stopped: start it first")]
    Stopped(String),
    /// A restore did not finish within the wait.
    #[error("session {id:?} is still {status} after waiting {waited_secs} s")]
    StillRestoring {
        /// Which session.
        id: String,
        /// Where it got to.
        status: String,
        /// How long was waited.
        waited_secs: u64,
    },
    /// The upstream said no.
    #[error("the upstream refused: {0}")]
    Upstream(String),
    /// The upstream did not answer.
    #[error("the upstream did not answer within {0} s")]
    UpstreamTimeout(u64),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The instance holding the session answered with this error.
    #[error("{0}")]
    Elsewhere(AppError),
    /// No live instance has that name.
    #[error("no live Lifeline instance is called {0:?} (GET /instances lists them)")]
    NoInstance(String),
    /// No instance holds the session at this moment (it is being handed over).
    #[error(
        "no Lifeline instance holds session {0:?} at this moment (it is being handed over); \
         try again in a few seconds"
    )]
    Unheld(String),
    /// The instance holding the session did not answer in time.
    #[error(
        "the Lifeline instance {instance:?}, which holds session {id:?}, {} within \
         {waited_secs} s: it may be overloaded or gone (another instance takes the session \
         over once its lease runs out); try again shortly",
        if *taken { "took the action up but did not answer" } else { "did not take the action up (nothing was done)" }
    )]
    HolderSilent {
        /// Which session.
        id: String,
        /// The holder's name.
        instance: String,
        /// How long was waited.
        waited_secs: u64,
        /// Whether the holder took the action up (it may have been carried out).
        taken: bool,
    },
}

impl From<SupervisorError> for AppError {
    fn from(e: SupervisorError) -> AppError {
        let message = e.to_string();
        match e {
            SupervisorError::NotFound(_) => AppError::NoSuchSession(message),
            SupervisorError::NoInstance(_) => AppError::NoSuchInstance(message),
            SupervisorError::Invalid(_) => AppError::InvalidRequest(message),
            SupervisorError::ConnectorUnavailable { .. } => AppError::ConnectorUnavailable(message),
            SupervisorError::NotPaired(_) => AppError::NotPaired(message),
            SupervisorError::Stopped(_) => AppError::SessionStopped(message),
            SupervisorError::StillRestoring { .. } => AppError::StillRestoring(message),
            SupervisorError::Upstream(_) => AppError::UpstreamRefused(message),
            SupervisorError::UpstreamTimeout(_) => AppError::UpstreamTimeout(message),
            SupervisorError::ShuttingDown => AppError::ShuttingDown(message),
            SupervisorError::Database(e) => {
                tracing::error!(error = %e, "database error behind a request");
                AppError::DatabaseError(message)
            }
            SupervisorError::Elsewhere(e) => e,
            SupervisorError::HolderSilent { .. } | SupervisorError::Unheld(_) => {
                AppError::HolderUnavailable(message)
            }
        }
    }
}
