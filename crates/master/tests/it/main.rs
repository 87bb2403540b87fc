//! The master's integration tests: one binary (DESIGN.md §7.6).

#[path = "../support/mod.rs"]
mod support;

mod aiops;
mod api;
mod store;
mod web;
mod wire;
