//! What an agent pushes to `POST /agent/snapshot`: one numbered snapshot per collect cycle.

use serde::{Deserialize, Serialize};

use crate::{NodeMetrics, NodeSeries, ResourceSnapshot, ServiceSlo, SloCounters, SloGroupKey, Timestamp};

/// The snapshot protocol version; the master refuses versions it does not know.
pub const SNAPSHOT_VERSION: u32 = 1;

/// One agent snapshot. `seq` increases by one per snapshot the agent produces, so the master
/// can tell duplicates (ingest is idempotent on cluster and seq) from gaps (snapshots lost).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSnapshot {
    pub version: u32,
    pub cluster_id: String,
    pub seq: u64,
    pub taken_at: Timestamp,
    /// SLO entries over the agent's current window.
    #[serde(default)]
    pub slo: Vec<ServiceSlo>,
    /// Counter increases since the previous snapshot, per SLO group: the master stores these
    /// per minute and computes every window from them.
    #[serde(default)]
    pub slo_counters: Vec<GroupCounters>,
    /// The interval `slo_counters` covers.
    pub interval_start: Timestamp,
    pub interval_end: Timestamp,
    /// Snapshots the agent had to drop (spool over its bounds), counted since it started.
    #[serde(default)]
    pub dropped_snapshots: u64,
    /// Health of each scrape target.
    #[serde(default)]
    pub targets: Vec<TargetHealth>,
    /// The latest node_exporter figures per node.
    #[serde(default)]
    pub nodes: Vec<NodeMetrics>,
    /// Each node's last hour at one-minute resolution (the agent's concentrator ring).
    #[serde(default)]
    pub node_series: Vec<NodeSeries>,
    /// The cluster's Kubernetes resources (full state), its counts and anomalies; `None` when
    /// the agent has no Kubernetes access or resource watching is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSnapshot>,
}

/// One SLO group's counters over an interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupCounters {
    #[serde(flatten)]
    pub key: SloGroupKey,
    #[serde(flatten)]
    pub counters: SloCounters,
}

/// The last outcome of scraping one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub target: String,
    pub last_success: Option<Timestamp>,
    pub last_error: Option<String>,
    pub duration_ms: f64,
    pub series: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SloType;

    #[test]
    fn group_counters_are_flat_on_the_wire() {
        let g = GroupCounters {
            key: SloGroupKey {
                kind: SloType::Service,
                source: "web".into(),
                source_namespace: "shop".into(),
                target: "api".into(),
                namespace: "shop".into(),
            },
            counters: SloCounters {
                total: 3.0,
                success: 2.0,
                failure: 1.0,
                ..Default::default()
            },
        };
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(json["type"], "service");
        assert_eq!(json["total"], 3.0);
        let back: GroupCounters = serde_json::from_value(json).unwrap();
        assert_eq!(back, g);
    }
}
