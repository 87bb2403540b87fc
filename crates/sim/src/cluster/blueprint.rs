//! The cluster as it is at creation: the default cluster's namespaces, workloads, Ingresses
//! and call graph (the tables at the end), built into nodes, Services, flows and pods that have
//! been running for a while.

use std::collections::BTreeMap;

use super::{STARTUP_MS, SimCluster};
use crate::error::SimError;
use crate::model::{
    APP_NAMESPACE, Flow, INGRESS_NAMESPACE, Ingress, MONITORING_NAMESPACE, Node, Outcome, Role, Service,
    Workload, WorkloadKind,
};
use crate::nodeexp::NodeCounters;
use crate::rng::Rng;

/// The namespaces with their uids, in `model`'s order.
pub(super) fn namespaces(rng: &mut Rng) -> Vec<(String, String)> {
    NAMESPACES.iter().map(|n| ((*n).to_owned(), rng.uuid())).collect()
}

/// Nodes `node-1` … `node-{count}`: 4 CPUs and 16 GiB each, booted nine days before `now`.
pub(super) fn nodes(count: usize, now: i64, created: i64, rng: &mut Rng) -> Vec<Node> {
    (1..=count)
        .map(|i| {
            let memory = 16 * (1 << 30);
            Node {
                name: format!("node-{i}"),
                uid: rng.uuid(),
                created_ms: created,
                ip: format!("10.0.0.{}", 10 + i),
                cpus: 4,
                memory_bytes: memory,
                unschedulable: false,
                memory_pressure: false,
                exporter: NodeCounters::new(4, memory, ((now - 9 * 86_400_000) / 1000) as f64),
            }
        })
        .collect()
}

impl SimCluster {
    /// Workloads with their Services, Ingresses and flows, from the tables below.
    pub(super) fn build_blueprint(&mut self) -> Result<(), SimError> {
        let created = self.created_ms + 86_400_000;
        for spec in workloads() {
            let uid = self.rng.uuid();
            let replicas = if spec.kind == WorkloadKind::DaemonSet {
                self.nodes.len() as u32
            } else {
                spec.replicas
            };
            self.workloads.push(Workload {
                kind: spec.kind,
                namespace: spec.namespace.to_owned(),
                name: spec.name.to_owned(),
                uid,
                created_ms: created,
                replicas,
                role: spec.role,
                meshed: matches!(spec.role, Role::Mesh | Role::Traefik),
                app_port: spec.port,
                generation: 1,
                image: spec.image.to_owned(),
                restarted_at: None,
                revisions: Vec::new(),
                labels: BTreeMap::new(),
            });
            if let Some(port) = spec.service_port {
                let workload = self.workloads.len() - 1;
                let n = self.services.len() as u32;
                self.services.push(Service {
                    namespace: spec.namespace.to_owned(),
                    name: if spec.name == "coredns" {
                        "kube-dns".to_owned()
                    } else {
                        spec.name.to_owned()
                    },
                    uid: self.rng.uuid(),
                    created_ms: created,
                    cluster_ip: format!("10.43.{}.{}", 10 + n / 200, 10 + n % 200),
                    port,
                    workload,
                });
            }
        }
        for (name, host, svc) in INGRESSES {
            let service = self.service_index(APP_NAMESPACE, svc)?;
            self.ingresses.push(Ingress {
                namespace: APP_NAMESPACE.to_owned(),
                name: name.to_owned(),
                uid: self.rng.uuid(),
                created_ms: created,
                host: host.to_owned(),
                service,
            });
        }
        for (client, dst, rps, median, sigma) in FLOWS {
            let client_ns = if client == "traefik" {
                INGRESS_NAMESPACE
            } else {
                APP_NAMESPACE
            };
            let client = self.workload_index(client_ns, client)?;
            let (ingress, service, outcomes) = match dst.strip_prefix("ingress:") {
                Some(name) => {
                    let i = self
                        .ingresses
                        .iter()
                        .position(|g| g.name == name)
                        .ok_or_else(|| SimError::Config(format!("flow to unknown ingress {name}")))?;
                    (Some(i), self.ingresses[i].service, ingress_outcomes())
                }
                None => (None, self.service_index(APP_NAMESPACE, dst)?, edge_outcomes()),
            };
            self.flows.push(Flow {
                ingress,
                client,
                service,
                peak_rps: rps,
                median_ms: median,
                sigma,
                outcomes,
            });
        }
        Ok(())
    }

