//! The real `whatsapp` connector, unmodified, against the WhatsApp double (a server that
//! speaks WhatsApp's protocol: Noise handshake, encrypted binary stanzas, pairing, logins
//! and refusals), through Lifeline's supervisor, on both databases.

use std::{sync::Arc, time::Duration};

use app::{
    model::{Event, Reason, SessionStatus, SessionView},
    policy::SupervisorPolicy,
};
use chrono::Utc;
use serde_json::{Value, json};
use server::{
    connector::whatsapp::store::SqlStore,
    db::sessions::{self, StoredSession},
};
use whatsapp_double::{Pattern, Refusal, Seen, WhatsAppDouble};
use whatsapp_rust::wacore::store::traits::{DeviceStore, SignalStore};

use crate::{
    helpers::{
        Backend, Killable, Prepared, TestApp, TestOptions, fast_policy, spawn_app_with, through,
        watchdog_policy,
    },
    store_rows,
};

const PHONE: &str = "+27821230001";

/// A session that was paired before this start: its row and its device are stored, and the
/// double knows the device.
async fn paired_before_start(backend: Backend, double: &WhatsAppDouble) -> (Prepared, String) {
    paired_before_start_as(backend, double, PHONE).await
}

async fn paired_before_start_as(
    backend: Backend,
    double: &WhatsAppDouble,
    phone: &str,
) -> (Prepared, String) {
    let prepared = Prepared::new(backend).await;
    let id = format!("wa-{}", uuid::Uuid::new_v4().simple());
    let mut view = SessionView::new(id.clone(), "Front desk".into(), "whatsapp".into(), Utc::now());
    view.phone_number = Some(phone.into());
    let credentials = Some(format!("whatsapp-store:{phone}").into_bytes());
    let stored = StoredSession { view, credentials, is_active: true };
    sessions::insert(&prepared.db, &stored).await.unwrap();
    let store = Arc::new(SqlStore::new(prepared.db.clone(), prepared.key.clone(), &id));
    double.link(store, phone).await.unwrap();
    (prepared, id)
}

fn options(backend: Backend, double: &WhatsAppDouble, prepared: Option<Prepared>) -> TestOptions {
    TestOptions {
        backend,
        simulator: false,
        whatsapp: Some(through(double)),
        prepared,
        ..TestOptions::default()
    }
}

async fn app_on(backend: Backend, double: &WhatsAppDouble, prepared: Prepared) -> TestApp {
    spawn_app_with(options(backend, double, Some(prepared))).await
}

/// A server started on a session paired earlier, with `policy`; returns once it is live.
async fn connected(
    backend: Backend,
    double: &WhatsAppDouble,
    policy: SupervisorPolicy,
) -> (TestApp, String) {
    let (prepared, id) = paired_before_start(backend, double).await;
    let app =
        spawn_app_with(TestOptions { policy, ..options(backend, double, Some(prepared)) }).await;
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    (app, id)
}

fn is_login(seen: &Seen) -> bool {
    matches!(seen, Seen::Login { .. })
}

fn logins(double: &WhatsAppDouble) -> usize {
    double.seen().iter().filter(|s| is_login(s)).count()
}

fn refusals(double: &WhatsAppDouble) -> usize {
    double.seen().iter().filter(|s| matches!(s, Seen::Refused { .. })).count()
}

/// Stopped for a reason (the seeded row starts disconnected without one).
fn stopped(view: &SessionView) -> bool {
    view.status == SessionStatus::Disconnected && view.reason.is_some()
}

/// Lets several watchdog passes and every retry delay of `fast_policy` go by.
async fn time_for_retries(app: &TestApp) {
    app.watchdog_passes(6).await;
}

