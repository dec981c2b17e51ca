//! Settings → Webhooks: the endpoints Lifeline POSTs events to, their delivery log, and
//! redelivery. What Lifeline paused (a receiver failing for a day, or answering 410) is
//! said at the top, since nothing reaches that receiver until someone resumes it.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use leptos::prelude::*;

use crate::{
    components::{
        TableHead,
        format::{clock, stamp},
        ticks_while_visible,
    },
    error::AppError,
    functions::{
        change_webhook, create_webhook, delete_webhook, list_webhooks, redeliver_webhook,
        webhook_deliveries,
    },
    model::{
        SessionView,
        webhooks::{
            DeliveryState, DeliveryView, EventType, NewWebhook, Redeliver, UpdateWebhook,
            WebhookView,
        },
    },
    status::use_status,
};

/// How often the endpoints and the delivery log are read again while the page is shown:
/// deliveries move on their own (retries, a receiver coming back).
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// What a new endpoint subscribes to unless the operator unticks it: the session's life,
/// not its messages, which a receiver may not want.
const DEFAULT_EVENTS: [EventType; 3] =
    [EventType::SessionStatus, EventType::SessionRemoved, EventType::Recovery];

/// The choices of "redeliver what failed in the last …".
const REDELIVER_WINDOWS: [(&str, i64); 4] =
    [("hour", 1), ("day", 24), ("week", 24 * 7), ("30 days", 24 * 30)];

/// The outcome of the last action, shown above the list.
#[derive(Clone, Debug, PartialEq)]
struct Notice {
    ok: bool,
    message: String,
}

/// What the page can do to an endpoint.
#[derive(Clone, Debug)]
enum Op {
    Enable(bool),
    Delete,
    Redeliver(Redeliver),
}

/// Carries `op` out on endpoint `id` (shown as `url`) and says how it went.
async fn run(id: String, url: String, op: Op) -> Notice {
    let result: Result<String, AppError> = match op {
        Op::Enable(on) => {
            let request = UpdateWebhook { enabled: Some(on), ..UpdateWebhook::default() };
            change_webhook(id, request)
                .await
                .map(|_| if on { format!("{url}: resumed.") } else { format!("{url}: paused.") })
        }
        Op::Delete => delete_webhook(id).await.map(|()| format!("{url}: deleted.")),
        Op::Redeliver(request) => redeliver_webhook(id, request).await.map(|r| match r.queued {
            0 => format!("{url}: nothing to deliver again."),
            1 => format!("{url}: 1 delivery queued again."),
            n => format!("{url}: {n} deliveries queued again."),
        }),
    };
    match result {
        Ok(message) => Notice { ok: true, message },
        Err(e) => Notice { ok: false, message: format!("{url}: {e}") },
    }
}

/// Puts `item` in `list` (once) or takes it out.
fn toggle<T: PartialEq + Send + Sync + 'static>(list: RwSignal<Vec<T>>, item: T, on: bool) {
    list.update(|l| {
        l.retain(|x| *x != item);
        if on {
            l.push(item);
        }
    });
}

/// The session called `id`, by its name when the dashboard knows it.
fn session_label(sessions: &[SessionView], id: &str) -> String {
    sessions.iter().find(|s| s.id == id).map_or_else(|| id.to_owned(), |s| s.name.clone())
}

type Act = Action<(String, String, Op), Notice>;

