//! The Linkerd proxy and Traefik `/metrics` bodies (one submodule each), and which body a
//! metrics listener serves. node_exporter's body is written by `nodeexp`.

mod linkerd;
mod traefik;

use std::fmt::Write as _;

use self::linkerd::{ProxyIdentity, linkerd_body};
use self::traefik::traefik_body;

const LE_INF: &str = "+Inf";

/// A family's `# HELP` and `# TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl crate::cluster::SimCluster {
    /// The body the metrics listener on `port` serves now, with what it is.
    pub fn render_metrics(&self, port: u16) -> Option<(crate::model::EndpointKind, String)> {
        use crate::model::EndpointKind;
        let pod = self
            .pods
            .iter()
            .find(|p| p.metrics.iter().any(|m| m.port == port))?;
        let kind = pod.metrics.iter().find(|m| m.port == port)?.kind;
        let body = match kind {
            EndpointKind::LinkerdProxy => {
                let me = ProxyIdentity { ip: &pod.mesh_ip };
                linkerd_body(&me, pod.proxy.as_ref()?, self.now_ms)
            }
            EndpointKind::Traefik => {
                traefik_body(pod.traefik.as_ref()?, &self.traefik_backends(), self.now_ms)
            }
            EndpointKind::NodeExporter => {
                let node = self.nodes.iter().find(|n| Some(&n.name) == pod.node.as_ref())?;
                node.exporter
                    .render(&node.name, node.memory_bytes, self.now_ms as f64 / 1000.0)
            }
        };
        Some((kind, body))
    }

    /// The body of one pod's endpoint of a kind (`None` if the pod or endpoint does not exist).
    pub fn render_pod_metrics(
        &self,
        namespace: &str,
        pod: &str,
        kind: crate::model::EndpointKind,
    ) -> Option<String> {
        let p = self
            .pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == pod)?;
        self.render_metrics(p.port(kind)?).map(|(_, body)| body)
    }

    /// `(traefik service, server URL)` of every ready backend pod of every Ingress.
    fn traefik_backends(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for g in &self.ingresses {
            let svc = &self.services[g.service];
            let name = crate::model::traefik_service(svc);
            let port = self.workloads[svc.workload].app_port;
            for p in self
                .pods
                .iter()
                .filter(|p| p.workload == svc.workload && p.is_ready(self.now_ms))
            {
                out.push((name.clone(), format!("http://{}:{port}", p.mesh_ip)));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
