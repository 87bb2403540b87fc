//! [`SimCluster`]: the simulated cluster's state, its clock, the controllers that keep pods in
//! line with their workloads, the commands the Kubernetes API applies, and the scenarios.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::SimError;
use crate::kube::store::Store;
use crate::model::{
    self, EndpointKind, Flow, Ingress, MetricsPort, Node, Pod, ProxyCounters, Revision, Role, Service,
    TraefikCounters, Workload, WorkloadKind,
};
use crate::nodeexp::NodeCounters;
use crate::rng::{Rng, fnv};
use crate::scenario::{Fault, Scenario, ScenarioState, ScheduledScenario};
use crate::truth::Truth;

/// How a simulated cluster is built.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The cluster's name (kubeconfig context, node names stay `node-N`).
    pub name: String,
    pub seed: u64,
    /// Number of nodes, 1 to 9 (default 3).
    pub nodes: usize,
    /// Simulated time at creation, unix milliseconds.
    pub start_unix_ms: i64,
    /// The largest step [`SimCluster::advance`] takes; traffic rates are constant in a step.
    pub tick: Duration,
    /// Watch events kept for resuming watches; older resourceVersions get 410 Gone.
    pub watch_history: usize,
    /// Minutes of per-minute ground-truth snapshots kept for [`SimCluster::truth_between`].
    pub truth_history_minutes: usize,
    /// Bind a real loopback listener for every metrics port (false: made-up port numbers, for
    /// tests of the model alone).
    pub bind_listeners: bool,
}

impl SimConfig {
    /// Starts the simulated clock `history` before the wall clock, so that
    /// [`SimCluster::fill_history`] of the same duration ends at now (for live servers).
    pub fn ending_now(mut self, history: Duration) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.start_unix_ms = now - history.as_millis() as i64;
        self
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            name: "sim".to_owned(),
            seed: 1,
            nodes: 3,
            // 2026-01-05 00:00:00 UTC, a Monday.
            start_unix_ms: 1_767_571_200_000,
            tick: Duration::from_secs(10),
            watch_history: 5_000,
            truth_history_minutes: 48 * 60,
            bind_listeners: true,
        }
    }
}

/// Where metrics ports come from.
#[derive(Debug)]
enum Ports {
    Bind,
    Fake(u16),
}

/// A Kubernetes Event as the simulator keeps it (aggregated by object, reason and message).
#[derive(Debug, Clone)]
pub(crate) struct EventRec {
    pub name: String,
    pub namespace: String,
    pub kind: &'static str,
    pub api_version: &'static str,
    pub object_name: String,
    pub object_uid: String,
    pub event_type: &'static str,
    pub reason: &'static str,
    pub message: String,
    pub component: &'static str,
    pub host: Option<String>,
    pub count: i32,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// Events kept (the API server's TTL is an hour; a count is enough here).
const EVENTS_KEPT: usize = 400;
/// Old ReplicaSets kept per Deployment (`revisionHistoryLimit`).
const REVISION_HISTORY: usize = 10;
/// How long a new container takes to become ready.
const STARTUP_MS: i64 = 5_000;

/// The simulated cluster. Every change goes through `&mut self`; share it as [`SharedSim`].
pub struct SimCluster {
    pub(crate) cfg: SimConfig,
    pub(crate) now_ms: i64,
    pub(crate) rng: Rng,
    pub(crate) created_ms: i64,
    pub(crate) namespaces: Vec<(String, String)>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) workloads: Vec<Workload>,
    pub(crate) pods: Vec<Pod>,
    pub(crate) services: Vec<Service>,
    pub(crate) ingresses: Vec<Ingress>,
    pub(crate) flows: Vec<Flow>,
    pub(crate) truth: Truth,
    /// Cumulative truth at the end of each simulated minute, oldest first.
    truth_minutes: std::collections::VecDeque<Truth>,
    pub(crate) scenarios: Vec<ScheduledScenario>,
    pub(crate) events: Vec<EventRec>,
    pub(crate) store: Store,
    ports: Ports,
    /// Listeners bound for new pods, waiting for the server to serve them.
    pending_listeners: Vec<(u16, std::net::TcpListener)>,
    /// Ports of deleted pods, for the server to close.
    closed_ports: Vec<u16>,
    listeners_changed: Arc<Notify>,
    dirty: bool,
    next_scenario: u64,
}

/// The cluster shared between the HTTP server, the clock driver and tests.
pub type SharedSim = Arc<std::sync::Mutex<SimCluster>>;

impl std::fmt::Debug for SimCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCluster")
            .field("name", &self.cfg.name)
            .field("now_ms", &self.now_ms)
            .field("pods", &self.pods.len())
            .finish_non_exhaustive()
    }
}

