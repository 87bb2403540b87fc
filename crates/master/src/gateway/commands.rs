//! Queueing commands for an agent and reading their outcome. The agent fetches them with the
//! AgentSDK long poll and reports back with `POST /agent/result`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::{ApiResult, created};
use crate::service::commands::{CommandCreated, CommandList, CommandListQuery, CommandRequest};
use crate::service::{App, Caller, Operator};
use crate::store::CommandRecord;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(enqueue, list_commands))
        .routes(routes!(command_status))
}

/// Queues a command for the cluster's agent (operator and admin).
#[utoipa::path(post, path = "/api/v2/clusters/{id}/commands", request_body = CommandRequest,
    params(("id" = String, Path)), responses((status = 201, body = CommandCreated), (status = 400), (status = 403), (status = 404)))]
async fn enqueue(
    State(app): State<App>,
    caller: Caller,
    Path(cluster_id): Path<String>,
    Json(req): Json<CommandRequest>,
) -> ApiResult<Response> {
    Ok(created(app.commands.enqueue(&caller, &cluster_id, req).await?))
}

/// A command's status (`pending`, `running`, `succeeded`, `failed`, `timed_out`) and result
/// (operator: viewers see no command, not even its output).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/commands/{cmd}", params(("id" = String, Path), ("cmd" = String, Path)),
    responses((status = 200, body = Object), (status = 403), (status = 404)))]
async fn command_status(
    State(app): State<App>,
    operator: Operator,
    Path((cluster_id, cmd)): Path<(String, String)>,
) -> ApiResult<Json<CommandRecord>> {
    Ok(Json(app.commands.get(&operator, &cluster_id, &cmd).await?))
}

/// The cluster's command history, newest first (operator).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/commands", params(("id" = String, Path), CommandListQuery),
    responses((status = 200, body = CommandList), (status = 400), (status = 403), (status = 404)))]
async fn list_commands(
    State(app): State<App>,
    operator: Operator,
    Path(cluster_id): Path<String>,
    Query(q): Query<CommandListQuery>,
) -> ApiResult<Json<CommandList>> {
    Ok(Json(app.commands.list(&operator, &cluster_id, q).await?))
}
