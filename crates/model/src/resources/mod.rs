//! Kubernetes resources as the agent ships them: a compact summary of each of the 20 kinds the
//! original system shows, the cluster's counts, and anomalies as structured records.
//!
//! Summaries keep what the dashboard, the anomaly rules and the AIOps graph read, never whole
//! objects: ConfigMaps and Secrets carry their keys only (Secrets also their type), never a
//! value. Every snapshot carries the full state (see `docs/resources.md` for the measurement
//! that chose full state over deltas).
//!
//! `mod.rs` has the kinds, the shared parts of a summary, the snapshot and anomalies; the
//! summaries of the 20 kinds are in `summaries.rs`.

mod summaries;

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use summaries::*;

/// The 20 kinds, in the order the original lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    Pod,
    Node,
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
    Service,
    Ingress,
    ConfigMap,
    Secret,
    Namespace,
    Event,
    PersistentVolume,
    PersistentVolumeClaim,
    ResourceQuota,
    LimitRange,
    NetworkPolicy,
    ServiceAccount,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 20] = [
        Self::Pod,
        Self::Node,
        Self::Deployment,
        Self::StatefulSet,
        Self::DaemonSet,
        Self::ReplicaSet,
        Self::Job,
        Self::CronJob,
        Self::Service,
        Self::Ingress,
        Self::ConfigMap,
        Self::Secret,
        Self::Namespace,
        Self::Event,
        Self::PersistentVolume,
        Self::PersistentVolumeClaim,
        Self::ResourceQuota,
        Self::LimitRange,
        Self::NetworkPolicy,
        Self::ServiceAccount,
    ];

    /// The Kubernetes kind name (`StatefulSet`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pod => "Pod",
            Self::Node => "Node",
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::ReplicaSet => "ReplicaSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
            Self::Service => "Service",
            Self::Ingress => "Ingress",
            Self::ConfigMap => "ConfigMap",
            Self::Secret => "Secret",
            Self::Namespace => "Namespace",
            Self::Event => "Event",
            Self::PersistentVolume => "PersistentVolume",
            Self::PersistentVolumeClaim => "PersistentVolumeClaim",
            Self::ResourceQuota => "ResourceQuota",
            Self::LimitRange => "LimitRange",
            Self::NetworkPolicy => "NetworkPolicy",
            Self::ServiceAccount => "ServiceAccount",
        }
    }

    /// The lowercase word used in entity keys (`shop/deployment/web`).
    pub fn key_word(self) -> String {
        self.as_str().to_ascii_lowercase()
    }

    /// Reads a kind as people and kubectl write it: `Deployment`, `deployment`, `deployments`,
    /// `deploy`, `sts`, `pvc`, …
    pub fn parse(input: &str) -> Option<Self> {
        let lower = input.trim().to_ascii_lowercase();
        let found = match lower.as_str() {
            "pod" | "pods" | "po" => Self::Pod,
            "node" | "nodes" | "no" => Self::Node,
            "deployment" | "deployments" | "deploy" => Self::Deployment,
            "statefulset" | "statefulsets" | "sts" => Self::StatefulSet,
            "daemonset" | "daemonsets" | "ds" => Self::DaemonSet,
            "replicaset" | "replicasets" | "rs" => Self::ReplicaSet,
            "job" | "jobs" => Self::Job,
            "cronjob" | "cronjobs" | "cj" => Self::CronJob,
            "service" | "services" | "svc" => Self::Service,
            "ingress" | "ingresses" | "ing" => Self::Ingress,
            "configmap" | "configmaps" | "cm" => Self::ConfigMap,
            "secret" | "secrets" => Self::Secret,
            "namespace" | "namespaces" | "ns" => Self::Namespace,
            "event" | "events" | "ev" => Self::Event,
            "persistentvolume" | "persistentvolumes" | "pv" => Self::PersistentVolume,
            "persistentvolumeclaim" | "persistentvolumeclaims" | "pvc" => Self::PersistentVolumeClaim,
            "resourcequota" | "resourcequotas" | "quota" => Self::ResourceQuota,
            "limitrange" | "limitranges" | "limits" => Self::LimitRange,
            "networkpolicy" | "networkpolicies" | "netpol" => Self::NetworkPolicy,
            "serviceaccount" | "serviceaccounts" | "sa" => Self::ServiceAccount,
            _ => return None,
        };
        Some(found)
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(self, Self::Node | Self::Namespace | Self::PersistentVolume)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The entity key of docs/aiops.md: `namespace/kind/name`, cluster-scoped objects (nodes,
/// namespaces, volumes) under `_cluster`.
pub fn entity_key(kind: ResourceKind, namespace: &str, name: &str) -> String {
    let ns = if kind.namespaced() && !namespace.is_empty() {
        namespace
    } else {
        "_cluster"
    };
    format!("{ns}/{}/{name}", kind.key_word())
}

/// Name, namespace (empty for cluster-scoped kinds) and age of an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
}

/// The workload an object belongs to (its controller owner reference).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
}

