//! The per-cluster agent: configuration (the YAML of seed 000 §7, completed), sources
//! (Kubernetes discovery, direct scrapes, federation, the Prometheus HTTP API, Traefik,
//! node_exporter), the SLO loop, and delivery through an on-disk spool to the master.
//!
//! Errors: one `thiserror` enum per module that can fail, beside the code that raises it —
//! [`ConfigError`] and [`config::ValueError`], [`discovery::DiscoveryError`],
//! [`scrape::ScrapeError`], [`prometheus_api::AnswerError`], [`collect::TargetError`],
//! [`push::MasterError`], [`commands::CommandError`] and [`commands::ContainerError`],
//! [`spool::SpoolError`], [`replay::ReplayError`], and [`AgentError`] for starting and running
//! the agent, which wraps the ones it meets. Per module rather than one crate-wide enum: a
//! caller matches only what it can meet, and config keys do not share a type with Kubernetes
//! verbs. Messages are lowercase, without a trailing period, and name what failed (file, URL,
//! config key, Kubernetes object); a [`commands::CommandError`]'s text is what users see in a
//! command's result. No `Result<_, String>`, and no `anyhow` here: only the binary uses it.

pub mod anomaly;
pub mod collect;
pub mod commands;
pub mod config;
pub mod discovery;
pub mod node;
pub mod prometheus_api;
pub mod push;
pub mod replay;
pub mod resources;
pub mod runtime;
pub mod scrape;
pub mod self_metrics;
pub mod spool;

pub use config::{AgentConfig, ConfigError};
pub use runtime::{Agent, AgentError, AgentSettings};
