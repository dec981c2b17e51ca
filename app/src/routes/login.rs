//! The login page and the first-start setup page.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::functions::{Login, Setup};

/// Logs the admin in; `?next=` says where to go afterwards.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = move || login.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <div class="auth-page">
            <ActionForm action=login attr:class="auth-card" attr:aria-label="Log in">
                <h1>"Lifeline"</h1>
                <p class="muted">"Log in to the dashboard."</p>
                <label>"Username"
                    <input name="username" autocomplete="username" required/>
                </label>
                <label>"Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <input type="hidden" name="next" value=next/>
                {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit" disabled=move || login.pending().get()>"Log in"</button>
            </ActionForm>
        </div>
    }
}

/// Creates the admin account on a server's first start.
#[component]
pub fn SetupPage() -> impl IntoView {
    let setup = ServerAction::<Setup>::new();
    let error = move || setup.value().get().and_then(Result::err).map(|e| e.to_string());
    view! {
        <div class="auth-page">
            <ActionForm action=setup attr:class="auth-card" attr:aria-label="Create the admin account">
                <h1>"Welcome to Lifeline"</h1>
                <p class="muted">"Create the admin account that looks after this server's WhatsApp sessions."</p>
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
                {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit" disabled=move || setup.pending().get()>"Create account"</button>
            </ActionForm>
        </div>
    }
}
