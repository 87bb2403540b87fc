//! The agent's side of the AgentSDK: snapshot pushes, heartbeats, and what each answer means
//! for the spool.
//!
//! | answer | meaning | the spooled snapshot |
//! |---|---|---|
//! | 2xx (`stored` or `duplicate`) | the master has it | acknowledged, removed |
//! | 400, 413, 415, 422 | the snapshot itself is bad and never will be accepted | dropped, counted |
//! | 401, 403, 404 | wrong token or unregistered cluster: an operator must act | kept, retried with backoff |
//! | 408, 429, 5xx, no connection, timeout | overload or outage | kept, retried with backoff |

use std::time::Duration;

use atlhyper_model::{CommandReport, PolledCommand, PolledCommands};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};

use crate::scrape::error_chain;

/// The agent token, wrapped so `Debug` never prints it (DESIGN.md §7.5).
#[derive(Clone)]
pub struct AgentToken(String);

impl AgentToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }
}

impl std::fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentToken(***)")
    }
}

/// Why a call to the master failed (heartbeat, command poll, result report). Snapshot pushes
/// are not errors but [`PushOutcome`]s, because each answer decides the spooled file's fate.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("cannot build the master client: {0}")]
    Build(String),
    /// No answer: connection refused, timeout, TLS; the message is the whole error chain.
    #[error("{method} {url}: {message}")]
    Send {
        method: &'static str,
        url: String,
        message: String,
    },
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        method: &'static str,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("GET {url}: invalid answer: {source}")]
    Answer { url: String, source: serde_json::Error },
    #[error("POST {url}: cannot encode: {source}")]
    Encode { url: String, source: serde_json::Error },
}

impl MasterError {
    fn send(method: &'static str, url: &str, e: &reqwest::Error) -> Self {
        Self::Send {
            method,
            url: url.to_owned(),
            message: error_chain(e),
        }
    }

    /// A non-2xx answer, with its body trimmed.
    async fn status(method: &'static str, url: &str, response: reqwest::Response) -> Self {
        Self::Status {
            method,
            url: url.to_owned(),
            status: response.status(),
            body: response.text().await.unwrap_or_default().trim().to_owned(),
        }
    }
}

/// How one push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The master stored it, or had it already.
    Accepted,
    /// The master refused the snapshot as bad input: retrying cannot help.
    Rejected { status: u16, message: String },
    /// Try again later.
    Retry { reason: String },
}

/// A client of the master's AgentSDK for one cluster.
#[derive(Debug, Clone)]
pub struct MasterClient {
    http: reqwest::Client,
    base: String,
    cluster_id: String,
    token: AgentToken,
}

impl MasterClient {
    pub fn new(
        base: &str,
        cluster_id: &str,
        token: AgentToken,
        timeout: Duration,
    ) -> Result<Self, MasterError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("atlhyper-agent/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| MasterError::Build(error_chain(&e)))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            cluster_id: cluster_id.to_owned(),
            token,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header("x-cluster-id", &self.cluster_id)
            .header(AUTHORIZATION, format!("Bearer {}", self.token.0))
    }

    /// Posts one gzip-encoded snapshot body.
    pub async fn push_snapshot(&self, gzip_body: Vec<u8>) -> PushOutcome {
        let request = self
            .post("/agent/snapshot")
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .body(gzip_body);
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let message = response.text().await.unwrap_or_default();
                classify(status, message)
            }
            Err(e) => PushOutcome::Retry {
                reason: format!("POST {}/agent/snapshot: {}", self.base, error_chain(&e)),
            },
        }
    }

    /// Tells the master the agent is alive.
    pub async fn heartbeat(&self) -> Result<(), MasterError> {
        let url = format!("{}/agent/heartbeat", self.base);
        let response = self
            .post("/agent/heartbeat")
            .send()
            .await
            .map_err(|e| MasterError::send("POST", &url, &e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(MasterError::status("POST", &url, response).await)
        }
    }
}

