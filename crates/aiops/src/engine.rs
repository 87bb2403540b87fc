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
use crate::incident::{Event, Incident, IncidentEntity, IncidentStore, Role, Statistics};
use crate::input::TickInput;
use crate::metric::Metric;
use crate::report::{ClusterReport, ClusterRisk, EntityRisk, Merge, StateChange, TickOutput};
use crate::risk::RiskConfig;
use crate::state::{State, StateConfig, Transition};

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

/// M5 for one cluster within one tick.
struct Lifecycle<'a> {
    name: &'a str,
    cluster: &'a ClusterState,
    incidents: &'a mut IncidentStore,
    config: &'a EngineConfig,
    now_ms: i64,
    out: &'a mut TickOutput,
}

fn is_active(state: State) -> bool {
    matches!(state, State::Warning | State::Incident | State::Recovery)
}

impl<'a> Lifecycle<'a> {
    fn new(
        name: &'a str,
        cluster: &'a ClusterState,
        incidents: &'a mut IncidentStore,
        config: &'a EngineConfig,
        now_ms: i64,
        out: &'a mut TickOutput,
    ) -> Self {
        Self {
            name,
            cluster,
            incidents,
            config,
            now_ms,
            out,
        }
    }

    fn apply(&mut self, transitions: Vec<(String, Transition)>) {
        for (key, transition) in transitions {
            let member_of = self.incidents.open_with_member(self.name, &key);
            match (member_of, transition.from, transition.to) {
                (Some(seq), ..) => self.update_member(seq, &key, &transition),
                (None, State::Healthy | State::Recovery, State::Warning) => self.join(&key),
                // Not part of an incident (restored state, or merged away): nothing to record.
                (None, ..) => {}
            }
            self.out.state_changes.push(StateChange {
                cluster: self.name.to_owned(),
                entity: key,
                transition,
            });
        }
    }

    fn update_member(&mut self, seq: u64, key: &str, transition: &Transition) {
        let Some(incident) = self.incidents.get_mut(seq) else {
            return;
        };
        if let Some(member) = incident.member_mut(key) {
            member.state = transition.to;
            member.active = is_active(transition.to);
        }
        incident.record(
            transition.at_ms,
            key,
            Event::EntityStateChange {
                from: transition.from,
                to: transition.to,
                reason: transition.reason,
            },
        );
    }

    fn member(&self, index: usize, role: Role) -> IncidentEntity {
        let node = self.cluster.graph.node(index);
        let record = &self.cluster.records[index];
        let state = self.cluster.machine_state(&node.key);
        IncidentEntity {
            key: node.key.clone(),
            kind: node.kind,
            role,
            r_local: record.local.r_local,
            r_final: record.r_final,
            peak_r_final: record.r_final,
            state,
            joined_at_ms: self.now_ms,
            active: is_active(state),
        }
    }

    fn role_of(&self, index: usize, root: usize) -> Role {
        if index == root {
            Role::RootCause
        } else if self.cluster.records[index].r_weighted >= self.config.root_cause_min_local {
            Role::Affected
        } else {
            Role::Symptom
        }
    }

    /// An entity started warning and belongs to no open incident.
    fn join(&mut self, key: &str) {
        let cluster = self.cluster;
        let Some(index) = cluster.graph.index_of(key) else {
            return;
        };
        let (root, _) = cluster.root_cause(index, self.config);
        let root_key = &cluster.graph.node(root).key;
        let existing = self
            .incidents
            .open_with_member(self.name, root_key)
            .or_else(|| self.open_rooted_at(root));
        let seq = match existing {
            Some(seq) => seq,
            None => {
                let metrics = cluster.anomalous_metrics(root_key);
                let first = self.member(root, Role::RootCause);
                let seq = self.incidents.open(self.name, first, metrics, self.now_ms);
                let id = self.incidents.get(seq).map(|i| i.id.clone()).unwrap_or_default();
                self.out.incidents_opened.push(id);
                if root == index {
                    return;
                }
                seq
            }
        };
        let role = self.role_of(index, root);
        let member = self.member(index, role);
        let metrics = cluster.anomalous_metrics(key);
        if let Some(incident) = self.incidents.get_mut(seq) {
            incident.entities.push(member);
            incident.record(self.now_ms, key, Event::AnomalyDetected { role, metrics });
        }
    }

    /// The open incident whose root cause now leads to `root`, if any.
    fn open_rooted_at(&self, root: usize) -> Option<u64> {
        self.incidents.open_seqs().into_iter().find(|&seq| {
            let Some(incident) = self.incidents.get(seq) else {
                return false;
            };
            incident.cluster == self.name
                && self
                    .cluster
                    .graph
                    .index_of(&incident.root_cause)
                    .is_some_and(|i| self.cluster.root_cause(i, self.config).0 == root)
        })
    }

