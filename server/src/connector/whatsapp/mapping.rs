//! What whatsapp-rust's events mean to Lifeline, decided purely: no client, no clock (the
//! caller passes the time), so every case is tested on its own.
//!
//! The same event means different things while an attempt is under way and once the link
//! is live (a logout while connecting is a failed attempt; while live it is news), so the
//! mapping yields a neutral [`Signal`] and the adapter places it.

use app::model::webhooks::ReceivedMessage;
use chrono::{DateTime, Utc};
use whatsapp_rust::{
    wacore::{
        proto_helpers::MessageExt,
        types::{
            events::{ConnectFailureReason, Event},
            message::MessageInfo,
        },
    },
    wacore_binary::JidExt,
    waproto::whatsapp as wa,
};

use crate::connector::ShownCode;

/// An event, in Lifeline's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// A QR code to show.
    Qr(ShownCode),
    /// A code to type on the phone (pairing by phone number).
    PairCode(ShownCode),
    /// The phone code on show is dead (WhatsApp asked for a new one, or the phone never
    /// confirmed it): a new one must be requested.
    PairCodeRefresh,
    /// The phone read the QR code but cannot link devices with it.
    ScannedWithoutMultidevice,
    /// The phone scanned the code: this number is linked.
    Paired {
        /// International form, `+` and digits.
        phone_number: String,
    },
    /// WhatsApp accepted the login (`<success>`); the client syncs before it is live.
    Authenticated,
    /// WhatsApp asked for a fresh login on a new socket (`515`, or the end of the stream):
    /// routine, not a failure.
    Restart,
    /// Logged in and live.
    LoggedIn,
    /// The QR codes ran out unscanned.
    QrExhausted {
        /// A phone code is still valid, so pairing goes on until it expires.
        pair_code_pending: bool,
    },
    /// The link dropped; worth reconnecting.
    Dropped {
        /// What the transport or server said.
        error: String,
    },
    /// The phone unlinked this device (or the account is locked): the credentials are dead.
    LoggedOut {
        /// Why, for people.
        reason: String,
    },
    /// Another client took the session over; reconnecting would fight it.
    Replaced,
    /// WhatsApp banned the number, until `until` when it says.
    Banned {
        /// When the ban ends, if WhatsApp said.
        until: Option<DateTime<Utc>>,
        /// What WhatsApp said.
        reason: String,
    },
    /// Connecting failed: retry per policy when `retry`, else a person must look.
    Failed {
        /// What went wrong.
        error: String,
        /// Whether another attempt can help.
        retry: bool,
    },
    /// WhatsApp no longer accepts this client version: only an update of Lifeline helps.
    Outdated,
    /// Messages arrived; the newest was sent at `at`.
    Message {
        /// The newest message's time.
        at: DateTime<Utc>,
        /// Those others sent (not this number's own, echoed from the phone).
        received: Vec<ReceivedMessage>,
    },
}

