//! The real `whatsapp` connector, unmodified, against the WhatsApp double (a server that
//! speaks WhatsApp's protocol: Noise handshake, encrypted binary stanzas, pairing, logins
//! and refusals), through Lifeline's supervisor, on both databases.

use std::sync::Arc;

use app::model::{SessionStatus, SessionView};
use chrono::Utc;
use server::{
    connector::whatsapp::store::SqlStore,
    db::sessions::{self, StoredSession},
};
use whatsapp_double::{Seen, WhatsAppDouble};

use crate::helpers::{Backend, Prepared, TestApp, TestOptions, spawn_app_with, through};

const PHONE: &str = "+27821230001";

/// A session that was paired before this start: its row and its device are stored, and the
/// double knows the device.
async fn paired_before_start(backend: Backend, double: &WhatsAppDouble) -> (Prepared, String) {
    let prepared = Prepared::new(backend).await;
    let id = format!("wa-{}", uuid::Uuid::new_v4().simple());
    let mut view = SessionView::new(id.clone(), "Front desk".into(), "whatsapp".into(), Utc::now());
    view.phone_number = Some(PHONE.into());
    let credentials = Some(format!("whatsapp-store:{PHONE}").into_bytes());
    let stored = StoredSession { view, credentials, is_active: true };
    sessions::insert(&prepared.db, &stored).await.unwrap();
    let store = Arc::new(SqlStore::new(prepared.db.clone(), prepared.key.clone(), &id));
    double.link(store, PHONE).await.unwrap();
    (prepared, id)
}

async fn app_on(backend: Backend, double: &WhatsAppDouble, prepared: Prepared) -> TestApp {
    spawn_app_with(TestOptions {
        backend,
        simulator: false,
        whatsapp: Some(through(double)),
        prepared: Some(prepared),
        ..TestOptions::default()
    })
    .await
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

crate::on_both_databases!(a_paired_session_is_restored_at_start_up);
