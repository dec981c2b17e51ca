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
    {
        let content = leptos::prelude::document()
            .query_selector(&format!("meta[name={POLICY_META}]"))
            .ok()
            .flatten()
            .and_then(|meta| meta.get_attribute("content"));
        if let Some(policy) = content.and_then(|c| serde_json::from_str(&c).ok()) {
            return policy;
        }
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

/// The name of the `<meta>` element that carries the dashboard's schedules.
pub const POLICY_META: &str = "lifeline-policy";
