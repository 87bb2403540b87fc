//! Helpers shared by the integration tests: a deterministic mesh traffic generator and a real
//! Prometheus to compare against.
#![allow(dead_code)]

pub mod meshgen;
pub mod prometheus;
