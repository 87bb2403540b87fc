//! Pods, nodes, namespaces and the events about them.

use atlhyper_model::resources::{
    Condition, ContainerSummary, CpuMem, EventSummary, InvolvedObject, NamespaceSummary, NodeSummary,
    PodSummary, TaintSummary,
};
use atlhyper_model::{ContainerState, Timestamp};
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod};

use super::{count, cpu_mem, meta, owner, quantity, ts};

pub fn summarize_pod(pod: &Pod) -> PodSummary {
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Unknown".into());
    let statuses = status.and_then(|s| s.container_statuses.as_ref());
    let mut requests = CpuMem::default();
    let mut limits = CpuMem::default();
    let mut containers = Vec::new();
    for c in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
        if let Some(r) = &c.resources {
            requests.add(&cpu_mem(r.requests.as_ref()));
            limits.add(&cpu_mem(r.limits.as_ref()));
        }
        let cs = statuses.and_then(|all| all.iter().find(|s| s.name == c.name));
        let mut summary = ContainerSummary {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            state: ContainerState::Unknown,
            ..ContainerSummary::default()
        };
        if let Some(cs) = cs {
            summary.ready = cs.ready;
            summary.restarts = u32::try_from(cs.restart_count).unwrap_or(0);
            if let Some(state) = &cs.state {
                if let Some(r) = &state.running {
                    summary.state = ContainerState::Running;
                    summary.since = ts(r.started_at.as_ref());
                } else if let Some(w) = &state.waiting {
                    summary.state = ContainerState::Waiting;
                    summary.reason = w.reason.clone().unwrap_or_default();
                } else if let Some(t) = &state.terminated {
                    summary.state = ContainerState::Terminated;
                    summary.reason = t.reason.clone().unwrap_or_default();
                    summary.since = ts(t.finished_at.as_ref());
                }
            }
            if let Some(t) = cs.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
                summary.last_reason = t.reason.clone().unwrap_or_default();
                summary.last_exit_code = Some(t.exit_code);
                summary.last_finished_at = ts(t.finished_at.as_ref());
                if summary.state == ContainerState::Waiting {
                    summary.since = summary.last_finished_at;
                }
            }
        }
        containers.push(summary);
    }
    let ready_containers = containers.iter().filter(|c| c.ready).count() as u32;
    let restarts = containers.iter().map(|c| c.restarts).sum();
    let ready_condition = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True");
    let display = containers
        .iter()
        .find(|c| c.state == ContainerState::Waiting && !c.reason.is_empty())
        .or_else(|| {
            containers.iter().find(|c| {
                c.state == ContainerState::Terminated && !c.reason.is_empty() && phase != "Succeeded"
            })
        })
        .map(|c| c.reason.clone())
        .unwrap_or_else(|| {
            if pod.metadata.deletion_timestamp.is_some() {
                "Terminating".into()
            } else {
                status
                    .and_then(|s| s.reason.clone())
                    .unwrap_or_else(|| phase.clone())
            }
        });
    PodSummary {
        meta: meta(&pod.metadata),
        status: display,
        phase,
        ready: ready_condition,
        ready_containers,
        total_containers: containers.len() as u32,
        restarts,
        node: spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        pod_ip: status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
        owner: owner(&pod.metadata),
        requests,
        limits,
        usage: None,
        containers,
    }
}

pub fn summarize_node(node: &Node) -> NodeSummary {
    let status = node.status.as_ref();
    let spec = node.spec.as_ref();
    let conditions: Vec<Condition> = status
        .and_then(|s| s.conditions.as_ref())
        .iter()
        .flat_map(|cs| cs.iter())
        .map(|c| Condition {
            kind: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
            since: ts(c.last_transition_time.as_ref()),
        })
        .collect();
    let ready_status = conditions
        .iter()
        .find(|c| c.kind == "Ready")
        .map(|c| c.status.as_str());
    let ready = ready_status == Some("True");
    let unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let mut display = match ready_status {
        Some("True") => "Ready",
        Some("False") => "NotReady",
        _ => "Unknown",
    }
    .to_owned();
    if unschedulable {
        display.push_str(",SchedulingDisabled");
    }
    let roles = node
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
        .map(str::to_owned)
        .collect();
    NodeSummary {
        meta: meta(&node.metadata),
        status: display,
        ready,
        unschedulable,
        roles,
        internal_ip: status
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone())
            .unwrap_or_default(),
        kubelet_version: status
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.clone())
            .unwrap_or_default(),
        conditions,
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .iter()
            .flat_map(|t| t.iter())
            .map(|t| TaintSummary {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect: t.effect.clone(),
            })
            .collect(),
        capacity: cpu_mem(status.and_then(|s| s.capacity.as_ref())),
        allocatable: cpu_mem(status.and_then(|s| s.allocatable.as_ref())),
        pods_capacity: status
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("pods"))
            .and_then(|q| quantity(&q.0))
            .map(|p| p as u32),
        pods: 0,
        usage: None,
    }
}

