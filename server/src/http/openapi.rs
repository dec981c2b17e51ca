//! The machine API described in OpenAPI 3.1, generated from the handlers and the types they
//! read and write: `GET /openapi.json`. Its `webhooks` section describes what Lifeline POSTs
//! to webhook endpoints.

use std::{borrow::Cow, sync::LazyLock};

use app::{
    error::AppError,
    model::{recovery::Recovery, webhooks::EventType},
};
use axum::{Json, response::IntoResponse};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        self, ContentBuilder, HttpMethod, ObjectBuilder, PathItem, PathsBuilder, Ref, RefOr,
        ResponseBuilder, Schema, Type,
        path::{OperationBuilder, ParameterBuilder, ParameterIn},
        request_body::RequestBodyBuilder,
        security::{ApiKey, ApiKeyValue, SecurityScheme},
    },
};

use super::{health, instances, keys, metrics, sessions, webhooks};
use crate::{access::COOKIE, webhooks::payload};

/// Every refusal a protected route can answer, each with the JSON error body
/// (`{"error": "<code>", "message": "…"}`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only documents the answers; the handlers build `ApiFailure`s.
pub enum Failures {
    /// The body is not valid JSON.
    #[response(status = 400)]
    MalformedJson(AppError),
    /// No valid credentials: log in, or send an `x-api-key` header.
    #[response(status = 401)]
    Unauthorized(AppError),
    /// The key's scope is too narrow for the route.
    #[response(status = 403)]
    Forbidden(AppError),
    /// No such session, instance, key or webhook endpoint.
    #[response(status = 404)]
    NotFound(AppError),
    /// The session is in no state for it (stopped, not paired), or another change won.
    #[response(status = 409)]
    Conflict(AppError),
    /// The body is larger than 64 KiB.
    #[response(status = 413)]
    TooLarge(AppError),
    /// The body is not sent as `application/json`.
    #[response(status = 415)]
    UnsupportedMediaType(AppError),
    /// The `Host` is not one this server answers to (`--allowed-hosts`).
    #[response(status = 421)]
    UnknownHost(AppError),
    /// The request is well-formed but not valid; the message says why.
    #[response(status = 422)]
    Invalid(AppError),
    /// Too many failed attempts from this address; wait.
    #[response(status = 429)]
    TooManyAttempts(AppError),
    /// A fault in Lifeline.
    #[response(status = 500)]
    Internal(AppError),
    /// WhatsApp refused what was asked.
    #[response(status = 502)]
    UpstreamRefused(AppError),
    /// Not now: restoring, shutting down, the database does not answer, or the instance
    /// holding the session does not.
    #[response(status = 503)]
    Unavailable(AppError),
    /// WhatsApp did not answer in time.
    #[response(status = 504)]
    UpstreamTimeout(AppError),
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Lifeline",
        description = "Keeps WhatsApp sessions alive and says, live, that they are. Machines \
            send an API key as `x-api-key`: `read` looks, `operate` also acts on sessions, \
            `admin` also manages keys and webhook endpoints. Every error is JSON: \
            `{\"error\": \"<code>\", \"message\": \"…\"}`."
    ),
    paths(
        health::light,
        health::deep,
        health::livez,
        health::readyz,
        metrics::metrics,
        sessions::list,
        sessions::get,
        sessions::create,
        sessions::update,
        sessions::delete,
        sessions::reconnect,
        sessions::start,
        sessions::stop,
        sessions::logout,
        sessions::send,
        instances::list,
        instances::drain,
        instances::move_session,
        keys::list,
        keys::create,
        keys::revoke,
        webhooks::list,
        webhooks::create,
        webhooks::get,
        webhooks::update,
        webhooks::delete,
        webhooks::deliveries,
        webhooks::redeliver,
    ),
    components(schemas(
        AppError,
        payload::StatusData,
        payload::RemovedData,
        payload::SentData,
        payload::CodeData,
        payload::ReceivedData,
        Recovery,
    )),
    modifiers(&Credentials, &Webhooks),
    tags(
        (name = "health", description = "Whether Lifeline and its sessions are well"),
        (name = "sessions", description = "WhatsApp sessions and what can be done to them"),
        (name = "instances", description = "Lifeline instances sharing one PostgreSQL database"),
        (name = "keys", description = "API keys for machines"),
        (name = "webhooks", description = "Endpoints Lifeline POSTs events to, and their deliveries"),
    )
)]
pub struct ApiDoc;

