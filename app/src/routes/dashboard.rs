//! The overview page: the server's health at a glance.

use leptos::prelude::*;

use crate::status::use_status;

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
        status.health.with(|h| h.as_ref().map_or("–".to_owned(), |h| format_uptime(h.uptime)))
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

/// `3 d 4 h`, `2 h 5 min`, `7 min 3 s` or `12 s`: the two largest units are enough.
pub fn format_uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::format_uptime;

    #[test]
    fn uptime_reads_naturally() {
        assert_eq!(format_uptime(12), "12 s");
        assert_eq!(format_uptime(7 * 60 + 3), "7 min 3 s");
        assert_eq!(format_uptime(2 * 3600 + 5 * 60), "2 h 5 min");
        assert_eq!(format_uptime(3 * 86_400 + 4 * 3600 + 59), "3 d 4 h");
    }
}
