//! The REST routes over sessions: operator actions, sending, and bad input.

use app::model::{Desired, SessionStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, TestApp, TestOptions, spawn_app, spawn_app_with, spawn_on},
    on_both_databases,
};

/// Everything a bad request must leave untouched: the sessions and their history.
async fn fingerprint(app: &TestApp) -> (Value, i64) {
    let sessions: Value = app.get("/sessions").await.json().await.unwrap();
    let db = app.db().await;
    app.state.supervisor.flush_journal().await;
    let server::db::Db::Sqlite(pool) = &db else { unreachable!("fingerprints run on SQLite") };
    let (events,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM session_events").fetch_one(pool).await.unwrap();
    (sessions, events)
}

async fn error_of(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let body: Value = r.json().await.expect("error body is not JSON");
    (status, body)
}

async fn create_pair_list_get_and_delete(backend: Backend) {
    let app = spawn_on(backend).await;
    let r = app.post("/sessions", json!({"name": "  Front desk ", "connector": "simulator"})).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], "Front desk");
    assert_eq!(created["connector"], "simulator");
    assert_eq!(created["desired"], "running");
    assert_eq!(created["auto_connect"], true);
    assert_eq!(created["paired"], false);
    assert!(matches!(created["status"].as_str(), Some("connecting" | "qr_pending")), "{created}");

    app.until(&id, |v| v.status == SessionStatus::QrPending).await;
    app.fault(&id, json!({"kind": "scan", "phone_number": "+27820001234"})).await;
    let view = app.until(&id, |v| v.status == SessionStatus::Connected).await;
    assert_eq!(view.phone_number.as_deref(), Some("+27820001234"));

    let list: Value = app.get("/sessions").await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let one: Value = app.get(&format!("/sessions/{id}")).await.json().await.unwrap();
    assert_eq!(one["status"], "connected");
    assert_eq!(one["paired"], true);

    let r = app.client.delete(app.url(&format!("/sessions/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(app.get(&format!("/sessions/{id}")).await.status(), 404);
    assert!(!app.state.simulator.as_ref().unwrap().has_live_link(&id), "delete left the link up");
    let rows = server::db::sessions::load_all(&app.db().await).await.unwrap();
    assert!(rows.is_empty(), "the row survived the delete");
    app.stop().await;
}

async fn stop_start_auto_connect_and_logout(backend: Backend) {
    let app = spawn_on(backend).await;
    let id = app.paired_session("Shop").await;

    let r = app.post_empty(&format!("/sessions/{id}/stop")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["status"].as_str(), v["reason"].as_str(), v["desired"].as_str()),
        (Some("disconnected"), Some("stopped"), Some("stopped"))
    );

    let r = app.post_empty(&format!("/sessions/{id}/start")).await;
    assert_eq!(r.status(), 200);
    app.until(&id, |v| v.status == SessionStatus::Connected && v.desired == Desired::Running).await;

    let r = app
        .client
        .patch(app.url(&format!("/sessions/{id}")))
        .json(&json!({"auto_connect": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["auto_connect"], false);

    let r = app.post_empty(&format!("/sessions/{id}/logout")).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["status"].as_str(), v["paired"].as_bool()), (Some("logged_out"), Some(false)));

    // Stored as the API says: credentials gone, flags kept.
    app.state.supervisor.flush_journal().await;
    let rows = server::db::sessions::load_all(&app.db().await).await.unwrap();
    let row = &rows[0];
    assert_eq!(row.credentials, None);
    assert_eq!(row.view.status, SessionStatus::LoggedOut);
    assert!(!row.view.auto_connect);

    // Reconnect cannot bring a logged-out session back: only a new scan can.
    let (status, body) = error_of(app.post_empty(&format!("/sessions/{id}/reconnect")).await).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("not_paired")));
    app.stop().await;
}

async fn reconnect_reports_the_outcome_in_the_seed_shape(backend: Backend) {
    let app = spawn_on(backend).await;
    let id = app.paired_session("Shop").await;
    let r = app.post_empty(&format!("/sessions/{id}/reconnect")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"success": true, "message": "connected"}));

    app.fault(&id, json!({"kind": "refuse", "count": 1})).await;
    let r: Value = app.post_empty(&format!("/sessions/{id}/reconnect")).await.json().await.unwrap();
    assert_eq!(r["success"], false);
    assert!(r["message"].as_str().unwrap().contains("refused"), "{r}");
    // …and the retry ladder takes it from there.
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    app.stop().await;
}

async fn send_restores_the_session_first(backend: Backend) {
    let app = spawn_on(backend).await;
    let id = app.paired_session("Shop").await;
    let path = format!("/sessions/{id}/messages");
    let send = |text: &str| app.post(&path, json!({"to": "+27 82 123 4567", "text": text}));

    let r = send("hello").await;
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().starts_with("SIM"));

    // Dropped and waiting for its retry: the send brings it back and goes through.
    app.fault(&id, json!({"kind": "refuse", "count": 1})).await;
    app.fault(&id, json!({"kind": "drop"})).await;
    app.until(&id, |v| v.status != SessionStatus::Connected).await;
    let r = send("after a drop").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let (status, body) = {
        app.fault(&id, json!({"kind": "refuse_send"})).await;
        error_of(send("refused").await).await
    };
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("upstream_refused"))
    );
    app.stop().await;
}

