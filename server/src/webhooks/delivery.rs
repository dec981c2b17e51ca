//! The deliverer: claims due deliveries from the outbox and sends them, each on a task of
//! its own so that a slow or hostile receiver holds up nothing but its own delivery.
//!
//! A receiver is outside the server's trust: each request has a deadline, redirects are
//! not followed, and only the first bytes of an answer are read.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    sync::{Notify, watch},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;

use super::{policy::WebhookPolicy, signing};
use crate::db::{
    Db,
    webhooks::{self, Attempt, Claimed, Next},
};

/// Wakes the deliverer when events were queued, and tells who asks how many attempts it
/// recorded. Cloning shares it.
#[derive(Clone, Debug)]
pub struct Outbox {
    queued: Arc<Notify>,
    recorded: Arc<watch::Sender<u64>>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox { queued: Arc::default(), recorded: Arc::new(watch::channel(0).0) }
    }
}

impl Outbox {
    /// Says that events were queued (the deliverer looks at once rather than at its next
    /// round).
    pub fn wake(&self) {
        self.queued.notify_one();
    }

    /// Counts the attempts recorded so far, changing with each: what waits for a delivery's
    /// outcome (the delivery log) waits on it.
    pub fn recorded(&self) -> watch::Receiver<u64> {
        self.recorded.subscribe()
    }
}

/// Sends the outbox's deliveries.
pub struct Deliverer {
    db: Db,
    me: Arc<str>,
    /// How long another instance counts as alive after its last heartbeat.
    live: Duration,
    policy: WebhookPolicy,
    client: reqwest::Client,
    outbox: Outbox,
}

impl Deliverer {
    /// A deliverer for instance `me`, woken through `outbox`; another instance counts as
    /// alive for `live` after its last heartbeat.
    pub fn new(
        db: Db,
        me: Arc<str>,
        live: Duration,
        policy: WebhookPolicy,
        outbox: Outbox,
    ) -> Deliverer {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .user_agent(concat!("Lifeline/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Deliverer { db, me, live, policy, client, outbox }
    }

    /// Delivers until `cancel` fires, then lets the deliveries under way finish (each is
    /// bounded by the request deadline).
    pub async fn run(self, cancel: CancellationToken) {
        if matches!(self.db, Db::Sqlite(_)) {
            // This process is the only one on the database: every other claim is left by
            // one that died, and its deliveries go out again now.
            match webhooks::release_others(&self.db, &self.me).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    deliveries = n,
                    "webhook deliveries a previous run left under way go out again"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "could not free the previous run's webhook deliveries")
                }
            }
        }
        let this = Arc::new(self);
        // Requests run side by side; their outcomes are written here, one after another:
        // concurrent writers would only queue for the database's lock (SQLite's busy
        // wait sleeps), and a delivery's successor is claimable only once it is written.
        let mut sending = JoinSet::new();
        let mut finished = Vec::new();
        loop {
            while let Some(Ok(done)) = sending.try_join_next() {
                finished.push(done);
            }
            this.record(std::mem::take(&mut finished)).await;
            let free = this.policy.in_flight.saturating_sub(sending.len());
            if free > 0 {
                let claim_for = this.policy.claim_for();
                match webhooks::claim(&this.db, &this.me, free, claim_for, this.live).await {
                    Ok(claimed) => {
                        for delivery in claimed {
                            let this = this.clone();
                            sending.spawn(async move {
                                let attempt = this.send(&delivery).await;
                                (delivery, attempt)
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not read the webhook outbox"),
                }
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                () = this.outbox.queued.notified() => {}
                () = tokio::time::sleep(this.policy.poll_every) => {}
                Some(Ok(done)) = sending.join_next(), if !sending.is_empty() => finished.push(done),
            }
        }
        this.record(sending.join_all().await).await;
    }

    /// One attempt, timed.
    async fn send(&self, delivery: &Claimed) -> Attempt {
        let began = Instant::now();
        let attempt = self.attempt(delivery).await;
        Attempt { latency: began.elapsed(), ..attempt }
    }

    /// Writes how attempts went, all in one transaction.
    async fn record(&self, finished: Vec<(Claimed, Attempt)>) {
        if finished.is_empty() {
            return;
        }
        let attempts: Vec<(i64, &Attempt)> = finished.iter().map(|(d, a)| (d.id, a)).collect();
        match webhooks::record(&self.db, &self.me, &attempts, self.policy.pause_after).await {
            Ok(paused) => {
                for ((delivery, attempt), _) in finished.iter().zip(paused).filter(|(_, p)| *p) {
                    tracing::warn!(
                        endpoint = %delivery.endpoint_id,
                        url = %delivery.url,
                        "paused a webhook endpoint: {}",
                        attempt.error.as_deref().unwrap_or("it keeps failing")
                    );
                }
            }
            // The claims run out and the deliveries are tried again: at least once.
            Err(e) => tracing::warn!(error = %e, "could not record webhook deliveries"),
        }
        let n = u64::try_from(finished.len()).unwrap_or(u64::MAX);
        self.outbox.recorded.send_modify(|count| *count += n);
    }

    /// One attempt: how it went and what comes next.
    async fn attempt(&self, delivery: &Claimed) -> Attempt {
        let made = u32::try_from(delivery.attempts).unwrap_or_default() + 1;
        let failed = |status: Option<u16>, response: Option<String>, error: String| {
            let next = match status {
                Some(410) => Next::Gone,
                _ => match self.policy.retries.jittered_before(
                    made,
                    self.policy.jitter,
                    rand::random(),
                ) {
                    Some(wait) => Next::RetryAfter(wait),
                    None => Next::GiveUp,
                },
            };
            Attempt { status, latency: Duration::ZERO, response, error: Some(error), next }
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signed =
            match signing::sign(&delivery.secret, &delivery.event_id, timestamp, &delivery.body) {
                Ok(signed) => signed,
                Err(e) => return failed(None, None, e.to_string()),
            };
        let request = self
            .client
            .post(&delivery.url)
            .header("content-type", "application/json")
            .header("webhook-id", &signed.id)
            .header("webhook-timestamp", signed.timestamp.to_string())
            .header("webhook-signature", &signed.signature)
            .body(delivery.body.clone());
        let mut answer = match request.send().await {
            Ok(answer) => answer,
            Err(e) => return failed(None, None, describe(&e)),
        };
        let status = answer.status().as_u16();
        let response = self.first_bytes(&mut answer).await;
        if answer.status().is_success() {
            return Attempt {
                status: Some(status),
                latency: Duration::ZERO,
                response,
                error: None,
                next: Next::Done,
            };
        }
        let why = if answer.status().is_redirection() {
            format!("answered {status} (redirects are not followed)")
        } else {
            format!("answered {status}")
        };
        failed(Some(status), response, why)
    }

    /// Up to the policy's limit of the answer, as text; the rest is never read.
    async fn first_bytes(&self, answer: &mut reqwest::Response) -> Option<String> {
        let mut kept = Vec::new();
        while kept.len() < self.policy.response_bytes {
            match answer.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        kept.truncate(self.policy.response_bytes);
        (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
    }
}

/// A failed request in words an operator can act on.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        format!("could not connect: {e}")
    } else {
        e.to_string()
    }
}
