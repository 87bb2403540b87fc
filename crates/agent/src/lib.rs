//! The per-cluster agent: configuration (the YAML of seed 000 §7, completed), sources
//! (Kubernetes discovery, direct scrapes, federation, the Prometheus HTTP API, Traefik,
//! node_exporter), the SLO loop, and delivery through an on-disk spool to the master.

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
