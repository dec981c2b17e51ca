//! `make bench`: how many sessions one Lifeline holds, what each costs in memory, and how
//! long start-up restore takes under the default policy.
//!
//! Memory is measured in fresh child processes (this binary re-run with `--child`), so one
//! measurement's freed memory never hides another's. Every figure is reported next to a
//! baseline measured in the same run: memory against a bare task with a mailbox per
//! session, restore time against a fixed pace of one session every 2 s.

use std::{
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use app::policy::SupervisorPolicy;
use chrono::Utc;
use server::{
    connector::{
        Connectors,
        simulator::{SimConfig, Simulator},
    },
    db::{DatabaseUrl, Db},
    events::EventBus,
    metrics::Metrics,
    status_board::StatusBoard,
    supervisor::{
        Supervisor, SupervisorParts,
        actor::{self, Deps, Seed},
        journal::{Journal, Record},
        machine::Input,
        restore::{self, RestoreState},
    },
};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let kind = &args[i + 1];
        let n: usize = args[i + 2].parse().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let line = match kind.as_str() {
            "supervisor" => rt.block_on(supervised_memory(n)),
            "bare" => rt.block_on(bare_memory(n)),
            other => panic!("unknown child {other}"),
        };
        println!("{line}");
        return;
    }

    println!("Lifeline supervisor benchmark\n");
    println!("Sessions held and memory per session (simulated upstream, SQLite):");
    println!(
        "{:>8} {:>10} {:>16} {:>20} {:>8}",
        "sessions", "connected", "KiB per session", "baseline KiB/task", "ratio"
    );
    for n in [1_000, 10_000] {
        let supervised = child("supervisor", n);
        let bare = child("bare", n);
        let per = supervised["per_session_kib"].as_f64().unwrap();
        let base = bare["per_session_kib"].as_f64().unwrap();
        println!(
            "{:>8} {:>10} {:>16.1} {:>20.1} {:>8.1}",
            n,
            supervised["connected"],
            per,
            base,
            per / base
        );
    }

    println!("\nRestoring 1 000 sessions (simulated time, 400 ms handshakes):");
    let lifeline = restore_time(SupervisorPolicy::default());
    let paced = restore_time(SupervisorPolicy {
        restore_spacing: Duration::from_secs(2),
        jitter: 0.0,
        max_concurrent_handshakes: 1,
        ..SupervisorPolicy::default()
    });
    println!(
        "  default policy (4 at once, 250 ms spacing + ≤25 % jitter): {} ({} wall)",
        human(lifeline.0),
        human(lifeline.1)
    );
    println!("  one session every 2 s, baseline:                            {}", human(paced.0));
    println!("  ratio: {:.2} of the baseline", lifeline.0.as_secs_f64() / paced.0.as_secs_f64());
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        format!("{} min {:.0} s", (s / 60.0) as u64, s % 60.0)
    } else {
        format!("{s:.2} s")
    }
}

fn child(kind: &str, n: usize) -> serde_json::Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--child", kind, &n.to_string()])
        .output()
        .expect("cannot run the benchmark child");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn paired(i: usize) -> server::db::sessions::StoredSession {
    Simulator::paired_session(format!("s{i:06}"), format!("Session {i}"), Utc::now())
}

/// Memory of `n` supervised, connected sessions.
async fn supervised_memory(n: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&DatabaseUrl::sqlite_file(&dir.path().join("bench.db"))).await.unwrap();
    for i in 0..n {
        server::db::sessions::insert(&db, &paired(i)).await.unwrap();
    }
    let before = rss_kib();
    let simulator =
        Simulator::new(SimConfig { handshake: Duration::from_millis(1), ..SimConfig::default() });
    let supervisor = Supervisor::start(SupervisorParts {
        db: db.clone(),
        bus: EventBus::default(),
        board: Arc::new(StatusBoard::new()),
        policy: SupervisorPolicy {
            max_concurrent_handshakes: 64,
            restore_spacing: Duration::ZERO,
            jitter: 0.0,
            ..SupervisorPolicy::default()
        },
        connectors: Connectors::default().with("simulator", Arc::new(simulator)),
        instance: server::supervisor::InstanceSettings::default(),
        metrics: Arc::new(Metrics::default()),
        outbox: Default::default(),
    })
    .await
    .unwrap();
    let done = supervisor.restore_state().wait_for(|r| r.finished).await.unwrap().to_owned();
    supervisor.flush_journal().await;
    let after = rss_kib();
    supervisor.shutdown().await;
    serde_json::json!({
        "connected": done.connected,
        "per_session_kib": (after - before) / n as f64,
    })
    .to_string()
}

/// Memory of `n` bare tasks, each with a mailbox and a watched view: the least an actor
/// per session could cost.
async fn bare_memory(n: usize) -> String {
    let before = rss_kib();
    let mut keep = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, mut rx) = mpsc::channel::<u8>(64);
        let (view_tx, view_rx) = watch::channel(paired(i).view);
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                view_tx.send_modify(|v| v.attempt += 1);
            }
        });
        keep.push((tx, view_rx));
    }
    tokio::task::yield_now().await;
    let after = rss_kib();
    drop(keep);
    serde_json::json!({"per_session_kib": (after - before) / n as f64}).to_string()
}

/// How long restoring 1 000 sessions takes under `policy`, in simulated time (and the
/// wall-clock time the simulation took).
fn restore_time(policy: SupervisorPolicy) -> (Duration, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let wall = Instant::now();
    let simulated = rt.block_on(async move {
        let (journal, mut records) = Journal::new();
        // Stand-in for the database writer: paused time and real I/O do not mix.
        tokio::spawn(async move {
            while let Some(record) = records.recv().await {
                if let Record::Flush(done) = record {
                    let _ = done.send(());
                }
            }
        });
        let bus = EventBus::default();
        let deps = Deps {
            handshakes: Arc::new(Semaphore::new(policy.max_concurrent_handshakes as usize)),
            policy: Arc::new(policy.clone()),
            bus: bus.clone(),
            board: Arc::new(StatusBoard::new()),
            journal,
            metrics: Arc::new(Metrics::default()),
            holder: "test".into(),
        };
        let simulator = Arc::new(Simulator::new(SimConfig::default()));
        let tasks = TaskTracker::new();
        let handles: Vec<_> = (0..1000)
            .map(|i| {
                let seed = paired(i);
                actor::spawn(
                    Seed {
                        view: seed.view,
                        credentials: seed.credentials,
                        connector: Ok(simulator.clone()),
                        pair_phone: None,
                        token: server::db::leases::Token(1),
                    },
                    deps.clone(),
                    &tasks,
                )
            })
            .collect();
        let (progress, mut watch) = watch::channel(RestoreState::default());
        let t0 = tokio::time::Instant::now();
        tokio::spawn(restore::run(
            handles.clone(),
            Arc::new(policy),
            bus,
            progress,
            CancellationToken::new(),
        ));
        let done = watch.wait_for(|r| r.finished).await.unwrap().to_owned();
        assert_eq!(done.connected, 1000);
        let elapsed = t0.elapsed();
        for h in &handles {
            h.input(Input::Stop, None).await.unwrap();
        }
        elapsed
    });
    (simulated, wall.elapsed())
}
