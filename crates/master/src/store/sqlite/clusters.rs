//! Registered clusters.

use async_trait::async_trait;
use atlhyper_model::Timestamp;

use super::{SqliteStore, conflict_or};
use crate::store::{ClusterRecord, ClusterStore, StoreResult};

#[async_trait]
impl ClusterStore for SqliteStore {
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
}

fn cluster_record((id, name, token_hash, created_at): (String, String, String, i64)) -> ClusterRecord {
    ClusterRecord {
        id,
        name,
        token_hash,
        created_at: Timestamp(created_at),
    }
}
