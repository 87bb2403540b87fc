//! The resource kinds the simulated API server knows, with their discovery metadata.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, APIResourceList};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespaces,
    Nodes,
    Pods,
    Services,
    Endpoints,
    Events,
    ConfigMaps,
    Secrets,
    ServiceAccounts,
    PersistentVolumes,
    PersistentVolumeClaims,
    ResourceQuotas,
    LimitRanges,
    Deployments,
    ReplicaSets,
    StatefulSets,
    DaemonSets,
    Jobs,
    CronJobs,
    Ingresses,
    NetworkPolicies,
}

/// Discovery facts of one kind.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Which write verbs the simulator implements for this kind.
    pub writable: Writes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    ReadOnly,
    /// PATCH and PUT (nodes: cordon).
    Patch,
    /// PATCH, PUT and the `scale` subresource (deployments).
    PatchScale,
    /// DELETE (pods).
    Delete,
}

const fn info(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    singular: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    writable: Writes,
) -> KindInfo {
    // Every kind served here is at v1 (autoscaling/v1 Scale is a subresource).
    KindInfo {
        group,
        version: "v1",
        plural,
        kind,
        singular,
        namespaced,
        short_names,
        writable,
    }
}

impl Kind {
    pub const ALL: [Kind; 21] = [
        Kind::Namespaces,
        Kind::Nodes,
        Kind::Pods,
        Kind::Services,
        Kind::Endpoints,
        Kind::Events,
        Kind::ConfigMaps,
        Kind::Secrets,
        Kind::ServiceAccounts,
        Kind::PersistentVolumes,
        Kind::PersistentVolumeClaims,
        Kind::ResourceQuotas,
        Kind::LimitRanges,
        Kind::Deployments,
        Kind::ReplicaSets,
        Kind::StatefulSets,
        Kind::DaemonSets,
        Kind::Jobs,
        Kind::CronJobs,
        Kind::Ingresses,
        Kind::NetworkPolicies,
    ];

    pub fn info(self) -> KindInfo {
        use Writes::*;
        match self {
            Kind::Namespaces => info(
                "",
                "namespaces",
                "Namespace",
                "namespace",
                false,
                &["ns"],
                ReadOnly,
            ),
            Kind::Nodes => info("", "nodes", "Node", "node", false, &["no"], Patch),
            Kind::Pods => info("", "pods", "Pod", "pod", true, &["po"], Delete),
            Kind::Services => info("", "services", "Service", "service", true, &["svc"], ReadOnly),
            Kind::Endpoints => info("", "endpoints", "Endpoints", "endpoints", true, &["ep"], ReadOnly),
            Kind::Events => info("", "events", "Event", "event", true, &["ev"], ReadOnly),
            Kind::ConfigMaps => info(
                "",
                "configmaps",
                "ConfigMap",
                "configmap",
                true,
                &["cm"],
                ReadOnly,
            ),
            Kind::Secrets => info("", "secrets", "Secret", "secret", true, &[], ReadOnly),
            Kind::ServiceAccounts => info(
                "",
                "serviceaccounts",
                "ServiceAccount",
                "serviceaccount",
                true,
                &["sa"],
                ReadOnly,
            ),
            Kind::PersistentVolumes => info(
                "",
                "persistentvolumes",
                "PersistentVolume",
                "persistentvolume",
                false,
                &["pv"],
                ReadOnly,
            ),
            Kind::PersistentVolumeClaims => info(
                "",
                "persistentvolumeclaims",
                "PersistentVolumeClaim",
                "persistentvolumeclaim",
                true,
                &["pvc"],
                ReadOnly,
            ),
            Kind::ResourceQuotas => info(
                "",
                "resourcequotas",
                "ResourceQuota",
                "resourcequota",
                true,
                &["quota"],
                ReadOnly,
            ),
            Kind::LimitRanges => info(
                "",
                "limitranges",
                "LimitRange",
                "limitrange",
                true,
                &["limits"],
                ReadOnly,
            ),
            Kind::Deployments => info(
                "apps",
                "deployments",
                "Deployment",
                "deployment",
                true,
                &["deploy"],
                PatchScale,
            ),
            Kind::ReplicaSets => info(
                "apps",
                "replicasets",
                "ReplicaSet",
                "replicaset",
                true,
                &["rs"],
                ReadOnly,
            ),
            Kind::StatefulSets => info(
                "apps",
                "statefulsets",
                "StatefulSet",
                "statefulset",
                true,
                &["sts"],
                ReadOnly,
            ),
            Kind::DaemonSets => info(
                "apps",
                "daemonsets",
                "DaemonSet",
                "daemonset",
                true,
                &["ds"],
                ReadOnly,
            ),
            Kind::Jobs => info("batch", "jobs", "Job", "job", true, &[], ReadOnly),
            Kind::CronJobs => info("batch", "cronjobs", "CronJob", "cronjob", true, &["cj"], ReadOnly),
            Kind::Ingresses => info(
                "networking.k8s.io",
                "ingresses",
                "Ingress",
                "ingress",
                true,
                &["ing"],
                ReadOnly,
            ),
            Kind::NetworkPolicies => info(
                "networking.k8s.io",
                "networkpolicies",
                "NetworkPolicy",
                "networkpolicy",
                true,
                &["netpol"],
                ReadOnly,
            ),
        }
    }

