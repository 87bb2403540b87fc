//! The cluster's resources: one kube-rs `runtime::watcher` per kind (list, then watch from the
//! list's resourceVersion, with bookmarks; a 410 Gone or a broken stream re-lists), each
//! feeding a map of compact summaries, and the snapshot built from those maps.
//!
//! This is a reflector that keeps summaries instead of whole objects: a 5,000-pod cluster
//! costs a few MB of summaries, not the hundreds of MB its full objects would (see
//! `docs/resources.md` for the measurement). Every kind watches on its own task, so a kind the
//! agent may not read (403) or that the cluster does not serve (404) is reported in
//! [`KindStatus`] and the other kinds go on. `metrics.k8s.io` cannot be watched; it is listed
//! once per snapshot when the cluster serves it.
//!
//! The `summarize_*` functions are pure and unit-tested; so is the snapshot assembly.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlhyper_model::resources::{
    ClusterSummary, Condition, ConfigMapSummary, ContainerSummary, CpuMem, CronJobSummary, EventSummary,
    IngressRuleSummary, IngressSummary, InvolvedObject, JobSummary, KindStatus, LimitItem, LimitRangeSummary,
    Meta, NamespaceSummary, NetworkPolicySummary, NodeSummary, OwnerRef, PersistentVolumeClaimSummary,
    PersistentVolumeSummary, PodSummary, PolicyRule, QuotaItem, ResourceKind, ResourceQuotaSummary,
    ResourceSnapshot, SecretSummary, ServiceAccountSummary, ServicePortSummary, ServiceSummary, Severity,
    TaintSummary, WorkloadSummary,
};
use atlhyper_model::selector::Requirement;
use atlhyper_model::{ContainerState, Timestamp};
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, LimitRange, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
    ResourceQuota, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::anomaly::{self, AnomalyRules};

/// What the resource watchers keep and how anomalies are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchSettings {
    pub rules: AnomalyRules,
    /// Events kept in a snapshot: the newest this many by last time seen.
    pub max_events: usize,
    /// Ask `metrics.k8s.io` for usage.
    pub metrics: bool,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            rules: AnomalyRules::default(),
            max_events: 1000,
            metrics: true,
        }
    }
}

/// A Kubernetes object type and the summary the agent keeps of it.
pub trait Summarize:
    kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    const KIND: ResourceKind;
    type Summary: Clone + serde::Serialize + Send + 'static;
    fn summarize(&self) -> Self::Summary;
}

macro_rules! summarize {
    ($($ty:ty => $kind:ident, $summary:ty, $f:ident;)*) => {$(
        impl Summarize for $ty {
            const KIND: ResourceKind = ResourceKind::$kind;
            type Summary = $summary;
            fn summarize(&self) -> $summary {
                $f(self)
            }
        }
    )*};
}

summarize! {
    Pod => Pod, PodSummary, summarize_pod;
    Node => Node, NodeSummary, summarize_node;
    Deployment => Deployment, WorkloadSummary, summarize_deployment;
    StatefulSet => StatefulSet, WorkloadSummary, summarize_stateful_set;
    DaemonSet => DaemonSet, WorkloadSummary, summarize_daemon_set;
    ReplicaSet => ReplicaSet, WorkloadSummary, summarize_replica_set;
    Job => Job, JobSummary, summarize_job;
    CronJob => CronJob, CronJobSummary, summarize_cron_job;
    Service => Service, ServiceSummary, summarize_service;
    Ingress => Ingress, IngressSummary, summarize_ingress;
    ConfigMap => ConfigMap, ConfigMapSummary, summarize_config_map;
    Secret => Secret, SecretSummary, summarize_secret;
    Namespace => Namespace, NamespaceSummary, summarize_namespace;
    Event => Event, EventSummary, summarize_event;
    PersistentVolume => PersistentVolume, PersistentVolumeSummary, summarize_pv;
    PersistentVolumeClaim => PersistentVolumeClaim, PersistentVolumeClaimSummary, summarize_pvc;
    ResourceQuota => ResourceQuota, ResourceQuotaSummary, summarize_quota;
    LimitRange => LimitRange, LimitRangeSummary, summarize_limit_range;
    NetworkPolicy => NetworkPolicy, NetworkPolicySummary, summarize_network_policy;
    ServiceAccount => ServiceAccount, ServiceAccountSummary, summarize_service_account;
}

// ---------------------------------------------------------------------------------------------
// Quantities and small helpers

/// A Kubernetes quantity (`250m`, `1.5`, `512Mi`, `1e3`, `2G`) as a number; `None` when it is
/// not one.
pub fn quantity(q: &str) -> Option<f64> {
    scaled_quantity(q, 1.0)
}

/// A CPU quantity in millicores (`250m` → 250, `2` → 2000), exact for whole millicores.
pub fn millicores(q: &str) -> Option<f64> {
    scaled_quantity(q, 1000.0)
}

/// A quantity times `scale`, the scale applied to the suffix first so `3800m` × 1000 is
/// exactly 3800.
fn scaled_quantity(q: &str, scale: f64) -> Option<f64> {
    let q = q.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    let scaled = value * (factor * scale);
    scaled.is_finite().then_some(scaled)
}

fn cpu_mem(map: Option<&BTreeMap<String, Quantity>>) -> CpuMem {
    let get = |key: &str| map.and_then(|m| m.get(key)).map(|q| q.0.as_str());
    CpuMem {
        cpu_millis: get("cpu").and_then(millicores),
        memory_bytes: get("memory").and_then(quantity),
    }
}

