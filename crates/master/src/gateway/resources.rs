//! The cluster's Kubernetes resources, events, anomalies and counts, from the latest
//! snapshot (in memory, else the store, so a restarted master serves the last state it had).

use std::sync::Arc;

use atlhyper_model::resources::{
    Anomaly, ClusterSummary, EventSummary, KindStatus, ResourceKind, ResourceRef, ResourceSnapshot,
};
use atlhyper_model::{AgentSnapshot, Severity, Timestamp, entity_key};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{CurrentUser, clusters::find};
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(list_resources))
        .routes(routes!(resource_detail))
        .routes(routes!(list_events))
        .routes(routes!(list_anomalies))
        .routes(routes!(cluster_summary))
}

/// Pages hold 100 items unless `limit` says otherwise, and at most this many.
const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 100;

/// The latest snapshot, when it carries resources (in memory, else from the store).
pub async fn latest(state: &SharedState, cluster_id: &str) -> ApiResult<Option<Arc<AgentSnapshot>>> {
    find(state, cluster_id).await?;
    let snapshot = match state.hub.get(cluster_id).latest {
        Some(s) => Some(s),
        None => state.store.latest_snapshot(cluster_id).await?.map(Arc::new),
    };
    Ok(snapshot.filter(|s| s.resources.is_some()))
}

fn resources(snapshot: &AgentSnapshot) -> &ResourceSnapshot {
    static EMPTY: std::sync::OnceLock<ResourceSnapshot> = std::sync::OnceLock::new();
    snapshot
        .resources
        .as_ref()
        .unwrap_or_else(|| EMPTY.get_or_init(ResourceSnapshot::default))
}

fn page(limit: Option<usize>, offset: Option<usize>) -> ApiResult<(usize, usize)> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_LIMIT}, not {limit}"
        )));
    }
    Ok((limit, offset.unwrap_or(0)))
}

