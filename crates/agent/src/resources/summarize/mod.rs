//! Kubernetes objects (k8s-openapi types) → the compact summaries of `atlhyper_model`, one
//! pure function per kind, and the helpers they share: quantities, metadata, owners,
//! selectors. Nothing here does I/O or reads the clock.
//!
//! The kinds are grouped by family: `pods_nodes` (Pod, Node, Namespace, Event), `workloads`
//! (the four controllers, Job, CronJob), `network_config` (Service, Ingress, ConfigMap,
//! Secret), `storage_policy` (PV, PVC, ResourceQuota, LimitRange, NetworkPolicy,
//! ServiceAccount).

mod network_config;
mod pods_nodes;
mod storage_policy;
mod workloads;

use std::collections::BTreeMap;
use std::fmt::Debug;

use atlhyper_model::Timestamp;
use atlhyper_model::resources::{
    ConfigMapSummary, CpuMem, CronJobSummary, EventSummary, IngressSummary, JobSummary, LimitRangeSummary,
    Meta, NamespaceSummary, NetworkPolicySummary, NodeSummary, OwnerRef, PersistentVolumeClaimSummary,
    PersistentVolumeSummary, PodSummary, ResourceKind, ResourceQuotaSummary, SecretSummary,
    ServiceAccountSummary, ServiceSummary, WorkloadSummary,
};
use atlhyper_model::selector::Requirement;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, LimitRange, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
    ResourceQuota, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;

pub use network_config::{summarize_config_map, summarize_ingress, summarize_secret, summarize_service};
pub use pods_nodes::{summarize_event, summarize_namespace, summarize_node, summarize_pod};
pub use storage_policy::{
    summarize_limit_range, summarize_network_policy, summarize_pv, summarize_pvc, summarize_quota,
    summarize_service_account,
};
pub use workloads::{
    summarize_cron_job, summarize_daemon_set, summarize_deployment, summarize_job, summarize_replica_set,
    summarize_stateful_set, workload_status,
};

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

fn int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// A Kubernetes object from its JSON, for the tests of every family.
#[cfg(test)]
fn from_json<T: DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
