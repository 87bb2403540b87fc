//! The agent's own `/healthz` and Prometheus `/metrics`: cycle and scrape figures, series
//! counts, spool size and drops, push outcomes.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::collect::CycleStats;

#[derive(Debug, Default)]
pub struct AgentMetrics {
    cycles: AtomicU64,
    /// Last cycle's duration in µs.
    cycle_micros: AtomicU64,
    cycle_micros_total: AtomicU64,
    targets: AtomicU64,
    failed_targets: AtomicU64,
    scrape_failures_total: AtomicU64,
    samples: AtomicU64,
    relevant_samples: AtomicU64,
    tracked_series: AtomicU64,
    discovery_errors_total: AtomicU64,
    spool_snapshots: AtomicU64,
    spool_bytes: AtomicU64,
    dropped_total: AtomicU64,
    pushed_total: AtomicU64,
    push_failures_total: AtomicU64,
    listen: OnceLock<SocketAddr>,
}

impl AgentMetrics {
    pub fn record_cycle(&self, stats: &CycleStats) {
        let micros = u64::try_from(stats.duration.as_micros()).unwrap_or(u64::MAX);
        self.cycles.fetch_add(1, Ordering::Relaxed);
        self.cycle_micros.store(micros, Ordering::Relaxed);
        self.cycle_micros_total.fetch_add(micros, Ordering::Relaxed);
        self.targets.store(stats.targets as u64, Ordering::Relaxed);
        self.failed_targets
            .store(stats.failed_targets as u64, Ordering::Relaxed);
        self.scrape_failures_total
            .fetch_add(stats.failed_targets as u64, Ordering::Relaxed);
        self.samples.store(stats.samples as u64, Ordering::Relaxed);
        self.relevant_samples
            .store(stats.relevant_samples as u64, Ordering::Relaxed);
        self.tracked_series
            .store(stats.tracked_series as u64, Ordering::Relaxed);
        self.discovery_errors_total
            .fetch_add(stats.discovery_errors as u64, Ordering::Relaxed);
    }

    pub fn set_spool(&self, snapshots: usize, bytes: u64, dropped: u64) {
        self.spool_snapshots.store(snapshots as u64, Ordering::Relaxed);
        self.spool_bytes.store(bytes, Ordering::Relaxed);
        self.dropped_total.store(dropped, Ordering::Relaxed);
    }

    pub fn pushed(&self) {
        self.pushed_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn push_failed(&self) {
        self.push_failures_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_listen_addr(&self, addr: SocketAddr) {
        let _ = self.listen.set(addr);
    }

    /// Where `/healthz` and `/metrics` are served, once listening.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.get().copied()
    }

    pub fn spooled(&self) -> u64 {
        self.spool_snapshots.load(Ordering::Relaxed)
    }

    /// The Prometheus text of every figure.
    pub fn render(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let seconds = |a: &AtomicU64| get(a) as f64 / 1e6;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        metric(
            "atlhyper_agent_cycles_total",
            "counter",
            "Collect cycles run.",
            get(&self.cycles) as f64,
        );
        metric(
            "atlhyper_agent_cycle_duration_seconds",
            "gauge",
            "Duration of the last collect cycle (discovery, scrapes, SLO window).",
            seconds(&self.cycle_micros),
        );
        metric(
            "atlhyper_agent_cycle_seconds_total",
            "counter",
            "Time spent in collect cycles.",
            seconds(&self.cycle_micros_total),
        );
        metric(
            "atlhyper_agent_targets",
            "gauge",
            "Targets in the last cycle.",
            get(&self.targets) as f64,
        );
        metric(
            "atlhyper_agent_targets_failed",
            "gauge",
            "Targets whose scrape failed in the last cycle.",
            get(&self.failed_targets) as f64,
        );
        metric(
            "atlhyper_agent_scrape_failures_total",
            "counter",
            "Failed scrapes.",
            get(&self.scrape_failures_total) as f64,
        );
        metric(
            "atlhyper_agent_samples",
            "gauge",
            "Samples read in the last cycle.",
            get(&self.samples) as f64,
        );
        metric(
            "atlhyper_agent_slo_samples",
            "gauge",
            "Samples of the last cycle that fed an SLO group.",
            get(&self.relevant_samples) as f64,
        );
        metric(
            "atlhyper_agent_tracked_series",
            "gauge",
            "Series with a baseline in the SLO window.",
            get(&self.tracked_series) as f64,
        );
        metric(
            "atlhyper_agent_discovery_errors_total",
            "counter",
            "Kubernetes discoveries that failed (the last target list was kept).",
            get(&self.discovery_errors_total) as f64,
        );
        metric(
            "atlhyper_agent_spool_snapshots",
            "gauge",
            "Snapshots waiting in the spool.",
            get(&self.spool_snapshots) as f64,
        );
        metric(
            "atlhyper_agent_spool_bytes",
            "gauge",
            "Bytes in the spool.",
            get(&self.spool_bytes) as f64,
        );
        metric(
            "atlhyper_agent_snapshots_dropped_total",
            "counter",
            "Snapshots dropped (spool over its bounds, or refused by the master).",
            get(&self.dropped_total) as f64,
        );
        metric(
            "atlhyper_agent_snapshots_pushed_total",
            "counter",
            "Snapshots the master acknowledged.",
            get(&self.pushed_total) as f64,
        );
        metric(
            "atlhyper_agent_push_failures_total",
            "counter",
            "Pushes that will be retried (master unreachable or overloaded).",
            get(&self.push_failures_total) as f64,
        );
        out
    }
}

pub fn router(metrics: Arc<AgentMetrics>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = Arc::clone(&metrics);
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                        metrics.render(),
                    )
                        .into_response()
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_render_as_parseable_prometheus_text() {
        let m = AgentMetrics::default();
        m.set_spool(3, 1234, 2);
        m.record_cycle(&CycleStats {
            targets: 10,
            failed_targets: 1,
            ..CycleStats::default()
        });
        let text = m.render();
        let scrape = atlhyper_promtext::parse(&text).unwrap();
        let value = |name: &str| scrape.samples.iter().find(|s| s.name == name).unwrap().value;
        assert_eq!(value("atlhyper_agent_spool_bytes"), 1234.0);
        assert_eq!(value("atlhyper_agent_snapshots_dropped_total"), 2.0);
        assert_eq!(value("atlhyper_agent_targets_failed"), 1.0);
    }
}
