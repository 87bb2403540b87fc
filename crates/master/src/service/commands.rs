//! Remote operations: queueing a command for a cluster's agent (checked by the one definition
//! in `atlhyper_model::command`, audited), handing it over on the agent's long poll, its
//! result, timeouts, and the history.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use atlhyper_model::command::DEFAULT_TIMEOUT_S;
use atlhyper_model::{Action, Command, CommandReport, CommandStatus, ResourceKind, Target};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;
use utoipa::{IntoParams, ToSchema};

use crate::metrics::Metrics;
use crate::service::access::{Caller, Operator};
use crate::service::audit::Audit;
use crate::service::clusters::Clusters;
use crate::service::{Clock, ErrorKind, ServiceError, ServiceResult};
use crate::store::{CommandRecord, Store};

/// Commands handed to an agent in one poll answer, at most.
const CLAIM_LIMIT: u32 = 16;

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

#[derive(Debug, Serialize, ToSchema)]
pub struct CommandCreated {
    pub id: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
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

/// The checked command of a request: the one definition of every action, kind and parameter
/// rule, shared with the agent.
pub fn command_of(req: &CommandRequest, created_by: &str) -> ServiceResult<Command> {
    if req.name.is_empty() || req.kind.is_empty() {
        return Err(ServiceError::bad_request("kind and name are required"));
    }
    let bad = |e: atlhyper_model::CommandError| ServiceError::bad_request(e.0);
    let action = Action::parse(&req.action, &req.params).map_err(bad)?;
    if action.mutates() && !req.confirm {
        return Err(ServiceError::bad_request(format!(
            "{} changes the cluster: send \"confirm\": true",
            req.action
        )));
    }
    let kind = ResourceKind::parse(&req.kind)
        .ok_or_else(|| ServiceError::bad_request(format!("unknown kind {:?}", req.kind)))?;
    let target = Target {
        kind,
        namespace: req.namespace.clone(),
        name: req.name.clone(),
    };
    let timeout = req.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
    Command::new(action, target, Some(timeout), created_by.to_owned()).map_err(bad)
}

fn new_command_id() -> ServiceResult<String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| ServiceError::internal("generating a command id", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn parse_status(text: Option<&str>) -> ServiceResult<Option<CommandStatus>> {
    match text.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => CommandStatus::parse(s).map(Some).ok_or_else(|| {
            ServiceError::bad_request(format!(
                "status must be pending, running, succeeded, failed or timed_out, not {s:?}"
            ))
        }),
    }
}

#[derive(Clone)]
pub struct Commands {
    store: Arc<dyn Store>,
    clock: Clock,
    metrics: Arc<Metrics>,
    clusters: Clusters,
    audit: Audit,
    /// Wakes an agent's pending long poll when a command is queued for its cluster.
    waiters: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl Commands {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Clock,
        metrics: Arc<Metrics>,
        clusters: Clusters,
        audit: Audit,
    ) -> Self {
        Self {
            store,
            clock,
            metrics,
            clusters,
            audit,
            waiters: Arc::default(),
        }
    }

    /// What a cluster's long poll waits on.
    pub fn waiter(&self, cluster_id: &str) -> Arc<Notify> {
        let mut waiters = self
            .waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        waiters.entry(cluster_id.to_owned()).or_default().clone()
    }

    /// Queues a command for the cluster's agent (operator; audited, a refusal too).
    pub async fn enqueue(
        &self,
        caller: &Caller,
        cluster_id: &str,
        req: CommandRequest,
    ) -> ServiceResult<CommandCreated> {
        let target = format!("cluster/{cluster_id}/{}/{}/{}", req.kind, req.namespace, req.name);
        let action = format!("command.{}", req.action);
        let operator: Operator = self.audit.authorize(caller, &action, &target).await?;
        let detail = serde_json::to_string(&req).unwrap_or_default();
        let outcome = self.queue(&operator, cluster_id, &req).await;
        self.audit
            .outcome(&operator, &action, &target, &detail, outcome)
            .await
    }

    async fn queue(
        &self,
        operator: &Operator,
        cluster_id: &str,
        req: &CommandRequest,
    ) -> ServiceResult<CommandCreated> {
        self.clusters.find(cluster_id).await?;
        let command = command_of(req, &operator.username)?;
        let id = new_command_id()?;
        let now = (self.clock)();
        let record = CommandRecord {
            id: id.clone(),
            cluster_id: cluster_id.to_owned(),
            command,
            status: CommandStatus::Pending,
            created_by: operator.username.clone(),
            created_at: now,
            updated_at: now,
            result: None,
        };
        self.store.enqueue_command(&record).await?;
        Metrics::inc(&self.metrics.commands_queued);
        self.waiter(cluster_id).notify_waiters();
        Ok(CommandCreated { id })
    }

