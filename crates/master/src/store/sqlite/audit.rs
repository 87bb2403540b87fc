//! The append-only audit log.

use async_trait::async_trait;
use atlhyper_model::Timestamp;

use super::SqliteStore;
use crate::store::{AuditFilter, AuditRecord, AuditStore, StoreResult};

/// Audit query limits.
const AUDIT_DEFAULT_LIMIT: u32 = 100;
const AUDIT_MAX_LIMIT: u32 = 1000;

#[async_trait]
impl AuditStore for SqliteStore {
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
}
