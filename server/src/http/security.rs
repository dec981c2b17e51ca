//! Security headers and CORS.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use leptos::prelude::use_context;
use leptos_axum::ResponseOptions;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// For anything that is not a dashboard page: nothing may run or be framed.
const STRICT_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a dashboard page: its own scripts (the inline hydration script carries
/// this response's nonce), WebAssembly compilation, and nothing from elsewhere.
fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sets the page's content and cache policies, the first with this render's nonce (called
/// in each page render's context).
pub fn page_policy() {
    let Some(response) = use_context::<ResponseOptions>() else { return };
    if let Some(nonce) = leptos::nonce::use_nonce()
        && let Ok(value) = HeaderValue::from_str(&page_csp(&nonce))
    {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
    // A page names the files of the release that rendered it: always asked for anew.
    response.insert_header(header::CACHE_CONTROL, super::cache::REVALIDATE);
}

/// Headers every response gets; the strict policy unless a page set its own; HSTS when the
/// response goes out over HTTPS.
pub fn add_headers(h: &mut HeaderMap, https: bool) {
    if https {
        // Browsers that once reached the server over HTTPS never fall back to plain HTTP
        // for it (a year; sibling subdomains are left to themselves).
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(STRICT_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

/// CORS for the allowed origins; `None` when there are none.
pub fn cors(allowed: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> =
        allowed.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static("x-api-key"),
            header::AUTHORIZATION,
        ]);
    Some(layer)
}
