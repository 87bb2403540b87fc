//! The crate's single integration-test binary (DESIGN §7.6).

#[path = "../support/mod.rs"]
mod support;

mod agent_cli;
mod aiops_evaluate;
mod demo_smoke;
mod oracle;
mod replay_cli;
mod sim_truth;
mod web_e2e;
