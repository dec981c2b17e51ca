//! The header's status dot: 8 px, green or red, a tooltip with the state, a
//! brief pulse when the state changes, and a click opens the status popover.

use std::time::Duration;

use leptos::prelude::*;

use crate::status::{Indicator, use_status};

/// How long the pulse after a change lasts (the CSS animation's length).
const PULSE: Duration = Duration::from_millis(1600);

/// The minimal header indicator. Its colour is never the only signal: the tooltip and the
/// accessible label name the state.
#[component]
pub fn StatusDot(open: RwSignal<bool>) -> impl IntoView {
    let status = use_status();
    let reading = Memo::new(move |_| status.reading());
    let pulse = RwSignal::new(false);
    // Effects run only in the browser, after hydration: the server renders no pulse.
    Effect::new(move |previous: Option<Indicator>| {
        let now = reading.with(|r| r.indicator);
        if previous.is_some_and(|p| p != now && p != Indicator::Checking) {
            pulse.set(true);
            set_timeout(move || pulse.set(false), PULSE);
        }
        now
    });
    view! {
        <button
            type="button"
            class="status-dot-button"
            data-testid="status-dot"
            data-state=move || reading.with(|r| r.indicator.as_str())
            data-pulse=move || pulse.get().then_some("true")
            title=move || reading.with(|r| r.tooltip)
            aria-label=move || reading.with(|r| r.tooltip)
            aria-haspopup="dialog"
            aria-expanded=move || open.get().to_string()
            aria-controls="status-popover"
            on:click=move |_| open.update(|o| *o = !*o)
        >
            <span class="status-dot" aria-hidden="true"></span>
        </button>
        // A button's label is not announced when it changes; a status region is.
        <span class="visually-hidden" role="status">{move || reading.with(|r| r.tooltip)}</span>
    }
}
