//! The WhatsApp connector behind the supervisor, with a transport that cannot connect (as
//! on a machine without internet): failures take the backoff path with the real error,
//! a session whose keys are gone is logged out and left alone, and a logout wipes keys.

use app::model::{Reason, SessionStatus};
use serde_json::json;
use server::{
    connector::whatsapp::store::SqlStore,
    db::{Db, sessions},
};
use whatsapp_rust::wacore::store::traits::{DeviceStore, SignalStore};

use crate::helpers::{
    Backend, TestApp, TestOptions, spawn_app_with, unreachable_whatsapp, watchdog_policy,
};

async fn whatsapp_app(backend: Backend) -> TestApp {
    spawn_app_with(TestOptions {
        backend,
        simulator: false,
        policy: watchdog_policy(),
        whatsapp: Some(unreachable_whatsapp("connection refused (injected)")),
        ..TestOptions::default()
    })
    .await
}

/// A WhatsApp session that tried to connect once and was then stopped.
async fn stopped_session(app: &TestApp) -> String {
    let r = app.post("/sessions", json!({"name": "Front desk", "connector": "whatsapp"})).await;
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    app.until(&id, |v| v.attempt >= 1).await;
    app.post_empty(&format!("/sessions/{id}/stop")).await;
    app.until(&id, |v| v.status == SessionStatus::Disconnected).await;
    id
}

async fn without_a_secret_key_whatsapp_sessions_say_what_to_set(backend: Backend) {
    let app = spawn_app_with(TestOptions { backend, ..TestOptions::default() }).await;
    let r = app.post("/sessions", json!({"name": "Front desk", "connector": "whatsapp"})).await;
    assert!(r.status().is_client_error(), "{}", r.status());
    let body = r.text().await.unwrap();
    assert!(body.contains("LIFELINE_SECRET_KEY") && body.contains("lifeline gen-key"), "{body}");
}

async fn a_failing_connection_takes_the_backoff_path_with_its_real_error(backend: Backend) {
    let app = whatsapp_app(backend).await;
    let r = app.post("/sessions", json!({"name": "Front desk", "connector": "whatsapp"})).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    // Attempt after attempt fails, each scheduled by the supervisor's backoff.
    let view = app.until(&id, |v| v.status == SessionStatus::Reconnecting && v.attempt >= 3).await;
    assert_eq!(view.reason, Some(Reason::AttemptFailed));
    let error = view.last_error.unwrap_or_default();
    assert!(error.contains("connection refused (injected)"), "{error}");
    assert!(view.next_retry_at.is_some());

    // Nothing was left behind half-paired, and the server still answers.
    assert_eq!(app.get("/health").await.status(), 200);
}

async fn a_session_whose_keys_are_gone_is_logged_out_and_not_retried(backend: Backend) {
    let app = whatsapp_app(backend).await;
    let id = stopped_session(&app).await;

    // The row says paired, but no device is stored (wiped by hand, or never written).
    let db: Db = app.db().await;
    let mut stored = sessions::load_all(&db).await.unwrap().into_iter().next().unwrap();
    stored.credentials = Some(b"whatsapp-store:+27820000001".to_vec());
    stored.view.phone_number = Some("+27820000001".into());
    sessions::insert_or_reset(&db, &stored).await.unwrap();
    let app = app.restart().await;
    app.post_empty(&format!("/sessions/{id}/start")).await;

    let view = app.until(&id, |v| v.status == SessionStatus::LoggedOut).await;
    assert!(!view.paired, "the dead credentials were kept");
    let attempts = view.attempt;
    // The watchdog and the backoff leave a logged-out session alone: several passes later
    // (each longer than the first retry delay) nothing has moved.
    app.watchdog_passes(3).await;
    let later = app.until(&id, |_| true).await;
    assert_eq!((later.status, later.attempt), (SessionStatus::LoggedOut, attempts));
}

async fn a_logout_wipes_the_session_keys(backend: Backend) {
    let app = whatsapp_app(backend).await;
    // Stopped, so no new pairing attempt resets the keys before the logout does.
    let id = stopped_session(&app).await;
    let db: Db = app.db().await;
    let key = app.secret_key();
    let store = SqlStore::new(db.clone(), key.clone(), &id);
    store.create().await.unwrap();
    store.put_session("peer@s.whatsapp.net", b"ratchet").await.unwrap();

    let r = app.post_empty(&format!("/sessions/{id}/logout")).await;
    assert!(r.status().is_success(), "{}", r.status());
    app.until(&id, |v| v.status == SessionStatus::LoggedOut).await;
    assert!(!store.exists().await.unwrap(), "the device outlived the logout");
    assert_eq!(store.get_session("peer@s.whatsapp.net").await.unwrap(), None);
}

crate::on_both_databases!(
    without_a_secret_key_whatsapp_sessions_say_what_to_set,
    a_failing_connection_takes_the_backoff_path_with_its_real_error,
    a_session_whose_keys_are_gone_is_logged_out_and_not_retried,
    a_logout_wipes_the_session_keys,
);
