//! The per-cluster agent. For now: its configuration (the YAML of seed 000 §7, completed) and
//! the offline replay of saved scrapes; sources, the SLO loop and delivery come with the agent
//! issue.

pub mod config;
pub mod replay;

pub use config::{AgentConfig, ConfigError};
