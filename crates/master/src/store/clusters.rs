//! Registered clusters and their agents' token hashes.

use async_trait::async_trait;
use atlhyper_model::Timestamp;
use serde::{Deserialize, Serialize};

use super::StoreResult;

/// A registered cluster. Only a hash of the agent token is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRecord {
    pub id: String,
    pub name: String,
    pub token_hash: String,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait ClusterStore: Send + Sync {
    async fn create_cluster(&self, cluster: &ClusterRecord) -> StoreResult<()>;
    async fn cluster(&self, id: &str) -> StoreResult<Option<ClusterRecord>>;
    async fn clusters(&self) -> StoreResult<Vec<ClusterRecord>>;
}
