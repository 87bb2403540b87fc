//! Finding scrape targets through the Kubernetes API: meshed pods (container `linkerd-proxy`,
//! port `linkerd-admin`), Traefik pods and node_exporter pods, with the labels linkerd-viz's
//! Prometheus relabeling would attach (DESIGN.md §5.1, metrics-formats.md §1.6).
//!
//! The pure part (`*_targets`, `traefik_routes`) turns Kubernetes objects into targets and
//! is unit-tested; [`KubeDiscovery`] only lists the objects.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::scrape::{ScrapeTarget, TargetKind};

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    #[error("kubernetes client: {0}")]
    Client(String),
    /// A source that finds its targets through the Kubernetes API, with no client given.
    #[error("kubernetes client: {0} needs the Kubernetes API, and no client is configured")]
    NoClient(&'static str),
    #[error("list {what}: {source}")]
    List { what: String, source: kube::Error },
}

/// The container and port linkerd-viz's scrape job keeps.
const PROXY_CONTAINER: &str = "linkerd-proxy";
const PROXY_ADMIN_PORT: &str = "linkerd-admin";
/// The label the proxy injector puts on every meshed pod.
const CONTROL_PLANE_LABEL: &str = "linkerd.io/control-plane-ns";
/// Pod labels `linkerd.io/proxy-<kind>` name the pod's workload (`pkg/k8s/labels.go`).
const WORKLOAD_LABEL_PREFIX: &str = "linkerd.io/proxy-";
/// The named port Traefik's and node_exporter's charts expose metrics on.
const METRICS_PORT: &str = "metrics";

/// Builds a Kubernetes client: from `kubeconfig` when given, else in-cluster configuration or
/// `KUBECONFIG` / `~/.kube/config`, as kubectl does.
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, DiscoveryError> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| DiscoveryError::Kubeconfig {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(|e| DiscoveryError::Kubeconfig {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| DiscoveryError::Client(e.to_string()))?,
    };
    kube::Client::try_from(config).map_err(|e| DiscoveryError::Client(e.to_string()))
}

/// Lists the pods and ingresses the sources need.
#[derive(Clone)]
pub struct KubeDiscovery {
    client: kube::Client,
}

impl KubeDiscovery {
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    /// Pods in every namespace (or one, when `namespace` is given) matching `selector`.
    pub async fn pods(&self, namespace: Option<&str>, selector: &str) -> Result<Vec<Pod>, DiscoveryError> {
        let api: Api<Pod> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let params = ListParams::default().labels(selector);
        let list = api.list(&params).await.map_err(|e| DiscoveryError::List {
            what: format!(
                "pods in {} with {selector:?}",
                namespace.unwrap_or("all namespaces")
            ),
            source: e,
        })?;
        Ok(list.items)
    }

    /// Every Ingress, for mapping Traefik services to hosts.
    pub async fn ingresses(&self) -> Result<Vec<Ingress>, DiscoveryError> {
        let api: Api<Ingress> = Api::all(self.client.clone());
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| DiscoveryError::List {
                what: "ingresses in all namespaces".into(),
                source: e,
            })?;
        Ok(list.items)
    }
}

/// Label selector of meshed pods.
pub fn meshed_selector() -> &'static str {
    CONTROL_PLANE_LABEL
}

/// Scrape targets of meshed pods: Pending or Running, with a `linkerd-proxy` container and an
/// IP. The port is the container's `linkerd-admin` port, else `default_port`.
pub fn linkerd_targets(pods: &[Pod], default_port: u16) -> Vec<ScrapeTarget> {
    pods.iter()
        .filter(|pod| is_scrapable(pod))
        .filter_map(|pod| {
            let proxy = containers(pod).find(|c| c.name == PROXY_CONTAINER)?;
            let port = named_port(proxy, PROXY_ADMIN_PORT).unwrap_or(default_port);
            Some(target(pod, TargetKind::LinkerdProxy, port, relabel(pod)))
        })
        .collect()
}

