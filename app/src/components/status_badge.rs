//! The sidebar footer badge (seed 004 §4): text and dot, expanding to details.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::status::{SocketState, retry_socket, use_status};

/// "WhatsApp Connected" / "WhatsApp Offline" with a dot; a click shows why and when the
/// server was last checked.
#[component]
pub fn StatusBadge() -> impl IntoView {
    let status = use_status();
    let reading = Memo::new(move |_| status.reading());
    let expanded = RwSignal::new(false);
    let last_checked = move || {
        status
            .last_checked
            .get()
            .map_or_else(|| "not yet".to_owned(), |t| t.format("%H:%M:%S UTC").to_string())
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
                    <button type="button" class="link-button" on:click=move |_| retry_socket()>
                        "retry"
                    </button>
                })}
            </p>
            <div id="status-badge-details" class="status-badge-details" hidden=move || !expanded.get()>
                <p class="detail">{move || reading.with(|r| r.detail.clone())}</p>
                <p class="checked">"Last checked: " {last_checked}</p>
                {move || status.last_error.get().map(|e| view! { <p class="error">{e}</p> })}
                <A href="/dashboard/settings">"Settings"</A>
            </div>
        </div>
    }
}
