//! Server functions over the instances sharing one database: the dashboard's instances
//! view, draining an instance and moving a session.

use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::model::{Needs, Scope};
use crate::{error::AppError, model::instances::InstanceView};

/// The live instances, oldest first, with the sessions each holds.
#[server]
pub async fn list_instances() -> Result<Vec<InstanceView>, AppError> {
    super::authorized(Needs::Key(Scope::Read)).await?.list_instances().await.map_err(super::fail)
}

/// Drains the instance called `name` (it hands every session over and takes none), or
/// with `draining` false puts it back in service.
#[server]
pub async fn drain_instance(name: String, draining: bool) -> Result<(), AppError> {
    super::authorized(Needs::Key(Scope::Operate))
        .await?
        .set_draining(name, draining)
        .await
        .map_err(super::fail)
}

/// Asks for session `id` to move to the instance called `instance`: its holder hands it
/// over at its next lease renewal.
#[server]
pub async fn move_session_to(id: String, instance: String) -> Result<(), AppError> {
    super::authorized(Needs::Key(Scope::Operate))
        .await?
        .move_session(id, instance)
        .await
        .map_err(super::fail)
}
