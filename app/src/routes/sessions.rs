//! The Sessions page: every session live from the event channel, pairing by QR, and the
//! operator's actions on each.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::{
    components::{
        QrImage,
        format::{self, stamp},
    },
    functions::{
        create_session, delete_session, list_connectors, list_sessions, logout_session,
        reconnect_session, send_message, set_auto_connect, start_session, stop_session,
    },
    model::{Desired, SessionStatus, SessionView},
    status::{StatusState, mask_phone, use_status},
};

/// What the page says about the last action.
#[derive(Clone, Debug, PartialEq)]
struct Notice {
    ok: bool,
    message: String,
}

/// An operator action on one session.
#[derive(Clone, Debug, PartialEq)]
enum Op {
    Reconnect,
    Start,
    Stop,
    AutoConnect(bool),
    Logout,
    Delete,
    Send { to: String, text: String },
}

/// Lists the sessions (first from the database, then live from `/ws`), pairs new ones by QR
/// and acts on each.
#[component]
pub fn SessionsPage() -> impl IntoView {
    let status = use_status();
    let initial = Resource::new(|| (), |_| list_sessions());
    let notice = RwSignal::new(None::<Notice>);
    let focus = RwSignal::new(None::<String>);
    let act = Action::new(move |(id, name, op): &(String, String, Op)| {
        run(id.clone(), name.clone(), op.clone())
    });
    Effect::new(move |_| {
        if let Some(outcome) = act.value().get() {
            notice.set(Some(outcome));
        }
    });
    view! {
        <h1>"Sessions"</h1>
        <AddSession focus notice/>
        <Pairing focus/>
        {move || notice.get().map(|n| view! {
            <p class="notice" data-ok=n.ok.to_string() data-testid="session-notice"
               role=if n.ok { "status" } else { "alert" }>{n.message}</p>
        })}
        <Transition fallback=|| view! { <p class="muted">"Loading sessions…"</p> }>
            {move || Suspend::new(async move {
                match initial.await {
                    Ok(list) => view! { <SessionTable initial=list status act/> }.into_any(),
                    Err(e) => view! {
                        <p class="error" role="alert">"Could not load sessions: " {e.to_string()}</p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

type Act = Action<(String, String, Op), Notice>;

async fn run(id: String, name: String, op: Op) -> Notice {
    let done = |what: &str| Ok((true, format!("{name}: {what}.")));
    let result = match op {
        Op::Reconnect => {
            reconnect_session(id).await.map(|r| (r.success, format!("{name}: {}", r.message)))
        }
        Op::Start => start_session(id).await.and_then(|_| done("started")),
        Op::Stop => stop_session(id).await.and_then(|_| done("stopped")),
        Op::AutoConnect(on) => set_auto_connect(id, on)
            .await
            .and_then(|_| done(if on { "connects on its own" } else { "waits for a person" })),
        Op::Logout => logout_session(id).await.and_then(|_| done("logged out")),
        Op::Delete => delete_session(id).await.and_then(|_| done("deleted")),
        Op::Send { to, text } => send_message(id, to.clone(), text)
            .await
            .map(|sent| (true, format!("{name}: test message sent to {to} (id {}).", sent.id))),
    };
    match result {
        Ok((ok, message)) => Notice { ok, message },
        Err(e) => Notice { ok: false, message: format!("{name}: {e}") },
    }
}

#[component]
fn AddSession(focus: RwSignal<Option<String>>, notice: RwSignal<Option<Notice>>) -> impl IntoView {
    let connectors = Resource::new(|| (), |_| list_connectors());
    let name = RwSignal::new(String::new());
    let connector = RwSignal::new(String::new());
    let phone = RwSignal::new(String::new());
    let create = Action::new(move |(name, connector, phone): &(String, String, String)| {
        let phone = Some(phone.trim().to_owned()).filter(|p| !p.is_empty());
        create_session(name.clone(), connector.clone(), phone)
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(session)) => {
            focus.set(Some(session.id.clone()));
            name.set(String::new());
            let how = if phone.get_untracked().trim().is_empty() {
                "scan its QR code with WhatsApp"
            } else {
                "scan its QR code, or enter the pairing code on the phone"
            };
            phone.set(String::new());
            notice.set(Some(Notice {
                ok: true,
                message: format!("{}: created; {how}.", session.name),
            }));
        }
        Some(Err(e)) => notice.set(Some(Notice { ok: false, message: e.to_string() })),
        None => {}
    });
    let submit = move |e: leptos::ev::SubmitEvent| {
        e.prevent_default();
        create.dispatch((name.get_untracked(), connector.get_untracked(), phone.get_untracked()));
    };
    view! {
        <section aria-labelledby="add-session">
            <h2 id="add-session">"Add session"</h2>
            <form class="inline-form" on:submit=submit data-testid="add-session">
                <label>"Name"
                    <input name="name" required maxlength="100" placeholder="e.g. Support line"
                        prop:value=move || name.get()
                        on:input=move |e| name.set(event_target_value(&e))/>
                </label>
                <label>"Connector"
                    <Transition fallback=|| view! { <select disabled=true><option>"…"</option></select> }>
                        {move || Suspend::new(async move {
                            let list = connectors.await.unwrap_or_default();
                            if connector.get_untracked().is_empty() && let Some(first) = list.first() {
                                connector.set(first.clone());
                            }
                            view! {
                                <select name="connector" on:change=move |e| connector.set(event_target_value(&e))>
                                    {list.into_iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
                                </select>
                            }
                        })}
                    </Transition>
                </label>
                <label>"Phone (optional)"
                    <input name="pair_phone" type="tel" placeholder="+27 82 123 4567"
                        title="To link by a code typed on the phone instead of scanning"
                        prop:value=move || phone.get()
                        on:input=move |e| phone.set(event_target_value(&e))/>
                </label>
                <button type="submit" class="button" disabled=move || create.pending().get()>"Add session"</button>
            </form>
        </section>
    }
    .into_any()
}

/// A QR code for every session waiting for a scan, replaced live as codes rotate; the
/// session just added stays here until it is paired.
#[component]
fn Pairing(focus: RwSignal<Option<String>>) -> impl IntoView {
    let status = use_status();
    let shown = Memo::new(move |_| {
        let focus = focus.get();
        status.sessions.with(|list| {
            list.iter()
                .flatten()
                .filter(|s| s.status == SessionStatus::QrPending || Some(&s.id) == focus.as_ref())
                .map(|s| s.id.clone())
                .collect::<Vec<_>>()
        })
    });
    view! {
        <Show when=move || !shown.with(Vec::is_empty)>
            <section aria-labelledby="pairing" class="pairing" data-testid="pairing">
                <h2 id="pairing">"Pairing"</h2>
                <p class="muted">"On the phone: WhatsApp → Settings → Linked devices → Link a device, then scan."</p>
                <For each=move || shown.get() key=|id| id.clone() let:id>
                    <PairingCard id status/>
                </For>
            </section>
        </Show>
    }
    .into_any()
}

#[component]
fn PairingCard(id: String, status: StatusState) -> impl IntoView {
    let key = id.clone();
    let session = Memo::new(move |_| {
        status.sessions.with(|l| l.iter().flatten().find(|s| s.id == key).cloned())
    });
    let key = id.clone();
    let code = Memo::new(move |_| status.qr.with(|q| q.get(&key).cloned()));
    let key = id.clone();
    let pair_code = Memo::new(move |_| status.pair_codes.with(|c| c.get(&key).cloned()));
    view! {
        {move || session.get().map(|s| {
            let name = s.name.clone();
            let body = match s.status {
                SessionStatus::Connected => view! {
                    <p class="paired" role="status">
                        "✓ " {s.name.clone()} " is connected as "
                        {s.phone_number.as_deref().map(mask_phone).unwrap_or_default()}
                    </p>
                }.into_any(),
                SessionStatus::QrPending => match code.get() {
                    Some(qr) => view! {
                        <QrImage payload=Signal::derive(move || code.get().map(|c| c.code).unwrap_or_default())
                            label=format!("QR code to link {name}")/>
                        <p class="muted">"This code changes every few seconds; it expires at " {format::clock(qr.expires_at)} "."</p>
                    }.into_any(),
                    None => view! { <p class="muted">"Waiting for a QR code…"</p> }.into_any(),
                },
                other => view! {
                    <p>{other.label()} {s.reason.map(|r| format!(" ({})", r.label()))}</p>
                }.into_any(),
            };
            let typed = (s.status == SessionStatus::QrPending).then(|| pair_code.get()).flatten().map(|c| {
                // Shown as WhatsApp shows it: two groups of four.
                let shown = if c.code.len() == 8 { format!("{}-{}", &c.code[..4], &c.code[4..]) } else { c.code.clone() };
                view! {
                    <p class="pair-code">"Or on the phone: Link with phone number instead, then enter "
                        <strong data-testid="pair-code">{shown}</strong>
                        <span class="muted">" (until " {format::clock(c.expires_at)} ")"</span>
                    </p>
                }
            });
            // A problem the person at the phone can act on while pairing goes on.
            let problem = (s.status == SessionStatus::QrPending).then(|| s.last_error.clone()).flatten().map(|e| {
                view! { <p class="pairing-problem" role="alert" data-testid="pairing-problem">{e}</p> }
            });
            view! {
                <div class="pairing-card" data-testid="pairing-card" data-state=s.status.as_str()>
                    <h3>{s.name.clone()}</h3>
                    {body}
                    {typed}
                    {problem}
                </div>
            }
            .into_any()
        })}
    }
}

#[component]
fn SessionTable(initial: Vec<SessionView>, status: StatusState, act: Act) -> impl IntoView {
    // Live once the event channel has delivered its snapshot; until then what the page
    // was rendered with.
    let rows = Memo::new(move |_| status.sessions.get().unwrap_or_else(|| initial.clone()));
    let ids = move || rows.with(|r| r.iter().map(|s| s.id.clone()).collect::<Vec<_>>());
    view! {
        <Show when=move || !rows.with(Vec::is_empty) fallback=|| view! {
            <div class="empty" data-testid="sessions-empty">
                <p>"No sessions yet."</p>
                <p class="muted">"A session links one WhatsApp number to Lifeline. Add one above and scan its QR code."</p>
            </div>
        }>
            <table class="sessions" data-testid="sessions-table">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Phone"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Reason"</th>
                        <th scope="col">"Attempt"</th>
                        <th scope="col">"Next retry"</th>
                        <th scope="col">"Last connected"</th>
                        <th scope="col">"Auto-connect"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=ids key=|id| id.clone() let:id>
                        <SessionRow id rows act/>
                    </For>
                </tbody>
            </table>
        </Show>
    }
    .into_any()
}

#[component]
fn SessionRow(id: String, rows: Memo<Vec<SessionView>>, act: Act) -> impl IntoView {
    let status = use_status();
    let key = id.clone();
    let session = Memo::new(move |_| rows.with(|r| r.iter().find(|s| s.id == key).cloned()));
    let confirming = RwSignal::new(None::<Op>);
    let sending = RwSignal::new(false);
    let to = RwSignal::new(String::new());
    let text = RwSignal::new("Lifeline test message".to_owned());
    let dispatch = move |op: Op| {
        if let Some(s) = session.get_untracked() {
            act.dispatch((s.id, s.name, op));
        }
    };
    move || {
        session.get().map(|s| {
            let name = s.name.clone();
            let live = matches!(s.status, SessionStatus::Connecting | SessionStatus::Reconnecting);
            let attempt = (s.attempt > 0 && live).then(|| s.attempt.to_string());
            let running = s.desired == Desired::Running;
            let can_reconnect = s.paired && s.status != SessionStatus::LoggedOut;
            let auto = s.auto_connect;
            let detail_href = format!("/dashboard/sessions/{}", s.id);
            let link_text = s.name.clone();
            let recovery = status.recoveries.with(|r| r.get(&s.id).cloned());
            view! {
                <tr data-state=s.status.as_str() data-testid="session-row" data-name=s.name.clone()>
                    <td><A href=detail_href>{link_text}</A>
                        {s.held_by.clone().map(|i| view! {
                            <span class="muted small held-by" data-testid="held-by" title="The Lifeline instance holding this session">{format!("on {i}")}</span>
                        })}
                    </td>
                    <td>{s.phone_number.as_deref().map(mask_phone)}</td>
                    <td data-testid="session-state">{s.status.label()}</td>
                    <td>{s.reason.map(|r| r.label())} {s.last_error.clone().map(|e| view! { <span class="muted small">{format!(" — {e}")}</span> })}
                        {(!live).then(|| s.reason.and_then(|r| r.advice())).flatten().map(|a| view! {
                            <span class="small advice" data-testid="session-advice">{format!(" What to do: {a}.")}</span>
                        })}
                        {recovery.map(|r| view! {
                            <span class="small recovery" data-testid="last-recovery">
                                {format!(" Recovery ({}): {}; {} automatic left this hour.",
                                    r.trigger.label(), r.outcome.as_str().replace('_', " "), r.budget_left)}
                            </span>
                        })}
                    </td>
                    <td>{attempt}</td>
                    <td>{s.next_retry_at.map(|t| stamp(Some(t)))}</td>
                    <td>{stamp(s.last_connected_at)}</td>
                    <td>
                        <label class="toggle">
                            <input type="checkbox" prop:checked=auto
                                aria-label=format!("Connect {name} without a person")
                                on:change=move |_| dispatch(Op::AutoConnect(!auto))/>
                            {if auto { "on" } else { "off" }}
                        </label>
                    </td>
                    <td class="actions">
                        {can_reconnect.then(|| view! {
                            <button type="button" on:click=move |_| dispatch(Op::Reconnect)>"Reconnect"</button>
                        })}
                        {if running {
                            view! { <button type="button" on:click=move |_| dispatch(Op::Stop)>"Stop"</button> }.into_any()
                        } else {
                            view! { <button type="button" on:click=move |_| dispatch(Op::Start)>"Start"</button> }.into_any()
                        }}
                        {(s.status == SessionStatus::LoggedOut).then(|| view! {
                            <button type="button" on:click=move |_| dispatch(Op::Start)>"Pair again"</button>
                        })}
                        {(s.status == SessionStatus::Connected).then(|| view! {
                            <button type="button" on:click=move |_| sending.update(|o| *o = !*o)
                                aria-expanded=move || sending.get().to_string()>"Send test"</button>
                        })}
                        {s.paired.then(|| view! {
                            <button type="button" on:click=move |_| confirming.set(Some(Op::Logout))>"Log out"</button>
                        })}
                        <button type="button" class="danger" on:click=move |_| confirming.set(Some(Op::Delete))>"Delete"</button>
                        {move || confirming.get().map(|op| {
                            let question = match op {
                                Op::Delete => format!("Delete {}? Its history goes too; this cannot be undone.", session.with_untracked(|s| s.as_ref().map(|s| s.name.clone()).unwrap_or_default())),
                                _ => format!("Log {} out? Only a new QR scan links it again.", session.with_untracked(|s| s.as_ref().map(|s| s.name.clone()).unwrap_or_default())),
                            };
                            let confirm_op = op.clone();
                            view! {
                                <div class="confirm" role="alertdialog" aria-label="Confirm" data-testid="confirm">
                                    <p>{question}</p>
                                    <button type="button" class="danger" on:click=move |_| {
                                        confirming.set(None);
                                        dispatch(confirm_op.clone());
                                    }>{if op == Op::Delete { "Yes, delete" } else { "Yes, log out" }}</button>
                                    <button type="button" on:click=move |_| confirming.set(None)>"Cancel"</button>
                                </div>
                            }
                        })}
                        {move || sending.get().then(|| view! {
                            <form class="send-test" data-testid="send-test" on:submit=move |e: leptos::ev::SubmitEvent| {
                                e.prevent_default();
                                sending.set(false);
                                dispatch(Op::Send { to: to.get_untracked(), text: text.get_untracked() });
                            }>
                                <label>"To" <input required placeholder="+27821234567" prop:value=move || to.get()
                                    on:input=move |e| to.set(event_target_value(&e))/></label>
                                <label>"Text" <input required prop:value=move || text.get()
                                    on:input=move |e| text.set(event_target_value(&e))/></label>
                                <button type="submit">"Send"</button>
                            </form>
                        })}
                    </td>
                </tr>
            }
            // Erased: a row's full type is deep enough to exhaust the compiler's limits.
            .into_any()
        })
    }
}