fn ts(t: Option<&Time>) -> Option<Timestamp> {
    t.map(|t| Timestamp(t.0.as_millisecond()))
}

fn meta(m: &ObjectMeta) -> Meta {
    Meta {
        namespace: m.namespace.clone().unwrap_or_default(),
        name: m.name.clone().unwrap_or_default(),
        created_at: ts(m.creation_timestamp.as_ref()),
    }
}

fn owner(m: &ObjectMeta) -> Option<OwnerRef> {
    let refs = m.owner_references.as_ref()?;
    let r = refs
        .iter()
        .find(|r| r.controller == Some(true))
        .or_else(|| refs.first())?;
    Some(OwnerRef {
        kind: r.kind.clone(),
        name: r.name.clone(),
    })
}

fn count(n: Option<i32>) -> u32 {
    u32::try_from(n.unwrap_or(0)).unwrap_or(0)
}

fn selector_words(s: Option<&LabelSelector>) -> Vec<String> {
    let Some(s) = s else { return Vec::new() };
    let mut out: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        out.push(format!("{} {} ({values})", e.key, e.operator));
    }
    out
}

/// A workload's `spec.selector` as the wire's typed selector.
fn typed_selector(s: &LabelSelector) -> atlhyper_model::LabelSelector {
    let requirement = |e: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement| {
        let key = e.key.clone();
        let values = e.values.clone().unwrap_or_default();
        match e.operator.as_str() {
            "In" => Some(Requirement::In { key, values }),
            "NotIn" => Some(Requirement::NotIn { key, values }),
            "Exists" => Some(Requirement::Exists { key }),
            "DoesNotExist" => Some(Requirement::DoesNotExist { key }),
            // An operator Kubernetes may add later: selecting more than asked is safer for a
            // graph edge than failing the whole summary.
            _ => None,
        }
    };
    atlhyper_model::LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions: s
            .match_expressions
            .iter()
            .flatten()
            .filter_map(requirement)
            .collect(),
    }
}

fn quantities(map: Option<&BTreeMap<String, Quantity>>, key: &str) -> String {
    map.and_then(|m| m.get(key))
        .map(|q| q.0.clone())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Summaries, one per kind

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

/// `Healthy`, `Progressing`, `Degraded`, `Unavailable` or `ScaledDown` from replica counts.
pub fn workload_status(desired: u32, available: u32, updated: u32) -> String {
    match () {
        () if desired == 0 => "ScaledDown",
        () if available >= desired && updated >= desired => "Healthy",
        () if available >= desired => "Progressing",
        () if available == 0 => "Unavailable",
        () => "Degraded",
    }
    .to_owned()
}

fn images(spec: Option<&k8s_openapi::api::core::v1::PodSpec>) -> Vec<String> {
    spec.iter()
        .flat_map(|s| s.containers.iter())
        .filter_map(|c| c.image.clone())
        .collect()
}

fn workload(
    m: &ObjectMeta,
    (desired, ready, available, updated): (u32, u32, u32, u32),
    images: Vec<String>,
    selector: Option<&LabelSelector>,
) -> WorkloadSummary {
    WorkloadSummary {
        meta: meta(m),
        status: workload_status(desired, available, updated),
        desired,
        ready,
        available,
        updated,
        images,
        owner: owner(m),
        conditions: Vec::new(),
        selector: selector.map(typed_selector).filter(|s| !s.is_empty()),
    }
}

pub fn summarize_deployment(d: &Deployment) -> WorkloadSummary {
    let spec = d.spec.as_ref();
    let st = d.status.as_ref();
    let desired = count(spec.and_then(|s| s.replicas).or(Some(1)));
    let mut w = workload(
        &d.metadata,
        (
            desired,
            count(st.and_then(|s| s.ready_replicas)),
            count(st.and_then(|s| s.available_replicas)),
            count(st.and_then(|s| s.updated_replicas)),
        ),
        images(spec.and_then(|s| s.template.spec.as_ref())),
        spec.map(|s| &s.selector),
    );
    w.conditions = st
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
    w
}

pub fn summarize_stateful_set(s: &StatefulSet) -> WorkloadSummary {
    let spec = s.spec.as_ref();
    let st = s.status.as_ref();
    workload(
        &s.metadata,
        (
            count(spec.and_then(|s| s.replicas).or(Some(1))),
            count(st.and_then(|s| s.ready_replicas)),
            count(st.and_then(|s| s.available_replicas)),
            count(st.and_then(|s| s.updated_replicas)),
        ),
        images(spec.and_then(|s| s.template.spec.as_ref())),
        spec.map(|s| &s.selector),
    )
}

pub fn summarize_daemon_set(d: &DaemonSet) -> WorkloadSummary {
    let spec = d.spec.as_ref();
    let st = d.status.as_ref();
    workload(
        &d.metadata,
        (
            count(st.map(|s| s.desired_number_scheduled)),
            count(st.map(|s| s.number_ready)),
            count(st.and_then(|s| s.number_available)),
            count(st.and_then(|s| s.updated_number_scheduled)),
        ),
        images(spec.and_then(|s| s.template.spec.as_ref())),
        spec.map(|s| &s.selector),
    )
}

pub fn summarize_replica_set(r: &ReplicaSet) -> WorkloadSummary {
    let spec = r.spec.as_ref();
    let st = r.status.as_ref();
    let desired = count(spec.and_then(|s| s.replicas).or(Some(1)));
    let available = count(st.and_then(|s| s.available_replicas));
    workload(
        &r.metadata,
        (
            desired,
            count(st.and_then(|s| s.ready_replicas)),
            available,
            // A ReplicaSet is one template: every replica is up to date.
            count(st.map(|s| s.replicas)),
        ),
        images(
            spec.and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref()),
        ),
        spec.map(|s| &s.selector),
    )
}

