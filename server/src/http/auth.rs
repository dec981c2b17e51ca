//! Access checks on the HTTP surface: credentials for machines' routes, the login gate of
//! the dashboard's pages, and the Origin check that keeps other sites from acting with a
//! visitor's cookie.

use app::error::AppError;
use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, Uri, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

use app::model::{Needs, Scope};

use super::error::ApiFailure;
use crate::client_addr::ClientAddr;
use crate::{
    access::{Caller, presented_key},
    state::AppState,
};

/// The one answer to missing or wrong credentials, whichever it was.
pub fn unauthorized() -> ApiFailure {
    ApiFailure(AppError::Unauthorized(
        "send a valid API key in the x-api-key header, or log in to the dashboard".into(),
    ))
}

/// What [`require_caller`] runs with: the server, and the scope the routes behind it need.
#[derive(Clone, Debug)]
pub struct Gate {
    state: AppState,
    needs: Scope,
}

impl Gate {
    /// The gate of routes that need a key with `needs` (or a login).
    pub fn new(state: &AppState, needs: Scope) -> Gate {
        Gate { state: state.clone(), needs }
    }
}

/// Lets a request through only with a valid API key (of the gate's scope) or login; the
/// [`Caller`] goes into the request's extensions. An address that presented too many wrong
/// credentials lately waits (429) without its credentials being looked at.
pub async fn require_caller(
    State(Gate { state, needs }): State<Gate>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = ClientAddr::of(request.extensions());
    if let Err(wait) = state.access.guessing(client) {
        let message =
            format!("too many wrong credentials; try again in {} s", wait.as_secs().max(1));
        return ApiFailure(AppError::TooManyAttempts(message)).into_response();
    }
    match state.access.authenticate(request.headers()).await {
        Some(caller) => match caller.permit(Needs::Key(needs)) {
            Ok(()) => {
                request.extensions_mut().insert::<Caller>(caller);
                next.run(request).await
            }
            Err(refused) => ApiFailure(refused).into_response(),
        },
        None => {
            // Only credentials that were presented and wrong count: a missing key is a
            // misconfigured client, not a guess.
            let presented = presented_key(request.headers()).is_some()
                || state.access.session_token(request.headers()).is_some();
            if presented {
                state.access.wrong_credentials(client);
            }
            unauthorized().into_response()
        }
    }
}

/// Whether `request` is for a page of the dashboard (which needs the gate).
pub fn is_dashboard_page(request: &Request) -> bool {
    let path = request.uri().path();
    request.method() == Method::GET && (path == "/dashboard" || path.starts_with("/dashboard/"))
}

/// Pages of the dashboard need a login; before the first admin exists, every page leads
/// to the setup page, and the login and setup pages lead away when they have no purpose.
/// Returns where to send the visitor instead, if anywhere.
pub async fn dashboard_gate(state: &AppState, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let set_up = state.access.admin_exists();
    let logged_in = || async { state.access.authenticate(headers).await.is_some() };
    let target = match uri.path() {
        "/dashboard/setup" if set_up => Some("/dashboard/login".to_owned()),
        "/dashboard/setup" => None,
        _ if !set_up => Some("/dashboard/setup".to_owned()),
        "/dashboard/login" => logged_in().await.then(|| "/dashboard".to_owned()),
        _ if !logged_in().await => Some(login_then(uri)),
        _ => None,
    };
    target.map(|to| Redirect::to(&to).into_response())
}

/// `/dashboard/login?next=<where the visitor was going>`.
fn login_then(uri: &Uri) -> String {
    let wanted = uri.path_and_query().map_or("/dashboard", |p| p.as_str());
    let encoded: String = wanted
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/dashboard/login?next={encoded}")
}

/// Refuses a request sent to a host name this server does not answer to.
///
/// A page of another site can point a name it controls at this server's address (DNS
/// rebinding) and then talk to it as its own origin: the browser sends that name as
/// `Host`, which no same-origin check catches. IP addresses and `localhost` are always
/// answered (a rebinding needs a name); other names only when configured.
pub fn unknown_host(request: &Request, allowed: &[String]) -> Option<Response> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))?;
    (!host_allowed(host, allowed)).then(|| {
        let message = format!(
            "this server does not answer to the host {host:?}; if that is its name, add it \
             to LIFELINE_ALLOWED_HOSTS (--allowed-hosts)"
        );
        super::error::ApiFailure(AppError::UnknownHost(message)).into_response()
    })
}

/// Whether `host` (a `Host` header: a name or address, with an optional port) is one this
/// server answers to.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // [IPv6]:port
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) { name } else { host }
        }),
    };
    let name = name.trim_end_matches('.');
    name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || allowed.iter().any(|a| {
            let a = a.trim();
            a.eq_ignore_ascii_case(name) || a.eq_ignore_ascii_case(host)
        })
}

/// Refuses state-changing requests that a browser sent on behalf of another site: their
/// `Origin` is neither this server nor on the allow-list. Machines send no `Origin`.
pub fn cross_site(request: &Request, allowed: &[String]) -> Option<Response> {
    let unsafe_method = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    (unsafe_method && !origin_allowed(request.headers(), allowed)).then(|| {
        (
            StatusCode::FORBIDDEN,
            axum::Json(AppError::Forbidden("requests from another site are refused".into())),
        )
            .into_response()
    })
}

/// Whether the request's `Origin` (if any) is this server or an allowed one.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    // Same origin: the Origin's host and port are the Host the request was sent to (the
    // scheme is left out so a TLS-terminating proxy in front does not matter).
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|host| host.eq_ignore_ascii_case(authority))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static(host));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_static(o));
        }
        h
    }

    #[test]
    fn origins() {
        let allowed = vec!["https://ops.example.com".to_owned()];
        assert!(origin_allowed(&headers(None, "lifeline:3000"), &[]));
        assert!(origin_allowed(&headers(Some("http://lifeline:3000"), "lifeline:3000"), &[]));
        assert!(origin_allowed(
            &headers(Some("https://lifeline.example"), "lifeline.example"),
            &[]
        ));
        assert!(!origin_allowed(&headers(Some("https://evil.example"), "lifeline:3000"), &[]));
        assert!(!origin_allowed(&headers(Some("http://lifeline:3001"), "lifeline:3000"), &[]));
        assert!(origin_allowed(
            &headers(Some("https://ops.example.com"), "lifeline:3000"),
            &allowed
        ));
        assert!(!origin_allowed(&headers(Some("null"), "lifeline:3000"), &[]));
    }

    #[test]
    fn hosts() {
        let allowed = vec!["lifeline.example.com".to_owned()];
        for ok in [
            "127.0.0.1:3000",
            "192.168.1.5",
            "[::1]:3000",
            "[fe80::1]",
            "localhost:3000",
            "LOCALHOST",
            "app.localhost:8080",
            "lifeline.example.com",
            "Lifeline.Example.com:443",
            "lifeline.example.com.",
        ] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:3000",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "lifeline.example.com.evil.example",
            "[not-an-ip]:80",
            "",
        ] {
            assert!(!host_allowed(refused, &allowed), "{refused}");
        }
        assert!(!host_allowed("lifeline.example.com", &[]));
    }

    #[test]
    fn login_remembers_where_the_visitor_was_going() {
        let uri: Uri = "/dashboard/sessions?x=1".parse().unwrap();
        assert_eq!(login_then(&uri), "/dashboard/login?next=/dashboard/sessions%3Fx%3D1");
    }
}
