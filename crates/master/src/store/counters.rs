//! SLO counters per group and minute, hourly rollups, retention and window sums.

use async_trait::async_trait;
use atlhyper_model::{SloCounters, SloGroupKey, Timestamp};

use super::StoreResult;

/// One group's counters in one bucket of time (a minute, or an hour from rollups).
#[derive(Debug, Clone, PartialEq)]
pub struct CounterPoint {
    /// Start of the minute or hour, ms since the epoch.
    pub start_ms: i64,
    pub key: SloGroupKey,
    pub counters: SloCounters,
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
pub trait CounterStore: Send + Sync {
    /// Per-minute counters of one group (or of every group with `None`) in `[from, to)`;
    /// minutes already rolled up and deleted come back as hourly points.
    ///
    /// The read rule: the store keeps a boundary (a whole hour) below which only hourly rows
    /// exist and at or above which minute rows exist; [`CounterStore::apply_retention`] moves it
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
    /// ordered by key: always the sum of what [`CounterStore::counter_points`] returns for the same
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
}
