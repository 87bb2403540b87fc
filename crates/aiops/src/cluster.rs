//! The state the engine keeps per cluster, and one tick of M1–M4 over it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::baseline::Baseline;
use crate::detect::{Finding, detect, latency_regression, rollout_regression};
use crate::engine::EngineConfig;
use crate::entity::{EntityKind, EntityRef};
use crate::error::AiopsError;
use crate::graph::{DEFAULT_TRACE_DEPTH, DependencyGraph, GraphBuilder};
use crate::hash::{FastMap, FastSet};
use crate::input::{ClusterInput, EntityInput, Sample};
use crate::metric::Metric;
use crate::report::{ClusterRisk, EntityRisk};
use crate::risk::{
    LocalRisk, MetricScore, RiskLevel, cluster_risk, growth_factor, growth_ratio, local_risk, propagate,
    self_weight_of, slo_factor, time_weight,
};
use crate::state::{Machine, State, Transition};

/// The risk of one entity in the last tick, stage by stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RiskRecord {
    pub local: LocalRisk,
    pub w_time: f64,
    pub r_weighted: f64,
    /// P, the mean R_final of the dependencies; `None` without dependencies.
    pub propagated: Option<f64>,
    pub r_final: f64,
}

/// A `calls` edge seen in mesh traffic: kept for an hour after it was last seen, because an
/// idle pair of services still depends on each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RememberedCall {
    pub from: EntityRef,
    pub to: EntityRef,
    pub last_seen_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClusterState {
    pub graph: DependencyGraph,
    /// Aligned with the graph's node indices.
    pub records: Vec<RiskRecord>,
    pub baselines: FastMap<String, Vec<(Metric, Baseline)>>,
    /// Deterministic findings of the last tick, for entities that had any.
    pub findings: FastMap<String, Vec<Finding>>,
    pub first_anomaly: FastMap<String, i64>,
    /// Machines of entities that are not plainly healthy.
    pub machines: FastMap<String, Machine>,
    pub calls: Vec<RememberedCall>,
    /// (time, anomalous entities) over the growth window.
    pub anomaly_history: VecDeque<(i64, usize)>,
    pub risk: ClusterRisk,
    pub last_tick_ms: Option<i64>,
}

impl ClusterState {
    /// M1–M4 for one tick. Returns the state-machine transitions, dependencies first.
    pub fn ingest(
        &mut self,
        now_ms: i64,
        input: &ClusterInput,
        config: &EngineConfig,
        issues: &mut Vec<String>,
    ) -> Vec<(String, Transition)> {
        let inputs = self.build_graph(now_ms, input, config, issues);
        self.score(now_ms, &input.cluster, &inputs, config, issues);
        self.propagate(config);
        self.assess_cluster(now_ms, &inputs, config);
        self.forget_absent(now_ms, config);
        self.last_tick_ms = Some(now_ms);
        self.evaluate_machines(now_ms, config)
    }

