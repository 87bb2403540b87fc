//! Anomaly rules over the resource summaries: pure functions of a snapshot and the time.
//!
//! | rule | entity | severity |
//! |---|---|---|
//! | a container waiting in `CrashLoopBackOff` | the pod | critical |
//! | a container `OOMKilled` now, or whose last termination was `OOMKilled` within 10 minutes (`atlhyper_model::container`, the window AIOps uses too) | the pod | critical |
//! | `ImagePullBackOff` / `ErrImagePull` | the pod | warning |
//! | `CreateContainerConfigError` | the pod | warning |
//! | `Pending` longer than `pending_after` | the pod | warning |
//! | node `Ready` not `True` | the node | critical |
//! | node `MemoryPressure` / `DiskPressure` / `PIDPressure` `True` | the node | warning |
//! | Deployment with ≥ `unavailable_ratio` of its desired replicas unavailable | the deployment | critical |
//! | Warning events seen within `event_window` | the involved object | critical for the original's critical reasons, else warning |

use std::collections::BTreeMap;
use std::time::Duration;

use atlhyper_model::Timestamp;
use atlhyper_model::container::{self, ContainerProblem};
use atlhyper_model::resources::{
    Anomaly, ContainerSummary, PodSummary, ResourceKind, ResourceSnapshot, Severity, entity_key,
};

#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyRules {
    pub pending_after: Duration,
    /// A Deployment with at least this share of its desired replicas unavailable.
    pub unavailable_ratio: f64,
    /// Warning events last seen within this long count.
    pub event_window: Duration,
}

impl Default for AnomalyRules {
    fn default() -> Self {
        Self {
            pending_after: Duration::from_secs(300),
            unavailable_ratio: 0.75,
            event_window: Duration::from_secs(3600),
        }
    }
}

/// Event reasons the original treats as critical (inventory §2.8).
const CRITICAL_EVENT_REASONS: [&str; 9] = [
    "Failed",
    "FailedScheduling",
    "FailedMount",
    "FailedAttachVolume",
    "OOMKilled",
    "BackOff",
    "CrashLoopBackOff",
    "Unhealthy",
    "NodeNotReady",
];