    /// `v1` or `group/v1`.
    pub fn api_version(self) -> String {
        let i = self.info();
        if i.group.is_empty() {
            i.version.to_owned()
        } else {
            format!("{}/{}", i.group, i.version)
        }
    }

    /// The kind with the given plural in the given group/version.
    pub fn from_path(group: &str, version: &str, plural: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| {
            let i = k.info();
            i.group == group && i.version == version && i.plural == plural
        })
    }

    /// The API groups served under `/apis`, in discovery order.
    pub fn groups() -> Vec<&'static str> {
        let mut groups: Vec<&'static str> = Vec::new();
        for k in Kind::ALL {
            let g = k.info().group;
            if !g.is_empty() && !groups.contains(&g) {
                groups.push(g);
            }
        }
        groups
    }
}

/// The `APIResourceList` of one group/version, with the subresources the simulator serves.
pub fn resource_list(group: &str, version: &str) -> Option<APIResourceList> {
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| k.info().group == group && k.info().version == version)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for k in kinds {
        let i = k.info();
        let mut verbs = vec!["get", "list", "watch"];
        match i.writable {
            Writes::ReadOnly => {}
            Writes::Patch | Writes::PatchScale => verbs.extend(["patch", "update"]),
            Writes::Delete => verbs.push("delete"),
        }
        resources.push(APIResource {
            name: i.plural.to_owned(),
            singular_name: i.singular.to_owned(),
            namespaced: i.namespaced,
            kind: i.kind.to_owned(),
            verbs: verbs.into_iter().map(str::to_owned).collect(),
            short_names: (!i.short_names.is_empty())
                .then(|| i.short_names.iter().map(|s| (*s).to_owned()).collect()),
            categories: matches!(
                k,
                Kind::Pods
                    | Kind::Services
                    | Kind::Deployments
                    | Kind::ReplicaSets
                    | Kind::StatefulSets
                    | Kind::DaemonSets
            )
            .then(|| vec!["all".to_owned()]),
            ..APIResource::default()
        });
        let sub = |name: &str, kind: &str, verbs: &[&str]| APIResource {
            name: format!("{}/{name}", i.plural),
            singular_name: String::new(),
            namespaced: i.namespaced,
            kind: kind.to_owned(),
            verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
            group: (kind == "Scale").then(|| "autoscaling".to_owned()),
            version: (kind == "Scale").then(|| "v1".to_owned()),
            ..APIResource::default()
        };
        match k {
            Kind::Pods => {
                resources.push(sub("log", "Pod", &["get"]));
                resources.push(sub("status", "Pod", &["get"]));
            }
            Kind::Deployments => {
                resources.push(sub("scale", "Scale", &["get", "patch", "update"]));
                resources.push(sub("status", "Deployment", &["get"]));
            }
            Kind::Nodes => resources.push(sub("status", "Node", &["get"])),
            _ => {}
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(APIResourceList {
        group_version,
        resources,
    })
}
