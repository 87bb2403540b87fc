//! The append-only audit log.

use async_trait::async_trait;
use atlhyper_model::Timestamp;
use serde::{Deserialize, Serialize};

use super::StoreResult;

/// One audited action: who, what, on what, when, from where, with which result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub source_addr: String,
    /// `ok`, `denied` or `error: …`.
    pub result: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Substring of the target.
    pub target: Option<String>,
    /// Records at or after this time.
    pub since: Option<Timestamp>,
    /// Records before this time (exclusive, like every `[from, to)` range here).
    pub until: Option<Timestamp>,
    /// Newest first; at most this many (0 means 100; capped at 1000).
    pub limit: u32,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<i64>;
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;
}
