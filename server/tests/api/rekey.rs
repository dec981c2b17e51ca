//! Rotating `LIFELINE_SECRET_KEY`: a server given another key than the one the WhatsApp
//! keys are sealed with refuses to start and says what to do; `lifeline rekey` moves every
//! key to the new one in one transaction, or changes nothing.

use std::time::Duration;

use app::model::SessionView;
use chrono::Utc;
use server::{
    connector::whatsapp::{rekey, store::SqlStore},
    db::{Db, sessions, sessions::StoredSession},
    secret_key::SecretKey,
};
use tokio::process::Command;
use whatsapp_rust::wacore::store::traits::{DeviceStore, SignalStore};

use crate::{
    helpers::{Backend, fresh_database, lifeline_command},
    on_both_databases, store_rows,
};

/// A WhatsApp session with a device, a Signal session and a pre-key, sealed with `key`.
async fn sealed_session(db: &Db, key: &SecretKey, id: &str) -> SqlStore {
    let view = SessionView::new(id.into(), format!("{id} phone"), "whatsapp".into(), Utc::now());
    sessions::insert(db, &StoredSession { view, credentials: None, is_active: true })
        .await
        .unwrap();
    let store = SqlStore::new(db.clone(), key.clone(), id);
    store.create().await.unwrap();
    store.put_session("peer@s.whatsapp.net", b"a signal session").await.unwrap();
    store.store_prekey(7, b"a pre-key", false).await.unwrap();
    store
}

/// Whether every record of session `id` opens with `key`.
async fn opens_with(db: &Db, key: &SecretKey, id: &str) -> bool {
    let store = SqlStore::new(db.clone(), key.clone(), id);
    store.load().await.is_ok_and(|d| d.is_some())
        && store.get_session("peer@s.whatsapp.net").await.is_ok_and(|s| s.is_some())
        && store.load_prekey(7).await.is_ok_and(|p| p.is_some())
}

async fn rekey_moves_every_key_or_none(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&fresh_database(backend, &dir).await.parse().unwrap()).await.unwrap();
    let (old, new) = (SecretKey::generate(), SecretKey::generate());
    sealed_session(&db, &old, "a").await;
    sealed_session(&db, &old, "b").await;
    assert_eq!(rekey::sealing_keys(&db).await.unwrap(), [old.id()].into());

    // The wrong old key: refused, and nothing changed.
    let stranger = SecretKey::generate();
    let refused = rekey::rekey(&db, &stranger, &new).await.unwrap_err().to_string();
    assert!(refused.contains("does not open with --from"), "{refused}");
    assert!(opens_with(&db, &old, "a").await && opens_with(&db, &old, "b").await);

    let moved = rekey::rekey(&db, &old, &new).await.unwrap();
    assert_eq!(moved, 6, "three records for each of two sessions");
    assert!(opens_with(&db, &new, "a").await && opens_with(&db, &new, "b").await);
    assert!(!opens_with(&db, &old, "a").await, "the old key still opens the keys");
    let Err(told) = SqlStore::new(db.clone(), old.clone(), "a").load().await else {
        panic!("the old key opened the device");
    };
    let told = told.to_string();
    assert!(told.contains(&new.id().to_string()) && told.contains("lifeline rekey"), "{told}");
    assert_eq!(rekey::sealing_keys(&db).await.unwrap(), [new.id()].into());
    db.close().await;
}

