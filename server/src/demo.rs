//! `serve --demo`: three simulated sessions that show, within two minutes, what Lifeline
//! is for: one stays healthy and receives messages, one has a flaky network and keeps
//! being reconnected, one gets unlinked from its phone and waits for a new QR scan.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::{
    connector::simulator::{Fault, Simulator},
    db::{Db, DbError, sessions},
};

/// The demo sessions: id, name, phone number.
pub const SESSIONS: [(&str, &str, &str); 3] = [
    ("demo-front-desk", "Front desk", "+27821000001"),
    ("demo-support-bot", "Support bot (flaky network)", "+27821000002"),
    ("demo-old-phone", "Old phone (gets unlinked)", "+27821000003"),
];

/// How often the script acts.
const TICK: Duration = Duration::from_secs(15);

/// Stores the demo sessions as paired and meant to run, so start-up restore brings them
/// up; on every demo start they are reset, so the show begins again.
pub async fn seed(db: &Db) -> Result<(), DbError> {
    let now = Utc::now();
    for (id, name, phone) in SESSIONS {
        let mut session = Simulator::paired_session(id.into(), name.into(), now);
        session.view.phone_number = Some(phone.into());
        sessions::insert_or_reset(db, &session).await?;
    }
    Ok(())
}

/// Plays the script until `cancel` fires: a message for the front desk every 30 s, a drop
/// of the support bot's link every 75 s, and the old phone unlinked after 90 s.
pub async fn run(simulator: Simulator, cancel: CancellationToken) {
    let [(front_desk, ..), (support_bot, ..), (old_phone, ..)] = SESSIONS;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
    for n in 1u64.. {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let act = |id: &str, fault: Fault| {
            if let Err(e) = simulator.inject(id, fault) {
                tracing::debug!(session = id, error = %e, "demo: skipped a step");
            }
        };
        if n % 2 == 0 {
            act(front_desk, Fault::Message { count: 1, from: None, text: None });
        }
        if n % 5 == 0 {
            act(support_bot, Fault::Drop { count: 3 });
        }
        if n == 6 {
            act(old_phone, Fault::Logout);
        }
    }
}
