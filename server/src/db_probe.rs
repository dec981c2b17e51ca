//! The background database probe: how `/health` knows the database is gone without
//! querying it on every request.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{db::Db, status_board::StatusBoard};

/// Time between probes.
pub const PROBE_EVERY: Duration = Duration::from_secs(10);
/// A probe that takes longer than this counts as a failure: a database that hangs is as
/// unavailable as one that refuses.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Probes the database every `every` until `cancel` fires, recording each outcome on the
/// board and logging each change between up and down once.
pub async fn run(db: Db, board: Arc<StatusBoard>, every: Duration, cancel: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let outcome = match tokio::time::timeout(PROBE_TIMEOUT, db.ping()).await {
            Ok(Ok(latency)) => Ok(latency),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        };
        let was_ok = board.database_ok();
        match &outcome {
            Err(e) if was_ok => tracing::error!(error = %e, "database stopped answering"),
            Ok(_) if !was_ok => tracing::info!("database answers again"),
            _ => {}
        }
        board.record_database(outcome.ok());
    }
}
