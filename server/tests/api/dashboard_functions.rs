//! The server functions behind the status dashboard: the schedules in the page, session
//! history, policies, connectors and the admin password.

use app::{
    functions::{
        ChangePassword, ChangeWebhook, CreateWebhook, DrawQr, GetPolicies, GetSessionHistory,
        ListConnectors, ListWebhooks,
    },
    model::{SessionStatus, history::SessionHistory},
    policy::{DashboardPolicy, Policies},
    status::POLICY_META,
};
use leptos::server_fn::ServerFn;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, TestApp, TestOptions, spawn_app, spawn_app_with};

/// POSTs a server function's form as the logged-in admin behind `cookie`.
async fn call(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.anonymous()
        .post(app.url(path))
        .header("cookie", cookie)
        .header("accept", "application/json")
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_page_carries_the_schedules_the_server_was_started_with() {
    let app =
        spawn_app_with(TestOptions { dashboard_time_scale: 0.1, ..TestOptions::default() }).await;
    let cookie = app.login().await;
    let page = app.get_as("/dashboard", &cookie).await.text().await.unwrap();
    let start =
        page.find(&format!(r#"<meta name="{POLICY_META}" content=""#)).expect("no policy meta");
    let rest = &page[start..];
    let content = &rest[rest.find("content=\"").unwrap() + 9..];
    let content = &content[..content.find('"').unwrap()].replace("&quot;", "\"");
    let policy: DashboardPolicy = serde_json::from_str(content).expect("the policy does not parse");
    assert_eq!(policy, DashboardPolicy::default().scaled(0.1));
    assert_eq!(policy.poll.light_every.as_secs(), 3);
    app.stop().await;
}

#[tokio::test]
async fn the_server_draws_pairing_qr_codes_for_the_page() {
    let app = spawn_app().await;
    let cookie = app.login().await;
    let r = call(&app, DrawQr::PATH, &cookie, &[("payload", "2@abcdef,ghijkl,mnopqr")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let svg: String = r.json().await.unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
    let other: String =
        call(&app, DrawQr::PATH, &cookie, &[("payload", "2@other")]).await.json().await.unwrap();
    assert_ne!(svg, other, "another payload, another picture");

    // More than a QR code can hold is refused with the reason, not drawn half.
    let r = call(&app, DrawQr::PATH, &cookie, &[("payload", &"x".repeat(4_000))]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("cannot draw this code as QR"));
    // Only for whoever may read the event channel, where the codes are announced.
    let r = call(&app, DrawQr::PATH, "lifeline_session=forged", &[("payload", "2@abc")]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_session_history_holds_the_last_day_with_its_attempts() {
    let app = spawn_app().await;
    let cookie = app.login().await;
    let id = app.paired_session("Front desk").await;
    let before = app.until(&id, |s| s.status == SessionStatus::Connected).await;
    app.fault(&id, json!({"kind": "drop"})).await;
    // Connected again after the drop (the reconnecting stretch may be too short to see).
    app.until(&id, |s| {
        s.status == SessionStatus::Connected && s.last_connected_at > before.last_connected_at
    })
    .await;

    let r = call(&app, GetSessionHistory::PATH, &cookie, &[("id", &id)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let history: SessionHistory = r.json().await.unwrap();
    assert_eq!(history.session.id, id);
    assert_eq!(history.until - history.since, chrono::Duration::hours(24));
    let path: Vec<_> = history.changes.iter().map(|c| c.to).collect();
    assert!(path.contains(&SessionStatus::QrPending), "{path:?}");
    assert!(path.contains(&SessionStatus::Reconnecting), "{path:?}");
    assert_eq!(path.last(), Some(&SessionStatus::Connected));
    // Pairing is not an attempt; the reconnect after the drop is, once.
    assert_eq!(history.attempts().iter().filter(|a| **a).count(), 1);
    assert_eq!(history.timeline().attempts.len(), 1);
    // The supervisor's own retry is not a recovery: the log is empty, the budget whole.
    assert!(history.recoveries.is_empty());
    assert_eq!(history.recovery_budget_left, 3);

    let r = call(&app, GetSessionHistory::PATH, &cookie, &[("id", "nope")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("nope"));
    // Without a login the history is not given out.
    let r = app
        .anonymous()
        .post(app.url(GetSessionHistory::PATH))
        .form(&[("id", &id)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn policies_and_connectors_are_what_the_server_runs_with() {
    let app = spawn_app().await;
    let cookie = app.login().await;
    let policies: Policies =
        call(&app, GetPolicies::PATH, &cookie, &[]).await.json().await.unwrap();
    assert_eq!(&policies.supervisor, app.state.supervisor.policy());
    assert_eq!(policies.dashboard, DashboardPolicy::default());
    let connectors: Vec<String> =
        call(&app, ListConnectors::PATH, &cookie, &[]).await.json().await.unwrap();
    assert_eq!(connectors, ["simulator"]);
    app.stop().await;
}

#[tokio::test]
async fn changing_the_admin_password_ends_other_logins_and_keeps_this_one() {
    let app = spawn_app().await;
    let (here, elsewhere) = (app.login().await, app.login().await);
    let change = |current: &'static str, new: &'static str, confirm: &'static str| {
        let here = here.clone();
        let app = &app;
        async move {
            call(
                app,
                ChangePassword::PATH,
                &here,
                &[("current", current), ("password", new), ("confirm", confirm)],
            )
            .await
        }
    };
    let new = "a much better password";

    // Bad input is refused with the reason, and nothing changes.
    let r = change("wrong password!", new, new).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("the current password is wrong"));
    let r = change(ADMIN_PASSWORD, new, "something else entirely").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = change(ADMIN_PASSWORD, "short", "short").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = change(ADMIN_PASSWORD, ADMIN_PASSWORD, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let sessions = |cookie: String| {
        let app = &app;
        async move { app.get_as("/sessions", &cookie).await.status() }
    };
    assert_eq!(sessions(elsewhere.clone()).await, StatusCode::OK);

    let r = change(ADMIN_PASSWORD, new, new).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(sessions(here.clone()).await, StatusCode::OK, "this login ended");
    assert_eq!(sessions(elsewhere).await, StatusCode::UNAUTHORIZED, "another login survived");

    assert_eq!(app.login_attempt(ADMIN_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert!(app.login_attempt(new).await.status().is_success());

    // An API key is not the admin: it cannot change the password.
    let r = app
        .client
        .post(app.url(ChangePassword::PATH))
        .form(&[
            ("current", new),
            ("password", "yet another password"),
            ("confirm", "yet another password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("not an API key"));
    app.stop().await;
}

#[tokio::test]
async fn the_webhooks_page_manages_endpoints_as_an_admin_only() {
    let app = spawn_app().await;
    let cookie = app.login().await;
    let json_call = |path: &'static str, auth: (&'static str, String), body: serde_json::Value| {
        let app = &app;
        async move {
            app.anonymous()
                .post(app.url(path))
                .header(auth.0, auth.1)
                .header("accept", "application/json")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let login = ("cookie", cookie.clone());
    let new =
        json!({"request": {"url": "http://127.0.0.1:9/hook", "events": ["message.received"]}});
    let r = json_call(CreateWebhook::PATH, login.clone(), new.clone()).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let created: serde_json::Value = r.json().await.unwrap();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = created["id"].as_str().unwrap().to_owned();

    // Pausing and bad input, as the page sends them.
    let pause = json!({"id": id, "request": {"enabled": false}});
    let r = json_call(ChangeWebhook::PATH, login.clone(), pause).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["enabled"], false);
    let bad = json!({"request": {"url": "ftp://x", "events": ["message.received"]}});
    let r = json_call(CreateWebhook::PATH, login.clone(), bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("http:// or https://"));

    // A key below admin reaches none of it; an admin key does.
    let (read, _) = app.create_key(&cookie, "watcher", "read").await;
    let r = call(&app, ListWebhooks::PATH, "", &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = json_call(CreateWebhook::PATH, ("x-api-key", read), new).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (admin, _) = app.create_key(&cookie, "ops", "admin").await;
    let r = app
        .anonymous()
        .post(app.url(ListWebhooks::PATH))
        .header("x-api-key", admin)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let listed: serde_json::Value = r.json().await.unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed.as_array().unwrap().len(), 1, "the refused creations stored nothing");
    app.stop().await;
}
