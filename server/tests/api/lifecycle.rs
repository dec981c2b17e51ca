//! Start-up restore, graceful shutdown and recovery from `kill -9`, on both databases.

use std::{
    io::{BufRead, BufReader},
    process::{Child, ChildStdout, Stdio},
    time::Duration,
};

use app::{
    model::{Desired, Reason, SessionStatus},
    policy::SupervisorPolicy,
};
use chrono::Utc;
use serde_json::{Value, json};
use server::{
    connector::simulator::Simulator,
    db::{
        Db,
        sessions::{self, StoredSession, UNCLEAN_DETAIL},
    },
};

use crate::{
    helpers::{
        API_KEY, Backend, fast_policy, fresh_database, lifeline_command, spawn_on,
        spawn_on_database,
    },
    on_both_databases,
};

async fn shutdown_stores_every_session_and_the_next_start_restores_them(backend: Backend) {
    let app = spawn_on(backend).await;
    let a = app.paired_session("A").await;
    let b = app.paired_session("B").await;
    let app = {
        let db_url = app.database_url.clone();
        let restarted = app.restart().await;
        assert_eq!(restarted.database_url, db_url);
        restarted
    };
    // What the first run wrote on its way out, before the second run changed anything, is
    // in the history: connected → disconnected / server_shutdown, desired kept.
    let db = app.db().await;
    for id in [&a, &b] {
        let history = sessions::events(&db, id, 50).await.unwrap();
        let shutdown = history
            .iter()
            .find(|e| e.reason.as_deref() == Some("server_shutdown"))
            .unwrap_or_else(|| panic!("no shutdown in the history of {id}: {history:#?}"));
        assert_eq!(
            (shutdown.from_status.as_str(), shutdown.to_status.as_str()),
            ("connected", "disconnected")
        );
    }
    for id in [&a, &b] {
        let v = app.until(id, |v| v.status == SessionStatus::Connected).await;
        assert_eq!(v.desired, Desired::Running);
    }
    let restore = app.state.supervisor.restore_state().borrow().to_owned();
    assert_eq!(restore.total, 2);
    app.stop().await;

    // After a clean stop the rows say so.
    let rows = sessions::load_all(&db).await.unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(
            (row.view.status, row.view.reason),
            (SessionStatus::Disconnected, Some(Reason::ServerShutdown))
        );
        assert_eq!(row.view.desired, Desired::Running);
        assert!(row.credentials.is_some());
    }
}

async fn stopped_and_logged_out_sessions_are_not_restored(backend: Backend) {
    let app = spawn_on(backend).await;
    let stopped = app.paired_session("Stopped").await;
    let logged_out = app.paired_session("Logged out").await;
    let manual = app.paired_session("Manual").await;
    app.post_empty(&format!("/sessions/{stopped}/stop")).await;
    app.post_empty(&format!("/sessions/{logged_out}/logout")).await;
    app.client
        .patch(app.url(&format!("/sessions/{manual}")))
        .json(&json!({"auto_connect": false}))
        .send()
        .await
        .unwrap();
    let app = app.restart().await;
    let mut restore = app.state.supervisor.restore_state();
    let done = restore.wait_for(|r| r.finished).await.unwrap().to_owned();
    assert_eq!(done.total, 0, "{done:?}");
    assert_eq!(app.state.supervisor.get(&stopped).unwrap().reason, Some(Reason::Stopped));
    assert_eq!(app.state.supervisor.get(&logged_out).unwrap().status, SessionStatus::LoggedOut);
    assert_eq!(app.state.supervisor.get(&manual).unwrap().status, SessionStatus::Disconnected);
    app.stop().await;
}

/// Paired simulator sessions, as a previous run would have left them.
fn paired_rows(n: usize) -> Vec<StoredSession> {
    let now = Utc::now();
    (0..n)
        .map(|i| Simulator::paired_session(format!("s{i:05}"), format!("Session {i}"), now))
        .collect()
}

