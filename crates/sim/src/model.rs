//! The simulated cluster's domain model: nodes, workloads, pods, services, ingresses and the
//! traffic flows between them, plus the blueprint of the default "shop" cluster.

use std::collections::BTreeMap;

use crate::truth::Cells;

/// Kubernetes' own namespaces plus the ones of the simulated platform.
pub const NAMESPACES: [&str; 8] = [
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "linkerd",
    "ingress",
    "monitoring",
    "shop",
];
/// Namespace of the application.
pub const APP_NAMESPACE: &str = "shop";
/// Namespace of the Traefik ingress controller (the agent's `traefik_namespace`).
pub const INGRESS_NAMESPACE: &str = "ingress";
/// Namespace of the node-exporter DaemonSet.
pub const MONITORING_NAMESPACE: &str = "monitoring";
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The Linkerd version the proxies pretend to be (2.17: inbound series still carry `authority`).
pub const LINKERD_VERSION: &str = "edge-24.11.8";
pub const PROXY_VERSION: &str = "v2.268.0";
pub const KUBELET_VERSION: &str = "v1.33.4";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    DaemonSet,
    StatefulSet,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::StatefulSet => "StatefulSet",
        }
    }

    /// The Linkerd pod label suffix and Prometheus workload label (`deployment`, …).
    pub fn label(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployment",
            WorkloadKind::DaemonSet => "daemonset",
            WorkloadKind::StatefulSet => "statefulset",
        }
    }
}

/// What a workload's pods are, which decides their containers and metrics endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An application service with a Linkerd proxy.
    Mesh,
    /// The Traefik ingress controller (meshed too).
    Traefik,
    /// node_exporter, one per node.
    NodeExporter,
    /// A pod without metrics (control plane, CoreDNS, Redis).
    Plain,
}

/// Which exposition a metrics listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    LinkerdProxy,
    Traefik,
    NodeExporter,
}

impl EndpointKind {
    /// The container and the named port that point at the listener.
    pub fn container_and_port(self) -> (&'static str, &'static str) {
        match self {
            EndpointKind::LinkerdProxy => ("linkerd-proxy", "linkerd-admin"),
            EndpointKind::Traefik => ("traefik", "metrics"),
            EndpointKind::NodeExporter => ("node-exporter", "metrics"),
        }
    }
}

/// One ReplicaSet (or ControllerRevision) of a workload: a pod template.
#[derive(Debug, Clone)]
pub struct Revision {
    pub hash: String,
    pub uid: String,
    pub revision: u64,
    pub image: String,
    pub restarted_at: Option<String>,
    pub created_ms: i64,
    /// Pods of this revision answer with errors (a bad rollout).
    pub bad: bool,
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub created_ms: i64,
    pub replicas: u32,
    pub role: Role,
    pub meshed: bool,
    pub app_port: u16,
    pub generation: i64,
    /// The template as it is now; `revisions` holds every template it has had.
    pub image: String,
    pub restarted_at: Option<String>,
    pub revisions: Vec<Revision>,
    /// Extra labels set through the API.
    pub labels: BTreeMap<String, String>,
}

impl Workload {
    /// The revision matching the current template.
    pub fn current(&self) -> Option<&Revision> {
        self.revisions
            .iter()
            .find(|r| r.image == self.image && r.restarted_at == self.restarted_at)
    }

    pub fn service_account(&self) -> &str {
        &self.name
    }
}

/// How a container last ended.
#[derive(Debug, Clone)]
pub struct Terminated {
    pub reason: &'static str,
    pub exit_code: i32,
    pub started_ms: i64,
    pub finished_ms: i64,
}

/// A crash-looping container: when the kubelet will try again.
#[derive(Debug, Clone)]
pub struct Crashing {
    pub next_restart_ms: i64,
}

