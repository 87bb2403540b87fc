//! The SQLite store on temporary files: idempotent ingest, windows equal to the sum of their
//! minutes before and after rollup, retention, durability across a SIGKILL, and the CRUD of
//! users, audit, targets and commands.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use atlhyper_master::store::prelude::*;
use atlhyper_master::store::{
    AuditFilter, AuditRecord, ClusterRecord, CommandRecord, CounterPoint, IngestOutcome, RetentionStats,
    SeqStats, SloTargetRecord, SqliteStore, StoreError, UserRecord,
};
use atlhyper_model::CommandStatus;
use atlhyper_model::{SloCounters, SloGroupKey, SloType, Timestamp};
use serde_json::json;

use crate::support::{
    HOUR_MS, MINUTE_MS, Rng, SECOND_MS, T0, group, ingress_key, keys, linkerd_counters, random_counters,
    service_key, snapshot, temp_store,
};

/// Expected values computed independently of the store: scalar sums, and buckets summed per
/// bound (the bounds used are exact binary numbers, so their bits identify them).
#[derive(Debug, Default, Clone, PartialEq)]
struct Sum {
    total: f64,
    success: f64,
    failure: f64,
    observations: f64,
    buckets: BTreeMap<u64, f64>,
}

impl Sum {
    fn add(&mut self, counters: &SloCounters) {
        self.total += counters.total;
        self.success += counters.success;
        self.failure += counters.failure;
        self.observations += counters.observations;
        for bucket in &counters.buckets {
            *self.buckets.entry(bucket.le.to_bits()).or_default() += bucket.count;
        }
    }

    fn of(counters: &SloCounters) -> Self {
        let mut sum = Self::default();
        sum.add(counters);
        sum
    }
}

fn sums(window: Vec<(SloGroupKey, SloCounters)>) -> BTreeMap<SloGroupKey, Sum> {
    window
        .into_iter()
        .map(|(key, counters)| (key, Sum::of(&counters)))
        .collect()
}

