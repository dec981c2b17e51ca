//! Access control: the auth matrix, logins and their lockout, setup, API keys, Origin.

use app::{
    functions::{CreateApiKey, ListApiKeys, RevokeApiKey},
    model::Scope,
};
use leptos::server_fn::ServerFn;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use server::access::{AccessError, PASSWORD_CHECKS_AT_ONCE};

use crate::helpers::{ADMIN_PASSWORD, API_KEY, TestApp, TestOptions, spawn_app, spawn_app_with};

/// Every route that needs credentials, with a body where it takes one.
fn protected(id: &str) -> Vec<(Method, String, Option<Value>)> {
    let s = |p: &str| format!("/sessions/{id}{p}");
    vec![
        (Method::GET, "/health/deep".into(), None),
        (Method::GET, "/metrics".into(), None),
        (Method::GET, "/sessions".into(), None),
        (Method::POST, "/sessions".into(), Some(json!({"name": "x", "connector": "simulator"}))),
        (Method::GET, s(""), None),
        (Method::PATCH, s(""), Some(json!({"auto_connect": true}))),
        (Method::POST, s("/reconnect"), None),
        (Method::POST, s("/start"), None),
        (Method::POST, s("/stop"), None),
        (Method::POST, s("/logout"), None),
        (Method::POST, s("/messages"), Some(json!({"to": "+27821234567", "text": "hi"}))),
        (
            Method::POST,
            format!("/dev/simulator/sessions/{id}/fault"),
            Some(json!({"kind": "message"})),
        ),
        (Method::DELETE, s(""), None),
        (Method::GET, "/keys".into(), None),
        (Method::POST, "/keys".into(), Some(json!({"name": "CI", "scope": "read"}))),
        (Method::DELETE, "/keys/no-such-key".into(), None),
    ]
}

/// The scope a route needs: reading for every GET, administering for `/keys`, operating
/// for the rest.
fn needed(method: &Method, path: &str) -> Scope {
    if path.starts_with("/keys") {
        Scope::Admin
    } else if method == Method::GET {
        Scope::Read
    } else {
        Scope::Operate
    }
}

