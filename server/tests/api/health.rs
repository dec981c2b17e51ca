//! `GET /health`.

use serde_json::Value;

use crate::helpers::{SeedSession, spawn_app, spawn_app_with_sessions};

#[tokio::test]
async fn health_has_exactly_the_seed_004_fields() {
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
        serde_json::json!({"total": 0, "connected": 0, "connecting": 0, "disconnected": 0})
    );
    app.stop().await;
}

#[tokio::test]
async fn health_counts_the_sessions_in_the_database() {
    let app = spawn_app_with_sessions(&[
        SeedSession { id: "a", name: "Shop", status: "connected", desired: "running" },
        SeedSession { id: "b", name: "Bot", status: "reconnecting", desired: "running" },
        SeedSession { id: "c", name: "Old", status: "logged_out", desired: "stopped" },
        SeedSession { id: "d", name: "New", status: "qr_pending", desired: "running" },
    ])
    .await;

    let body: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(
        body["sessions"],
        serde_json::json!({"total": 4, "connected": 1, "connecting": 2, "disconnected": 1})
    );
    // "Bot" and "New" should run and are not connected.
    assert_eq!(body["status"], "degraded");
    app.stop().await;
}

#[tokio::test]
async fn sessions_stopped_on_purpose_do_not_degrade_health() {
    let app = spawn_app_with_sessions(&[
        SeedSession { id: "a", name: "Shop", status: "connected", desired: "running" },
        SeedSession { id: "b", name: "Paused", status: "disconnected", desired: "stopped" },
    ])
    .await;
    let body: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    app.stop().await;
}
