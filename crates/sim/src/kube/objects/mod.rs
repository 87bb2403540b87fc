//! The cluster model rendered as Kubernetes objects (k8s-openapi types, serialized to the
//! JSON a real API server returns).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetStatus, Deployment, DeploymentCondition, DeploymentSpec,
    DeploymentStatus, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus,
    RollingUpdateDeployment, StatefulSet, StatefulSetSpec, StatefulSetStatus,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ContainerPort, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Event,
    EventSource, Namespace, NamespaceSpec, NamespaceStatus, Node as KNode, NodeAddress, NodeCondition,
    NodeSpec, NodeStatus, NodeSystemInfo, ObjectReference, Pod as KPod, PodCondition, PodIP, PodSpec,
    PodStatus, PodTemplateSpec, ResourceRequirements, Service as KService, ServiceAccount, ServicePort,
    ServiceSpec, Taint,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress as KIngress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, MicroTime, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::kinds::Kind;
use crate::cluster::SimCluster;
use crate::model::{self, EndpointKind, Pod, Role, Workload, WorkloadKind};

type Labels = BTreeMap<String, String>;
/// Objects of one kind as (namespace, name, JSON).
type Rendered = Vec<(String, String, Value)>;

/// Renders every object of the cluster into the store.
pub fn sync(sim: &mut SimCluster) {
    let rendered = render_all(sim);
    for (kind, objects) in rendered {
        sim.store.sync_kind(kind, objects);
    }
}