fn parse_kind(kind: &str) -> ApiResult<ResourceKind> {
    ResourceKind::parse(kind).ok_or_else(|| {
        let known: Vec<&str> = ResourceKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::bad_request(format!("unknown kind {kind:?}; known: {}", known.join(", ")))
    })
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Whether the lowercase `needle` is in one of `fields`; no needle, no text filter.
fn text_matches(needle: Option<&str>, fields: &[&String]) -> bool {
    needle.is_none_or(|n| fields.iter().any(|s| s.to_ascii_lowercase().contains(n)))
}

/// How many items matched in all, and the page of them that `limit` and `offset` select.
fn paginate<T: Clone>(matching: Vec<&T>, limit: usize, offset: usize) -> (usize, Vec<T>) {
    let total = matching.len();
    (
        total,
        matching.into_iter().skip(offset).take(limit).cloned().collect(),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ResourceQuery {
    /// One kind (`Pod`, `deployments`, `svc`, …); without it every kind except Event.
    pub kind: Option<String>,
    pub namespace: Option<String>,
    /// The object's status, exactly (`Running`, `CrashLoopBackOff`, `Ready`, `Degraded`, …).
    pub status: Option<String>,
    /// Text in the name, namespace, status, node, image, host (case-insensitive).
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceItem {
    pub kind: String,
    /// `namespace/kind/name` (cluster-scoped: `_cluster/kind/name`), as AIOps keys it.
    pub entity: String,
    pub namespace: String,
    pub name: String,
    pub status: String,
    /// The summary the agent sent (ConfigMaps and Secrets: keys only).
    #[schema(value_type = Object)]
    pub summary: Value,
}

fn item(kind: ResourceKind, r: &ResourceRef<'_>) -> ApiResult<ResourceItem> {
    let meta = r.meta();
    Ok(ResourceItem {
        kind: kind.as_str().to_owned(),
        entity: entity_key(kind, &meta.namespace, &meta.name),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        status: r.status().to_owned(),
        summary: serde_json::to_value(r)
            .map_err(|e| ApiError::internal(format!("cannot encode a summary: {e}")))?,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourcePage {
    pub cluster_id: String,
    /// `taken_at` of the snapshot the list comes from; null before any arrived.
    #[schema(value_type = Option<String>)]
    pub taken_at: Option<Timestamp>,
    /// Items matching the filters, before pagination.
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub items: Vec<ResourceItem>,
}

/// Lists resources with filters and pagination (viewer).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/resources", params(("id" = String, Path), ResourceQuery),
    responses((status = 200, body = ResourcePage), (status = 400), (status = 404)))]
async fn list_resources(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path(cluster_id): Path<String>,
    Query(q): Query<ResourceQuery>,
) -> ApiResult<Json<ResourcePage>> {
    Ok(Json(list_resources_of(&state, cluster_id, q).await?))
}

/// What `GET …/resources` answers (the web dashboard calls it too).
pub async fn list_resources_of(
    state: &SharedState,
    cluster_id: String,
    q: ResourceQuery,
) -> ApiResult<ResourcePage> {
    let (limit, offset) = page(q.limit, q.offset)?;
    let kinds: Vec<ResourceKind> = match nonempty(&q.kind) {
        Some(k) => vec![parse_kind(k)?],
        None => ResourceKind::ALL
            .into_iter()
            .filter(|k| *k != ResourceKind::Event)
            .collect(),
    };
    let snapshot = latest(state, &cluster_id).await?;
    let mut total = 0;
    let mut items = Vec::new();
    if let Some(snapshot) = &snapshot {
        let res = resources(snapshot);
        let needle = nonempty(&q.q).map(str::to_ascii_lowercase);
        for kind in kinds {
            for r in res.items(kind) {
                let meta = r.meta();
                if nonempty(&q.namespace).is_some_and(|ns| meta.namespace != ns)
                    || nonempty(&q.status).is_some_and(|s| r.status() != s)
                    || needle.as_deref().is_some_and(|n| !r.matches_text(n))
                {
                    continue;
                }
                total += 1;
                if total > offset && items.len() < limit {
                    items.push(item(kind, &r)?);
                }
            }
        }
    }
    Ok(ResourcePage {
        cluster_id,
        taken_at: snapshot.map(|s| s.taken_at),
        total,
        limit,
        offset,
        items,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceDetail {
    #[serde(flatten)]
    pub item: ResourceItem,
    /// Events whose involved object is this one, newest first.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<EventSummary>,
    /// Anomalies of this object.
    #[schema(value_type = Vec<Object>)]
    pub anomalies: Vec<Anomaly>,
}

/// One object: its summary, its events and anomalies; namespace `_` for cluster-scoped kinds
/// (viewer).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/resources/{kind}/{namespace}/{name}",
    params(("id" = String, Path), ("kind" = String, Path), ("namespace" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = ResourceDetail), (status = 400), (status = 404)))]
async fn resource_detail(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path((cluster_id, kind, namespace, name)): Path<(String, String, String, String)>,
) -> ApiResult<Json<ResourceDetail>> {
    Ok(Json(
        resource_detail_of(&state, cluster_id, &kind, namespace, name).await?,
    ))
}

/// What `GET …/resources/{kind}/{namespace}/{name}` answers (the web dashboard calls it too).
pub async fn resource_detail_of(
    state: &SharedState,
    cluster_id: String,
    kind: &str,
    namespace: String,
    name: String,
) -> ApiResult<ResourceDetail> {
    let kind = parse_kind(kind)?;
    let namespace = if namespace == "_" {
        String::new()
    } else {
        namespace
    };
    let not_found = || ApiError::not_found(format!("no {kind} {namespace}/{name} in cluster {cluster_id:?}"));
    let snapshot = latest(state, &cluster_id).await?.ok_or_else(not_found)?;
    let res = resources(&snapshot);
    let found = res.find(kind, &namespace, &name).ok_or_else(not_found)?;
    let entity = entity_key(kind, &namespace, &name);
    let mut events: Vec<EventSummary> = res
        .events
        .iter()
        .filter(|e| {
            e.involved.name == name
                && ResourceKind::parse(&e.involved.kind) == Some(kind)
                && (!kind.namespaced() || e.involved.namespace == namespace || e.meta.namespace == namespace)
        })
        .cloned()
        .collect();
    events.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
    Ok(ResourceDetail {
        item: item(kind, &found)?,
        events,
        anomalies: res
            .anomalies
            .iter()
            .filter(|a| a.entity == entity)
            .cloned()
            .collect(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EventQuery {
    pub namespace: Option<String>,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub reason: Option<String>,
    /// The involved object's kind.
    pub kind: Option<String>,
    /// The involved object's name.
    pub name: Option<String>,
    /// Text in the reason, message or object.
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub cluster_id: String,
    #[schema(value_type = Option<String>)]
    pub taken_at: Option<Timestamp>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    /// Newest first (by last time seen).
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<EventSummary>,
}

/// The cluster's events, newest first, with filters and pagination (viewer).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/events", params(("id" = String, Path), EventQuery),
    responses((status = 200, body = EventPage), (status = 400), (status = 404)))]
async fn list_events(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path(cluster_id): Path<String>,
    Query(q): Query<EventQuery>,
) -> ApiResult<Json<EventPage>> {
    Ok(Json(list_events_of(&state, cluster_id, q).await?))
}

/// What `GET …/events` answers (the web dashboard calls it too).
pub async fn list_events_of(state: &SharedState, cluster_id: String, q: EventQuery) -> ApiResult<EventPage> {
    let (limit, offset) = page(q.limit, q.offset)?;
    let kind = nonempty(&q.kind).map(parse_kind).transpose()?;
    let snapshot = latest(state, &cluster_id).await?;
    let needle = nonempty(&q.q).map(str::to_ascii_lowercase);
    let mut matching: Vec<&EventSummary> = snapshot
        .as_deref()
        .map(|s| resources(s).events.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|e| {
            nonempty(&q.namespace).is_none_or(|n| e.meta.namespace == n)
                && nonempty(&q.event_type).is_none_or(|t| e.event_type.eq_ignore_ascii_case(t))
                && nonempty(&q.reason).is_none_or(|r| e.reason == r)
                && nonempty(&q.name).is_none_or(|n| e.involved.name == n)
                && kind.is_none_or(|k| ResourceKind::parse(&e.involved.kind) == Some(k))
                && text_matches(
                    needle.as_deref(),
                    &[&e.reason, &e.message, &e.involved.name, &e.involved.kind],
                )
        })
        .collect();
    matching.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
    let (total, items) = paginate(matching, limit, offset);
    Ok(EventPage {
        cluster_id,
        taken_at: snapshot.as_ref().map(|s| s.taken_at),
        total,
        limit,
        offset,
        items,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AnomalyQuery {
    pub namespace: Option<String>,
    /// The object's kind.
    pub kind: Option<String>,
    /// `info`, `warning` or `critical`: this severity and above.
    pub severity: Option<String>,
    pub reason: Option<String>,
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnomalyPage {
    pub cluster_id: String,
    #[schema(value_type = Option<String>)]
    pub taken_at: Option<Timestamp>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    /// Critical first, then by entity.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Anomaly>,
}

/// The anomalies of the latest snapshot, with filters and pagination (viewer).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/anomalies", params(("id" = String, Path), AnomalyQuery),
    responses((status = 200, body = AnomalyPage), (status = 400), (status = 404)))]
async fn list_anomalies(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path(cluster_id): Path<String>,
    Query(q): Query<AnomalyQuery>,
) -> ApiResult<Json<AnomalyPage>> {
    Ok(Json(list_anomalies_of(&state, cluster_id, q).await?))
}

/// What `GET …/anomalies` answers (the web dashboard calls it too).
pub async fn list_anomalies_of(
    state: &SharedState,
    cluster_id: String,
    q: AnomalyQuery,
) -> ApiResult<AnomalyPage> {
    let (limit, offset) = page(q.limit, q.offset)?;
    let kind = nonempty(&q.kind).map(parse_kind).transpose()?;
    let min = match nonempty(&q.severity) {
        None | Some("info") => Severity::Info,
        Some("warning") => Severity::Warning,
        Some("critical") => Severity::Critical,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "severity must be info, warning or critical, not {other:?}"
            )));
        }
    };
    let snapshot = latest(state, &cluster_id).await?;
    let needle = nonempty(&q.q).map(str::to_ascii_lowercase);
    let matching: Vec<&Anomaly> = snapshot
        .as_deref()
        .map(|s| resources(s).anomalies.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|a| {
            a.severity >= min
                && kind.is_none_or(|k| a.kind == k)
                && nonempty(&q.namespace).is_none_or(|ns| a.entity.split('/').next() == Some(ns))
                && nonempty(&q.reason).is_none_or(|r| a.reason == r)
                && text_matches(needle.as_deref(), &[&a.entity, &a.evidence, &a.reason])
        })
        .collect();
    let (total, items) = paginate(matching, limit, offset);
    Ok(AnomalyPage {
        cluster_id,
        taken_at: snapshot.as_ref().map(|s| s.taken_at),
        total,
        limit,
        offset,
        items,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    pub cluster_id: String,
    #[schema(value_type = Option<String>)]
    pub taken_at: Option<Timestamp>,
    #[schema(value_type = Object)]
    pub summary: ClusterSummary,
    /// Each kind's watch: synced, items, the last error (403, missing API).
    #[schema(value_type = Vec<Object>)]
    pub kinds: Vec<KindStatus>,
    pub metrics_available: bool,
}

/// The cluster's counts and each kind's watch status (viewer).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/summary", params(("id" = String, Path)),
    responses((status = 200, body = SummaryView), (status = 404)))]
async fn cluster_summary(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path(cluster_id): Path<String>,
) -> ApiResult<Json<SummaryView>> {
    Ok(Json(cluster_summary_of(&state, cluster_id).await?))
}

/// What `GET …/summary` answers (the web dashboard calls it too).
pub async fn cluster_summary_of(state: &SharedState, cluster_id: String) -> ApiResult<SummaryView> {
    let snapshot = latest(state, &cluster_id).await?;
    let res = snapshot.as_deref().map(resources);
    Ok(SummaryView {
        cluster_id,
        taken_at: snapshot.as_ref().map(|s| s.taken_at),
        summary: res.map(|r| r.summary.clone()).unwrap_or_default(),
        kinds: res.map(|r| r.kinds.clone()).unwrap_or_default(),
        metrics_available: res.is_some_and(|r| r.metrics_available),
    })
}
