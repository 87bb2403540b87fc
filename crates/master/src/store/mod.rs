//! The master's storage behind a small repository trait: SQLite today ([`SqliteStore`]),
//! PostgreSQL later with the same tests.
//!
//! SLO data is stored as counters, never ratios (DESIGN.md §5.5): per SLO group and minute the
//! increases of total, success, failure and every latency bucket. Any window is then the exact
//! sum of its minutes (raw minutes are kept 48 h) or of its hourly rollups (90 days).

mod sqlite;

pub use sqlite::SqliteStore;

use async_trait::async_trait;
use atlhyper_model::{AgentSnapshot, Command, CommandStatus, SloCounters, SloGroupKey, SloType, Timestamp};
use serde::{Deserialize, Serialize};

/// Milliseconds in one minute and one hour: the two storage resolutions.
pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt stored value in {what}: {message}")]
    Corrupt { what: &'static str, message: String },
    /// A value the store cannot represent (a seq above `i64::MAX`, a non-finite counter).
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A registered cluster. Only a hash of the agent token is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRecord {
    pub id: String,
    pub name: String,
    pub token_hash: String,
    pub created_at: Timestamp,
}

/// What ingesting a snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    Stored,
    /// The (cluster, seq) pair was already stored: nothing changed.
    Duplicate,
}

/// Delivery statistics of one cluster's snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqStats {
    pub last_seq: Option<u64>,
    pub snapshots_received: u64,
    /// Sequence numbers missing between the lowest and the highest received.
    pub seq_gaps: u64,
    /// `dropped_snapshots` of the latest snapshot: what the agent reports it had to drop.
    pub agent_dropped: u64,
    /// `taken_at` of the latest snapshot (the one with the highest seq).
    pub last_snapshot_at: Option<Timestamp>,
}

/// One group's counters in one bucket of time (a minute, or an hour from rollups).
#[derive(Debug, Clone, PartialEq)]
pub struct CounterPoint {
    /// Start of the minute or hour, ms since the epoch.
    pub start_ms: i64,
    pub key: SloGroupKey,
    pub counters: SloCounters,
}

/// An SLO objective for one entry, or the cluster default when `source` and `target` are
/// `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloTargetRecord {
    pub cluster_id: String,
    pub kind: SloType,
    pub source: Option<String>,
    pub target: Option<String>,
    /// Availability objective in percent, e.g. 99.9.
    pub availability: f64,
    /// Optional latency objective: P95 at or below this many ms.
    pub latency_p95_ms: Option<f64>,
    /// The budget period in days (30 by default).
    pub period_days: u32,
    pub updated_by: String,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    pub created_at: Timestamp,
}

/// One audited action: who, what, on what, when, from where, with which result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source_addr: String,
    /// `ok`, `denied` or `error: …`.
    pub result: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Substring of the target.
    pub target: Option<String>,
    /// Records at or after this time.
    pub since: Option<Timestamp>,
    /// Records before this time (exclusive, like every `[from, to)` range here).
    pub until: Option<Timestamp>,
    /// Newest first; at most this many (0 means 100; capped at 1000).
    pub limit: u32,
}

/// A command for an agent and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRecord {
    pub id: String,
    pub cluster_id: String,
    /// The command as the agent receives it (`payload` on the wire and in the table).
    #[serde(rename = "payload")]
    pub command: Command,
    pub status: CommandStatus,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub result: Option<serde_json::Value>,
}

