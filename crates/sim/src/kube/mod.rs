//! The Kubernetes API subset: object store with watch log, objects rendered from the model,
//! discovery, selectors, patches and the HTTP handlers.

pub(crate) mod api;
pub mod kinds;
pub(crate) mod objects;
pub(crate) mod patch;
pub(crate) mod select;
pub mod store;
pub(crate) mod table;
