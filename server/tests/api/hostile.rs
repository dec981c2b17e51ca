//! Hostile input: what a scanner, a fuzzer or a slow-read attacker sends. Every answer is a
//! JSON error or a success, nothing panics, a refused request changes nothing, and clients
//! that hold connections without finishing a request are cut off.

use std::{collections::BTreeMap, net::SocketAddr, sync::Mutex, time::Duration};

use app::{functions::CreateApiKey, model::ws::ServerFrame};
use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{HeaderName, HeaderValue, Method, Request, Uri},
};
use futures_util::{SinkExt, StreamExt};
use leptos::server_fn::ServerFn;
use proptest::strategy::ValueTree;
use proptest::{
    prelude::*,
    test_runner::{TestCaseError, TestRunner},
};
use serde_json::Value;
use server::db::Db;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

use crate::{
    events,
    helpers::{API_KEY, Backend, TestApp, fresh_database, spawn_app, spawn_on},
    lifecycle::Lifeline,
    on_both_databases,
};

/// Reads until the server closes the connection; what it sent, or `None` if it was still
/// open after `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    tokio::time::timeout(within, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(got)
}

#[tokio::test]
async fn headers_trickled_a_byte_at_a_time_are_cut_off() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let start = format!("GET /health HTTP/1.1\r\nHost: {}\r\nX-Slow: ", app.addr);
    stream.write_all(start.as_bytes()).await.unwrap();
    // One byte every 200 ms, forever: only the server's deadline on headers ends this.
    let mut trickle = tokio::time::interval(Duration::from_millis(200));
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            trickle.tick().await;
            if stream.write_all(b"a").await.is_err() {
                break;
            }
            let mut probe = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe));
            if let Ok(Ok(0) | Err(_)) = read.await {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a request trickling its headers was still open after 30 s");

    // A connection that never sends a byte is closed as well.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        until_closed(&mut idle, Duration::from_secs(30)).await.is_some(),
        "an idle connection was kept"
    );
    // And the server still answers.
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop().await;
}

/// The server's resident memory, from `/proc`.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn ten_thousand_idle_connections_neither_stop_the_server_nor_stay() {
    const IDLE: usize = 10_000;
    // A process of its own: both ends of 10 000 connections would not fit one process's
    // file descriptors.
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Sqlite, &dir).await;
    let server = Lifeline::start(&url, dir.path());
    let addr = server.url.trim_start_matches("http://").to_owned();
    let before = resident_kib(server.child.id());

    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        // Bounded: a refused or slow connect fails the test rather than hanging it.
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&addr))
            .await
            .expect("connecting took over 10 s")
            .expect("cannot connect");
        idle.push(stream);
    }
    let client = reqwest::Client::new();
    let health = client.get(format!("{}/health", server.url)).send().await.unwrap();
    assert_eq!(health.status(), 200, "the server stopped answering");
    let deep = client
        .get(format!("{}/health/deep", server.url))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deep.status(), 200);
    let held = resident_kib(server.child.id());
    // Each idle connection costs the server a task and its buffers, not megabytes.
    assert!(held - before < 256 * 1024, "{IDLE} idle connections took {} KiB", held - before);

    // The header deadline closes every one of them.
    let closing = idle.into_iter().map(|mut stream| {
        tokio::spawn(
            async move { until_closed(&mut stream, Duration::from_secs(60)).await.is_some() },
        )
    });
    let mut kept = 0;
    for closed in futures_util::future::join_all(closing).await {
        kept += usize::from(!closed.unwrap());
    }
    assert_eq!(kept, 0, "{kept} of {IDLE} idle connections were still open after a minute");
}

/// One request a fuzzer might send.
#[derive(Debug, Clone)]
struct Hostile {
    method: Method,
    path: String,
    credentials: Credentials,
    content_type: Option<String>,
    extra: Option<(String, Vec<u8>)>,
    body: Vec<u8>,
    peer: u8,
}

