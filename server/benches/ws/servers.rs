//! The three servers under test, each started as its own process so its memory can be read
//! from `/proc`: Lifeline itself (the `lifeline` binary with the simulated connector), the
//! bare axum broadcast ([`crate::bare`]) and Socket.IO 4.8 (Node). Each one's trigger is an
//! HTTP request.

use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    process::Stdio,
    time::Duration,
};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::{process::Child, sync::mpsc};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::{KEY, Kind, clients::seq_of, now_nanos};

const PASSWORD: &str = "bench password 123";
/// How long a server may take to come up, a session to connect, or a frame to arrive.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running server under test; killed (by PID) when dropped.
pub struct Server {
    pub kind: Kind,
    child: Child,
    pub addr: SocketAddr,
    http: reqwest::Client,
    /// Lifeline's simulated session.
    session: Option<Session>,
    /// The frame the last trigger of the others sent.
    seq: u64,
    _dir: tempfile::TempDir,
}

/// Lifeline's simulated session, whether it runs, and the frames announcing its changes.
struct Session {
    id: String,
    running: bool,
    frames: mpsc::UnboundedReceiver<(u64, String)>,
}

/// The frames one trigger made: when it was sent (nanoseconds since the epoch), the first
/// frame's number and text, and the last one's number.
pub struct Announced {
    pub at: u128,
    pub first: u64,
    pub text: String,
    pub last: u64,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    pub async fn start(kind: Kind) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut command = match kind {
            Kind::Lifeline => {
                let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_lifeline"));
                c.args(["--addr", &format!("127.0.0.1:{port}"), "--simulator"])
                    .arg("--data-dir")
                    .arg(dir.path().join("data"))
                    .args(["--api-key", KEY, "--admin-password", PASSWORD])
                    .env("RUST_LOG", "warn");
                c
            }
            Kind::Bare => {
                let mut c = tokio::process::Command::new(std::env::current_exe().unwrap());
                c.args(["--serve-bare", &port.to_string()]);
                c
            }
            Kind::SocketIo => {
                let here = Path::new(env!("CARGO_MANIFEST_DIR"));
                let mut c = tokio::process::Command::new("node");
                c.arg(here.join("benches/ws/socketio.cjs"))
                    .arg(port.to_string())
                    .env("NODE_PATH", here.join("../end2end/node_modules"));
                c
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {} server: {e}", kind.name()));
        let mut server = Server {
            kind,
            child,
            addr: ([127, 0, 0, 1], port).into(),
            http: reqwest::Client::new(),
            session: None,
            seq: 0,
            _dir: dir,
        };
        server.wait_up().await;
        if kind == Kind::Lifeline {
            server.session = Some(server.connected_session().await);
        }
        server
    }

    /// Where its clients connect.
    pub fn ws_url(&self) -> String {
        match self.kind {
            Kind::SocketIo => format!("ws://{}/socket.io/?EIO=4&transport=websocket", self.addr),
            _ => format!("ws://{}/ws", self.addr),
        }
    }

    /// The server process's resident memory, in bytes.
    pub fn rss(&self) -> u64 {
        let pid = self.child.id().expect("the server is running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kib * 1024
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("x-api-key", KEY)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    async fn wait_up(&mut self) {
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(r) = self.http.get(self.url("/livez")).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the {} server exited at start: {status}", self.kind.name());
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the {} server did not come up",
                self.kind.name()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A simulated session, paired and connected, and a listener for what is announced.
    async fn connected_session(&self) -> Session {
        let created: Value = self
            .post("/sessions", json!({"name": "bench", "connector": "simulator"}))
            .await
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().expect("a session id").to_owned();
        let started = tokio::time::Instant::now();
        // The phone scans once a code is on screen.
        let scan = format!("/dev/simulator/sessions/{id}/fault");
        while !self.post(&scan, json!({"kind": "scan"})).await.status().is_success() {
            assert!(started.elapsed() < PATIENCE, "the session never showed a QR code");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        while self.status(&id).await != "connected" {
            assert!(started.elapsed() < PATIENCE, "the session never connected");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Session { id, running: true, frames: self.listen().await }
    }

    async fn status(&self, id: &str) -> String {
        let view: Value = self
            .http
            .get(self.url(&format!("/sessions/{id}")))
            .header("x-api-key", KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        view["status"].as_str().unwrap_or_default().to_owned()
    }

    /// One more event channel, from 127.0.0.1: every numbered frame with its text.
    async fn listen(&self) -> mpsc::UnboundedReceiver<(u64, String)> {
        let mut request = self.ws_url().into_client_request().unwrap();
        request.headers_mut().insert("x-api-key", KEY.parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("listen");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message
                    && !text.contains("\"snapshot\"")
                    && let Some(seq) = seq_of(&text)
                    && tx.send((seq, text.to_string())).is_err()
                {
                    return;
                }
            }
        });
        rx
    }

    /// Makes one change reach every client. Lifeline: the session stops, or starts again
    /// when it is stopped, through the HTTP API, and the frames it announces are awaited.
    /// The others: `POST /trigger` with `frame` (Lifeline's own frame, renumbered).
    pub async fn trigger(&mut self, frame: &str) -> Announced {
        let Some(session) = &mut self.session else {
            self.seq += 1;
            let text = renumber(frame, self.seq);
            let body: Value = serde_json::from_str(&text).unwrap();
            let at = now_nanos();
            let answer = self.post("/trigger", body).await;
            assert!(answer.status().is_success(), "trigger: {}", answer.status());
            return Announced { at, first: self.seq, text, last: self.seq };
        };
        // Frames of an earlier change that came late are not this one's.
        while session.frames.try_recv().is_ok() {}
        // A stopped session is disconnected, for the reason that it was stopped.
        let (path, settled) = if session.running {
            ("stop", r#""reason":"stopped""#)
        } else {
            ("start", r#""status":"connected""#)
        };
        session.running = !session.running;
        let path = format!("/sessions/{}/{path}", session.id);
        let at = now_nanos();
        let answer = self.post(&path, json!({})).await;
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        let Some(session) = &mut self.session else { unreachable!() };
        let mut next = async || {
            tokio::time::timeout(PATIENCE, session.frames.recv())
                .await
                .expect("the change was announced")
                .expect("the listener is up")
        };
        let (first, text) = next().await;
        let mut last = (first, text.clone());
        while !last.1.contains(settled) {
            last = next().await;
        }
        Announced { at, first, text, last: last.0 }
    }
}

/// `frame` with its `"seq"` set to `seq`.
fn renumber(frame: &str, seq: u64) -> String {
    let old = seq_of(frame).expect("a numbered frame");
    frame.replacen(&format!("\"seq\":{old}"), &format!("\"seq\":{seq}"), 1)
}
