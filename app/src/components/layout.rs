//! The frame around every page: header with the status dot, sidebar with navigation and
//! the status badge.

use leptos::prelude::*;
use leptos_router::components::A;

use super::{StatusBadge, StatusDot};

/// Header, sidebar and the page in `children`.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <div class="frame">
            <header class="topbar">
                <A href="/dashboard" attr:class="brand">"Lifeline"</A>
                <StatusDot/>
            </header>
            <aside class="sidebar">
                <nav aria-label="Main">
                    <A href="/dashboard" exact=true>"Dashboard"</A>
                    <A href="/dashboard/sessions">"Sessions"</A>
                    <A href="/dashboard/settings">"Settings"</A>
                </nav>
                <footer class="sidebar-footer">
                    <StatusBadge/>
                </footer>
            </aside>
            <main class="content">{children()}</main>
        </div>
    }
}
