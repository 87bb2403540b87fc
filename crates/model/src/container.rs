//! Container states and the one classification of container problems that both the agent's
//! anomaly rules and the master's AIOps detectors use, with one set of windows.
//!
//! Before, the agent counted an OOM kill for an hour and the master for ten minutes, so the
//! anomaly list and the AIOps risk disagreed about the same pod. [`problems`] is now the only
//! place that reads a container's state and reasons.

use serde::{Deserialize, Serialize};

use crate::resources::ContainerSummary;

/// A container's state, as the kubelet reports it (`unknown`: the status has none yet).
///
/// A value this version does not know (from a newer agent) makes the snapshot invalid, with
/// serde's message naming the value and the ones expected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    Running,
    Waiting,
    Terminated,
    #[default]
    Unknown,
}

impl ContainerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Terminated => "terminated",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ContainerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long after a container's last termination it still counts as a recent crash or OOM
/// kill. One window for the anomaly list and the AIOps engine (docs/resources.md).
pub const RECENT_TERMINATION_MS: i64 = 10 * 60_000;

/// What can be wrong with one container, worst first in [`ContainerProblem::rank`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerProblem {
    /// Terminated (or waiting) with reason `OOMKilled` now, or its previous instance was
    /// OOM-killed within [`RECENT_TERMINATION_MS`].
    OomKilled,
    /// Waiting in `CrashLoopBackOff`.
    CrashLoopBackOff,
    /// `CreateContainerConfigError`, `CreateContainerError` or `InvalidImageName`: the
    /// container cannot be created as configured.
    ConfigError,
    /// Running, but its previous instance terminated (for another reason than an OOM kill)
    /// within [`RECENT_TERMINATION_MS`].
    RecentCrash,
    /// `ImagePullBackOff` or `ErrImagePull`.
    ImagePull,
    /// Running but not ready.
    NotReady,
}

impl ContainerProblem {
    /// 0 is the worst: the order of the AIOps detector's scores.
    pub fn rank(self) -> u8 {
        match self {
            Self::OomKilled => 0,
            Self::CrashLoopBackOff => 1,
            Self::ConfigError => 2,
            Self::RecentCrash => 3,
            Self::ImagePull => 4,
            Self::NotReady => 5,
        }
    }

    /// The Kubernetes-style reason shown in anomaly lists.
    pub fn reason(self) -> &'static str {
        match self {
            Self::OomKilled => "OOMKilled",
            Self::CrashLoopBackOff => "CrashLoopBackOff",
            Self::ConfigError => "CreateContainerConfigError",
            Self::RecentCrash => "RecentCrash",
            Self::ImagePull => "ImagePullBackOff",
            Self::NotReady => "NotReady",
        }
    }
}

/// Whether the container's previous instance ended within the recent window of `now_ms`.
fn ended_recently(c: &ContainerSummary, now_ms: i64) -> bool {
    c.last_finished_at
        .is_some_and(|t| (0..=RECENT_TERMINATION_MS).contains(&(now_ms - t.0)))
}

/// Every problem of one container at `now_ms`, worst first. An OOM kill and a crash loop can
/// both hold at once (a container that keeps being OOM-killed waits in back-off).
pub fn problems(c: &ContainerSummary, now_ms: i64) -> Vec<ContainerProblem> {
    let mut found = Vec::new();
    let reason = c.reason.as_str();
    let oom_last = c.last_reason == "OOMKilled" && ended_recently(c, now_ms);
    if reason == "OOMKilled" || oom_last {
        found.push(ContainerProblem::OomKilled);
    }
    match (c.state, reason) {
        (ContainerState::Waiting, "CrashLoopBackOff") => found.push(ContainerProblem::CrashLoopBackOff),
        (
            ContainerState::Waiting,
            "CreateContainerConfigError" | "CreateContainerError" | "InvalidImageName",
        ) => found.push(ContainerProblem::ConfigError),
        (ContainerState::Waiting, "ImagePullBackOff" | "ErrImagePull") => {
            found.push(ContainerProblem::ImagePull);
        }
        (ContainerState::Running, _) => {
            if ended_recently(c, now_ms) && !oom_last {
                found.push(ContainerProblem::RecentCrash);
            }
            if !c.ready {
                found.push(ContainerProblem::NotReady);
            }
        }
        _ => {}
    }
    found.sort_by_key(|p| p.rank());
    found
}

