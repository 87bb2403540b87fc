//! [`SimCluster`]: the simulated cluster's state, its clock and its public surface. Each step
//! of the clock runs the scenarios, traffic, node counters, pod lifecycle and controllers,
//! which live in the submodules by concern.

mod blueprint;
mod controllers;
mod events;
mod faults;
mod operations;
mod scheduler;
mod traffic;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

pub(crate) use self::events::EventRec;
use self::scheduler::Ports;
use crate::error::SimError;
use crate::kube::store::Store;
use crate::model::{EndpointKind, Flow, Ingress, Node, Pod, Service, Workload, WorkloadKind};
use crate::rng::Rng;
use crate::scenario::ScheduledScenario;
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
    /// Something the objects show changed since the last [`sync_store`](Self::sync_store).
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
        let namespaces = blueprint::namespaces(&mut rng);
        let nodes = blueprint::nodes(cfg.nodes, now, created, &mut rng);
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
        sim.age_initial_pods();
        sim.events.clear();
        sim.sync_store();
        Ok(sim)
    }

    // -----------------------------------------------------------------------------------------
    // Lookups

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

    /// One step of `dt_ms`: scenarios start or end, traffic and node counters move, then pods
    /// and controllers catch up. The order is fixed: it is the order of the random draws, so
    /// a seed gives the same run.
    fn step(&mut self, dt_ms: i64, sync: bool) {
        self.scenario_transitions();
        traffic::run(self, dt_ms);
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
        let shape = traffic::daily_shape(self.now_ms);
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
    // Store

    /// Renders every object and hands the changes to the store (watch events follow).
    pub(crate) fn sync_store(&mut self) {
        crate::kube::objects::sync(self);
        self.dirty = false;
    }
}

/// A cluster without real listeners, for the unit tests.
#[cfg(test)]
pub(crate) fn test_sim() -> SimCluster {
    SimCluster::new(SimConfig {
        bind_listeners: false,
        ..SimConfig::default()
    })
    .unwrap()
}

#[cfg(test)]
mod tests {
    use super::test_sim as sim;
    use super::*;

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
}