    /// The initial pods have been running for a while: ready, started in the past.
    pub(super) fn age_initial_pods(&mut self) {
        let now = self.now_ms;
        for i in 0..self.pods.len() {
            let age = 3_600_000 + self.rng.below(4 * 86_400_000) as i64;
            let p = &mut self.pods[i];
            p.created_ms = now - age;
            p.started_ms = p.created_ms + 3_000;
            p.ready_at_ms = p.created_ms + STARTUP_MS;
            if let Some(proxy) = &mut p.proxy {
                proxy.start_ms = p.created_ms + 1_000;
            }
            if let Some(t) = &mut p.traefik {
                t.start_ms = p.created_ms + 1_000;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the default cluster contains

/// Kubernetes' own namespaces plus the ones of the simulated platform.
const NAMESPACES: [&str; 8] = [
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "linkerd",
    "ingress",
    "monitoring",
    "shop",
];

/// A workload of the blueprint.
struct WorkloadSpec {
    kind: WorkloadKind,
    namespace: &'static str,
    name: &'static str,
    replicas: u32,
    role: Role,
    image: &'static str,
    port: u16,
    /// Port of its Service, if it has one.
    service_port: Option<u16>,
}

// The blueprint is a table of literals, which reads best positionally.
#[allow(clippy::too_many_arguments)]
const fn wl(
    kind: WorkloadKind,
    namespace: &'static str,
    name: &'static str,
    replicas: u32,
    role: Role,
    image: &'static str,
    port: u16,
    service_port: Option<u16>,
) -> WorkloadSpec {
    WorkloadSpec {
        kind,
        namespace,
        name,
        replicas,
        role,
        image,
        port,
        service_port,
    }
}

/// The workloads of the default cluster. The shop's call graph is
/// `traefik → web → api → {catalog → {inventory, reviews}, cart → inventory, payments}`.
fn workloads() -> Vec<WorkloadSpec> {
    use Role::*;
    use WorkloadKind::*;
    vec![
        wl(
            Deployment,
            "kube-system",
            "coredns",
            2,
            Plain,
            "registry.k8s.io/coredns/coredns:v1.12.0",
            53,
            Some(53),
        ),
        wl(
            Deployment,
            "linkerd",
            "linkerd-destination",
            1,
            Plain,
            "cr.l5d.io/linkerd/controller:edge-24.11.8",
            8086,
            Some(8086),
        ),
        wl(
            Deployment,
            "linkerd",
            "linkerd-identity",
            1,
            Plain,
            "cr.l5d.io/linkerd/controller:edge-24.11.8",
            8080,
            Some(8080),
        ),
        wl(
            Deployment,
            "linkerd",
            "linkerd-proxy-injector",
            1,
            Plain,
            "cr.l5d.io/linkerd/controller:edge-24.11.8",
            8443,
            Some(443),
        ),
        wl(
            Deployment,
            INGRESS_NAMESPACE,
            "traefik",
            2,
            Traefik,
            "docker.io/traefik:v3.3.4",
            8000,
            Some(80),
        ),
        wl(
            DaemonSet,
            MONITORING_NAMESPACE,
            "node-exporter",
            0,
            NodeExporter,
            "quay.io/prometheus/node-exporter:v1.9.1",
            9100,
            None,
        ),
        wl(
            Deployment,
            APP_NAMESPACE,
            "web",
            3,
            Mesh,
            "registry.example.com/shop/web:2.4.1",
            8080,
            Some(80),
        ),
        wl(
            Deployment,
            APP_NAMESPACE,
            "api",
            3,
            Mesh,
            "registry.example.com/shop/api:3.1.0",
            8080,
            Some(8080),
        ),
        wl(
            Deployment,
            APP_NAMESPACE,
            "catalog",
            2,
            Mesh,
            "registry.example.com/shop/catalog:1.9.2",
            8080,
            Some(8080),
        ),
        wl(
            Deployment,
            APP_NAMESPACE,
            "cart",
            2,
            Mesh,
            "registry.example.com/shop/cart:1.2.0",
            8080,
            Some(8080),
        ),
        wl(
            Deployment,
            APP_NAMESPACE,
            "payments",
            2,
            Mesh,
            "registry.example.com/shop/payments:1.4.3",
            8080,
            Some(8080),
        ),
        wl(
            Deployment,
            APP_NAMESPACE,
            "inventory",
            2,
            Mesh,
            "registry.example.com/shop/inventory:0.8.5",
            8080,
            Some(8080),
        ),
        wl(
            Deployment,
            APP_NAMESPACE,
            "reviews",
            2,
            Mesh,
            "registry.example.com/shop/reviews:1.0.7",
            8080,
            Some(8080),
        ),
        wl(
            StatefulSet,
            APP_NAMESPACE,
            "redis",
            1,
            Plain,
            "docker.io/redis:7.4.2",
            6379,
            Some(6379),
        ),
    ]
}

/// Ingress hosts: (Ingress name, host, backend Service).
const INGRESSES: [(&str, &str, &str); 2] = [
    ("shop", "shop.example.com", "web"),
    ("shop-api", "api.shop.example.com", "api"),
];

/// One flow of the blueprint: (client workload, destination service or ingress name, peak rps,
/// median ms, sigma). A client of `traefik` with an ingress name is an ingress flow.
const FLOWS: [(&str, &str, f64, f64, f64); 10] = [
    ("traefik", "ingress:shop", 40.0, 45.0, 0.55),
    ("traefik", "ingress:shop-api", 12.0, 30.0, 0.5),
    ("web", "api", 36.0, 25.0, 0.5),
    ("api", "catalog", 30.0, 12.0, 0.45),
    ("api", "cart", 10.0, 8.0, 0.4),
    ("api", "payments", 3.0, 60.0, 0.6),
    ("catalog", "inventory", 20.0, 5.0, 0.4),
    ("catalog", "reviews", 8.0, 15.0, 0.5),
    ("cart", "inventory", 4.0, 5.0, 0.4),
    ("web", "catalog", 6.0, 12.0, 0.45),
];

/// Status mix of requests coming in from users. 5xx stay well inside a 99.9 % objective
/// (0.05 %), so a healthy cluster burns its budget at about half the allowed rate and only a
/// fault pages.
fn ingress_outcomes() -> Vec<Outcome> {
    vec![
        Outcome {
            method: "GET",
            code: 200,
            weight: 0.86,
        },
        Outcome {
            method: "POST",
            code: 201,
            weight: 0.05,
        },
        Outcome {
            method: "GET",
            code: 304,
            weight: 0.03,
        },
        Outcome {
            method: "GET",
            code: 404,
            weight: 0.045,
        },
        Outcome {
            method: "POST",
            code: 400,
            weight: 0.01,
        },
        Outcome {
            method: "GET",
            code: 500,
            weight: 0.0003,
        },
        Outcome {
            method: "GET",
            code: 503,
            weight: 0.0002,
        },
    ]
}

/// Status mix between services (0.03 % 5xx when healthy).
fn edge_outcomes() -> Vec<Outcome> {
    vec![
        Outcome {
            method: "GET",
            code: 200,
            weight: 0.95,
        },
        Outcome {
            method: "POST",
            code: 201,
            weight: 0.02,
        },
        Outcome {
            method: "GET",
            code: 404,
            weight: 0.026,
        },
        Outcome {
            method: "GET",
            code: 500,
            weight: 0.0002,
        },
        Outcome {
            method: "GET",
            code: 503,
            weight: 0.0001,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::super::test_sim as sim;

    #[test]
    fn builds_the_blueprint_with_ready_pods() {
        let s = sim();
        assert_eq!(s.pod_names("shop", "web").len(), 3);
        assert_eq!(s.pod_names("monitoring", "node-exporter").len(), 3);
        assert!(s.pods.iter().all(|p| p.is_ready(s.now_ms)));
    }
}
