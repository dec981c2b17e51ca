//! The HTML document and the root component.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::{
    Lazy,
    components::{ParentRoute, Route, Router, Routes},
    path,
};

use crate::{
    components::Layout,
    routes::{
        DashboardPage, InstancesRoute, LoginRoute, SPLIT_MANIFEST_META, SessionDetailRoute,
        SessionsRoute, SettingsRoute, SetupRoute, WebhooksRoute,
    },
    status::{HEALTH_META, POLICY_META, page_health, page_policy, provide_status},
};

/// The whole HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let stylesheet = stylesheet_href(&options);
    // The browser runs on the schedules this server was started with; the head is not
    // hydrated, so the page reads them from here before anything polls.
    let policy = serde_json::to_string(&page_policy()).unwrap_or_default();
    // And the state it starts from: the server's own report as the page is rendered.
    let health = page_health().and_then(|h| serde_json::to_string(&h).ok());
    let manifest = split_manifest_href(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name=POLICY_META content=policy/>
                {health.map(|health| view! { <meta name=HEALTH_META content=health/> })}
                {manifest.map(|href| view! { <meta name=SPLIT_MANIFEST_META content=href/> })}
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

/// The build's hash file (`css: …`, `manifest: …` lines), when the build named the site's
/// files after their content. Read once: it changes only with a new release, which is a new
/// process.
fn build_hashes(options: &LeptosOptions) -> Option<&'static str> {
    static HASHES: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HASHES
        .get_or_init(|| {
            if !options.hash_files {
                return None;
            }
            std::fs::read_to_string(hash_file(options)?).ok()
        })
        .as_deref()
}

/// Where the page finds its stylesheet. Derived from the options, so its name is defined
/// once, in the build settings, with the hash from the build's hash file where there is one.
fn stylesheet_href(options: &LeptosOptions) -> String {
    match build_hashes(options).and_then(|hashes| hash_of("css", hashes)) {
        Some(hash) => format!("/{}/{}.{hash}.css", options.site_pkg_dir, options.output_name),
        None => format!("/{}/{}.css", options.site_pkg_dir, options.output_name),
    }
}

/// Where the browser finds the build's split manifest, which lists the chunk files of each
/// lazy page: it fetches them once it is idle. `None` for a build that is not split. Looked
/// up once, as the hash file is read once.
fn split_manifest_href(options: &LeptosOptions) -> Option<&'static str> {
    static HREF: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    HREF.get_or_init(|| {
        let name = match build_hashes(options) {
            Some(hashes) => format!("__wasm_split_manifest.{}.json", hash_of("manifest", hashes)?),
            None if options.hash_files => return None,
            None => "__wasm_split_manifest.json".to_owned(),
        };
        let pkg = &options.site_pkg_dir;
        let on_disk = std::path::Path::new(&*options.site_root).join(&**pkg).join(&name);
        on_disk.exists().then(|| format!("/{pkg}/{name}"))
    })
    .as_deref()
}

/// Where Leptos's own scripts look for the build's hash file: its name in the options, in
/// the server binary's folder (cargo-leptos writes it there), or, when the options give an
/// absolute path, that path.
pub fn hash_file(options: &LeptosOptions) -> Option<std::path::PathBuf> {
    Some(std::env::current_exe().ok()?.with_file_name(&*options.hash_file))
}

/// The hash the build gave the file with `extension`, from its hash file (lines such as
/// `css: Xq3kTmd1Tv-_0pQJ2mZpVw`).
fn hash_of(extension: &str, hashes: &str) -> Option<String> {
    hashes.lines().find_map(|line| {
        let (kind, hash) = line.split_once(':')?;
        (kind.trim() == extension && !hash.trim().is_empty()).then(|| hash.trim().to_owned())
    })
}

/// The dashboard: status context, frame and routes. Pages for people live under
/// `/dashboard`; the root paths (`/sessions`, `/health`, …) are the REST API for machines.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_status(page_policy(), page_health());
    view! {
        <Title text="Lifeline"/>
        <Router>
            <Routes fallback=|| view! { <h1>"Page not found"</h1> }>
                <Route path=path!("/dashboard/login") view={Lazy::<LoginRoute>::new()}/>
                <Route path=path!("/dashboard/setup") view={Lazy::<SetupRoute>::new()}/>
                // The Dashboard page comes with the first load; the others as chunks.
                <ParentRoute path=path!("/dashboard") view=Layout>
                    <Route path=path!("") view=DashboardPage/>
                    <Route path=path!("sessions") view={Lazy::<SessionsRoute>::new()}/>
                    <Route path=path!("sessions/:id") view={Lazy::<SessionDetailRoute>::new()}/>
                    <Route path=path!("instances") view={Lazy::<InstancesRoute>::new()}/>
                    <Route path=path!("settings") view={Lazy::<SettingsRoute>::new()}/>
                    <Route path=path!("settings/webhooks") view={Lazy::<WebhooksRoute>::new()}/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[cfg(test)]
mod tests {
    use super::hash_of;

    #[test]
    fn finds_each_file_kind_in_the_build_hash_file() {
        let hashes = "js: AAAAAAAAAAAAAAAAAAAAAA\nwasm: BBBBBBBBBBBBBBBBBBBBBB\n\
                      css: CCCCCCCCCCCCCCCCCCCCCC\nmanifest: DDDDDDDDDDDDDDDDDDDDDD\n";
        assert_eq!(hash_of("css", hashes).as_deref(), Some("CCCCCCCCCCCCCCCCCCCCCC"));
        assert_eq!(hash_of("wasm", hashes).as_deref(), Some("BBBBBBBBBBBBBBBBBBBBBB"));
        assert_eq!(hash_of("svg", hashes), None);
        assert_eq!(hash_of("css", "css:\n"), None, "an empty hash is no hash");
    }
}
