//! The master's storage: one repository trait per concern, and [`Store`], every one of them
//! together. SQLite today ([`SqliteStore`], one file per concern under `sqlite/`); a
//! PostgreSQL store implements the same traits and passes the same tests.
//!
//! | trait | what it keeps |
//! |---|---|
//! | [`ClusterStore`] | registered clusters and their agent-token hashes |
//! | [`SnapshotStore`] | idempotent ingest on (cluster, seq), the latest snapshot, delivery statistics |
//! | [`CounterStore`] | SLO counters per group and minute, hourly rollups, retention, window sums |
//! | [`ObjectiveStore`] | SLO objectives per entry and per type |
//! | [`UserStore`] | users, password hashes, roles |
//! | [`AuditStore`] | the append-only audit log |
//! | [`CommandStore`] | the command queue and outcomes |
//! | [`AiopsStore`] | the AIOps engine's state |
//!
//! SLO data is stored as counters, never ratios (DESIGN.md §5.5): per SLO group and minute the
//! increases of total, success, failure and every latency bucket. Any window is then the exact
//! sum of its minutes (raw minutes are kept 48 h) or of its hourly rollups (90 days).

mod aiops;
mod audit;
mod clusters;
mod commands;
mod counters;
mod objectives;
mod snapshots;
mod sqlite;
mod users;

pub use aiops::{AiopsChanges, AiopsStore, EngineStateRecord, IncidentFilter, IncidentStateFilter};
pub use audit::{AuditFilter, AuditRecord, AuditStore};
pub use clusters::{ClusterRecord, ClusterStore};
pub use commands::{CommandRecord, CommandStore};
pub use counters::{CounterPoint, CounterStore, RetentionStats};
pub use objectives::{ObjectiveStore, SloTargetRecord};
pub use snapshots::{IngestOutcome, SeqStats, SnapshotStore};
pub use sqlite::SqliteStore;
pub use users::{UserRecord, UserStore};

/// Every store trait, unnamed: `use crate::store::prelude::*` to call any store method on a
/// [`Store`] or a [`SqliteStore`].
pub mod prelude {
    pub use super::{
        AiopsStore as _, AuditStore as _, ClusterStore as _, CommandStore as _, CounterStore as _,
        ObjectiveStore as _, SnapshotStore as _, UserStore as _,
    };
}

/// Milliseconds in one minute and one hour: the two storage resolutions.
pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt stored value in {what}: {message}")]
    Corrupt { what: &'static str, message: String },
    /// A value the store cannot represent (a seq above `i64::MAX`, a non-finite counter).
    #[error("invalid {what}: {message}")]
    Invalid { what: &'static str, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Every concern of the master's storage in one object: what the master runs on.
pub trait Store:
    ClusterStore
    + SnapshotStore
    + CounterStore
    + ObjectiveStore
    + UserStore
    + AuditStore
    + CommandStore
    + AiopsStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: ClusterStore
        + SnapshotStore
        + CounterStore
        + ObjectiveStore
        + UserStore
        + AuditStore
        + CommandStore
        + AiopsStore
        + Send
        + Sync
        + 'static
{
}
