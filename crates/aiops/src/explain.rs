//! Explainability: every number behind an entity's risk, and the path to its root cause.

use serde::{Deserialize, Serialize};

use crate::cluster::{ClusterState, RiskRecord};
use crate::engine::EngineConfig;
use crate::entity::EntityKind;
use crate::graph::EdgeKind;
use crate::metric::{Channel, Metric};
use crate::risk::{LocalRisk, RiskLevel, self_weight_of};
use crate::state::State;

/// A baseline as it was when the last sample was judged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaselineView {
    pub mean: f64,
    /// Effective σ (floors applied).
    pub sigma: f64,
    pub samples: u32,
    /// False while the cold start lasts.
    pub warm: bool,
}

/// One input metric of the last tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricExplanation {
    pub metric: Metric,
    pub channel: Channel,
    /// Weight in the statistical channel (unused by the deterministic one).
    pub weight: f64,
    /// The measured value; `None` for a deterministic finding.
    pub value: Option<f64>,
    pub baseline: Option<BaselineView>,
    /// In σ; `None` for a deterministic finding or while learning.
    pub deviation: Option<f64>,
    pub score: f64,
    pub anomalous: bool,
    /// What it added: w·score to C1, or its score to the max of C2; 0 if not anomalous.
    pub contribution: f64,
    /// The detector's words for a deterministic finding.
    pub reason: Option<String>,
}

/// One dependency's share of P.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencyContribution {
    pub key: String,
    pub edge: EdgeKind,
    pub r_final: f64,
    /// (1 − α) · R_final / number of dependencies: its share of the mixed term.
    pub contribution: f64,
}

/// Why an entity has the risk it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub cluster: String,
    pub key: String,
    pub kind: EntityKind,
    pub state: State,
    pub level: RiskLevel,
    pub metrics: Vec<MetricExplanation>,
    pub local: LocalRisk,
    pub first_anomaly_ms: Option<i64>,
    pub w_time: f64,
    pub r_weighted: f64,
    /// α of the propagation.
    pub self_weight: f64,
    /// P; `None` without dependencies.
    pub propagated: Option<f64>,
    pub dependencies: Vec<DependencyContribution>,
    pub r_final: f64,
    /// From this entity to its root cause along risky dependencies (this entity first).
    pub path_to_root_cause: Vec<String>,
    pub root_cause: String,
    /// The formulas with this entity's numbers, one line per stage.
    pub formula: Vec<String>,
}

pub(crate) fn explain(
    cluster_name: &str,
    cluster: &ClusterState,
    index: usize,
    config: &EngineConfig,
) -> Explanation {
    let node = cluster.graph.node(index);
    let (key, kind) = (&node.key, node.kind);
    let record = cluster.records[index];
    let metrics = metric_explanations(cluster, key, kind);
    let alpha = self_weight_of(kind, &config.risk);
    let deps = cluster.graph.dependencies(index);
    let dependencies: Vec<DependencyContribution> = deps
        .iter()
        .map(|&d| {
            let dep = cluster.graph.node(d as usize);
            let r_final = cluster.records[d as usize].r_final;
            DependencyContribution {
                key: dep.key.clone(),
                edge: EdgeKind::between(kind, dep.kind).expect("graph edges are valid"),
                r_final,
                contribution: (1.0 - alpha) * r_final / deps.len() as f64,
            }
        })
        .collect();
    let (root, path) = cluster.root_cause(index, config);
    let first_anomaly_ms = cluster.first_anomaly.get(key).copied();
    let elapsed_ms = first_anomaly_ms.map_or(0, |t| cluster.last_tick_ms.unwrap_or(t) - t);
    let formula = formula_lines(&record, &metrics, kind, elapsed_ms, config);
    Explanation {
        cluster: cluster_name.to_owned(),
        key: key.clone(),
        kind,
        state: cluster.machine_state(key),
        level: RiskLevel::of(record.r_final),
        metrics,
        local: record.local,
        first_anomaly_ms,
        w_time: record.w_time,
        r_weighted: record.r_weighted,
        self_weight: alpha,
        propagated: record.propagated,
        dependencies,
        r_final: record.r_final,
        path_to_root_cause: path.iter().map(|&i| cluster.graph.node(i).key.clone()).collect(),
        root_cause: cluster.graph.node(root).key.clone(),
        formula,
    }
}