pub fn summarize_job(j: &Job) -> JobSummary {
    let st = j.status.as_ref();
    let condition = |kind: &str| {
        st.and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
    };
    let status = if condition("Complete") {
        "Complete"
    } else if condition("Failed") {
        "Failed"
    } else {
        "Running"
    };
    JobSummary {
        meta: meta(&j.metadata),
        status: status.into(),
        active: count(st.and_then(|s| s.active)),
        succeeded: count(st.and_then(|s| s.succeeded)),
        failed: count(st.and_then(|s| s.failed)),
        completions: j
            .spec
            .as_ref()
            .and_then(|s| s.completions)
            .map(|c| count(Some(c))),
        start_time: ts(st.and_then(|s| s.start_time.as_ref())),
        completion_time: ts(st.and_then(|s| s.completion_time.as_ref())),
        owner: owner(&j.metadata),
    }
}

pub fn summarize_cron_job(c: &CronJob) -> CronJobSummary {
    let spec = c.spec.as_ref();
    let st = c.status.as_ref();
    let suspend = spec.and_then(|s| s.suspend).unwrap_or(false);
    let active = st.and_then(|s| s.active.as_ref()).map_or(0, |a| a.len() as u32);
    CronJobSummary {
        meta: meta(&c.metadata),
        status: if suspend {
            "Suspended"
        } else if active > 0 {
            "Active"
        } else {
            "Scheduled"
        }
        .into(),
        schedule: spec.map(|s| s.schedule.clone()).unwrap_or_default(),
        suspend,
        active,
        last_schedule: ts(st.and_then(|s| s.last_schedule_time.as_ref())),
        last_successful: ts(st.and_then(|s| s.last_successful_time.as_ref())),
    }
}

fn int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

pub fn summarize_service(s: &Service) -> ServiceSummary {
    let spec = s.spec.as_ref();
    let mut external: Vec<String> = spec.and_then(|s| s.external_ips.clone()).unwrap_or_default();
    for lb in s
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|l| l.ingress.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(a) = lb.ip.clone().or_else(|| lb.hostname.clone()) {
            external.push(a);
        }
    }
    ServiceSummary {
        meta: meta(&s.metadata),
        service_type: spec
            .and_then(|s| s.type_.clone())
            .unwrap_or_else(|| "ClusterIP".into()),
        cluster_ip: spec.and_then(|s| s.cluster_ip.clone()).unwrap_or_default(),
        external_ips: external,
        ports: spec
            .and_then(|s| s.ports.as_ref())
            .iter()
            .flat_map(|p| p.iter())
            .map(|p| ServicePortSummary {
                name: p.name.clone().unwrap_or_default(),
                port: p.port,
                target_port: p.target_port.as_ref().map(int_or_string).unwrap_or_default(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                node_port: p.node_port,
            })
            .collect(),
        selector: spec
            .and_then(|s| s.selector.as_ref())
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
    }
}

pub fn summarize_ingress(i: &Ingress) -> IngressSummary {
    let spec = i.spec.as_ref();
    let backend = |b: &k8s_openapi::api::networking::v1::IngressBackend| {
        let svc = b.service.as_ref();
        (
            svc.map(|s| s.name.clone()).unwrap_or_default(),
            svc.and_then(|s| s.port.as_ref())
                .map(|p| {
                    p.name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .or_else(|| p.number.map(|n| n.to_string()))
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
        )
    };
    let mut rules = Vec::new();
    for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
        let host = rule.host.clone().unwrap_or_default();
        for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
            let (service, port) = backend(&path.backend);
            rules.push(IngressRuleSummary {
                host: host.clone(),
                path: path.path.clone().unwrap_or_else(|| "/".into()),
                service,
                port,
            });
        }
    }
    if let Some(b) = spec.and_then(|s| s.default_backend.as_ref()) {
        let (service, port) = backend(b);
        rules.push(IngressRuleSummary {
            host: String::new(),
            path: "*".into(),
            service,
            port,
        });
    }
    IngressSummary {
        meta: meta(&i.metadata),
        class: spec
            .and_then(|s| s.ingress_class_name.clone())
            .unwrap_or_default(),
        rules,
        tls: spec.and_then(|s| s.tls.as_ref()).is_some_and(|t| !t.is_empty()),
        addresses: i
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .iter()
            .flat_map(|l| l.iter())
            .filter_map(|l| l.ip.clone().or_else(|| l.hostname.clone()))
            .collect(),
    }
}

/// Keys only: the values never leave this function.
pub fn summarize_config_map(c: &ConfigMap) -> ConfigMapSummary {
    let mut keys: Vec<String> = c.data.iter().flat_map(|d| d.keys().cloned()).collect();
    keys.extend(c.binary_data.iter().flat_map(|d| d.keys().cloned()));
    keys.sort();
    keys.dedup();
    ConfigMapSummary {
        meta: meta(&c.metadata),
        keys,
    }
}

