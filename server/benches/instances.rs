//! `make bench` (under a throwaway PostgreSQL): several Lifeline instances on one database,
//! each a real `lifeline serve --simulator` process.
//!
//! - **Failover**: how long after `kill -9` of an instance every one of its sessions is
//!   held again by the others (a witness outside the instances sees the links), next to
//!   the lease time, which is the floor: nobody may take a session before its lease ran
//!   out. A clean stop hands over at once and is measured next to it.
//! - **Renewal load**: transactions per second the instances commit while idle, with no
//!   session and with 1 000 sessions held: renewing is meant to cost the same for both.
//! - **Event latency**: a status change of a session held by A (an operator's stop), as A's
//!   own `/ws` channel delivers it (the baseline) and as B's delivers it (through
//!   PostgreSQL notices).

#[path = "../tests/api/process.rs"]
mod process;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use chrono::Utc;
use futures_util::StreamExt;
use process::{Instance, PROCESS_API_KEY};
use server::{
    connector::simulator::{Simulator, witness::Witness},
    db::{DatabaseUrl, Db, on_pool, sessions},
};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

/// Lease time in these runs: short, so that a kill costs seconds rather than the default 15.
const TTL: Duration = Duration::from_secs(5);
/// Sessions spread over the three instances for the failover runs.
const SESSIONS: usize = 60;
/// Kills and clean stops measured, each.
const ROUNDS: usize = 3;
/// Sessions for the renewal-load run.
const MANY: usize = 1_000;
/// How long each renewal-load window lasts.
const WINDOW: Duration = Duration::from_secs(30);
/// Status changes timed for the event latency.
const PROBES: usize = 20;
/// The longest any one wait here may take before the benchmark gives up.
const LIMIT: Duration = Duration::from_secs(180);

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        println!(
            "several-instance benchmark skipped: it needs TEST_DATABASE_URL=postgres://… \
             (`make bench` runs it under scripts/with-postgres)"
        );
        return;
    };
    println!(
        "Lifeline on several instances (release binaries on one PostgreSQL; lease time {} s, \
         default restore spacing)\n",
        TTL.as_secs()
    );
    failover(&admin).await;
    renewal_load(&admin).await;
}

/// A brand-new database on the server `admin` names; its URL and a pool on it.
async fn fresh_database(admin: &str) -> (String, Db) {
    let name = format!("lifeline_bench_{}", uuid::Uuid::new_v4().simple());
    let Ok(DatabaseUrl::Postgres(options)) = admin.parse::<DatabaseUrl>() else {
        panic!("TEST_DATABASE_URL is not a PostgreSQL URL")
    };
    let pool = sqlx::PgPool::connect_with(options).await.expect("cannot reach TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .expect("cannot create a database");
    pool.close().await;
    let (base, query) = admin.split_once('?').map_or((admin, None), |(b, q)| (b, Some(q)));
    let path_start = base.find("://").map_or(0, |i| i + 3);
    let cut = base[path_start..].find('/').map_or(base.len(), |i| path_start + i);
    let url = match query {
        Some(q) => format!("{}/{name}?{q}", &base[..cut]),
        None => format!("{}/{name}", &base[..cut]),
    };
    let db = Db::open(&url.parse().unwrap()).await.unwrap();
    (url, db)
}

/// Inserts `count` paired simulated sessions, as if created elsewhere.
async fn paired_sessions(db: &Db, count: usize) -> Vec<String> {
    let now = Utc::now();
    let ids: Vec<String> = (0..count).map(|i| format!("bench{i:04}")).collect();
    for id in &ids {
        sessions::insert(db, &Simulator::paired_session(id.clone(), id.clone(), now))
            .await
            .unwrap();
    }
    ids
}

fn args(witness: Option<&Witness>) -> Vec<String> {
    let mut args = vec!["--lease-ttl-secs".to_owned(), TTL.as_secs().to_string()];
    if let Some(witness) = witness {
        args.extend(["--simulator-witness".to_owned(), witness.addr().to_string()]);
    }
    args
}

/// Which instance (by id) holds each session over an open link, as the witness sees it.
fn holders(witness: &Witness) -> Vec<(String, String)> {
    let visits = witness.visits();
    visits
        .iter()
        .filter(|v| v.end.is_none())
        .map(|v| (v.hello.session_id.clone(), v.hello.holder.clone()))
        .collect()
}

/// Waits until each of `ids` is held over one open link by an instance in `live`.
async fn until_held(witness: &Witness, ids: &[String], live: &BTreeSet<String>) {
    let mut changes = witness.changes();
    let deadline = Instant::now() + LIMIT;
    loop {
        let held = holders(witness);
        let all = ids.iter().all(|id| {
            let mut of = held.iter().filter(|(s, _)| s == id);
            matches!((of.next(), of.next()), (Some((_, h)), None) if live.contains(h))
        });
        if all {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the sessions were not all held within {LIMIT:?}");
        let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), changes.changed()).await;
    }
}

