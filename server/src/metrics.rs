//! Prometheus metrics: counters kept as the server runs, gauges read at scrape time.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
    hash::{Hash, Hasher},
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use app::{
    model::{SessionStatus, recovery::Trigger},
    policy::Schedule,
};
use chrono::Utc;

use crate::{
    daily_counts::{self, Today},
    status_board::StatusBoard,
};

/// Upper bounds of the HTTP latency buckets, in seconds.
const HTTP_BUCKETS: &[f64] =
    &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Upper bounds of the event delivery lag buckets, in seconds.
const LAG_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

/// A cumulative histogram.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: Duration) {
        let secs = value.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {total}");
    }
}

/// Every metric the server keeps. One per server.
#[derive(Debug)]
pub struct Metrics {
    connect_restore: AtomicU64,
    connect_reconnect: AtomicU64,
    recovery_manual: AtomicU64,
    recovery_watchdog: AtomicU64,
    ws_clients: AtomicI64,
    event_lag: Histogram,
    http: RwLock<HashMap<u64, HttpSeries>>,
    messages_received: AtomicU64,
    messages_sent: AtomicU64,
    /// The same messages, counted per UTC day for the deep report.
    today: Today,
}

/// One labelled HTTP latency series.
#[derive(Debug)]
struct HttpSeries {
    method: String,
    route: String,
    status: u16,
    histogram: Histogram,
}

impl HttpSeries {
    fn is(&self, method: &str, route: &str, status: u16) -> bool {
        self.status == status && self.method == method && self.route == route
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

/// Finds a series without building its labels: requests are counted on the hot path.
fn series_key(method: &str, route: &str, status: u16) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    (method, route, status).hash(&mut h);
    h.finish()
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connect_restore: AtomicU64::new(0),
            connect_reconnect: AtomicU64::new(0),
            recovery_manual: AtomicU64::new(0),
            recovery_watchdog: AtomicU64::new(0),
            ws_clients: AtomicI64::new(0),
            event_lag: Histogram::new(LAG_BUCKETS),
            http: RwLock::default(),
            messages_received: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            today: Today::new(Utc::now()),
        }
    }
}

