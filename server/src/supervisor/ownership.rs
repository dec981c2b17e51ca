//! This instance's place among the instances sharing the database: its row in the
//! instances table, and the leases under which it holds sessions.
//!
//! On SQLite the instance lock already makes this process the only one, so it takes every
//! session at start, under leases that do not run out, and never needs to renew or fence.
//! On PostgreSQL leases last [`LeaseTiming::ttl`] and are renewed by the supervisor's
//! ownership loop, which fences (closes the links of) any session it may have lost.

use std::{collections::HashMap, sync::Arc, time::Duration};

use super::{
    lease_clock::LeaseTiming,
    placement::{self, Load},
};
use crate::db::{
    Db, DbError,
    leases::{self, Held, Token},
};

/// How long a lease lasts on a database no other process can open: for as long as this
/// process runs.
const EXCLUSIVE_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How this instance presents itself to the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSettings {
    /// What people call it: the dashboard, `/health/deep` and `lifeline drain` use it.
    pub name: String,
    /// The most sessions it holds.
    pub capacity: u32,
    /// The leases' time to live (on PostgreSQL).
    pub timing: LeaseTiming,
}

impl InstanceSettings {
    /// The default capacity: more sessions than one machine is likely to serve.
    pub const DEFAULT_CAPACITY: u32 = 10_000;

    /// The host's name, or `lifeline` when the system will not say.
    pub fn default_name() -> String {
        whoami::hostname().unwrap_or_else(|_| "lifeline".into())
    }
}

impl Default for InstanceSettings {
    fn default() -> Self {
        InstanceSettings {
            name: Self::default_name(),
            capacity: Self::DEFAULT_CAPACITY,
            timing: LeaseTiming::default(),
        }
    }
}

/// This instance's identity and leases.
#[derive(Clone, Debug)]
pub struct Ownership {
    db: Db,
    id: Arc<str>,
    settings: InstanceSettings,
    exclusive: bool,
}

impl Ownership {
    /// Announces this instance in the instances table under a fresh id.
    pub async fn join(db: Db, settings: InstanceSettings) -> Result<Ownership, DbError> {
        let id: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        leases::register(&db, &id, &settings.name, settings.capacity).await?;
        let exclusive = matches!(db, Db::Sqlite(_));
        Ok(Ownership { db, id, settings, exclusive })
    }

    /// This instance's id (random per process start).
    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    /// This instance's settings.
    pub fn settings(&self) -> &InstanceSettings {
        &self.settings
    }

    /// Whether this process is the only one on the database (SQLite): its leases never run
    /// out and it never fences.
    pub fn exclusive(&self) -> bool {
        self.exclusive
    }

    fn ttl(&self) -> Duration {
        if self.exclusive { EXCLUSIVE_TTL } else { self.settings.timing.ttl }
    }

    /// Takes the sessions this instance starts with: every one on a database only it can
    /// open; on a shared one, its fair share of those nobody holds.
    pub async fn take_at_start(&self) -> Result<HashMap<String, Token>, DbError> {
        if self.exclusive {
            let held = leases::seize_all(&self.db, &self.id, self.ttl()).await?;
            return Ok(held.into_iter().map(|h| (h.session_id, h.token)).collect());
        }
        let mut held = HashMap::new();
        for (session_id, token) in self.claim_share(0).await? {
            held.insert(session_id, token);
        }
        Ok(held)
    }

    /// Claims free sessions up to this instance's share, given that it holds `held`;
    /// returns the ones granted.
    pub async fn claim_share(&self, held: u32) -> Result<Vec<(String, Token)>, DbError> {
        let ttl = self.settings.timing.ttl;
        let live = leases::live_instances(&self.db, ttl).await?;
        let others: Vec<Load> = live
            .iter()
            .filter(|i| *i.id != *self.id)
            .map(|i| Load {
                held: u32::try_from(i.held).unwrap_or(u32::MAX),
                capacity: u32::try_from(i.capacity).unwrap_or(u32::MAX),
                draining: i.draining,
            })
            .collect();
        let me_draining = live.iter().any(|i| *i.id == *self.id && i.draining);
        let me = Load { held, capacity: self.settings.capacity, draining: me_draining };
        let free = leases::claimable(&self.db, &self.id, self.settings.capacity).await?;
        let unheld = u32::try_from(free.len()).unwrap_or(u32::MAX);
        let plan = placement::plan(me, &others, unheld, self.settings.capacity);
        let mut granted = Vec::new();
        for session_id in free.into_iter().take(plan.claim as usize) {
            // Another instance may have been quicker: then it is simply not ours.
            if let Some(token) = leases::claim(&self.db, &session_id, &self.id, ttl).await? {
                granted.push((session_id, token));
            }
        }
        Ok(granted)
    }

    /// Claims a session this instance has just created.
    pub async fn claim_new(&self, session_id: &str) -> Result<Option<Token>, DbError> {
        leases::claim(&self.db, session_id, &self.id, self.ttl()).await
    }

    /// Renews every lease this instance holds and records its heartbeat; returns the
    /// leases it still holds.
    pub async fn renew(&self) -> Result<Vec<Held>, DbError> {
        if !leases::heartbeat(&self.db, &self.id).await? {
            // Removed as dead while it was away (a long pause): it is alive after all.
            leases::register(&self.db, &self.id, &self.settings.name, self.settings.capacity)
                .await?;
        }
        leases::renew(&self.db, &self.id, self.ttl()).await
    }

    /// Hands every session over at once and leaves the instances table: a clean shutdown,
    /// after every session of this instance is closed and stored.
    pub async fn leave(&self) {
        match leases::release_all(&self.db, &self.id).await {
            Ok(released) if released > 0 => {
                tracing::info!(sessions = released, "handed every session over")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "could not hand the sessions over; other instances take them once the leases run out"
            ),
        }
        if let Err(e) = leases::deregister(&self.db, &self.id).await {
            tracing::warn!(error = %e, "could not remove this instance from the instances table");
        }
    }
}