/// CPU in millicores and memory in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuMem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_millis: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<f64>,
}

impl CpuMem {
    pub fn is_empty(&self) -> bool {
        self.cpu_millis.is_none() && self.memory_bytes.is_none()
    }

    /// Adds `other` in, field by field (a missing field stays missing only if both are).
    pub fn add(&mut self, other: &CpuMem) {
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
        self.cpu_millis = sum(self.cpu_millis, other.cpu_millis);
        self.memory_bytes = sum(self.memory_bytes, other.memory_bytes);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
}

/// The counts of the original's `ClusterSummary`, and a few more.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSummary {
    pub total_nodes: u32,
    pub ready_nodes: u32,
    pub total_pods: u32,
    pub running_pods: u32,
    pub pending_pods: u32,
    pub failed_pods: u32,
    pub succeeded_pods: u32,
    pub total_deployments: u32,
    pub healthy_deployments: u32,
    pub total_stateful_sets: u32,
    pub total_daemon_sets: u32,
    pub total_jobs: u32,
    pub total_services: u32,
    pub total_ingresses: u32,
    pub total_namespaces: u32,
    pub total_events: u32,
    pub warning_events: u32,
    pub anomalies: u32,
    pub critical_anomalies: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// Something wrong with one object, as the agent's rules saw it in the latest state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// `namespace/kind/name` (nodes `_cluster/node/NAME`), the key AIOps uses.
    pub entity: String,
    pub kind: ResourceKind,
    /// `CrashLoopBackOff`, `OOMKilled`, `ImagePullBackOff`, `ErrImagePull`,
    /// `CreateContainerConfigError`, `PendingTooLong`, `NodeNotReady`, `MemoryPressure`,
    /// `DiskPressure`, `PIDPressure`, `DeploymentUnavailable`, or a Warning event's reason.
    pub reason: String,
    /// When it began, where the object says (a condition's transition, the last
    /// termination, the pod's creation, the event's first time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// What was seen, in words (`container app restarted 7 times, waiting: back-off …`).
    pub evidence: String,
    pub severity: Severity,
}

/// Whether one kind's watch is working.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindStatus {
    pub kind: String,
    /// The initial list has completed at least once (the items are the cluster's).
    pub synced: bool,
    pub items: u32,
    /// The last error of the watch (403, missing API), cleared when it works again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Full re-lists after the first (410 Gone, reconnects).
    #[serde(default)]
    pub relists: u64,
}

/// The cluster's resources as one snapshot carries them: full state, not deltas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceSnapshot {
    pub summary: ClusterSummary,
    pub anomalies: Vec<Anomaly>,
    pub kinds: Vec<KindStatus>,
    /// Whether `metrics.k8s.io` answered (usage figures are present).
    pub metrics_available: bool,
    pub pods: Vec<PodSummary>,
    pub nodes: Vec<NodeSummary>,
    pub deployments: Vec<WorkloadSummary>,
    pub stateful_sets: Vec<WorkloadSummary>,
    pub daemon_sets: Vec<WorkloadSummary>,
    pub replica_sets: Vec<WorkloadSummary>,
    pub jobs: Vec<JobSummary>,
    pub cron_jobs: Vec<CronJobSummary>,
    pub services: Vec<ServiceSummary>,
    pub ingresses: Vec<IngressSummary>,
    pub config_maps: Vec<ConfigMapSummary>,
    pub secrets: Vec<SecretSummary>,
    pub namespaces: Vec<NamespaceSummary>,
    pub events: Vec<EventSummary>,
    pub persistent_volumes: Vec<PersistentVolumeSummary>,
    pub persistent_volume_claims: Vec<PersistentVolumeClaimSummary>,
    pub resource_quotas: Vec<ResourceQuotaSummary>,
    pub limit_ranges: Vec<LimitRangeSummary>,
    pub network_policies: Vec<NetworkPolicySummary>,
    pub service_accounts: Vec<ServiceAccountSummary>,
}