/// PATCHes `body` onto session `id`.
async fn patch(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.client.patch(app.url(&format!("/sessions/{id}"))).json(&body).send().await.unwrap()
}

async fn primary_sessions_decide_the_health_status(backend: Backend) {
    let app = spawn_on(backend).await;
    let shop = app.paired_session("Shop").await;
    let spare = app.paired_session("Spare").await;
    let health = async || app.get("/health").await.json::<Value>().await.unwrap()["status"].clone();
    app.fault(&spare, json!({"kind": "refuse", "count": 100})).await;
    app.fault(&spare, json!({"kind": "drop"})).await;
    app.until(&spare, |v| v.status != SessionStatus::Connected).await;
    // No session marked: every one that should run counts.
    assert_eq!(health().await, "degraded");

    let r = patch(&app, &shop, json!({"primary": true})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["primary"].as_bool(), v["auto_connect"].as_bool()), (Some(true), Some(true)));
    // The marked one is up: the spare being down does not make the server degraded.
    assert_eq!(health().await, "ok");
    let deep: Value = app.get("/health/deep").await.json().await.unwrap();
    assert_eq!(deep["status"], "ok");
    let marked: Vec<_> =
        deep["sessions"].as_array().unwrap().iter().map(|s| s["primary"].clone()).collect();
    assert!(marked.contains(&json!(true)) && marked.contains(&json!(false)), "{marked:?}");

    // The marked one down: degraded, whatever the others do.
    app.fault(&shop, json!({"kind": "refuse", "count": 100})).await;
    app.fault(&shop, json!({"kind": "drop"})).await;
    app.until(&shop, |v| v.status != SessionStatus::Connected).await;
    assert_eq!(health().await, "degraded");

    // Both flags in one request; nothing at all is refused with what to send.
    let r = patch(&app, &shop, json!({"primary": false, "auto_connect": false})).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["primary"].as_bool(), v["auto_connect"].as_bool()), (Some(false), Some(false)));
    let (status, body) = error_of(patch(&app, &shop, json!({})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["message"].as_str().unwrap().contains("primary"), "{body}");

    // Stored: a restart keeps the mark.
    patch(&app, &spare, json!({"primary": true})).await;
    app.state.supervisor.flush_journal().await;
    let rows = server::db::sessions::load_all(&app.db().await).await.unwrap();
    let flags: Vec<_> = rows.iter().map(|r| (r.view.name.as_str(), r.view.primary)).collect();
    assert!(flags.contains(&("Spare", true)) && flags.contains(&("Shop", false)), "{flags:?}");
    let app = app.restart().await;
    let v: Value = app.get(&format!("/sessions/{spare}")).await.json().await.unwrap();
    assert_eq!(v["primary"], true);
    app.stop().await;
}

on_both_databases!(
    create_pair_list_get_and_delete,
    primary_sessions_decide_the_health_status,
    stop_start_auto_connect_and_logout,
    reconnect_reports_the_outcome_in_the_seed_shape,
    send_restores_the_session_first,
);

