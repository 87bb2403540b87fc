//! The Kubernetes side of the engine's input, from a snapshot's resources: pods with their
//! container problems, restarts and events, workloads and their rollouts, and the edges
//! between nodes, pods, workloads, services and ingresses.

use std::collections::{BTreeMap, HashMap};

use atlhyper_aiops::{ClusterInput, EdgeInput, EntityInput, EntityKind, EntityRef, Metric};
use atlhyper_model::AgentSnapshot;

/// Warning event reasons that count as critical for the pod they are about.
const CRITICAL_EVENTS: [&str; 8] = [
    "BackOff",
    "CrashLoopBackOff",
    "OOMKilling",
    "Failed",
    "Evicted",
    "FailedMount",
    "FailedAttachVolume",
    "FailedCreatePodSandBox",
];

/// (kind, namespace, name) of a workload; its value in `add_resources` is (selector words,
/// unavailable ratio).
type WorkloadKey<'a> = (&'a str, &'a str, &'a str);

/// The Kubernetes side of the input, from the snapshot's resources:
///
/// - **pods** (`namespace/pod/name`): `restarts` = containers that terminated within the
///   snapshot's interval, `not_ready_containers`, `cpu_cores` and `memory_bytes` when
///   `metrics.k8s.io` answers; signals: the worst container state (OOMKilled, also while
///   running within 10 minutes of an OOM kill; CrashLoopBackOff; config errors; image pulls;
///   a restart within 10 minutes; running but not ready), the last critical Warning event on
///   the pod (BackOff, OOMKilling, Failed, Evicted, mount and sandbox failures) and the
///   unavailable share of its Deployment (or StatefulSet, DaemonSet);
/// - **workloads** (`namespace/deployment/name`, `…/statefulset/…`, `…/daemonset/…`): one
///   entity each; a Deployment's signal `rolled_out_ms` is the creation of its newest
///   ReplicaSet that still wants pods (its current revision);
/// - **edges**: pod → its node (`runs_on`); workload → each pod it owns, through its
///   ReplicaSet for a Deployment (`owns`); service → each workload whose selector contains the
///   Service's selector (`selects`); an Ingress object's rules route their host's ingress
///   entity to the rule's service (`routes_to`);
/// - **nodes**: conditions MemoryPressure, DiskPressure, PIDPressure true, and Ready not true.
pub(super) fn add_resources(
    input: &mut ClusterInput,
    resources: &atlhyper_model::ResourceSnapshot,
    snapshot: &AgentSnapshot,
) {
    let now = snapshot.taken_at.0;
    let (from, to) = (snapshot.interval_start.0, snapshot.interval_end.0);
    // ReplicaSet → its Deployment.
    let rs_owner: HashMap<(&str, &str), &str> = resources
        .replica_sets
        .iter()
        .filter_map(|rs| {
            let owner = rs.owner.as_ref().filter(|o| o.kind == "Deployment")?;
            Some((
                (rs.meta.namespace.as_str(), rs.meta.name.as_str()),
                owner.name.as_str(),
            ))
        })
        .collect();
    let no_selector = atlhyper_model::LabelSelector::default();
    let mut workloads: BTreeMap<WorkloadKey<'_>, (&atlhyper_model::LabelSelector, Option<f64>)> =
        BTreeMap::new();
    for (kind, list) in [
        ("Deployment", &resources.deployments),
        ("StatefulSet", &resources.stateful_sets),
        ("DaemonSet", &resources.daemon_sets),
    ] {
        for w in list {
            let selector = w.selector.as_ref().unwrap_or(&no_selector);
            let ratio = (w.desired > 0)
                .then(|| f64::from(w.desired.saturating_sub(w.available)) / f64::from(w.desired));
            workloads.insert(
                (kind, w.meta.namespace.as_str(), w.meta.name.as_str()),
                (selector, ratio),
            );
        }
    }
    // The current revision of a Deployment: its newest ReplicaSet that still wants pods.
    let mut rolled_out: HashMap<(&str, &str), i64> = HashMap::new();
    for rs in &resources.replica_sets {
        let (Some(owner), Some(created)) = (rs.owner.as_ref(), rs.meta.created_at) else {
            continue;
        };
        if owner.kind != "Deployment" || rs.desired == 0 {
            continue;
        }
        let at = rolled_out
            .entry((rs.meta.namespace.as_str(), owner.name.as_str()))
            .or_insert(created.0);
        *at = (*at).max(created.0);
    }
    for (kind, namespace, name) in workloads.keys() {
        let Some(kind) = workload_kind(kind) else {
            continue;
        };
        if namespace.is_empty() || name.is_empty() {
            continue;
        }
        let signals = atlhyper_aiops::Signals {
            rolled_out_ms: (kind == EntityKind::Deployment)
                .then(|| rolled_out.get(&(*namespace, *name)).copied())
                .flatten(),
            ..atlhyper_aiops::Signals::default()
        };
        input
            .entities
            .push(EntityInput::new(EntityRef::new(kind, *namespace, *name)).with_signals(signals));
    }
    let workload_of = |pod: &atlhyper_model::resources::PodSummary| -> Option<(&str, String)> {
        let owner = pod.owner.as_ref()?;
        let ns = pod.meta.namespace.as_str();
        match owner.kind.as_str() {
            "ReplicaSet" => rs_owner
                .get(&(ns, owner.name.as_str()))
                .map(|d| ("Deployment", (*d).to_owned())),
            "StatefulSet" | "DaemonSet" => {
                let kind = if owner.kind == "StatefulSet" {
                    "StatefulSet"
                } else {
                    "DaemonSet"
                };
                Some((kind, owner.name.clone()))
            }
            _ => None,
        }
    };
    let mut last_event: HashMap<(&str, &str), i64> = HashMap::new();
    for e in &resources.events {
        if e.event_type != "Warning"
            || e.involved.kind != "Pod"
            || !CRITICAL_EVENTS.contains(&e.reason.as_str())
        {
            continue;
        }
        if let Some(seen) = e.last_seen.or(e.first_seen) {
            let at = last_event
                .entry((e.involved.namespace.as_str(), e.involved.name.as_str()))
                .or_insert(seen.0);
            *at = (*at).max(seen.0);
        }
    }
    for pod in &resources.pods {
        if pod.meta.name.is_empty() || pod.meta.namespace.is_empty() {
            continue;
        }
        let pod_ref = EntityRef::new(EntityKind::Pod, &pod.meta.namespace, &pod.meta.name);
        let mut entity = EntityInput::new(pod_ref.clone());
        let restarted = pod
            .containers
            .iter()
            .filter(|c| c.last_finished_at.is_some_and(|t| t.0 > from && t.0 <= to))
            .count();
        entity = entity.with(Metric::Restarts, restarted as f64).with(
            Metric::NotReadyContainers,
            f64::from(pod.total_containers.saturating_sub(pod.ready_containers)),
        );
        if let Some(usage) = &pod.usage {
            if let Some(cpu) = usage.cpu_millis {
                entity = entity.with(Metric::CpuCores, cpu / 1000.0);
            }
            if let Some(memory) = usage.memory_bytes {
                entity = entity.with(Metric::MemoryBytes, memory);
            }
        }
        let workload = workload_of(pod);
        entity.signals = atlhyper_aiops::Signals {
            container: atlhyper_model::container::worst_problem(&pod.containers, now),
            last_critical_event_ms: last_event
                .get(&(pod.meta.namespace.as_str(), pod.meta.name.as_str()))
                .copied(),
            deployment_unavailable_ratio: workload.as_ref().and_then(|(kind, name)| {
                workloads
                    .get(&(*kind, pod.meta.namespace.as_str(), name.as_str()))
                    .and_then(|(_, ratio)| *ratio)
            }),
            ..atlhyper_aiops::Signals::default()
        };
        input.entities.push(entity);
        if !pod.node.is_empty() {
            input
                .edges
                .push(EdgeInput::new(pod_ref.clone(), EntityRef::node(&pod.node)));
        }
        if let Some((kind, name)) = workload
            && let Some(entity_kind) = workload_kind(kind)
            && workloads.contains_key(&(kind, pod.meta.namespace.as_str(), name.as_str()))
        {
            input.edges.push(EdgeInput::new(
                EntityRef::new(entity_kind, &pod.meta.namespace, &name),
                pod_ref,
            ));
        }
    }
    for service in &resources.services {
        if service.selector.is_empty() {
            continue;
        }
        let service_ref = EntityRef::new(EntityKind::Service, &service.meta.namespace, &service.meta.name);
        let wanted: BTreeMap<String, String> = service
            .selector
            .iter()
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for ((kind, ns, name), (selector, _)) in &workloads {
            if *ns != service.meta.namespace || !selector.implies(&wanted) {
                continue;
            }
            if let Some(kind) = workload_kind(kind) {
                input.edges.push(EdgeInput::new(
                    service_ref.clone(),
                    EntityRef::new(kind, *ns, *name),
                ));
            }
        }
    }
    for ingress in &resources.ingresses {
        for rule in &ingress.rules {
            if rule.host.is_empty() || rule.service.is_empty() {
                continue;
            }
            input.edges.push(EdgeInput::new(
                EntityRef::new(EntityKind::Ingress, &ingress.meta.namespace, &rule.host),
                EntityRef::new(EntityKind::Service, &ingress.meta.namespace, &rule.service),
            ));
        }
    }
    for node in &resources.nodes {
        if node.meta.name.is_empty() {
            continue;
        }
        let on = |kind: &str| {
            node.conditions
                .iter()
                .any(|c| c.kind == kind && c.status == "True")
        };
        let signals = atlhyper_aiops::Signals {
            memory_pressure: on("MemoryPressure"),
            disk_pressure: on("DiskPressure"),
            pid_pressure: on("PIDPressure"),
            not_ready: !node
                .conditions
                .iter()
                .any(|c| c.kind == "Ready" && c.status == "True"),
            ..atlhyper_aiops::Signals::default()
        };
        let node_ref = EntityRef::node(&node.meta.name);
        match input.entities.iter_mut().find(|e| e.entity == node_ref) {
            Some(existing) => existing.signals = signals,
            None => input
                .entities
                .push(EntityInput::new(node_ref).with_signals(signals)),
        }
    }
}