/// How callers prove who they are: an API key, or the dashboard's login cookie.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let key = ApiKeyValue::with_description(
            "x-api-key",
            "An API key (Settings → API keys); its scope decides what it may do",
        );
        components.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(key)));
        let cookie = ApiKeyValue::with_description(
            COOKIE,
            "The dashboard's login (`__Host-` prefixed over HTTPS); may do everything",
        );
        components.add_security_scheme("login", SecurityScheme::ApiKey(ApiKey::Cookie(cookie)));
    }
}

/// The `webhooks` section: one POST per event type, its body the event's schema.
struct Webhooks;

impl Webhooks {
    /// The schema (in `components`) of the `data` of `event`'s requests.
    fn data_schema(event: EventType) -> Cow<'static, str> {
        // The names the derives give (`#[schema(as = …)]`), not restated here.
        match event {
            EventType::SessionStatus => payload::StatusData::name(),
            EventType::SessionQr | EventType::SessionPairCode => payload::CodeData::name(),
            EventType::SessionRemoved => payload::RemovedData::name(),
            EventType::Recovery => Recovery::name(),
            EventType::MessageReceived => payload::ReceivedData::name(),
            EventType::MessageSent => payload::SentData::name(),
        }
    }

    /// The whole body of `event`'s requests: the Standard Webhooks shape around its data.
    fn body_schema(event: EventType) -> Schema {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .property(
                "type",
                string().enum_values(Some([event.as_str()])).description(Some("The event type")),
            )
            .property(
                "timestamp",
                string()
                    .format(Some(openapi::SchemaFormat::KnownFormat(
                        openapi::KnownFormat::DateTime,
                    )))
                    .description(Some("When it happened")),
            )
            .property("data", Ref::from_schema_name(Self::data_schema(event).into_owned()))
            .required("type")
            .required("timestamp")
            .required("data")
            .into()
    }

    fn header(name: &str, description: &str) -> openapi::path::Parameter {
        let string = ObjectBuilder::new().schema_type(Type::String);
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(openapi::Required::True)
            .description(Some(description))
            .schema(Some(string))
            .build()
    }

    fn item(event: EventType) -> PathItem {
        let schema: RefOr<Schema> = Self::body_schema(event).into();
        let body = RequestBodyBuilder::new()
            .required(Some(openapi::Required::True))
            .content("application/json", ContentBuilder::new().schema(Some(schema)).build())
            .build();
        let operation = OperationBuilder::new()
            .summary(Some(format!("`{}`: {}", event.as_str(), event.describe())))
            .description(Some(
                "Sent to each enabled endpoint subscribed to this event type (and the session), \
                 at least once and in order per session; retried on a timeout, a connection \
                 error or a non-2xx answer. Verify the signature with any Standard Webhooks \
                 library and the endpoint's `whsec_` secret; deduplicate on `webhook-id`.",
            ))
            .operation_id(Some(format!("webhook_{}", event.as_str().replace('.', "_"))))
            .tag("webhooks")
            .parameter(Self::header("webhook-id", "The event's id: the same on every attempt"))
            .parameter(Self::header(
                "webhook-timestamp",
                "When this attempt was signed, in Unix seconds",
            ))
            .parameter(Self::header(
                "webhook-signature",
                "`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the secret",
            ))
            .request_body(Some(body))
            .response("2XX", ResponseBuilder::new().description("Received; not sent again"))
            .response(
                "410",
                ResponseBuilder::new().description("Gone: Lifeline pauses the endpoint at once"),
            )
            .build();
        PathItem::new(HttpMethod::Post, operation)
    }
}

impl Modify for Webhooks {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let paths = EventType::ALL.iter().fold(PathsBuilder::new(), |paths, &event| {
            paths.path(event.as_str(), Self::item(event))
        });
        doc.webhooks = Some(paths.build());
    }
}

/// The document, built once: it is fixed when Lifeline is built.
pub static DOCUMENT: LazyLock<openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// `GET /openapi.json`: public, like the reference it describes.
pub async fn document() -> impl IntoResponse {
    Json(&*DOCUMENT)
}