/// The anomaly a container problem makes (reason, since, evidence, severity), if any: a
/// recent restart and unreadiness are left to the AIOps engine, too noisy for this list.
fn container_anomaly(
    problem: ContainerProblem,
    c: &ContainerSummary,
    pod: &PodSummary,
) -> Option<(&'static str, Option<Timestamp>, String, Severity)> {
    let last_exit = c.last_exit_code.map(|e| e.to_string()).unwrap_or_default();
    Some(match problem {
        ContainerProblem::CrashLoopBackOff => (
            "CrashLoopBackOff",
            c.since.or(pod.meta.created_at),
            format!(
                "container {} restarted {} times, waiting in CrashLoopBackOff (last exit: {} {last_exit})",
                c.name, c.restarts, c.last_reason
            ),
            Severity::Critical,
        ),
        ContainerProblem::OomKilled => {
            let now = c.reason == "OOMKilled";
            (
                "OOMKilled",
                if now { c.since } else { c.last_finished_at },
                format!(
                    "container {} was killed for exceeding its memory limit (exit 137), {} restarts",
                    c.name, c.restarts
                ),
                Severity::Critical,
            )
        }
        ContainerProblem::ImagePull => (
            if c.reason == "ErrImagePull" {
                "ErrImagePull"
            } else {
                "ImagePullBackOff"
            },
            pod.meta.created_at,
            format!("container {} cannot pull image {}", c.name, c.image),
            Severity::Warning,
        ),
        ContainerProblem::ConfigError => (
            "CreateContainerConfigError",
            pod.meta.created_at,
            format!(
                "container {} cannot be created: its configuration (ConfigMap, Secret, env, image name) is invalid ({})",
                c.name, c.reason
            ),
            Severity::Warning,
        ),
        ContainerProblem::RecentCrash | ContainerProblem::NotReady => return None,
    })
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Every anomaly in `snap` at `now_ms`, one per (entity, reason), ordered by severity
/// (critical first), then entity.
pub fn detect(snap: &ResourceSnapshot, now_ms: i64, rules: &AnomalyRules) -> Vec<Anomaly> {
    let mut found: BTreeMap<(String, String), Anomaly> = BTreeMap::new();
    let mut add = |a: Anomaly| {
        found.entry((a.entity.clone(), a.reason.clone())).or_insert(a);
    };
    for pod in &snap.pods {
        let entity = entity_key(ResourceKind::Pod, &pod.meta.namespace, &pod.meta.name);
        let anomaly = |reason: &str, since, evidence: String, severity| Anomaly {
            entity: entity.clone(),
            kind: ResourceKind::Pod,
            reason: reason.to_owned(),
            since,
            evidence,
            severity,
        };
        for c in &pod.containers {
            for problem in container::problems(c, now_ms) {
                if let Some(a) = container_anomaly(problem, c, pod) {
                    add(anomaly(a.0, a.1, a.2, a.3));
                }
            }
        }
        if pod.phase == "Pending"
            && let Some(created) = pod.meta.created_at
            && now_ms - created.0 > ms(rules.pending_after)
        {
            add(anomaly(
                "PendingTooLong",
                Some(created),
                format!(
                    "pending for {} s (threshold {} s), status {}",
                    (now_ms - created.0) / 1000,
                    rules.pending_after.as_secs(),
                    pod.status
                ),
                Severity::Warning,
            ));
        }
    }
    for node in &snap.nodes {
        let entity = entity_key(ResourceKind::Node, "", &node.meta.name);
        for c in &node.conditions {
            let (reason, severity) = match (c.kind.as_str(), c.status.as_str()) {
                ("Ready", "True") => continue,
                ("Ready", _) => ("NodeNotReady", Severity::Critical),
                (p @ ("MemoryPressure" | "DiskPressure" | "PIDPressure"), "True") => (p, Severity::Warning),
                _ => continue,
            };
            add(Anomaly {
                entity: entity.clone(),
                kind: ResourceKind::Node,
                reason: reason.to_owned(),
                since: c.since,
                evidence: format!(
                    "condition {}={} ({}){}",
                    c.kind,
                    c.status,
                    c.reason,
                    if c.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", c.message)
                    }
                ),
                severity,
            });
        }
    }
    for d in &snap.deployments {
        if d.desired == 0 {
            continue;
        }
        let unavailable = d.desired.saturating_sub(d.available);
        if f64::from(unavailable) >= rules.unavailable_ratio * f64::from(d.desired) {
            let since = d
                .conditions
                .iter()
                .find(|c| c.kind == "Available" && c.status != "True")
                .and_then(|c| c.since);
            add(Anomaly {
                entity: entity_key(ResourceKind::Deployment, &d.meta.namespace, &d.meta.name),
                kind: ResourceKind::Deployment,
                reason: "DeploymentUnavailable".into(),
                since,
                evidence: format!(
                    "{unavailable} of {} desired replicas unavailable ({} available, {} ready)",
                    d.desired, d.available, d.ready
                ),
                severity: Severity::Critical,
            });
        }
    }
    for e in &snap.events {
        if e.event_type != "Warning" {
            continue;
        }
        let last = e.last_seen.or(e.first_seen);
        if last.is_none_or(|t: Timestamp| now_ms - t.0 > ms(rules.event_window)) {
            continue;
        }
        let kind = ResourceKind::parse(&e.involved.kind).unwrap_or(ResourceKind::Event);
        let ns = if e.involved.namespace.is_empty() {
            &e.meta.namespace
        } else {
            &e.involved.namespace
        };
        let severity = if CRITICAL_EVENT_REASONS.contains(&e.reason.as_str()) {
            Severity::Critical
        } else {
            Severity::Warning
        };
        add(Anomaly {
            entity: entity_key(kind, ns, &e.involved.name),
            kind,
            reason: e.reason.clone(),
            since: e.first_seen.or(last),
            evidence: format!("Warning event ×{}: {}", e.count, e.message),
            severity,
        });
    }
    let mut out: Vec<Anomaly> = found.into_values().collect();
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.entity.cmp(&b.entity)));
    out
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)] // snapshots built one kind at a time read better
mod tests {
    use super::*;
    use atlhyper_model::ContainerState;
    use atlhyper_model::resources::{
        Condition, ContainerSummary, EventSummary, InvolvedObject, Meta, NodeSummary, PodSummary,
        WorkloadSummary,
    };

