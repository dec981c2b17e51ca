//! Webhook endpoints and their deliveries, as the REST routes and the dashboard show them.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::session::{ParseError, text_enum};

/// What an endpoint can subscribe to. On the wire and in the `type` of each payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum EventType {
    /// Every real state change of a session, with reason, attempt and next retry.
    #[serde(rename = "session.status")]
    SessionStatus,
    /// A new QR code for a pairing session.
    #[serde(rename = "session.qr")]
    SessionQr,
    /// A new code to type on the phone for a pairing session.
    #[serde(rename = "session.pair_code")]
    SessionPairCode,
    /// A session was deleted.
    #[serde(rename = "session.removed")]
    SessionRemoved,
    /// A watchdog or manual recovery and its outcome.
    #[serde(rename = "recovery")]
    Recovery,
    /// An incoming message.
    #[serde(rename = "message.received")]
    MessageReceived,
    /// A message sent through `POST /sessions/{id}/messages`.
    #[serde(rename = "message.sent")]
    MessageSent,
}

text_enum!(EventType, "webhook event type", {
    SessionStatus => "session.status",
    SessionQr => "session.qr",
    SessionPairCode => "session.pair_code",
    SessionRemoved => "session.removed",
    Recovery => "recovery",
    MessageReceived => "message.received",
    MessageSent => "message.sent",
});

impl EventType {
    /// What an endpoint subscribed to it hears, for the dashboard.
    pub fn describe(self) -> &'static str {
        match self {
            EventType::SessionStatus => "every state change, with reason and next retry",
            EventType::SessionQr => "a new QR code to scan",
            EventType::SessionPairCode => "a new code to type on the phone",
            EventType::SessionRemoved => "a session was deleted",
            EventType::Recovery => "a recovery and its outcome",
            EventType::MessageReceived => "an incoming message",
            EventType::MessageSent => "a message sent through Lifeline",
        }
    }
}

/// An endpoint as listed (never its secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookView {
    /// Stable identifier.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// Which events it receives.
    pub events: Vec<EventType>,
    /// Which sessions' events; `None` for all.
    pub sessions: Option<Vec<String>>,
    /// Whether events are queued and sent to it.
    pub enabled: bool,
    /// Why it was paused, when Lifeline paused it (failing for a day, or 410 Gone).
    pub paused_reason: Option<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// The answer to `POST /webhooks`: the endpoint and its signing secret, shown only here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedWebhook {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookView,
    /// `whsec_…`: verifies the `webhook-signature` of every delivery.
    pub secret: String,
}

/// `POST /webhooks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewWebhook {
    /// `http://` or `https://`.
    pub url: String,
    /// Which events, at least one.
    pub events: Vec<EventType>,
    /// Which sessions; absent or null for all.
    #[serde(default)]
    pub sessions: Option<Vec<String>>,
}

/// `PATCH /webhooks/{id}`: what is present changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpdateWebhook {
    /// A new URL.
    #[serde(default)]
    pub url: Option<String>,
    /// New event types.
    #[serde(default)]
    pub events: Option<Vec<EventType>>,
    /// New sessions: a list, or null for all. Absent leaves them (and stays absent when
    /// written, or it would read back as "all").
    #[serde(default, with = "double_option", skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Option<Vec<String>>>,
    /// Resume (`true`) or pause (`false`).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `null` and absent told apart: absent leaves a field, `null` clears it.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// The longest URL an endpoint may have.
pub const MAX_URL_CHARS: usize = 2000;
/// The most sessions one endpoint may name.
pub const MAX_SESSIONS: usize = 1000;

