//! The error every dashboard server function returns, serialisable across the wire.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What can go wrong behind a dashboard call, in words an operator can act on.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
pub enum AppError {
    /// The database did not answer or refused the query.
    #[error("the database did not answer: {0}")]
    Database(String),
    /// The dashboard could not reach the server at all.
    #[error("could not reach the Lifeline server: {0}")]
    Unreachable(String),
    /// Anything else; the message says what.
    #[error("{0}")]
    Internal(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(e) => AppError::Unreachable(e),
            other => AppError::Internal(other.to_string()),
        }
    }
}
