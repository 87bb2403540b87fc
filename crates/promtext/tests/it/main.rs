//! The crate's single integration-test binary (DESIGN §7.6): real-shaped fixtures, malformed
//! bodies, property tests, and the replay of the fuzz corpus.

#[path = "../support/mod.rs"]
mod support;

mod corpus;
mod errors;
mod fixtures;
mod properties;
