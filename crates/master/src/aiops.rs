//! The AIOps engine run by the master (`docs/aiops.md`, "In the master").
//!
//! One [`Engine`] for every cluster, behind a mutex, ticked on every stored snapshot at the
//! master's clock (`AppState::now`, injected: tests and `atlhyper aiops evaluate` drive it).
//! [`input_from_snapshot`] is the pure mapping from an [`AgentSnapshot`] to the engine's
//! [`ClusterInput`]: services from the mesh's SLO counters, service → service edges from the
//! mesh edges, ingresses from the ingress groups, nodes from node_exporter, and — when the
//! snapshot carries them — pods, their containers and nodes, their workloads (with their
//! rollouts) and the services that select those, from the Kubernetes resources.
//!
//! The whole engine (graphs, baselines, machines, incidents) is one JSON document in the store
//! (`aiops_state`), written after a tick that changed an entity's state or an incident, else
//! at most every [`SAVE_EVERY_MS`], and on shutdown; it is read back at start. Incidents and
//! their timelines therefore survive a restart exactly; what a crash can lose is at most
//! [`SAVE_EVERY_MS`] of baseline learning.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use atlhyper_aiops::{
    ClusterInput, ClusterRisk, DependencyGraph, EdgeInput, Engine, EngineConfig, EntityInput, EntityKind,
    EntityRef, EntityRisk, Explanation, Incident, Metric, Statistics, TickInput, TickOutput,
};
use atlhyper_model::{AgentSnapshot, SloCounters, SloType, Timestamp};

use crate::store::{Store, StoreError};

/// The availability objective the engine's SLO burn rate is measured against (percent).
pub const DEFAULT_OBJECTIVE_PERCENT: f64 = 99.9;
/// Quiet ticks (no state change, no incident change) save the engine at most this often.
pub const SAVE_EVERY_MS: i64 = 60_000;
/// An interval's error ratio is only a measurement with at least this many responses; below
/// it one failed request of three would read as a 33 % error rate.
pub const MIN_RESPONSES: f64 = 10.0;
/// z of the one-sided 95 % lower confidence bound used for the burn rate.
const BURN_Z: f64 = 1.645;

/// The engine configuration the master runs with. Every threshold is the seed's (see
/// `docs/aiops.md`); this is the one place to tune them for the product.
pub fn engine_config() -> EngineConfig {
    EngineConfig::default()
}

#[derive(Debug, thiserror::Error)]
pub enum AiopsStateError {
    #[error("cannot read the stored aiops state: {0}")]
    Store(#[from] StoreError),
    #[error("the stored aiops state is invalid: {0}")]
    Invalid(String),
}

/// The engine and what the master keeps beside it.
pub struct Aiops {
    inner: Mutex<Inner>,
    /// Serializes saves, so a slower save never overwrites a newer one.
    save_lock: tokio::sync::Mutex<()>,
}

struct Inner {
    engine: Engine,
    /// The highest snapshot seq ticked per cluster: an older snapshot delivered late (the
    /// agent's spool draining out of order) is not fed.
    last_seq: HashMap<String, u64>,
    last_saved_ms: Option<i64>,
    /// A save is owed: something changed that must not be lost.
    urgent: bool,
    dirty: bool,
}

/// What one observed snapshot did.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub ticked: bool,
    pub output: Option<TickOutput>,
}

impl Default for Aiops {
    fn default() -> Self {
        Self::new()
    }
}

impl Aiops {
    /// An empty engine with [`engine_config`].
    pub fn new() -> Self {
        // The built-in configuration is checked by a unit test; it cannot fail.
        let engine = Engine::new(engine_config())
            .or_else(|_| Engine::new(EngineConfig::default()))
            .expect("the default engine configuration is valid");
        Self::with_engine(engine)
    }

