//! The browser's light health poller (hydrate only).

use std::time::Duration;

use chrono::Utc;
use gloo_net::http::Request;
use gloo_timers::future::sleep;
use leptos::{prelude::*, task::spawn_local};

use super::StatusState;
use crate::{model::Health, policy::LightPoll};

/// A poll that takes longer than this counts as unreachable: a half-open connection must
/// turn the dot red, not leave it frozen on its last colour.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);

/// Polls `/health` for as long as the page lives, on the schedule of the state's policy.
pub fn start(state: StatusState) {
    spawn_local(async move {
        let mut failures = 0u32;
        loop {
            state.is_checking.set(true);
            let outcome = fetch_health().await;
            state.is_checking.set(false);
            state.last_checked.set(Some(Utc::now()));
            let last = match outcome {
                Ok(health) => {
                    failures = 0;
                    let uptime = Duration::from_secs(health.uptime);
                    state.health.set(Some(health));
                    state.reachable.set(Some(true));
                    state.last_error.set(None);
                    LightPoll::Reached { uptime }
                }
                Err(error) => {
                    failures += 1;
                    state.reachable.set(Some(false));
                    state.last_error.set(Some(error));
                    LightPoll::Unreachable { failures }
                }
            };
            sleep(state.policy.next_light_delay(last)).await;
        }
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