/// A metrics listener of a pod (a loopback port the agent scrapes).
#[derive(Debug, Clone)]
pub struct MetricsPort {
    pub kind: EndpointKind,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct Pod {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    /// Index into the cluster's workloads.
    pub workload: usize,
    pub revision_hash: String,
    pub node: Option<String>,
    pub created_ms: i64,
    /// When the app container last started.
    pub started_ms: i64,
    /// When the pod becomes ready (if nothing goes wrong before).
    pub ready_at_ms: i64,
    pub restarts: u32,
    pub last_terminated: Option<Terminated>,
    pub crashing: Option<Crashing>,
    /// An address for metric labels (`target_ip`, `dst_pod`'s endpoint): the API reports
    /// `status.podIP = 127.0.0.1`, where the listeners really are.
    pub mesh_ip: String,
    pub ordinal: Option<u32>,
    pub metrics: Vec<MetricsPort>,
    pub proxy: Option<ProxyCounters>,
    pub traefik: Option<TraefikCounters>,
}

impl Pod {
    pub fn is_ready(&self, now_ms: i64) -> bool {
        self.node.is_some() && self.crashing.is_none() && now_ms >= self.ready_at_ms
    }

    pub fn port(&self, kind: EndpointKind) -> Option<u16> {
        self.metrics.iter().find(|m| m.kind == kind).map(|m| m.port)
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub uid: String,
    pub created_ms: i64,
    pub ip: String,
    pub cpus: u32,
    pub memory_bytes: u64,
    pub unschedulable: bool,
    pub memory_pressure: bool,
    pub exporter: crate::nodeexp::NodeCounters,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub created_ms: i64,
    pub cluster_ip: String,
    pub port: u16,
    /// The workload whose pods back it (selector `app=<name>`).
    pub workload: usize,
}

#[derive(Debug, Clone)]
pub struct Ingress {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub created_ms: i64,
    pub host: String,
    /// Index into the cluster's services.
    pub service: usize,
}

impl Ingress {
    /// The Traefik router name of this Ingress' only rule (`provider.Normalize` of
    /// `<ns>-<name>-<host>`, with `@kubernetes`).
    pub fn router(&self) -> String {
        format!(
            "{}@kubernetes",
            normalize(&format!("{}-{}-{}", self.namespace, self.name, self.host))
        )
    }
}

/// The Traefik service name of a Kubernetes Service backend (`<ns>-<svc>-<port>@kubernetes`).
pub fn traefik_service(svc: &Service) -> String {
    format!(
        "{}@kubernetes",
        normalize(&format!("{}-{}-{}", svc.namespace, svc.name, svc.port))
    )
}

/// Traefik's `provider.Normalize`: every run of non-alphanumerics becomes one `-`.
fn normalize(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// One possible response of a flow, with its relative weight.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub method: &'static str,
    pub code: u16,
    pub weight: f64,
}

/// A stream of requests: from outside through an Ingress, or from a workload to a Service.
#[derive(Debug, Clone)]
pub struct Flow {
    /// `Some(ingress index)` for traffic entering through Traefik.
    pub ingress: Option<usize>,
    /// The client workload (Traefik for ingress flows).
    pub client: usize,
    /// The destination Service.
    pub service: usize,
    /// Requests per second at the daily peak.
    pub peak_rps: f64,
    /// Median latency (ms) and log-normal shape.
    pub median_ms: f64,
    pub sigma: f64,
    pub outcomes: Vec<Outcome>,
}

// ---------------------------------------------------------------------------------------------
// Metric counters kept per pod

/// Counts of one status code of one series: latency cells and the integer ms sum.
#[derive(Debug, Clone, Default)]
pub struct StatusCounts {
    pub cells: Cells,
    pub sum_ms: u64,
}

impl StatusCounts {
    pub fn count(&self) -> u64 {
        self.cells.iter().sum()
    }

    /// Adds another series' counts as they are (cells and latency sum).
    pub fn merge(&mut self, other: &StatusCounts) {
        for (mine, theirs) in self.cells.iter_mut().zip(&other.cells) {
            *mine += theirs;
        }
        self.sum_ms += other.sum_ms;
    }