/// How long after `since` each of `ids` was held again by one of `others`.
fn taken_over_after(
    witness: &Witness,
    ids: &[String],
    others: &BTreeSet<String>,
    since: Instant,
) -> Vec<Duration> {
    let visits = witness.visits();
    ids.iter()
        .filter_map(|id| {
            visits
                .iter()
                .filter(|v| &v.hello.session_id == id && others.contains(&v.hello.holder))
                .filter(|v| v.began >= since)
                .map(|v| v.began - since)
                .min()
        })
        .collect()
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let secs = |d: Duration| d.as_secs_f64();
    match (times.first(), times.get(times.len() / 2), times.last()) {
        (Some(first), Some(median), Some(last)) => format!(
            "first {:>5.2} s, median {:>5.2} s, last {:>5.2} s ({} sessions)",
            secs(*first),
            secs(*median),
            secs(*last),
            times.len()
        ),
        _ => "no session moved".into(),
    }
}

async fn failover(admin: &str) {
    let (url, db) = fresh_database(admin).await;
    let witness = Witness::start().await.unwrap();
    let names = ["a", "b", "c"];
    let mut instances = Vec::new();
    for name in names {
        instances.push(Instance::start(name, &url, &args(Some(&witness)), &db, LIMIT).await);
    }
    let ids = paired_sessions(&db, SESSIONS).await;
    let live = |v: &[Instance]| -> BTreeSet<String> { v.iter().map(|i| i.id.clone()).collect() };
    until_held(&witness, &ids, &live(&instances)).await;

    let mut kills = Vec::new();
    let mut stops = Vec::new();
    for round in 0..ROUNDS * 2 {
        let victim = round % instances.len();
        let mine: Vec<String> = holders(&witness)
            .into_iter()
            .filter(|(_, h)| *h == instances[victim].id)
            .map(|(s, _)| s)
            .collect();
        let others: BTreeSet<String> = instances
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, x)| x.id.clone())
            .collect();
        let since = Instant::now();
        if round % 2 == 0 {
            instances[victim].kill_9();
        } else {
            instances[victim].stop_cleanly();
        }
        until_held(&witness, &mine, &others).await;
        let times = taken_over_after(&witness, &mine, &others, since);
        if round % 2 == 0 { &mut kills } else { &mut stops }.push(times);
        let name = instances[victim].name;
        instances[victim] = Instance::start(name, &url, &args(Some(&witness)), &db, LIMIT).await;
        // Back to an even spread before the next round, so each round moves a third.
        until_even(&witness, &ids, &live(&instances)).await;
    }
    println!("Failover: from the instance's end until each of its sessions is held again");
    for (what, rounds) in [("kill -9   ", &kills), ("clean stop", &stops)] {
        for times in rounds {
            println!("  {what}  {}", summary(times.clone()));
        }
    }
    let round = TTL.as_secs_f64() / 3.0;
    println!(
        "  floor for kill -9: the lease runs out {:.1} to {} s after the kill (its last renewal \
         came up to {round:.1} s before); then the next claiming round (up to {round:.1} s) and \
         the restore spacing. A clean stop waits only for the claiming round and the spacing.\n",
        TTL.as_secs_f64() - round,
        TTL.as_secs(),
    );

    event_latency(&instances, &ids, &witness).await;
    for instance in &mut instances {
        instance.stop_cleanly();
    }
    db.close().await;
}

/// Waits until every session is held and no instance holds more than one above another.
async fn until_even(witness: &Witness, ids: &[String], live: &BTreeSet<String>) {
    until_held(witness, ids, live).await;
    let deadline = Instant::now() + LIMIT;
    let mut changes = witness.changes();
    loop {
        let held = holders(witness);
        let counts: Vec<usize> =
            live.iter().map(|i| held.iter().filter(|(_, h)| h == i).count()).collect();
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        if max - min <= 1 && held.len() == ids.len() {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the sessions never spread evenly: {counts:?}");
        let _ = tokio::time::timeout(left.min(Duration::from_millis(500)), changes.changed()).await;
    }
}

/// A `/ws` channel read all along on a task of its own (so that its pings are answered),
/// handing on each text frame with when it arrived.
struct Channel(tokio::sync::mpsc::UnboundedReceiver<(Instant, String)>);

impl Channel {
    /// Connects to `instance`'s `/ws` and waits for its snapshot.
    async fn open(instance: &Instance) -> Channel {
        let url = format!("ws://{}/ws", instance.addr);
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("x-api-key", PROCESS_API_KEY.parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("no /ws");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message
                    && tx.send((Instant::now(), text.to_string())).is_err()
                {
                    return;
                }
            }
        });
        let mut channel = Channel(rx);
        channel.until(|text| text.contains("\"snapshot\"")).await;
        channel
    }

    /// When the first frame (from now on) that `f` accepts came.
    async fn until(&mut self, f: impl Fn(&str) -> bool) -> Instant {
        let read = async {
            loop {
                match self.0.recv().await {
                    Some((at, text)) if f(&text) => return at,
                    Some(_) => {}
                    None => panic!("the channel ended"),
                }
            }
        };
        tokio::time::timeout(LIMIT, read).await.expect("the frame never came")
    }

    /// When a status frame of session `id` saying `status` came.
    async fn status(&mut self, id: &str, status: &str) -> Instant {
        let wanted = format!("\"status\":\"{status}\"");
        self.until(|text| text.contains(id) && text.contains(&wanted)).await
    }
}