#[tokio::test]
async fn send_errors_each_have_their_own_code() {
    let app = spawn_app().await;
    let unknown =
        app.post("/sessions/nope/messages", json!({"to": "+27821234567", "text": "hi"})).await;
    assert_eq!(error_of(unknown).await.1["error"], "no_such_session");

    let unpaired = app.create_session("New").await;
    let r = app
        .post(
            &format!("/sessions/{unpaired}/messages"),
            json!({"to": "+27821234567", "text": "hi"}),
        )
        .await;
    let (status, body) = error_of(r).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("not_paired")));
    assert!(body["message"].as_str().unwrap().contains("scan the QR code"), "{body}");

    let stopped = app.paired_session("Paused").await;
    app.post_empty(&format!("/sessions/{stopped}/stop")).await;
    let r = app
        .post(&format!("/sessions/{stopped}/messages"), json!({"to": "+27821234567", "text": "hi"}))
        .await;
    let (status, body) = error_of(r).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::CONFLICT, Some("session_stopped")));

    // A handshake slower than the send's wait: still restoring when the wait ends.
    let slow = app.paired_session("Slow").await;
    app.fault(&slow, json!({"kind": "slow_handshake", "seconds": 5})).await;
    app.fault(&slow, json!({"kind": "drop"})).await;
    app.until(&slow, |v| v.status != SessionStatus::Connected).await;
    let r = app
        .post(&format!("/sessions/{slow}/messages"), json!({"to": "+27821234567", "text": "hi"}))
        .await;
    let (status, body) = error_of(r).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("still_restoring"))
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx_and_changes_nothing() {
    let app = spawn_app().await;
    let id = app.paired_session("Shop").await;
    let before = fingerprint(&app).await;
    let url = |p: &str| app.url(p);
    let messages = format!("/sessions/{id}/messages");
    let huge = "x".repeat(100 * 1024);

    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            "unknown id",
            app.client.get(url("/sessions/nope")),
            StatusCode::NOT_FOUND,
            "no_such_session",
        ),
        (
            "unknown id, action",
            app.client.post(url("/sessions/nope/stop")),
            StatusCode::NOT_FOUND,
            "no_such_session",
        ),
        (
            "unknown id, delete",
            app.client.delete(url("/sessions/nope")),
            StatusCode::NOT_FOUND,
            "no_such_session",
        ),
        (
            "malformed JSON",
            app.client
                .post(url(&messages))
                .header("content-type", "application/json")
                .body("{\"to\": "),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "not JSON at all",
            app.client.post(url(&messages)).body("to=1&text=2"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "wrong types",
            app.client.post(url(&messages)).json(&json!({"to": 27821234567u64, "text": ["hi"]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "missing field",
            app.client.post(url(&messages)).json(&json!({"to": "+27821234567"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "unknown field",
            app.client
                .post(url(&messages))
                .json(&json!({"to": "+27821234567", "text": "hi", "x": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "empty text",
            app.client.post(url(&messages)).json(&json!({"to": "+27821234567", "text": "  "})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "text too long",
            app.client
                .post(url(&messages))
                .json(&json!({"to": "+27821234567", "text": "x".repeat(4097)})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "body too large",
            app.client.post(url(&messages)).json(&json!({"to": "+27821234567", "text": huge})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "bad number",
            app.client.post(url(&messages)).json(&json!({"to": "hello", "text": "hi"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "empty name",
            app.client.post(url("/sessions")).json(&json!({"name": " ", "connector": "simulator"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "unknown connector",
            app.client.post(url("/sessions")).json(&json!({"name": "x", "connector": "telegram"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "connector_unavailable",
        ),
        (
            "name of wrong type",
            app.client.post(url("/sessions")).json(&json!({"name": 5, "connector": "simulator"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "empty patch",
            app.client.patch(url(&format!("/sessions/{id}"))).json(&json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "patch of wrong type",
            app.client.patch(url(&format!("/sessions/{id}"))).json(&json!({"auto_connect": "yes"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "unknown fault",
            app.client
                .post(url(&format!("/dev/simulator/sessions/{id}/fault")))
                .json(&json!({"kind": "explode"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "zero count",
            app.client
                .post(url(&format!("/dev/simulator/sessions/{id}/fault")))
                .json(&json!({"kind": "refuse", "count": 0})),
            StatusCode::CONFLICT,
            "conflict",
        ),
    ];
    for (what, request, status, code) in cases {
        let r = request.send().await.unwrap();
        let got = r.status();
        let body: Value =
            r.json().await.unwrap_or_else(|e| panic!("{what}: body is not JSON: {e}"));
        assert_eq!(got, status, "{what}: {body}");
        assert_eq!(body["error"], code, "{what}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
    }
    assert_eq!(fingerprint(&app).await, before, "a refused request changed something");
    app.stop().await;
}

#[tokio::test]
async fn fault_injection_exists_only_with_the_simulator() {
    let app = spawn_app_with(TestOptions { simulator: false, ..TestOptions::default() }).await;
    let r = app.post("/dev/simulator/sessions/x/fault", json!({"kind": "drop"})).await;
    assert_eq!(r.status(), 404);
    let (status, body) =
        error_of(app.post("/sessions", json!({"name": "x", "connector": "simulator"})).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("connector_unavailable"))
    );
    assert!(body["message"].as_str().unwrap().contains("--simulator"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_session_can_pair_by_a_code_typed_on_the_phone() {
    let app = spawn_app().await;
    let (mut events, _) = app.state.bus.subscribe();
    let body = json!({"name": "Shop", "connector": "simulator", "pair_phone": "+27 82 123 4567"});
    let r = app.post("/sessions", body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let code = loop {
        let published = events.recv().await.unwrap();
        if let app::model::Event::PairCode { session_id, code, .. } = &published.envelope.event {
            assert_eq!(session_id, &id);
            break code.clone();
        }
    };
    assert_eq!(code.len(), 8, "{code}");
    assert!(code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()), "{code}");
    app.until(&id, |v| v.status == SessionStatus::QrPending).await;

    // A number that is not one is refused with what to fix, and nothing is created.
    let before = fingerprint(&app).await;
    let body = json!({"name": "Shop", "connector": "simulator", "pair_phone": "0821"});
    let (status, error) = error_of(app.post("/sessions", body).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["message"].as_str().unwrap().contains("pair_phone"), "{error}");
    assert_eq!(fingerprint(&app).await, before);
}