fn render_all(sim: &SimCluster) -> Vec<(Kind, Rendered)> {
    let mut out: BTreeMap<Kind, Rendered> = Kind::ALL.iter().map(|k| (*k, Vec::new())).collect();
    let mut put = |kind: Kind, ns: &str, name: &str, v: Value| {
        out.entry(kind)
            .or_default()
            .push((ns.to_owned(), name.to_owned(), v));
    };
    for (name, uid) in &sim.namespaces {
        put(Kind::Namespaces, "", name, json(&namespace(sim, name, uid)));
        put(
            Kind::ServiceAccounts,
            name,
            "default",
            json(&service_account(sim, name, "default")),
        );
        put(
            Kind::ConfigMaps,
            name,
            "kube-root-ca.crt",
            json(&root_ca(sim, name)),
        );
    }
    for n in &sim.nodes {
        put(Kind::Nodes, "", &n.name, json(&node(sim, n)));
    }
    for w in &sim.workloads {
        put(
            Kind::ServiceAccounts,
            &w.namespace,
            &w.name,
            json(&service_account(sim, &w.namespace, &w.name)),
        );
        match w.kind {
            WorkloadKind::Deployment => {
                put(
                    Kind::Deployments,
                    &w.namespace,
                    &w.name,
                    json(&deployment(sim, w)),
                );
                for r in &w.revisions {
                    let rs = replica_set(sim, w, r);
                    put(
                        Kind::ReplicaSets,
                        &w.namespace,
                        &format!("{}-{}", w.name, r.hash),
                        json(&rs),
                    );
                }
            }
            WorkloadKind::DaemonSet => {
                put(Kind::DaemonSets, &w.namespace, &w.name, json(&daemon_set(sim, w)))
            }
            WorkloadKind::StatefulSet => put(
                Kind::StatefulSets,
                &w.namespace,
                &w.name,
                json(&stateful_set(sim, w)),
            ),
        }
    }
    for i in 0..sim.pods.len() {
        let p = &sim.pods[i];
        put(Kind::Pods, &p.namespace, &p.name, json(&pod(sim, i)));
    }
    for s in &sim.services {
        put(Kind::Services, &s.namespace, &s.name, json(&service(sim, s)));
        put(Kind::Endpoints, &s.namespace, &s.name, json(&endpoints(sim, s)));
    }
    put(
        Kind::Services,
        "default",
        "kubernetes",
        json(&kubernetes_service(sim)),
    );
    for g in &sim.ingresses {
        put(Kind::Ingresses, &g.namespace, &g.name, json(&ingress(sim, g)));
    }
    for e in &sim.events {
        put(Kind::Events, &e.namespace, &e.name, json(&event(e)));
    }
    out.into_iter().collect()
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub fn time(ms: i64) -> Time {
    Time(Timestamp::from_second(ms.div_euclid(1000)).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn micro_time(ms: i64) -> MicroTime {
    MicroTime(Timestamp::from_microsecond(ms * 1000).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn meta(namespace: Option<&str>, name: &str, uid: &str, created_ms: i64) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        uid: Some(uid.to_owned()),
        creation_timestamp: Some(time(created_ms)),
        ..ObjectMeta::default()
    }
}

fn namespace(sim: &SimCluster, name: &str, uid: &str) -> Namespace {
    let mut m = meta(None, name, uid, sim.created_ms);
    let mut l = labels(&[("kubernetes.io/metadata.name", name)]);
    if name == model::APP_NAMESPACE || name == model::INGRESS_NAMESPACE {
        m.annotations = Some(labels(&[("linkerd.io/inject", "enabled")]));
    }
    if name == "linkerd" {
        l.insert("linkerd.io/is-control-plane".into(), "true".into());
    }
    m.labels = Some(l);
    Namespace {
        metadata: m,
        spec: Some(NamespaceSpec {
            finalizers: Some(vec!["kubernetes".into()]),
        }),
        status: Some(NamespaceStatus {
            phase: Some("Active".into()),
            ..NamespaceStatus::default()
        }),
    }
}

fn service_account(sim: &SimCluster, ns: &str, name: &str) -> ServiceAccount {
    let uid = sim_uid(&format!("sa/{ns}/{name}"));
    ServiceAccount {
        metadata: meta(Some(ns), name, &uid, sim.created_ms),
        ..ServiceAccount::default()
    }
}

fn root_ca(sim: &SimCluster, ns: &str) -> ConfigMap {
    let uid = sim_uid(&format!("cm/{ns}/kube-root-ca.crt"));
    let mut m = meta(Some(ns), "kube-root-ca.crt", &uid, sim.created_ms);
    m.annotations = Some(labels(&[(
        "kubernetes.io/description",
        "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.",
    )]));
    let data = labels(&[(
        "ca.crt",
        "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhhdGxoeXBlci1zaW0tY2FAMTcwMDAwMDAwMDAeFw0yNjAxMDEwMDAwMDBaFw0zNjAxMDEwMDAwMDBa\n-----END CERTIFICATE-----\n",
    )]);
    ConfigMap {
        metadata: m,
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// A stable UUID-shaped id for objects that are not part of the random model.
fn sim_uid(key: &str) -> String {
    let mut rng = crate::rng::Rng::new(crate::rng::fnv(key));
    rng.uuid()
}

fn node(sim: &SimCluster, n: &model::Node) -> KNode {
    let mut m = meta(None, &n.name, &n.uid, n.created_ms);
    let role = if n.name == "node-1" {
        "control-plane"
    } else {
        "worker"
    };
    let mut l = labels(&[
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/hostname", &n.name),
        ("kubernetes.io/os", "linux"),
    ]);
    l.insert(format!("node-role.kubernetes.io/{role}"), String::new());
    m.labels = Some(l);
    m.annotations = Some(labels(&[
        ("node.alpha.kubernetes.io/ttl", "0"),
        ("volumes.kubernetes.io/controller-managed-attach-detach", "true"),
    ]));
    let mut taints = Vec::new();
    if n.unschedulable {
        taints.push(Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            time_added: Some(time(sim.now_ms)),
            ..Taint::default()
        });
    }
    if n.memory_pressure {
        taints.push(Taint {
            key: "node.kubernetes.io/memory-pressure".into(),
            effect: "NoSchedule".into(),
            time_added: Some(time(sim.now_ms)),
            ..Taint::default()
        });
    }
    let heartbeat = time(sim.now_ms - sim.now_ms.rem_euclid(60_000));
    let cond = |type_: &str, status: bool, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(heartbeat.clone()),
        last_transition_time: Some(time(n.created_ms)),
    };
    let (mem_reason, mem_message) = if n.memory_pressure {
        (
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
        )
    } else {
        (
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        )
    };
    let quantity = |s: &str| Quantity(s.to_owned());
    let capacity: BTreeMap<String, Quantity> = [
        ("cpu", n.cpus.to_string()),
        ("ephemeral-storage", "102687672Ki".into()),
        ("memory", format!("{}Ki", n.memory_bytes / 1024)),
        ("pods", "110".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), quantity(&v)))
    .collect();
    let mut allocatable = capacity.clone();
    allocatable.insert(
        "memory".into(),
        quantity(&format!("{}Ki", n.memory_bytes / 1024 - 102_400)),
    );
    KNode {
        metadata: m,
        spec: Some(NodeSpec {
            pod_cidr: Some(format!("10.42.{}.0/24", n.name.trim_start_matches("node-"))),
            provider_id: Some(format!("sim://{}/{}", sim.cfg.name, n.name)),
            taints: (!taints.is_empty()).then_some(taints),
            unschedulable: n.unschedulable.then_some(true),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: n.ip.clone(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: n.name.clone(),
                },
            ]),
            allocatable: Some(allocatable),
            capacity: Some(capacity),
            conditions: Some(vec![
                cond("MemoryPressure", n.memory_pressure, mem_reason, mem_message),
                cond(
                    "DiskPressure",
                    false,
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    false,
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond("Ready", true, "KubeletReady", "kubelet is posting ready status"),
            ]),
            node_info: Some(NodeSystemInfo {
                architecture: "amd64".into(),
                boot_id: sim_uid(&format!("boot/{}", n.name)),
                container_runtime_version: "containerd://2.0.2".into(),
                kernel_version: "6.8.0-51-generic".into(),
                kube_proxy_version: String::new(),
                kubelet_version: model::KUBELET_VERSION.into(),
                machine_id: sim_uid(&format!("machine/{}", n.name)).replace('-', ""),
                operating_system: "linux".into(),
                os_image: "Ubuntu 24.04.1 LTS".into(),
                system_uuid: sim_uid(&format!("system/{}", n.name)),
                ..NodeSystemInfo::default()
            }),
            ..NodeStatus::default()
        }),
    }
}

fn selector_labels(w: &Workload) -> Labels {
    match w.role {
        Role::Traefik | Role::NodeExporter => labels(&[("app.kubernetes.io/name", &w.name)]),
        Role::Mesh | Role::Plain => labels(&[("app", &w.name)]),
    }
}

fn workload_meta(w: &Workload) -> ObjectMeta {
    let mut m = meta(Some(&w.namespace), &w.name, &w.uid, w.created_ms);
    let mut l = selector_labels(w);
    l.extend(w.labels.clone());
    m.labels = Some(l);
    m.generation = Some(w.generation);
    if w.kind == WorkloadKind::Deployment {
        let rev = w.current().map_or(1, |r| r.revision);
        m.annotations = Some(labels(&[("deployment.kubernetes.io/revision", &rev.to_string())]));
    }
    m
}

/// The pod template of a workload at one revision's image and restart annotation.
fn template(w: &Workload, image: &str, restarted_at: Option<&str>, hash: Option<&str>) -> PodTemplateSpec {
    let mut l = selector_labels(w);
    if let Some(h) = hash {
        l.insert("pod-template-hash".into(), h.to_owned());
    }
    let mut annotations = Labels::new();
    if w.meshed {
        annotations.insert("linkerd.io/inject".into(), "enabled".into());
    }
    if let Some(at) = restarted_at {
        annotations.insert("kubectl.kubernetes.io/restartedAt".into(), at.to_owned());
    }
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(l),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![app_container(w, image, None)],
            service_account_name: Some(w.service_account().to_owned()),
            ..PodSpec::default()
        }),
    }
}

