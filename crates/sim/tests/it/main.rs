//! Integration tests of the simulator over real HTTP on loopback (one test binary).

#[path = "../support/mod.rs"]
mod support;

mod kube;
mod kubectl;
mod kubers;
mod metrics;
mod scenarios;
