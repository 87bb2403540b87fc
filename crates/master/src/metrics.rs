//! The master's own Prometheus metrics, written with `promtext`'s renderer.

use std::sync::atomic::{AtomicU64, Ordering};

use atlhyper_promtext::render_sample;

#[derive(Debug, Default)]
pub struct Metrics {
    pub snapshots_stored: AtomicU64,
    pub snapshots_duplicate: AtomicU64,
    pub snapshots_rejected: AtomicU64,
    pub snapshot_bytes: AtomicU64,
    pub heartbeats: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    pub logins_limited: AtomicU64,
    pub commands_queued: AtomicU64,
    pub commands_finished: AtomicU64,
    /// Stored snapshots the AIOps engine did not see because its queue was full.
    pub aiops_snapshots_dropped: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition format, with `clusters` and `online` gauges added by the caller.
    pub fn render(&self, clusters: usize, online: usize) -> String {
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        family(
            &mut out,
            "atlhyper_master_snapshots_total",
            "counter",
            "Agent snapshots received, by outcome.",
        );
        for (outcome, c) in [
            ("stored", &self.snapshots_stored),
            ("duplicate", &self.snapshots_duplicate),
            ("rejected", &self.snapshots_rejected),
        ] {
            render_sample(
                &mut out,
                "atlhyper_master_snapshots_total",
                &[("outcome", outcome)],
                get(c),
                None,
            );
        }
        family(
            &mut out,
            "atlhyper_master_snapshot_bytes_total",
            "counter",
            "Decompressed snapshot bytes accepted.",
        );
        render_sample(
            &mut out,
            "atlhyper_master_snapshot_bytes_total",
            &[],
            get(&self.snapshot_bytes),
            None,
        );
        family(
            &mut out,
            "atlhyper_master_heartbeats_total",
            "counter",
            "Agent heartbeats received.",
        );
        render_sample(
            &mut out,
            "atlhyper_master_heartbeats_total",
            &[],
            get(&self.heartbeats),
            None,
        );
        family(
            &mut out,
            "atlhyper_master_logins_total",
            "counter",
            "Login attempts, by outcome.",
        );
        for (outcome, c) in [
            ("ok", &self.logins_ok),
            ("failed", &self.logins_failed),
            ("rate_limited", &self.logins_limited),
        ] {
            render_sample(
                &mut out,
                "atlhyper_master_logins_total",
                &[("outcome", outcome)],
                get(c),
                None,
            );
        }
        family(
            &mut out,
            "atlhyper_master_commands_total",
            "counter",
            "Agent commands, by stage.",
        );
        render_sample(
            &mut out,
            "atlhyper_master_commands_total",
            &[("stage", "queued")],
            get(&self.commands_queued),
            None,
        );
        render_sample(
            &mut out,
            "atlhyper_master_commands_total",
            &[("stage", "finished")],
            get(&self.commands_finished),
            None,
        );
        family(
            &mut out,
            "atlhyper_master_aiops_snapshots_dropped_total",
            "counter",
            "Stored snapshots left out of the AIOps engine because its queue was full.",
        );
        render_sample(
            &mut out,
            "atlhyper_master_aiops_snapshots_dropped_total",
            &[],
            get(&self.aiops_snapshots_dropped),
            None,
        );
        family(
            &mut out,
            "atlhyper_master_clusters",
            "gauge",
            "Registered clusters.",
        );
        render_sample(&mut out, "atlhyper_master_clusters", &[], clusters as f64, None);
        family(
            &mut out,
            "atlhyper_master_clusters_online",
            "gauge",
            "Clusters whose agent showed a sign of life recently.",
        );
        render_sample(
            &mut out,
            "atlhyper_master_clusters_online",
            &[],
            online as f64,
            None,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_our_own_parser_reads() {
        let m = Metrics::default();
        Metrics::inc(&m.snapshots_stored);
        let text = m.render(2, 1);
        let scrape = atlhyper_promtext::parse(&text).unwrap();
        let stored = scrape
            .samples
            .iter()
            .find(|s| {
                s.name == "atlhyper_master_snapshots_total" && s.label("outcome").as_deref() == Some("stored")
            })
            .unwrap();
        assert_eq!(stored.value, 1.0);
    }
}