    pub fn add(&mut self, cells: &Cells) {
        for (i, c) in cells.iter().enumerate() {
            self.cells[i] += c;
            self.sum_ms += c * crate::truth::cell_value_ms(i);
        }
    }
}

/// An HTTP series of the proxy: `request_total` plus responses by status code.
#[derive(Debug, Clone, Default)]
pub struct HttpSeries {
    pub requests: u64,
    pub statuses: BTreeMap<u16, StatusCounts>,
    /// Simulated time of the last request, for the proxy's idle expiry.
    pub last_ms: i64,
}

impl HttpSeries {
    pub fn add(&mut self, code: u16, cells: &Cells, now_ms: i64) {
        self.requests += cells.iter().sum::<u64>();
        self.statuses.entry(code).or_default().add(cells);
        self.last_ms = now_ms;
    }
}

/// How long a proxy keeps a series without traffic (`LINKERD2_PROXY_METRICS_RETAIN_IDLE`).
pub const RETAIN_IDLE_MS: i64 = 10 * 60 * 1000;

/// Inbound traffic of a proxy, keyed as the proxy keys it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InboundKey {
    pub authority: String,
    /// The client's mTLS identity; `None` for traffic from outside the mesh.
    pub client_id: Option<String>,
    pub target_port: u16,
}

/// The destination endpoint of an outbound series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DstPod {
    pub pod: String,
    pub workload_label: &'static str,
    pub workload: String,
    pub template_hash: String,
    pub serviceaccount: String,
    pub ip: String,
}

/// Outbound traffic of a proxy to one endpoint of a Service (`dst: None`: no endpoint was
/// available and the proxy failed fast).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OutboundKey {
    pub dst_namespace: String,
    pub dst_service: String,
    pub port: u16,
    pub dst: Option<DstPod>,
}

impl OutboundKey {
    pub fn authority(&self) -> String {
        format!(
            "{}.{}.svc.{CLUSTER_DOMAIN}:{}",
            self.dst_service, self.dst_namespace, self.port
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct ProxyCounters {
    pub start_ms: i64,
    pub inbound: BTreeMap<InboundKey, HttpSeries>,
    pub outbound: BTreeMap<OutboundKey, HttpSeries>,
}

impl ProxyCounters {
    /// Drops series idle for longer than [`RETAIN_IDLE_MS`], as the proxy does at scrape
    /// time: endpoints of deleted pods and failures that stopped vanish from the body.
    pub fn expire_idle(&mut self, now_ms: i64) {
        let keep = |s: &HttpSeries| now_ms - s.last_ms <= RETAIN_IDLE_MS;
        self.inbound.retain(|_, s| keep(s));
        self.outbound.retain(|_, s| keep(s));
    }
}

/// A Traefik series: (method, code, router, service).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TraefikKey {
    pub method: &'static str,
    pub code: u16,
    pub router: String,
    pub service: String,
}

#[derive(Debug, Clone, Default)]
pub struct TraefikCounters {
    pub start_ms: i64,
    pub series: BTreeMap<TraefikKey, StatusCounts>,
}

// ---------------------------------------------------------------------------------------------
// Blueprint

/// A workload of the blueprint.
pub struct WorkloadSpec {
    pub kind: WorkloadKind,
    pub namespace: &'static str,
    pub name: &'static str,
    pub replicas: u32,
    pub role: Role,
    pub image: &'static str,
    pub port: u16,
    /// Port of its Service, if it has one.
    pub service_port: Option<u16>,
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
pub fn workloads() -> Vec<WorkloadSpec> {
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
pub const INGRESSES: [(&str, &str, &str); 2] = [
    ("shop", "shop.example.com", "web"),
    ("shop-api", "api.shop.example.com", "api"),
];

/// One flow of the blueprint: (client workload, destination service or ingress name, peak rps,
/// median ms, sigma). A client of `traefik` with an ingress name is an ingress flow.
pub const FLOWS: [(&str, &str, f64, f64, f64); 10] = [
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
pub fn ingress_outcomes() -> Vec<Outcome> {
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
pub fn edge_outcomes() -> Vec<Outcome> {
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