/// `url` if it is an absolute `http(s)` URL with a host, else what is wrong with it.
pub fn valid_url(url: &str) -> Result<&str, String> {
    let url = url.trim();
    if url.chars().count() > MAX_URL_CHARS {
        return Err(format!("url must be at most {MAX_URL_CHARS} characters"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("url must not contain spaces or control characters".into());
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("url must start with http:// or https:// (got {url:?})"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("url must name a host (got {url:?})"));
    }
    Ok(url)
}

/// Event types: at least one, each once, in a stable order.
pub fn valid_events(events: &[EventType]) -> Result<Vec<EventType>, String> {
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(format!(
            "events must name at least one of: {}",
            EventType::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(events)
}

/// A session list: `None` (all) as is; a list without repeats, of at most [`MAX_SESSIONS`].
pub fn valid_sessions(sessions: Option<&[String]>) -> Result<Option<Vec<String>>, String> {
    let Some(sessions) = sessions else { return Ok(None) };
    let mut list: Vec<String> = sessions.iter().map(|s| s.trim().to_owned()).collect();
    list.sort();
    list.dedup();
    if list.is_empty() {
        return Err("sessions must name at least one session, or be null for all".into());
    }
    if list.len() > MAX_SESSIONS {
        return Err(format!("sessions may name at most {MAX_SESSIONS}"));
    }
    if list.iter().any(|s| s.is_empty() || s.chars().any(char::is_control)) {
        return Err("sessions must be session ids".into());
    }
    Ok(Some(list))
}

impl NewWebhook {
    /// The request made valid (trimmed, sorted), or what is wrong with it.
    pub fn validated(&self) -> Result<NewWebhook, String> {
        Ok(NewWebhook {
            url: valid_url(&self.url)?.to_owned(),
            events: valid_events(&self.events)?,
            sessions: valid_sessions(self.sessions.as_deref())?,
        })
    }
}

impl UpdateWebhook {
    /// The request made valid, or what is wrong with it.
    pub fn validated(&self) -> Result<UpdateWebhook, String> {
        Ok(UpdateWebhook {
            url: self.url.as_deref().map(valid_url).transpose()?.map(str::to_owned),
            events: self.events.as_deref().map(valid_events).transpose()?,
            sessions: self.sessions.as_ref().map(|s| valid_sessions(s.as_deref())).transpose()?,
            enabled: self.enabled,
        })
    }
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed (or the endpoint answered 410); kept for redelivery.
    Failed,
}

text_enum!(DeliveryState, "delivery state", {
    Pending => "pending",
    Delivered => "delivered",
    Failed => "failed",
});

/// One event's delivery to one endpoint, as the delivery log shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    /// The delivery's number.
    pub id: i64,
    /// The event's id: the `webhook-id` header, the same on every attempt.
    pub event_id: String,
    /// The event's type.
    pub event_type: EventType,
    /// The session it is about.
    pub session_id: Option<String>,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last answer's status code.
    pub last_status: Option<u16>,
    /// How long the last attempt took, in milliseconds.
    pub last_latency_ms: Option<u64>,
    /// The first bytes of the last answer.
    pub last_response: Option<String>,
    /// Why the last attempt failed, when it did without an answer.
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: DateTime<Utc>,
}

/// `POST /webhooks/{id}/redeliver`: one event again, or every failed delivery since a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Redeliver {
    /// This event.
    EventId(String),
    /// Every delivery to the endpoint that failed, of events since then.
    FailedSince(DateTime<Utc>),
}

/// How many deliveries `POST /webhooks/{id}/redeliver` queued again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Redelivered {
    /// Queued again.
    pub queued: u64,
}

/// An incoming message, as `message.received` tells it: text with its content, other kinds
/// (images, reactions, …) by their type only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReceivedMessage {
    /// WhatsApp's id of the message.
    pub message_id: String,
    /// The chat it arrived in: the sender's JID for a direct message, the group's JID.
    pub chat: String,
    /// Who sent it: the phone number (`+` and digits) when WhatsApp tells it, else the JID.
    pub from: String,
    /// The name the sender gave themselves in WhatsApp, when it came with the message.
    pub push_name: Option<String>,
    /// `text`, or the kind of message: `image`, `video`, `audio`, `document`, `sticker`,
    /// `reaction`…
    pub kind: String,
    /// The text, for text messages only.
    pub text: Option<String>,
    /// When it was sent.
    pub timestamp: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_read_and_write_the_same_on_the_wire_and_in_the_database() {
        for t in EventType::ALL {
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
        }
    }

    #[test]
    fn urls_must_be_absolute_http_with_a_host() {
        assert!(valid_url("https://example.com/hook").is_ok());
        assert!(valid_url(" http://127.0.0.1:9000/x?y=1 ").is_ok());
        for bad in
            ["", "example.com", "ftp://x", "https://", "https:///x", "http://:80/", "http://a b"]
        {
            assert!(valid_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn requests_are_made_valid_or_refused_with_a_reason() {
        let new = NewWebhook {
            url: "https://x.test".into(),
            events: vec![EventType::Recovery, EventType::SessionStatus, EventType::Recovery],
            sessions: Some(vec![" b ".into(), "a".into(), "b".into()]),
        };
        let valid = new.validated().unwrap();
        assert_eq!(valid.events, [EventType::SessionStatus, EventType::Recovery]);
        assert_eq!(valid.sessions, Some(vec!["a".into(), "b".into()]));
        let none = NewWebhook { events: vec![], ..new.clone() };
        assert!(none.validated().unwrap_err().contains("session.status"));
        let empty = NewWebhook { sessions: Some(vec![]), ..new };
        assert!(empty.validated().is_err());
    }

    #[test]
    fn a_patch_tells_null_sessions_from_absent_ones() {
        let absent: UpdateWebhook = serde_json::from_str(r#"{"enabled": false}"#).unwrap();
        assert_eq!(absent.sessions, None);
        let all: UpdateWebhook = serde_json::from_str(r#"{"sessions": null}"#).unwrap();
        assert_eq!(all.sessions, Some(None));
        let some: UpdateWebhook = serde_json::from_str(r#"{"sessions": ["a"]}"#).unwrap();
        assert_eq!(some.sessions, Some(Some(vec!["a".into()])));
        for patch in [absent, all, some] {
            let again = serde_json::to_string(&patch).unwrap();
            assert_eq!(serde_json::from_str::<UpdateWebhook>(&again).unwrap(), patch, "{again}");
        }
        let redeliver: Redeliver = serde_json::from_str(r#"{"event_id": "msg_1"}"#).unwrap();
        assert_eq!(redeliver, Redeliver::EventId("msg_1".into()));
    }
}