fn metric_explanations(cluster: &ClusterState, key: &str, kind: EntityKind) -> Vec<MetricExplanation> {
    let now = cluster.last_tick_ms;
    let mut out: Vec<MetricExplanation> = Vec::new();
    for (metric, baseline) in cluster.baselines.get(key).into_iter().flatten() {
        let Some(o) = baseline.last.filter(|_| Some(baseline.last_seen_ms) == now) else {
            continue;
        };
        let weight = metric.weight(kind);
        out.push(MetricExplanation {
            metric: *metric,
            channel: metric.channel(),
            weight,
            value: Some(o.value),
            baseline: Some(BaselineView {
                mean: o.mean,
                sigma: o.sigma,
                samples: baseline.count,
                warm: !o.learning,
            }),
            deviation: (!o.learning).then_some(o.deviation),
            score: o.score,
            anomalous: o.anomalous,
            contribution: if o.anomalous { weight * o.score } else { 0.0 },
            reason: None,
        });
    }
    for finding in cluster.findings.get(key).into_iter().flatten() {
        match out.iter_mut().find(|m| m.metric == finding.metric) {
            Some(m) if m.anomalous && m.score >= finding.score => {}
            Some(m) => {
                m.score = finding.score;
                m.anomalous = true;
                m.reason = Some(finding.reason.clone());
            }
            None => out.push(MetricExplanation {
                metric: finding.metric,
                channel: finding.metric.channel(),
                weight: finding.metric.weight(kind),
                value: None,
                baseline: None,
                deviation: None,
                score: finding.score,
                anomalous: true,
                contribution: finding.score,
                reason: Some(finding.reason.clone()),
            }),
        }
    }
    out.sort_by_key(|m| m.metric);
    out
}

fn formula_lines(
    t: &RiskRecord,
    metrics: &[MetricExplanation],
    kind: EntityKind,
    elapsed_ms: i64,
    config: &EngineConfig,
) -> Vec<String> {
    let statistical: Vec<String> = metrics
        .iter()
        .filter(|m| m.anomalous && m.channel.statistical())
        .map(|m| format!("{:.2}·{:.3}", m.metric.weight(kind), m.score))
        .collect();
    let alpha = self_weight_of(kind, &config.risk);
    let mut lines = vec![
        format!(
            "C1 = Σ w·score = {} = {:.3}",
            if statistical.is_empty() {
                "0".to_owned()
            } else {
                statistical.join(" + ")
            },
            t.local.statistical
        ),
        format!(
            "C2 = max(score) × breadthBoost({}) = {:.3} × {:.2} = {:.3}",
            t.local.deterministic_count,
            t.local.deterministic_max,
            t.local.breadth_boost,
            t.local.deterministic
        ),
        format!("R_local = min(1, max(C1, C2)) = {:.3}", t.local.r_local),
        format!(
            "W_time = {:.2} + {:.2}·(1 − e^(−Δt/τ)), Δt = {} s, τ = {} s → {:.3}",
            config.risk.temporal_floor,
            1.0 - config.risk.temporal_floor,
            elapsed_ms / 1000,
            config.risk.temporal_tau_ms / 1000,
            t.w_time
        ),
        format!(
            "R_weighted = R_local × W_time = {:.3} × {:.3} = {:.3}",
            t.local.r_local, t.w_time, t.r_weighted
        ),
    ];
    lines.push(match t.propagated {
        Some(p) => format!(
            "R_final = min(1, max(R_weighted, {alpha:.1}·R_weighted + {:.1}·P)), P = {p:.3} → {:.3}",
            1.0 - alpha,
            t.r_final
        ),
        None => format!("R_final = R_weighted (no dependencies) = {:.3}", t.r_final),
    });
    lines
}
