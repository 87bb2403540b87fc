//! The per-cluster agent. For now: its configuration (the YAML of seed 000 §7, completed), the
//! offline replay of saved scrapes, and the on-disk spool that delivery builds on; sources, the
//! SLO loop and the pusher come with the agent issue.

pub mod config;
pub mod replay;
pub mod spool;

pub use config::{AgentConfig, ConfigError};
