//! The real agent against the simulator: discovery through its Kubernetes API, scrapes of
//! its Linkerd, Traefik and node_exporter endpoints over loopback. The SLO counters the agent
//! computes equal the simulator's ground truth of every request it generated: totals exactly,
//! and quantiles equal to `histogram_quantile` on the true buckets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlhyper_agent::AgentConfig;
use atlhyper_agent::collect::Collector;
use atlhyper_agent::discovery::{self, KubeDiscovery};
use atlhyper_model::{SloCounters, SloGroupKey, SloType};
use atlhyper_sim::{GroupKey, GroupTruth, LINKERD_LE_MS, SimCluster, SimConfig, SimServer, TRAEFIK_LE_S};

const STEP: Duration = Duration::from_secs(30);
const CYCLES: usize = 10;

fn agent_config() -> AgentConfig {
    let mut config = AgentConfig {
        cluster_id: "sim".into(),
        listen: String::new(),
        ..AgentConfig::default()
    };
    config.slo.linkerd.traefik_namespace = atlhyper_sim::INGRESS_NAMESPACE.into();
    config.slo.traefik.enabled = true;
    config.slo.traefik.namespace = atlhyper_sim::INGRESS_NAMESPACE.into();
    config.slo.node_exporter.enabled = true;
    config.slo.node_exporter.namespace = atlhyper_sim::MONITORING_NAMESPACE.into();
    config
}

/// The simulator's name for the group an agent key measures: ingress entries from Linkerd
/// (no target) and from Traefik (target = the Ingress backend) both count the domain's traffic.
fn truth_key(key: &SloGroupKey) -> GroupKey {
    match key.kind {
        SloType::Ingress => GroupKey::Ingress {
            domain: key.source.clone(),
        },
        SloType::Service => GroupKey::Service {
            source_namespace: key.source_namespace.clone(),
            source: key.source.clone(),
            namespace: key.namespace.clone(),
            target: key.target.clone(),
        },
    }
}

/// The true cumulative buckets as (le in ms, count), `+Inf` last, for the group's source.
fn true_buckets(truth: &GroupTruth, traefik: bool) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = if traefik {
        let counts = truth.traefik_buckets();
        TRAEFIK_LE_S
            .iter()
            .map(|s| s * 1000.0)
            .zip(counts.iter().map(|c| *c as f64))
            .collect()
    } else {
        let counts = truth.linkerd_buckets();
        LINKERD_LE_MS
            .iter()
            .map(|ms| *ms as f64)
            .zip(counts.iter().map(|c| *c as f64))
            .collect()
    };
    out.push((f64::INFINITY, truth.total as f64));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reports_the_simulators_ground_truth() {
    let sim = SimCluster::new(SimConfig {
        name: "sim".into(),
        seed: 11,
        ..SimConfig::default()
    })
    .unwrap();
    let sim = Arc::new(Mutex::new(sim));
    let server = SimServer::start(Arc::clone(&sim), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let kube = discovery::client(Some(&kubeconfig)).await.unwrap();
    let mut collector = Collector::new(agent_config(), Some(KubeDiscovery::new(kube))).unwrap();

    let at = || sim.lock().unwrap().now_ms();
    let baseline = collector.cycle(at()).await;
    assert!(
        baseline.counters.iter().all(|g| g.counters.is_zero()),
        "the first cycle is the baseline"
    );
    let before = sim.lock().unwrap().truth();
    let mut measured: BTreeMap<SloGroupKey, SloCounters> = BTreeMap::new();
    let mut nodes = 0;
    for _ in 0..CYCLES {
        sim.lock().unwrap().advance(STEP);
        let cycle = collector.cycle(at()).await;
        assert_eq!(cycle.stats.failed_targets, 0, "{:?}", cycle.targets);
        nodes = cycle.nodes.len();
        for group in cycle.counters {
            measured.entry(group.key).or_default().merge(&group.counters);
        }
    }
    let truth = sim.lock().unwrap().truth().since(&before);
    assert!(nodes >= 3, "node_exporter of every node: {nodes}");

    let mut compared = 0;
    for (key, got) in &measured {
        let traefik = key.kind == SloType::Ingress && !key.target.is_empty();
        let Some(want) = truth.group(&truth_key(key)) else {
            assert_eq!(
                got.total, 0.0,
                "{key:?} has traffic the simulator did not generate"
            );
            continue;
        };
        assert_eq!(
            (got.total, got.success, got.failure),
            (want.total as f64, want.success as f64, want.failure as f64),
            "{key:?}"
        );
        let buckets = true_buckets(want, traefik);
        for q in [0.5, 0.95, 0.99] {
            let expected = atlhyper_slo::histogram_quantile(q, &buckets);
            let actual = atlhyper_slo::quantile_or_none(q, &atlhyper_slo::bucket_pairs(got));
            assert_eq!(actual, Some(expected), "{key:?} p{}", q * 100.0);
        }
        compared += 1;
    }
    // Every group the simulator generated traffic for was measured.
    for key in truth.groups.keys() {
        let found = measured.keys().any(|k| truth_key(k) == *key);
        assert!(found, "the agent missed {key:?}");
    }
    assert!(compared >= 12, "compared {compared} groups");
    server.shutdown().await;
}