pub fn summarize_namespace(n: &Namespace) -> NamespaceSummary {
    NamespaceSummary {
        meta: meta(&n.metadata),
        phase: n
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Active".into()),
        pods: 0,
    }
}

pub fn summarize_event(e: &Event) -> EventSummary {
    let first = ts(e.first_timestamp.as_ref())
        .or_else(|| e.event_time.as_ref().map(|t| Timestamp(t.0.as_millisecond())));
    let last = ts(e.last_timestamp.as_ref())
        .or_else(|| {
            e.series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref())
                .map(|t| Timestamp(t.0.as_millisecond()))
        })
        .or(first);
    let involved = &e.involved_object;
    EventSummary {
        meta: meta(&e.metadata),
        event_type: e.type_.clone().unwrap_or_else(|| "Normal".into()),
        reason: e.reason.clone().unwrap_or_default(),
        message: e.message.clone().unwrap_or_default(),
        count: count(
            e.count
                .or(e.series.as_ref().map(|s| s.count.unwrap_or(1)))
                .or(Some(1)),
        ),
        involved: InvolvedObject {
            kind: involved.kind.clone().unwrap_or_default(),
            namespace: involved.namespace.clone().unwrap_or_default(),
            name: involved.name.clone().unwrap_or_default(),
        },
        first_seen: first,
        last_seen: last,
        source: e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .or_else(|| e.reporting_component.clone())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::summarize::from_json as from;
    use serde_json::json;

    #[test]
    fn a_crashing_pod_summarizes_with_its_reasons_and_resources() {
        let pod: Pod = from(json!({
            "metadata": {"name": "cart-1", "namespace": "shop", "creationTimestamp": "2026-01-05T00:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "cart-abc", "uid": "u", "controller": true}]},
            "spec": {"nodeName": "node-1", "containers": [
                {"name": "app", "image": "shop/cart:1.0", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}},
                {"name": "linkerd-proxy", "image": "linkerd/proxy:2.17", "resources": {"requests": {"cpu": "10m"}}}
            ]},
            "status": {"phase": "Running", "podIP": "10.0.0.5",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    {"name": "app", "image": "shop/cart:1.0", "imageID": "", "ready": false, "restartCount": 7,
                     "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                     "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-01-05T00:10:00Z"}}},
                    {"name": "linkerd-proxy", "image": "linkerd/proxy:2.17", "imageID": "", "ready": true, "restartCount": 0,
                     "state": {"running": {"startedAt": "2026-01-05T00:00:05Z"}}}
                ]}
        }));
        let s = summarize_pod(&pod);
        assert_eq!(s.status, "CrashLoopBackOff");
        assert_eq!(s.phase, "Running");
        assert!(!s.ready);
        assert_eq!((s.ready_containers, s.total_containers, s.restarts), (1, 2, 7));
        assert_eq!(s.requests.cpu_millis, Some(110.0));
        assert_eq!(s.limits.memory_bytes, Some(256.0 * 1024.0 * 1024.0));
        assert_eq!(s.owner.as_ref().unwrap().name, "cart-abc");
        let app = &s.containers[0];
        assert_eq!((app.last_reason.as_str(), app.last_exit_code), ("Error", Some(1)));
        assert_eq!(app.since, Some(Timestamp(1_767_571_800_000)));
    }

    #[test]
    fn a_cordoned_control_plane_node_summarizes() {
        let node: Node = from(json!({
            "metadata": {"name": "node-2", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true, "taints": [{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"}, "allocatable": {"cpu": "3800m"},
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "True", "reason": "KubeletHasInsufficientMemory"}]}
        }));
        let n = summarize_node(&node);
        assert_eq!(n.status, "Ready,SchedulingDisabled");
        assert_eq!(n.roles, ["control-plane"]);
        assert_eq!(n.capacity.cpu_millis, Some(4000.0));
        assert_eq!(n.allocatable.cpu_millis, Some(3800.0));
        assert_eq!(n.pods_capacity, Some(110));
    }
}
