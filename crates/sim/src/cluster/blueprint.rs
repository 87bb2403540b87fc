//! The cluster as it is at creation: namespaces, nodes, workloads with their Services,
//! Ingresses and the call graph's flows (from `model`), and pods that have been running a while.

use std::collections::BTreeMap;

use super::{STARTUP_MS, SimCluster};
use crate::error::SimError;
use crate::model::{self, Flow, Ingress, Node, Role, Service, Workload, WorkloadKind};
use crate::nodeexp::NodeCounters;
use crate::rng::Rng;

/// The namespaces with their uids, in `model`'s order.
pub(super) fn namespaces(rng: &mut Rng) -> Vec<(String, String)> {
    model::NAMESPACES
        .iter()
        .map(|n| ((*n).to_owned(), rng.uuid()))
        .collect()
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
    pub(super) fn build_blueprint(&mut self) -> Result<(), SimError> {
        let created = self.created_ms + 86_400_000;
        for spec in model::workloads() {
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
        for (name, host, svc) in model::INGRESSES {
            let service = self.service_index(model::APP_NAMESPACE, svc)?;
            self.ingresses.push(Ingress {
                namespace: model::APP_NAMESPACE.to_owned(),
                name: name.to_owned(),
                uid: self.rng.uuid(),
                created_ms: created,
                host: host.to_owned(),
                service,
            });
        }
        for (client, dst, rps, median, sigma) in model::FLOWS {
            let client_ns = if client == "traefik" {
                model::INGRESS_NAMESPACE
            } else {
                model::APP_NAMESPACE
            };
            let client = self.workload_index(client_ns, client)?;
            let (ingress, service, outcomes) = match dst.strip_prefix("ingress:") {
                Some(name) => {
                    let i = self
                        .ingresses
                        .iter()
                        .position(|g| g.name == name)
                        .ok_or_else(|| SimError::Config(format!("flow to unknown ingress {name}")))?;
                    (Some(i), self.ingresses[i].service, model::ingress_outcomes())
                }
                None => (
                    None,
                    self.service_index(model::APP_NAMESPACE, dst)?,
                    model::edge_outcomes(),
                ),
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
