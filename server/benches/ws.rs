//! `make bench`: how fast a status change reaches 100, 1 000 and 10 000 `/ws` clients, and
//! how many events per second the hub delivers, next to a bare tokio-tungstenite broadcast
//! server measured in the same run.
//!
//! Clients run in a child process (this binary with `--clients`): 10 000 of them and the
//! server's 10 000 sockets would not fit one process's file limit. Latency is measured on
//! the wall clock both processes share: each probe event carries the time it was published.

use std::{
    net::SocketAddr,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use app::{model::Event, policy::SupervisorPolicy};
use futures_util::{SinkExt, StreamExt};
use server::{
    config::Settings,
    connector::simulator::SimConfig,
    events::{EventBus, WsLimits},
    startup::Application,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::broadcast,
};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const KEY: &str = "bench-key-0123456789abcdef";
const PROBES: usize = 20;
const BURST: usize = 2_000;

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if let Some(i) = args.iter().position(|a| a == "--clients") {
        let (url, n, expect) =
            (args[i + 1].clone(), args[i + 2].parse().unwrap(), args[i + 3].parse().unwrap());
        rt.block_on(clients(url, n, expect));
        return;
    }
    rt.block_on(run());
}

/// A server under test: where it listens and how to publish one event with a payload.
struct Target {
    url: String,
    publish: Box<dyn Fn(String) + Send + Sync>,
}

async fn run() {
    println!(
        "Lifeline /ws benchmark (clients in a child process; {PROBES} probes, bursts of {BURST})\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let lifeline = lifeline(&dir).await;
    let bare = bare().await;
    println!("{:>8}  {:>24}  {:>24}", "clients", "Lifeline p50 / p99 ms", "bare p50 / p99 ms");
    for n in [100, 1_000, 10_000] {
        let ours = measure(&lifeline, n, PROBES).await;
        let base = measure(&bare, n, PROBES).await;
        println!(
            "{n:>8}  {:>11.2} / {:>10.2}  {:>11.2} / {:>10.2}",
            ours.p50, ours.p99, base.p50, base.p99
        );
    }
    println!("\nHub throughput: a burst of {BURST} events to 100 clients");
    let ours = measure(&lifeline, 100, BURST).await;
    let base = measure(&bare, 100, BURST).await;
    println!("  Lifeline: {:>9.0} events/s delivered to every client", ours.rate);
    println!("  bare:     {:>9.0} events/s (baseline)", base.rate);
    println!("  ratio: {:.2} of the baseline", ours.rate / base.rate);
}

async fn lifeline(dir: &tempfile::TempDir) -> Target {
    let mut settings = Settings::with_data_dir(dir.path().join("data"));
    settings.addr = "127.0.0.1:0".parse().unwrap();
    settings.api_key = Some(KEY.into());
    settings.admin_password = Some("bench password 123".into());
    let site = leptos::config::LeptosOptions::builder().output_name("lifeline").build();
    let app =
        Application::build_with(&settings, site, SupervisorPolicy::default(), SimConfig::default())
            .await
            .unwrap()
            .with_ws_limits(WsLimits {
                per_address: 20_000,
                max_behind: 8_192,
                ..WsLimits::default()
            });
    let addr = app.local_addr();
    let bus: EventBus = app.state().bus.clone();
    tokio::spawn(app.run(std::future::pending()));
    Target {
        url: format!("ws://{addr}/ws"),
        publish: Box::new(move |payload| {
            bus.publish(Event::SessionRemoved { session_id: payload });
        }),
    }
}

/// The least a broadcast over WebSockets can be: one channel, each socket forwarding it.
async fn bare() -> Target {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (tx, _) = broadcast::channel::<Arc<String>>(8_192);
    let sender = tx.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let mut rx = sender.subscribe();
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
                while let Ok(text) = rx.recv().await {
                    if ws.send(Message::text(text.as_str())).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Target {
        url: format!("ws://{addr}/"),
        publish: Box::new(move |payload| {
            let frame = format!(r#"{{"seq":0,"type":"session_removed","session_id":"{payload}"}}"#);
            let _ = tx.send(Arc::new(frame));
        }),
    }
}

struct Outcome {
    p50: f64,
    p99: f64,
    rate: f64,
}

/// Connects `n` clients in a child process, publishes `events` probes, and reads back the
/// child's account of when each client saw each.
async fn measure(target: &Target, n: usize, events: usize) -> Outcome {
    let mut child = tokio::process::Command::from(Command::new(std::env::current_exe().unwrap()))
        .args(["--clients", &target.url, &n.to_string(), &events.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ready"));
    let burst = events > PROBES;
    for i in 0..events {
        (target.publish)(format!("probe-{i}-{}", now_nanos()));
        if !burst {
            // Probes apart, so each one's latency is its own.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let report = lines.next_line().await.unwrap().unwrap();
    stdin.shutdown().await.ok();
    child.wait().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    Outcome {
        p50: v["p50_ms"].as_f64().unwrap(),
        p99: v["p99_ms"].as_f64().unwrap(),
        rate: v["events_per_s"].as_f64().unwrap(),
    }
}

/// The child: `n` clients, each waiting for `expect` probes; prints latency percentiles
/// and the delivery rate as one JSON line.
async fn clients(url: String, n: usize, expect: usize) {
    let mut connected = Vec::with_capacity(n);
    for _ in 0..n {
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("x-api-key", KEY.parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
        connected.push(ws);
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(Vec<f64>, u128, u128)>();
    for mut ws in connected {
        let done = done_tx.clone();
        tokio::spawn(async move {
            let (mut latencies, mut first, mut last) = (Vec::with_capacity(expect), 0, 0);
            while latencies.len() < expect {
                let Some(Ok(Message::Text(text))) = ws.next().await else { continue };
                let Some(at) = text.find("probe-") else { continue };
                let stamp: u128 = text[at..].split(['-', '"']).nth(2).unwrap().parse().unwrap();
                let now = now_nanos();
                if first == 0 {
                    first = stamp;
                }
                last = now;
                latencies.push((now - stamp) as f64 / 1e6);
            }
            let _ = done.send((latencies, first, last));
        });
    }
    drop(done_tx);
    println!("ready");
    let mut all = Vec::with_capacity(n * expect);
    let (mut first, mut last) = (u128::MAX, 0);
    while let Some((latencies, f, l)) = done_rx.recv().await {
        all.extend(latencies);
        first = first.min(f);
        last = last.max(l);
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    let seconds = (last - first) as f64 / 1e9;
    println!(
        "{}",
        serde_json::json!({
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "events_per_s": expect as f64 / seconds.max(1e-9),
        })
    );
}