async fn restore_of_1000_sessions_never_exceeds_the_handshake_bound(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, &dir).await;
    let db = Db::open(&url.parse().unwrap()).await.unwrap();
    for row in paired_rows(1000) {
        sessions::insert(&db, &row).await.unwrap();
    }
    db.close().await;

    let policy = SupervisorPolicy {
        max_concurrent_handshakes: 4,
        restore_spacing: Duration::ZERO,
        ..fast_policy()
    };
    let app = spawn_on_database(dir, url, true, policy).await;
    let mut restore = app.state.supervisor.restore_state();
    let done = restore.wait_for(|r| r.finished).await.unwrap().to_owned();
    assert_eq!((done.total, done.connected, done.failed), (1000, 1000, 0));
    let simulator = app.state.simulator.as_ref().unwrap();
    let most = simulator.max_concurrent_handshakes();
    assert!(most <= 4, "bound exceeded: {most} handshakes at once");
    assert_eq!(most, 4, "restore never used its concurrency");
    assert_eq!(app.state.board.tally().counts.connected, 1000);
    app.stop().await;
}

on_both_databases!(
    shutdown_stores_every_session_and_the_next_start_restores_them,
    stopped_and_logged_out_sessions_are_not_restored,
    restore_of_1000_sessions_never_exceeds_the_handshake_bound,
    kill_9_leaves_rows_the_next_start_corrects,
);

/// The real binary, with the simulator, on `database_url`; its stdout is read line by line.
pub(crate) struct Lifeline {
    pub(crate) child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
    pub(crate) url: String,
}

impl Lifeline {
    pub(crate) fn start(database_url: &str, data_dir: &std::path::Path) -> Lifeline {
        let mut child = lifeline_command()
            .args(["serve", "--simulator", "--addr", "127.0.0.1:0", "--restore-spacing-ms", "0"])
            // After a kill -9 on PostgreSQL, the next run waits out the dead one's leases.
            .args(["--lease-ttl-secs", "3"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--database-url", database_url])
            .env("LIFELINE_API_KEY", API_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let listening = wait_for_line(&mut lines, "Lifeline listening on");
        let url = listening.rsplit(' ').next().unwrap().to_owned();
        Lifeline { child, lines, url }
    }

    pub(crate) fn wait_for(&mut self, needle: &str) -> String {
        wait_for_line(&mut self.lines, needle)
    }
}

impl Drop for Lifeline {
    /// A failing test must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads log lines until one contains `needle` (the process's own account of an event).
fn wait_for_line(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    needle: &str,
) -> String {
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains(needle) {
            return line;
        }
        seen.push(line);
    }
    panic!("the log ended without {needle:?}:\n{}", seen.join("\n"));
}

async fn kill_9_leaves_rows_the_next_start_corrects(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, &dir).await;
    let mut key = reqwest::header::HeaderMap::new();
    key.insert("x-api-key", API_KEY.parse().unwrap());
    let client = reqwest::Client::builder().default_headers(key).build().unwrap();

    let mut first = Lifeline::start(&url, dir.path());
    let created: Value = client
        .post(format!("{}/sessions", first.url))
        .json(&json!({"name": "Shop", "connector": "simulator"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    first.wait_for("session qr_pending");
    let r = client
        .post(format!("{}/dev/simulator/sessions/{id}/fault", first.url))
        .json(&json!({"kind": "scan"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Credentials are written through before the session reports connected.
    first.wait_for("session connected");
    drop(first); // SIGKILL: no shutdown code runs.

    let db = Db::open(&url.parse().unwrap()).await.unwrap();
    let stale = sessions::load_all(&db).await.unwrap().remove(0);
    assert!(stale.credentials.is_some(), "the pairing was lost in the crash");
    assert!(
        !matches!(stale.view.status, SessionStatus::Disconnected | SessionStatus::LoggedOut),
        "the row should still claim a link: {:?}",
        stale.view.status
    );

    let mut second = Lifeline::start(&url, dir.path());
    // On PostgreSQL once the dead run's lease ran out; on SQLite at once.
    second.wait_for("session connected");
    let history = sessions::events(&db, &id, 50).await.unwrap();
    assert!(
        history.iter().any(|e| e.detail.as_deref() == Some(UNCLEAN_DETAIL)
            && e.from_status == stale.view.status.as_str()),
        "no correction in the history: {history:#?}"
    );
    let now: Value = client
        .get(format!("{}/sessions/{id}", second.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["status"], "connected", "{now}");
    db.close().await;
}
