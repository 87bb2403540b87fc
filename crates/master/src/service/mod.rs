//! The master's domain services: everything the master does, each over the store. The JSON
//! gateway (`crate::gateway`), the dashboard (`crate::web`) and the agent channel
//! (`crate::agentsdk`) are thin adapters over these; none of them imports another, and none
//! reaches the store but through a service.
//!
//! | service | what it owns |
//! |---|---|
//! | [`access`] | callers from tokens, role proofs |
//! | [`audit`] | the audit log: writing every change, reading it back; authorizing a change with its refusal audited |
//! | [`accounts`] | logins (rate limited), users and roles |
//! | [`clusters`] | registration, agents online, delivery status, the latest snapshot |
//! | [`slo`] | SLO overview and detail, objectives, error budgets, burn rates |
//! | [`resources`] | Kubernetes resources, events, anomalies, counts |
//! | [`commands`] | remote operations: queue, long poll, results, timeouts |
//! | [`ingest`] | what agents send: authentication, snapshots, heartbeats |
//! | [`aiops`] | the AIOps engines, their incidents and learning state |
//!
//! Room is left for alerting, the assistant and traces as services of their own.
//!
//! Services fail with [`ServiceError`]: a kind each adapter maps to its answer, and a message
//! fit for the caller (store failures reach it only as a log reference).

pub mod access;
pub mod accounts;
pub mod aiops;
pub mod audit;
pub mod clusters;
pub mod commands;
mod error;
pub mod ingest;
pub mod resources;
pub mod slo;

use std::sync::Arc;
use std::time::Duration;

use atlhyper_model::Timestamp;

pub use access::{Admin, Caller, Operator, RoleProof, Viewer};
pub use error::{ErrorKind, ServiceError, ServiceResult};

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

/// Login attempts per source address and minute.
const LOGINS_PER_MINUTE: u32 = 10;

/// Every service of one master; what the adapters hold (in an `Arc`, see [`App`]).
pub struct Services {
    pub access: access::Access,
    pub audit: audit::Audit,
    pub accounts: accounts::Accounts,
    pub clusters: clusters::Clusters,
    pub slo: slo::Slo,
    pub resources: resources::Resources,
    pub commands: commands::Commands,
    pub ingest: ingest::Ingest,
    pub aiops: aiops::Aiops,
    pub metrics: Arc<Metrics>,
    config: MasterConfig,
    clock: Clock,
}

/// The state every adapter's handlers share.
pub type App = Arc<Services>;

impl Services {
    pub fn new(config: MasterConfig, store: Arc<dyn Store>, clock: Clock) -> Self {
        let tokens = TokenIssuer::new(config.jwt_secret.expose().as_bytes(), config.token_ttl);
        let hub = Arc::new(Datahub::default());
        let metrics = Arc::new(Metrics::default());
        let offline_after_ms = i64::try_from(config.offline_after.as_millis()).unwrap_or(i64::MAX);
        let audit = audit::Audit::new(Arc::clone(&store), clock.clone());
        let access = access::Access::new(Arc::clone(&store), tokens.clone());
        let accounts = accounts::Accounts::new(
            Arc::clone(&store),
            accounts::AccountSettings {
                tokens,
                limiter: Arc::new(LoginLimiter::new(LOGINS_PER_MINUTE, Duration::from_secs(60))),
                bootstrap_admin: config.admin_username.clone(),
                token_ttl_s: config.token_ttl.as_secs(),
            },
            clock.clone(),
            Arc::clone(&metrics),
            audit.clone(),
        );
        let clusters = clusters::Clusters::new(
            Arc::clone(&store),
            Arc::clone(&hub),
            clock.clone(),
            offline_after_ms,
            audit.clone(),
        );
        let aiops = aiops::Aiops::new(Arc::clone(&store), clock.clone(), Arc::clone(&metrics));
        Self {
            slo: slo::Slo::new(Arc::clone(&store), clock.clone(), clusters.clone(), audit.clone()),
            resources: resources::Resources::new(clusters.clone()),
            commands: commands::Commands::new(
                Arc::clone(&store),
                clock.clone(),
                Arc::clone(&metrics),
                clusters.clone(),
                audit.clone(),
            ),
            ingest: ingest::Ingest::new(
                Arc::clone(&store),
                hub,
                clock.clone(),
                Arc::clone(&metrics),
                aiops.clone(),
                config.snapshot_max_bytes,
            ),
            access,
            audit,
            accounts,
            clusters,
            aiops,
            metrics,
            config,
            clock,
        }
    }

    /// The master's time.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// The master's configuration (the dashboard derives its CSRF tokens from the secret).
    pub fn config(&self) -> &MasterConfig {
        &self.config
    }
}
