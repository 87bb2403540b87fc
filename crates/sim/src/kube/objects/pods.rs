//! Pods: labels and owner as their controller sets them, the app and Linkerd proxy
//! containers with their metrics ports, and the status (scheduling, readiness, crash loops,
//! restarts).

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod as KPod, PodCondition, PodIP, PodSpec, PodStatus,
    ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::workloads::selector_labels;
use super::{Labels, labels, meta, owner, time};
use crate::cluster::SimCluster;
use crate::model::{self, EndpointKind, Pod, Role, Workload, WorkloadKind};

/// The workload's own container (`app`, `traefik` or `node-exporter`) with its named ports;
/// `metrics_port` (a pod's Traefik or node-exporter listener) joins them as `metrics`.
pub(super) fn app_container(w: &Workload, image: &str, metrics_port: Option<u16>) -> Container {
    let name = match w.role {
        Role::Traefik => "traefik",
        Role::NodeExporter => "node-exporter",
        Role::Mesh | Role::Plain => "app",
    };
    let mut ports = match w.role {
        Role::Traefik => vec![port("web", 8000), port("websecure", 8443)],
        Role::NodeExporter => Vec::new(),
        Role::Mesh | Role::Plain => vec![port("http", i32::from(w.app_port))],
    };
    if let Some(p) = metrics_port {
        ports.push(port("metrics", i32::from(p)));
    }
    let resources = ResourceRequirements {
        limits: Some([("memory".to_owned(), Quantity("512Mi".into()))].into()),
        requests: Some(
            [
                ("cpu".to_owned(), Quantity("100m".into())),
                ("memory".to_owned(), Quantity("128Mi".into())),
            ]
            .into(),
        ),
        ..ResourceRequirements::default()
    };
    Container {
        name: name.into(),
        image: Some(image.to_owned()),
        image_pull_policy: Some("IfNotPresent".into()),
        ports: Some(ports),
        resources: Some(resources),
        termination_message_path: Some("/dev/termination-log".into()),
        termination_message_policy: Some("File".into()),
        ..Container::default()
    }
}