fn app_container(w: &Workload, image: &str, metrics_port: Option<u16>) -> Container {
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

fn pods_of<'a>(sim: &'a SimCluster, w: &'a Workload) -> impl Iterator<Item = &'a Pod> {
    sim.pods
        .iter()
        .filter(move |p| sim.workloads[p.workload].uid == w.uid)
}

fn deployment(sim: &SimCluster, w: &Workload) -> Deployment {
    let now = sim.now_ms;
    let current = w.current().map(|r| r.hash.clone()).unwrap_or_default();
    let total = pods_of(sim, w).count() as i32;
    let updated = pods_of(sim, w).filter(|p| p.revision_hash == current).count() as i32;
    let ready = pods_of(sim, w).filter(|p| p.is_ready(now)).count() as i32;
    let available = ready.min(w.replicas as i32);
    let progressing = updated == w.replicas as i32 && total == updated;
    let cond = |type_: &str, ok: bool, reason: &str, message: String| DeploymentCondition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(time(w.created_ms)),
        last_update_time: Some(time(w.created_ms)),
    };
    let rs = format!("{}-{current}", w.name);
    Deployment {
        metadata: workload_meta(w),
        spec: Some(DeploymentSpec {
            replicas: Some(w.replicas as i32),
            selector: LabelSelector {
                match_labels: Some(selector_labels(w)),
                ..LabelSelector::default()
            },
            template: template(w, &w.image, w.restarted_at.as_deref(), None),
            progress_deadline_seconds: Some(600),
            revision_history_limit: Some(10),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::String("25%".into())),
                    max_unavailable: Some(IntOrString::String("25%".into())),
                }),
            }),
            ..DeploymentSpec::default()
        }),
        status: Some(DeploymentStatus {
            observed_generation: Some(w.generation),
            replicas: Some(total),
            updated_replicas: Some(updated),
            ready_replicas: (ready > 0).then_some(ready),
            available_replicas: (available > 0).then_some(available),
            unavailable_replicas: (w.replicas as i32 > available).then_some(w.replicas as i32 - available),
            conditions: Some(vec![
                cond(
                    "Available",
                    available >= w.replicas as i32 - w.replicas as i32 / 4,
                    if available >= w.replicas as i32 - w.replicas as i32 / 4 {
                        "MinimumReplicasAvailable"
                    } else {
                        "MinimumReplicasUnavailable"
                    },
                    "Deployment has minimum availability.".into(),
                ),
                cond(
                    "Progressing",
                    true,
                    if progressing {
                        "NewReplicaSetAvailable"
                    } else {
                        "ReplicaSetUpdated"
                    },
                    if progressing {
                        format!("ReplicaSet \"{rs}\" has successfully progressed.")
                    } else {
                        format!("ReplicaSet \"{rs}\" is progressing.")
                    },
                ),
            ]),
            ..DeploymentStatus::default()
        }),
    }
}