#[derive(Debug, Clone, Copy)]
enum Credentials {
    None,
    Key,
    WrongKey,
    ReadKey,
    Login,
}

fn method() -> impl Strategy<Value = Method> {
    // Mostly the methods the routes take, so cases get past routing to the handlers.
    prop_oneof![
        4 => Just(Method::GET),
        4 => Just(Method::POST),
        1 => Just(Method::PATCH),
        1 => Just(Method::DELETE),
        1 => Just(Method::PUT),
        1 => Just(Method::OPTIONS),
        1 => Just(Method::HEAD),
        1 => "[A-Z]{1,12}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

/// A path segment: ordinary, percent-encoded oddities (NUL, invalid UTF-8, slashes, dots),
/// or long.
fn segment(real: String) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(real),
        "[a-zA-Z0-9._~-]{0,40}",
        Just("%00".to_owned()),
        Just("%ff%fe".to_owned()),
        Just("..%2f..%2fetc%2fpasswd".to_owned()),
        Just("a".repeat(5000)),
        prop::collection::vec(any::<u8>(), 0..24)
            .prop_map(|bytes| bytes.iter().map(|b| format!("%{b:02x}")).collect()),
    ]
}

fn path(real: String) -> impl Strategy<Value = String> {
    let templates = prop_oneof![
        Just("/sessions/{}"),
        Just("/sessions/{}/reconnect"),
        Just("/sessions/{}/start"),
        Just("/sessions/{}/stop"),
        Just("/sessions/{}/logout"),
        Just("/sessions/{}/messages"),
        Just("/sessions"),
        Just("/keys/{}"),
        Just("/keys"),
        Just("/health"),
        Just("/health/deep"),
        Just("/metrics"),
        Just("/api/auth/login"),
        Just("/api/auth/setup"),
        Just("/api/{}"),
        Just("/dev/simulator/sessions/{}/fault"),
        Just("/{}"),
    ];
    let query = prop::option::of(prop_oneof!["[a-z0-9=&%._~+-]{0,80}", "[ -~]{0,80}"]);
    (templates, segment(real), query).prop_map(|(template, segment, query)| {
        let mut path = template.replace("{}", &segment);
        if let Some(query) = query {
            path.push('?');
            path.push_str(&query);
        }
        path
    })
}

/// A JSON value of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
        Just(Value::from("+27821234567")),
        Just(Value::from("simulator")),
        Just(Value::from("read")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_owned()),
                    Just("connector".to_owned()),
                    Just("pair_phone".to_owned()),
                    Just("to".to_owned()),
                    Just("text".to_owned()),
                    Just("auto_connect".to_owned()),
                    Just("primary".to_owned()),
                    Just("scope".to_owned()),
                    Just("kind".to_owned()),
                    Just("count".to_owned()),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..512),
        "[ -~]{0,200}".prop_map(String::into_bytes),
        Just(b"{\"name\": \"a\\u0000b\", \"connector\": \"simulator\"}".to_vec()),
    ]
}

fn hostile(real: String) -> impl Strategy<Value = Hostile> {
    let credentials = prop_oneof![
        Just(Credentials::None),
        Just(Credentials::Key),
        Just(Credentials::WrongKey),
        Just(Credentials::ReadKey),
        Just(Credentials::Login),
    ];
    let content_type = prop::option::of(prop_oneof![
        Just("application/json".to_owned()),
        Just("application/x-www-form-urlencoded".to_owned()),
        Just("text/plain".to_owned()),
        "[ -~]{0,40}",
    ]);
    let extra =
        prop::option::of(("[a-z][a-z0-9-]{0,30}", prop::collection::vec(any::<u8>(), 0..200)));
    (method(), path(real), credentials, content_type, extra, body(), any::<u8>()).prop_map(
        |(method, path, credentials, content_type, extra, body, peer)| Hostile {
            method,
            path,
            credentials,
            content_type,
            extra,
            body,
            peer,
        },
    )
}

