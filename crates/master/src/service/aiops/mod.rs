//! The AIOps engine in the master (`docs/aiops.md`, "In the master").
//!
//! One engine per cluster, each on a task of its own fed by a bounded channel
//! (`runner.rs`): ingest queues a stored snapshot and returns; the engine ticks it at the
//! snapshot's arrival time (the master's clock, injected, so tests and `atlhyper aiops
//! evaluate` drive it). `input.rs` and `input_resources.rs` map a snapshot to the engine's
//! input.
//!
//! What the engine concludes is kept apart from what it has learnt:
//!
//! - **incidents**, with their members and timelines, are rows of their own
//!   (`aiops_incidents`, …), written with every tick while open and once more when resolved:
//!   they are queryable, retained on the hourly retention's schedule and survive any change
//!   of the engine;
//! - **learning state** (graph, baselines, state machines, open incidents) is one JSON
//!   document per cluster with [`ENGINE_STATE_VERSION`], written in the same transaction as
//!   the incidents of a tick that changed one, else at most every [`SAVE_EVERY_MS`], and at
//!   shutdown. A master that finds another version (or an unreadable document) relearns that
//!   cluster from scratch and closes its open incidents with the `relearned` event; the
//!   history stays. The single document of earlier versions is moved into the tables at
//!   start.

mod input;
mod input_resources;
mod runner;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use atlhyper_aiops::{
    ClusterRisk, DependencyGraph, Engine, EngineConfig, EntityRisk, Event, Explanation, Incident, State,
    Statistics, TimelineEntry,
};
use atlhyper_model::{AgentSnapshot, Timestamp};

pub use input::{DEFAULT_OBJECTIVE_PERCENT, MIN_RESPONSES, burn_rate_lower_bound, input_from_snapshot};
use runner::{ClusterEngine, Job, Runner};

use crate::metrics::Metrics;
use crate::service::{Clock, ServiceError, ServiceResult};
use crate::store::{
    AiopsChanges, EngineStateRecord, IncidentFilter, IncidentStateFilter, Store, StoreResult,
};

/// The format of a saved engine state. Bump it with any change to the serialized shape of
/// `atlhyper_aiops::Engine`: a master then relearns instead of misreading an old state.
pub const ENGINE_STATE_VERSION: u32 = 1;
/// Quiet ticks (no state change, no incident change) save the engine at most this often: the
/// most learning a crash can lose.
pub const SAVE_EVERY_MS: i64 = 60_000;
/// Snapshots a cluster's engine may have queued; beyond, a snapshot is left out (counted).
pub const QUEUE_CAPACITY: usize = 64;

/// The engine configuration the master runs with. Every threshold is the seed's (see
/// `docs/aiops.md`); this is the one place to tune them for the product.
pub fn engine_config() -> EngineConfig {
    EngineConfig::default()
}

fn fresh_engine() -> Engine {
    // The built-in configuration is checked by a unit test; the fallback cannot fail.
    Engine::new(engine_config())
        .or_else(|_| Engine::new(EngineConfig::default()))
        .expect("the default engine configuration is valid")
}

/// The master's AIOps engines. Cheap to clone.
#[derive(Clone)]
pub struct Aiops {
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<dyn Store>,
    clock: Clock,
    metrics: Arc<Metrics>,
    runners: Mutex<HashMap<String, Arc<Runner>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What a start found of the saved state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Clusters whose engine continues where it stopped.
    pub continued: Vec<String>,
    /// Clusters whose saved state was of another version or unreadable: relearning.
    pub relearning: Vec<String>,
    /// Open incidents closed because no engine follows them any more.
    pub closed: usize,
    /// Whether an earlier version's single document was moved into the tables.
    pub migrated_legacy: bool,
}

