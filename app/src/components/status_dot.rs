//! The header's status dot (seed 004 §4): 8 px, green or red, tooltip with the state.

use leptos::prelude::*;

use crate::status::use_status;

/// The minimal header indicator. Its colour is never the only signal: the tooltip and the
/// accessible label name the state.
#[component]
pub fn StatusDot() -> impl IntoView {
    let status = use_status();
    let reading = Memo::new(move |_| status.reading());
    view! {
        <span
            class="status-dot"
            data-testid="status-dot"
            role="status"
            data-state=move || reading.with(|r| r.indicator.as_str())
            title=move || reading.with(|r| r.tooltip)
            aria-label=move || reading.with(|r| r.tooltip)
        ></span>
    }
}
