//! The running agent: the collect loop (every `slo.collect_interval`: a cycle, a numbered
//! snapshot, spooled), the delivery loop (the spool drained oldest first, with backoff), the
//! heartbeat loop, and the agent's own `/healthz` and `/metrics`.
//!
//! Every snapshot goes through the spool, also when the master is up: the spool is the one
//! path, so a crash between taking a snapshot and its acknowledgement loses nothing, and
//! delivery order is sequence order.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use atlhyper_model::{AgentSnapshot, SNAPSHOT_VERSION, Timestamp};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::collect::{Collector, Cycle};
use crate::commands::CommandExecutor;
use crate::config::AgentConfig;
use crate::discovery::KubeDiscovery;
use crate::push::{AgentToken, Backoff, MasterClient, MasterError, PushOutcome, jitter_seed};
use crate::resources::ResourceWatcher;
use crate::scrape::ScrapeError;
use crate::self_metrics::AgentMetrics;
use crate::spool::{SharedSpool, Spool, SpoolError};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("no cluster id: pass --cluster-id or set cluster_id in the config")]
    NoClusterId,
    #[error(
        "the configured sources need the Kubernetes API: pass --kubeconfig, set KUBECONFIG, or run in a cluster"
    )]
    NeedsKubernetes,
    #[error(transparent)]
    Master(#[from] MasterError),
    #[error(transparent)]
    Scrape(#[from] ScrapeError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("collect loop failed: {0}")]
    CollectLoop(tokio::task::JoinError),
    #[error("cannot encode snapshot: {0}")]
    Encode(serde_json::Error),
    #[error("cannot compress snapshot: {0}")]
    Compress(std::io::Error),
}

/// The first retry waits this long; later ones double up to `push.max_backoff`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The wall clock in Unix milliseconds. Only the runtime reads the clock; the collector and
/// the window are given the time.
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Everything one agent process needs, resolved from flags, environment and file.
pub struct AgentSettings {
    pub cluster_id: String,
    pub config: AgentConfig,
    pub token: AgentToken,
    pub kube: Option<kube::Client>,
}

/// The agent's parts that outlive one cycle, shared by its loops.
pub struct Agent {
    cluster_id: String,
    config: AgentConfig,
    collector: tokio::sync::Mutex<Collector>,
    /// Reached only through [`SharedSpool::with`], so its fsyncs and the snapshot's gzip run
    /// on the blocking pool.
    spool: SharedSpool,
    master: MasterClient,
    spooled: Notify,
    metrics: Arc<AgentMetrics>,
    /// The resource watchers (with Kubernetes access and `resources.enabled`); their state
    /// goes into snapshots once [`resource_loop`](Self::resource_loop) runs.
    resources: Option<Arc<ResourceWatcher>>,
    resources_running: std::sync::atomic::AtomicBool,
    /// Runs commands (with Kubernetes access and `commands.enabled`).
    executor: Option<CommandExecutor>,
}

impl Agent {
    pub fn new(settings: AgentSettings) -> Result<Arc<Self>, AgentError> {
        let AgentSettings {
            cluster_id,
            config,
            token,
            kube,
        } = settings;
        if cluster_id.is_empty() {
            return Err(AgentError::NoClusterId);
        }
        if Collector::needs_kubernetes(&config) && kube.is_none() {
            return Err(AgentError::NeedsKubernetes);
        }
        // Opened here, in a synchronous constructor, once and before any loop runs: a directory
        // listing and two small reads, no fsync. Every later spool call goes through
        // `SharedSpool`.
        let spool = Spool::open(
            &config.spool.dir,
            config.spool.max_bytes.0,
            i64::try_from(config.spool.max_age.0.as_millis()).unwrap_or(i64::MAX),
        )?;
        let master = MasterClient::new(&config.master_url, &cluster_id, token, config.push.timeout.0)?;
        let resources = kube
            .clone()
            .filter(|_| config.resources.enabled)
            .map(|client| Arc::new(ResourceWatcher::new(client, config.resources.watch_settings())));
        let executor = kube
            .clone()
            .filter(|_| config.commands.enabled)
            .map(|client| CommandExecutor::new(client, config.commands.timeout.0));
        let collector = Collector::new(config.clone(), kube.map(KubeDiscovery::new))?;
        let metrics = Arc::new(AgentMetrics::default());
        metrics.set_spool(spool.len(), spool.bytes(), spool.dropped());
        Ok(Arc::new(Self {
            cluster_id,
            config,
            collector: tokio::sync::Mutex::new(collector),
            spool: SharedSpool::new(spool),
            master,
            spooled: Notify::new(),
            metrics,
            resources,
            resources_running: std::sync::atomic::AtomicBool::new(false),
            executor,
        }))
    }

    pub fn metrics(&self) -> Arc<AgentMetrics> {
        Arc::clone(&self.metrics)
    }

    /// Runs every loop until `shutdown` is cancelled. The snapshots still spooled then stay
    /// on disk for the next start.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), AgentError> {
        let server = match self.config.listen.as_str() {
            "" => None,
            addr => Some(self.serve_own_endpoints(addr, shutdown.clone()).await?),
        };
        let collect = tokio::spawn(Arc::clone(&self).collect_loop(shutdown.clone()));
        let deliver = tokio::spawn(Arc::clone(&self).delivery_loop(shutdown.clone()));
        let heartbeat = tokio::spawn(Arc::clone(&self).heartbeat_loop(shutdown.clone()));
        let resources = tokio::spawn(Arc::clone(&self).resource_loop(shutdown.clone()));
        let commands = tokio::spawn(Arc::clone(&self).command_loop(shutdown.clone()));
        let (collected, _, _, _, _) = tokio::join!(collect, deliver, heartbeat, resources, commands);
        if let Some(server) = server {
            let _ = server.await;
        }
        collected.map_err(AgentError::CollectLoop)?
    }

    async fn collect_loop(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), AgentError> {
        let mut ticks = tokio::time::interval(self.config.slo.collect_interval.0);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = ticks.tick() => {}
            }
            if let Err(e) = self.collect_once(now_ms()).await {
                // A spool that cannot be written is the one failure that loses data: say it
                // loudly, and keep trying (the disk may come back).
                tracing::error!(error = %e, "cannot spool the snapshot");
            }
        }
    }

    /// Runs one cycle at `now_ms` and spools its snapshot; returns the snapshot's seq.
    pub async fn collect_once(&self, now_ms: i64) -> Result<u64, AgentError> {
        let cycle = self.collector.lock().await.cycle(now_ms).await;
        self.metrics.record_cycle(&cycle.stats);
        let resources = match &self.resources {
            Some(watcher) if self.resources_running.load(std::sync::atomic::Ordering::Acquire) => {
                Some(watcher.snapshot(now_ms).await)
            }
            _ => None,
        };
        let seq = self.spool_cycle(cycle, resources, now_ms).await?;
        self.spooled.notify_one();
        Ok(seq)
    }

    /// Numbers, encodes and spools one snapshot, as one blocking call under the spool's lock:
    /// files are written in seq order, the snapshot reports the drop count of that moment, and
    /// neither the fsyncs nor the JSON encoding and gzip of a body that reaches megabytes (the
    /// full resource state of a large cluster) run on a runtime worker.
    async fn spool_cycle(
        &self,
        cycle: Cycle,
        resources: Option<atlhyper_model::ResourceSnapshot>,
        now_ms: i64,
    ) -> Result<u64, AgentError> {
        let cluster_id = self.cluster_id.clone();
        let metrics = Arc::clone(&self.metrics);
        self.spool
            .with(move |spool| Self::spool_snapshot(spool, cluster_id, cycle, resources, now_ms, &metrics))
            .await
    }

    fn spool_snapshot(
        spool: &mut Spool,
        cluster_id: String,
        cycle: Cycle,
        resources: Option<atlhyper_model::ResourceSnapshot>,
        now_ms: i64,
        metrics: &AgentMetrics,
    ) -> Result<u64, AgentError> {
        spool.expire(now_ms)?;
        let seq = spool.next_seq()?;
        let snapshot = AgentSnapshot {
            version: SNAPSHOT_VERSION,
            cluster_id,
            seq,
            taken_at: Timestamp(now_ms),
            slo: cycle.slo,
            slo_counters: cycle.counters,
            interval_start: Timestamp(cycle.interval_start_ms),
            interval_end: Timestamp(cycle.interval_end_ms),
            dropped_snapshots: spool.dropped(),
            targets: cycle.targets,
            nodes: cycle.nodes,
            node_series: cycle.node_series,
            resources,
        };
        spool.push(seq, now_ms, &gzip_json(&snapshot)?)?;
        metrics.set_spool(spool.len(), spool.bytes(), spool.dropped());
        Ok(seq)
    }

    /// Drains the spool to the master, oldest first, until `shutdown`: the delivery half of
    /// [`run`](Self::run), on its own so tests can drive the collect cycles by hand.
    pub async fn delivery_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let max_backoff = self.config.push.max_backoff.0;
        let mut backoff = Backoff::new(FIRST_BACKOFF, max_backoff, jitter_seed());
        let mut failing = false;
        loop {
            let delivered = self.deliver_oldest().await;
            let wait = match delivered {
                Delivery::Empty => None,
                Delivery::Done => {
                    if failing {
                        tracing::info!(master = self.master.base_url(), "master reachable again");
                        failing = false;
                    }
                    backoff.reset();
                    continue;
                }
                Delivery::Retry(reason) => {
                    if !failing {
                        tracing::warn!(master = self.master.base_url(), %reason, "snapshot push failed; spooling and retrying");
                        failing = true;
                    }
                    Some(backoff.next_delay())
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.spooled.notified(), if wait.is_none() => {}
                () = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
            }
        }
    }

    /// Pushes the oldest spooled snapshot once.
    async fn deliver_oldest(&self) -> Delivery {
        let next = self
            .spool
            .with(|spool| Ok::<_, SpoolError>(spool.oldest().cloned().map(|s| (spool.read(&s), s))))
            .await;
        let (body, spooled) = match next {
            Ok(Some(next)) => next,
            Ok(None) => return Delivery::Empty,
            Err(e) => return Delivery::Retry(e.to_string()),
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                // Unreadable on disk: it can never be delivered; drop it so the rest can go.
                tracing::error!(seq = spooled.seq, error = %e, "dropping an unreadable spooled snapshot");
                return self.settle(spooled.seq, false).await;
            }
        };
        match self.master.push_snapshot(body).await {
            PushOutcome::Accepted => {
                self.metrics.pushed();
                self.settle(spooled.seq, true).await
            }
            PushOutcome::Rejected { status, message } => {
                tracing::error!(seq = spooled.seq, status, %message, "the master refused a snapshot; dropping it");
                self.settle(spooled.seq, false).await
            }
            PushOutcome::Retry { reason } => {
                self.metrics.push_failed();
                Delivery::Retry(reason)
            }
        }
    }

    async fn settle(&self, seq: u64, accepted: bool) -> Delivery {
        let metrics = Arc::clone(&self.metrics);
        let settled = self
            .spool
            .with(move |spool| {
                let settled = if accepted {
                    spool.ack(seq)
                } else {
                    spool.reject(seq)
                };
                metrics.set_spool(spool.len(), spool.bytes(), spool.dropped());
                settled
            })
            .await;
        match settled {
            Ok(()) => Delivery::Done,
            Err(e) => Delivery::Retry(e.to_string()),
        }
    }

    /// Watches the cluster's resources until `shutdown` (nothing without Kubernetes access or
    /// with `resources.enabled: false`); from its start every snapshot carries them. On its
    /// own so tests can run it beside hand-driven collect cycles.
    pub async fn resource_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(watcher) = self.resources.clone() else {
            return;
        };
        self.resources_running
            .store(true, std::sync::atomic::Ordering::Release);
        watcher.run(shutdown).await;
    }

    /// The resource watchers, when configured (tests wait on [`ResourceWatcher::settled`]).
    pub fn resources(&self) -> Option<Arc<ResourceWatcher>> {
        self.resources.clone()
    }

    /// Long-polls the master for commands and runs them until `shutdown` (nothing without
    /// Kubernetes access or with `commands.enabled: false`). On its own so tests can run it
    /// alone.
    pub async fn command_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(executor) = self.executor.clone() else {
            return;
        };
        crate::commands::command_loop(
            self.master.clone(),
            executor,
            self.config.commands.poll_timeout.0,
            shutdown,
        )
        .await;
    }

    async fn heartbeat_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.config.heartbeat_interval.0);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(e) = self.master.heartbeat().await {
                tracing::debug!(error = %e, "heartbeat failed");
            }
        }
    }

    /// Serves `/healthz` and `/metrics` until shutdown; returns once listening.
    async fn serve_own_endpoints(
        &self,
        addr: &str,
        shutdown: CancellationToken,
    ) -> Result<tokio::task::JoinHandle<()>, AgentError> {
        let listen_error = |source| AgentError::Listen {
            addr: addr.to_owned(),
            source,
        };
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| listen_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(listen_error)?;
        let bound = listener.local_addr().map_err(listen_error)?;
        self.metrics.set_listen_addr(bound);
        tracing::info!(%bound, "agent endpoints: /healthz, /metrics");
        let router = crate::self_metrics::router(Arc::clone(&self.metrics));
        Ok(tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "agent endpoints stopped");
            }
        }))
    }
}

enum Delivery {
    Empty,
    Done,
    Retry(String),
}

fn gzip_json(snapshot: &AgentSnapshot) -> Result<Vec<u8>, AgentError> {
    let json = serde_json::to_vec(snapshot).map_err(AgentError::Encode)?;
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 4), flate2::Compression::fast());
    encoder
        .write_all(&json)
        .and_then(|()| encoder.finish())
        .map_err(AgentError::Compress)
}
