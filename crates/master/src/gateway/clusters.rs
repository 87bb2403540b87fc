//! Cluster registration, listing and delivery status.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{CurrentUser, audited, created};
use crate::auth::{Role, agent_token_hash, new_agent_token};
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use crate::store::{ClusterRecord, SeqStats};

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(list_clusters, register_cluster))
        .routes(routes!(cluster_detail))
        .routes(routes!(cluster_status))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterCluster {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredCluster {
    pub id: String,
    /// The agent's token. Shown once: only its hash is stored.
    pub token: String,
}

/// Registers a cluster and returns its agent token once (admin).
#[utoipa::path(post, path = "/api/v2/clusters", request_body = RegisterCluster,
    responses((status = 201, body = RegisteredCluster), (status = 400), (status = 403), (status = 409)))]
async fn register_cluster(
    State(state): State<SharedState>,
    user: CurrentUser,
    Json(req): Json<RegisterCluster>,
) -> ApiResult<Response> {
    let target = format!("cluster/{}", req.id);
    user.require(&state, Role::Admin, "cluster.register", &target)
        .await?;
    let outcome = async {
        validate_cluster_id(&req.id)?;
        let token = new_agent_token().map_err(|e| ApiError::internal(e.to_string()))?;
        let record = ClusterRecord {
            id: req.id.clone(),
            name: if req.name.is_empty() {
                req.id.clone()
            } else {
                req.name.clone()
            },
            token_hash: agent_token_hash(&token),
            created_at: state.now(),
        };
        state.store.create_cluster(&record).await?;
        Ok(created(RegisteredCluster {
            id: req.id.clone(),
            token,
        }))
    }
    .await;
    audited(
        &state,
        &user,
        "cluster.register",
        &target,
        &format!("name={}", req.name),
        outcome,
    )
    .await
}

fn validate_cluster_id(id: &str) -> ApiResult<()> {
    let ok = (1..=63).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid cluster id {id:?}: use 1-63 lowercase letters, digits and '-', not at either end"
        )))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub online: bool,
    pub last_seen: Option<String>,
}

fn view(state: &SharedState, c: &ClusterRecord) -> ClusterView {
    let live = state.hub.get(&c.id);
    let offline_ms = i64::try_from(state.config.offline_after.as_millis()).unwrap_or(i64::MAX);
    ClusterView {
        id: c.id.clone(),
        name: c.name.clone(),
        created_at: c.created_at.to_string(),
        online: state.hub.online(&c.id, state.now(), offline_ms),
        last_seen: live.last_seen.map(|t| t.to_string()),
    }
}

/// Every registered cluster with its agent's online state.
#[utoipa::path(get, path = "/api/v2/clusters", responses((status = 200, body = Vec<ClusterView>)))]
async fn list_clusters(
    State(state): State<SharedState>,
    _user: CurrentUser,
) -> ApiResult<Json<Vec<ClusterView>>> {
    let clusters = state.store.clusters().await?;
    Ok(Json(clusters.iter().map(|c| view(&state, c)).collect()))
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
    pub targets: Vec<atlhyper_model::TargetHealth>,
}

/// One cluster with what its latest snapshot says.
#[utoipa::path(get, path = "/api/v2/clusters/{id}", params(("id" = String, Path)),
    responses((status = 200, body = ClusterDetail), (status = 404)))]
async fn cluster_detail(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ClusterDetail>> {
    let cluster = find(&state, &id).await?;
    let latest = match state.hub.get(&id).latest {
        Some(held) => Some((*held).clone()),
        None => state.store.latest_snapshot(&id).await?,
    };
    Ok(Json(ClusterDetail {
        cluster: view(&state, &cluster),
        last_snapshot_at: latest.as_ref().map(|s| s.taken_at.to_string()),
        slo_entries: latest.as_ref().map_or(0, |s| s.slo.len()),
        targets: latest.map(|s| s.targets).unwrap_or_default(),
    }))
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

/// Delivery status: is the agent online, and did every snapshot arrive?
#[utoipa::path(get, path = "/api/v2/clusters/{id}/status", params(("id" = String, Path)),
    responses((status = 200, body = ClusterStatus), (status = 404)))]
async fn cluster_status(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ClusterStatus>> {
    let cluster = find(&state, &id).await?;
    let live = state.hub.get(&id);
    let stats = state.store.seq_stats(&id).await?;
    Ok(Json(ClusterStatus {
        online: view(&state, &cluster).online,
        id,
        last_seen: live.last_seen.map(|t| t.to_string()),
        last_heartbeat: live.last_heartbeat.map(|t| t.to_string()),
        delivery: stats.into(),
    }))
}

pub async fn find(state: &SharedState, id: &str) -> ApiResult<ClusterRecord> {
    state
        .store
        .cluster(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("unknown cluster {id:?}")))
}
