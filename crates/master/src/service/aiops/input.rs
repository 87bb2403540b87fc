//! The pure mapping from an agent snapshot to the engine's input (`docs/aiops.md`, "In the
//! master"): services from the mesh's SLO counters, service → service edges from the mesh
//! edges, ingresses from the ingress groups, nodes from node_exporter; the Kubernetes side
//! (pods, workloads, their rollouts and the services that select them) is in
//! `input_resources.rs`.

use std::collections::{BTreeMap, BTreeSet};

use atlhyper_aiops::{ClusterInput, EdgeInput, EntityInput, EntityKind, EntityRef, Metric};
use atlhyper_model::{AgentSnapshot, SloCounters, SloType};

use super::input_resources::add_resources;

/// The availability objective the engine's SLO burn rate is measured against (percent).
pub const DEFAULT_OBJECTIVE_PERCENT: f64 = 99.9;

/// An interval's error ratio is only a measurement with at least this many responses; below
/// it one failed request of three would read as a 33 % error rate.
pub const MIN_RESPONSES: f64 = 10.0;

/// z of the one-sided 95 % lower confidence bound used for the burn rate.
const BURN_Z: f64 = 1.645;

// ---------------------------------------------------------------------------------------------
// Snapshot → engine input

/// Counters of one entity summed over every SLO group that measures it.
#[derive(Default)]
struct Traffic {
    counters: SloCounters,
    /// P99 of entries when the snapshot has entries but no counters (the worst one).
    entry_p99: Option<f64>,
}

impl Traffic {
    fn add_counters(&mut self, counters: &SloCounters) {
        self.counters.merge(counters);
    }
}

