//! The engine: one [`Engine::tick`] runs M1 → M5 for every cluster of the input.
//!
//! Incidents group entities by root cause: when an entity starts warning, the engine finds its
//! root cause ([`ClusterState::root_cause`]) and the entity joins the open incident that
//! already holds it (or holds the entity itself, or whose own root cause leads there), or opens
//! one with that root cause. Each tick, every open incident checks whether its root cause now
//! leads deeper; if so the root moves, and two open incidents that end up with one root cause
//! are merged into the older.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::baseline::{Baseline, BaselineConfig};
use crate::cluster::ClusterState;
use crate::detect::LatencyRegressionConfig;
use crate::error::AiopsError;
use crate::explain::{Explanation, explain};
use crate::graph::DependencyGraph;
use crate::incident::{Incident, IncidentStore, Statistics};
use crate::input::TickInput;
use crate::lifecycle::Lifecycle;
use crate::metric::Metric;
use crate::report::{ClusterReport, ClusterRisk, EntityRisk, TickOutput};
use crate::risk::RiskConfig;
use crate::state::{State, StateConfig};

/// Every tunable of the engine. Defaults are the seed's and the original's constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    pub baseline: BaselineConfig,
    pub risk: RiskConfig,
    pub state: StateConfig,
    /// R_weighted an entity needs to be a root cause (or an affected, not a symptom, member).
    pub root_cause_min_local: f64,
    /// How long a `calls` edge outlives its last sighting in mesh traffic.
    pub calls_edge_ttl_ms: i64,
    /// Length of each cluster's risk ranking in [`TickOutput`].
    pub ranking_limit: usize,
    /// The latency regression detector (P99 against its own baseline).
    pub latency_regression: LatencyRegressionConfig,
    /// How soon after a workload's rollout a service's anomaly is blamed on the rollout.
    pub rollout_window_ms: i64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            baseline: BaselineConfig::default(),
            risk: RiskConfig::default(),
            state: StateConfig::default(),
            root_cause_min_local: 0.20,
            calls_edge_ttl_ms: 3_600_000,
            ranking_limit: 20,
            latency_regression: LatencyRegressionConfig::default(),
            rollout_window_ms: 15 * 60_000,
        }
    }
}

impl EngineConfig {
    pub fn validate(&self) -> Result<(), AiopsError> {
        let check = |ok: bool, field, reason| {
            if ok {
                Ok(())
            } else {
                Err(AiopsError::InvalidConfig { field, reason })
            }
        };
        let unit = |x: f64| (0.0..=1.0).contains(&x);
        let b = &self.baseline;
        check(
            b.alpha > 0.0 && b.alpha <= 1.0,
            "baseline.alpha",
            "must be in (0, 1]",
        )?;
        check(
            b.threshold_sigma > 0.0,
            "baseline.threshold_sigma",
            "must be positive",
        )?;
        check(b.sigmoid_k > 0.0, "baseline.sigmoid_k", "must be positive")?;
        let r = &self.risk;
        check(unit(r.temporal_floor), "risk.temporal_floor", "must be in [0, 1]")?;
        check(r.temporal_tau_ms > 0, "risk.temporal_tau_ms", "must be positive")?;
        check(unit(r.self_weight), "risk.self_weight", "must be in [0, 1]")?;
        check(
            r.cluster_weights.iter().all(|&w| w >= 0.0)
                && r.cluster_weights.iter().sum::<f64>() <= 1.0 + 1e-9,
            "risk.cluster_weights",
            "must be non-negative and sum to at most 1",
        )?;
        let s = &self.state;
        check(
            s.warning_clear <= s.warning_enter && s.warning_enter <= s.incident_enter,
            "state thresholds",
            "must satisfy warning_clear <= warning_enter <= incident_enter",
        )?;
        check(
            s.recovery_enter <= s.recurrence,
            "state.recovery_enter",
            "must not exceed state.recurrence",
        )?;
        let durations = [
            s.warning_enter_ms,
            s.warning_clear_ms,
            s.incident_enter_ms,
            s.recovery_enter_ms,
            s.recovery_hold_ms,
            s.stale_after_ms,
        ];
        check(
            durations.iter().all(|&d| d >= 0),
            "state durations",
            "must not be negative",
        )?;
        let l = &self.latency_regression;
        check(
            l.tiers.iter().all(|&(ratio, score)| ratio > 1.0 && unit(score))
                && l.tiers.windows(2).all(|w| w[0].0 >= w[1].0),
            "latency_regression.tiers",
            "ratios must exceed 1 and fall, scores must be in [0, 1]",
        )?;
        check(
            l.min_observations >= 0.0 && l.min_observations.is_finite() && l.hold_ms >= 0,
            "latency_regression",
            "min_observations and hold_ms must not be negative",
        )?;
        check(
            self.rollout_window_ms >= 0,
            "rollout_window_ms",
            "must not be negative",
        )?;
        check(
            unit(self.root_cause_min_local),
            "root_cause_min_local",
            "must be in [0, 1]",
        )
    }
}

