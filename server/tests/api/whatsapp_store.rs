//! The WhatsApp key store against its contract (wacore's `InMemoryBackend` semantics), on
//! both databases: every method round-trips, values are sealed at rest and bound to their
//! session, and a session's keys go with its row.

use std::sync::Arc;

use app::model::SessionView;
use chrono::Utc;
use server::{
    connector::whatsapp::store::SqlStore,
    db::{
        Db,
        leases::{self, Fence},
        sessions,
        sessions::StoredSession,
    },
    on_pool,
    secret_key::SecretKey,
};
use tempfile::TempDir;
use whatsapp_rust::{
    bytes::Bytes,
    wacore::{
        appstate::{hash::HashState, processor::AppStateMutationMAC},
        store::traits::{
            AppStateSyncKey, AppSyncStore, DeviceInfo, DeviceListRecord, DeviceStore,
            LidPnMappingEntry, MsgSecretEntry, MsgSecretStore, ProtocolStore, SignalStore,
            TcTokenEntry,
        },
    },
};

use crate::{
    helpers::{Backend, fresh_database},
    store_rows,
};

struct Fixture {
    db: Db,
    key: SecretKey,
    _dir: TempDir,
}

impl Fixture {
    async fn new(backend: Backend) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database(backend, &dir).await;
        let db = Db::open(&url.parse().unwrap()).await.unwrap();
        Fixture { db, key: SecretKey::generate(), _dir: dir }
    }

    async fn session(&self, id: &str) -> SqlStore {
        let view =
            SessionView::new(id.into(), format!("{id} phone"), "whatsapp".into(), Utc::now());
        let stored = StoredSession { view, credentials: None, is_active: true };
        sessions::insert(&self.db, &stored).await.unwrap();
        SqlStore::new(self.db.clone(), self.key.clone(), id)
    }

    /// Every stored value of a session, as the database holds it.
    async fn raw_values(&self, session_id: &str) -> Vec<Vec<u8>> {
        on_pool!(&self.db, pool => sqlx::query_as::<_, (Vec<u8>,)>(
            "SELECT value FROM whatsapp_store WHERE session_id = $1"
        )
        .bind(session_id)
        .fetch_all(pool)
        .await)
        .unwrap()
        .into_iter()
        .map(|(v,)| v)
        .collect()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn signal_store_round_trips(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;

    s.put_identity("27820000001@s.whatsapp.net", [7; 32]).await.unwrap();
    assert_eq!(s.load_identity("27820000001@s.whatsapp.net").await.unwrap(), Some([7; 32]));
    s.put_identity("27820000001@s.whatsapp.net", [8; 32]).await.unwrap();
    assert_eq!(s.load_identity("27820000001@s.whatsapp.net").await.unwrap(), Some([8; 32]));
    s.delete_identity("27820000001@s.whatsapp.net").await.unwrap();
    assert_eq!(s.load_identity("27820000001@s.whatsapp.net").await.unwrap(), None);

    assert!(!s.has_session("27820000001:2@s.whatsapp.net").await.unwrap());
    s.put_session("27820000001:2@s.whatsapp.net", b"ratchet").await.unwrap();
    assert!(s.has_session("27820000001:2@s.whatsapp.net").await.unwrap());
    assert_eq!(
        s.get_session("27820000001:2@s.whatsapp.net").await.unwrap(),
        Some(Bytes::from_static(b"ratchet"))
    );
    let batch = [(Arc::<str>::from("x@s.whatsapp.net"), Bytes::from_static(b"one"))];
    s.put_sessions_batch(&batch).await.unwrap();
    assert_eq!(s.get_session("x@s.whatsapp.net").await.unwrap().as_deref(), Some(&b"one"[..]));
    s.delete_session("27820000001:2@s.whatsapp.net").await.unwrap();
    assert_eq!(s.get_session("27820000001:2@s.whatsapp.net").await.unwrap(), None);

    assert_eq!(s.get_max_prekey_id().await.unwrap(), 0);
    s.store_prekey(3, b"pk3", false).await.unwrap();
    s.store_prekey(12, b"pk12", false).await.unwrap();
    s.store_prekeys_batch(&[(5, Bytes::from_static(b"pk5"))], true).await.unwrap();
    assert_eq!(s.get_max_prekey_id().await.unwrap(), 12);
    assert_eq!(s.load_prekey(5).await.unwrap().as_deref(), Some(&b"pk5"[..]));
    let some = s.load_prekeys_batch(&[3, 4, 12]).await.unwrap();
    assert_eq!(some.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![3, 12]);
    s.mark_prekeys_uploaded(&[3, 12]).await.unwrap();
    s.remove_prekey(12).await.unwrap();
    assert_eq!(s.load_prekey(12).await.unwrap(), None);
    assert_eq!(s.get_max_prekey_id().await.unwrap(), 5);

    s.store_signed_prekey(1, b"spk1").await.unwrap();
    s.store_signed_prekey(2, b"spk2").await.unwrap();
    assert_eq!(s.load_signed_prekey(2).await.unwrap(), Some(b"spk2".to_vec()));
    let mut all = s.load_all_signed_prekeys().await.unwrap();
    all.sort();
    assert_eq!(all, vec![(1, b"spk1".to_vec()), (2, b"spk2".to_vec())]);
    s.remove_signed_prekey(1).await.unwrap();
    assert_eq!(s.load_signed_prekey(1).await.unwrap(), None);

    s.put_sender_key("group@g.us::me", b"sk").await.unwrap();
    assert_eq!(s.get_sender_key("group@g.us::me").await.unwrap(), Some(b"sk".to_vec()));
    s.delete_sender_key("group@g.us::me").await.unwrap();
    assert_eq!(s.get_sender_key("group@g.us::me").await.unwrap(), None);
}

async fn app_sync_store_round_trips(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;

    assert_eq!(s.get_latest_sync_key_id().await.unwrap(), None);
    let key = |n: u8| AppStateSyncKey {
        key_data: vec![n; 32],
        fingerprint: vec![n],
        timestamp: 100 + i64::from(n),
    };
    s.set_sync_key(&[0, 1], key(1)).await.unwrap();
    s.set_sync_key(&[0, 2], key(2)).await.unwrap();
    assert_eq!(s.get_sync_key(&[0, 1]).await.unwrap().unwrap().key_data, vec![1; 32]);
    assert_eq!(s.get_sync_key(&[9]).await.unwrap().map(|k| k.timestamp), None);
    assert_eq!(s.get_latest_sync_key_id().await.unwrap(), Some(vec![0, 2]));

    assert_eq!(s.get_version("regular").await.unwrap().version, 0);
    let mut state = HashState { version: 42, ..HashState::default() };
    state.hash[0] = 9;
    state.index_value_map.insert("idx".into(), vec![1, 2]);
    s.set_version("regular", state).await.unwrap();
    let back = s.get_version("regular").await.unwrap();
    assert_eq!((back.version, back.hash[0]), (42, 9));
    assert_eq!(back.index_value_map.get("idx"), Some(&vec![1, 2]));

    let mac = |i: u8, v: u8| AppStateMutationMAC { index_mac: vec![i; 32], value_mac: vec![v; 32] };
    s.put_mutation_macs("regular", 42, &[mac(1, 10), mac(2, 20)]).await.unwrap();
    s.put_mutation_macs("critical", 1, &[mac(1, 30)]).await.unwrap();
    assert_eq!(s.get_mutation_mac("regular", &[1; 32]).await.unwrap(), Some(vec![10; 32]));
    let many = s.get_mutation_macs("regular", &[[1; 32], [2; 32], [3; 32]]).await.unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(many.get(&[2; 32]), Some(&vec![20; 32]));
    s.delete_mutation_macs("regular", &[vec![1; 32]]).await.unwrap();
    assert_eq!(s.get_mutation_mac("regular", &[1; 32]).await.unwrap(), None);
    s.clear_mutation_macs("regular").await.unwrap();
    assert_eq!(s.get_mutation_mac("regular", &[2; 32]).await.unwrap(), None);
    // Clearing one collection leaves the others.
    assert_eq!(s.get_mutation_mac("critical", &[1; 32]).await.unwrap(), Some(vec![30; 32]));
}

async fn protocol_store_round_trips(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;

    s.set_sender_key_status("g1@g.us", &[("d1", true), ("d2", false)]).await.unwrap();
    s.set_sender_key_status("g2@g.us", &[("d1", true)]).await.unwrap();
    let mut g1 = s.get_sender_key_devices("g1@g.us").await.unwrap();
    g1.sort();
    assert_eq!(g1, vec![("d1".into(), true), ("d2".into(), false)]);
    s.set_sender_key_status("g1@g.us", &[("d2", true)]).await.unwrap();
    assert!(s.get_sender_key_devices("g1@g.us").await.unwrap().contains(&("d2".into(), true)));
    s.delete_sender_key_device_rows(&["d1"]).await.unwrap();
    assert_eq!(s.get_sender_key_devices("g1@g.us").await.unwrap(), vec![("d2".into(), true)]);
    assert!(s.get_sender_key_devices("g2@g.us").await.unwrap().is_empty());
    s.clear_sender_key_devices("g1@g.us").await.unwrap();
    assert!(s.get_sender_key_devices("g1@g.us").await.unwrap().is_empty());
    s.set_sender_key_status("g3@g.us", &[("d3", true)]).await.unwrap();
    s.clear_all_sender_key_devices().await.unwrap();
    assert!(s.get_sender_key_devices("g3@g.us").await.unwrap().is_empty());

    let mapping = |phone: &str, at: i64| LidPnMappingEntry {
        lid: "100000012345678".into(),
        phone_number: phone.into(),
        created_at: 1,
        updated_at: at,
        learning_source: "usync".into(),
    };
    s.put_lid_mapping(&mapping("27820000001", 1)).await.unwrap();
    assert_eq!(s.get_pn_mapping("27820000001").await.unwrap().unwrap().lid, "100000012345678");
    s.put_lid_mapping(&mapping("27820000002", 2)).await.unwrap();
    assert!(
        s.get_pn_mapping("27820000001").await.unwrap().is_none(),
        "the old number still answers"
    );
    let now = s.get_lid_mapping("100000012345678").await.unwrap().unwrap();
    assert_eq!((now.phone_number.as_str(), now.updated_at), ("27820000002", 2));
    s.put_lid_mappings(&[LidPnMappingEntry { lid: "2".into(), ..mapping("27820000003", 3) }])
        .await
        .unwrap();
    assert_eq!(s.get_all_lid_mappings().await.unwrap().len(), 2);

    s.save_base_key("addr", "m1", b"base").await.unwrap();
    assert!(s.has_same_base_key("addr", "m1", b"base").await.unwrap());
    assert!(!s.has_same_base_key("addr", "m1", b"other").await.unwrap());
    assert!(!s.has_same_base_key("addr", "m2", b"base").await.unwrap());
    s.delete_base_key("addr", "m1").await.unwrap();
    assert!(!s.has_same_base_key("addr", "m1", b"base").await.unwrap());

    let record = DeviceListRecord {
        user: "27820000001".into(),
        devices: vec![DeviceInfo { device_id: 0, key_index: None, is_hosted: false }],
        timestamp: 5,
        phash: Some("2:abc".into()),
        raw_id: Some(1),
    };
    s.update_device_list(record).await.unwrap();
    let devices = s.get_devices("27820000001").await.unwrap().unwrap();
    assert_eq!((devices.devices.len(), devices.phash.as_deref()), (1, Some("2:abc")));
    s.delete_devices("27820000001").await.unwrap();
    assert!(s.get_devices("27820000001").await.unwrap().is_none());

    s.put_group_metadata("g@g.us", b"meta").await.unwrap();
    assert_eq!(s.get_group_metadata("g@g.us").await.unwrap(), Some(b"meta".to_vec()));
    s.delete_group_metadata("g@g.us").await.unwrap();
    assert_eq!(s.get_group_metadata("g@g.us").await.unwrap(), None);

    let token = |ts: i64, sender: Option<i64>| TcTokenEntry {
        token: vec![1; 8],
        token_timestamp: ts,
        sender_timestamp: sender,
    };
    s.put_tc_token("old", &token(10, None)).await.unwrap();
    s.put_tc_token("fresh", &token(1000, None)).await.unwrap();
    s.put_tc_token("spoken", &token(10, Some(1000))).await.unwrap();
    let mut jids = s.get_all_tc_token_jids().await.unwrap();
    jids.sort();
    assert_eq!(jids, ["fresh", "old", "spoken"]);
    assert_eq!(s.delete_expired_tc_tokens(500, 500).await.unwrap(), 1);
    assert!(s.get_tc_token("old").await.unwrap().is_none());
    s.touch_tc_token_sender_timestamp("fresh", 2000).await.unwrap();
    assert_eq!(s.get_tc_token("fresh").await.unwrap().unwrap().sender_timestamp, Some(2000));
    s.store_received_tc_token("fresh", &[2; 8], 999).await.unwrap();
    assert_eq!(
        s.get_tc_token("fresh").await.unwrap().unwrap().token,
        vec![1; 8],
        "an older token won"
    );
    s.store_received_tc_token("fresh", &[3; 8], 1001).await.unwrap();
    assert_eq!(s.get_tc_token("fresh").await.unwrap().unwrap().token, vec![3; 8]);
    s.delete_tc_token("fresh").await.unwrap();
    assert!(s.get_tc_token("fresh").await.unwrap().is_none());

    s.store_sent_message("chat", "m1", b"payload").await.unwrap();
    assert_eq!(s.take_sent_message("chat", "m1").await.unwrap(), Some(b"payload".to_vec()));
    assert_eq!(s.take_sent_message("chat", "m1").await.unwrap(), None, "taken twice");
    s.store_sent_message("chat", "m2", b"p").await.unwrap();
    assert_eq!(s.delete_expired_sent_messages(0).await.unwrap(), 0);
    assert_eq!(s.delete_expired_sent_messages(i64::MAX).await.unwrap(), 1);

    s.store_pending_inbound("chat", "sender", "id1", b"msg").await.unwrap();
    assert_eq!(
        s.get_pending_inbound("chat", "sender", "id1").await.unwrap(),
        Some(b"msg".to_vec())
    );
    s.delete_pending_inbound("chat", "sender", "id1").await.unwrap();
    assert_eq!(s.get_pending_inbound("chat", "sender", "id1").await.unwrap(), None);
    s.store_pending_inbound("chat", "sender", "id2", b"msg").await.unwrap();
    assert_eq!(s.delete_expired_pending_inbound(i64::MAX).await.unwrap(), 1);
}

async fn msg_secrets_merge_and_expire(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;
    let entry = |secret: u8, expires_at: i64, message_ts: i64| MsgSecretEntry {
        chat: "chat".into(),
        sender: "sender".into(),
        msg_id: "m".into(),
        secret: [secret; 32],
        expires_at,
        message_ts,
    };

    assert_eq!(s.put_msg_secrets(vec![entry(1, 100, 50)]).await.unwrap(), 1);
    assert_eq!(s.get_msg_secret("chat", "sender", "m").await.unwrap(), Some(vec![1; 32]));
    // The newer secret wins; the later expiry and the known message time are kept.
    s.put_msg_secrets(vec![entry(2, 80, 0)]).await.unwrap();
    assert_eq!(
        s.get_msg_secret_with_ts("chat", "sender", "m").await.unwrap(),
        Some((vec![2; 32], 50))
    );
    assert_eq!(s.delete_expired_msg_secrets(90).await.unwrap(), 0, "expiry 100 was lost to 80");
    assert_eq!(s.delete_expired_msg_secrets(100).await.unwrap(), 1);
    assert_eq!(s.get_msg_secret("chat", "sender", "m").await.unwrap(), None);
    // Expiry 0 is "never".
    s.put_msg_secret("chat", "sender", "forever", &[3; 32]).await.unwrap();
    assert_eq!(s.delete_expired_msg_secrets(i64::MAX).await.unwrap(), 0);
}

async fn the_device_round_trips(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;
    assert!(!s.exists().await.unwrap());
    assert_eq!(s.load().await.unwrap().map(|d| d.registration_id), None);
    s.create().await.unwrap();
    assert!(s.exists().await.unwrap());
    let created = s.load().await.unwrap().unwrap();
    // A second create keeps the identity instead of minting another one.
    s.create().await.unwrap();
    let mut device = s.load().await.unwrap().unwrap();
    assert_eq!(device.registration_id, created.registration_id);
    assert_eq!(device.identity_key.public_key, created.identity_key.public_key);
    assert_eq!(
        device.noise_key.private_key.serialize().to_vec(),
        created.noise_key.private_key.serialize().to_vec()
    );
    assert!(device.device_props.os.is_some(), "device properties were not restored");

    device.push_name = "Front desk".into();
    device.pn = Some("27820000001@s.whatsapp.net".parse().unwrap());
    device.next_pre_key_id = 77;
    s.save(&device).await.unwrap();
    let back = s.load().await.unwrap().unwrap();
    assert_eq!(back.push_name, "Front desk");
    assert_eq!(back.pn, device.pn);
    assert_eq!(back.next_pre_key_id, 77);
    assert_eq!(back.signed_pre_key_signature, device.signed_pre_key_signature);
    assert_eq!(back.adv_secret_key, device.adv_secret_key);
}

async fn values_are_sealed_and_bound_to_their_session(backend: Backend) {
    let f = Fixture::new(backend).await;
    let a = f.session("a").await;
    let _b = f.session("b").await;
    let plain = b"a signal session record that must not be readable".to_vec();
    a.put_session("peer@s.whatsapp.net", &plain).await.unwrap();
    a.put_identity("peer@s.whatsapp.net", [0x5a; 32]).await.unwrap();
    a.create().await.unwrap();
    let identity = a.load().await.unwrap().unwrap().identity_key.private_key.serialize().to_vec();

    let raw = f.raw_values("a").await;
    assert_eq!(raw.len(), 3);
    for value in &raw {
        assert!(!contains(value, &plain));
        assert!(!contains(value, &[0x5a; 32]));
        assert!(!contains(value, &identity));
    }

    // Another key cannot open them: it finds the device and says it is sealed with another
    // key; records addressed by a contact it does not even find, as their addresses are
    // hashed under the key.
    let stranger = SqlStore::new(f.db.clone(), SecretKey::generate(), "a");
    let Err(error) = stranger.load().await else { panic!("another key opened the device") };
    let error = error.to_string();
    assert!(error.contains("LIFELINE_SECRET_KEY"), "{error}");
    assert_eq!(stranger.get_session("peer@s.whatsapp.net").await.unwrap(), None);

    // Rows moved into another session do not open there (nor are they found by contact).
    on_pool!(&f.db, pool => sqlx::query(
        "UPDATE whatsapp_store SET session_id = 'b' WHERE session_id = 'a'"
    )
    .execute(pool)
    .await
    .map(drop))
    .unwrap();
    let b = SqlStore::new(f.db.clone(), f.key.clone(), "b");
    assert!(b.load().await.is_err(), "a's device opened as b's");
    assert_eq!(b.get_session("peer@s.whatsapp.net").await.unwrap(), None);
}

async fn the_rows_name_no_contact(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;
    let (phone, lid, message) = ("27820000001", "100000012345678", "3EB0C0FFEE42");
    let jid = format!("{phone}@s.whatsapp.net");
    let device = format!("{phone}:3@s.whatsapp.net");
    let group = "120363000000000001@g.us";

    s.put_identity(&jid, [1; 32]).await.unwrap();
    s.put_session(&device, b"ratchet").await.unwrap();
    s.put_sender_key(&format!("{group}::{jid}"), b"sender key").await.unwrap();
    s.set_sender_key_status(group, &[(&device, true)]).await.unwrap();
    let mapping = LidPnMappingEntry {
        lid: lid.into(),
        phone_number: phone.into(),
        created_at: 1,
        updated_at: 1,
        learning_source: "usync".into(),
    };
    s.put_lid_mapping(&mapping).await.unwrap();
    let devices = DeviceListRecord {
        user: phone.into(),
        devices: vec![DeviceInfo { device_id: 3, key_index: None, is_hosted: false }],
        timestamp: 5,
        phash: None,
        raw_id: None,
    };
    s.update_device_list(devices).await.unwrap();
    s.put_group_metadata(group, b"meta").await.unwrap();
    let token = TcTokenEntry { token: vec![1; 8], token_timestamp: 10, sender_timestamp: None };
    s.put_tc_token(&jid, &token).await.unwrap();
    s.save_base_key(&device, message, b"base").await.unwrap();
    s.store_sent_message(&jid, message, b"payload").await.unwrap();
    s.store_pending_inbound(group, &jid, message, b"message").await.unwrap();
    let secret = MsgSecretEntry {
        chat: jid.as_str().into(),
        sender: jid.as_str().into(),
        msg_id: message.into(),
        secret: [9; 32],
        expires_at: 0,
        message_ts: 1,
    };
    s.put_msg_secrets(vec![secret]).await.unwrap();

    let stored = store_rows::stored_addresses(&f.db).await;
    assert_eq!(stored.len(), 2 * 13, "{stored:?}");
    for address in &stored {
        for clear in [phone, lid, message, "@", "whatsapp.net", "120363"] {
            assert!(!address.contains(clear), "{clear:?} readable in the row: {address:?}");
        }
    }
    // The same contact in another session is stored under another hash: rows do not
    // tell which sessions share a contact.
    let b = f.session("b").await;
    b.put_identity(&jid, [1; 32]).await.unwrap();
    let with_b = store_rows::stored_addresses(&f.db).await;
    let new: Vec<_> = with_b.iter().filter(|a| !stored.contains(a)).collect();
    assert_eq!(new.len(), 1, "the identity in b reused a's hash: {new:?}");

    // What the store lists still comes back in clear.
    assert_eq!(s.get_all_tc_token_jids().await.unwrap(), std::slice::from_ref(&jid));
    assert_eq!(s.get_sender_key_devices(group).await.unwrap(), [(device.clone(), true)]);
    assert_eq!(s.get_all_lid_mappings().await.unwrap()[0].phone_number, phone);
    assert_eq!(s.get_pn_mapping(phone).await.unwrap().unwrap().lid, lid);
    assert!(s.has_same_base_key(&device, message, b"base").await.unwrap());
    assert_eq!(s.get_msg_secret(&jid, &jid, message).await.unwrap(), Some(vec![9; 32]));
}

async fn keys_go_with_their_session(backend: Backend) {
    let f = Fixture::new(backend).await;
    let a = f.session("a").await;
    let b = f.session("b").await;
    a.put_session("peer", b"of a").await.unwrap();
    b.put_session("peer", b"of b").await.unwrap();
    assert_eq!(a.get_session("peer").await.unwrap().as_deref(), Some(&b"of a"[..]));
    assert_eq!(b.get_session("peer").await.unwrap().as_deref(), Some(&b"of b"[..]));

    // A logout wipes one session's keys and nobody else's.
    assert_eq!(SqlStore::wipe(&f.db, "a", None).await.unwrap(), 1);
    assert_eq!(a.get_session("peer").await.unwrap(), None);
    assert!(b.get_session("peer").await.unwrap().is_some());

    // Deleting the session deletes its keys.
    let removed = server::webhooks::payload::session_removed("b", chrono::Utc::now());
    assert!(sessions::delete(&f.db, "b", &removed).await.unwrap());
    assert!(f.raw_values("b").await.is_empty());
}

async fn a_retired_store_writes_nothing(backend: Backend) {
    let f = Fixture::new(backend).await;
    let old = f.session("a").await;
    old.create().await.unwrap();
    old.put_session("peer", b"kept").await.unwrap();
    old.store_prekey(1, b"record-1", false).await.unwrap();

    old.retire().await;
    // A client winding down behind a logout's wipe writes nothing back, and deletes nothing
    // the next client wrote.
    assert!(SqlStore::wipe(&f.db, "a", None).await.unwrap() > 0);
    let device = whatsapp_rust::wacore::store::Device::new();
    let refused = old.save(&device).await.unwrap_err().to_string();
    assert!(refused.contains("connection"), "{refused}");
    assert!(old.put_session("peer", b"late").await.is_err());
    assert!(old.put_sessions_batch(&[("peer".into(), Bytes::from_static(b"late"))]).await.is_err());
    assert!(f.raw_values("a").await.is_empty(), "a retired store wrote");

    let next = SqlStore::new(f.db.clone(), f.key.clone(), "a");
    next.put_session("peer", b"new").await.unwrap();
    assert!(old.delete_session("peer").await.is_err());
    assert!(old.remove_prekey(1).await.is_err());
    assert!(old.delete_expired_msg_secrets(i64::MAX).await.is_err());
    // Reading still works; the new store's record is untouched.
    assert_eq!(old.get_session("peer").await.unwrap().as_deref(), Some(&b"new"[..]));
}

// The rest of the contract, as whatsapp-rust's own SQLite store is held to it.

async fn marking_prekeys_uploaded_never_resurrects_a_used_one(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;
    s.store_prekey(1, b"record-1", false).await.unwrap();
    s.store_prekey(2, b"record-2", false).await.unwrap();
    // Key 1 is used by a peer between the upload's snapshot and its acknowledgement.
    s.remove_prekey(1).await.unwrap();
    s.mark_prekeys_uploaded(&[1, 2]).await.unwrap();
    assert_eq!(s.load_prekey(1).await.unwrap(), None, "a used key came back");
    assert!(s.load_prekey(2).await.unwrap().is_some());
}

async fn prekey_watermarks_and_the_server_key_survive_a_reload(backend: Backend) {
    use whatsapp_rust::wacore::store::{CachedNoiseCert, CachedServerCertChain};
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;
    s.create().await.unwrap();
    let mut device = s.load().await.unwrap().unwrap();
    assert_eq!(device.first_unupload_pre_key_id, 0, "a new device starts without a watermark");
    device.next_pre_key_id = 913;
    device.first_unupload_pre_key_id = 101;
    let cert = |key: u8| CachedNoiseCert { key: [key; 32], not_before: 1, not_after: 2 };
    device.server_cert_chain =
        Some(CachedServerCertChain { intermediate: cert(0xCC), leaf: cert(0xAA) });
    s.save(&device).await.unwrap();

    let again = SqlStore::new(f.db.clone(), f.key.clone(), "a");
    let back = again.load().await.unwrap().unwrap();
    assert_eq!((back.next_pre_key_id, back.first_unupload_pre_key_id), (913, 101));
    let chain = back.server_cert_chain.expect("the server key was lost");
    assert_eq!((chain.leaf.key, chain.intermediate.key), ([0xAA; 32], [0xCC; 32]));
}

async fn tc_tokens_keep_the_newer_token_and_each_others_fields(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;
    // Issuing writes a placeholder; the notification then stores the real token. Neither
    // write may clobber the other's field.
    s.touch_tc_token_sender_timestamp("user@lid", 5000).await.unwrap();
    s.store_received_tc_token("user@lid", &[7, 8, 9], 4000).await.unwrap();
    let a = s.get_tc_token("user@lid").await.unwrap().unwrap();
    assert_eq!((a.token, a.token_timestamp, a.sender_timestamp), (vec![7, 8, 9], 4000, Some(5000)));
    s.touch_tc_token_sender_timestamp("user@lid", 6000).await.unwrap();
    s.touch_tc_token_sender_timestamp("user@lid", 1000).await.unwrap();
    let b = s.get_tc_token("user@lid").await.unwrap().unwrap();
    assert_eq!((b.token, b.sender_timestamp), (vec![7, 8, 9], Some(6000)), "touch is advance-only");

    s.store_received_tc_token("c@lid", &[1, 1, 1], 5000).await.unwrap();
    s.store_received_tc_token("c@lid", &[2, 2, 2], 3000).await.unwrap();
    let older = s.get_tc_token("c@lid").await.unwrap().unwrap();
    assert_eq!((older.token, older.token_timestamp), (vec![1, 1, 1], 5000), "an older token won");
    s.store_received_tc_token("c@lid", &[3, 3, 3], 7000).await.unwrap();
    let newer = s.get_tc_token("c@lid").await.unwrap().unwrap();
    assert_eq!((newer.token, newer.token_timestamp), (vec![3, 3, 3], 7000));
    // A placeholder never blocks the first real token, even an older one.
    s.touch_tc_token_sender_timestamp("p@lid", 9000).await.unwrap();
    s.store_received_tc_token("p@lid", &[4, 4, 4], 6000).await.unwrap();
    let first = s.get_tc_token("p@lid").await.unwrap().unwrap();
    assert_eq!((first.token, first.sender_timestamp), (vec![4, 4, 4], Some(9000)));
}

async fn tc_tokens_expire_by_both_windows(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;
    let entry = |token: Vec<u8>, token_timestamp, sender_timestamp| TcTokenEntry {
        token,
        token_timestamp,
        sender_timestamp,
    };
    // Token cut-off 1000, sender cut-off 2000.
    s.touch_tc_token_sender_timestamp("recent_placeholder@lid", 2500).await.unwrap();
    s.touch_tc_token_sender_timestamp("stale_placeholder@lid", 100).await.unwrap();
    s.put_tc_token("expired_but_sending@lid", &entry(vec![1], 1, Some(2500))).await.unwrap();
    s.put_tc_token("expired_orphan@lid", &entry(vec![2], 1, None)).await.unwrap();

    assert_eq!(s.delete_expired_tc_tokens(1000, 2000).await.unwrap(), 2);
    let mut left = s.get_all_tc_token_jids().await.unwrap();
    left.sort();
    assert_eq!(left, ["expired_but_sending@lid", "recent_placeholder@lid"]);
}

async fn msg_secret_deadlines_keep_the_later_and_expire_only_when_passed(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;
    let now = whatsapp_rust::wacore::time::now_secs();
    let day = 86_400;
    let entry = |msg_id: &str, expires_at| MsgSecretEntry {
        chat: "c".into(),
        sender: "s".into(),
        msg_id: msg_id.into(),
        secret: [1; 32],
        expires_at,
        message_ts: 0,
    };
    s.put_msg_secrets(vec![
        entry("never", 0),
        entry("future", now + day),
        entry("past", now - day),
    ])
    .await
    .unwrap();
    assert_eq!(s.delete_expired_msg_secrets(now).await.unwrap(), 1);
    assert!(s.get_msg_secret("c", "s", "never").await.unwrap().is_some());
    assert!(s.get_msg_secret("c", "s", "future").await.unwrap().is_some());
    assert!(s.get_msg_secret("c", "s", "past").await.unwrap().is_none());

    // Re-stored with an earlier deadline, the window does not shrink.
    s.put_msg_secrets(vec![entry("m", now + 90 * day)]).await.unwrap();
    s.put_msg_secrets(vec![entry("m", now + 30 * day)]).await.unwrap();
    // (Only "future", a day out, goes at sixty days.)
    assert_eq!(s.delete_expired_msg_secrets(now + 60 * day).await.unwrap(), 1);
    assert!(s.get_msg_secret("c", "s", "m").await.unwrap().is_some(), "the deadline shrank");
    // "Never" wins over any deadline.
    s.put_msg_secret("c", "s", "m", &[1; 32]).await.unwrap();
    assert_eq!(s.delete_expired_msg_secrets(now + 200 * day).await.unwrap(), 0);
}

async fn clearing_mutation_macs_touches_only_that_collection(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;
    let mac = |i: u8| AppStateMutationMAC { index_mac: vec![i; 32], value_mac: vec![i; 32] };
    s.put_mutation_macs("regular", 1, &[mac(1), mac(3)]).await.unwrap();
    s.put_mutation_macs("critical", 1, &[mac(2)]).await.unwrap();
    // The batch lookup answers as the single one does.
    let found = s.get_mutation_macs("regular", &[[1; 32], [2; 32], [3; 32]]).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found.get(&[3; 32]), Some(&vec![3; 32]));
    assert_eq!(found.get(&[2; 32]), None, "another collection's MAC answered");

    s.clear_mutation_macs("regular").await.unwrap();
    assert_eq!(s.get_mutation_mac("regular", &[1; 32]).await.unwrap(), None);
    assert!(s.get_mutation_mac("critical", &[2; 32]).await.unwrap().is_some());
}