/// The engine's input for the snapshot's cluster. Pure: the same snapshot always gives the
/// same input.
///
/// - **services**: every service-to-service SLO group measures its *destination*
///   (`namespace/service/target`): the groups of all its callers are summed, then
///   `error_rate` = failure / (success + failure) (with at least [`MIN_RESPONSES`]
///   responses), `latency_p99_ms` = `histogram_quantile(0.99)` of the summed buckets,
///   `rps` = requests / interval; the SLO burn rate (signal) is the one-sided 95 % lower
///   bound of the error ratio over (1 − 99.9 %), so a single failure among a few requests
///   does not read as a burning budget;
/// - **calls** edges: the client workload, taken as the service of the same name in its
///   namespace, → the destination service;
/// - **ingresses**: per domain (`namespace/ingress/domain`, the backend's namespace), the
///   same figures from the ingress groups, and `routes_to` its backend service; where a domain
///   has groups with a known backend (Traefik), only those count (Linkerd's inbound view of
///   the same requests would count them twice);
/// - **nodes**: `cpu_pct`, `memory_pct`, `disk_pct` (the fullest filesystem), `psi_cpu`,
///   `psi_memory`, `psi_io` (the "some" shares);
/// - **resources**, when present: see [`add_resources`].
pub fn input_from_snapshot(snapshot: &AgentSnapshot) -> ClusterInput {
    let seconds = (snapshot.interval_end.0 - snapshot.interval_start.0) as f64 / 1000.0;
    let mut services: BTreeMap<(String, String), Traffic> = BTreeMap::new();
    let mut calls: BTreeSet<((String, String), (String, String))> = BTreeSet::new();
    // domain → (namespace, backend) → traffic
    let mut ingresses: BTreeMap<String, BTreeMap<(String, String), Traffic>> = BTreeMap::new();

    let mut note_group = |kind: SloType,
                          source: &str,
                          source_namespace: &str,
                          target: &str,
                          namespace: &str|
     -> Option<(bool, (String, String))> {
        match kind {
            SloType::Service => {
                if target.is_empty() || namespace.is_empty() {
                    return None;
                }
                let to = (namespace.to_owned(), target.to_owned());
                if !source.is_empty() && !source_namespace.is_empty() {
                    let from = (source_namespace.to_owned(), source.to_owned());
                    if from != to {
                        calls.insert((from, to.clone()));
                    }
                }
                Some((true, to))
            }
            SloType::Ingress => {
                if source.is_empty() {
                    return None;
                }
                Some((false, (namespace.to_owned(), target.to_owned())))
            }
        }
    };

    if snapshot.slo_counters.is_empty() {
        for entry in &snapshot.slo {
            let Some((is_service, to)) = note_group(
                entry.kind,
                &entry.source,
                &entry.source_namespace,
                &entry.target,
                &entry.namespace,
            ) else {
                continue;
            };
            let traffic = if is_service {
                services.entry(to).or_default()
            } else {
                ingresses
                    .entry(entry.source.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
            };
            let responses = entry.total_requests as f64;
            traffic.counters.total += responses;
            traffic.counters.success += entry.success_requests as f64;
            if entry.success_rate.is_some() {
                traffic.counters.failure += responses - entry.success_requests as f64;
            }
            traffic.entry_p99 = match (traffic.entry_p99, entry.latency_p99) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    } else {
        for group in &snapshot.slo_counters {
            let k = &group.key;
            let Some((is_service, to)) =
                note_group(k.kind, &k.source, &k.source_namespace, &k.target, &k.namespace)
            else {
                continue;
            };
            if is_service {
                services.entry(to).or_default().add_counters(&group.counters);
            } else {
                ingresses
                    .entry(k.source.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .add_counters(&group.counters);
            }
        }
    }

    let mut input = ClusterInput {
        cluster: snapshot.cluster_id.clone(),
        entities: Vec::new(),
        edges: Vec::new(),
    };
    for ((namespace, name), traffic) in &services {
        let entity = EntityRef::new(EntityKind::Service, namespace, name);
        input.entities.push(traffic_input(entity, traffic, seconds));
    }
    for ((from_ns, from), (to_ns, to)) in &calls {
        input.edges.push(EdgeInput::new(
            EntityRef::new(EntityKind::Service, from_ns, from),
            EntityRef::new(EntityKind::Service, to_ns, to),
        ));
    }
    for (domain, groups) in &ingresses {
        let routed: Vec<_> = groups
            .iter()
            .filter(|((_, backend), _)| !backend.is_empty())
            .collect();
        let used: Vec<_> = if routed.is_empty() {
            groups.iter().collect()
        } else {
            routed
        };
        let mut total = Traffic::default();
        let mut namespace = None;
        for ((ns, backend), traffic) in &used {
            total.add_counters(&traffic.counters);
            total.entry_p99 = match (total.entry_p99, traffic.entry_p99) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if !ns.is_empty() {
                namespace.get_or_insert_with(|| ns.clone());
                if !backend.is_empty() {
                    input.edges.push(EdgeInput::new(
                        EntityRef::new(EntityKind::Ingress, ns, domain),
                        EntityRef::new(EntityKind::Service, ns, backend),
                    ));
                }
            }
        }
        let Some(namespace) = namespace else {
            continue;
        };
        let entity = EntityRef::new(EntityKind::Ingress, namespace, domain);
        input.entities.push(traffic_input(entity, &total, seconds));
    }
    for node in &snapshot.nodes {
        if node.node.is_empty() {
            continue;
        }
        let mut entity = EntityInput::new(EntityRef::node(&node.node));
        let disk = node
            .filesystems
            .iter()
            .filter_map(|f| f.usage_pct)
            .fold(None, |max: Option<f64>, v| Some(max.map_or(v, |m| m.max(v))));
        let figures = [
            (Metric::CpuPct, node.cpu.usage_pct),
            (Metric::MemoryPct, node.memory.usage_pct),
            (Metric::DiskPct, disk),
            (Metric::PsiCpu, node.psi.cpu_some_pct),
            (Metric::PsiMemory, node.psi.memory_some_pct),
            (Metric::PsiIo, node.psi.io_some_pct),
        ];
        for (metric, value) in figures {
            if let Some(value) = value.filter(|v| v.is_finite()) {
                entity = entity.with(metric, value);
            }
        }
        input.entities.push(entity);
    }
    if let Some(resources) = &snapshot.resources {
        add_resources(&mut input, resources, snapshot);
    }
    input
}

/// A service's or an ingress's metrics and burn rate from its summed traffic.
fn traffic_input(entity: EntityRef, traffic: &Traffic, seconds: f64) -> EntityInput {
    let c = &traffic.counters;
    let mut input = EntityInput::new(entity);
    let responses = c.success + c.failure;
    if responses >= MIN_RESPONSES {
        input = input.with(Metric::ErrorRate, c.failure / responses);
    }
    let p99 = if c.observations > 0.0 {
        atlhyper_slo::quantile_or_none(0.99, &atlhyper_slo::bucket_pairs(c))
    } else {
        traffic.entry_p99
    };
    if let Some(p99) = p99.filter(|v| v.is_finite()) {
        input = input.with(Metric::LatencyP99Ms, p99);
    }
    if seconds > 0.0 {
        input = input.with(Metric::Rps, c.total / seconds);
    }
    if responses > 0.0 {
        input.signals.slo_burn_rate = Some(burn_rate_lower_bound(c.failure, responses));
    }
    // What the P99 was computed from: the histogram's observations, else (entries) requests.
    let observations = if c.observations > 0.0 {
        c.observations
    } else {
        c.total
    };
    if p99.is_some() && observations > 0.0 {
        input.signals.latency_observations = Some(observations);
    }
    input
}

/// The burn rate of the one-sided 95 % lower confidence bound (Wilson) of the error ratio
/// `failures / responses`, against [`DEFAULT_OBJECTIVE_PERCENT`]: a plain ratio, 1 = the
/// budget lasts exactly its period.
pub fn burn_rate_lower_bound(failures: f64, responses: f64) -> f64 {
    if responses <= 0.0 || failures <= 0.0 {
        return 0.0;
    }
    let n = responses;
    let p = (failures / n).clamp(0.0, 1.0);
    let z2 = BURN_Z * BURN_Z;
    let centre = p + z2 / (2.0 * n);
    let spread = BURN_Z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt();
    let lower = ((centre - spread) / (1.0 + z2 / n)).max(0.0);
    atlhyper_aiops::burn_rate(lower, DEFAULT_OBJECTIVE_PERCENT).unwrap_or(0.0)
}

#[cfg(test)]
pub(super) mod test_support {
    use super::*;
    use serde_json::json;

    pub fn snapshot(value: serde_json::Value) -> AgentSnapshot {
        let mut base = json!({
            "version": 1, "cluster_id": "prod", "seq": 1,
            "taken_at": "2026-01-05T00:00:30Z",
            "interval_start": "2026-01-05T00:00:00Z",
            "interval_end": "2026-01-05T00:00:30Z",
        });
        for (k, v) in value.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    pub fn group(
        kind: &str,
        source: &str,
        source_ns: &str,
        target: &str,
        ns: &str,
        ok: f64,
        bad: f64,
    ) -> serde_json::Value {
        json!({
            "type": kind, "source": source, "source_namespace": source_ns, "target": target,
            "namespace": ns, "total": ok + bad, "success": ok, "failure": bad,
            "buckets": [{"le": 10.0, "count": (ok + bad) * 0.5}, {"le": 100.0, "count": (ok + bad)}],
            "observations": ok + bad,
        })
    }

    pub fn entity<'a>(input: &'a ClusterInput, key: &str) -> &'a EntityInput {
        input
            .entities
            .iter()
            .find(|e| e.entity.key().unwrap() == key)
            .unwrap_or_else(|| panic!("no entity {key}"))
    }

    pub fn metric(e: &EntityInput, m: Metric) -> Option<f64> {
        e.metrics.iter().find(|s| s.metric == m).map(|s| s.value)
    }

    pub fn edges(input: &ClusterInput) -> Vec<(String, String)> {
        input
            .edges
            .iter()
            .map(|e| (e.from.key().unwrap(), e.to.key().unwrap()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn services_sum_their_callers_and_calls_become_edges() {
        let input = input_from_snapshot(&snapshot(json!({"slo_counters": [
            group("service", "web", "shop", "api", "shop", 270.0, 30.0),
            group("service", "cart", "shop", "api", "shop", 100.0, 0.0),
            group("service", "api", "shop", "payments", "shop", 5.0, 0.0),
        ]})));
        assert_eq!(input.cluster, "prod");
        let api = entity(&input, "shop/service/api");
        assert_eq!(metric(api, Metric::ErrorRate), Some(30.0 / 400.0));
        assert_eq!(metric(api, Metric::Rps), Some(400.0 / 30.0));
        // 99 % of 400 observations fall in (10, 100]: interpolated inside that bucket.
        let p99 = metric(api, Metric::LatencyP99Ms).unwrap();
        assert!(p99 > 90.0 && p99 <= 100.0, "{p99}");
        let burn = api.signals.slo_burn_rate.unwrap();
        assert!(burn > 40.0 && burn < 75.0, "{burn}");
        assert_eq!(api.signals.latency_observations, Some(400.0));
        // Five responses are too few for an error ratio, but still give RPS and a burn rate of 0.
        let payments = entity(&input, "shop/service/payments");
        assert_eq!(metric(payments, Metric::ErrorRate), None);
        assert_eq!(payments.signals.slo_burn_rate, Some(0.0));
        let e = edges(&input);
        assert!(e.contains(&("shop/service/web".into(), "shop/service/api".into())));
        assert!(e.contains(&("shop/service/cart".into(), "shop/service/api".into())));
        assert!(e.contains(&("shop/service/api".into(), "shop/service/payments".into())));
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn ingresses_prefer_routed_groups_and_route_to_their_backend() {
        let input = input_from_snapshot(&snapshot(json!({"slo_counters": [
            group("ingress", "shop.example.com", "", "", "ingress", 1000.0, 0.0),
            group("ingress", "shop.example.com", "", "web", "shop", 95.0, 5.0),
            group("ingress", "internal.example.com", "", "", "ingress", 50.0, 0.0),
        ]})));
        let shop = entity(&input, "shop/ingress/shop.example.com");
        assert_eq!(metric(shop, Metric::ErrorRate), Some(0.05));
        let internal = entity(&input, "ingress/ingress/internal.example.com");
        assert_eq!(metric(internal, Metric::ErrorRate), Some(0.0));
        assert_eq!(
            edges(&input),
            vec![("shop/ingress/shop.example.com".into(), "shop/service/web".into())]
        );
    }

    #[test]
    fn nodes_give_utilisation_and_pressure() {
        let input = input_from_snapshot(&snapshot(json!({"nodes": [{
            "node": "node-2", "timestamp": "2026-01-05T00:00:30Z",
            "cpu": {"usage_pct": 41.0}, "memory": {"usage_pct": 97.0},
            "filesystems": [
                {"mountpoint": "/", "device": "sda1", "fstype": "ext4", "size_bytes": 10.0, "avail_bytes": 5.0, "usage_pct": 50.0},
                {"mountpoint": "/var", "device": "sdb1", "fstype": "ext4", "size_bytes": 10.0, "avail_bytes": 2.0, "usage_pct": 80.0}
            ],
            "psi": {"cpu_some_pct": 1.0, "memory_some_pct": 35.0, "io_some_pct": 2.0},
            "temperature": {}, "uptime_seconds": null
        }]})));
        let node = entity(&input, "_cluster/node/node-2");
        assert_eq!(metric(node, Metric::CpuPct), Some(41.0));
        assert_eq!(metric(node, Metric::MemoryPct), Some(97.0));
        assert_eq!(metric(node, Metric::DiskPct), Some(80.0));
        assert_eq!(metric(node, Metric::PsiMemory), Some(35.0));
        assert_eq!(metric(node, Metric::PsiIo), Some(2.0));
    }

    #[test]
    fn entries_stand_in_for_missing_counters() {
        let input = input_from_snapshot(&snapshot(json!({"slo": [{
            "type": "service", "source": "web", "source_namespace": "shop", "target": "api",
            "namespace": "shop", "success_rate": 90.0, "latency_p50": 5.0, "latency_p99": 250.0,
            "request_rate": 10.0, "total_requests": 300, "success_requests": 270,
            "timestamp": "2026-01-05T00:00:30Z"
        }]})));
        let api = entity(&input, "shop/service/api");
        assert_eq!(metric(api, Metric::ErrorRate), Some(0.1));
        assert_eq!(metric(api, Metric::LatencyP99Ms), Some(250.0));
    }

    #[test]
    fn bad_names_are_left_to_the_engine_and_empty_groups_skipped() {
        let input = input_from_snapshot(&snapshot(json!({"slo_counters": [
            group("service", "web", "shop", "", "shop", 1.0, 0.0),
            group("ingress", "", "", "web", "shop", 1.0, 0.0),
        ]})));
        assert!(input.entities.is_empty());
        assert!(input.edges.is_empty());
    }

    #[test]
    fn the_burn_rate_bound_ignores_lone_failures_and_keeps_real_ones() {
        assert_eq!(burn_rate_lower_bound(0.0, 300.0), 0.0);
        // One failure in 300 (0.33 %, a raw burn of 3.3): the bound is below the objective.
        assert!(burn_rate_lower_bound(1.0, 300.0) < 1.0);
        // 30 % of 18 requests still burns far beyond 14.4.
        assert!(burn_rate_lower_bound(5.0, 18.0) > 14.4);
        // It never exceeds the raw burn rate.
        assert!(burn_rate_lower_bound(90.0, 300.0) < 300.0);
    }
}
