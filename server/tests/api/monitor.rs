//! `lifeline monitor`, the real binary, against spawned servers in each state: ok,
//! degraded, error (database gone, or a wrong API key) and unreachable.

use std::{process::Output, time::Duration};

use serde_json::{Value, json};

use crate::helpers::{API_KEY, TestApp, TestOptions, lifeline_command, spawn_app, spawn_app_with};

/// Runs `lifeline monitor ARGS` against `url`.
async fn monitor(url: &str, key: Option<&str>, args: &[&str]) -> Output {
    let mut command = lifeline_command();
    command.arg("monitor").arg("--url").arg(url).args(args);
    if let Some(key) = key {
        command.env("LIFELINE_API_KEY", key);
    }
    tokio::task::spawn_blocking(move || command.output().expect("cannot run lifeline"))
        .await
        .unwrap()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("monitor was killed")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn json_of(app: &TestApp, key: Option<&str>) -> (i32, Value) {
    let output = monitor(&app.url(""), key, &["--json"]).await;
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {}", text(&output)));
    (code(&output), report)
}

#[tokio::test]
async fn ok_with_every_session_connected_and_todays_activity() {
    let app = spawn_app().await;
    let id = app.paired_session("Shop").await;
    let r = app
        .post(&format!("/sessions/{id}/messages"), json!({"to": "+27821234567", "text": "hi"}))
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    app.fault(&id, json!({"kind": "message"})).await;

    let (status, report) = json_of(&app, Some(API_KEY)).await;
    assert_eq!(status, 0, "{report}");
    assert_eq!(report["verdict"], "ok");
    assert_eq!(report["apiKey"], "accepted");
    assert_eq!(report["database"]["connected"], true);
    assert_eq!(report["sessions"], json!({"total": 1, "byState": {"connected": 1}}));
    assert_eq!(report["today"]["messagesSent"], 1);
    assert_eq!(report["today"]["messagesReceived"], 1);
    assert_eq!(report["today"]["recoveries"], 0);

    let output = monitor(&app.url(""), Some(API_KEY), &[]).await;
    assert_eq!(code(&output), 0);
    let shown = text(&output);
    assert!(shown.starts_with(&format!("Lifeline at {}: OK", app.url(""))), "{shown}");
    assert!(shown.contains("1 messages received, 1 sent, 0 recoveries"), "{shown}");
    assert!(!shown.contains('\x1b'), "colours in a pipe: {shown}");
}

#[tokio::test]
async fn degraded_names_the_session_that_is_down_and_says_why() {
    let app = spawn_app().await;
    app.paired_session("Shop").await;
    let down = app.paired_session("Support").await;
    app.fault(&down, json!({"kind": "refuse", "count": 1000})).await;
    app.fault(&down, json!({"kind": "drop"})).await;
    app.until(&down, |v| v.attempt >= 1 && v.last_error.is_some()).await;

    let output = monitor(&app.url(""), Some(API_KEY), &[]).await;
    assert_eq!(code(&output), 1, "{}", text(&output));
    let shown = text(&output);
    assert!(shown.contains(": DEGRADED"), "{shown}");
    assert!(shown.contains("! Support: "), "{shown}");

    // Without a key: the public report still decides, and the note says what is missing.
    let output = monitor(&app.url(""), None, &[]).await;
    assert_eq!(code(&output), 1);
    assert!(text(&output).contains("LIFELINE_API_KEY"), "{}", text(&output));
}

#[tokio::test]
async fn error_when_the_database_is_gone_or_the_key_is_wrong() {
    let app = spawn_app_with(TestOptions {
        probe_every: Duration::from_millis(50),
        ..TestOptions::default()
    })
    .await;
    let (status, report) = json_of(&app, Some("not-the-key-0123456789")).await;
    assert_eq!((status, report["apiKey"].as_str()), (2, Some("rejected")), "{report}");
    let problem = report["problems"][0].as_str().unwrap();
    assert!(problem.contains("API key was rejected"), "{problem}");

    app.lose_database().await;
    let (status, report) = json_of(&app, Some(API_KEY)).await;
    assert_eq!(status, 2, "{report}");
    assert_eq!(report["verdict"], "error");
    assert_eq!(report["database"]["connected"], false);
}

#[tokio::test]
async fn unreachable_when_nothing_answers() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let output = monitor(&url, None, &["--json"]).await;
    assert_eq!(code(&output), 3, "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["verdict"], "unreachable");
    assert!(report["problems"][0].as_str().unwrap().contains(&url), "{report}");
}
