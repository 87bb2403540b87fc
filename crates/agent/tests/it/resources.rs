//! Resources and remote operations against the simulator's Kubernetes API over loopback:
//! list + watch (resourceVersion, bookmarks), a 410 Gone that forces a re-list, Secrets that
//! never show their values, and every command's round trip master ↔ agent ↔ Kubernetes with
//! its audit rows.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlhyper_agent::resources::{ResourceWatcher, WatchSettings};
use atlhyper_model::ResourceSnapshot;
use atlhyper_sim::kube::kinds::Kind;
use atlhyper_sim::{SharedSim, SimCluster, SimConfig, SimServer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{TestMaster, agent, agent_config, eventually};

const SECRET_VALUE: &str = "hunter2-very-secret";

fn sim(watch_history: usize) -> SharedSim {
    let mut sim = SimCluster::new(SimConfig {
        bind_listeners: false,
        watch_history,
        ..SimConfig::default()
    })
    .unwrap();
    let encoded = "aHVudGVyMi12ZXJ5LXNlY3JldA=="; // base64 of SECRET_VALUE
    sim.put_object(
        Kind::Secrets,
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": "payments-db", "namespace": "shop", "uid": "s-1"},
               "data": {"password": encoded}, "stringData": {"user": SECRET_VALUE}}),
    )
    .unwrap();
    sim.put_object(
        Kind::ConfigMaps,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "web-config", "namespace": "shop", "uid": "c-1"},
               "data": {"token.yaml": SECRET_VALUE}}),
    )
    .unwrap();
    Arc::new(Mutex::new(sim))
}

async fn kube_client(server: &SimServer, dir: &Path) -> kube::Client {
    let path = dir.join("kubeconfig");
    server.write_kubeconfig(&path).unwrap();
    atlhyper_agent::discovery::client(Some(&path)).await.unwrap()
}

fn assert_no_secret_values(json: &str) {
    assert!(!json.contains(SECRET_VALUE), "a secret value leaked: {json}");
    assert!(!json.contains("aHVudGVyMi12ZXJ5"), "a base64 secret value leaked");
}

fn pods_of(snap: &ResourceSnapshot, prefix: &str) -> usize {
    snap.pods
        .iter()
        .filter(|p| p.meta.namespace == "shop" && p.meta.name.starts_with(prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_list_then_follow_the_watch_and_relist_after_410() {
    let dir = tempfile::tempdir().unwrap();
    let shared = sim(60);
    let server = SimServer::start(shared.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = server.addr().port();
    let client = kube_client(&server, dir.path()).await;
    let watcher = Arc::new(ResourceWatcher::new(client, WatchSettings::default()));
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let (w, s) = (Arc::clone(&watcher), stop.clone());
        async move { w.run(s).await }
    });
    assert!(
        eventually(Duration::from_secs(20), async || watcher.settled()).await,
        "{:?}",
        watcher.kinds()
    );

    let now = shared.lock().unwrap().now_ms();
    let snap = watcher.snapshot(now).await;
    let expected_pods = shared.lock().unwrap().store().list(Kind::Pods, None).len();
    assert_eq!(snap.pods.len(), expected_pods);
    assert!(
        snap.kinds.iter().take(20).all(|k| k.synced && k.error.is_none()),
        "{:?}",
        snap.kinds
    );
    assert_eq!(snap.summary.total_nodes, 3);
    assert_eq!(snap.summary.ready_nodes, 3);
    assert!(
        snap.deployments
            .iter()
            .any(|d| d.meta.name == "web" && d.status == "Healthy")
    );
    assert!(
        snap.ingresses
            .iter()
            .any(|i| i.rules.iter().any(|r| r.host == "shop.example.com"))
    );
    let secret = snap
        .secrets
        .iter()
        .find(|s| s.meta.name == "payments-db")
        .unwrap();
    assert_eq!(secret.keys, ["password", "user"]);
    let cm = snap
        .config_maps
        .iter()
        .find(|c| c.meta.name == "web-config")
        .unwrap();
    assert_eq!(cm.keys, ["token.yaml"]);
    assert_no_secret_values(&serde_json::to_string(&snap).unwrap());
    let metrics = snap.kinds.iter().find(|k| k.kind == "metrics.k8s.io").unwrap();
    assert!(
        !metrics.synced && metrics.error.is_some(),
        "the simulator serves no metrics API: {metrics:?}"
    );

    // A change arrives through the watch, not a new list.
    shared.lock().unwrap().scale("shop", "cart", 4).unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || pods_of(
            &watcher.snapshot(now).await,
            "cart-"
        ) == 4)
        .await
    );
    let lists_before: u64 = watcher.kinds().iter().map(|k| k.relists).sum();
    assert_eq!(lists_before, 0, "no re-list yet: {:?}", watcher.kinds());

    // The API goes away; meanwhile more changes than the kept watch history happen; the API
    // comes back on the same port. The watchers resume from their resourceVersion, get 410
    // Gone, and list again.
    server.shutdown().await;
    for i in 0..12 {
        shared
            .lock()
            .unwrap()
            .scale("shop", "reviews", 2 + (i % 2) * 3)
            .unwrap();
    }
    shared.lock().unwrap().scale("shop", "cart", 1).unwrap();
    let server = SimServer::start(shared.clone(), format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(30), async || {
            let kinds = watcher.kinds();
            kinds
                .iter()
                .find(|k| k.kind == "Pod")
                .is_some_and(|k| k.relists >= 1)
                && pods_of(&watcher.snapshot(now).await, "cart-") == 1
        })
        .await,
        "{:?}",
        watcher.kinds()
    );
    stop.cancel();
    running.await.unwrap();
    server.shutdown().await;
}

