//! What every handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlhyper_model::Timestamp;
use tokio::sync::Notify;

use crate::auth::{LoginLimiter, TokenIssuer};
use crate::config::MasterConfig;
use crate::datahub::Datahub;
use crate::metrics::Metrics;
use crate::store::Store;

/// The time source: the wall clock in production, a settable one in tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    })
}

pub struct AppState {
    pub config: MasterConfig,
    pub store: Arc<dyn Store>,
    pub tokens: TokenIssuer,
    pub login_limiter: LoginLimiter,
    pub hub: Datahub,
    pub metrics: Metrics,
    pub clock: Clock,
    /// The AIOps engine, ticked on every stored snapshot.
    pub aiops: crate::aiops::Aiops,
    /// Wakes an agent's pending long poll when a command is queued for its cluster.
    command_waiters: Mutex<HashMap<String, Arc<Notify>>>,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(config: MasterConfig, store: Arc<dyn Store>, clock: Clock) -> Self {
        let tokens = TokenIssuer::new(config.jwt_secret.expose().as_bytes(), config.token_ttl);
        Self {
            config,
            store,
            tokens,
            login_limiter: LoginLimiter::new(10, Duration::from_secs(60)),
            hub: Datahub::default(),
            metrics: Metrics::default(),
            clock,
            aiops: crate::aiops::Aiops::new(),
            command_waiters: Mutex::new(HashMap::new()),
        }
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    pub fn command_waiter(&self, cluster_id: &str) -> Arc<Notify> {
        let mut waiters = self
            .command_waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        waiters.entry(cluster_id.to_owned()).or_default().clone()
    }
}
