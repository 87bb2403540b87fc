//! The Gateway listener: the JSON API under `/api/v2` (and, later, the web UI).
//!
//! Every endpoint except login, `/healthz` and the OpenAPI document needs a valid token; the
//! role is read from the store on every call, so a role change or a deleted user takes effect
//! at once. Every mutating call is audited, refused ones included.

pub(crate) mod account;
mod aiops;
mod audit_log;
pub(crate) mod clusters;
pub(crate) mod commands;
pub(crate) mod resources;
pub(crate) mod slo;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::agentsdk::bearer;
use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedState;
use crate::store::AuditRecord;

pub use commands::expire_overdue as expire_overdue_commands;

#[derive(OpenApi)]
#[openapi(
    info(title = "AtlHyper master API", description = "Clusters, SLOs, users and the audit log."),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The Gateway's routes, and the OpenAPI document generated from them.
pub fn router(state: SharedState) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(account::routes())
        .merge(clusters::routes())
        .merge(slo::routes())
        .merge(audit_log::routes())
        .merge(commands::routes())
        .merge(resources::routes())
        .merge(aiops::routes())
        .split_for_parts();
    let openapi_json = openapi.to_pretty_json().unwrap_or_else(|_| "{}".to_owned());
    api.route(
        "/api/v2/openapi.json",
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], openapi_json) }),
    )
    .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
    .route("/metrics", get(metrics))
    .merge(crate::web::routes())
    .with_state(state)
}

/// The master's own metrics; like every API endpoint it needs a token.
async fn metrics(State(state): State<SharedState>, _user: CurrentUser) -> ApiResult<Response> {
    let clusters = state.store.clusters().await?;
    let now = state.now();
    let offline_ms = i64::try_from(state.config.offline_after.as_millis()).unwrap_or(i64::MAX);
    let online = clusters
        .iter()
        .filter(|c| state.hub.online(&c.id, now, offline_ms))
        .count();
    let body = state.metrics.render(clusters.len(), online);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}

/// The caller of a Gateway endpoint, authenticated.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub username: String,
    pub role: Role,
    pub source: String,
}

impl FromRequestParts<SharedState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let claims = state
            .tokens
            .verify(token)
            .ok_or_else(|| ApiError::unauthorized("invalid or expired token"))?;
        let user = state
            .store
            .user(&claims.sub)
            .await?
            .ok_or_else(|| ApiError::unauthorized(format!("user {:?} no longer exists", claims.sub)))?;
        let role = Role::parse(&user.role).ok_or_else(|| {
            ApiError::internal(format!(
                "user {:?} has an unknown role {:?}",
                user.username, user.role
            ))
        })?;
        Ok(Self {
            username: user.username,
            role,
            source: source_addr(parts),
        })
    }
}

pub fn source_addr(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_default()
}

impl CurrentUser {
    /// Refuses (403) a caller below `role`, and audits the refusal of a mutating `action`.
    pub async fn require(
        &self,
        state: &SharedState,
        role: Role,
        action: &str,
        target: &str,
    ) -> ApiResult<()> {
        if self.role >= role {
            return Ok(());
        }
        audit(
            state,
            self,
            action,
            target,
            "denied",
            &format!("needs role {}", role.as_str()),
        )
        .await?;
        Err(ApiError::forbidden(format!(
            "{action} needs role {} or higher; {} is {}",
            role.as_str(),
            self.username,
            self.role.as_str()
        )))
    }
}

/// Appends one audit row for a call by `user`.
pub async fn audit(
    state: &SharedState,
    user: &CurrentUser,
    action: &str,
    target: &str,
    result: &str,
    detail: &str,
) -> ApiResult<()> {
    let record = AuditRecord {
        id: 0,
        at: state.now(),
        actor: user.username.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        source_addr: user.source.clone(),
        result: result.to_owned(),
        detail: detail.to_owned(),
    };
    state.store.append_audit(&record).await?;
    Ok(())
}

/// Audits the outcome of a mutating call and passes it on.
pub async fn audited<T>(
    state: &SharedState,
    user: &CurrentUser,
    action: &str,
    target: &str,
    detail: &str,
    outcome: ApiResult<T>,
) -> ApiResult<T> {
    let result = match &outcome {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("error: {}", e.message),
    };
    audit(state, user, action, target, &result, detail).await?;
    outcome
}

pub fn created<T: serde::Serialize>(body: T) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}
