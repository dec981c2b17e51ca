//! The status context: signals the poller writes and the components read.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use super::indicator::{Reading, read};
use crate::{model::Health, policy::PollPolicy};

/// What the dashboard currently knows about the server.
#[derive(Clone, Copy, Debug)]
pub struct StatusState {
    /// The last light report received, if any.
    pub health: RwSignal<Option<Health>>,
    /// Whether the last poll reached the server; `None` until the first poll ends.
    pub reachable: RwSignal<Option<bool>>,
    /// When the last poll ended.
    pub last_checked: RwSignal<Option<DateTime<Utc>>>,
    /// Why the last poll failed, if it did.
    pub last_error: RwSignal<Option<String>>,
    /// A poll is in flight.
    pub is_checking: RwSignal<bool>,
    /// The timing in effect.
    pub policy: PollPolicy,
}

impl StatusState {
    /// What the indicators should show now (reactive: tracks the signals it reads).
    pub fn reading(&self) -> Reading {
        self.health.with(|h| read(h.as_ref(), self.reachable.get(), &self.policy))
    }
}

/// Creates the status state, provides it as context and, in the browser, starts polling.
pub fn provide_status(policy: PollPolicy) -> StatusState {
    let state = StatusState {
        health: RwSignal::new(None),
        reachable: RwSignal::new(None),
        last_checked: RwSignal::new(None),
        last_error: RwSignal::new(None),
        is_checking: RwSignal::new(false),
        policy,
    };
    provide_context(state);
    #[cfg(feature = "hydrate")]
    {
        // An effect runs only in the browser and only after hydration, so the server never
        // polls itself and the first poll sees a live page.
        Effect::new(move |_| super::poller::start(state));
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
