//! What a tick returns.

use serde::{Deserialize, Serialize};

use crate::entity::EntityKind;
use crate::risk::{ClusterLevel, RiskLevel};
use crate::state::Transition;

/// The risk of one entity after a tick, stage by stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityRisk {
    pub key: String,
    pub kind: EntityKind,
    pub r_local: f64,
    pub w_time: f64,
    pub r_weighted: f64,
    pub r_final: f64,
    pub level: RiskLevel,
    /// Since when the entity has been anomalous without a break.
    pub first_anomaly_ms: Option<i64>,
}

/// The risk of a cluster (0–100) and its terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterRisk {
    pub risk: f64,
    pub level: ClusterLevel,
    pub max_r_final: f64,
    /// Worst SLO burn rate reported, a plain ratio.
    pub max_burn_rate: f64,
    pub f_slo: f64,
    /// Relative growth of anomalous entities over the growth window, and its factor.
    pub growth: f64,
    pub f_growth: f64,
    /// Entities with R_local > 0.
    pub anomalous_entities: usize,
    pub total_entities: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterReport {
    pub cluster: String,
    pub risk: ClusterRisk,
    /// Riskiest entities first (R_final > 0 only), at most `EngineConfig::ranking_limit`.
    pub ranking: Vec<EntityRisk>,
}

/// One entity's state-machine transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    pub cluster: String,
    pub entity: String,
    pub transition: Transition,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    /// The incident that disappeared.
    pub from: String,
    /// The incident that holds its entities and timeline now.
    pub into: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TickOutput {
    pub now_ms: i64,
    pub clusters: Vec<ClusterReport>,
    pub state_changes: Vec<StateChange>,
    /// Incident ids.
    pub incidents_opened: Vec<String>,
    pub incidents_updated: Vec<String>,
    pub incidents_resolved: Vec<String>,
    pub incidents_merged: Vec<Merge>,
    /// Input the engine skipped, one message each (bad keys, impossible edges, non-finite
    /// values, duplicates). The rest of the tick went ahead.
    pub issues: Vec<String>,
}
