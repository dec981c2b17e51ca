//! The page's own signals (hydrate only): the tab hidden or shown, the network back. They
//! only write to the status context; the poller and the event channel react to it.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::VisibilityState;

use super::StatusState;

fn hidden() -> bool {
    document().visibility_state() == VisibilityState::Hidden
}

/// Keeps `state.visible` current, and asks for a poll and a reconnect when the network
/// comes back.
pub fn watch(state: StatusState) {
    state.visible.set(!hidden());
    let visibility = Closure::<dyn FnMut()>::new(move || state.visible.set(!hidden()));
    let _ = document()
        .add_event_listener_with_callback("visibilitychange", visibility.as_ref().unchecked_ref());
    let online = Closure::<dyn FnMut()>::new(move || state.check_now());
    let _ = window().add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
    // Both listen for the page's whole life.
    visibility.forget();
    online.forget();
}
