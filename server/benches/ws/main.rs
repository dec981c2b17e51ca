//! `make bench`: the event channel at 100, 1 000 and 10 000 connected dashboards, next to a
//! bare axum broadcast sending Lifeline's own frame and Socket.IO 4.8, all measured in this
//! run: fan-out latency from a status change triggered over HTTP until each client has the
//! frame, and the server's memory per connected client. Then a soak: 10 000 clients and a
//! status change every second (`LIFELINE_SOAK_SECS`, 600 by default; 0 skips it).
//!
//! Every server runs as its own process, so its memory is its own (`/proc/PID/status`); the
//! clients run in another (this binary with `--clients`), each from its own loopback address.
//! Latency is measured on the wall clock the processes share: from just before the trigger's
//! HTTP request leaves until a client has read the frame.

mod bare;
mod clients;
mod servers;

use std::{
    process::Stdio,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use servers::{Announced, Server};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin},
    sync::mpsc,
    time::Instant,
};

const KEY: &str = "bench-key-0123456789abcdef";
const SIZES: [usize; 3] = [100, 1_000, 10_000];
/// Status changes measured at each size.
const PROBES: usize = 20;
/// How long a size may take to connect all its clients.
const CONNECT_PATIENCE: Duration = Duration::from_secs(300);
/// How long every client may take to receive one change.
const DELIVERY_PATIENCE: Duration = Duration::from_secs(30);
/// The goals this benchmark reports against.
const GOAL_BYTES_PER_CLIENT: f64 = 16.0 * 1024.0;
const GOAL_TO_BARE: f64 = 1.2;
const GOAL_TO_SOCKET_IO: f64 = 0.6;

/// Which server a client talks to (its handshake and greeting differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Lifeline,
    Bare,
    SocketIo,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Lifeline => "lifeline",
            Kind::Bare => "bare",
            Kind::SocketIo => "socketio",
        }
    }

    fn parse(name: &str) -> Kind {
        [Kind::Lifeline, Kind::Bare, Kind::SocketIo]
            .into_iter()
            .find(|k| k.name() == name)
            .expect("lifeline, bare or socketio")
    }
}

pub fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match args.iter().position(|a| a == "--clients" || a == "--serve-bare") {
        Some(i) if args[i] == "--clients" => rt.block_on(clients::run(
            Kind::parse(&args[i + 1]),
            args[i + 2].clone(),
            args[i + 3].parse().unwrap(),
        )),
        Some(i) => rt.block_on(bare::serve(args[i + 1].parse().unwrap())),
        None => rt.block_on(run()),
    }
}

/// What the load generator said about a stretch of changes.
#[derive(Clone, Copy, Debug)]
struct Report {
    p50: f64,
    p99: f64,
    max: f64,
    samples: u64,
    missed: u64,
    dropped: u64,
}

/// The load generator: a child process of `n` clients.
struct Load {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Load {
    async fn start(server: &Server, n: usize) -> Load {
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["--clients", server.kind.name(), &server.ws_url(), &n.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut load = Load { child, stdin, lines };
        load.wait(CONNECT_PATIENCE, |l| l == "ready").await.expect("every client connected");
        load
    }

    /// The first line `wanted` accepts, within `patience`.
    async fn wait(&mut self, patience: Duration, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + patience;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv()).await.ok()??;
            if wanted(&line) {
                return Some(line);
            }
        }
    }

