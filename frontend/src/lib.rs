//! The browser entry point: hydrates the server-rendered dashboard.

use leptos::prelude::document;
use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the hydration script once the WASM module has loaded.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // Marks the page live: tests (and curious operators) can tell a hydrated page from one
    // that only rendered on the server.
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
