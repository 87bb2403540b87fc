//! The AgentSDK listener: where agents push snapshots and heartbeats, long-poll for commands
//! and report results. Every call carries `X-Cluster-ID` and the cluster's bearer token.
//!
//! Bad input is a 4xx with a message, which the agent never retries; overload is 503, which
//! it retries.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use atlhyper_model::{AgentSnapshot, CommandReport, PolledCommand, PolledCommands, SNAPSHOT_VERSION};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{agent_token_hash, constant_time_eq};
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::state::SharedState;
use crate::store::{AuditRecord, CommandRecord, IngestOutcome};

/// The longest a command long poll is held, in seconds.
pub const MAX_POLL_SECONDS: u64 = 60;

pub fn router(state: SharedState) -> Router {
    let limit = state.config.snapshot_max_bytes;
    Router::new()
        .route(
            "/agent/snapshot",
            post(snapshot).layer(DefaultBodyLimit::max(limit)),
        )
        .route("/agent/heartbeat", post(heartbeat))
        .route("/agent/commands", get(commands))
        .route("/agent/result", post(result))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .with_state(state)
}

/// An authenticated agent: the cluster it speaks for.
pub struct Agent {
    pub cluster_id: String,
}

impl FromRequestParts<SharedState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let cluster_id = parts
            .headers
            .get("x-cluster-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::bad_request("missing X-Cluster-ID header"))?
            .to_owned();
        let token = bearer(&parts.headers).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let cluster = state
            .store
            .cluster(&cluster_id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("unknown cluster {cluster_id:?}")))?;
        if !constant_time_eq(&agent_token_hash(token), &cluster.token_hash) {
            return Err(ApiError::unauthorized(format!(
                "invalid agent token for cluster {cluster_id:?}"
            )));
        }
        Ok(Self { cluster_id })
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

async fn snapshot(
    State(state): State<SharedState>,
    agent: Agent,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let outcome = ingest(&state, &agent, &headers, &body).await;
    if outcome.is_err() {
        Metrics::inc(&state.metrics.snapshots_rejected);
    }
    outcome
}

async fn ingest(
    state: &SharedState,
    agent: &Agent,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Json<Value>> {
    let limit = state.config.snapshot_max_bytes;
    let json = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        None | Some("identity") => body.to_vec(),
        Some("gzip") => gunzip_capped(body, limit)?,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content encoding {other:?}"),
            ));
        }
    };
    let snapshot: AgentSnapshot = serde_json::from_slice(&json)
        .map_err(|e| ApiError::bad_request(format!("invalid snapshot json: {e}")))?;
    if snapshot.version != SNAPSHOT_VERSION {
        return Err(ApiError::bad_request(format!(
            "unsupported snapshot version {} (this master speaks {SNAPSHOT_VERSION})",
            snapshot.version
        )));
    }
    if snapshot.cluster_id != agent.cluster_id {
        return Err(ApiError::bad_request(format!(
            "snapshot is for cluster {:?} but X-Cluster-ID is {:?}",
            snapshot.cluster_id, agent.cluster_id
        )));
    }
    let seq = snapshot.seq;
    let now = state.now();
    let outcome = state.store.ingest(&snapshot).await?;
    let status = match outcome {
        IngestOutcome::Stored => {
            Metrics::inc(&state.metrics.snapshots_stored);
            state
                .metrics
                .snapshot_bytes
                .fetch_add(json.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let snapshot = Arc::new(snapshot);
            state.hub.snapshot(Arc::clone(&snapshot), now);
            state.aiops.observe(&snapshot, now);
            if let Err(e) = state.aiops.save_if_due(state.store.as_ref(), now).await {
                tracing::warn!(error = %e, "cannot save the aiops state");
            }
            "stored"
        }
        IngestOutcome::Duplicate => {
            Metrics::inc(&state.metrics.snapshots_duplicate);
            "duplicate"
        }
    };
    Ok(Json(json!({ "status": status, "seq": seq })))
}

