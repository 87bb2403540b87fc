//! SLO overview and detail, objectives, error budgets and burn rates.

use axum::Json;
use axum::extract::{Path, Query, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiResult;
use crate::service::slo::{Detail, DetailQuery, Overview, OverviewQuery, PutTarget, TargetView};
use crate::service::{App, Caller, Viewer};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(detail))
        .routes(routes!(list_targets, put_target))
}

/// Every SLO entry of a cluster over a range, with its objective, budget and burn rates.
#[utoipa::path(get, path = "/api/v2/clusters/{id}/slo/overview", params(("id" = String, Path), OverviewQuery),
    responses((status = 200, body = Overview), (status = 400), (status = 404)))]
async fn overview(
    State(app): State<App>,
    _viewer: Viewer,
    Path(cluster_id): Path<String>,
    Query(q): Query<OverviewQuery>,
) -> ApiResult<Json<Overview>> {
    Ok(Json(app.slo.overview(cluster_id, q).await?))
}

/// One entry over a range: the time series, the range's totals and quantiles from the summed
/// counters, the latency distribution, the error budget and burn rates.
#[utoipa::path(get, path = "/api/v2/clusters/{id}/slo/detail", params(("id" = String, Path), DetailQuery),
    responses((status = 200, body = Detail), (status = 400), (status = 404)))]
async fn detail(
    State(app): State<App>,
    _viewer: Viewer,
    Path(cluster_id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> ApiResult<Json<Detail>> {
    Ok(Json(app.slo.detail(&cluster_id, &q).await?))
}

/// The cluster's SLO objectives (entries without one use 99.9 % over 30 days).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/slo/targets", params(("id" = String, Path)),
    responses((status = 200, body = Vec<TargetView>), (status = 404)))]
async fn list_targets(
    State(app): State<App>,
    _viewer: Viewer,
    Path(cluster_id): Path<String>,
) -> ApiResult<Json<Vec<TargetView>>> {
    Ok(Json(app.slo.targets(&cluster_id).await?))
}

/// Sets an objective (operator and admin).
#[utoipa::path(put, path = "/api/v2/clusters/{id}/slo/targets", request_body = PutTarget, params(("id" = String, Path)),
    responses((status = 200, body = TargetView), (status = 400), (status = 403), (status = 404)))]
async fn put_target(
    State(app): State<App>,
    caller: Caller,
    Path(cluster_id): Path<String>,
    Json(req): Json<PutTarget>,
) -> ApiResult<Json<TargetView>> {
    Ok(Json(app.slo.put_target(&caller, &cluster_id, req).await?))
}
