//! The AIOps API: risk, dependency graph, explanations, incidents and their statistics. The
//! engine's live view (risk, graph, explanations) comes from each cluster's engine; incidents
//! and statistics from their tables.

use atlhyper_aiops::{
    ClusterRisk, EntityRef, EntityRisk, Explanation, GraphEdge, GraphNode, Incident, State as EntityState,
    Statistics,
};
use atlhyper_model::Timestamp;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::required;
use crate::http::{ApiError, ApiResult};
use crate::service::{App, ServiceError, Viewer};
use crate::store::{IncidentFilter, IncidentStateFilter};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(risk))
        .routes(routes!(graph))
        .routes(routes!(explain))
        .routes(routes!(list_incidents))
        .routes(routes!(incident_detail))
        .routes(routes!(statistics))
}

/// Default and largest page of the incident list.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
/// Default and largest length of the risk ranking.
const DEFAULT_RANKING: usize = 20;
const MAX_RANKING: usize = 1000;
/// The statistics period when `from` is not given: the last 7 days.
const DEFAULT_PERIOD_MS: i64 = 7 * 86_400_000;

fn number(name: &str, value: Option<&str>, default: usize, max: usize) -> ApiResult<usize> {
    let Some(text) = value else {
        return Ok(default);
    };
    let n: usize = text.trim().parse().map_err(|_| {
        ApiError::bad_request(format!(
            "query parameter {name:?} must be a non-negative integer, got {text:?}"
        ))
    })?;
    if n > max {
        return Err(ApiError::bad_request(format!(
            "query parameter {name:?} must be at most {max}, got {n}"
        )));
    }
    Ok(n)
}

/// A registered cluster, or 404 naming it.
async fn cluster(app: &App, q: Option<String>) -> ApiResult<String> {
    let id = required("cluster", q)?;
    app.clusters.find(&id).await?;
    Ok(id)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RiskQuery {
    /// The cluster id (required).
    cluster: Option<String>,
    /// Length of the ranking (default 20, at most 1000).
    limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RiskView {
    pub cluster: String,
    /// The cluster's risk (0–100) and its terms; `null` before the first evaluation.
    #[schema(value_type = Object)]
    pub risk: Option<ClusterRisk>,
    /// Riskiest entities first (R_final > 0).
    #[schema(value_type = Vec<Object>)]
    pub ranking: Vec<EntityRisk>,
}

/// The cluster risk and the riskiest entities of a cluster.
#[utoipa::path(get, path = "/api/v2/aiops/risk", params(RiskQuery),
    responses((status = 200, body = RiskView), (status = 400), (status = 404)))]
