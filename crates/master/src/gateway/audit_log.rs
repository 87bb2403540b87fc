//! The audit log (operator and admin).

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiResult;
use crate::service::audit::AuditQuery;
use crate::service::{App, Operator};
use crate::store::AuditRecord;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(query_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Exact user name (or `agent:<cluster>`).
    actor: Option<String>,
    /// Exact action, e.g. `user.create`, `cluster.register`, `slo.target.update`.
    action: Option<String>,
    /// Part of the target, e.g. `cluster/prod`.
    target: Option<String>,
    /// RFC 3339.
    since: Option<String>,
    /// RFC 3339.
    until: Option<String>,
    /// At most this many rows, newest first (default 100, at most 1000).
    limit: Option<u32>,
}

/// The audit log, newest first (operator and admin).
#[utoipa::path(get, path = "/api/v2/audit", params(AuditParams),
    responses((status = 200, body = Vec<Object>), (status = 400), (status = 403)))]
async fn query_audit(
    State(app): State<App>,
    operator: Operator,
    Query(q): Query<AuditParams>,
) -> ApiResult<Json<Vec<AuditRecord>>> {
    let query = AuditQuery {
        actor: q.actor,
        action: q.action,
        target: q.target,
        since: q.since,
        until: q.until,
        limit: q.limit,
    };
    Ok(Json(app.audit.query(&operator, query).await?))
}
