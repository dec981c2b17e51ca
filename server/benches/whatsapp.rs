//! `make bench`: real WhatsApp sessions against the WhatsApp double — how long 100 paired
//! sessions take to come up at start-up, what each costs in memory once idle, and the CPU
//! a server with 100 live sessions uses while nothing happens.
//!
//! Lifeline runs in fresh child processes (this binary re-run with `--child`); the double
//! runs in a process of its own (`--double`), reached over WebSocket on loopback, so the
//! figures are Lifeline's alone. The baseline, measured in the same run, is the same server
//! holding simulated sessions: the difference is what the real WhatsApp client costs.

use std::{
    io::{BufRead, BufReader, Write as _},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use app::{model::SessionView, policy::SupervisorPolicy};
use chrono::Utc;
use server::{
    config::Settings,
    connector::{
        simulator::Simulator,
        whatsapp::{Reach, store::SqlStore},
    },
    db::{
        Db,
        sessions::{self, StoredSession},
    },
    secret_key::SecretKey,
    startup::{Application, Upstreams},
};
use whatsapp_double::{CLIENT_VERSION, WhatsAppDouble, noise_key_of, store_linked};
use whatsapp_rust::{
    anyhow,
    http::{HttpClient, HttpRequest, HttpResponse},
    store::persistence_manager::PersistenceManager,
    transport::TokioWebSocketTransportFactory,
    wacore::store::traits::SignalStore,
    wacore_binary::Jid,
};

/// Sessions per measurement.
const SESSIONS: usize = 100;
/// How long the server sits with every session live before memory and CPU are read.
const SETTLE: Duration = Duration::from_secs(5);
/// The window idle CPU is measured over.
const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// How long all sessions may take to come up before the run is called failed.
const LIMIT: Duration = Duration::from_secs(120);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--double") {
        return serve_double();
    }
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let (kind, n) = (args[i + 1].clone(), args[i + 2].parse().unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        println!("{}", rt.block_on(measure(&kind, n)));
        return;
    }

    println!("Lifeline WhatsApp benchmark ({SESSIONS} paired sessions, SQLite)\n");
    let whatsapp = [child("whatsapp", 0), child("whatsapp", SESSIONS)];
    let simulated = [child("simulator", 0), child("simulator", SESSIONS)];
    let per_session = |runs: &[serde_json::Value; 2]| {
        (runs[1]["rss_kib"].as_f64().unwrap() - runs[0]["rss_kib"].as_f64().unwrap())
            / SESSIONS as f64
    };
    let (wa, sim) = (&whatsapp[1], &simulated[1]);
    println!("{:<28} {:>14} {:>22}", "", "WhatsApp (double)", "baseline: simulator");
    println!(
        "{:<28} {:>14} {:>22}",
        "sessions connected",
        wa["connected"].to_string(),
        sim["connected"].to_string()
    );
    println!(
        "{:<28} {:>13.2}s {:>21.2}s",
        "start-up until all live",
        wa["restore_ms"].as_f64().unwrap() / 1000.0,
        sim["restore_ms"].as_f64().unwrap() / 1000.0,
    );
    println!(
        "{:<28} {:>12.0}KiB {:>19.0}KiB",
        "memory per session, idle",
        per_session(&whatsapp),
        per_session(&simulated)
    );
    println!(
        "{:<28} {:>13.2}% {:>21.2}%",
        "CPU at idle (one core)",
        wa["idle_cpu_percent"].as_f64().unwrap(),
        sim["idle_cpu_percent"].as_f64().unwrap(),
    );
    println!(
        "\nGoal: under 2 048 KiB per WhatsApp session at idle (a Node.js gateway spends tens of MB).\
         \nStart-up here runs without the default restore spacing (250 ms between sessions),\
         \nwith 16 handshakes at once; the default policy would take at least {:.0} s for {SESSIONS}.",
        SupervisorPolicy::default().restore_spacing.as_secs_f64() * SESSIONS as f64
    );
    println!(
        "\nA first login's 812 pre-keys written to SQLite: {:.1} ms in one transaction, {:.1} ms one statement each.",
        whatsapp[1]["prekeys_batch_ms"].as_f64().unwrap(),
        whatsapp[1]["prekeys_single_ms"].as_f64().unwrap(),
    );
}

fn child(kind: &str, n: usize) -> serde_json::Value {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe).args(["--child", kind, &n.to_string()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(line.lines().last().unwrap()).unwrap()
}

/// The double as a process of its own: WebSocket on loopback, its address on the first
/// line of output, then `register PHONE NOISE-HEX` lines in, `JID LID` lines out.
fn serve_double() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let double = WhatsAppDouble::start();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        tokio::spawn(whatsapp_double::serve(double.clone(), listener));
        let lines = tokio::task::spawn_blocking(move || {
            for line in std::io::stdin().lines() {
                let line = line.unwrap();
                let mut parts = line.split_whitespace();
                let (Some("register"), Some(phone), Some(noise)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let noise: Vec<u8> = (0..noise.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&noise[i..i + 2], 16).unwrap())
                    .collect();
                let (jid, lid) = double.register_device(phone, noise.try_into().unwrap());
                println!("{jid} {lid}");
                std::io::stdout().flush().unwrap();
            }
        });
        // Ends when the parent closes stdin (or kills this process).
        let _ = lines.await;
    });
}

/// The double's process, and its pipes.
struct DoubleProcess {
    child: Child,
    addr: String,
    to: std::process::ChildStdin,
    from: BufReader<std::process::ChildStdout>,
}

