//! Namespaces and what every namespace has: the `default` ServiceAccount (one per workload
//! too) and the `kube-root-ca.crt` ConfigMap.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, NamespaceSpec, NamespaceStatus, ServiceAccount};

use super::{labels, meta, sim_uid};
use crate::cluster::SimCluster;
use crate::model;

pub(super) fn namespace(sim: &SimCluster, name: &str, uid: &str) -> Namespace {
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

pub(super) fn service_account(sim: &SimCluster, ns: &str, name: &str) -> ServiceAccount {
    let uid = sim_uid(&format!("sa/{ns}/{name}"));
    ServiceAccount {
        metadata: meta(Some(ns), name, &uid, sim.created_ms),
        ..ServiceAccount::default()
    }
}

pub(super) fn root_ca(sim: &SimCluster, ns: &str) -> ConfigMap {
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