/// `/dashboard/settings/webhooks`.
#[component]
pub fn WebhooksPage() -> impl IntoView {
    let notice = RwSignal::new(None::<Notice>);
    let selected = RwSignal::new(None::<(String, String)>);
    // Kept here, not in the table: the table is drawn anew on every refresh, and an open
    // "delete?" question must survive that.
    let confirming = RwSignal::new(None::<String>);
    let created = RwSignal::new(0u32);
    let tick = ticks_while_visible(REFRESH_EVERY);
    let act: Act = Action::new(|(id, url, op): &(String, String, Op)| {
        run(id.clone(), url.clone(), op.clone())
    });
    Effect::new(move |_| {
        if let Some(outcome) = act.value().get() {
            notice.set(Some(outcome));
        }
    });
    let changes = move || (act.version().get(), created.get(), tick.get());
    let endpoints = Resource::new(changes, |_| list_webhooks());
    let shown_notice = move || {
        notice.get().map(|n| {
            let role = if n.ok { "status" } else { "alert" };
            view! {
                <p class=if n.ok { "notice" } else { "error" } data-ok=n.ok.to_string() role=role
                    data-testid="webhook-notice">{n.message}</p>
            }
        })
    };
    view! {
        <h1>"Webhooks"</h1>
        <p class="muted">
            "Lifeline POSTs events to these URLs, signed per Standard Webhooks (the "
            <code>"webhook-id"</code> ", " <code>"webhook-timestamp"</code> " and "
            <code>"webhook-signature"</code> " headers), and keeps every event in its database "
            "until the receiver answers 2xx: a receiver that is down gets it later, for about a "
            "day. A receiver that answers 410 Gone, or fails for a whole day, is paused."
        </p>
        <AddWebhook created/>
        {shown_notice}
        <Transition fallback=|| view! { <p class="muted">"Loading endpoints…"</p> }>
            {move || Suspend::new(async move {
                match endpoints.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="muted" data-testid="no-webhooks">"No endpoints yet."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <PausedNotice list=list.clone()/>
                        <EndpointTable list act selected confirming/>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
        {move || selected.get().map(|(id, url)| view! { <DeliveryLog id url act tick/> })}
    }
    .into_any()
}

/// Endpoints Lifeline paused by itself, and why: nothing reaches them until resumed.
#[component]
fn PausedNotice(list: Vec<WebhookView>) -> impl IntoView {
    let paused: Vec<WebhookView> =
        list.into_iter().filter(|w| !w.enabled && w.paused_reason.is_some()).collect();
    (!paused.is_empty()).then(|| {
        view! {
            // No live region: the list is drawn anew on every refresh, and a screen reader
            // would read it out each time.
            <div class="error" data-testid="paused-webhooks">
                <p>"Lifeline paused these endpoints; their events wait until you resume them:"</p>
                <ul>
                    {paused.into_iter().map(|w| view! {
                        <li><code>{w.url}</code> ": " {w.paused_reason.unwrap_or_default()}</li>
                    }).collect_view()}
                </ul>
            </div>
        }
    })
}

#[component]
fn AddWebhook(created: RwSignal<u32>) -> impl IntoView {
    let status = use_status();
    let url = RwSignal::new(String::new());
    let events = RwSignal::new(DEFAULT_EVENTS.to_vec());
    let only = RwSignal::new(Vec::<String>::new());
    let create = Action::new(|request: &NewWebhook| create_webhook(request.clone()));
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            url.set(String::new());
            only.set(Vec::new());
            created.update(|n| *n += 1);
        }
    });
    let submit = move |e: leptos::ev::SubmitEvent| {
        e.prevent_default();
        let sessions = Some(only.get_untracked()).filter(|s| !s.is_empty());
        create.dispatch(NewWebhook {
            url: url.get_untracked(),
            events: events.get_untracked(),
            sessions,
        });
    };
    let outcome = move || {
        create.value().get().map(|result| match result {
            Ok(w) => view! {
                <div class="new-key" role="status" data-testid="new-webhook">
                    <p>
                        "Added " <code>{w.endpoint.url}</code> ". Copy its signing secret now: "
                        "it is not shown again. Receivers verify each delivery with it."
                    </p>
                    <code data-testid="webhook-secret">{w.secret}</code>
                </div>
            }
            .into_any(),
            Err(e) => view! { <p class="error" role="alert" data-testid="new-webhook">{e.to_string()}</p> }.into_any(),
        })
    };
    // Only ids and names: the boxes are not drawn anew (losing focus) on every status change.
    let known = Memo::new(move |_| {
        status.sessions.with(|list| {
            list.iter().flatten().map(|s| (s.id.clone(), s.name.clone())).collect::<Vec<_>>()
        })
    });
    let session_choices =
        move || {
            known.get().into_iter().map(|(id, name)| {
            let checked = {
                let id = id.clone();
                move || only.with(|l| l.contains(&id))
            };
            view! {
                <label class="check">
                    <input type="checkbox" prop:checked=checked
                        on:change=move |e| toggle(only, id.clone(), event_target_checked(&e))/>
                    {name}
                </label>
            }
        }).collect_view()
        };
    view! {
        <section aria-labelledby="add-webhook">
            <h2 id="add-webhook">"Add an endpoint"</h2>
            <form class="stacked-form" on:submit=submit data-testid="add-webhook">
                <label>"URL"
                    <input name="url" type="url" required placeholder="https://example.com/lifeline"
                        prop:value=move || url.get() on:input=move |e| url.set(event_target_value(&e))/>
                </label>
                <fieldset>
                    <legend>"Events"</legend>
                    {EventType::ALL.iter().map(|&t| view! {
                        <label class="check">
                            <input type="checkbox" value=t.as_str()
                                prop:checked=move || events.with(|l| l.contains(&t))
                                on:change=move |e| toggle(events, t, event_target_checked(&e))/>
                            <code>{t.as_str()}</code> " — " {t.describe()}
                        </label>
                    }).collect_view()}
                </fieldset>
                <fieldset>
                    <legend>"Sessions"</legend>
                    <p class="muted">"None ticked: every session, also those added later."</p>
                    {session_choices}
                </fieldset>
                <button type="submit" class="button" disabled=move || create.pending().get()>"Add endpoint"</button>
            </form>
            {outcome}
        </section>
    }
}

