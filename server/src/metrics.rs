//! Prometheus metrics: counters kept as the server runs, gauges read at scrape time.
//!
//! The `prometheus` crate keeps the series and writes the text format (0.0.4), which
//! `promtool check metrics` holds the suite to.

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use app::{
    model::{SessionStatus, recovery::Trigger},
    policy::Schedule,
};
use chrono::Utc;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::{
    daily_counts::{self, Today},
    status_board::StatusBoard,
};

/// Upper bounds of the HTTP latency buckets, in seconds.
const HTTP_BUCKETS: &[f64] =
    &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Upper bounds of the event delivery lag buckets, in seconds.
const LAG_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

/// Every metric the server keeps. One per server.
pub struct Metrics {
    registry: Registry,
    sessions: IntGaugeVec,
    sessions_wanted: IntGauge,
    connection_attempts: IntCounterVec,
    messages: IntCounterVec,
    recoveries: IntCounterVec,
    websocket_clients: IntGauge,
    events_published: IntCounter,
    event_lag: Histogram,
    database_up: IntGauge,
    database_latency: Gauge,
    uptime: IntGauge,
    webhooks_pending: IntGauge,
    webhooks_oldest: IntGauge,
    http: HistogramVec,
    /// One scrape at a time: a scrape brings the read-at-scrape values up to date.
    scrape: Mutex<()>,
    /// The messages again, counted per UTC day for the deep report.
    today: Today,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The method as a label: the standard ones by name, every other one as `OTHER`, so a
/// client inventing methods cannot grow the series (or `/metrics`) without bound.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *method {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::PATCH => "PATCH",
        M::OPTIONS => "OPTIONS",
        M::CONNECT => "CONNECT",
        M::TRACE => "TRACE",
        _ => "OTHER",
    }
}

fn schedule_label(schedule: Schedule) -> &'static str {
    match schedule {
        Schedule::Restore => "restore",
        Schedule::Reconnect => "reconnect",
    }
}

fn trigger_label(trigger: Trigger) -> &'static str {
    if trigger.is_automatic() { "watchdog" } else { "manual" }
}

/// Registers `metric` in `registry` and hands it back. Names and label sets are fixed in
/// this file, so a refusal is a programming error.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("a metric's name, help and labels are valid");
    registry.register(Box::new(metric.clone())).expect("each metric is registered once");
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        let r = Registry::new();
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            HistogramOpts::new(name, help).buckets(buckets.to_vec())
        };
        let metrics = Metrics {
            sessions: registered(
                &r,
                IntGaugeVec::new(
                    Opts::new("lifeline_sessions", "Sessions by observed state."),
                    &["state"],
                ),
            ),
            sessions_wanted: registered(
                &r,
                IntGauge::new(
                    "lifeline_sessions_wanted",
                    "Sessions whose desired state is running.",
                ),
            ),
            connection_attempts: registered(
                &r,
                IntCounterVec::new(
                    Opts::new(
                        "lifeline_connection_attempts_total",
                        "Connection attempts, by schedule: restore (start, restore, operator) or \
                         reconnect (after a drop).",
                    ),
                    &["schedule"],
                ),
            ),
            messages: registered(
                &r,
                IntCounterVec::new(
                    Opts::new("lifeline_messages_total", "Messages, by direction."),
                    &["direction"],
                ),
            ),
            recoveries: registered(
                &r,
                IntCounterVec::new(
                    Opts::new("lifeline_recovery_attempts_total", "Recovery attempts, by trigger."),
                    &["trigger"],
                ),
            ),
            websocket_clients: registered(
                &r,
                IntGauge::new("lifeline_websocket_clients", "Connected WebSocket clients."),
            ),
            events_published: registered(
                &r,
                IntCounter::new("lifeline_events_published_total", "Events published on the bus."),
            ),
            event_lag: registered(
                &r,
                Histogram::with_opts(histogram(
                    "lifeline_event_lag_seconds",
                    "Time from an event's publication to its delivery to a WebSocket client.",
                    LAG_BUCKETS,
                )),
            ),
            database_up: registered(
                &r,
                IntGauge::new(
                    "lifeline_database_up",
                    "Whether the database answered its last probe.",
                ),
            ),
            database_latency: registered(
                &r,
                Gauge::new(
                    "lifeline_database_latency_seconds",
                    "Round trip of the last successful database probe.",
                ),
            ),
            uptime: registered(
                &r,
                IntGauge::new("lifeline_uptime_seconds", "Seconds since the server started."),
            ),
            webhooks_pending: registered(
                &r,
                IntGauge::new(
                    "lifeline_webhook_deliveries_pending",
                    "Webhook deliveries waiting for an attempt (retries included).",
                ),
            ),
            webhooks_oldest: registered(
                &r,
                IntGauge::new(
                    "lifeline_webhook_oldest_pending_age_seconds",
                    "Age of the oldest event with a delivery still pending (0 when none is).",
                ),
            ),
            http: registered(
                &r,
                HistogramVec::new(
                    histogram(
                        "lifeline_http_request_duration_seconds",
                        "HTTP request latency by method, route and status.",
                        HTTP_BUCKETS,
                    ),
                    &["method", "route", "status"],
                ),
            ),
            registry: r,
            scrape: Mutex::new(()),
            today: Today::new(Utc::now()),
        };
        // Every series with a fixed set of labels shows from the start, at zero.
        for status in SessionStatus::ALL {
            metrics.sessions.with_label_values(&[status.as_str()]);
        }
        for schedule in [Schedule::Restore, Schedule::Reconnect] {
            metrics.connection_attempts.with_label_values(&[schedule_label(schedule)]);
        }
        for direction in ["received", "sent"] {
            metrics.messages.with_label_values(&[direction]);
        }
        for trigger in [Trigger::Manual, Trigger::DeadLink] {
            metrics.recoveries.with_label_values(&[trigger_label(trigger)]);
        }
        metrics
    }
}

