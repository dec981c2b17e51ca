//! The watchdog against a real server and database: the recovery log, the budget it
//! implies surviving a restart, the budget in `/health/deep`, and a person's reconnect
//! going through when the budget is spent.

use app::functions::Backend as _;
use app::model::{
    Event, SessionStatus,
    recovery::{Outcome, Trigger},
};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestOptions, spawn_app_with, watchdog_policy};

/// The recovery log of session `id`, oldest first.
async fn log(app: &TestApp, id: &str) -> Vec<server::db::recoveries::RecoveryRow> {
    let since = chrono::Utc::now() - chrono::Duration::hours(2);
    server::db::recoveries::for_session(&app.db().await, id, since).await.unwrap()
}

async fn budget_left(app: &TestApp, id: &str) -> Value {
    let deep: Value = app.get("/health/deep").await.json().await.unwrap();
    let session =
        deep["sessions"].as_array().unwrap().iter().find(|s| s["sessionId"] == id).cloned();
    session.expect("session missing from the deep report")["recoveryBudgetLeft"].clone()
}

async fn the_budget_is_kept_in_the_database_across_a_restart(backend: Backend) {
    let app = spawn_app_with(TestOptions {
        backend,
        policy: watchdog_policy(),
        ..TestOptions::default()
    })
    .await;
    let id = app.paired_session("Front desk").await;
    assert_eq!(budget_left(&app, &id).await, json!(3));
    let (mut events, _) = app.state.bus.subscribe();

    // The upstream refuses everything: every retry ladder ends in gave_up, and the
    // watchdog starts the session again, three times, and then leaves it to a person.
    app.fault(&id, json!({"kind": "refuse", "count": 1000})).await;
    app.fault(&id, json!({"kind": "drop"})).await;
    while log(&app, &id).await.iter().filter(|r| r.outcome != Outcome::Started).count() < 3 {
        app.watchdog_passes(1).await;
    }
    app.watchdog_passes(20).await;
    let rows = log(&app, &id).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter().all(|r| r.trigger == Trigger::Disconnected && r.outcome != Outcome::Recovered)
    );
    assert_eq!(budget_left(&app, &id).await, json!(0));

    // Each attempt was announced for the dashboard, with the budget left after it.
    let mut announced = Vec::new();
    while let Ok(published) = events.try_recv() {
        if let Event::Recovery { recovery } = &published.envelope.event {
            announced.push(recovery.budget_left);
        }
    }
    assert_eq!(announced, [2, 1, 0]);

    // A restart (whose simulated upstream no longer refuses) restores the session, but the
    // spent budget stays spent.
    let app = app.restart().await;
    app.until(&id, |s| s.status == SessionStatus::Connected).await;
    assert_eq!(budget_left(&app, &id).await, json!(0));

    // The link dies silently: the watchdog sees it, but may not act any more this hour.
    app.fault(&id, json!({"kind": "sever"})).await;
    app.watchdog_passes(5).await;
    assert_eq!(log(&app, &id).await.len(), 3);
    assert!(!app.state.supervisor.socket_alive(&id));

    // A person's reconnect always goes through, and is logged outside the budget.
    let r = app.post_empty(&format!("/sessions/{id}/reconnect")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["success"], true);
    assert!(app.state.supervisor.socket_alive(&id));
    let rows = log(&app, &id).await;
    assert_eq!(rows.len(), 4);
    assert_eq!((rows[3].trigger, rows[3].outcome), (Trigger::Manual, Outcome::Recovered));
    assert_eq!(budget_left(&app, &id).await, json!(0));
    app.stop().await;
}

async fn a_dead_link_is_recovered_by_the_watchdog(backend: Backend) {
    let app = spawn_app_with(TestOptions {
        backend,
        policy: watchdog_policy(),
        ..TestOptions::default()
    })
    .await;
    let id = app.paired_session("Front desk").await;
    app.until(&id, |s| s.status == SessionStatus::Connected).await;
    app.fault(&id, json!({"kind": "sever"})).await;
    while log(&app, &id).await.iter().all(|r| r.outcome == Outcome::Started) {
        app.watchdog_passes(1).await;
    }
    let rows = log(&app, &id).await;
    assert_eq!((rows[0].trigger, rows[0].outcome), (Trigger::DeadLink, Outcome::Recovered));
    assert!(app.state.supervisor.socket_alive(&id));
    assert_eq!(budget_left(&app, &id).await, json!(2));
    // The session's history (the detail page) carries the log and the budget.
    let history = app.state.session_history(id.clone()).await.unwrap();
    assert_eq!(history.recoveries.len(), 1);
    assert_eq!(history.recoveries[0].trigger, Trigger::DeadLink);
    assert_eq!(history.recovery_budget_left, 2);
    assert_eq!(history.timeline().recoveries.len(), 1);
    app.stop().await;
}

crate::on_both_databases!(
    the_budget_is_kept_in_the_database_across_a_restart,
    a_dead_link_is_recovered_by_the_watchdog,
);
