//! Networking: Services (and the `kubernetes` Service), their Endpoints, and Ingresses.

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Service as KService,
    ServicePort, ServiceSpec,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress as KIngress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::workloads::{pods_of, selector_labels};
use super::{labels, meta, sim_uid};
use crate::cluster::SimCluster;
use crate::model::{self, Pod, Role};

pub(super) fn service(sim: &SimCluster, s: &model::Service) -> KService {
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

pub(super) fn kubernetes_service(sim: &SimCluster) -> KService {
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

pub(super) fn endpoints(sim: &SimCluster, s: &model::Service) -> Endpoints {
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

pub(super) fn ingress(sim: &SimCluster, g: &model::Ingress) -> KIngress {
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
