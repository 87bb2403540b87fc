//! The audit log: who did what, to what, when, from where, with which result.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::CurrentUser;
use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use crate::store::{AuditFilter, AuditRecord};
use atlhyper_model::Timestamp;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(query_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
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
#[utoipa::path(get, path = "/api/v2/audit", params(AuditQuery),
    responses((status = 200, body = Vec<Object>), (status = 400), (status = 403)))]
async fn query_audit(
    State(state): State<SharedState>,
    user: CurrentUser,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditRecord>>> {
    if user.role < Role::Operator {
        return Err(ApiError::forbidden(
            "reading the audit log needs role operator or higher",
        ));
    }
    let time = |name: &str, value: Option<String>| -> ApiResult<Option<Timestamp>> {
        value
            .map(|v| Timestamp::parse_rfc3339(&v).map_err(|e| ApiError::bad_request(format!("{name}: {e}"))))
            .transpose()
    };
    let filter = AuditFilter {
        actor: q.actor,
        action: q.action,
        target: q.target,
        since: time("since", q.since)?,
        until: time("until", q.until)?,
        limit: q.limit.unwrap_or(100).min(1000),
    };
    Ok(Json(state.store.audit(&filter).await?))
}