fn replica_set(sim: &SimCluster, w: &Workload, r: &model::Revision) -> ReplicaSet {
    let now = sim.now_ms;
    let name = format!("{}-{}", w.name, r.hash);
    let mut m = meta(Some(&w.namespace), &name, &r.uid, r.created_ms.min(now));
    let mut l = selector_labels(w);
    l.insert("pod-template-hash".into(), r.hash.clone());
    m.labels = Some(l.clone());
    m.annotations = Some(labels(&[
        (
            "deployment.kubernetes.io/desired-replicas",
            &w.replicas.to_string(),
        ),
        (
            "deployment.kubernetes.io/max-replicas",
            &(w.replicas + w.replicas.div_ceil(4)).to_string(),
        ),
        ("deployment.kubernetes.io/revision", &r.revision.to_string()),
    ]));
    m.owner_references = Some(vec![owner("apps/v1", "Deployment", &w.name, &w.uid)]);
    m.generation = Some(1);
    let pods: Vec<&Pod> = pods_of(sim, w).filter(|p| p.revision_hash == r.hash).collect();
    let ready = pods.iter().filter(|p| p.is_ready(now)).count() as i32;
    let replicas = pods.len() as i32;
    ReplicaSet {
        metadata: m,
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(l),
                ..LabelSelector::default()
            },
            template: Some(template(w, &r.image, r.restarted_at.as_deref(), Some(&r.hash))),
            ..ReplicaSetSpec::default()
        }),
        status: Some(ReplicaSetStatus {
            replicas,
            fully_labeled_replicas: (replicas > 0).then_some(replicas),
            ready_replicas: (ready > 0).then_some(ready),
            available_replicas: (ready > 0).then_some(ready),
            observed_generation: Some(1),
            ..ReplicaSetStatus::default()
        }),
    }
}

