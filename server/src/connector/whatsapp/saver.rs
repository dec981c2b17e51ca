//! Writes a client's device record (its number, keys, login counter, the server's key) to
//! the store: a moment after it changes, and at once when Lifeline is about to rely on it.
//!
//! One task does Lifeline's writes, one after another, and whatsapp-rust's own background
//! saver is not started: Lifeline records a pairing, and kills nothing, only once the
//! device is written. The crate still flushes by itself at a few points (listed in
//! docs/whatsapp-rust.md, "The device record and when it is written"). Its flush clears the
//! "changed" mark before writing, so a [`DeviceSaver::save_now`] that runs while one of
//! those writes is under way finds nothing to do and can return before that write has
//! landed; the write still lands, or fails and marks the record changed again for the next
//! tick.

use std::{sync::Arc, time::Duration};

use tokio::sync::{mpsc, oneshot};
use whatsapp_rust::store::persistence_manager::PersistenceManager;

/// How soon a change nobody asked to save is written.
const SAVE_EVERY: Duration = Duration::from_secs(2);

type Done = oneshot::Sender<Result<(), String>>;

/// The saving task of one client; it stops when this is dropped.
pub(super) struct DeviceSaver {
    requests: mpsc::Sender<Done>,
    task: tokio::task::AbortHandle,
}

impl DeviceSaver {
    /// Starts saving `manager`'s device.
    pub fn start(manager: Arc<PersistenceManager>) -> DeviceSaver {
        let (requests, mut asked) = mpsc::channel::<Done>(8);
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(SAVE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    request = asked.recv() => {
                        let Some(done) = request else { return };
                        let _ = done.send(manager.flush().await.map_err(|e| e.to_string()));
                    }
                    _ = every.tick() => {
                        // A no-op unless something changed since the last write.
                        if let Err(e) = manager.flush().await {
                            tracing::warn!(error = %e, "cannot store the WhatsApp device record; will retry");
                        }
                    }
                }
            }
        });
        DeviceSaver { requests, task: task.abort_handle() }
    }

    /// Returns once every change made before the call is written.
    pub async fn save_now(&self) -> Result<(), String> {
        let (done, written) = oneshot::channel();
        self.requests.send(done).await.map_err(|_| "the device saver stopped".to_owned())?;
        written.await.map_err(|_| "the device saver stopped".to_owned())?
    }
}

impl Drop for DeviceSaver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