impl SimCluster {
    pub fn new(cfg: SimConfig) -> Result<SimCluster, SimError> {
        if !(1..=9).contains(&cfg.nodes) {
            return Err(SimError::Config(format!(
                "nodes must be 1 to 9, not {}",
                cfg.nodes
            )));
        }
        if cfg.tick.is_zero() {
            return Err(SimError::Config("tick must not be zero".into()));
        }
        let mut rng = Rng::new(cfg.seed);
        let now = cfg.start_unix_ms;
        let created = now - 40 * 86_400_000;
        let namespaces = model::NAMESPACES
            .iter()
            .map(|n| ((*n).to_owned(), rng.uuid()))
            .collect();
        let nodes = (1..=cfg.nodes)
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
            .collect();
        let mut sim = SimCluster {
            ports: if cfg.bind_listeners {
                Ports::Bind
            } else {
                Ports::Fake(40_000)
            },
            store: Store::new(cfg.watch_history),
            cfg,
            now_ms: now,
            rng,
            created_ms: created,
            namespaces,
            nodes,
            workloads: Vec::new(),
            pods: Vec::new(),
            services: Vec::new(),
            ingresses: Vec::new(),
            flows: Vec::new(),
            truth_minutes: std::collections::VecDeque::new(),
            truth: Truth {
                at_ms: now,
                ..Truth::default()
            },
            scenarios: Vec::new(),
            events: Vec::new(),
            pending_listeners: Vec::new(),
            closed_ports: Vec::new(),
            listeners_changed: Arc::new(Notify::new()),
            dirty: true,
            next_scenario: 1,
        };
        sim.build_blueprint()?;
        sim.reconcile();
        // The initial pods have been running for a while: ready, started in the past.
        for i in 0..sim.pods.len() {
            let age = 3_600_000 + sim.rng.below(4 * 86_400_000) as i64;
            let p = &mut sim.pods[i];
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
        sim.events.clear();
        sim.sync_store();
        Ok(sim)
    }

    fn build_blueprint(&mut self) -> Result<(), SimError> {
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

    pub(crate) fn service_index(&self, namespace: &str, name: &str) -> Result<usize, SimError> {
        self.services
            .iter()
            .position(|s| s.namespace == namespace && s.name == name)
            .ok_or_else(|| SimError::NotFound {
                kind: "services",
                namespace: namespace.into(),
                name: name.into(),
            })
    }

    pub(crate) fn workload_index(&self, namespace: &str, name: &str) -> Result<usize, SimError> {
        self.workloads
            .iter()
            .position(|w| w.namespace == namespace && w.name == name)
            .ok_or_else(|| SimError::NotFound {
                kind: "workloads",
                namespace: namespace.into(),
                name: name.into(),
            })
    }

    fn deployment_index(&self, namespace: &str, name: &str) -> Result<usize, SimError> {
        let i = self.workload_index(namespace, name)?;
        if self.workloads[i].kind != WorkloadKind::Deployment {
            return Err(SimError::NotFound {
                kind: "deployments",
                namespace: namespace.into(),
                name: name.into(),
            });
        }
        Ok(i)
    }

    // -----------------------------------------------------------------------------------------
    // Accessors

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Simulated time, unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The exact ground truth, cumulative since the start (take two and use [`Truth::since`]).
    pub fn truth(&self) -> Truth {
        self.truth.clone()
    }

    /// The cumulative truth as it was at `at_ms`: the latest minute snapshot at or before it
    /// (the start of the simulation counts as empty), or the current truth for `at_ms` now or
    /// later. `None` when `at_ms` is older than the kept snapshots.
    pub fn truth_at(&self, at_ms: i64) -> Option<Truth> {
        if at_ms >= self.now_ms {
            return Some(self.truth.clone());
        }
        if let Some(t) = self.truth_minutes.iter().rev().find(|t| t.at_ms <= at_ms) {
            return Some(t.clone());
        }
        let complete = self.truth_minutes.len() < self.cfg.truth_history_minutes;
        (complete && at_ms >= self.cfg.start_unix_ms).then(|| Truth {
            at_ms: self.cfg.start_unix_ms,
            ..Truth::default()
        })
    }

    /// The traffic between two moments, to the minute (see [`truth_at`](Self::truth_at)).
    pub fn truth_between(&self, from_ms: i64, to_ms: i64) -> Option<Truth> {
        Some(self.truth_at(to_ms)?.since(&self.truth_at(from_ms)?))
    }

    /// Every scheduled scenario, past, present and future.
    pub fn scenarios(&self) -> &[ScheduledScenario] {
        &self.scenarios
    }

    /// The Kubernetes object store (current objects and the watch log).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Adds an object the model does not render (a Secret with data, a Job, a PV, extra pods
    /// for a measurement) to the API as it is given, with a new resourceVersion and a watch
    /// event; it stays until replaced. The JSON needs `metadata.name` (and
    /// `metadata.namespace` for namespaced kinds).
    pub fn put_object(
        &mut self,
        kind: crate::kube::kinds::Kind,
        object: serde_json::Value,
    ) -> Result<(), SimError> {
        let meta = object.get("metadata");
        let text = |key: &str| {
            meta.and_then(|m| m.get(key))
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let (name, namespace) = (text("name"), text("namespace"));
        if name.is_empty() {
            return Err(SimError::Invalid("metadata.name is required".into()));
        }
        let info = kind.info();
        if info.namespaced == namespace.is_empty() {
            return Err(SimError::Invalid(format!(
                "{} {}: metadata.namespace {}",
                info.plural,
                name,
                if info.namespaced {
                    "is required"
                } else {
                    "must be empty"
                }
            )));
        }
        self.store.pin(kind, &namespace, &name, object);
        Ok(())
    }

    /// `(namespace, pod, endpoint kind, port)` of every metrics listener.
    pub fn metrics_endpoints(&self) -> Vec<(String, String, EndpointKind, u16)> {
        self.pods
            .iter()
            .flat_map(|p| {
                p.metrics
                    .iter()
                    .map(|m| (p.namespace.clone(), p.name.clone(), m.kind, m.port))
            })
            .collect()
    }

    /// Names of the pods of a workload, in creation order.
    pub fn pod_names(&self, namespace: &str, workload: &str) -> Vec<String> {
        self.pods
            .iter()
            .filter(|p| p.namespace == namespace && self.workloads[p.workload].name == workload)
            .map(|p| p.name.clone())
            .collect()
    }

    pub(crate) fn listeners_notify(&self) -> Arc<Notify> {
        self.listeners_changed.clone()
    }

    /// Listeners bound for new pods and ports of deleted ones, for the server.
    pub(crate) fn take_listener_changes(&mut self) -> (Vec<(u16, std::net::TcpListener)>, Vec<u16>) {
        (
            std::mem::take(&mut self.pending_listeners),
            std::mem::take(&mut self.closed_ports),
        )
    }

    // -----------------------------------------------------------------------------------------
    // Time

    /// Moves simulated time forward by `d`, in steps of at most the configured tick.
    pub fn advance(&mut self, d: Duration) {
        self.advance_with_tick(d, self.cfg.tick, true);
    }

    /// Like [`advance`](Self::advance) with coarse one-minute steps: fills hours or days of
    /// history quickly (the ground truth stays exact; rates are just constant per minute).
    /// The Kubernetes objects are brought up to date once at the end, so a watch open
    /// meanwhile sees the outcome, not every intermediate state.
    pub fn fill_history(&mut self, d: Duration) {
        self.advance_with_tick(d, self.cfg.tick.max(Duration::from_secs(60)), false);
    }

    fn advance_with_tick(&mut self, d: Duration, tick: Duration, sync_each_step: bool) {
        let end = self.now_ms + d.as_millis() as i64;
        let tick_ms = tick.as_millis().max(1) as i64;
        while self.now_ms < end {
            let dt = tick_ms.min(end - self.now_ms);
            self.step(dt, sync_each_step);
        }
        self.truth.at_ms = self.now_ms;
        if self.dirty {
            self.sync_store();
        }
    }

    fn step(&mut self, dt_ms: i64, sync: bool) {
        self.scenario_transitions();
        crate::traffic::run(self, dt_ms);
        self.advance_nodes(dt_ms);
        let before = self.now_ms;
        self.now_ms += dt_ms;
        for proxy in self.pods.iter_mut().filter_map(|p| p.proxy.as_mut()) {
            proxy.expire_idle(self.now_ms);
        }
        self.lifecycle(before);
        self.reconcile();
        self.truth.at_ms = self.now_ms;
        self.snapshot_truth(before);
        if sync && self.dirty {
            self.sync_store();
        }
    }

    /// Keeps the truth of every minute boundary crossed by the step that started at `before`.
    fn snapshot_truth(&mut self, before: i64) {
        if before.div_euclid(60_000) == self.now_ms.div_euclid(60_000) || self.cfg.truth_history_minutes == 0
        {
            return;
        }
        self.truth_minutes.push_back(self.truth.clone());
        while self.truth_minutes.len() > self.cfg.truth_history_minutes {
            self.truth_minutes.pop_front();
        }
    }

    fn advance_nodes(&mut self, dt_ms: i64) {
        let shape = crate::traffic::daily_shape(self.now_ms);
        for i in 0..self.nodes.len() {
            let pods = self
                .pods
                .iter()
                .filter(|p| p.node.as_deref() == Some(&self.nodes[i].name))
                .count();
            let busy = 0.08 + 0.45 * shape + 0.01 * pods as f64;
            let load = crate::nodeexp::Load {
                busy,
                memory_pressure: self.nodes[i].memory_pressure,
            };
            let memory = self.nodes[i].memory_bytes;
            let mut rng = self.rng.fork(i as u64);
            self.nodes[i]
                .exporter
                .advance(dt_ms as f64 / 1000.0, &load, memory, &mut rng);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Scenarios

    /// Schedules a scenario, starting `start_in_secs` from now; returns its id.
    pub fn schedule(&mut self, scenario: Scenario) -> Result<u64, SimError> {
        self.check_fault(&scenario.fault)?;
        let id = self.next_scenario;
        self.next_scenario += 1;
        let start_ms = self.now_ms + scenario.start_in_secs as i64 * 1000;
        self.scenarios.push(ScheduledScenario {
            id,
            name: scenario.fault.name().to_owned(),
            entity: scenario.fault.entity(),
            fault: scenario.fault,
            start_ms,
            end_ms: start_ms + scenario.duration_secs as i64 * 1000,
            state: ScenarioState::Pending,
        });
        // A scenario starting now takes effect before the next traffic is drawn.
        self.scenario_transitions();
        if self.dirty {
            self.sync_store();
        }
        Ok(id)
    }

    fn check_fault(&self, fault: &Fault) -> Result<(), SimError> {
        let ratio_ok = |r: f64| (0.0..=1.0).contains(&r);
        match fault {
            Fault::ErrorSpike {
                namespace,
                service,
                error_ratio,
            } => {
                self.service_index(namespace, service)?;
                if !ratio_ok(*error_ratio) {
                    return Err(SimError::Invalid(format!(
                        "error_ratio {error_ratio} is not within 0 to 1"
                    )));
                }
            }
            Fault::LatencyRegression {
                namespace,
                service,
                factor,
            } => {
                self.service_index(namespace, service)?;
                if !(*factor > 0.0 && factor.is_finite()) {
                    return Err(SimError::Invalid(format!("factor {factor} must be positive")));
                }
            }
            Fault::CrashLoop {
                namespace,
                deployment,
            }
            | Fault::OomKill {
                namespace,
                deployment,
            } => {
                self.deployment_index(namespace, deployment)?;
            }
            Fault::BadRollout {
                namespace,
                deployment,
                error_ratio,
            } => {
                self.deployment_index(namespace, deployment)?;
                if !ratio_ok(*error_ratio) {
                    return Err(SimError::Invalid(format!(
                        "error_ratio {error_ratio} is not within 0 to 1"
                    )));
                }
            }
            Fault::NodeMemoryPressure { node } => {
                if !self.nodes.iter().any(|n| &n.name == node) {
                    return Err(SimError::NotFound {
                        kind: "nodes",
                        namespace: String::new(),
                        name: node.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    fn scenario_transitions(&mut self) {
        for i in 0..self.scenarios.len() {
            let (state, start, end) = (
                self.scenarios[i].state,
                self.scenarios[i].start_ms,
                self.scenarios[i].end_ms,
            );
            if state == ScenarioState::Pending && self.now_ms >= start {
                self.scenarios[i].state = ScenarioState::Active;
                let fault = self.scenarios[i].fault.clone();
                self.activate(&fault);
            }
            if self.scenarios[i].state == ScenarioState::Active && self.now_ms >= end {
                self.scenarios[i].state = ScenarioState::Done;
                let fault = self.scenarios[i].fault.clone();
                self.deactivate(&fault);
            }
        }
    }

    pub(crate) fn active_faults(&self) -> impl Iterator<Item = &Fault> {
        self.scenarios.iter().filter(|s| s.is_active()).map(|s| &s.fault)
    }

    fn crash_looping(&self, workload: usize) -> bool {
        let w = &self.workloads[workload];
        self.active_faults().any(
            |f| matches!(f, Fault::CrashLoop { namespace, deployment } if *namespace == w.namespace && *deployment == w.name),
        )
    }

    fn activate(&mut self, fault: &Fault) {
        self.dirty = true;
        match fault {
            Fault::CrashLoop {
                namespace,
                deployment,
            } => {
                let Ok(w) = self.workload_index(namespace, deployment) else {
                    return;
                };
                for i in 0..self.pods.len() {
                    if self.pods[i].workload == w {
                        self.crash(i);
                    }
                }
            }
            Fault::NodeMemoryPressure { node } => {
                if let Some(n) = self.nodes.iter_mut().find(|n| &n.name == node) {
                    n.memory_pressure = true;
                    let (name, uid) = (n.name.clone(), n.uid.clone());
                    self.node_event(
                        &name,
                        &uid,
                        "Normal",
                        "NodeHasInsufficientMemory",
                        format!("Node {name} status is now: NodeHasInsufficientMemory"),
                    );
                }
            }
            Fault::BadRollout {
                namespace,
                deployment,
                ..
            } => {
                let Ok(w) = self.workload_index(namespace, deployment) else {
                    return;
                };
                let image = bumped_image(&self.workloads[w].image);
                self.set_template(w, image, self.workloads[w].restarted_at.clone(), true);
            }
            Fault::ErrorSpike { .. } | Fault::LatencyRegression { .. } | Fault::OomKill { .. } => {}
        }
    }

    fn deactivate(&mut self, fault: &Fault) {
        self.dirty = true;
        match fault {
            Fault::CrashLoop {
                namespace,
                deployment,
            } => {
                let Ok(w) = self.workload_index(namespace, deployment) else {
                    return;
                };
                let now = self.now_ms;
                for p in self
                    .pods
                    .iter_mut()
                    .filter(|p| p.workload == w && p.crashing.is_some())
                {
                    p.crashing = None;
                    p.started_ms = now;
                    p.ready_at_ms = now + STARTUP_MS;
                }
            }
            Fault::NodeMemoryPressure { node } => {
                if let Some(n) = self.nodes.iter_mut().find(|n| &n.name == node) {
                    n.memory_pressure = false;
                    let (name, uid) = (n.name.clone(), n.uid.clone());
                    self.node_event(
                        &name,
                        &uid,
                        "Normal",
                        "NodeHasSufficientMemory",
                        format!("Node {name} status is now: NodeHasSufficientMemory"),
                    );
                }
            }
            Fault::BadRollout {
                namespace,
                deployment,
                ..
            } => {
                // Roll back: the newest good revision's template comes back.
                let Ok(w) = self.workload_index(namespace, deployment) else {
                    return;
                };
                let good = self.workloads[w]
                    .revisions
                    .iter()
                    .filter(|r| !r.bad)
                    .max_by_key(|r| r.revision)
                    .cloned();
                if let Some(good) = good {
                    self.set_template(w, good.image, good.restarted_at, false);
                }
            }
            Fault::ErrorSpike { .. } | Fault::LatencyRegression { .. } | Fault::OomKill { .. } => {}
        }
    }

    // -----------------------------------------------------------------------------------------
    // Pod lifecycle

    /// Makes pod `i`'s container exit and enter CrashLoopBackOff.
    fn crash(&mut self, i: usize) {
        let now = self.now_ms;
        let p = &mut self.pods[i];
        p.restarts += 1;
        p.last_terminated = Some(model::Terminated {
            reason: "Error",
            exit_code: 1,
            started_ms: p.started_ms,
            finished_ms: now,
        });
        let backoff = (10_000i64 << p.restarts.min(5)).min(300_000);
        p.crashing = Some(model::Crashing {
            next_restart_ms: now + backoff,
        });
        let message = format!(
            "Back-off restarting failed container app in pod {}_{}({})",
            p.name, p.namespace, p.uid
        );
        self.pod_event(i, "Warning", "BackOff", message, "kubelet");
        self.dirty = true;
    }

    fn lifecycle(&mut self, before: i64) {
        let now = self.now_ms;
        let oom: Vec<usize> = self
            .active_faults()
            .filter_map(|f| match f {
                Fault::OomKill {
                    namespace,
                    deployment,
                } => self.workload_index(namespace, deployment).ok(),
                _ => None,
            })
            .collect();
        for i in 0..self.pods.len() {
            let w = self.pods[i].workload;
            if let Some(c) = &self.pods[i].crashing {
                if now >= c.next_restart_ms {
                    // The kubelet restarts it; it exits again a moment later.
                    self.pods[i].started_ms = now;
                    self.crash(i);
                }
                continue;
            }
            if self.pods[i].ready_at_ms > before && self.pods[i].ready_at_ms <= now {
                self.dirty = true;
            }
            if oom.contains(&w) && self.pods[i].is_ready(now) {
                let dt = (now - before) as f64;
                if self.rng.f64() < dt / 180_000.0 {
                    self.oom_kill(i);
                }
            }
        }
    }

    fn oom_kill(&mut self, i: usize) {
        let now = self.now_ms;
        let p = &mut self.pods[i];
        p.restarts += 1;
        p.last_terminated = Some(model::Terminated {
            reason: "OOMKilled",
            exit_code: 137,
            started_ms: p.started_ms,
            finished_ms: now,
        });
        p.started_ms = now + 1_000;
        p.ready_at_ms = now + 1_000 + STARTUP_MS;
        let node = p.node.clone().unwrap_or_default();
        let pid = 1000 + self.rng.below(30_000);
        if let Some((name, uid)) = self
            .nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| (n.name.clone(), n.uid.clone()))
        {
            let message = format!(
                "Memory cgroup out of memory: Killed process {pid} (app) total-vm:1843212kB, anon-rss:524288kB, file-rss:0kB, shmem-rss:0kB"
            );
            self.node_event(&name, &uid, "Warning", "OOMKilling", message);
        }
        self.pod_event(
            i,
            "Normal",
            "Pulled",
            "Container image already present on machine".to_owned(),
            "kubelet",
        );
        self.pod_event(
            i,
            "Normal",
            "Started",
            "Started container app".to_owned(),
            "kubelet",
        );
        self.dirty = true;
    }

    // -----------------------------------------------------------------------------------------
    // Controllers

    /// Brings pods in line with every workload: rollouts, scaling, DaemonSet pods per node,
    /// scheduling of pending pods.
    fn reconcile(&mut self) {
        for w in 0..self.workloads.len() {
            match self.workloads[w].kind {
                WorkloadKind::Deployment => self.reconcile_deployment(w),
                WorkloadKind::StatefulSet => self.reconcile_statefulset(w),
                WorkloadKind::DaemonSet => self.reconcile_daemonset(w),
            }
        }
        self.schedule_pending();
    }

    fn ensure_revision(&mut self, w: usize, bad: bool) -> String {
        let (image, restarted) = (
            self.workloads[w].image.clone(),
            self.workloads[w].restarted_at.clone(),
        );
        if let Some(r) = self.workloads[w].current() {
            return r.hash.clone();
        }
        let wl = &self.workloads[w];
        let hash = template_hash(&format!("{}/{}/{}/{:?}", wl.namespace, wl.name, image, restarted));
        let revision = wl.revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
        let uid = self.rng.uuid();
        self.workloads[w].revisions.push(Revision {
            hash: hash.clone(),
            uid,
            revision,
            image,
            restarted_at: restarted,
            created_ms: self.now_ms,
            bad,
        });
        // revisionHistoryLimit: 10 old ReplicaSets are kept, the oldest unused ones go.
        while self.workloads[w].revisions.len() > REVISION_HISTORY + 1 {
            let used = |r: &Revision| {
                r.hash == hash
                    || self
                        .pods
                        .iter()
                        .any(|p| p.workload == w && p.revision_hash == r.hash)
            };
            let Some(i) = self.workloads[w].revisions.iter().position(|r| !used(r)) else {
                break;
            };
            self.workloads[w].revisions.remove(i);
        }
        self.dirty = true;
        hash
    }

    fn reconcile_deployment(&mut self, w: usize) {
        let hash = self.ensure_revision(w, false);
        let desired = self.workloads[w].replicas as usize;
        let current: Vec<usize> = (0..self.pods.len())
            .filter(|&i| self.pods[i].workload == w && self.pods[i].revision_hash == hash)
            .collect();
        if current.len() < desired {
            let rs = format!("{}-{hash}", self.workloads[w].name);
            self.deployment_event(
                w,
                format!("Scaled up replica set {rs} from {} to {desired}", current.len()),
            );
            for _ in current.len()..desired {
                self.create_pod(w, &hash, None, None);
            }
        } else if current.len() > desired {
            let rs = format!("{}-{hash}", self.workloads[w].name);
            self.deployment_event(
                w,
                format!("Scaled down replica set {rs} from {} to {desired}", current.len()),
            );
            let extra: Vec<String> = current[desired..]
                .iter()
                .map(|&i| self.pods[i].uid.clone())
                .collect();
            for uid in extra {
                self.remove_pod(&uid);
            }
        }
        // Old revisions go once the new one is fully ready (maxSurge 100%).
        let now = self.now_ms;
        let ready = self
            .pods
            .iter()
            .filter(|p| p.workload == w && p.revision_hash == hash && p.is_ready(now))
            .count();
        let old: Vec<(String, String)> = self
            .pods
            .iter()
            .filter(|p| p.workload == w && p.revision_hash != hash)
            .map(|p| (p.uid.clone(), p.revision_hash.clone()))
            .collect();
        if ready >= desired && !old.is_empty() {
            let mut hashes: Vec<&String> = old.iter().map(|(_, h)| h).collect();
            hashes.dedup();
            for h in hashes {
                let rs = format!("{}-{h}", self.workloads[w].name);
                self.deployment_event(w, format!("Scaled down replica set {rs} to 0"));
            }
            for (uid, _) in old {
                self.remove_pod(&uid);
            }
        }
    }

    fn reconcile_statefulset(&mut self, w: usize) {
        let hash = self.ensure_revision(w, false);
        for ordinal in 0..self.workloads[w].replicas {
            if !self
                .pods
                .iter()
                .any(|p| p.workload == w && p.ordinal == Some(ordinal))
            {
                self.create_pod(w, &hash, None, Some(ordinal));
            }
        }
        let extra: Vec<String> = self
            .pods
            .iter()
            .filter(|p| p.workload == w && p.ordinal.is_some_and(|o| o >= self.workloads[w].replicas))
            .map(|p| p.uid.clone())
            .collect();
        for uid in extra {
            self.remove_pod(&uid);
        }
    }

    fn reconcile_daemonset(&mut self, w: usize) {
        let hash = self.ensure_revision(w, false);
        self.workloads[w].replicas = self.nodes.len() as u32;
        let nodes: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for node in nodes {
            if !self
                .pods
                .iter()
                .any(|p| p.workload == w && p.node.as_deref() == Some(&node))
            {
                self.create_pod(w, &hash, Some(node), None);
            }
        }
    }

    fn schedule_pending(&mut self) {
        for i in 0..self.pods.len() {
            if self.pods[i].node.is_some() {
                continue;
            }
            match self.pick_node() {
                Some(node) => {
                    let message = format!(
                        "Successfully assigned {}/{} to {node}",
                        self.pods[i].namespace, self.pods[i].name
                    );
                    self.pods[i].node = Some(node);
                    self.pods[i].started_ms = self.now_ms + 2_000;
                    self.pods[i].ready_at_ms = self.now_ms + STARTUP_MS;
                    self.pod_event(i, "Normal", "Scheduled", message, "default-scheduler");
                }
                None => {
                    // The scheduler retries with back-off; one event a minute is plenty.
                    let uid = &self.pods[i].uid;
                    let recent = self.events.iter().any(|e| {
                        e.object_uid == *uid
                            && e.reason == "FailedScheduling"
                            && self.now_ms - e.last_ms < 60_000
                    });
                    if recent {
                        continue;
                    }
                    let n = self.nodes.len();
                    let message = format!(
                        "0/{n} nodes are available: {n} node(s) were unschedulable or had untolerated taints. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
                    );
                    self.pod_event(i, "Warning", "FailedScheduling", message, "default-scheduler");
                }
            }
            self.dirty = true;
        }
    }

    /// The schedulable node with the fewest pods.
    fn pick_node(&self) -> Option<String> {
        self.nodes
            .iter()
            .filter(|n| !n.unschedulable && !n.memory_pressure)
            .min_by_key(|n| {
                self.pods
                    .iter()
                    .filter(|p| p.node.as_deref() == Some(&n.name))
                    .count()
            })
            .map(|n| n.name.clone())
    }

    fn create_pod(&mut self, w: usize, hash: &str, node: Option<String>, ordinal: Option<u32>) {
        let wl = &self.workloads[w];
        let name = match (wl.kind, ordinal) {
            (_, Some(o)) => format!("{}-{o}", wl.name),
            (WorkloadKind::DaemonSet, _) => format!("{}-{}", wl.name, self.rng.word(5)),
            _ => format!("{}-{hash}-{}", wl.name, self.rng.word(5)),
        };
        let (role, meshed, namespace) = (wl.role, wl.meshed, wl.namespace.clone());
        let mut kinds = Vec::new();
        if meshed {
            kinds.push(EndpointKind::LinkerdProxy);
        }
        match role {
            Role::Traefik => kinds.push(EndpointKind::Traefik),
            Role::NodeExporter => kinds.push(EndpointKind::NodeExporter),
            Role::Mesh | Role::Plain => {}
        }
        let metrics = kinds
            .into_iter()
            .filter_map(|kind| self.allocate_port().map(|port| MetricsPort { kind, port }))
            .collect();
        let n = self.pods.len() as u64 + self.rng.below(1000);
        let now = self.now_ms;
        let pod = Pod {
            uid: self.rng.uuid(),
            name,
            namespace,
            workload: w,
            revision_hash: hash.to_owned(),
            node: None,
            created_ms: now,
            started_ms: now + 2_000,
            ready_at_ms: now + STARTUP_MS,
            restarts: 0,
            last_terminated: None,
            crashing: None,
            mesh_ip: format!("10.42.{}.{}", 1 + n % 9, 2 + (n * 7) % 250),
            ordinal,
            metrics,
            proxy: meshed.then(|| ProxyCounters {
                start_ms: now + 1_000,
                ..ProxyCounters::default()
            }),
            traefik: (role == Role::Traefik).then(|| TraefikCounters {
                start_ms: now + 1_000,
                ..TraefikCounters::default()
            }),
        };
        self.pods.push(pod);
        let i = self.pods.len() - 1;
        let owner = self.owner_of(i);
        self.owner_event(w, owner, format!("Created pod: {}", self.pods[i].name));
        if let Some(node) = node {
            let message = format!(
                "Successfully assigned {}/{} to {node}",
                self.pods[i].namespace, self.pods[i].name
            );
            self.pods[i].node = Some(node);
            self.pod_event(i, "Normal", "Scheduled", message, "default-scheduler");
        }
        if self.crash_looping(w) {
            self.pods[i].started_ms = now;
            self.crash(i);
        }
        self.dirty = true;
    }

    /// (kind, name, uid) of the controller that owns pod `i`.
    pub(crate) fn owner_of(&self, i: usize) -> (&'static str, String, String) {
        let p = &self.pods[i];
        let w = &self.workloads[p.workload];
        match w.kind {
            WorkloadKind::Deployment => {
                let uid = w
                    .revisions
                    .iter()
                    .find(|r| r.hash == p.revision_hash)
                    .map(|r| r.uid.clone())
                    .unwrap_or_default();
                ("ReplicaSet", format!("{}-{}", w.name, p.revision_hash), uid)
            }
            kind => (kind.as_str(), w.name.clone(), w.uid.clone()),
        }
    }

    fn owner_event(&mut self, w: usize, owner: (&'static str, String, String), message: String) {
        let (kind, name, uid) = owner;
        let controller = match self.workloads[w].kind {
            WorkloadKind::Deployment => "replicaset-controller",
            WorkloadKind::StatefulSet => "statefulset-controller",
            WorkloadKind::DaemonSet => "daemonset-controller",
        };
        let ns = self.workloads[w].namespace.clone();
        self.event(
            ns,
            kind,
            "apps/v1",
            name,
            uid,
            "Normal",
            "SuccessfulCreate",
            message,
            controller,
            None,
        );
    }

    fn remove_pod(&mut self, uid: &str) {
        let Some(i) = self.pods.iter().position(|p| p.uid == uid) else {
            return;
        };
        self.pod_event(
            i,
            "Normal",
            "Killing",
            "Stopping container app".to_owned(),
            "kubelet",
        );
        let pod = self.pods.remove(i);
        for m in pod.metrics {
            self.closed_ports.push(m.port);
        }
        self.listeners_changed.notify_one();
        self.dirty = true;
    }

    fn allocate_port(&mut self) -> Option<u16> {
        match &mut self.ports {
            Ports::Fake(next) => {
                *next += 1;
                Some(*next)
            }
            Ports::Bind => match std::net::TcpListener::bind(("127.0.0.1", 0)) {
                Ok(listener) => {
                    let port = listener.local_addr().ok()?.port();
                    self.pending_listeners.push((port, listener));
                    self.listeners_changed.notify_one();
                    Some(port)
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot bind a metrics listener on 127.0.0.1");
                    None
                }
            },
        }
    }

    fn set_template(&mut self, w: usize, image: String, restarted_at: Option<String>, bad: bool) {
        let wl = &mut self.workloads[w];
        if wl.image == image && wl.restarted_at == restarted_at {
            return;
        }
        wl.image = image;
        wl.restarted_at = restarted_at;
        wl.generation += 1;
        if wl.current().is_some() {
            // Rolling back to an older template: its ReplicaSet becomes the newest revision.
            let next = wl.revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
            let (image, restarted) = (wl.image.clone(), wl.restarted_at.clone());
            if let Some(r) = wl
                .revisions
                .iter_mut()
                .find(|r| r.image == image && r.restarted_at == restarted)
            {
                r.revision = next;
            }
        } else {
            self.ensure_revision(w, bad);
        }
        self.dirty = true;
        self.reconcile();
    }

    // -----------------------------------------------------------------------------------------
    // Commands (what the Kubernetes API's write verbs do)

    /// Sets a Deployment's or StatefulSet's replicas; pods (and their traffic and metrics
    /// listeners) follow at once.
    pub fn scale(&mut self, namespace: &str, name: &str, replicas: u32) -> Result<(), SimError> {
        if replicas > 50 {
            return Err(SimError::Invalid(format!(
                "replicas {replicas} is more than the simulator's limit of 50"
            )));
        }
        let w = self.workload_index(namespace, name)?;
        if self.workloads[w].kind == WorkloadKind::DaemonSet {
            return Err(SimError::Invalid(format!(
                "daemonset {namespace}/{name} cannot be scaled"
            )));
        }
        if self.workloads[w].replicas != replicas {
            self.workloads[w].replicas = replicas;
            self.workloads[w].generation += 1;
            self.dirty = true;
            self.reconcile();
            self.sync_store();
        }
        Ok(())
    }

    /// Cordons (`true`) or uncordons a node.
    pub fn cordon(&mut self, node: &str, unschedulable: bool) -> Result<(), SimError> {
        let n = self
            .nodes
            .iter_mut()
            .find(|n| n.name == node)
            .ok_or_else(|| SimError::NotFound {
                kind: "nodes",
                namespace: String::new(),
                name: node.into(),
            })?;
        if n.unschedulable != unschedulable {
            n.unschedulable = unschedulable;
            let (name, uid) = (n.name.clone(), n.uid.clone());
            let reason = if unschedulable {
                "NodeNotSchedulable"
            } else {
                "NodeSchedulable"
            };
            self.node_event(
                &name,
                &uid,
                "Normal",
                reason,
                format!("Node {name} status is now: {reason}"),
            );
            self.dirty = true;
            self.reconcile();
            self.sync_store();
        }
        Ok(())
    }

    /// Deletes a pod; its controller creates a replacement (under a new name, except for
    /// StatefulSets).
    pub fn delete_pod(&mut self, namespace: &str, name: &str) -> Result<(), SimError> {
        let uid = self
            .pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
            .map(|p| p.uid.clone())
            .ok_or_else(|| SimError::NotFound {
                kind: "pods",
                namespace: namespace.into(),
                name: name.into(),
            })?;
        self.remove_pod(&uid);
        self.reconcile();
        self.sync_store();
        Ok(())
    }

    /// `kubectl rollout restart`: a new `restartedAt` annotation, hence a new ReplicaSet.
    pub fn restart(&mut self, namespace: &str, name: &str, restarted_at: &str) -> Result<(), SimError> {
        let w = self.deployment_index(namespace, name)?;
        let image = self.workloads[w].image.clone();
        self.set_template(w, image, Some(restarted_at.to_owned()), false);
        self.sync_store();
        Ok(())
    }

    /// Sets a Deployment's container image: a rollout.
    pub fn set_image(&mut self, namespace: &str, name: &str, image: &str) -> Result<(), SimError> {
        if image.is_empty() {
            return Err(SimError::Invalid("image must not be empty".into()));
        }
        let w = self.deployment_index(namespace, name)?;
        let restarted = self.workloads[w].restarted_at.clone();
        self.set_template(w, image.to_owned(), restarted, false);
        self.sync_store();
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Events

    pub(crate) fn pod_event(
        &mut self,
        i: usize,
        kind: &'static str,
        reason: &'static str,
        message: String,
        component: &'static str,
    ) {
        let p = &self.pods[i];
        let (ns, name, uid, host) = (p.namespace.clone(), p.name.clone(), p.uid.clone(), p.node.clone());
        self.event(ns, "Pod", "v1", name, uid, kind, reason, message, component, host);
    }

    fn node_event(
        &mut self,
        node: &str,
        uid: &str,
        kind: &'static str,
        reason: &'static str,
        message: String,
    ) {
        let host = Some(node.to_owned());
        self.event(
            "default".into(),
            "Node",
            "v1",
            node.to_owned(),
            uid.to_owned(),
            kind,
            reason,
            message,
            "kubelet",
            host,
        );
    }

    fn deployment_event(&mut self, w: usize, message: String) {
        let wl = &self.workloads[w];
        let (ns, name, uid) = (wl.namespace.clone(), wl.name.clone(), wl.uid.clone());
        self.event(
            ns,
            "Deployment",
            "apps/v1",
            name,
            uid,
            "Normal",
            "ScalingReplicaSet",
            message,
            "deployment-controller",
            None,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        namespace: String,
        kind: &'static str,
        api_version: &'static str,
        object_name: String,
        object_uid: String,
        event_type: &'static str,
        reason: &'static str,
        message: String,
        component: &'static str,
        host: Option<String>,
    ) {
        let now = self.now_ms;
        // Repeats of one event are aggregated into its count, as the kubelet's recorder does;
        // a crash loop's BackOff message carries the same text every time.
        if let Some(e) = self
            .events
            .iter_mut()
            .find(|e| e.object_uid == object_uid && e.reason == reason && e.message == message)
        {
            e.count += 1;
            e.last_ms = now;
        } else {
            let name = format!(
                "{object_name}.{:016x}",
                (now as u64).wrapping_mul(1_000_003) ^ self.rng.next_u64() >> 20
            );
            self.events.push(EventRec {
                name,
                namespace,
                kind,
                api_version,
                object_name,
                object_uid,
                event_type,
                reason,
                message,
                component,
                host,
                count: 1,
                first_ms: now,
                last_ms: now,
            });
            if self.events.len() > EVENTS_KEPT {
                self.events.remove(0);
            }
        }
        self.dirty = true;
    }

    // -----------------------------------------------------------------------------------------
    // Store

    /// Renders every object and hands the changes to the store (watch events follow).
    pub(crate) fn sync_store(&mut self) {
        crate::kube::objects::sync(self);
        self.dirty = false;
    }
}

/// A pod-template-hash: 10 characters of the Kubernetes name alphabet, from the template.
fn template_hash(template: &str) -> String {
    let mut rng = Rng::new(fnv(template));
    rng.word(10)
}

/// The image a bad rollout ships: the same repository with the next minor version.
fn bumped_image(image: &str) -> String {
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let mut parts: Vec<u64> = tag.split('.').filter_map(|p| p.parse().ok()).collect();
    if parts.len() >= 2 {
        parts[1] += 1;
        if parts.len() > 2 {
            parts[2] = 0;
        }
        let tag: Vec<String> = parts.iter().map(u64::to_string).collect();
        format!("{repo}:{}", tag.join("."))
    } else {
        format!("{repo}:{tag}-next")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim() -> SimCluster {
        SimCluster::new(SimConfig {
            bind_listeners: false,
            ..SimConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn builds_the_blueprint_with_ready_pods() {
        let s = sim();
        assert_eq!(s.pod_names("shop", "web").len(), 3);
        assert_eq!(s.pod_names("monitoring", "node-exporter").len(), 3);
        assert!(s.pods.iter().all(|p| p.is_ready(s.now_ms)));
    }

    #[test]
    fn scale_cordon_delete_change_pods() {
        let mut s = sim();
        s.scale("shop", "cart", 4).unwrap();
        assert_eq!(s.pod_names("shop", "cart").len(), 4);
        s.scale("shop", "cart", 1).unwrap();
        assert_eq!(s.pod_names("shop", "cart").len(), 1);
        let before = s.pod_names("shop", "api");
        s.delete_pod("shop", &before[0]).unwrap();
        let after = s.pod_names("shop", "api");
        assert_eq!(after.len(), 3);
        assert!(!after.contains(&before[0]));
        for n in ["node-1", "node-2", "node-3"] {
            s.cordon(n, true).unwrap();
        }
        s.scale("shop", "cart", 2).unwrap();
        let new = s.pods.iter().find(|p| p.node.is_none()).expect("a pending pod");
        assert_eq!(s.workloads[new.workload].name, "cart");
        assert!(s.scale("shop", "nope", 1).is_err());
    }

    #[test]
    fn the_same_seed_gives_the_same_cluster_and_traffic() {
        let run = |seed| {
            let mut s = SimCluster::new(SimConfig {
                seed,
                bind_listeners: false,
                ..SimConfig::default()
            })
            .unwrap();
            s.advance(Duration::from_secs(120));
            (s.pod_names("shop", "web"), s.truth())
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5).1, run(6).1);
    }

    #[test]
    fn series_of_deleted_endpoints_expire_after_ten_idle_minutes() {
        let mut s = sim();
        s.advance(Duration::from_secs(60));
        let victim = s.pod_names("shop", "payments")[0].clone();
        let has = |s: &SimCluster| {
            s.pods.iter().filter_map(|p| p.proxy.as_ref()).any(|p| {
                p.outbound
                    .keys()
                    .any(|k| k.dst.as_ref().is_some_and(|d| d.pod == victim))
            })
        };
        assert!(has(&s));
        s.delete_pod("shop", &victim).unwrap();
        s.advance(Duration::from_secs(300));
        assert!(has(&s), "kept while idle for less than ten minutes");
        s.advance(Duration::from_secs(360));
        assert!(!has(&s));
    }

    #[test]
    fn truth_between_two_minutes_adds_up() {
        let mut s = sim();
        let t0 = s.now_ms();
        s.advance(Duration::from_secs(600));
        let whole = s.truth_between(t0, s.now_ms()).unwrap();
        let first = s.truth_between(t0, t0 + 240_000).unwrap();
        let rest = s.truth_between(t0 + 240_000, s.now_ms()).unwrap();
        for (k, g) in &whole.groups {
            let a = first.groups.get(k).map_or(0, |g| g.total);
            let b = rest.groups.get(k).map_or(0, |g| g.total);
            assert_eq!(g.total, a + b, "{k:?}");
        }
        assert!(s.truth_at(t0 - 1).is_none());
        assert_eq!(s.truth_at(t0 + 61_000).unwrap().at_ms, t0 + 60_000);
    }

    #[test]
    fn rollout_replaces_pods_once_ready() {
        let mut s = sim();
        let old = s.pod_names("shop", "web");
        s.set_image("shop", "web", "registry.example.com/shop/web:2.5.0")
            .unwrap();
        assert_eq!(s.pod_names("shop", "web").len(), 6);
        s.advance(Duration::from_secs(10));
        let now = s.pod_names("shop", "web");
        assert_eq!(now.len(), 3);
        assert!(now.iter().all(|n| !old.contains(n)));
        assert_eq!(bumped_image("a/b:1.4.3"), "a/b:1.5.0");
    }
}
