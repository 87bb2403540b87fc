//! The per-kind stores the watchers feed, and the snapshot assembled from them: pods per node
//! and namespace, the cluster counts, the anomaly rules run over the whole state. Pure: the
//! watch events come in as values, the time as a parameter.

use std::collections::BTreeMap;

use atlhyper_model::resources::{
    ClusterSummary, ConfigMapSummary, CronJobSummary, EventSummary, IngressSummary, JobSummary, KindStatus,
    LimitRangeSummary, NamespaceSummary, NetworkPolicySummary, NodeSummary, PersistentVolumeClaimSummary,
    PersistentVolumeSummary, PodSummary, ResourceKind, ResourceQuotaSummary, ResourceSnapshot, SecretSummary,
    ServiceAccountSummary, ServiceSummary, Severity, WorkloadSummary,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher;

use super::WatchSettings;
use crate::anomaly::{self, AnomalyRules};

/// An object's namespace and name (empty namespace for cluster-scoped kinds).
pub(super) type Key = (String, String);

pub(super) fn key_of(m: &ObjectMeta) -> Key {
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

/// One kind's summaries, kept in step with its watch.
#[derive(Debug)]
pub struct KindStore<S> {
    items: BTreeMap<Key, S>,
    /// The list in progress after an `Init`, swapped in at `InitDone`.
    relisting: Option<BTreeMap<Key, S>>,
    synced: bool,
    error: Option<String>,
    lists: u64,
}

impl<S> Default for KindStore<S> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
            relisting: None,
            synced: false,
            error: None,
            lists: 0,
        }
    }
}

impl<S: Clone> KindStore<S> {
    /// Applies one watcher event, summarizing objects with `f`.
    pub fn apply<K: kube::Resource>(&mut self, event: watcher::Event<K>, f: impl Fn(&K) -> S) {
        match event {
            watcher::Event::Init => self.relisting = Some(BTreeMap::new()),
            watcher::Event::InitApply(obj) => {
                let relisting = self.relisting.get_or_insert_with(BTreeMap::new);
                relisting.insert(key_of(obj.meta()), f(&obj));
            }
            watcher::Event::InitDone => {
                if let Some(items) = self.relisting.take() {
                    self.items = items;
                }
                self.synced = true;
                self.error = None;
                self.lists += 1;
            }
            watcher::Event::Apply(obj) => {
                self.items.insert(key_of(obj.meta()), f(&obj));
                self.error = None;
            }
            watcher::Event::Delete(obj) => {
                self.items.remove(&key_of(obj.meta()));
            }
        }
    }

    pub fn fail(&mut self, error: String) {
        self.error = Some(error);
    }

    /// Whether the last watch attempt failed (and no event has arrived since).
    pub(super) fn failing(&self) -> bool {
        self.error.is_some()
    }

    pub fn values(&self) -> Vec<S> {
        self.items.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(super) fn status(&self, kind: ResourceKind) -> KindStatus {
        KindStatus {
            kind: kind.as_str().to_owned(),
            synced: self.synced,
            items: self.items.len() as u32,
            error: self.error.clone(),
            relists: self.lists.saturating_sub(1),
        }
    }
}

/// Every kind's store.
#[derive(Debug, Default)]
pub struct ResourceState {
    pub pods: KindStore<PodSummary>,
    pub nodes: KindStore<NodeSummary>,
    pub deployments: KindStore<WorkloadSummary>,
    pub stateful_sets: KindStore<WorkloadSummary>,
    pub daemon_sets: KindStore<WorkloadSummary>,
    pub replica_sets: KindStore<WorkloadSummary>,
    pub jobs: KindStore<JobSummary>,
    pub cron_jobs: KindStore<CronJobSummary>,
    pub services: KindStore<ServiceSummary>,
    pub ingresses: KindStore<IngressSummary>,
    pub config_maps: KindStore<ConfigMapSummary>,
    pub secrets: KindStore<SecretSummary>,
    pub namespaces: KindStore<NamespaceSummary>,
    pub events: KindStore<EventSummary>,
    pub persistent_volumes: KindStore<PersistentVolumeSummary>,
    pub persistent_volume_claims: KindStore<PersistentVolumeClaimSummary>,
    pub resource_quotas: KindStore<ResourceQuotaSummary>,
    pub limit_ranges: KindStore<LimitRangeSummary>,
    pub network_policies: KindStore<NetworkPolicySummary>,
    pub service_accounts: KindStore<ServiceAccountSummary>,
}

impl ResourceState {
    /// Each kind's watch status, in [`ResourceKind::ALL`] order.
    pub fn kinds(&self) -> Vec<KindStatus> {
        use ResourceKind as K;
        vec![
            self.pods.status(K::Pod),
            self.nodes.status(K::Node),
            self.deployments.status(K::Deployment),
            self.stateful_sets.status(K::StatefulSet),
            self.daemon_sets.status(K::DaemonSet),
            self.replica_sets.status(K::ReplicaSet),
            self.jobs.status(K::Job),
            self.cron_jobs.status(K::CronJob),
            self.services.status(K::Service),
            self.ingresses.status(K::Ingress),
            self.config_maps.status(K::ConfigMap),
            self.secrets.status(K::Secret),
            self.namespaces.status(K::Namespace),
            self.events.status(K::Event),
            self.persistent_volumes.status(K::PersistentVolume),
            self.persistent_volume_claims.status(K::PersistentVolumeClaim),
            self.resource_quotas.status(K::ResourceQuota),
            self.limit_ranges.status(K::LimitRange),
            self.network_policies.status(K::NetworkPolicy),
            self.service_accounts.status(K::ServiceAccount),
        ]
    }

