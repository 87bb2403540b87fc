//! The cluster's Kubernetes resources, events, anomalies and counts.

use axum::Json;
use axum::extract::{Path, Query, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiResult;
use crate::service::resources::{
    AnomalyPage, AnomalyQuery, EventPage, EventQuery, ResourceDetail, ResourcePage, ResourceQuery,
    SummaryView,
};
use crate::service::{App, Viewer};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_resources))
        .routes(routes!(resource_detail))
        .routes(routes!(list_events))
        .routes(routes!(list_anomalies))
        .routes(routes!(cluster_summary))
}

/// Lists resources with filters and pagination (viewer).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/resources", params(("id" = String, Path), ResourceQuery),
    responses((status = 200, body = ResourcePage), (status = 400), (status = 404)))]
async fn list_resources(
    State(app): State<App>,
    _viewer: Viewer,
    Path(cluster_id): Path<String>,
    Query(q): Query<ResourceQuery>,
) -> ApiResult<Json<ResourcePage>> {
    Ok(Json(app.resources.list(cluster_id, q).await?))
}

/// One object: its summary, its events and anomalies; namespace `_` for cluster-scoped kinds
/// (viewer).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/resources/{kind}/{namespace}/{name}",
    params(("id" = String, Path), ("kind" = String, Path), ("namespace" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = ResourceDetail), (status = 400), (status = 404)))]
async fn resource_detail(
    State(app): State<App>,
    _viewer: Viewer,
    Path((cluster_id, kind, namespace, name)): Path<(String, String, String, String)>,
) -> ApiResult<Json<ResourceDetail>> {
    Ok(Json(
        app.resources.detail(cluster_id, &kind, namespace, name).await?,
    ))
}

/// The cluster's events, newest first, with filters and pagination (viewer).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/events", params(("id" = String, Path), EventQuery),
    responses((status = 200, body = EventPage), (status = 400), (status = 404)))]
async fn list_events(
    State(app): State<App>,
    _viewer: Viewer,
    Path(cluster_id): Path<String>,
    Query(q): Query<EventQuery>,
) -> ApiResult<Json<EventPage>> {
    Ok(Json(app.resources.events(cluster_id, q).await?))
}

/// The anomalies of the latest snapshot, with filters and pagination (viewer).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/anomalies", params(("id" = String, Path), AnomalyQuery),
    responses((status = 200, body = AnomalyPage), (status = 400), (status = 404)))]
async fn list_anomalies(
    State(app): State<App>,
    _viewer: Viewer,
    Path(cluster_id): Path<String>,
    Query(q): Query<AnomalyQuery>,
) -> ApiResult<Json<AnomalyPage>> {
    Ok(Json(app.resources.anomalies(cluster_id, q).await?))
}

/// The cluster's counts and each kind's watch status (viewer).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/summary", params(("id" = String, Path)),
    responses((status = 200, body = SummaryView), (status = 404)))]
async fn cluster_summary(
    State(app): State<App>,
    _viewer: Viewer,
    Path(cluster_id): Path<String>,
) -> ApiResult<Json<SummaryView>> {
    Ok(Json(app.resources.summary(cluster_id).await?))
}
