//! What can go wrong when asking the supervisor to act on a session.

use thiserror::Error;

use crate::db::DbError;

/// A refused or failed operator action, each with a stable code for machines.
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
}

impl SupervisorError {
    /// The stable snake_case code machines match on.
    pub fn code(&self) -> &'static str {
        match self {
            SupervisorError::NotFound(_) => "no_such_session",
            SupervisorError::Invalid(_) => "invalid_request",
            SupervisorError::ConnectorUnavailable { .. } => "connector_unavailable",
            SupervisorError::NotPaired(_) => "not_paired",
            SupervisorError::Stopped(_) => "session_stopped",
            SupervisorError::StillRestoring { .. } => "still_restoring",
            SupervisorError::Upstream(_) => "upstream_refused",
            SupervisorError::UpstreamTimeout(_) => "upstream_timeout",
            SupervisorError::ShuttingDown => "shutting_down",
            SupervisorError::Database(_) => "database_error",
        }
    }
}