/// Runs `lifeline` with `args` and `env`; its exit status, stdout and stderr.
async fn lifeline(args: &[&str], env: &[(&str, String)]) -> (bool, String, String) {
    let mut command = Command::from(lifeline_command());
    command.args(args).kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("lifeline did not finish within 60 s")
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

#[tokio::test]
async fn a_changed_secret_key_is_refused_at_start_until_the_keys_are_moved() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Sqlite, &dir).await;
    let db = Db::open(&url.parse().unwrap()).await.unwrap();
    let (old, new) = (SecretKey::generate(), SecretKey::generate());
    sealed_session(&db, &old, "a").await;
    db.close().await;
    let data = dir.path().to_str().unwrap();
    let serve = ["serve", "--addr", "127.0.0.1:0", "--data-dir", data, "--database-url", &url];

    // Started with the new key before moving the keys: refused, with what to do.
    let (ok, _, said) = lifeline(&serve, &[("LIFELINE_SECRET_KEY", new.to_base64())]).await;
    assert!(!ok, "a server with the wrong key started");
    assert!(said.contains(&old.id().to_string()) && said.contains("lifeline rekey"), "{said}");

    let rekey = ["rekey", "--database-url", &url];
    let wrong =
        [("LIFELINE_OLD_SECRET_KEY", new.to_base64()), ("LIFELINE_SECRET_KEY", new.to_base64())];
    let (ok, _, said) = lifeline(&rekey, &wrong).await;
    assert!(!ok && said.contains("does not open with --from"), "{said}");

    let right =
        [("LIFELINE_OLD_SECRET_KEY", old.to_base64()), ("LIFELINE_SECRET_KEY", new.to_base64())];
    let (ok, told, said) = lifeline(&rekey, &right).await;
    assert!(ok, "{said}");
    assert!(told.contains("re-sealed 3 WhatsApp key records"), "{told}");
    // The keys never appear in what it prints.
    assert!(!told.contains(&old.to_base64()) && !told.contains(&new.to_base64()));

    let db = Db::open(&url.parse().unwrap()).await.unwrap();
    assert!(opens_with(&db, &new, "a").await);
    db.close().await;
}

async fn rows_of_the_first_layout_are_converted_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&fresh_database(backend, &dir).await.parse().unwrap()).await.unwrap();
    let key = SecretKey::generate();
    sealed_session(&db, &key, "a").await;
    assert_eq!(store_rows::to_clear_layout(&db, &key).await, 3);
    let clear = store_rows::stored_addresses(&db).await;
    assert!(clear.iter().any(|a| a == "peer@s.whatsapp.net"), "{clear:?}");
    // Looked up by hash, the clear rows are not found until converted.
    assert!(!opens_with(&db, &key, "a").await);

    // A key that did not seal them converts nothing.
    let refused = rekey::convert(&db, &SecretKey::generate()).await.unwrap_err().to_string();
    assert!(refused.contains("does not open with LIFELINE_SECRET_KEY"), "{refused}");
    assert_eq!(store_rows::stored_addresses(&db).await, clear);

    assert_eq!(rekey::convert(&db, &key).await.unwrap(), 3);
    assert!(opens_with(&db, &key, "a").await);
    assert!(store_rows::stored_addresses(&db).await.iter().all(|a| !a.contains('@')));
    assert_eq!(rekey::convert(&db, &key).await.unwrap(), 0, "converted twice");
    db.close().await;
}

async fn conversion_goes_one_session_at_a_time(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&fresh_database(backend, &dir).await.parse().unwrap()).await.unwrap();
    let (key, stranger) = (SecretKey::generate(), SecretKey::generate());
    sealed_session(&db, &key, "a").await;
    sealed_session(&db, &stranger, "z").await;
    store_rows::to_clear_layout_of(&db, &key, "a").await;
    store_rows::to_clear_layout_of(&db, &stranger, "z").await;

    // Session z's keys do not open: the error names it, and a stays converted.
    let refused = rekey::convert(&db, &key).await.unwrap_err().to_string();
    assert!(refused.contains("session z"), "{refused}");
    assert!(opens_with(&db, &key, "a").await, "a's conversion was undone");
    assert!(!opens_with(&db, &stranger, "z").await);
    db.close().await;
}

on_both_databases!(
    rekey_moves_every_key_or_none,
    rows_of_the_first_layout_are_converted_once,
    conversion_goes_one_session_at_a_time
);
