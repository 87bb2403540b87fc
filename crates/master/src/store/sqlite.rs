//! [`Store`] on SQLite: one file in WAL mode with `synchronous = FULL`, so a write is on disk
//! when the call that made it returns, and a small pool of connections (one writer at a time,
//! readers beside it).
//!
//! Statements are runtime queries with `$1, $2…` placeholders so that a PostgreSQL store can
//! share them; timestamps are INTEGER milliseconds, JSON is TEXT. The schema is in
//! `migrations/sqlite`.
//!
//! SLO counters live in two tables of the same shape, `slo_minutes` and `slo_hours`, keyed by
//! (group, start), and two hour boundaries in `slo_rollup` say which rows exist:
//!
//! ```text
//!            raw_from                rolled_until
//! ── hours only ──┼── hours and minutes ──┼── minutes only ──▶ time
//! ```
//!
//! Retention rolls every complete hour up (moving `rolled_until`), then deletes the minutes of
//! hours older than the raw retention (moving `raw_from`), one transaction per hour. Ingest adds
//! a counter to its minute when the minute is at or after `raw_from` and to its hour when the
//! hour is before `rolled_until`, so an hour in the middle stays equal to the sum of its
//! minutes even when a late snapshot lands in it.
//!
//! The read rule: a point (minute or hour) belongs to `[from, to)` when its start does; before
//! `raw_from` only hours exist. [`Store::counter_points`] returns minutes wherever they exist;
//! [`Store::window_counters`] reads the whole rolled-up hours inside the window from
//! `slo_hours` and only the ragged ends from `slo_minutes`: the same sum, with 24 rows a day per
//! group instead of 1,440. All reads of one call share one read transaction.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use atlhyper_model::{AgentSnapshot, Command, CommandStatus, SloCounters, SloGroupKey, SloType, Timestamp};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row};

use super::{
    AuditFilter, AuditRecord, ClusterRecord, CommandRecord, CounterPoint, HOUR_MS, IngestOutcome, MINUTE_MS,
    RetentionStats, SeqStats, SloTargetRecord, Store, StoreError, StoreResult, UserRecord,
};

/// The migrations, embedded at build time. (`sqlx::migrate!` is behind sqlx's `macros`
/// feature, which would also build the compile-time query machinery; the proc macro it
/// forwards to is available with `migrate` + `derive`.)
static MIGRATOR: sqlx::migrate::Migrator = sqlx::sqlx_macros::migrate!("migrations/sqlite");

/// How long a connection waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the pool of a file database: one writer at a time, readers beside it.
const POOL_SIZE: u32 = 4;
/// SQLite's page cache per connection, in KiB.
const CACHE_KIB: u32 = 32 * 1024;
/// WAL size (in 4 KiB pages) that triggers a checkpoint.
const WAL_CHECKPOINT_PAGES: u32 = 8192;
/// Rows per multi-row `INSERT`, 7 parameters each.
const ROWS_PER_INSERT: usize = 64;
/// Audit query limits.
const AUDIT_DEFAULT_LIMIT: u32 = 100;
const AUDIT_MAX_LIMIT: u32 = 1000;