/// Inflates a gzip body, refusing (413) anything that inflates beyond `limit` bytes, so a gzip
/// bomb costs at most `limit` bytes of memory.
fn gunzip_capped(body: &[u8], limit: usize) -> ApiResult<Vec<u8>> {
    let mut out = Vec::new();
    let read_limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::GzDecoder::new(body)
        .take(read_limit)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad_request(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("snapshot inflates beyond the limit of {limit} bytes"),
        ));
    }
    Ok(out)
}

async fn heartbeat(State(state): State<SharedState>, agent: Agent) -> Json<Value> {
    Metrics::inc(&state.metrics.heartbeats);
    state.hub.heartbeat(&agent.cluster_id, state.now());
    Json(json!({ "status": "ok" }))
}

#[derive(Debug, Deserialize)]
struct PollQuery {
    /// Seconds to wait for a command (at most 60).
    timeout_s: Option<u64>,
}

/// Long poll: answers at once when commands are pending, else waits until one is queued or
/// the timeout passes, then answers `{"commands": []}`.
async fn commands(
    State(state): State<SharedState>,
    agent: Agent,
    Query(q): Query<PollQuery>,
) -> ApiResult<Json<PolledCommands>> {
    state.hub.heartbeat(&agent.cluster_id, state.now());
    let wait = Duration::from_secs(q.timeout_s.unwrap_or(30).min(MAX_POLL_SECONDS));
    let deadline = tokio::time::Instant::now() + wait;
    let waiter = state.command_waiter(&agent.cluster_id);
    loop {
        crate::gateway::expire_overdue_commands(&state).await?;
        let notified = waiter.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let claimed = state
            .store
            .claim_commands(&agent.cluster_id, 16, state.now())
            .await?;
        if !claimed.is_empty() {
            return Ok(Json(PolledCommands {
                commands: claimed.iter().map(agent_view).collect::<ApiResult<_>>()?,
            }));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Ok(Json(PolledCommands::default()));
        }
    }
}

fn agent_view(command: &CommandRecord) -> ApiResult<PolledCommand> {
    Ok(PolledCommand {
        id: command.id.clone(),
        command: serde_json::to_value(&command.command)
            .map_err(|e| ApiError::internal(format!("cannot encode command {}: {e}", command.id)))?,
    })
}

async fn result(State(state): State<SharedState>, agent: Agent, body: Bytes) -> ApiResult<Json<Value>> {
    let report: CommandReport = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid result json: {e}")))?;
    let command = state
        .store
        .command(&report.id)
        .await?
        .filter(|c| c.cluster_id == agent.cluster_id)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "unknown command {:?} for cluster {:?}",
                report.id, agent.cluster_id
            ))
        })?;
    if command.status.is_final() {
        // Timed out by the master already (or reported twice): the first outcome stands.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("command {:?} is already {}", command.id, command.status),
        ));
    }
    let now = state.now();
    state
        .store
        .finish_command(&command.id, report.status, &report.result, now)
        .await?;
    Metrics::inc(&state.metrics.commands_finished);
    state
        .store
        .append_audit(&AuditRecord {
            id: 0,
            at: now,
            actor: format!("agent:{}", agent.cluster_id),
            action: "command.result".into(),
            target: format!("cluster/{}/command/{}", agent.cluster_id, command.id),
            source_addr: String::new(),
            result: report.status.as_str().to_owned(),
            detail: serde_json::to_string(&command.command).unwrap_or_default(),
        })
        .await?;
    Ok(Json(json!({ "status": "ok" })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gunzip_refuses_bombs_and_garbage() {
        assert_eq!(gunzip_capped(&gzip(b"hello"), 5).unwrap(), b"hello");
        let bomb = gzip(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 2048);
        assert_eq!(
            gunzip_capped(&bomb, 4096).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            gunzip_capped(b"not gzip", 4096).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
