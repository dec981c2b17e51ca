//! The page's own signals (hydrate only): the tab hidden or shown, the network back.

use leptos::prelude::*;
use wasm_bindgen::{JsCast, closure::Closure};
use web_sys::VisibilityState;

use super::{poller, socket};

/// Whether the tab is hidden (nobody is looking, so nothing needs polling).
pub fn hidden() -> bool {
    document().visibility_state() == VisibilityState::Hidden
}

/// Pauses polling while the tab is hidden; polls and reconnects at once when it is shown
/// again or the network comes back.
pub fn watch() {
    let visibility = Closure::<dyn FnMut()>::new(|| {
        if hidden() {
            poller::pause();
        } else {
            poller::resume();
            socket::retry_now();
        }
    });
    let _ = document()
        .add_event_listener_with_callback("visibilitychange", visibility.as_ref().unchecked_ref());
    let online = Closure::<dyn FnMut()>::new(|| {
        poller::poll_now();
        socket::retry_now();
    });
    let _ = window().add_event_listener_with_callback("online", online.as_ref().unchecked_ref());
    // Both listen for the page's whole life.
    visibility.forget();
    online.forget();
}
