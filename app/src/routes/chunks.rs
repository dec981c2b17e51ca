//! The pages that reach the browser as chunks of their own.
//!
//! The first load carries what a glance needs: the frame, the status client, the dot, badge
//! and popover, and the Dashboard page. Every other page is a lazy route: its WebAssembly
//! (the Sessions page's QR drawing, the session page's chart, the forms of Settings and
//! login) is split out by the release build (`cargo leptos build --split`) and fetched when
//! the page is first visited, or earlier, once the browser is idle after the first load.
//! On the server a lazy route renders as any other, and the page it renders asks the
//! browser to preload its chunk.

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

use super::{
    InstancesPage, LoginPage, SessionDetailPage, SessionsPage, SettingsPage, SetupPage,
    WebhooksPage,
};

/// A page as a lazy route: its route type, whose view (and all only it uses) the build
/// moves into the page's chunk.
macro_rules! lazy_page {
    ($(#[$doc:meta])* $route:ident => $page:ident) => {
        $(#[$doc])*
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                // A component without props is a plain function.
                $page().into_any()
            }
        }
    };
}

lazy_page!(
    /// `/dashboard/sessions`.
    SessionsRoute => SessionsPage
);
lazy_page!(
    /// `/dashboard/sessions/:id`.
    SessionDetailRoute => SessionDetailPage
);
lazy_page!(
    /// `/dashboard/instances`.
    InstancesRoute => InstancesPage
);
lazy_page!(
    /// `/dashboard/settings`.
    SettingsRoute => SettingsPage
);
lazy_page!(
    /// `/dashboard/settings/webhooks`.
    WebhooksRoute => WebhooksPage
);
lazy_page!(
    /// `/dashboard/login`.
    LoginRoute => LoginPage
);
lazy_page!(
    /// `/dashboard/setup`.
    SetupRoute => SetupPage
);

/// The lazy pages reachable from the frame, by the name the build gives their view in the
/// split manifest (`__sessions_route_view_…`). Login and setup are left out: a signed-in
/// operator does not go there.
const FROM_THE_FRAME: [&str; 5] = [
    "sessions_route",
    "session_detail_route",
    "instances_route",
    "settings_route",
    "webhooks_route",
];

/// The files (`/pkg/chunk_3.<hash>.wasm`, …) of the pages reachable from the frame, from the
/// build's split manifest (lazy view → the chunks it needs) and the URL path of the folder
/// they are in (`/pkg`), each once, the likeliest first click's first.
pub fn frame_chunks(manifest: &str, dir: &str) -> Result<Vec<String>, serde_json::Error> {
    let views: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_str(manifest)?;
    let mut files: Vec<String> = Vec::new();
    for page in FROM_THE_FRAME {
        let prefix = format!("__{page}_view_");
        for chunks in views.iter().filter(|(view, _)| view.starts_with(&prefix)).map(|(_, c)| c) {
            for chunk in chunks {
                let file = format!("{dir}/{chunk}.wasm");
                if !files.contains(&file) {
                    files.push(file);
                }
            }
        }
    }
    Ok(files)
}

/// Fetches the chunks of the pages reachable from the frame once the browser has nothing
/// else to do, so the first click on Sessions or Settings does not wait for the network.
/// The build's split manifest (named in `<meta name="lifeline-split-manifest">`) says which
/// files they are. They are fetched as plain files into the browser's cache, where the
/// router finds them: a fetch that fails (the network or the server gone for a moment)
/// costs nothing, whereas a chunk the router fails to load stops the WebAssembly.
pub fn prefetch_when_idle() {
    #[cfg(feature = "hydrate")]
    {
        use gloo_net::http::Request;
        use wasm_bindgen::{JsCast, JsValue, closure::Closure};

        let Some(manifest) = crate::status::meta_content(SPLIT_MANIFEST_META) else { return };
        let prefetch = Closure::once_into_js(move || {
            leptos::task::spawn_local(async move {
                let Ok(response) = Request::get(&manifest).send().await else { return };
                let Ok(text) = response.text().await else { return };
                // The chunks sit beside the manifest.
                let dir = manifest.rsplit_once('/').map_or("", |(dir, _)| dir);
                let Ok(files) = frame_chunks(&text, dir) else { return };
                for file in files {
                    // One after the other: a phone's link is not flooded, and the body is
                    // read so the browser keeps the whole file.
                    if let Ok(response) = Request::get(&file).send().await {
                        let _ = response.binary().await;
                    }
                }
            });
        });
        let window = window();
        // Not every browser has an idle callback (Safari); a short delay stands in for it.
        let idle = js_sys::Reflect::has(&window, &JsValue::from_str("requestIdleCallback"))
            .unwrap_or(false);
        if idle {
            let _ = window.request_idle_callback(prefetch.unchecked_ref());
        } else {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                prefetch.unchecked_ref(),
                IDLE_STAND_IN_MS,
            );
        }
    }
}

/// The name of the `<meta>` element that names the build's split manifest.
pub const SPLIT_MANIFEST_META: &str = "lifeline-split-manifest";

/// How long after the frame hydrated the pages are fetched where the browser cannot say
/// when it is idle.
#[cfg(feature = "hydrate")]
const IDLE_STAND_IN_MS: i32 = 2_000;

#[cfg(test)]
mod tests {
    use super::frame_chunks;

    #[test]
    fn the_frame_s_pages_chunks_each_once_and_not_login_s() {
        let manifest = r#"{
            "__login_route_view_1": ["chunk_1.A", "chunk_9.L", "split___login_route_view_1.B"],
            "__sessions_route_view_1": ["chunk_1.A", "chunk_2.C", "split___sessions_route_view_1.D"],
            "__settings_route_view_1": ["chunk_1.A", "split___settings_route_view_1.E"],
            "__setup_route_view_1": ["chunk_9.L", "split___setup_route_view_1.F"],
            "__session_detail_route_view_1": ["chunk_2.C", "split___session_detail_route_view_1.G"]
        }"#;
        let files = frame_chunks(manifest, "/pkg").unwrap();
        assert_eq!(
            files,
            [
                "/pkg/chunk_1.A.wasm",
                "/pkg/chunk_2.C.wasm",
                "/pkg/split___sessions_route_view_1.D.wasm",
                "/pkg/split___session_detail_route_view_1.G.wasm",
                "/pkg/split___settings_route_view_1.E.wasm",
            ]
        );
        assert!(frame_chunks("not json", "/pkg").is_err());
    }
}
