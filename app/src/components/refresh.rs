//! Reading a page's data again on a schedule, while the page is shown.

use std::time::Duration;

use leptos::prelude::*;

/// A counter that goes up every `every` while the tab is visible, until the page is left:
/// a resource that reads it is read again on that schedule, and never in a hidden tab.
pub fn ticks_while_visible(every: Duration) -> RwSignal<u32> {
    let tick = RwSignal::new(0u32);
    #[cfg(feature = "hydrate")]
    {
        let status = crate::status::use_status();
        let refresh = move || {
            if status.visible.get_untracked() {
                tick.update(|t| *t += 1);
            }
        };
        // Leptos's own interval: its handle may go into `on_cleanup`, which needs `Send`.
        if let Ok(timer) = set_interval_with_handle(refresh, every) {
            on_cleanup(move || timer.clear());
        }
    }
    // Rendered on the server, the page is read once.
    #[cfg(not(feature = "hydrate"))]
    let _ = every;
    tick
}