/// What a retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionStats {
    /// Hourly rows written (one per group and complete hour rolled up).
    pub hours_rolled_up: u64,
    /// Minute rows deleted (their hours were rolled up before).
    pub minutes_deleted: u64,
    /// Hourly rows deleted as older than the hourly retention.
    pub hours_deleted: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Clusters.
    async fn create_cluster(&self, cluster: &ClusterRecord) -> StoreResult<()>;
    async fn cluster(&self, id: &str) -> StoreResult<Option<ClusterRecord>>;
    async fn clusters(&self) -> StoreResult<Vec<ClusterRecord>>;

    // Snapshots: in one transaction, record (cluster, seq), keep the latest snapshot, and add
    // `slo_counters` into the minute of `interval_end` (floored; into its hour if that minute
    // was already rolled up). A known seq changes nothing. All-zero entries add nothing and
    // are skipped.
    async fn ingest(&self, snapshot: &AgentSnapshot) -> StoreResult<IngestOutcome>;
    async fn latest_snapshot(&self, cluster_id: &str) -> StoreResult<Option<AgentSnapshot>>;
    async fn seq_stats(&self, cluster_id: &str) -> StoreResult<SeqStats>;

    /// Per-minute counters of one group (or of every group with `None`) in `[from, to)`;
    /// minutes already rolled up and deleted come back as hourly points.
    ///
    /// The read rule: the store keeps a boundary (a whole hour) below which only hourly rows
    /// exist and at or above which minute rows exist; [`Store::apply_retention`] moves it
    /// forward. A point, minute or hour, is in `[from, to)` when its *start* is, so windows
    /// aligned to hours are exact at both resolutions and nothing is counted twice. Points
    /// come back ordered by start, then by group.
    async fn counter_points(
        &self,
        cluster_id: &str,
        key: Option<&SloGroupKey>,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<CounterPoint>>;
    /// The sum of every group's counters in `[from, to)`, one entry per group that has any,
    /// ordered by key: always the sum of what [`Store::counter_points`] returns for the same
    /// range (whole hours already rolled up are read from their hourly rows).
    async fn window_counters(
        &self,
        cluster_id: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<(SloGroupKey, SloCounters)>>;
    /// The start of the oldest minute or hour of counters the cluster has (`None`: none yet);
    /// burn-rate rules use it to tell windows with too little data.
    async fn first_counter_time(&self, cluster_id: &str) -> StoreResult<Option<Timestamp>>;
    /// Rolls complete hours into hourly rows, then deletes minutes older than `raw_keep_ms`
    /// and hours older than `hourly_keep_ms` (both before `now`).
    ///
    /// Every complete hour (ended by `now`) is rolled up, not only those older than
    /// `raw_keep_ms`: long windows then read 24 rows a day per group instead of 1,440. The
    /// minutes of an hour are deleted once the whole hour is older than `raw_keep_ms`, so a
    /// minute lives up to an hour longer than that; an hour is deleted once it ends before
    /// `now - hourly_keep_ms`. Time comes only from the arguments; running it twice with the
    /// same arguments changes nothing.
    async fn apply_retention(
        &self,
        now: Timestamp,
        raw_keep_ms: i64,
        hourly_keep_ms: i64,
    ) -> StoreResult<RetentionStats>;

    // SLO targets.
    async fn slo_targets(&self, cluster_id: &str) -> StoreResult<Vec<SloTargetRecord>>;
    async fn put_slo_target(&self, target: &SloTargetRecord) -> StoreResult<()>;

    // Users.
    async fn create_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn user(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    async fn users(&self) -> StoreResult<Vec<UserRecord>>;
    async fn set_user_role(&self, username: &str, role: &str) -> StoreResult<()>;
    async fn set_user_password(&self, username: &str, password_hash: &str) -> StoreResult<()>;
    async fn delete_user(&self, username: &str) -> StoreResult<()>;

    // Audit log.
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<i64>;
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;

    // Commands.
    async fn enqueue_command(&self, command: &CommandRecord) -> StoreResult<()>;
    /// Marks up to `limit` pending commands of the cluster `running` and returns them, oldest
    /// first (by `created_at`, then id).
    async fn claim_commands(
        &self,
        cluster_id: &str,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<Vec<CommandRecord>>;
    async fn finish_command(
        &self,
        id: &str,
        status: CommandStatus,
        result: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn command(&self, id: &str) -> StoreResult<Option<CommandRecord>>;
    /// The cluster's commands, newest first (by `created_at`, then id), optionally of one
    /// status; with the total matching before `limit`/`offset`.
    async fn commands(
        &self,
        cluster_id: &str,
        status: Option<CommandStatus>,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<CommandRecord>, u64)>;
    /// Marks `timed_out` every pending or running command whose deadline (`created_at` +
    /// the payload's `timeout_s`, else `default_timeout_s`) is at or before `now`, with
    /// `result`; returns them.
    async fn expire_commands(
        &self,
        now: Timestamp,
        default_timeout_s: u64,
        result: &serde_json::Value,
    ) -> StoreResult<Vec<CommandRecord>>;

    // AIOps: the engine's state as one JSON document (see `crate::aiops`).
    async fn save_aiops_state(&self, json: &str, at: Timestamp) -> StoreResult<()>;
    /// The saved state and when it was saved.
    async fn load_aiops_state(&self) -> StoreResult<Option<(String, Timestamp)>>;
}
