//! Server functions for logging in and out and setting up the first admin. Their paths are
//! fixed (`/api/auth/…`) so that forms work without WebAssembly and scripts can log in.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::model::Needs;
use crate::{error::AppError, model::AuthState};

/// Where the visitor stands: needs setup, logged out, or logged in.
#[server(endpoint = "auth/state")]
pub async fn get_auth_state() -> Result<AuthState, AppError> {
    let backend = super::backend()?;
    Ok(backend.auth_state(&super::request()?.headers).await)
}

/// Creates the first admin account and logs it in; `code` is the one-time setup code the
/// server printed in its log.
#[server(endpoint = "auth/setup")]
pub async fn setup(
    username: String,
    password: String,
    confirm: String,
    code: String,
) -> Result<(), AppError> {
    let form = crate::model::SetupForm {
        username: &username,
        password: &password,
        confirm: &confirm,
        code: &code,
    };
    let cookie = super::backend()?.setup(&super::request()?, form).await.map_err(super::fail)?;
    set_cookie(&cookie);
    leptos_axum::redirect("/dashboard");
    Ok(())
}

/// Logs in; `next` is where to go afterwards (a dashboard page).
#[server(endpoint = "auth/login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    let request = super::request()?;
    let cookie =
        super::backend()?.login(&request, &username, &password).await.map_err(super::fail)?;
    set_cookie(&cookie);
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Logs out.
#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    let cookie = super::backend()?.logout(&super::request()?).await?;
    set_cookie(&cookie);
    leptos_axum::redirect("/dashboard/login");
    Ok(())
}

/// Changes the logged-in admin's password. Its other logins end; this one stays.
#[server(endpoint = "auth/password")]
pub async fn change_password(
    current: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    let backend = super::authorized(Needs::Login).await?;
    let headers = super::request()?.headers;
    backend.change_password(&headers, &current, &password, &confirm).await.map_err(super::fail)
}

#[cfg(feature = "ssr")]
fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) =
        (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(value))
    {
        response.append_header(http::header::SET_COOKIE, value);
    }
}

/// Only dashboard pages are places to go after a login: never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if (path == "/dashboard" || path.starts_with("/dashboard/"))
                && !path.contains("//")
                && !path.contains('\\') =>
        {
            path.to_owned()
        }
        _ => "/dashboard".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_the_dashboard() {
        assert_eq!(safe_next(Some("/dashboard/sessions")), "/dashboard/sessions");
        assert_eq!(safe_next(Some("https://evil.example/dashboard")), "/dashboard");
        assert_eq!(safe_next(Some("//evil.example")), "/dashboard");
        assert_eq!(safe_next(Some("/dashboard//evil.example")), "/dashboard");
        assert_eq!(safe_next(Some("/dashboard/\\\\evil")), "/dashboard");
        assert_eq!(safe_next(None), "/dashboard");
    }
}