async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: &Option<Value>,
    auth: Option<(&str, &str)>,
) -> (StatusCode, String) {
    let mut request = app.anonymous().request(method.clone(), app.url(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    if let Some((name, value)) = auth {
        request = request.header(name, value);
    }
    let r = request.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn auth_matrix_every_protected_route() {
    let app = spawn_app().await;
    let id = app.paired_session("Shop").await;
    let cookie = app.login().await;
    let bearer = format!("Bearer {API_KEY}");
    for (method, path, body) in protected(&id) {
        let (none, none_body) = call(&app, &method, &path, &body, None).await;
        let (wrong, wrong_body) =
            call(&app, &method, &path, &body, Some(("x-api-key", "not-the-key"))).await;
        assert_eq!(none, StatusCode::UNAUTHORIZED, "{method} {path} without credentials");
        assert_eq!(wrong, StatusCode::UNAUTHORIZED, "{method} {path} with a wrong key");
        // No hint of which part was wrong: missing and wrong look the same.
        assert_eq!(none_body, wrong_body, "{method} {path}");
        let v: Value = serde_json::from_str(&none_body).unwrap();
        assert_eq!(v["error"], "unauthorized");

        for auth in [
            ("x-api-key", API_KEY),
            ("authorization", bearer.as_str()),
            ("cookie", cookie.as_str()),
        ] {
            let (status, text) = call(&app, &method, &path, &body, Some(auth)).await;
            assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{method} {path} with {}: {status} {text}",
                auth.0
            );
        }
    }
    for path in ["/health", "/livez", "/readyz"] {
        let r = app.anonymous().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path} should be public");
    }
    app.stop().await;
}

#[tokio::test]
async fn dashboard_pages_and_server_functions_need_a_login() {
    let app = spawn_app().await;
    let r = app.anonymous().get(app.url("/dashboard/sessions")).send().await.unwrap();
    assert!(r.status().is_redirection());
    assert_eq!(r.headers()["location"], "/dashboard/login?next=/dashboard/sessions");
    let r = app.anonymous().get(app.url("/dashboard/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = app.anonymous().post(app.url(ListApiKeys::PATH)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unauthorized");

    let cookie = app.login().await;
    let r = app.get_as("/dashboard/login", &cookie).await;
    assert_eq!(r.headers()["location"], "/dashboard", "a logged-in visitor skips the login page");
    let r = app
        .anonymous()
        .post(app.url(ListApiKeys::PATH))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_login_cookie_is_http_only_and_strict_and_logout_ends_it() {
    let app = spawn_app().await;
    let r = app.login_attempt(ADMIN_PASSWORD).await;
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing: {set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let r =
        app.anonymous().get(app.url("/sessions")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = app
        .anonymous()
        .post(app.url("/api/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let r =
        app.anonymous().get(app.url("/sessions")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 401, "the old cookie still works after logout");
    app.stop().await;
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_login() {
    let app = spawn_app().await;
    for i in 0..3 {
        let r = app.login_attempt("wrong password").await;
        assert_eq!(r.status(), 401, "attempt {i}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, json!({"error": "unauthorized", "message": "wrong username or password"}));
    }
    // Locked now, even for the right password.
    let r = app.login_attempt(ADMIN_PASSWORD).await;
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_attempts");
    // A growing delay, not a wall: the first is a second.
    assert!(body["message"].as_str().unwrap().contains("try again in 1 s"), "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_logins_from_one_address_get_three_password_checks() {
    let app = spawn_app().await;
    let attempts = (0..300).map(|_| async { app.login_attempt("wrong password").await.status() });
    let statuses = futures_util::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert!(checked <= 3, "{checked} passwords were checked for one address");
    // The others were refused without a check: locked out, or the checks were full.
    assert!(statuses.iter().all(|s| matches!(s.as_u16(), 401 | 429 | 503)), "{statuses:?}");
    // Those refused for load did not count; what is left of the three free ones, and no
    // more, gets checked — then even the right password waits.
    let mut more = 0;
    while app.login_attempt("wrong password").await.status() == StatusCode::UNAUTHORIZED {
        more += 1;
    }
    assert_eq!(checked + more, 3);
    assert_eq!(app.login_attempt(ADMIN_PASSWORD).await.status(), 429);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_checks_at_once_are_bounded() {
    let app = spawn_app().await;
    // 300 logins from 300 addresses at once: no limiter stands in the way, the bound does.
    let logins = (0..300u32).map(|i| {
        let access = app.state.access.clone();
        let client = std::net::IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
        async move { access.login(client, false, "admin", "wrong password").await }
    });
    let outcomes = futures_util::future::join_all(logins).await;
    let busy = outcomes.iter().filter(|o| matches!(o, Err(AccessError::Busy))).count();
    let checked =
        outcomes.iter().filter(|o| matches!(o, Err(AccessError::WrongCredentials))).count();
    assert_eq!(busy + checked, 300, "{outcomes:?}");
    assert!(busy > 0, "300 password hashes ran at once");
    assert!(checked >= PASSWORD_CHECKS_AT_ONCE, "fewer checks than the bound allows");
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_browsers_wrong_logins_lock_only_that_browser() {
    let login = |app: &TestApp, client: &'static str, password: &'static str| {
        app.anonymous()
            .post(app.url("/api/auth/login"))
            .header("accept", "application/json")
            .header("x-forwarded-for", client)
            .form(&[("username", "admin"), ("password", password), ("next", "")])
            .send()
    };
    let behind_proxy = spawn_app_with(TestOptions {
        trusted_proxies: vec!["127.0.0.1".into()],
        ..TestOptions::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            login(&behind_proxy, "203.0.113.1", "wrong password").await.unwrap().status(),
            401
        );
    }
    assert_eq!(login(&behind_proxy, "203.0.113.1", ADMIN_PASSWORD).await.unwrap().status(), 429);
    // The admin at another browser behind the same proxy logs in.
    let r = login(&behind_proxy, "203.0.113.2", ADMIN_PASSWORD).await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    behind_proxy.stop().await;

    // Without trust the header is anyone's invention: it changes nothing.
    let direct = spawn_app().await;
    for spoofed in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(login(&direct, spoofed, "wrong password").await.unwrap().status(), 401);
    }
    assert_eq!(login(&direct, "198.51.100.6", ADMIN_PASSWORD).await.unwrap().status(), 429);
    direct.stop().await;
}

#[tokio::test]
async fn https_at_a_trusted_proxy_makes_the_cookie_secure_and_sends_hsts() {
    let app = spawn_app_with(TestOptions {
        trusted_proxies: vec!["127.0.0.1".into()],
        ..TestOptions::default()
    })
    .await;
    let login = |proto: &'static str| {
        app.anonymous()
            .post(app.url("/api/auth/login"))
            .header("accept", "application/json")
            .header("x-forwarded-proto", proto)
            .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("next", "")])
            .send()
    };
    let r = login("https").await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("__Host-lifeline_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    // The __Host- cookie is a login here.
    let token = cookie.split(';').next().unwrap().to_owned();
    let page = app.anonymous().get(app.url("/dashboard/sessions")).header("cookie", token);
    assert_eq!(page.send().await.unwrap().status(), 200);
    // Plain HTTP through the proxy: a plain cookie, no HSTS.
    let r = login("http").await.unwrap();
    assert!(r.headers()["set-cookie"].to_str().unwrap().starts_with("lifeline_session="));
    assert!(r.headers().get("strict-transport-security").is_none());
    app.stop().await;

    // From anyone else the header is not believed.
    let direct = spawn_app().await;
    let r = direct
        .anonymous()
        .post(direct.url("/api/auth/login"))
        .header("accept", "application/json")
        .header("x-forwarded-proto", "https")
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD), ("next", "")])
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"].to_str().unwrap().starts_with("lifeline_session="));
    assert!(r.headers().get("strict-transport-security").is_none());
    direct.stop().await;
}

#[tokio::test]
async fn guessing_api_keys_is_limited() {
    let app = spawn_app().await;
    let with_key =
        |key: String| app.anonymous().get(app.url("/sessions")).header("x-api-key", key).send();
    for i in 0..20 {
        assert_eq!(with_key(format!("guess-{i:04}-xxxxxxxxxxxxxxxx")).await.unwrap().status(), 401);
    }
    // From here the address waits, and its keys are not even looked at.
    let r = with_key("guess-0020-xxxxxxxxxxxxxxxx".into()).await.unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_attempts");
    assert_eq!(with_key(API_KEY.into()).await.unwrap().status(), 429);
    // No key at all is a misconfigured client, not a guess, and still gets a plain 401.
    let other = spawn_app().await;
    for _ in 0..30 {
        let r = other.anonymous().get(other.url("/sessions")).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    other.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn secure_logins_use_a_host_only_cookie() {
    let app = spawn_app_with(TestOptions { secure_cookies: true, ..TestOptions::default() }).await;
    let r = app.login_attempt(ADMIN_PASSWORD).await;
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("lifeline_session"))
        .expect("no session cookie")
        .to_owned();
    assert!(set.starts_with("__Host-lifeline_session="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/") && !set.contains("Domain"), "{set}");
    let token = set.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    let page = |cookie: String| {
        app.anonymous().get(app.url("/dashboard/sessions")).header("cookie", cookie).send()
    };
    assert_eq!(page(format!("__Host-lifeline_session={token}")).await.unwrap().status(), 200);
    // The same token under the plain name (as a sibling subdomain could set it) is no login.
    let r = page(format!("lifeline_session={token}")).await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.headers());
    app.stop().await;
}

#[tokio::test]
async fn setup_codes_cannot_be_guessed() {
    let app = spawn_app_with(TestOptions { admin_password: None, ..TestOptions::default() }).await;
    let guess = |n: usize| {
        app.anonymous()
            .post(app.url("/api/auth/setup"))
            .header("accept", "application/json")
            .form(&[
                ("username", "owner"),
                ("password", "a long enough password"),
                ("confirm", "a long enough password"),
                ("code", &format!("GUES-SNUM-{n:04}")),
            ])
            .send()
    };
    for n in 0..3 {
        assert_eq!(guess(n).await.unwrap().status(), 403);
    }
    // From here each guess waits longer, whatever it sends.
    assert_eq!(guess(3).await.unwrap().status(), 429);
    assert!(!app.state.access.admin_exists());
    app.stop().await;
}

#[tokio::test]
async fn requests_for_names_the_server_does_not_answer_to_are_refused() {
    let app = spawn_app_with(TestOptions {
        allowed_hosts: vec!["lifeline.example.com".into()],
        ..TestOptions::default()
    })
    .await;
    let port = app.addr.port();
    let with_host =
        |host: String| app.client.get(app.url("/health/deep")).header("host", host).send();
    // A page of another site that points its own name at this server (DNS rebinding).
    let r = with_host(format!("rebind.evil.example:{port}")).await.unwrap();
    assert_eq!(r.status(), 421);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unknown_host");
    assert!(body["message"].as_str().unwrap().contains("LIFELINE_ALLOWED_HOSTS"), "{body}");
    let r = app
        .client
        .post(app.url("/sessions"))
        .header("host", format!("rebind.evil.example:{port}"))
        .header("origin", format!("http://rebind.evil.example:{port}"))
        .json(&json!({"name": "x", "connector": "simulator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    assert!(app.state.supervisor.list().is_empty(), "a rebound page created a session");
    // Addresses, localhost and the configured names are answered.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "lifeline.example.com".to_owned(),
    ] {
        assert_eq!(with_host(host.clone()).await.unwrap().status(), 200, "{host}");
    }
    app.stop().await;
}

#[tokio::test]
async fn first_start_sets_up_the_admin_once() {
    let app = spawn_app_with(TestOptions { admin_password: None, ..TestOptions::default() }).await;
    for page in ["/dashboard", "/dashboard/login", "/dashboard/sessions"] {
        let r = app.anonymous().get(app.url(page)).send().await.unwrap();
        assert_eq!(r.headers()["location"], "/dashboard/setup", "{page}");
    }
    let code = app.state.access.setup_code().expect("an unclaimed server has a setup code");
    let setup_with = |code: String, password: &'static str, confirm: &'static str| {
        app.anonymous()
            .post(app.url("/api/auth/setup"))
            .header("accept", "application/json")
            .form(&[
                ("username", "owner"),
                ("password", password),
                ("confirm", confirm),
                ("code", code.as_str()),
            ])
            .send()
    };
    let setup = |password, confirm| setup_with(code.clone(), password, confirm);
    // Whoever reaches a fresh server first does not get it: the code is in the server's log.
    let r = app
        .anonymous()
        .post(app.url("/api/auth/setup"))
        .header("accept", "application/json")
        .form(&[
            ("username", "owner"),
            ("password", "a long enough password"),
            ("confirm", "a long enough password"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "setup without a code: {}", r.status());
    let r = setup_with("AAAA-BBBB-CCCC".into(), "a long enough password", "a long enough password")
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("setup code is wrong"));
    assert!(!app.state.access.admin_exists());

    let r = setup("short", "short").await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least 10 characters"));
    let r = setup("a long enough password", "a long enough passworD").await.unwrap();
    assert_eq!(r.status(), 422);

    let r = setup("a long enough password", "a long enough password").await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let r =
        app.anonymous().get(app.url("/dashboard")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "the new admin is logged in");

    assert_eq!(app.state.access.setup_code(), None, "the code outlived the setup");
    let r = setup("another long password", "another long password").await.unwrap();
    assert_eq!(r.status(), 403, "a second setup must be refused");
    let r = app.anonymous().get(app.url("/dashboard/setup")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/dashboard/login");
    app.stop().await;
}

#[tokio::test]
async fn api_keys_are_shown_once_work_and_stop_working_when_revoked() {
    let app = spawn_app().await;
    let cookie = app.login().await;
    let fun = |path: &'static str, form: Vec<(&'static str, String)>| {
        app.anonymous().post(app.url(path)).header("cookie", &cookie).form(&form).send()
    };
    let created: Value =
        fun(CreateApiKey::PATH, vec![("name", "Prometheus".into()), ("scope", "read".into())])
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["info"]["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(created["info"]["prefix"].as_str().unwrap()));

    let listed: Value = fun(ListApiKeys::PATH, vec![]).await.unwrap().json().await.unwrap();
    assert!(!listed.to_string().contains(&key), "the key itself must never be listed");

    let with_key = || app.anonymous().get(app.url("/sessions")).header("x-api-key", &key).send();
    assert_eq!(with_key().await.unwrap().status(), 200);
    let listed: Value = fun(ListApiKeys::PATH, vec![]).await.unwrap().json().await.unwrap();
    assert!(listed[0]["last_used_at"].is_string(), "use not recorded: {listed}");

    let r = fun(RevokeApiKey::PATH, vec![("id", id.clone())]).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(with_key().await.unwrap().status(), 401);
    // Stored hashed: the database never saw the key.
    let db = app.db().await;
    let stored = server::db::api_keys::all(&db).await.unwrap();
    assert!(stored[0].key_hash != key && stored[0].view.revoked_at.is_some());
    app.stop().await;
}

#[tokio::test]
async fn each_key_scope_reaches_only_its_routes() {
    let app = spawn_app().await;
    let id = app.paired_session("Shop").await;
    let cookie = app.login().await;
    let mut keys = Vec::new();
    for scope in [Scope::Read, Scope::Operate, Scope::Admin] {
        keys.push((
            scope,
            app.create_key(&cookie, &format!("{scope} key"), &scope.to_string()).await.0,
        ));
    }
    for (scope, key) in &keys {
        for (method, path, body) in protected(&id) {
            let (status, text) = call(&app, &method, &path, &body, Some(("x-api-key", key))).await;
            if needed(&method, &path) > *scope {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} with a {scope} key");
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["error"], "forbidden");
                let message = v["message"].as_str().unwrap();
                assert!(message.contains(&format!("{scope} scope")), "{message}");
            } else {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} with a {scope} key: {status} {text}"
                );
            }
        }
    }
    // A refused request changed nothing: only the admin key's POST /keys made a key.
    let listed: Value = app.get_as("/keys", &cookie).await.json().await.unwrap();
    let names: Vec<&str> =
        listed.as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names.iter().filter(|n| **n == "CI").count(), 1, "{names:?}");
    app.stop().await;
}

#[tokio::test]
async fn keys_are_managed_over_rest_and_a_revoked_key_stops_at_once() {
    let app = spawn_app().await;
    let cookie = app.login().await;
    let (admin, _) = app.create_key(&cookie, "admin key", "admin").await;
    let post = |body: Value| {
        app.anonymous().post(app.url("/keys")).header("x-api-key", &admin).json(&body).send()
    };
    // Bad input is refused with the reason; nothing is made.
    for (body, says) in [
        (json!({"name": "no scope"}), "scope"),
        (json!({"name": "x", "scope": "root"}), "root"),
        (json!({"name": "", "scope": "read"}), "name"),
        (json!({"name": "x", "scope": "read", "extra": 1}), "extra"),
    ] {
        let r = post(body.clone()).await.unwrap();
        assert!(r.status().is_client_error(), "{body}: {}", r.status());
        let text = r.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    let listed: Value = app.get_as("/keys", &cookie).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "a refused request made a key: {listed}");

    // An admin key provisions a read key for a monitor, then revokes it.
    let r = post(json!({"name": "Grafana", "scope": "read"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let (key, id) = (created["key"].as_str().unwrap(), created["info"]["id"].as_str().unwrap());
    let sessions = || app.anonymous().get(app.url("/sessions")).header("x-api-key", key).send();
    assert_eq!(sessions().await.unwrap().status(), StatusCode::OK);
    let r = app.anonymous().get(app.url("/keys")).header("x-api-key", &admin).send().await;
    let listed: Value = r.unwrap().json().await.unwrap();
    assert!(!listed.to_string().contains(key), "the key itself must never be listed");
    assert_eq!(listed[0]["scope"], "read");
    let delete = |id: String| {
        app.anonymous().delete(app.url(&format!("/keys/{id}"))).header("x-api-key", &admin).send()
    };
    assert_eq!(delete(id.to_owned()).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(sessions().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let r = delete("no-such-key".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "no_such_key");
    app.stop().await;
}

#[tokio::test]
async fn only_a_login_manages_keys_from_the_dashboard() {
    let app = spawn_app().await;
    let cookie = app.login().await;
    let (admin, _) = app.create_key(&cookie, "admin key", "admin").await;
    // Even the configured key and an admin key are not a person at the dashboard.
    for key in [API_KEY, admin.as_str()] {
        for (path, form) in [
            (ListApiKeys::PATH, vec![]),
            (CreateApiKey::PATH, vec![("name", "sneaky"), ("scope", "admin")]),
        ] {
            let r = app
                .anonymous()
                .post(app.url(path))
                .header("x-api-key", key)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
            assert!(r.text().await.unwrap().contains("not an API key"));
        }
    }
    let stored = server::db::api_keys::all(&app.db().await).await.unwrap();
    assert_eq!(stored.len(), 1, "a key made a key");
    app.stop().await;
}

#[tokio::test]
async fn keys_made_before_scopes_keep_operating() {
    let app = spawn_app().await;
    let db = app.db().await;
    // A row as the earlier schema wrote it: no scope.
    let insert = "INSERT INTO api_keys (id, name, prefix, key_hash, created_at)
                  VALUES ('old', 'Old script', 'llk_old', 'hash', '2026-01-01T00:00:00Z')";
    match &db {
        server::db::Db::Sqlite(pool) => sqlx::query(insert).execute(pool).await.map(drop),
        server::db::Db::Postgres(pool) => sqlx::query(insert).execute(pool).await.map(drop),
    }
    .unwrap();
    let stored = server::db::api_keys::all(&db).await.unwrap();
    assert_eq!(stored[0].view.scope, Scope::Operate);
    app.stop().await;
}

#[tokio::test]
async fn requests_from_another_site_are_refused() {
    let app = spawn_app().await;
    let cookie = app.login().await;
    let evil = "https://evil.example";
    let r = app
        .anonymous()
        .post(app.url(ListApiKeys::PATH))
        .header("cookie", &cookie)
        .header("origin", evil)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a server function called from a foreign Origin");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "forbidden");
    let r = app
        .client
        .post(app.url("/sessions"))
        .header("origin", evil)
        .json(&json!({"name": "x", "connector": "simulator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(app.state.supervisor.list().is_empty(), "the refused request created a session");

    // The same request from the dashboard's own origin goes through.
    let own = format!("http://{}", app.addr);
    let r = app
        .anonymous()
        .post(app.url(ListApiKeys::PATH))
        .header("cookie", &cookie)
        .header("origin", own)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn cors_is_off_by_default_and_follows_the_allow_list() {
    let preflight = |app: &TestApp, origin: &'static str| {
        app.anonymous()
            .request(Method::OPTIONS, app.url("/sessions"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "x-api-key")
            .send()
    };
    let closed = spawn_app().await;
    let r = preflight(&closed, "https://ops.example.com").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    closed.stop().await;

    let open = spawn_app_with(TestOptions {
        cors_origins: vec!["https://ops.example.com".into()],
        ..TestOptions::default()
    })
    .await;
    let r = preflight(&open, "https://ops.example.com").await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://ops.example.com");
    let r = preflight(&open, "https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = open
        .client
        .post(open.url("/sessions"))
        .header("origin", "https://ops.example.com")
        .json(&json!({"name": "x", "connector": "simulator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "an allowed origin may act");
    open.stop().await;
}