/// Type and keys only: the values never leave this function.
pub fn summarize_secret(s: &Secret) -> SecretSummary {
    let mut keys: Vec<String> = s.data.iter().flat_map(|d| d.keys().cloned()).collect();
    keys.extend(s.string_data.iter().flat_map(|d| d.keys().cloned()));
    keys.sort();
    keys.dedup();
    SecretSummary {
        meta: meta(&s.metadata),
        secret_type: s.type_.clone().unwrap_or_else(|| "Opaque".into()),
        keys,
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

pub fn summarize_pv(pv: &PersistentVolume) -> PersistentVolumeSummary {
    let spec = pv.spec.as_ref();
    let source = spec
        .map(|s| {
            let candidates: [(&str, bool); 8] = [
                ("csi", s.csi.is_some()),
                ("hostPath", s.host_path.is_some()),
                ("local", s.local.is_some()),
                ("nfs", s.nfs.is_some()),
                ("iscsi", s.iscsi.is_some()),
                ("awsElasticBlockStore", s.aws_elastic_block_store.is_some()),
                ("gcePersistentDisk", s.gce_persistent_disk.is_some()),
                ("azureDisk", s.azure_disk.is_some()),
            ];
            candidates
                .iter()
                .find(|(_, present)| *present)
                .map(|(name, _)| (*name).to_owned())
                .unwrap_or_else(|| "other".into())
        })
        .unwrap_or_default();
    PersistentVolumeSummary {
        meta: meta(&pv.metadata),
        phase: pv
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".into()),
        capacity_bytes: spec
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .and_then(|q| quantity(&q.0)),
        access_modes: spec.and_then(|s| s.access_modes.clone()).unwrap_or_default(),
        storage_class: spec
            .and_then(|s| s.storage_class_name.clone())
            .unwrap_or_default(),
        reclaim_policy: spec
            .and_then(|s| s.persistent_volume_reclaim_policy.clone())
            .unwrap_or_default(),
        claim: spec
            .and_then(|s| s.claim_ref.as_ref())
            .map(|c| {
                format!(
                    "{}/{}",
                    c.namespace.clone().unwrap_or_default(),
                    c.name.clone().unwrap_or_default()
                )
            })
            .unwrap_or_default(),
        source,
    }
}

pub fn summarize_pvc(pvc: &PersistentVolumeClaim) -> PersistentVolumeClaimSummary {
    let spec = pvc.spec.as_ref();
    let st = pvc.status.as_ref();
    PersistentVolumeClaimSummary {
        meta: meta(&pvc.metadata),
        phase: st
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".into()),
        volume: spec.and_then(|s| s.volume_name.clone()).unwrap_or_default(),
        requested_bytes: spec
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .and_then(|q| quantity(&q.0)),
        capacity_bytes: st
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .and_then(|q| quantity(&q.0)),
        access_modes: spec.and_then(|s| s.access_modes.clone()).unwrap_or_default(),
        storage_class: spec
            .and_then(|s| s.storage_class_name.clone())
            .unwrap_or_default(),
    }
}

pub fn summarize_quota(q: &ResourceQuota) -> ResourceQuotaSummary {
    let hard = q
        .status
        .as_ref()
        .and_then(|s| s.hard.as_ref())
        .or(q.spec.as_ref().and_then(|s| s.hard.as_ref()));
    let used = q.status.as_ref().and_then(|s| s.used.as_ref());
    ResourceQuotaSummary {
        meta: meta(&q.metadata),
        items: hard
            .iter()
            .flat_map(|h| h.iter())
            .map(|(resource, h)| QuotaItem {
                resource: resource.clone(),
                hard: h.0.clone(),
                used: quantities(used, resource),
            })
            .collect(),
    }
}

pub fn summarize_limit_range(l: &LimitRange) -> LimitRangeSummary {
    let mut limits = Vec::new();
    for item in l.spec.as_ref().iter().flat_map(|s| s.limits.iter()) {
        let mut resources: Vec<&String> = [&item.min, &item.max, &item.default, &item.default_request]
            .into_iter()
            .flatten()
            .flat_map(|m| m.keys())
            .collect();
        resources.sort();
        resources.dedup();
        for r in resources {
            limits.push(LimitItem {
                kind: item.type_.clone(),
                resource: r.clone(),
                min: quantities(item.min.as_ref(), r),
                max: quantities(item.max.as_ref(), r),
                default: quantities(item.default.as_ref(), r),
                default_request: quantities(item.default_request.as_ref(), r),
            });
        }
    }
    LimitRangeSummary {
        meta: meta(&l.metadata),
        limits,
    }
}

fn peer_words(p: &NetworkPolicyPeer) -> String {
    if let Some(b) = &p.ip_block {
        let except = b.except.clone().unwrap_or_default();
        return if except.is_empty() {
            format!("cidr {}", b.cidr)
        } else {
            format!("cidr {} except {}", b.cidr, except.join(","))
        };
    }
    let mut parts = Vec::new();
    if let Some(ns) = &p.namespace_selector {
        let s = selector_words(Some(ns));
        parts.push(format!(
            "ns {}",
            if s.is_empty() { "*".into() } else { s.join(",") }
        ));
    }
    if let Some(pods) = &p.pod_selector {
        let s = selector_words(Some(pods));
        parts.push(format!(
            "pods {}",
            if s.is_empty() { "*".into() } else { s.join(",") }
        ));
    }
    parts.join(" ")
}

fn port_words(p: &NetworkPolicyPort) -> String {
    let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
    match (&p.port, p.end_port) {
        (Some(port), Some(end)) => format!("{proto}/{}-{end}", int_or_string(port)),
        (Some(port), None) => format!("{proto}/{}", int_or_string(port)),
        (None, _) => proto,
    }
}

pub fn summarize_network_policy(n: &NetworkPolicy) -> NetworkPolicySummary {
    let spec = n.spec.as_ref();
    NetworkPolicySummary {
        meta: meta(&n.metadata),
        pod_selector: selector_words(spec.and_then(|s| s.pod_selector.as_ref())),
        policy_types: spec
            .and_then(|s| s.policy_types.clone())
            .unwrap_or_else(|| vec!["Ingress".into()]),
        ingress: spec
            .and_then(|s| s.ingress.as_ref())
            .iter()
            .flat_map(|r| r.iter())
            .map(|r| PolicyRule {
                peers: r.from.iter().flatten().map(peer_words).collect(),
                ports: r.ports.iter().flatten().map(port_words).collect(),
            })
            .collect(),
        egress: spec
            .and_then(|s| s.egress.as_ref())
            .iter()
            .flat_map(|r| r.iter())
            .map(|r| PolicyRule {
                peers: r.to.iter().flatten().map(peer_words).collect(),
                ports: r.ports.iter().flatten().map(port_words).collect(),
            })
            .collect(),
    }
}

pub fn summarize_service_account(s: &ServiceAccount) -> ServiceAccountSummary {
    ServiceAccountSummary {
        meta: meta(&s.metadata),
        secrets: s
            .secrets
            .iter()
            .flatten()
            .filter_map(|r| r.name.clone())
            .collect(),
        automount_token: s.automount_service_account_token,
    }
}

// ---------------------------------------------------------------------------------------------
// The per-kind stores

type Key = (String, String);

fn key_of(m: &ObjectMeta) -> Key {
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

/// One kind's summaries, kept in step with its watch.
#[derive(Debug)]
pub struct KindStore<S> {
    items: BTreeMap<Key, S>,
    /// The list in progress after an `Init`, swapped in at `InitDone`.
    relisting: Option<BTreeMap<Key, S>>,
    synced: bool,
    error: Option<String>,
    lists: u64,
}

impl<S> Default for KindStore<S> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
            relisting: None,
            synced: false,
            error: None,
            lists: 0,
        }
    }
}