    /// Builds the graph and returns each node's input (none for ends only named by edges).
    fn build_graph<'a>(
        &mut self,
        now_ms: i64,
        input: &'a ClusterInput,
        config: &EngineConfig,
        issues: &mut Vec<String>,
    ) -> Vec<Option<&'a EntityInput>> {
        let cluster = input.cluster.as_str();
        let mut builder = GraphBuilder::new();
        let mut inputs: Vec<Option<&EntityInput>> = Vec::with_capacity(input.entities.len());
        for entity in &input.entities {
            let index = match builder.add_entity(&entity.entity) {
                Ok(index) => index as usize,
                Err(err) => {
                    issues.push(format!("cluster {cluster}: {err}"));
                    continue;
                }
            };
            if index < inputs.len() {
                issues.push(
                    AiopsError::DuplicateEntity {
                        cluster: cluster.to_owned(),
                        entity: builder.key(index as u32).to_owned(),
                    }
                    .to_string(),
                );
            } else {
                inputs.push(Some(entity));
            }
        }
        let mut calls_seen: FastSet<(u32, u32)> = FastSet::default();
        for edge in &input.edges {
            match builder.add_edge(cluster, &edge.from, &edge.to) {
                Ok(pair) if edge.from.kind == EntityKind::Service && edge.to.kind == EntityKind::Service => {
                    calls_seen.insert(pair);
                }
                Ok(_) => {}
                Err(err @ AiopsError::InvalidEdge { .. }) => issues.push(err.to_string()),
                Err(err) => issues.push(format!("cluster {cluster}: {err}")),
            }
        }
        self.remember_calls(now_ms, &mut builder, calls_seen, config);
        let (graph, final_index) = builder.build();
        let mut by_node = vec![None; graph.len()];
        for (provisional, entity) in inputs.into_iter().enumerate() {
            by_node[final_index[provisional] as usize] = entity;
        }
        self.graph = graph;
        by_node
    }

    /// Refreshes the remembered `calls` edges with this tick's and re-adds the ones not seen
    /// this tick but younger than the TTL, if both ends are still there.
    fn remember_calls(
        &mut self,
        now_ms: i64,
        builder: &mut GraphBuilder<'_>,
        mut seen: FastSet<(u32, u32)>,
        config: &EngineConfig,
    ) {
        self.calls
            .retain(|c| now_ms - c.last_seen_ms <= config.calls_edge_ttl_ms);
        for call in &mut self.calls {
            let (Some(from), Some(to)) = (builder.find(&call.from), builder.find(&call.to)) else {
                continue;
            };
            if seen.remove(&(from, to)) {
                call.last_seen_ms = now_ms;
            } else {
                builder.link(from, to);
            }
        }
        let mut new: Vec<(u32, u32)> = seen.into_iter().collect();
        new.sort_unstable();
        self.calls
            .extend(new.into_iter().map(|(from, to)| RememberedCall {
                from: builder.node(from).entity(),
                to: builder.node(to).entity(),
                last_seen_ms: now_ms,
            }));
    }

    /// M2 and stages 1–2 of M3 for every entity with input.
    fn score(
        &mut self,
        now_ms: i64,
        cluster: &str,
        inputs: &[Option<&EntityInput>],
        config: &EngineConfig,
        issues: &mut Vec<String>,
    ) {
        self.records = vec![RiskRecord::default(); self.graph.len()];
        self.findings.clear();
        let mut scores: Vec<MetricScore> = Vec::new();
        let mut measured: Vec<(Metric, f64)> = Vec::new();
        let mut extra: Vec<Finding> = Vec::new();
        // Workloads last: their rollout finding looks at the risk of the services above them.
        let is_workload = |i: &usize| self.graph.node(*i).kind.is_workload();
        let order: Vec<usize> = (0..inputs.len())
            .filter(|i| !is_workload(i))
            .chain((0..inputs.len()).filter(is_workload))
            .collect();
        for i in order {
            let Some(input) = inputs[i] else { continue };
            let node = self.graph.node(i);
            let (key, kind) = (&node.key, node.kind);
            scores.clear();
            measured.clear();
            let baselines = match self.baselines.get_mut(key) {
                Some(list) => list,
                None => self.baselines.entry(key.clone()).or_default(),
            };
            for sample in &input.metrics {
                if let Err(err) = check_sample(cluster, key, sample, &measured) {
                    issues.push(err.to_string());
                    continue;
                }
                let baseline = baseline_of(baselines, sample.metric, now_ms);
                let o = baseline.observe(sample.metric, sample.value, now_ms, &config.baseline);
                if sample.metric == Metric::LatencyP99Ms {
                    extra.extend(latency_regression(
                        &o,
                        input.signals.latency_observations,
                        &mut baseline.regression_since_ms,
                        now_ms,
                        &config.latency_regression,
                    ));
                }
                measured.push((sample.metric, sample.value));
                scores.push(MetricScore {
                    metric: sample.metric,
                    score: o.score,
                    anomalous: o.anomalous,
                });
            }
            if let Some(rolled_out) = input.signals.rolled_out_ms.filter(|_| kind.is_workload()) {
                // The first service above it whose own anomaly, strong enough for a root cause,
                // began soon after the rollout.
                extra.extend(self.graph.dependents(i).iter().find_map(|&d| {
                    let d = d as usize;
                    let service = self.graph.node(d);
                    if service.kind != EntityKind::Service
                        || self.records[d].r_weighted < config.root_cause_min_local
                    {
                        return None;
                    }
                    let onset = *self.first_anomaly.get(&service.key)?;
                    rollout_regression(rolled_out, onset, config.rollout_window_ms, &service.key)
                }));
            }
            let mut findings = detect(&input.signals, &measured, now_ms);
            findings.append(&mut extra);
            merge_findings(&mut scores, &findings);
            if !findings.is_empty() {
                self.findings.insert(key.clone(), findings);
            }
            let local = local_risk(kind, &scores);
            let anomalous = local.r_local > 0.0;
            let w_time = anomaly_weight(&mut self.first_anomaly, key, anomalous, now_ms, config);
            let r_weighted = local.r_local * w_time;
            self.records[i] = RiskRecord {
                local,
                w_time,
                r_weighted,
                propagated: None,
                r_final: r_weighted,
            };
        }
    }

    /// Stage 3, dependencies first.
    fn propagate(&mut self, config: &EngineConfig) {
        let mut dependencies = Vec::new();
        for &v in self.graph.dependency_first() {
            let v = v as usize;
            dependencies.clear();
            dependencies.extend(
                self.graph
                    .dependencies(v)
                    .iter()
                    .map(|&d| self.records[d as usize].r_final),
            );
            let alpha = self_weight_of(self.graph.node(v).kind, &config.risk);
            let record = &mut self.records[v];
            let (p, r_final) = propagate(record.r_weighted, &dependencies, alpha);
            record.propagated = p;
            record.r_final = r_final;
        }
    }

    fn assess_cluster(&mut self, now_ms: i64, inputs: &[Option<&EntityInput>], config: &EngineConfig) {
        let max_r_final = self.records.iter().map(|r| r.r_final).fold(0.0, f64::max);
        let max_burn_rate = inputs
            .iter()
            .flatten()
            .filter_map(|e| e.signals.slo_burn_rate)
            .filter(|b| b.is_finite())
            .fold(0.0, f64::max);
        let anomalous = self.records.iter().filter(|r| r.local.r_local > 0.0).count();
        self.anomaly_history.push_back((now_ms, anomalous));
        while let Some(&(at, _)) = self.anomaly_history.front() {
            if now_ms - at <= config.risk.growth_window_ms {
                break;
            }
            self.anomaly_history.pop_front();
        }
        let window_min = self.anomaly_history.iter().map(|&(_, n)| n).min().unwrap_or(0);
        let growth = growth_ratio(anomalous, window_min);
        let f_slo = slo_factor(max_burn_rate);
        let f_growth = growth_factor(growth);
        let risk = cluster_risk(max_r_final, f_slo, f_growth, &config.risk);
        self.risk = ClusterRisk {
            risk,
            level: crate::risk::ClusterLevel::of(risk),
            max_r_final,
            max_burn_rate,
            f_slo,
            growth,
            f_growth,
            anomalous_entities: anomalous,
            total_entities: self.graph.len(),
        };
    }

    /// Baselines not fed for the stale period go; so do anomaly clocks of absent entities.
    fn forget_absent(&mut self, now_ms: i64, config: &EngineConfig) {
        let stale = config.state.stale_after_ms;
        self.baselines.retain(|_, list| {
            list.retain(|(_, b)| now_ms - b.last_seen_ms <= stale);
            !list.is_empty()
        });
        let graph = &self.graph;
        self.first_anomaly.retain(|key, _| graph.contains(key));
    }

    fn evaluate_machines(&mut self, now_ms: i64, config: &EngineConfig) -> Vec<(String, Transition)> {
        let mut transitions = Vec::new();
        for &v in self.graph.dependency_first() {
            let key = &self.graph.node(v as usize).key;
            let r_final = self.records[v as usize].r_final;
            if !self.machines.contains_key(key) {
                if r_final <= config.state.warning_enter {
                    continue;
                }
                self.machines.insert(key.clone(), Machine::new(now_ms));
            }
            let machine = self.machines.get_mut(key).expect("inserted above");
            if let Some(t) = machine.evaluate(now_ms, r_final, self.risk.risk, &config.state) {
                transitions.push((key.clone(), t));
            }
            if machine.state == State::Stable || machine.is_idle() {
                self.machines.remove(key);
            }
        }
        transitions
    }

    /// Closes machines not evaluated for the stale period, in key order.
    pub fn expire(&mut self, now_ms: i64, config: &EngineConfig) -> Vec<(String, Transition)> {
        let mut stale: Vec<String> = self
            .machines
            .iter()
            .filter(|(_, m)| now_ms - m.last_evaluated_ms > config.state.stale_after_ms)
            .map(|(k, _)| k.clone())
            .collect();
        stale.sort_unstable();
        stale
            .into_iter()
            .filter_map(|key| {
                let mut machine = self.machines.remove(&key)?;
                machine.expire(now_ms, &config.state).map(|t| (key, t))
            })
            .collect()
    }

    pub fn machine_state(&self, key: &str) -> State {
        self.machines.get(key).map_or(State::Healthy, |m| m.state)
    }

    pub fn record(&self, key: &str) -> Option<&RiskRecord> {
        self.graph.index_of(key).map(|i| &self.records[i])
    }

    /// The root cause of `start`'s trouble and the path to it (`start` first).
    ///
    /// Walk the dependencies of `start` breadth first, only through entities whose R_final is
    /// above the warning threshold (a healthy link breaks the causal chain). Candidates are the
    /// entities reached (and `start`) whose own time-weighted local risk R_weighted is at least
    /// `root_cause_min_local`. The root cause is the candidate farthest from `start`; ties go to
    /// the higher R_weighted, then to the lower layer and key. Without candidates, `start` is
    /// its own root cause. Workloads never break the chain (the walk goes on to their pods),
    /// and a pod found as the root cause is reported as the workload that owns it, if any
    /// (the path then ends at the workload).
    pub fn root_cause(&self, start: usize, config: &EngineConfig) -> (usize, Vec<usize>) {
        let through = config.state.warning_enter;
        let min_local = config.root_cause_min_local;
        let rank = |v: usize, depth: usize| (depth, self.records[v].r_weighted, v);
        let better = |a: (usize, f64, usize), b: (usize, f64, usize)| {
            a.0.cmp(&b.0)
                .then(a.1.total_cmp(&b.1))
                .then(b.2.cmp(&a.2))
                .is_gt()
        };
        let mut best = (self.records[start].r_weighted >= min_local).then(|| rank(start, 0));
        let mut parent: FastMap<usize, usize> = FastMap::default();
        let mut seen: FastSet<usize> = FastSet::default();
        seen.insert(start);
        let mut queue = VecDeque::from([(start, 0)]);
        while let Some((v, depth)) = queue.pop_front() {
            if depth == DEFAULT_TRACE_DEPTH {
                continue;
            }
            for &u in self.graph.dependencies(v) {
                let u = u as usize;
                // A workload is only the set of its pods: the walk goes on to them whatever
                // the workload's mean, and each pod is judged on its own.
                let link = self.records[u].r_final >= through || self.graph.node(u).kind.is_workload();
                if !link || !seen.insert(u) {
                    continue;
                }
                parent.insert(u, v);
                queue.push_back((u, depth + 1));
                let candidate = rank(u, depth + 1);
                if self.records[u].r_weighted >= min_local && best.is_none_or(|b| better(candidate, b)) {
                    best = Some(candidate);
                }
            }
        }
        let found = best.map_or(start, |b| b.2);
        let mut path = vec![found];
        while let Some(&p) = parent.get(path.last().expect("never empty")) {
            path.push(p);
        }
        path.reverse();
        // Pods are instances: a pod's trouble that no node explains is its workload's (same
        // template, image, configuration and limits), and the workload is what people act on.
        let root = self.owner_of(found).unwrap_or(found);
        if root != found {
            match path.iter().position(|&p| p == root) {
                Some(at) => path.truncate(at + 1),
                None => path.push(root),
            }
        }
        (root, path)
    }

    /// The workload (Deployment, StatefulSet, DaemonSet) that owns the pod at `index`.
    fn owner_of(&self, index: usize) -> Option<usize> {
        if self.graph.node(index).kind != EntityKind::Pod {
            return None;
        }
        self.graph
            .dependents(index)
            .iter()
            .map(|&w| w as usize)
            .find(|&w| self.graph.node(w).kind.is_workload())
    }

    /// Metrics of `key` that were anomalous in the last tick.
    pub fn anomalous_metrics(&self, key: &str) -> Vec<Metric> {
        let now = self.last_tick_ms;
        let mut metrics: Vec<Metric> = self
            .baselines
            .get(key)
            .into_iter()
            .flatten()
            .filter(|(_, b)| Some(b.last_seen_ms) == now && b.last.is_some_and(|o| o.anomalous))
            .map(|&(m, _)| m)
            .chain(self.findings.get(key).into_iter().flatten().map(|f| f.metric))
            .collect();
        metrics.sort_unstable();
        metrics.dedup();
        metrics
    }

    pub fn entity_risk(&self, index: usize) -> EntityRisk {
        let node = self.graph.node(index);
        let record = &self.records[index];
        EntityRisk {
            key: node.key.clone(),
            kind: node.kind,
            r_local: record.local.r_local,
            w_time: record.w_time,
            r_weighted: record.r_weighted,
            r_final: record.r_final,
            level: RiskLevel::of(record.r_final),
            first_anomaly_ms: self.first_anomaly.get(&node.key).copied(),
        }
    }

    /// Entities with R_final > 0, riskiest first (ties by layer and key), at most `limit`.
    pub fn ranking(&self, limit: usize) -> Vec<EntityRisk> {
        let mut risky: Vec<usize> = (0..self.records.len())
            .filter(|&i| self.records[i].r_final > 0.0)
            .collect();
        let by_risk = |a: &usize, b: &usize| {
            self.records[*b]
                .r_final
                .total_cmp(&self.records[*a].r_final)
                .then(a.cmp(b))
        };
        if risky.len() > limit && limit > 0 {
            risky.select_nth_unstable_by(limit - 1, by_risk);
        }
        risky.truncate(limit);
        risky.sort_unstable_by(by_risk);
        risky.into_iter().map(|i| self.entity_risk(i)).collect()
    }
}

