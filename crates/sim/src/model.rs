//! The simulated cluster's domain model: nodes, workloads, pods, services, ingresses, the
//! traffic flows between them, and the metric counters each pod keeps. What the default "shop"
//! cluster contains is in `cluster/blueprint.rs`.

use std::collections::BTreeMap;

use crate::truth::Cells;

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
