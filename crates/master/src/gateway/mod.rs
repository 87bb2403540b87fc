//! The JSON API under `/api/v2`, one of the master's three adapters: every handler turns a
//! request into a service call and its result into JSON; the logic is in `crate::service`.
//!
//! Every endpoint except login, `/healthz` and the OpenAPI document needs a valid token
//! ([`extract`]); the role is read from the store on every call, so a role change or a deleted
//! user takes effect at once. Every change is audited by its service, refused ones included.

mod account;
mod aiops;
mod audit_log;
mod clusters;
mod commands;
pub mod extract;
mod resources;
mod slo;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::http::ApiResult;
use crate::service::{App, Viewer};

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

/// The JSON API's routes, the OpenAPI document generated from them, `/healthz` and
/// `/metrics`. The server merges the dashboard's routes beside these.
pub fn routes() -> Router<App> {
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
}

/// The master's own metrics; like every API endpoint it needs a token.
async fn metrics(State(app): State<App>, _viewer: Viewer) -> ApiResult<Response> {
    let (clusters, online) = app.clusters.counts().await?;
    let body = app.metrics.render(clusters, online);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}
