//! The dashboard's live view of the server: one context that every status component reads.
//!
//! [`provide_status`] puts a [`StatusState`] in context; in the browser it also opens the
//! `/ws` event channel and starts the health poller that keep it current. What the state
//! *means* for the dot and the badge is decided by the pure [`read`] function, what the
//! channel's frames mean by the pure [`Live`] reducer.

mod context;
mod indicator;
mod live;
#[cfg(feature = "hydrate")]
mod page;
#[cfg(feature = "hydrate")]
mod poller;
#[cfg(any(test, feature = "hydrate"))]
mod release;
#[cfg(feature = "hydrate")]
mod socket;
mod socket_state;
mod summary;

pub use context::{StatusState, provide_status, use_status};
pub use indicator::{Indicator, Reading, read};
pub use live::{Applied, Live, QrCode, Restore};
pub use socket_state::SocketState;
pub use summary::{Facts, Summary, mask_phone, summarize};

/// The schedules the server rendered into the page (`<meta name="lifeline-policy">`), or
/// the defaults when the page carries none.
pub fn page_policy() -> crate::policy::DashboardPolicy {
    #[cfg(feature = "hydrate")]
    if let Some(policy) = from_meta(POLICY_META) {
        return policy;
    }
    #[cfg(not(feature = "hydrate"))]
    {
        // On the server the router provides the policy it was started with.
        if let Some(policy) = leptos::prelude::use_context::<crate::policy::DashboardPolicy>() {
            return policy;
        }
    }
    crate::policy::DashboardPolicy::default()
}

/// The light health report the page was rendered with (`<meta name="lifeline-health">`):
/// the dot shows the server's state from the first paint, before the WebAssembly has
/// loaded, and the browser starts from the same reading, so hydration changes nothing.
/// `None` where there is none (a server without a backend, a page without the element).
pub fn page_health() -> Option<crate::model::Health> {
    #[cfg(feature = "hydrate")]
    let health = from_meta(HEALTH_META);
    #[cfg(all(feature = "ssr", not(feature = "hydrate")))]
    let health = {
        use leptos::prelude::{provide_context, use_context};
        // Read once per render: the `<meta>` and the rendered dot must agree.
        #[derive(Clone)]
        struct Rendered(Option<crate::model::Health>);
        match use_context::<Rendered>() {
            Some(Rendered(health)) => health,
            None => {
                let health = use_context::<crate::functions::SharedBackend>()
                    .map(|backend| backend.light_health());
                provide_context(Rendered(health.clone()));
                health
            }
        }
    };
    #[cfg(not(any(feature = "hydrate", feature = "ssr")))]
    let health = None;
    health
}

/// The JSON in the `content` of the page's `<meta name=…>`.
#[cfg(feature = "hydrate")]
fn from_meta<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_str(&meta_content(name)?).ok()
}

/// The `content` of the page's `<meta name=…>`, which the server rendered for the browser.
#[cfg(feature = "hydrate")]
pub fn meta_content(name: &str) -> Option<String> {
    leptos::prelude::document()
        .query_selector(&format!("meta[name={name}]"))
        .ok()
        .flatten()
        .and_then(|meta| meta.get_attribute("content"))
}

/// The name of the `<meta>` element that carries the dashboard's schedules.
pub const POLICY_META: &str = "lifeline-policy";
/// The name of the `<meta>` element that carries the light health report at render time.
pub const HEALTH_META: &str = "lifeline-health";
