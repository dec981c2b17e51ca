//! The server-rendered dashboard and its server functions.

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_root_leads_to_the_dashboard() {
    let app = spawn_app().await;
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"], "/dashboard");
    app.stop().await;
}

/// GET a dashboard page as the logged-in admin.
async fn page(app: &crate::helpers::TestApp, path: &str) -> reqwest::Response {
    let cookie = app.login().await;
    app.anonymous().get(app.url(path)).header("cookie", cookie).send().await.unwrap()
}

#[tokio::test]
async fn dashboard_shell_renders_with_navigation_dot_and_badge() {
    let app = spawn_app().await;
    let response = page(&app, "/dashboard").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    for needle in [
        "<title>Lifeline</title>",
        r#"href="/dashboard/sessions""#,
        r#"href="/dashboard/settings""#,
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
    let html = page(&app, "/dashboard/sessions").await.text().await.unwrap();
    assert!(html.contains("No sessions yet."), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn sessions_page_lists_the_sessions() {
    let app = spawn_app().await;
    app.paired_session("Front desk").await;
    app.create_session("Support bot").await;
    let html = page(&app, "/dashboard/sessions").await.text().await.unwrap();
    assert!(html.contains("Front desk"), "{html}");
    assert!(html.contains("Support bot"), "{html}");
    assert!(html.contains("Connected"), "{html}");
    assert!(!html.contains("No sessions yet."), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn unknown_pages_are_404_and_files_outside_the_site_are_not_served() {
    let app = spawn_app().await;
    assert_eq!(page(&app, "/dashboard/no-such-page").await.status(), 404);
    // The database lives in the data dir next to the site folder: never reachable.
    assert_eq!(app.get("/data/lifeline.db").await.status(), 404);
    assert_eq!(app.get("/../data/lifeline.db").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn pages_and_answers_are_compressed_as_the_client_accepts() {
    let app = crate::helpers::spawn_app().await;
    let cookie = app.login().await;
    let get = |path: &'static str, encodings: Option<&'static str>| {
        let (app, cookie) = (&app, cookie.clone());
        async move {
            let mut request = app.anonymous().get(app.url(path)).header("cookie", cookie);
            if let Some(encodings) = encodings {
                request = request.header("accept-encoding", encodings);
            }
            request.send().await.unwrap()
        }
    };
    let encoding = |r: &reqwest::Response| {
        r.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_owned())
    };
    // The page: brotli when accepted, gzip when only that is, as it is otherwise.
    let br = get("/dashboard", Some("gzip, br")).await;
    assert_eq!(br.status(), 200);
    assert_eq!(encoding(&br).as_deref(), Some("br"));
    assert!(br.headers()["vary"].to_str().unwrap().contains("accept-encoding"));
    let gzip = get("/dashboard", Some("gzip")).await;
    assert_eq!(encoding(&gzip).as_deref(), Some("gzip"));
    let gz_bytes = gzip.bytes().await.unwrap();
    let mut html = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz_bytes[..]), &mut html)
        .unwrap();
    assert!(html.contains("Lifeline"), "the page decompresses to itself");
    let plain = get("/dashboard", None).await;
    assert_eq!(encoding(&plain), None);
    assert!(plain.text().await.unwrap().len() > gz_bytes.len(), "compression made it smaller");
    // JSON for machines too (answers of a few bytes are sent as they are).
    assert_eq!(encoding(&get("/openapi.json", Some("gzip")).await).as_deref(), Some("gzip"));
    assert_eq!(encoding(&get("/sessions", Some("gzip")).await), None, "[] is not worth it");
    app.stop().await;
}

#[tokio::test]
async fn files_named_by_their_content_are_kept_a_year_and_the_rest_checked_each_time() {
    let app = crate::helpers::spawn_app().await;
    let site = std::path::PathBuf::from(&*app.state.leptos.site_root);
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/lifeline.Xq3kTmd1Tv-_0pQJ2mZpVw.wasm"), b"\0asm").unwrap();
    std::fs::write(site.join("pkg/lifeline.wasm"), b"\0asm").unwrap();
    std::fs::write(site.join("favicon.svg"), b"<svg/>").unwrap();
    let cache = |r: &reqwest::Response| r.headers()["cache-control"].to_str().unwrap().to_owned();

    let hashed = app.get("/pkg/lifeline.Xq3kTmd1Tv-_0pQJ2mZpVw.wasm").await;
    assert_eq!(hashed.status(), 200);
    assert_eq!(cache(&hashed), "public, max-age=31536000, immutable");
    for file in ["/pkg/lifeline.wasm", "/favicon.svg"] {
        let plain = app.get(file).await;
        assert_eq!(plain.status(), 200, "{file}");
        assert_eq!(cache(&plain), "no-cache", "{file}");
        // Checked again with the date of the copy the browser has: unchanged, no body.
        let modified = plain.headers()["last-modified"].clone();
        let again = app.anonymous().get(app.url(file)).header("if-modified-since", modified);
        let again = again.send().await.unwrap();
        assert_eq!(again.status(), 304, "{file}");
        assert_eq!(cache(&again), "no-cache", "{file}");
    }
    // The page names the files of the release that rendered it: never used unchecked.
    assert_eq!(cache(&page(&app, "/dashboard").await), "no-cache");
    app.stop().await;
}

#[tokio::test]
async fn the_page_is_rendered_with_the_servers_state_in_the_dot() {
    let app = spawn_app().await;
    let state = |html: &str| {
        let at = html.find(r#"data-testid="status-dot""#).expect("the dot is on the page");
        let tag = &html[html[..at].rfind('<').unwrap()..at + html[at..].find('>').unwrap()];
        tag.split(r#"data-state=""#).nth(1).unwrap().split('"').next().unwrap().to_owned()
    };
    // No session yet: red from the first paint, not "checking" until a script runs.
    let html = page(&app, "/dashboard").await.text().await.unwrap();
    assert_eq!(state(&html), "disconnected");
    // The browser starts from the very report the page shows (so hydration changes nothing).
    let meta = html.split(r#"<meta name="lifeline-health" content=""#).nth(1).expect("meta");
    let report = html_escape_decode(meta.split('"').next().unwrap());
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["sessions"]["total"], 0);

    app.paired_session("Front desk").await;
    let html = page(&app, "/dashboard").await.text().await.unwrap();
    assert_eq!(state(&html), "connected");
    // The login page too: the light report is public, as `GET /health` is.
    let login = app.anonymous().get(app.url("/dashboard/login")).send().await.unwrap();
    assert!(login.text().await.unwrap().contains(r#"<meta name="lifeline-health""#));
    app.stop().await;
}

/// The attribute escaping of the rendered page, undone.
fn html_escape_decode(attribute: &str) -> String {
    attribute
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
