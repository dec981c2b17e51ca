//! The load generator, run as a child process (`--clients KIND URL N`): `N` WebSocket clients,
//! each from its own loopback address (127.20.x.y), so no per-address limit caps the run and
//! the server's sockets and these do not share one process's file limit.
//!
//! It speaks to its parent in lines. Out: `ready` once every client is connected and
//! greeted; `all S` once every open client has the frame numbered `S`; `report {json}` when
//! asked. In: `probe S T0` (frame `S` answers a change triggered at `T0`, nanoseconds since
//! the epoch), `report` (latencies of the probes since the last report, then forget them),
//! `end`.

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
};

use futures_util::{SinkExt, StreamExt, stream};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::{TcpSocket, TcpStream},
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, protocol::WebSocketConfig},
};

use crate::{KEY, Kind, now_nanos};

/// How many clients connect at once.
const CONNECTING: usize = 64;
/// The most clients: 250 addresses in each of 255 blocks.
pub const MAX_CLIENTS: usize = 250 * 255;

/// Client `i`'s own source address.
fn source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 20, (i / 250) as u8, (i % 250 + 1) as u8)
}

/// The number in a frame's `"seq":N`, wherever it sits.
pub fn seq_of(text: &str) -> Option<u64> {
    let at = text.find("\"seq\":")? + 6;
    let digits = text[at..].bytes().take_while(u8::is_ascii_digit).count();
    text[at..at + digits].parse().ok()
}

#[derive(Default)]
struct Tally {
    open: usize,
    dropped: usize,
    /// When each client received each numbered frame.
    seen: HashMap<u64, Vec<u128>>,
}

type Shared = Arc<Mutex<Tally>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Tally> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

pub async fn run(kind: Kind, url: String, n: usize) {
    assert!(n <= MAX_CLIENTS, "at most {MAX_CLIENTS} clients");
    let server: SocketAddr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("a ws://IP:PORT/ URL");
    let shared: Shared = Arc::default();
    let clients: Vec<_> = stream::iter(0..n)
        .map(|i| connect(kind, &url, server, source(i)))
        .buffer_unordered(CONNECTING)
        .collect()
        .await;
    lock(&shared).open = n;
    for ws in clients {
        tokio::spawn(read(kind, ws, shared.clone()));
    }
    println!("ready");

    let mut probes: Vec<(u64, u128)> = Vec::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["probe", seq, at] => probes.push((seq.parse().unwrap(), at.parse().unwrap())),
            ["report"] => println!("report {}", report(&shared, std::mem::take(&mut probes))),
            _ => break,
        }
    }
}

/// Connects one client from `from` and waits for its greeting.
async fn connect(
    kind: Kind,
    url: &str,
    server: SocketAddr,
    from: Ipv4Addr,
) -> WebSocketStream<TcpStream> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).expect("bind a loopback source address");
    let tcp = socket.connect(server).await.expect("connect");
    tcp.set_nodelay(true).unwrap();
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("x-api-key", KEY.parse().unwrap());
    // The generator's own buffers kept small: 10 000 clients at the default 128 KiB each
    // would be more than a gigabyte here.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
        .await
        .expect("WebSocket handshake");
    match kind {
        // The snapshot comes first.
        Kind::Lifeline => {
            let first = ws.next().await.expect("a snapshot").expect("a snapshot");
            assert!(first.to_text().unwrap_or("").contains("\"snapshot\""), "{first:?}");
        }
        // Engine.IO's open packet, then joining the default namespace.
        Kind::SocketIo => {
            let open = ws.next().await.expect("an open packet").expect("an open packet");
            assert!(open.to_text().unwrap_or("").starts_with('0'), "{open:?}");
            ws.send(Message::text("40")).await.unwrap();
            let joined = ws.next().await.expect("joined").expect("joined");
            assert!(joined.to_text().unwrap_or("").starts_with("40"), "{joined:?}");
        }
        Kind::Bare => {}
    }
    ws
}

/// Reads one client's frames until the server closes it.
async fn read(kind: Kind, mut ws: WebSocketStream<TcpStream>, shared: Shared) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let now = now_nanos();
                // Engine.IO's heartbeat is a text frame "2", answered with "3".
                if kind == Kind::SocketIo && text.as_str() == "2" {
                    if ws.send(Message::text("3")).await.is_err() {
                        break;
                    }
                    continue;
                }
                let Some(seq) = seq_of(&text) else { continue };
                let mut tally = lock(&shared);
                let open = tally.open;
                let seen = tally.seen.entry(seq).or_default();
                seen.push(now);
                if seen.len() == open {
                    println!("all {seq}");
                }
            }
            // A WebSocket ping's pong is queued by the read; flushed here at once.
            Some(Ok(Message::Ping(_))) => {
                if ws.flush().await.is_err() {
                    break;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    let mut tally = lock(&shared);
    tally.open -= 1;
    tally.dropped += 1;
}

/// The latencies of `probes` as one JSON object, and forgets the frames they cover.
fn report(shared: &Shared, probes: Vec<(u64, u128)>) -> serde_json::Value {
    let mut tally = lock(shared);
    let mut latencies = Vec::new();
    let mut missed = 0;
    let open = tally.open;
    for (seq, at) in &probes {
        let seen = tally.seen.get(seq).map_or(&[][..], Vec::as_slice);
        missed += open.saturating_sub(seen.len());
        latencies.extend(seen.iter().map(|t| t.saturating_sub(*at) as f64 / 1e6));
    }
    let last = probes.iter().map(|p| p.0).max().unwrap_or(0);
    tally.seen.retain(|seq, _| *seq > last);
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    serde_json::json!({
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies.last().copied().unwrap_or(f64::NAN),
        "samples": latencies.len(),
        "missed": missed,
        "open": open,
        "dropped": tally.dropped,
    })
}