impl<S: Clone> KindStore<S> {
    /// Applies one watcher event, summarizing objects with `f`.
    pub fn apply<K: kube::Resource>(&mut self, event: watcher::Event<K>, f: impl Fn(&K) -> S) {
        match event {
            watcher::Event::Init => self.relisting = Some(BTreeMap::new()),
            watcher::Event::InitApply(obj) => {
                let relisting = self.relisting.get_or_insert_with(BTreeMap::new);
                relisting.insert(key_of(obj.meta()), f(&obj));
            }
            watcher::Event::InitDone => {
                if let Some(items) = self.relisting.take() {
                    self.items = items;
                }
                self.synced = true;
                self.error = None;
                self.lists += 1;
            }
            watcher::Event::Apply(obj) => {
                self.items.insert(key_of(obj.meta()), f(&obj));
                self.error = None;
            }
            watcher::Event::Delete(obj) => {
                self.items.remove(&key_of(obj.meta()));
            }
        }
    }

    pub fn fail(&mut self, error: String) {
        self.error = Some(error);
    }

    pub fn values(&self) -> Vec<S> {
        self.items.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn status(&self, kind: ResourceKind) -> KindStatus {
        KindStatus {
            kind: kind.as_str().to_owned(),
            synced: self.synced,
            items: self.items.len() as u32,
            error: self.error.clone(),
            relists: self.lists.saturating_sub(1),
        }
    }
}

/// Every kind's store.
#[derive(Debug, Default)]
pub struct ResourceState {
    pub pods: KindStore<PodSummary>,
    pub nodes: KindStore<NodeSummary>,
    pub deployments: KindStore<WorkloadSummary>,
    pub stateful_sets: KindStore<WorkloadSummary>,
    pub daemon_sets: KindStore<WorkloadSummary>,
    pub replica_sets: KindStore<WorkloadSummary>,
    pub jobs: KindStore<JobSummary>,
    pub cron_jobs: KindStore<CronJobSummary>,
    pub services: KindStore<ServiceSummary>,
    pub ingresses: KindStore<IngressSummary>,
    pub config_maps: KindStore<ConfigMapSummary>,
    pub secrets: KindStore<SecretSummary>,
    pub namespaces: KindStore<NamespaceSummary>,
    pub events: KindStore<EventSummary>,
    pub persistent_volumes: KindStore<PersistentVolumeSummary>,
    pub persistent_volume_claims: KindStore<PersistentVolumeClaimSummary>,
    pub resource_quotas: KindStore<ResourceQuotaSummary>,
    pub limit_ranges: KindStore<LimitRangeSummary>,
    pub network_policies: KindStore<NetworkPolicySummary>,
    pub service_accounts: KindStore<ServiceAccountSummary>,
}

impl ResourceState {
    /// Each kind's watch status, in [`ResourceKind::ALL`] order.
    pub fn kinds(&self) -> Vec<KindStatus> {
        use ResourceKind as K;
        vec![
            self.pods.status(K::Pod),
            self.nodes.status(K::Node),
            self.deployments.status(K::Deployment),
            self.stateful_sets.status(K::StatefulSet),
            self.daemon_sets.status(K::DaemonSet),
            self.replica_sets.status(K::ReplicaSet),
            self.jobs.status(K::Job),
            self.cron_jobs.status(K::CronJob),
            self.services.status(K::Service),
            self.ingresses.status(K::Ingress),
            self.config_maps.status(K::ConfigMap),
            self.secrets.status(K::Secret),
            self.namespaces.status(K::Namespace),
            self.events.status(K::Event),
            self.persistent_volumes.status(K::PersistentVolume),
            self.persistent_volume_claims.status(K::PersistentVolumeClaim),
            self.resource_quotas.status(K::ResourceQuota),
            self.limit_ranges.status(K::LimitRange),
            self.network_policies.status(K::NetworkPolicy),
            self.service_accounts.status(K::ServiceAccount),
        ]
    }

