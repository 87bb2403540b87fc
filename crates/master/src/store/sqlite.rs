//! [`Store`] on SQLite: one file in WAL mode with `synchronous = FULL`, so a write is on disk
//! when the call that made it returns, and a small pool of connections (one writer at a time,
//! readers beside it).
//!
//! Statements are runtime queries with `$1, $2…` placeholders so that a PostgreSQL store can
//! share them; timestamps are INTEGER milliseconds, JSON is TEXT. The schema is in
//! `migrations/sqlite`.
//!
//! SLO counters live in two tables of the same shape, `slo_minutes` and `slo_hours`, keyed by
//! (group, start). The read rule: `slo_rollup.raw_from_ms`, a whole hour, splits time; before
//! it counters exist only as hours, from it on only as minutes. Retention rolls the hours
//! before its new boundary up, deletes their minutes and moves the boundary in one
//! transaction per hour; ingest adds counters for a minute before the boundary (a late
//! snapshot) into that minute's hour. Reads take the hours in `[from, min(to, boundary))` and
//! the minutes in `[max(from, boundary), to)`, inside one read transaction, so every counter
//! is read exactly once.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use atlhyper_model::{AgentSnapshot, SloCounters, SloGroupKey, SloType, Timestamp};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
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
/// Rows per multi-row `INSERT` (7 parameters each, far below SQLite's 32766).
const ROWS_PER_INSERT: usize = 100;
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
            .busy_timeout(BUSY_TIMEOUT);
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

    /// Rolls up the oldest hour with minutes before `cut` (an hour boundary), deletes those
    /// minutes and moves the boundary past it, in one transaction. `None` when no such minute
    /// was left (the boundary is then at least `cut`).
    async fn roll_up_one_hour(&self, cut: i64) -> StoreResult<Option<(u64, u64)>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let raw_from = raw_from(&mut tx).await?;
        let oldest: Option<i64> =
            sqlx::query_scalar("SELECT MIN(minute_ms) FROM slo_minutes WHERE minute_ms < $1")
                .bind(cut)
                .fetch_one(&mut *tx)
                .await?;
        let Some(oldest) = oldest else {
            if cut > raw_from {
                set_raw_from(&mut tx, cut).await?;
            }
            tx.commit().await?;
            return Ok(None);
        };
        let hour = floor_to(oldest, HOUR_MS);
        let end = hour.saturating_add(HOUR_MS);
        let mut sums: BTreeMap<(i64, i64), SloCounters> = BTreeMap::new();
        let rows: Vec<CounterRow> = sqlx::query_as(MINUTE_SQL.time_range)
            .bind(hour)
            .bind(end)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            let (group_id, _, counters) = decode_row(row, Resolution::Minute)?;
            sums.entry((group_id, hour)).or_default().merge(&counters);
        }
        let written = merge_rows(&mut tx, Resolution::Hour, None, sums).await?;
        let deleted = sqlx::query("DELETE FROM slo_minutes WHERE minute_ms >= $1 AND minute_ms < $2")
            .bind(hour)
            .bind(end)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if end > raw_from {
            set_raw_from(&mut tx, end).await?;
        }
        tx.commit().await?;
        Ok(Some((written, deleted)))
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
        let raw_from = raw_from(&mut tx).await?;
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
        let raw_from = raw_from(&mut tx).await?;
        let mut sums: HashMap<i64, SloCounters> = HashMap::new();
        for (resolution, from, to) in [
            (Resolution::Hour, from.0, to.0.min(raw_from)),
            (Resolution::Minute, from.0.max(raw_from), to.0),
        ] {
            scan(
                &mut tx,
                resolution,
                Scope::Cluster(cluster_id),
                from,
                to,
                |group_id, _, counters| {
                    sums.entry(group_id).or_default().merge(&counters);
                    Ok(())
                },
            )
            .await?;
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
        // Complete hours older than the raw retention: every hour that ends by `raw_cut`.
        let raw_cut = floor_to(now.0.saturating_sub(raw_keep_ms.max(0)), HOUR_MS);
        // One transaction per hour keeps the write lock short for ingest.
        while let Some((written, deleted)) = self.roll_up_one_hour(raw_cut).await? {
            stats.hours_rolled_up += written;
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
        .bind(command.payload.to_string())
        .bind(&command.status)
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
        status: &str,
        result: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<()> {
        let changed =
            sqlx::query("UPDATE commands SET status = $2, result = $3, updated_at = $4 WHERE id = $1")
                .bind(id)
                .bind(status)
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
}

// ---- counters ---------------------------------------------------------------------------

/// The two resolutions of counter rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    Minute,
    Hour,
}

/// The statements of one counter table; every SELECT yields a [`CounterRow`].
struct CounterSql {
    table: &'static str,
    start: &'static str,
    /// `$1` group id, starts in `[$2, $3)`.
    group_range: &'static str,
    /// Groups of cluster `$1`, starts in `[$2, $3)`.
    cluster_range: &'static str,
    /// Every group, starts in `[$1, $2)`.
    time_range: &'static str,
    /// The first start in `[$1, $2)`, any group.
    next_start: &'static str,
    /// Time span read per query when scanning a cluster.
    chunk_ms: i64,
}

macro_rules! counter_sql {
    ($table:literal, $start:literal, $chunk_ms:expr) => {
        CounterSql {
            table: $table,
            start: $start,
            group_range: concat!(
                "SELECT group_id, ",
                $start,
                ", total, success, failure, observations, buckets FROM ",
                $table,
                " WHERE group_id = $1 AND ",
                $start,
                " >= $2 AND ",
                $start,
                " < $3 ORDER BY ",
                $start
            ),
            cluster_range: concat!(
                "SELECT c.group_id, c.",
                $start,
                ", c.total, c.success, c.failure, c.observations, c.buckets FROM ",
                $table,
                " c JOIN slo_groups g ON g.id = c.group_id WHERE g.cluster_id = $1 AND c.",
                $start,
                " >= $2 AND c.",
                $start,
                " < $3"
            ),
            time_range: concat!(
                "SELECT group_id, ",
                $start,
                ", total, success, failure, observations, buckets FROM ",
                $table,
                " WHERE ",
                $start,
                " >= $1 AND ",
                $start,
                " < $2"
            ),
            next_start: concat!(
                "SELECT MIN(",
                $start,
                ") FROM ",
                $table,
                " WHERE ",
                $start,
                " >= $1 AND ",
                $start,
                " < $2"
            ),
            chunk_ms: $chunk_ms,
        }
    };
}

static MINUTE_SQL: CounterSql = counter_sql!("slo_minutes", "minute_ms", HOUR_MS);
static HOUR_SQL: CounterSql = counter_sql!("slo_hours", "hour_ms", 60 * HOUR_MS);

impl Resolution {
    fn sql(self) -> &'static CounterSql {
        match self {
            Self::Minute => &MINUTE_SQL,
            Self::Hour => &HOUR_SQL,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Minute => "slo_minutes.buckets",
            Self::Hour => "slo_hours.buckets",
        }
    }
}

