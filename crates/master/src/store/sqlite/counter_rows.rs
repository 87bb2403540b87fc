//! How counter rows are read and written: the statements of the minute and hour tables, the
//! rollup boundaries, which ranges a window reads, chunked scans and sums, multi-row upserts
//! and group ids. `counters.rs` builds the [`CounterStore`] on these.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use atlhyper_model::{SloCounters, SloGroupKey};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, Row};

use super::buckets::{decode_buckets, encode_buckets};
use super::{ceil_to, floor_to, parse_kind};
use crate::store::{HOUR_MS, StoreError, StoreResult};

/// Rows per multi-row `INSERT`, 7 parameters each.
pub(super) const ROWS_PER_INSERT: usize = 64;

// ---- counters ---------------------------------------------------------------------------

/// The two resolutions of counter rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resolution {
    Minute,
    Hour,
}

impl Resolution {
    fn sql(self) -> &'static CounterSql {
        match self {
            Self::Minute => &MINUTE_SQL,
            Self::Hour => &HOUR_SQL,
        }
    }
}

/// The statements of one counter table.
pub(super) struct CounterSql {
    table: &'static str,
    start: &'static str,
    /// What a corrupt row is reported as.
    what: &'static str,
    /// Rows of group `$1` with starts in `[$2, $3)`, by start: the columns of [`decode_row`].
    group_range: &'static str,
    /// Rows of the groups of cluster `$1` with starts in `[$2, $3)`: as `group_range`.
    cluster_range: &'static str,
    /// Per group of cluster `$1` over starts in `[$2, $3)`: group id, the sums of total,
    /// success, failure and observations, and every row's buckets joined with `;`. (CROSS
    /// JOIN: SQLite keeps that join order, so each group's rows are one primary-key range,
    /// and groups come in id order from `slo_groups_by_cluster`: no sorting.)
    cluster_sums: &'static str,
    /// As `cluster_sums` for every group, starts in `[$1, $2)`.
    all_sums: &'static str,
    /// The first start in `[$1, $2)`, any group.
    next_start: &'static str,
    /// Time span read per query when summing a window.
    chunk_ms: i64,
}

pub(super) static MINUTE_SQL: CounterSql = CounterSql {
    table: "slo_minutes",
    start: "minute_ms",
    what: "slo_minutes.buckets",
    group_range: "SELECT group_id, minute_ms, total, success, failure, observations, buckets \
        FROM slo_minutes WHERE group_id = $1 AND minute_ms >= $2 AND minute_ms < $3 ORDER BY minute_ms",
    cluster_range: "SELECT c.group_id, c.minute_ms, c.total, c.success, c.failure, c.observations, c.buckets \
        FROM slo_groups g CROSS JOIN slo_minutes c \
        WHERE c.group_id = g.id AND g.cluster_id = $1 AND c.minute_ms >= $2 AND c.minute_ms < $3",
    cluster_sums: "SELECT g.id, SUM(c.total), SUM(c.success), SUM(c.failure), SUM(c.observations), \
            group_concat(c.buckets, ';') \
        FROM slo_groups g CROSS JOIN slo_minutes c \
        WHERE c.group_id = g.id AND g.cluster_id = $1 AND c.minute_ms >= $2 AND c.minute_ms < $3 \
        GROUP BY g.id",
    all_sums: "SELECT g.id, SUM(c.total), SUM(c.success), SUM(c.failure), SUM(c.observations), \
            group_concat(c.buckets, ';') \
        FROM slo_groups g CROSS JOIN slo_minutes c \
        WHERE c.group_id = g.id AND c.minute_ms >= $1 AND c.minute_ms < $2 \
        GROUP BY g.id",
    next_start: "SELECT MIN(minute_ms) FROM slo_minutes WHERE minute_ms >= $1 AND minute_ms < $2",
    chunk_ms: HOUR_MS,
};

