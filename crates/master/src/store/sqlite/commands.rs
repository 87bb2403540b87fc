//! The command queue.

use async_trait::async_trait;
use atlhyper_model::{Command, CommandStatus, Timestamp};

use super::{SqliteStore, conflict_or, corrupt, found, to_u64};
use crate::store::{CommandRecord, CommandStore, StoreError, StoreResult};

#[async_trait]
impl CommandStore for SqliteStore {
    async fn enqueue_command(&self, command: &CommandRecord) -> StoreResult<()> {
        let result = command.result.as_ref().map(serde_json::Value::to_string);
        sqlx::query(
            "INSERT INTO commands \
                 (id, cluster_id, payload, status, created_by, created_at, updated_at, result) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&command.id)
        .bind(&command.cluster_id)
        .bind(encode_command(&command.command)?)
        .bind(command.status.as_str())
        .bind(&command.created_by)
        .bind(command.created_at.0)
        .bind(command.updated_at.0)
        .bind(result)
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_or(e, || format!("command {}", command.id)))?;
        Ok(())
    }

    async fn claim_commands(
        &self,
        cluster_id: &str,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<Vec<CommandRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // One statement, so atomic: a command is claimed once.
        let rows: Vec<CommandRow> = sqlx::query_as(
            "UPDATE commands SET status = 'running', updated_at = $3 \
             WHERE id IN ( \
                 SELECT id FROM commands WHERE cluster_id = $1 AND status = 'pending' \
                 ORDER BY created_at, id LIMIT $2) \
             RETURNING id, cluster_id, payload, status, created_by, created_at, updated_at, result",
        )
        .bind(cluster_id)
        .bind(i64::from(limit))
        .bind(now.0)
        .fetch_all(&self.pool)
        .await?;
        let mut commands = rows
            .into_iter()
            .map(command_record)
            .collect::<StoreResult<Vec<_>>>()?;
        commands.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(commands)
    }

    async fn finish_command(
        &self,
        id: &str,
        status: CommandStatus,
        result: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<()> {
        let changed =
            sqlx::query("UPDATE commands SET status = $2, result = $3, updated_at = $4 WHERE id = $1")
                .bind(id)
                .bind(status.as_str())
                .bind(result.to_string())
                .bind(now.0)
                .execute(&self.pool)
                .await?
                .rows_affected();
        found(changed, || format!("command {id}"))
    }

    async fn command(&self, id: &str) -> StoreResult<Option<CommandRecord>> {
        let row: Option<CommandRow> = sqlx::query_as(
            "SELECT id, cluster_id, payload, status, created_by, created_at, updated_at, result \
             FROM commands WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(command_record).transpose()
    }

    async fn commands(
        &self,
        cluster_id: &str,
        status: Option<CommandStatus>,
        limit: u32,
        offset: u32,
    ) -> StoreResult<(Vec<CommandRecord>, u64)> {
        let status = status.map(CommandStatus::as_str);
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM commands WHERE cluster_id = $1 AND ($2 IS NULL OR status = $2)",
        )
        .bind(cluster_id)
        .bind(status)
        .fetch_one(&self.pool)
        .await?;
        let rows: Vec<CommandRow> = sqlx::query_as(
            "SELECT id, cluster_id, payload, status, created_by, created_at, updated_at, result \
             FROM commands WHERE cluster_id = $1 AND ($2 IS NULL OR status = $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4",
        )
        .bind(cluster_id)
        .bind(status)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await?;
        let commands = rows
            .into_iter()
            .map(command_record)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((commands, to_u64(total, "commands count")?))
    }

    async fn expire_commands(
        &self,
        now: Timestamp,
        default_timeout_s: u64,
        result: &serde_json::Value,
    ) -> StoreResult<Vec<CommandRecord>> {
        let default_ms = i64::try_from(default_timeout_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        // One statement, so a command times out once, and never after its result arrived.
        let rows: Vec<CommandRow> = sqlx::query_as(
            "UPDATE commands SET status = 'timed_out', result = $3, updated_at = $1 \
             WHERE status IN ('pending', 'running') \
               AND created_at + COALESCE(CAST(json_extract(payload, '$.timeout_s') AS INTEGER) * 1000, $2) <= $1 \
             RETURNING id, cluster_id, payload, status, created_by, created_at, updated_at, result",
        )
        .bind(now.0)
        .bind(default_ms)
        .bind(result.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(command_record).collect()
    }
}

fn encode_command(command: &Command) -> StoreResult<String> {
    serde_json::to_string(command).map_err(|e| StoreError::Invalid {
        what: "command",
        message: e.to_string(),
    })
}

/// id, cluster_id, payload, status, created_by, created_at, updated_at, result.
type CommandRow = (String, String, String, String, String, i64, i64, Option<String>);

fn command_record(row: CommandRow) -> StoreResult<CommandRecord> {
    let (id, cluster_id, payload, status, created_by, created_at, updated_at, result) = row;
    Ok(CommandRecord {
        id,
        cluster_id,
        command: serde_json::from_str(&payload).map_err(|e| corrupt("commands.payload", e))?,
        status: CommandStatus::parse(&status)
            .ok_or_else(|| corrupt("commands.status", format!("{status:?}")))?,
        created_by,
        created_at: Timestamp(created_at),
        updated_at: Timestamp(updated_at),
        result: result
            .map(|r| serde_json::from_str(&r).map_err(|e| corrupt("commands.result", e)))
            .transpose()?,
    })
}