/// The SQLite store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and brings its schema up to
    /// date.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Negative: KiB. Room for the pages an ingest of thousands of groups touches
            // (SQLite's default is 2 MiB).
            .pragma("cache_size", format!("-{CACHE_KIB}"))
            // Statement journals of multi-row upserts in memory, not in temporary files.
            .pragma("temp_store", "memory")
            // Checkpoint every 32 MiB of WAL instead of 4 MiB: an ingest rewrites the same
            // pages (each group's current minute) again and again, and a checkpoint copies
            // each page once however often it changed.
            .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(1)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    /// A private in-memory database on a single connection that lives as long as the store.
    pub async fn open_in_memory() -> StoreResult<Self> {
        let options = SqliteConnectOptions::new().in_memory(true).foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> StoreResult<Self> {
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes every connection; later calls fail. Waits for calls in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }

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

#[async_trait]
impl Store for SqliteStore {
    async fn create_cluster(&self, cluster: &ClusterRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO clusters (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&cluster.id)
            .bind(&cluster.name)
            .bind(&cluster.token_hash)
            .bind(cluster.created_at.0)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or(e, || format!("cluster {}", cluster.id)))?;
        Ok(())
    }

    async fn cluster(&self, id: &str) -> StoreResult<Option<ClusterRecord>> {
        let row: Option<(String, String, String, i64)> =
            sqlx::query_as("SELECT id, name, token_hash, created_at FROM clusters WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(cluster_record))
    }

    async fn clusters(&self) -> StoreResult<Vec<ClusterRecord>> {
        let rows: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT id, name, token_hash, created_at FROM clusters ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(cluster_record).collect())
    }

    async fn ingest(&self, snapshot: &AgentSnapshot) -> StoreResult<IngestOutcome> {
        let seq = to_i64(snapshot.seq, "snapshot seq")?;
        let dropped = to_i64(snapshot.dropped_snapshots, "dropped_snapshots")?;
        let minute = floor_to(snapshot.interval_end.0, MINUTE_MS);
        let mut entries = Vec::with_capacity(snapshot.slo_counters.len());
        for group in &snapshot.slo_counters {
            check_counters(&group.counters)?;
            if !is_empty(&group.counters) {
                entries.push((minute, &group.key, &group.counters));
            }
        }
        let body = serde_json::to_string(snapshot).map_err(|e| StoreError::Invalid {
            what: "snapshot",
            message: e.to_string(),
        })?;

        // The first statement writes, so the transaction holds the write lock from its start.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let inserted = sqlx::query(
            "INSERT INTO snapshot_seqs (cluster_id, seq, taken_at) VALUES ($1, $2, $3) \
             ON CONFLICT (cluster_id, seq) DO NOTHING",
        )
        .bind(&snapshot.cluster_id)
        .bind(seq)
        .bind(snapshot.taken_at.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(IngestOutcome::Duplicate);
        }
        // Every SET expression sees the row as it was before the update.
        sqlx::query(
            "INSERT INTO snapshot_latest \
                 (cluster_id, seq, taken_at, dropped_snapshots, body, received, min_seq) \
             VALUES ($1, $2, $3, $4, $5, 1, $2) \
             ON CONFLICT (cluster_id) DO UPDATE SET \
                 received = snapshot_latest.received + 1, \
                 min_seq = CASE WHEN excluded.seq < snapshot_latest.min_seq \
                     THEN excluded.seq ELSE snapshot_latest.min_seq END, \
                 taken_at = CASE WHEN excluded.seq > snapshot_latest.seq \
                     THEN excluded.taken_at ELSE snapshot_latest.taken_at END, \
                 dropped_snapshots = CASE WHEN excluded.seq > snapshot_latest.seq \
                     THEN excluded.dropped_snapshots ELSE snapshot_latest.dropped_snapshots END, \
                 body = CASE WHEN excluded.seq > snapshot_latest.seq \
                     THEN excluded.body ELSE snapshot_latest.body END, \
                 seq = CASE WHEN excluded.seq > snapshot_latest.seq \
                     THEN excluded.seq ELSE snapshot_latest.seq END",
        )
        .bind(&snapshot.cluster_id)
        .bind(seq)
        .bind(snapshot.taken_at.0)
        .bind(dropped)
        .bind(body)
        .execute(&mut *tx)
        .await?;
        add_entries(&mut tx, &snapshot.cluster_id, &entries).await?;
        tx.commit().await?;
        Ok(IngestOutcome::Stored)
    }

    async fn latest_snapshot(&self, cluster_id: &str) -> StoreResult<Option<AgentSnapshot>> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM snapshot_latest WHERE cluster_id = $1")
                .bind(cluster_id)
                .fetch_optional(&self.pool)
                .await?;
        body.map(|body| serde_json::from_str(&body).map_err(|e| corrupt("snapshot_latest.body", e)))
            .transpose()
    }

    async fn seq_stats(&self, cluster_id: &str) -> StoreResult<SeqStats> {
        let row: Option<(i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT seq, taken_at, dropped_snapshots, received, min_seq \
             FROM snapshot_latest WHERE cluster_id = $1",
        )
        .bind(cluster_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((seq, taken_at, dropped, received, min_seq)) = row else {
            return Ok(SeqStats::default());
        };
        let span = seq.saturating_sub(min_seq).saturating_add(1);
        Ok(SeqStats {
            last_seq: Some(to_u64(seq, "snapshot_latest.seq")?),
            snapshots_received: to_u64(received, "snapshot_latest.received")?,
            seq_gaps: to_u64(span.saturating_sub(received).max(0), "snapshot_latest.min_seq")?,
            agent_dropped: to_u64(dropped, "snapshot_latest.dropped_snapshots")?,
            last_snapshot_at: Some(Timestamp(taken_at)),
        })
    }

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

    async fn slo_targets(&self, cluster_id: &str) -> StoreResult<Vec<SloTargetRecord>> {
        let rows = sqlx::query(
            "SELECT cluster_id, kind, source, target, availability, latency_p95_ms, period_days, \
                 updated_by, updated_at \
             FROM slo_targets WHERE cluster_id = $1 ORDER BY kind, source_key, target_key",
        )
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let period: i64 = row.try_get("period_days")?;
                Ok(SloTargetRecord {
                    cluster_id: row.try_get("cluster_id")?,
                    kind: parse_kind(row.try_get("kind")?, "slo_targets.kind")?,
                    source: row.try_get("source")?,
                    target: row.try_get("target")?,
                    availability: row.try_get("availability")?,
                    latency_p95_ms: row.try_get("latency_p95_ms")?,
                    period_days: u32::try_from(period).map_err(|e| corrupt("slo_targets.period_days", e))?,
                    updated_by: row.try_get("updated_by")?,
                    updated_at: Timestamp(row.try_get("updated_at")?),
                })
            })
            .collect()
    }

    async fn put_slo_target(&self, target: &SloTargetRecord) -> StoreResult<()> {
        let finite = target.availability.is_finite() && target.latency_p95_ms.is_none_or(f64::is_finite);
        if !finite {
            return Err(StoreError::Invalid {
                what: "slo target",
                message: "objectives must be finite numbers".into(),
            });
        }
        sqlx::query(
            "INSERT INTO slo_targets (cluster_id, kind, source, target, availability, latency_p95_ms, \
                 period_days, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (cluster_id, kind, source_key, target_key) DO UPDATE SET \
                 availability = excluded.availability, latency_p95_ms = excluded.latency_p95_ms, \
                 period_days = excluded.period_days, updated_by = excluded.updated_by, \
                 updated_at = excluded.updated_at",
        )
        .bind(&target.cluster_id)
        .bind(target.kind.as_str())
        .bind(&target.source)
        .bind(&target.target)
        .bind(target.availability)
        .bind(target.latency_p95_ms)
        .bind(i64::from(target.period_days))
        .bind(&target.updated_by)
        .bind(target.updated_at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn create_user(&self, user: &UserRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO users (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&user.username)
            .bind(&user.password_hash)
            .bind(&user.role)
            .bind(user.created_at.0)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_or(e, || format!("user {}", user.username)))?;
        Ok(())
    }

    async fn user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let row: Option<(String, String, String, i64)> =
            sqlx::query_as("SELECT username, password_hash, role, created_at FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(user_record))
    }

    async fn users(&self) -> StoreResult<Vec<UserRecord>> {
        let rows: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT username, password_hash, role, created_at FROM users ORDER BY username")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(user_record).collect())
    }

    async fn set_user_role(&self, username: &str, role: &str) -> StoreResult<()> {
        let changed = sqlx::query("UPDATE users SET role = $2 WHERE username = $1")
            .bind(username)
            .bind(role)
            .execute(&self.pool)
            .await?
            .rows_affected();
        found(changed, || format!("user {username}"))
    }

    async fn set_user_password(&self, username: &str, password_hash: &str) -> StoreResult<()> {
        let changed = sqlx::query("UPDATE users SET password_hash = $2 WHERE username = $1")
            .bind(username)
            .bind(password_hash)
            .execute(&self.pool)
            .await?
            .rows_affected();
        found(changed, || format!("user {username}"))
    }

    async fn delete_user(&self, username: &str) -> StoreResult<()> {
        let changed = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?
            .rows_affected();
        found(changed, || format!("user {username}"))
    }

    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_log (at, actor, action, target, source_addr, result, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(record.at.0)
        .bind(&record.actor)
        .bind(&record.action)
        .bind(&record.target)
        .bind(&record.source_addr)
        .bind(&record.result)
        .bind(&record.detail)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let limit = match filter.limit {
            0 => AUDIT_DEFAULT_LIMIT,
            n => n.min(AUDIT_MAX_LIMIT),
        };
        let rows: Vec<(i64, i64, String, String, String, String, String, String)> = sqlx::query_as(
            "SELECT id, at, actor, action, target, source_addr, result, detail FROM audit_log \
             WHERE at >= $1 AND at < $2 \
                 AND ($3 IS NULL OR actor = $3) \
                 AND ($4 IS NULL OR action = $4) \
                 AND ($5 IS NULL OR instr(target, $5) > 0) \
             ORDER BY at DESC, id DESC LIMIT $6",
        )
        .bind(filter.since.map_or(i64::MIN, |t| t.0))
        .bind(filter.until.map_or(i64::MAX, |t| t.0))
        .bind(filter.actor.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.target.as_deref())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, at, actor, action, target, source_addr, result, detail)| AuditRecord {
                    id,
                    at: Timestamp(at),
                    actor,
                    action,
                    target,
                    source_addr,
                    result,
                    detail,
                },
            )
            .collect())
    }

    async fn enqueue_command(&self, command: &CommandRecord) -> StoreResult<()> {
        let result = command.result.as_ref().map(serde_json::Value::to_string);
        sqlx::query(
            "INSERT INTO commands \
                 (id, cluster_id, payload, status, created_by, created_at, updated_at, result) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&command.id)
        .bind(&command.cluster_id)
        .bind(encode_command(&command.command)?)
        .bind(command.status.as_str())
        .bind(&command.created_by)
        .bind(command.created_at.0)
        .bind(command.updated_at.0)
        .bind(result)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_or(e, || format!("command {}", command.id)))?;
        Ok(())
    }

    async fn claim_commands(
        &self,
        cluster_id: &str,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<Vec<CommandRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // One statement, so atomic: a command is claimed once.
        let rows: Vec<CommandRow> = sqlx::query_as(
            "UPDATE commands SET status = 'running', updated_at = $3 \
             WHERE id IN ( \
                 SELECT id FROM commands WHERE cluster_id = $1 AND status = 'pending' \
                 ORDER BY created_at, id LIMIT $2) \
             RETURNING id, cluster_id, payload, status, created_by, created_at, updated_at, result",
        )
        .bind(cluster_id)
        .bind(i64::from(limit))
        .bind(now.0)
        .fetch_all(&self.pool)
        .await?;
        let mut commands = rows
            .into_iter()
            .map(command_record)
            .collect::<StoreResult<Vec<_>>>()?;
        commands.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(commands)
    }

    async fn finish_command(
        &self,
        id: &str,
        status: CommandStatus,
        result: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<()> {
        let changed =
            sqlx::query("UPDATE commands SET status = $2, result = $3, updated_at = $4 WHERE id = $1")
                .bind(id)
                .bind(status.as_str())
                .bind(result.to_string())
                .bind(now.0)
                .execute(&self.pool)
                .await?
                .rows_affected();
        found(changed, || format!("command {id}"))
    }

    async fn command(&self, id: &str) -> StoreResult<Option<CommandRecord>> {
        let row: Option<CommandRow> = sqlx::query_as(
            "SELECT id, cluster_id, payload, status, created_by, created_at, updated_at, result \
             FROM commands WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(command_record).transpose()
    }

    async fn commands(
        &self,
        cluster_id: &str,
        status: Option<CommandStatus>,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<CommandRecord>, u64)> {
        let status = status.map(CommandStatus::as_str);
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM commands WHERE cluster_id = $1 AND ($2 IS NULL OR status = $2)",
        )
        .bind(cluster_id)
        .bind(status)
        .fetch_one(&self.pool)
        .await?;
        let rows: Vec<CommandRow> = sqlx::query_as(
            "SELECT id, cluster_id, payload, status, created_by, created_at, updated_at, result \
             FROM commands WHERE cluster_id = $1 AND ($2 IS NULL OR status = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
        )
        .bind(cluster_id)
        .bind(status)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await?;
        let commands = rows
            .into_iter()
            .map(command_record)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((commands, to_u64(total, "commands count")?))
    }

    async fn expire_commands(
        &self,
        now: Timestamp,
        default_timeout_s: u64,
        result: &serde_json::Value,
    ) -> StoreResult<Vec<CommandRecord>> {
        let default_ms = i64::try_from(default_timeout_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        // One statement, so a command times out once, and never after its result arrived.
        let rows: Vec<CommandRow> = sqlx::query_as(
            "UPDATE commands SET status = 'timed_out', result = $3, updated_at = $1 \
             WHERE status IN ('pending', 'running') \
               AND created_at + COALESCE(CAST(json_extract(payload, '$.timeout_s') AS INTEGER) * 1000, $2) <= $1 \
             RETURNING id, cluster_id, payload, status, created_by, created_at, updated_at, result",
        )
        .bind(now.0)
        .bind(default_ms)
        .bind(result.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(command_record).collect()
    }

    async fn save_aiops_state(&self, json: &str, at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO aiops_state (id, json, updated_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at",
        )
        .bind(json)
        .bind(at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn load_aiops_state(&self) -> StoreResult<Option<(String, Timestamp)>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT json, updated_at FROM aiops_state WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(json, at)| (json, Timestamp(at))))
    }
}

// ---- counters ---------------------------------------------------------------------------

/// The two resolutions of counter rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    Minute,
    Hour,
}

