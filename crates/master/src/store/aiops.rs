//! What the AIOps engine leaves behind: incidents with their members and timelines, in
//! tables of their own, and each cluster's learning state with the version of its format.

use async_trait::async_trait;
use atlhyper_aiops::Incident;
use atlhyper_model::Timestamp;

use super::StoreResult;

/// One cluster's engine state (graph, baselines, state machines, open incidents) as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineStateRecord {
    pub cluster_id: String,
    /// The format of `state`; a master that reads another version relearns.
    pub version: u32,
    pub saved_at: Timestamp,
    pub state: String,
}

/// Which incidents a query returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    pub cluster: Option<String>,
    pub state: Option<IncidentStateFilter>,
    /// Incidents that started at or after this time.
    pub started_from: Option<Timestamp>,
    /// Incidents that started before this time.
    pub started_before: Option<Timestamp>,
    /// Newest first; at most this many (0: all).
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentStateFilter {
    Open,
    Resolved,
    /// Exactly this incident state.
    Is(atlhyper_aiops::State),
}

/// One tick's changes, written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct AiopsChanges<'a> {
    /// Incidents opened or changed: written whole (members and timeline).
    pub incidents: Vec<&'a Incident>,
    /// Incidents folded into another: deleted.
    pub removed: Vec<String>,
    /// The cluster's engine state, when it is due.
    pub state: Option<EngineStateRecord>,
}

#[async_trait]
pub trait AiopsStore: Send + Sync {
    /// Writes one tick's incidents and engine state together, so the two never disagree.
    async fn save_aiops(&self, changes: AiopsChanges<'_>) -> StoreResult<()>;
    /// Incidents matching `filter`, newest first (by start, then id), with the total before
    /// `limit`/`offset`. Members are included, timelines are not (see [`AiopsStore::incident`]).
    async fn incidents(&self, filter: &IncidentFilter) -> StoreResult<(Vec<Incident>, u64)>;
    /// One incident, whole.
    async fn incident(&self, id: &str) -> StoreResult<Option<Incident>>;
    /// Deletes incidents resolved before `cutoff`; returns how many.
    async fn prune_incidents(&self, resolved_before: Timestamp) -> StoreResult<u64>;
    /// Every cluster's saved engine state.
    async fn engine_states(&self) -> StoreResult<Vec<EngineStateRecord>>;
    /// The single document an earlier version saved for every cluster at once, if one is left.
    async fn legacy_aiops_state(&self) -> StoreResult<Option<String>>;
    /// Empties the legacy document once its content lives in the tables.
    async fn drop_legacy_aiops_state(&self) -> StoreResult<()>;
}
