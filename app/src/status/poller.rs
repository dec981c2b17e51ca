//! The browser's hybrid health poller (hydrate only): the light `/health` on the policy's
//! schedule and at once on request (the event channel closed, the network came back, an
//! action); the deep report through its server function every few minutes; both paused
//! while the page is hidden. It reads and writes only the status context.

use std::{cell::RefCell, rc::Rc, time::Duration};

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

/// The poller, shared by the effects that drive it and the requests under way; its timers
/// hold it weakly, so nothing keeps it polling once the page's status is gone.
type Shared = Rc<RefCell<Poller>>;

impl Poller {
    /// The deep poll's interval, in the milliseconds the browser's clock counts.
    fn deep_every_ms(&self) -> f64 {
        self.state.policy.with_value(|policy| policy.deep_every).as_secs_f64() * 1000.0
    }
}

/// A timer callback that runs `f` on the poller if it is still there.
fn later(poller: &Shared, f: fn(&Shared)) -> impl FnOnce() + 'static {
    let poller = Rc::downgrade(poller);
    move || {
        if let Some(poller) = poller.upgrade() {
            f(&poller);
        }
    }
}

/// Starts polling for as long as the page lives: at once, then on the schedule, and
/// whenever `state.poll_request` is notified; paused while the page is hidden.
pub fn start(state: StatusState) {
    let poller = Rc::new(RefCell::new(Poller {
        state,
        next: None,
        failures: 0,
        busy: false,
        deep_next: None,
        deep_busy: false,
        deep_at: 0.0,
    }));
    let p = poller.clone();
    // Runs once now (the first poll), then on every request.
    Effect::new(move |_| {
        state.poll_request.track();
        poll_now(&p);
    });
    let p = poller.clone();
    Effect::watch(
        move || state.visible.get(),
        move |visible, _, _| if *visible { resume(&p) } else { pause(&p) },
        false,
    );
    poll_deep(&poller);
}

/// The page is visible again: a light poll at once, and the deep one if it fell due while
/// nobody was looking.
fn resume(poller: &Shared) {
    poll_now(poller);
    let due = {
        let p = poller.borrow();
        p.deep_next.is_none() && js_sys::Date::now() - p.deep_at >= p.deep_every_ms()
    };
    if due {
        poll_deep(poller);
    } else {
        schedule_deep(poller);
    }
}

/// Fetches the deep report now.
fn poll_deep(poller: &Shared) {
    let state = {
        let mut p = poller.borrow_mut();
        p.deep_next = None;
        if p.deep_busy {
            return;
        }
        p.deep_busy = true;
        p.deep_at = js_sys::Date::now();
        p.state
    };
    let poller = poller.clone();
    spawn_local(async move {
        // A failed deep poll changes nothing: reachability is the light poll's to judge.
        if let Ok(deep) = crate::functions::get_deep_health().await {
            state.deep.set(Some(deep));
        }
        poller.borrow_mut().deep_busy = false;
        schedule_deep(&poller);
    });
}

/// Arms the deep timer for what is left of the interval, unless the page is hidden.
fn schedule_deep(poller: &Shared) {
    let mut p = poller.borrow_mut();
    if !p.state.visible.get_untracked() || p.deep_busy {
        return;
    }
    let every = p.deep_every_ms();
    let left = (p.deep_at + every - js_sys::Date::now()).clamp(0.0, every);
    p.deep_next = Some(Timeout::new(left as u32, later(poller, poll_deep)));
}

/// Polls now, whatever the schedule says (a poll already under way counts).
fn poll_now(poller: &Shared) {
    let state = {
        let mut p = poller.borrow_mut();
        p.next = None;
        if p.busy {
            return;
        }
        p.busy = true;
        p.state
    };
    state.is_checking.set(true);
    let poller = poller.clone();
    spawn_local(async move {
        let outcome = fetch_health().await;
        finish(&poller, outcome);
    });
}

/// Stops both schedules until [`resume`] (the page is hidden: nobody is looking).
fn pause(poller: &Shared) {
    let mut p = poller.borrow_mut();
    p.next = None;
    p.deep_next = None;
}

fn finish(poller: &Shared, outcome: Result<Health, String>) {
    let mut p = poller.borrow_mut();
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
    if !state.visible.get_untracked() {
        return;
    }
    let delay = state.policy.with_value(|policy| policy.next_light_delay(last));
    let millis = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
    p.next = Some(Timeout::new(millis, later(poller, poll_now)));
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
