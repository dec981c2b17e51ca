//! The HTML document and the root component.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path,
};

use crate::{
    components::Layout,
    routes::{
        DashboardPage, InstancesPage, LoginPage, SessionDetailPage, SessionsPage, SettingsPage,
        SetupPage, WebhooksPage,
    },
    status::{POLICY_META, page_policy, provide_status},
};

/// The whole HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // Derived from the options so the stylesheet's name is defined once, in the build settings.
    let stylesheet = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
    // The browser runs on the schedules this server was started with; the head is not
    // hydrated, so the page reads them from here before anything polls.
    let policy = serde_json::to_string(&page_policy()).unwrap_or_default();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name=POLICY_META content=policy/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="stylesheet" href=stylesheet/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The dashboard: status context, frame and routes. Pages for people live under
/// `/dashboard`; the root paths (`/sessions`, `/health`, …) are the REST API for machines.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_status(page_policy());
    view! {
        <Title text="Lifeline"/>
        <Router>
            <Routes fallback=|| view! { <h1>"Page not found"</h1> }>
                <Route path=path!("/dashboard/login") view=LoginPage/>
                <Route path=path!("/dashboard/setup") view=SetupPage/>
                <ParentRoute path=path!("/dashboard") view=Layout>
                    <Route path=path!("") view=DashboardPage/>
                    <Route path=path!("sessions") view=SessionsPage/>
                    <Route path=path!("sessions/:id") view=SessionDetailPage/>
                    <Route path=path!("instances") view=InstancesPage/>
                    <Route path=path!("settings") view=SettingsPage/>
                    <Route path=path!("settings/webhooks") view=WebhooksPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
