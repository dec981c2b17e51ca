//! One session: its state now, a chart of the last 24 h with connection attempts marked,
//! and the list of changes.

use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    components::format::{clock, stamp},
    functions::{MoveSessionTo, get_session_history, list_instances},
    model::{
        SessionStatus,
        history::{SessionHistory, Timeline},
    },
    status::{mask_phone, use_status},
};

/// `/dashboard/sessions/:id`.
#[component]
pub fn SessionDetailPage() -> impl IntoView {
    let params = use_params_map();
    let status = use_status();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    // Read again whenever the session's row changes on the event channel.
    let changed = move || {
        let id = id();
        status
            .sessions
            .with(|l| l.iter().flatten().find(|s| s.id == id).map(|s| (s.status, s.updated_at)))
    };
    let history = Resource::new(move || (id(), changed()), |(id, _)| get_session_history(id));
    view! {
        <p><A href="/dashboard/sessions">"← Sessions"</A></p>
        <Transition fallback=|| view! { <p class="muted">"Loading history…"</p> }>
            {move || Suspend::new(async move {
                match history.await {
                    Ok(h) => view! { <Detail history=h/> }.into_any(),
                    Err(e) => view! {
                        <h1>"Session"</h1>
                        <p class="error" role="alert">{e.to_string()}</p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Detail(history: SessionHistory) -> impl IntoView {
    let timeline = history.timeline();
    let s = &history.session;
    view! {
        <h1>{s.name.clone()}</h1>
        <dl class="facts" data-testid="session-facts">
            <dt>"State"</dt><dd data-state=s.status.as_str()>{s.status.label()} {s.reason.map(|r| format!(" ({})", r.label()))}</dd>
            <dt>"Phone"</dt><dd>{s.phone_number.as_deref().map_or_else(|| "not linked".to_owned(), mask_phone)}</dd>
            <dt>"Connector"</dt><dd>{s.connector.clone()}</dd>
            <dt>"Last connected"</dt><dd>{stamp(s.last_connected_at)}</dd>
            <dt>"Last message"</dt><dd>{stamp(s.last_message_at)}</dd>
            {s.held_by.clone().map(|h| view! { <dt>"Held by"</dt><dd data-testid="held-by">{h}</dd> })}
            {s.last_error.clone().map(|e| view! { <dt>"Last error"</dt><dd class="error">{e}</dd> })}
        </dl>
        {s.held_by.clone().map(|holder| view! { <MoveForm id=s.id.clone() holder/> })}
        <section aria-labelledby="timeline">
            <h2 id="timeline">"Last 24 hours"</h2>
            <Chart timeline=timeline.clone()/>
        </section>
        <section aria-labelledby="recoveries">
            <h2 id="recoveries">"Recoveries"</h2>
            <p class="muted" data-testid="recovery-budget">
                {format!("The watchdog may recover this session on its own {} more time{} this hour; a person always may.",
                    history.recovery_budget_left, if history.recovery_budget_left == 1 { "" } else { "s" })}
            </p>
            <EventTable
                testid="session-recoveries"
                columns=&["When", "Why", "Action", "Outcome", "Error"]
                empty="No recoveries in the last 24 hours."
                rows=history.recoveries.iter().rev().map(|r| view! {
                    <tr data-outcome=r.outcome.as_str()>
                        <td>{clock(r.at)}</td>
                        <td>{r.trigger.label()}</td>
                        <td>{r.action.as_str()}</td>
                        <td>{r.outcome.as_str().replace('_', " ")}</td>
                        <td>{r.error.clone()}</td>
                    </tr>
                }.into_any()).collect()
            />
        </section>
        <section aria-labelledby="events">
            <h2 id="events">"Changes"</h2>
            <EventTable
                testid="session-events"
                columns=&["When", "From", "To", "Reason", "What happened"]
                empty="No changes in the last 24 hours."
                rows=history.changes.iter().zip(history.attempts()).rev().map(|(c, attempt)| view! {
                    <tr data-attempt=attempt.to_string()>
                        <td>{clock(c.at)}</td>
                        <td>{c.from.label()}</td>
                        <td>{c.to.label()}</td>
                        <td>{c.reason.map(|r| r.label())}</td>
                        <td>{c.detail.clone()}</td>
                    </tr>
                }.into_any()).collect()
            />
        </section>
    }
    .into_any()
}

/// Past events as a table, newest first (`rows` in that order), or a line saying there
/// were none.
#[component]
fn EventTable(
    testid: &'static str,
    columns: &'static [&'static str],
    empty: &'static str,
    rows: Vec<AnyView>,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="muted">{empty}</p> }.into_any();
    }
    view! {
        <table class="events" data-testid=testid>
            <thead><tr>
                {columns.iter().map(|c| view! { <th scope="col">{*c}</th> }).collect_view()}
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// The chart's drawing width, in SVG units.
const WIDTH: f64 = 1000.0;

/// A bar per stretch of state, coloured and named, with a tick per connection attempt.
#[component]
fn Chart(timeline: Timeline) -> impl IntoView {
    let attempts = timeline.attempts.len();
    let share = (timeline.connected_share * 100.0).round();
    let summary = format!(
        "Connected {share}% of the time on record in the last 24 hours; {attempts} connection attempt{}.",
        if attempts == 1 { "" } else { "s" }
    );
    view! {
        <figure class="timeline" data-testid="status-chart">
            <svg viewBox="0 0 1000 56" preserveAspectRatio="none" role="img" aria-label=summary.clone()>
                {timeline.spans.iter().map(|span| {
                    let class = span.status.map_or("span-unknown", |s| match s {
                        SessionStatus::Connected => "span-connected",
                        SessionStatus::Connecting | SessionStatus::Reconnecting => "span-connecting",
                        SessionStatus::QrPending => "span-pairing",
                        SessionStatus::Disconnected | SessionStatus::LoggedOut => "span-down",
                    });
                    let label = span.status.map_or("unknown", |s| s.label());
                    view! {
                        <rect class=class x=span.start * WIDTH y="16" height="40"
                            width=((span.end - span.start) * WIDTH).max(1.0)>
                            <title>{label}</title>
                        </rect>
                    }
                }).collect_view()}
                {timeline.attempts.iter().map(|x| view! {
                    <path class="attempt" data-testid="attempt-mark"
                        d=format!("M{:.1} 0 L{:.1} 12 L{:.1} 0 Z", x * WIDTH - 5.0, x * WIDTH, x * WIDTH + 5.0)/>
                }).collect_view()}
                {timeline.recoveries.iter().map(|x| view! {
                    <circle class="recovery" data-testid="recovery-mark" cx=x * WIDTH cy="6" r="5"/>
                }).collect_view()}
            </svg>
            <div class="axis" aria-hidden="true"><span>"24 h ago"</span><span>"12 h ago"</span><span>"now"</span></div>
            <figcaption>
                {summary}
                <span class="legend">
                    <span class="key span-connected">"Connected"</span>
                    <span class="key span-connecting">"Connecting"</span>
                    <span class="key span-pairing">"Pairing"</span>
                    <span class="key span-down">"Down"</span>
                    <span class="key attempt">"▼ attempt"</span>
                    <span class="key recovery">"● recovery"</span>
                </span>
            </figcaption>
        </figure>
    }
    .into_any()
}

/// Moving the session to another instance sharing the database (shown only there).
#[component]
fn MoveForm(id: String, holder: String) -> impl IntoView {
    let instances = Resource::new(|| (), |_| list_instances());
    let act = ServerAction::<MoveSessionTo>::new();
    let outcome = move || {
        act.value().get().map(|result| match result {
            Ok(()) => view! {
                <p class="notice" data-ok="true" role="status" data-testid="move-outcome">
                    "Asked to move: its holder hands it over at its next lease renewal."
                </p>
            }
            .into_any(),
            Err(e) => view! {
                <p class="error" role="alert" data-testid="move-outcome">{e.to_string()}</p>
            }
            .into_any(),
        })
    };
    view! {
        <Transition fallback=|| ()>
            {move || {
                let (id, holder) = (id.clone(), holder.clone());
                Suspend::new(async move {
                    let others: Vec<String> = instances
                        .await
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|i| i.name != holder && !i.draining)
                        .map(|i| i.name)
                        .collect();
                    (!others.is_empty()).then(|| view! {
                        <ActionForm action=act attr:class="inline-form" attr:data-testid="move-session">
                            <input type="hidden" name="id" value=id/>
                            <label>"Move to instance"
                                <select name="instance">
                                    {others.into_iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                                </select>
                            </label>
                            <button type="submit" class="button" disabled=move || act.pending().get()>"Move"</button>
                        </ActionForm>
                    })
                })
            }}
        </Transition>
        {outcome}
    }
}
