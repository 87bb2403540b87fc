//! The SQLite store on a temporary file, with realistic shapes:
//! * `ingest`: snapshots of 500 SLO groups (100 ingress domains, 400 service edges), each
//!   with its `slo` entry and counters with Linkerd's 26 latency buckets, one every 15 s, so
//!   that four snapshots add into each minute (read-modify-write);
//! * `query_7d`: 1,000 groups with 7 days of counters, the last 48 h as minutes and the five
//!   days before as hourly rollups (filled with `add_counters`, then `apply_retention`, as the
//!   master's retention job would leave them), queried the way the SLO detail page and the
//!   burn-rate rules do.
//!
//! Run with `cargo bench -p atlhyper-master --bench store`. Filling the 7-day store takes a
//! while; its time and size are printed first. To keep it between runs (when profiling the
//! queries, say), name a file in `ATLHYPER_STORE_BENCH_DB`: it is filled only when new.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Instant;

use atlhyper_master::store::prelude::*;
use atlhyper_master::store::{CounterPoint, HOUR_MS, MINUTE_MS, SqliteStore};
use atlhyper_model::{
    AgentSnapshot, GroupCounters, SNAPSHOT_VERSION, ServiceSlo, SloCounters, SloGroupKey, SloType,
    TargetHealth, Timestamp,
};
use divan::Bencher;
use divan::counter::ItemsCount;

fn main() {
    divan::main();
}

/// 2025-11-24T16:00:00Z.
const T0: i64 = 1_764_000_000_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const LINKERD_BUCKETS_MS: [f64; 25] = [
    1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 1000.0, 2000.0,
    3000.0, 4000.0, 5000.0, 10000.0, 20000.0, 30000.0, 40000.0, 50000.0,
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `n` keys: one in five an ingress domain, the rest (client workload → Service) edges.
fn keys(n: usize) -> Vec<SloGroupKey> {
    (0..n)
        .map(|i| {
            if i % 5 == 0 {
                SloGroupKey {
                    kind: SloType::Ingress,
                    source: format!("app-{i}.shop.example.com"),
                    source_namespace: String::new(),
                    target: format!("frontend-{}", i / 5),
                    namespace: "traefik".into(),
                }
            } else {
                SloGroupKey {
                    kind: SloType::Service,
                    source: format!("checkout-worker-{}", i / 7),
                    source_namespace: format!("team-{}", i % 13),
                    target: format!("inventory-api-{}", i % 97),
                    namespace: format!("team-{}", i % 11),
                }
            }
        })
        .collect()
}

/// Increases over `seconds` at `rps`: 0.5% failures, latencies spread over the buckets.
fn counters(rps: f64, seconds: f64) -> SloCounters {
    let total = (rps * seconds).round();
    let failure = (total * 0.005).round();
    let mut counters = SloCounters {
        total,
        success: total - failure,
        failure,
        observations: total,
        buckets: Vec::with_capacity(LINKERD_BUCKETS_MS.len()),
    };
    for (i, le) in LINKERD_BUCKETS_MS.into_iter().enumerate() {
        let share = ((i + 1) as f64 / LINKERD_BUCKETS_MS.len() as f64).powf(0.3);
        counters.add_bucket(le, (total * share).floor());
    }
    counters
}

fn entry(key: &SloGroupKey, counters: &SloCounters, at: Timestamp) -> ServiceSlo {
    ServiceSlo {
        kind: key.kind,
        source: key.source.clone(),
        source_namespace: key.source_namespace.clone(),
        target: key.target.clone(),
        namespace: key.namespace.clone(),
        success_rate: Some(99.5),
        latency_p50: Some(12.5),
        latency_p95: Some(48.0),
        latency_p99: Some(180.0),
        request_rate: counters.total / 15.0,
        total_requests: counters.total as u64,
        success_requests: counters.success as u64,
        timestamp: at,
    }
}

/// A snapshot as an agent of a 500-group cluster sends it every 15 s.
fn snapshot(keys: &[SloGroupKey]) -> AgentSnapshot {
    let at = Timestamp(T0);
    let groups: Vec<GroupCounters> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| GroupCounters {
            key: key.clone(),
            counters: counters(1.0 + (i % 40) as f64, 15.0),
        })
        .collect();
    AgentSnapshot {
        version: SNAPSHOT_VERSION,
        cluster_id: "prod".into(),
        seq: 0,
        taken_at: at,
        slo: groups.iter().map(|g| entry(&g.key, &g.counters, at)).collect(),
        slo_counters: groups,
        interval_start: Timestamp(T0 - 15_000),
        interval_end: at,
        dropped_snapshots: 0,
        targets: (0..40)
            .map(|i| TargetHealth {
                target: format!("http://10.1.{}.{}:4191/metrics", i / 250, i % 250),
                last_success: Some(at),
                last_error: None,
                duration_ms: 35.0,
                series: 1500,
            })
            .collect(),
        nodes: Vec::new(),
        node_series: Vec::new(),
        resources: None,
    }
}

