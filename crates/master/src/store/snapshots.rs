//! What arrives from agents: idempotent ingest on (cluster, seq), the latest snapshot, delivery statistics.

use async_trait::async_trait;
use atlhyper_model::{AgentSnapshot, Timestamp};
use serde::{Deserialize, Serialize};

use super::StoreResult;

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

#[async_trait]
pub trait SnapshotStore: Send + Sync {
    /// In one transaction, record (cluster, seq), keep the latest snapshot, and add
    /// `slo_counters` into the minute of `interval_end` (floored; into its hour if that minute
    /// was already rolled up). A known seq changes nothing. All-zero entries add nothing and
    /// are skipped.
    async fn ingest(&self, snapshot: &AgentSnapshot) -> StoreResult<IngestOutcome>;
    async fn latest_snapshot(&self, cluster_id: &str) -> StoreResult<Option<AgentSnapshot>>;
    async fn seq_stats(&self, cluster_id: &str) -> StoreResult<SeqStats>;
}