    pub fn with_engine(engine: Engine) -> Self {
        Self {
            inner: Mutex::new(Inner {
                engine,
                last_seq: HashMap::new(),
                last_saved_ms: None,
                urgent: false,
                dirty: false,
            }),
            save_lock: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads what the engine holds.
    pub fn read<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        f(&self.lock().engine)
    }

    /// Ticks the engine with `snapshot` at `now` (skipped for a snapshot older than one already
    /// ticked). Never fails the ingest: a refused tick is logged.
    pub fn observe(&self, snapshot: &AgentSnapshot, now: Timestamp) -> Observed {
        let input = TickInput {
            clusters: vec![input_from_snapshot(snapshot)],
        };
        let mut inner = self.lock();
        if inner
            .last_seq
            .get(&snapshot.cluster_id)
            .is_some_and(|&seq| seq >= snapshot.seq)
        {
            return Observed::default();
        }
        match inner.engine.tick(now.0, &input) {
            Ok(output) => {
                inner.last_seq.insert(snapshot.cluster_id.clone(), snapshot.seq);
                inner.dirty = true;
                if !output.state_changes.is_empty()
                    || !output.incidents_opened.is_empty()
                    || !output.incidents_resolved.is_empty()
                    || !output.incidents_merged.is_empty()
                {
                    inner.urgent = true;
                }
                for issue in &output.issues {
                    tracing::debug!(cluster = %snapshot.cluster_id, %issue, "aiops input skipped");
                }
                for id in &output.incidents_opened {
                    tracing::info!(cluster = %snapshot.cluster_id, incident = %id, "incident opened");
                }
                Observed {
                    ticked: true,
                    output: Some(output),
                }
            }
            Err(e) => {
                tracing::warn!(cluster = %snapshot.cluster_id, error = %e, "aiops tick refused");
                Observed::default()
            }
        }
    }

    /// Saves the engine if a save is owed, or if it changed and the last save is older than
    /// [`SAVE_EVERY_MS`].
    pub async fn save_if_due(&self, store: &dyn Store, now: Timestamp) -> Result<bool, StoreError> {
        let due = {
            let inner = self.lock();
            inner.urgent || (inner.dirty && inner.last_saved_ms.is_none_or(|at| now.0 - at >= SAVE_EVERY_MS))
        };
        if !due {
            return Ok(false);
        }
        self.save(store, now).await?;
        Ok(true)
    }

    /// Writes the whole engine to the store now.
    pub async fn save(&self, store: &dyn Store, now: Timestamp) -> Result<(), StoreError> {
        let _serialized = self.save_lock.lock().await;
        let json = {
            let mut inner = self.lock();
            let json = serde_json::to_string(&inner.engine).map_err(|e| StoreError::Invalid {
                what: "aiops state",
                message: e.to_string(),
            })?;
            inner.urgent = false;
            inner.dirty = false;
            inner.last_saved_ms = Some(now.0);
            json
        };
        if let Err(e) = store.save_aiops_state(&json, now).await {
            // Owed again: the next tick retries.
            self.lock().urgent = true;
            return Err(e);
        }
        Ok(())
    }

    /// Replaces the engine with the stored one, if there is one. Returns whether a state was
    /// restored.
    pub async fn restore(&self, store: &dyn Store) -> Result<bool, AiopsStateError> {
        let Some((json, saved_at)) = store.load_aiops_state().await? else {
            return Ok(false);
        };
        let engine: Engine =
            serde_json::from_str(&json).map_err(|e| AiopsStateError::Invalid(e.to_string()))?;
        let mut inner = self.lock();
        inner.engine = engine;
        inner.last_seq.clear();
        inner.last_saved_ms = Some(saved_at.0);
        inner.urgent = false;
        inner.dirty = false;
        Ok(true)
    }

    /// Drops incidents resolved before `cutoff_ms`.
    pub fn prune(&self, cutoff_ms: i64) -> usize {
        let mut inner = self.lock();
        let pruned = inner.engine.prune_incidents(cutoff_ms);
        if pruned > 0 {
            inner.urgent = true;
        }
        pruned
    }

    pub fn cluster_risk(&self, cluster: &str) -> Option<ClusterRisk> {
        self.read(|e| e.cluster_risk(cluster).cloned())
    }

    pub fn ranking(&self, cluster: &str, limit: usize) -> Vec<EntityRisk> {
        self.read(|e| e.ranking(cluster, limit))
    }

    pub fn graph(&self, cluster: &str) -> Option<DependencyGraph> {
        self.read(|e| e.graph(cluster).cloned())
    }

    pub fn explain(&self, cluster: &str, key: &str) -> Result<Explanation, atlhyper_aiops::AiopsError> {
        self.read(|e| e.explain(cluster, key))
    }

    /// Every incident, newest first.
    pub fn incidents(&self) -> Vec<Incident> {
        let mut all: Vec<Incident> = self.read(|e| e.incidents().iter().cloned().collect());
        all.sort_by(|a, b| {
            b.started_at_ms
                .cmp(&a.started_at_ms)
                .then_with(|| b.id.cmp(&a.id))
        });
        all
    }

    pub fn incident(&self, id: &str) -> Option<Incident> {
        self.read(|e| e.incident(id).cloned())
    }

    pub fn statistics(&self, from_ms: i64, to_ms: i64) -> Statistics {
        self.read(|e| e.statistics(from_ms, to_ms))
    }

    pub fn knows_cluster(&self, cluster: &str) -> bool {
        self.read(|e| e.clusters().any(|c| c == cluster))
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshot → engine input

/// Counters of one entity summed over every SLO group that measures it.
#[derive(Default)]
struct Traffic {
    counters: SloCounters,
    /// P99 of entries when the snapshot has entries but no counters (the worst one).
    entry_p99: Option<f64>,
}

impl Traffic {
    fn add_counters(&mut self, counters: &SloCounters) {
        self.counters.merge(counters);
    }
}

/// The engine's input for the snapshot's cluster. Pure: the same snapshot always gives the
/// same input.
///
/// - **services**: every service-to-service SLO group measures its *destination*
///   (`namespace/service/target`): the groups of all its callers are summed, then
///   `error_rate` = failure / (success + failure) (with at least [`MIN_RESPONSES`]
///   responses), `latency_p99_ms` = `histogram_quantile(0.99)` of the summed buckets,
///   `rps` = requests / interval; the SLO burn rate (signal) is the one-sided 95 % lower
///   bound of the error ratio over (1 − 99.9 %), so a single failure among a few requests
///   does not read as a burning budget;
/// - **calls** edges: the client workload, taken as the service of the same name in its
///   namespace, → the destination service;
/// - **ingresses**: per domain (`namespace/ingress/domain`, the backend's namespace), the
///   same figures from the ingress groups, and `routes_to` its backend service; where a domain
///   has groups with a known backend (Traefik), only those count (Linkerd's inbound view of
///   the same requests would count them twice);
/// - **nodes**: `cpu_pct`, `memory_pct`, `disk_pct` (the fullest filesystem), `psi_cpu`,
///   `psi_memory`, `psi_io` (the "some" shares);
/// - **resources**, when present: see [`add_resources`].
pub fn input_from_snapshot(snapshot: &AgentSnapshot) -> ClusterInput {
    let seconds = (snapshot.interval_end.0 - snapshot.interval_start.0) as f64 / 1000.0;
    let mut services: BTreeMap<(String, String), Traffic> = BTreeMap::new();
    let mut calls: BTreeSet<((String, String), (String, String))> = BTreeSet::new();
    // domain → (namespace, backend) → traffic
    let mut ingresses: BTreeMap<String, BTreeMap<(String, String), Traffic>> = BTreeMap::new();

    let mut note_group = |kind: SloType,
                          source: &str,
                          source_namespace: &str,
                          target: &str,
                          namespace: &str|
     -> Option<(bool, (String, String))> {
        match kind {
            SloType::Service => {
                if target.is_empty() || namespace.is_empty() {
                    return None;
                }
                let to = (namespace.to_owned(), target.to_owned());
                if !source.is_empty() && !source_namespace.is_empty() {
                    let from = (source_namespace.to_owned(), source.to_owned());
                    if from != to {
                        calls.insert((from, to.clone()));
                    }
                }
                Some((true, to))
            }
            SloType::Ingress => {
                if source.is_empty() {
                    return None;
                }
                Some((false, (namespace.to_owned(), target.to_owned())))
            }
        }
    };

    if snapshot.slo_counters.is_empty() {
        for entry in &snapshot.slo {
            let Some((is_service, to)) = note_group(
                entry.kind,
                &entry.source,
                &entry.source_namespace,
                &entry.target,
                &entry.namespace,
            ) else {
                continue;
            };
            let traffic = if is_service {
                services.entry(to).or_default()
            } else {
                ingresses
                    .entry(entry.source.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
            };
            let responses = entry.total_requests as f64;
            traffic.counters.total += responses;
            traffic.counters.success += entry.success_requests as f64;
            if entry.success_rate.is_some() {
                traffic.counters.failure += responses - entry.success_requests as f64;
            }
            traffic.entry_p99 = match (traffic.entry_p99, entry.latency_p99) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    } else {
        for group in &snapshot.slo_counters {
            let k = &group.key;
            let Some((is_service, to)) =
                note_group(k.kind, &k.source, &k.source_namespace, &k.target, &k.namespace)
            else {
                continue;
            };
            if is_service {
                services.entry(to).or_default().add_counters(&group.counters);
            } else {
                ingresses
                    .entry(k.source.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .add_counters(&group.counters);
            }
        }
    }

    let mut input = ClusterInput {
        cluster: snapshot.cluster_id.clone(),
        entities: Vec::new(),
        edges: Vec::new(),
    };
    for ((namespace, name), traffic) in &services {
        let entity = EntityRef::new(EntityKind::Service, namespace, name);
        input.entities.push(traffic_input(entity, traffic, seconds));
    }
    for ((from_ns, from), (to_ns, to)) in &calls {
        input.edges.push(EdgeInput::new(
            EntityRef::new(EntityKind::Service, from_ns, from),
            EntityRef::new(EntityKind::Service, to_ns, to),
        ));
    }
    for (domain, groups) in &ingresses {
        let routed: Vec<_> = groups
            .iter()
            .filter(|((_, backend), _)| !backend.is_empty())
            .collect();
        let used: Vec<_> = if routed.is_empty() {
            groups.iter().collect()
        } else {
            routed
        };
        let mut total = Traffic::default();
        let mut namespace = None;
        for ((ns, backend), traffic) in &used {
            total.add_counters(&traffic.counters);
            total.entry_p99 = match (total.entry_p99, traffic.entry_p99) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if !ns.is_empty() {
                namespace.get_or_insert_with(|| ns.clone());
                if !backend.is_empty() {
                    input.edges.push(EdgeInput::new(
                        EntityRef::new(EntityKind::Ingress, ns, domain),
                        EntityRef::new(EntityKind::Service, ns, backend),
                    ));
                }
            }
        }
        let Some(namespace) = namespace else {
            continue;
        };
        let entity = EntityRef::new(EntityKind::Ingress, namespace, domain);
        input.entities.push(traffic_input(entity, &total, seconds));
    }
    for node in &snapshot.nodes {
        if node.node.is_empty() {
            continue;
        }
        let mut entity = EntityInput::new(EntityRef::node(&node.node));
        let disk = node
            .filesystems
            .iter()
            .filter_map(|f| f.usage_pct)
            .fold(None, |max: Option<f64>, v| Some(max.map_or(v, |m| m.max(v))));
        let figures = [
            (Metric::CpuPct, node.cpu.usage_pct),
            (Metric::MemoryPct, node.memory.usage_pct),
            (Metric::DiskPct, disk),
            (Metric::PsiCpu, node.psi.cpu_some_pct),
            (Metric::PsiMemory, node.psi.memory_some_pct),
            (Metric::PsiIo, node.psi.io_some_pct),
        ];
        for (metric, value) in figures {
            if let Some(value) = value.filter(|v| v.is_finite()) {
                entity = entity.with(metric, value);
            }
        }
        input.entities.push(entity);
    }
    if let Some(resources) = &snapshot.resources {
        add_resources(&mut input, resources, snapshot);
    }
    input
}

/// Warning event reasons that count as critical for the pod they are about.
const CRITICAL_EVENTS: [&str; 8] = [
    "BackOff",
    "CrashLoopBackOff",
    "OOMKilling",
    "Failed",
    "Evicted",
    "FailedMount",
    "FailedAttachVolume",
    "FailedCreatePodSandBox",
];

/// (kind, namespace, name) of a workload; its value in `add_resources` is (selector words,
/// unavailable ratio).
type WorkloadKey<'a> = (&'a str, &'a str, &'a str);

/// The Kubernetes side of the input, from the snapshot's resources:
///
/// - **pods** (`namespace/pod/name`): `restarts` = containers that terminated within the
///   snapshot's interval, `not_ready_containers`, `cpu_cores` and `memory_bytes` when
///   `metrics.k8s.io` answers; signals: the worst container state (OOMKilled, also while
///   running within 10 minutes of an OOM kill; CrashLoopBackOff; config errors; image pulls;
///   a restart within 10 minutes; running but not ready), the last critical Warning event on
///   the pod (BackOff, OOMKilling, Failed, Evicted, mount and sandbox failures) and the
///   unavailable share of its Deployment (or StatefulSet, DaemonSet);
/// - **workloads** (`namespace/deployment/name`, `…/statefulset/…`, `…/daemonset/…`): one
///   entity each; a Deployment's signal `rolled_out_ms` is the creation of its newest
///   ReplicaSet that still wants pods (its current revision);
/// - **edges**: pod → its node (`runs_on`); workload → each pod it owns, through its
///   ReplicaSet for a Deployment (`owns`); service → each workload whose selector contains the
///   Service's selector (`selects`); an Ingress object's rules route their host's ingress
///   entity to the rule's service (`routes_to`);
/// - **nodes**: conditions MemoryPressure, DiskPressure, PIDPressure true, and Ready not true.
fn add_resources(
    input: &mut ClusterInput,
    resources: &atlhyper_model::ResourceSnapshot,
    snapshot: &AgentSnapshot,
) {
    let now = snapshot.taken_at.0;
    let (from, to) = (snapshot.interval_start.0, snapshot.interval_end.0);
    // ReplicaSet → its Deployment.
    let rs_owner: HashMap<(&str, &str), &str> = resources
        .replica_sets
        .iter()
        .filter_map(|rs| {
            let owner = rs.owner.as_ref().filter(|o| o.kind == "Deployment")?;
            Some((
                (rs.meta.namespace.as_str(), rs.meta.name.as_str()),
                owner.name.as_str(),
            ))
        })
        .collect();
    let no_selector = atlhyper_model::LabelSelector::default();
    let mut workloads: BTreeMap<WorkloadKey<'_>, (&atlhyper_model::LabelSelector, Option<f64>)> =
        BTreeMap::new();
    for (kind, list) in [
        ("Deployment", &resources.deployments),
        ("StatefulSet", &resources.stateful_sets),
        ("DaemonSet", &resources.daemon_sets),
    ] {
        for w in list {
            let selector = w.selector.as_ref().unwrap_or(&no_selector);
            let ratio = (w.desired > 0)
                .then(|| f64::from(w.desired.saturating_sub(w.available)) / f64::from(w.desired));
            workloads.insert(
                (kind, w.meta.namespace.as_str(), w.meta.name.as_str()),
                (selector, ratio),
            );
        }
    }
    // The current revision of a Deployment: its newest ReplicaSet that still wants pods.
    let mut rolled_out: HashMap<(&str, &str), i64> = HashMap::new();
    for rs in &resources.replica_sets {
        let (Some(owner), Some(created)) = (rs.owner.as_ref(), rs.meta.created_at) else {
            continue;
        };
        if owner.kind != "Deployment" || rs.desired == 0 {
            continue;
        }
        let at = rolled_out
            .entry((rs.meta.namespace.as_str(), owner.name.as_str()))
            .or_insert(created.0);
        *at = (*at).max(created.0);
    }
    for (kind, namespace, name) in workloads.keys() {
        let Some(kind) = workload_kind(kind) else {
            continue;
        };
        if namespace.is_empty() || name.is_empty() {
            continue;
        }
        let signals = atlhyper_aiops::Signals {
            rolled_out_ms: (kind == EntityKind::Deployment)
                .then(|| rolled_out.get(&(*namespace, *name)).copied())
                .flatten(),
            ..atlhyper_aiops::Signals::default()
        };
        input
            .entities
            .push(EntityInput::new(EntityRef::new(kind, *namespace, *name)).with_signals(signals));
    }
    let workload_of = |pod: &atlhyper_model::resources::PodSummary| -> Option<(&str, String)> {
        let owner = pod.owner.as_ref()?;
        let ns = pod.meta.namespace.as_str();
        match owner.kind.as_str() {
            "ReplicaSet" => rs_owner
                .get(&(ns, owner.name.as_str()))
                .map(|d| ("Deployment", (*d).to_owned())),
            "StatefulSet" | "DaemonSet" => {
                let kind = if owner.kind == "StatefulSet" {
                    "StatefulSet"
                } else {
                    "DaemonSet"
                };
                Some((kind, owner.name.clone()))
            }
            _ => None,
        }
    };
    let mut last_event: HashMap<(&str, &str), i64> = HashMap::new();
    for e in &resources.events {
        if e.event_type != "Warning"
            || e.involved.kind != "Pod"
            || !CRITICAL_EVENTS.contains(&e.reason.as_str())
        {
            continue;
        }
        if let Some(seen) = e.last_seen.or(e.first_seen) {
            let at = last_event
                .entry((e.involved.namespace.as_str(), e.involved.name.as_str()))
                .or_insert(seen.0);
            *at = (*at).max(seen.0);
        }
    }
    for pod in &resources.pods {
        if pod.meta.name.is_empty() || pod.meta.namespace.is_empty() {
            continue;
        }
        let pod_ref = EntityRef::new(EntityKind::Pod, &pod.meta.namespace, &pod.meta.name);
        let mut entity = EntityInput::new(pod_ref.clone());
        let restarted = pod
            .containers
            .iter()
            .filter(|c| c.last_finished_at.is_some_and(|t| t.0 > from && t.0 <= to))
            .count();
        entity = entity.with(Metric::Restarts, restarted as f64).with(
            Metric::NotReadyContainers,
            f64::from(pod.total_containers.saturating_sub(pod.ready_containers)),
        );
        if let Some(usage) = &pod.usage {
            if let Some(cpu) = usage.cpu_millis {
                entity = entity.with(Metric::CpuCores, cpu / 1000.0);
            }
            if let Some(memory) = usage.memory_bytes {
                entity = entity.with(Metric::MemoryBytes, memory);
            }
        }
        let workload = workload_of(pod);
        entity.signals = atlhyper_aiops::Signals {
            container: atlhyper_model::container::worst_problem(&pod.containers, now),
            last_critical_event_ms: last_event
                .get(&(pod.meta.namespace.as_str(), pod.meta.name.as_str()))
                .copied(),
            deployment_unavailable_ratio: workload.as_ref().and_then(|(kind, name)| {
                workloads
                    .get(&(*kind, pod.meta.namespace.as_str(), name.as_str()))
                    .and_then(|(_, ratio)| *ratio)
            }),
            ..atlhyper_aiops::Signals::default()
        };
        input.entities.push(entity);
        if !pod.node.is_empty() {
            input
                .edges
                .push(EdgeInput::new(pod_ref.clone(), EntityRef::node(&pod.node)));
        }
        if let Some((kind, name)) = workload
            && let Some(entity_kind) = workload_kind(kind)
            && workloads.contains_key(&(kind, pod.meta.namespace.as_str(), name.as_str()))
        {
            input.edges.push(EdgeInput::new(
                EntityRef::new(entity_kind, &pod.meta.namespace, &name),
                pod_ref,
            ));
        }
    }
    for service in &resources.services {
        if service.selector.is_empty() {
            continue;
        }
        let service_ref = EntityRef::new(EntityKind::Service, &service.meta.namespace, &service.meta.name);
        let wanted: BTreeMap<String, String> = service
            .selector
            .iter()
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        for ((kind, ns, name), (selector, _)) in &workloads {
            if *ns != service.meta.namespace || !selector.implies(&wanted) {
                continue;
            }
            if let Some(kind) = workload_kind(kind) {
                input.edges.push(EdgeInput::new(
                    service_ref.clone(),
                    EntityRef::new(kind, *ns, *name),
                ));
            }
        }
    }
    for ingress in &resources.ingresses {
        for rule in &ingress.rules {
            if rule.host.is_empty() || rule.service.is_empty() {
                continue;
            }
            input.edges.push(EdgeInput::new(
                EntityRef::new(EntityKind::Ingress, &ingress.meta.namespace, &rule.host),
                EntityRef::new(EntityKind::Service, &ingress.meta.namespace, &rule.service),
            ));
        }
    }
    for node in &resources.nodes {
        if node.meta.name.is_empty() {
            continue;
        }
        let on = |kind: &str| {
            node.conditions
                .iter()
                .any(|c| c.kind == kind && c.status == "True")
        };
        let signals = atlhyper_aiops::Signals {
            memory_pressure: on("MemoryPressure"),
            disk_pressure: on("DiskPressure"),
            pid_pressure: on("PIDPressure"),
            not_ready: !node
                .conditions
                .iter()
                .any(|c| c.kind == "Ready" && c.status == "True"),
            ..atlhyper_aiops::Signals::default()
        };
        let node_ref = EntityRef::node(&node.meta.name);
        match input.entities.iter_mut().find(|e| e.entity == node_ref) {
            Some(existing) => existing.signals = signals,
            None => input
                .entities
                .push(EntityInput::new(node_ref).with_signals(signals)),
        }
    }
}

/// The engine's kind of a Kubernetes workload kind.
fn workload_kind(kind: &str) -> Option<EntityKind> {
    match kind {
        "Deployment" => Some(EntityKind::Deployment),
        "StatefulSet" => Some(EntityKind::StatefulSet),
        "DaemonSet" => Some(EntityKind::DaemonSet),
        _ => None,
    }
}

/// A service's or an ingress's metrics and burn rate from its summed traffic.
fn traffic_input(entity: EntityRef, traffic: &Traffic, seconds: f64) -> EntityInput {
    let c = &traffic.counters;
    let mut input = EntityInput::new(entity);
    let responses = c.success + c.failure;
    if responses >= MIN_RESPONSES {
        input = input.with(Metric::ErrorRate, c.failure / responses);
    }
    let p99 = if c.observations > 0.0 {
        atlhyper_slo::quantile_or_none(0.99, &atlhyper_slo::bucket_pairs(c))
    } else {
        traffic.entry_p99
    };
    if let Some(p99) = p99.filter(|v| v.is_finite()) {
        input = input.with(Metric::LatencyP99Ms, p99);
    }
    if seconds > 0.0 {
        input = input.with(Metric::Rps, c.total / seconds);
    }
    if responses > 0.0 {
        input.signals.slo_burn_rate = Some(burn_rate_lower_bound(c.failure, responses));
    }
    // What the P99 was computed from: the histogram's observations, else (entries) requests.
    let observations = if c.observations > 0.0 {
        c.observations
    } else {
        c.total
    };
    if p99.is_some() && observations > 0.0 {
        input.signals.latency_observations = Some(observations);
    }
    input
}

/// The burn rate of the one-sided 95 % lower confidence bound (Wilson) of the error ratio
/// `failures / responses`, against [`DEFAULT_OBJECTIVE_PERCENT`]: a plain ratio, 1 = the
/// budget lasts exactly its period.
pub fn burn_rate_lower_bound(failures: f64, responses: f64) -> f64 {
    if responses <= 0.0 || failures <= 0.0 {
        return 0.0;
    }
    let n = responses;
    let p = (failures / n).clamp(0.0, 1.0);
    let z2 = BURN_Z * BURN_Z;
    let centre = p + z2 / (2.0 * n);
    let spread = BURN_Z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt();
    let lower = ((centre - spread) / (1.0 + z2 / n)).max(0.0);
    atlhyper_aiops::burn_rate(lower, DEFAULT_OBJECTIVE_PERCENT).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlhyper_model::ContainerProblem;
    use serde_json::json;

    fn snapshot(value: serde_json::Value) -> AgentSnapshot {
        let mut base = json!({
            "version": 1, "cluster_id": "prod", "seq": 1,
            "taken_at": "2026-01-05T00:00:30Z",
            "interval_start": "2026-01-05T00:00:00Z",
            "interval_end": "2026-01-05T00:00:30Z",
        });
        for (k, v) in value.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn group(
        kind: &str,
        source: &str,
        source_ns: &str,
        target: &str,
        ns: &str,
        ok: f64,
        bad: f64,
    ) -> serde_json::Value {
        json!({
            "type": kind, "source": source, "source_namespace": source_ns, "target": target,
            "namespace": ns, "total": ok + bad, "success": ok, "failure": bad,
            "buckets": [{"le": 10.0, "count": (ok + bad) * 0.5}, {"le": 100.0, "count": (ok + bad)}],
            "observations": ok + bad,
        })
    }

    fn entity<'a>(input: &'a ClusterInput, key: &str) -> &'a EntityInput {
        input
            .entities
            .iter()
            .find(|e| e.entity.key().unwrap() == key)
            .unwrap_or_else(|| panic!("no entity {key}"))
    }

    fn metric(e: &EntityInput, m: Metric) -> Option<f64> {
        e.metrics.iter().find(|s| s.metric == m).map(|s| s.value)
    }

    fn edges(input: &ClusterInput) -> Vec<(String, String)> {
        input
            .edges
            .iter()
            .map(|e| (e.from.key().unwrap(), e.to.key().unwrap()))
            .collect()
    }

    #[test]
    fn the_built_in_config_is_valid() {
        engine_config().validate().unwrap();
        let _ = Aiops::new();
    }

    #[test]
    fn services_sum_their_callers_and_calls_become_edges() {
        let input = input_from_snapshot(&snapshot(json!({"slo_counters": [
            group("service", "web", "shop", "api", "shop", 270.0, 30.0),
            group("service", "cart", "shop", "api", "shop", 100.0, 0.0),
            group("service", "api", "shop", "payments", "shop", 5.0, 0.0),
        ]})));
        assert_eq!(input.cluster, "prod");
        let api = entity(&input, "shop/service/api");
        assert_eq!(metric(api, Metric::ErrorRate), Some(30.0 / 400.0));
        assert_eq!(metric(api, Metric::Rps), Some(400.0 / 30.0));
        // 99 % of 400 observations fall in (10, 100]: interpolated inside that bucket.
        let p99 = metric(api, Metric::LatencyP99Ms).unwrap();
        assert!(p99 > 90.0 && p99 <= 100.0, "{p99}");
        let burn = api.signals.slo_burn_rate.unwrap();
        assert!(burn > 40.0 && burn < 75.0, "{burn}");
        assert_eq!(api.signals.latency_observations, Some(400.0));
        // Five responses are too few for an error ratio, but still give RPS and a burn rate of 0.
        let payments = entity(&input, "shop/service/payments");
        assert_eq!(metric(payments, Metric::ErrorRate), None);
        assert_eq!(payments.signals.slo_burn_rate, Some(0.0));
        let e = edges(&input);
        assert!(e.contains(&("shop/service/web".into(), "shop/service/api".into())));
        assert!(e.contains(&("shop/service/cart".into(), "shop/service/api".into())));
        assert!(e.contains(&("shop/service/api".into(), "shop/service/payments".into())));
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn ingresses_prefer_routed_groups_and_route_to_their_backend() {
        let input = input_from_snapshot(&snapshot(json!({"slo_counters": [
            group("ingress", "shop.example.com", "", "", "ingress", 1000.0, 0.0),
            group("ingress", "shop.example.com", "", "web", "shop", 95.0, 5.0),
            group("ingress", "internal.example.com", "", "", "ingress", 50.0, 0.0),
        ]})));
        let shop = entity(&input, "shop/ingress/shop.example.com");
        assert_eq!(metric(shop, Metric::ErrorRate), Some(0.05));
        let internal = entity(&input, "ingress/ingress/internal.example.com");
        assert_eq!(metric(internal, Metric::ErrorRate), Some(0.0));
        assert_eq!(
            edges(&input),
            vec![("shop/ingress/shop.example.com".into(), "shop/service/web".into())]
        );
    }

    #[test]
    fn nodes_give_utilisation_and_pressure() {
        let input = input_from_snapshot(&snapshot(json!({"nodes": [{
            "node": "node-2", "timestamp": "2026-01-05T00:00:30Z",
            "cpu": {"usage_pct": 41.0}, "memory": {"usage_pct": 97.0},
            "filesystems": [
                {"mountpoint": "/", "device": "sda1", "fstype": "ext4", "size_bytes": 10.0, "avail_bytes": 5.0, "usage_pct": 50.0},
                {"mountpoint": "/var", "device": "sdb1", "fstype": "ext4", "size_bytes": 10.0, "avail_bytes": 2.0, "usage_pct": 80.0}
            ],
            "psi": {"cpu_some_pct": 1.0, "memory_some_pct": 35.0, "io_some_pct": 2.0},
            "temperature": {}, "uptime_seconds": null
        }]})));
        let node = entity(&input, "_cluster/node/node-2");
        assert_eq!(metric(node, Metric::CpuPct), Some(41.0));
        assert_eq!(metric(node, Metric::MemoryPct), Some(97.0));
        assert_eq!(metric(node, Metric::DiskPct), Some(80.0));
        assert_eq!(metric(node, Metric::PsiMemory), Some(35.0));
        assert_eq!(metric(node, Metric::PsiIo), Some(2.0));
    }

    #[test]
    fn entries_stand_in_for_missing_counters() {
        let input = input_from_snapshot(&snapshot(json!({"slo": [{
            "type": "service", "source": "web", "source_namespace": "shop", "target": "api",
            "namespace": "shop", "success_rate": 90.0, "latency_p50": 5.0, "latency_p99": 250.0,
            "request_rate": 10.0, "total_requests": 300, "success_requests": 270,
            "timestamp": "2026-01-05T00:00:30Z"
        }]})));
        let api = entity(&input, "shop/service/api");
        assert_eq!(metric(api, Metric::ErrorRate), Some(0.1));
        assert_eq!(metric(api, Metric::LatencyP99Ms), Some(250.0));
    }

    #[test]
    fn bad_names_are_left_to_the_engine_and_empty_groups_skipped() {
        let input = input_from_snapshot(&snapshot(json!({"slo_counters": [
            group("service", "web", "shop", "", "shop", 1.0, 0.0),
            group("ingress", "", "", "web", "shop", 1.0, 0.0),
        ]})));
        assert!(input.entities.is_empty());
        assert!(input.edges.is_empty());
    }

    #[test]
    fn resources_give_pods_their_signals_and_the_graph_its_layers() {
        let c = |name: &str, ready: bool, state: &str, reason: &str, last: &str, finished: Option<&str>| {
            json!({"name": name, "image": "img", "ready": ready, "restarts": 3, "state": state,
                   "reason": reason, "last_reason": last, "last_finished_at": finished})
        };
        let pod = |name: &str, node: &str, rs: &str, container: serde_json::Value| {
            json!({"namespace": "shop", "name": name, "phase": "Running", "status": "x",
                   "ready": container["ready"], "ready_containers": u32::from(container["ready"] == true),
                   "total_containers": 1, "restarts": 3, "node": node,
                   "owner": {"kind": "ReplicaSet", "name": rs}, "containers": [container]})
        };
        let input = input_from_snapshot(&snapshot(json!({"resources": {
            "pods": [
                pod("cart-7f-a", "node-1", "cart-7f", c("app", false, "waiting", "CrashLoopBackOff", "Error", Some("2026-01-05T00:00:20Z"))),
                pod("cart-7f-b", "node-2", "cart-7f", c("app", true, "running", "", "OOMKilled", Some("2026-01-04T23:55:00Z"))),
                pod("web-1-a", "node-2", "web-1", c("app", true, "running", "", "", None)),
            ],
            "replica_sets": [
                {"namespace": "shop", "name": "cart-7f", "status": "Degraded", "desired": 2, "ready": 1,
                 "available": 1, "updated": 2, "images": [], "owner": {"kind": "Deployment", "name": "cart"},
                 "created_at": "2026-01-04T23:50:00Z"},
                {"namespace": "shop", "name": "cart-6e", "status": "Healthy", "desired": 0, "ready": 0,
                 "available": 0, "updated": 0, "images": [], "owner": {"kind": "Deployment", "name": "cart"},
                 "created_at": "2026-01-04T23:55:00Z"},
                {"namespace": "shop", "name": "web-1", "status": "Healthy", "desired": 1, "ready": 1,
                 "available": 1, "updated": 1, "images": [], "owner": {"kind": "Deployment", "name": "web"}}
            ],
            "deployments": [
                {"namespace": "shop", "name": "cart", "status": "Degraded", "desired": 2, "ready": 1,
                 "available": 0, "updated": 2, "images": [], "selector": "app=cart,tier=be"},
                {"namespace": "shop", "name": "web", "status": "Healthy", "desired": 1, "ready": 1,
                 "available": 1, "updated": 1, "images": [], "selector": "app=web"}
            ],
            "services": [
                {"namespace": "shop", "name": "cart", "service_type": "ClusterIP", "ports": [], "selector": ["app=cart"]},
                {"namespace": "shop", "name": "headless", "service_type": "ClusterIP", "ports": []}
            ],
            "events": [
                {"namespace": "shop", "name": "e1", "event_type": "Warning", "reason": "BackOff", "message": "m",
                 "count": 4, "involved": {"kind": "Pod", "namespace": "shop", "name": "cart-7f-a"},
                 "last_seen": "2026-01-05T00:00:25Z"},
                {"namespace": "shop", "name": "e2", "event_type": "Warning", "reason": "Unhealthy", "message": "m",
                 "count": 1, "involved": {"kind": "Pod", "namespace": "shop", "name": "web-1-a"},
                 "last_seen": "2026-01-05T00:00:25Z"}
            ],
            "ingresses": [{"namespace": "shop", "name": "shop", "rules": [
                {"host": "shop.example.com", "path": "/", "service": "web"}], "tls": false}],
            "nodes": [{"name": "node-2", "status": "Ready", "ready": true, "unschedulable": false,
                       "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "True"}],
                       "capacity": {}, "allocatable": {}}]
        }})));
        let a = entity(&input, "shop/pod/cart-7f-a");
        assert_eq!(a.signals.container, Some(ContainerProblem::CrashLoopBackOff));
        assert_eq!(a.signals.deployment_unavailable_ratio, Some(1.0));
        assert_eq!(a.signals.last_critical_event_ms, Some(1_767_571_225_000));
        assert_eq!(metric(a, Metric::Restarts), Some(1.0));
        assert_eq!(metric(a, Metric::NotReadyContainers), Some(1.0));
        // OOM-killed five minutes ago and running again: still OOMKilled, not restarted now.
        let b = entity(&input, "shop/pod/cart-7f-b");
        assert_eq!(b.signals.container, Some(ContainerProblem::OomKilled));
        assert_eq!(metric(b, Metric::Restarts), Some(0.0));
        let web = entity(&input, "shop/pod/web-1-a");
        assert_eq!(web.signals.container, None);
        assert_eq!(web.signals.last_critical_event_ms, None);
        let node = entity(&input, "_cluster/node/node-2");
        assert!(node.signals.memory_pressure && !node.signals.not_ready);
        let e = edges(&input);
        for edge in [
            ("shop/pod/cart-7f-a", "_cluster/node/node-1"),
            ("shop/pod/cart-7f-b", "_cluster/node/node-2"),
            ("shop/service/cart", "shop/deployment/cart"),
            ("shop/deployment/cart", "shop/pod/cart-7f-a"),
            ("shop/deployment/cart", "shop/pod/cart-7f-b"),
            ("shop/deployment/web", "shop/pod/web-1-a"),
            ("shop/ingress/shop.example.com", "shop/service/web"),
        ] {
            assert!(e.contains(&(edge.0.into(), edge.1.into())), "{edge:?} in {e:?}");
        }
        // Services select workloads, not their pods; no service selects web; the
        // selector-less service selects nothing.
        assert!(
            !e.iter()
                .any(|(from, to)| from.contains("/service/") && to.contains("/pod/"))
        );
        assert!(!e.iter().any(|(_, to)| to == "shop/deployment/web"));
        assert!(!e.iter().any(|(from, _)| from == "shop/service/headless"));
        // A Deployment's rollout is its newest ReplicaSet that still wants pods.
        let cart = entity(&input, "shop/deployment/cart");
        assert_eq!(cart.signals.rolled_out_ms, Some(1_767_570_600_000));
        assert_eq!(entity(&input, "shop/deployment/web").signals.rolled_out_ms, None);
        let mut engine = Engine::new(engine_config()).unwrap();
        let out = engine
            .tick(
                1_767_571_230_000,
                &TickInput {
                    clusters: vec![input],
                },
            )
            .unwrap();
        assert!(out.issues.is_empty(), "{:?}", out.issues);
    }

    #[test]
    fn the_burn_rate_bound_ignores_lone_failures_and_keeps_real_ones() {
        assert_eq!(burn_rate_lower_bound(0.0, 300.0), 0.0);
        // One failure in 300 (0.33 %, a raw burn of 3.3): the bound is below the objective.
        assert!(burn_rate_lower_bound(1.0, 300.0) < 1.0);
        // 30 % of 18 requests still burns far beyond 14.4.
        assert!(burn_rate_lower_bound(5.0, 18.0) > 14.4);
        // It never exceeds the raw burn rate.
        assert!(burn_rate_lower_bound(90.0, 300.0) < 300.0);
    }
}
