//! The agent channel, one of the master's three adapters: where agents push snapshots and
//! heartbeats, long-poll for commands and report results. Every call carries `X-Cluster-ID`
//! and the cluster's bearer token; the logic is in `service::ingest` and `service::commands`.
//!
//! Bad input is a 4xx with a message, which the agent never retries; overload is 503, which
//! it retries.

use std::time::Duration;

use atlhyper_model::{CommandReport, PolledCommand, PolledCommands};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{ApiError, ApiResult, bearer};
use crate::service::ingest::{AgentIdentity, BodyEncoding};
use crate::service::{App, ErrorKind, ServiceError};
use crate::store::{CommandRecord, IngestOutcome};

/// The longest a command long poll is held, in seconds.
pub const MAX_POLL_SECONDS: u64 = 60;

pub fn routes(max_body: usize) -> Router<App> {
    Router::new()
        .route(
            "/agent/snapshot",
            post(snapshot).layer(DefaultBodyLimit::max(max_body)),
        )
        .route("/agent/heartbeat", post(heartbeat))
        .route("/agent/commands", get(commands))
        .route("/agent/result", post(result))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
}

/// An authenticated agent: the cluster it speaks for.
pub struct Agent(pub AgentIdentity);

impl FromRequestParts<App> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let cluster_id = parts
            .headers
            .get("x-cluster-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::bad_request("missing X-Cluster-ID header"))?;
        let token = bearer(&parts.headers).ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        Ok(Self(app.ingest.authenticate(cluster_id, token).await?))
    }
}

fn encoding(headers: &HeaderMap) -> Result<BodyEncoding, ServiceError> {
    match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        None | Some("identity") => Ok(BodyEncoding::Identity),
        Some("gzip") => Ok(BodyEncoding::Gzip),
        Some(other) => Err(ServiceError::new(
            ErrorKind::UnsupportedEncoding,
            format!("unsupported content encoding {other:?}"),
        )),
    }
}

async fn snapshot(
    State(app): State<App>,
    Agent(agent): Agent,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let encoding = encoding(&headers)?;
    let ingested = app.ingest.snapshot(&agent, encoding, body.to_vec()).await?;
    let status = match ingested.outcome {
        IngestOutcome::Stored => "stored",
        IngestOutcome::Duplicate => "duplicate",
    };
    Ok(Json(json!({ "status": status, "seq": ingested.seq })))
}

async fn heartbeat(State(app): State<App>, Agent(agent): Agent) -> Json<Value> {
    app.ingest.heartbeat(&agent);
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
    State(app): State<App>,
    Agent(agent): Agent,
    Query(q): Query<PollQuery>,
) -> ApiResult<Json<PolledCommands>> {
    app.ingest.seen(&agent);
    let wait = Duration::from_secs(q.timeout_s.unwrap_or(30).min(MAX_POLL_SECONDS));
    let deadline = tokio::time::Instant::now() + wait;
    let waiter = app.commands.waiter(&agent.cluster_id);
    loop {
        let notified = waiter.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let claimed = app.commands.claim(&agent.cluster_id).await?;
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
            .map_err(|e| ServiceError::internal(&format!("encoding command {}", command.id), e))?,
    })
}

async fn result(State(app): State<App>, Agent(agent): Agent, body: Bytes) -> ApiResult<Json<Value>> {
    let report: CommandReport = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid result json: {e}")))?;
    app.commands.report(&agent.cluster_id, report).await?;
    Ok(Json(json!({ "status": "ok" })))
}
