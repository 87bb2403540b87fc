//! M2 channel B: deterministic detectors. Facts (a container was OOM-killed, a node reports
//! memory pressure, a service burns its error budget) need no baseline, so they bypass the cold
//! start and are always anomalous.

use serde::{Deserialize, Serialize};

use crate::baseline::Observation;
use crate::metric::Metric;

/// The worst known state of a pod's containers: classified once, in
/// [`atlhyper_model::container`], for the agent's anomaly rules and this engine alike.
pub use atlhyper_model::ContainerProblem;

/// The detector score of a container problem, worst highest.
pub fn container_score(problem: ContainerProblem) -> f64 {
    match problem {
        ContainerProblem::OomKilled => 0.95,
        ContainerProblem::CrashLoopBackOff => 0.90,
        ContainerProblem::ConfigError => 0.80,
        ContainerProblem::RecentCrash => 0.75,
        ContainerProblem::ImagePull => 0.70,
        ContainerProblem::NotReady => 0.60,
    }
}

/// Facts about an entity in one tick, as the master knows them. Everything is optional; a
/// signal that does not apply to the entity's kind is simply absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Signals {
    /// Pod: the worst container state.
    pub container: Option<ContainerProblem>,
    /// Pod: when the last critical Warning event on it was seen (ms since the epoch).
    pub last_critical_event_ms: Option<i64>,
    /// Pod: (replicas − ready) / replicas of its Deployment, a fraction in [0, 1].
    pub deployment_unavailable_ratio: Option<f64>,
    /// Node conditions.
    pub memory_pressure: bool,
    pub disk_pressure: bool,
    pub pid_pressure: bool,
    pub not_ready: bool,
    /// Service or ingress: the worst SLO burn rate, a plain ratio (1.0 = the budget lasts
    /// exactly its period, 14.4 = the SRE workbook's fast page). Not a percentage.
    pub slo_burn_rate: Option<f64>,
    /// Service or ingress: how many requests the tick's P99 latency was computed from. The
    /// latency regression detector needs it (a P99 of a handful of requests is their maximum).
    pub latency_observations: Option<f64>,
    /// Workload: when its current revision was rolled out (ms since the epoch), e.g. the
    /// creation of a Deployment's newest ReplicaSet.
    pub rolled_out_ms: Option<i64>,
}

/// One deterministic finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub metric: Metric,
    pub score: f64,
    /// What was seen, for people.
    pub reason: String,
}

/// Window in which a critical event still counts.
pub const CRITICAL_EVENT_WINDOW_MS: i64 = 5 * 60 * 1000;

/// Thresholds of the absolute detectors on measured metrics (the original's APM rules):
/// (threshold, score), checked from the highest.
const HIGH_ERROR_RATE: [(f64, f64); 3] = [(0.50, 0.95), (0.30, 0.85), (0.15, 0.75)];
const HIGH_LATENCY_MS: [(f64, f64); 3] = [(10_000.0, 0.90), (7_000.0, 0.80), (5_000.0, 0.75)];
/// SLO burn rate: the workbook's page factors 14.4× and 6×, ticket factor 3×.
const SLO_BURN: [(f64, f64); 3] = [(14.4, 0.95), (6.0, 0.85), (3.0, 0.70)];
/// Unavailable fraction of a Deployment.
const DEPLOYMENT_UNAVAILABLE: [(f64, f64); 2] = [(0.75, 0.95), (0.50, 0.80)];

/// Tuning of the latency regression detector ([`latency_regression`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyRegressionConfig {
    /// (P99 / its EMA baseline, score), checked from the highest: the original's
    /// `apm_high_p99_latency` scores 0.90 / 0.80 / 0.75 at five, three and two times the
    /// baseline instead of at 10 / 7 / 5 seconds.
    pub tiers: [(f64, f64); 3],
    /// Requests a P99 must be computed from.
    pub min_observations: f64,
    /// How long the regression must hold before it is a finding, in milliseconds.
    pub hold_ms: i64,
}

impl Default for LatencyRegressionConfig {
    fn default() -> Self {
        Self {
            tiers: [(5.0, 0.90), (3.0, 0.80), (2.0, 0.75)],
            min_observations: 100.0,
            hold_ms: 60_000,
        }
    }
}

