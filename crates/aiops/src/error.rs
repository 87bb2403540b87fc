//! The crate's one error type.

use thiserror::Error;

use crate::entity::EntityKind;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum AiopsError {
    #[error("invalid entity {entity}: {reason}")]
    InvalidEntity { entity: String, reason: &'static str },

    #[error("invalid entity key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    #[error("cluster {cluster}: edge {from} -> {to}: a {from_kind} cannot depend on a {to_kind}")]
    InvalidEdge {
        cluster: String,
        from: String,
        to: String,
        from_kind: EntityKind,
        to_kind: EntityKind,
    },

    #[error("cluster {cluster}: entity {entity}: metric {metric} is not finite ({value})")]
    NonFiniteMetric {
        cluster: String,
        entity: String,
        metric: String,
        value: f64,
    },

    #[error("cluster {cluster}: entity {entity}: metric {metric} is derived by the engine, not measured")]
    DerivedMetric {
        cluster: String,
        entity: String,
        metric: String,
    },

    #[error("cluster {cluster}: entity {entity}: metric {metric} sent twice in one tick")]
    DuplicateMetric {
        cluster: String,
        entity: String,
        metric: String,
    },

    #[error("cluster {cluster} appears more than once in one tick")]
    DuplicateCluster { cluster: String },

    #[error("cluster {cluster}: entity {entity} appears more than once in one tick")]
    DuplicateEntity { cluster: String, entity: String },

    #[error("cluster {cluster}: tick at {now_ms} ms is older than the last tick at {last_ms} ms")]
    ClockWentBack {
        cluster: String,
        now_ms: i64,
        last_ms: i64,
    },

    #[error("unknown cluster {cluster}")]
    UnknownCluster { cluster: String },

    #[error("cluster {cluster}: unknown entity {entity}")]
    UnknownEntity { cluster: String, entity: String },

    #[error("cluster {cluster}: invalid saved state: {reason}")]
    InvalidState { cluster: String, reason: &'static str },

    #[error("invalid configuration: {field} {reason}")]
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },
}