/// Scrape targets of Traefik or node_exporter pods: the port named `metrics`, else
/// `default_port`.
pub fn metrics_targets(pods: &[Pod], kind: TargetKind, default_port: u16) -> Vec<ScrapeTarget> {
    pods.iter()
        .filter(|pod| is_scrapable(pod))
        .map(|pod| {
            let port = containers(pod)
                .find_map(|c| named_port(c, METRICS_PORT))
                .unwrap_or(default_port);
            let labels = vec![
                ("namespace".to_owned(), namespace(pod).to_owned()),
                ("pod".to_owned(), name(pod).to_owned()),
            ];
            target(pod, kind, port, labels)
        })
        .collect()
}

fn target(pod: &Pod, kind: TargetKind, port: u16, labels: Vec<(String, String)>) -> ScrapeTarget {
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .unwrap_or_default();
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_owned()
    };
    // A pod can be two targets (Traefik's own metrics and its proxy's): only proxies go by
    // the bare `namespace/pod`.
    let id = match kind {
        TargetKind::LinkerdProxy => format!("{}/{}", namespace(pod), name(pod)),
        other => format!("{}:{}/{}", other.as_str(), namespace(pod), name(pod)),
    };
    ScrapeTarget {
        kind,
        id,
        url: format!("http://{host}:{port}/metrics"),
        labels,
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
    }
}

/// The labels linkerd-viz's relabeling gives a proxy's series: `namespace`, `pod`, the workload
/// labels from `linkerd.io/proxy-<kind>` (`linkerd.io/proxy-job` becomes `k8s_job`), and the
/// other pod labels with their names sanitised.
fn relabel(pod: &Pod) -> Vec<(String, String)> {
    let mut labels = BTreeMap::new();
    for (key, value) in pod.metadata.labels.iter().flatten() {
        labels.insert(sanitise(key), value.clone());
    }
    for (key, value) in pod.metadata.labels.iter().flatten() {
        if let Some(kind) = key.strip_prefix(WORKLOAD_LABEL_PREFIX) {
            let name = if kind == "job" {
                "k8s_job".to_owned()
            } else {
                sanitise(kind)
            };
            labels.insert(name, value.clone());
        }
    }
    labels.insert("namespace".into(), namespace(pod).to_owned());
    labels.insert("pod".into(), name(pod).to_owned());
    labels.into_iter().collect()
}

/// Prometheus label names allow `[a-zA-Z0-9_]`; relabeling replaces everything else by `_`.
fn sanitise(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn is_scrapable(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref());
    let has_ip = status
        .and_then(|s| s.pod_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty());
    matches!(phase, Some("Pending" | "Running")) && has_ip && pod.metadata.deletion_timestamp.is_none()
}

fn containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    pod.spec.iter().flat_map(|s| s.containers.iter())
}

fn named_port(container: &Container, port_name: &str) -> Option<u16> {
    container
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some(port_name))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

/// Where a Traefik service's traffic goes: the Ingress host and backend it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraefikRoute {
    pub host: String,
    pub backend: String,
    pub namespace: String,
}

/// Maps Traefik's Ingress service names (`<ns>-<svc>-<port>@kubernetes`, normalised as
/// `provider.Normalize` does; metrics-formats.md §4.5) to the host and backend they serve. A
/// service reached through several hosts keeps the first one in name order.
pub fn traefik_routes(ingresses: &[Ingress]) -> HashMap<String, TraefikRoute> {
    let mut routes = HashMap::new();
    let mut sorted: Vec<&Ingress> = ingresses.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    for ingress in sorted {
        let ns = ingress.metadata.namespace.as_deref().unwrap_or("default");
        let rules = ingress.spec.iter().flat_map(|s| s.rules.iter().flatten());
        for rule in rules {
            let Some(host) = rule.host.as_deref() else {
                continue;
            };
            for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
                let Some(service) = path.backend.service.as_ref() else {
                    continue;
                };
                let port = service
                    .port
                    .as_ref()
                    .and_then(|p| p.number.map(|n| n.to_string()).or_else(|| p.name.clone()));
                let Some(port) = port else { continue };
                let key = format!(
                    "{}@kubernetes",
                    normalise(&format!("{ns}-{}-{port}", service.name))
                );
                routes.entry(key).or_insert_with(|| TraefikRoute {
                    host: host.to_owned(),
                    backend: service.name.clone(),
                    namespace: ns.to_owned(),
                });
            }
        }
    }
    routes
}