    /// The full state as a snapshot (without usage figures), with counts and anomalies.
    pub fn snapshot(&self, now_ms: i64, settings: &WatchSettings) -> ResourceSnapshot {
        let mut events = self.events.values();
        if events.len() > settings.max_events {
            events.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
            events.truncate(settings.max_events);
            events.sort_by(|a, b| (&a.meta.namespace, &a.meta.name).cmp(&(&b.meta.namespace, &b.meta.name)));
        }
        let snapshot = ResourceSnapshot {
            summary: ClusterSummary::default(),
            anomalies: Vec::new(),
            kinds: self.kinds(),
            metrics_available: false,
            pods: self.pods.values(),
            nodes: self.nodes.values(),
            deployments: self.deployments.values(),
            stateful_sets: self.stateful_sets.values(),
            daemon_sets: self.daemon_sets.values(),
            replica_sets: self.replica_sets.values(),
            jobs: self.jobs.values(),
            cron_jobs: self.cron_jobs.values(),
            services: self.services.values(),
            ingresses: self.ingresses.values(),
            config_maps: self.config_maps.values(),
            secrets: self.secrets.values(),
            namespaces: self.namespaces.values(),
            events,
            persistent_volumes: self.persistent_volumes.values(),
            persistent_volume_claims: self.persistent_volume_claims.values(),
            resource_quotas: self.resource_quotas.values(),
            limit_ranges: self.limit_ranges.values(),
            network_policies: self.network_policies.values(),
            service_accounts: self.service_accounts.values(),
        };
        finish_snapshot(snapshot, now_ms, &settings.rules)
    }
}

/// Fills the derived parts of a snapshot: pods per node and namespace, counts, anomalies.
pub fn finish_snapshot(mut snap: ResourceSnapshot, now_ms: i64, rules: &AnomalyRules) -> ResourceSnapshot {
    let mut per_node: BTreeMap<&str, u32> = BTreeMap::new();
    let mut per_ns: BTreeMap<&str, u32> = BTreeMap::new();
    for p in &snap.pods {
        if !matches!(p.phase.as_str(), "Succeeded" | "Failed") && !p.node.is_empty() {
            *per_node.entry(p.node.as_str()).or_default() += 1;
        }
        *per_ns.entry(p.meta.namespace.as_str()).or_default() += 1;
    }
    let (per_node, per_ns): (BTreeMap<String, u32>, BTreeMap<String, u32>) = (
        per_node.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        per_ns.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    );
    for n in &mut snap.nodes {
        n.pods = per_node.get(&n.meta.name).copied().unwrap_or(0);
    }
    for ns in &mut snap.namespaces {
        ns.pods = per_ns.get(&ns.meta.name).copied().unwrap_or(0);
    }
    snap.anomalies = anomaly::detect(&snap, now_ms, rules);
    let phase = |p: &str| snap.pods.iter().filter(|x| x.phase == p).count() as u32;
    snap.summary = ClusterSummary {
        total_nodes: snap.nodes.len() as u32,
        ready_nodes: snap.nodes.iter().filter(|n| n.ready).count() as u32,
        total_pods: snap.pods.len() as u32,
        running_pods: phase("Running"),
        pending_pods: phase("Pending"),
        failed_pods: phase("Failed"),
        succeeded_pods: phase("Succeeded"),
        total_deployments: snap.deployments.len() as u32,
        healthy_deployments: snap.deployments.iter().filter(|d| d.status == "Healthy").count() as u32,
        total_stateful_sets: snap.stateful_sets.len() as u32,
        total_daemon_sets: snap.daemon_sets.len() as u32,
        total_jobs: snap.jobs.len() as u32,
        total_services: snap.services.len() as u32,
        total_ingresses: snap.ingresses.len() as u32,
        total_namespaces: snap.namespaces.len() as u32,
        total_events: snap.events.len() as u32,
        warning_events: snap.events.iter().filter(|e| e.event_type == "Warning").count() as u32,
        anomalies: snap.anomalies.len() as u32,
        critical_anomalies: snap
            .anomalies
            .iter()
            .filter(|a| a.severity == Severity::Critical)
            .count() as u32,
    };
    snap
}

// ---------------------------------------------------------------------------------------------
// metrics.k8s.io

/// Usage per pod (`namespace`, `name`) and per node, from `metrics.k8s.io/v1beta1`.
#[derive(Debug, Default, Clone)]
pub struct Usage {
    pub pods: BTreeMap<Key, CpuMem>,
    pub nodes: BTreeMap<String, CpuMem>,
}

fn metrics_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "metrics.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "metrics.k8s.io/v1beta1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn usage_of(v: &serde_json::Value) -> CpuMem {
    let get = |k: &str| v.get(k).and_then(|q| q.as_str());
    CpuMem {
        cpu_millis: get("cpu").and_then(millicores),
        memory_bytes: get("memory").and_then(quantity),
    }
}

/// Lists pod and node metrics once; an error says the API is not served (404) or not
/// readable.
pub async fn fetch_usage(client: &kube::Client) -> Result<Usage, kube::Error> {
    let pods: Api<DynamicObject> = Api::all_with(client.clone(), &metrics_resource("PodMetrics", "pods"));
    let nodes: Api<DynamicObject> = Api::all_with(client.clone(), &metrics_resource("NodeMetrics", "nodes"));
    let mut usage = Usage::default();
    for p in pods.list(&ListParams::default()).await? {
        let mut total = CpuMem::default();
        for c in p
            .data
            .get("containers")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(u) = c.get("usage") {
                total.add(&usage_of(u));
            }
        }
        usage.pods.insert(key_of(&p.metadata), total);
    }
    for n in nodes.list(&ListParams::default()).await? {
        if let Some(u) = n.data.get("usage") {
            usage
                .nodes
                .insert(n.metadata.name.clone().unwrap_or_default(), usage_of(u));
        }
    }
    Ok(usage)
}

