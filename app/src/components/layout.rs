//! The frame around every page: header with the status dot, sidebar with navigation and
//! the status badge.

use leptos::prelude::*;
use leptos_router::components::{A, Outlet};

use super::{StatusBadge, StatusDot, StatusPopover};
use crate::{
    functions::Logout,
    routes::prefetch_when_idle,
    status::{Indicator, use_status},
};

/// Header, sidebar and the current page.
#[component]
pub fn Layout() -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let popover = RwSignal::new(false);
    // The other pages' chunks are fetched once the first load has done its job (the dot
    // shows the server's answer), so they never compete with it on a slow network. Effects
    // run in the browser only.
    let status = use_status();
    Effect::new(move |prefetched: Option<bool>| {
        if prefetched == Some(true) {
            return true;
        }
        let answered = status.reading().indicator != Indicator::Checking;
        if answered {
            prefetch_when_idle();
        }
        answered
    });
    view! {
        <div class="frame">
            <header class="topbar">
                <A href="/dashboard" attr:class="brand">"Lifeline"</A>
                <div class="topbar-right">
                    <div class="status-anchor">
                        <StatusDot open=popover/>
                        <StatusPopover open=popover/>
                    </div>
                    <ActionForm action=logout attr:class="logout">
                        <button type="submit" class="link-button">"Log out"</button>
                    </ActionForm>
                </div>
            </header>
            <aside class="sidebar">
                <nav aria-label="Main">
                    <A href="/dashboard" exact=true>"Dashboard"</A>
                    <A href="/dashboard/sessions">"Sessions"</A>
                    <A href="/dashboard/instances">"Instances"</A>
                    <A href="/dashboard/settings" exact=true>"Settings"</A>
                    <A href="/dashboard/settings/webhooks" attr:class="sub">"Webhooks"</A>
                </nav>
                <footer class="sidebar-footer">
                    <StatusBadge/>
                </footer>
            </aside>
            <main class="content"><Outlet/></main>
        </div>
    }
    // Erased: the frame's full type is deep enough to exhaust the compiler's limits.
    .into_any()
}