fn floor_hour(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// One counter entry as ingested: the minute it belongs to.
struct Input {
    minute: i64,
    key: SloGroupKey,
    counters: SloCounters,
}

/// What a window must hold: every input whose stored start (its minute, or its hour when the
/// minute is before the rollup `boundary`) is in `[from, to)`.
fn expected(inputs: &[Input], from: i64, to: i64, boundary: i64) -> BTreeMap<SloGroupKey, Sum> {
    let mut out: BTreeMap<SloGroupKey, Sum> = BTreeMap::new();
    for input in inputs {
        let start = if input.minute < boundary {
            floor_hour(input.minute)
        } else {
            input.minute
        };
        if (from..to).contains(&start) && input.counters.total > 0.0 {
            out.entry(input.key.clone()).or_default().add(&input.counters);
        }
    }
    out
}

async fn window(store: &SqliteStore, cluster: &str, from: i64, to: i64) -> BTreeMap<SloGroupKey, Sum> {
    sums(
        store
            .window_counters(cluster, Timestamp(from), Timestamp(to))
            .await
            .unwrap(),
    )
}

/// Every window equals the expected sums and the sum of its points.
async fn check_windows(store: &SqliteStore, inputs: &[Input], windows: &[(i64, i64)], raw_from: i64) {
    for &(from, to) in windows {
        let got = window(store, "prod", from, to).await;
        assert_eq!(got, expected(inputs, from, to, raw_from), "[{from}, {to})");
        let points = store
            .counter_points("prod", None, Timestamp(from), Timestamp(to))
            .await
            .unwrap();
        let mut from_points: BTreeMap<SloGroupKey, Sum> = BTreeMap::new();
        for p in &points {
            from_points.entry(p.key.clone()).or_default().add(&p.counters);
        }
        assert_eq!(got, from_points, "points of [{from}, {to})");
    }
}

fn one_group(
    cluster: &str,
    seq: u64,
    end_ms: i64,
    key: &SloGroupKey,
    total: f64,
) -> atlhyper_model::AgentSnapshot {
    snapshot(cluster, seq, end_ms, vec![group(key, linkerd_counters(total))])
}

#[tokio::test]
async fn ingest_is_idempotent_on_cluster_and_seq() {
    let t = temp_store().await;
    let key = service_key(1);
    let first = one_group("prod", 1, T0 + 30 * SECOND_MS, &key, 100.0);
    assert_eq!(t.store.ingest(&first).await.unwrap(), IngestOutcome::Stored);
    // The same seq again, even with other content, changes nothing.
    let mut again = one_group("prod", 1, T0 + 45 * SECOND_MS, &key, 500.0);
    again.dropped_snapshots = 9;
    assert_eq!(t.store.ingest(&again).await.unwrap(), IngestOutcome::Duplicate);
    assert_eq!(t.store.ingest(&first).await.unwrap(), IngestOutcome::Duplicate);
    // Another cluster may use the same seq.
    assert_eq!(
        t.store
            .ingest(&one_group("stage", 1, T0, &key, 1.0))
            .await
            .unwrap(),
        IngestOutcome::Stored
    );

    let window = window(&t.store, "prod", T0, T0 + HOUR_MS).await;
    assert_eq!(
        window,
        BTreeMap::from([(key.clone(), Sum::of(&linkerd_counters(100.0)))])
    );
    assert_eq!(t.store.latest_snapshot("prod").await.unwrap(), Some(first));
    let stats = t.store.seq_stats("prod").await.unwrap();
    assert_eq!(
        (stats.snapshots_received, stats.last_seq, stats.agent_dropped),
        (1, Some(1), 0)
    );
}

#[tokio::test]
async fn seq_stats_count_gaps_and_the_latest_snapshot_wins() {
    let t = temp_store().await;
    let key = ingress_key(0);
    assert_eq!(t.store.seq_stats("prod").await.unwrap(), SeqStats::default());
    assert_eq!(t.store.latest_snapshot("prod").await.unwrap(), None);
    // Out of order: 1, 4, 7, then a late 2.
    for (seq, dropped) in [(1, 0), (4, 2), (7, 5), (2, 9)] {
        let mut s = one_group("prod", seq, T0 + seq as i64 * 15 * SECOND_MS, &key, 10.0);
        s.dropped_snapshots = dropped;
        assert_eq!(t.store.ingest(&s).await.unwrap(), IngestOutcome::Stored);
    }
    let stats = t.store.seq_stats("prod").await.unwrap();
    assert_eq!(
        stats,
        SeqStats {
            last_seq: Some(7),
            snapshots_received: 4,
            seq_gaps: 3,
            agent_dropped: 5,
            last_snapshot_at: Some(Timestamp(T0 + 7 * 15 * SECOND_MS)),
        }
    );
    assert_eq!(t.store.latest_snapshot("prod").await.unwrap().unwrap().seq, 7);
    // The late ones still count.
    let total: f64 = window(&t.store, "prod", T0, T0 + HOUR_MS).await[&key].total;
    assert_eq!(total, 40.0);
}

#[tokio::test]
async fn window_equals_the_sum_of_its_minutes_before_and_after_rollup() {
    let t = temp_store().await;
    let store = &t.store;
    let keys = keys(12);
    let mut rng = Rng::new(0x5eed);
    let mut inputs = Vec::new();
    // A snapshot every 30 s for 4 h: 480 snapshots, random groups, some twice in one snapshot,
    // some all zero.
    for seq in 1..=480u64 {
        let end = T0 + seq as i64 * 30 * SECOND_MS;
        let mut groups = Vec::new();
        for key in &keys {
            let times = match rng.below(10) {
                0..=2 => 0,
                3 => 2,
                _ => 1,
            };
            for _ in 0..times {
                let counters = random_counters(&mut rng);
                inputs.push(Input {
                    minute: end.div_euclid(MINUTE_MS) * MINUTE_MS,
                    key: key.clone(),
                    counters: counters.clone(),
                });
                groups.push(group(key, counters));
            }
        }
        assert_eq!(
            store.ingest(&snapshot("prod", seq, end, groups)).await.unwrap(),
            IngestOutcome::Stored
        );
    }
    // Another cluster's counters never leak into this one's windows.
    store
        .ingest(&one_group("stage", 1, T0 + 90 * SECOND_MS, &keys[0], 1000.0))
        .await
        .unwrap();

    let mut windows = vec![
        (T0 - HOUR_MS, T0 + 5 * HOUR_MS),
        (T0, T0 + HOUR_MS),
        (T0 + HOUR_MS, T0 + 3 * HOUR_MS),
        (T0 + 17 * MINUTE_MS, T0 + 2 * HOUR_MS + 3 * MINUTE_MS),
        (T0 + 59 * MINUTE_MS + 30 * SECOND_MS, T0 + 61 * MINUTE_MS + 1),
        (T0 - HOUR_MS, T0),
        (T0 + 2 * HOUR_MS, T0 + HOUR_MS),
        (T0 + 2 * HOUR_MS, T0 + 3 * HOUR_MS),
        (T0 + 90 * MINUTE_MS, T0 + 3 * HOUR_MS + 20 * MINUTE_MS),
        (T0 + 2 * HOUR_MS + 10 * MINUTE_MS, T0 + 4 * HOUR_MS),
    ];
    for _ in 0..12 {
        let from = T0 + rng.below(260) as i64 * MINUTE_MS;
        windows.push((from, from + (1 + rng.below(120)) as i64 * MINUTE_MS));
    }
    let never = i64::MIN;
    check_windows(store, &inputs, &windows, never).await;
    // Every minute point of every group adds up to the same window.
    let points = store
        .counter_points("prod", None, Timestamp(T0), Timestamp(T0 + 5 * HOUR_MS))
        .await
        .unwrap();
    assert!(points.iter().all(|p| p.start_ms % MINUTE_MS == 0));
    assert!(
        points
            .windows(2)
            .all(|w| (w[0].start_ms, &w[0].key) < (w[1].start_ms, &w[1].key))
    );
    let mut from_points: BTreeMap<SloGroupKey, Sum> = BTreeMap::new();
    for p in &points {
        from_points.entry(p.key.clone()).or_default().add(&p.counters);
    }
    assert_eq!(from_points, expected(&inputs, T0, T0 + 5 * HOUR_MS, never));

    // Retention at T0+3h30 keeping 90 min of minutes: hours T0..T0+2h are rolled up (every
    // complete hour), the minutes of T0 and T0+1h deleted (older than 90 min).
    let raw_from = T0 + 2 * HOUR_MS;
    let stats = store
        .apply_retention(
            Timestamp(T0 + 3 * HOUR_MS + 30 * MINUTE_MS),
            90 * MINUTE_MS,
            90 * 24 * HOUR_MS,
        )
        .await
        .unwrap();
    let live = inputs.iter().filter(|i| i.counters.total > 0.0);
    let rolled_hours: BTreeSet<_> = live
        .clone()
        .filter(|i| i.minute < T0 + 3 * HOUR_MS)
        .map(|i| (&i.key, floor_hour(i.minute)))
        .collect();
    let deleted_minutes: BTreeSet<_> = live
        .filter(|i| i.minute < raw_from)
        .map(|i| (&i.key, i.minute))
        .collect();
    // (+1: the other cluster's minute.)
    assert_eq!(
        stats,
        RetentionStats {
            hours_rolled_up: rolled_hours.len() as u64 + 1,
            minutes_deleted: deleted_minutes.len() as u64 + 1,
            hours_deleted: 0,
        }
    );
    check_windows(store, &inputs, &windows, raw_from).await;
    for &(from, to) in &windows {
        if from % HOUR_MS == 0 && to % HOUR_MS == 0 {
            assert_eq!(
                expected(&inputs, from, to, raw_from),
                expected(&inputs, from, to, never),
                "aligned windows do not change"
            );
        }
    }
    // One group's points: hours before raw_from, minutes from it on.
    let key = &keys[3];
    let points = store
        .counter_points("prod", Some(key), Timestamp(T0), Timestamp(T0 + 5 * HOUR_MS))
        .await
        .unwrap();
    let starts: Vec<i64> = points.iter().map(|p| p.start_ms).collect();
    assert_eq!(&starts[..2], &[T0, T0 + HOUR_MS]);
    assert!(starts[2..].iter().all(|&s| s >= raw_from && s % MINUTE_MS == 0));
    assert!(points.iter().all(|p| &p.key == key));
    let mut total = Sum::default();
    for p in &points {
        total.add(&p.counters);
    }
    assert_eq!(total, expected(&inputs, T0, T0 + 5 * HOUR_MS, never)[key]);

    // Late snapshots: one for a minute already deleted lands in its hour; one for a minute
    // of an hour rolled up but still kept lands in both, and reads agree.
    for (seq, minute) in [
        (10_000, T0 + 30 * MINUTE_MS),
        (10_001, T0 + 2 * HOUR_MS + 30 * MINUTE_MS),
    ] {
        let late = linkerd_counters(7.0);
        let s = snapshot(
            "prod",
            seq,
            minute + 10 * SECOND_MS,
            vec![group(key, late.clone())],
        );
        store.ingest(&s).await.unwrap();
        inputs.push(Input {
            minute,
            key: key.clone(),
            counters: late,
        });
    }
    windows.push((
        T0 + 2 * HOUR_MS + 30 * MINUTE_MS,
        T0 + 2 * HOUR_MS + 31 * MINUTE_MS,
    ));
    check_windows(store, &inputs, &windows, raw_from).await;
    assert_eq!(
        store.first_counter_time("prod").await.unwrap(),
        Some(Timestamp(T0))
    );
    assert_eq!(store.first_counter_time("nowhere").await.unwrap(), None);
}

#[tokio::test]
async fn retention_rolls_up_complete_hours_and_deletes_what_is_old() {
    let t = temp_store().await;
    let store = &t.store;
    let (a, b, gone) = (service_key(1), ingress_key(2), service_key(3));
    // Minutes every 10 min from T0 to T0+30h for two groups; one group only at T0.
    let mut points = Vec::new();
    for i in 0..=180 {
        for key in [&a, &b] {
            points.push(CounterPoint {
                start_ms: T0 + i * 10 * MINUTE_MS,
                key: key.clone(),
                counters: linkerd_counters(10.0),
            });
        }
    }
    points.push(CounterPoint {
        start_ms: T0 + 5 * MINUTE_MS,
        key: gone.clone(),
        counters: linkerd_counters(3.0),
    });
    store.add_counters("prod", &points).await.unwrap();
    let all = (T0 - HOUR_MS, T0 + 40 * HOUR_MS);
    let before = window(store, "prod", all.0, all.1).await;

    // now = T0+30h25: hours T0..T0+29h are complete and rolled up.
    // now − raw (24 h) = T0+6h25: the minutes of T0..T0+5h go, those of T0+6h not yet.
    // now − hourly (28 h) = T0+2h25: hours T0 and T0+1h end before it.
    let now = Timestamp(T0 + 30 * HOUR_MS + 25 * MINUTE_MS);
    let stats = store
        .apply_retention(now, 24 * HOUR_MS, 28 * HOUR_MS)
        .await
        .unwrap();
    assert_eq!(
        stats,
        RetentionStats {
            hours_rolled_up: 30 * 2 + 1,
            minutes_deleted: 6 * 6 * 2 + 1,
            hours_deleted: 2 * 2 + 1
        }
    );
    assert_eq!(
        store
            .apply_retention(now, 24 * HOUR_MS, 28 * HOUR_MS)
            .await
            .unwrap(),
        RetentionStats::default()
    );
    assert_eq!(
        store.first_counter_time("prod").await.unwrap(),
        Some(Timestamp(T0 + 2 * HOUR_MS))
    );

    let points = store
        .counter_points("prod", Some(&a), Timestamp(all.0), Timestamp(all.1))
        .await
        .unwrap();
    let starts: Vec<i64> = points.iter().map(|p| p.start_ms).collect();
    let hours: Vec<i64> = (2..6).map(|h| T0 + h * HOUR_MS).collect();
    // The minutes of the incomplete hour stay, though older than 24 h.
    let minutes: Vec<i64> = (36..=180).map(|i| T0 + i * 10 * MINUTE_MS).collect();
    assert_eq!(starts, [hours, minutes].concat());
    assert_eq!(points[0].counters.total, 60.0);
    assert_eq!(points[0].counters.buckets.len(), 25);
    // What is left still sums to what was put in, minus the deleted hours.
    let after = window(store, "prod", all.0, all.1).await;
    assert_eq!(after.len(), 2, "the group with nothing left is gone");
    assert_eq!(after[&a].total, before[&a].total - 2.0 * 60.0);
    assert_eq!(
        window(store, "prod", T0 + 2 * HOUR_MS, all.1).await,
        after,
        "nothing is left before T0+2h"
    );

    // An hour later: hour T0+30h rolls up, the minutes of T0+6h go, hour T0+2h expires.
    let later = Timestamp(now.0 + HOUR_MS);
    let stats = store
        .apply_retention(later, 24 * HOUR_MS, 28 * HOUR_MS)
        .await
        .unwrap();
    assert_eq!(
        stats,
        RetentionStats {
            hours_rolled_up: 2,
            minutes_deleted: 12,
            hours_deleted: 2
        }
    );
    // A group that disappeared can come back.
    store
        .add_counters(
            "prod",
            &[CounterPoint {
                start_ms: now.0,
                key: gone.clone(),
                counters: linkerd_counters(1.0),
            }],
        )
        .await
        .unwrap();
    assert_eq!(window(store, "prod", now.0, later.0).await[&gone].total, 1.0);
}

const CRASH_CHILD_ENV: &str = "ATLHYPER_STORE_CRASH_CHILD";
const CRASH_ACKS: usize = 300;

/// The child side of [`acknowledged_snapshots_survive_sigkill`]: a no-op unless the parent
/// set the variable. Writes snapshots and prints `ack <seq>` after each `ingest` returned.
#[tokio::test]
async fn crash_child() {
    let Some(path) = std::env::var_os(CRASH_CHILD_ENV) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path)).await.unwrap();
    let keys = keys(20);
    for seq in 1..=100_000u64 {
        let groups = keys.iter().map(|k| group(k, linkerd_counters(1.0))).collect();
        let outcome = store
            .ingest(&snapshot("prod", seq, T0 + seq as i64 * SECOND_MS, groups))
            .await
            .unwrap();
        assert_eq!(outcome, IngestOutcome::Stored);
        let mut out = std::io::stdout().lock();
        writeln!(out, "ack {seq}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_snapshots_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "store::crash_child", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest's "test store::crash_child ... " may precede the first ack on its line.
            if let Some((_, seq)) = line.split_once("ack ") {
                tx.send(seq.parse::<u64>().unwrap()).unwrap();
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acked = Vec::new();
    while acked.len() < CRASH_ACKS {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(seq) => acked.push(seq),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the child stopped after {} acks: {e}", acked.len());
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no checkpoint.
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed: {status}");
    reader.join().unwrap();
    acked.extend(rx.try_iter()); // acks written before the kill
    let last = acked.len() as u64;
    assert_eq!(acked, (1..=last).collect::<Vec<_>>());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        let stats = store.seq_stats("prod").await.unwrap();
        // At most one snapshot was committed whose ack the kill swallowed.
        assert!(
            (last..=last + 1).contains(&stats.snapshots_received),
            "{stats:?}, {last} acked"
        );
        assert_eq!(stats.last_seq, Some(stats.snapshots_received));
        assert_eq!(stats.seq_gaps, 0);
        assert_eq!(
            store.latest_snapshot("prod").await.unwrap().unwrap().seq,
            stats.snapshots_received
        );
        // The counters committed with exactly the seqs that were.
        let window = store
            .window_counters("prod", Timestamp(T0), Timestamp(T0 + 48 * HOUR_MS))
            .await
            .unwrap();
        assert_eq!(window.len(), 20);
        assert!(
            window
                .iter()
                .all(|(_, c)| c.total == stats.snapshots_received as f64)
        );
        for &seq in &acked {
            let again = snapshot("prod", seq, T0, Vec::new());
            assert_eq!(
                store.ingest(&again).await.unwrap(),
                IngestOutcome::Duplicate,
                "seq {seq}"
            );
        }
    });
}

#[tokio::test]
async fn file_is_in_wal_mode_and_survives_reopening() {
    let t = temp_store().await;
    t.store
        .ingest(&one_group("prod", 1, T0, &service_key(0), 5.0))
        .await
        .unwrap();
    t.store.close().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(
            &sqlx::SqlitePool::connect(&format!("sqlite://{}", t.path.display()))
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let store = SqliteStore::open(&t.path).await.unwrap();
    assert_eq!(store.seq_stats("prod").await.unwrap().last_seq, Some(1));
}

#[tokio::test]
async fn bad_values_are_errors_and_corrupt_rows_are_reported() {
    let t = temp_store().await;
    let key = service_key(0);
    let too_big = one_group("prod", u64::MAX, T0, &key, 1.0);
    assert!(matches!(
        t.store.ingest(&too_big).await,
        Err(StoreError::Invalid { .. })
    ));
    let mut nan = linkerd_counters(1.0);
    nan.total = f64::NAN;
    let bad = snapshot("prod", 1, T0, vec![group(&key, nan)]);
    assert!(matches!(
        t.store.ingest(&bad).await,
        Err(StoreError::Invalid { .. })
    ));
    // Nothing of the refused snapshot was kept: seq 1 is still free.
    assert_eq!(
        t.store
            .ingest(&one_group("prod", 1, T0, &key, 1.0))
            .await
            .unwrap(),
        IngestOutcome::Stored
    );

    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", t.path.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE snapshot_latest SET body = '{not json'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE slo_minutes SET buckets = '[[1, \"x\"]]'")
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(
        t.store.latest_snapshot("prod").await,
        Err(StoreError::Corrupt { .. })
    ));
    let window = t
        .store
        .window_counters("prod", Timestamp(T0), Timestamp(T0 + HOUR_MS))
        .await;
    assert!(matches!(window, Err(StoreError::Corrupt { .. })), "{window:?}");
    sqlx::query("UPDATE slo_groups SET type = 'mesh'")
        .execute(&pool)
        .await
        .unwrap();
    let points = t
        .store
        .counter_points("prod", None, Timestamp(T0), Timestamp(T0 + HOUR_MS))
        .await;
    assert!(matches!(points, Err(StoreError::Corrupt { .. })), "{points:?}");
}

