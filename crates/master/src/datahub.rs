//! The latest state of every cluster, in memory: what the dashboard and the status API read
//! without touching the store, and online/offline from the age of the last sign of life.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use atlhyper_model::{AgentSnapshot, Timestamp};

#[derive(Debug, Clone, Default)]
pub struct ClusterLive {
    /// The newest heartbeat or snapshot.
    pub last_seen: Option<Timestamp>,
    pub last_heartbeat: Option<Timestamp>,
    pub latest: Option<Arc<AgentSnapshot>>,
}

#[derive(Debug, Default)]
pub struct Datahub {
    clusters: RwLock<HashMap<String, ClusterLive>>,
}

impl Datahub {
    pub fn heartbeat(&self, cluster_id: &str, at: Timestamp) {
        let mut clusters = self
            .clusters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = clusters.entry(cluster_id.to_owned()).or_default();
        live.last_heartbeat = Some(at);
        live.last_seen = live.last_seen.max(Some(at));
    }

    /// Keeps `snapshot` if it is newer than the one held.
    pub fn snapshot(&self, snapshot: Arc<AgentSnapshot>, at: Timestamp) {
        let mut clusters = self
            .clusters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let live = clusters.entry(snapshot.cluster_id.clone()).or_default();
        live.last_seen = live.last_seen.max(Some(at));
        if live.latest.as_ref().is_none_or(|held| held.seq < snapshot.seq) {
            live.latest = Some(snapshot);
        }
    }

    pub fn get(&self, cluster_id: &str) -> ClusterLive {
        let clusters = self
            .clusters
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clusters.get(cluster_id).cloned().unwrap_or_default()
    }

    /// Whether the cluster showed a sign of life within `offline_after_ms` of `now`.
    pub fn online(&self, cluster_id: &str, now: Timestamp, offline_after_ms: i64) -> bool {
        self.get(cluster_id)
            .last_seen
            .is_some_and(|seen| now.0 - seen.0 <= offline_after_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_follows_the_last_sign_of_life() {
        let hub = Datahub::default();
        assert!(!hub.online("c", Timestamp(0), 60_000));
        hub.heartbeat("c", Timestamp(1_000));
        assert!(hub.online("c", Timestamp(61_000), 60_000));
        assert!(!hub.online("c", Timestamp(61_001), 60_000));
    }
}