/// What a refused request must leave as it was: everything a request could change.
async fn fingerprint(db: &Db) -> Vec<String> {
    let Db::Sqlite(pool) = db else { unreachable!("the fuzzer runs on SQLite") };
    let mut rows = Vec::new();
    for query in [
        "SELECT id || '|' || name || '|' || connector || '|' || is_active || '|' || auto_connect
                || '|' || desired || '|' || COALESCE(phone_number, '') FROM sessions",
        "SELECT id || '|' || name || '|' || scope || '|' || COALESCE(revoked_at, '') FROM api_keys",
        "SELECT username || '|' || password_hash FROM users",
        "SELECT token_hash FROM login_sessions",
    ] {
        let found: Vec<(String,)> = sqlx::query_as(query).fetch_all(pool).await.unwrap();
        rows.extend(found.into_iter().map(|(row,)| row));
    }
    rows.sort();
    rows
}

/// Sends one hostile request through the router in process; checks the answer.
async fn check(
    router: &Router,
    db: &Db,
    secrets: &Secrets,
    case: &Hostile,
    seen: &Mutex<BTreeMap<u16, usize>>,
) -> Result<(), TestCaseError> {
    let Ok(uri) = case.path.parse::<Uri>() else {
        // Not a request line hyper would pass on; the explicit tests cover raw bytes.
        return Ok(());
    };
    let mut request =
        Request::builder().method(case.method.clone()).uri(uri).header("host", "127.0.0.1:3000");
    match case.credentials {
        Credentials::None => {}
        Credentials::Key => request = request.header("x-api-key", API_KEY),
        Credentials::WrongKey => {
            request = request.header("x-api-key", "ll_not_a_key_anyone_made_at_all")
        }
        Credentials::ReadKey => request = request.header("x-api-key", &secrets.read_key),
        Credentials::Login => request = request.header("cookie", &secrets.cookie),
    }
    if let Some(content_type) = &case.content_type
        && let Ok(value) = HeaderValue::from_str(content_type)
    {
        request = request.header("content-type", value);
    }
    if let Some((name, value)) = &case.extra
        && let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value))
        && !matches!(name.as_str(), "host" | "content-length" | "transfer-encoding")
    {
        request = request.header(name, value);
    }
    let mut request = request.body(Body::from(case.body.clone())).unwrap();
    let peer = SocketAddr::from(([127, 0, 1, case.peer], 40000));
    request.extensions_mut().insert(ConnectInfo(peer));

    let before = fingerprint(db).await;
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    *seen.lock().unwrap().entry(status.as_u16()).or_default() += 1;
    let content_type = response.headers().get("content-type").cloned();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    prop_assert!(status.as_u16() < 500, "{status}: {}", String::from_utf8_lossy(&bytes));
    if status.is_client_error() {
        let page = case.path.starts_with("/dashboard") || !case.path.starts_with('/');
        if case.method != Method::HEAD && !page {
            let error: Value = serde_json::from_slice(&bytes).map_err(|e| {
                TestCaseError::fail(format!(
                    "{status} not JSON ({e}, {content_type:?}): {}",
                    String::from_utf8_lossy(&bytes)
                ))
            })?;
            prop_assert!(error["error"].is_string() && error["message"].is_string(), "{error}");
        }
        prop_assert_eq!(
            before,
            fingerprint(db).await,
            "a refused request ({}) changed the database",
            status
        );
    }
    Ok(())
}

/// Credentials the fuzzer picks from.
struct Secrets {
    read_key: String,
    cookie: String,
}