async fn a_paired_session_is_restored_at_start_up(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (prepared, id) = paired_before_start(backend, &double).await;
    let app = app_on(backend, &double, prepared).await;

    let view = app.until(&id, |v| v.status == SessionStatus::Connected).await;
    assert_eq!(view.phone_number.as_deref(), Some(PHONE));
    let Seen::Login { jid, .. } =
        double.wait_for("a login", |s| matches!(s, Seen::Login { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(jid.user, "27821230001");
    app.stop().await;
}

/// A first login waits up to 10 s for the phone to share its app-state keys (the double's
/// phone does not), then syncs.
const FIRST_LOGIN: std::time::Duration = std::time::Duration::from_secs(30);

/// The QR code Lifeline shows for session `id`.
async fn qr_of(app: &TestApp, id: &str) -> String {
    app.event(|e| match e {
        app::model::Event::Qr { session_id, code, .. } if session_id == id => Some(code.clone()),
        _ => None,
    })
    .await
}

async fn whatsapp_app(backend: Backend, double: &WhatsAppDouble) -> TestApp {
    spawn_app_with(TestOptions {
        backend,
        simulator: false,
        whatsapp: Some(through(double)),
        ..TestOptions::default()
    })
    .await
}

async fn a_new_device_pairs_by_qr_and_logs_in_after_the_515(backend: Backend) {
    let double = WhatsAppDouble::start();
    let app = whatsapp_app(backend, &double).await;
    let r =
        app.post("/sessions", serde_json::json!({"name": "Shop", "connector": "whatsapp"})).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let qr = qr_of(&app, &id).await;
    double.scan(&qr, PHONE).unwrap();
    let view = app.until_within(&id, FIRST_LOGIN, |v| v.status == SessionStatus::Connected).await;
    assert_eq!(view.phone_number.as_deref(), Some(PHONE));
    assert!(view.paired);
    // WhatsApp closed the pairing socket with 515; the new device logged in on a fresh one,
    // within the same attempt.
    assert_eq!(view.attempt, 0);
    let linked = double.linked_devices(PHONE);
    assert_eq!(linked.len(), 1);
    double
        .wait_for(
            "the new device's login",
            |s| matches!(s, Seen::Login { jid, .. } if *jid == linked[0]),
        )
        .await;
    app.stop().await;
}

async fn a_dropped_connection_is_reconnected_with_backoff(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (app, id) = connected(backend, &double, fast_policy()).await;

    assert_eq!(double.drop_connections(PHONE), 1);
    let view = app.until(&id, |v| v.status == SessionStatus::Reconnecting).await;
    assert_eq!((view.reason, view.attempt), (Some(Reason::ConnectionLost), 1));
    assert!(view.next_retry_at.is_some(), "the retry was not scheduled");
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    assert_eq!(logins(&double), 2);
    app.stop().await;
}

async fn a_515_after_login_is_a_fresh_login_not_a_failure(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (app, _) = connected(backend, &double, fast_policy()).await;
    let (mut changes, _) = app.state.bus.subscribe();

    let cue = Utc::now();
    assert_eq!(double.stream_error(PHONE, "515"), 1);
    double.wait_for_after(1, "a second login", is_login).await;
    // Straight back: connecting, then connected; never reconnecting, never a failure.
    let mut seen = Vec::new();
    while seen.last().is_none_or(|(status, _)| *status != SessionStatus::Connected) {
        let published = tokio::time::timeout(Duration::from_secs(10), changes.recv())
            .await
            .expect("the session did not come back")
            .unwrap();
        if let Event::SessionStatus { session } = &published.envelope.event
            && session.updated_at >= cue
        {
            assert_eq!(session.attempt, 0, "the restart was counted as a failed attempt");
            seen.push((session.status, session.reason));
        }
    }
    assert_eq!(
        seen,
        [(SessionStatus::Connecting, None), (SessionStatus::Connected, None)],
        "the restart took another path"
    );
    app.stop().await;
}

async fn a_logged_out_device_is_wiped_and_never_retried(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (prepared, id) = paired_before_start(backend, &double).await;
    double.refuse_logins(PHONE, Refusal::LoggedOut);
    let app = spawn_app_with(TestOptions {
        policy: watchdog_policy(),
        ..options(backend, &double, Some(prepared))
    })
    .await;
    let store = SqlStore::new(app.db().await, app.secret_key(), &id);

    let view = app.until(&id, |v| v.status == SessionStatus::LoggedOut).await;
    assert!(!view.paired);
    assert!(!store.exists().await.unwrap(), "the dead keys were kept");
    time_for_retries(&app).await;
    assert_eq!(refusals(&double), 1, "a logged-out device was tried again");
    assert_eq!(app.until(&id, |_| true).await.status, SessionStatus::LoggedOut);
    app.stop().await;
}

async fn a_ban_stops_the_session_until_it_ends(backend: Backend) {
    for (expires_in, phone) in [(Some(Duration::from_secs(3600)), PHONE), (None, "+27821230002")] {
        let double = WhatsAppDouble::start();
        let (prepared, id) = paired_before_start_as(backend, &double, phone).await;
        double.refuse_logins(phone, Refusal::Banned { expires_in });
        let app = spawn_app_with(TestOptions {
            policy: watchdog_policy(),
            ..options(backend, &double, Some(prepared))
        })
        .await;

        let view = app.until(&id, stopped).await;
        assert_eq!(view.reason, Some(Reason::Banned), "{view:?}");
        match expires_in {
            Some(_) => {
                let until = view.next_retry_at.expect("the ban's end was not kept");
                let left = until - Utc::now();
                assert!(left > chrono::Duration::minutes(59) && left <= chrono::Duration::hours(1));
            }
            None => assert_eq!(view.next_retry_at, None),
        }
        time_for_retries(&app).await;
        assert_eq!(refusals(&double), 1, "a banned number was tried again");
        app.stop().await;
    }
}

async fn an_outdated_client_is_told_what_to_do_and_not_retried(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (prepared, id) = paired_before_start(backend, &double).await;
    double.refuse_logins(PHONE, Refusal::ClientOutdated);
    let app = spawn_app_with(TestOptions {
        policy: watchdog_policy(),
        ..options(backend, &double, Some(prepared))
    })
    .await;

    let view = app.until(&id, stopped).await;
    assert_eq!(view.reason, Some(Reason::ClientOutdated));
    let error = view.last_error.unwrap_or_default();
    assert!(error.contains("update Lifeline"), "{error}");
    let deep: Value = app.get("/health/deep").await.json().await.unwrap();
    let session = &deep["sessions"][0];
    assert_eq!(session["reason"], "client_outdated");
    let advice = session["advice"].as_str().unwrap_or_default();
    assert!(advice.contains("update Lifeline"), "{deep}");
    time_for_retries(&app).await;
    assert_eq!(refusals(&double), 1, "an outdated client kept knocking");
    app.stop().await;
}

async fn a_replaced_session_is_never_reconnected(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (app, id) = connected(backend, &double, watchdog_policy()).await;

    assert_eq!(double.replace(PHONE), 1);
    let view = app.until(&id, stopped).await;
    assert_eq!(view.reason, Some(Reason::Replaced));
    time_for_retries(&app).await;
    assert_eq!(logins(&double), 1, "Lifeline fought the other client for the session");
    app.stop().await;
}

async fn a_half_open_link_is_found_by_the_probe_and_reconnected(backend: Backend) {
    let double = WhatsAppDouble::start();
    let policy = SupervisorPolicy {
        probe_idle_after: Duration::from_millis(100),
        probe_timeout: Duration::from_millis(300),
        ..watchdog_policy()
    };
    let (app, id) = connected(backend, &double, policy).await;

    // The socket stays open and takes what is sent; nothing comes back.
    assert_eq!(double.go_silent(PHONE), 1);
    double.wait_for_after(1, "a second login", is_login).await;
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    let recovery = app
        .event(|e| match e {
            Event::Recovery { recovery } if recovery.session_id == id => Some(recovery.clone()),
            _ => None,
        })
        .await;
    assert_eq!(recovery.trigger.as_str(), "probe_failed", "{recovery:?}");
    app.stop().await;
}

async fn a_long_offline_drain_does_not_abort_the_login(backend: Backend) {
    let double = WhatsAppDouble::start();
    // The backlog takes three times the handshake budget; the login budget covers it.
    let policy =
        SupervisorPolicy { handshake_timeout: Duration::from_millis(500), ..fast_policy() };
    double.hold_offline_drain(PHONE, Duration::from_millis(1500));
    let (prepared, id) = paired_before_start(backend, &double).await;
    let app =
        spawn_app_with(TestOptions { policy, ..options(backend, &double, Some(prepared)) }).await;

    let view = app
        .until(&id, |v| matches!(v.status, SessionStatus::Connected | SessionStatus::Reconnecting))
        .await;
    assert_eq!(view.status, SessionStatus::Connected, "{view:?}");
    assert_eq!(logins(&double), 1, "the login was cut off and tried again");
    app.stop().await;
}

async fn a_text_reaches_whatsapp_for_the_right_number(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (app, id) = connected(backend, &double, fast_policy()).await;

    let r = app
        .post(
            &format!("/sessions/{id}/messages"),
            json!({"to": "+27 82 999 0001", "text": "Your order is ready"}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let seen = double
        .wait_for("the message stanza", |s| s.stanza_of(PHONE).is_some_and(|n| n.tag == "message"))
        .await;
    let message = seen.stanza_of(PHONE).unwrap();
    let attr = |name: &str| message.attrs.get(name).map(|v| v.as_str().into_owned());
    assert_eq!(attr("to").as_deref(), Some("27829990001@s.whatsapp.net"));
    assert_eq!(attr("id").as_deref(), Some(sent.as_str()));
    assert_eq!(attr("type").as_deref(), Some("text"));
    // Encrypted for the recipient's phone (a new session: a pre-key message).
    let for_recipient = message
        .get_optional_child("participants")
        .and_then(|p| p.children())
        .unwrap_or_default()
        .iter()
        .find(|to| to.attrs.get("jid").is_some_and(|j| j.as_str() == "27829990001@s.whatsapp.net"))
        .and_then(|to| to.get_optional_child("enc"))
        .map(|enc| enc.attrs.get("type").map(|t| t.as_str().into_owned()));
    assert_eq!(for_recipient, Some(Some("pkmsg".into())), "{message:?}");
    app.stop().await;
}

async fn an_operator_logout_unlinks_the_device_at_whatsapp(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (app, id) = connected(backend, &double, fast_policy()).await;
    assert_eq!(double.linked_devices(PHONE).len(), 1);

    let r = app.post_empty(&format!("/sessions/{id}/logout")).await;
    assert!(r.status().is_success(), "{}", r.status());
    let seen = double
        .wait_for("the remove-device request", |s| {
            s.stanza_of(PHONE)
                .is_some_and(|n| n.get_optional_child("remove-companion-device").is_some())
        })
        .await;
    let request = seen.stanza_of(PHONE).unwrap();
    assert_eq!(request.attrs.get("xmlns").map(|v| v.as_str().into_owned()).as_deref(), Some("md"));
    app.until(&id, |v| v.status == SessionStatus::LoggedOut).await;
    assert!(double.linked_devices(PHONE).is_empty(), "the phone still lists the device");
    app.stop().await;
}

async fn a_device_paired_just_before_a_crash_comes_back_with_its_number(backend: Backend) {
    let double = WhatsAppDouble::start();
    let server = Killable::start(options(backend, &double, None)).await;
    let r = server.app().post("/sessions", json!({"name": "Shop", "connector": "whatsapp"})).await;
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    double.scan(&qr_of(server.app(), &id).await, PHONE).unwrap();

    // The pairing is recorded, and the process dies on the spot.
    server.app().until(&id, |v| v.paired).await;
    let app = server.kill_and_restart().await;

    let view = app.until_within(&id, FIRST_LOGIN, |v| v.status == SessionStatus::Connected).await;
    assert_eq!(view.phone_number.as_deref(), Some(PHONE));
    // The same device logged in with its own keys: no second pairing, no orphan on the phone.
    let linked = double.linked_devices(PHONE);
    assert_eq!(linked.len(), 1);
    assert!(double.seen().iter().all(|s| !matches!(s, Seen::Refused { .. })));
    double
        .wait_for(
            "the device's login",
            |s| matches!(s, Seen::Login { jid, .. } if *jid == linked[0]),
        )
        .await;
    app.stop().await;
}

async fn what_a_login_changed_survives_a_crash(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (prepared, id) = paired_before_start(backend, &double).await;
    let server = Killable::start(options(backend, &double, Some(prepared))).await;
    server.app().until(&id, |v| v.status == SessionStatus::Connected).await;
    let Seen::Login { login_counter: first, pattern, .. } =
        double.wait_for("a login", is_login).await
    else {
        unreachable!()
    };
    assert_eq!(pattern, Pattern::Xx);
    let mark = double.seen_so_far();

    let app = server.kill_and_restart().await;
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    let Seen::Login { login_counter: second, pattern, .. } =
        double.wait_for_after(mark, "the login after the crash", is_login).await
    else {
        unreachable!()
    };
    // The login counter moved on, and the server key learnt at the first login was kept
    // (so the client resumed with the shorter handshake).
    assert_eq!(second, first + 1);
    assert_eq!(pattern, Pattern::Ik);
    app.stop().await;
}

async fn a_clean_shutdown_keeps_the_device_record(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (app, id) = connected(backend, &double, fast_policy()).await;
    let mark = double.seen_so_far();
    let db = app.db().await;
    let key = app.secret_key();

    let app = app.restart().await;
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    let Seen::Login { pattern, .. } = double.wait_for_after(mark, "a login", is_login).await else {
        unreachable!()
    };
    assert_eq!(pattern, Pattern::Ik);
    let device = SqlStore::new(db, key, &id).load().await.unwrap().expect("no device stored");
    assert!(device.lid.is_some(), "the LID was not kept");
    assert!(device.login_counter >= 2, "the login counter was not kept");
    app.stop().await;
}

async fn keys_stored_with_clear_addresses_are_converted_at_start(backend: Backend) {
    let double = WhatsAppDouble::start();
    let (app, id) = connected(backend, &double, fast_policy()).await;
    let key = app.secret_key();
    let mark = double.seen_so_far();

    // Stopped, a contact's identity stored beside the device (the double sends no messages
    // that would make the client store one), and every record put back as Lifeline stored
    // them before addresses were hashed.
    let contact = "27829990000@s.whatsapp.net";
    let app = app
        .restart_after(async |db| {
            let store = SqlStore::new(db.clone(), key.clone(), &id);
            store.put_identity(contact, [3; 32]).await.unwrap();
            assert!(store_rows::to_clear_layout(db, &key).await >= 2);
            assert!(store_rows::stored_addresses(db).await.iter().any(|a| a == contact));
        })
        .await;
    app.until(&id, |v| v.status == SessionStatus::Connected).await;
    let Seen::Login { pattern, .. } = double.wait_for_after(mark, "a login", is_login).await else {
        unreachable!()
    };
    assert_eq!(pattern, Pattern::Ik, "the server key learnt at the first login was lost");
    let db = app.db().await;
    let digits = PHONE.trim_start_matches('+');
    let stored = store_rows::stored_addresses(&db).await;
    assert!(stored.iter().all(|a| !a.contains(digits) && !a.contains('@')), "{stored:?}");
    let store = SqlStore::new(db, key, &id);
    let device = store.load().await.unwrap().expect("no device stored");
    assert!(device.pn.is_some_and(|pn| pn.user == digits), "the number was lost");
    assert_eq!(store.load_identity(contact).await.unwrap(), Some([3; 32]));
    app.stop().await;
}

/// The phone codes Lifeline shows for session `id`, once there are `count` of them.
async fn pair_codes(app: &TestApp, id: &str, count: usize) -> Vec<String> {
    let codes = std::sync::Mutex::new(Vec::new());
    app.event(|e| match e {
        Event::PairCode { session_id, code, .. } if session_id == id => {
            let mut codes = codes.lock().unwrap();
            codes.push(code.clone());
            (codes.len() == count).then(|| codes.clone())
        }
        _ => None,
    })
    .await
}

async fn pairing_by_phone(app: &TestApp) -> String {
    let body = json!({"name": "Shop", "connector": "whatsapp", "pair_phone": PHONE});
    let r = app.post("/sessions", body).await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn a_phone_code_outlives_the_qr_codes(backend: Backend) {
    let double = WhatsAppDouble::start();
    // The QR codes are spent the moment the phone code is up.
    double.qr_references(0);
    let app = whatsapp_app(backend, &double).await;
    let id = pairing_by_phone(&app).await;
    let code = pair_codes(&app, &id, 1).await.remove(0);
    double.wait_for("the spent QR offer", |s| matches!(s, Seen::Pairing)).await;

    // Minutes later the person types the code: it still works.
    double.type_code(PHONE, &code).unwrap();
    let view = app.until(&id, |v| v.paired).await;
    assert_eq!(view.phone_number.as_deref(), Some(PHONE));
    assert_ne!(view.reason, Some(Reason::QrTimeout));
    assert_eq!(double.linked_devices(PHONE).len(), 1);
    app.stop().await;
}

async fn a_retired_phone_code_is_replaced_at_once(backend: Backend) {
    let double = WhatsAppDouble::start();
    let app = whatsapp_app(backend, &double).await;
    let id = pairing_by_phone(&app).await;
    pair_codes(&app, &id, 1).await;

    double.retire_code(PHONE).unwrap();
    let codes = pair_codes(&app, &id, 2).await;
    assert_ne!(codes[0], codes[1], "the dead code is still on show");
    let requests =
        double.seen().iter().filter(|s| matches!(s, Seen::PhoneCodeRequested { .. })).count();
    assert_eq!(requests, 2);
    // The new code pairs.
    double.type_code(PHONE, &codes[1]).unwrap();
    app.until(&id, |v| v.paired).await;
    app.stop().await;
}

crate::on_both_databases!(
    a_phone_code_outlives_the_qr_codes,
    a_retired_phone_code_is_replaced_at_once,
    a_paired_session_is_restored_at_start_up,
    a_new_device_pairs_by_qr_and_logs_in_after_the_515,
    a_dropped_connection_is_reconnected_with_backoff,
    a_515_after_login_is_a_fresh_login_not_a_failure,
    a_logged_out_device_is_wiped_and_never_retried,
    a_ban_stops_the_session_until_it_ends,
    an_outdated_client_is_told_what_to_do_and_not_retried,
    a_replaced_session_is_never_reconnected,
    a_half_open_link_is_found_by_the_probe_and_reconnected,
    a_long_offline_drain_does_not_abort_the_login,
    a_text_reaches_whatsapp_for_the_right_number,
    an_operator_logout_unlinks_the_device_at_whatsapp,
    a_device_paired_just_before_a_crash_comes_back_with_its_number,
    what_a_login_changed_survives_a_crash,
    a_clean_shutdown_keeps_the_device_record,
    keys_stored_with_clear_addresses_are_converted_at_start,
);
