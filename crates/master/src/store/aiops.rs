//! The AIOps engine's persisted state.

use async_trait::async_trait;
use atlhyper_model::Timestamp;

use super::StoreResult;

#[async_trait]
pub trait AiopsStore: Send + Sync {
    async fn save_aiops_state(&self, json: &str, at: Timestamp) -> StoreResult<()>;
    /// The saved state and when it was saved.
    async fn load_aiops_state(&self) -> StoreResult<Option<(String, Timestamp)>>;
}