/// The AIOps engine: per-cluster graphs, baselines, risks and state machines, and the incident
/// store. Pure: time comes in as a parameter, nothing is read or written outside. The whole
/// engine round-trips through serde, so the master can persist and restore it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "EngineState")]
pub struct Engine {
    config: EngineConfig,
    clusters: BTreeMap<String, ClusterState>,
    incidents: IncidentStore,
}

#[derive(Deserialize)]
struct EngineState {
    config: EngineConfig,
    clusters: BTreeMap<String, ClusterState>,
    incidents: IncidentStore,
}

impl TryFrom<EngineState> for Engine {
    type Error = AiopsError;

    fn try_from(state: EngineState) -> Result<Self, AiopsError> {
        state.config.validate()?;
        for (name, cluster) in &state.clusters {
            if cluster.records.len() != cluster.graph.len() {
                return Err(AiopsError::InvalidState {
                    cluster: name.clone(),
                    reason: "risk records do not match the graph",
                });
            }
        }
        Ok(Self {
            config: state.config,
            clusters: state.clusters,
            incidents: state.incidents,
        })
    }
}

impl Engine {
    pub fn new(config: EngineConfig) -> Result<Self, AiopsError> {
        config.validate()?;
        Ok(Self {
            config,
            clusters: BTreeMap::new(),
            incidents: IncidentStore::default(),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// One evaluation at `now_ms` (ms since the epoch). Fails, changing nothing, if `now_ms`
    /// is older than a cluster's last tick; bad input items are skipped and listed in
    /// [`TickOutput::issues`].
    pub fn tick(&mut self, now_ms: i64, input: &TickInput) -> Result<TickOutput, AiopsError> {
        for cluster in &input.clusters {
            if let Some(last_ms) = self.clusters.get(&cluster.cluster).and_then(|c| c.last_tick_ms)
                && now_ms < last_ms
            {
                return Err(AiopsError::ClockWentBack {
                    cluster: cluster.cluster.clone(),
                    now_ms,
                    last_ms,
                });
            }
        }
        let mut out = TickOutput {
            now_ms,
            ..TickOutput::default()
        };
        let timeline_before: HashMap<u64, usize> = self
            .incidents
            .open_seqs()
            .into_iter()
            .map(|seq| (seq, self.incidents.get(seq).map_or(0, |i| i.timeline.len())))
            .collect();
        let mut ticked: Vec<&str> = Vec::new();
        for cluster_input in &input.clusters {
            let name = cluster_input.cluster.as_str();
            if ticked.contains(&name) {
                out.issues.push(
                    AiopsError::DuplicateCluster {
                        cluster: name.to_owned(),
                    }
                    .to_string(),
                );
                continue;
            }
            ticked.push(name);
            let cluster = self.clusters.entry(name.to_owned()).or_default();
            let transitions = cluster.ingest(now_ms, cluster_input, &self.config, &mut out.issues);
            let mut lifecycle =
                Lifecycle::new(name, cluster, &mut self.incidents, &self.config, now_ms, &mut out);
            lifecycle.apply(transitions);
        }
        for (name, cluster) in self.clusters.iter_mut() {
            let expired = cluster.expire(now_ms, &self.config);
            let mut lifecycle =
                Lifecycle::new(name, cluster, &mut self.incidents, &self.config, now_ms, &mut out);
            lifecycle.apply(expired);
            lifecycle.maintain();
        }
        for name in ticked {
            let cluster = &self.clusters[name];
            out.clusters.push(ClusterReport {
                cluster: name.to_owned(),
                risk: cluster.risk.clone(),
                ranking: cluster.ranking(self.config.ranking_limit),
            });
        }
        for (seq, before) in timeline_before {
            if let Some(incident) = self.incidents.get(seq)
                && incident.timeline.len() > before
                && !out.incidents_resolved.contains(&incident.id)
            {
                out.incidents_updated.push(incident.id.clone());
            }
        }
        out.incidents_updated.sort_unstable();
        Ok(out)
    }

    /// Names of the clusters the engine has seen.
    pub fn clusters(&self) -> impl Iterator<Item = &str> {
        self.clusters.keys().map(String::as_str)
    }

    pub fn graph(&self, cluster: &str) -> Option<&DependencyGraph> {
        self.clusters.get(cluster).map(|c| &c.graph)
    }

    /// The riskiest entities of a cluster after the last tick (R_final > 0), at most `limit`.
    pub fn ranking(&self, cluster: &str, limit: usize) -> Vec<EntityRisk> {
        self.clusters
            .get(cluster)
            .map_or_else(Vec::new, |c| c.ranking(limit))
    }

    pub fn cluster_risk(&self, cluster: &str) -> Option<&ClusterRisk> {
        self.clusters.get(cluster).map(|c| &c.risk)
    }

    /// The learnt baseline of one metric of one entity.
    pub fn baseline(&self, cluster: &str, key: &str, metric: Metric) -> Option<&Baseline> {
        self.clusters
            .get(cluster)?
            .baselines
            .get(key)?
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, b)| b)
    }

    /// The state-machine state of an entity (healthy if it has none).
    pub fn entity_state(&self, cluster: &str, key: &str) -> State {
        self.clusters
            .get(cluster)
            .map_or(State::Healthy, |c| c.machine_state(key))
    }

    pub fn incidents(&self) -> &IncidentStore {
        &self.incidents
    }

    pub fn incident(&self, id: &str) -> Option<&Incident> {
        self.incidents.by_id(id)
    }

    /// Statistics of the incidents that started in [from_ms, to_ms).
    pub fn statistics(&self, from_ms: i64, to_ms: i64) -> Statistics {
        self.incidents.statistics(from_ms, to_ms)
    }

    /// One engine per cluster, each with that cluster's learning state and incidents (and the
    /// shared configuration): what a master that runs one engine per cluster restores from a
    /// state saved for all clusters at once.
    pub fn split_by_cluster(self) -> Vec<(String, Engine)> {
        let Self {
            config,
            clusters,
            incidents,
        } = self;
        clusters
            .into_iter()
            .map(|(name, state)| {
                let mut own = incidents.clone();
                own.retain_cluster(&name);
                let engine = Engine {
                    config,
                    clusters: BTreeMap::from([(name.clone(), state)]),
                    incidents: own,
                };
                (name, engine)
            })
            .collect()
    }

    /// Drops incidents resolved before `cutoff_ms`; returns how many.
    pub fn prune_incidents(&mut self, cutoff_ms: i64) -> usize {
        self.incidents.prune_resolved_before(cutoff_ms)
    }

    /// Every number behind the risk of `key` in `cluster` after the last tick.
    pub fn explain(&self, cluster: &str, key: &str) -> Result<Explanation, AiopsError> {
        let state = self
            .clusters
            .get(cluster)
            .ok_or_else(|| AiopsError::UnknownCluster {
                cluster: cluster.to_owned(),
            })?;
        let index = state
            .graph
            .index_of(key)
            .ok_or_else(|| AiopsError::UnknownEntity {
                cluster: cluster.to_owned(),
                entity: key.to_owned(),
            })?;
        Ok(explain(cluster, state, index, &self.config))
    }
}