pub(super) static HOUR_SQL: CounterSql = CounterSql {
    table: "slo_hours",
    start: "hour_ms",
    what: "slo_hours.buckets",
    group_range: "SELECT group_id, hour_ms, total, success, failure, observations, buckets \
        FROM slo_hours WHERE group_id = $1 AND hour_ms >= $2 AND hour_ms < $3 ORDER BY hour_ms",
    cluster_range: "SELECT c.group_id, c.hour_ms, c.total, c.success, c.failure, c.observations, c.buckets \
        FROM slo_groups g CROSS JOIN slo_hours c \
        WHERE c.group_id = g.id AND g.cluster_id = $1 AND c.hour_ms >= $2 AND c.hour_ms < $3",
    cluster_sums: "SELECT g.id, SUM(c.total), SUM(c.success), SUM(c.failure), SUM(c.observations), \
            group_concat(c.buckets, ';') \
        FROM slo_groups g CROSS JOIN slo_hours c \
        WHERE c.group_id = g.id AND g.cluster_id = $1 AND c.hour_ms >= $2 AND c.hour_ms < $3 \
        GROUP BY g.id",
    all_sums: "SELECT g.id, SUM(c.total), SUM(c.success), SUM(c.failure), SUM(c.observations), \
            group_concat(c.buckets, ';') \
        FROM slo_groups g CROSS JOIN slo_hours c \
        WHERE c.group_id = g.id AND c.hour_ms >= $1 AND c.hour_ms < $2 \
        GROUP BY g.id",
    next_start: "SELECT MIN(hour_ms) FROM slo_hours WHERE hour_ms >= $1 AND hour_ms < $2",
    // The same number of rows per group as an hour of minutes.
    chunk_ms: 60 * HOUR_MS,
};

/// The two boundaries of `slo_rollup` (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Boundaries {
    /// Minutes exist from here on; before, only hours.
    pub(super) raw_from: i64,
    /// Every hour before this has its hourly rows.
    pub(super) rolled_until: i64,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Boundary {
    RawFrom,
    RolledUntil,
}

