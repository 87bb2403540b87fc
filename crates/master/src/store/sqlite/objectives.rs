//! SLO objectives per entry and per type.

use async_trait::async_trait;
use atlhyper_model::Timestamp;
use sqlx::Row;

use super::{SqliteStore, corrupt, parse_kind};
use crate::store::{ObjectiveStore, SloTargetRecord, StoreError, StoreResult};

#[async_trait]
impl ObjectiveStore for SqliteStore {
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
}