/// group id, start, total, success, failure, observations, buckets JSON.
type CounterRow = (i64, i64, f64, f64, f64, f64, String);

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
        let rows: Vec<CounterRow> = match scope {
            Scope::Group(id) => {
                let rows = sqlx::query_as(sql.group_range)
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
                let rows = sqlx::query_as(sql.cluster_range)
                    .bind(cluster_id)
                    .bind(next)
                    .bind(hi)
                    .fetch_all(&mut *conn)
                    .await?;
                lo = hi;
                rows
            }
        };
        for row in rows {
            let (group_id, start, counters) = decode_row(row, resolution)?;
            visit(group_id, start, counters)?;
        }
    }
    Ok(())
}

/// Adds `(minute, key, counters)` entries of one cluster: into `slo_minutes`, or into
/// `slo_hours` for minutes before the rollup boundary. Creates groups as needed.
async fn add_entries(
    conn: &mut SqliteConnection,
    cluster_id: &str,
    entries: &[(i64, &SloGroupKey, &SloCounters)],
) -> StoreResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let raw_from = raw_from(conn).await?;
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
        let (rows, start) = if minute >= raw_from {
            (&mut minutes, minute)
        } else {
            (&mut hours, floor_to(minute, HOUR_MS))
        };
        rows.entry((id, start)).or_default().merge(counters);
    }
    merge_rows(conn, Resolution::Minute, Some(cluster_id), minutes).await?;
    merge_rows(conn, Resolution::Hour, Some(cluster_id), hours).await?;
    Ok(())
}

