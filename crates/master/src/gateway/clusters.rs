//! Cluster registration, listing and delivery status.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::{ApiResult, created};
use crate::service::clusters::{
    ClusterDetail, ClusterStatus, ClusterView, RegisterCluster, RegisteredCluster,
};
use crate::service::{App, Caller, Viewer};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_clusters, register_cluster))
        .routes(routes!(cluster_detail))
        .routes(routes!(cluster_status))
}

/// Registers a cluster and returns its agent token once (admin).
#[utoipa::path(post, path = "/api/v2/clusters", request_body = RegisterCluster,
    responses((status = 201, body = RegisteredCluster), (status = 400), (status = 403), (status = 409)))]
async fn register_cluster(
    State(app): State<App>,
    caller: Caller,
    Json(req): Json<RegisterCluster>,
) -> ApiResult<Response> {
    Ok(created(app.clusters.register(&caller, req).await?))
}

/// Every registered cluster with its agent's online state.
#[utoipa::path(get, path = "/api/v2/clusters", responses((status = 200, body = Vec<ClusterView>)))]
async fn list_clusters(State(app): State<App>, _viewer: Viewer) -> ApiResult<Json<Vec<ClusterView>>> {
    Ok(Json(app.clusters.list().await?))
}

/// One cluster with what its latest snapshot says.
#[utoipa::path(get, path = "/api/v2/clusters/{id}", params(("id" = String, Path)),
    responses((status = 200, body = ClusterDetail), (status = 404)))]
async fn cluster_detail(
    State(app): State<App>,
    _viewer: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<ClusterDetail>> {
    Ok(Json(app.clusters.detail(&id).await?))
}

/// Delivery status: is the agent online, and did every snapshot arrive?
#[utoipa::path(get, path = "/api/v2/clusters/{id}/status", params(("id" = String, Path)),
    responses((status = 200, body = ClusterStatus), (status = 404)))]
async fn cluster_status(
    State(app): State<App>,
    _viewer: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<ClusterStatus>> {
    Ok(Json(app.clusters.status(&id).await?))
}