/// The worst problem among `containers` at `now_ms`.
pub fn worst_problem<'a>(
    containers: impl IntoIterator<Item = &'a ContainerSummary>,
    now_ms: i64,
) -> Option<ContainerProblem> {
    containers
        .into_iter()
        .flat_map(|c| problems(c, now_ms))
        .min_by_key(|p| p.rank())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    const NOW: i64 = 1_000 * 60_000;

    fn container(state: ContainerState, reason: &str) -> ContainerSummary {
        ContainerSummary {
            name: "app".into(),
            state,
            reason: reason.into(),
            ready: state == ContainerState::Running,
            ..ContainerSummary::default()
        }
    }

    fn ended(mut c: ContainerSummary, reason: &str, minutes_ago: i64) -> ContainerSummary {
        c.last_reason = reason.into();
        c.last_finished_at = Some(Timestamp(NOW - minutes_ago * 60_000));
        c
    }

    #[test]
    fn waiting_reasons_are_classified() {
        let cases = [
            ("CrashLoopBackOff", ContainerProblem::CrashLoopBackOff),
            ("CreateContainerConfigError", ContainerProblem::ConfigError),
            ("InvalidImageName", ContainerProblem::ConfigError),
            ("ImagePullBackOff", ContainerProblem::ImagePull),
            ("ErrImagePull", ContainerProblem::ImagePull),
        ];
        for (reason, problem) in cases {
            assert_eq!(
                problems(&container(ContainerState::Waiting, reason), NOW),
                [problem]
            );
        }
        assert!(problems(&container(ContainerState::Waiting, "ContainerCreating"), NOW).is_empty());
    }

    #[test]
    fn an_oom_kill_counts_for_exactly_the_shared_window() {
        let running = container(ContainerState::Running, "");
        assert_eq!(
            problems(&ended(running.clone(), "OOMKilled", 10), NOW),
            [ContainerProblem::OomKilled],
            "at the window's edge"
        );
        assert!(problems(&ended(running.clone(), "OOMKilled", 11), NOW).is_empty());
        assert_eq!(
            problems(&container(ContainerState::Terminated, "OOMKilled"), NOW),
            [ContainerProblem::OomKilled]
        );
        let looping = ended(
            container(ContainerState::Waiting, "CrashLoopBackOff"),
            "OOMKilled",
            1,
        );
        assert_eq!(
            problems(&looping, NOW),
            [ContainerProblem::OomKilled, ContainerProblem::CrashLoopBackOff]
        );
    }

    #[test]
    fn a_recent_restart_and_unreadiness_of_a_running_container() {
        let crashed = ended(container(ContainerState::Running, ""), "Error", 3);
        assert_eq!(problems(&crashed, NOW), [ContainerProblem::RecentCrash]);
        let mut not_ready = container(ContainerState::Running, "");
        not_ready.ready = false;
        assert_eq!(problems(&not_ready, NOW), [ContainerProblem::NotReady]);
        assert!(problems(&container(ContainerState::Running, ""), NOW).is_empty());
    }

    #[test]
    fn the_worst_problem_of_a_pod() {
        let mut not_ready = container(ContainerState::Running, "");
        not_ready.ready = false;
        let pulling = container(ContainerState::Waiting, "ImagePullBackOff");
        assert_eq!(
            worst_problem([&not_ready, &pulling], NOW),
            Some(ContainerProblem::ImagePull)
        );
        assert_eq!(worst_problem([], NOW), None);
    }

    #[test]
    fn unknown_states_from_a_newer_peer_are_refused_with_their_name() {
        let err = serde_json::from_str::<ContainerState>("\"paused\"").unwrap_err();
        assert!(err.to_string().contains("paused"), "{err}");
        assert_eq!(
            serde_json::from_str::<ContainerState>("\"waiting\"").unwrap(),
            ContainerState::Waiting
        );
    }
}
