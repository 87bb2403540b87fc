//! The central server (DESIGN.md §2, §4): domain services over a store, and three adapters
//! over the services — the JSON API and the dashboard on the Gateway listener, the agent
//! channel on the AgentSDK listener. No adapter imports another.
//!
//! | module | role |
//! |---|---|
//! | [`config`] | environment → [`config::MasterConfig`] |
//! | [`server`] | start/stop: store, services, bootstrap admin, retention job, listeners |
//! | [`service`] | the domain services: clusters, SLO, resources, commands, AIOps, accounts, audit, ingest |
//! | [`gateway`] | adapter: `/api/v2/*`, the JSON API and its OpenAPI document |
//! | [`web`] | adapter: the dashboard, server-rendered pages in en/zh/ja, cookie session |
//! | [`agentsdk`] | adapter: `/agent/*`, snapshot ingest, heartbeat, command long poll, results |
//! | [`http`] | what the adapters share: the JSON error, bearer tokens, middleware |
//! | [`auth`] | passwords, JWTs, login rate limit, agent tokens |
//! | [`store`] | one repository trait per concern and the SQLite implementation |
//! | [`datahub`] | the latest state per cluster, online/offline |
//! | [`metrics`] | the master's own Prometheus metrics |

pub mod agentsdk;
pub mod auth;
pub mod config;
pub mod datahub;
pub mod gateway;
pub mod http;
pub mod metrics;
pub mod server;
pub mod service;
pub mod store;
pub mod web;

pub use config::MasterConfig;
pub use server::{RunningMaster, start, start_with_store};
pub use service::system_clock;
