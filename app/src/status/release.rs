//! A tab left open across a new release.
//!
//! The pages other than the Dashboard reach the browser as chunks, fetched on first visit,
//! and their names carry a hash of their content. After a new release the server no
//! longer has the chunks of the one this tab loaded: the router's next lazy navigation
//! would ask for a file that is gone, and a chunk that fails to load stops the whole
//! WebAssembly module. So whenever the event channel comes back, or the server answers
//! again after it did not (it may have restarted), the page asks whether its own files are
//! still served; once one is not, the tab is outdated and every navigation from then on is
//! a full page load, which brings the new release. A release that did not change the
//! dashboard keeps the same file names, and the tab carries on as it was.

/// What a click on a link looked like, as far as following it is concerned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Click<'a> {
    /// The mouse button (0: the main one).
    pub button: i16,
    /// Ctrl, Meta, Shift or Alt held: the browser opens a tab or a window, or downloads.
    pub modified: bool,
    /// The link's `target` attribute.
    pub target: Option<&'a str>,
    /// The link has a `download` attribute.
    pub download: bool,
    /// The origin of the link's destination, and the page's.
    pub origin: &'a str,
    pub page_origin: &'a str,
}

/// Whether the click makes this tab go to another page of the same site: the navigation
/// the router would otherwise take over.
pub fn navigates_here(click: Click<'_>) -> bool {
    click.button == 0
        && !click.modified
        && !click.download
        && matches!(click.target, None | Some("") | Some("_self"))
        && click.origin == click.page_origin
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::Cell;

    use gloo_net::http::{Method, RequestBuilder};
    use leptos::prelude::{Effect, Get, document, window};
    use wasm_bindgen::{JsCast, closure::Closure};
    use web_sys::{Element, Event, MouseEvent, RequestCache, Url};

    use super::{Click, navigates_here};
    use crate::status::StatusState;

    thread_local! {
        static OUTDATED: Cell<bool> = const { Cell::new(false) };
        static ASKING: Cell<bool> = const { Cell::new(false) };
    }

    /// Asks again whenever the server answers after it did not: a page whose event channel
    /// cannot get through (a proxy that drops it) still notices a restart by its polls.
    pub fn watch(state: StatusState) {
        Effect::watch(
            move || state.reachable.get(),
            |now, before, _| {
                if *now == Some(true) && before == Some(&Some(false)) {
                    check();
                }
            },
            false,
        );
    }

    /// Asks, in the background, whether the server still has this page's scripts and
    /// WebAssembly; if it answers that one is gone, every later navigation loads the page
    /// afresh.
    pub fn check() {
        // The channel and the poller may both see the server come back: one question.
        if OUTDATED.get() || ASKING.replace(true) {
            return;
        }
        let files = own_files();
        leptos::task::spawn_local(async move {
            let gone = any_gone(files).await;
            ASKING.set(false);
            if gone {
                outdated();
            }
        });
    }

    /// Whether the server answers that one of `files` does not exist.
    async fn any_gone(files: Vec<String>) -> bool {
        for file in files {
            // The files are cached for a year: only the server can say whether they still
            // exist. An error or any other answer proves nothing; the next reconnect asks
            // again.
            let answer = RequestBuilder::new(&file)
                .method(Method::HEAD)
                .cache(RequestCache::NoStore)
                .send()
                .await;
            if matches!(answer, Ok(response) if response.status() == 404) {
                return true;
            }
        }
        false
    }

    /// The URLs of the files the page loaded its code from, from the preload hints the
    /// server rendered.
    fn own_files() -> Vec<String> {
        let Ok(links) =
            document().query_selector_all("link[rel=modulepreload], link[rel=preload][as=fetch]")
        else {
            return Vec::new();
        };
        (0..links.length())
            .filter_map(|i| links.item(i)?.dyn_into::<Element>().ok()?.get_attribute("href"))
            .collect()
    }

    fn outdated() {
        if OUTDATED.replace(true) {
            return;
        }
        let _ = document().document_element().map(|html| html.set_attribute("data-outdated", ""));
        // Seen first, in the capture phase, before the router's own listeners: a link is
        // left to the browser, which loads the page from the server.
        let click = Closure::<dyn FnMut(MouseEvent)>::new(|e: MouseEvent| {
            if follows_link_here(&e) {
                e.stop_propagation();
            }
        });
        // Back and forward: the address is already the new one; load it.
        let history = Closure::<dyn FnMut(Event)>::new(|e: Event| {
            e.stop_immediate_propagation();
            let _ = window().location().reload();
        });
        let w = window();
        let _ = w.add_event_listener_with_callback_and_bool(
            "click",
            click.as_ref().unchecked_ref(),
            true,
        );
        let _ = w.add_event_listener_with_callback_and_bool(
            "popstate",
            history.as_ref().unchecked_ref(),
            true,
        );
        // For the rest of the page's life.
        click.forget();
        history.forget();
    }

    fn follows_link_here(e: &MouseEvent) -> bool {
        let Some(link) = e
            .target()
            .and_then(|t| t.dyn_into::<Element>().ok())
            .and_then(|t| t.closest("a[href]").ok().flatten())
        else {
            return false;
        };
        let (Some(href), Ok(page_origin)) =
            (link.get_attribute("href"), window().location().origin())
        else {
            return false;
        };
        let Ok(destination) = Url::new_with_base(&href, &page_origin) else { return false };
        let target = link.get_attribute("target");
        navigates_here(Click {
            button: e.button(),
            modified: e.ctrl_key() || e.meta_key() || e.shift_key() || e.alt_key(),
            target: target.as_deref(),
            download: link.has_attribute("download"),
            origin: &destination.origin(),
            page_origin: &page_origin,
        })
    }
}

#[cfg(feature = "hydrate")]
pub use browser::{check, watch};

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "https://lifeline.example";

    fn plain() -> Click<'static> {
        Click { origin: SITE, page_origin: SITE, ..Click::default() }
    }

    #[test]
    fn a_plain_click_on_a_link_of_the_site_navigates_here() {
        assert!(navigates_here(plain()));
        assert!(navigates_here(Click { target: Some("_self"), ..plain() }));
        assert!(navigates_here(Click { target: Some(""), ..plain() }));
    }

    #[test]
    fn new_tabs_downloads_and_other_sites_are_left_alone() {
        assert!(!navigates_here(Click { button: 1, ..plain() }), "middle button: a new tab");
        assert!(!navigates_here(Click { modified: true, ..plain() }));
        assert!(!navigates_here(Click { target: Some("_blank"), ..plain() }));
        assert!(!navigates_here(Click { download: true, ..plain() }));
        assert!(!navigates_here(Click { origin: "https://other.example", ..plain() }));
    }
}