    async fn say(&mut self, line: String) {
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn probe(&mut self, change: &Announced) {
        self.say(format!("probe {} {}\n", change.first, change.at)).await;
    }

    /// Waits until every open client has frame `seq`; false when some never got it.
    async fn delivered(&mut self, seq: u64) -> bool {
        let reached =
            |l: &str| l.strip_prefix("all ").and_then(|s| s.parse::<u64>().ok()) >= Some(seq);
        self.wait(DELIVERY_PATIENCE, reached).await.is_some()
    }

    async fn report(&mut self) -> Report {
        self.say("report\n".into()).await;
        let line =
            self.wait(DELIVERY_PATIENCE, |l| l.starts_with("report ")).await.expect("a report");
        let v: Value = serde_json::from_str(&line["report ".len()..]).unwrap();
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let u = |k: &str| v[k].as_u64().unwrap_or_default();
        Report {
            p50: f("p50_ms"),
            p99: f("p99_ms"),
            max: f("max_ms"),
            samples: u("samples"),
            missed: u("missed"),
            dropped: u("dropped"),
        }
    }

    async fn end(mut self) {
        self.say("end\n".into()).await;
        let _ = tokio::time::timeout(DELIVERY_PATIENCE, self.child.wait()).await;
    }
}

/// One server at one size.
struct Row {
    report: Report,
    bytes_per_client: f64,
    rss_after: u64,
}

/// Lets a server's memory settle before it is read.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Connects `n` clients to a fresh `kind` server, triggers [`PROBES`] changes one after
/// another, and reads memory and latency. `frame` is Lifeline's frame, which the other
/// servers send; the first Lifeline run provides it.
async fn measure(kind: Kind, n: usize, frame: &mut Option<String>) -> Row {
    let mut server = Server::start(kind).await;
    settle().await;
    let before = server.rss();
    let mut load = Load::start(&server, n).await;
    settle().await;
    let after = server.rss();
    for _ in 0..PROBES {
        let change = server.trigger(frame.as_deref().unwrap_or_default()).await;
        load.probe(&change).await;
        if !load.delivered(change.last).await {
            eprintln!("  {}: not every client got frame {}", kind.name(), change.last);
        }
        frame.get_or_insert(change.text);
    }
    let report = load.report().await;
    load.end().await;
    Row {
        report,
        bytes_per_client: after.saturating_sub(before) as f64 / n as f64,
        rss_after: after,
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

async fn run() {
    println!(
        "Lifeline /ws fan-out and memory: {PROBES} status changes per size, each triggered over \
         HTTP and awaited at every client; every server a fresh process, clients from distinct \
         127.20.x.y addresses in another process\n"
    );
    println!(
        "{:>7} | {:^17} | {:^17} | {:^17} | {:^23} | {:^23} | {:^23}",
        "", "Lifeline", "bare axum", "Socket.IO 4.8", "Lifeline RSS", "bare RSS", "Socket.IO RSS"
    );
    println!(
        "{:>7} | {:^17} | {:^17} | {:^17} | {:^23} | {:^23} | {:^23}",
        "clients",
        "p50 / p99 ms",
        "p50 / p99 ms",
        "p50 / p99 ms",
        "total, per client",
        "total, per client",
        "total, per client"
    );
    let mut frame = None;
    let mut rows = Vec::new();
    for n in SIZES {
        let ours = measure(Kind::Lifeline, n, &mut frame).await;
        let bare = measure(Kind::Bare, n, &mut frame).await;
        let sio = measure(Kind::SocketIo, n, &mut frame).await;
        let latency = |r: &Row| format!("{:>6.1} / {:>6.1}", r.report.p50, r.report.p99);
        let memory = |r: &Row| {
            format!("{:>6.0} MB, {:>6.1} KB", mb(r.rss_after), r.bytes_per_client / 1024.0)
        };
        println!(
            "{n:>7} | {:^17} | {:^17} | {:^17} | {:^23} | {:^23} | {:^23}",
            latency(&ours),
            latency(&bare),
            latency(&sio),
            memory(&ours),
            memory(&bare),
            memory(&sio)
        );
        for (name, row) in [("Lifeline", &ours), ("bare", &bare), ("Socket.IO", &sio)] {
            let r = row.report;
            if r.missed > 0 || r.dropped > 0 {
                println!(
                    "          {name}: {} deliveries missed, {} clients dropped",
                    r.missed, r.dropped
                );
            }
        }
        rows.push((n, ours, bare, sio));
    }
    let frame_len = frame.as_deref().map_or(0, str::len);
    println!(
        "\nThe frame: {frame_len} bytes of JSON (a session's status change), sent by all three."
    );
    println!("Goals (Lifeline):");
    for (n, ours, bare, sio) in &rows {
        let to_bare = ours.report.p99 / bare.report.p99;
        let to_sio = ours.report.p99 / sio.report.p99;
        println!(
            "  {n:>6} clients: p99 {to_bare:.2} x bare (goal <= {GOAL_TO_BARE}), {to_sio:.2} x Socket.IO (goal <= {GOAL_TO_SOCKET_IO}); {:.1} KB per client (goal <= {:.0} KB at 10 000)",
            ours.bytes_per_client / 1024.0,
            GOAL_BYTES_PER_CLIENT / 1024.0
        );
    }
    let soak: u64 =
        std::env::var("LIFELINE_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
    if soak > 0 {
        soak_test(10_000, Duration::from_secs(soak)).await;
    }
}

/// `n` clients and a status change every second for `length`: memory, latency and dropped
/// clients per minute.
async fn soak_test(n: usize, length: Duration) {
    println!(
        "\nSoak: {n} Lifeline clients, a status change every second for {} s (report only)",
        length.as_secs()
    );
    let mut server = Server::start(Kind::Lifeline).await;
    let mut load = Load::start(&server, n).await;
    settle().await;
    let first = server.rss();
    let (mut low, mut high) = (first, first);
    println!(
        "{:>6} | {:>9} | {:>9} | {:>9} | {:>7} | {:>7} | {:>7}",
        "minute", "RSS MB", "p50 ms", "p99 ms", "max ms", "missed", "dropped"
    );
    println!("{:>6} | {:>9.1} |", 0, mb(first));
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sampled = Instant::now();
    let mut reported = Instant::now();
    let mut minute = 0;
    let mut last = None;
    while started.elapsed() < length {
        tick.tick().await;
        let change = server.trigger("").await;
        load.probe(&change).await;
        if sampled.elapsed() >= Duration::from_secs(10) {
            sampled = Instant::now();
            let rss = server.rss();
            (low, high) = (low.min(rss), high.max(rss));
        }
        if reported.elapsed() >= Duration::from_secs(60) || started.elapsed() >= length {
            reported = Instant::now();
            minute += 1;
            // The change just made is counted once it has reached every client, not while
            // it is still on its way.
            let _ = load.delivered(change.last).await;
            let r = load.report().await;
            let rss = server.rss();
            (low, high) = (low.min(rss), high.max(rss));
            println!(
                "{minute:>6} | {:>9.1} | {:>9.1} | {:>9.1} | {:>7.1} | {:>7} | {:>7}",
                mb(rss),
                r.p50,
                r.p99,
                r.max,
                r.missed,
                r.dropped
            );
            last = Some((r, rss));
        }
    }
    load.end().await;
    if let Some((r, end)) = last {
        let drift = |x: u64| (x as f64 - first as f64) / first as f64 * 100.0;
        println!(
            "RSS from {:.1} MB at the start to {:.1} MB at the end ({:+.1} %); lowest {:+.1} %, highest {:+.1} % (goal: within 5 %); {} samples, {} clients dropped",
            mb(first),
            mb(end),
            drift(end),
            drift(low),
            drift(high),
            r.samples,
            r.dropped
        );
    }
}