#[tokio::test]
async fn clusters_and_users() {
    let t = temp_store().await;
    let store = &t.store;
    let cluster = ClusterRecord {
        id: "prod".into(),
        name: "Production".into(),
        token_hash: "h1".into(),
        created_at: Timestamp(T0),
    };
    store.create_cluster(&cluster).await.unwrap();
    let dup = ClusterRecord {
        name: "Other".into(),
        ..cluster.clone()
    };
    assert!(matches!(
        store.create_cluster(&dup).await,
        Err(StoreError::Conflict { .. })
    ));
    let dev = ClusterRecord {
        id: "dev".into(),
        ..cluster.clone()
    };
    store.create_cluster(&dev).await.unwrap();
    assert_eq!(store.cluster("prod").await.unwrap(), Some(cluster.clone()));
    assert_eq!(store.cluster("nope").await.unwrap(), None);
    assert_eq!(store.clusters().await.unwrap(), vec![dev, cluster]);

    let admin = UserRecord {
        username: "admin".into(),
        password_hash: "$argon2id$x".into(),
        role: "admin".into(),
        created_at: Timestamp(T0),
    };
    store.create_user(&admin).await.unwrap();
    assert!(matches!(
        store.create_user(&admin).await,
        Err(StoreError::Conflict { .. })
    ));
    let bob = UserRecord {
        username: "bob".into(),
        role: "viewer".into(),
        ..admin.clone()
    };
    store.create_user(&bob).await.unwrap();
    store.set_user_role("bob", "operator").await.unwrap();
    store.set_user_password("bob", "$argon2id$y").await.unwrap();
    let got = store.user("bob").await.unwrap().unwrap();
    assert_eq!(
        (got.role.as_str(), got.password_hash.as_str()),
        ("operator", "$argon2id$y")
    );
    assert_eq!(
        store
            .users()
            .await
            .unwrap()
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["admin", "bob"]
    );
    for result in [
        store.set_user_role("carol", "admin").await,
        store.set_user_password("carol", "x").await,
        store.delete_user("carol").await,
    ] {
        assert!(matches!(result, Err(StoreError::NotFound { .. })), "{result:?}");
    }
    store.delete_user("bob").await.unwrap();
    assert_eq!(store.user("bob").await.unwrap(), None);
    assert!(matches!(
        store.delete_user("bob").await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn audit_filters_newest_first_with_limits() {
    let t = temp_store().await;
    let store = &t.store;
    let record = |at: i64, actor: &str, action: &str, target: &str| AuditRecord {
        id: 0,
        at: Timestamp(at),
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        source_addr: "10.0.0.1:5000".into(),
        result: "ok".into(),
        detail: String::new(),
    };
    let mut ids = Vec::new();
    for i in 0..1200 {
        let (actor, action) = if i % 3 == 0 {
            ("admin", "user.create")
        } else {
            ("ops", "command.restart")
        };
        ids.push(
            store
                .append_audit(&record(
                    T0 + i,
                    actor,
                    action,
                    &format!("cluster/prod/deploy/web-{i}"),
                ))
                .await
                .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // Same time: the later record first.
    let tie = store
        .append_audit(&record(T0 + 1199, "ops", "login", "user/ops"))
        .await
        .unwrap();

    let all = store.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(all.len(), 100);
    assert_eq!(all[0].id, tie);
    assert_eq!(all[1].at, Timestamp(T0 + 1199));
    assert!(all.windows(2).all(|w| (w[0].at, w[0].id) > (w[1].at, w[1].id)));
    let capped = store
        .audit(&AuditFilter {
            limit: 5000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(capped.len(), 1000);

    let filter = AuditFilter {
        actor: Some("admin".into()),
        action: Some("user.create".into()),
        target: Some("web-1".into()),
        since: Some(Timestamp(T0 + 100)),
        until: Some(Timestamp(T0 + 1100)),
        limit: 3,
    };
    let got = store.audit(&filter).await.unwrap();
    // admin records are i % 3 == 0; target contains "web-1"; 100 <= i < 1100: 1098, 1089, 1080…
    let want: Vec<i64> = (100..1100)
        .rev()
        .filter(|i| i % 3 == 0 && format!("web-{i}").contains("web-1"))
        .take(3)
        .collect();
    assert_eq!(got.iter().map(|r| r.at.0 - T0).collect::<Vec<_>>(), want);
    assert_eq!(got[0].source_addr, "10.0.0.1:5000");
    let none = store
        .audit(&AuditFilter {
            actor: Some("nobody".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn slo_targets_upsert_per_entry_and_default() {
    let t = temp_store().await;
    let store = &t.store;
    let target = |kind, source: Option<&str>, target: Option<&str>, availability| SloTargetRecord {
        cluster_id: "prod".into(),
        kind,
        source: source.map(Into::into),
        target: target.map(Into::into),
        availability,
        latency_p95_ms: None,
        period_days: 30,
        updated_by: "admin".into(),
        updated_at: Timestamp(T0),
    };
    store
        .put_slo_target(&target(SloType::Service, None, None, 99.9))
        .await
        .unwrap();
    store
        .put_slo_target(&target(SloType::Ingress, None, None, 99.5))
        .await
        .unwrap();
    // An ingress entry with an empty target is not the default.
    store
        .put_slo_target(&target(
            SloType::Ingress,
            Some("shop.example.com"),
            Some(""),
            99.0,
        ))
        .await
        .unwrap();
    store
        .put_slo_target(&target(SloType::Service, Some("web"), Some("api"), 99.0))
        .await
        .unwrap();
    // Updates: the default and one entry.
    let mut default = target(SloType::Service, None, None, 99.95);
    default.latency_p95_ms = Some(250.0);
    default.updated_at = Timestamp(T0 + 1);
    store.put_slo_target(&default).await.unwrap();
    store
        .put_slo_target(&target(SloType::Service, Some("web"), Some("api"), 98.0))
        .await
        .unwrap();

    let got = store.slo_targets("prod").await.unwrap();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(got.contains(&default));
    assert!(got.contains(&target(SloType::Service, Some("web"), Some("api"), 98.0)));
    assert!(got.contains(&target(
        SloType::Ingress,
        Some("shop.example.com"),
        Some(""),
        99.0
    )));
    assert!(got.contains(&target(SloType::Ingress, None, None, 99.5)));
    assert!(store.slo_targets("dev").await.unwrap().is_empty());
    let bad = target(SloType::Service, None, None, f64::NAN);
    assert!(matches!(
        store.put_slo_target(&bad).await,
        Err(StoreError::Invalid { .. })
    ));
}

#[tokio::test]
async fn commands_are_claimed_once_oldest_first() {
    let t = temp_store().await;
    let store = &t.store;
    let restart = |name: &str| {
        serde_json::from_value::<atlhyper_model::Command>(
            json!({"action": "restart", "kind": "Deployment", "namespace": "shop", "name": name}),
        )
        .unwrap()
    };
    let command = |id: &str, cluster: &str, created: i64| CommandRecord {
        id: id.into(),
        cluster_id: cluster.into(),
        command: restart(id),
        status: CommandStatus::Pending,
        created_by: "ops".into(),
        created_at: Timestamp(created),
        updated_at: Timestamp(created),
        result: None,
    };
    for (id, created) in [("c3", T0 + 3), ("c1", T0 + 1), ("c2", T0 + 2), ("c0", T0 + 2)] {
        store
            .enqueue_command(&command(id, "prod", created))
            .await
            .unwrap();
    }
    store.enqueue_command(&command("d1", "dev", T0)).await.unwrap();
    assert!(matches!(
        store.enqueue_command(&command("c1", "prod", T0)).await,
        Err(StoreError::Conflict { .. })
    ));

    assert!(
        store
            .claim_commands("prod", 0, Timestamp(T0 + 10))
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim_commands("prod", 3, Timestamp(T0 + 10)).await.unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c1", "c0", "c2"]
    );
    assert!(
        claimed
            .iter()
            .all(|c| c.status == CommandStatus::Running && c.updated_at == Timestamp(T0 + 10))
    );
    assert_eq!(claimed[0].command, restart("c1"));
    let rest = store
        .claim_commands("prod", 10, Timestamp(T0 + 11))
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["c3"]);
    assert!(
        store
            .claim_commands("prod", 10, Timestamp(T0 + 12))
            .await
            .unwrap()
            .is_empty()
    );

    let result = json!({"ok": true, "message": "restarted"});
    store
        .finish_command("c1", CommandStatus::Succeeded, &result, Timestamp(T0 + 20))
        .await
        .unwrap();
    let done = store.command("c1").await.unwrap().unwrap();
    assert_eq!(
        (done.status.as_str(), done.result.as_ref(), done.updated_at),
        ("succeeded", Some(&result), Timestamp(T0 + 20))
    );
    assert_eq!(done.created_at, Timestamp(T0 + 1));
    let missing = store
        .finish_command("nope", CommandStatus::Failed, &json!(null), Timestamp(T0))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    assert_eq!(store.command("nope").await.unwrap(), None);
    assert_eq!(
        store.command("d1").await.unwrap().unwrap().status,
        CommandStatus::Pending
    );
}
