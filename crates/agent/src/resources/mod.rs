//! The cluster's resources: one kube-rs `runtime::watcher` per kind (list, then watch from the
//! list's resourceVersion, with bookmarks; a 410 Gone or a broken stream re-lists), each
//! feeding a map of compact summaries, and the snapshot built from those maps.
//!
//! This is a reflector that keeps summaries instead of whole objects: a 5,000-pod cluster
//! costs a few MB of summaries, not the hundreds of MB its full objects would (see
//! `docs/resources.md` for the measurement). Every kind watches on its own task, so a kind the
//! agent may not read (403) or that the cluster does not serve (404) is reported in
//! [`KindStatus`](atlhyper_model::resources::KindStatus) and the other kinds go on.
//! `metrics.k8s.io` cannot be watched; it is listed once per snapshot when the cluster serves
//! it.
//!
//! | layer | module | I/O |
//! |---|---|---|
//! | a Kubernetes object → its summary, one function per kind; quantities, selectors | `summarize` (`pods_nodes`, `workloads`, `network_config`, `storage_policy`) | none |
//! | one kind's summaries kept in step with its watch; the snapshot with counts and anomalies | `store` | none |
//! | pod and node usage from `metrics.k8s.io` | `usage` | Kubernetes API |
//! | the 20 watch tasks, relists, each kind's status | `watch` | Kubernetes API |
//!
//! The pure layers are unit-tested beside their code; the watchers run against the simulator in
//! `tests/it/resources.rs`. Everything public is re-exported here, so callers name
//! `crate::resources::X` whichever file `X` lives in.

mod store;
mod summarize;
mod usage;
mod watch;

pub use store::{KindStore, ResourceState, finish_snapshot};
pub use summarize::{
    Summarize, millicores, quantity, summarize_config_map, summarize_cron_job, summarize_daemon_set,
    summarize_deployment, summarize_event, summarize_ingress, summarize_job, summarize_limit_range,
    summarize_namespace, summarize_network_policy, summarize_node, summarize_pod, summarize_pv,
    summarize_pvc, summarize_quota, summarize_replica_set, summarize_secret, summarize_service,
    summarize_service_account, summarize_stateful_set, workload_status,
};
pub use usage::{Usage, fetch_usage, merge_usage};
pub use watch::{ResourceWatcher, WatchSettings};
