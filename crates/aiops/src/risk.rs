//! M3: risk, from one entity's anomalies to the whole cluster.
//!
//! 1. Local risk: R_local = min(1, max(C1, C2)) with C1 = Σ wᵢ·scoreᵢ over anomalous
//!    statistical metrics and C2 = max(scoreᵢ over anomalous deterministic metrics) ×
//!    breadthBoost(n).
//! 2. Time weight: R_weighted = R_local · W_time, W_time = 0.7 + 0.3·(1 − e^(−Δt/τ)), Δt since
//!    the entity's first anomaly, τ = 300 s: a lasting anomaly counts more than a blip.
//! 3. Propagation, dependencies first: R_final = min(1, max(R_weighted, α·R_weighted + (1 − α)·P))
//!    with P the mean R_final of the entity's dependencies and α = 0.6. The max() means a
//!    healthy dependency never lowers an entity's own risk.
//!
//! Cluster risk (0–100) = min(100, 50·max R_final + 30·F_slo + 20·F_growth).

use serde::{Deserialize, Serialize};

use crate::entity::EntityKind;
use crate::metric::Metric;

/// Tuning of M3. Defaults are the original's constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RiskConfig {
    /// W_time at the first anomaly.
    pub temporal_floor: f64,
    /// τ of W_time, in milliseconds.
    pub temporal_tau_ms: i64,
    /// α of the propagation: the share of an entity's own risk.
    pub self_weight: f64,
    /// Cluster risk weights of max R_final, F_slo and F_growth.
    pub cluster_weights: [f64; 3],
    /// How far back F_growth compares the number of anomalous entities, in milliseconds.
    pub growth_window_ms: i64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            temporal_floor: 0.7,
            temporal_tau_ms: 300_000,
            self_weight: 0.6,
            cluster_weights: [0.5, 0.3, 0.2],
            growth_window_ms: 300_000,
        }
    }
}

/// One metric's contribution to stage 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricScore {
    pub metric: Metric,
    pub score: f64,
    pub anomalous: bool,
}

/// Stage 1, term by term.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalRisk {
    /// C1 = Σ w·score over anomalous statistical metrics.
    pub statistical: f64,
    /// max score over anomalous deterministic metrics.
    pub deterministic_max: f64,
    /// n: anomalous deterministic metrics.
    pub deterministic_count: usize,
    /// breadthBoost(n).
    pub breadth_boost: f64,
    /// C2 = deterministic_max × breadth_boost.
    pub deterministic: f64,
    /// min(1, max(C1, C2)).
    pub r_local: f64,
}

/// More distinct facts at once make the strongest one more credible: n = 0 → 0, 1 → 0.70,
/// 2 → 0.85, 3 or more → 1.
pub fn breadth_boost(n: usize) -> f64 {
    match n {
        0 => 0.0,
        1 => 0.70,
        2 => 0.85,
        _ => 1.0,
    }
}

/// Stage 1 for an entity of `kind`. Metrics that are not anomalous count for nothing.
pub fn local_risk(kind: EntityKind, scores: &[MetricScore]) -> LocalRisk {
    let mut risk = LocalRisk::default();
    for s in scores.iter().filter(|s| s.anomalous) {
        let channel = s.metric.channel();
        if channel.statistical() {
            risk.statistical += s.metric.weight(kind) * s.score;
        }
        if channel.deterministic() {
            risk.deterministic_max = risk.deterministic_max.max(s.score);
            risk.deterministic_count += 1;
        }
    }
    risk.breadth_boost = breadth_boost(risk.deterministic_count);
    risk.deterministic = risk.deterministic_max * risk.breadth_boost;
    risk.r_local = risk.statistical.max(risk.deterministic).min(1.0);
    risk
}

/// Stage 2: W_time after `elapsed_ms` of anomaly. Grows from the floor towards 1.
pub fn time_weight(elapsed_ms: i64, config: &RiskConfig) -> f64 {
    let elapsed = elapsed_ms.max(0) as f64;
    let tau = config.temporal_tau_ms.max(1) as f64;
    config.temporal_floor + (1.0 - config.temporal_floor) * (1.0 - (-elapsed / tau).exp())
}

