//! One cluster's engine on a task of its own: snapshots arrive through a bounded channel, each
//! is ticked off the async workers, and the incidents it changed are written together with
//! the engine's state in one transaction. Ingest only queues; when the queue is full the
//! snapshot is left out of the engine (counted), never the store.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use atlhyper_aiops::{Engine, Incident, TickInput};
use atlhyper_model::{AgentSnapshot, Timestamp};
use tokio::sync::{mpsc, watch};

use super::input::input_from_snapshot;
use super::{ENGINE_STATE_VERSION, SAVE_EVERY_MS};
use crate::store::{AiopsChanges, EngineStateRecord, Store};

/// One snapshot for the engine, with the master's time of its arrival (the tick's time).
pub(super) struct Job {
    pub snapshot: Arc<AgentSnapshot>,
    pub now: Timestamp,
}

/// A cluster's engine and what is owed to the store.
pub(super) struct ClusterEngine {
    pub engine: Engine,
    /// The highest seq ticked: an older snapshot delivered late is not fed.
    pub last_seq: Option<u64>,
    pub last_saved_ms: Option<i64>,
    /// Ticked since the last save of the state.
    pub dirty: bool,
    /// Incidents changed but not written yet (a failed save is retried with the next).
    pub unsaved: BTreeMap<String, Incident>,
    pub unsaved_removed: Vec<String>,
}

impl ClusterEngine {
    pub fn new(engine: Engine, last_saved_ms: Option<i64>) -> Self {
        Self {
            engine,
            last_seq: None,
            last_saved_ms,
            dirty: false,
            unsaved: BTreeMap::new(),
            unsaved_removed: Vec::new(),
        }
    }

    /// The state record of this engine as it is now.
    fn state_record(&self, cluster: &str, now_ms: i64) -> Option<EngineStateRecord> {
        match serde_json::to_string(&self.engine) {
            Ok(state) => Some(EngineStateRecord {
                cluster_id: cluster.to_owned(),
                version: ENGINE_STATE_VERSION,
                saved_at: Timestamp(now_ms),
                state,
            }),
            Err(e) => {
                tracing::error!(cluster, error = %e, "cannot encode the aiops engine state");
                None
            }
        }
    }
}

/// What a tick leaves to write.
struct Owed {
    incidents: Vec<Incident>,
    removed: Vec<String>,
    state: Option<EngineStateRecord>,
}

/// The handle of one cluster's runner.
pub(super) struct Runner {
    pub cluster: String,
    pub engine: Arc<RwLock<ClusterEngine>>,
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    /// The highest seq queued, and the highest the engine is done with.
    submitted: AtomicU64,
    processed: watch::Sender<u64>,
}

impl Runner {
    /// Starts the task of `cluster` with `engine`; it runs until [`Runner::close`].
    pub fn spawn(
        cluster: String,
        engine: ClusterEngine,
        store: Arc<dyn Store>,
        capacity: usize,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity);
        let runner = Arc::new(Self {
            cluster,
            engine: Arc::new(RwLock::new(engine)),
            sender: Mutex::new(Some(tx)),
            submitted: AtomicU64::new(0),
            processed: watch::Sender::new(0),
        });
        let task = tokio::spawn(run(Arc::clone(&runner), rx, store));
        (runner, task)
    }

    pub fn read(&self) -> RwLockReadGuard<'_, ClusterEngine> {
        self.engine
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(engine: &RwLock<ClusterEngine>) -> RwLockWriteGuard<'_, ClusterEngine> {
        engine.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a snapshot; `false` when the queue is full or closed (the snapshot is left out).
    pub fn submit(&self, job: Job) -> bool {
        let seq = job.snapshot.seq;
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let Some(sender) = sender else {
            return false;
        };
        match sender.try_send(job) {
            Ok(()) => {
                self.submitted.fetch_max(seq, Ordering::SeqCst);
                true
            }
            Err(_) => false,
        }
    }

    /// Waits until the engine is done with every snapshot queued before this call.
    pub async fn caught_up(&self) {
        let target = self.submitted.load(Ordering::SeqCst);
        let mut processed = self.processed.subscribe();
        // Only fails when the runner is gone, and then nothing is left to wait for.
        let _ = processed.wait_for(|p| *p >= target).await;
    }

    /// Stops taking snapshots; the task drains its queue, saves and ends.
    pub fn close(&self) {
        self.sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }
}