/// Maps one event; `None` for the many events Lifeline does not act on (receipts,
/// presence, history sync…).
pub fn map(event: &Event, now: DateTime<Utc>) -> Option<Signal> {
    Some(match event {
        Event::PairingQrCode(qr) => Signal::Qr(shown(&qr.code, qr.timeout, now)),
        Event::PairingCode(pair) => Signal::PairCode(shown(&pair.code, pair.timeout, now)),
        // The QR codes still work: a refused phone code only explains a later failure.
        Event::PairingCodeError(e) => {
            Signal::Failed { error: format!("no pairing code: {}", e.error), retry: true }
        }
        Event::PairSuccess(paired) => {
            Signal::Paired { phone_number: format!("+{}", paired.id.user) }
        }
        Event::PairError(e) => {
            Signal::Failed { error: format!("pairing failed: {}", e.error), retry: true }
        }
        // With a phone code outstanding the client keeps the socket for it (it says so by
        // not disconnecting).
        Event::PairingQrCodesExhausted(spent) => {
            Signal::QrExhausted { pair_code_pending: !spent.disconnected }
        }
        Event::PairingCodeRefresh(_) => Signal::PairCodeRefresh,
        Event::QrScannedWithoutMultidevice(_) => Signal::ScannedWithoutMultidevice,
        // The client tells no event for these stanzas; Lifeline watches the raw ones for them.
        Event::RawNode(node) => match node.tag() {
            "success" => Signal::Authenticated,
            "xmlstreamend" => Signal::Restart,
            "stream:error"
                if node.get_attr("code").is_some_and(|c| c.as_str() == "515")
                    && node.children().is_none_or(<[_]>::is_empty) =>
            {
                Signal::Restart
            }
            _ => return None,
        },
        Event::Connected(_) => Signal::LoggedIn,
        Event::Disconnected(d) => Signal::Dropped { error: format!("disconnected: {}", d.reason) },
        Event::StreamError(e) => Signal::Dropped { error: format!("stream error {}", e.code) },
        Event::LoggedOut(out) => Signal::LoggedOut { reason: logout_reason(out.reason) },
        Event::StreamReplaced(_) => Signal::Replaced,
        Event::TemporaryBan(ban) => Signal::Banned {
            until: Some(now + ban.expire),
            reason: format!("temporarily banned ({})", ban.code),
        },
        // A ban without a usable expiry reaches Lifeline as a bare connect failure.
        Event::ConnectFailure(f) if f.reason == ConnectFailureReason::TempBanned => {
            Signal::Banned { until: None, reason: "banned (WhatsApp gave no end date)".into() }
        }
        Event::ConnectFailure(f) if f.reason.is_logged_out() => {
            Signal::LoggedOut { reason: logout_reason(f.reason) }
        }
        Event::ConnectFailure(f) => Signal::Failed {
            error: match &f.message {
                Some(m) => format!("WhatsApp refused the connection ({:?}): {m}", f.reason),
                None => format!("WhatsApp refused the connection ({:?})", f.reason),
            },
            // Only a server in trouble is worth retrying at once; the supervisor's backoff
            // still spaces the retries.
            retry: f.reason.should_reconnect() || f.reason == ConnectFailureReason::Generic,
        },
        Event::ClientOutdated(_) => Signal::Outdated,
        Event::Messages(batch) => Signal::Message {
            at: batch.messages.iter().map(|m| m.info.timestamp).max()?,
            received: batch
                .messages
                .iter()
                .filter(|m| is_received(&m.info))
                .map(|m| received(&m.info, &m.message))
                .collect(),
        },
        _ => return None,
    })
}

/// Whether a message is one sent to this number: not its own (echoed from the phone), not
/// a contact's status post, not a channel's post.
fn is_received(info: &MessageInfo) -> bool {
    let chat = &info.source.chat;
    !info.source.is_from_me && !chat.is_status_broadcast() && !chat.is_newsletter()
}

/// An incoming message as the `message.received` webhook tells it.
fn received(info: &MessageInfo, message: &wa::Message) -> ReceivedMessage {
    let source = &info.source;
    // Senders may be addressed by their LID; the phone number then comes as the alternative.
    let from = [Some(&source.sender), source.sender_alt.as_ref()]
        .into_iter()
        .flatten()
        .find(|jid| jid.is_pn())
        .map_or_else(|| source.sender.to_non_ad_string(), |jid| format!("+{}", jid.user));
    let text = message.text_content().map(str::to_owned);
    // A deletion or an edit by the sender travels as a protocol message of type text.
    let protocol = message.get_base_message().protocol_message.as_option().is_some();
    let kind = match (&text, info.media_type.as_str(), info.r#type.as_str()) {
        (_, _, _) if protocol => "protocol",
        (Some(_), _, _) => "text",
        (None, "", "") => "unknown",
        (None, "", other) | (None, other, _) => other,
    };
    ReceivedMessage {
        message_id: info.id.clone(),
        chat: source.chat.to_string(),
        from,
        push_name: Some(info.push_name.clone()).filter(|n| !n.is_empty()),
        kind: kind.to_owned(),
        text,
        timestamp: info.timestamp,
    }
}

/// A code valid for `timeout` from `now`.
fn shown(code: &str, timeout: std::time::Duration, now: DateTime<Utc>) -> ShownCode {
    let expires_at = now + chrono::Duration::from_std(timeout).unwrap_or_default();
    ShownCode { code: code.to_owned(), expires_at }
}