impl DoubleProcess {
    fn start() -> DoubleProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--double")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let to = child.stdin.take().unwrap();
        let mut from = BufReader::new(child.stdout.take().unwrap());
        let mut addr = String::new();
        from.read_line(&mut addr).unwrap();
        DoubleProcess { child, addr: addr.trim().to_owned(), to, from }
    }

    fn register(&mut self, phone: &str, noise: [u8; 32]) -> (Jid, Jid) {
        let hex: String = noise.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(self.to, "register {phone} {hex}").unwrap();
        let mut line = String::new();
        self.from.read_line(&mut line).unwrap();
        let mut parts = line.split_whitespace();
        (parts.next().unwrap().parse().unwrap(), parts.next().unwrap().parse().unwrap())
    }
}

impl Drop for DoubleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct NoHttp;

#[whatsapp_rust::async_trait]
impl HttpClient for NoHttp {
    async fn execute(&self, _: HttpRequest) -> anyhow::Result<HttpResponse> {
        anyhow::bail!("the benchmark makes no HTTP requests")
    }
}

fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU time this process has used, user and system.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports in USER_HZ, 100 per second on every architecture it runs on here.
    Duration::from_millis(ticks * 10)
}

/// Starts a server on `n` paired sessions of `kind` and measures it (one JSON line).
async fn measure(kind: &str, n: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("lifeline.db").display());
    let db = Db::open(&url.parse().unwrap()).await.unwrap();
    let key = SecretKey::generate();
    let mut double = (kind == "whatsapp").then(DoubleProcess::start);
    let mut prekeys = (0.0, 0.0);
    for i in 0..n {
        let id = format!("s{i:04}");
        let phone = format!("+2782{:07}", i);
        let stored = match &double {
            Some(_) => {
                let mut view = SessionView::new(
                    id.clone(),
                    format!("Session {i}"),
                    "whatsapp".into(),
                    Utc::now(),
                );
                view.phone_number = Some(phone.clone());
                let credentials = Some(format!("whatsapp-store:{phone}").into_bytes());
                StoredSession { view, credentials, is_active: true }
            }
            None => Simulator::paired_session(id.clone(), format!("Session {i}"), Utc::now()),
        };
        sessions::insert(&db, &stored).await.unwrap();
        if let Some(double) = &mut double {
            // The device a pairing would have stored, known to the double.
            let store = Arc::new(SqlStore::new(db.clone(), key.clone(), &id));
            let manager = PersistenceManager::new(store).await.unwrap();
            let (jid, lid) = double.register(&phone, noise_key_of(&manager));
            store_linked(&manager, &jid, &lid).await.unwrap();
        }
    }
    if double.is_some() {
        prekeys = prekey_writes(&db, &key).await;
    }
    db.close().await;

    let mut settings = Settings::with_data_dir(dir.path().join("data"));
    settings.addr = "127.0.0.1:0".parse().unwrap();
    settings.database_url = Some(url);
    settings.simulator = true;
    settings.secret_key = Some(key);
    settings.admin_password = Some("bench password 123".into());
    let policy = SupervisorPolicy {
        max_concurrent_handshakes: 16,
        restore_spacing: Duration::ZERO,
        ..SupervisorPolicy::default()
    };
    let whatsapp = match &double {
        Some(double) => Reach {
            transport: Arc::new(
                TokioWebSocketTransportFactory::new()
                    .with_url(format!("ws://{}/ws/chat", double.addr))
                    .without_origin(),
            ),
            http: Arc::new(NoHttp),
            version: Some(CLIENT_VERSION),
        },
        None => Reach::default(),
    };
    let upstreams = Upstreams { simulation: Default::default(), whatsapp };
    let site = leptos::config::LeptosOptions::builder().output_name("lifeline").build();
    let started = Instant::now();
    let app = Application::build_with(&settings, site, policy, upstreams).await.unwrap();
    let mut restore = app.state().supervisor.restore_state();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let done = tokio::time::timeout(LIMIT, restore.wait_for(|r| r.finished))
        .await
        .expect("the sessions did not come up in time")
        .unwrap()
        .to_owned();
    let restore_ms = started.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(SETTLE).await;
    let rss = rss_kib();
    let cpu_before = cpu_time();
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle_cpu = (cpu_time() - cpu_before).as_secs_f64() / IDLE_WINDOW.as_secs_f64() * 100.0;
    let _ = stop.send(());
    let _ = server.await;
    drop(double);
    serde_json::json!({
        "connected": done.connected,
        "restore_ms": restore_ms,
        "rss_kib": rss,
        "idle_cpu_percent": idle_cpu,
        "prekeys_batch_ms": prekeys.0,
        "prekeys_single_ms": prekeys.1,
    })
    .to_string()
}

/// Writes a first login's 812 pre-keys into a fresh store, in one batch and one by one;
/// returns both times in milliseconds.
async fn prekey_writes(db: &Db, key: &SecretKey) -> (f64, f64) {
    use whatsapp_rust::bytes::Bytes;
    let records: Vec<(u32, Bytes)> =
        (1..=812).map(|id| (id, Bytes::from(vec![7u8; 140]))).collect();
    let mut times = Vec::new();
    for batch in [true, false] {
        let id = format!("prekeys-{batch}");
        let mut view = SessionView::new(id.clone(), id.clone(), "whatsapp".into(), Utc::now());
        view.desired = app::model::Desired::Stopped;
        sessions::insert(db, &StoredSession { view, credentials: None, is_active: false })
            .await
            .unwrap();
        let store = SqlStore::new(db.clone(), key.clone(), &id);
        let t0 = Instant::now();
        if batch {
            store.store_prekeys_batch(&records, false).await.unwrap();
        } else {
            for (id, record) in &records {
                store.store_prekey(*id, record, false).await.unwrap();
            }
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    (times[0], times[1])
}