/// Stage 2: W_time from the start of the entity's current anomaly, which this tick either
/// continues (or starts) or ends.
fn anomaly_weight(
    first_anomaly: &mut FastMap<String, i64>,
    key: &str,
    anomalous: bool,
    now_ms: i64,
    config: &EngineConfig,
) -> f64 {
    if !anomalous {
        if !first_anomaly.is_empty() {
            first_anomaly.remove(key);
        }
        return time_weight(0, &config.risk);
    }
    let first = match first_anomaly.get(key) {
        Some(&first) => first,
        None => {
            first_anomaly.insert(key.to_owned(), now_ms);
            now_ms
        }
    };
    time_weight(now_ms - first, &config.risk)
}

/// A sample is usable if finite, measured (not a detector's metric) and the first of its
/// metric in this tick.
fn check_sample(
    cluster: &str,
    key: &str,
    sample: &Sample,
    measured: &[(Metric, f64)],
) -> Result<(), AiopsError> {
    let (cluster, entity, metric) = (cluster.to_owned(), key.to_owned(), sample.metric.to_string());
    if !sample.value.is_finite() {
        Err(AiopsError::NonFiniteMetric {
            cluster,
            entity,
            metric,
            value: sample.value,
        })
    } else if !sample.metric.is_measured() {
        Err(AiopsError::DerivedMetric {
            cluster,
            entity,
            metric,
        })
    } else if measured.iter().any(|&(m, _)| m == sample.metric) {
        Err(AiopsError::DuplicateMetric {
            cluster,
            entity,
            metric,
        })
    } else {
        Ok(())
    }
}

