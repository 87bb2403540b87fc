//! What agents send: authentication by cluster token, snapshot ingest (inflated off the async
//! workers, checked, stored idempotently, then handed to the AIOps engine without waiting on
//! it) and heartbeats.

use std::io::Read;
use std::sync::Arc;

use atlhyper_model::{AgentSnapshot, SNAPSHOT_VERSION};

use crate::auth::{agent_token_hash, constant_time_eq};
use crate::datahub::Datahub;
use crate::metrics::Metrics;
use crate::service::aiops::Aiops;
use crate::service::{Clock, ErrorKind, ServiceError, ServiceResult};
use crate::store::{IngestOutcome, Store};

/// An authenticated agent: the cluster it speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    pub cluster_id: String,
}

/// How a snapshot body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Identity,
    Gzip,
}

/// What ingest answers: `stored` or `duplicate`, with the seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub outcome: IngestOutcome,
    pub seq: u64,
}

#[derive(Clone)]
pub struct Ingest {
    store: Arc<dyn Store>,
    hub: Arc<Datahub>,
    clock: Clock,
    metrics: Arc<Metrics>,
    aiops: Aiops,
    /// The most bytes a snapshot may inflate to.
    max_bytes: usize,
}

impl Ingest {
    pub fn new(
        store: Arc<dyn Store>,
        hub: Arc<Datahub>,
        clock: Clock,
        metrics: Arc<Metrics>,
        aiops: Aiops,
        max_bytes: usize,
    ) -> Self {
        Self {
            store,
            hub,
            clock,
            metrics,
            aiops,
            max_bytes,
        }
    }

    /// The most bytes a snapshot body may have, before or after inflating.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The agent behind `X-Cluster-ID` and its bearer token.
    pub async fn authenticate(&self, cluster_id: &str, token: &str) -> ServiceResult<AgentIdentity> {
        let cluster = self
            .store
            .cluster(cluster_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("unknown cluster {cluster_id:?}")))?;
        if !constant_time_eq(&agent_token_hash(token), &cluster.token_hash) {
            return Err(ServiceError::unauthorized(format!(
                "invalid agent token for cluster {cluster_id:?}"
            )));
        }
        Ok(AgentIdentity {
            cluster_id: cluster_id.to_owned(),
        })
    }

    /// Stores one snapshot body. Returns after the store's commit; the AIOps engine gets the
    /// snapshot on its own task and never holds the agent up. Every refusal is counted.
    pub async fn snapshot(
        &self,
        agent: &AgentIdentity,
        encoding: BodyEncoding,
        body: Vec<u8>,
    ) -> ServiceResult<Ingested> {
        let outcome = self.store_snapshot(agent, encoding, body).await;
        if outcome.is_err() {
            Metrics::inc(&self.metrics.snapshots_rejected);
        }
        outcome
    }

    async fn store_snapshot(
        &self,
        agent: &AgentIdentity,
        encoding: BodyEncoding,
        body: Vec<u8>,
    ) -> ServiceResult<Ingested> {
        let limit = self.max_bytes;
        // Inflating and parsing megabytes is CPU work: off the async worker threads.
        let (snapshot, bytes) = tokio::task::spawn_blocking(move || decode(encoding, &body, limit))
            .await
            .map_err(|e| ServiceError::internal("decoding a snapshot", e))??;
        if snapshot.cluster_id != agent.cluster_id {
            return Err(ServiceError::bad_request(format!(
                "snapshot is for cluster {:?} but X-Cluster-ID is {:?}",
                snapshot.cluster_id, agent.cluster_id
            )));
        }
        let seq = snapshot.seq;
        let now = (self.clock)();
        let outcome = self.store.ingest(&snapshot).await?;
        match outcome {
            IngestOutcome::Stored => {
                Metrics::inc(&self.metrics.snapshots_stored);
                self.metrics
                    .snapshot_bytes
                    .fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed);
                let snapshot = Arc::new(snapshot);
                self.hub.snapshot(Arc::clone(&snapshot), now);
                self.aiops.submit(snapshot, now);
            }
            IngestOutcome::Duplicate => Metrics::inc(&self.metrics.snapshots_duplicate),
        }
        Ok(Ingested { outcome, seq })
    }

    /// An agent's sign of life.
    pub fn heartbeat(&self, agent: &AgentIdentity) {
        Metrics::inc(&self.metrics.heartbeats);
        self.seen(agent);
    }

    /// Marks the agent alive without counting a heartbeat (a command poll is one too).
    pub fn seen(&self, agent: &AgentIdentity) {
        self.hub.heartbeat(&agent.cluster_id, (self.clock)());
    }
}

/// Inflates (when gzip), parses and checks the version of a snapshot body; also returns the
/// inflated size.
fn decode(encoding: BodyEncoding, body: &[u8], limit: usize) -> ServiceResult<(AgentSnapshot, usize)> {
    let inflated;
    let json: &[u8] = match encoding {
        BodyEncoding::Identity => body,
        BodyEncoding::Gzip => {
            inflated = gunzip_capped(body, limit)?;
            &inflated
        }
    };
    let snapshot: AgentSnapshot = serde_json::from_slice(json)
        .map_err(|e| ServiceError::bad_request(format!("invalid snapshot json: {e}")))?;
    if snapshot.version != SNAPSHOT_VERSION {
        return Err(ServiceError::bad_request(format!(
            "unsupported snapshot version {} (this master speaks {SNAPSHOT_VERSION})",
            snapshot.version
        )));
    }
    Ok((snapshot, json.len()))
}

/// Inflates a gzip body, refusing (413) anything that inflates beyond `limit` bytes, so a gzip
/// bomb costs at most `limit` bytes of memory.
pub fn gunzip_capped(body: &[u8], limit: usize) -> ServiceResult<Vec<u8>> {
    let mut out = Vec::new();
    let read_limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::GzDecoder::new(body)
        .take(read_limit)
        .read_to_end(&mut out)
        .map_err(|e| ServiceError::bad_request(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(ServiceError::new(
            ErrorKind::TooLarge,
            format!("snapshot inflates beyond the limit of {limit} bytes"),
        ));
    }
    Ok(out)
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
        assert_eq!(gunzip_capped(&bomb, 4096).unwrap_err().kind, ErrorKind::TooLarge);
        assert_eq!(
            gunzip_capped(b"not gzip", 4096).unwrap_err().kind,
            ErrorKind::BadRequest
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_what_is_wrong() {
        let err = decode(BodyEncoding::Identity, b"{\"version\": 1}", 100).unwrap_err();
        assert!(err.message.starts_with("invalid snapshot json"), "{err}");
        let v2 = br#"{"version": 2, "cluster_id": "c", "seq": 1, "taken_at": "2026-01-01T00:00:00Z",
                      "interval_start": "2026-01-01T00:00:00Z", "interval_end": "2026-01-01T00:00:00Z"}"#;
        let err = decode(BodyEncoding::Identity, v2, 1000).unwrap_err();
        assert!(err.message.contains("unsupported snapshot version 2"), "{err}");
    }
}
