//! The server-rendered dashboard and its server functions.

use crate::helpers::{SeedSession, spawn_app, spawn_app_with_sessions};

#[tokio::test]
async fn dashboard_shell_renders_with_navigation_dot_and_badge() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    for needle in [
        "<title>Lifeline</title>",
        r#"href="/sessions""#,
        r#"href="/settings""#,
        r#"data-testid="status-dot""#,
        r#"data-testid="status-badge""#,
        // The hydration script and stylesheet, named after the build's output name.
        "/pkg/lifeline.js",
        "/pkg/lifeline.css",
    ] {
        assert!(html.contains(needle), "missing {needle} in:\n{html}");
    }
    app.stop().await;
}

#[tokio::test]
async fn sessions_page_shows_an_empty_state() {
    let app = spawn_app().await;
    let html = app.get("/sessions").await.text().await.unwrap();
    assert!(html.contains("No sessions yet."), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn sessions_page_lists_sessions_from_the_database() {
    let app = spawn_app_with_sessions(&[
        SeedSession { id: "a", name: "Front desk", status: "connected", desired: "running" },
        SeedSession { id: "b", name: "Support bot", status: "reconnecting", desired: "running" },
    ])
    .await;
    let html = app.get("/sessions").await.text().await.unwrap();
    assert!(html.contains("Front desk"), "{html}");
    assert!(html.contains("Support bot"), "{html}");
    assert!(html.contains("Reconnecting"), "{html}");
    assert!(!html.contains("No sessions yet."), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn unknown_pages_are_404_and_files_outside_the_site_are_not_served() {
    let app = spawn_app().await;
    assert_eq!(app.get("/no-such-page").await.status(), 404);
    // The database lives in the data dir next to the site folder: never reachable.
    assert_eq!(app.get("/data/lifeline.db").await.status(), 404);
    assert_eq!(app.get("/../data/lifeline.db").await.status(), 404);
    app.stop().await;
}
