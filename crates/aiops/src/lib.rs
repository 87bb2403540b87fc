//! The pure AIOps engine of AtlHyper: dependency graph (M1), baselines and detectors (M2),
//! risk scores (M3), a state machine per entity (M4) and incidents grouped by root cause (M5),
//! every number explainable. No I/O, no clock: time is a parameter of [`Engine::tick`].
//! `docs/aiops.md` has the model, every formula and constant, and the original's bugs.
//!
//! - [`Engine::new`] with an [`EngineConfig`] (defaults are the seed's constants);
//! - [`Engine::tick`]`(now_ms, &`[`TickInput`]`)` → [`TickOutput`]: per cluster its
//!   [`ClusterRisk`] and riskiest entities, the state changes, incidents opened, updated,
//!   resolved and merged, and the input items that were skipped;
//! - [`Engine::explain`] → [`Explanation`]: metrics with baselines, deviations and scores,
//!   the formula terms, dependencies and the path to the root cause;
//! - [`Engine::incidents`], [`Engine::incident`], [`Engine::statistics`]`(from_ms, to_ms)`;
//! - [`Engine::graph`] → [`DependencyGraph`] with upstream / downstream traversal;
//! - the [`Engine`] is `Serialize + Deserialize`: persist it, restore it, continue.
//!
//! ```
//! use atlhyper_aiops::{ClusterInput, Engine, EngineConfig, EntityInput, EntityKind, EntityRef,
//!                      Metric, TickInput};
//!
//! let mut engine = Engine::new(EngineConfig::default())?;
//! let cart = EntityRef::new(EntityKind::Service, "shop", "cart");
//! let input = TickInput {
//!     clusters: vec![ClusterInput {
//!         cluster: "prod".into(),
//!         entities: vec![EntityInput::new(cart).with(Metric::ErrorRate, 0.001)],
//!         edges: vec![],
//!     }],
//! };
//! let out = engine.tick(1_700_000_000_000, &input)?;
//! assert_eq!(out.clusters[0].risk.total_entities, 1);
//! let why = engine.explain("prod", "shop/service/cart")?;
//! assert_eq!(why.r_final, 0.0);
//! # Ok::<(), atlhyper_aiops::AiopsError>(())
//! ```

mod baseline;
mod cluster;
mod detect;
mod engine;
mod entity;
mod error;
mod explain;
mod graph;
mod hash;
mod incident;
mod input;
mod lifecycle;
mod metric;
mod report;
mod risk;
#[cfg(test)]
mod scenarios;
mod state;

pub use baseline::{Baseline, BaselineConfig, Observation, sigmoid_score};
pub use cluster::RiskRecord;
pub use detect::{
    CRITICAL_EVENT_WINDOW_MS, ContainerProblem, Finding, LatencyRegressionConfig, ROLLOUT_REGRESSION_SCORE,
    Signals, container_score, detect, latency_regression, rollout_regression,
};
pub use engine::{Engine, EngineConfig};
pub use entity::{CLUSTER_SCOPE, EntityKind, EntityRef};
pub use error::AiopsError;
pub use explain::{BaselineView, DependencyContribution, Explanation, MetricExplanation};
pub use graph::{
    DEFAULT_TRACE_DEPTH, DependencyGraph, EdgeKind, GraphBuilder, GraphEdge, GraphNode, Reached,
};
pub use incident::{
    Event, Incident, IncidentEntity, IncidentStore, Role, RootCauseCount, Severity, Statistics,
    TOP_ROOT_CAUSES, TimelineEntry, statistics,
};
pub use input::{ClusterInput, EdgeInput, EntityInput, Sample, TickInput};
pub use metric::{Channel, DEFAULT_WEIGHT, Direction, Metric};
pub use report::{ClusterReport, ClusterRisk, EntityRisk, Merge, StateChange, TickOutput};
pub use risk::{
    ClusterLevel, LocalRisk, MetricScore, RiskConfig, RiskLevel, breadth_boost, burn_rate, cluster_risk,
    growth_factor, growth_ratio, local_risk, propagate, self_weight_of, slo_factor, time_weight,
};
pub use state::{Machine, Reason, State, StateConfig, Timers, Transition};