/// The baseline of `metric` in an entity's list, created if new.
fn baseline_of(list: &mut Vec<(Metric, Baseline)>, metric: Metric, now_ms: i64) -> &mut Baseline {
    let at = match list.iter().position(|(m, _)| *m == metric) {
        Some(at) => at,
        None => {
            list.push((metric, Baseline::new(now_ms)));
            list.len() - 1
        }
    };
    &mut list[at].1
}

/// Channel B joins channel A: for the same metric, the higher anomalous score wins.
fn merge_findings(scores: &mut Vec<MetricScore>, findings: &[Finding]) {
    for finding in findings {
        match scores.iter_mut().find(|s| s.metric == finding.metric) {
            Some(s) if s.anomalous && s.score >= finding.score => {}
            Some(s) => {
                s.score = finding.score;
                s.anomalous = true;
            }
            None => scores.push(MetricScore {
                metric: finding.metric,
                score: finding.score,
                anomalous: true,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_the_higher_score() {
        let mut scores = vec![MetricScore {
            metric: Metric::SloBurn,
            score: 0.5,
            anomalous: false,
        }];
        let finding = |score| Finding {
            metric: Metric::SloBurn,
            score,
            reason: String::new(),
        };
        merge_findings(&mut scores, &[finding(0.4)]);
        assert_eq!(
            (scores[0].score, scores[0].anomalous),
            (0.4, true),
            "a fact beats a non-anomaly"
        );
        merge_findings(&mut scores, &[finding(0.3)]);
        assert_eq!(scores[0].score, 0.4);
        merge_findings(&mut scores, &[finding(0.9)]);
        assert_eq!((scores[0].score, scores[0].anomalous), (0.9, true));
        merge_findings(
            &mut scores,
            &[Finding {
                metric: Metric::MemoryPressure,
                ..finding(0.85)
            }],
        );
        assert_eq!(scores.len(), 2);
    }
}