async fn a_first_logins_batches_land_whole(backend: Backend) {
    let f = Fixture::new(backend).await;
    let s = f.session("a").await;
    // A first login uploads 812 pre-keys; they are written in one transaction.
    let keys: Vec<(u32, Bytes)> =
        (1..=812).map(|id| (id, Bytes::from(format!("record-{id}")))).collect();
    s.store_prekeys_batch(&keys, false).await.unwrap();
    assert_eq!(s.get_max_prekey_id().await.unwrap(), 812);
    let ids: Vec<u32> = (1..=812).collect();
    let loaded = s.load_prekeys_batch(&ids).await.unwrap();
    assert_eq!(loaded.len(), 812);
    assert!(loaded.iter().all(|(id, record)| **record == *format!("record-{id}").as_bytes()));
    s.mark_prekeys_uploaded(&ids).await.unwrap();

    let sessions: Vec<(Arc<str>, Bytes)> = (0..50)
        .map(|i| (Arc::from(format!("peer{i}@s.whatsapp.net")), Bytes::from(vec![i; 8])))
        .collect();
    s.put_sessions_batch(&sessions).await.unwrap();
    assert_eq!(
        s.get_session("peer49@s.whatsapp.net").await.unwrap().as_deref(),
        Some(&[49; 8][..])
    );
    let identities: Vec<(Arc<str>, [u8; 32])> =
        (0..5).map(|i| (Arc::from(format!("peer{i}@s.whatsapp.net")), [i; 32])).collect();
    s.put_identities_batch(&identities).await.unwrap();
    assert_eq!(s.load_identity("peer4@s.whatsapp.net").await.unwrap(), Some([4; 32]));
    s.set_sender_key_status("g@g.us", &[("a@s.whatsapp.net", true), ("b@s.whatsapp.net", false)])
        .await
        .unwrap();
    s.delete_sender_key_device_rows(&["a@s.whatsapp.net"]).await.unwrap();
    assert_eq!(
        s.get_sender_key_devices("g@g.us").await.unwrap(),
        vec![("b@s.whatsapp.net".to_owned(), false)]
    );
}

