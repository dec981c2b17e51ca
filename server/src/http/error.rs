//! REST errors: every failure is a status code and a JSON [`AppError`] body.

use app::error::AppError;
use axum::{
    Json,
    extract::{FromRequest, FromRequestParts, Path, Request, rejection::JsonRejection},
    http::StatusCode,
    http::request::Parts,
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;

use crate::supervisor::SupervisorError;

/// A failed REST request.
#[derive(Debug)]
pub struct ApiFailure(pub AppError);

impl ApiFailure {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.status(), Json(self.0)).into_response()
    }
}

/// The answer for a route that exists but not with the request's method (axum's own is an
/// empty body). axum keeps the `Allow` header listing the methods that work.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiFailure {
    ApiFailure(AppError::MethodNotAllowed(format!("{} does not accept {method}", uri.path())))
}

/// The answer for a path no route serves, outside the dashboard (whose own pages say "not
/// found" to people).
pub fn no_such_route(uri: &axum::http::Uri) -> ApiFailure {
    ApiFailure(AppError::NoSuchRoute(format!("nothing is served at {}", uri.path())))
}

impl From<crate::access::AccessError> for ApiFailure {
    fn from(e: crate::access::AccessError) -> Self {
        ApiFailure(e.into())
    }
}

impl From<SupervisorError> for ApiFailure {
    fn from(e: SupervisorError) -> Self {
        ApiFailure(e.into())
    }
}

/// A JSON body whose rejections are JSON errors too, saying what was wrong.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiFailure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiFailure(match rejection {
                JsonRejection::JsonDataError(e) => {
                    AppError::InvalidRequest(format!("the body does not fit: {}", e.body_text()))
                }
                JsonRejection::JsonSyntaxError(e) => AppError::MalformedJson(format!(
                    "the body is not valid JSON: {}",
                    e.body_text()
                )),
                JsonRejection::MissingJsonContentType(_) => AppError::UnsupportedMediaType(
                    "send the body as JSON with Content-Type: application/json".into(),
                ),
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    AppError::PayloadTooLarge(format!(
                        "the body is larger than {} KiB",
                        super::MAX_BODY_BYTES / 1024
                    ))
                }
                other => AppError::InvalidRequest(other.body_text()),
            })),
        }
    }
}

/// `Path` whose rejections (a segment that is not UTF-8 once decoded, one that does not
/// parse) are JSON errors like every other.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiFailure(AppError::InvalidRequest(rejection.body_text()))),
        }
    }
}
