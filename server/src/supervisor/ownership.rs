//! This instance's place among the instances sharing the database: its row in the
//! instances table, and the leases under which it holds sessions.
//!
//! On SQLite the instance lock already makes this process the only one, so it takes every
//! session at start, under leases that do not run out, and never needs to renew or fence.
//! On PostgreSQL leases last [`LeaseTiming::ttl`] and are renewed by the supervisor's
//! ownership loop, which fences (closes the links of) any session it may have lost.

use std::{collections::HashMap, sync::Arc, time::Duration};

use app::model::instances::InstanceView;

use super::{
    lease_clock::LeaseTiming,
    placement::{self, Load},
};
use crate::db::{
    Db, DbError,
    leases::{self, Held, InstanceRow, Token},
    sessions::{self, StoredSession},
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

/// What one placement round decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Sessions granted to this instance in the round.
    pub granted: Vec<(String, Token)>,
    /// How many of its own sessions to hand on.
    pub shed: u32,
    /// To which instance (its id); `None`: whoever claims them.
    pub to: Option<String>,
    /// Its sessions an operator asked to move elsewhere (the move is recorded).
    pub moving_away: Vec<Held>,
}

/// An instance's load, as its row in the instances table says.
fn load(row: &InstanceRow) -> Load {
    Load {
        held: u32::try_from(row.held).unwrap_or(u32::MAX),
        capacity: u32::try_from(row.capacity).unwrap_or(u32::MAX),
        draining: row.draining,
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

    /// The name the sessions this instance holds show as their holder: none on a database
    /// only it can open, where naming the one instance would say nothing.
    pub fn shown_name(&self) -> Option<String> {
        (!self.exclusive).then(|| self.settings.name.clone())
    }

    /// Who holds each session held elsewhere, by name (none on SQLite); empty when the
    /// database cannot say.
    pub async fn holder_names(&self) -> HashMap<String, String> {
        if self.exclusive {
            return HashMap::new();
        }
        match self.placement().await {
            Ok((_, holders)) => holders,
            Err(e) => {
                tracing::warn!(error = %e, "could not read which instance holds each session");
                HashMap::new()
            }
        }
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
        Ok(self.round(0).await?.granted.into_iter().collect())
    }

    /// Hands session `session_id` (held under `token`) on: to instance `to` when named,
    /// else to whichever claims it first. Its link is closed and its last state stored
    /// before this is called.
    pub async fn hand_on(
        &self,
        session_id: &str,
        token: Token,
        to: Option<&str>,
    ) -> Result<(), DbError> {
        if let Some(to) = to {
            leases::move_to(&self.db, session_id, to).await?;
        }
        leases::release(&self.db, session_id, &self.id, token).await?;
        Ok(())
    }

    /// The live instances and their load, this one marked.
    pub async fn instances(&self) -> Result<Vec<InstanceView>, DbError> {
        let live = leases::live_instances(&self.db, self.settings.timing.ttl).await?;
        Ok(self.instances_from(live))
    }

    fn instances_from(&self, live: Vec<InstanceRow>) -> Vec<InstanceView> {
        let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        live.into_iter()
            .map(|i| InstanceView {
                this: *i.id == *self.id,
                name: i.name,
                sessions: u32::try_from(i.held).unwrap_or(u32::MAX),
                capacity: u32::try_from(i.capacity).unwrap_or(u32::MAX),
                draining: i.draining,
                started_at: at(i.started_ms),
                heartbeat_at: at(i.heartbeat_ms),
            })
            .collect()
    }

    /// The live instances with their load, and the name of the instance holding each
    /// held session.
    pub async fn placement(&self) -> Result<(Vec<InstanceView>, HashMap<String, String>), DbError> {
        let live = leases::live_instances(&self.db, self.settings.timing.ttl).await?;
        let names: HashMap<&str, &str> =
            live.iter().map(|i| (i.id.as_str(), i.name.as_str())).collect();
        let holders = leases::holders(&self.db)
            .await?
            .into_iter()
            .filter_map(|(session, holder, _)| {
                names.get(holder.as_str()).map(|name| (session, (*name).to_owned()))
            })
            .collect();
        Ok((self.instances_from(live), holders))
    }

    /// Drains the live instance called `name` (or puts it back in service); `false` when no
    /// live instance has that name.
    pub async fn set_draining(&self, name: &str, draining: bool) -> Result<bool, DbError> {
        let live = leases::live_instances(&self.db, self.settings.timing.ttl).await?;
        if !live.iter().any(|i| i.name == name) {
            return Ok(false);
        }
        leases::set_draining(&self.db, name, draining).await
    }

    /// Asks for session `session_id` to move to the live instance called `name`; `false`
    /// when no live instance has that name.
    pub async fn move_session(&self, session_id: &str, name: &str) -> Result<bool, DbError> {
        let live = leases::live_instances(&self.db, self.settings.timing.ttl).await?;
        let Some(to) = live.iter().find(|i| i.name == name) else { return Ok(false) };
        leases::move_to(&self.db, session_id, &to.id).await
    }

    /// The instance a new session should go to (its id and name), or `None` for this one:
    /// the least loaded live instance that serves and has room.
    pub async fn home_for_new(&self) -> Result<Option<(String, String)>, DbError> {
        if self.exclusive {
            return Ok(None);
        }
        let live = leases::live_instances(&self.db, self.settings.timing.ttl).await?;
        let (mine, others): (Vec<&InstanceRow>, Vec<&InstanceRow>) =
            live.iter().partition(|i| *i.id == *self.id);
        let me = match mine.first() {
            Some(row) => load(row),
            // Not in the table (removed as dead during a long pause): it rejoins at its
            // next renewal; until then it counts as empty.
            None => Load { held: 0, capacity: self.settings.capacity, draining: false },
        };
        let loads: Vec<Load> = others.iter().map(|i| load(i)).collect();
        Ok(placement::home(me, &loads).map(|i| (others[i].id.clone(), others[i].name.clone())))
    }

    /// One placement round, given that this instance holds `held` sessions: claims free
    /// sessions up to its share, and says how many of its own to hand on, and to whom.
    pub async fn round(&self, held: u32) -> Result<Round, DbError> {
        let ttl = self.settings.timing.ttl;
        let live = leases::live_instances(&self.db, ttl).await?;
        let others: Vec<&InstanceRow> = live.iter().filter(|i| *i.id != *self.id).collect();
        let loads: Vec<Load> = others.iter().map(|i| load(i)).collect();
        let draining = live.iter().any(|i| *i.id == *self.id && i.draining);
        let me = Load { held, capacity: self.settings.capacity, draining };
        let free = leases::claimable(&self.db, &self.id, self.settings.capacity, ttl).await?;
        let unheld = u32::try_from(free.len()).unwrap_or(u32::MAX);
        let plan = placement::plan(me, &loads, unheld, self.settings.capacity);
        let mut granted = Vec::new();
        for session_id in free.into_iter().take(plan.claim as usize) {
            // Another instance may have been quicker: then it is simply not ours.
            if let Some(token) = leases::claim(&self.db, &session_id, &self.id, ttl).await? {
                granted.push((session_id, token));
            }
        }
        // Handed on to the lightest instance with room; when draining, to whoever claims.
        let to = (!draining)
            .then(|| {
                others
                    .iter()
                    .filter(|i| !i.draining && i.held < i.capacity)
                    .min_by_key(|i| i.held)
                    .map(|i| i.id.clone())
            })
            .flatten();
        let moving_away = leases::moving_away(&self.db, &self.id).await?;
        Ok(Round { granted, shed: plan.shed, to, moving_away })
    }

    /// Stores a session this instance creates, held by it from the start.
    pub async fn create(&self, session: &StoredSession) -> Result<Token, DbError> {
        sessions::insert_held(&self.db, session, &self.id, self.ttl()).await
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