impl Metrics {
    /// Counts a connection attempt made under `schedule`.
    pub fn connect_attempt(&self, schedule: Schedule) {
        match schedule {
            Schedule::Restore => &self.connect_restore,
            Schedule::Reconnect => &self.connect_reconnect,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a recovery attempt: the watchdog's (automatic) or a person's.
    pub fn recovery(&self, trigger: Trigger) {
        if trigger.is_automatic() { &self.recovery_watchdog } else { &self.recovery_manual }
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a message that arrived on a session.
    pub fn message_received(&self) {
        self.messages_received.fetch_add(1, Ordering::Relaxed);
        self.today.received(Utc::now());
    }

    /// Counts a message sent through Lifeline.
    pub fn message_sent(&self) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
        self.today.sent(Utc::now());
    }

    /// Today's message counts.
    pub fn today(&self) -> daily_counts::Counts {
        self.today.counts(Utc::now())
    }

    /// A WebSocket client connected (+1) or left (-1).
    pub fn ws_clients(&self, delta: i64) {
        self.ws_clients.fetch_add(delta, Ordering::Relaxed);
    }

    /// How long an event took from publication to a client's socket.
    pub fn event_lag(&self, lag: Duration) {
        self.event_lag.observe(lag);
    }

    /// Records one HTTP request. `route` is a route's pattern (or `unmatched`), never the
    /// path asked for, so the label sets stay bounded.
    pub fn http_request(
        &self,
        method: &axum::http::Method,
        route: &str,
        status: u16,
        took: Duration,
    ) {
        let method = method_label(method);
        let key = series_key(method, route, status);
        {
            let http = self.http.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = http.get(&key).filter(|s| s.is(method, route, status)) {
                series.histogram.observe(took);
                return;
            }
        }
        let mut http = self.http.write().unwrap_or_else(PoisonError::into_inner);
        let series = http.entry(key).or_insert_with(|| HttpSeries {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
            histogram: Histogram::new(HTTP_BUCKETS),
        });
        // A hash collision between two series (practically never) counts under the first.
        series.histogram.observe(took);
    }

    /// The Prometheus text exposition of everything, as of now.
    pub fn render(&self, board: &StatusBoard, events_published: u64) -> String {
        let mut out = String::with_capacity(4096);
        let mut by_state: BTreeMap<&str, u64> =
            SessionStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for view in board.list() {
            *by_state.entry(view.status.as_str()).or_default() += 1;
        }
        header(&mut out, "lifeline_sessions", "gauge", "Sessions by observed state.");
        for (state, n) in by_state {
            let _ = writeln!(out, "lifeline_sessions{{state=\"{state}\"}} {n}");
        }
        let tally = board.tally();
        header(
            &mut out,
            "lifeline_sessions_wanted",
            "gauge",
            "Sessions whose desired state is running.",
        );
        let _ = writeln!(out, "lifeline_sessions_wanted {}", tally.wanted);

        header(
            &mut out,
            "lifeline_connection_attempts_total",
            "counter",
            "Connection attempts, by schedule: restore (start, restore, operator) or reconnect (after a drop).",
        );
        let _ = writeln!(
            out,
            "lifeline_connection_attempts_total{{schedule=\"restore\"}} {}",
            self.connect_restore.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "lifeline_connection_attempts_total{{schedule=\"reconnect\"}} {}",
            self.connect_reconnect.load(Ordering::Relaxed)
        );

        header(&mut out, "lifeline_messages_total", "counter", "Messages, by direction.");
        for (direction, n) in [("received", &self.messages_received), ("sent", &self.messages_sent)]
        {
            let _ = writeln!(
                out,
                "lifeline_messages_total{{direction=\"{direction}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }

        header(
            &mut out,
            "lifeline_recovery_attempts_total",
            "counter",
            "Recovery attempts, by trigger.",
        );
        let _ = writeln!(
            out,
            "lifeline_recovery_attempts_total{{trigger=\"manual\"}} {}",
            self.recovery_manual.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "lifeline_recovery_attempts_total{{trigger=\"watchdog\"}} {}",
            self.recovery_watchdog.load(Ordering::Relaxed)
        );

        header(&mut out, "lifeline_websocket_clients", "gauge", "Connected WebSocket clients.");
        let _ =
            writeln!(out, "lifeline_websocket_clients {}", self.ws_clients.load(Ordering::Relaxed));

        header(
            &mut out,
            "lifeline_events_published_total",
            "counter",
            "Events published on the bus.",
        );
        let _ = writeln!(out, "lifeline_events_published_total {events_published}");

        header(
            &mut out,
            "lifeline_event_lag_seconds",
            "histogram",
            "Time from an event's publication to its delivery to a WebSocket client.",
        );
        self.event_lag.render(&mut out, "lifeline_event_lag_seconds", "");

        header(
            &mut out,
            "lifeline_database_up",
            "gauge",
            "Whether the database answered its last probe.",
        );
        let _ = writeln!(out, "lifeline_database_up {}", u8::from(board.database_ok()));
        header(
            &mut out,
            "lifeline_database_latency_seconds",
            "gauge",
            "Round trip of the last successful database probe.",
        );
        let _ = writeln!(
            out,
            "lifeline_database_latency_seconds {}",
            board.database_latency().as_secs_f64()
        );

        header(&mut out, "lifeline_uptime_seconds", "gauge", "Seconds since the server started.");
        let _ = writeln!(out, "lifeline_uptime_seconds {}", board.uptime().as_secs());

        header(
            &mut out,
            "lifeline_http_request_duration_seconds",
            "histogram",
            "HTTP request latency by method, route and status.",
        );
        let http = self.http.read().unwrap_or_else(PoisonError::into_inner);
        let mut series: Vec<&HttpSeries> = http.values().collect();
        series
            .sort_by(|a, b| (&a.route, &a.method, a.status).cmp(&(&b.route, &b.method, b.status)));
        for s in series {
            let labels = format!(
                "method=\"{}\",route=\"{}\",status=\"{}\"",
                escape(&s.method),
                escape(&s.route),
                s.status
            );
            s.histogram.render(&mut out, "lifeline_http_request_duration_seconds", &labels);
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value for the text format.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::new(&[0.01, 0.1]);
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_secs(5));
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.01\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 3\n"), "{out}");
    }

    #[test]
    fn every_state_is_reported_even_at_zero() {
        let text = Metrics::default().render(&StatusBoard::new(), 0);
        for s in SessionStatus::ALL {
            assert!(
                text.contains(&format!("lifeline_sessions{{state=\"{}\"}} 0", s.as_str())),
                "{text}"
            );
        }
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
