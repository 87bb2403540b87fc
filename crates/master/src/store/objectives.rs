//! SLO objectives: per entry, or per type as the cluster's default.

use async_trait::async_trait;
use atlhyper_model::{SloType, Timestamp};
use serde::{Deserialize, Serialize};

use super::StoreResult;

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

#[async_trait]
pub trait ObjectiveStore: Send + Sync {
    async fn slo_targets(&self, cluster_id: &str) -> StoreResult<Vec<SloTargetRecord>>;
    async fn put_slo_target(&self, target: &SloTargetRecord) -> StoreResult<()>;
}
