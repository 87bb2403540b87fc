//! The metrics the engine knows, with their channel, the direction that is bad, their weight
//! in the statistical channel and the smallest σ their baseline may claim.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::entity::EntityKind;

/// A metric of an entity. The first group is measured (fed to a baseline); the second group is
/// produced by the deterministic detectors of [`crate::detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Service or ingress: failed / all responses, a fraction in [0, 1] (not a percentage).
    ErrorRate,
    /// Service or ingress: P99 latency in milliseconds.
    LatencyP99Ms,
    /// Service or ingress: requests per second.
    Rps,
    /// Pod: container restarts since the previous tick (the increase, not the running count,
    /// so that one restart is one spike and not a new level the baseline must learn).
    Restarts,
    /// Pod: containers that are not ready.
    NotReadyContainers,
    /// Pod: CPU in cores.
    CpuCores,
    /// Pod: working-set memory in bytes.
    MemoryBytes,
    /// Node: CPU utilisation in percent.
    CpuPct,
    /// Node: memory utilisation in percent.
    MemoryPct,
    /// Node: utilisation of the fullest disk in percent.
    DiskPct,
    /// Node: PSI "some" stall of CPU, memory and I/O, in percent.
    PsiCpu,
    PsiMemory,
    PsiIo,

    /// Deterministic: the worst container state of a pod.
    ContainerAnomaly,
    /// Deterministic: a critical Warning event on a pod in the last 5 minutes.
    CriticalEvent,
    /// Deterministic: a failing pod of a mostly unavailable Deployment.
    DeploymentImpact,
    /// Deterministic: node conditions.
    MemoryPressure,
    DiskPressure,
    PidPressure,
    NodeNotReady,
    /// Deterministic: SLO error-budget burn rate of a service or ingress.
    SloBurn,
    /// Deterministic: error rate above an absolute threshold.
    HighErrorRate,
    /// Deterministic: P99 latency above an absolute threshold.
    HighLatency,
    /// Deterministic: P99 latency a multiple of its own learnt baseline, held for a minute, over
    /// enough requests (service or ingress).
    LatencyRegression,
    /// Deterministic: a service that selects this workload turned anomalous within 15 minutes
    /// after the workload rolled out a new revision (workload).
    RolloutRegression,
}

/// Which stage-1 channel of the local risk a metric feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Weighted sum of scores.
    Statistical,
    /// Maximum score with breadth boost.
    Deterministic,
    /// Both: a pod restarting or not ready is a fact as much as a statistic.
    Both,
}

impl Channel {
    pub fn statistical(self) -> bool {
        matches!(self, Self::Statistical | Self::Both)
    }

    pub fn deterministic(self) -> bool {
        matches!(self, Self::Deterministic | Self::Both)
    }
}

/// Which deviation from the baseline is trouble. A falling error rate is good news and must
/// not raise risk (the original scored |x − EMA| both ways).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Both,
}

