//! The watchers: one kube-rs `runtime::watcher` task per kind feeding its store, the
//! `metrics.k8s.io` listing with its retry pause, and each kind's status.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlhyper_model::resources::{KindStatus, ResourceSnapshot};
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, LimitRange, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod,
    ResourceQuota, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::api::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;

use super::store::{KindStore, ResourceState};
use super::summarize::Summarize;
use super::usage::{Usage, fetch_usage, merge_usage};
use crate::anomaly::AnomalyRules;

/// What the resource watchers keep and how anomalies are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchSettings {
    pub rules: AnomalyRules,
    /// Events kept in a snapshot: the newest this many by last time seen.
    pub max_events: usize,
    /// Ask `metrics.k8s.io` for usage.
    pub metrics: bool,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            rules: AnomalyRules::default(),
            max_events: 1000,
            metrics: true,
        }
    }
}

/// After `metrics.k8s.io` failed, wait this long before asking again.
const METRICS_RETRY_MS: i64 = 300_000;
/// The longest a snapshot waits for `metrics.k8s.io`.
const METRICS_TIMEOUT: Duration = Duration::from_secs(5);

/// The 20 watchers and the state they keep.
pub struct ResourceWatcher {
    client: kube::Client,
    settings: WatchSettings,
    state: Arc<Mutex<ResourceState>>,
    /// When `metrics.k8s.io` may be asked next (after a failure), and the last error.
    metrics_next_ms: Mutex<(i64, Option<String>)>,
}

impl ResourceWatcher {
    pub fn new(client: kube::Client, settings: WatchSettings) -> Self {
        Self {
            client,
            settings,
            state: Arc::new(Mutex::new(ResourceState::default())),
            metrics_next_ms: Mutex::new((i64::MIN, None)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ResourceState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs every kind's watch until `shutdown`.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        macro_rules! watch {
            ($($ty:ty => $field:ident),* $(,)?) => {$(
                tasks.spawn(watch_kind::<$ty>(
                    self.client.clone(),
                    Arc::clone(&self.state),
                    |s: &mut ResourceState| &mut s.$field,
                    shutdown.clone(),
                ));
            )*};
        }
        watch!(
            Pod => pods, Node => nodes, Deployment => deployments, StatefulSet => stateful_sets,
            DaemonSet => daemon_sets, ReplicaSet => replica_sets, Job => jobs, CronJob => cron_jobs,
            Service => services, Ingress => ingresses, ConfigMap => config_maps, Secret => secrets,
            Namespace => namespaces, Event => events, PersistentVolume => persistent_volumes,
            PersistentVolumeClaim => persistent_volume_claims, ResourceQuota => resource_quotas,
            LimitRange => limit_ranges, NetworkPolicy => network_policies,
            ServiceAccount => service_accounts,
        );
        shutdown.cancelled().await;
        tasks.shutdown().await;
    }

    /// Each kind's watch status.
    pub fn kinds(&self) -> Vec<KindStatus> {
        self.lock().kinds()
    }

    /// Whether every kind has either listed once or reported an error.
    pub fn settled(&self) -> bool {
        self.kinds().iter().all(|k| k.synced || k.error.is_some())
    }

    /// The full state now, with usage when `metrics.k8s.io` answers.
    pub async fn snapshot(&self, now_ms: i64) -> ResourceSnapshot {
        let usage = self.usage(now_ms).await;
        let mut snap = self.lock().snapshot(now_ms, &self.settings);
        let metrics_error = self
            .metrics_next_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .clone();
        if let Some(usage) = usage {
            merge_usage(&mut snap, &usage);
        }
        if self.settings.metrics {
            snap.kinds.push(KindStatus {
                kind: "metrics.k8s.io".into(),
                synced: snap.metrics_available,
                items: snap.pods.iter().filter(|p| p.usage.is_some()).count() as u32,
                error: metrics_error,
                relists: 0,
            });
        }
        snap
    }

    async fn usage(&self, now_ms: i64) -> Option<Usage> {
        if !self.settings.metrics {
            return None;
        }
        let next = self
            .metrics_next_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
        if now_ms < next {
            return None;
        }
        let fetched = tokio::time::timeout(METRICS_TIMEOUT, fetch_usage(&self.client)).await;
        let mut slot = self
            .metrics_next_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match fetched {
            Ok(Ok(usage)) => {
                *slot = (i64::MIN, None);
                Some(usage)
            }
            Ok(Err(e)) => {
                *slot = (now_ms.saturating_add(METRICS_RETRY_MS), Some(e.to_string()));
                None
            }
            Err(_) => {
                *slot = (now_ms.saturating_add(METRICS_RETRY_MS), Some("timed out".into()));
                None
            }
        }
    }
}

/// One kind's watch loop: events into its store until `shutdown`; errors are recorded and the
/// watcher retries with kube-rs's default backoff.
async fn watch_kind<K: Summarize>(
    client: kube::Client,
    state: Arc<Mutex<ResourceState>>,
    field: fn(&mut ResourceState) -> &mut KindStore<K::Summary>,
    shutdown: CancellationToken,
) {
    let api: Api<K> = Api::all(client);
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = stream.next() => next,
        };
        let Some(event) = next else { return };
        let mut guard = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let store = field(&mut guard);
        match event {
            Ok(event) => store.apply(event, K::summarize),
            Err(e) => {
                if !store.failing() {
                    tracing::warn!(kind = K::KIND.as_str(), error = %e, "watch failed; retrying");
                }
                store.fail(e.to_string());
            }
        }
    }
}
