//! The agent against a fake Kubernetes API, real-format metrics endpoints and the real
//! master: SLO entries, node figures and target health arrive with the right numbers.

use std::time::{Duration, Instant};

use atlhyper_agent::collect::Collector;
use atlhyper_agent::config::LinkerdMode;
use atlhyper_agent::discovery::KubeDiscovery;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::endpoints::{Endpoint, Outcome, Route, dead_port, linkerd_body, node_body, traefik_body};
use crate::support::fake_kube::{FakeKube, meshed_pod, metrics_pod};
use crate::support::{TestMaster, agent, agent_config, eventually};

/// Ten minutes ago on a minute boundary: recent, so the master's windows hold it.
fn t0() -> i64 {
    atlhyper_agent::runtime::now_ms() / 60_000 * 60_000 - 600_000
}

/// The proxies started an hour before [`t0`].
fn process_start(t0: i64) -> f64 {
    (t0 / 1000 - 3600) as f64
}

/// A fixed time for tests whose numbers do not touch the master's windows.
const T0: i64 = 1_764_504_000_000;
const PROCESS_START: f64 = 1_764_500_000.0;

fn outbound(service: &str) -> Route {
    Route::Outbound {
        dst_namespace: "shop".into(),
        dst_service: service.into(),
    }
}

/// `ok` 200s with 90 % in (5, 10] ms and 10 % in (100, 200] ms; `failed` 503s in (1, 2] ms.
fn traffic(ok: u64, failed: u64) -> Vec<Outcome> {
    vec![
        Outcome {
            status_code: 200,
            count: ok,
            per_bucket: vec![(5, ok * 9 / 10), (11, ok / 10)],
        },
        Outcome {
            status_code: 503,
            count: failed,
            per_bucket: vec![(1, failed)],
        },
    ]
}

