//! `lifeline copy-db`, the real binary: a SQLite database with sessions, history, recoveries,
//! accounts, API keys and WhatsApp keys moves into an empty PostgreSQL one, and a server on
//! the copy finds everything (the keys still open with the same secret key).

use server::{
    connector::whatsapp::store::SqlStore,
    db::{Db, on_pool, recoveries, sessions},
    secret_key::SecretKey,
};
use whatsapp_rust::wacore::store::traits::SignalStore;

use crate::helpers::{
    ADMIN_PASSWORD, Backend, TestOptions, fast_policy, fresh_database, lifeline_command,
    spawn_app_with, spawn_on_database,
};

async fn copy_db(from: &str, to: &str) -> std::process::Output {
    let mut command = lifeline_command();
    command.args(["copy-db", "--from", from, "--to", to]);
    tokio::task::spawn_blocking(move || command.output().expect("cannot run lifeline"))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_sqlite_database_moves_into_an_empty_postgresql_one() {
    // A SQLite Lifeline with something of everything.
    let mut app = spawn_app_with(TestOptions::default()).await;
    // A webhook endpoint nobody answers: its deliveries are in the outbox.
    let hook = serde_json::json!({"url": "http://127.0.0.1:9/hook", "events": ["session.status"]});
    assert_eq!(app.post("/webhooks", hook).await.status(), 201);
    let id = app.paired_session("Shop").await;
    app.post_empty(&format!("/sessions/{id}/reconnect")).await;
    let key = SecretKey::generate();
    let source_url = app.database_url.clone();
    let source: Db = app.db().await;
    SqlStore::new(source.clone(), key.clone(), &id)
        .put_session("peer@s.whatsapp.net", b"ratchet")
        .await
        .unwrap();
    // Copied with Lifeline stopped, as the docs say (copy-db refuses a database in use).
    app.shutdown().await;
    let history_before = sessions::events(&source, &id, 1000).await.unwrap().len();
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let recoveries_before = recoveries::for_session(&source, &id, since).await.unwrap().len();
    assert!(recoveries_before >= 1, "the reconnect was not logged");

    let dir = tempfile::tempdir().unwrap();
    let target_url = fresh_database(Backend::Postgres, &dir).await;
    let output = copy_db(&source_url, &target_url).await;
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{said}{}", String::from_utf8_lossy(&output.stderr));
    assert!(said.starts_with("copied 1 sessions ("), "{said}");
    assert!(said.contains("1 WhatsApp key records"), "{said}");
    let (deliveries,): (i64,) = on_pool!(&source, pool => sqlx::query_as(
        "SELECT COUNT(*) FROM webhook_deliveries"
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    assert!(deliveries > 0);
    assert!(said.contains(&format!("1 webhook endpoints ({deliveries} deliveries)")), "{said}");

    // A second copy into the same database is refused, and changes nothing.
    let output = copy_db(&source_url, &target_url).await;
    assert_eq!(output.status.code(), Some(1));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("not empty"), "{error}");
    app.stop().await;

    // A server on the copy: the session, its history, its recoveries, its keys, the admin.
    let target = Db::open(&target_url.parse().unwrap()).await.unwrap();
    assert_eq!(sessions::events(&target, &id, 1000).await.unwrap().len(), history_before);
    assert_eq!(
        recoveries::for_session(&target, &id, since).await.unwrap().len(),
        recoveries_before
    );
    let moved = SqlStore::new(target.clone(), key, &id);
    let ratchet = moved.get_session("peer@s.whatsapp.net").await.unwrap();
    assert_eq!(ratchet.as_deref(), Some(&b"ratchet"[..]));
    let copy = spawn_on_database(dir, target_url.clone(), true, fast_policy()).await;
    let listed: serde_json::Value = copy.get("/sessions").await.json().await.unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["paired"], true);
    copy.until(&id, |v| v.status == app::model::SessionStatus::Connected).await;
    let hooks: serde_json::Value = copy.get("/webhooks").await.json().await.unwrap();
    assert_eq!(hooks[0]["url"], "http://127.0.0.1:9/hook", "{hooks}");
    assert_eq!(hooks[0]["events"], serde_json::json!(["session.status"]));
    let login = copy.login_attempt(ADMIN_PASSWORD).await;
    assert!(login.status().is_success(), "the admin did not move: {}", login.status());
}

#[tokio::test]
async fn a_missing_source_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let from = format!("sqlite://{}", dir.path().join("nothing-here.db").display());
    let to = format!("sqlite://{}", dir.path().join("new.db").display());
    let output = copy_db(&from, &to).await;
    assert_eq!(output.status.code(), Some(1));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("no SQLite database at") && error.contains("nothing-here.db"),
        "{error}"
    );
}
