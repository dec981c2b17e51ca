//! The browser entry point: hydrates the server-rendered dashboard.

use leptos::prelude::document;
use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the hydration script once the WASM module has loaded.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Pages other than the Dashboard are lazy routes: hydrating one first fetches its chunk,
    // so hydration is a task of its own on the browser's event loop (it sets up Leptos's
    // executor as it starts).
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = document().body() else { return };
        leptos::mount::hydrate_from_async(body.clone(), app::App).await.forget();
        // Marks the page live: tests (and curious operators) can tell a hydrated page from
        // one that only rendered on the server.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
