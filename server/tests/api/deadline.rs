//! A request that takes longer than any should is answered with a timeout, what it asked
//! for still happens, and health for machines is never held up.

use std::time::Duration;

use app::model::Event;
use reqwest::StatusCode;
use serde_json::{Value, json};
use server::db::Db;

use crate::helpers::{Backend, TestOptions, spawn_app_with};

#[tokio::test]
async fn a_request_stuck_on_the_database_times_out_and_its_work_still_completes() {
    let app = spawn_app_with(TestOptions {
        backend: Backend::Postgres,
        request_deadline: Some(Duration::from_secs(1)),
        ..TestOptions::default()
    })
    .await;
    // Another connection locks the table, so the server's insert waits: PostgreSQL sets no
    // statement timeout, which is what the deadline is for.
    let db = app.db().await;
    let Db::Postgres(pool) = &db else { unreachable!("a PostgreSQL test") };
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();

    // Bounded on the client's side too: without the deadline the answer never comes.
    let r = app
        .client
        .post(app.url("/sessions"))
        .json(&json!({"name": "Front desk", "connector": "simulator"}))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("no answer: the request was never timed out");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "request_timeout", "{body}");
    assert!(body["message"].as_str().unwrap().contains("may still be carried out"), "{body}");
    // Health is answered from memory meanwhile.
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);

    // The lock goes: the creation the timed-out request started finishes, whole.
    lock.rollback().await.unwrap();
    let created = app
        .event(|e| match e {
            Event::SessionStatus { session } if session.name == "Front desk" => {
                Some(session.id.clone())
            }
            _ => None,
        })
        .await;
    let listed: Vec<Value> = app.get("/sessions").await.json().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], created.as_str());
    db.close().await;
    app.stop().await;
}
