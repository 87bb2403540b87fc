//! Queueing commands for an agent and reading their outcome. The agent fetches them with the
//! AgentSDK long poll and reports back with `POST /agent/result`.

use atlhyper_model::ResourceKind;
use axum::Json;
use axum::extract::{Path, Query, State};
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
use crate::store::{AuditRecord, CommandRecord};

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(enqueue, list_commands))
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
    /// Seconds the command may take, from queueing to result (1 to 600, default 60); past
    /// it the command is `timed_out`, on the master and on the agent.
    #[serde(default)]
    pub timeout_s: Option<u64>,
}

/// A command's timeout when the request names none, and the longest one allowed.
pub const DEFAULT_TIMEOUT_S: u64 = 60;
pub const MAX_TIMEOUT_S: u64 = 600;

/// Which kinds each action works on (`None`: every kind).
fn action_kinds(action: &str) -> Option<&'static [ResourceKind]> {
    use ResourceKind as K;
    match action {
        "restart" | "update_image" => Some(&[K::Deployment, K::StatefulSet, K::DaemonSet]),
        "scale" => Some(&[K::Deployment, K::StatefulSet, K::ReplicaSet]),
        "delete_pod" | "logs" => Some(&[K::Pod]),
        "cordon" | "uncordon" => Some(&[K::Node]),
        _ => None,
    }
}

/// Checks what the agent would refuse anyway, so the caller learns at once: the kind, the
/// namespace, the parameters.
fn validate(req: &CommandRequest) -> ApiResult<ResourceKind> {
    let kind = ResourceKind::parse(&req.kind)
        .ok_or_else(|| ApiError::bad_request(format!("unknown kind {:?}", req.kind)))?;
    if let Some(kinds) = action_kinds(&req.action)
        && !kinds.contains(&kind)
    {
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "{} works on {}, not {kind}",
            req.action,
            names.join(", ")
        )));
    }
    if kind.namespaced() && req.namespace.is_empty() {
        return Err(ApiError::bad_request(format!("a {kind} needs a namespace")));
    }
    let param = |key: &str| req.params.get(key).filter(|v| !v.is_null());
    match req.action.as_str() {
        "scale" => {
            let replicas = param("replicas").and_then(Value::as_i64);
            if !replicas.is_some_and(|r| (0..=10_000).contains(&r)) {
                return Err(ApiError::bad_request(
                    "scale needs params.replicas, a whole number 0 to 10000",
                ));
            }
        }
        "update_image"
            if param("image")
                .and_then(Value::as_str)
                .is_none_or(|i| i.trim().is_empty()) =>
        {
            return Err(ApiError::bad_request("update_image needs params.image"));
        }
        "logs" => {
            if let Some(t) = param("tail_lines")
                && !t.as_i64().is_some_and(|t| (1..=5000).contains(&t))
            {
                return Err(ApiError::bad_request("params.tail_lines must be 1 to 5000"));
            }
            if let Some(p) = param("previous")
                && !p.is_boolean()
            {
                return Err(ApiError::bad_request("params.previous must be true or false"));
            }
        }
        _ => {}
    }
    if let Some(t) = req.timeout_s
        && !(1..=MAX_TIMEOUT_S).contains(&t)
    {
        return Err(ApiError::bad_request(format!(
            "timeout_s must be 1 to {MAX_TIMEOUT_S}"
        )));
    }
    Ok(kind)
}

/// Times out every command past its deadline, with an audit row for each. Called before
/// commands are read or handed to an agent, so no one sees a command overdue but `running`.
pub async fn expire_overdue(state: &SharedState) -> ApiResult<()> {
    let now = state.now();
    let result = json!({"error": "the agent did not report a result before the command's timeout"});
    let expired = state
        .store
        .expire_commands(now, DEFAULT_TIMEOUT_S, &result)
        .await?;
    for command in expired {
        state
            .store
            .append_audit(&AuditRecord {
                id: 0,
                at: now,
                actor: "master".into(),
                action: "command.result".into(),
                target: format!("cluster/{}/command/{}", command.cluster_id, command.id),
                source_addr: String::new(),
                result: "timed_out".into(),
                detail: command.payload.to_string(),
            })
            .await?;
    }
    Ok(())
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
    Ok(created(enqueue_as(&state, &user, &cluster_id, req).await?))
}

