//! The queue of commands for agents and their outcomes.

use async_trait::async_trait;
use atlhyper_model::{Command, CommandStatus, Timestamp};
use serde::{Deserialize, Serialize};

use super::StoreResult;

/// A command for an agent and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandRecord {
    pub id: String,
    pub cluster_id: String,
    /// The command as the agent receives it (`payload` on the wire and in the table).
    #[serde(rename = "payload")]
    pub command: Command,
    pub status: CommandStatus,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub result: Option<serde_json::Value>,
}

#[async_trait]
pub trait CommandStore: Send + Sync {
    async fn enqueue_command(&self, command: &CommandRecord) -> StoreResult<()>;
    /// Marks up to `limit` pending commands of the cluster `running` and returns them, oldest
    /// first (by `created_at`, then id).
    async fn claim_commands(
        &self,
        cluster_id: &str,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<Vec<CommandRecord>>;
    async fn finish_command(
        &self,
        id: &str,
        status: CommandStatus,
        result: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn command(&self, id: &str) -> StoreResult<Option<CommandRecord>>;
    /// The cluster's commands, newest first (by `created_at`, then id), optionally of one
    /// status; with the total matching before `limit`/`offset`.
    async fn commands(
        &self,
        cluster_id: &str,
        status: Option<CommandStatus>,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<CommandRecord>, u64)>;
    /// Marks `timed_out` every pending or running command whose deadline (`created_at` +
    /// the payload's `timeout_s`, else `default_timeout_s`) is at or before `now`, with
    /// `result`; returns them.
    async fn expire_commands(
        &self,
        now: Timestamp,
        default_timeout_s: u64,
        result: &serde_json::Value,
    ) -> StoreResult<Vec<CommandRecord>>;
}