/// The latency regression detector, for one P99 sample as its baseline judged it. The sample
/// regresses when the baseline is warm, the sample is anomalous (beyond 3σ of what was
/// learnt, so ordinary jitter never counts), it is at least the lowest tier's multiple of the
/// EMA, and it was computed from at least `min_observations` requests. `since_ms` is when the
/// current regression began (kept with the baseline): set at the first regressing sample,
/// cleared by the first one that does not regress. The finding fires once the regression has
/// held for `hold_ms`, scored by the tier of this sample's ratio.
pub fn latency_regression(
    observation: &Observation,
    observations: Option<f64>,
    since_ms: &mut Option<i64>,
    now_ms: i64,
    config: &LatencyRegressionConfig,
) -> Option<Finding> {
    let ratio = observation.value / observation.mean;
    let score = (!observation.learning
        && observation.anomalous
        && observation.mean > 0.0
        && observations.is_some_and(|n| n >= config.min_observations))
    .then(|| tier(ratio, &config.tiers))
    .flatten();
    let Some(score) = score else {
        *since_ms = None;
        return None;
    };
    let since = *since_ms.get_or_insert(now_ms);
    let held = now_ms - since;
    (held >= config.hold_ms).then(|| Finding {
        metric: Metric::LatencyRegression,
        score,
        reason: format!(
            "p99 {:.0} ms is {ratio:.1}x its baseline {:.0} ms for {} s",
            observation.value,
            observation.mean,
            held / 1000
        ),
    })
}

/// Score of a workload's [`Metric::RolloutRegression`]: a bad template is a configuration
/// error of sorts (the original's config-error score).
pub const ROLLOUT_REGRESSION_SCORE: f64 = 0.80;

/// The rollout regression finding of a workload whose current revision rolled out at
/// `rolled_out_ms`, for a service that selects it and whose anomaly began at `onset_ms`:
/// present when the anomaly began within `window_ms` after the rollout. The caller checks that
/// the service is anomalous enough to be a root cause itself.
pub fn rollout_regression(
    rolled_out_ms: i64,
    onset_ms: i64,
    window_ms: i64,
    service: &str,
) -> Option<Finding> {
    let after = onset_ms - rolled_out_ms;
    (0..=window_ms).contains(&after).then(|| Finding {
        metric: Metric::RolloutRegression,
        score: ROLLOUT_REGRESSION_SCORE,
        reason: format!(
            "{service} turned anomalous {} s after this workload's rollout",
            after / 1000
        ),
    })
}

fn tier(value: f64, tiers: &[(f64, f64)]) -> Option<f64> {
    tiers
        .iter()
        .find(|(threshold, _)| value >= *threshold)
        .map(|&(_, score)| score)
}