    const NOW: i64 = 1_767_600_000_000;

    fn pod(name: &str, containers: Vec<ContainerSummary>) -> PodSummary {
        PodSummary {
            meta: Meta {
                namespace: "shop".into(),
                name: name.into(),
                created_at: Some(Timestamp(NOW - 60_000)),
            },
            phase: "Running".into(),
            status: "Running".into(),
            containers,
            ..PodSummary::default()
        }
    }

    fn waiting(reason: &str) -> ContainerSummary {
        ContainerSummary {
            name: "app".into(),
            image: "shop/x:1".into(),
            state: ContainerState::Waiting,
            reason: reason.into(),
            restarts: 4,
            ..ContainerSummary::default()
        }
    }

    fn reasons(snap: &ResourceSnapshot) -> Vec<(String, String, Severity)> {
        detect(snap, NOW, &AnomalyRules::default())
            .into_iter()
            .map(|a| (a.entity, a.reason, a.severity))
            .collect()
    }

    #[test]
    fn container_states_become_pod_anomalies() {
        let mut snap = ResourceSnapshot::default();
        snap.pods = vec![
            pod("a", vec![waiting("CrashLoopBackOff")]),
            pod("b", vec![waiting("ImagePullBackOff")]),
            pod("c", vec![waiting("ErrImagePull")]),
            pod("d", vec![waiting("CreateContainerConfigError")]),
            pod("e", vec![waiting("ContainerCreating")]),
        ];
        let found = reasons(&snap);
        assert_eq!(found.len(), 4, "{found:?}");
        assert_eq!(
            found[0],
            ("shop/pod/a".into(), "CrashLoopBackOff".into(), Severity::Critical)
        );
        for (name, reason) in [
            ("b", "ImagePullBackOff"),
            ("c", "ErrImagePull"),
            ("d", "CreateContainerConfigError"),
        ] {
            assert!(
                found.contains(&(format!("shop/pod/{name}"), reason.into(), Severity::Warning)),
                "{found:?}"
            );
        }
    }

    #[test]
    fn oom_kills_count_while_recent() {
        let mut c = ContainerSummary {
            name: "app".into(),
            state: ContainerState::Running,
            last_reason: "OOMKilled".into(),
            last_exit_code: Some(137),
            last_finished_at: Some(Timestamp(NOW - 120_000)),
            ..ContainerSummary::default()
        };
        let mut snap = ResourceSnapshot::default();
        snap.pods = vec![pod("a", vec![c.clone()])];
        let a = detect(&snap, NOW, &AnomalyRules::default());
        assert_eq!(a[0].reason, "OOMKilled");
        assert_eq!(a[0].since, Some(Timestamp(NOW - 120_000)));
        c.last_finished_at = Some(Timestamp(NOW - 2 * 3_600_000));
        snap.pods = vec![pod("a", vec![c.clone()])];
        assert!(reasons(&snap).is_empty(), "an OOM kill two hours ago is history");
        c.last_finished_at = Some(Timestamp(NOW - container::RECENT_TERMINATION_MS - 1));
        snap.pods = vec![pod("a", vec![c])];
        assert!(
            reasons(&snap).is_empty(),
            "the window is the one AIOps uses: {} minutes",
            container::RECENT_TERMINATION_MS / 60_000
        );
    }