/// α of stage 3 for an entity of `kind`: the configured self weight, except 0 for workloads.
/// A workload is the set of its pods: it passes their mean risk on unmixed (R_final =
/// max(R_weighted, P)), so a service above it sees the same P as if it selected the pods
/// directly.
pub fn self_weight_of(kind: EntityKind, config: &RiskConfig) -> f64 {
    if kind.is_workload() {
        0.0
    } else {
        config.self_weight
    }
}

/// Stage 3 for one entity: its R_final from its R_weighted and its dependencies' R_final.
/// Returns (P, R_final); P is `None` without dependencies.
pub fn propagate(r_weighted: f64, dependencies: &[f64], self_weight: f64) -> (Option<f64>, f64) {
    if dependencies.is_empty() {
        return (None, r_weighted.min(1.0));
    }
    let p = dependencies.iter().sum::<f64>() / dependencies.len() as f64;
    let mixed = self_weight * r_weighted + (1.0 - self_weight) * p;
    (Some(p), r_weighted.max(mixed).min(1.0))
}

/// The burn rate of an error ratio (a fraction, not a percentage) against an availability
/// objective in percent: 0.1 % errors against 99.9 % is 1.0. The original divided a
/// percentage by a fraction and got 100. `None` for an objective of 100 % or more.
pub fn burn_rate(error_ratio: f64, objective_percent: f64) -> Option<f64> {
    let budget = 1.0 - objective_percent / 100.0;
    (budget > 0.0 && budget.is_finite()).then(|| error_ratio / budget)
}

/// F_slo from the cluster's worst burn rate: 1 at 2× or more, ½ at 1× or more, else 0.
pub fn slo_factor(max_burn_rate: f64) -> f64 {
    if max_burn_rate >= 2.0 {
        1.0
    } else if max_burn_rate >= 1.0 {
        0.5
    } else {
        0.0
    }
}

/// The relative growth of the number of anomalous entities against the smallest count in the
/// growth window: 0 when it did not grow.
pub fn growth_ratio(now: usize, window_min: usize) -> f64 {
    if now <= window_min {
        0.0
    } else {
        (now - window_min) as f64 / window_min.max(1) as f64
    }
}

/// F_growth = 1 / (1 + e^(−2·(g − 0.5))) for g > 0, else 0. (The original never computed g,
/// so cluster risk could not pass 80 and the "cluster risk > 80" escalation was dead.)
pub fn growth_factor(growth: f64) -> f64 {
    if growth > 0.0 {
        1.0 / (1.0 + (-2.0 * (growth - 0.5)).exp())
    } else {
        0.0
    }
}

/// Cluster risk on 0–100, rounded to 0.1.
pub fn cluster_risk(max_r_final: f64, f_slo: f64, f_growth: f64, config: &RiskConfig) -> f64 {
    let [w_risk, w_slo, w_growth] = config.cluster_weights;
    let risk = (w_risk * max_r_final + w_slo * f_slo + w_growth * f_growth) * 100.0;
    (risk.min(100.0) * 10.0).round() / 10.0
}

/// Level of an entity's risk (0–1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Healthy,
    Low,
    Medium,
    High,
    Critical,
}

impl RiskLevel {
    pub fn of(r: f64) -> Self {
        if r >= 0.8 {
            Self::Critical
        } else if r >= 0.6 {
            Self::High
        } else if r >= 0.4 {
            Self::Medium
        } else if r >= 0.2 {
            Self::Low
        } else {
            Self::Healthy
        }
    }
}

/// Level of a cluster's risk (0–100).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterLevel {
    #[default]
    Healthy,
    Low,
    Warning,
    Critical,
}