impl MasterClient {
    /// Long-polls `GET /agent/commands` for up to `wait`: the commands queued for this
    /// cluster (none when the wait passed). Each is still raw, so one this version cannot read
    /// fails alone.
    pub async fn poll_commands(&self, wait: Duration) -> Result<Vec<PolledCommand>, MasterError> {
        let url = format!("{}/agent/commands?timeout_s={}", self.base, wait.as_secs().max(1));
        let response = self
            .http
            .get(&url)
            .header("x-cluster-id", &self.cluster_id)
            .header(AUTHORIZATION, format!("Bearer {}", self.token.0))
            .timeout(wait + Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| MasterError::send("GET", &url, &e))?;
        if !response.status().is_success() {
            return Err(MasterError::status("GET", &url, response).await);
        }
        let body = response
            .text()
            .await
            .map_err(|e| MasterError::send("GET", &url, &e))?;
        let polled: PolledCommands =
            serde_json::from_str(&body).map_err(|source| MasterError::Answer { url, source })?;
        Ok(polled.commands)
    }

    /// Reports a command's outcome with `POST /agent/result`. An answer of 409 (the master
    /// had already given up on the command) is an error the caller logs and drops.
    pub async fn report_result(&self, report: &CommandReport) -> Result<(), MasterError> {
        let url = format!("{}/agent/result", self.base);
        let body = serde_json::to_string(report).map_err(|source| MasterError::Encode {
            url: url.clone(),
            source,
        })?;
        let response = self
            .post("/agent/result")
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| MasterError::send("POST", &url, &e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(MasterError::status("POST", &url, response).await)
        }
    }
}

fn classify(status: StatusCode, message: String) -> PushOutcome {
    if status.is_success() {
        return PushOutcome::Accepted;
    }
    let message = format!("HTTP {}: {}", status.as_u16(), message.trim());
    match status.as_u16() {
        400 | 413 | 415 | 422 => PushOutcome::Rejected {
            status: status.as_u16(),
            message,
        },
        _ => PushOutcome::Retry { reason: message },
    }
}

/// Exponential backoff with full jitter (AWS architecture blog's "full jitter"): the n-th
/// wait is uniform in [base, min(max, base·2ⁿ)], so many agents that lost one master do not
/// return to it in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration, seed: u64) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// The wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let span = ceiling.saturating_sub(self.base).as_millis() as u64;
        let jitter = if span == 0 {
            0
        } else {
            self.next_random() % (span + 1)
        };
        self.base + Duration::from_millis(jitter)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// xorshift64*: jitter needs spread, not cryptographic quality.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A seed for the jitter that differs between agents.
pub fn jitter_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0x9e37_79b9_7f4a_7c15;
    }
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_by_whether_retrying_can_help() {
        assert_eq!(classify(StatusCode::OK, String::new()), PushOutcome::Accepted);
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, "invalid snapshot json".into()),
            PushOutcome::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            classify(StatusCode::PAYLOAD_TOO_LARGE, String::new()),
            PushOutcome::Rejected { status: 413, .. }
        ));
        for retry in [401, 403, 404, 408, 429, 500, 502, 503] {
            let status = StatusCode::from_u16(retry).unwrap();
            assert!(
                matches!(classify(status, String::new()), PushOutcome::Retry { .. }),
                "{retry}"
            );
        }
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), 42);
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(100) && *d <= Duration::from_secs(2))
        );
        assert!(
            delays[6..].iter().any(|d| *d > Duration::from_millis(800)),
            "{delays:?}"
        );
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 5, "jittered: {delays:?}");
        b.reset();
        assert!(b.next_delay() == Duration::from_millis(100));
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let client = MasterClient::new(
            "http://m:8081/",
            "c1",
            AgentToken::new("s3cret"),
            Duration::from_secs(1),
        )
        .unwrap();
        let text = format!("{client:?}");
        assert!(!text.contains("s3cret") && text.contains("***"), "{text}");
        assert_eq!(client.base_url(), "http://m:8081");
    }
}
