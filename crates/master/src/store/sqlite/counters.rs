//! The SLO counter engine: minute and hour rows, rollups, retention and window sums (the
//! module documentation of `sqlite` has the boundaries).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use atlhyper_model::{SloCounters, SloGroupKey, Timestamp};
use sqlx::sqlite::SqliteConnection;

use super::counter_rows::*;
use super::{SqliteStore, floor_to};
use crate::store::{CounterPoint, CounterStore, HOUR_MS, MINUTE_MS, RetentionStats, StoreError, StoreResult};

#[async_trait]
impl CounterStore for SqliteStore {
    async fn counter_points(
        &self,
        cluster_id: &str,
        key: Option<&SloGroupKey>,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<CounterPoint>> {
        // One read transaction: one consistent view of the boundary and both tables.
        let mut tx = self.pool.begin().await?;
        let (groups, scope) = match key {
            Some(key) => {
                let Some(id) = group_id(&mut tx, cluster_id, key).await? else {
                    return Ok(Vec::new());
                };
                (HashMap::from([(id, key.clone())]), Scope::Group(id))
            }
            None => (
                cluster_groups(&mut tx, cluster_id).await?,
                Scope::Cluster(cluster_id),
            ),
        };
        let raw_from = boundaries(&mut tx).await?.raw_from;
        let mut points = Vec::new();
        for (resolution, from, to) in [
            (Resolution::Hour, from.0, to.0.min(raw_from)),
            (Resolution::Minute, from.0.max(raw_from), to.0),
        ] {
            scan(
                &mut tx,
                resolution,
                scope,
                from,
                to,
                |group_id, start_ms, counters| {
                    let key = group_key(&groups, group_id)?.clone();
                    points.push(CounterPoint {
                        start_ms,
                        key,
                        counters,
                    });
                    Ok(())
                },
            )
            .await?;
        }
        tx.commit().await?;
        points.sort_by(|a, b| a.start_ms.cmp(&b.start_ms).then_with(|| a.key.cmp(&b.key)));
        Ok(points)
    }

    async fn window_counters(
        &self,
        cluster_id: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<(SloGroupKey, SloCounters)>> {
        let mut tx = self.pool.begin().await?;
        let groups = cluster_groups(&mut tx, cluster_id).await?;
        let bounds = boundaries(&mut tx).await?;
        let mut sums: HashMap<i64, SloCounters> = HashMap::new();
        for (resolution, from, to) in window_ranges(bounds, from.0, to.0) {
            add_sums(&mut tx, resolution, Some(cluster_id), from, to, &mut sums).await?;
        }
        tx.commit().await?;
        let mut out = sums
            .into_iter()
            .map(|(group_id, counters)| Ok((group_key(&groups, group_id)?.clone(), counters)))
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn first_counter_time(&self, cluster_id: &str) -> StoreResult<Option<Timestamp>> {
        // Per group, MIN over the primary key is one index lookup.
        let first: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(t) FROM ( \
                 SELECT (SELECT MIN(m.minute_ms) FROM slo_minutes m WHERE m.group_id = g.id) AS t \
                 FROM slo_groups g WHERE g.cluster_id = $1 \
                 UNION ALL \
                 SELECT (SELECT MIN(h.hour_ms) FROM slo_hours h WHERE h.group_id = g.id) AS t \
                 FROM slo_groups g WHERE g.cluster_id = $1 \
             ) AS firsts",
        )
        .bind(cluster_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(first.map(Timestamp))
    }

    async fn apply_retention(
        &self,
        now: Timestamp,
        raw_keep_ms: i64,
        hourly_keep_ms: i64,
    ) -> StoreResult<RetentionStats> {
        let mut stats = RetentionStats::default();
        // One transaction per hour keeps the write lock short for ingest.
        // Every complete hour: every hour that ends by `now`.
        let complete = floor_to(now.0, HOUR_MS);
        while let Some(written) = self.roll_up_next_hour(complete).await? {
            stats.hours_rolled_up += written;
        }
        // Minutes of the hours that end by `now - raw_keep_ms`.
        let raw_cut = floor_to(now.0.saturating_sub(raw_keep_ms.max(0)), HOUR_MS);
        while let Some(deleted) = self.delete_next_raw_hour(raw_cut).await? {
            stats.minutes_deleted += deleted;
        }
        let hourly_cut = floor_to(now.0.saturating_sub(hourly_keep_ms.max(0)), HOUR_MS);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        stats.hours_deleted = sqlx::query("DELETE FROM slo_hours WHERE hour_ms < $1")
            .bind(hourly_cut)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // Groups left without counters.
        sqlx::query(
            "DELETE FROM slo_groups \
             WHERE NOT EXISTS (SELECT 1 FROM slo_minutes m WHERE m.group_id = slo_groups.id) \
             AND NOT EXISTS (SELECT 1 FROM slo_hours h WHERE h.group_id = slo_groups.id)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stats)
    }
}

impl SqliteStore {
    /// Adds counters to the cluster's groups in one transaction, as ingest does: each point
    /// into the minute of its `start_ms` (floored), or that minute's hour when it was already
    /// rolled up. For imports, tests and benchmarks; no seq is recorded.
    pub async fn add_counters(&self, cluster_id: &str, points: &[CounterPoint]) -> StoreResult<()> {
        let mut entries = Vec::with_capacity(points.len());
        for point in points {
            check_counters(&point.counters)?;
            if !is_empty(&point.counters) {
                entries.push((floor_to(point.start_ms, MINUTE_MS), &point.key, &point.counters));
            }
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        add_entries(&mut tx, cluster_id, &entries).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rolls up the oldest complete hour not rolled up yet that has minutes before `until`
    /// (an hour boundary) and moves `rolled_until` past it, in one transaction. Returns the
    /// hourly rows written, `None` when no such hour was left (`rolled_until` is then at least
    /// `until`).
    async fn roll_up_next_hour(&self, until: i64) -> StoreResult<Option<u64>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let bounds = boundaries(&mut tx).await?;
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(minute_ms) FROM slo_minutes WHERE minute_ms >= $1 AND minute_ms < $2",
        )
        .bind(bounds.rolled_until)
        .bind(until)
        .fetch_one(&mut *tx)
        .await?;
        let Some(next) = next else {
            if until > bounds.rolled_until {
                set_boundary(&mut tx, Boundary::RolledUntil, until).await?;
            }
            tx.commit().await?;
            return Ok(None);
        };
        // Hours from `rolled_until` on have no hourly rows yet: the sums are written as they are.
        let hour = floor_to(next, HOUR_MS);
        let end = hour.saturating_add(HOUR_MS);
        let mut sums = HashMap::new();
        add_sums(&mut tx, Resolution::Minute, None, hour, end, &mut sums).await?;
        let rows: BTreeMap<(i64, i64), SloCounters> = sums
            .into_iter()
            .map(|(group_id, counters)| ((group_id, hour), counters))
            .collect();
        let written = write_rows(&mut tx, Resolution::Hour, &rows).await?;
        set_boundary(&mut tx, Boundary::RolledUntil, end).await?;
        tx.commit().await?;
        Ok(Some(written))
    }

    /// Deletes the minutes of the oldest hour that has minutes before `until` (an hour
    /// boundary, capped at `rolled_until`) and moves `raw_from` past it, in one transaction.
    /// Returns the minutes deleted, `None` when none were left.
    async fn delete_next_raw_hour(&self, until: i64) -> StoreResult<Option<u64>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let bounds = boundaries(&mut tx).await?;
        let until = until.min(bounds.rolled_until);
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MIN(minute_ms) FROM slo_minutes WHERE minute_ms < $1")
                .bind(until)
                .fetch_one(&mut *tx)
                .await?;
        let Some(next) = next else {
            if until > bounds.raw_from {
                set_boundary(&mut tx, Boundary::RawFrom, until).await?;
            }
            tx.commit().await?;
            return Ok(None);
        };
        let hour = floor_to(next, HOUR_MS);
        let end = hour.saturating_add(HOUR_MS);
        let deleted = sqlx::query("DELETE FROM slo_minutes WHERE minute_ms >= $1 AND minute_ms < $2")
            .bind(hour)
            .bind(end)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if end > bounds.raw_from {
            set_boundary(&mut tx, Boundary::RawFrom, end).await?;
        }
        tx.commit().await?;
        Ok(Some(deleted))
    }
}

/// Adds `(minute, key, counters)` entries of one cluster: into the minute when it is at or
/// after `raw_from`, into its hour when that is before `rolled_until` (both, in between).
/// Creates groups as needed.
pub(super) async fn add_entries(
    conn: &mut SqliteConnection,
    cluster_id: &str,
    entries: &[(i64, &SloGroupKey, &SloCounters)],
) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let bounds = boundaries(conn).await?;
    let mut ids: HashMap<SloGroupKey, i64> = cluster_groups(conn, cluster_id)
        .await?
        .into_iter()
        .map(|(id, key)| (key, id))
        .collect();
    let mut minutes: BTreeMap<(i64, i64), SloCounters> = BTreeMap::new();
    let mut hours: BTreeMap<(i64, i64), SloCounters> = BTreeMap::new();
    for &(minute, key, counters) in entries {
        let id = match ids.get(key) {
            Some(&id) => id,
            None => {
                let id = insert_group(conn, cluster_id, key).await?;
                ids.insert(key.clone(), id);
                id
            }
        };
        if minute >= bounds.raw_from {
            minutes.entry((id, minute)).or_default().merge(counters);
        }
        if minute < bounds.rolled_until {
            hours
                .entry((id, floor_to(minute, HOUR_MS)))
                .or_default()
                .merge(counters);
        }
    }
    add_rows(conn, Resolution::Minute, cluster_id, minutes).await?;
    add_rows(conn, Resolution::Hour, cluster_id, hours).await?;
    Ok(())
}

/// Counters must be finite to be stored (JSON and REAL columns have no NaN or infinity).
pub(super) fn check_counters(counters: &SloCounters) -> StoreResult<()> {
    let scalars = [
        counters.total,
        counters.success,
        counters.failure,
        counters.observations,
    ];
    let buckets = counters.buckets.iter().flat_map(|b| [b.le, b.count]);
    if scalars.into_iter().chain(buckets).all(f64::is_finite) {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            what: "slo counters",
            message: "counters and bucket bounds must be finite numbers".into(),
        })
    }
}

/// Adds nothing: no row needed.
pub(super) fn is_empty(counters: &SloCounters) -> bool {
    counters.is_zero() && counters.buckets.iter().all(|b| b.count == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlhyper_model::SloType;

    #[tokio::test]
    async fn in_memory_store_round_trips_counters() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let key = SloGroupKey {
            kind: SloType::Service,
            source: "web".into(),
            source_namespace: "shop".into(),
            target: "api".into(),
            namespace: "shop".into(),
        };
        let mut counters = SloCounters {
            total: 2.0,
            success: 2.0,
            observations: 2.0,
            ..Default::default()
        };
        counters.add_bucket(10.0, 1.0);
        counters.add_bucket(100.0, 2.0);
        let point = CounterPoint {
            start_ms: 90_000,
            key: key.clone(),
            counters: counters.clone(),
        };
        store.add_counters("c", &[point.clone(), point]).await.unwrap();
        let points = store
            .counter_points("c", Some(&key), Timestamp(0), Timestamp(HOUR_MS))
            .await
            .unwrap();
        let mut twice = counters.clone();
        twice.merge(&counters);
        assert_eq!(
            points,
            vec![CounterPoint {
                start_ms: 60_000,
                key,
                counters: twice
            }]
        );
    }
}
