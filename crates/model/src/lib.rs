//! The wire contract between agent and master.
//!
//! Everything here is plain data with serde derives and no I/O: what an agent computes and
//! pushes, and what the master stores and serves. Field names follow seed 000 §4.2 (snake
//! case), extended as DESIGN.md §5.4 says. Changes to these types are protocol changes: add
//! fields with `#[serde(default)]`, never rename.

pub mod command;
pub mod container;
pub mod node;
pub mod resources;
pub mod role;
pub mod selector;
pub mod slo;
pub mod snapshot;
pub mod time;

pub use command::{
    Action, Command, CommandError, CommandReport, CommandStatus, PolledCommand, PolledCommands, Target,
};
pub use container::{ContainerProblem, ContainerState};
pub use node::{
    CpuMetrics, DiskMetrics, FilesystemMetrics, MemoryMetrics, NetworkMetrics, NodeMetrics, NodePoint,
    NodeSeries, PsiMetrics, TemperatureMetrics, TemperatureSensor,
};
pub use resources::{
    Anomaly, ClusterSummary, KindStatus, ResourceKind, ResourceRef, ResourceSnapshot, Severity, entity_key,
};
pub use role::Role;
pub use selector::{LabelSelector, SelectorError};
pub use slo::{LatencyBucket, ServiceSlo, SloCounters, SloGroupKey, SloSnapshot, SloType};
pub use snapshot::{AgentSnapshot, GroupCounters, SNAPSHOT_VERSION, TargetHealth};
pub use time::{Timestamp, TimestampError};