impl ResourceSnapshot {
    /// The summaries of one kind, in the snapshot's order (by namespace, then name).
    pub fn items(&self, kind: ResourceKind) -> Vec<ResourceRef<'_>> {
        use ResourceRef as R;
        match kind {
            ResourceKind::Pod => self.pods.iter().map(R::Pod).collect(),
            ResourceKind::Node => self.nodes.iter().map(R::Node).collect(),
            ResourceKind::Deployment => self.deployments.iter().map(R::Workload).collect(),
            ResourceKind::StatefulSet => self.stateful_sets.iter().map(R::Workload).collect(),
            ResourceKind::DaemonSet => self.daemon_sets.iter().map(R::Workload).collect(),
            ResourceKind::ReplicaSet => self.replica_sets.iter().map(R::Workload).collect(),
            ResourceKind::Job => self.jobs.iter().map(R::Job).collect(),
            ResourceKind::CronJob => self.cron_jobs.iter().map(R::CronJob).collect(),
            ResourceKind::Service => self.services.iter().map(R::Service).collect(),
            ResourceKind::Ingress => self.ingresses.iter().map(R::Ingress).collect(),
            ResourceKind::ConfigMap => self.config_maps.iter().map(R::ConfigMap).collect(),
            ResourceKind::Secret => self.secrets.iter().map(R::Secret).collect(),
            ResourceKind::Namespace => self.namespaces.iter().map(R::Namespace).collect(),
            ResourceKind::Event => self.events.iter().map(R::Event).collect(),
            ResourceKind::PersistentVolume => {
                self.persistent_volumes.iter().map(R::PersistentVolume).collect()
            }
            ResourceKind::PersistentVolumeClaim => self
                .persistent_volume_claims
                .iter()
                .map(R::PersistentVolumeClaim)
                .collect(),
            ResourceKind::ResourceQuota => self.resource_quotas.iter().map(R::ResourceQuota).collect(),
            ResourceKind::LimitRange => self.limit_ranges.iter().map(R::LimitRange).collect(),
            ResourceKind::NetworkPolicy => self.network_policies.iter().map(R::NetworkPolicy).collect(),
            ResourceKind::ServiceAccount => self.service_accounts.iter().map(R::ServiceAccount).collect(),
        }
    }

    /// One object by kind, namespace (ignored for cluster-scoped kinds) and name.
    pub fn find(&self, kind: ResourceKind, namespace: &str, name: &str) -> Option<ResourceRef<'_>> {
        self.items(kind).into_iter().find(|r| {
            let m = r.meta();
            m.name == name && (!kind.namespaced() || m.namespace == namespace)
        })
    }
}

