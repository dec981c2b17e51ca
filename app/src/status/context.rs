//! The status context: signals the poller and the event channel write, the components read,
//! and the requests that pass between them (the page shown again, the channel closed, a
//! poll wanted now), so each part depends only on the signals it reads and writes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use super::{
    SocketState,
    indicator::{Reading, read},
    live::{QrCode, Restore},
    summary::{Facts, Summary, summarize},
};
use crate::{
    model::{DeepHealth, Health, SessionView},
    policy::{DashboardPolicy, PollPolicy},
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
    /// The last deep report (every few minutes, and the fallback for session facts).
    pub deep: RwSignal<Option<DeepHealth>>,
    /// Every session, from the event channel; `None` before its first snapshot.
    pub sessions: RwSignal<Option<Vec<SessionView>>>,
    /// QR codes of pairing sessions.
    pub qr: RwSignal<HashMap<String, QrCode>>,
    /// Codes to type on the phone, for sessions pairing by phone number.
    pub pair_codes: RwSignal<HashMap<String, QrCode>>,
    /// Start-up restore progress.
    pub restore: RwSignal<Option<Restore>>,
    /// The last recovery of each session, from the event channel.
    pub recoveries: RwSignal<HashMap<String, crate::model::recovery::Recovery>>,
    /// Where the event channel stands.
    pub socket: RwSignal<SocketState>,
    /// Whether the page is visible: nobody is looking at a hidden tab, so it is not polled.
    pub visible: RwSignal<bool>,
    /// Notified to poll the light health now, outside the schedule.
    pub poll_request: Trigger,
    /// Notified to reconnect the event channel now, with a fresh count of attempts, if it is
    /// down.
    pub reconnect_request: Trigger,
    /// The polling schedule in effect.
    pub policy: StoredValue<PollPolicy>,
}

impl StatusState {
    /// Checks the server now (after an action): a poll, and a reconnect if the channel is
    /// down.
    pub fn check_now(&self) {
        self.poll_request.notify();
        self.reconnect_request.notify();
    }

    /// Reconnects the event channel now (the "retry" button).
    pub fn retry_socket(&self) {
        self.reconnect_request.notify();
    }

    /// What the indicators should show now (reactive: tracks the signals it reads).
    pub fn reading(&self) -> Reading {
        self.policy.with_value(|policy| {
            self.health.with(|h| read(h.as_ref(), self.reachable.get(), policy))
        })
    }

    /// The number the indicators speak for, from the live session list, or from the last
    /// deep report before the event channel has delivered one (reactive).
    pub fn summary(&self) -> Summary {
        let live = self.sessions.with(|s| s.as_ref().map(|s| s.iter().map(Facts::from).collect()));
        let facts: Vec<Facts> = live.unwrap_or_else(|| {
            self.deep.with(|d| {
                d.as_ref().map(|d| d.sessions.iter().map(Facts::from).collect()).unwrap_or_default()
            })
        });
        summarize(&facts)
    }
}

/// Creates the status state from the report the page was rendered with (if any), provides
/// it as context and, in the browser, opens the event channel and starts polling.
pub fn provide_status(policy: DashboardPolicy, rendered: Option<Health>) -> StatusState {
    // The report the page was rendered with is the first answer: the server gave it.
    let reachable = rendered.as_ref().map(|_| true);
    let last_checked = rendered.as_ref().map(|h| h.timestamp);
    let state = StatusState {
        health: RwSignal::new(rendered),
        reachable: RwSignal::new(reachable),
        last_checked: RwSignal::new(last_checked),
        last_error: RwSignal::new(None),
        is_checking: RwSignal::new(false),
        deep: RwSignal::new(None),
        sessions: RwSignal::new(None),
        qr: RwSignal::new(HashMap::new()),
        pair_codes: RwSignal::new(HashMap::new()),
        restore: RwSignal::new(None),
        recoveries: RwSignal::new(HashMap::new()),
        socket: RwSignal::new(SocketState::Connecting),
        visible: RwSignal::new(true),
        poll_request: Trigger::new(),
        reconnect_request: Trigger::new(),
        policy: StoredValue::new(policy.poll.clone()),
    };
    provide_context(state);
    #[cfg(feature = "hydrate")]
    {
        // An effect runs only in the browser and only after hydration, so the server never
        // polls itself and the first poll sees a live page.
        // Untracked: this runs once; the parts it starts react to the signals themselves.
        Effect::new(move |_| {
            untrack(|| {
                super::page::watch(state);
                super::release::watch(state);
                super::poller::start(state);
                super::socket::start(state, policy.socket.clone());
            })
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