#[test]
fn fuzzed_requests_get_json_errors_and_refusals_change_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (app, router, db, secrets, real) = runtime.block_on(async {
        let app = spawn_app().await;
        let real = app.paired_session("Shop").await;
        let cookie = app.login().await;
        let (read_key, _) = app.create_key(&cookie, "monitor", "read").await;
        let router = server::http::router(app.state.clone());
        let db = app.db().await;
        (app, router, db, Secrets { read_key, cookie }, real)
    });
    let config =
        ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = TestRunner::new(config);
    let seen = Mutex::new(BTreeMap::new());
    let result = runner
        .run(&hostile(real), |case| runtime.block_on(check(&router, &db, &secrets, &case, &seen)));
    runtime.block_on(app.stop());
    if let Err(e) = result {
        panic!("{e}");
    }
    // The cases reached the handlers: some succeeded, and they were refused for more than
    // one reason.
    let seen = seen.into_inner().unwrap();
    eprintln!("answers by status: {seen:?}");
    assert!(seen.keys().any(|s| (200..300).contains(s)), "nothing succeeded: {seen:?}");
    assert!(seen.keys().filter(|s| (400..500).contains(*s)).count() >= 5, "{seen:?}");
}

/// Sends raw bytes as a request on a connection of its own; the answer's status and body,
/// or `None` if the server closed without answering.
async fn raw_answer(app: &TestApp, request: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    // The server may answer and close before reading everything; what it answers counts.
    let _ = stream.write_all(request).await;
    let _ = stream.shutdown().await;
    let answer = until_closed(&mut stream, Duration::from_secs(30)).await.expect("no answer");
    let status = String::from_utf8_lossy(answer.get(9..12)?).parse().ok()?;
    let body = answer.windows(4).position(|w| w == b"\r\n\r\n").map(|at| answer[at + 4..].to_vec());
    Some((status, body.unwrap_or_default()))
}

/// The status the server answers raw bytes with.
async fn raw(app: &TestApp, request: &[u8]) -> Option<u16> {
    raw_answer(app, request).await.map(|(status, _)| status)
}

/// A JSON error with the given status, or the test fails.
async fn json_error(response: reqwest::Response, status: u16) -> Value {
    let answered = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(answered, status, "{}", text.chars().take(300).collect::<String>());
    let error: Value = serde_json::from_str(&text).expect("the error is not JSON");
    assert!(error["error"].is_string() && error["message"].is_string(), "{error}");
    error
}

