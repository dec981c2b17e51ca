//! The Instances page: the Lifeline instances sharing one database, how many sessions each
//! holds and when each was last heard from, and draining one before maintenance.

use std::time::Duration;

use leptos::prelude::*;

use crate::{
    components::{
        TableHead,
        format::{clock, stamp},
        ticks_while_visible,
    },
    functions::{DrainInstance, list_instances},
    model::instances::InstanceView,
    status::use_status,
};

/// How often the list is read again while the page is shown: heartbeats come every few
/// seconds, and a dead instance shows by its heartbeat falling behind.
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// `/dashboard/instances`.
#[component]
pub fn InstancesPage() -> impl IntoView {
    let status = use_status();
    let drain = ServerAction::<DrainInstance>::new();
    let tick = ticks_while_visible(REFRESH_EVERY);
    // Who holds which session changes on the event channel: the counts follow at once.
    let holders = move || {
        status.sessions.with(|list| {
            list.iter().flatten().map(|s| s.held_by.clone()).collect::<Vec<Option<String>>>()
        })
    };
    let instances =
        Resource::new(move || (drain.version().get(), tick.get(), holders()), |_| list_instances());
    let outcome = move || {
        drain.value().get().and_then(|result| {
            result.err().map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })
        })
    };
    view! {
        <h1>"Instances"</h1>
        <p class="muted">
            "Lifeline processes sharing this database. Each session is held by one of them at a "
            "time; when one stops or dies, the others take its sessions over. Drain an instance "
            "before maintenance: it hands its sessions to the others and takes none."
        </p>
        {outcome}
        <Transition fallback=|| view! { <p class="muted">"Loading instances…"</p> }>
            {move || Suspend::new(async move {
                match instances.await {
                    Ok(list) => view! { <InstanceTable list drain/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn InstanceTable(list: Vec<InstanceView>, drain: ServerAction<DrainInstance>) -> impl IntoView {
    // With one instance there is nobody to hand sessions to.
    let alone = list.len() < 2;
    view! {
        <table class="instances" data-testid="instances">
            <TableHead columns=&["Name", "Sessions", "State", "Started", "Last heartbeat"]/>
            <tbody>
                {list.into_iter().map(|i| {
                    let (label, undo) = if i.draining {
                        ("Put back in service", false)
                    } else {
                        ("Drain", true)
                    };
                    let name = i.name.clone();
                    view! {
                        <tr data-instance=i.name.clone() data-draining=i.draining.to_string()>
                            <td>
                                {i.name.clone()}
                                {i.this.then(|| view! { <span class="muted">" (this one)"</span> })}
                            </td>
                            <td>{format!("{} of {}", i.sessions, i.capacity)}</td>
                            <td>{if i.draining { "draining" } else { "serving" }}</td>
                            <td>{stamp(Some(i.started_at))}</td>
                            <td>{clock(i.heartbeat_at)}</td>
                            <td>
                                {(!alone || i.draining).then(|| view! {
                                    <ActionForm action=drain attr:class="inline">
                                        <input type="hidden" name="name" value=name.clone()/>
                                        <input type="hidden" name="draining" value=undo.to_string()/>
                                        <button type="submit" aria-label=format!("{label}: {name}")>{label}</button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {alone.then(|| view! {
            <p class="muted">
                "One instance. Several can share a PostgreSQL database; an SQLite file is "
                "served by one Lifeline only."
            </p>
        })}
    }
}
