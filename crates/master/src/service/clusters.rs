//! Clusters: registration (with the agent token shown once), the list with each agent's online
//! state, one cluster's detail and delivery status, and the latest snapshot the others read.

use std::sync::Arc;

use atlhyper_model::{AgentSnapshot, TargetHealth};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{agent_token_hash, new_agent_token};
use crate::datahub::{ClusterLive, Datahub};
use crate::service::access::{Admin, Caller};
use crate::service::audit::Audit;
use crate::service::{Clock, ServiceError, ServiceResult};
use crate::store::{ClusterRecord, SeqStats, Store};

#[derive(Clone)]
pub struct Clusters {
    store: Arc<dyn Store>,
    hub: Arc<Datahub>,
    clock: Clock,
    offline_after_ms: i64,
    audit: Audit,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterCluster {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredCluster {
    pub id: String,
    /// The agent's token. Shown once: only its hash is stored.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub online: bool,
    pub last_seen: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterDetail {
    #[serde(flatten)]
    pub cluster: ClusterView,
    /// Time of the agent's latest snapshot.
    pub last_snapshot_at: Option<String>,
    pub slo_entries: usize,
    /// Scrape-target health from the latest snapshot.
    #[schema(value_type = Vec<Object>)]
    pub targets: Vec<TargetHealth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterStatus {
    pub id: String,
    pub online: bool,
    pub last_seen: Option<String>,
    pub last_heartbeat: Option<String>,
    #[serde(flatten)]
    #[schema(inline)]
    pub delivery: SeqStatsView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeqStatsView {
    pub last_seq: Option<u64>,
    pub snapshots_received: u64,
    /// Sequence numbers never received between the lowest and the highest.
    pub seq_gaps: u64,
    /// Snapshots the agent reports it dropped.
    pub agent_dropped: u64,
    pub last_snapshot_at: Option<String>,
}

impl From<SeqStats> for SeqStatsView {
    fn from(s: SeqStats) -> Self {
        Self {
            last_seq: s.last_seq,
            snapshots_received: s.snapshots_received,
            seq_gaps: s.seq_gaps,
            agent_dropped: s.agent_dropped,
            last_snapshot_at: s.last_snapshot_at.map(|t| t.to_string()),
        }
    }
}

/// A cluster id: 1-63 lowercase letters, digits and `-`, not at either end (a DNS label).
pub fn validate_cluster_id(id: &str) -> ServiceResult<()> {
    let ok = (1..=63).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ServiceError::bad_request(format!(
            "invalid cluster id {id:?}: use 1-63 lowercase letters, digits and '-', not at either end"
        )))
    }
}

impl Clusters {
    pub fn new(
        store: Arc<dyn Store>,
        hub: Arc<Datahub>,
        clock: Clock,
        offline_after_ms: i64,
        audit: Audit,
    ) -> Self {
        Self {
            store,
            hub,
            clock,
            offline_after_ms,
            audit,
        }
    }

    /// Registers a cluster and returns its agent token once (admin; a refusal is audited).
    pub async fn register(&self, caller: &Caller, req: RegisterCluster) -> ServiceResult<RegisteredCluster> {
        let target = format!("cluster/{}", req.id);
        let admin: Admin = self.audit.authorize(caller, "cluster.register", &target).await?;
        let outcome = self.create(&admin, &req).await;
        self.audit
            .outcome(
                &admin,
                "cluster.register",
                &target,
                &format!("name={}", req.name),
                outcome,
            )
            .await
    }

    async fn create(&self, _admin: &Admin, req: &RegisterCluster) -> ServiceResult<RegisteredCluster> {
        validate_cluster_id(&req.id)?;
        let token = new_agent_token().map_err(|e| ServiceError::internal("generating an agent token", e))?;
        let record = ClusterRecord {
            id: req.id.clone(),
            name: if req.name.is_empty() {
                req.id.clone()
            } else {
                req.name.clone()
            },
            token_hash: agent_token_hash(&token),
            created_at: (self.clock)(),
        };
        self.store.create_cluster(&record).await?;
        Ok(RegisteredCluster {
            id: req.id.clone(),
            token,
        })
    }

    /// A registered cluster, or 404.
    pub async fn find(&self, id: &str) -> ServiceResult<ClusterRecord> {
        self.store
            .cluster(id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("unknown cluster {id:?}")))
    }

    /// Every registered cluster.
    pub async fn records(&self) -> ServiceResult<Vec<ClusterRecord>> {
        Ok(self.store.clusters().await?)
    }

    /// Whether the cluster's agent showed a sign of life within the offline threshold.
    pub fn online(&self, id: &str) -> bool {
        self.hub.online(id, (self.clock)(), self.offline_after_ms)
    }

    fn view(&self, c: &ClusterRecord) -> ClusterView {
        ClusterView {
            id: c.id.clone(),
            name: c.name.clone(),
            created_at: c.created_at.to_string(),
            online: self.online(&c.id),
            last_seen: self.hub.get(&c.id).last_seen.map(|t| t.to_string()),
        }
    }

    /// What the master holds in memory of a cluster: last sign of life, latest snapshot.
    pub fn live(&self, id: &str) -> ClusterLive {
        self.hub.get(id)
    }

    /// Every registered cluster with its agent's online state.
    pub async fn list(&self) -> ServiceResult<Vec<ClusterView>> {
        Ok(self.records().await?.iter().map(|c| self.view(c)).collect())
    }

    /// The latest snapshot of a cluster: in memory, else from the store (a restarted master
    /// serves the last state it had).
    pub async fn latest(&self, id: &str) -> ServiceResult<Option<Arc<AgentSnapshot>>> {
        Ok(match self.hub.get(id).latest {
            Some(held) => Some(held),
            None => self.store.latest_snapshot(id).await?.map(Arc::new),
        })
    }

    /// One cluster with what its latest snapshot says.
    pub async fn detail(&self, id: &str) -> ServiceResult<ClusterDetail> {
        let cluster = self.find(id).await?;
        let latest = self.latest(id).await?;
        Ok(ClusterDetail {
            cluster: self.view(&cluster),
            last_snapshot_at: latest.as_ref().map(|s| s.taken_at.to_string()),
            slo_entries: latest.as_ref().map_or(0, |s| s.slo.len()),
            targets: latest.map(|s| s.targets.clone()).unwrap_or_default(),
        })
    }

    /// Delivery status: is the agent online, and did every snapshot arrive?
    pub async fn status(&self, id: &str) -> ServiceResult<ClusterStatus> {
        self.find(id).await?;
        let live = self.hub.get(id);
        let stats = self.store.seq_stats(id).await?;
        Ok(ClusterStatus {
            online: self.online(id),
            id: id.to_owned(),
            last_seen: live.last_seen.map(|t| t.to_string()),
            last_heartbeat: live.last_heartbeat.map(|t| t.to_string()),
            delivery: stats.into(),
        })
    }

    /// Delivery statistics of a registered cluster.
    pub async fn seq_stats(&self, id: &str) -> ServiceResult<SeqStats> {
        self.find(id).await?;
        Ok(self.store.seq_stats(id).await?)
    }

    /// How many clusters are registered and how many of them are online.
    pub async fn counts(&self) -> ServiceResult<(usize, usize)> {
        let clusters = self.records().await?;
        let online = clusters.iter().filter(|c| self.online(&c.id)).count();
        Ok((clusters.len(), online))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_dns_labels() {
        for good in ["prod", "prod-eu-1", "a"] {
            assert!(validate_cluster_id(good).is_ok(), "{good}");
        }
        for bad in ["", "-prod", "prod-", "Prod", "prod_eu", &"x".repeat(64)] {
            assert!(validate_cluster_id(bad).is_err(), "{bad}");
        }
    }
}
