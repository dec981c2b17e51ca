//! The browser's hybrid health poller (hydrate only): the light `/health` on the policy's
//! schedule and at once on request (the event channel closed, the tab came back); the deep
//! report through its server function every few minutes; both paused while the tab is
//! hidden.

use std::{cell::RefCell, time::Duration};

use chrono::Utc;
use gloo_net::http::Request;
use gloo_timers::{callback::Timeout, future::sleep};
use leptos::{prelude::*, task::spawn_local};

use super::StatusState;
use crate::{model::Health, policy::LightPoll};

/// A poll that takes longer than this counts as unreachable: a half-open connection must
/// turn the dot red, not leave it frozen on its last colour.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);

struct Poller {
    state: StatusState,
    next: Option<Timeout>,
    failures: u32,
    busy: bool,
    deep_next: Option<Timeout>,
    deep_busy: bool,
    /// When the last deep poll started (ms since the epoch; 0: never).
    deep_at: f64,
}

thread_local! {
    static POLLER: RefCell<Option<Poller>> = const { RefCell::new(None) };
}

/// Starts polling for as long as the page lives.
pub fn start(state: StatusState) {
    POLLER.with_borrow_mut(|p| {
        *p = Some(Poller {
            state,
            next: None,
            failures: 0,
            busy: false,
            deep_next: None,
            deep_busy: false,
            deep_at: 0.0,
        });
    });
    poll_now();
    poll_deep();
}

/// The tab is visible again: a light poll at once, and the deep one if it fell due while
/// nobody was looking.
pub fn resume() {
    poll_now();
    let due = POLLER.with_borrow(|p| {
        p.as_ref().is_some_and(|p| {
            let every = p.state.policy.deep_every.as_secs_f64() * 1000.0;
            p.deep_next.is_none() && js_sys::Date::now() - p.deep_at >= every
        })
    });
    if due {
        poll_deep();
    } else {
        schedule_deep();
    }
}

/// Fetches the deep report now.
fn poll_deep() {
    let state = POLLER.with_borrow_mut(|p| {
        let p = p.as_mut()?;
        p.deep_next = None;
        if p.deep_busy {
            return None;
        }
        p.deep_busy = true;
        p.deep_at = js_sys::Date::now();
        Some(p.state)
    });
    let Some(state) = state else { return };
    spawn_local(async move {
        // A failed deep poll changes nothing: reachability is the light poll's to judge.
        if let Ok(deep) = crate::functions::get_deep_health().await {
            state.deep.set(Some(deep));
        }
        POLLER.with_borrow_mut(|p| {
            if let Some(p) = p.as_mut() {
                p.deep_busy = false;
            }
        });
        schedule_deep();
    });
}

/// Arms the deep timer for what is left of the interval, unless the tab is hidden.
fn schedule_deep() {
    POLLER.with_borrow_mut(|p| {
        let Some(p) = p.as_mut() else { return };
        if super::page::hidden() || p.deep_busy {
            return;
        }
        let every = p.state.policy.deep_every.as_secs_f64() * 1000.0;
        let left = (p.deep_at + every - js_sys::Date::now()).clamp(0.0, every);
        p.deep_next = Some(Timeout::new(left as u32, poll_deep));
    });
}

/// Polls now, whatever the schedule says (a poll already under way counts).
pub fn poll_now() {
    let state = POLLER.with_borrow_mut(|p| {
        let p = p.as_mut()?;
        p.next = None;
        if p.busy {
            return None;
        }
        p.busy = true;
        Some(p.state)
    });
    let Some(state) = state else { return };
    state.is_checking.set(true);
    spawn_local(async move {
        let outcome = fetch_health().await;
        finish(outcome);
    });
}

/// Stops both schedules until [`resume`] (the tab is hidden: nobody is looking).
pub fn pause() {
    POLLER.with_borrow_mut(|p| {
        if let Some(p) = p.as_mut() {
            p.next = None;
            p.deep_next = None;
        }
    });
}

fn finish(outcome: Result<Health, String>) {
    POLLER.with_borrow_mut(|p| {
        let Some(p) = p.as_mut() else { return };
        p.busy = false;
        let state = p.state;
        state.is_checking.set(false);
        state.last_checked.set(Some(Utc::now()));
        let last = match outcome {
            Ok(health) => {
                p.failures = 0;
                let uptime = Duration::from_secs(health.uptime);
                state.health.set(Some(health));
                state.reachable.set(Some(true));
                state.last_error.set(None);
                LightPoll::Reached { uptime }
            }
            Err(error) => {
                p.failures += 1;
                state.reachable.set(Some(false));
                state.last_error.set(Some(error));
                LightPoll::Unreachable { failures: p.failures }
            }
        };
        if super::page::hidden() {
            return;
        }
        let delay = state.policy.next_light_delay(last);
        let millis = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        p.next = Some(Timeout::new(millis, poll_now));
    });
}

async fn fetch_health() -> Result<Health, String> {
    let controller = web_sys::AbortController::new().map_err(|e| format!("{e:?}"))?;
    let signal = controller.signal();
    spawn_local(async move {
        sleep(POLL_TIMEOUT).await;
        // Aborting a finished request is a no-op, so the timer needs no cancelling.
        controller.abort();
    });
    let response = Request::get("/health")
        .abort_signal(Some(&signal))
        .send()
        .await
        .map_err(|e| format!("health check failed: {e}"))?;
    // A server in trouble answers 503 with a full report: read the body whatever the code.
    let status = response.status();
    response
        .json::<Health>()
        .await
        .map_err(|e| format!("health check answered HTTP {status} without a report: {e}"))
}
