//! The agent's integration tests: one binary (see DESIGN.md §7.6).

#[path = "../support/mod.rs"]
mod support;

mod collect;
mod delivery;
mod resources;
