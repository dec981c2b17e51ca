//! The popover under the header dot: the state with an icon, the number, the
//! last good connection, and when red the error with "Try Reconnect".

use leptos::{ev::KeyboardEvent, prelude::*};
use leptos_router::components::A;

use super::{ReconnectControl, format::stamp};
use crate::{
    model::SessionStatus,
    status::{Indicator, mask_phone, use_status},
};

/// Shown while `open`; Escape or the close button hides it.
#[component]
pub fn StatusPopover(open: RwSignal<bool>) -> impl IntoView {
    let status = use_status();
    let reading = Memo::new(move |_| status.reading());
    let summary = Memo::new(move |_| status.summary());
    let primary = move || summary.with(|s| s.primary.clone());
    let red = move || reading.with(|r| r.indicator == Indicator::Disconnected);
    // A reconnect helps a dropped session, or tells whether an unanswering server is back;
    // a logged-out one needs a scan instead.
    let offer = move || {
        red()
            && (summary.with(|s| !s.reconnectable.is_empty())
                || status.reachable.get() == Some(false))
    };
    let error = move || {
        // The server's own words first: what the session last failed with, else why the
        // server could not be reached.
        let session_error = primary().and_then(|p| match p.status {
            SessionStatus::Connected => None,
            SessionStatus::LoggedOut => Some(
                "Logged out from the phone: pair it again with a QR code on the Sessions page."
                    .to_owned(),
            ),
            _ => p.last_error.or_else(|| p.reason.map(|r| r.label().to_owned())),
        });
        session_error.or_else(|| status.last_error.get())
    };
    // Escape closes it wherever focus is (the dot that opened it keeps focus).
    let escape = window_event_listener(leptos::ev::keydown, move |e: KeyboardEvent| {
        if e.key() == "Escape" && open.get_untracked() {
            open.set(false);
        }
    });
    on_cleanup(move || escape.remove());
    view! {
        <div id="status-popover" class="status-popover" role="dialog" aria-labelledby="status-popover-title"
            data-testid="status-popover" data-state=move || reading.with(|r| r.indicator.as_str())
            hidden=move || !open.get()>
            <header>
                <h2 id="status-popover-title">
                    <span class="icon" aria-hidden="true">
                        {move || match reading.with(|r| r.indicator) {
                            Indicator::Connected => "✓",
                            Indicator::Disconnected => "✕",
                            Indicator::Checking => "…",
                        }}
                    </span>
                    {move || reading.with(|r| r.label)}
                </h2>
                <button type="button" class="link-button close" aria-label="Close" on:click=move |_| open.set(false)>"×"</button>
            </header>
            <p class="detail">{move || reading.with(|r| r.detail.clone())}</p>
            <dl>
                <dt>"Phone"</dt>
                <dd data-testid="popover-phone">
                    {move || primary().and_then(|p| p.phone_number).map_or_else(|| "not linked".to_owned(), |n| mask_phone(&n))}
                </dd>
                <dt>"Last successful connection"</dt>
                <dd>{move || stamp(primary().and_then(|p| p.last_connected_at))}</dd>
            </dl>
            {move || red().then(|| error().map(|e| view! { <p class="error" data-testid="popover-error">{e}</p> }))}
            <ReconnectControl label="Try Reconnect" id="popover-reconnect" offer=Signal::derive(offer)/>
            {move || (red() && summary.with(|s| !s.need_pairing.is_empty())).then(|| view! {
                <p><A href="/dashboard/sessions" on:click=move |_| open.set(false)>"Pair on the Sessions page"</A></p>
            })}
        </div>
    }
    .into_any()
}
