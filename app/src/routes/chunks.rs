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

/// Fetches the chunks of the pages reachable from the frame once the browser has nothing
/// else to do, so the first click on Sessions or Settings does not wait for the network.
/// Login and setup are left out: a signed-in operator does not go there.
pub fn prefetch_when_idle() {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{JsCast, JsValue, closure::Closure};

        let prefetch = Closure::once_into_js(|| {
            leptos::task::spawn_local(async {
                SessionsRoute::preload().await;
                SessionDetailRoute::preload().await;
                InstancesRoute::preload().await;
                SettingsRoute::preload().await;
                WebhooksRoute::preload().await;
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

/// How long after the frame hydrated the pages are fetched where the browser cannot say
/// when it is idle.
#[cfg(feature = "hydrate")]
const IDLE_STAND_IN_MS: i32 = 2_000;
