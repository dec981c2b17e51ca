//! `make bench`: what `/health` costs next to the cheapest JSON handler axum can serve, and
//! how long `/health/deep` takes with 1 000 sessions.
//!
//! Both servers run in this process and are loaded by the same client in the same run, so
//! the ratio between them holds whatever the machine; the absolute figures do not travel.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use app::{
    model::{Health, HealthStatus, SessionCounts},
    policy::SupervisorPolicy,
};
use axum::{Json, Router, routing::get};
use chrono::Utc;
use server::{
    config::Settings,
    connector::simulator::{SimConfig, Simulator},
    db::{
        DatabaseUrl, Db,
        sessions::{self},
    },
    startup::Application,
};

const KEY: &str = "bench-key-0123456789abcdef";
const CONNECTIONS: usize = 32;
const ROUND: Duration = Duration::from_secs(2);
const ROUNDS: usize = 5;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    println!(
        "Lifeline HTTP benchmark ({CONNECTIONS} keep-alive connections, {ROUNDS} rounds of {} s)\n",
        ROUND.as_secs()
    );
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    seed(&url, 1000).await;
    let lifeline = start_lifeline(&dir, &url).await;
    let bare = start_bare().await;

    // Warm both up, then alternate rounds so drift in the machine hits both alike, and
    // report the median of the per-round ratios.
    load(bare, "/health").await;
    load(lifeline, "/health").await;
    let (mut ours, mut base, mut ratios) = (0.0, 0.0, Vec::new());
    for _ in 0..ROUNDS {
        let b = load(bare, "/health").await;
        let o = load(lifeline, "/health").await;
        base += b;
        ours += o;
        ratios.push(o / b);
    }
    ratios.sort_by(f64::total_cmp);
    println!("GET /health (1 000 sessions supervised):");
    println!("  bare axum JSON handler, baseline: {:>9.0} requests/s", base / ROUNDS as f64);
    println!("  Lifeline /health:                 {:>9.0} requests/s", ours / ROUNDS as f64);
    println!(
        "  ratio: {:.2} of the baseline, median of {ROUNDS} rounds (range {:.2}–{:.2}; goal: at least 0.80)\n",
        ratios[ROUNDS / 2],
        ratios[0],
        ratios[ROUNDS - 1]
    );

    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(200);
    for _ in 0..200 {
        let start = Instant::now();
        let r = client
            .get(format!("http://{lifeline}/health/deep"))
            .header("x-api-key", KEY)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let body = r.bytes().await.unwrap();
        times.push(start.elapsed());
        assert!(body.len() > 100_000, "the report should list 1 000 sessions");
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!("GET /health/deep with 1 000 sessions (200 sequential requests):");
    println!(
        "  p50 {:.1} ms, p99 {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
}

async fn seed(url: &str, n: usize) {
    let db = Db::open(&url.parse::<DatabaseUrl>().unwrap()).await.unwrap();
    for i in 0..n {
        let row = Simulator::paired_session(format!("s{i:05}"), format!("Session {i}"), Utc::now());
        sessions::insert(&db, &row).await.unwrap();
    }
    db.close().await;
}

async fn start_lifeline(dir: &tempfile::TempDir, url: &str) -> SocketAddr {
    let mut settings = Settings::with_data_dir(dir.path().join("data"));
    settings.addr = "127.0.0.1:0".parse().unwrap();
    settings.database_url = Some(url.to_owned());
    settings.simulator = true;
    settings.api_key = Some(KEY.into());
    settings.admin_password = Some("bench password 123".into());
    let policy = SupervisorPolicy {
        max_concurrent_handshakes: 64,
        restore_spacing: Duration::ZERO,
        ..SupervisorPolicy::default()
    };
    let sim = SimConfig { handshake: Duration::from_millis(1), ..SimConfig::default() };
    let site = leptos::config::LeptosOptions::builder().output_name("lifeline").build();
    let app = Application::build_with(&settings, site, policy, sim).await.unwrap();
    let addr = app.local_addr();
    let mut restore = app.state().supervisor.restore_state();
    tokio::spawn(app.run(std::future::pending()));
    let done = restore.wait_for(|r| r.finished).await.unwrap().to_owned();
    assert_eq!(done.connected, 1000);
    addr
}

/// The least a JSON health endpoint can be: a fixed report, serialised per request.
async fn start_bare() -> SocketAddr {
    let report = Health {
        status: HealthStatus::Ok,
        timestamp: Utc::now(),
        uptime: 0,
        sessions: SessionCounts { total: 1000, connected: 1000, connecting: 0, disconnected: 0 },
    };
    let app = Router::new().route("/health", get(move || async move { Json(report.clone()) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Requests per second over one round.
async fn load(addr: SocketAddr, path: &str) -> f64 {
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().unwrap();
    let url = format!("http://{addr}{path}");
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, url, done, stop) =
                (client.clone(), url.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = client.get(&url).send().await.unwrap();
                    assert!(r.status().is_success());
                    r.bytes().await.unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let start = Instant::now();
    tokio::time::sleep(ROUND).await;
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let took = start.elapsed();
    for w in workers {
        w.await.unwrap();
    }
    n as f64 / took.as_secs_f64()
}
