//! Settings: API keys for machines, and the policies the dashboard runs with.

use leptos::prelude::*;

use crate::{
    components::format::{span, stamp},
    functions::{ChangePassword, CreateApiKey, RevokeApiKey, get_policies, list_api_keys},
    model::{ApiKeyView, MIN_PASSWORD_CHARS, Scope},
    policy::{Backoff, Policies},
};

/// API keys (create, copy once, revoke), the admin password, and the policy values in
/// effect.
#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <h1>"Settings"</h1>
        <ApiKeys/>
        <Password/>
        <PolicyValues/>
    }
}

#[component]
fn Password() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let outcome = move || {
        change.value().get().map(|result| match result {
            Ok(()) => view! {
                <p class="notice" data-ok="true" role="status" data-testid="password-outcome">
                    "Password changed. Other logins of this account have ended."
                </p>
            }
            .into_any(),
            Err(e) => view! {
                <p class="error" role="alert" data-testid="password-outcome">{e.to_string()}</p>
            }
            .into_any(),
        })
    };
    view! {
        <section aria-labelledby="admin-password">
            <h2 id="admin-password">"Admin password"</h2>
            <ActionForm action=change attr:class="stacked-form" attr:data-testid="password-form">
                <label>"Current password"
                    <input type="password" name="current" autocomplete="current-password" required/>
                </label>
                <label>"New password"
                    <input type="password" name="password" autocomplete="new-password" required
                        minlength=MIN_PASSWORD_CHARS.to_string()/>
                </label>
                <label>"New password again"
                    <input type="password" name="confirm" autocomplete="new-password" required/>
                </label>
                <button type="submit" class="button" disabled=move || change.pending().get()>"Change password"</button>
            </ActionForm>
            {outcome}
        </section>
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
                <code>"/health/deep"</code> ", " <code>"/sessions…"</code> ", " <code>"/ws"</code>
                " and " <code>"/metrics"</code> ". Give each key the narrowest scope that does its job: "
                "revoking a key closes its event channels at once."
            </p>
            <ActionForm action=create attr:class="inline-form" attr:data-testid="create-key">
                <label>"Name"
                    <input name="name" placeholder="What it is for, e.g. Prometheus" required maxlength="100"/>
                </label>
                <label>"Scope"
                    <select name="scope" data-testid="key-scope">
                        {Scope::ALL.iter().map(|scope| view! {
                            <option value=scope.as_str() selected=*scope == Scope::default()>
                                {scope.describe()}
                            </option>
                        }).collect_view()}
                    </select>
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
    view! {
        <table class="keys" data-testid="api-keys">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Key"</th>
                    <th scope="col">"Scope"</th>
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
                            <td>{k.scope.as_str()}</td>
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
fn PolicyValues() -> impl IntoView {
    let policies = Resource::new(|| (), |_| get_policies());
    view! {
        <section aria-labelledby="policies">
            <h2 id="policies">"Policies in effect"</h2>
            <p class="muted">"Read-only: they come from the server's start-up settings."</p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match policies.await {
                        Ok(p) => view! { <PolicyTable policies=p/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A ladder of waits as people read it: its waits and what comes after them.
fn ladder(b: &Backoff) -> String {
    match b {
        Backoff::Doubling { base, retries, cap: Some(cap) } => {
            format!("{} doubling to {}, {retries} tries", span(*base), span(*cap))
        }
        Backoff::Steps { delays, repeat_last: true } => {
            let waits: Vec<String> = delays.iter().copied().map(span).collect();
            let last = delays.last().copied().map(span).unwrap_or_default();
            format!("{}, then every {last}", waits.join(", "))
        }
        _ => {
            let retries = b.retries().unwrap_or(0);
            let waits: Vec<String> =
                (1..=retries).filter_map(|n| b.delay_before(n)).map(span).collect();
            format!("{}, then give up", waits.join(", "))
        }
    }
}

#[component]
fn PolicyTable(policies: Policies) -> impl IntoView {
    let Policies { supervisor: s, dashboard } = policies;
    let (poll, socket) = (dashboard.poll, dashboard.socket);
    let row = |name: &'static str, value: String| view! { <tr><th scope="row">{name}</th><td>{value}</td></tr> };
    view! {
        <table class="settings" data-testid="policy-values">
            <tbody>
                <tr><th colspan="2" scope="rowgroup">"Sessions"</th></tr>
                {row("Retries after a failed start or restore", ladder(&s.restore))}
                {row("Retries after a dropped connection", ladder(&s.reconnect))}
                {row("Random extra on each wait, up to", format!("{:.0}%", s.jitter * 100.0))}
                {row("Connected this long counts as stable", span(s.stable_after))}
                {row("A handshake fails after", span(s.handshake_timeout))}
                {row("Once logged in, a session must be live within", span(s.login_timeout))}
                {row("Closing a connection may take", span(s.close_timeout))}
                {row("Handshakes at once, at most", s.max_concurrent_handshakes.to_string())}
                {row("Between two restores at start-up", span(s.restore_spacing))}
                {row("A send waits for a restoring session up to", span(s.send_wait))}
                {row("The watchdog looks at every session every", span(s.watchdog_every))}
                {row("A silent session is probed after", format!("{}, and must answer within {}", span(s.probe_idle_after), span(s.probe_timeout)))}
                {row("Automatic recoveries per session", format!("{} per {} (a person always may)", s.recovery_budget, span(s.recovery_window)))}
                <tr><th colspan="2" scope="rowgroup">"Dashboard"</th></tr>
                {row("Light health check every", span(poll.light_every))}
                {row("Deep health check every", span(poll.deep_every))}
                {row("When the server is unreachable, retry after", ladder(&poll.unreachable_backoff))}
                {row("Just after a server start, check every", format!("{} for its first {}", span(poll.warmup_every), span(poll.warmup_uptime)))}
                {row("Event channel reconnects", ladder(&socket.reconnect))}
                {row("Event channel heartbeat", format!("every {}, answer within {}", span(socket.heartbeat), span(socket.pong_timeout)))}
            </tbody>
        </table>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_ladder_lists_its_waits() {
        let secs = Duration::from_secs;
        let steps = |repeat_last| Backoff::Steps { delays: vec![secs(5), secs(15)], repeat_last };
        assert_eq!(ladder(&steps(false)), "5 s, 15 s, then give up");
        assert_eq!(ladder(&steps(true)), "5 s, 15 s, then every 15 s");
        let doubling = |cap| Backoff::Doubling { base: secs(1), retries: 3, cap };
        assert_eq!(ladder(&doubling(None)), "1 s, 2 s, 4 s, then give up");
        assert_eq!(ladder(&doubling(Some(secs(10)))), "1 s doubling to 10 s, 3 tries");
    }
}
