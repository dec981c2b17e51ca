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
    routing::post,
};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::helpers::{Backend, TestApp, TestOptions, spawn_app_with};

/// One request a receiver got, and what it answered.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
    answered: StatusCode,
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Received>>>,
    fail_first: usize,
    changed: Arc<watch::Sender<usize>>,
}

/// A webhook receiver on a loopback port that answers 500 to its first `fail_first`
/// requests and 204 to the rest, and keeps everything it got.
struct Receiver {
    url: String,
    shared: Shared,
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    let mut seen = shared.seen.lock().unwrap();
    let answered = if seen.len() < shared.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    seen.push(Received { headers, body, answered });
    shared.changed.send_replace(seen.len());
    answered
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let shared =
            Shared { seen: Arc::default(), fail_first, changed: Arc::new(watch::channel(0).0) };
        let router = Router::new().route("/hook", post(receive)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { url, shared }
    }

    /// Waits (on each request, 10 s at most) until `n` requests were accepted; returns
    /// those.
    async fn until_accepted(&self, n: usize) -> Vec<Received> {
        let accepted = |seen: &[Received]| -> Vec<Received> {
            seen.iter().filter(|r| r.answered.is_success()).cloned().collect()
        };
        let mut changed = self.shared.changed.subscribe();
        let wait = async {
            loop {
                let got = accepted(&self.shared.seen.lock().unwrap());
                if got.len() >= n {
                    return got;
                }
                changed.changed().await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.unwrap_or_else(|_| {
            panic!("fewer than {n} deliveries: {:#?}", self.shared.seen.lock().unwrap())
        })
    }

    fn all(&self) -> Vec<Received> {
        self.shared.seen.lock().unwrap().clone()
    }
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
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
    let receiver = Receiver::start(2).await;
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

crate::on_both_databases!(
    every_status_change_arrives_once_in_order_after_failures,
    endpoints_are_managed_over_rest,
);