    /// The full state as a snapshot (without usage figures), with counts and anomalies.
    pub fn snapshot(&self, now_ms: i64, settings: &WatchSettings) -> ResourceSnapshot {
        let mut events = self.events.values();
        if events.len() > settings.max_events {
            events.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
            events.truncate(settings.max_events);
            events.sort_by(|a, b| (&a.meta.namespace, &a.meta.name).cmp(&(&b.meta.namespace, &b.meta.name)));
        }
        let snapshot = ResourceSnapshot {
            summary: ClusterSummary::default(),
            anomalies: Vec::new(),
            kinds: self.kinds(),
            metrics_available: false,
            pods: self.pods.values(),
            nodes: self.nodes.values(),
            deployments: self.deployments.values(),
            stateful_sets: self.stateful_sets.values(),
            daemon_sets: self.daemon_sets.values(),
            replica_sets: self.replica_sets.values(),
            jobs: self.jobs.values(),
            cron_jobs: self.cron_jobs.values(),
            services: self.services.values(),
            ingresses: self.ingresses.values(),
            config_maps: self.config_maps.values(),
            secrets: self.secrets.values(),
            namespaces: self.namespaces.values(),
            events,
            persistent_volumes: self.persistent_volumes.values(),
            persistent_volume_claims: self.persistent_volume_claims.values(),
            resource_quotas: self.resource_quotas.values(),
            limit_ranges: self.limit_ranges.values(),
            network_policies: self.network_policies.values(),
            service_accounts: self.service_accounts.values(),
        };
        finish_snapshot(snapshot, now_ms, &settings.rules)
    }
}

/// Fills the derived parts of a snapshot: pods per node and namespace, counts, anomalies.
pub fn finish_snapshot(mut snap: ResourceSnapshot, now_ms: i64, rules: &AnomalyRules) -> ResourceSnapshot {
    let mut per_node: BTreeMap<&str, u32> = BTreeMap::new();
    let mut per_ns: BTreeMap<&str, u32> = BTreeMap::new();
    for p in &snap.pods {
        if !matches!(p.phase.as_str(), "Succeeded" | "Failed") && !p.node.is_empty() {
            *per_node.entry(p.node.as_str()).or_default() += 1;
        }
        *per_ns.entry(p.meta.namespace.as_str()).or_default() += 1;
    }
    let (per_node, per_ns): (BTreeMap<String, u32>, BTreeMap<String, u32>) = (
        per_node.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        per_ns.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    );
    for n in &mut snap.nodes {
        n.pods = per_node.get(&n.meta.name).copied().unwrap_or(0);
    }
    for ns in &mut snap.namespaces {
        ns.pods = per_ns.get(&ns.meta.name).copied().unwrap_or(0);
    }
    snap.anomalies = anomaly::detect(&snap, now_ms, rules);
    let phase = |p: &str| snap.pods.iter().filter(|x| x.phase == p).count() as u32;
    snap.summary = ClusterSummary {
        total_nodes: snap.nodes.len() as u32,
        ready_nodes: snap.nodes.iter().filter(|n| n.ready).count() as u32,
        total_pods: snap.pods.len() as u32,
        running_pods: phase("Running"),
        pending_pods: phase("Pending"),
        failed_pods: phase("Failed"),
        succeeded_pods: phase("Succeeded"),
        total_deployments: snap.deployments.len() as u32,
        healthy_deployments: snap.deployments.iter().filter(|d| d.status == "Healthy").count() as u32,
        total_stateful_sets: snap.stateful_sets.len() as u32,
        total_daemon_sets: snap.daemon_sets.len() as u32,
        total_jobs: snap.jobs.len() as u32,
        total_services: snap.services.len() as u32,
        total_ingresses: snap.ingresses.len() as u32,
        total_namespaces: snap.namespaces.len() as u32,
        total_events: snap.events.len() as u32,
        warning_events: snap.events.iter().filter(|e| e.event_type == "Warning").count() as u32,
        anomalies: snap.anomalies.len() as u32,
        critical_anomalies: snap
            .anomalies
            .iter()
            .filter(|a| a.severity == Severity::Critical)
            .count() as u32,
    };
    snap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::summarize_pod;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_store_follows_list_watch_and_relist() {
        let pod = |name: &str| -> Pod { from(json!({"metadata": {"name": name, "namespace": "a"}})) };
        let mut store: KindStore<PodSummary> = KindStore::default();
        store.apply(watcher::Event::Init, summarize_pod);
        store.apply(watcher::Event::InitApply(pod("p1")), summarize_pod);
        store.apply(watcher::Event::InitApply(pod("p2")), summarize_pod);
        assert_eq!(store.len(), 0, "nothing shows before the list is complete");
        store.apply(watcher::Event::<Pod>::InitDone, summarize_pod);
        assert_eq!(store.len(), 2);
        store.apply(watcher::Event::Delete(pod("p1")), summarize_pod);
        store.apply(watcher::Event::Apply(pod("p3")), summarize_pod);
        store.fail("403 forbidden".into());
        // A re-list (after a 410) replaces everything: p2 vanished meanwhile.
        store.apply(watcher::Event::Init, summarize_pod);
        store.apply(watcher::Event::InitApply(pod("p3")), summarize_pod);
        store.apply(watcher::Event::<Pod>::InitDone, summarize_pod);
        let names: Vec<String> = store.values().into_iter().map(|p| p.meta.name).collect();
        assert_eq!(names, ["p3"]);
        let status = store.status(ResourceKind::Pod);
        assert_eq!((status.synced, status.relists, status.error), (true, 1, None));
    }
}
