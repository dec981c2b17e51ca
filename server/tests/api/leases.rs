//! Session leases on both databases: one holder at a time, tokens that only grow, leases
//! that run out on the database's clock, moves and instances.
//!
//! A lease granted for no time at all has run out by the next statement: that is how these
//! tests reach "expired" without waiting.

use std::time::Duration;

use app::model::SessionView;
use chrono::Utc;
use server::db::{
    Db,
    leases::{self, Held, Token},
    sessions::{self, StoredSession},
};
use tempfile::TempDir;

use crate::{
    helpers::{Backend, fresh_database},
    on_both_databases,
};

const HOUR: Duration = Duration::from_secs(3600);
const RUN_OUT: Duration = Duration::ZERO;

struct Fixture {
    db: Db,
    _dir: TempDir,
}

impl Fixture {
    async fn new(backend: Backend, sessions: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database(backend, &dir).await;
        let db = Db::open(&url.parse().unwrap()).await.unwrap();
        for id in sessions {
            let view = SessionView::new((*id).into(), (*id).into(), "simulator".into(), Utc::now());
            let stored = StoredSession { view, credentials: None, is_active: true };
            sessions::insert(&db, &stored).await.unwrap();
        }
        Fixture { db, _dir: dir }
    }
}

fn held(session_id: &str, token: i64) -> Held {
    Held { session_id: session_id.into(), token: Token(token) }
}

async fn one_holder_at_a_time_and_each_grant_a_higher_token(backend: Backend) {
    let f = Fixture::new(backend, &["s"]).await;
    let db = &f.db;
    assert_eq!(leases::claim(db, "s", "a", HOUR).await.unwrap(), Some(Token(1)));
    assert_eq!(leases::claim(db, "s", "b", HOUR).await.unwrap(), None, "held twice");
    assert_eq!(leases::renew(db, "a", HOUR).await.unwrap(), vec![held("s", 1)]);
    assert!(leases::renew(db, "b", HOUR).await.unwrap().is_empty());

    assert!(leases::release(db, "s", "a", Token(1)).await.unwrap());
    assert_eq!(leases::claim(db, "s", "b", HOUR).await.unwrap(), Some(Token(2)));
    // The old holder's token is stale: it can neither release nor renew the new grant.
    assert!(!leases::release(db, "s", "a", Token(1)).await.unwrap());
    assert!(leases::renew(db, "a", HOUR).await.unwrap().is_empty());
    assert_eq!(leases::holders(db).await.unwrap(), vec![("s".into(), "b".into(), Token(2))]);
}

async fn a_lease_that_ran_out_is_granted_again_never_renewed(backend: Backend) {
    let f = Fixture::new(backend, &["s", "t"]).await;
    let db = &f.db;
    assert_eq!(leases::claim(db, "s", "a", RUN_OUT).await.unwrap(), Some(Token(1)));
    assert!(leases::renew(db, "a", HOUR).await.unwrap().is_empty(), "renewed after running out");
    assert!(leases::holders(db).await.unwrap().is_empty());
    // Another instance takes it over; so may the same one, but under a new token either way.
    assert_eq!(leases::claim(db, "s", "b", HOUR).await.unwrap(), Some(Token(2)));
    assert_eq!(leases::claim(db, "t", "a", RUN_OUT).await.unwrap(), Some(Token(1)));
    assert_eq!(leases::claim(db, "t", "a", HOUR).await.unwrap(), Some(Token(2)));
}

async fn a_missing_session_has_no_lease_and_a_deleted_one_loses_it(backend: Backend) {
    let f = Fixture::new(backend, &["s"]).await;
    let db = &f.db;
    assert_eq!(leases::claim(db, "nobody", "a", HOUR).await.unwrap(), None);
    assert_eq!(leases::claim(db, "s", "a", HOUR).await.unwrap(), Some(Token(1)));
    let removed = server::webhooks::payload::session_removed("s", chrono::Utc::now());
    assert!(sessions::delete(db, "s", &removed).await.unwrap());
    assert!(leases::renew(db, "a", HOUR).await.unwrap().is_empty());
    assert!(!leases::move_to(db, "s", "b").await.unwrap());
}

async fn claims_racing_for_one_session_grant_it_once(backend: Backend) {
    let f = Fixture::new(backend, &["s"]).await;
    let claims = (0..16).map(|i| {
        let db = f.db.clone();
        tokio::spawn(async move { leases::claim(&db, "s", &format!("i{i}"), HOUR).await })
    });
    let mut granted = Vec::new();
    for claim in claims {
        if let Some(token) = claim.await.unwrap().unwrap() {
            granted.push(token);
        }
    }
    assert_eq!(granted, vec![Token(1)]);
}