/// Weight of a statistical metric nobody configured.
pub const DEFAULT_WEIGHT: f64 = 0.10;

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ErrorRate => "error_rate",
            Self::LatencyP99Ms => "latency_p99_ms",
            Self::Rps => "rps",
            Self::Restarts => "restarts",
            Self::NotReadyContainers => "not_ready_containers",
            Self::CpuCores => "cpu_cores",
            Self::MemoryBytes => "memory_bytes",
            Self::CpuPct => "cpu_pct",
            Self::MemoryPct => "memory_pct",
            Self::DiskPct => "disk_pct",
            Self::PsiCpu => "psi_cpu",
            Self::PsiMemory => "psi_memory",
            Self::PsiIo => "psi_io",
            Self::ContainerAnomaly => "container_anomaly",
            Self::CriticalEvent => "critical_event",
            Self::DeploymentImpact => "deployment_impact",
            Self::MemoryPressure => "memory_pressure",
            Self::DiskPressure => "disk_pressure",
            Self::PidPressure => "pid_pressure",
            Self::NodeNotReady => "node_not_ready",
            Self::SloBurn => "slo_burn",
            Self::HighErrorRate => "high_error_rate",
            Self::HighLatency => "high_latency",
            Self::LatencyRegression => "latency_regression",
            Self::RolloutRegression => "rollout_regression",
        }
    }

    pub fn channel(self) -> Channel {
        match self {
            Self::Restarts | Self::NotReadyContainers => Channel::Both,
            Self::ContainerAnomaly
            | Self::CriticalEvent
            | Self::DeploymentImpact
            | Self::MemoryPressure
            | Self::DiskPressure
            | Self::PidPressure
            | Self::NodeNotReady
            | Self::SloBurn
            | Self::HighErrorRate
            | Self::HighLatency
            | Self::LatencyRegression
            | Self::RolloutRegression => Channel::Deterministic,
            _ => Channel::Statistical,
        }
    }

    /// Whether the caller may send this metric as a measured value (the others come only from
    /// detectors).
    pub fn is_measured(self) -> bool {
        self.channel() != Channel::Deterministic
    }

    pub fn direction(self) -> Direction {
        match self {
            Self::Rps => Direction::Both,
            _ => Direction::Up,
        }
    }

    /// Weight in the statistical channel for an entity of `kind`. The original's separate
    /// mesh and APM service metrics are one set here, with the sum of their weights
    /// (error rate 0.10 + 0.15, latency 0.05 + 0.10, rps 0.05 + 0.05).
    pub fn weight(self, kind: EntityKind) -> f64 {
        use EntityKind as K;
        match (kind, self) {
            (K::Service, Self::ErrorRate) => 0.25,
            (K::Service, Self::LatencyP99Ms) => 0.15,
            (K::Service, Self::Rps) => 0.10,
            (K::Ingress, Self::ErrorRate | Self::LatencyP99Ms) => 0.50,
            (K::Pod, Self::Restarts | Self::NotReadyContainers) => 0.20,
            (K::Node, Self::CpuPct | Self::MemoryPct) => 0.20,
            (K::Node, Self::DiskPct) => 0.15,
            (K::Node, Self::PsiCpu | Self::PsiMemory) => 0.10,
            (K::Node, Self::PsiIo) => 0.05,
            _ => DEFAULT_WEIGHT,
        }
    }

    /// The smallest σ a baseline of this metric may claim, in the metric's unit. Without it a
    /// metric that was constant through its cold start (σ = 0) could never be anomalous: the
    /// original reported deviation 0 whenever σ ≤ 1e-9.
    pub fn sigma_floor(self) -> f64 {
        match self {
            Self::ErrorRate => 0.002,
            Self::LatencyP99Ms => 1.0,
            Self::Rps => 0.1,
            Self::Restarts | Self::NotReadyContainers => 0.25,
            Self::CpuCores => 0.01,
            Self::MemoryBytes => 1_048_576.0,
            _ => 0.5,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde() {
        for metric in [
            Metric::ErrorRate,
            Metric::LatencyP99Ms,
            Metric::SloBurn,
            Metric::PsiIo,
        ] {
            let json = serde_json::to_string(&metric).unwrap();
            assert_eq!(json, format!("\"{metric}\""));
        }
    }

    #[test]
    fn channels_and_weights() {
        assert_eq!(Metric::Restarts.channel(), Channel::Both);
        assert_eq!(Metric::ContainerAnomaly.channel(), Channel::Deterministic);
        assert!(!Metric::SloBurn.is_measured());
        assert_eq!(Metric::ErrorRate.weight(EntityKind::Ingress), 0.50);
        assert_eq!(Metric::PsiIo.weight(EntityKind::Node), 0.05);
        assert_eq!(Metric::PsiIo.weight(EntityKind::Pod), DEFAULT_WEIGHT);
    }
}
