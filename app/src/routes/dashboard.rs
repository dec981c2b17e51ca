//! The overview page: the server's health at a glance.

use leptos::prelude::*;

use crate::{components::format, status::use_status};

/// Server status, uptime and sessions by state, live from the status context.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let status = use_status();
    let count = move |pick: fn(&crate::model::SessionCounts) -> u32| {
        move || {
            status
                .health
                .with(|h| h.as_ref().map_or("–".to_owned(), |h| pick(&h.sessions).to_string()))
        }
    };
    let server = move || match (
        status.reachable.get(),
        status.health.with(|h| h.as_ref().map(|h| h.status)),
    ) {
        (None, _) => "checking…".to_owned(),
        (Some(false), _) | (Some(true), None) => "unreachable".to_owned(),
        (Some(true), Some(s)) => s.as_str().to_owned(),
    };
    let uptime = move || {
        status.health.with(|h| h.as_ref().map_or("–".to_owned(), |h| format::lasted(h.uptime)))
    };
    view! {
        <h1>"Dashboard"</h1>
        <section class="cards" aria-label="Server health">
            <div class="card"><h2>"Server"</h2><p data-testid="server-status">{server}</p></div>
            <div class="card"><h2>"Uptime"</h2><p>{uptime}</p></div>
            <div class="card"><h2>"Sessions"</h2><p data-testid="sessions-total">{count(|c| c.total)}</p></div>
            <div class="card"><h2>"Connected"</h2><p>{count(|c| c.connected)}</p></div>
            <div class="card"><h2>"Connecting"</h2><p>{count(|c| c.connecting)}</p></div>
            <div class="card"><h2>"Disconnected"</h2><p>{count(|c| c.disconnected)}</p></div>
        </section>
    }
}