async fn a_move_reserves_the_session_for_the_named_instance(backend: Backend) {
    let f = Fixture::new(backend, &["old", "s"]).await;
    let db = &f.db;
    leases::register(db, "b", "beta", 10).await.unwrap();
    assert_eq!(leases::claim(db, "s", "a", HOUR).await.unwrap(), Some(Token(1)));
    assert!(leases::move_to(db, "s", "b").await.unwrap());
    // The holder keeps it until it lets go, and learns of the move when it looks.
    assert_eq!(leases::renew(db, "a", HOUR).await.unwrap(), vec![held("s", 1)]);
    assert_eq!(leases::moving_away(db, "a").await.unwrap(), vec![held("s", 1)]);
    assert!(leases::release(db, "s", "a", Token(1)).await.unwrap());
    // Free, but only for b: c neither sees it as claimable nor gets it.
    assert_eq!(leases::claimable(db, "c", 10, HOUR).await.unwrap(), vec!["old".to_owned()]);
    assert_eq!(leases::claim(db, "s", "c", HOUR).await.unwrap(), None);
    assert_eq!(
        leases::claimable(db, "b", 10, HOUR).await.unwrap(),
        vec!["s".to_owned(), "old".into()]
    );
    assert_eq!(leases::claim(db, "s", "b", HOUR).await.unwrap(), Some(Token(2)));
    assert!(leases::moving_away(db, "b").await.unwrap().is_empty(), "the move is done");
    assert_eq!(leases::claimable(db, "c", 1, HOUR).await.unwrap(), vec!["old".to_owned()]);
}

async fn a_move_to_an_instance_that_went_silent_is_void(backend: Backend) {
    let f = Fixture::new(backend, &["s"]).await;
    let db = &f.db;
    leases::register(db, "b", "beta", 10).await.unwrap();
    assert!(leases::move_to(db, "s", "b").await.unwrap());
    assert!(leases::claimable(db, "c", 10, HOUR).await.unwrap().is_empty(), "b is alive");
    // b has not been heard from within the window: the session is anyone's.
    assert_eq!(leases::claimable(db, "c", 10, RUN_OUT).await.unwrap(), vec!["s".to_owned()]);
    assert_eq!(leases::claim(db, "s", "c", RUN_OUT).await.unwrap(), Some(Token(1)));
}

async fn instances_announce_themselves_and_show_their_load(backend: Backend) {
    let f = Fixture::new(backend, &["s", "t"]).await;
    let db = &f.db;
    leases::register(db, "id-a", "alpha", 100).await.unwrap();
    leases::register(db, "id-b", "beta", 50).await.unwrap();
    leases::claim(db, "s", "id-a", HOUR).await.unwrap().unwrap();
    leases::claim(db, "t", "id-a", HOUR).await.unwrap().unwrap();
    assert!(leases::heartbeat(db, "id-b").await.unwrap());
    let live = leases::live_instances(db, HOUR).await.unwrap();
    let load: Vec<_> = live.iter().map(|i| (i.name.as_str(), i.held, i.capacity)).collect();
    assert_eq!(load, [("alpha", 2, 100), ("beta", 0, 50)]);
    assert!(live.iter().all(|i| i.heartbeat_ms >= i.started_ms && !i.draining));

    assert!(leases::set_draining(db, "beta", true).await.unwrap());
    assert!(!leases::set_draining(db, "gamma", true).await.unwrap());
    let live = leases::live_instances(db, HOUR).await.unwrap();
    assert!(live.iter().any(|i| i.name == "beta" && i.draining));

    // A clean shutdown: leases given up at once, then the row.
    assert_eq!(leases::release_all(db, "id-a").await.unwrap(), 2);
    leases::deregister(db, "id-a").await.unwrap();
    assert!(!leases::heartbeat(db, "id-a").await.unwrap(), "a removed instance must register");
    let names: Vec<_> =
        leases::live_instances(db, HOUR).await.unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["beta"]);
    // Silent for longer than the window: not live.
    assert!(leases::live_instances(db, Duration::ZERO).await.unwrap().is_empty());
}

on_both_databases!(
    one_holder_at_a_time_and_each_grant_a_higher_token,
    a_lease_that_ran_out_is_granted_again_never_renewed,
    a_missing_session_has_no_lease_and_a_deleted_one_loses_it,
    claims_racing_for_one_session_grant_it_once,
    a_move_reserves_the_session_for_the_named_instance,
    a_move_to_an_instance_that_went_silent_is_void,
    instances_announce_themselves_and_show_their_load,
);