fn entry<'a>(entries: &'a Value, source: &str, target: &str) -> &'a Value {
    entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"] == source && e["target"] == target)
        .unwrap_or_else(|| panic!("no entry {source} -> {target} in {entries}"))
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_entries_from_discovered_pods_reach_the_master_with_the_right_numbers() {
    let data = tempfile::tempdir().unwrap();
    let mut master = TestMaster::start(data.path(), 0).await;
    let token = master.register("c1").await;

    // Two replicas of web calling api and cart; a Traefik pod (meshed, in `ingress`) with
    // inbound traffic for shop.example.com and its own metrics; one node_exporter.
    let (web1, web2, edge_proxy) = (
        Endpoint::start(Duration::ZERO).await,
        Endpoint::start(Duration::ZERO).await,
        Endpoint::start(Duration::ZERO).await,
    );
    let (traefik, node) = (
        Endpoint::start(Duration::ZERO).await,
        Endpoint::start(Duration::ZERO).await,
    );
    let kube = FakeKube::default();
    let mut traefik_proxy = meshed_pod("ingress", "traefik-6d8f-abcde", "traefik", edge_proxy.port);
    traefik_proxy["metadata"]["labels"]["app.kubernetes.io/name"] = json!("traefik");
    traefik_proxy["spec"]["containers"][0]["ports"] =
        json!([{"name": "metrics", "containerPort": traefik.port}]);
    kube.set_pods(vec![
        meshed_pod("shop", "web-5b7f-1", "web", web1.port),
        meshed_pod("shop", "web-5b7f-2", "web", web2.port),
        traefik_proxy,
        metrics_pod(
            "monitoring",
            "node-exporter-x1",
            "node-exporter",
            "node-1",
            node.port,
        ),
    ]);
    kube.set_ingresses(vec![json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    })]);
    let client = kube.start().await;

    let spool = tempfile::tempdir().unwrap();
    let mut config = agent_config(&master.agentsdk, spool.path());
    config.slo.traefik.enabled = true;
    config.slo.traefik.namespace = "ingress".into();
    config.slo.traefik.label_selector = "app.kubernetes.io/name=traefik".into();
    config.slo.node_exporter.enabled = true;
    let agent = agent(config, &token, Some(client));
    let stop = CancellationToken::new();
    let delivery = tokio::spawn(std::sync::Arc::clone(&agent).delivery_loop(stop.clone()));

    // Cycle 1 is the baseline: whatever the counters were before counts nothing.
    let t0 = t0();
    let started = process_start(t0);
    let inbound = Route::Inbound {
        authority: "shop.example.com".into(),
    };
    web1.set(linkerd_body(started, &[(outbound("api"), traffic(1000, 40))]));
    web2.set(linkerd_body(
        started,
        &[
            (outbound("api"), traffic(500, 0)),
            (outbound("cart"), traffic(10, 0)),
        ],
    ));
    edge_proxy.set(linkerd_body(started, &[(inbound.clone(), traffic(300, 0))]));
    traefik.set(traefik_body(
        "shop-web-80@kubernetes",
        &[(200, 300, [250, 50, 0, 0, 0])],
    ));
    node.set(node_body(1000.0, 0.5));
    agent.collect_once(t0).await.unwrap();

    // Cycle 2, 30 s later: web-1 +100 ok, +10 failed to api; web-2's proxy restarted (its
    // counters start again, with 50 ok to api); cart idle; 80 ingress requests through the
    // Linkerd edge, 80 through Traefik (20 of them 502s); the node 25 % busy.
    web1.set(linkerd_body(started, &[(outbound("api"), traffic(1100, 50))]));
    web2.set(linkerd_body(
        started + 600.0,
        &[(outbound("api"), traffic(50, 0))],
    ));
    edge_proxy.set(linkerd_body(started, &[(inbound, traffic(380, 0))]));
    traefik.set(traefik_body(
        "shop-web-80@kubernetes",
        &[(200, 360, [300, 60, 0, 0, 0]), (502, 20, [0, 0, 0, 20, 0])],
    ));
    node.set(node_body(1030.0, 0.25 * 30.0 / 1030.0 + 0.5 * 1000.0 / 1030.0));
    let seq = agent.collect_once(t0 + 30_000).await.unwrap();
    assert_eq!(seq, 2);

    let delivered = eventually(Duration::from_secs(15), async || {
        let status = master.get("/api/v2/clusters/c1/status").await;
        status["last_seq"] == 2
    })
    .await;
    assert!(delivered, "both snapshots delivered");

    let latest = master
        .master
        .as_ref()
        .unwrap()
        .app
        .clusters
        .live("c1")
        .latest
        .expect("a snapshot in the datahub");
    let api = latest
        .slo_counters
        .iter()
        .find(|g| g.key.target == "api")
        .unwrap();
    assert_eq!(
        (api.counters.total, api.counters.success, api.counters.failure),
        (160.0, 150.0, 10.0)
    );
    let slo = |source: &str, target: &str| {
        latest
            .slo
            .iter()
            .find(|e| e.source == source && e.target == target)
            .unwrap_or_else(|| panic!("no entry {source} -> {target}: {:?}", latest.slo))
            .clone()
    };
    let api_entry = slo("web", "api");
    assert_eq!(api_entry.total_requests, 160);
    assert_eq!(api_entry.source_namespace, "shop");
    // 150 ok: 135 in (5, 10], 15 in (100, 200]; 10 failed in (1, 2]. Cumulative: le=1 0,
    // le=2 10, le=10 145, le=200 160. p50 → rank 80 in (5, 10]: 5 + 5·70/135.
    assert!(
        (api_entry.latency_p50.unwrap() - (5.0 + 5.0 * 70.0 / 135.0)).abs() < 1e-9,
        "{api_entry:?}"
    );
    // p99 → rank 158.4 in (100, 200]: 100 + 100·13.4/15.
    assert!(
        (api_entry.latency_p99.unwrap() - (100.0 + 100.0 * 13.4 / 15.0)).abs() < 1e-9,
        "{api_entry:?}"
    );
    assert!((api_entry.success_rate.unwrap() - 100.0 * 150.0 / 160.0).abs() < 1e-9);
    assert!((api_entry.request_rate - 160.0 / 30.0).abs() < 1e-9);
    let cart = slo("web", "cart");
    assert_eq!(
        (cart.total_requests, cart.success_rate),
        (0, None),
        "idle: no ratio"
    );

    let linkerd_ingress = slo("shop.example.com", "");
    assert_eq!(linkerd_ingress.total_requests, 80);
    let traefik_ingress = slo("shop.example.com", "web");
    assert_eq!(
        (traefik_ingress.total_requests, traefik_ingress.success_requests),
        (80, 60)
    );
    assert!((traefik_ingress.success_rate.unwrap() - 75.0).abs() < 1e-9);
    // Traefik buckets are seconds: 50 in (0, 100] ms, 10 in (100, 300], 20 in (1200, 5000].
    // p50 → rank 40 in (0, 100]: 80 ms.
    assert!(
        (traefik_ingress.latency_p50.unwrap() - 80.0).abs() < 1e-9,
        "{traefik_ingress:?}"
    );

    let node = &latest.nodes[0];
    assert_eq!(node.node, "node-1");
    assert!(
        (node.cpu.usage_pct.unwrap() - 25.0).abs() < 1e-6,
        "{:?}",
        node.cpu
    );
    assert_eq!(node.memory.usage_pct, Some(75.0));
    assert_eq!(latest.node_series[0].points.len(), 1, "one minute so far");
    assert_eq!(
        latest.targets.len(),
        5,
        "3 proxies, Traefik's own metrics, node_exporter"
    );
    assert!(
        latest
            .targets
            .iter()
            .all(|t| t.last_error.is_none() && t.last_success.is_some())
    );

    // The gateway serves the stored minute counters: the same totals over the last hour.
    let overview = master.get("/api/v2/clusters/c1/slo/overview?range=1h").await;
    let stored = entry(&overview["services"], "web", "api");
    assert_eq!(stored["total_requests"], 160, "{stored}");
    assert!(
        close(&stored["latency_p99"], 100.0 + 100.0 * 13.4 / 15.0),
        "{stored}"
    );

    stop.cancel();
    delivery.await.unwrap();
    master.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_and_a_dead_target_cost_no_more_than_the_timeout() {
    let good = Endpoint::start(Duration::ZERO).await;
    let slow = Endpoint::start(Duration::from_secs(60)).await;
    good.set(linkerd_body(PROCESS_START, &[(outbound("api"), traffic(10, 0))]));
    slow.set(linkerd_body(PROCESS_START, &[(outbound("api"), traffic(10, 0))]));
    let kube = FakeKube::default();
    kube.set_pods(vec![
        meshed_pod("shop", "good", "web", good.port),
        meshed_pod("shop", "slow", "web", slow.port),
        meshed_pod("shop", "dead", "web", dead_port()),
    ]);
    let client = kube.start().await;
    let spool = tempfile::tempdir().unwrap();
    let config = agent_config("http://127.0.0.1:9", spool.path());
    let timeout = config.slo.linkerd.scrape_timeout.0;
    let mut collector = Collector::new(config, Some(KubeDiscovery::new(client))).unwrap();

    let started = Instant::now();
    let cycle = collector.cycle(T0).await;
    let took = started.elapsed();
    // The slow target would take a minute: the cycle ends at its timeout plus local work.
    assert!(took < timeout + Duration::from_secs(5), "cycle took {took:?}");
    let health = |id: &str| cycle.targets.iter().find(|t| t.target == id).unwrap();
    assert!(health("shop/good").last_error.is_none());
    let slow_error = health("shop/slow").last_error.clone().unwrap();
    assert!(slow_error.contains("timed out"), "{slow_error}");
    assert!(health("shop/dead").last_error.is_some());
    assert_eq!((cycle.stats.targets, cycle.stats.failed_targets), (3, 2));
}

