//! Simulated Kubernetes clusters for AtlHyper: a Kubernetes API subset speaking real
//! Kubernetes JSON, Linkerd proxy, Traefik and node_exporter `/metrics` endpoints, seeded
//! traffic with exact ground truth per SLO group, and fault scenarios.
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use atlhyper_sim::{SimCluster, SimConfig, SimServer};
//!
//! # async fn demo() -> Result<(), atlhyper_sim::SimError> {
//! let mut sim = SimCluster::new(SimConfig { name: "dev".into(), seed: 7, ..SimConfig::default() })?;
//! sim.fill_history(Duration::from_secs(3600));
//! let sim = Arc::new(Mutex::new(sim));
//! let server = SimServer::start(sim.clone(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("{}", server.kubeconfig_yaml());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Time is a parameter: [`SimCluster::advance`] moves the simulated clock (tests step it);
//! [`SimServer::drive`] maps wall-clock time × a speed factor onto it for a live server.

mod cluster;
mod error;
mod exposition;
pub mod kube;
mod logs;
mod model;
mod nodeexp;
mod rng;
mod scenario;
mod server;
mod truth;

pub use cluster::{SharedSim, SimCluster, SimConfig};
pub use error::SimError;
pub use model::{APP_NAMESPACE, EndpointKind, INGRESS_NAMESPACE, MONITORING_NAMESPACE};
pub use scenario::{Fault, Scenario, ScenarioState, ScheduledScenario};
pub use server::SimServer;
pub use truth::{
    CELL_UPPER_MS, CELLS, GroupKey, GroupTruth, LINKERD_BUCKETS, LINKERD_LE_MS, TRAEFIK_BUCKETS,
    TRAEFIK_LE_S, Truth,
};
