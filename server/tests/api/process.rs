//! A `lifeline serve` process of its own, for tests and benchmarks that kill, pause or stop
//! whole instances. Shared by the chaos test and the several-instance benchmark (which
//! includes this file by path), so it needs nothing but the crates both have.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use server::db::{Db, on_pool};

/// The admin key every instance started here accepts.
pub const PROCESS_API_KEY: &str = "process-key-0123456789abcdef";

/// The real `lifeline` binary, with none of the caller's settings (`LIFELINE_*`,
/// `DATABASE_URL`: a developer's own must not change what a test sees) and no colours.
pub fn lifeline_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lifeline"));
    for (key, _) in std::env::vars() {
        if key.starts_with("LIFELINE_") || key == "DATABASE_URL" {
            command.env_remove(key);
        }
    }
    command.env("NO_COLOR", "1");
    command
}

/// One `lifeline serve --simulator` process. Dropping it kills it.
pub struct Instance {
    /// Its `--instance-name`.
    pub name: &'static str,
    child: Child,
    /// Its id in the instances table.
    pub id: String,
    /// Where it listens.
    #[allow(
        dead_code,
        reason = "the benchmark talks to instances; the chaos test only watches them"
    )]
    pub addr: SocketAddr,
    /// Everything it wrote to stdout, kept to show when something fails.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    /// Starts instance `name` on `database_url` with `args` added to `serve --simulator`;
    /// resolves once it listens (or panics after `limit`).
    pub async fn start(
        name: &'static str,
        database_url: &str,
        args: &[String],
        db: &Db,
        limit: Duration,
    ) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let mut child = lifeline_command()
            .args(["serve", "--simulator", "--addr", "127.0.0.1:0", "--instance-name", name])
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--database-url", database_url])
            .env("LIFELINE_API_KEY", PROCESS_API_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The log is read all along (a full pipe would stall the server).
        let log = Arc::new(Mutex::new(Vec::new()));
        let (listening, listened) = tokio::sync::oneshot::channel();
        let stdout = child.stdout.take().unwrap();
        let kept = log.clone();
        std::thread::spawn(move || {
            let _dir = dir;
            let mut listening = Some(listening);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("Lifeline listening on http://")
                    && let Some(listening) = listening.take()
                {
                    let rest = &line[at + "Lifeline listening on http://".len()..];
                    let addr = rest.split(|c: char| c.is_whitespace() || c == '/').next();
                    let _ = listening.send(addr.and_then(|a| a.parse::<SocketAddr>().ok()));
                }
                kept.lock().unwrap().push(line);
            }
        });
        let addr = tokio::time::timeout(limit, listened)
            .await
            .unwrap_or_else(|_| panic!("{name} did not start"))
            .unwrap_or_else(|_| panic!("{name} exited at start: {:#?}", log.lock().unwrap()))
            .unwrap_or_else(|| panic!("{name} said where it listens unreadably"));
        let (id,): (String,) = on_pool!(db, pool => sqlx::query_as(
            "SELECT id FROM instances WHERE name = $1 ORDER BY started_ms DESC LIMIT 1",
        )
        .bind(name)
        .fetch_one(pool)
        .await)
        .unwrap();
        Instance { name, child, id, addr, log }
    }

    /// Sends `signal` (`-STOP`, `-CONT`, `-TERM`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    }

    /// `kill -9`, and waits until it is gone.
    pub fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and waits until it exited (successfully, or this panics).
    pub fn stop_cleanly(&mut self) {
        self.signal("-TERM");
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{} ended {exit:?}: {:#?}", self.name, self.log.lock().unwrap());
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
