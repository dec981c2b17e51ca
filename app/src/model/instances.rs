//! The instances sharing one database, as `GET /instances` and the dashboard show them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One Lifeline instance and its load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InstanceView {
    /// Its name (`LIFELINE_INSTANCE_NAME`, by default its host's name).
    pub name: String,
    /// Whether this is the instance answering.
    pub this: bool,
    /// Sessions it holds.
    pub sessions: u32,
    /// The most it holds.
    pub capacity: u32,
    /// Whether it is handing its sessions over (before maintenance).
    pub draining: bool,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last sign of life.
    pub heartbeat_at: DateTime<Utc>,
}

/// `POST /sessions/{id}/move`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MoveSession {
    /// The name of the instance to move the session to.
    pub instance: String,
}

/// `POST /instances/{name}/drain`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Drain {
    /// `true` hands every session over and takes none; `false` puts it back in service.
    pub draining: bool,
}
