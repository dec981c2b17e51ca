//! The status context: signals the poller and the event channel write, the components read.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use super::{
    SocketState,
    indicator::{Reading, read},
    live::{QrCode, Restore},
};
use crate::{
    model::{Health, SessionView},
    policy::{PollPolicy, SocketPolicy},
};

/// What the dashboard currently knows about the server.
#[derive(Clone, Copy, Debug)]
pub struct StatusState {
    /// The last light report received (polled, or kept current by events).
    pub health: RwSignal<Option<Health>>,
    /// Whether the server answered last time; `None` until the first answer or failure.
    pub reachable: RwSignal<Option<bool>>,
    /// When the server was last heard from (or tried).
    pub last_checked: RwSignal<Option<DateTime<Utc>>>,
    /// Why the last poll failed, if it did.
    pub last_error: RwSignal<Option<String>>,
    /// A poll is in flight.
    pub is_checking: RwSignal<bool>,
    /// Every session, from the event channel; `None` before its first snapshot.
    pub sessions: RwSignal<Option<Vec<SessionView>>>,
    /// QR codes of pairing sessions.
    pub qr: RwSignal<HashMap<String, QrCode>>,
    /// Start-up restore progress.
    pub restore: RwSignal<Option<Restore>>,
    /// Where the event channel stands.
    pub socket: RwSignal<SocketState>,
    /// The polling schedule in effect.
    pub policy: PollPolicy,
    /// The event channel's schedule in effect.
    pub socket_policy: SocketPolicy,
}

impl StatusState {
    /// What the indicators should show now (reactive: tracks the signals it reads).
    pub fn reading(&self) -> Reading {
        self.health.with(|h| read(h.as_ref(), self.reachable.get(), &self.policy))
    }
}

/// Creates the status state, provides it as context and, in the browser, opens the event
/// channel and starts polling.
pub fn provide_status(policy: PollPolicy, socket_policy: SocketPolicy) -> StatusState {
    let state = StatusState {
        health: RwSignal::new(None),
        reachable: RwSignal::new(None),
        last_checked: RwSignal::new(None),
        last_error: RwSignal::new(None),
        is_checking: RwSignal::new(false),
        sessions: RwSignal::new(None),
        qr: RwSignal::new(HashMap::new()),
        restore: RwSignal::new(None),
        socket: RwSignal::new(SocketState::Connecting),
        policy,
        socket_policy,
    };
    provide_context(state);
    #[cfg(feature = "hydrate")]
    {
        // An effect runs only in the browser and only after hydration, so the server never
        // polls itself and the first poll sees a live page.
        Effect::new(move |_| {
            super::page::watch();
            super::poller::start(state);
            super::socket::start(state, socket_policy);
        });
    }
    state
}

/// The status state provided by [`provide_status`].
///
/// # Panics
/// When called outside the component tree under `App`, which is a programming error.
pub fn use_status() -> StatusState {
    expect_context::<StatusState>()
}
