//! Deep health, readiness, metrics and the headers every response carries.

use futures_util::StreamExt;
use std::{io::Write, process::Stdio, time::Duration};

use serde_json::{Value, json};

use crate::helpers::{TestOptions, spawn_app, spawn_app_with};

#[tokio::test]
async fn deep_health_has_its_documented_fields_and_sees_the_links() {
    let app = spawn_app().await;
    let id = app.paired_session("Shop").await;
    app.fault(&id, json!({"kind": "message"})).await;
    app.until(&id, |v| v.last_message_at.is_some()).await;

    let r = app.get("/health/deep").await;
    assert_eq!(r.status(), 200);
    let deep: Value = r.json().await.unwrap();
    for field in ["status", "timestamp", "uptime", "database", "sessions"] {
        assert!(deep.get(field).is_some(), "{field} missing: {deep}");
    }
    assert_eq!(deep["database"]["connected"], true);
    assert!(deep["database"]["latencyMs"].is_number());
    let s = &deep["sessions"][0];
    for field in [
        "sessionId",
        "phoneNumber",
        "connectionStatus",
        "lastConnectedAt",
        "lastMessageAt",
        "socketAlive",
    ] {
        assert!(s.get(field).is_some(), "{field} missing: {s}");
    }
    assert_eq!(s["sessionId"], id.as_str());
    assert_eq!(s["connectionStatus"], "connected");
    assert_eq!(s["socketAlive"], true);
    assert!(s["lastMessageAt"].is_string());
    assert_eq!(s["lastMessageAgeSeconds"], 0);
    assert!(
        s.get("reason").is_some() && s.get("attempt").is_some() && s.get("nextRetryAt").is_some()
    );

    // A half-open link still looks alive to the transport: that is what probes are for.
    app.fault(&id, json!({"kind": "stall"})).await;
    let deep: Value = app.get("/health/deep").await.json().await.unwrap();
    assert_eq!(deep["sessions"][0]["socketAlive"], true);
    app.stop().await;
}

#[tokio::test]
async fn a_dropped_link_is_not_alive() {
    let app = spawn_app().await;
    let id = app.paired_session("Shop").await;
    app.fault(&id, json!({"kind": "replaced"})).await;
    app.until(&id, |v| v.status != app::model::SessionStatus::Connected).await;
    let deep: Value = app.get("/health/deep").await.json().await.unwrap();
    assert_eq!(deep["sessions"][0]["socketAlive"], false);
    assert_eq!(deep["sessions"][0]["reason"], "replaced");
    assert_eq!(deep["status"], "degraded");
    app.stop().await;
}

#[tokio::test]
async fn a_lost_database_turns_health_to_error_through_the_probe() {
    let app = spawn_app_with(TestOptions {
        probe_every: Duration::from_millis(50),
        ..TestOptions::default()
    })
    .await;
    assert_eq!(app.get("/health").await.status(), 200);
    // The probe notices; /health itself never touches the database.
    app.lose_database().await;
    let health = app.get("/health").await;
    assert_eq!(health.status(), 503);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "error");
    let ready = app.anonymous().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let deep: Value = app.get("/health/deep").await.json().await.unwrap();
    assert_eq!(deep["database"]["connected"], false);
}

#[tokio::test]
async fn livez_and_readyz() {
    let app = spawn_app().await;
    let live: Value =
        app.anonymous().get(app.url("/livez")).send().await.unwrap().json().await.unwrap();
    assert_eq!(live, json!({"status": "alive"}));
    let mut restore = app.state.supervisor.restore_state();
    restore.wait_for(|r| r.started).await.unwrap();
    let r = app.anonymous().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text_with_the_promised_series() {
    let app = spawn_app().await;
    let id = app.paired_session("Shop").await;
    app.fault(&id, json!({"kind": "drop"})).await;
    app.until(&id, |v| v.attempt > 0).await;
    app.until(&id, |v| v.status == app::model::SessionStatus::Connected).await;
    app.post_empty(&format!("/sessions/{id}/reconnect")).await;
    app.get("/health").await;

    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    for needle in [
        "lifeline_sessions{state=\"connected\"} 1",
        "lifeline_sessions{state=\"logged_out\"} 0",
        "lifeline_connection_attempts_total{schedule=\"reconnect\"} 1",
        "lifeline_recovery_attempts_total{trigger=\"manual\"} 1",
        "lifeline_websocket_clients 0",
        "# TYPE lifeline_event_lag_seconds histogram",
        "lifeline_database_up 1",
        "lifeline_database_latency_seconds ",
        "lifeline_http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",status=\"200\",le=\"+Inf\"} 1",
        "lifeline_http_request_duration_seconds_count{method=\"POST\",route=\"/sessions\",status=\"201\"} 1",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }

    let promtool = which_promtool().expect(
        "promtool is needed to check the metrics (Debian: apt-get install prometheus; `make test` installs it)",
    );
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_and_paths_cannot_grow_the_metrics() {
    let app = spawn_app().await;
    let before = app.get("/metrics").await.text().await.unwrap().len();
    // 10 000 requests, each with a method and a path nobody has used before, 32 at a time.
    let requests = (0..10_000).map(|i| {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        let request = app.client.request(method, app.url(&format!("/no/such/path/{i}")));
        async move { request.send().await.map(|r| r.status()) }
    });
    let statuses: Vec<_> =
        futures_util::stream::iter(requests).buffer_unordered(32).collect().await;
    assert_eq!(statuses.len(), 10_000);
    assert!(statuses.into_iter().all(|s| s.unwrap().is_client_error()));

    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(!text.contains("INVENTED"), "an invented method became a label");
    assert!(!text.contains("/no/such/path"), "a requested path became a label");
    let other = text
        .lines()
        .find(|l| {
            l.starts_with(
                "lifeline_http_request_duration_seconds_count{method=\"OTHER\",route=\"unmatched\"",
            )
        })
        .unwrap_or_else(|| panic!("no OTHER series in:\n{text}"));
    assert!(other.ends_with(" 10000"), "{other}");
    // A handful of new series at most, not ten thousand.
    assert!(text.len() < before + 16 * 1024, "/metrics grew from {before} to {} bytes", text.len());
    app.stop().await;
}

fn which_promtool() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join("promtool"))
        .find(|p| p.is_file())
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let page = app.anonymous().get(app.url("/dashboard/login")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("no nonce in the page policy");
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script lacks this response's nonce"
    );
    for directive in ["'wasm-unsafe-eval'", "frame-ancestors 'none'", "default-src 'self'"] {
        assert!(csp.contains(directive), "{directive} missing: {csp}");
    }
    for path in ["/health", "/dashboard/login", "/sessions", "/pkg/none.js"] {
        let r = app.get(path).await;
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(
            h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
    let r = app.get("/health").await;
    assert!(
        r.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'")
    );
    app.stop().await;
}

/// What a handler logs sits inside a span naming the request that caused it, so an operator
/// can tell which call created a session or failed a login.
#[tokio::test]
async fn what_a_handler_logs_names_its_request() {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::fresh_database(crate::helpers::Backend::Sqlite, &dir).await;
    let mut server = crate::lifecycle::Lifeline::start(&url, dir.path());
    let r = reqwest::Client::new()
        .post(format!("{}/sessions", server.url))
        .header("x-api-key", crate::helpers::API_KEY)
        .json(&json!({"name": "Shop", "connector": "simulator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let line = server.wait_for("session created");
    assert!(line.contains("request{method=POST route=/sessions}"), "{line}");
}
