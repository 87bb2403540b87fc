//! Queueing commands for an agent and reading their outcome. The agent fetches them with the
//! AgentSDK long poll and reports back with `POST /agent/result`.

use atlhyper_model::command::DEFAULT_TIMEOUT_S;
use atlhyper_model::{Action, Command, CommandStatus, ResourceKind, Target};
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

/// Builds the checked command of a request: the one definition of every action, kind and
/// parameter rule, shared with the agent (`atlhyper_model::command`).
fn command_of(req: &CommandRequest, created_by: &str) -> ApiResult<Command> {
    if req.name.is_empty() || req.kind.is_empty() {
        return Err(ApiError::bad_request("kind and name are required"));
    }
    let bad = |e: atlhyper_model::CommandError| ApiError::bad_request(e.0);
    let action = Action::parse(&req.action, &req.params).map_err(bad)?;
    if action.mutates() && !req.confirm {
        return Err(ApiError::bad_request(format!(
            "{} changes the cluster: send \"confirm\": true",
            req.action
        )));
    }
    let kind = ResourceKind::parse(&req.kind)
        .ok_or_else(|| ApiError::bad_request(format!("unknown kind {:?}", req.kind)))?;
    let target = Target {
        kind,
        namespace: req.namespace.clone(),
        name: req.name.clone(),
    };
    let timeout = req.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
    Command::new(action, target, Some(timeout), created_by.to_owned()).map_err(bad)
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
                detail: serde_json::to_string(&command.command).unwrap_or_default(),
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
        let command = command_of(&req, &user.username)?;
        let id = new_command_id()?;
        let now = state.now();
        let record = CommandRecord {
            id: id.clone(),
            cluster_id: cluster_id.clone(),
            command,
            status: CommandStatus::Pending,
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
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(CommandStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status must be pending, running, succeeded, failed or timed_out, not {s:?}"
            ))
        })?),
    };
    expire_overdue(state).await?;
    let (items, total) = state
        .store
        .commands(cluster_id, status, limit, q.offset.unwrap_or(0))
        .await?;
    Ok(CommandList { total, items })
}
