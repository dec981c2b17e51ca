//! The login page and the first-start setup page.

use leptos::{
    prelude::*,
    server_fn::{Http, ServerFn, client::Client, codec::PostUrl, request::ClientReq},
    web_sys::FormData,
};
use leptos_router::hooks::use_query_map;
use serde::de::DeserializeOwned;

use crate::functions::{Login, Setup};

/// Logs the admin in; `?next=` says where to go afterwards.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let login = ServerAction::<Login>::new();
    view! {
        <AuthCard action=login label="Log in" title="Lifeline"
            lead="Log in to the dashboard." submit="Log in">
            <label>"Username"
                <input name="username" autocomplete="username" required/>
            </label>
            <label>"Password"
                <input type="password" name="password" autocomplete="current-password" required/>
            </label>
            <input type="hidden" name="next" value=next/>
        </AuthCard>
    }
}

/// Creates the admin account on a server's first start.
#[component]
pub fn SetupPage() -> impl IntoView {
    let setup = ServerAction::<Setup>::new();
    view! {
        <AuthCard action=setup label="Create the admin account"
            title="Welcome to Lifeline"
            lead="Create the admin account that looks after this server's WhatsApp sessions."
            submit="Create account">
            <label>"Setup code (printed in the server's log at start)"
                <input name="code" autocomplete="off" required spellcheck="false"
                    placeholder="XXXX-XXXX-XXXX"/>
            </label>
            <label>"Username"
                <input name="username" value="admin" autocomplete="username" required/>
            </label>
            <label>"Password (at least " {crate::model::MIN_PASSWORD_CHARS} " characters)"
                <input type="password" name="password" autocomplete="new-password" required
                    minlength=crate::model::MIN_PASSWORD_CHARS/>
            </label>
            <label>"Password again"
                <input type="password" name="confirm" autocomplete="new-password" required/>
            </label>
        </AuthCard>
    }
}

/// The card both pages are: a form for `action` under a heading and a line of lead text,
/// with the fields (`children`), the action's last failure and one submit button.
#[component]
fn AuthCard<S, P>(
    action: ServerAction<S>,
    label: &'static str,
    title: &'static str,
    lead: &'static str,
    submit: &'static str,
    children: Children,
) -> impl IntoView
where
    S: DeserializeOwned + ServerFn<Protocol = Http<PostUrl, P>> + Clone + Send + Sync + 'static,
    <<S::Client as Client<S::Error>>::Request as ClientReq<S::Error>>::FormData: From<FormData>,
    S::Output: Clone + Send + Sync + 'static,
    S::Error: std::fmt::Display + Clone + Send + Sync + 'static,
    S::Client: Client<S::Error>,
    P: 'static,
{
    let error = move || action.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <div class="auth-page">
            <ActionForm action=action attr:class="auth-card" attr:aria-label=label>
                <h1>{title}</h1>
                <p class="muted">{lead}</p>
                {children()}
                {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit" disabled=move || action.pending().get()>{submit}</button>
            </ActionForm>
        </div>
    }
}
