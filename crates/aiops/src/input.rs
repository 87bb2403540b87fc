//! What the master hands the engine each tick: per cluster, its entities with this tick's
//! metrics and signals, and the dependency edges.

use serde::{Deserialize, Serialize};

use crate::detect::Signals;
use crate::entity::EntityRef;
use crate::metric::Metric;

/// One tick's input for every cluster that has news. A cluster missing from a tick is simply
/// not evaluated (its entries expire after 30 minutes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TickInput {
    pub clusters: Vec<ClusterInput>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterInput {
    pub cluster: String,
    #[serde(default)]
    pub entities: Vec<EntityInput>,
    /// Dependencies `from → to`: ingress → service, service → workload (or → pod for a pod
    /// without one), workload → pod, pod → node, service → service (mesh calls). Ends not
    /// listed in `entities` are added without metrics.
    #[serde(default)]
    pub edges: Vec<EdgeInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityInput {
    #[serde(flatten)]
    pub entity: EntityRef,
    /// Measured values of this tick, in the units of [`Metric`].
    #[serde(default)]
    pub metrics: Vec<Sample>,
    #[serde(default)]
    pub signals: Signals,
}

impl EntityInput {
    pub fn new(entity: EntityRef) -> Self {
        Self {
            entity,
            metrics: Vec::new(),
            signals: Signals::default(),
        }
    }

    /// Adds a measured value.
    pub fn with(mut self, metric: Metric, value: f64) -> Self {
        self.metrics.push(Sample { metric, value });
        self
    }

    pub fn with_signals(mut self, signals: Signals) -> Self {
        self.signals = signals;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub metric: Metric,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeInput {
    pub from: EntityRef,
    pub to: EntityRef,
}

impl EdgeInput {
    pub fn new(from: EntityRef, to: EntityRef) -> Self {
        Self { from, to }
    }
}
