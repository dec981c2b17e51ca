//! `make bench`: webhooks through the outbox to a receiver on loopback.
//!
//! - **Throughput**: a backlog of events already in the outbox, delivered to one endpoint
//!   (events spread over many sessions, so deliveries run side by side up to the in-flight
//!   limit), next to the same requests sent straight from a client with the same
//!   concurrency: what the outbox (claim, sign, record) costs per event.
//! - **Delay**: an operator's stop until the webhook request arrives, next to the same
//!   change reaching the event channel (`/ws`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use app::policy::SupervisorPolicy;
use axum::{Router, extract::State, http::StatusCode, routing::post};
use futures_util::StreamExt;
use server::{
    config::Settings, connector::simulator::SimConfig, startup::Application, webhooks::payload,
};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const KEY: &str = "bench-key-0123456789abcdef";
const BACKLOG: usize = 5_000;
const SESSIONS: usize = 100;
const CHANGES: usize = 50;
const LIMIT: Duration = Duration::from_secs(300);

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

type Received = mpsc::UnboundedReceiver<(Instant, String)>;
type Answered = mpsc::UnboundedSender<(Instant, String)>;

/// A receiver that answers 204 once `open` says so (at once from then on) and reports
/// each body with when it was answered.
async fn receiver(open: watch::Receiver<bool>) -> (String, Received) {
    async fn take(
        State((tx, mut open)): State<(Answered, watch::Receiver<bool>)>,
        body: String,
    ) -> StatusCode {
        let _ = open.wait_for(|open| *open).await;
        let _ = tx.send((Instant::now(), body));
        StatusCode::NO_CONTENT
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = Router::new().route("/hook", post(take)).with_state((tx, open));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, rx)
}

async fn run() {
    println!("Lifeline webhooks (SQLite, one endpoint on loopback answering 204 at once)\n");
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::with_data_dir(dir.path().join("data"));
    settings.addr = "127.0.0.1:0".parse().unwrap();
    settings.api_key = Some(KEY.into());
    settings.simulator = true;
    let site = leptos::config::LeptosOptions::builder().output_name("lifeline").build();
    let app =
        Application::build_with(&settings, site, SupervisorPolicy::default(), SimConfig::default())
            .await
            .unwrap();
    let addr = app.local_addr();
    let db = app.state().db.clone();
    tokio::spawn(app.run(std::future::pending()));
    let client = reqwest::Client::new();
    // Held shut while the backlog is written, so that delivery is measured on its own.
    let (open, opened) = watch::channel(false);
    let (url, mut received) = receiver(opened).await;
    let events = serde_json::json!(["session.status", "message.sent"]);
    let r = client
        .post(format!("http://{addr}/webhooks"))
        .header("x-api-key", KEY)
        .json(&serde_json::json!({"url": url, "events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Throughput: the backlog written at once, then delivered.
    let mut bodies = Vec::with_capacity(BACKLOG);
    for i in 0..BACKLOG {
        let session = format!("s{}", i % SESSIONS);
        let event = payload::message_sent(
            &session,
            &format!("m{i}"),
            "+27820000001",
            "hi",
            chrono::Utc::now(),
        );
        bodies.push(event.body.clone());
        server::db::webhooks::enqueue(&db, &event).await.unwrap();
    }
    let began = Instant::now();
    open.send_replace(true);
    let mut last = began;
    for _ in 0..BACKLOG {
        let (at, _) = tokio::time::timeout(LIMIT, received.recv()).await.unwrap().unwrap();
        last = at;
    }
    let ours = BACKLOG as f64 / (last - began).as_secs_f64();
    let base = straight(&url, &bodies, &mut received).await;
    println!("Throughput: {BACKLOG} events over {SESSIONS} sessions, already in the outbox");
    println!("  through the outbox       {ours:>8.0} events/s");
    println!("  straight, 32 at a time   {base:>8.0} requests/s (baseline)");
    println!("  ratio: {:.2} of the baseline\n", ours / base);

    // Delay: an operator's stop until the webhook, next to the same change on /ws.
    let r = client
        .post(format!("http://{addr}/sessions"))
        .header("x-api-key", KEY)
        .json(&serde_json::json!({"name": "Bench", "connector": "simulator"}))
        .send()
        .await
        .unwrap();
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let fault = format!("http://{addr}/dev/simulator/sessions/{id}/fault");
    client
        .post(&fault)
        .header("x-api-key", KEY)
        .json(&serde_json::json!({"kind": "scan"}))
        .send()
        .await
        .unwrap();
    let mut channel = channel(addr).await;
    until(&mut received, &id, "connected").await;
    let (mut hook, mut ws) = (Vec::new(), Vec::new());
    for _ in 0..CHANGES {
        let since = Instant::now();
        let act = |action: &str| {
            client
                .post(format!("http://{addr}/sessions/{id}/{action}"))
                .header("x-api-key", KEY)
                .send()
        };
        assert!(act("stop").await.unwrap().status().is_success());
        ws.push(channel_until(&mut channel, &id, "disconnected").await - since);
        hook.push(until(&mut received, &id, "disconnected").await - since);
        assert!(act("start").await.unwrap().status().is_success());
        until(&mut received, &id, "connected").await;
    }
    let (h50, h99) = percentiles(hook);
    let (w50, w99) = percentiles(ws);
    println!("Delay: an operator's stop until it is told ({CHANGES} changes)");
    println!("  webhook request          p50 {h50:>7.2} ms  p99 {h99:>7.2} ms");
    println!("  /ws frame (baseline)     p50 {w50:>7.2} ms  p99 {w99:>7.2} ms");
}

/// The same bodies POSTed straight to the receiver, 32 at a time; requests per second.
async fn straight(url: &str, bodies: &[String], received: &mut Received) -> f64 {
    let client = reqwest::Client::new();
    let bodies = Arc::new(bodies.to_vec());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let began = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (client, bodies, next, url) =
            (client.clone(), bodies.clone(), next.clone(), url.to_owned());
        senders.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return };
                client.post(&url).body(body.clone()).send().await.unwrap();
            }
        });
    }
    senders.join_all().await;
    let took = began.elapsed();
    while received.try_recv().is_ok() {}
    bodies.len() as f64 / took.as_secs_f64()
}

/// When the receiver got a status webhook of session `id` saying `status`.
async fn until(received: &mut Received, id: &str, status: &str) -> Instant {
    let wanted = format!("\"status\":\"{status}\"");
    loop {
        let (at, body) = tokio::time::timeout(LIMIT, received.recv()).await.unwrap().unwrap();
        if body.contains("session.status") && body.contains(id) && body.contains(&wanted) {
            return at;
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn channel(addr: std::net::SocketAddr) -> Socket {
    let url = format!("ws://{addr}/ws");
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("x-api-key", KEY.parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// When `/ws` said session `id` is now `status`.
async fn channel_until(ws: &mut Socket, id: &str, status: &str) -> Instant {
    let wanted = format!("\"status\":\"{status}\"");
    loop {
        let frame = tokio::time::timeout(LIMIT, ws.next()).await.unwrap();
        if let Some(Ok(Message::Text(text))) = frame
            && text.contains(id)
            && text.contains(&wanted)
        {
            return Instant::now();
        }
    }
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}
