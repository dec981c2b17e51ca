//! `spawn_app()` and friends.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use leptos::config::LeptosOptions;
use server::{
    config::Settings,
    db::{DatabaseUrl, Db},
    startup::Application,
};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

/// A running server on a free port with a fresh database in a temporary folder.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client for it.
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// Keeps the temporary folder alive as long as the server.
    _dir: TempDir,
}

impl TestApp {
    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path` and return the response.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request failed")
    }

    /// Asks the server to stop and waits until it has.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task panicked").expect("server failed");
        }
    }
}

/// Site settings for tests: nothing is served from the working directory.
pub fn test_site(dir: &TempDir) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("lifeline")
        .site_root(dir.path().join("site").to_string_lossy().into_owned())
        .build()
}

/// Settings for a test server in `dir`, listening on a free port.
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut settings = Settings::with_data_dir(dir.path().join("data"));
    settings.addr = "127.0.0.1:0".parse().unwrap();
    settings
}

/// Starts a server on a fresh database.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("no temporary folder");
    spawn_app_in(dir, |_| async {}).await
}

/// Starts a server in `dir` after `seed` has run against its freshly migrated database:
/// the server sees the seeded rows as a restarted server would.
pub async fn spawn_app_in<F, Fut>(dir: TempDir, seed: F) -> TestApp
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    let settings = test_settings(&dir);
    std::fs::create_dir_all(&settings.data_dir).unwrap();
    let db = Db::open(&DatabaseUrl::sqlite_file(&settings.default_sqlite_path()))
        .await
        .expect("cannot open the test database");
    seed(db.clone()).await;
    db.close().await;

    let app = Application::build(&settings, test_site(&dir)).await.expect("server did not build");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        stop: Some(stop),
        server: Some(server),
        _dir: dir,
    }
}

/// Starts a server whose database already holds `sessions`, as a restarted server finds it.
pub async fn spawn_app_with_sessions(sessions: &'static [SeedSession<'static>]) -> TestApp {
    let dir = tempfile::tempdir().expect("no temporary folder");
    spawn_app_in(dir, |db| async move { insert_sessions(&db, sessions).await }).await
}

/// A session row as a test wants it.
pub struct SeedSession<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub status: &'a str,
    pub desired: &'a str,
}

/// Inserts sessions directly, as an earlier run of the server would have left them.
pub async fn insert_sessions(db: &Db, sessions: &[SeedSession<'_>]) {
    let Db::Sqlite(pool) = db else { panic!("seeding is written for SQLite") };
    for (i, s) in sessions.iter().enumerate() {
        let created: DateTime<Utc> = Utc::now() - chrono::Duration::minutes(i as i64);
        sqlx::query(
            "INSERT INTO sessions (id, name, connector, status, desired, created_at, updated_at)
             VALUES ($1, $2, 'simulator', $3, $4, $5, $5)",
        )
        .bind(s.id)
        .bind(s.name)
        .bind(s.status)
        .bind(s.desired)
        .bind(created)
        .execute(pool)
        .await
        .expect("seeding failed");
    }
}
