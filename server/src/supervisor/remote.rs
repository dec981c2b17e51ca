//! What the other instances sharing the database tell this one about their sessions, as
//! this instance's board and event channel show it. A session this instance runs is its
//! own to tell: news about it from elsewhere (a previous holder's late notice) is dropped.

use std::collections::HashSet;

use app::model::Event;

use super::Supervisor;
use crate::{
    db::sessions,
    events::relay::{self, Body},
};

/// The receiving end of the relay for `Supervisor`.
pub(super) struct Remote(pub(super) Supervisor);

impl Remote {
    fn runs(&self, session_id: &str) -> bool {
        self.0.handle(session_id).is_ok()
    }

    fn event(&self, event: Event) {
        let deps = self.0.deps();
        match &event {
            Event::SessionStatus { session } => {
                let newer =
                    deps.board.get(&session.id).is_none_or(|v| v.updated_at <= session.updated_at);
                if self.runs(&session.id) || !newer {
                    return;
                }
                deps.board.upsert(session.clone());
            }
            Event::SessionRemoved { session_id } => {
                if self.runs(session_id) {
                    return;
                }
                deps.board.remove(session_id);
            }
            Event::Qr { session_id, .. } | Event::PairCode { session_id, .. } => {
                if self.runs(session_id) {
                    return;
                }
            }
            Event::Recovery { recovery } => {
                if self.runs(&recovery.session_id) {
                    return;
                }
            }
            Event::RestoreProgress { .. } => return,
        }
        deps.bus.publish_remote(event);
    }
}

#[async_trait::async_trait]
impl relay::Receiver for Remote {
    async fn notice(&self, from: String, body: Body) {
        match body {
            Body::Event(event) => self.event(event),
            // Carried out on a task of its own: an action may take a while, and the notices
            // behind it must not wait.
            Body::Request { id, .. } => {
                let supervisor = self.0.clone();
                tokio::spawn(async move { supervisor.requested(from, id).await });
            }
            Body::Reply { id, .. } => self.0.replied(&id),
        }
    }

    async fn catch_up(&self) {
        let stored = match sessions::load_all(self.0.db()).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(error = %e, "could not catch up on the other instances' sessions");
                return;
            }
        };
        let deps = self.0.deps();
        let holders = self.0.ownership().holder_names().await;
        let mut present = HashSet::new();
        for session in stored {
            let mut view = session.view;
            view.held_by = holders.get(&view.id).cloned();
            present.insert(view.id.clone());
            if self.runs(&view.id) || deps.board.get(&view.id).as_ref() == Some(&view) {
                continue;
            }
            deps.board.upsert(view.clone());
            deps.bus.publish_remote(Event::SessionStatus { session: view });
        }
        for view in deps.board.list() {
            if !present.contains(&view.id) && !self.runs(&view.id) {
                deps.board.remove(&view.id);
                deps.bus.publish_remote(Event::SessionRemoved { session_id: view.id });
            }
        }
    }
}