/// One summary of any kind, borrowed from a [`ResourceSnapshot`]; serializes as the summary.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum ResourceRef<'a> {
    Pod(&'a PodSummary),
    Node(&'a NodeSummary),
    Workload(&'a WorkloadSummary),
    Job(&'a JobSummary),
    CronJob(&'a CronJobSummary),
    Service(&'a ServiceSummary),
    Ingress(&'a IngressSummary),
    ConfigMap(&'a ConfigMapSummary),
    Secret(&'a SecretSummary),
    Namespace(&'a NamespaceSummary),
    Event(&'a EventSummary),
    PersistentVolume(&'a PersistentVolumeSummary),
    PersistentVolumeClaim(&'a PersistentVolumeClaimSummary),
    ResourceQuota(&'a ResourceQuotaSummary),
    LimitRange(&'a LimitRangeSummary),
    NetworkPolicy(&'a NetworkPolicySummary),
    ServiceAccount(&'a ServiceAccountSummary),
}

impl ResourceRef<'_> {
    pub fn meta(&self) -> &Meta {
        match self {
            Self::Pod(x) => &x.meta,
            Self::Node(x) => &x.meta,
            Self::Workload(x) => &x.meta,
            Self::Job(x) => &x.meta,
            Self::CronJob(x) => &x.meta,
            Self::Service(x) => &x.meta,
            Self::Ingress(x) => &x.meta,
            Self::ConfigMap(x) => &x.meta,
            Self::Secret(x) => &x.meta,
            Self::Namespace(x) => &x.meta,
            Self::Event(x) => &x.meta,
            Self::PersistentVolume(x) => &x.meta,
            Self::PersistentVolumeClaim(x) => &x.meta,
            Self::ResourceQuota(x) => &x.meta,
            Self::LimitRange(x) => &x.meta,
            Self::NetworkPolicy(x) => &x.meta,
            Self::ServiceAccount(x) => &x.meta,
        }
    }

    /// The one-word status a list filters on (a pod's STATUS column, a node's readiness, a
    /// workload's health, a volume's phase, an event's type; `Active` for kinds without one).
    pub fn status(&self) -> &str {
        match self {
            Self::Pod(x) => &x.status,
            Self::Node(x) => &x.status,
            Self::Workload(x) => &x.status,
            Self::Job(x) => &x.status,
            Self::CronJob(x) => &x.status,
            Self::Namespace(x) => &x.phase,
            Self::Event(x) => &x.event_type,
            Self::PersistentVolume(x) => &x.phase,
            Self::PersistentVolumeClaim(x) => &x.phase,
            Self::Service(_)
            | Self::Ingress(_)
            | Self::ConfigMap(_)
            | Self::Secret(_)
            | Self::ResourceQuota(_)
            | Self::LimitRange(_)
            | Self::NetworkPolicy(_)
            | Self::ServiceAccount(_) => "Active",
        }
    }

    /// Whether `needle` (lowercase) is in the name, namespace, status, or a kind-specific
    /// field (a pod's node, an image, an event's reason and message, an ingress host).
    pub fn matches_text(&self, needle: &str) -> bool {
        let has = |s: &str| s.to_ascii_lowercase().contains(needle);
        let meta = self.meta();
        if has(&meta.name) || has(&meta.namespace) || has(self.status()) {
            return true;
        }
        match self {
            Self::Pod(p) => has(&p.node) || p.containers.iter().any(|c| has(&c.image) || has(&c.reason)),
            Self::Workload(w) => w.images.iter().any(|i| has(i)),
            Self::Event(e) => has(&e.reason) || has(&e.message) || has(&e.involved.name),
            Self::Ingress(i) => i.rules.iter().any(|r| has(&r.host) || has(&r.service)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_as_kubectl_writes_them_and_key_as_aiops_does() {
        for kind in ResourceKind::ALL {
            assert_eq!(ResourceKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ResourceKind::parse("sts"), Some(ResourceKind::StatefulSet));
        assert_eq!(
            ResourceKind::parse("PVC"),
            Some(ResourceKind::PersistentVolumeClaim)
        );
        assert_eq!(ResourceKind::parse("gizmo"), None);
        assert_eq!(
            entity_key(ResourceKind::Node, "x", "node-1"),
            "_cluster/node/node-1"
        );
        assert_eq!(
            entity_key(ResourceKind::Deployment, "shop", "web"),
            "shop/deployment/web"
        );
    }

    #[test]
    fn a_snapshot_round_trips_and_finds_objects() {
        let mut snap = ResourceSnapshot::default();
        snap.secrets.push(SecretSummary {
            meta: Meta {
                namespace: "shop".into(),
                name: "db".into(),
                created_at: Some(Timestamp(1_000)),
            },
            secret_type: "Opaque".into(),
            keys: vec!["password".into()],
        });
        snap.nodes.push(NodeSummary {
            meta: Meta {
                name: "node-1".into(),
                ..Meta::default()
            },
            status: "Ready".into(),
            ready: true,
            ..NodeSummary::default()
        });
        let json = serde_json::to_string(&snap).unwrap();
        let back: ResourceSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);
        let found = back.find(ResourceKind::Secret, "shop", "db").unwrap();
        assert_eq!(found.status(), "Active");
        assert!(found.matches_text("db"));
        assert!(back.find(ResourceKind::Node, "_", "node-1").is_some());
        let v = serde_json::to_value(found).unwrap();
        assert_eq!(v["keys"][0], "password");
        assert_eq!(v["namespace"], "shop");
        // An older snapshot without the field still reads.
        let empty: ResourceSnapshot = serde_json::from_str("{}").unwrap();
        assert!(empty.pods.is_empty());
    }
}
