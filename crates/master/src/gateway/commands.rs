//! Queueing commands for an agent and reading their outcome. The agent fetches them with the
//! AgentSDK long poll and reports back with `POST /agent/result`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{CurrentUser, audited, clusters::find, created};
use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::state::SharedState;
use crate::store::CommandRecord;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(enqueue))
        .routes(routes!(command_status))
}

/// Actions an agent runs, and whether each changes the cluster (and so needs `confirm`).
const ACTIONS: [(&str, bool); 8] = [
    ("restart", true),
    ("delete_pod", true),
    ("scale", true),
    ("cordon", true),
    ("uncordon", true),
    ("update_image", true),
    ("logs", false),
    ("get", false),
];

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CommandRequest {
    pub action: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Value,
    /// Must be true for actions that change the cluster.
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandCreated {
    pub id: String,
}

/// Queues a command for the cluster's agent (operator and admin).
#[utoipa::path(post, path = "/api/v2/clusters/{id}/commands", request_body = CommandRequest,
    params(("id" = String, Path)), responses((status = 201, body = CommandCreated), (status = 400), (status = 403), (status = 404)))]
async fn enqueue(
    State(state): State<SharedState>,
    user: CurrentUser,
    Path(cluster_id): Path<String>,
    Json(req): Json<CommandRequest>,
) -> ApiResult<Response> {
    let target = format!("cluster/{cluster_id}/{}/{}/{}", req.kind, req.namespace, req.name);
    let action = format!("command.{}", req.action);
    user.require(&state, Role::Operator, &action, &target).await?;
    let detail = serde_json::to_string(&req).unwrap_or_default();
    let outcome = async {
        find(&state, &cluster_id).await?;
        let Some((_, mutating)) = ACTIONS.iter().find(|(a, _)| *a == req.action) else {
            let known: Vec<&str> = ACTIONS.iter().map(|(a, _)| *a).collect();
            return Err(ApiError::bad_request(format!(
                "unknown action {:?}; known: {}",
                req.action,
                known.join(", ")
            )));
        };
        if *mutating && !req.confirm {
            return Err(ApiError::bad_request(format!(
                "{} changes the cluster: send \"confirm\": true",
                req.action
            )));
        }
        if req.name.is_empty() || req.kind.is_empty() {
            return Err(ApiError::bad_request("kind and name are required"));
        }
        let id = new_command_id()?;
        let now = state.now();
        let record = CommandRecord {
            id: id.clone(),
            cluster_id: cluster_id.clone(),
            payload: json!({
                "action": req.action, "kind": req.kind, "namespace": req.namespace,
                "name": req.name, "params": req.params, "created_by": user.username,
            }),
            status: "pending".into(),
            created_by: user.username.clone(),
            created_at: now,
            updated_at: now,
            result: None,
        };
        state.store.enqueue_command(&record).await?;
        Metrics::inc(&state.metrics.commands_queued);
        state.command_waiter(&cluster_id).notify_waiters();
        Ok(created(CommandCreated { id }))
    }
    .await;
    audited(&state, &user, &action, &target, &detail, outcome).await
}

fn new_command_id() -> ApiResult<String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(format!("randomness unavailable: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A command's status (`pending`, `running`, `succeeded`, `failed`, `timed_out`) and result.
#[utoipa::path(get, path = "/api/v2/clusters/{id}/commands/{cmd}", params(("id" = String, Path), ("cmd" = String, Path)),
    responses((status = 200, body = Object), (status = 404)))]
async fn command_status(
    State(state): State<SharedState>,
    _user: CurrentUser,
    Path((cluster_id, cmd)): Path<(String, String)>,
) -> ApiResult<Json<CommandRecord>> {
    let command = state
        .store
        .command(&cmd)
        .await?
        .filter(|c| c.cluster_id == cluster_id)
        .ok_or_else(|| ApiError::not_found(format!("unknown command {cmd:?} in cluster {cluster_id:?}")))?;
    Ok(Json(command))
}
