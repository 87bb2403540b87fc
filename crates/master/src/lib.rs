//! The central server (DESIGN.md §2, §4): the AgentSDK listener where agents push snapshots
//! and fetch commands, the Gateway listener with the JSON API, the store, and the in-memory
//! datahub.
//!
//! | module | role |
//! |---|---|
//! | [`config`] | environment → [`config::MasterConfig`] |
//! | [`server`] | start/stop: store, bootstrap admin, retention job, listeners |
//! | [`agentsdk`] | `/agent/*`: snapshot ingest, heartbeat, command long poll, results |
//! | [`gateway`] | `/api/v2/*`: login, users, clusters, SLO, audit, commands, OpenAPI |
//! | [`auth`] | passwords, JWTs, roles, login rate limit, agent tokens |
//! | [`store`] | the repository trait and its SQLite implementation |
//! | [`datahub`] | the latest state per cluster, online/offline |
//! | [`web`] | the dashboard: server-rendered pages in en/zh/ja, cookie session, embedded assets |
//! | [`aiops`] | the AIOps engine: ticked on ingest, snapshot → engine input, persisted |

pub mod agentsdk;
pub mod aiops;
pub mod auth;
pub mod config;
pub mod datahub;
pub mod error;
pub mod gateway;
pub mod metrics;
pub mod server;
pub mod state;
pub mod store;
pub mod web;

pub use config::MasterConfig;
pub use server::{RunningMaster, start, start_with_store};