pub(super) async fn boundaries(conn: &mut SqliteConnection) -> StoreResult<Boundaries> {
    let (raw_from, rolled_until): (i64, i64) =
        sqlx::query_as("SELECT raw_from_ms, rolled_until_ms FROM slo_rollup WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
    Ok(Boundaries {
        raw_from,
        rolled_until,
    })
}

pub(super) async fn set_boundary(
    conn: &mut SqliteConnection,
    boundary: Boundary,
    value: i64,
) -> StoreResult<()> {
    let sql = match boundary {
        Boundary::RawFrom => "UPDATE slo_rollup SET raw_from_ms = $1 WHERE id = 1",
        Boundary::RolledUntil => "UPDATE slo_rollup SET rolled_until_ms = $1 WHERE id = 1",
    };
    sqlx::query(sql).bind(value).execute(&mut *conn).await?;
    Ok(())
}

/// What `window_counters` reads for `[from, to)`: hours by the start rule before `raw_from`
/// and the whole rolled-up hours inside the window, minutes for the rest. Each counter is in
/// exactly one of the ranges (hours and minutes overlap only between the two boundaries, and
/// there a whole hour is read from one table or the other).
pub(super) fn window_ranges(bounds: Boundaries, from: i64, to: i64) -> Vec<(Resolution, i64, i64)> {
    let Boundaries {
        raw_from,
        rolled_until,
    } = bounds;
    // Where minutes may be read.
    let minutes_from = from.max(raw_from);
    // Whole hours inside [minutes_from, to) that are rolled up: [whole_from, whole_to).
    let whole_from = ceil_to(minutes_from, HOUR_MS);
    let whole_to = floor_to(to, HOUR_MS).min(rolled_until);
    let mut ranges = Vec::with_capacity(3);
    if whole_from < whole_to {
        ranges.push((
            Resolution::Hour,
            if from < raw_from { from } else { whole_from },
            whole_to,
        ));
        ranges.push((Resolution::Minute, minutes_from, whole_from));
        ranges.push((Resolution::Minute, whole_to, to));
    } else {
        ranges.push((Resolution::Hour, from, to.min(raw_from)));
        ranges.push((Resolution::Minute, minutes_from, to));
    }
    ranges.retain(|&(_, lo, hi)| lo < hi);
    ranges
}

/// Which groups a scan reads.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope<'a> {
    Group(i64),
    Cluster(&'a str),
}

/// Calls `visit(group id, start, counters)` for every row of `resolution` in `[from, to)` in
/// `scope`. A cluster is read a chunk of time at a time, skipping empty stretches, so memory
/// stays bounded whatever the window.
pub(super) async fn scan(
    conn: &mut SqliteConnection,
    resolution: Resolution,
    scope: Scope<'_>,
    from: i64,
    to: i64,
    mut visit: impl FnMut(i64, i64, SloCounters) -> StoreResult<()>,
) -> StoreResult<()> {
    let sql = resolution.sql();
    let mut lo = from;
    while lo < to {
        let rows = match scope {
            Scope::Group(id) => {
                let rows = sqlx::query(sql.group_range)
                    .bind(id)
                    .bind(lo)
                    .bind(to)
                    .fetch_all(&mut *conn)
                    .await?;
                lo = to;
                rows
            }
            Scope::Cluster(cluster_id) => {
                let next: Option<i64> = sqlx::query_scalar(sql.next_start)
                    .bind(lo)
                    .bind(to)
                    .fetch_one(&mut *conn)
                    .await?;
                let Some(next) = next else { break };
                let hi = floor_to(next, sql.chunk_ms).saturating_add(sql.chunk_ms).min(to);
                let rows = sqlx::query(sql.cluster_range)
                    .bind(cluster_id)
                    .bind(next)
                    .bind(hi)
                    .fetch_all(&mut *conn)
                    .await?;
                lo = hi;
                rows
            }
        };
        for row in &rows {
            let (group_id, start, counters) = decode_row(row, resolution)?;
            visit(group_id, start, counters)?;
        }
    }
    Ok(())
}

/// Adds to `sums` (group id → counters) every row of `resolution` in `[from, to)`, of the
/// groups of `cluster_id` or of every group. SQLite sums and joins the rows of each group, a
/// chunk of time at a time (skipping empty stretches), so one row per group and chunk crosses
/// over however many minutes or hours the window has.
pub(super) async fn add_sums(
    conn: &mut SqliteConnection,
    resolution: Resolution,
    cluster_id: Option<&str>,
    from: i64,
    to: i64,
    sums: &mut HashMap<i64, SloCounters>,
) -> StoreResult<()> {
    let sql = resolution.sql();
    let mut lo = from;
    while lo < to {
        let next: Option<i64> = sqlx::query_scalar(sql.next_start)
            .bind(lo)
            .bind(to)
            .fetch_one(&mut *conn)
            .await?;
        let Some(next) = next else { break };
        let hi = floor_to(next, sql.chunk_ms).saturating_add(sql.chunk_ms).min(to);
        let rows = match cluster_id {
            Some(cluster_id) => {
                sqlx::query(sql.cluster_sums)
                    .bind(cluster_id)
                    .bind(next)
                    .bind(hi)
                    .fetch_all(&mut *conn)
                    .await?
            }
            None => {
                sqlx::query(sql.all_sums)
                    .bind(next)
                    .bind(hi)
                    .fetch_all(&mut *conn)
                    .await?
            }
        };
        lo = hi;
        for row in &rows {
            // The same as merging each row's counters (`SloCounters::merge`), without building them.
            let sum = sums.entry(row.try_get(0)?).or_default();
            sum.total += row.try_get::<f64, _>(1)?;
            sum.success += row.try_get::<f64, _>(2)?;
            sum.failure += row.try_get::<f64, _>(3)?;
            sum.observations += row.try_get::<f64, _>(4)?;
            let buckets: &str = row.try_get(5)?;
            for part in buckets.split(';') {
                decode_buckets(part, sum).map_err(|at| corrupt_buckets(resolution, part, at))?;
            }
        }
    }
    Ok(())
}

/// Adds `rows` ((group id, start) → counters, groups of `cluster_id`) to what `resolution`'s
/// table holds: reads the stored rows in the same range, merges, writes back.
pub(super) async fn add_rows(
    conn: &mut SqliteConnection,
    resolution: Resolution,
    cluster_id: &str,
    mut rows: BTreeMap<(i64, i64), SloCounters>,
) -> StoreResult<()> {
    let (Some(lo), Some(hi)) = (
        rows.keys().map(|&(_, start)| start).min(),
        rows.keys().map(|&(_, start)| start).max(),
    ) else {
        return Ok(());
    };
    let stored = sqlx::query(resolution.sql().cluster_range)
        .bind(cluster_id)
        .bind(lo)
        .bind(hi.saturating_add(1))
        .fetch_all(&mut *conn)
        .await?;
    for row in &stored {
        let key: (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        if let Some(sum) = rows.get_mut(&key) {
            let (_, _, counters) = decode_row(row, resolution)?;
            sum.merge(&counters);
        }
    }
    write_rows(conn, resolution, &rows).await?;
    Ok(())
}

/// Writes `rows` as they are (insert or replace) with multi-row upserts; returns how many.
pub(super) async fn write_rows(
    conn: &mut SqliteConnection,
    resolution: Resolution,
    rows: &BTreeMap<(i64, i64), SloCounters>,
) -> StoreResult<u64> {
    let rows: Vec<_> = rows.iter().collect();
    let full_sql = upsert_sql(resolution.sql(), ROWS_PER_INSERT);
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = if chunk.len() == ROWS_PER_INSERT {
            full_sql.clone()
        } else {
            upsert_sql(resolution.sql(), chunk.len())
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for ((group_id, start), counters) in chunk {
            query = query
                .bind(group_id)
                .bind(start)
                .bind(counters.total)
                .bind(counters.success)
                .bind(counters.failure)
                .bind(counters.observations)
                .bind(encode_buckets(counters));
        }
        query.execute(&mut *conn).await?;
    }
    Ok(rows.len() as u64)
}

/// `INSERT … VALUES (…), … ON CONFLICT DO UPDATE` for `rows` rows; only placeholders vary.
///
/// The one statement here with `?` placeholders: SQLite finds a numbered (`$n`) parameter
/// by a linear search, which made binding hundreds of them quadratic. A PostgreSQL store
/// generates `$n` here.
pub(super) fn upsert_sql(sql: &CounterSql, rows: usize) -> String {
    let (table, start) = (sql.table, sql.start);
    let mut out = format!(
        "INSERT INTO {table} (group_id, {start}, total, success, failure, observations, buckets) VALUES "
    );
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push_str("(?, ?, ?, ?, ?, ?, ?)");
    }
    let _ = write!(
        out,
        " ON CONFLICT (group_id, {start}) DO UPDATE SET total = excluded.total, \
         success = excluded.success, failure = excluded.failure, \
         observations = excluded.observations, buckets = excluded.buckets"
    );
    out
}

/// A counter row: group id, start, total, success, failure, observations, buckets.
pub(super) fn decode_row(row: &SqliteRow, resolution: Resolution) -> StoreResult<(i64, i64, SloCounters)> {
    let mut counters = SloCounters {
        total: row.try_get(2)?,
        success: row.try_get(3)?,
        failure: row.try_get(4)?,
        observations: row.try_get(5)?,
        buckets: Vec::new(),
    };
    let buckets: &str = row.try_get(6)?;
    decode_buckets(buckets, &mut counters).map_err(|at| corrupt_buckets(resolution, buckets, at))?;
    Ok((row.try_get(0)?, row.try_get(1)?, counters))
}

pub(super) fn corrupt_buckets(resolution: Resolution, text: &str, at: usize) -> StoreError {
    let shown: String = text.chars().take(200).collect();
    StoreError::Corrupt {
        what: resolution.sql().what,
        message: format!("expected [[le, count], ...] at byte {at} of {shown:?}"),
    }
}

pub(super) async fn cluster_groups(
    conn: &mut SqliteConnection,
    cluster_id: &str,
) -> StoreResult<HashMap<i64, SloGroupKey>> {
    let rows: Vec<(i64, String, String, String, String, String)> = sqlx::query_as(
        "SELECT id, type, source, source_namespace, target, namespace FROM slo_groups WHERE cluster_id = $1",
    )
    .bind(cluster_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(id, kind, source, source_namespace, target, namespace)| {
            let kind = parse_kind(kind, "slo_groups.type")?;
            Ok((
                id,
                SloGroupKey {
                    kind,
                    source,
                    source_namespace,
                    target,
                    namespace,
                },
            ))
        })
        .collect()
}

pub(super) async fn group_id(
    conn: &mut SqliteConnection,
    cluster_id: &str,
    key: &SloGroupKey,
) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM slo_groups WHERE cluster_id = $1 AND type = $2 AND source = $3 \
         AND source_namespace = $4 AND target = $5 AND namespace = $6",
    )
    .bind(cluster_id)
    .bind(key.kind.as_str())
    .bind(&key.source)
    .bind(&key.source_namespace)
    .bind(&key.target)
    .bind(&key.namespace)
    .fetch_optional(&mut *conn)
    .await?)
}