/// Puts usage figures into a snapshot's pods and nodes.
pub fn merge_usage(snap: &mut ResourceSnapshot, usage: &Usage) {
    for p in &mut snap.pods {
        p.usage = usage
            .pods
            .get(&(p.meta.namespace.clone(), p.meta.name.clone()))
            .copied();
    }
    for n in &mut snap.nodes {
        n.usage = usage.nodes.get(&n.meta.name).copied();
    }
    snap.metrics_available = true;
}

// ---------------------------------------------------------------------------------------------
// The watchers

/// After `metrics.k8s.io` failed, wait this long before asking again.
const METRICS_RETRY_MS: i64 = 300_000;
/// The longest a snapshot waits for `metrics.k8s.io`.
const METRICS_TIMEOUT: Duration = Duration::from_secs(5);

/// The 20 watchers and the state they keep.
pub struct ResourceWatcher {
    client: kube::Client,
    settings: WatchSettings,
    state: Arc<Mutex<ResourceState>>,
    /// When `metrics.k8s.io` may be asked next (after a failure), and the last error.
    metrics_next_ms: Mutex<(i64, Option<String>)>,
}

impl ResourceWatcher {
    pub fn new(client: kube::Client, settings: WatchSettings) -> Self {
        Self {
            client,
            settings,
            state: Arc::new(Mutex::new(ResourceState::default())),
            metrics_next_ms: Mutex::new((i64::MIN, None)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ResourceState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs every kind's watch until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        macro_rules! watch {
            ($($ty:ty => $field:ident),* $(,)?) => {$(
                tasks.spawn(watch_kind::<$ty>(
                    self.client.clone(),
                    Arc::clone(&self.state),
                    |s: &mut ResourceState| &mut s.$field,
                    shutdown.clone(),
                ));
            )*};
        }
        watch!(
            Pod => pods, Node => nodes, Deployment => deployments, StatefulSet => stateful_sets,
            DaemonSet => daemon_sets, ReplicaSet => replica_sets, Job => jobs, CronJob => cron_jobs,
            Service => services, Ingress => ingresses, ConfigMap => config_maps, Secret => secrets,
            Namespace => namespaces, Event => events, PersistentVolume => persistent_volumes,
            PersistentVolumeClaim => persistent_volume_claims, ResourceQuota => resource_quotas,
            LimitRange => limit_ranges, NetworkPolicy => network_policies,
            ServiceAccount => service_accounts,
        );
        shutdown.cancelled().await;
        tasks.shutdown().await;
    }

    /// Each kind's watch status.
    pub fn kinds(&self) -> Vec<KindStatus> {
        self.lock().kinds()
    }

    /// Whether every kind has either listed once or reported an error.
    pub fn settled(&self) -> bool {
        self.kinds().iter().all(|k| k.synced || k.error.is_some())
    }

    /// The full state now, with usage when `metrics.k8s.io` answers.
    pub async fn snapshot(&self, now_ms: i64) -> ResourceSnapshot {
        let usage = self.usage(now_ms).await;
        let mut snap = self.lock().snapshot(now_ms, &self.settings);
        let metrics_error = self
            .metrics_next_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clone();
        if let Some(usage) = usage {
            merge_usage(&mut snap, &usage);
        }
        if self.settings.metrics {
            snap.kinds.push(KindStatus {
                kind: "metrics.k8s.io".into(),
                synced: snap.metrics_available,
                items: snap.pods.iter().filter(|p| p.usage.is_some()).count() as u32,
                error: metrics_error,
                relists: 0,
            });
        }
        snap
    }

    async fn usage(&self, now_ms: i64) -> Option<Usage> {
        if !self.settings.metrics {
            return None;
        }
        let next = self
            .metrics_next_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
        if now_ms < next {
            return None;
        }
        let fetched = tokio::time::timeout(METRICS_TIMEOUT, fetch_usage(&self.client)).await;
        let mut slot = self
            .metrics_next_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match fetched {
            Ok(Ok(usage)) => {
                *slot = (i64::MIN, None);
                Some(usage)
            }
            Ok(Err(e)) => {
                *slot = (now_ms.saturating_add(METRICS_RETRY_MS), Some(e.to_string()));
                None
            }
            Err(_) => {
                *slot = (now_ms.saturating_add(METRICS_RETRY_MS), Some("timed out".into()));
                None
            }
        }
    }
}

/// One kind's watch loop: events into its store until `shutdown`; errors are recorded and the
/// watcher retries with kube-rs's default backoff.
async fn watch_kind<K: Summarize>(
    client: kube::Client,
    state: Arc<Mutex<ResourceState>>,
    field: fn(&mut ResourceState) -> &mut KindStore<K::Summary>,
    shutdown: CancellationToken,
) {
    let api: Api<K> = Api::all(client);
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = stream.next() => next,
        };
        let Some(event) = next else { return };
        let mut guard = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let store = field(&mut guard);
        match event {
            Ok(event) => store.apply(event, K::summarize),
            Err(e) => {
                if store.error.is_none() {
                    tracing::warn!(kind = K::KIND.as_str(), error = %e, "watch failed; retrying");
                }
                store.fail(e.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from<T: DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn quantities_parse_like_kubernetes() {
        assert_eq!(quantity("250m"), Some(0.25));
        assert_eq!(quantity("2"), Some(2.0));
        assert_eq!(quantity("512Mi"), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(quantity("1G"), Some(1e9));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert!((quantity("100n").unwrap() - 100e-9).abs() < 1e-15);
        assert_eq!(millicores("3800m"), Some(3800.0));
        assert_eq!(millicores("2"), Some(2000.0));
        assert_eq!(quantity("12Zi"), None);
        assert_eq!(quantity("abc"), None);
    }

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
    fn secrets_and_config_maps_keep_keys_only() {
        let secret: Secret = from(json!({
            "metadata": {"name": "db", "namespace": "shop"},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": "aHVudGVyMg==", "username": "YWRtaW4="}
        }));
        let s = summarize_secret(&secret);
        assert_eq!(s.keys, ["password", "username"]);
        assert_eq!(s.secret_type, "kubernetes.io/basic-auth");
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("aHVudGVyMg"), "{json}");
        let cm: ConfigMap =
            from(json!({"metadata": {"name": "cfg", "namespace": "shop"}, "data": {"a.yaml": "token: xyz"}}));
        let c = summarize_config_map(&cm);
        assert_eq!(c.keys, ["a.yaml"]);
        assert!(!serde_json::to_string(&c).unwrap().contains("xyz"));
    }

    #[test]
    fn nodes_workloads_and_ingresses_summarize() {
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
        let d: Deployment = from(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{"name": "app", "image": "shop/web:2"}]}}},
            "status": {"replicas": 4, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 4}
        }));
        let w = summarize_deployment(&d);
        assert_eq!((w.desired, w.available, w.status.as_str()), (4, 1, "Degraded"));
        assert_eq!(w.images, ["shop/web:2"]);
        assert_eq!(w.selector.map(|s| s.to_string()).as_deref(), Some("app=web"));
        assert_eq!(workload_status(3, 3, 3), "Healthy");
        assert_eq!(workload_status(3, 0, 3), "Unavailable");
        assert_eq!(workload_status(0, 0, 0), "ScaledDown");
        let ing: Ingress = from(json!({
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"tls": [{"hosts": ["shop.example.com"]}], "rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
        }));
        let i = summarize_ingress(&ing);
        assert!(i.tls);
        assert_eq!(
            (
                i.rules[0].host.as_str(),
                i.rules[0].service.as_str(),
                i.rules[0].port.as_str()
            ),
            ("shop.example.com", "web", "80")
        );
    }

    #[test]
    fn the_store_follows_list_watch_and_relist() {
        let pod = |name: &str| -> Pod { from(json!({"metadata": {"name": name, "namespace": "a"}})) };
        let mut store: KindStore<PodSummary> = KindStore::default();
        store.apply(watcher::Event::Init, summarize_pod);
        store.apply(watcher::Event::InitApply(pod("p1")), summarize_pod);
        store.apply(watcher::Event::InitApply(pod("p2")), summarize_pod);
        assert_eq!(store.len(), 0, "nothing shows before the list is complete");
        store.apply(watcher::Event::<Pod>::InitDone, summarize_pod);
        assert_eq!(store.len(), 2);
        store.apply(watcher::Event::Delete(pod("p1")), summarize_pod);
        store.apply(watcher::Event::Apply(pod("p3")), summarize_pod);
        store.fail("403 forbidden".into());
        // A re-list (after a 410) replaces everything: p2 vanished meanwhile.
        store.apply(watcher::Event::Init, summarize_pod);
        store.apply(watcher::Event::InitApply(pod("p3")), summarize_pod);
        store.apply(watcher::Event::<Pod>::InitDone, summarize_pod);
        let names: Vec<String> = store.values().into_iter().map(|p| p.meta.name).collect();
        assert_eq!(names, ["p3"]);
        let status = store.status(ResourceKind::Pod);
        assert_eq!((status.synced, status.relists, status.error), (true, 1, None));
    }
}
