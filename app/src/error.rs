//! The error of every dashboard server function and the body of every REST error:
//! `{"error": "<code>", "message": "<what went wrong>"}`.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What can go wrong behind a dashboard call or a REST request, in words an operator can
/// act on. The variant is the stable code machines match on; the text is for people.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Error,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(tag = "error", content = "message", rename_all = "snake_case", from = "ErrorBody")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum AppError {
    /// No session with that id.
    #[error("{0}")]
    NoSuchSession(String),
    /// No live instance with that name.
    #[error("{0}")]
    NoSuchInstance(String),
    /// No live API key with that id.
    #[error("{0}")]
    NoSuchKey(String),
    /// No webhook endpoint with that id.
    #[error("{0}")]
    NoSuchWebhook(String),
    /// The request is malformed or a value is out of range.
    #[error("{0}")]
    InvalidRequest(String),
    /// The body is not JSON at all.
    #[error("{0}")]
    MalformedJson(String),
    /// The body is larger than the server accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body is not declared as JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// No route answers to this path.
    #[error("{0}")]
    NoSuchRoute(String),
    /// The route exists, but not with this HTTP method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The connector asked for is not offered.
    #[error("{0}")]
    ConnectorUnavailable(String),
    /// No credentials: a new QR scan is needed.
    #[error("{0}")]
    NotPaired(String),
    /// The operator stopped the session.
    #[error("{0}")]
    SessionStopped(String),
    /// The session did not connect within the wait.
    #[error("{0}")]
    StillRestoring(String),
    /// The upstream refused.
    #[error("{0}")]
    UpstreamRefused(String),
    /// The upstream did not answer.
    #[error("{0}")]
    UpstreamTimeout(String),
    /// The request cannot be carried out as things stand (a fault the simulated session
    /// cannot take, say).
    #[error("{0}")]
    Conflict(String),
    /// The server is shutting down.
    #[error("{0}")]
    ShuttingDown(String),
    /// The database failed.
    #[error("{0}")]
    DatabaseError(String),
    /// No valid API key or login.
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials are fine, but this is not allowed (another site's request, say).
    #[error("{0}")]
    Forbidden(String),
    /// The request named a host this server does not answer to.
    #[error("{0}")]
    UnknownHost(String),
    /// Too many failed logins.
    #[error("{0}")]
    TooManyAttempts(String),
    /// The server is at its bound for expensive work (password checks): try again shortly.
    #[error("{0}")]
    Busy(String),
    /// The request took longer than any request should; what it asked for may still be
    /// carried out.
    #[error("{0}")]
    RequestTimeout(String),
    /// The instance holding the session (several share one database) did not answer.
    #[error("{0}")]
    HolderUnavailable(String),
    /// The dashboard could not reach the server.
    #[error("could not reach the Lifeline server: {0}")]
    Unreachable(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// The stable snake_case code (the `error` field on the wire).
    pub fn code(&self) -> &'static str {
        self.into()
    }
}

/// The wire form as it is read. Not the derived reading of the adjacently tagged enum:
/// that one buffers the body in case `message` comes before `error`, and compiles every
/// reader a second time for the buffer, which the browser pays for in WebAssembly.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

impl From<ErrorBody> for AppError {
    /// A code this build does not know (a newer server's) keeps its message as an
    /// internal error rather than failing to read at all.
    fn from(body: ErrorBody) -> Self {
        let mut error = body.error.parse().unwrap_or(AppError::Internal(String::new()));
        *error.message_mut() = body.message;
        error
    }
}

impl AppError {
    fn message_mut(&mut self) -> &mut String {
        match self {
            AppError::NoSuchSession(message)
            | AppError::NoSuchInstance(message)
            | AppError::NoSuchKey(message)
            | AppError::NoSuchWebhook(message)
            | AppError::InvalidRequest(message)
            | AppError::MalformedJson(message)
            | AppError::PayloadTooLarge(message)
            | AppError::UnsupportedMediaType(message)
            | AppError::NoSuchRoute(message)
            | AppError::MethodNotAllowed(message)
            | AppError::ConnectorUnavailable(message)
            | AppError::NotPaired(message)
            | AppError::SessionStopped(message)
            | AppError::StillRestoring(message)
            | AppError::UpstreamRefused(message)
            | AppError::UpstreamTimeout(message)
            | AppError::Conflict(message)
            | AppError::ShuttingDown(message)
            | AppError::DatabaseError(message)
            | AppError::Unauthorized(message)
            | AppError::Forbidden(message)
            | AppError::UnknownHost(message)
            | AppError::TooManyAttempts(message)
            | AppError::Busy(message)
            | AppError::RequestTimeout(message)
            | AppError::HolderUnavailable(message)
            | AppError::Unreachable(message)
            | AppError::Internal(message) => message,
        }
    }

