//! Fetching metrics bodies over HTTP: one target at a time with a timeout that covers the whole
//! response, many at once under a concurrency bound, gzip accepted, bodies size-capped.
//!
//! One slow or dead target costs at most its timeout and never delays the others: every fetch
//! runs as its own task, and the round ends when the last one finished or timed out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// What a target serves, which decides how its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    /// A meshed pod's proxy admin port (`:4191/metrics`).
    LinkerdProxy,
    /// A Traefik metrics endpoint.
    Traefik,
    /// A node_exporter endpoint.
    NodeExporter,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LinkerdProxy => "linkerd-proxy",
            Self::Traefik => "traefik",
            Self::NodeExporter => "node-exporter",
        }
    }
}

/// One endpoint to scrape, with the labels the scraper attaches to its samples (DESIGN.md
/// §5.1: `namespace`, `pod` and the workload label, as linkerd-viz's relabeling does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeTarget {
    pub kind: TargetKind,
    /// Stable identity across rounds, e.g. `namespace/pod`; baselines are kept per id.
    pub id: String,
    pub url: String,
    pub labels: Vec<(String, String)>,
    /// The node the target runs on (node_exporter targets are named by it).
    pub node: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("scrape {url}: timed out after {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("scrape {url}: {message}")]
    Http { url: String, message: String },
    #[error("scrape {url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("scrape {url}: body larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("scrape {url}: body is not UTF-8 text")]
    NotText { url: String },
    /// The body came, but is not an answer the source mode can use (the Prometheus API mode).
    #[error("scrape {url}: {source}")]
    Answer {
        url: String,
        source: crate::prometheus_api::AnswerError,
    },
    #[error("cannot build the scrape HTTP client: {0}")]
    Client(String),
}

/// The body of one successful fetch.
#[derive(Debug)]
pub struct Fetched {
    pub body: String,
    pub duration: Duration,
}

/// The outcome of fetching one target of a round.
#[derive(Debug)]
pub struct FetchOutcome {
    /// Index into the round's target list.
    pub index: usize,
    pub result: Result<Fetched, ScrapeError>,
    pub duration: Duration,
    /// The concurrency slot, held until the caller drops the outcome: a body waiting to be
    /// processed counts against the bound, so memory holds at most `concurrency` bodies.
    _slot: Option<OwnedSemaphorePermit>,
}

/// An HTTP client for scrapes, shared by every round.
#[derive(Debug, Clone)]
pub struct Scraper {
    client: reqwest::Client,
    timeout: Duration,
    max_body_bytes: usize,
}

/// What we accept: the text format, which every source we read serves (OpenMetrics-only
/// endpoints answer it too).
const ACCEPT: &str = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

impl Scraper {
    pub fn new(timeout: Duration, max_body_bytes: usize) -> Result<Self, ScrapeError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("atlhyper-agent/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| ScrapeError::Client(error_chain(&e)))?;
        Ok(Self {
            client,
            timeout,
            max_body_bytes,
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Fetches one URL; the timeout covers connecting, the headers and the whole body.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, ScrapeError> {
        let started = Instant::now();
        match tokio::time::timeout(self.timeout, self.fetch_inner(url)).await {
            Ok(result) => result.map(|body| Fetched {
                body,
                duration: started.elapsed(),
            }),
            Err(_) => Err(ScrapeError::Timeout {
                url: url.to_owned(),
                timeout: self.timeout,
            }),
        }
    }

    async fn fetch_inner(&self, url: &str) -> Result<String, ScrapeError> {
        let http = |e: reqwest::Error| ScrapeError::Http {
            url: url.to_owned(),
            message: error_chain(&e),
        };
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, ACCEPT)
            .send()
            .await
            .map_err(http)?;
        if !response.status().is_success() {
            return Err(ScrapeError::Status {
                url: url.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(ScrapeError::TooLarge {
                    url: url.to_owned(),
                    limit: self.max_body_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|_| ScrapeError::NotText { url: url.to_owned() })
    }

    /// Fetches every URL, at most `concurrency` at a time; outcomes come back in input order.
    pub async fn fetch_all(&self, urls: &[String], concurrency: usize) -> Vec<FetchOutcome> {
        let mut tasks = self.fetch_each(urls.to_vec(), concurrency);
        let mut outcomes = Vec::with_capacity(urls.len());
        while let Some(outcome) = next_outcome(&mut tasks).await {
            outcomes.push(outcome);
        }
        outcomes.sort_by_key(|o| o.index);
        outcomes
    }

    /// Starts fetching every URL, at most `concurrency` at a time; the caller takes outcomes
    /// as they finish with [`next_outcome`], so it can process and drop each body before the
    /// next arrives.
    pub fn fetch_each(&self, urls: Vec<String>, concurrency: usize) -> JoinSet<FetchOutcome> {
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for (index, url) in urls.into_iter().enumerate() {
            let scraper = self.clone();
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                // The semaphore is never closed, so acquiring cannot fail.
                let slot = permits.acquire_owned().await.ok();
                let started = Instant::now();
                let result = scraper.fetch(&url).await;
                FetchOutcome {
                    index,
                    result,
                    duration: started.elapsed(),
                    _slot: slot,
                }
            });
        }
        tasks
    }
}

/// The next finished fetch of [`Scraper::fetch_each`], or `None` when all are done.
pub async fn next_outcome(tasks: &mut JoinSet<FetchOutcome>) -> Option<FetchOutcome> {
    loop {
        match tasks.join_next().await? {
            Ok(outcome) => return Some(outcome),
            // A fetch task cannot panic short of a bug; its target simply has no outcome
            // this round and keeps its baseline.
            Err(e) => tracing::error!(error = %e, "scrape task failed"),
        }
    }
}

/// `e` and its sources, joined: reqwest's top-level message alone ("error sending request")
/// does not say what went wrong.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    message
}
