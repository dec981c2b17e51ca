//! The Sessions page: every session with its state.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::{
    functions::list_sessions,
    model::{SessionStatus, SessionView},
};

/// Lists the sessions from the database through the `list_sessions` server function.
#[component]
pub fn SessionsPage() -> impl IntoView {
    let sessions = Resource::new(|| (), |_| list_sessions());
    view! {
        <h1>"Sessions"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading sessions…"</p> }>
            {move || Suspend::new(async move {
                match sessions.await {
                    Ok(list) if list.is_empty() => view! {
                        <div class="empty" data-testid="sessions-empty">
                            <p>"No sessions yet."</p>
                            <p class="muted">"A session links one WhatsApp number to Lifeline. Once you add one, it shows here with its live state."</p>
                        </div>
                    }.into_any(),
                    Ok(list) => view! { <SessionTable sessions=list/> }.into_any(),
                    Err(e) => view! {
                        <p class="error" role="alert">"Could not load sessions: " {e.to_string()}</p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SessionTable(sessions: Vec<SessionView>) -> impl IntoView {
    view! {
        <table class="sessions" data-testid="sessions-table">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Reason"</th>
                    <th scope="col">"Attempt"</th>
                    <th scope="col">"Next retry"</th>
                    <th scope="col">"Last connected"</th>
                </tr>
            </thead>
            <tbody>
                {sessions.into_iter().map(|s| view! {
                    <tr data-state=s.status.as_str()>
                        <td>{s.name}</td>
                        <td>{s.status.label()}</td>
                        <td>{s.reason.map(|r| r.label())}</td>
                        // A retry count only means something while a retry is under way.
                        <td>{(s.attempt > 0 && matches!(s.status, SessionStatus::Connecting | SessionStatus::Reconnecting))
                            .then(|| s.attempt.to_string())}</td>
                        <td>{stamp(s.next_retry_at)}</td>
                        <td>{stamp(s.last_connected_at).unwrap_or_else(|| "never".to_owned())}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

fn stamp(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}