fn logout_reason(reason: ConnectFailureReason) -> String {
    match reason {
        ConnectFailureReason::AccountLocked => "WhatsApp locked the account".into(),
        ConnectFailureReason::LoggedOut => "the phone unlinked this device".into(),
        other => format!("logged out by WhatsApp ({other:?})"),
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use chrono::TimeZone;
    use whatsapp_rust::{
        Jid,
        wacore::net::DisconnectReason,
        wacore::types::{
            events::{
                BatchOrigin, ClientOutdated, ConnectFailure, Connected, Disconnected,
                InboundMessage, LoggedOut, MessageBatch, PairSuccess, PairingCode,
                PairingCodeError, PairingCodeRefresh, PairingQrCode, PairingQrCodesExhausted,
                QrScannedWithoutMultidevice, StreamReplaced, TempBanReason, TemporaryBan,
            },
            message::MessageInfo,
        },
        wacore_binary::{OwnedNodeRef, builder::NodeBuilder},
        waproto::whatsapp as wa,
    };

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
    }

    fn one(event: Event) -> Signal {
        map(&event, now()).expect("the event was ignored")
    }

    #[test]
    fn a_qr_code_expires_when_the_library_rotates_it() {
        let qr =
            PairingQrCode::builder().code("2@abc".into()).timeout(Duration::from_secs(20)).build();
        assert_eq!(
            one(Event::PairingQrCode(qr)),
            Signal::Qr(ShownCode {
                code: "2@abc".into(),
                expires_at: now() + chrono::Duration::seconds(20)
            })
        );
        let typed = PairingCode::builder()
            .code("ABCD2345".into())
            .timeout(Duration::from_secs(180))
            .build();
        assert_eq!(
            one(Event::PairingCode(typed)),
            Signal::PairCode(ShownCode {
                code: "ABCD2345".into(),
                expires_at: now() + chrono::Duration::seconds(180)
            })
        );
        let refused = PairingCodeError::builder().error("rate limited".into()).build();
        assert_eq!(
            one(Event::PairingCodeError(refused)),
            Signal::Failed { error: "no pairing code: rate limited".into(), retry: true }
        );
        let spent = PairingQrCodesExhausted::builder().disconnected(true).build();
        assert_eq!(
            one(Event::PairingQrCodesExhausted(spent)),
            Signal::QrExhausted { pair_code_pending: false }
        );
        // With a phone code still valid the client keeps the socket for it.
        let spent = PairingQrCodesExhausted::builder().disconnected(false).build();
        assert_eq!(
            one(Event::PairingQrCodesExhausted(spent)),
            Signal::QrExhausted { pair_code_pending: true }
        );
        let refresh = PairingCodeRefresh::builder().force_manual(true).build();
        assert_eq!(one(Event::PairingCodeRefresh(refresh)), Signal::PairCodeRefresh);
        let scanned = QrScannedWithoutMultidevice::builder().build();
        assert_eq!(
            one(Event::QrScannedWithoutMultidevice(scanned)),
            Signal::ScannedWithoutMultidevice
        );
    }

    #[test]
    fn pairing_links_the_number_of_the_phone() {
        let paired = PairSuccess::builder()
            .id(Jid::pn("27821231234"))
            .lid(Jid::lid("123456789"))
            .business_name(String::new())
            .platform("android".into())
            .build();
        assert_eq!(
            one(Event::PairSuccess(paired)),
            Signal::Paired { phone_number: "+27821231234".into() }
        );
        assert_eq!(one(Event::Connected(Connected::builder().build())), Signal::LoggedIn);
    }

    #[test]
    fn the_login_is_accepted_at_success_and_live_at_connected() {
        let success =
            OwnedNodeRef::new(marshal_body(&NodeBuilder::new("success").build())).unwrap();
        assert_eq!(one(Event::RawNode(Arc::new(success))), Signal::Authenticated);
        let restart = NodeBuilder::new("stream:error").attr("code", "515").build();
        let restart = OwnedNodeRef::new(marshal_body(&restart)).unwrap();
        assert_eq!(one(Event::RawNode(Arc::new(restart))), Signal::Restart);
        let end =
            OwnedNodeRef::new(marshal_body(&NodeBuilder::new("xmlstreamend").build())).unwrap();
        assert_eq!(one(Event::RawNode(Arc::new(end))), Signal::Restart);
        // Other stream errors speak through the client's own events.
        let unauthorized = NodeBuilder::new("stream:error").attr("code", "401").build();
        let unauthorized = OwnedNodeRef::new(marshal_body(&unauthorized)).unwrap();
        assert_eq!(map(&Event::RawNode(Arc::new(unauthorized)), now()), None);
        assert_eq!(one(Event::Connected(Connected::builder().build())), Signal::LoggedIn);
    }

    /// A node as it comes off the wire, without the frame's flag byte.
    fn marshal_body(node: &whatsapp_rust::wacore_binary::Node) -> Vec<u8> {
        whatsapp_rust::wacore_binary::marshal(node).unwrap()[1..].to_vec()
    }

    #[test]
    fn a_logout_is_final_and_says_why() {
        let out =
            LoggedOut::builder().on_connect(false).reason(ConnectFailureReason::LoggedOut).build();
        assert_eq!(
            one(Event::LoggedOut(out)),
            Signal::LoggedOut { reason: "the phone unlinked this device".into() }
        );
        // A refusal at connect time for a logged-out account is the same thing.
        let refused = ConnectFailure::builder().reason(ConnectFailureReason::AccountLocked).build();
        assert_eq!(
            one(Event::ConnectFailure(refused)),
            Signal::LoggedOut { reason: "WhatsApp locked the account".into() }
        );
    }

    #[test]
    fn a_replaced_stream_is_not_fought() {
        assert_eq!(one(Event::StreamReplaced(StreamReplaced::builder().build())), Signal::Replaced);
    }

    #[test]
    fn a_ban_lasts_from_now_for_the_duration_whatsapp_gives() {
        let ban = TemporaryBan::builder()
            .code(TempBanReason::SentToTooManyPeople)
            .expire(chrono::Duration::hours(2))
            .build();
        match one(Event::TemporaryBan(ban)) {
            Signal::Banned { until, reason } => {
                assert_eq!(until, Some(now() + chrono::Duration::hours(2)));
                assert!(reason.contains("101"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // Without an expiry (or one that does not parse) it is still a ban, of unknown end.
        let open_ended = ConnectFailure::builder().reason(ConnectFailureReason::TempBanned).build();
        assert!(matches!(
            one(Event::ConnectFailure(open_ended)),
            Signal::Banned { until: None, .. }
        ));
    }

    #[test]
    fn drops_are_worth_a_reconnect_and_refusals_say_whether_a_retry_helps() {
        let dropped =
            Disconnected::builder().reason(DisconnectReason::ReadError("reset".into())).build();
        assert_eq!(
            one(Event::Disconnected(dropped)),
            Signal::Dropped { error: "disconnected: read error: reset".into() }
        );
        let busy = ConnectFailure::builder()
            .reason(ConnectFailureReason::ServiceUnavailable)
            .message("try later".into())
            .build();
        assert!(matches!(one(Event::ConnectFailure(busy)), Signal::Failed { retry: true, .. }));
        let outdated = one(Event::ClientOutdated(ClientOutdated::builder().build()));
        assert_eq!(outdated, Signal::Outdated);
        // The refusals the client itself treats as final are final here too.
        let agent = ConnectFailure::builder().reason(ConnectFailureReason::BadUserAgent).build();
        assert!(matches!(one(Event::ConnectFailure(agent)), Signal::Failed { retry: false, .. }));
    }

    fn inbound(info: MessageInfo, message: wa::Message) -> InboundMessage {
        InboundMessage::builder().message(Arc::new(message)).info(Arc::new(info)).build()
    }

    fn batch(messages: Vec<InboundMessage>) -> Event {
        Event::Messages(
            MessageBatch::builder()
                .messages(Arc::from(messages))
                .origin(BatchOrigin::OfflineDrain)
                .hook_committed(false)
                .build(),
        )
    }

    #[test]
    fn messages_move_the_last_message_time_to_the_newest() {
        let at = |h| {
            let info = MessageInfo {
                timestamp: Utc.with_ymd_and_hms(2026, 11, 22, h, 0, 0).unwrap(),
                ..MessageInfo::default()
            };
            inbound(info, wa::Message::default())
        };
        let Signal::Message { at, received } = one(batch(vec![at(8), at(9), at(7)])) else {
            panic!("not a message signal")
        };
        assert_eq!(at, Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap());
        assert_eq!(received.len(), 3);
        assert!(received.iter().all(|m| m.kind == "unknown" && m.text.is_none()));
    }

    #[test]
    fn received_messages_carry_text_and_the_senders_number() {
        let pn = |n: &str| Jid::pn(n);
        let mut text = MessageInfo { push_name: "Ana".into(), ..MessageInfo::default() };
        text.id = "3EB0A1".into();
        text.source.sender = pn("4915112345678");
        text.source.chat = pn("4915112345678");
        let hello = wa::Message { conversation: Some("hello".into()), ..Default::default() };
        // A sender addressed by its LID: the number comes as the alternative.
        let mut image = MessageInfo { media_type: "image".into(), ..MessageInfo::default() };
        image.source.sender = Jid::lid("100000000000001");
        image.source.sender_alt = Some(pn("4917000000001"));
        image.source.chat = "120363000000000001@g.us".parse().unwrap();
        // Sent from the phone of this number itself, echoed to the linked device; a
        // contact's status post; a channel's post: none is a message to this number.
        let mut own = MessageInfo::default();
        own.source.is_from_me = true;
        let mut status = MessageInfo::default();
        status.source.chat = "status@broadcast".parse().unwrap();
        let mut channel = MessageInfo::default();
        channel.source.chat = Jid::newsletter("120363000000000002");
        // A deletion by a sender known only by LID (from one of its devices).
        let mut deleted = MessageInfo { r#type: "text".into(), ..MessageInfo::default() };
        deleted.source.sender = Jid::lid_device("100000000000002", 3);
        let revoke = wa::Message {
            protocol_message: whatsapp_rust::waproto::buffa::MessageField::some(
                wa::message::ProtocolMessage::default(),
            ),
            ..Default::default()
        };
        let Signal::Message { received, .. } = one(batch(vec![
            inbound(text, hello),
            inbound(image, wa::Message::default()),
            inbound(own, wa::Message::default()),
            inbound(status, wa::Message::default()),
            inbound(channel, wa::Message::default()),
            inbound(deleted, revoke),
        ])) else {
            panic!("not a message signal")
        };
        assert_eq!(received.len(), 3, "{received:?}");
        assert_eq!((received[2].kind.as_str(), received[2].text.as_deref()), ("protocol", None));
        assert_eq!(received[2].from, "100000000000002@lid", "one sender, whatever its device");
        assert_eq!(received[0].message_id, "3EB0A1");
        assert_eq!(received[0].from, "+4915112345678");
        assert_eq!(received[0].chat, "4915112345678@s.whatsapp.net");
        assert_eq!(received[0].push_name.as_deref(), Some("Ana"));
        assert_eq!(
            (received[0].kind.as_str(), received[0].text.as_deref()),
            ("text", Some("hello"))
        );
        assert_eq!(received[1].from, "+4917000000001");
        assert_eq!(received[1].chat, "120363000000000001@g.us");
        assert_eq!((received[1].kind.as_str(), received[1].text.as_deref()), ("image", None));
        assert_eq!(received[1].push_name, None);
    }

    #[test]
    fn what_lifeline_does_not_act_on_is_ignored() {
        let other = OwnedNodeRef::new(marshal_body(&NodeBuilder::new("ib").build())).unwrap();
        assert_eq!(map(&Event::RawNode(Arc::new(other)), now()), None);
        let empty = MessageBatch::builder()
            .messages(Arc::from(Vec::<InboundMessage>::new()))
            .origin(BatchOrigin::Live)
            .hook_committed(false)
            .build();
        assert_eq!(map(&Event::Messages(empty), now()), None);
    }
}