/// What `POST …/commands` does, audited (the web dashboard's confirmation form calls it too).
pub async fn enqueue_as(
    state: &SharedState,
    user: &CurrentUser,
    cluster_id: &str,
    req: CommandRequest,
) -> ApiResult<CommandCreated> {
    let cluster_id = cluster_id.to_owned();
    let target = format!("cluster/{cluster_id}/{}/{}/{}", req.kind, req.namespace, req.name);
    let action = format!("command.{}", req.action);
    user.require(state, Role::Operator, &action, &target).await?;
    let detail = serde_json::to_string(&req).unwrap_or_default();
    let outcome = async {
        find(state, &cluster_id).await?;
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
        let kind = validate(&req)?;
        let id = new_command_id()?;
        let now = state.now();
        let record = CommandRecord {
            id: id.clone(),
            cluster_id: cluster_id.clone(),
            payload: json!({
                "action": req.action, "kind": kind.as_str(),
                "namespace": if kind.namespaced() { req.namespace.as_str() } else { "" },
                "name": req.name, "params": req.params, "created_by": user.username,
                "timeout_s": req.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S),
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
        Ok(CommandCreated { id })
    }
    .await;
    audited(state, user, &action, &target, &detail, outcome).await
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
    user: CurrentUser,
    Path((cluster_id, cmd)): Path<(String, String)>,
) -> ApiResult<Json<CommandRecord>> {
    require_operator(&user)?;
    expire_overdue(&state).await?;
    let command = state
        .store
        .command(&cmd)
        .await?
        .filter(|c| c.cluster_id == cluster_id)
        .ok_or_else(|| ApiError::not_found(format!("unknown command {cmd:?} in cluster {cluster_id:?}")))?;
    Ok(Json(command))
}

/// Reading commands and their results needs operator, like queueing them (viewers see no
/// command, not even its output).
fn require_operator(user: &CurrentUser) -> ApiResult<()> {
    if user.role >= Role::Operator {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "commands need role operator or higher; {} is {}",
            user.username,
            user.role.as_str()
        )))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CommandListQuery {
    /// `pending`, `running`, `succeeded`, `failed` or `timed_out`.
    pub status: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandList {
    pub total: u64,
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<CommandRecord>,
}

/// The cluster's command history, newest first (operator).
#[utoipa::path(get, path = "/api/v2/clusters/{id}/commands", params(("id" = String, Path), CommandListQuery),
    responses((status = 200, body = CommandList), (status = 400), (status = 403), (status = 404)))]
async fn list_commands(
    State(state): State<SharedState>,
    user: CurrentUser,
    Path(cluster_id): Path<String>,
    Query(q): Query<CommandListQuery>,
) -> ApiResult<Json<CommandList>> {
    Ok(Json(list_commands_of(&state, &user, &cluster_id, q).await?))
}

/// What `GET …/commands` answers (the web dashboard's command history calls it too).
pub async fn list_commands_of(
    state: &SharedState,
    user: &CurrentUser,
    cluster_id: &str,
    q: CommandListQuery,
) -> ApiResult<CommandList> {
    require_operator(user)?;
    find(state, cluster_id).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 500"));
    }
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = status
        && !matches!(s, "pending" | "running" | "succeeded" | "failed" | "timed_out")
    {
        return Err(ApiError::bad_request(format!(
            "status must be pending, running, succeeded, failed or timed_out, not {s:?}"
        )));
    }
    expire_overdue(state).await?;
    let (items, total) = state
        .store
        .commands(cluster_id, status, limit, q.offset.unwrap_or(0))
        .await?;
    Ok(CommandList { total, items })
}