/// The engine's kind of a Kubernetes workload kind.
fn workload_kind(kind: &str) -> Option<EntityKind> {
    match kind {
        "Deployment" => Some(EntityKind::Deployment),
        "StatefulSet" => Some(EntityKind::StatefulSet),
        "DaemonSet" => Some(EntityKind::DaemonSet),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::engine_config;
    use super::super::input::input_from_snapshot;
    use super::super::input::test_support::*;
    use super::*;
    use atlhyper_aiops::{Engine, TickInput};
    use atlhyper_model::ContainerProblem;
    use serde_json::json;

    #[test]
    fn resources_give_pods_their_signals_and_the_graph_its_layers() {
        let c = |name: &str, ready: bool, state: &str, reason: &str, last: &str, finished: Option<&str>| {
            json!({"name": name, "image": "img", "ready": ready, "restarts": 3, "state": state,
                   "reason": reason, "last_reason": last, "last_finished_at": finished})
        };
        let pod = |name: &str, node: &str, rs: &str, container: serde_json::Value| {
            json!({"namespace": "shop", "name": name, "phase": "Running", "status": "x",
                   "ready": container["ready"], "ready_containers": u32::from(container["ready"] == true),
                   "total_containers": 1, "restarts": 3, "node": node,
                   "owner": {"kind": "ReplicaSet", "name": rs}, "containers": [container]})
        };
        let input = input_from_snapshot(&snapshot(json!({"resources": {
            "pods": [
                pod("cart-7f-a", "node-1", "cart-7f", c("app", false, "waiting", "CrashLoopBackOff", "Error", Some("2026-01-05T00:00:20Z"))),
                pod("cart-7f-b", "node-2", "cart-7f", c("app", true, "running", "", "OOMKilled", Some("2026-01-04T23:55:00Z"))),
                pod("web-1-a", "node-2", "web-1", c("app", true, "running", "", "", None)),
            ],
            "replica_sets": [
                {"namespace": "shop", "name": "cart-7f", "status": "Degraded", "desired": 2, "ready": 1,
                 "available": 1, "updated": 2, "images": [], "owner": {"kind": "Deployment", "name": "cart"},
                 "created_at": "2026-01-04T23:50:00Z"},
                {"namespace": "shop", "name": "cart-6e", "status": "Healthy", "desired": 0, "ready": 0,
                 "available": 0, "updated": 0, "images": [], "owner": {"kind": "Deployment", "name": "cart"},
                 "created_at": "2026-01-04T23:55:00Z"},
                {"namespace": "shop", "name": "web-1", "status": "Healthy", "desired": 1, "ready": 1,
                 "available": 1, "updated": 1, "images": [], "owner": {"kind": "Deployment", "name": "web"}}
            ],
            "deployments": [
                {"namespace": "shop", "name": "cart", "status": "Degraded", "desired": 2, "ready": 1,
                 "available": 0, "updated": 2, "images": [], "selector": "app=cart,tier=be"},
                {"namespace": "shop", "name": "web", "status": "Healthy", "desired": 1, "ready": 1,
                 "available": 1, "updated": 1, "images": [], "selector": "app=web"}
            ],
            "services": [
                {"namespace": "shop", "name": "cart", "service_type": "ClusterIP", "ports": [], "selector": ["app=cart"]},
                {"namespace": "shop", "name": "headless", "service_type": "ClusterIP", "ports": []}
            ],
            "events": [
                {"namespace": "shop", "name": "e1", "event_type": "Warning", "reason": "BackOff", "message": "m",
                 "count": 4, "involved": {"kind": "Pod", "namespace": "shop", "name": "cart-7f-a"},
                 "last_seen": "2026-01-05T00:00:25Z"},
                {"namespace": "shop", "name": "e2", "event_type": "Warning", "reason": "Unhealthy", "message": "m",
                 "count": 1, "involved": {"kind": "Pod", "namespace": "shop", "name": "web-1-a"},
                 "last_seen": "2026-01-05T00:00:25Z"}
            ],
            "ingresses": [{"namespace": "shop", "name": "shop", "rules": [
                {"host": "shop.example.com", "path": "/", "service": "web"}], "tls": false}],
            "nodes": [{"name": "node-2", "status": "Ready", "ready": true, "unschedulable": false,
                       "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "True"}],
                       "capacity": {}, "allocatable": {}}]
        }})));
        let a = entity(&input, "shop/pod/cart-7f-a");
        assert_eq!(a.signals.container, Some(ContainerProblem::CrashLoopBackOff));
        assert_eq!(a.signals.deployment_unavailable_ratio, Some(1.0));
        assert_eq!(a.signals.last_critical_event_ms, Some(1_767_571_225_000));
        assert_eq!(metric(a, Metric::Restarts), Some(1.0));
        assert_eq!(metric(a, Metric::NotReadyContainers), Some(1.0));
        // OOM-killed five minutes ago and running again: still OOMKilled, not restarted now.
        let b = entity(&input, "shop/pod/cart-7f-b");
        assert_eq!(b.signals.container, Some(ContainerProblem::OomKilled));
        assert_eq!(metric(b, Metric::Restarts), Some(0.0));
        let web = entity(&input, "shop/pod/web-1-a");
        assert_eq!(web.signals.container, None);
        assert_eq!(web.signals.last_critical_event_ms, None);
        let node = entity(&input, "_cluster/node/node-2");
        assert!(node.signals.memory_pressure && !node.signals.not_ready);
        let e = edges(&input);
        for edge in [
            ("shop/pod/cart-7f-a", "_cluster/node/node-1"),
            ("shop/pod/cart-7f-b", "_cluster/node/node-2"),
            ("shop/service/cart", "shop/deployment/cart"),
            ("shop/deployment/cart", "shop/pod/cart-7f-a"),
            ("shop/deployment/cart", "shop/pod/cart-7f-b"),
            ("shop/deployment/web", "shop/pod/web-1-a"),
            ("shop/ingress/shop.example.com", "shop/service/web"),
        ] {
            assert!(e.contains(&(edge.0.into(), edge.1.into())), "{edge:?} in {e:?}");
        }
        // Services select workloads, not their pods; no service selects web; the
        // selector-less service selects nothing.
        assert!(
            !e.iter()
                .any(|(from, to)| from.contains("/service/") && to.contains("/pod/"))
        );
        assert!(!e.iter().any(|(_, to)| to == "shop/deployment/web"));
        assert!(!e.iter().any(|(from, _)| from == "shop/service/headless"));
        // A Deployment's rollout is its newest ReplicaSet that still wants pods.
        let cart = entity(&input, "shop/deployment/cart");
        assert_eq!(cart.signals.rolled_out_ms, Some(1_767_570_600_000));
        assert_eq!(entity(&input, "shop/deployment/web").signals.rolled_out_ms, None);
        let mut engine = Engine::new(engine_config()).unwrap();
        let out = engine
            .tick(
                1_767_571_230_000,
                &TickInput {
                    clusters: vec![input],
                },
            )
            .unwrap();
        assert!(out.issues.is_empty(), "{:?}", out.issues);
    }
}