pub(super) async fn insert_group(
    conn: &mut SqliteConnection,
    cluster_id: &str,
    key: &SloGroupKey,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO slo_groups (cluster_id, type, source, source_namespace, target, namespace) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(cluster_id)
    .bind(key.kind.as_str())
    .bind(&key.source)
    .bind(&key.source_namespace)
    .bind(&key.target)
    .bind(&key.namespace)
    .fetch_one(&mut *conn)
    .await?)
}

pub(super) fn group_key(groups: &HashMap<i64, SloGroupKey>, group_id: i64) -> StoreResult<&SloGroupKey> {
    groups.get(&group_id).ok_or_else(|| StoreError::Corrupt {
        what: "slo_groups",
        message: format!("counter row of unknown group {group_id}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MINUTE_MS;

    #[test]
    fn upsert_has_seven_placeholders_per_row() {
        let sql = upsert_sql(&MINUTE_SQL, 2);
        assert!(
            sql.starts_with("INSERT INTO slo_minutes (group_id, minute_ms,"),
            "{sql}"
        );
        assert!(
            sql.contains("VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?) ON CONFLICT"),
            "{sql}"
        );
    }

    #[test]
    fn window_ranges_read_every_counter_once() {
        let h = HOUR_MS;
        let m = MINUTE_MS;
        let bounds = Boundaries {
            raw_from: 10 * h,
            rolled_until: 20 * h,
        };
        let ranges = |from, to| window_ranges(bounds, from, to);
        use Resolution::{Hour, Minute};
        // Entirely before raw_from: hours by their start.
        assert_eq!(ranges(2 * h + m, 9 * h + m), [(Hour, 2 * h + m, 9 * h + m)]);
        // Across raw_from and rolled_until, ragged ends.
        assert_eq!(
            ranges(5 * h + m, 22 * h + 5 * m),
            [(Hour, 5 * h + m, 20 * h), (Minute, 20 * h, 22 * h + 5 * m)]
        );
        // Inside the middle, ragged at both ends.
        assert_eq!(
            ranges(12 * h + 30 * m, 15 * h + 10 * m),
            [
                (Hour, 13 * h, 15 * h),
                (Minute, 12 * h + 30 * m, 13 * h),
                (Minute, 15 * h, 15 * h + 10 * m)
            ]
        );
        // Less than a whole rolled-up hour: minutes only.
        assert_eq!(
            ranges(12 * h + 30 * m, 13 * h + 10 * m),
            [(Minute, 12 * h + 30 * m, 13 * h + 10 * m)]
        );
        // After rolled_until: minutes only.
        assert_eq!(ranges(21 * h, 23 * h), [(Minute, 21 * h, 23 * h)]);
        // Nothing rolled up yet.
        let fresh = Boundaries {
            raw_from: i64::MIN,
            rolled_until: i64::MIN,
        };
        assert_eq!(window_ranges(fresh, 0, h), [(Minute, 0, h)]);
        assert!(window_ranges(bounds, 5 * h, 5 * h).is_empty());
        assert!(window_ranges(bounds, 6 * h, 5 * h).is_empty());
    }
}