async fn run(runner: Arc<Runner>, mut jobs: mpsc::Receiver<Job>, store: Arc<dyn Store>) {
    let mut last_now = 0;
    while let Some(job) = jobs.recv().await {
        let seq = job.snapshot.seq;
        last_now = job.now.0;
        let engine = Arc::clone(&runner.engine);
        let cluster = runner.cluster.clone();
        // A tick is CPU work (milliseconds for a large cluster): off the async workers.
        let owed = tokio::task::spawn_blocking(move || tick(&cluster, &engine, &job)).await;
        match owed {
            Ok(Some(owed)) => save(&runner, store.as_ref(), owed).await,
            Ok(None) => {}
            Err(e) => tracing::error!(cluster = %runner.cluster, error = %e, "aiops tick panicked"),
        }
        runner.processed.send_modify(|p| *p = (*p).max(seq));
    }
    // Closed: write the state once more so a restart continues where this run stopped.
    let owed = {
        let mut ce = Runner::write(&runner.engine);
        let state = ce.state_record(&runner.cluster, last_now.max(ce.last_saved_ms.unwrap_or(0)));
        Owed {
            incidents: std::mem::take(&mut ce.unsaved).into_values().collect(),
            removed: std::mem::take(&mut ce.unsaved_removed),
            state,
        }
    };
    save(&runner, store.as_ref(), owed).await;
}

/// Ticks `engine` with a snapshot; returns what is owed to the store.
fn tick(cluster: &str, engine: &RwLock<ClusterEngine>, job: &Job) -> Option<Owed> {
    let input = TickInput {
        clusters: vec![input_from_snapshot(&job.snapshot)],
    };
    let mut ce = Runner::write(engine);
    if ce.last_seq.is_some_and(|seq| seq >= job.snapshot.seq) {
        return None;
    }
    let now_ms = job.now.0;
    let output = match ce.engine.tick(now_ms, &input) {
        Ok(output) => output,
        Err(e) => {
            tracing::warn!(cluster, error = %e, "aiops tick refused");
            return None;
        }
    };
    ce.last_seq = Some(job.snapshot.seq);
    ce.dirty = true;
    for issue in &output.issues {
        tracing::debug!(cluster, %issue, "aiops input skipped");
    }
    for id in &output.incidents_opened {
        tracing::info!(cluster, incident = %id, "incident opened");
    }
    let changed: Vec<&String> = output
        .incidents_opened
        .iter()
        .chain(&output.incidents_updated)
        .chain(&output.incidents_resolved)
        .chain(output.incidents_merged.iter().map(|m| &m.into))
        .collect();
    for id in &changed {
        if let Some(incident) = ce.engine.incident(id).cloned() {
            ce.unsaved.insert(incident.id.clone(), incident);
        }
    }
    for merge in &output.incidents_merged {
        ce.unsaved.remove(&merge.from);
        ce.unsaved_removed.push(merge.from.clone());
    }
    // Resolved incidents live on in the store; the engine keeps only the open ones.
    ce.engine.prune_incidents(i64::MAX);
    // Open incidents change every tick (members' risk, the peak) without a timeline entry:
    // their rows follow each tick, so the API never shows older numbers than the engine has.
    let open: Vec<Incident> = ce.engine.incidents().iter().cloned().collect();
    for incident in open {
        ce.unsaved.insert(incident.id.clone(), incident);
    }
    // The learning state goes with every tick that changed a state or an incident's
    // timeline (so the two never disagree after a restart), else once a minute.
    let urgent = !output.state_changes.is_empty() || !changed.is_empty();
    let due = urgent || ce.last_saved_ms.is_none_or(|at| now_ms - at >= SAVE_EVERY_MS);
    if !due && ce.unsaved.is_empty() && ce.unsaved_removed.is_empty() {
        return None;
    }
    let state = if due {
        ce.state_record(cluster, now_ms)
    } else {
        None
    };
    Some(Owed {
        incidents: std::mem::take(&mut ce.unsaved).into_values().collect(),
        removed: std::mem::take(&mut ce.unsaved_removed),
        state,
    })
}

/// Writes what a tick owes; on failure it is owed again and retried with the next tick.
async fn save(runner: &Runner, store: &dyn Store, owed: Owed) {
    let changes = AiopsChanges {
        incidents: owed.incidents.iter().collect(),
        removed: owed.removed.clone(),
        state: owed.state.clone(),
    };
    match store.save_aiops(changes).await {
        Ok(()) => {
            let mut ce = Runner::write(&runner.engine);
            if let Some(state) = &owed.state {
                ce.last_saved_ms = Some(state.saved_at.0);
                ce.dirty = false;
            }
        }
        Err(e) => {
            tracing::warn!(cluster = %runner.cluster, error = %e, "cannot save the aiops state; retrying with the next tick");
            let mut ce = Runner::write(&runner.engine);
            for incident in owed.incidents {
                ce.unsaved.entry(incident.id.clone()).or_insert(incident);
            }
            ce.unsaved_removed.extend(owed.removed);
            ce.last_saved_ms = None;
        }
    }
}