/// The `federate` and `prometheus` modes read the same counters through Prometheus' own
/// endpoints (served here by a loopback fake of their wire formats).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_and_the_prometheus_api_give_the_same_counters() {
    let federate = Endpoint::start(Duration::ZERO).await;
    let api = ApiFake::start().await;
    let spool = tempfile::tempdir().unwrap();
    let fed_body = |ok: u64| {
        format!(
            "# TYPE request_total untyped\n\
             request_total{{direction=\"outbound\",dst_namespace=\"shop\",dst_service=\"api\",deployment=\"web\",instance=\"10.0.0.1:4191\",job=\"linkerd-proxy\",namespace=\"shop\",pod=\"web-1\"}} {ok} 1764504000000\n\
             # TYPE response_total untyped\n\
             response_total{{classification=\"success\",direction=\"outbound\",dst_namespace=\"shop\",dst_service=\"api\",deployment=\"web\",instance=\"10.0.0.1:4191\",job=\"linkerd-proxy\",namespace=\"shop\",pod=\"web-1\",status_code=\"200\"}} {ok} 1764504000000\n"
        )
    };
    let api_body = |ok: u64| {
        let labels = json!({"direction": "outbound", "dst_namespace": "shop", "dst_service": "api", "deployment": "web",
            "instance": "10.0.0.1:4191", "job": "linkerd-proxy", "namespace": "shop", "pod": "web-1"});
        let mut request = labels.clone();
        request["__name__"] = json!("request_total");
        let mut response = labels;
        response["__name__"] = json!("response_total");
        response["classification"] = json!("success");
        response["status_code"] = json!("200");
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": request, "value": [1_764_504_000.0, ok.to_string()]},
            {"metric": response, "value": [1_764_504_000.0, ok.to_string()]}]}})
        .to_string()
    };

    let mut fed_config = agent_config("http://127.0.0.1:9", spool.path());
    fed_config.slo.linkerd.mode = LinkerdMode::Federate;
    fed_config.slo.linkerd.metrics_url = format!(
        "http://127.0.0.1:{}/metrics?match[]={{job=\"linkerd-proxy\"}}",
        federate.port
    );
    let mut api_config = fed_config.clone();
    api_config.slo.linkerd.mode = LinkerdMode::Prometheus;
    api_config.slo.linkerd.metrics_url = api.base.clone();
    let mut by_federation = Collector::new(fed_config, None).unwrap();
    let mut by_api = Collector::new(api_config, None).unwrap();

    for (at, ok) in [(T0, 100), (T0 + 30_000, 130), (T0 + 60_000, 5)] {
        federate.set(fed_body(ok));
        api.set(api_body(ok));
        let (a, b) = (by_federation.cycle(at).await, by_api.cycle(at).await);
        assert_eq!(a.counters, b.counters, "at {at}");
        assert!(
            b.targets.iter().all(|t| t.last_error.is_none()),
            "{:?}",
            b.targets
        );
        if at == T0 + 60_000 {
            // A reset between the second and third scrape: the increase is the new value.
            assert_eq!(a.counters[0].counters.total, 5.0);
        }
    }
    let query = api.last_query();
    assert!(
        query.contains("__name__=~\"request_total|response_total|"),
        "{query}"
    );
    assert!(query.contains("job=\"linkerd-proxy\""), "{query}");
}

/// A loopback fake of Prometheus' `/api/v1/query` that records the query.
struct ApiFake {
    base: String,
    body: std::sync::Arc<std::sync::Mutex<String>>,
    query: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ApiFake {
    async fn start() -> Self {
        use axum::extract::{Query, State};
        type Shared = (
            std::sync::Arc<std::sync::Mutex<String>>,
            std::sync::Arc<std::sync::Mutex<String>>,
        );
        let body = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let query = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let router = axum::Router::new()
            .route(
                "/prom/api/v1/query",
                axum::routing::get(
                    |State((body, query)): State<Shared>,
                     Query(params): Query<std::collections::HashMap<String, String>>| async move {
                        *query.lock().unwrap() = params.get("query").cloned().unwrap_or_default();
                        body.lock().unwrap().clone()
                    },
                ),
            )
            .with_state((std::sync::Arc::clone(&body), std::sync::Arc::clone(&query)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            base: format!("http://{addr}/prom"),
            body,
            query,
        }
    }

    fn set(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }

    fn last_query(&self) -> String {
        self.query.lock().unwrap().clone()
    }
}