/// Adds `rows` ((group id, start) → counters) to what `resolution`'s table holds: reads the
/// stored rows in the same range, merges, writes back with multi-row upserts. `cluster_id`
/// narrows the read to that cluster's groups. Returns the rows written.
async fn merge_rows(
    conn: &mut SqliteConnection,
    resolution: Resolution,
    cluster_id: Option<&str>,
    mut rows: BTreeMap<(i64, i64), SloCounters>,
) -> StoreResult<u64> {
    let (Some(lo), Some(hi)) = (
        rows.keys().map(|&(_, start)| start).min(),
        rows.keys().map(|&(_, start)| start).max(),
    ) else {
        return Ok(0);
    };
    let sql = resolution.sql();
    let end = hi.saturating_add(1);
    let stored: Vec<CounterRow> = match cluster_id {
        Some(cluster_id) => {
            sqlx::query_as(sql.cluster_range)
                .bind(cluster_id)
                .bind(lo)
                .bind(end)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            sqlx::query_as(sql.time_range)
                .bind(lo)
                .bind(end)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    for row in stored {
        if let Some(sum) = rows.get_mut(&(row.0, row.1)) {
            let (_, _, counters) = decode_row(row, resolution)?;
            sum.merge(&counters);
        }
    }
    let rows: Vec<_> = rows.into_iter().collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut query = sqlx::query(AssertSqlSafe(upsert_sql(sql, chunk.len())));
        for ((group_id, start), counters) in chunk {
            query = query
                .bind(group_id)
                .bind(start)
                .bind(counters.total)
                .bind(counters.success)
                .bind(counters.failure)
                .bind(counters.observations)
                .bind(encode_buckets(counters)?);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(rows.len() as u64)
}

/// `INSERT … VALUES (…), … ON CONFLICT DO UPDATE` for `rows` rows; only placeholders vary.
fn upsert_sql(sql: &CounterSql, rows: usize) -> String {
    let (table, start) = (sql.table, sql.start);
    let mut out = format!(
        "INSERT INTO {table} (group_id, {start}, total, success, failure, observations, buckets) VALUES "
    );
    for row in 0..rows {
        let p = row * 7;
        if row > 0 {
            out.push_str(", ");
        }
        let _ = write!(
            out,
            "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7
        );
    }
    let _ = write!(
        out,
        " ON CONFLICT (group_id, {start}) DO UPDATE SET total = excluded.total, \
         success = excluded.success, failure = excluded.failure, \
         observations = excluded.observations, buckets = excluded.buckets"
    );
    out
}

fn decode_row(row: CounterRow, resolution: Resolution) -> StoreResult<(i64, i64, SloCounters)> {
    let (group_id, start, total, success, failure, observations, buckets) = row;
    let pairs: Vec<(f64, f64)> = serde_json::from_str(&buckets).map_err(|e| corrupt(resolution.what(), e))?;
    let mut counters = SloCounters {
        total,
        success,
        failure,
        observations,
        buckets: Vec::with_capacity(pairs.len()),
    };
    for (le, count) in pairs {
        counters.add_bucket(le, count);
    }
    Ok((group_id, start, counters))
}

fn encode_buckets(counters: &SloCounters) -> StoreResult<String> {
    let pairs: Vec<[f64; 2]> = counters.buckets.iter().map(|b| [b.le, b.count]).collect();
    serde_json::to_string(&pairs).map_err(|e| StoreError::Invalid {
        what: "latency buckets",
        message: e.to_string(),
    })
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

async fn raw_from(conn: &mut SqliteConnection) -> StoreResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT raw_from_ms FROM slo_rollup WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?,
    )
}

async fn set_raw_from(conn: &mut SqliteConnection, raw_from: i64) -> StoreResult<()> {
    sqlx::query("UPDATE slo_rollup SET raw_from_ms = $1 WHERE id = 1")
        .bind(raw_from)
        .execute(&mut *conn)
        .await?;
    Ok(())
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

/// id, cluster_id, payload, status, created_by, created_at, updated_at, result.
type CommandRow = (String, String, String, String, String, i64, i64, Option<String>);

fn command_record(row: CommandRow) -> StoreResult<CommandRecord> {
    let (id, cluster_id, payload, status, created_by, created_at, updated_at, result) = row;
    Ok(CommandRecord {
        id,
        cluster_id,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt("commands.payload", e))?,
        status,
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
    fn upsert_numbers_placeholders_per_row() {
        let sql = upsert_sql(&MINUTE_SQL, 2);
        assert!(
            sql.starts_with("INSERT INTO slo_minutes (group_id, minute_ms,"),
            "{sql}"
        );
        assert!(sql.contains("($1, $2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13, $14) ON CONFLICT"));
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
