//! Helpers shared by the integration tests: temporary stores and deterministic SLO data.
#![allow(dead_code)]

pub mod master;

use std::path::PathBuf;

use atlhyper_master::store::SqliteStore;
use atlhyper_model::{
    AgentSnapshot, GroupCounters, SNAPSHOT_VERSION, SloCounters, SloGroupKey, SloType, Timestamp,
};

/// 2025-11-24T16:00:00Z, on an hour boundary.
pub const T0: i64 = 1_764_000_000_000;
pub const SECOND_MS: i64 = 1000;
pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;

/// Linkerd's `response_latency_ms` bounds (with `+Inf`, 26 buckets).
pub const LINKERD_BUCKETS_MS: [f64; 25] = [
    1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 1000.0, 2000.0,
    3000.0, 4000.0, 5000.0, 10000.0, 20000.0, 30000.0, 40000.0, 50000.0,
];

/// Linkerd ≥ 2.16 route-metric bounds (seconds, here in ms): they overlap the classic ones.
pub const ROUTE_BUCKETS_MS: [f64; 8] = [50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

/// A store on a fresh file in a temporary directory (kept alive by the returned guard).
pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub store: SqliteStore,
}

pub async fn temp_store() -> TempStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("master.db");
    let store = SqliteStore::open(&path).await.expect("open store");
    TempStore { dir, path, store }
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }
}

pub fn service_key(i: usize) -> SloGroupKey {
    SloGroupKey {
        kind: SloType::Service,
        source: format!("web-{i}"),
        source_namespace: "shop".into(),
        target: format!("api-{}", i % 7),
        namespace: if i.is_multiple_of(2) {
            "shop".into()
        } else {
            "payments".into()
        },
    }
}

pub fn ingress_key(i: usize) -> SloGroupKey {
    SloGroupKey {
        kind: SloType::Ingress,
        source: format!("app{i}.example.com"),
        source_namespace: String::new(),
        target: if i.is_multiple_of(3) {
            String::new()
        } else {
            format!("frontend-{i}")
        },
        namespace: "traefik".into(),
    }
}

/// `n` distinct keys, half ingress, half service.
pub fn keys(n: usize) -> Vec<SloGroupKey> {
    (0..n)
        .map(|i| {
            if i.is_multiple_of(2) {
                ingress_key(i)
            } else {
                service_key(i)
            }
        })
        .collect()
}

/// Integer-valued counters (so that sums in f64 are exact), with cumulative buckets in one of
/// three layouts (all Linkerd bounds, every other one, route bounds) so that merging has to
/// match bounds by number. `total == 0` makes all of it zero.
pub fn random_counters(rng: &mut Rng) -> SloCounters {
    let total = rng.below(40) as f64;
    let failure = rng.below(total as u64 / 4 + 1) as f64;
    let bounds: Vec<f64> = match rng.below(3) {
        0 => LINKERD_BUCKETS_MS.to_vec(),
        1 => LINKERD_BUCKETS_MS.iter().copied().step_by(2).collect(),
        _ => ROUTE_BUCKETS_MS.to_vec(),
    };
    let mut counters = SloCounters {
        total,
        success: total - failure,
        failure,
        observations: total,
        buckets: Vec::new(),
    };
    let mut cumulative = 0.0;
    for le in bounds {
        cumulative = (cumulative + rng.below(6) as f64).min(total);
        counters.add_bucket(le, cumulative);
    }
    counters
}

/// Counters shaped like a busy Linkerd edge over 15 s: every one of the 25 finite buckets.
pub fn linkerd_counters(total: f64) -> SloCounters {
    let mut counters = SloCounters {
        total,
        success: total - (total / 100.0).floor(),
        failure: (total / 100.0).floor(),
        observations: total,
        buckets: Vec::with_capacity(LINKERD_BUCKETS_MS.len()),
    };
    for (i, le) in LINKERD_BUCKETS_MS.into_iter().enumerate() {
        let share = ((i + 1) as f64 / LINKERD_BUCKETS_MS.len() as f64).sqrt();
        counters.add_bucket(le, (total * share).floor());
    }
    counters
}

/// A snapshot of `cluster` whose counters cover the 15 s before `interval_end_ms`.
pub fn snapshot(
    cluster: &str,
    seq: u64,
    interval_end_ms: i64,
    counters: Vec<GroupCounters>,
) -> AgentSnapshot {
    AgentSnapshot {
        version: SNAPSHOT_VERSION,
        cluster_id: cluster.into(),
        seq,
        taken_at: Timestamp(interval_end_ms),
        slo: Vec::new(),
        slo_counters: counters,
        interval_start: Timestamp(interval_end_ms - 15 * SECOND_MS),
        interval_end: Timestamp(interval_end_ms),
        dropped_snapshots: 0,
        targets: Vec::new(),
        nodes: Vec::new(),
        node_series: Vec::new(),
        resources: None,
    }
}

pub fn group(key: &SloGroupKey, counters: SloCounters) -> GroupCounters {
    GroupCounters {
        key: key.clone(),
        counters,
    }
}