/// Traefik's `provider.Normalize`: split on every character that is not a letter or digit and
/// join the pieces with `-`.
fn normalise(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    fn meshed(name: &str, phase: &str, ip: Option<&str>) -> Pod {
        pod(serde_json::json!({
            "metadata": {"name": name, "namespace": "shop", "labels": {
                "app": "web", "pod-template-hash": "5b7f", "linkerd.io/control-plane-ns": "linkerd",
                "linkerd.io/proxy-deployment": "web", "linkerd.io/workload-ns": "shop"}},
            "spec": {"nodeName": "node-1", "containers": [
                {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]},
                {"name": "linkerd-proxy", "ports": [{"name": "linkerd-admin", "containerPort": 14191}]}]},
            "status": {"phase": phase, "podIP": ip}
        }))
    }

    #[test]
    fn meshed_pods_get_viz_labels_and_their_admin_port() {
        let targets = linkerd_targets(&[meshed("web-1", "Running", Some("10.1.3.93"))], 4191);
        let t = &targets[0];
        assert_eq!(t.url, "http://10.1.3.93:14191/metrics");
        assert_eq!(t.id, "shop/web-1");
        assert_eq!(t.node.as_deref(), Some("node-1"));
        let get = |k: &str| t.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("deployment"), Some("web"));
        assert_eq!(get("namespace"), Some("shop"));
        assert_eq!(get("pod"), Some("web-1"));
        assert_eq!(get("pod_template_hash"), Some("5b7f"));
        assert_eq!(get("app"), Some("web"));
    }

    #[test]
    fn pods_without_ip_or_finished_or_unmeshed_are_skipped() {
        let unmeshed = pod(serde_json::json!({
            "metadata": {"name": "x", "namespace": "shop"},
            "spec": {"containers": [{"name": "x"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.9"}
        }));
        let pods = [
            meshed("a", "Pending", None),
            meshed("b", "Succeeded", Some("10.0.0.2")),
            unmeshed,
        ];
        assert!(linkerd_targets(&pods, 4191).is_empty());
    }

    #[test]
    fn metrics_pods_use_the_named_port_else_the_default() {
        let named = pod(serde_json::json!({
            "metadata": {"name": "traefik-1", "namespace": "ingress"},
            "spec": {"containers": [{"name": "traefik", "ports": [{"name": "metrics", "containerPort": 19100}]}]},
            "status": {"phase": "Running", "podIP": "fd00::5"}
        }));
        let plain = pod(serde_json::json!({
            "metadata": {"name": "ne-1", "namespace": "monitoring"},
            "spec": {"nodeName": "n1", "containers": [{"name": "ne"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.7"}
        }));
        let t = metrics_targets(&[named, plain], TargetKind::Traefik, 9100);
        assert_eq!(t[0].url, "http://[fd00::5]:19100/metrics");
        assert_eq!(t[1].url, "http://10.0.0.7:9100/metrics");
        assert_eq!(t[1].node.as_deref(), Some("n1"));
    }

    #[test]
    fn traefik_services_map_to_ingress_hosts() {
        let ingress: Ingress = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "api_v2", "port": {"name": "http"}}}}
            ]}}]}
        }))
        .unwrap();
        let routes = traefik_routes(&[ingress]);
        assert_eq!(routes["shop-web-80@kubernetes"].host, "shop.example.com");
        assert_eq!(routes["shop-api-v2-http@kubernetes"].backend, "api_v2");
    }
}