fn daemon_set(sim: &SimCluster, w: &Workload) -> DaemonSet {
    let now = sim.now_ms;
    let pods: Vec<&Pod> = pods_of(sim, w).collect();
    let ready = pods.iter().filter(|p| p.is_ready(now)).count() as i32;
    let desired = sim.nodes.len() as i32;
    let mut t = template(w, &w.image, None, None);
    if let Some(spec) = &mut t.spec {
        spec.host_network = Some(true);
    }
    DaemonSet {
        metadata: workload_meta(w),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(selector_labels(w)),
                ..LabelSelector::default()
            },
            template: t,
            ..DaemonSetSpec::default()
        }),
        status: Some(DaemonSetStatus {
            current_number_scheduled: pods.len() as i32,
            desired_number_scheduled: desired,
            number_available: Some(ready),
            number_misscheduled: 0,
            number_ready: ready,
            number_unavailable: (desired > ready).then_some(desired - ready),
            observed_generation: Some(w.generation),
            updated_number_scheduled: Some(pods.len() as i32),
            ..DaemonSetStatus::default()
        }),
    }
}

fn stateful_set(sim: &SimCluster, w: &Workload) -> StatefulSet {
    let now = sim.now_ms;
    let pods: Vec<&Pod> = pods_of(sim, w).collect();
    let ready = pods.iter().filter(|p| p.is_ready(now)).count() as i32;
    let rev = w
        .current()
        .map(|r| format!("{}-{}", w.name, r.hash))
        .unwrap_or_default();
    StatefulSet {
        metadata: workload_meta(w),
        spec: Some(StatefulSetSpec {
            replicas: Some(w.replicas as i32),
            selector: LabelSelector {
                match_labels: Some(selector_labels(w)),
                ..LabelSelector::default()
            },
            service_name: Some(w.name.clone()),
            template: template(w, &w.image, None, None),
            ..StatefulSetSpec::default()
        }),
        status: Some(StatefulSetStatus {
            replicas: pods.len() as i32,
            ready_replicas: Some(ready),
            available_replicas: Some(ready),
            current_replicas: Some(pods.len() as i32),
            updated_replicas: Some(pods.len() as i32),
            current_revision: Some(rev.clone()),
            update_revision: Some(rev),
            observed_generation: Some(w.generation),
            ..StatefulSetStatus::default()
        }),
    }
}