/// The statements of one counter table.
struct CounterSql {
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

static MINUTE_SQL: CounterSql = CounterSql {
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

static HOUR_SQL: CounterSql = CounterSql {
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

impl Resolution {
    fn sql(self) -> &'static CounterSql {
        match self {
            Self::Minute => &MINUTE_SQL,
            Self::Hour => &HOUR_SQL,
        }
    }
}

/// The two boundaries of `slo_rollup` (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Boundaries {
    /// Minutes exist from here on; before, only hours.
    raw_from: i64,
    /// Every hour before this has its hourly rows.
    rolled_until: i64,
}

#[derive(Debug, Clone, Copy)]
enum Boundary {
    RawFrom,
    RolledUntil,
}

async fn boundaries(conn: &mut SqliteConnection) -> StoreResult<Boundaries> {
    let (raw_from, rolled_until): (i64, i64) =
        sqlx::query_as("SELECT raw_from_ms, rolled_until_ms FROM slo_rollup WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
    Ok(Boundaries {
        raw_from,
        rolled_until,
    })
}

async fn set_boundary(conn: &mut SqliteConnection, boundary: Boundary, value: i64) -> StoreResult<()> {
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
fn window_ranges(bounds: Boundaries, from: i64, to: i64) -> Vec<(Resolution, i64, i64)> {
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
enum Scope<'a> {
    Group(i64),
    Cluster(&'a str),
}

/// Calls `visit(group id, start, counters)` for every row of `resolution` in `[from, to)` in
/// `scope`. A cluster is read a chunk of time at a time, skipping empty stretches, so memory
/// stays bounded whatever the window.
async fn scan(
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
async fn add_sums(
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

/// Adds `(minute, key, counters)` entries of one cluster: into the minute when it is at or
/// after `raw_from`, into its hour when that is before `rolled_until` (both, in between).
/// Creates groups as needed.
async fn add_entries(
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

/// Adds `rows` ((group id, start) → counters, groups of `cluster_id`) to what `resolution`'s
/// table holds: reads the stored rows in the same range, merges, writes back.
async fn add_rows(
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
async fn write_rows(
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
fn upsert_sql(sql: &CounterSql, rows: usize) -> String {
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
fn decode_row(row: &SqliteRow, resolution: Resolution) -> StoreResult<(i64, i64, SloCounters)> {
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

fn corrupt_buckets(resolution: Resolution, text: &str, at: usize) -> StoreError {
    let shown: String = text.chars().take(200).collect();
    StoreError::Corrupt {
        what: resolution.sql().what,
        message: format!("expected [[le, count], ...] at byte {at} of {shown:?}"),
    }
}

/// The buckets as JSON `[[le,count],…]`; whole numbers without a fraction (`[[5,12]]`).
/// Counters are finite ([`check_counters`]).
fn encode_buckets(counters: &SloCounters) -> String {
    let mut out = String::with_capacity(2 + counters.buckets.len() * 12);
    out.push('[');
    for (i, bucket) in counters.buckets.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        push_number(&mut out, bucket.le);
        out.push(',');
        push_number(&mut out, bucket.count);
        out.push(']');
    }
    out.push(']');
    out
}

fn push_number(out: &mut String, x: f64) {
    // Below 2^53 every whole f64 is an exact integer; formatted by hand, as `fmt` is slow
    // for what runs for every bucket written.
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        if x < 0.0 {
            out.push('-');
        }
        let mut n = x.abs() as u64;
        let mut digits = [0u8; 16];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        out.extend(digits[i..].iter().map(|&d| char::from(d)));
    } else {
        // Shortest round-trip form, e.g. `0.25` or `1e-7`: valid JSON for finite numbers.
        let _ = write!(out, "{x:?}");
    }
}

/// Parses JSON `[[le, count], …]` into `counters`' buckets, adding to what is there (merged
/// by numeric bound). A hand-written parser, as this runs for every row a window reads; the
/// error is the byte offset where the text stopped making sense.
fn decode_buckets(text: &str, counters: &mut SloCounters) -> Result<(), usize> {
    let mut p = Parser { text, at: 0 };
    counters.buckets.reserve(26);
    p.expect(b'[')?;
    if p.peek() == Some(b']') {
        p.at += 1;
    } else {
        // Rows of one group mostly share their bounds: try the next bucket first.
        let mut next = 0;
        loop {
            p.expect(b'[')?;
            let le = p.number()?;
            p.expect(b',')?;
            let count = p.number()?;
            p.expect(b']')?;
            match counters.buckets.get_mut(next) {
                Some(bucket) if bucket.le.total_cmp(&le).is_eq() => bucket.count += count,
                _ => counters.add_bucket(le, count),
            }
            next += 1;
            match p.next()? {
                b',' => {}
                b']' => break,
                _ => return Err(p.at - 1),
            }
        }
    }
    p.skip_whitespace();
    if p.at == text.len() { Ok(()) } else { Err(p.at) }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.text.as_bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, usize> {
        let byte = self.peek().ok_or(self.at)?;
        self.at += 1;
        Ok(byte)
    }

    fn expect(&mut self, byte: u8) -> Result<(), usize> {
        if self.next()? == byte {
            Ok(())
        } else {
            Err(self.at - 1)
        }
    }

    fn number(&mut self) -> Result<f64, usize> {
        self.skip_whitespace();
        let start = self.at;
        let bytes = self.text.as_bytes();
        // Fast path, one pass: a plain integer of up to 15 digits is exact in an f64.
        let mut value = 0u64;
        while let Some(digit) = bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit - b'0'));
            self.at += 1;
        }
        let digits = self.at - start;
        let more = bytes
            .get(self.at)
            .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
        if (1..=15).contains(&digits) && !more {
            return Ok(value as f64);
        }
        while bytes
            .get(self.at)
            .is_some_and(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.at += 1;
        }
        match self.text[start..self.at].parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(start),
        }
    }
}

/// Counters must be finite to be stored (JSON and REAL columns have no NaN or infinity).
fn check_counters(counters: &SloCounters) -> StoreResult<()> {
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
fn is_empty(counters: &SloCounters) -> bool {
    counters.is_zero() && counters.buckets.iter().all(|b| b.count == 0.0)
}

async fn cluster_groups(
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

async fn group_id(
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

async fn insert_group(conn: &mut SqliteConnection, cluster_id: &str, key: &SloGroupKey) -> StoreResult<i64> {
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

fn group_key(groups: &HashMap<i64, SloGroupKey>, group_id: i64) -> StoreResult<&SloGroupKey> {
    groups.get(&group_id).ok_or_else(|| StoreError::Corrupt {
        what: "slo_groups",
        message: format!("counter row of unknown group {group_id}"),
    })
}

// ---- small helpers ----------------------------------------------------------------------

/// `ms` rounded down to a multiple of `step`, also for times before the epoch.
fn floor_to(ms: i64, step: i64) -> i64 {
    ms.div_euclid(step).saturating_mul(step)
}

/// `ms` rounded up to a multiple of `step`.
fn ceil_to(ms: i64, step: i64) -> i64 {
    let floor = floor_to(ms, step);
    if floor == ms {
        ms
    } else {
        floor.saturating_add(step)
    }
}

fn parse_kind(text: String, what: &'static str) -> StoreResult<SloType> {
    match text.as_str() {
        "ingress" => Ok(SloType::Ingress),
        "service" => Ok(SloType::Service),
        _ => Err(StoreError::Corrupt {
            what,
            message: format!("unknown slo type {text:?}"),
        }),
    }
}

fn to_i64(value: u64, what: &'static str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Invalid {
        what,
        message: format!("{value} is above {}", i64::MAX),
    })
}

fn to_u64(value: i64, what: &'static str) -> StoreResult<u64> {
    u64::try_from(value).map_err(|e| corrupt(what, e))
}

fn corrupt(what: &'static str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what,
        message: error.to_string(),
    }
}

/// A unique-constraint violation becomes [`StoreError::Conflict`].
fn conflict_or(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { what: what() },
        _ => StoreError::Database(error),
    }
}

/// No row changed means the thing was not there.
fn found(rows_changed: u64, what: impl FnOnce() -> String) -> StoreResult<()> {
    if rows_changed == 0 {
        Err(StoreError::NotFound { what: what() })
    } else {
        Ok(())
    }
}

fn cluster_record((id, name, token_hash, created_at): (String, String, String, i64)) -> ClusterRecord {
    ClusterRecord {
        id,
        name,
        token_hash,
        created_at: Timestamp(created_at),
    }
}

fn user_record((username, password_hash, role, created_at): (String, String, String, i64)) -> UserRecord {
    UserRecord {
        username,
        password_hash,
        role,
        created_at: Timestamp(created_at),
    }
}

fn encode_command(command: &Command) -> StoreResult<String> {
    serde_json::to_string(command).map_err(|e| StoreError::Invalid {
        what: "command",
        message: e.to_string(),
    })
}

/// id, cluster_id, payload, status, created_by, created_at, updated_at, result.
type CommandRow = (String, String, String, String, String, i64, i64, Option<String>);

fn command_record(row: CommandRow) -> StoreResult<CommandRecord> {
    let (id, cluster_id, payload, status, created_by, created_at, updated_at, result) = row;
    Ok(CommandRecord {
        id,
        cluster_id,
        command: serde_json::from_str(&payload).map_err(|e| corrupt("commands.payload", e))?,
        status: CommandStatus::parse(&status)
            .ok_or_else(|| corrupt("commands.status", format!("{status:?}")))?,
        created_by,
        created_at: Timestamp(created_at),
        updated_at: Timestamp(updated_at),
        result: result
            .map(|r| serde_json::from_str(&r).map_err(|e| corrupt("commands.result", e)))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_to_minutes_and_hours_before_and_after_the_epoch() {
        assert_eq!(floor_to(59_999, MINUTE_MS), 0);
        assert_eq!(floor_to(60_000, MINUTE_MS), 60_000);
        assert_eq!(floor_to(-1, MINUTE_MS), -60_000);
        assert_eq!(floor_to(HOUR_MS * 5 + 1, HOUR_MS), HOUR_MS * 5);
        assert_eq!(floor_to(i64::MIN, HOUR_MS), i64::MIN);
    }

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
    fn ceils_to_hours() {
        assert_eq!(ceil_to(0, HOUR_MS), 0);
        assert_eq!(ceil_to(1, HOUR_MS), HOUR_MS);
        assert_eq!(ceil_to(-1, HOUR_MS), 0);
        assert_eq!(ceil_to(i64::MAX, HOUR_MS), i64::MAX);
    }

    #[test]
    fn buckets_round_trip_and_bad_text_is_an_error() {
        let mut counters = SloCounters::default();
        for (le, count) in [
            (1.0, 0.0),
            (2.5, 3.0),
            (1e-7, 1.0),
            (50_000.0, 1e20),
            (10.0, 0.125),
            (20.0, -0.0),
            (30.0, -7.0),
        ] {
            counters.add_bucket(le, count);
        }
        let text = encode_buckets(&counters);
        assert_eq!(
            text,
            "[[1e-7,1],[1,0],[2.5,3],[10,0.125],[20,0],[30,-7],[50000,1e20]]"
        );
        let mut back = SloCounters::default();
        decode_buckets(&text, &mut back).unwrap();
        assert_eq!(back.buckets, counters.buckets);
        // serde_json's spelling, whitespace, duplicate and unsorted bounds.
        let mut other = SloCounters::default();
        decode_buckets(" [ [5.0, 2.0], [1, 1] ,[5e0,1] ] ", &mut other).unwrap();
        assert_eq!(
            other.buckets.iter().map(|b| (b.le, b.count)).collect::<Vec<_>>(),
            [(1.0, 1.0), (5.0, 3.0)]
        );
        decode_buckets("[]", &mut SloCounters::default()).unwrap();
        for bad in [
            "",
            "[",
            "[[1,2]",
            "[[1,2],]",
            "[[1]]",
            "[[1,x]]",
            "[[1,2]]x",
            "{}",
            "[[1e999,1]]",
            "[[1,2],[3,4]",
        ] {
            assert!(
                decode_buckets(bad, &mut SloCounters::default()).is_err(),
                "{bad:?}"
            );
        }
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
