//! Helpers shared by the agent integration tests.

pub mod fake_kube;
