//! Bad start-up input: one clear line on stderr and a non-zero exit, never a panic.

use std::{
    net::TcpListener,
    process::{Command, Output},
};

use crate::helpers::lifeline_command;

/// Runs the real `lifeline` binary with only the given arguments, stopping it if it ever
/// starts serving.
fn lifeline(args: &[&str]) -> Output {
    let child = lifeline_command()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cannot run lifeline");
    // These inputs make it exit at once; a server that started instead would hang the
    // test, so a watchdog thread kills it and the assertions below report it.
    let pid = child.id();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(30));
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    child.wait_with_output().unwrap()
}

fn assert_one_clear_line(out: &Output, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exited successfully; stderr: {stderr}");
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got:\n{stderr}");
    assert!(lines[0].starts_with("lifeline: error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in expected {
        assert!(lines[0].contains(needle), "{needle:?} not in {:?}", lines[0]);
    }
}

/// `lifeline serve` on a free port with a fresh data directory and `extra` arguments.
fn serve_with(extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let args = [&["serve", "--addr", "127.0.0.1:0", "--data-dir", data_dir], extra].concat();
    lifeline(&args)
}

#[test]
fn a_guessable_api_key_is_refused() {
    let out = serve_with(&["--api-key", "secret"]);
    assert_one_clear_line(&out, &["LIFELINE_API_KEY has 6 characters", "at least 20"]);
}

#[test]
fn a_trusted_proxy_that_is_not_an_address_is_named() {
    let out = serve_with(&["--trusted-proxies", "127.0.0.1,nginx"]);
    assert_one_clear_line(&out, &["LIFELINE_TRUSTED_PROXIES", "\"nginx\"", "10.0.0.0/8"]);
}

#[test]
fn unwritable_data_dir_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a folder should be: unwritable even for root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let data_dir = blocker.join("data");
    let out =
        lifeline(&["serve", "--addr", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()]);
    assert_one_clear_line(&out, &["data directory", data_dir.to_str().unwrap(), "not writable"]);
}

fn lifeline_with_database(url: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    lifeline(&["--addr", "127.0.0.1:0", "--data-dir", data_dir, "--database-url", url])
}

#[test]
fn malformed_database_url_is_refused_without_echoing_the_password() {
    let out = lifeline_with_database("postgres://lifeline:hunter2@db.internal:notaport/lifeline");
    assert_one_clear_line(&out, &["database URL", "malformed"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
}

#[test]
fn unsupported_database_scheme_says_what_is_supported() {
    let out = lifeline_with_database("mysql://root@localhost/lifeline");
    assert_one_clear_line(&out, &["not supported", "sqlite://", "postgres://"]);
}

#[test]
fn plain_database_url_variable_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let out = lifeline_command()
        .args(["--addr", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap()])
        .env("DATABASE_URL", "mysql://root@localhost/lifeline")
        .output()
        .unwrap();
    assert_one_clear_line(&out, &["mysql://", "not supported"]);
}

#[test]
fn port_in_use_names_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = lifeline(&["--addr", &addr, "--data-dir", dir.path().to_str().unwrap()]);
    assert_one_clear_line(&out, &[&addr, "already in use"]);
}

#[test]
fn help_lists_every_setting_with_its_variable() {
    let out = lifeline_command().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--addr",
        "LIFELINE_ADDR",
        "--data-dir",
        "LIFELINE_DATA_DIR",
        "--database-url",
        "LIFELINE_DATABASE_URL",
        "DATABASE_URL",
        "--log-format",
        "LIFELINE_LOG_FORMAT",
        "--api-key",
        "LIFELINE_API_KEY",
        "--secret-key",
        "LIFELINE_SECRET_KEY",
        "--dashboard-time-scale",
        "serve",
        "gen-key",
    ] {
        assert!(help.contains(needle), "{needle} missing from --help:\n{help}");
    }
}

#[test]
fn sigterm_stops_the_server_cleanly_and_json_logs_are_json() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let mut child = lifeline_command()
        .args(["serve", "--addr", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Wait for the event "listening", not for a guessed amount of time.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let listening = line.contains("Lifeline listening on");
        seen.push(line);
        if listening {
            break;
        }
    }
    assert!(seen.last().is_some_and(|l| l.contains("listening")), "never listened: {seen:?}");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    seen.extend(lines.map(Result::unwrap));
    let exit = child.wait().unwrap();

    assert!(exit.success(), "exit {exit:?}; log: {seen:#?}");
    for line in &seen {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
    assert!(seen.iter().any(|l| l.contains("SIGTERM received")), "{seen:#?}");
    assert!(seen.last().unwrap().contains("Lifeline stopped"), "{seen:#?}");
    assert!(dir.path().join("lifeline.db").exists(), "SQLite file not created");
}

#[test]
fn stored_whatsapp_sessions_need_the_secret_key() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    // A database a previous run left with one WhatsApp session in it.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let url = server::db::DatabaseUrl::sqlite_file(&dir.path().join("lifeline.db"));
        let db = server::db::Db::open(&url).await.unwrap();
        let view = app::model::SessionView::new(
            "wa-1".into(),
            "Support".into(),
            "whatsapp".into(),
            chrono::Utc::now(),
        );
        let stored = server::db::sessions::StoredSession {
            view,
            credentials: Some(b"sealed".to_vec()),
            is_active: true,
        };
        server::db::sessions::insert(&db, &stored).await.unwrap();
        db.close().await;
    });
    let out = lifeline(&["serve", "--addr", "127.0.0.1:0", "--data-dir", &data_dir]);
    assert_one_clear_line(
        &out,
        &["1 WhatsApp session(s)", "LIFELINE_SECRET_KEY", "lifeline gen-key"],
    );
}

#[test]
fn gen_key_prints_a_usable_key() {
    let out = lifeline(&["gen-key"]);
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap();
    assert_eq!(key.lines().count(), 1);
    assert!(key.trim().parse::<server::secret_key::SecretKey>().is_ok(), "{key}");
    assert_ne!(key, String::from_utf8(lifeline(&["gen-key"]).stdout).unwrap());
}

#[test]
fn a_second_server_on_one_sqlite_file_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lifeline.db");
    let url = format!("sqlite://{}", db.display());
    let data_dir = dir.path().to_str().unwrap();
    let first = crate::lifecycle::Lifeline::start(&url, dir.path());
    let serve = ["serve", "--addr", "127.0.0.1:0", "--data-dir", data_dir, "--database-url", &url];
    let refused = lifeline(&serve);
    assert_one_clear_line(&refused, &["already using the SQLite database", "PostgreSQL"]);
    // A rekey underneath a running server would leave it sealing with the old key.
    let key = server::secret_key::SecretKey::generate().to_base64();
    let rekey = lifeline(&["rekey", "--database-url", &url, "--from", &key, "--to", &key]);
    assert_one_clear_line(&rekey, &["already using the SQLite database"]);
    // And a copy taken meanwhile could hold a state that never existed.
    let copy_to = format!("sqlite://{}", dir.path().join("copy.db").display());
    let copy = lifeline(&["copy-db", "--from", &url, "--to", &copy_to]);
    assert_one_clear_line(&copy, &["already using the SQLite database"]);
    drop(first); // kill -9: the system lets the claim go with the process.
    let second = crate::lifecycle::Lifeline::start(&url, dir.path());
    drop(second);
}