#[divan::bench(sample_count = 40, sample_size = 3)]
fn ingest_snapshot_500_groups(bencher: Bencher<'_, '_>) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("ingest.db")))
        .expect("open");
    let template = snapshot(&keys(500));
    eprintln!(
        "snapshot JSON: {} bytes",
        serde_json::to_string(&template).expect("json").len()
    );
    let mut seq = 0u64;
    bencher
        .counter(ItemsCount::new(1usize))
        .with_inputs(|| {
            seq += 1;
            let mut snapshot = template.clone();
            let end = T0 + seq as i64 * 15_000;
            snapshot.seq = seq;
            snapshot.taken_at = Timestamp(end);
            snapshot.interval_start = Timestamp(end - 15_000);
            snapshot.interval_end = Timestamp(end);
            snapshot
        })
        .bench_local_values(|snapshot| rt.block_on(store.ingest(&snapshot)).expect("ingest"));
}

const QUERY_GROUPS: usize = 1000;
/// The end of the 7 days, on an hour boundary.
const NOW: i64 = T0 + 7 * DAY_MS;

struct Filled {
    rt: tokio::runtime::Runtime,
    store: SqliteStore,
    key: SloGroupKey,
    _dir: tempfile::TempDir,
}

static FILLED: LazyLock<Filled> = LazyLock::new(|| {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let kept = std::env::var_os("ATLHYPER_STORE_BENCH_DB").map(PathBuf::from);
    let path = kept.clone().unwrap_or_else(|| dir.path().join("query.db"));
    let reuse = kept.is_some() && path.exists();
    let store = rt.block_on(SqliteStore::open(&path)).expect("open");
    let keys = keys(QUERY_GROUPS);
    if reuse {
        eprintln!("query fixture: reusing {}", path.display());
        return Filled {
            rt,
            store,
            key: keys[7].clone(),
            _dir: dir,
        };
    }
    let started = Instant::now();
    rt.block_on(fill(&store, &keys));
    let filled = started.elapsed();
    let started = Instant::now();
    let stats = rt
        .block_on(store.apply_retention(Timestamp(NOW), 2 * DAY_MS, 90 * DAY_MS))
        .expect("retention");
    eprintln!(
        "query fixture: {QUERY_GROUPS} groups, filled in {filled:.1?}, rolled up in {:.1?} ({stats:?}), {} MB",
        started.elapsed(),
        file_mb(&path)
    );
    Filled {
        rt,
        store,
        key: keys[7].clone(),
        _dir: dir,
    }
});

/// Days 1–5 as one point per group and hour (rolled up by retention into hourly rows), the
/// last 48 h as one point per group and minute; one transaction per batch.
async fn fill(store: &SqliteStore, keys: &[SloGroupKey]) {
    let hour = &counters(10.0, 3600.0);
    let minute = &counters(10.0, 60.0);
    let raw_from = NOW - 2 * DAY_MS;
    for day in (T0..raw_from).step_by(DAY_MS as usize) {
        let points: Vec<CounterPoint> = (day..day + DAY_MS)
            .step_by(HOUR_MS as usize)
            .flat_map(|start| {
                keys.iter().map(move |key| CounterPoint {
                    start_ms: start,
                    key: key.clone(),
                    counters: hour.clone(),
                })
            })
            .collect();
        store.add_counters("prod", &points).await.expect("add hours");
    }
    for batch in (raw_from..NOW).step_by(HOUR_MS as usize) {
        let points: Vec<CounterPoint> = (batch..batch + HOUR_MS)
            .step_by(MINUTE_MS as usize)
            .flat_map(|start| {
                keys.iter().map(move |key| CounterPoint {
                    start_ms: start,
                    key: key.clone(),
                    counters: minute.clone(),
                })
            })
            .collect();
        store.add_counters("prod", &points).await.expect("add minutes");
    }
}

fn file_mb(path: &Path) -> u64 {
    let wal = path.with_extension("db-wal");
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    (size(path) + size(&wal)) / 1_000_000
}

mod query_7d {
    use super::*;

    /// The SLO detail page: one group's points over 7 days (120 hours + 2,880 minutes).
    #[divan::bench(sample_count = 30, sample_size = 1)]
    fn counter_points_one_group(bencher: Bencher<'_, '_>) {
        let f = &*FILLED;
        bencher.bench_local(|| {
            let points =
                f.rt.block_on(f.store.counter_points(
                    "prod",
                    Some(&f.key),
                    Timestamp(NOW - 7 * DAY_MS),
                    Timestamp(NOW),
                ))
                .expect("points");
            assert_eq!(points.len(), 120 + 2880);
            points
        });
    }

    /// Every group's 7-day sums: 120,000 hourly rows and 2.88 million minute rows.
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn window_counters_all_groups(bencher: Bencher<'_, '_>) {
        let f = &*FILLED;
        bencher.bench_local(|| {
            let sums =
                f.rt.block_on(
                    f.store
                        .window_counters("prod", Timestamp(NOW - 7 * DAY_MS), Timestamp(NOW)),
                )
                .expect("window");
            assert_eq!(sums.len(), QUERY_GROUPS);
            sums
        });
    }

    /// For comparison, a burn-rate window: every group's last hour (60,000 minute rows).
    #[divan::bench(sample_count = 10, sample_size = 1)]
    fn window_counters_all_groups_1h(bencher: Bencher<'_, '_>) {
        let f = &*FILLED;
        bencher.bench_local(|| {
            let sums =
                f.rt.block_on(
                    f.store
                        .window_counters("prod", Timestamp(NOW - HOUR_MS), Timestamp(NOW)),
                )
                .expect("window");
            assert_eq!(sums.len(), QUERY_GROUPS);
            sums
        });
    }
}