fn owner(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
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

fn pod(sim: &SimCluster, i: usize) -> KPod {
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

fn service(sim: &SimCluster, s: &model::Service) -> KService {
    let w = &sim.workloads[s.workload];
    let mut m = meta(Some(&s.namespace), &s.name, &s.uid, s.created_ms);
    m.labels = Some(selector_labels(w));
    let target = if w.role == Role::Traefik {
        8000
    } else {
        i32::from(w.app_port)
    };
    KService {
        metadata: m,
        spec: Some(ServiceSpec {
            cluster_ip: Some(s.cluster_ip.clone()),
            cluster_ips: Some(vec![s.cluster_ip.clone()]),
            ports: Some(vec![ServicePort {
                name: Some(if s.port == 6379 { "redis" } else { "http" }.into()),
                port: i32::from(s.port),
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::Int(target)),
                ..ServicePort::default()
            }]),
            selector: Some(selector_labels(w)),
            type_: Some(
                if w.role == Role::Traefik {
                    "LoadBalancer"
                } else {
                    "ClusterIP"
                }
                .into(),
            ),
            session_affinity: Some("None".into()),
            ip_families: Some(vec!["IPv4".into()]),
            ip_family_policy: Some("SingleStack".into()),
            internal_traffic_policy: Some("Cluster".into()),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

fn kubernetes_service(sim: &SimCluster) -> KService {
    let mut m = meta(
        Some("default"),
        "kubernetes",
        &sim_uid("svc/default/kubernetes"),
        sim.created_ms,
    );
    m.labels = Some(labels(&[("component", "apiserver"), ("provider", "kubernetes")]));
    KService {
        metadata: m,
        spec: Some(ServiceSpec {
            cluster_ip: Some("10.43.0.1".into()),
            cluster_ips: Some(vec!["10.43.0.1".into()]),
            ports: Some(vec![ServicePort {
                name: Some("https".into()),
                port: 443,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::Int(6443)),
                ..ServicePort::default()
            }]),
            type_: Some("ClusterIP".into()),
            session_affinity: Some("None".into()),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

fn endpoints(sim: &SimCluster, s: &model::Service) -> Endpoints {
    let w = &sim.workloads[s.workload];
    let now = sim.now_ms;
    let address = |p: &Pod| EndpointAddress {
        ip: p.mesh_ip.clone(),
        node_name: p.node.clone(),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            name: Some(p.name.clone()),
            namespace: Some(p.namespace.clone()),
            uid: Some(p.uid.clone()),
            ..ObjectReference::default()
        }),
        ..EndpointAddress::default()
    };
    let pods: Vec<&Pod> = pods_of(sim, w).filter(|p| p.node.is_some()).collect();
    let ready: Vec<EndpointAddress> = pods
        .iter()
        .filter(|p| p.is_ready(now))
        .map(|p| address(p))
        .collect();
    let not_ready: Vec<EndpointAddress> = pods
        .iter()
        .filter(|p| !p.is_ready(now))
        .map(|p| address(p))
        .collect();
    let target = if w.role == Role::Traefik {
        8000
    } else {
        i32::from(w.app_port)
    };
    let mut m = meta(
        Some(&s.namespace),
        &s.name,
        &sim_uid(&format!("ep/{}/{}", s.namespace, s.name)),
        s.created_ms,
    );
    m.labels = Some(selector_labels(w));
    Endpoints {
        metadata: m,
        subsets: (!pods.is_empty()).then(|| {
            vec![EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: Some(vec![EndpointPort {
                    port: target,
                    protocol: Some("TCP".into()),
                    name: Some("http".into()),
                    ..EndpointPort::default()
                }]),
            }]
        }),
    }
}

fn ingress(sim: &SimCluster, g: &model::Ingress) -> KIngress {
    let s = &sim.services[g.service];
    let mut m = meta(Some(&g.namespace), &g.name, &g.uid, g.created_ms);
    m.annotations = Some(labels(&[(
        "traefik.ingress.kubernetes.io/router.entrypoints",
        "web",
    )]));
    KIngress {
        metadata: m,
        spec: Some(IngressSpec {
            ingress_class_name: Some("traefik".into()),
            rules: Some(vec![IngressRule {
                host: Some(g.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: s.name.clone(),
                                port: Some(ServiceBackendPort {
                                    number: Some(i32::from(s.port)),
                                    ..ServiceBackendPort::default()
                                }),
                            }),
                            ..IngressBackend::default()
                        },
                    }],
                }),
            }]),
            ..IngressSpec::default()
        }),
        status: None,
    }
}

fn event(e: &crate::cluster::EventRec) -> Event {
    Event {
        metadata: meta(
            Some(&e.namespace),
            &e.name,
            &sim_uid(&format!("ev/{}", e.name)),
            e.first_ms,
        ),
        involved_object: ObjectReference {
            api_version: Some(e.api_version.into()),
            kind: Some(e.kind.into()),
            name: Some(e.object_name.clone()),
            namespace: (e.kind != "Node").then(|| e.namespace.clone()),
            uid: Some(e.object_uid.clone()),
            field_path: (e.kind == "Pod" && e.component == "kubelet")
                .then(|| "spec.containers{app}".to_owned()),
            ..ObjectReference::default()
        },
        reason: Some(e.reason.into()),
        message: Some(e.message.clone()),
        type_: Some(e.event_type.into()),
        count: Some(e.count),
        first_timestamp: Some(time(e.first_ms)),
        last_timestamp: Some(time(e.last_ms)),
        event_time: (e.component == "default-scheduler").then(|| micro_time(e.first_ms)),
        reporting_component: Some(e.component.into()),
        reporting_instance: Some(e.host.clone().unwrap_or_default()),
        source: Some(EventSource {
            component: Some(e.component.into()),
            host: e.host.clone(),
        }),
        ..Event::default()
    }
}