async fn risk(
    State(app): State<App>,
    _viewer: Viewer,
    Query(q): Query<RiskQuery>,
) -> ApiResult<Json<RiskView>> {
    let cluster = cluster(&app, q.cluster).await?;
    let limit = number("limit", q.limit.as_deref(), DEFAULT_RANKING, MAX_RANKING)?;
    Ok(Json(RiskView {
        risk: app.aiops.cluster_risk(&cluster),
        ranking: app.aiops.ranking(&cluster, limit),
        cluster,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ClusterQuery {
    /// The cluster id (required).
    cluster: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GraphView {
    pub cluster: String,
    /// Entities in layer order (node, pod, service, ingress), then by key.
    #[schema(value_type = Vec<Object>)]
    pub nodes: Vec<GraphNode>,
    /// `from` depends on `to`: `routes_to`, `selects`, `runs_on`, `calls`.
    #[schema(value_type = Vec<Object>)]
    pub edges: Vec<GraphEdge>,
}

/// The cluster's dependency graph as of the last evaluation.
#[utoipa::path(get, path = "/api/v2/aiops/graph", params(ClusterQuery),
    responses((status = 200, body = GraphView), (status = 400), (status = 404)))]
async fn graph(
    State(app): State<App>,
    _viewer: Viewer,
    Query(q): Query<ClusterQuery>,
) -> ApiResult<Json<GraphView>> {
    let cluster = cluster(&app, q.cluster).await?;
    let (nodes, edges) = app
        .aiops
        .graph(&cluster)
        .map(|g| (g.nodes().to_vec(), g.edges()))
        .unwrap_or_default();
    Ok(Json(GraphView {
        cluster,
        nodes,
        edges,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExplainQuery {
    /// The cluster id (required).
    cluster: Option<String>,
    /// The entity key `namespace/kind/name` (nodes `_cluster/node/NAME`), required.
    entity: Option<String>,
}

/// Why an entity has its risk: every input metric with its baseline, deviation and score, the
/// formula terms, the dependencies and the path to the root cause.
#[utoipa::path(get, path = "/api/v2/aiops/explain", params(ExplainQuery),
    responses((status = 200, body = Object), (status = 400), (status = 404)))]
async fn explain(
    State(app): State<App>,
    _viewer: Viewer,
    Query(q): Query<ExplainQuery>,
) -> ApiResult<Json<Explanation>> {
    let cluster = cluster(&app, q.cluster).await?;
    let entity = required("entity", q.entity)?;
    EntityRef::parse_key(&entity)
        .map_err(|e| ApiError::bad_request(format!("query parameter \"entity\": {e}")))?;
    Ok(Json(app.aiops.explain(&cluster, &entity)?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct IncidentsQuery {
    /// Only this cluster's incidents.
    cluster: Option<String>,
    /// `open`, `resolved`, or an incident state: `warning`, `incident`, `recovery`, `stable`.
    state: Option<String>,
    /// Page size (default 50, at most 500).
    limit: Option<String>,
    /// Incidents to skip, newest first (default 0).
    offset: Option<String>,
}

/// An incident without its timeline, for lists.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentSummary {
    pub id: String,
    pub cluster: String,
    /// `warning`, `incident`, `recovery` or `stable` (resolved).
    pub state: String,
    /// `low`, `medium`, `high`, `critical` (from the peak risk).
    pub severity: String,
    pub root_cause: String,
    pub peak_risk: f64,
    /// RFC 3339.
    #[schema(value_type = String)]
    pub started_at: Timestamp,
    #[schema(value_type = Option<String>)]
    pub resolved_at: Option<Timestamp>,
    pub recurrence: u32,
    pub entities: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentPage {
    /// Incidents matching the filters.
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub incidents: Vec<IncidentSummary>,
}

fn word<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn summary(incident: &Incident) -> IncidentSummary {
    IncidentSummary {
        id: incident.id.clone(),
        cluster: incident.cluster.clone(),
        state: word(&incident.state),
        severity: word(&incident.severity),
        root_cause: incident.root_cause.clone(),
        peak_risk: incident.peak_risk,
        started_at: Timestamp(incident.started_at_ms),
        resolved_at: incident.resolved_at_ms.map(Timestamp),
        recurrence: incident.recurrence,
        entities: incident.entities.len(),
    }
}

/// Incidents, newest first, filtered by cluster and state.
#[utoipa::path(get, path = "/api/v2/aiops/incidents", params(IncidentsQuery),
    responses((status = 200, body = IncidentPage), (status = 400), (status = 404)))]
async fn list_incidents(
    State(app): State<App>,
    _viewer: Viewer,
    Query(q): Query<IncidentsQuery>,
) -> ApiResult<Json<IncidentPage>> {
    let cluster = match q.cluster {
        Some(c) if !c.is_empty() => Some(cluster(&app, Some(c)).await?),
        _ => None,
    };
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some("open") => Some(IncidentStateFilter::Open),
        Some("resolved") => Some(IncidentStateFilter::Resolved),
        Some("warning") => Some(IncidentStateFilter::Is(EntityState::Warning)),
        Some("incident") => Some(IncidentStateFilter::Is(EntityState::Incident)),
        Some("recovery") => Some(IncidentStateFilter::Is(EntityState::Recovery)),
        Some("stable") => Some(IncidentStateFilter::Is(EntityState::Stable)),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "query parameter \"state\" must be open, resolved, warning, incident, recovery or stable, got {other:?}"
            )));
        }
    };
    let limit = number("limit", q.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let offset = number("offset", q.offset.as_deref(), 0, u32::MAX as usize)?;
    let filter = IncidentFilter {
        cluster,
        state,
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
        offset: u32::try_from(offset).unwrap_or(u32::MAX),
        ..IncidentFilter::default()
    };
    let (incidents, total) = app.aiops.incidents(&filter).await?;
    Ok(Json(IncidentPage {
        total: usize::try_from(total).unwrap_or(usize::MAX),
        limit,
        offset,
        incidents: incidents.iter().map(summary).collect(),
    }))
}

/// One incident: its members with R_local, R_final and role, and its whole timeline.
#[utoipa::path(get, path = "/api/v2/aiops/incidents/{id}", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404)))]
async fn incident_detail(
    State(app): State<App>,
    _viewer: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<Incident>> {
    Ok(Json(app.aiops.incident(&id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StatisticsQuery {
    /// RFC 3339; incidents that started at or after it (default: 7 days before `to`).
    from: Option<String>,
    /// RFC 3339; incidents that started before it (default: now).
    to: Option<String>,
}

/// Incident statistics over a period: MTTR, recurrence rate, severity and state counts, top
/// root causes.
#[utoipa::path(get, path = "/api/v2/aiops/statistics", params(StatisticsQuery),
    responses((status = 200, body = Object), (status = 400)))]
async fn statistics(
    State(app): State<App>,
    _viewer: Viewer,
    Query(q): Query<StatisticsQuery>,
) -> ApiResult<Json<Statistics>> {
    let time = |name: &str, value: Option<String>| -> ApiResult<Option<Timestamp>> {
        value
            .filter(|v| !v.is_empty())
            .map(|v| {
                Timestamp::parse_rfc3339(&v)
                    .map_err(|e| ServiceError::bad_request(format!("query parameter {name:?}: {e}")).into())
            })
            .transpose()
    };
    let to = time("to", q.to)?.unwrap_or_else(|| app.now());
    let from = time("from", q.from)?.unwrap_or(Timestamp(to.0.saturating_sub(DEFAULT_PERIOD_MS)));
    if from >= to {
        return Err(ApiError::bad_request(
            "query parameter \"from\" must be before \"to\"",
        ));
    }
    Ok(Json(app.aiops.statistics(from, to).await?))
}