impl ClusterLevel {
    pub fn of(risk: f64) -> Self {
        if risk >= 80.0 {
            Self::Critical
        } else if risk >= 50.0 {
            Self::Warning
        } else if risk >= 20.0 {
            Self::Low
        } else {
            Self::Healthy
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(metric: Metric, score: f64) -> MetricScore {
        MetricScore {
            metric,
            score,
            anomalous: true,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn breadth_boost_steps() {
        let boosts: Vec<f64> = (0..5).map(breadth_boost).collect();
        assert_eq!(boosts, [0.0, 0.70, 0.85, 1.0, 1.0]);
    }

    #[test]
    fn local_risk_takes_the_stronger_channel() {
        // Statistical only: weighted sum.
        let r = local_risk(
            EntityKind::Node,
            &[score(Metric::CpuPct, 0.9), score(Metric::MemoryPct, 0.8)],
        );
        assert!(close(r.statistical, 0.2 * 0.9 + 0.2 * 0.8));
        assert_eq!(r.deterministic, 0.0);
        assert!(close(r.r_local, 0.34));

        // One fact: 0.85 × 0.70.
        let r = local_risk(
            EntityKind::Node,
            &[score(Metric::MemoryPressure, 0.85), score(Metric::MemoryPct, 0.9)],
        );
        assert!(close(r.deterministic, 0.85 * 0.70));
        assert!(close(r.r_local, 0.595));

        // Three facts: full strength of the strongest.
        let r = local_risk(
            EntityKind::Pod,
            &[
                score(Metric::ContainerAnomaly, 0.95),
                score(Metric::CriticalEvent, 0.85),
                score(Metric::DeploymentImpact, 0.80),
            ],
        );
        assert_eq!(r.deterministic_count, 3);
        assert!(close(r.r_local, 0.95));
    }

    #[test]
    fn both_channel_metrics_feed_both_and_non_anomalous_nothing() {
        let r = local_risk(EntityKind::Pod, &[score(Metric::Restarts, 0.9)]);
        assert!(close(r.statistical, 0.2 * 0.9));
        assert!(close(r.deterministic, 0.9 * 0.7));
        let quiet = MetricScore {
            anomalous: false,
            ..score(Metric::Restarts, 0.4)
        };
        assert_eq!(local_risk(EntityKind::Pod, &[quiet]), LocalRisk::default());
    }

    #[test]
    fn local_risk_is_capped_at_one() {
        let many: Vec<MetricScore> = [Metric::CpuPct, Metric::MemoryPct, Metric::DiskPct]
            .into_iter()
            .cycle()
            .take(30)
            .map(|m| score(m, 1.0))
            .collect();
        assert_eq!(local_risk(EntityKind::Node, &many).r_local, 1.0);
    }

    #[test]
    fn time_weight_grows_from_the_floor() {
        let c = RiskConfig::default();
        assert!(close(time_weight(0, &c), 0.7));
        assert!(close(
            time_weight(300_000, &c),
            0.7 + 0.3 * (1.0 - (-1.0f64).exp())
        ));
        assert!((time_weight(600_000, &c) - 0.9594).abs() < 1e-3);
        assert!(time_weight(i64::MAX / 2, &c) <= 1.0);
        assert!(
            close(time_weight(-5, &c), 0.7),
            "a clock skew never goes below the floor"
        );
    }

    #[test]
    fn propagation_mixes_only_upwards() {
        let (p, r) = propagate(0.2, &[0.9, 0.5], 0.6);
        assert!(close(p.unwrap(), 0.7));
        assert!(close(r, 0.6 * 0.2 + 0.4 * 0.7));
        let (_, r) = propagate(0.8, &[0.0], 0.6);
        assert!(close(r, 0.8), "healthy dependencies never lower risk");
        assert_eq!(propagate(0.3, &[], 0.6), (None, 0.3));
        assert!(close(propagate(0.0, &[1.0], 0.6).1, 0.4));
        let c = RiskConfig::default();
        assert_eq!(self_weight_of(EntityKind::Service, &c), 0.6);
        let w = self_weight_of(EntityKind::Deployment, &c);
        assert_eq!(w, 0.0);
        assert!(
            close(propagate(0.0, &[0.9, 0.1], w).1, 0.5),
            "a workload is its pods' mean"
        );
        assert!(close(propagate(0.7, &[0.9, 0.1], w).1, 0.7));
    }

    #[test]
    fn burn_rate_units_are_fractions() {
        assert!(close(burn_rate(0.001, 99.9).unwrap(), 1.0));
        assert!(close(burn_rate(0.0144, 99.9).unwrap(), 14.4));
        assert_eq!(burn_rate(0.01, 100.0), None);
        assert_eq!(slo_factor(1.0), 0.5);
        assert_eq!(slo_factor(2.0), 1.0);
        assert_eq!(slo_factor(0.99), 0.0);
    }

    #[test]
    fn growth_and_cluster_risk() {
        assert_eq!(growth_ratio(3, 3), 0.0);
        assert_eq!(growth_ratio(3, 1), 2.0);
        assert_eq!(growth_ratio(2, 0), 2.0);
        assert_eq!(growth_factor(0.0), 0.0);
        assert!(close(growth_factor(0.5), 0.5));
        let c = RiskConfig::default();
        assert_eq!(cluster_risk(1.0, 1.0, 1.0, &c), 100.0);
        assert_eq!(cluster_risk(0.5, 0.5, 0.0, &c), 40.0);
        assert!(
            cluster_risk(1.0, 1.0, growth_factor(3.0), &c) > 80.0,
            "> 80 is reachable"
        );
    }

    #[test]
    fn levels() {
        let levels: Vec<RiskLevel> = [0.0, 0.19, 0.2, 0.4, 0.6, 0.8, 1.0]
            .into_iter()
            .map(RiskLevel::of)
            .collect();
        use RiskLevel::*;
        assert_eq!(levels, [Healthy, Healthy, Low, Medium, High, Critical, Critical]);
        assert_eq!(ClusterLevel::of(19.9), ClusterLevel::Healthy);
        assert_eq!(ClusterLevel::of(20.0), ClusterLevel::Low);
        assert_eq!(ClusterLevel::of(50.0), ClusterLevel::Warning);
        assert_eq!(ClusterLevel::of(80.0), ClusterLevel::Critical);
    }

    proptest::proptest! {
        #[test]
        fn local_risk_is_a_unit_value_and_grows_with_scores(
            raw in proptest::collection::vec((0usize..8, 0.0f64..=1.0, proptest::bool::ANY), 0..12),
            bump in 0.0f64..0.5,
        ) {
            const METRICS: [Metric; 8] = [
                Metric::CpuPct, Metric::MemoryPct, Metric::DiskPct, Metric::PsiIo,
                Metric::MemoryPressure, Metric::DiskPressure, Metric::NodeNotReady, Metric::Restarts,
            ];
            let scores: Vec<MetricScore> = raw
                .iter()
                .map(|&(m, score, anomalous)| MetricScore { metric: METRICS[m], score, anomalous })
                .collect();
            let base = local_risk(EntityKind::Node, &scores);
            proptest::prop_assert!((0.0..=1.0).contains(&base.r_local));
            let higher: Vec<MetricScore> = scores
                .iter()
                .map(|s| MetricScore { score: (s.score + bump).min(1.0), ..*s })
                .collect();
            proptest::prop_assert!(local_risk(EntityKind::Node, &higher).r_local >= base.r_local);
        }

        #[test]
        fn propagation_never_lowers_risk_and_stays_in_range(
            own in 0.0f64..=1.0,
            deps in proptest::collection::vec(0.0f64..=1.0, 0..6),
            alpha in 0.0f64..=1.0,
        ) {
            let (p, r) = propagate(own, &deps, alpha);
            proptest::prop_assert!(r >= own && r <= 1.0);
            proptest::prop_assert_eq!(p.is_some(), !deps.is_empty());
        }

        #[test]
        fn time_weight_is_monotone_between_floor_and_one(a in 0i64..10_000_000, b in 0i64..10_000_000) {
            let c = RiskConfig::default();
            let (lo, hi) = (a.min(b), a.max(b));
            proptest::prop_assert!(time_weight(lo, &c) <= time_weight(hi, &c));
            proptest::prop_assert!((0.7..=1.0).contains(&time_weight(hi, &c)));
        }
    }
}
