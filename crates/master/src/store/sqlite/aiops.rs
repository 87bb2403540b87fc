//! The AIOps engine's saved state.

use async_trait::async_trait;
use atlhyper_model::Timestamp;

use super::SqliteStore;
use crate::store::{AiopsStore, StoreResult};

#[async_trait]
impl AiopsStore for SqliteStore {
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