    /// Times out every command past its deadline, with an audit row for each. Called before
    /// commands are read or handed to an agent, so no one sees a command overdue but `running`.
    pub async fn expire_overdue(&self) -> ServiceResult<()> {
        let now = (self.clock)();
        let result = json!({"error": "the agent did not report a result before the command's timeout"});
        let expired = self
            .store
            .expire_commands(now, DEFAULT_TIMEOUT_S, &result)
            .await?;
        for command in expired {
            let target = format!("cluster/{}/command/{}", command.cluster_id, command.id);
            let detail = serde_json::to_string(&command.command).unwrap_or_default();
            self.audit
                .system("master", "command.result", &target, "timed_out", &detail)
                .await?;
        }
        Ok(())
    }

    /// A command's status and result.
    pub async fn get(&self, _reader: &Operator, cluster_id: &str, id: &str) -> ServiceResult<CommandRecord> {
        self.expire_overdue().await?;
        self.store
            .command(id)
            .await?
            .filter(|c| c.cluster_id == cluster_id)
            .ok_or_else(|| {
                ServiceError::not_found(format!("unknown command {id:?} in cluster {cluster_id:?}"))
            })
    }

    /// The cluster's command history, newest first.
    pub async fn list(
        &self,
        _reader: &Operator,
        cluster_id: &str,
        q: CommandListQuery,
    ) -> ServiceResult<CommandList> {
        self.clusters.find(cluster_id).await?;
        let limit = q.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ServiceError::bad_request("limit must be 1 to 500"));
        }
        let status = parse_status(q.status.as_deref())?;
        self.expire_overdue().await?;
        let (items, total) = self
            .store
            .commands(cluster_id, status, limit, q.offset.unwrap_or(0))
            .await?;
        Ok(CommandList { total, items })
    }

    /// Hands the cluster's pending commands to its agent (marking them `running`), oldest
    /// first; none when there are none.
    pub async fn claim(&self, cluster_id: &str) -> ServiceResult<Vec<CommandRecord>> {
        self.expire_overdue().await?;
        Ok(self
            .store
            .claim_commands(cluster_id, CLAIM_LIMIT, (self.clock)())
            .await?)
    }

    /// Records an agent's report. The first final outcome stands: a report for a command the
    /// master already timed out (or a second report) is a conflict.
    pub async fn report(&self, cluster_id: &str, report: CommandReport) -> ServiceResult<()> {
        let command = self
            .store
            .command(&report.id)
            .await?
            .filter(|c| c.cluster_id == cluster_id)
            .ok_or_else(|| {
                ServiceError::not_found(format!(
                    "unknown command {:?} for cluster {cluster_id:?}",
                    report.id
                ))
            })?;
        if command.status.is_final() {
            return Err(ServiceError::new(
                ErrorKind::Conflict,
                format!("command {:?} is already {}", command.id, command.status),
            ));
        }
        self.store
            .finish_command(&command.id, report.status, &report.result, (self.clock)())
            .await?;
        Metrics::inc(&self.metrics.commands_finished);
        let target = format!("cluster/{cluster_id}/command/{}", command.id);
        let detail = serde_json::to_string(&command.command).unwrap_or_default();
        self.audit
            .system(
                &format!("agent:{cluster_id}"),
                "command.result",
                &target,
                report.status.as_str(),
                &detail,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(action: &str, params: Value, confirm: bool) -> CommandRequest {
        CommandRequest {
            action: action.into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "cart".into(),
            params,
            confirm,
            timeout_s: None,
        }
    }

    #[test]
    fn requests_become_checked_commands() {
        let c = command_of(&request("scale", json!({"replicas": 2}), true), "otto").unwrap();
        assert_eq!(c.action, Action::Scale { replicas: 2 });
        assert_eq!(c.timeout_s, Some(DEFAULT_TIMEOUT_S));
        let unconfirmed = command_of(&request("scale", json!({"replicas": 2}), false), "otto").unwrap_err();
        assert!(
            unconfirmed.message.contains("send \"confirm\": true"),
            "{unconfirmed}"
        );
        assert!(command_of(&request("get", Value::Null, false), "otto").is_ok());
        assert_eq!(parse_status(Some("")).unwrap(), None);
        assert!(parse_status(Some("done")).is_err());
    }
}