    #[test]
    fn pending_counts_only_past_the_threshold() {
        let mut p = pod("p", Vec::new());
        p.phase = "Pending".into();
        p.meta.created_at = Some(Timestamp(NOW - 299_000));
        let mut snap = ResourceSnapshot::default();
        snap.pods = vec![p.clone()];
        assert!(reasons(&snap).is_empty());
        p.meta.created_at = Some(Timestamp(NOW - 301_000));
        snap.pods = vec![p];
        assert_eq!(reasons(&snap)[0].1, "PendingTooLong");
    }

    #[test]
    fn node_conditions_and_unavailable_deployments() {
        let cond = |kind: &str, status: &str| Condition {
            kind: kind.into(),
            status: status.into(),
            since: Some(Timestamp(NOW - 10_000)),
            ..Condition::default()
        };
        let mut snap = ResourceSnapshot::default();
        snap.nodes = vec![
            NodeSummary {
                meta: Meta {
                    name: "node-1".into(),
                    ..Meta::default()
                },
                conditions: vec![
                    cond("Ready", "Unknown"),
                    cond("MemoryPressure", "True"),
                    cond("DiskPressure", "True"),
                    cond("PIDPressure", "True"),
                ],
                ..NodeSummary::default()
            },
            NodeSummary {
                meta: Meta {
                    name: "node-2".into(),
                    ..Meta::default()
                },
                conditions: vec![cond("Ready", "True"), cond("MemoryPressure", "False")],
                ..NodeSummary::default()
            },
        ];
        let dep = |name: &str, desired, available| WorkloadSummary {
            meta: Meta {
                namespace: "shop".into(),
                name: name.into(),
                created_at: None,
            },
            desired,
            available,
            ..WorkloadSummary::default()
        };
        // 3 of 4 unavailable is exactly 75 %: counts; 2 of 4 does not; scaled to 0 never.
        snap.deployments = vec![dep("web", 4, 1), dep("api", 4, 2), dep("off", 0, 0)];
        let found = reasons(&snap);
        let expect = [
            ("_cluster/node/node-1", "NodeNotReady", Severity::Critical),
            ("_cluster/node/node-1", "MemoryPressure", Severity::Warning),
            ("_cluster/node/node-1", "DiskPressure", Severity::Warning),
            ("_cluster/node/node-1", "PIDPressure", Severity::Warning),
            ("shop/deployment/web", "DeploymentUnavailable", Severity::Critical),
        ];
        assert_eq!(found.len(), expect.len(), "{found:?}");
        for (e, r, s) in expect {
            assert!(found.contains(&(e.into(), r.into(), s)), "{e} {r}: {found:?}");
        }
        assert_eq!(found[0].2, Severity::Critical, "critical first");
    }

    #[test]
    fn recent_warning_events_name_their_object() {
        let event = |reason: &str, kind: &str, name: &str, age_ms: i64, kind_type: &str| EventSummary {
            meta: Meta {
                namespace: "shop".into(),
                name: format!("{name}.1"),
                created_at: None,
            },
            event_type: kind_type.into(),
            reason: reason.into(),
            message: "m".into(),
            count: 3,
            involved: InvolvedObject {
                kind: kind.into(),
                namespace: if kind == "Node" {
                    String::new()
                } else {
                    "shop".into()
                },
                name: name.into(),
            },
            first_seen: Some(Timestamp(NOW - age_ms)),
            last_seen: Some(Timestamp(NOW - age_ms)),
            source: String::new(),
        };
        let mut snap = ResourceSnapshot::default();
        snap.events = vec![
            event("BackOff", "Pod", "cart-1", 10_000, "Warning"),
            event("OOMKilling", "Node", "node-2", 10_000, "Warning"),
            event("Scheduled", "Pod", "cart-1", 10_000, "Normal"),
            event("BackOff", "Pod", "old", 2 * 3_600_000, "Warning"),
        ];
        let found = reasons(&snap);
        assert_eq!(
            found,
            vec![
                ("shop/pod/cart-1".into(), "BackOff".into(), Severity::Critical),
                (
                    "_cluster/node/node-2".into(),
                    "OOMKilling".into(),
                    Severity::Warning
                ),
            ]
        );
    }
}
