//! Several instances on one PostgreSQL database: each session is run by the one instance
//! holding its lease, a clean stop hands sessions over at once, and an instance that lost a
//! lease closes the link and writes nothing more about the session.

use std::time::Duration;

use app::model::SessionStatus;
use serde_json::json;
use server::{db::on_pool, supervisor::lease_clock::LeaseTiming};

use crate::helpers::{
    Backend, TestApp, TestOptions, spawn_app_with, spawn_instance, spawn_instance_with,
};

/// Short leases, so that takeovers in these tests come within a second or so.
const TTL: Duration = Duration::from_secs(3);

async fn first_instance(ttl: Duration) -> TestApp {
    spawn_app_with(TestOptions {
        backend: Backend::Postgres,
        lease_ttl: Some(ttl),
        ..TestOptions::default()
    })
    .await
}

/// Waits until the session's actor on `app` has ended (it was fenced or removed).
async fn until_not_run(app: &TestApp, id: &str) {
    let Ok(handle) = app.state.supervisor.handle(id) else { return };
    let mut view = handle.watch();
    drop(handle);
    let ended = async { while view.changed().await.is_ok() {} };
    tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .unwrap_or_else(|_| panic!("session {id} is still run by this instance"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_runs_on_one_instance_and_a_clean_stop_hands_it_over() {
    let a = first_instance(TTL).await;
    let id = a.paired_session("Shop").await;
    let b = spawn_instance(&a, "b").await;
    // b knows the session but leaves it to its holder.
    assert!(b.state.supervisor.handle(&id).is_err(), "b runs a session a holds");
    assert_eq!(b.state.supervisor.get(&id).unwrap().name, "Shop");
    let simulator_b = b.state.simulator.clone().unwrap();
    assert!(!simulator_b.has_live_link(&id));

    // A clean stop releases the lease: b takes the session over without waiting it out.
    a.stop().await;
    let view = b.until(&id, |v| v.status == SessionStatus::Connected).await;
    assert!(view.paired);
    assert!(simulator_b.has_live_link(&id));
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_taken_over_are_started_with_the_restore_spacing() {
    let a = first_instance(TTL).await;
    let first = a.paired_session("First").await;
    let second = a.paired_session("Second").await;
    // b waits an hour between two starts: only the first session taken over may connect.
    let policy = app::policy::SupervisorPolicy {
        restore_spacing: Duration::from_secs(3600),
        ..a.policy.clone()
    };
    let b = spawn_instance_with(&a, "b", policy).await;
    a.stop().await;
    b.until(&first, |v| v.status == SessionStatus::Connected).await;
    let handle = b.state.supervisor.handle(&second).expect("b did not take the second over");
    let view = handle.view();
    assert!(
        !matches!(view.status, SessionStatus::Connecting | SessionStatus::Connected),
        "started without the spacing: {view:?}"
    );
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_lease_was_granted_anew_drops_the_link_and_writes_nothing() {
    // Leases long enough that no renewal comes during the test: the refused write alone
    // must make the instance let go.
    let a = first_instance(Duration::from_secs(600)).await;
    let id = a.paired_session("Shop").await;
    a.state.supervisor.flush_journal().await;
    let db = a.db().await;
    // As if `a` had been paused past its lease: another instance was granted the session
    // and wrote its state.
    on_pool!(&db, pool => sqlx::query(
        "UPDATE session_leases SET holder = 'elsewhere', token = token + 1 WHERE session_id = $1"
    )
    .bind(&id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    on_pool!(&db, pool => sqlx::query("UPDATE sessions SET status = 'connecting' WHERE id = $1")
        .bind(&id)
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
    let history_before = server::db::sessions::events(&db, &id, 100).await.unwrap().len();

    // `a` wakes up to a dropped link and tries to record it.
    a.fault(&id, json!({"kind": "drop"})).await;
    until_not_run(&a, &id).await;
    let simulator = a.state.simulator.clone().unwrap();
    assert!(!simulator.has_live_link(&id), "the link outlived the lease");
    a.state.supervisor.flush_journal().await;
    let row = server::db::sessions::load(&db, &id).await.unwrap().unwrap();
    assert_eq!(row.view.status, SessionStatus::Connecting, "a stale holder overwrote the row");
    let history = server::db::sessions::events(&db, &id, 100).await.unwrap();
    assert_eq!(history.len(), history_before, "a stale holder wrote history: {history:#?}");
    a.stop().await;
}

/// Waits on `events` for a status of `id` that satisfies `f`.
async fn heard(
    events: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<server::events::Published>>,
    id: &str,
    f: impl Fn(&app::model::SessionView) -> bool,
) -> app::model::SessionView {
    let wait = async {
        loop {
            let published = events.recv().await.expect("the bus closed");
            if let app::model::Event::SessionStatus { session } = &published.envelope.event
                && session.id == id
                && f(session)
            {
                assert!(published.remote, "told as this instance's own");
                return session.clone();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("never heard of it")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_session_does_on_one_instance_shows_live_on_the_other() {
    let a = first_instance(TTL).await;
    let id = a.paired_session("Shop").await;
    let b = spawn_instance(&a, "b").await;
    let (mut events, _) = b.state.bus.subscribe();

    a.fault(&id, json!({"kind": "drop"})).await;
    heard(&mut events, &id, |v| v.status == SessionStatus::Reconnecting).await;
    heard(&mut events, &id, |v| v.status == SessionStatus::Connected).await;
    // The dashboard and the API on b show it as a shows it.
    let shown: serde_json::Value = b.get(&format!("/sessions/{id}")).await.json().await.unwrap();
    assert_eq!(shown["status"], "connected", "{shown}");
    let holder = a.state.supervisor.get(&id).unwrap().held_by.expect("a names itself");
    assert_eq!(shown["held_by"], holder.as_str(), "{shown}");

    // A deletion through a reaches b too.
    let r = a.client.delete(a.url(&format!("/sessions/{id}"))).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let removed = async {
        loop {
            let published = events.recv().await.unwrap();
            if let app::model::Event::SessionRemoved { session_id } = &published.envelope.event
                && *session_id == id
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), removed).await.expect("b never heard");
    assert_eq!(b.get(&format!("/sessions/{id}")).await.status(), 404);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_lost_its_notices_catches_up_from_the_database() {
    let a = first_instance(TTL).await;
    let id = a.paired_session("Shop").await;
    let b = spawn_instance(&a, "b").await;
    let (mut events, _) = b.state.bus.subscribe();
    let db = a.db().await;
    // A change no notice tells of…
    on_pool!(&db, pool => sqlx::query(
        "UPDATE sessions SET last_error = 'changed behind every notice' WHERE id = $1"
    )
    .bind(&id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    // …then the listening connections drop, as in a database restart.
    on_pool!(&db, pool => sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'"
    )
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    let caught =
        heard(&mut events, &id, |v| v.last_error.as_deref() == Some("changed behind every notice"))
            .await;
    assert_eq!(caught.name, "Shop");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_instance_acts_on_a_session_through_the_one_that_holds_it() {
    let a = first_instance(TTL).await;
    let id = a.paired_session("Shop").await;
    let b = spawn_instance(&a, "b").await;

    // A reconnect asked of b is carried out by a, and b answers with a's outcome.
    let r = b.client.post(b.url(&format!("/sessions/{id}/reconnect"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let outcome: serde_json::Value = r.json().await.unwrap();
    assert_eq!(outcome["success"], true, "{outcome}");
    assert!(b.state.supervisor.handle(&id).is_err(), "b took the session instead");

    // A message sent through b goes out on a's link.
    let r = b
        .client
        .post(b.url(&format!("/sessions/{id}/messages")))
        .json(&json!({"to": "+27820000001", "text": "through b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Stopped through b: a's session stops, and a's refusal comes back through b as is.
    let r = b.client.post(b.url(&format!("/sessions/{id}/stop"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        a.state.supervisor.handle(&id).unwrap().view().desired,
        app::model::Desired::Stopped
    );
    let r = b
        .client
        .post(b.url(&format!("/sessions/{id}/messages")))
        .json(&json!({"to": "+27820000001", "text": "refused"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let error: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error["error"], "session_stopped", "{error}");

    // Unknown everywhere: not found, as on one instance.
    assert_eq!(b.client.post(b.url("/sessions/nope/stop")).send().await.unwrap().status(), 404);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_moves_a_session_and_drains_an_instance() {
    let a = first_instance(TTL).await;
    let id = a.paired_session("Shop").await;
    let b = spawn_instance(&a, "b").await;
    let instances: Vec<app::model::instances::InstanceView> =
        b.get("/instances").await.json().await.unwrap();
    let load: Vec<_> = instances.iter().map(|i| (i.this, i.sessions)).collect();
    assert_eq!(load, [(false, 1), (true, 0)], "{instances:#?}");

    // Moved to b, asked of a: a hands it over at its next renewal.
    let r = a
        .client
        .post(a.url(&format!("/sessions/{id}/move")))
        .json(&json!({"instance": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    b.until(&id, |v| v.status == SessionStatus::Connected).await;
    until_not_run(&a, &id).await;
    // Its history says it was handed over, not that a server shut down.
    let history = server::db::sessions::events(&a.db().await, &id, 100).await.unwrap();
    assert!(history.iter().any(|e| e.reason.as_deref() == Some("handed_over")), "{history:#?}");
    // Either instance's deep report says who holds it and lists both.
    let deep: serde_json::Value = a.get("/health/deep").await.json().await.unwrap();
    assert_eq!(deep["sessions"][0]["heldBy"], "b", "{deep}");
    assert_eq!(deep["instances"].as_array().unwrap().len(), 2, "{deep}");

    // b drained, asked of a: b hands everything over and a takes it back.
    let drain =
        |on: bool| a.client.post(a.url("/instances/b/drain")).json(&json!({"draining": on})).send();
    assert_eq!(drain(true).await.unwrap().status(), 204);
    a.until(&id, |v| v.status == SessionStatus::Connected).await;
    until_not_run(&b, &id).await;
    let instances: Vec<app::model::instances::InstanceView> =
        a.get("/instances").await.json().await.unwrap();
    assert!(instances.iter().any(|i| i.name == "b" && i.draining && i.sessions == 0));
    assert_eq!(drain(false).await.unwrap().status(), 204);

    // Names that are no live instance.
    let r = a
        .client
        .post(a.url(&format!("/sessions/{id}/move")))
        .json(&json!({"instance": "nowhere"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let error: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error["error"], "no_such_instance", "{error}");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifeline_drain_marks_an_instance_by_name() {
    let a = first_instance(TTL).await;
    let b = spawn_instance(&a, "b").await;
    let run = |args: Vec<String>| {
        let mut command = crate::helpers::lifeline_command();
        command.args(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    let url = a.database_url.clone();
    let out =
        run(vec!["drain".into(), "b".into(), "--database-url".into(), url.clone()]).await.unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("b is draining"), "{said}");
    let instances: Vec<app::model::instances::InstanceView> =
        a.get("/instances").await.json().await.unwrap();
    assert!(instances.iter().any(|i| i.name == "b" && i.draining), "{instances:#?}");

    let out =
        run(vec!["drain".into(), "nobody".into(), "--database-url".into(), url]).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("no instance called \"nobody\""), "{error}");
    b.stop().await;
    a.stop().await;
}

/// Creates a session through `app`'s API; returns its id and the instance it says holds it.
async fn created_through(app: &TestApp, name: &str) -> (String, serde_json::Value) {
    let r = app.post("/sessions", json!({"name": name, "connector": "simulator"})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let view: serde_json::Value = r.json().await.unwrap();
    (view["id"].as_str().unwrap().to_owned(), view["held_by"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_goes_to_the_least_loaded_instance_that_serves() {
    // Default leases: nothing here waits for one to run out, and an instance slow to take
    // a creation up (a loaded machine) must not have it made where it was asked instead.
    let a = first_instance(LeaseTiming::DEFAULT_TTL).await;
    a.paired_session("Shop").await;
    let b = spawn_instance(&a, "b").await;

    // Asked of a, which holds one session: b holds none, so b creates and pairs it.
    let (mut events, _) = a.state.bus.subscribe();
    let (second, held_by) = created_through(&a, "Second").await;
    assert_eq!(held_by, "b");
    assert!(b.state.supervisor.handle(&second).is_ok(), "b does not run it");
    assert!(a.state.supervisor.handle(&second).is_err(), "a runs it too");
    // Its QR codes come from b and show on a as well.
    heard(&mut events, &second, |v| v.status == SessionStatus::QrPending).await;

    // One each: a tie stays where it was asked.
    let (third, _) = created_through(&a, "Third").await;
    assert!(a.state.supervisor.handle(&third).is_ok(), "a tie was forwarded");

    // A draining instance creates none, even when it holds the fewest.
    let drain = |on: bool| b.post("/instances/b/drain", json!({"draining": on}));
    assert_eq!(drain(true).await.status(), 204);
    let (fourth, held_by) = created_through(&b, "Fourth").await;
    assert!(a.state.supervisor.handle(&fourth).is_ok(), "created on the draining instance");
    assert_eq!(held_by, a.state.supervisor.get(&fourth).unwrap().held_by.unwrap().as_str());
    assert_eq!(drain(false).await.status(), 204);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_never_takes_an_action_up_is_given_up_on_within_a_lease() {
    let a = first_instance(TTL).await;
    let id = a.paired_session("Shop").await;
    let b = spawn_instance(&a, "b").await;
    let db = a.db().await;
    // An instance that looks alive (its heartbeat is fresh) but answers nothing: a stopped
    // process, as far as the database can tell. It holds nothing, so it is the lightest.
    on_pool!(&db, pool => sqlx::query(
        "INSERT INTO instances (id, name, started_ms, heartbeat_ms, capacity)
         VALUES ('ghost', 'ghost', 0, 4102444800000, 100)"
    )
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();

    // A new session handed to it is never taken up, so it is created where it was asked.
    let (new, _) = created_through(&b, "Asked of b").await;
    assert!(b.state.supervisor.handle(&new).is_ok(), "not created after the silence");

    // An action on a session it holds fails once a lease's time has passed, saying that
    // nothing was done, rather than after the whole request deadline.
    on_pool!(&db, pool => sqlx::query(
        "UPDATE session_leases SET holder = 'ghost', token = token + 1 WHERE session_id = $1"
    )
    .bind(&id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    let r = b.post_empty(&format!("/sessions/{id}/reconnect")).await;
    assert_eq!(r.status(), 503);
    let error: serde_json::Value = r.json().await.unwrap();
    assert_eq!(error["error"], "holder_unavailable", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("\"ghost\"") && message.contains("nothing was done"), "{message}");
    let left: Vec<(String,)> =
        on_pool!(&db, pool => sqlx::query_as("SELECT id FROM session_commands")
            .fetch_all(pool)
            .await)
        .unwrap();
    assert!(left.is_empty(), "withdrawn actions stay behind: {left:?}");
    b.stop().await;
    a.stop().await;
}