fn port(name: &str, container_port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

fn proxy_container(admin_port: u16) -> Container {
    Container {
        name: "linkerd-proxy".into(),
        image: Some(format!("cr.l5d.io/linkerd/proxy:{}", model::LINKERD_VERSION)),
        image_pull_policy: Some("IfNotPresent".into()),
        ports: Some(vec![
            port("linkerd-proxy", 4143),
            port("linkerd-admin", i32::from(admin_port)),
        ]),
        termination_message_path: Some("/dev/termination-log".into()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

/// The pod's labels, as a real (injected) pod of that workload has them.
fn pod_labels(sim: &SimCluster, p: &Pod) -> Labels {
    let w = &sim.workloads[p.workload];
    let mut l = selector_labels(w);
    match w.kind {
        WorkloadKind::Deployment => {
            l.insert("pod-template-hash".into(), p.revision_hash.clone());
        }
        WorkloadKind::DaemonSet => {
            l.insert("controller-revision-hash".into(), p.revision_hash.clone());
            l.insert("pod-template-generation".into(), w.generation.to_string());
        }
        WorkloadKind::StatefulSet => {
            l.insert(
                "controller-revision-hash".into(),
                format!("{}-{}", w.name, p.revision_hash),
            );
            l.insert("statefulset.kubernetes.io/pod-name".into(), p.name.clone());
        }
    }
    if w.meshed {
        l.insert("linkerd.io/control-plane-ns".into(), "linkerd".into());
        l.insert(format!("linkerd.io/proxy-{}", w.kind.label()), w.name.clone());
        l.insert("linkerd.io/workload-ns".into(), w.namespace.clone());
    }
    l
}

pub(super) fn pod(sim: &SimCluster, i: usize) -> KPod {
    let p = &sim.pods[i];
    let w = &sim.workloads[p.workload];
    let now = sim.now_ms;
    let image = w
        .revisions
        .iter()
        .find(|r| r.hash == p.revision_hash)
        .map_or(w.image.as_str(), |r| r.image.as_str());
    let mut m = meta(Some(&p.namespace), &p.name, &p.uid, p.created_ms);
    m.labels = Some(pod_labels(sim, p));
    if w.meshed {
        m.annotations = Some(labels(&[
            (
                "linkerd.io/created-by",
                &format!("linkerd/proxy-injector {}", model::LINKERD_VERSION),
            ),
            ("linkerd.io/inject", "enabled"),
            ("linkerd.io/proxy-version", model::LINKERD_VERSION),
            (
                "linkerd.io/trust-root-sha256",
                "8f3e7e5a0f4c1b2d9e6a7c3b5d1f0e2a4c6b8d0f1e3a5c7b9d2f4e6a8c0b1d3e",
            ),
            ("viz.linkerd.io/tap-enabled", "true"),
        ]));
    }
    let (owner_kind, owner_name, owner_uid) = sim.owner_of(i);
    m.owner_references = Some(vec![owner("apps/v1", owner_kind, &owner_name, &owner_uid)]);
    if w.kind != WorkloadKind::StatefulSet {
        m.generate_name = Some(match w.kind {
            WorkloadKind::Deployment => format!("{}-{}-", w.name, p.revision_hash),
            _ => format!("{}-", w.name),
        });
    }
    let metrics_port = p
        .port(EndpointKind::Traefik)
        .or(p.port(EndpointKind::NodeExporter));
    let mut containers = vec![app_container(w, image, metrics_port)];
    if let Some(admin) = p.port(EndpointKind::LinkerdProxy) {
        containers.push(proxy_container(admin));
    }
    let spec = PodSpec {
        containers,
        node_name: p.node.clone(),
        service_account_name: Some(w.service_account().to_owned()),
        restart_policy: Some("Always".into()),
        scheduler_name: Some("default-scheduler".into()),
        termination_grace_period_seconds: Some(30),
        dns_policy: Some("ClusterFirst".into()),
        host_network: (w.role == Role::NodeExporter).then_some(true),
        priority: Some(0),
        enable_service_links: Some(true),
        preemption_policy: Some("PreemptLowerPriority".into()),
        ..PodSpec::default()
    };
    KPod {
        metadata: m,
        spec: Some(spec),
        status: Some(pod_status(sim, p, image, now)),
    }
}

fn pod_status(sim: &SimCluster, p: &Pod, image: &str, now: i64) -> PodStatus {
    let w = &sim.workloads[p.workload];
    let scheduled = p.node.is_some();
    let ready = p.is_ready(now);
    let running = scheduled && p.crashing.is_none() && now >= p.started_ms;
    let cond = |type_: &str, ok: bool, at: i64| PodCondition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        last_transition_time: Some(time(at)),
        ..PodCondition::default()
    };
    let mut conditions = vec![cond("PodScheduled", scheduled, p.created_ms)];
    if !scheduled {
        conditions[0].reason = Some("Unschedulable".into());
        conditions[0].message = Some(format!(
            "0/{} nodes are available: {} node(s) were unschedulable.",
            sim.nodes.len(),
            sim.nodes.len()
        ));
        return PodStatus {
            phase: Some("Pending".into()),
            conditions: Some(conditions),
            qos_class: Some("Burstable".into()),
            ..PodStatus::default()
        };
    }
    let since = if ready {
        p.ready_at_ms
    } else {
        p.last_terminated.as_ref().map_or(p.created_ms, |t| t.finished_ms)
    };
    conditions.push(cond("PodReadyToStartContainers", true, p.created_ms + 1_000));
    conditions.push(cond("Initialized", true, p.created_ms + 1_000));
    conditions.push(cond("ContainersReady", ready, since));
    conditions.push(cond("Ready", ready, since));
    for c in conditions.iter_mut().filter(|c| c.status == "False") {
        c.reason = Some("ContainersNotReady".into());
        c.message = Some(format!(
            "containers with unready status: [{}]",
            app_container(w, image, None).name
        ));
    }
    let app = app_status(p, w, image, now, ready, running);
    let mut statuses = vec![app];
    if p.port(EndpointKind::LinkerdProxy).is_some() {
        statuses.push(ContainerStatus {
            name: "linkerd-proxy".into(),
            image: format!("cr.l5d.io/linkerd/proxy:{}", model::LINKERD_VERSION),
            image_id: "cr.l5d.io/linkerd/proxy@sha256:5d6b2f0e4a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b".into(),
            container_id: Some(format!("containerd://{}", &crate::rng::fnv(&p.uid).to_string())),
            ready: now >= p.created_ms + 2_000,
            started: Some(true),
            restart_count: 0,
            state: Some(ContainerState {
                running: Some(ContainerStateRunning { started_at: Some(time(p.created_ms + 1_000)) }),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        });
    }
    let phase = if running || p.crashing.is_some() {
        "Running"
    } else {
        "Pending"
    };
    PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conditions),
        host_ip: Some(node_ip(sim, p)),
        pod_ip: Some("127.0.0.1".into()),
        pod_ips: Some(vec![PodIP {
            ip: "127.0.0.1".into(),
        }]),
        start_time: Some(time(p.created_ms)),
        container_statuses: Some(statuses),
        qos_class: Some("Burstable".into()),
        ..PodStatus::default()
    }
}

fn node_ip(sim: &SimCluster, p: &Pod) -> String {
    sim.nodes
        .iter()
        .find(|n| Some(&n.name) == p.node.as_ref())
        .map_or_else(String::new, |n| n.ip.clone())
}

fn app_status(p: &Pod, w: &Workload, image: &str, now: i64, ready: bool, running: bool) -> ContainerStatus {
    let state = if p.crashing.is_some() {
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("CrashLoopBackOff".into()),
                message: Some(format!(
                    "back-off {} restarting failed container=app pod={}_{}({})",
                    backoff_text(p),
                    p.name,
                    p.namespace,
                    p.uid
                )),
            }),
            ..ContainerState::default()
        }
    } else if running {
        ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(time(p.started_ms)),
            }),
            ..ContainerState::default()
        }
    } else {
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ContainerCreating".into()),
                message: None,
            }),
            ..ContainerState::default()
        }
    };
    let last_state = p.last_terminated.as_ref().map(|t| ContainerState {
        terminated: Some(ContainerStateTerminated {
            reason: Some(t.reason.into()),
            exit_code: t.exit_code,
            started_at: Some(time(t.started_ms)),
            finished_at: Some(time(t.finished_ms)),
            container_id: Some(format!(
                "containerd://{:016x}{:016x}",
                crate::rng::fnv(&p.uid),
                t.finished_ms
            )),
            ..ContainerStateTerminated::default()
        }),
        ..ContainerState::default()
    });
    let repo = image.split(':').next().unwrap_or(image);
    ContainerStatus {
        name: app_container(w, image, None).name,
        image: image.to_owned(),
        image_id: format!(
            "{repo}@sha256:{:016x}{:016x}{:016x}{:016x}",
            crate::rng::fnv(image),
            crate::rng::fnv(repo),
            crate::rng::fnv(&w.name),
            crate::rng::fnv(&w.namespace)
        ),
        container_id: running.then(|| {
            format!(
                "containerd://{:016x}{:016x}",
                crate::rng::fnv(&p.uid),
                p.started_ms
            )
        }),
        ready,
        started: Some(running && now >= p.started_ms),
        restart_count: p.restarts as i32,
        state: Some(state),
        last_state,
        ..ContainerStatus::default()
    }
}

fn backoff_text(p: &Pod) -> String {
    let secs = (10i64 << p.restarts.min(5)).min(300);
    if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}
