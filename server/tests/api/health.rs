//! `GET /health`.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_has_exactly_its_documented_fields() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");

    let body: Value = response.json().await.unwrap();
    let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["sessions", "status", "timestamp", "uptime"]);
    let mut session_keys: Vec<_> = body["sessions"].as_object().unwrap().keys().cloned().collect();
    session_keys.sort();
    assert_eq!(session_keys, ["connected", "connecting", "disconnected", "total"]);

    assert_eq!(body["status"], "ok");
    chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap())
        .expect("timestamp is not RFC 3339");
    assert!(body["uptime"].is_u64(), "uptime is whole seconds: {}", body["uptime"]);
    assert_eq!(
        body["sessions"],
        json!({"total": 0, "connected": 0, "connecting": 0, "disconnected": 0})
    );
    app.stop().await;
}

#[tokio::test]
async fn health_counts_live_sessions_and_degrades_when_one_is_down() {
    let app = spawn_app().await;
    let linked = app.paired_session("Shop").await;
    let pairing = app.create_session("New phone").await;
    app.until(&pairing, |v| v.status == app::model::SessionStatus::QrPending).await;

    let body: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(
        body["sessions"],
        json!({"total": 2, "connected": 1, "connecting": 1, "disconnected": 0})
    );
    assert_eq!(body["status"], "degraded", "a session that should run is not connected");

    // Stopped on purpose, it no longer counts against health.
    let r = app.post_empty(&format!("/sessions/{pairing}/stop")).await;
    assert_eq!(r.status(), 200);
    let body: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(
        body["sessions"],
        json!({"total": 2, "connected": 1, "connecting": 0, "disconnected": 1})
    );
    assert_eq!(body["status"], "ok");

    // Its link dropping makes the server degraded at once (no database query involved).
    app.fault(&linked, json!({"kind": "drop"})).await;
    app.until(&linked, |v| v.status != app::model::SessionStatus::Connected).await;
    let body: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    app.stop().await;
}
