//! Webhooks from the durable outbox: endpoints managed over REST, every status change
//! delivered at least once, in order, signed per Standard Webhooks, retried after failures.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use app::model::SessionStatus;
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tokio::sync::watch;

use server::webhooks::payload;

use crate::{
    helpers::{Backend, TestApp, TestOptions, fresh_database, python_tool, spawn_app_with},
    process::{Instance, PROCESS_API_KEY},
};

/// One request a receiver got, and what it answered.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
    answered: StatusCode,
}

/// How a receiver answers.
#[derive(Clone, Debug)]
enum Mode {
    /// 500 to the first this many requests, then 204.
    FailFirst(usize),
    /// Always this status.
    Always(StatusCode),
    /// Holds every request until notified, then 204.
    Hang(Arc<tokio::sync::Notify>),
    /// 200 with ten megabytes.
    Huge,
    /// 302 to this URL.
    Redirect(String),
    /// 204 to the first this many requests, then holds every request until notified.
    AcceptThenHang(usize, Arc<tokio::sync::Notify>),
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
    changed: Arc<watch::Sender<usize>>,
    /// Requests held so far.
    hanging: Arc<watch::Sender<usize>>,
}

/// A webhook receiver on a loopback port that answers as its mode says and keeps
/// everything it got.
struct Receiver {
    url: String,
    shared: Shared,
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mode = shared.mode.lock().unwrap().clone();
    let count = shared.seen.lock().unwrap().len();
    let (answered, response) = match mode {
        Mode::FailFirst(n) if count < n => {
            (StatusCode::INTERNAL_SERVER_ERROR, StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Mode::FailFirst(_) => (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT.into_response()),
        Mode::Always(status) => (status, status.into_response()),
        Mode::Hang(release) => {
            release.notified().await;
            (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT.into_response())
        }
        Mode::Huge => (StatusCode::OK, "x".repeat(10 << 20).into_response()),
        Mode::Redirect(to) => {
            (StatusCode::FOUND, (StatusCode::FOUND, [("location", to)]).into_response())
        }
        Mode::AcceptThenHang(n, _) if count < n => {
            (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT.into_response())
        }
        Mode::AcceptThenHang(_, release) => {
            shared.hanging.send_modify(|n| *n += 1);
            release.notified().await;
            (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT.into_response())
        }
    };
    let mut seen = shared.seen.lock().unwrap();
    seen.push(Received { headers, body, answered });
    shared.changed.send_replace(seen.len());
    response
}

impl Receiver {
    async fn start(mode: Mode) -> Receiver {
        let shared = Shared {
            seen: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
            changed: Arc::new(watch::channel(0).0),
            hanging: Arc::new(watch::channel(0).0),
        };
        let router = Router::new().route("/hook", post(receive)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { url, shared }
    }

    fn set(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Waits (on each request, 10 s at most) until `n` requests got an answer `f`
    /// accepts; returns those.
    async fn until_answered(&self, n: usize, f: impl Fn(StatusCode) -> bool) -> Vec<Received> {
        let mut changed = self.shared.changed.subscribe();
        let wait = async {
            loop {
                let got: Vec<Received> = self
                    .shared
                    .seen
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|r| f(r.answered))
                    .cloned()
                    .collect();
                if got.len() >= n {
                    return got;
                }
                changed.changed().await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.unwrap_or_else(|_| {
            panic!("fewer than {n} such requests: {:#?}", self.shared.seen.lock().unwrap())
        })
    }

    /// [`Self::until_answered`] with a success.
    async fn until_accepted(&self, n: usize) -> Vec<Received> {
        self.until_answered(n, |s| s.is_success()).await
    }

    fn all(&self) -> Vec<Received> {
        self.shared.seen.lock().unwrap().clone()
    }
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Verifies `requests` with the Standard Webhooks Python library: what it said, or why not.
async fn python_verifies(secret: &str, requests: &[Received]) -> Result<String, String> {
    let job = json!({
        "secret": secret,
        "requests": requests.iter().map(|r| json!({
            "headers": r.headers.iter()
                .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or_default())))
                .collect::<serde_json::Map<_, _>>(),
            "body": r.body,
        })).collect::<Vec<_>>(),
    });
    python_tool("verify-webhooks", job.to_string()).await
}

/// Adds an endpoint for `events` at `url`; its id and secret.
async fn endpoint(app: &TestApp, url: &str, events: Value) -> (String, String) {
    let r = app.post("/webhooks", json!({"url": url, "events": events})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let created: Value = r.json().await.unwrap();
    (created["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
}

async fn every_status_change_arrives_once_in_order_after_failures(backend: Backend) {
    let app = spawn_app_with(TestOptions { backend, ..TestOptions::default() }).await;
    // The first event fails twice: the ones after it wait for it, never overtake it.
    let receiver = Receiver::start(Mode::FailFirst(2)).await;
    let (endpoint, secret) = endpoint(&app, &receiver.url, json!(["session.status"])).await;
    assert!(secret.starts_with("whsec_"), "{secret}");

    let id = app.paired_session("Shop").await;
    app.fault(&id, json!({"kind": "drop"})).await;
    app.until(&id, |v| v.status == SessionStatus::Reconnecting).await;
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    app.state.supervisor.flush_journal().await;
    let history = server::db::sessions::events(&app.db().await, &id, 100).await.unwrap();
    let stored: Vec<&str> = history.iter().map(|e| e.to_status.as_str()).collect();
    assert!(stored.len() >= 4, "{stored:?}");

    let accepted = receiver.until_accepted(stored.len()).await;
    let bodies: Vec<Value> =
        accepted.iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let delivered: Vec<&str> =
        bodies.iter().map(|b| b["data"]["session"]["status"].as_str().unwrap()).collect();
    assert_eq!(delivered, stored, "not every change, or not in order");
    assert!(
        bodies.iter().all(|b| b["type"] == "session.status" && b["data"]["session"]["id"] == id)
    );
    // Once each: every accepted delivery is another event.
    let mut ids: Vec<&str> = accepted.iter().map(|r| header(r, "webhook-id")).collect();
    ids.dedup();
    assert_eq!(ids.len(), accepted.len(), "an event was accepted twice");
    // The failures were the first event's: the same id and body each time.
    let all = receiver.all();
    assert_eq!(header(&all[0], "webhook-id"), header(&all[2], "webhook-id"));
    assert_eq!(all[0].body, all[2].body);

    // Every request verifies with the Standard Webhooks library, under the endpoint's secret.
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    for r in &all {
        verifier.verify(r.body.as_bytes(), &r.headers).expect("signature does not verify");
    }
    let other = standardwebhooks::Webhook::new(&server::webhooks::signing::new_secret()).unwrap();
    assert!(other.verify(all[0].body.as_bytes(), &all[0].headers).is_err());
    // And with the Python library, which shares no code with Lifeline's.
    let said = python_verifies(&secret, &all).await.expect("Python did not verify");
    assert_eq!(said, format!("{} verified", all.len()));
    let mut tampered = all[0].clone();
    tampered.body = tampered.body.replace("session.status", "session.Status");
    assert!(python_verifies(&secret, &[tampered]).await.is_err(), "a changed body verified");

    // The delivery log says so.
    let log: Vec<Value> =
        app.get(&format!("/webhooks/{endpoint}/deliveries")).await.json().await.unwrap();
    assert_eq!(log.len(), stored.len());
    assert!(log.iter().all(|d| d["state"] == "delivered" && d["last_status"] == 204), "{log:#?}");
    let first = log.last().unwrap();
    assert_eq!(first["attempts"], 3, "{first}");
    app.stop().await;
}

async fn endpoints_are_managed_over_rest(backend: Backend) {
    let app = spawn_app_with(TestOptions { backend, ..TestOptions::default() }).await;
    let (id, _) =
        endpoint(&app, "https://hooks.example/in", json!(["recovery", "session.status"])).await;
    let listed: Vec<Value> = app.get("/webhooks").await.json().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["events"], json!(["session.status", "recovery"]));
    assert_eq!(listed[0]["sessions"], Value::Null);
    assert!(listed[0].get("secret").is_none(), "the secret is listed: {}", listed[0]);

    let r = app
        .client
        .patch(app.url(&format!("/webhooks/{id}")))
        .json(&json!({"sessions": ["a", "b"], "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["sessions"], json!(["a", "b"]));
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["url"], "https://hooks.example/in");

    for (body, wanted) in [
        (json!({"url": "ftp://x", "events": ["recovery"]}), "http"),
        (json!({"url": "https://x.test", "events": []}), "at least one"),
        (json!({"url": "https://x.test", "events": ["nope"]}), "nope"),
    ] {
        let r = app.post("/webhooks", body).await;
        assert!(r.status().is_client_error(), "{}", r.status());
        let error: Value = r.json().await.unwrap();
        assert!(error["message"].as_str().unwrap().contains(wanted), "{error}");
    }
    let r = app.client.delete(app.url(&format!("/webhooks/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = app.get(&format!("/webhooks/{id}")).await;
    assert_eq!(r.status(), 404);
    let error: Value = r.json().await.unwrap();
    assert_eq!(error["error"], "no_such_webhook");
    app.stop().await;
}

/// Waits (on each recorded attempt, 10 s at most) until `path`'s JSON satisfies `f`.
async fn until_shown(app: &TestApp, path: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut recorded = app.state.webhooks.recorded();
    let wait = async {
        loop {
            let shown: Value = app.get(path).await.json().await.unwrap();
            if f(&shown) {
                return shown;
            }
            recorded.changed().await.unwrap();
        }
    };
    let last = tokio::time::timeout(Duration::from_secs(10), wait).await;
    last.unwrap_or_else(|_| panic!("{path} never showed what was waited for"))
}

/// The stored status changes of session `id`, oldest first.
async fn stored_changes(app: &TestApp, id: &str) -> Vec<String> {
    app.state.supervisor.flush_journal().await;
    let history = server::db::sessions::events(&app.db().await, id, 100).await.unwrap();
    history.into_iter().map(|e| e.to_status).collect()
}

async fn a_hostile_receiver_holds_up_no_other_endpoint(backend: Backend) {
    let app = spawn_app_with(TestOptions { backend, ..TestOptions::default() }).await;
    let release = Arc::new(tokio::sync::Notify::new());
    let hanging = Receiver::start(Mode::Hang(release.clone())).await;
    let huge = Receiver::start(Mode::Huge).await;
    let good = Receiver::start(Mode::FailFirst(0)).await;
    let redirecting = Receiver::start(Mode::Redirect(good.url.clone())).await;
    let mut ids = Vec::new();
    for receiver in [&hanging, &huge, &redirecting, &good] {
        ids.push(endpoint(&app, &receiver.url, json!(["session.status"])).await.0);
    }
    let id = app.paired_session("Shop").await;
    let stored = stored_changes(&app, &id).await;

    // Every change reaches the good endpoint while the hanging one still holds its first.
    good.until_accepted(stored.len()).await;
    assert!(hanging.all().is_empty(), "the hanging receiver answered");
    // Its deliveries wait in the outbox, and the deep report and the metrics say so.
    let deep: Value = app.get("/health/deep").await.json().await.unwrap();
    let pending = deep["webhooks"]["pending"].as_u64().unwrap();
    assert!(pending >= stored.len() as u64, "{deep}");
    assert!(deep["webhooks"]["oldestPendingAgeSeconds"].is_u64(), "{deep}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let gauge = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lifeline_webhook_deliveries_pending "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("no outbox gauge");
    assert!(gauge >= stored.len() as u64, "{gauge}");
    // Ten megabytes of answer: the first KiB is kept.
    huge.until_accepted(stored.len()).await;
    let log = until_shown(&app, &format!("/webhooks/{}/deliveries", ids[1]), |log| {
        log.as_array().unwrap().iter().all(|d| d["state"] == "delivered")
    })
    .await;
    let kept = log[0]["last_response"].as_str().unwrap();
    assert_eq!(kept.len(), 1024);
    // A redirect is not followed: it failed, and the good receiver got nothing more.
    redirecting.until_answered(2, |s| s == StatusCode::FOUND).await;
    let log = until_shown(&app, &format!("/webhooks/{}/deliveries", ids[2]), |log| {
        log.as_array().unwrap().iter().any(|d| d["last_error"].is_string())
    })
    .await;
    let first = log.as_array().unwrap().last().unwrap();
    assert!(
        first["last_error"].as_str().unwrap().contains("redirects are not followed"),
        "{first}"
    );
    assert_eq!(good.all().len(), stored.len(), "the redirect was followed");
    release.notify_waiters();
    app.stop().await;
}

async fn failed_deliveries_are_redelivered_and_a_failing_endpoint_is_paused(backend: Backend) {
    let app = spawn_app_with(TestOptions { backend, ..TestOptions::default() }).await;
    let receiver = Receiver::start(Mode::Always(StatusCode::SERVICE_UNAVAILABLE)).await;
    let (hook, _) = endpoint(&app, &receiver.url, json!(["session.status"])).await;
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let id = app.paired_session("Shop").await;
    let stored = stored_changes(&app, &id).await;

    // Eight attempts each, then failed and kept.
    let deliveries = format!("/webhooks/{hook}/deliveries");
    let log = until_shown(&app, &deliveries, |log| {
        let log = log.as_array().unwrap();
        log.len() == stored.len() && log.iter().all(|d| d["state"] == "failed")
    })
    .await;
    assert!(log.as_array().unwrap().iter().all(|d| d["attempts"] == 8 && d["last_status"] == 503));

    // The receiver is back: everything failed since then is sent again, in order.
    receiver.set(Mode::FailFirst(0));
    let r = app.post(&format!("/webhooks/{hook}/redeliver"), json!({"failed_since": since})).await;
    assert_eq!(r.status(), 200);
    let queued: Value = r.json().await.unwrap();
    assert_eq!(queued["queued"], stored.len());
    let accepted = receiver.until_accepted(stored.len()).await;
    let delivered: Vec<String> = accepted
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
        .map(|b| b["data"]["session"]["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(delivered, stored);

    // 410 Gone: the endpoint is paused at once, and says why.
    receiver.set(Mode::Always(StatusCode::GONE));
    app.fault(&id, json!({"kind": "drop"})).await;
    let shown = until_shown(&app, &format!("/webhooks/{hook}"), |e| e["enabled"] == false).await;
    assert!(shown["paused_reason"].as_str().unwrap().contains("410"), "{shown}");
    // Paused means paused: deliveries queued again wait until it is resumed. Another
    // endpoint's later event arriving shows the deliverer has looked at the outbox since.
    let asked = receiver.all().len();
    let r = app.post(&format!("/webhooks/{hook}/redeliver"), json!({"failed_since": since})).await;
    let queued: Value = r.json().await.unwrap();
    assert!(queued["queued"].as_u64().unwrap() >= 1, "{queued}");
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    let witness = Receiver::start(Mode::FailFirst(0)).await;
    endpoint(&app, &witness.url, json!(["session.status"])).await;
    assert_eq!(app.post_empty(&format!("/sessions/{id}/stop")).await.status(), 200);
    witness.until_accepted(1).await;
    assert_eq!(receiver.all().len(), asked, "a paused endpoint was sent to");
    assert_eq!(app.post_empty(&format!("/sessions/{id}/start")).await.status(), 200);

    // Back in service, after its receiver had failed for a day (the streak's start moved a
    // day back): the next failure pauses it.
    receiver.set(Mode::Always(StatusCode::INTERNAL_SERVER_ERROR));
    let r = app
        .client
        .patch(app.url(&format!("/webhooks/{hook}")))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let db = app.db().await;
    let day_ago = (chrono::Utc::now() - chrono::Duration::days(1)).timestamp_millis();
    server::db::on_pool!(&db, pool => sqlx::query(
        "UPDATE webhook_endpoints SET failing_since_ms = $2 WHERE id = $1"
    )
    .bind(&hook)
    .bind(day_ago)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    app.fault(&id, json!({"kind": "drop"})).await;
    let shown = until_shown(&app, &format!("/webhooks/{hook}"), |e| e["enabled"] == false).await;
    assert!(shown["paused_reason"].as_str().unwrap().contains("24 h"), "{shown}");
    app.stop().await;
}

async fn sends_recoveries_and_removals_are_events_too(backend: Backend) {
    let app = spawn_app_with(TestOptions { backend, ..TestOptions::default() }).await;
    let receiver = Receiver::start(Mode::FailFirst(0)).await;
    let events = json!(["message.sent", "recovery", "session.removed"]);
    endpoint(&app, &receiver.url, events).await;
    let id = app.paired_session("Shop").await;

    let to = json!({"to": "+27820000001", "text": "hello"});
    let r = app.post(&format!("/sessions/{id}/messages"), to).await;
    assert_eq!(r.status(), 200);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(app.post_empty(&format!("/sessions/{id}/reconnect")).await.status(), 200);
    let r = app.client.delete(app.url(&format!("/sessions/{id}"))).send().await.unwrap();
    assert!(r.status().is_success());

    // Only what was subscribed to, in the order it happened.
    let accepted = receiver.until_accepted(3).await;
    let bodies: Vec<Value> =
        accepted.iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["message.sent", "recovery", "session.removed"]);
    assert_eq!(bodies[0]["data"]["message_id"], sent["id"]);
    assert_eq!(bodies[0]["data"]["to"], "+27820000001");
    assert_eq!(bodies[0]["data"]["text"], "hello");
    assert_eq!(bodies[1]["data"]["trigger"], "manual", "{}", bodies[1]);
    assert_eq!(bodies[1]["data"]["session_id"], id);
    assert_eq!(bodies[2]["data"]["session_id"], id);
    app.stop().await;
}

async fn pairing_codes_and_received_messages_are_events(backend: Backend) {
    let app = spawn_app_with(TestOptions { backend, ..TestOptions::default() }).await;
    let receiver = Receiver::start(Mode::FailFirst(0)).await;
    let events = json!(["session.qr", "session.pair_code", "message.received"]);
    endpoint(&app, &receiver.url, events).await;
    let body = json!({"name": "Shop", "connector": "simulator", "pair_phone": "+27 82 123 4567"});
    let r = app.post("/sessions", body).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let qr = app
        .event(|e| match e {
            app::model::Event::Qr { session_id, code, .. } if *session_id == id => {
                Some(code.clone())
            }
            _ => None,
        })
        .await;
    let pair_code = app
        .event(|e| match e {
            app::model::Event::PairCode { session_id, code, .. } if *session_id == id => {
                Some(code.clone())
            }
            _ => None,
        })
        .await;
    app.fault(&id, json!({"kind": "scan"})).await;
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    let text = json!({"kind": "message", "from": "+27820000002", "text": "Is the shop open?"});
    app.fault(&id, text).await;
    app.fault(&id, json!({"kind": "message", "count": 2})).await;

    // Every code shown, then the three messages, in order; each names the session.
    let mut bodies: Vec<Value> = Vec::new();
    while bodies.iter().filter(|b| b["type"] == "message.received").count() < 3 {
        let accepted = receiver.until_accepted(bodies.len() + 1).await;
        bodies = accepted.iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    }
    assert!(bodies.iter().all(|b| b["data"]["session_id"] == id.as_str()), "{bodies:?}");
    let first_message = bodies.iter().position(|b| b["type"] == "message.received").unwrap();
    assert!(
        bodies[..first_message].iter().all(|b| b["type"] != "message.received"),
        "codes come before the messages: {bodies:?}"
    );
    let codes = |t: &str| -> Vec<&str> {
        bodies
            .iter()
            .filter(|b| b["type"] == t)
            .filter_map(|b| b["data"]["code"].as_str())
            .collect()
    };
    assert!(codes("session.qr").contains(&qr.as_str()), "{bodies:?}");
    assert!(codes("session.pair_code").contains(&pair_code.as_str()), "{bodies:?}");
    let messages = &bodies[first_message..];
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[0]["data"]["from"], "+27820000002");
    assert_eq!(messages[0]["data"]["chat"], "27820000002@s.whatsapp.net");
    assert_eq!(messages[0]["data"]["kind"], "text");
    assert_eq!(messages[0]["data"]["text"], "Is the shop open?");
    assert!(messages[0]["data"]["message_id"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(messages[1]["data"]["text"], "Simulated message 1");
    assert_eq!(messages[2]["data"]["text"], "Simulated message 2");
    assert_ne!(messages[1]["data"]["message_id"], messages[2]["data"]["message_id"]);
    app.stop().await;
}

async fn a_backlog_survives_kill_9_and_goes_out_after_a_restart(backend: Backend) {
    const EVENTS: usize = 1000;
    const SESSIONS: usize = 10;
    let limit = Duration::from_secs(60);
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, &dir).await;
    let db = server::db::Db::open(&url.parse().unwrap()).await.unwrap();
    // Short leases: on PostgreSQL a killed instance is seen dead (and its claims freed)
    // three seconds after its last heartbeat.
    let args = ["--lease-ttl-secs".to_owned(), "3".to_owned()];
    let mut first = Instance::start("a", &url, &args, &db, limit).await;
    let release = Arc::new(tokio::sync::Notify::new());
    let receiver = Receiver::start(Mode::AcceptThenHang(EVENTS / 10, release.clone())).await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/webhooks", first.addr))
        .header("x-api-key", PROCESS_API_KEY)
        .json(&json!({"url": receiver.url, "events": ["message.sent"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // A backlog over ten sessions, queued as the server queues sent messages.
    let mut queued: Vec<Vec<String>> = vec![Vec::new(); SESSIONS];
    for i in 0..EVENTS {
        let session = format!("s{}", i % SESSIONS);
        let event = payload::message_sent(
            &session,
            &format!("m{i}"),
            "+27820000001",
            "hi",
            chrono::Utc::now(),
        );
        assert!(server::db::webhooks::enqueue(&db, &event).await.unwrap());
        queued[i % SESSIONS].push(event.id);
    }
    // Killed while deliveries are under way.
    let mut hanging = receiver.shared.hanging.subscribe();
    tokio::time::timeout(limit, hanging.wait_for(|n| *n > 0)).await.unwrap().unwrap();
    first.kill_9();

    receiver.set(Mode::FailFirst(0));
    release.notify_waiters();
    let _second = Instance::start("b", &url, &args, &db, limit).await;
    let mut changed = receiver.shared.changed.subscribe();
    let delivered = async {
        loop {
            let accepted: Vec<String> = receiver
                .all()
                .iter()
                .filter(|r| r.answered.is_success())
                .map(|r| header(r, "webhook-id").to_owned())
                .collect();
            let distinct: std::collections::BTreeSet<&String> = accepted.iter().collect();
            if distinct.len() >= EVENTS {
                return accepted;
            }
            changed.changed().await.unwrap();
        }
    };
    let accepted =
        tokio::time::timeout(limit, delivered).await.expect("the backlog was not delivered");
    // Each session's events arrived in the order they were queued (a repeat, at least
    // once, may follow the original).
    for ids in &queued {
        let mut firsts: Vec<&String> = Vec::new();
        for id in accepted.iter().filter(|a| ids.contains(a)) {
            if !firsts.contains(&id) {
                firsts.push(id);
            }
        }
        assert_eq!(firsts, ids.iter().collect::<Vec<_>>(), "a session's events out of order");
    }
    println!("{} requests accepted for {EVENTS} events", accepted.len());
}

crate::on_both_databases!(
    a_backlog_survives_kill_9_and_goes_out_after_a_restart,
    every_status_change_arrives_once_in_order_after_failures,
    sends_recoveries_and_removals_are_events_too,
    pairing_codes_and_received_messages_are_events,
    endpoints_are_managed_over_rest,
    a_hostile_receiver_holds_up_no_other_endpoint,
    failed_deliveries_are_redelivered_and_a_failing_endpoint_is_paused,
);

/// On PostgreSQL, a transaction that queues an event for a session holds that session's
/// ordering lock until it ends: another transaction about the same session cannot queue
/// before it commits, so deliveries' ids follow the commits. One about another session, or
/// an event no endpoint wants, holds nothing up.
#[tokio::test]
async fn postgres_queues_a_sessions_events_in_commit_order() {
    use server::db::{
        Db,
        webhooks::{SESSION_ORDER_LOCK, create},
    };
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres, &dir).await;
    let db = Db::open(&url.parse().unwrap()).await.unwrap();
    let Db::Postgres(pool) = &db else { unreachable!("a PostgreSQL database") };
    let hook = app::model::webhooks::NewWebhook {
        url: "http://127.0.0.1:9/hook".into(),
        events: vec![app::model::webhooks::EventType::MessageSent],
        sessions: Some(vec!["s1".into()]),
    };
    create(&db, "w1", &hook, "whsec_x").await.unwrap();
    let free = |session: &'static str| async move {
        let mut other = pool.acquire().await.unwrap();
        sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_xact_lock($1, hashtext($2))")
            .bind(SESSION_ORDER_LOCK)
            .bind(session)
            .fetch_one(&mut *other)
            .await
            .unwrap()
    };
    let mut tx = pool.begin().await.unwrap();
    queue_in(&db, &mut tx, "s2").await;
    assert!(free("s2").await, "no endpoint wants s2's events: nothing to order");
    queue_in(&db, &mut tx, "s1").await;
    assert!(!free("s1").await, "s1's events wait for this transaction");
    assert!(free("s2").await);
    tx.commit().await.unwrap();
    assert!(free("s1").await, "committed: the next may queue");
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(queued, 1);
}

/// Queues a `message.sent` event for `session` in transaction `tx`, as the server does.
async fn queue_in(db: &server::db::Db, tx: &mut sqlx::PgConnection, session: &str) {
    let event = payload::message_sent(session, "m", "+27820000001", "hi", chrono::Utc::now());
    for sql in server::db::webhooks::enqueue_statements(db) {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&event.id)
            .bind(event.event_type.as_str())
            .bind(&event.session_id)
            .bind(&event.body)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
}
