//! Settings: API keys for machines, and the policies the dashboard runs with.

use leptos::prelude::*;

use crate::{
    functions::{CreateApiKey, RevokeApiKey, list_api_keys},
    model::ApiKeyView,
    status::use_status,
};

/// API keys (create, copy once, revoke) and the policy values in effect.
#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <h1>"Settings"</h1>
        <ApiKeys/>
        <Polling/>
    }
}

#[component]
fn ApiKeys() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let created = move || {
        create.value().get().map(|result| match result {
            Ok(created) => view! {
                <div class="new-key" role="status">
                    <p>"Copy this key now: it is not stored and will not be shown again."</p>
                    <code data-testid="new-key">{created.key}</code>
                </div>
            }
            .into_any(),
            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <section aria-labelledby="api-keys">
            <h2 id="api-keys">"API keys"</h2>
            <p class="muted">
                "Machines send a key as the " <code>"x-api-key"</code> " header to reach "
                <code>"/health/deep"</code> ", " <code>"/sessions…"</code> " and " <code>"/metrics"</code> "."
            </p>
            <ActionForm action=create attr:class="inline-form">
                <label>"Name"
                    <input name="name" placeholder="What it is for, e.g. Prometheus" required maxlength="100"/>
                </label>
                <button type="submit" disabled=move || create.pending().get()>"Create key"</button>
            </ActionForm>
            {created}
            <Transition fallback=|| view! { <p class="muted">"Loading keys…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(list) if list.is_empty() => {
                            view! { <p class="muted">"No keys yet."</p> }.into_any()
                        }
                        Ok(list) => view! { <KeyTable keys=list revoke=revoke/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn KeyTable(keys: Vec<ApiKeyView>, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    let stamp = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
    };
    view! {
        <table class="keys" data-testid="api-keys">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Key"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"State"</th>
                </tr>
            </thead>
            <tbody>
                {keys.into_iter().map(|k| {
                    let revoked = k.revoked_at.is_some();
                    view! {
                        <tr>
                            <td>{k.name.clone()}</td>
                            <td><code>{k.prefix.clone()} "…"</code></td>
                            <td>{stamp(Some(k.created_at))}</td>
                            <td>{stamp(k.last_used_at)}</td>
                            <td>
                                {if revoked {
                                    view! { <span>"revoked " {stamp(k.revoked_at)}</span> }.into_any()
                                } else {
                                    view! {
                                        <ActionForm action=revoke attr:class="inline">
                                            <input type="hidden" name="id" value=k.id.clone()/>
                                            <button type="submit" aria-label=format!("Revoke key {}", k.name)>"Revoke"</button>
                                        </ActionForm>
                                    }.into_any()
                                }}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Polling() -> impl IntoView {
    let policy = use_status().policy;
    let row = |name: &'static str, value: String| view! { <tr><th scope="row">{name}</th><td>{value}</td></tr> };
    let backoff = policy
        .unreachable_backoff
        .iter()
        .map(|d| format!("{} s", d.as_secs()))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <section aria-labelledby="polling">
            <h2 id="polling">"Dashboard polling"</h2>
            <table class="settings">
                <tbody>
                    {row("Light health check every", format!("{} s", policy.light_every.as_secs()))}
                    {row("Deep health check every", format!("{} min", policy.deep_every.as_secs() / 60))}
                    {row("When the server is unreachable, retry after", format!("{backoff}, then every {} s", policy.unreachable_backoff[2].as_secs()))}
                    {row("Just after a server start, check every", format!("{} s for its first {} s", policy.warmup_every.as_secs(), policy.warmup_uptime.as_secs()))}
                </tbody>
            </table>
        </section>
    }
}