impl Metrics {
    /// Counts a connection attempt made under `schedule`.
    pub fn connect_attempt(&self, schedule: Schedule) {
        self.connection_attempts.with_label_values(&[schedule_label(schedule)]).inc();
    }

    /// Counts a recovery attempt: the watchdog's (automatic) or a person's.
    pub fn recovery(&self, trigger: Trigger) {
        self.recoveries.with_label_values(&[trigger_label(trigger)]).inc();
    }

    /// Counts a message that arrived on a session.
    pub fn message_received(&self) {
        self.messages.with_label_values(&["received"]).inc();
        self.today.received(Utc::now());
    }

    /// Counts a message sent through Lifeline.
    pub fn message_sent(&self) {
        self.messages.with_label_values(&["sent"]).inc();
        self.today.sent(Utc::now());
    }

    /// Today's message counts.
    pub fn today(&self) -> daily_counts::Counts {
        self.today.counts(Utc::now())
    }

    /// A WebSocket client connected (+1) or left (-1).
    pub fn ws_clients(&self, delta: i64) {
        self.websocket_clients.add(delta);
    }

    /// How long an event took from publication to a client's socket.
    pub fn event_lag(&self, lag: Duration) {
        self.event_lag.observe(lag.as_secs_f64());
    }

    /// Records one HTTP request. `route` is a route's pattern (or `unmatched`), never the
    /// path asked for, so the label sets stay bounded.
    pub fn http_request(
        &self,
        method: &axum::http::Method,
        route: &str,
        status: axum::http::StatusCode,
        took: Duration,
    ) {
        // The code's own text: no string is built per request.
        self.http
            .with_label_values(&[method_label(method), route, status.as_str()])
            .observe(took.as_secs_f64());
    }

    /// Records how deep the webhook outbox is, as read for this scrape.
    pub fn set_outbox(&self, pending: u64, oldest: Option<Duration>) {
        self.webhooks_pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
        let age = oldest.map_or(0, |age| age.as_secs());
        self.webhooks_oldest.set(i64::try_from(age).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition of everything, as of now.
    pub fn render(&self, board: &StatusBoard, events_published: u64) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        for status in SessionStatus::ALL {
            self.sessions.with_label_values(&[status.as_str()]).set(0);
        }
        for view in board.list() {
            self.sessions.with_label_values(&[view.status.as_str()]).inc();
        }
        self.sessions_wanted.set(i64::from(board.tally().wanted));
        // The bus numbers its events; the counter follows that number.
        let counted = self.events_published.get();
        self.events_published.inc_by(events_published.saturating_sub(counted));
        self.database_up.set(i64::from(board.database_ok()));
        self.database_latency.set(board.database_latency().as_secs_f64());
        self.uptime.set(i64::try_from(board.uptime().as_secs()).unwrap_or(i64::MAX));

        let mut out = Vec::with_capacity(4096);
        // Writing to memory fails only on a metric the registry already refused.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_is_reported_even_at_zero() {
        let text = Metrics::default().render(&StatusBoard::new(), 0);
        for s in SessionStatus::ALL {
            assert!(
                text.contains(&format!("lifeline_sessions{{state=\"{}\"}} 0", s.as_str())),
                "{text}"
            );
        }
    }

    #[test]
    fn histograms_are_cumulative_and_counters_follow_the_bus() {
        let m = Metrics::default();
        for ms in [5, 50, 5000] {
            m.event_lag(Duration::from_millis(ms));
        }
        let text = m.render(&StatusBoard::new(), 7);
        assert!(text.contains("lifeline_event_lag_seconds_bucket{le=\"0.01\"} 1\n"), "{text}");
        assert!(text.contains("lifeline_event_lag_seconds_bucket{le=\"0.1\"} 2\n"), "{text}");
        assert!(text.contains("lifeline_event_lag_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("lifeline_events_published_total 7\n"), "{text}");
        let again = m.render(&StatusBoard::new(), 9);
        assert!(again.contains("lifeline_events_published_total 9\n"), "{again}");
    }
}