async fn a_store_whose_lease_was_granted_anew_writes_nothing(backend: Backend) {
    let f = Fixture::new(backend).await;
    let unfenced = f.session("a").await;
    let hour = std::time::Duration::from_secs(3600);
    let token = leases::claim(&f.db, "a", "me", hour).await.unwrap().unwrap();
    let fence = Fence { holder: "me".into(), token };
    let store = SqlStore::fenced(f.db.clone(), f.key.clone(), "a", fence.clone());
    store.put_session("peer@s.whatsapp.net", b"ratchet").await.unwrap();
    store
        .put_sessions_batch(&[("other@s.whatsapp.net".into(), Bytes::from_static(b"r2"))])
        .await
        .unwrap();

    // Another instance is granted the session: this store's writes are refused, its deletes
    // remove nothing, and a wipe under the old lease leaves the keys.
    assert!(leases::release(&f.db, "a", "me", token).await.unwrap());
    leases::claim(&f.db, "a", "other", hour).await.unwrap().unwrap();
    assert!(store.put_session("peer@s.whatsapp.net", b"stale").await.is_err());
    let batch = [("third@s.whatsapp.net".into(), Bytes::from_static(b"r3"))];
    assert!(store.put_sessions_batch(&batch).await.is_err());
    store.delete_session("other@s.whatsapp.net").await.unwrap();
    assert_eq!(SqlStore::wipe(&f.db, "a", Some(&fence)).await.unwrap(), 0);
    let kept = unfenced.get_session("peer@s.whatsapp.net").await.unwrap().unwrap();
    assert_eq!(&kept[..], b"ratchet");
    assert!(unfenced.get_session("other@s.whatsapp.net").await.unwrap().is_some());
    assert!(unfenced.get_session("third@s.whatsapp.net").await.unwrap().is_none());
}

crate::on_both_databases!(
    marking_prekeys_uploaded_never_resurrects_a_used_one,
    prekey_watermarks_and_the_server_key_survive_a_reload,
    tc_tokens_keep_the_newer_token_and_each_others_fields,
    tc_tokens_expire_by_both_windows,
    msg_secret_deadlines_keep_the_later_and_expire_only_when_passed,
    clearing_mutation_macs_touches_only_that_collection,
    a_first_logins_batches_land_whole,
    signal_store_round_trips,
    app_sync_store_round_trips,
    protocol_store_round_trips,
    msg_secrets_merge_and_expire,
    the_device_round_trips,
    values_are_sealed_and_bound_to_their_session,
    the_rows_name_no_contact,
    keys_go_with_their_session,
    a_retired_store_writes_nothing,
    a_store_whose_lease_was_granted_anew_writes_nothing,
);