impl Aiops {
    pub fn new(store: Arc<dyn Store>, clock: Clock, metrics: Arc<Metrics>) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                clock,
                metrics,
                runners: Mutex::new(HashMap::new()),
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    fn runners(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Runner>>> {
        self.shared
            .runners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn runner(&self, cluster: &str) -> Option<Arc<Runner>> {
        self.runners().get(cluster).cloned()
    }

    /// The runner of `cluster`, started with `engine` when there is none.
    fn runner_or_start(&self, cluster: &str, engine: impl FnOnce() -> ClusterEngine) -> Arc<Runner> {
        let mut runners = self.runners();
        if let Some(runner) = runners.get(cluster) {
            return Arc::clone(runner);
        }
        let (runner, task) = Runner::spawn(
            cluster.to_owned(),
            engine(),
            Arc::clone(&self.shared.store),
            QUEUE_CAPACITY,
        );
        runners.insert(cluster.to_owned(), Arc::clone(&runner));
        self.shared
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(task);
        runner
    }

    /// Queues a stored snapshot for its cluster's engine and returns at once.
    pub fn submit(&self, snapshot: Arc<AgentSnapshot>, now: Timestamp) {
        let cluster = snapshot.cluster_id.clone();
        let runner = self.runner_or_start(&cluster, || ClusterEngine::new(fresh_engine(), None));
        if !runner.submit(Job { snapshot, now }) {
            Metrics::inc(&self.shared.metrics.aiops_snapshots_dropped);
            tracing::warn!(
                cluster,
                "the aiops engine is behind: a snapshot is left out of it"
            );
        }
    }

    /// Waits until the engine of `cluster` is done with every snapshot queued before this
    /// call (at once when it has none).
    pub async fn caught_up(&self, cluster: &str) {
        if let Some(runner) = self.runner(cluster) {
            runner.caught_up().await;
        }
    }

    /// Stops every engine after it has finished its queue and saved its state.
    pub async fn stop(&self) {
        for runner in self.runners().values() {
            runner.close();
        }
        let tasks = std::mem::take(
            &mut *self
                .shared
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "an aiops engine task failed");
            }
        }
    }

    /// Restores the saved engines at start: moves an earlier version's document into the
    /// tables, continues each cluster whose state is of this version, relearns the others and
    /// closes the open incidents no engine follows any more.
    pub async fn restore(&self) -> StoreResult<Restored> {
        let store = self.shared.store.as_ref();
        let now = (self.shared.clock)();
        let mut restored = Restored {
            migrated_legacy: self.migrate_legacy(now).await?,
            ..Restored::default()
        };
        let mut followed = Vec::new();
        for record in store.engine_states().await? {
            match read_state(&record) {
                Ok(engine) => {
                    followed.extend(engine.incidents().iter().map(|i| i.id.clone()));
                    let cluster = record.cluster_id.clone();
                    self.runner_or_start(&cluster, || ClusterEngine::new(engine, Some(record.saved_at.0)));
                    restored.continued.push(cluster);
                }
                Err(reason) => {
                    tracing::warn!(cluster = %record.cluster_id, %reason, "the aiops engine relearns this cluster");
                    restored.relearning.push(record.cluster_id.clone());
                }
            }
        }
        let (open, _) = store
            .incidents(&IncidentFilter {
                state: Some(IncidentStateFilter::Open),
                ..IncidentFilter::default()
            })
            .await?;
        let mut closed = Vec::new();
        for summary in open.into_iter().filter(|i| !followed.contains(&i.id)) {
            if let Some(mut incident) = store.incident(&summary.id).await? {
                close_relearned(&mut incident, now.0);
                closed.push(incident);
            }
        }
        restored.closed = closed.len();
        store
            .save_aiops(AiopsChanges {
                incidents: closed.iter().collect(),
                ..AiopsChanges::default()
            })
            .await?;
        Ok(restored)
    }

