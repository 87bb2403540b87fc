//! Snapshot ingest: the (cluster, seq) record, the latest snapshot and its counters in one transaction.

use async_trait::async_trait;
use atlhyper_model::{AgentSnapshot, Timestamp};

use super::counters::{add_entries, check_counters, is_empty};
use super::{SqliteStore, corrupt, floor_to, to_i64, to_u64};
use crate::store::{IngestOutcome, MINUTE_MS, SeqStats, SnapshotStore, StoreError, StoreResult};

#[async_trait]
impl SnapshotStore for SqliteStore {
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
}