struct Stack {
    master: TestMaster,
    sim: SharedSim,
    server: SimServer,
    agent: Arc<atlhyper_agent::Agent>,
    stop: CancellationToken,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn send(
    master: &TestMaster,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = master
        .http
        .request(method, format!("{}{path}", master.gateway))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

impl Stack {
    async fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        let master = TestMaster::start(data.path(), 0).await;
        let token = master.register("c1").await;
        let shared = sim(10_000);
        let server = SimServer::start(shared.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let spool = tempfile::tempdir().unwrap();
        let client = kube_client(&server, spool.path()).await;
        let mut config = agent_config(&master.agentsdk, spool.path());
        config.slo.linkerd.enabled = false;
        config.commands.poll_timeout = atlhyper_agent::config::ConfigDuration(Duration::from_secs(2));
        let agent = agent(config, &token, Some(client));
        let stop = CancellationToken::new();
        tokio::spawn(Arc::clone(&agent).command_loop(stop.clone()));
        tokio::spawn(Arc::clone(&agent).resource_loop(stop.clone()));
        tokio::spawn(Arc::clone(&agent).delivery_loop(stop.clone()));
        Self {
            master,
            sim: shared,
            server,
            agent,
            stop,
            _dirs: (data, spool),
        }
    }

    async fn command(&self, token: &str, body: Value) -> (StatusCode, Value) {
        send(
            &self.master,
            token,
            reqwest::Method::POST,
            "/api/v2/clusters/c1/commands",
            Some(body),
        )
        .await
    }

    /// Queues a command as admin and waits for its outcome.
    async fn run(&self, body: Value) -> Value {
        let (status, reply) = self.command(&self.master.admin, body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {reply}");
        let id = reply["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v2/clusters/c1/commands/{id}");
        let mut last = Value::Null;
        let done = eventually(Duration::from_secs(20), async || {
            last = self.master.get(&path).await;
            !matches!(last["status"].as_str(), Some("pending" | "running"))
        })
        .await;
        assert!(done, "{body}: {last}");
        last
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_round_trips_through_master_agent_and_kubernetes() {
    let s = Stack::start().await;
    let m = &s.master;
    let sim = || s.sim.lock().unwrap();

    // scale
    let done = s
        .run(json!({"action": "scale", "kind": "Deployment", "namespace": "shop", "name": "cart", "params": {"replicas": 3}, "confirm": true}))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["output"]["replicas"], 3);
    assert_eq!(sim().pod_names("shop", "cart").len(), 3);

    // delete_pod: the controller replaces it under a new name
    let victim = sim().pod_names("shop", "api")[0].clone();
    let done = s
        .run(json!({"action": "delete_pod", "kind": "Pod", "namespace": "shop", "name": victim, "confirm": true}))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let after = sim().pod_names("shop", "api");
    assert!(!after.contains(&victim) && after.len() == 3, "{after:?}");

    // restart: the rollout-restart annotation
    let done = s
        .run(json!({"action": "restart", "kind": "Deployment", "namespace": "shop", "name": "web", "confirm": true}))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let web = sim().store().get(Kind::Deployments, "shop", "web").unwrap();
    assert_eq!(
        web["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        done["result"]["output"]["restarted_at"]
    );

    // update_image: the app container, not the proxy
    let done = s
        .run(json!({"action": "update_image", "kind": "Deployment", "namespace": "shop", "name": "catalog", "params": {"image": "shop/catalog:9.9.9"}, "confirm": true}))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let catalog = sim().store().get(Kind::Deployments, "shop", "catalog").unwrap();
    assert_eq!(
        catalog["spec"]["template"]["spec"]["containers"][0]["image"],
        "shop/catalog:9.9.9"
    );

    // cordon / uncordon
    let done = s
        .run(json!({"action": "cordon", "kind": "Node", "name": "node-2", "confirm": true}))
        .await;
    assert_eq!(done["result"]["output"]["unschedulable"], true, "{done}");
    assert_eq!(
        sim().store().get(Kind::Nodes, "", "node-2").unwrap()["spec"]["unschedulable"],
        true
    );
    let done = s
        .run(json!({"action": "uncordon", "kind": "Node", "name": "node-2", "confirm": true}))
        .await;
    assert_eq!(done["result"]["output"]["unschedulable"], false, "{done}");

    // logs, and a previous container that does not exist
    let pod = sim().pod_names("shop", "reviews")[0].clone();
    let done = s
        .run(json!({"action": "logs", "kind": "Pod", "namespace": "shop", "name": pod, "params": {"tail_lines": 5}}))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["output"]["container"], "app");
    assert!(done["result"]["output"]["lines"].as_u64().unwrap() <= 5);
    let done = s
        .run(json!({"action": "logs", "kind": "Pod", "namespace": "shop", "name": pod, "params": {"previous": true}}))
        .await;
    assert_eq!(done["status"], "failed", "{done}");

    // get: a summary; a Secret with its keys only
    let done = s
        .run(json!({"action": "get", "kind": "Deployment", "namespace": "shop", "name": "cart"}))
        .await;
    assert_eq!(done["result"]["output"]["desired"], 3, "{done}");
    let done = s
        .run(json!({"action": "get", "kind": "Secret", "namespace": "shop", "name": "payments-db"}))
        .await;
    assert_eq!(
        done["result"]["output"]["keys"],
        json!(["password", "user"]),
        "{done}"
    );
    assert_no_secret_values(&done.to_string());
    let done = s
        .run(json!({"action": "get", "kind": "Node", "name": "node-1"}))
        .await;
    assert_eq!(done["result"]["output"]["status"], "Ready", "{done}");
    let done = s
        .run(json!({"action": "get", "kind": "Pod", "namespace": "shop", "name": "nope"}))
        .await;
    assert_eq!(done["status"], "failed");
    assert!(
        done["result"]["error"].as_str().unwrap().contains("404"),
        "{done}"
    );

    // Refusals: a missing confirmation (400), a viewer (403), a kind the action does not take.
    let (status, _) = s
        .command(&m.admin, json!({"action": "scale", "kind": "Deployment", "namespace": "shop", "name": "cart", "params": {"replicas": 1}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s
        .command(
            &m.admin,
            json!({"action": "cordon", "kind": "Pod", "namespace": "shop", "name": "x", "confirm": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, reply) = send(
        m,
        &m.admin,
        reqwest::Method::POST,
        "/api/v2/users",
        Some(json!({"username": "vera", "password": "viewer-password", "role": "viewer"})),
    )
    .await;
    assert!(status.is_success(), "{reply}");
    let (_, login) = send(
        m,
        "",
        reqwest::Method::POST,
        "/api/v2/auth/login",
        Some(json!({"username": "vera", "password": "viewer-password"})),
    )
    .await;
    let viewer = login["token"].as_str().unwrap().to_owned();
    let (status, _) = s
        .command(
            &viewer,
            json!({"action": "get", "kind": "Pod", "namespace": "shop", "name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(
        m,
        &viewer,
        reqwest::Method::GET,
        "/api/v2/clusters/c1/commands",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "viewers see no command history");

    // The history, and the audit trail: queueing and result for each, the refusals.
    let history = m.get("/api/v2/clusters/c1/commands?limit=100").await;
    assert_eq!(history["total"], 12, "{history}");
    let audit = m.get("/api/v2/audit?target=cluster/c1&limit=1000").await;
    let rows: Vec<(String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["result"].as_str().unwrap().to_owned(),
                r["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for action in [
        "scale",
        "delete_pod",
        "restart",
        "update_image",
        "cordon",
        "uncordon",
        "logs",
        "get",
    ] {
        assert!(
            rows.iter()
                .any(|(a, r, _)| *a == format!("command.{action}") && r == "ok"),
            "{action}: {rows:?}"
        );
    }
    let results = rows
        .iter()
        .filter(|(a, _, actor)| a == "command.result" && actor == "agent:c1")
        .count();
    assert_eq!(results, 12, "{rows:?}");
    assert!(
        rows.iter()
            .any(|(a, r, _)| a == "command.scale" && r.contains("confirm")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|(a, r, actor)| a == "command.get" && r == "denied" && actor == "vera"),
        "{rows:?}"
    );
    assert_no_secret_values(&audit.to_string());
    assert_no_secret_values(&history.to_string());

    // A snapshot carries the resources to the master, which serves them.
    assert!(
        eventually(Duration::from_secs(20), async || s
            .agent
            .resources()
            .unwrap()
            .settled())
        .await
    );
    let now = atlhyper_agent::runtime::now_ms();
    s.agent.collect_once(now).await.unwrap();
    assert!(
        eventually(Duration::from_secs(20), async || {
            m.get("/api/v2/clusters/c1/summary").await["summary"]["total_nodes"] == 3
        })
        .await
    );
    let pods = m
        .get("/api/v2/clusters/c1/resources?kind=pod&namespace=shop&q=cart&limit=2")
        .await;
    assert_eq!(pods["total"], 3, "{pods}");
    assert_eq!(pods["items"].as_array().unwrap().len(), 2);
    let page2 = m
        .get("/api/v2/clusters/c1/resources?kind=pod&namespace=shop&q=cart&limit=2&offset=2")
        .await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    let secret = m
        .get("/api/v2/clusters/c1/resources/secret/shop/payments-db")
        .await;
    assert_eq!(secret["summary"]["keys"], json!(["password", "user"]));
    let node = m.get("/api/v2/clusters/c1/resources/Node/_/node-1").await;
    assert_eq!(node["entity"], "_cluster/node/node-1");
    let events = m.get("/api/v2/clusters/c1/events?type=Normal&limit=5").await;
    assert!(events["total"].as_u64().unwrap() > 0, "{events}");
    let anomalies = m.get("/api/v2/clusters/c1/anomalies").await;
    assert!(anomalies["items"].is_array(), "{anomalies}");
    let all = m.get("/api/v2/clusters/c1/resources?limit=1000").await;
    assert_no_secret_values(&all.to_string());
    let (status, _) = send(
        m,
        &m.admin,
        reqwest::Method::GET,
        "/api/v2/clusters/c1/resources?kind=gizmo",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    s.stop.cancel();
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_no_agent_answers_times_out_on_the_master() {
    let data = tempfile::tempdir().unwrap();
    let master = TestMaster::start(data.path(), 0).await;
    master.register("c1").await;
    let (status, reply) = send(
        &master,
        &master.admin,
        reqwest::Method::POST,
        "/api/v2/clusters/c1/commands",
        Some(json!({"action": "get", "kind": "Node", "name": "node-1", "timeout_s": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let path = format!("/api/v2/clusters/c1/commands/{}", reply["id"].as_str().unwrap());
    assert!(
        eventually(
            Duration::from_secs(10),
            async || master.get(&path).await["status"] == "timed_out"
        )
        .await
    );
    let audit = master.get("/api/v2/audit?action=command.result").await;
    assert_eq!(audit[0]["result"], "timed_out", "{audit}");
    assert_eq!(audit[0]["actor"], "master");
}
