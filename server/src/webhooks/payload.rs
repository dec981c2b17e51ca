//! What a webhook says: the Standard Webhooks payload shape (`type`, `timestamp`, `data`),
//! one per event, its body fixed when the event is written so every attempt sends the same
//! bytes.

use app::model::{
    SessionStatus, SessionView,
    recovery::Recovery,
    webhooks::{EventType, ReceivedMessage},
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// An event on its way into the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// `msg_…`, stable: the receiver deduplicates on it.
    pub id: String,
    /// What kind of event.
    pub event_type: EventType,
    /// The session it is about.
    pub session_id: Option<String>,
    /// The JSON body.
    pub body: String,
}

#[derive(Serialize)]
struct Body<'a, D: Serialize> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: D,
}

/// `session.status`'s data: the session as it is now, and the status it left.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SessionStatusData)]
pub struct StatusData<'a> {
    /// The session as it is now.
    session: &'a SessionView,
    /// The status it left.
    from: SessionStatus,
}

fn outgoing<D: Serialize>(
    event_type: EventType,
    session_id: Option<&str>,
    at: DateTime<Utc>,
    data: D,
) -> Outgoing {
    let body = Body {
        event_type: event_type.as_str(),
        timestamp: at.to_rfc3339_opts(SecondsFormat::Millis, true),
        data,
    };
    Outgoing {
        id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        event_type,
        session_id: session_id.map(str::to_owned),
        // Plain data types: serialising cannot fail.
        body: serde_json::to_string(&body).unwrap_or_default(),
    }
}

/// `session.status`: `view` changed from `from`.
pub fn session_status(view: &SessionView, from: SessionStatus) -> Outgoing {
    outgoing(
        EventType::SessionStatus,
        Some(&view.id),
        view.updated_at,
        StatusData { session: view, from },
    )
}

/// `session.removed`'s data.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SessionRemovedData)]
pub struct RemovedData<'a> {
    /// The session deleted.
    session_id: &'a str,
}

/// `session.removed`: session `id` was deleted at `at`.
pub fn session_removed(id: &str, at: DateTime<Utc>) -> Outgoing {
    outgoing(EventType::SessionRemoved, Some(id), at, RemovedData { session_id: id })
}

/// `recovery`: a watchdog's or a person's recovery and how it ended.
pub fn recovery(recovery: &Recovery, at: DateTime<Utc>) -> Outgoing {
    outgoing(EventType::Recovery, Some(&recovery.session_id), at, recovery)
}

/// `message.sent`'s data.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MessageSentData)]
pub struct SentData<'a> {
    /// The session it went out through.
    session_id: &'a str,
    /// WhatsApp's id of the message, as `POST /sessions/{id}/messages` answered.
    message_id: &'a str,
    /// The recipient.
    to: &'a str,
    /// The text.
    text: &'a str,
}

/// `message.sent`: `text` went to `to` through session `session_id` as message
/// `message_id`.
pub fn message_sent(
    session_id: &str,
    message_id: &str,
    to: &str,
    text: &str,
    at: DateTime<Utc>,
) -> Outgoing {
    let data = SentData { session_id, message_id, to, text };
    outgoing(EventType::MessageSent, Some(session_id), at, data)
}

/// `session.qr`'s and `session.pair_code`'s data.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CodeData<'a> {
    /// The session pairing.
    session_id: &'a str,
    /// The QR code's payload (draw it as a QR image), or the eight characters to type on
    /// the phone.
    code: &'a str,
    /// When it stops being valid.
    expires_at: DateTime<Utc>,
}

/// `session.qr`: session `session_id` shows a new QR code (its payload, `code`), valid
/// until `expires_at`.
pub fn session_qr(
    session_id: &str,
    code: &str,
    expires_at: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Outgoing {
    outgoing(EventType::SessionQr, Some(session_id), at, CodeData { session_id, code, expires_at })
}

/// `session.pair_code`: session `session_id` shows a new code to type on the phone.
pub fn session_pair_code(
    session_id: &str,
    code: &str,
    expires_at: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Outgoing {
    let data = CodeData { session_id, code, expires_at };
    outgoing(EventType::SessionPairCode, Some(session_id), at, data)
}

/// `message.received`'s data: the message and the session it arrived on.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = MessageReceivedData)]
pub struct ReceivedData<'a> {
    /// The session it arrived on.
    session_id: &'a str,
    /// The message.
    #[serde(flatten)]
    message: &'a ReceivedMessage,
}

/// `message.received`: `message` arrived on session `session_id`.
pub fn message_received(session_id: &str, message: &ReceivedMessage) -> Outgoing {
    let data = ReceivedData { session_id, message };
    outgoing(EventType::MessageReceived, Some(session_id), message.timestamp, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_change_reads_as_the_standard_shape() {
        let mut view = SessionView::new("s1".into(), "Shop".into(), "simulator".into(), Utc::now());
        view.status = SessionStatus::Connected;
        let event = session_status(&view, SessionStatus::Connecting);
        assert!(event.id.starts_with("msg_"));
        assert_eq!(event.session_id.as_deref(), Some("s1"));
        let body: serde_json::Value = serde_json::from_str(&event.body).unwrap();
        assert_eq!(body["type"], "session.status");
        assert_eq!(body["data"]["session"]["status"], "connected");
        assert_eq!(body["data"]["from"], "connecting");
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_ne!(session_status(&view, SessionStatus::Connecting).id, event.id);
    }

    #[test]
    fn a_received_message_carries_its_session_beside_its_fields() {
        let at = Utc::now();
        let message = ReceivedMessage {
            message_id: "3EB0A1".into(),
            chat: "15555550100@s.whatsapp.net".into(),
            from: "+15555550100".into(),
            push_name: None,
            kind: "text".into(),
            text: Some("hi".into()),
            timestamp: at,
        };
        let event = message_received("s1", &message);
        let body: serde_json::Value = serde_json::from_str(&event.body).unwrap();
        assert_eq!(body["type"], "message.received");
        assert_eq!(body["data"]["session_id"], "s1");
        assert_eq!(body["data"]["message_id"], "3EB0A1");
        assert_eq!(body["data"]["text"], "hi");
        assert_eq!(body["data"]["push_name"], serde_json::Value::Null);
        let qr = session_qr("s1", "2@abc", at, at);
        let body: serde_json::Value = serde_json::from_str(&qr.body).unwrap();
        assert_eq!(
            (body["type"].as_str(), body["data"]["code"].as_str()),
            (Some("session.qr"), Some("2@abc"))
        );
    }
}
