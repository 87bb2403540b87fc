//! The summary of each kind, as the agent ships it: what the dashboard, the anomaly rules and
//! the AIOps graph read, never the whole object.

use serde::{Deserialize, Serialize};

use super::{Condition, CpuMem, Meta, OwnerRef};
use crate::{ContainerState, LabelSelector, Timestamp};

/// One container of a pod: its state now and how it last ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSummary {
    pub name: String,
    pub image: String,
    pub ready: bool,
    pub restarts: u32,
    pub state: ContainerState,
    /// The waiting or terminated reason (`CrashLoopBackOff`, `OOMKilled`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// When the current state began (start of running, end of the last termination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// The reason the previous instance terminated (`OOMKilled`, `Error`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_finished_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PodSummary {
    #[serde(flatten)]
    pub meta: Meta,
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: String,
    /// What kubectl's STATUS column shows: a container's waiting or terminated reason, else
    /// `Terminating` or the phase.
    pub status: String,
    pub ready: bool,
    pub ready_containers: u32,
    pub total_containers: u32,
    pub restarts: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod_ip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerRef>,
    #[serde(default, skip_serializing_if = "CpuMem::is_empty")]
    pub requests: CpuMem,
    #[serde(default, skip_serializing_if = "CpuMem::is_empty")]
    pub limits: CpuMem,
    /// From `metrics.k8s.io`, when the cluster serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CpuMem>,
    pub containers: Vec<ContainerSummary>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaintSummary {
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    pub effect: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSummary {
    #[serde(flatten)]
    pub meta: Meta,
    /// `Ready`, `NotReady` or `Unknown`, with `,SchedulingDisabled` when cordoned.
    pub status: String,
    pub ready: bool,
    pub unschedulable: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub internal_ip: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kubelet_version: String,
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<TaintSummary>,
    pub capacity: CpuMem,
    pub allocatable: CpuMem,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods_capacity: Option<u32>,
    /// Pods scheduled on the node (filled from the pod list).
    #[serde(default)]
    pub pods: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CpuMem>,
}

/// Deployments, StatefulSets, DaemonSets and ReplicaSets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSummary {
    #[serde(flatten)]
    pub meta: Meta,
    /// `Healthy` (every desired replica available), `Progressing`, `Degraded` (some
    /// unavailable), `Unavailable` (none available) or `ScaledDown`.
    pub status: String,
    pub desired: u32,
    pub ready: u32,
    pub available: u32,
    pub updated: u32,
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The pod selector (`spec.selector`); on the wire in kubectl's syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    #[serde(flatten)]
    pub meta: Meta,
    /// `Running`, `Complete` or `Failed`.
    pub status: String,
    pub active: u32,
    pub succeeded: u32,
    pub failed: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerRef>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CronJobSummary {
    #[serde(flatten)]
    pub meta: Meta,
    /// `Suspended`, `Active` (jobs running) or `Scheduled`.
    pub status: String,
    pub schedule: String,
    pub suspend: bool,
    pub active: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePortSummary {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub port: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_port: String,
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSummary {
    #[serde(flatten)]
    pub meta: Meta,
    /// `ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`.
    pub service_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_ip: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_ips: Vec<String>,
    pub ports: Vec<ServicePortSummary>,
    /// The pod selector as `key=value` pairs (the AIOps graph's service → workload edges).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selector: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressRuleSummary {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    pub path: String,
    pub service: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub port: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressSummary {
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub class: String,
    pub rules: Vec<IngressRuleSummary>,
    pub tls: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

/// A ConfigMap: its keys, never the values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigMapSummary {
    #[serde(flatten)]
    pub meta: Meta,
    pub keys: Vec<String>,
}

/// A Secret: its type and keys, never the values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSummary {
    #[serde(flatten)]
    pub meta: Meta,
    pub secret_type: String,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceSummary {
    #[serde(flatten)]
    pub meta: Meta,
    pub phase: String,
    /// Pods in the namespace (filled from the pod list).
    #[serde(default)]
    pub pods: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvolvedObject {
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSummary {
    #[serde(flatten)]
    pub meta: Meta,
    /// `Normal` or `Warning`.
    pub event_type: String,
    pub reason: String,
    pub message: String,
    pub count: u32,
    pub involved: InvolvedObject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersistentVolumeSummary {
    #[serde(flatten)]
    pub meta: Meta,
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_class: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reclaim_policy: String,
    /// `namespace/name` of the bound claim.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub claim: String,
    /// The volume source (`hostPath`, `nfs`, `csi`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersistentVolumeClaimSummary {
    #[serde(flatten)]
    pub meta: Meta,
    pub phase: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub volume: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_bytes: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_class: String,
}

/// A quota line: `hard` and `used` as Kubernetes writes them (`10`, `4Gi`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaItem {
    pub resource: String,
    pub hard: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub used: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceQuotaSummary {
    #[serde(flatten)]
    pub meta: Meta,
    pub items: Vec<QuotaItem>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitItem {
    /// `Container`, `Pod`, `PersistentVolumeClaim`.
    #[serde(rename = "type")]
    pub kind: String,
    pub resource: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub min: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub max: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_request: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRangeSummary {
    #[serde(flatten)]
    pub meta: Meta,
    pub limits: Vec<LimitItem>,
}

/// One ingress or egress rule: its peers and ports in words (`pods app=web`, `ns team=a`,
/// `cidr 10.0.0.0/8`; `TCP/80`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPolicySummary {
    #[serde(flatten)]
    pub meta: Meta,
    /// The pod selector as `key=value` pairs; empty selects every pod of the namespace.
    pub pod_selector: Vec<String>,
    pub policy_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<PolicyRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<PolicyRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountSummary {
    #[serde(flatten)]
    pub meta: Meta,
    /// Names of the secrets it mounts (names only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_token: Option<bool>,
}
