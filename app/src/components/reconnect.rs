//! "Try Reconnect": reconnects every session that should run and can, shows a spinner while
//! it runs and says how it went.

use leptos::prelude::*;

use crate::{
    functions::reconnect_session,
    status::{StatusState, use_status},
};

/// A reconnect's outcome for people.
#[derive(Clone, Debug, PartialEq)]
struct Outcome {
    ok: bool,
    message: String,
}

/// The button (while `offer` holds) and the last outcome (which stays after the state turns
/// green, so the click's result can be read). `label` is the button's text.
#[component]
pub fn ReconnectControl(
    #[prop(into)] label: String,
    #[prop(into)] id: String,
    #[prop(into)] offer: Signal<bool>,
) -> impl IntoView {
    let status = use_status();
    let action = Action::new(move |ids: &Vec<String>| reconnect_all(status, ids.clone()));
    let pending = action.pending();
    let label = StoredValue::new(label);
    let on_click = move |_| {
        let summary = status.summary();
        action.dispatch(summary.reconnectable);
    };
    let outcome = move || {
        action.value().get().map(|o| {
            view! {
                <p class="outcome" data-ok=o.ok.to_string() data-testid=format!("{}-outcome", id)
                   role=if o.ok { "status" } else { "alert" }>
                    {if o.ok { "✓ " } else { "✕ " }} {o.message}
                </p>
            }
        })
    };
    view! {
        <div class="reconnect">
            <button type="button" class="button" on:click=on_click hidden=move || !offer.get() && !pending.get()
                disabled=move || pending.get() aria-busy=move || pending.get().to_string()>
                {move || pending.get().then(|| view! { <span class="spinner" aria-hidden="true"></span> })}
                {move || if pending.get() { "Reconnecting…".to_owned() } else { label.get_value() }}
            </button>
            {outcome}
        </div>
    }
}

async fn reconnect_all(status: StatusState, ids: Vec<String>) -> Outcome {
    if ids.is_empty() {
        status.check_now();
        return Outcome {
            ok: false,
            message: "Nothing to reconnect: a logged-out or new session needs a QR scan on \
                      the Sessions page."
                .into(),
        };
    }
    let mut messages = Vec::new();
    let mut ok = true;
    for id in ids {
        match reconnect_session(id).await {
            Ok(result) => {
                ok &= result.success;
                messages.push(result.message);
            }
            Err(e) => {
                ok = false;
                messages.push(e.to_string());
            }
        }
    }
    // The dot should not wait for the next poll to show what the reconnect did.
    status.check_now();
    Outcome { ok, message: messages.join(" ") }
}
