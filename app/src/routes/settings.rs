//! Settings: what the dashboard runs with.

use leptos::prelude::*;

use crate::status::use_status;

/// The policy values in effect, read-only.
#[component]
pub fn SettingsPage() -> impl IntoView {
    let policy = use_status().policy;
    let row = |name: &'static str, value: String| view! { <tr><th scope="row">{name}</th><td>{value}</td></tr> };
    let backoff = policy
        .unreachable_backoff
        .iter()
        .map(|d| format!("{} s", d.as_secs()))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <h1>"Settings"</h1>
        <section>
            <h2>"Dashboard polling"</h2>
            <table class="settings">
                <tbody>
                    {row("Light health check every", format!("{} s", policy.light_every.as_secs()))}
                    {row("Deep health check every", format!("{} min", policy.deep_every.as_secs() / 60))}
                    {row("When the server is unreachable, retry after", format!("{backoff}, then every {} s", policy.unreachable_backoff[2].as_secs()))}
                    {row("Just after a server start, check every", format!("{} s for its first {} s", policy.warmup_every.as_secs(), policy.warmup_uptime.as_secs()))}
                </tbody>
            </table>
        </section>
    }
}