#[component]
fn EndpointTable(
    list: Vec<WebhookView>,
    act: Act,
    selected: RwSignal<Option<(String, String)>>,
    confirming: RwSignal<Option<String>>,
) -> impl IntoView {
    let status = use_status();
    view! {
        <section aria-labelledby="webhook-endpoints">
            <h2 id="webhook-endpoints">"Endpoints"</h2>
            <table class="webhooks" data-testid="webhooks">
                <TableHead columns=&["URL", "Events", "Sessions", "State", "Added"]/>
                <tbody>
                    {list.into_iter().map(|w| {
                        let sessions = match &w.sessions {
                            None => "all".to_owned(),
                            Some(ids) => status.sessions.with_untracked(|known| {
                                let known = known.as_deref().unwrap_or_default();
                                ids.iter().map(|id| session_label(known, id)).collect::<Vec<_>>().join(", ")
                            }),
                        };
                        let state = match (w.enabled, &w.paused_reason) {
                            (true, _) => "active".to_owned(),
                            (false, Some(reason)) => format!("paused by Lifeline: {reason}"),
                            (false, None) => "paused".to_owned(),
                        };
                        let (id, url, enabled) = (w.id.clone(), w.url.clone(), w.enabled);
                        let (toggle_label, toggle_to) = if enabled { ("Pause", false) } else { ("Resume", true) };
                        let op = {
                            let (id, url) = (id.clone(), url.clone());
                            move |op: Op| { act.dispatch((id.clone(), url.clone(), op)); }
                        };
                        let op2 = op.clone();
                        let show = (id.clone(), url.clone());
                        let delete_label = format!("Delete {url}");
                        let (confirm_id, ask_id) = (id.clone(), id.clone());
                        let asking = move || confirming.get().as_deref() == Some(confirm_id.as_str());
                        view! {
                            <tr data-webhook=w.url.clone() data-enabled=enabled.to_string()>
                                <td><code>{w.url.clone()}</code></td>
                                <td>{w.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")}</td>
                                <td>{sessions}</td>
                                <td data-testid="webhook-state">{state}</td>
                                <td>{stamp(Some(w.created_at))}</td>
                                <td class="actions">
                                    <button type="button" on:click=move |_| selected.set(Some(show.clone()))
                                        aria-label=format!("Deliveries of {url}")>"Deliveries"</button>
                                    <button type="button" on:click=move |_| op(Op::Enable(toggle_to))
                                        aria-label=format!("{toggle_label} {url}")>{toggle_label}</button>
                                    <Show when=asking fallback=move || {
                                        let ask_id = ask_id.clone();
                                        view! {
                                            <button type="button" on:click=move |_| confirming.set(Some(ask_id.clone()))
                                                aria-label=delete_label.clone()>"Delete"</button>
                                        }
                                    }>
                                        <span class="confirm">
                                            "Delete it and its undelivered events? "
                                            <button type="button" class="danger" on:click={
                                                let op = op2.clone();
                                                let id = id.clone();
                                                move |_| {
                                                    confirming.set(None);
                                                    // The log of a deleted endpoint has nothing left to show.
                                                    selected.update(|s| if s.as_ref().is_some_and(|(shown, _)| *shown == id) { *s = None });
                                                    op(Op::Delete);
                                                }
                                            }>"Delete"</button>
                                            <button type="button" on:click=move |_| confirming.set(None)>"Keep"</button>
                                        </span>
                                    </Show>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// The newest deliveries to endpoint `id`, with what each attempt got back.
#[component]
fn DeliveryLog(id: String, url: String, act: Act, tick: RwSignal<u32>) -> impl IntoView {
    let status = use_status();
    let window = RwSignal::new(REDELIVER_WINDOWS[1].1);
    let log_id = id.clone();
    let deliveries = Resource::new(
        move || (log_id.clone(), act.version().get(), tick.get()),
        |(id, _, _)| webhook_deliveries(id),
    );
    let redeliver_failed = {
        let (id, url) = (id.clone(), url.clone());
        move |e: leptos::ev::SubmitEvent| {
            e.prevent_default();
            let since = Utc::now() - TimeDelta::hours(window.get_untracked());
            act.dispatch((id.clone(), url.clone(), Op::Redeliver(Redeliver::FailedSince(since))));
        }
    };
    view! {
        <section aria-labelledby="delivery-log" data-testid="delivery-log">
            <h2 id="delivery-log">"Deliveries to " <code>{url.clone()}</code></h2>
            <form class="inline-form" on:submit=redeliver_failed data-testid="redeliver-failed">
                <label>"Deliver again what failed in the last"
                    <select on:change=move |e| {
                        if let Ok(hours) = event_target_value(&e).parse() { window.set(hours); }
                    }>
                        {REDELIVER_WINDOWS.iter().map(|&(label, hours)| view! {
                            <option value=hours.to_string() selected=hours == window.get_untracked()>{label}</option>
                        }).collect_view()}
                    </select>
                </label>
                <button type="submit">"Deliver again"</button>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading deliveries…"</p> }>
                {move || {
                    let (id, url) = (id.clone(), url.clone());
                    Suspend::new(async move {
                        match deliveries.await {
                            Ok(list) if list.is_empty() => view! {
                                <p class="muted">"Nothing delivered to this endpoint yet."</p>
                            }.into_any(),
                            Ok(list) => {
                                let known = status.sessions.get_untracked().unwrap_or_default();
                                view! { <DeliveryTable list known id url act/> }.into_any()
                            }
                            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn DeliveryTable(
    list: Vec<DeliveryView>,
    known: Vec<SessionView>,
    id: String,
    url: String,
    act: Act,
) -> impl IntoView {
    view! {
        <table class="deliveries" data-testid="deliveries">
            <TableHead columns=&["Event", "Session", "State", "Attempts", "Last answer", "Took", "Next attempt", "Response"]/>
            <tbody>
                {list.into_iter().map(|d| {
                    let answer = match (d.last_status, &d.last_error) {
                        (Some(code), _) => code.to_string(),
                        (None, Some(error)) => error.clone(),
                        (None, None) => "—".to_owned(),
                    };
                    let session = d.session_id.as_deref().map(|s| session_label(&known, s)).unwrap_or_default();
                    let (endpoint, url, event_id) = (id.clone(), url.clone(), d.event_id.clone());
                    let again = d.state != DeliveryState::Pending;
                    view! {
                        <tr data-event=d.event_id.clone() data-state=d.state.as_str()>
                            <td>
                                <code>{d.event_type.as_str()}</code>
                                <div class="muted">{clock(d.created_at)} " · " <code>{d.event_id.clone()}</code></div>
                            </td>
                            <td>{session}</td>
                            <td>{d.state.as_str()}</td>
                            <td>{d.attempts}</td>
                            <td>{answer}</td>
                            <td>{d.last_latency_ms.map(|ms| format!("{ms} ms"))}</td>
                            <td>{d.next_attempt_at.map(|t| stamp(Some(t)))}</td>
                            <td><code class="response">{d.last_response.clone()}</code></td>
                            <td class="actions">
                                {again.then(|| view! {
                                    <button type="button" aria-label=format!("Deliver {} again", d.event_id)
                                        on:click=move |_| {
                                            let request = Redeliver::EventId(event_id.clone());
                                            act.dispatch((endpoint.clone(), url.clone(), Op::Redeliver(request)));
                                        }>"Deliver again"</button>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_show_by_name_when_known() {
        let known =
            vec![SessionView::new("s1".into(), "Support".into(), "simulator".into(), Utc::now())];
        assert_eq!(session_label(&known, "s1"), "Support");
        assert_eq!(session_label(&known, "gone"), "gone");
    }
}