    /// Moves the single document of earlier versions into the tables. An unreadable one is
    /// left where it is (and logged), so nothing is lost.
    async fn migrate_legacy(&self, now: Timestamp) -> StoreResult<bool> {
        let store = self.shared.store.as_ref();
        let Some(json) = store.legacy_aiops_state().await? else {
            return Ok(false);
        };
        let engine: Engine = match serde_json::from_str(&json) {
            Ok(engine) => engine,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the aiops state of an earlier version; it stays in table aiops_state");
                return Ok(false);
            }
        };
        for (cluster, mut engine) in engine.split_by_cluster() {
            let incidents: Vec<Incident> = engine.incidents().iter().cloned().collect();
            engine.prune_incidents(i64::MAX);
            let state = serde_json::to_string(&engine)
                .ok()
                .map(|state| EngineStateRecord {
                    cluster_id: cluster.clone(),
                    version: ENGINE_STATE_VERSION,
                    saved_at: now,
                    state,
                });
            store
                .save_aiops(AiopsChanges {
                    incidents: incidents.iter().collect(),
                    removed: Vec::new(),
                    state,
                })
                .await?;
        }
        store.drop_legacy_aiops_state().await?;
        tracing::info!("the aiops state of an earlier version moved into per-cluster tables");
        Ok(true)
    }

    /// Deletes incidents resolved before `cutoff` (the hourly retention).
    pub async fn prune(&self, resolved_before: Timestamp) -> ServiceResult<u64> {
        Ok(self.shared.store.prune_incidents(resolved_before).await?)
    }

    /// The cluster's risk after its last tick (`None` before the first).
    pub fn cluster_risk(&self, cluster: &str) -> Option<ClusterRisk> {
        let runner = self.runner(cluster)?;
        let ce = runner.read();
        ce.engine.cluster_risk(cluster).cloned()
    }

    /// The riskiest entities of a cluster (R_final > 0), at most `limit`.
    pub fn ranking(&self, cluster: &str, limit: usize) -> Vec<EntityRisk> {
        self.runner(cluster)
            .map(|r| r.read().engine.ranking(cluster, limit))
            .unwrap_or_default()
    }

    /// The cluster's dependency graph as of its last tick.
    pub fn graph(&self, cluster: &str) -> Option<DependencyGraph> {
        let runner = self.runner(cluster)?;
        let ce = runner.read();
        ce.engine.graph(cluster).cloned()
    }

    /// Every number behind an entity's risk; 404 when the entity is not in the graph.
    pub fn explain(&self, cluster: &str, entity: &str) -> ServiceResult<Explanation> {
        let not_found = || {
            ServiceError::not_found(format!(
                "entity {entity:?} is not in the dependency graph of cluster {cluster:?}"
            ))
        };
        let runner = self.runner(cluster).ok_or_else(not_found)?;
        let ce = runner.read();
        ce.engine.explain(cluster, entity).map_err(|_| not_found())
    }

    /// Incidents from the store, newest first, with the total matching.
    pub async fn incidents(&self, filter: &IncidentFilter) -> ServiceResult<(Vec<Incident>, u64)> {
        Ok(self.shared.store.incidents(filter).await?)
    }

    /// One incident with its timeline.
    pub async fn incident(&self, id: &str) -> ServiceResult<Incident> {
        self.shared
            .store
            .incident(id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("unknown incident {id:?}")))
    }

    /// How many incidents are open, per cluster.
    pub async fn open_counts(&self) -> ServiceResult<HashMap<String, usize>> {
        let (open, _) = self
            .incidents(&IncidentFilter {
                state: Some(IncidentStateFilter::Open),
                ..IncidentFilter::default()
            })
            .await?;
        let mut counts = HashMap::new();
        for incident in open {
            *counts.entry(incident.cluster).or_default() += 1;
        }
        Ok(counts)
    }

    /// Statistics of the incidents that started in `[from, to)`.
    pub async fn statistics(&self, from: Timestamp, to: Timestamp) -> ServiceResult<Statistics> {
        let (incidents, _) = self
            .incidents(&IncidentFilter {
                started_from: Some(from),
                started_before: Some(to),
                ..IncidentFilter::default()
            })
            .await?;
        Ok(atlhyper_aiops::statistics(&incidents, from.0, to.0))
    }

    /// Snapshots left out of the engines because a queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared
            .metrics
            .aiops_snapshots_dropped
            .load(Ordering::Relaxed)
    }
}

/// The engine of a saved state, or why it cannot continue.
fn read_state(record: &EngineStateRecord) -> Result<Engine, String> {
    if record.version != ENGINE_STATE_VERSION {
        return Err(format!(
            "its saved state is version {}, this master reads version {ENGINE_STATE_VERSION}",
            record.version
        ));
    }
    serde_json::from_str(&record.state).map_err(|e| format!("its saved state cannot be read: {e}"))
}

/// Closes an incident no engine follows any more.
fn close_relearned(incident: &mut Incident, now_ms: i64) {
    let root = incident.root_cause.clone();
    incident.timeline.push(TimelineEntry {
        at_ms: now_ms,
        entity: root,
        event: Event::Relearned,
    });
    incident.state = State::Stable;
    incident.resolved_at_ms = Some(now_ms);
    for member in &mut incident.entities {
        member.active = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_config_is_valid() {
        assert!(Engine::new(engine_config()).is_ok());
    }

    #[test]
    fn another_version_or_garbage_means_relearning() {
        let engine = fresh_engine();
        let record = |version, state: String| EngineStateRecord {
            cluster_id: "prod".into(),
            version,
            saved_at: Timestamp(0),
            state,
        };
        let json = serde_json::to_string(&engine).unwrap();
        assert!(read_state(&record(ENGINE_STATE_VERSION, json.clone())).is_ok());
        let other = read_state(&record(ENGINE_STATE_VERSION + 1, json)).unwrap_err();
        assert!(other.contains("this master reads version"), "{other}");
        assert!(read_state(&record(ENGINE_STATE_VERSION, "{}".into())).is_err());
    }
}
