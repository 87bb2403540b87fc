//! Storage (PersistentVolumes and their claims) and policy (ResourceQuotas, LimitRanges,
//! NetworkPolicies, ServiceAccounts).

use atlhyper_model::resources::{
    LimitItem, LimitRangeSummary, NetworkPolicySummary, PersistentVolumeClaimSummary,
    PersistentVolumeSummary, PolicyRule, QuotaItem, ResourceQuotaSummary, ServiceAccountSummary,
};
use k8s_openapi::api::core::v1::{
    LimitRange, PersistentVolume, PersistentVolumeClaim, ResourceQuota, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};

use super::{int_or_string, meta, quantities, quantity, selector_words};

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
