//! Reading the frames of the `/ws` event channel.
//!
//! Written out rather than derived. serde's derive for an untagged enum (`ServerFrame`), an
//! internally tagged one (`Control`, `Event`) and a flattened field (`Envelope::event`) reads
//! every frame into an intermediate tree first and compiles every frame type a second time
//! for reading from that tree, which the browser pays for in WebAssembly. Here the `type`
//! is read first, then the frame is read again straight into the fields that type names.
//! Fields may come in any order, and fields a frame does not know are ignored, as the
//! derive did.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, de::Error as _};
use serde_json::{Error, value::RawValue};

use super::{
    Envelope, Event, Health, SessionView, recovery::Recovery, ws::Control, ws::ServerFrame,
};

/// Every `type` a server frame can have, for the error that names an unknown one.
const TYPES: &[&str] = &[
    "snapshot",
    "pong",
    "replay",
    "error",
    "session_status",
    "session_removed",
    "qr",
    "pair_code",
    "recovery",
    "restore_progress",
];

#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

fn read<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, Error> {
    serde_json::from_str(text)
}

/// Any frame from the server.
pub(super) fn frame(text: &str) -> Result<ServerFrame, Error> {
    let Kind { kind } = read(text)?;
    let control = match &*kind {
        "snapshot" => {
            #[derive(Deserialize)]
            struct Snapshot {
                seq: u64,
                sessions: Vec<SessionView>,
                health: Health,
            }
            let Snapshot { seq, sessions, health } = read(text)?;
            Control::Snapshot { seq, sessions, health }
        }
        "pong" => Control::Pong,
        "replay" => {
            #[derive(Deserialize)]
            struct Replay<'a> {
                #[serde(borrow)]
                events: Vec<&'a RawValue>,
                through: u64,
            }
            let Replay { events, through } = read(text)?;
            let events = events.iter().map(|e| envelope(e.get())).collect::<Result<_, _>>()?;
            Control::Replay { events, through }
        }
        "error" => {
            #[derive(Deserialize)]
            struct Complaint {
                message: String,
            }
            let Complaint { message } = read(text)?;
            Control::Error { message }
        }
        event => return envelope_of(event, text).map(ServerFrame::Event),
    };
    Ok(ServerFrame::Control(control))
}

/// One event with its place in the stream.
pub(super) fn envelope(text: &str) -> Result<Envelope, Error> {
    let Kind { kind } = read(text)?;
    envelope_of(&kind, text)
}

fn envelope_of(kind: &str, text: &str) -> Result<Envelope, Error> {
    #[derive(Deserialize)]
    struct Stamp {
        seq: u64,
        at: DateTime<Utc>,
    }
    #[derive(Deserialize)]
    struct Code {
        session_id: String,
        code: String,
        expires_at: DateTime<Utc>,
    }
    let event = match kind {
        "session_status" => {
            #[derive(Deserialize)]
            struct Status {
                session: SessionView,
            }
            let Status { session } = read(text)?;
            Event::SessionStatus { session }
        }
        "session_removed" => {
            #[derive(Deserialize)]
            struct Removed {
                session_id: String,
            }
            let Removed { session_id } = read(text)?;
            Event::SessionRemoved { session_id }
        }
        "qr" => {
            let Code { session_id, code, expires_at } = read(text)?;
            Event::Qr { session_id, code, expires_at }
        }
        "pair_code" => {
            let Code { session_id, code, expires_at } = read(text)?;
            Event::PairCode { session_id, code, expires_at }
        }
        "recovery" => {
            #[derive(Deserialize)]
            struct Recovered {
                recovery: Recovery,
            }
            let Recovered { recovery } = read(text)?;
            Event::Recovery { recovery }
        }
        "restore_progress" => {
            #[derive(Deserialize)]
            struct Progress {
                total: u32,
                done: u32,
                connected: u32,
                failed: u32,
            }
            let Progress { total, done, connected, failed } = read(text)?;
            Event::RestoreProgress { total, done, connected, failed }
        }
        other => return Err(Error::unknown_variant(other, TYPES)),
    };
    let Stamp { seq, at } = read(text)?;
    Ok(Envelope { seq, at, event })
}
