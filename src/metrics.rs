//! Prometheus metrics, served on their own listener (`--metrics-bind`, off by default) so the
//! API port never exposes them. Counters and histograms are updated as requests finish; the
//! gauges (sessions, stored bytes, index lag, writer queue) are read when scraped.
//!
//! Each server has its own registry (no process-global recorder), so tests can run many.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pushes: IntCounterVec,
    pushed_bytes: IntCounterVec,
    sessions: IntGauge,
    stored_bytes: IntGauge,
    stored_archives: IntGauge,
    index_lag: IntGauge,
    writer_queue: IntGauge,
}

/// Values read at scrape time.
pub struct Gauges {
    pub sessions: i64,
    pub stored_archives: i64,
    pub stored_bytes: i64,
    pub index_lag: i64,
    pub writer_queue: i64,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("sessionfs".into()), None).expect("valid prefix");
        let requests = register(
            &registry,
            IntCounterVec::new(
                Opts::new("http_requests_total", "HTTP requests by route and status"),
                &["method", "route", "status"],
            )
            .expect("valid metric"),
        );
        let latency = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "http_request_duration_seconds",
                    "HTTP request latency by route",
                )
                .buckets(vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0,
                ]),
                &["method", "route"],
            )
            .expect("valid metric"),
        );
        let pushes = register(
            &registry,
            IntCounterVec::new(
                Opts::new("pushes_total", "Session pushes by outcome"),
                &["outcome"],
            )
            .expect("valid metric"),
        );
        let pushed_bytes = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "pushed_bytes_total",
                    "Archive bytes received by accepted pushes",
                ),
                &["outcome"],
            )
            .expect("valid metric"),
        );
        let gauge = |name: &str, help: &str| {
            register(&registry, IntGauge::new(name, help).expect("valid metric"))
        };
        Metrics {
            sessions: gauge("sessions", "Live (not deleted) sessions"),
            stored_bytes: gauge(
                "archive_bytes_stored",
                "Bytes of distinct archives referenced by sessions",
            ),
            stored_archives: gauge(
                "archives_stored",
                "Distinct archives referenced by sessions",
            ),
            index_lag: gauge(
                "search_index_lag",
                "Search index changes queued but not yet committed",
            ),
            writer_queue: gauge(
                "db_writer_queue_depth",
                "Writes waiting for the database writer",
            ),
            registry,
            requests,
            latency,
            pushes,
            pushed_bytes,
        }
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// `outcome`: `created` or `updated`.
    pub fn record_push(&self, outcome: &str, bytes: u64) {
        self.pushes.with_label_values(&[outcome]).inc();
        self.pushed_bytes
            .with_label_values(&[outcome])
            .inc_by(bytes);
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self, gauges: &Gauges) -> String {
        self.sessions.set(gauges.sessions);
        self.stored_archives.set(gauges.stored_archives);
        self.stored_bytes.set(gauges.stored_bytes);
        self.index_lag.set(gauges.index_lag);
        self.writer_queue.set(gauges.writer_queue);
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding of metrics");
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_named_series() {
        let m = Metrics::new();
        m.observe_request("GET", "/api/v1/sessions", 200, 0.01);
        m.record_push("created", 814);
        let text = m.render(&Gauges {
            sessions: 3,
            stored_archives: 2,
            stored_bytes: 1000,
            index_lag: 0,
            writer_queue: 1,
        });
        assert!(text.contains(
            r#"sessionfs_http_requests_total{method="GET",route="/api/v1/sessions",status="200"} 1"#
        ));
        assert!(text.contains("sessionfs_http_request_duration_seconds_bucket"));
        assert!(text.contains(r#"sessionfs_pushes_total{outcome="created"} 1"#));
        assert!(text.contains("sessionfs_sessions 3"));
        assert!(text.contains("sessionfs_archive_bytes_stored 1000"));
        assert!(text.contains("sessionfs_db_writer_queue_depth 1"));
    }
}