    /// Refreshes members' risks, moves root causes deeper, merges, settles states.
    fn maintain(&mut self) {
        let open: Vec<u64> = self
            .incidents
            .open_seqs()
            .into_iter()
            .filter(|&seq| self.incidents.get(seq).is_some_and(|i| i.cluster == self.name))
            .collect();
        for &seq in &open {
            self.reroot(seq);
        }
        for seq in open {
            let Some(incident) = self.incidents.get_mut(seq) else {
                continue;
            };
            refresh_members(incident, self.cluster, self.now_ms);
            if incident.settle(self.now_ms) {
                self.out.incidents_resolved.push(incident.id.clone());
                self.incidents.close(seq);
            }
        }
    }

    fn reroot(&mut self, seq: u64) {
        let cluster = self.cluster;
        let Some(incident) = self.incidents.get(seq) else {
            return;
        };
        let Some(current) = cluster.graph.index_of(&incident.root_cause) else {
            return;
        };
        let (root, _) = cluster.root_cause(current, self.config);
        if root == current {
            return;
        }
        let root_key = cluster.graph.node(root).key.clone();
        let other = self
            .incidents
            .open_seqs()
            .into_iter()
            .filter(|&o| o != seq)
            .find(|&o| {
                self.incidents
                    .get(o)
                    .is_some_and(|i| i.cluster == self.name && i.member(&root_key).is_some())
            });
        let survivor = match other {
            Some(other) => {
                let (survivor, absorbed) = (seq.min(other), seq.max(other));
                let Some(absorbed) = self.incidents.remove(absorbed) else {
                    return;
                };
                let Some(target) = self.incidents.get_mut(survivor) else {
                    return;
                };
                self.out.incidents_merged.push(Merge {
                    from: absorbed.id.clone(),
                    into: target.id.clone(),
                });
                fold(target, absorbed, self.now_ms);
                survivor
            }
            None => seq,
        };
        let Some(previous) = self.incidents.get(survivor).map(|i| i.root_cause.clone()) else {
            return;
        };
        if previous == root_key {
            return;
        }
        let previous_role = cluster
            .graph
            .index_of(&previous)
            .map_or(Role::Affected, |i| self.role_of(i, root));
        let new_root = self.member(root, Role::RootCause);
        let Some(incident) = self.incidents.get_mut(survivor) else {
            return;
        };
        incident.root_cause = root_key.clone();
        if let Some(old) = incident.member_mut(&previous) {
            old.role = previous_role;
        }
        match incident.member_mut(&root_key) {
            Some(member) => member.role = Role::RootCause,
            None => incident.entities.push(new_root),
        }
        incident.record(
            self.now_ms,
            &root_key,
            Event::RootCauseIdentified {
                previous: Some(previous),
            },
        );
    }
}

/// Latest risks of the members; the peak risk (and severity) follow the active ones.
fn refresh_members(incident: &mut Incident, cluster: &ClusterState, now_ms: i64) {
    let mut active = Vec::new();
    for member in &mut incident.entities {
        if let Some(record) = cluster.record(&member.key) {
            member.r_local = record.local.r_local;
            member.r_final = record.r_final;
        }
        if member.active {
            member.peak_r_final = member.peak_r_final.max(member.r_final);
            active.push((member.key.clone(), member.r_final));
        }
    }
    for (key, r_final) in active {
        incident.observe_risk(now_ms, &key, r_final);
    }
}

/// Folds `absorbed` into `target`: members, timeline, peaks.
fn fold(target: &mut Incident, absorbed: Incident, now_ms: i64) {
    for member in absorbed.entities {
        match target.member_mut(&member.key) {
            Some(existing) => {
                if member.active {
                    existing.active = true;
                    existing.state = member.state;
                }
                existing.peak_r_final = existing.peak_r_final.max(member.peak_r_final);
            }
            None => target.entities.push(IncidentEntity {
                role: match member.role {
                    Role::RootCause => Role::Affected,
                    role => role,
                },
                ..member
            }),
        }
    }
    target.timeline.extend(absorbed.timeline);
    target.timeline.sort_by_key(|e| e.at_ms);
    target.recurrence = target.recurrence.max(absorbed.recurrence);
    target.peak_risk = target.peak_risk.max(absorbed.peak_risk);
    target.severity = target.severity.max(absorbed.severity);
    target.started_at_ms = target.started_at_ms.min(absorbed.started_at_ms);
    let root = target.root_cause.clone();
    target.record(
        now_ms,
        &root,
        Event::Merged {
            incident: absorbed.id,
        },
    );
}
