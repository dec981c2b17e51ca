//! The sidebar footer badge: text and dot, expanding to the number, the state
//! in detail, the last connection, a Reconnect button when red, and a Settings link.

use leptos::prelude::*;
use leptos_router::components::A;

use super::{
    ReconnectControl,
    format::{clock, stamp},
};
use crate::status::{Indicator, SocketState, mask_phone, use_status};

/// "WhatsApp Connected" / "WhatsApp Offline" with a dot; a click shows the details.
#[component]
pub fn StatusBadge() -> impl IntoView {
    let status = use_status();
    let reading = Memo::new(move |_| status.reading());
    let summary = Memo::new(move |_| status.summary());
    let primary = move || summary.with(|s| s.primary.clone());
    let expanded = RwSignal::new(false);
    let last_checked =
        move || status.last_checked.get().map_or_else(|| "not yet".to_owned(), clock);
    let detailed = move || {
        primary().map_or_else(
            || "No session".to_owned(),
            |p| match p.reason {
                Some(reason) => format!("{}: {} ({})", p.name, p.status.label(), reason.label()),
                None => format!("{}: {}", p.name, p.status.label()),
            },
        )
    };
    view! {
        <div class="status-badge" data-state=move || reading.with(|r| r.indicator.as_str())>
            <button
                type="button"
                class="status-badge-toggle"
                data-testid="status-badge"
                aria-expanded=move || expanded.get().to_string()
                aria-controls="status-badge-details"
                on:click=move |_| expanded.update(|e| *e = !*e)
            >
                <span class="dot" aria-hidden="true"></span>
                <span class="label">{move || reading.with(|r| r.label)}</span>
            </button>
            <p class="socket-state" data-testid="socket-state"
                data-state=move || status.socket.get().as_str()>
                {move || status.socket.get().label()}
                {move || (status.socket.get() == SocketState::Offline).then(|| view! {
                    " "
                    <button type="button" class="link-button" on:click=move |_| status.retry_socket()>
                        "retry"
                    </button>
                })}
            </p>
            <div id="status-badge-details" class="status-badge-details" data-testid="status-badge-details"
                hidden=move || !expanded.get()>
                <p class="detail">{move || reading.with(|r| r.detail.clone())}</p>
                <dl>
                    <dt>"Phone"</dt>
                    <dd data-testid="badge-phone">
                        {move || primary().and_then(|p| p.phone_number).map_or_else(|| "not linked".to_owned(), |n| mask_phone(&n))}
                    </dd>
                    <dt>"Status"</dt>
                    <dd data-testid="badge-status">{detailed}</dd>
                    <dt>"Last connected"</dt>
                    <dd>{move || stamp(primary().and_then(|p| p.last_connected_at))}</dd>
                    <dt>"Last checked"</dt>
                    <dd>{last_checked}</dd>
                </dl>
                {move || status.last_error.get().map(|e| view! { <p class="error">{e}</p> })}
                <ReconnectControl label="Reconnect" id="badge-reconnect"
                    offer=Signal::derive(move || {
                        reading.with(|r| r.indicator) == Indicator::Disconnected
                            && (summary.with(|s| !s.reconnectable.is_empty())
                                || status.reachable.get() == Some(false))
                    })/>
                <A href="/dashboard/settings">"Settings"</A>
            </div>
        </div>
    }
    .into_any()
}