async fn malformed_bodies_get_json_errors_and_store_nothing(backend: Backend) {
    let app = spawn_on(backend).await;
    let post = |body: Vec<u8>| {
        app.client
            .post(app.url("/sessions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Far over the body limit: refused from its Content-Length, before it is read.
    let huge = format!(
        "POST /sessions HTTP/1.1\r\nHost: {}\r\nx-api-key: {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"name\": \"{}",
        app.addr,
        10 << 20,
        "a".repeat(1 << 20)
    );
    let (status, body) = raw_answer(&app, huge.as_bytes()).await.expect("no answer");
    assert_eq!(status, 413);
    let error: Value = serde_json::from_slice(&body).expect("the error is not JSON");
    assert_eq!(error["error"], "payload_too_large");
    // Nested deeper than any parser should follow (and under the body limit).
    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let error = post(deep.into_bytes()).await.unwrap();
    let status = error.status().as_u16();
    assert!(matches!(status, 400 | 422), "{status}");
    json_error(error, status).await;
    // Not UTF-8.
    json_error(
        post(b"{\"name\": \"\xff\xfe\", \"connector\": \"simulator\"}".to_vec()).await.unwrap(),
        400,
    )
    .await;
    // NUL and other control characters, which PostgreSQL cannot even store in text.
    let nul = br#"{"name": "a\u0000b", "connector": "simulator"}"#.to_vec();
    let error = json_error(post(nul).await.unwrap(), 422).await;
    assert!(error["message"].as_str().unwrap().contains("control characters"), "{error}");
    let cookie = app.login().await;
    let r = app
        .anonymous()
        .post(app.url("/keys"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"name": "a\u{0}b", "scope": "read"}))
        .send()
        .await
        .unwrap();
    json_error(r, 422).await;
    let r = app
        .anonymous()
        .post(app.url(CreateApiKey::PATH))
        .header("cookie", &cookie)
        .form(&[("name", "a\u{0}b"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    json_error(r, 422).await;

    let listed: Value = app.get("/sessions").await.json().await.unwrap();
    assert_eq!(listed, serde_json::json!([]), "a refused body made a session");
    assert!(server::db::api_keys::all(&app.db().await).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn malformed_requests_are_refused_by_the_transport() {
    let app = spawn_app().await;
    let host = format!("Host: {}\r\n", app.addr);
    // Headers far past what any client sends.
    let huge = format!("GET /health HTTP/1.1\r\n{host}X-Big: {}\r\n\r\n", "a".repeat(200_000));
    assert_eq!(raw(&app, huge.as_bytes()).await, Some(431));
    let many: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /health HTTP/1.1\r\n{host}{many}\r\n");
    assert_eq!(raw(&app, many.as_bytes()).await, Some(431));
    // Bytes that are not a request line, and NUL where HTTP allows none.
    let not_utf8 =
        [b"GET /sessions/\xff\xfe HTTP/1.1\r\n".as_slice(), host.as_bytes(), b"\r\n"].concat();
    assert_eq!(raw(&app, &not_utf8).await, Some(400));
    let nul =
        [b"GET /health HTTP/1.1\r\n".as_slice(), host.as_bytes(), b"X-Nul: a\0b\r\n\r\n"].concat();
    assert_eq!(raw(&app, &nul).await, Some(400));
    assert_eq!(
        raw(&app, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").await,
        Some(400),
        "a TLS hello"
    );
    // The server is none the worse.
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop().await;
}

/// A frame a client might send on `/ws`.
fn ws_frame() -> impl Strategy<Value = Message> {
    prop_oneof![
        json_value().prop_map(|v| Message::text(v.to_string())),
        Just(Message::text(r#"{"type":"resume","after_seq":18446744073709551615}"#)),
        Just(Message::text(r#"{"type":"resume","after_seq":-1}"#)),
        Just(Message::text(r#"{"type":"ping"}"#)),
        ".{0,200}".prop_map(Message::text),
        // Over the channel's frame limit, under the transport's.
        Just(Message::text("x".repeat(10_000))),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Message::binary),
    ]
}

#[tokio::test]
async fn fuzzed_event_channel_frames_get_an_answer_or_a_close_code() {
    let app = spawn_app().await;
    let connect = || async {
        let mut ws = events::connect(&app).await;
        events::snapshot(&mut ws).await;
        ws
    };
    let mut runner = TestRunner::new(ProptestConfig { cases: 300, ..ProptestConfig::default() });
    let mut ws = connect().await;
    let (mut answered, mut closed) = (0, 0);
    for _ in 0..300 {
        let frame = ws_frame().new_tree(&mut runner).unwrap().current();
        ws.send(frame.clone()).await.unwrap();
        let sent = format!(
            "a {} frame of {} bytes",
            if frame.is_text() { "text" } else { "binary" },
            frame.len()
        );
        let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap_or_else(|_| panic!("no answer within 10 s to {sent}"));
        match reply {
            Some(Ok(Message::Text(text))) => {
                let parsed = ServerFrame::from_json(&text);
                assert!(parsed.is_ok(), "not a server frame: {text}");
                answered += 1;
            }
            Some(Ok(Message::Close(Some(close)))) => {
                assert!(u16::from(close.code) >= 1000, "{close:?}");
                closed += 1;
                ws = connect().await;
            }
            other => panic!("{sent} got {other:?}"),
        }
    }
    assert!(answered > 0 && closed > 0, "answered {answered}, closed {closed}");
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop().await;
}

on_both_databases!(malformed_bodies_get_json_errors_and_store_nothing);