    /// The HTTP status that goes with the error, on every surface.
    pub fn http_status(&self) -> u16 {
        match self {
            AppError::MalformedJson(_) => 400,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NoSuchSession(_)
            | AppError::NoSuchInstance(_)
            | AppError::NoSuchKey(_)
            | AppError::NoSuchWebhook(_)
            | AppError::NoSuchRoute(_) => 404,
            AppError::NotPaired(_) | AppError::SessionStopped(_) | AppError::Conflict(_) => 409,
            AppError::PayloadTooLarge(_) => 413,
            AppError::UnsupportedMediaType(_) => 415,
            AppError::MethodNotAllowed(_) => 405,
            AppError::UnknownHost(_) => 421,
            AppError::InvalidRequest(_) | AppError::ConnectorUnavailable(_) => 422,
            AppError::TooManyAttempts(_) => 429,
            AppError::Internal(_) => 500,
            AppError::UpstreamRefused(_) => 502,
            AppError::StillRestoring(_)
            | AppError::ShuttingDown(_)
            | AppError::DatabaseError(_)
            | AppError::Busy(_)
            | AppError::RequestTimeout(_)
            | AppError::HolderUnavailable(_)
            | AppError::Unreachable(_) => 503,
            AppError::UpstreamTimeout(_) => 504,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let error = match value {
            ServerFnErrorErr::Request(e) => AppError::Unreachable(e),
            ServerFnErrorErr::Args(e) | ServerFnErrorErr::MissingArg(e) => {
                AppError::InvalidRequest(e)
            }
            // On the server nothing but the request is deserialised: a body that cannot be
            // read at all (not UTF-8, say) is the caller's mistake, not the server's.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(e) => {
                AppError::InvalidRequest(format!("the request cannot be read: {e}"))
            }
            other => AppError::Internal(other.to_string()),
        };
        // On the server this is a request that could not be read (a missing field, say):
        // it answers with the error's status, not the 500 server functions default to.
        #[cfg(feature = "ssr")]
        let error = crate::functions::fail(error);
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_error_and_message_with_the_code() {
        let samples = [
            AppError::NoSuchSession("x".into()),
            AppError::NoSuchKey("x".into()),
            AppError::NoSuchWebhook("x".into()),
            AppError::NoSuchInstance("x".into()),
            AppError::InvalidRequest("x".into()),
            AppError::MalformedJson("x".into()),
            AppError::PayloadTooLarge("x".into()),
            AppError::UnsupportedMediaType("x".into()),
            AppError::MethodNotAllowed("x".into()),
            AppError::NoSuchRoute("x".into()),
            AppError::ConnectorUnavailable("x".into()),
            AppError::NotPaired("x".into()),
            AppError::SessionStopped("x".into()),
            AppError::StillRestoring("x".into()),
            AppError::UpstreamRefused("x".into()),
            AppError::UpstreamTimeout("x".into()),
            AppError::Conflict("x".into()),
            AppError::ShuttingDown("x".into()),
            AppError::DatabaseError("x".into()),
            AppError::Unauthorized("x".into()),
            AppError::Forbidden("x".into()),
            AppError::UnknownHost("x".into()),
            AppError::TooManyAttempts("x".into()),
            AppError::Busy("x".into()),
            AppError::RequestTimeout("x".into()),
            AppError::HolderUnavailable("x".into()),
            AppError::Unreachable("x".into()),
            AppError::Internal("x".into()),
        ];
        for e in samples {
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v, serde_json::json!({"error": e.code(), "message": "x"}));
            assert_eq!(serde_json::from_value::<AppError>(v).unwrap(), e);
        }
    }

    #[test]
    fn a_code_this_build_does_not_know_keeps_its_message() {
        let read = |text: &str| serde_json::from_str::<AppError>(text);
        assert_eq!(
            read(r#"{"message":"first","error":"not_paired"}"#).unwrap(),
            AppError::NotPaired("first".into()),
            "the fields in either order"
        );
        assert_eq!(
            read(r#"{"error":"added_later","message":"what happened"}"#).unwrap(),
            AppError::Internal("what happened".into())
        );
        assert!(read(r#"{"error":"not_paired"}"#).unwrap_err().to_string().contains("`message`"));
    }
}