async fn event_latency(instances: &[Instance], ids: &[String], witness: &Witness) {
    let held = holders(witness);
    let (holder, other) = (&instances[0], &instances[1]);
    let id = ids
        .iter()
        .find(|id| held.iter().any(|(s, h)| s == *id && *h == holder.id))
        .expect("the first instance holds nothing");
    let mut own = Channel::open(holder).await;
    let mut elsewhere = Channel::open(other).await;
    let client = reqwest::Client::new();
    // An operator's stop and start: a change at once, without the backoff a drop brings.
    let act = |action: &str| {
        client
            .post(format!("http://{}/sessions/{id}/{action}", holder.addr))
            .header("x-api-key", PROCESS_API_KEY)
            .send()
    };
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    for _ in 0..PROBES {
        let since = Instant::now();
        let r = act("stop").await.unwrap();
        assert!(r.status().is_success(), "stop refused: {}", r.status());
        local.push(own.status(id, "disconnected").await - since);
        remote.push(elsewhere.status(id, "disconnected").await - since);
        let r = act("start").await.unwrap();
        assert!(r.status().is_success(), "start refused: {}", r.status());
        own.status(id, "connected").await;
        elsewhere.status(id, "connected").await;
    }
    let ms = |mut v: Vec<Duration>| {
        v.sort();
        let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3;
        (at(0.5), at(0.99))
    };
    let ((l50, l99), (r50, r99)) = (ms(local), ms(remote));
    println!(
        "Event latency: an operator's stop on instance a until /ws says `disconnected` \
         ({PROBES} changes)"
    );
    println!("  on a's own channel (baseline)  p50 {l50:>7.2} ms  p99 {l99:>7.2} ms");
    println!("  on b's channel                 p50 {r50:>7.2} ms  p99 {r99:>7.2} ms");
    println!("  the other instance adds {:.2} ms at the median\n", r50 - l50);
}

/// Transactions committed in the database so far (PostgreSQL's statistics, which lag by
/// up to a second or so: the windows are long enough for that to wash out).
async fn commits(db: &Db) -> i64 {
    let (n,): (i64,) = on_pool!(db, pool => sqlx::query_as(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    n
}

/// Commits per second in the next [`WINDOW`].
async fn commit_rate(db: &Db) -> f64 {
    let before = commits(db).await;
    tokio::time::sleep(WINDOW).await;
    let after = commits(db).await;
    // The two readings are transactions of their own.
    (after - before - 1) as f64 / WINDOW.as_secs_f64()
}

async fn renewal_load(admin: &str) {
    let (url, db) = fresh_database(admin).await;
    let mut instances = Vec::new();
    for name in ["a", "b"] {
        instances.push(Instance::start(name, &url, &args(None), &db, LIMIT).await);
    }
    // Let start-up settle before measuring.
    tokio::time::sleep(TTL).await;
    let idle = commit_rate(&db).await;

    paired_sessions(&db, MANY).await;
    let deadline = Instant::now() + LIMIT;
    loop {
        let (connected,): (i64,) = on_pool!(&db, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM sessions WHERE status = 'connected'"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        if connected as usize == MANY {
            break;
        }
        assert!(Instant::now() < deadline, "only {connected} of {MANY} sessions connected");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Past the moment each connection counts as stable (a minute after it came up, when
    // its retry counter is written back to zero): what is left is the idle cost.
    let stable_after = app::policy::SupervisorPolicy::default().stable_after;
    tokio::time::sleep(stable_after + Duration::from_secs(10)).await;
    let loaded = commit_rate(&db).await;
    println!("Renewal load: transactions committed per second, two idle instances");
    println!("  no session         {idle:>7.2} /s");
    println!("  {MANY} sessions     {loaded:>7.2} /s  ({:.2}× the empty cluster)", loaded / idle);
    println!(
        "  per instance and renewal round ({:.1} s), everything included: {:.1} with no \
         session, {:.1} with {}\n",
        TTL.as_secs_f64() / 3.0,
        idle / 2.0 * TTL.as_secs_f64() / 3.0,
        loaded / 2.0 * TTL.as_secs_f64() / 3.0,
        MANY / 2
    );
    for instance in &mut instances {
        instance.stop_cleanly();
    }
    db.close().await;
}