/// Every finding for an entity with these signals and measured metrics at `now_ms`.
pub fn detect(signals: &Signals, metrics: &[(Metric, f64)], now_ms: i64) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut push = |metric, score, reason: String| {
        findings.push(Finding {
            metric,
            score,
            reason,
        })
    };
    if let Some(problem) = signals.container {
        push(
            Metric::ContainerAnomaly,
            container_score(problem),
            format!("container {problem:?}"),
        );
    }
    if let Some(seen) = signals.last_critical_event_ms
        && (0..=CRITICAL_EVENT_WINDOW_MS).contains(&(now_ms - seen))
    {
        push(
            Metric::CriticalEvent,
            0.85,
            format!("critical event {} s ago", (now_ms - seen) / 1000),
        );
    }
    // Only a failing pod is impacted by its Deployment's unavailability.
    if let (Some(ratio), Some(_)) = (signals.deployment_unavailable_ratio, signals.container)
        && let Some(score) = tier(ratio, &DEPLOYMENT_UNAVAILABLE)
    {
        push(
            Metric::DeploymentImpact,
            score,
            format!("deployment {:.0} % unavailable", ratio * 100.0),
        );
    }
    let conditions = [
        (signals.memory_pressure, Metric::MemoryPressure, 0.85),
        (signals.disk_pressure, Metric::DiskPressure, 0.80),
        (signals.pid_pressure, Metric::PidPressure, 0.75),
        (signals.not_ready, Metric::NodeNotReady, 0.90),
    ];
    for (on, metric, score) in conditions {
        if on {
            push(metric, score, format!("condition {metric}"));
        }
    }
    if let Some(burn) = signals.slo_burn_rate
        && let Some(score) = tier(burn, &SLO_BURN)
    {
        push(
            Metric::SloBurn,
            score,
            format!("error budget burning at {burn:.1}x"),
        );
    }
    for &(metric, value) in metrics {
        let hit = match metric {
            Metric::ErrorRate => tier(value, &HIGH_ERROR_RATE)
                .map(|s| (Metric::HighErrorRate, s, format!("error rate {value:.3}"))),
            Metric::LatencyP99Ms => {
                tier(value, &HIGH_LATENCY_MS).map(|s| (Metric::HighLatency, s, format!("p99 {value:.0} ms")))
            }
            _ => None,
        };
        if let Some((metric, score, reason)) = hit {
            push(metric, score, reason);
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn scores(signals: &Signals, metrics: &[(Metric, f64)]) -> Vec<(Metric, f64)> {
        detect(signals, metrics, NOW)
            .into_iter()
            .map(|f| (f.metric, f.score))
            .collect()
    }

    #[test]
    fn container_states_score_as_the_seed_says() {
        let cases = [
            (ContainerProblem::OomKilled, 0.95),
            (ContainerProblem::CrashLoopBackOff, 0.90),
            (ContainerProblem::ConfigError, 0.80),
        ];
        for (problem, score) in cases {
            let signals = Signals {
                container: Some(problem),
                ..Signals::default()
            };
            assert_eq!(scores(&signals, &[]), [(Metric::ContainerAnomaly, score)]);
        }
    }

    #[test]
    fn critical_events_count_for_five_minutes() {
        let at = |ago_ms| Signals {
            last_critical_event_ms: Some(NOW - ago_ms),
            ..Signals::default()
        };
        assert_eq!(scores(&at(0), &[]), [(Metric::CriticalEvent, 0.85)]);
        assert_eq!(scores(&at(CRITICAL_EVENT_WINDOW_MS), &[]).len(), 1);
        assert!(scores(&at(CRITICAL_EVENT_WINDOW_MS + 1), &[]).is_empty());
        assert!(
            scores(&at(-1000), &[]).is_empty(),
            "events from the future are ignored"
        );
    }

    #[test]
    fn deployment_impact_needs_a_failing_pod() {
        let mut signals = Signals {
            deployment_unavailable_ratio: Some(0.75),
            ..Signals::default()
        };
        assert!(scores(&signals, &[]).is_empty());
        signals.container = Some(ContainerProblem::NotReady);
        assert!(scores(&signals, &[]).contains(&(Metric::DeploymentImpact, 0.95)));
        signals.deployment_unavailable_ratio = Some(0.5);
        assert!(scores(&signals, &[]).contains(&(Metric::DeploymentImpact, 0.80)));
        signals.deployment_unavailable_ratio = Some(0.49);
        assert!(
            !scores(&signals, &[])
                .iter()
                .any(|(m, _)| *m == Metric::DeploymentImpact)
        );
    }

    #[test]
    fn node_conditions() {
        let signals = Signals {
            memory_pressure: true,
            disk_pressure: true,
            pid_pressure: true,
            ..Signals::default()
        };
        assert_eq!(
            scores(&signals, &[]),
            [
                (Metric::MemoryPressure, 0.85),
                (Metric::DiskPressure, 0.80),
                (Metric::PidPressure, 0.75)
            ]
        );
    }

    #[test]
    fn slo_burn_is_a_plain_ratio() {
        let burn = |rate| Signals {
            slo_burn_rate: Some(rate),
            ..Signals::default()
        };
        assert_eq!(scores(&burn(14.4), &[]), [(Metric::SloBurn, 0.95)]);
        assert_eq!(scores(&burn(6.0), &[]), [(Metric::SloBurn, 0.85)]);
        assert_eq!(scores(&burn(3.0), &[]), [(Metric::SloBurn, 0.70)]);
        assert!(scores(&burn(1.0), &[]).is_empty(), "1x is on budget");
    }

    fn p99(value: f64, mean: f64, anomalous: bool) -> Observation {
        Observation {
            value,
            mean,
            sigma: 2.0,
            deviation: (value - mean) / 2.0,
            score: if anomalous { 1.0 } else { 0.0 },
            anomalous,
            learning: false,
        }
    }

    #[test]
    fn latency_regression_needs_a_multiple_enough_requests_and_a_minute() {
        let c = LatencyRegressionConfig::default();
        let mut since = None;
        let slow = p99(300.0, 35.0, true);
        // First slow sample: the regression starts, nothing fires yet.
        assert_eq!(latency_regression(&slow, Some(500.0), &mut since, NOW, &c), None);
        assert_eq!(since, Some(NOW));
        assert_eq!(
            latency_regression(&slow, Some(500.0), &mut since, NOW + 30_000, &c),
            None
        );
        let f = latency_regression(&slow, Some(500.0), &mut since, NOW + 60_000, &c).unwrap();
        assert_eq!((f.metric, f.score), (Metric::LatencyRegression, 0.90));
        assert!(f.reason.contains("8.6x"), "{}", f.reason);
        // Tiers follow this sample's ratio.
        let tiered = |value| {
            let mut since = Some(NOW);
            latency_regression(
                &p99(value, 100.0, true),
                Some(500.0),
                &mut since,
                NOW + 60_000,
                &c,
            )
            .map(|f| f.score)
        };
        assert_eq!(tiered(500.0), Some(0.90));
        assert_eq!(tiered(300.0), Some(0.80));
        assert_eq!(tiered(200.0), Some(0.75));
        assert_eq!(tiered(199.0), None, "below 2x is no regression");
        // One ordinary sample ends it; the hold starts over.
        let normal = p99(36.0, 35.0, false);
        assert_eq!(
            latency_regression(&normal, Some(500.0), &mut since, NOW + 90_000, &c),
            None
        );
        assert_eq!(since, None);
        // A multiple that the baseline's own variability explains is no regression either.
        let jittery = p99(80.0, 35.0, false);
        latency_regression(&jittery, Some(500.0), &mut since, NOW, &c);
        assert_eq!(since, None);
        // Too few requests, or an unknown count: the P99 is not trusted.
        for few in [Some(99.0), None] {
            let mut since = Some(NOW - 600_000);
            assert_eq!(latency_regression(&slow, few, &mut since, NOW, &c), None);
            assert_eq!(since, None);
        }
        // Learning baselines judge nothing.
        let learning = Observation {
            learning: true,
            ..slow
        };
        let mut since = Some(NOW - 600_000);
        assert_eq!(
            latency_regression(&learning, Some(500.0), &mut since, NOW, &c),
            None
        );
    }

    #[test]
    fn rollout_regression_needs_the_trouble_to_follow_the_rollout() {
        let window = 15 * 60_000;
        let f = rollout_regression(NOW, NOW + 30_000, window, "shop/service/cart").unwrap();
        assert_eq!((f.metric, f.score), (Metric::RolloutRegression, 0.80));
        assert!(rollout_regression(NOW, NOW + window, window, "s").is_some());
        assert!(
            rollout_regression(NOW, NOW + window + 1, window, "s").is_none(),
            "too long after the rollout"
        );
        assert!(
            rollout_regression(NOW, NOW - 1, window, "s").is_none(),
            "the trouble was there before the rollout"
        );
    }

    #[test]
    fn absolute_error_and_latency_thresholds() {
        let none = Signals::default();
        assert_eq!(
            scores(&none, &[(Metric::ErrorRate, 0.3)]),
            [(Metric::HighErrorRate, 0.85)]
        );
        assert!(scores(&none, &[(Metric::ErrorRate, 0.1)]).is_empty());
        assert_eq!(
            scores(&none, &[(Metric::LatencyP99Ms, 12_000.0)]),
            [(Metric::HighLatency, 0.90)]
        );
    }
}
