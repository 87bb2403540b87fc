//! Delivery with nothing lost: the master goes away for several cycles and comes back on the
//! same address and data; a spool over its bound drops the oldest and says so.

use std::sync::Arc;
use std::time::Duration;

use atlhyper_agent::config::ByteSize;
use tokio_util::sync::CancellationToken;

use crate::support::{TestMaster, agent, agent_config, eventually};

const T0: i64 = 1_764_504_000_000;

/// No source is configured, so cycles need no Kubernetes API: the snapshots carry only their
/// sequence numbers and delivery bookkeeping, which is what is under test.
fn quiet(mut config: atlhyper_agent::AgentConfig) -> atlhyper_agent::AgentConfig {
    config.slo.linkerd.enabled = false;
    config
}

async fn status(master: &TestMaster) -> serde_json::Value {
    master.get("/api/v2/clusters/c1/status").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_down_for_several_cycles_then_back_every_seq_arrives_once() {
    let data = tempfile::tempdir().unwrap();
    let mut master = TestMaster::start(data.path(), 0).await;
    let token = master.register("c1").await;
    let port = master.agentsdk_port;
    let spool = tempfile::tempdir().unwrap();
    let agent = agent(quiet(agent_config(&master.agentsdk, spool.path())), &token, None);
    let stop = CancellationToken::new();
    let delivery = tokio::spawn(Arc::clone(&agent).delivery_loop(stop.clone()));

    for i in 0..2 {
        agent.collect_once(T0 + i * 30_000).await.unwrap();
    }
    assert!(
        eventually(
            Duration::from_secs(10),
            async || status(&master).await["last_seq"] == 2
        )
        .await
    );

    // Down: connections are refused for four cycles; the snapshots wait in the spool.
    master.stop().await;
    for i in 2..6 {
        agent.collect_once(T0 + i * 30_000).await.unwrap();
    }
    let metrics = agent.metrics();
    assert!(eventually(Duration::from_secs(5), async || metrics.spooled() == 4).await);
    assert_eq!(
        std::fs::read_dir(spool.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".json.gz")
            })
            .count(),
        4,
        "on disk, not only in memory"
    );

    // Back on the same port with the same data.
    let master = TestMaster::start(data.path(), port).await;
    agent.collect_once(T0 + 6 * 30_000).await.unwrap();
    assert!(
        eventually(
            Duration::from_secs(20),
            async || status(&master).await["last_seq"] == 7
        )
        .await,
        "the spool drained: {}",
        status(&master).await
    );
    let s = status(&master).await;
    assert_eq!(s["snapshots_received"], 7, "{s}");
    assert_eq!(s["seq_gaps"], 0, "{s}");
    assert_eq!(s["agent_dropped"], 0, "{s}");
    assert_eq!(metrics.spooled(), 0);
    let text = metrics.render();
    assert!(text.contains("atlhyper_agent_snapshots_pushed_total 7"), "{text}");
    assert!(
        !text.contains("atlhyper_agent_push_failures_total 0\n"),
        "failures were counted: {text}"
    );

    stop.cancel();
    delivery.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_over_its_bound_drops_the_oldest_and_reports_the_count() {
    let data = tempfile::tempdir().unwrap();
    let mut master = TestMaster::start(data.path(), 0).await;
    let token = master.register("c1").await;
    let port = master.agentsdk_port;
    master.stop().await;

    // Each quiet snapshot is a few hundred gzip bytes: a 1 KiB spool holds only the newest few.
    let spool = tempfile::tempdir().unwrap();
    let mut config = quiet(agent_config(&format!("http://127.0.0.1:{port}"), spool.path()));
    config.spool.max_bytes = ByteSize(1024);
    let agent = agent(config, &token, None);
    for i in 0..10 {
        agent.collect_once(T0 + i * 30_000).await.unwrap();
    }
    let metrics = agent.metrics();
    let kept = metrics.spooled();
    assert!((1..10).contains(&kept), "kept {kept}");
    let dropped = 10 - kept;

    let master = TestMaster::start(data.path(), port).await;
    let stop = CancellationToken::new();
    let delivery = tokio::spawn(Arc::clone(&agent).delivery_loop(stop.clone()));
    assert!(eventually(Duration::from_secs(20), async || metrics.spooled() == 0).await);
    // One more cycle reports the drops in its snapshot.
    agent.collect_once(T0 + 10 * 30_000).await.unwrap();
    assert!(
        eventually(
            Duration::from_secs(20),
            async || status(&master).await["last_seq"] == 11
        )
        .await
    );
    let s = status(&master).await;
    assert_eq!(s["agent_dropped"], dropped, "{s}");
    // The oldest went first: what arrived is the unbroken run of the newest ones, after
    // which the master sees no gap (it counts holes after the first seq it received).
    assert_eq!(s["snapshots_received"], 11 - dropped, "{s}");
    assert_eq!(s["seq_gaps"], 0, "{s}");
    stop.cancel();
    delivery.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_agent_serves_health_and_metrics_and_sends_heartbeats() {
    let data = tempfile::tempdir().unwrap();
    let master = TestMaster::start(data.path(), 0).await;
    let token = master.register("c1").await;
    let spool = tempfile::tempdir().unwrap();
    let mut config = quiet(agent_config(&master.agentsdk, spool.path()));
    config.listen = "127.0.0.1:0".into();
    config.slo.collect_interval = atlhyper_agent::config::ConfigDuration(Duration::from_secs(1));
    config.heartbeat_interval = atlhyper_agent::config::ConfigDuration(Duration::from_secs(1));
    let agent = agent(config, &token, None);
    let metrics = agent.metrics();
    let stop = CancellationToken::new();
    let running = tokio::spawn(Arc::clone(&agent).run(stop.clone()));

    assert!(eventually(Duration::from_secs(10), async || metrics.listen_addr().is_some()).await);
    let base = format!("http://{}", metrics.listen_addr().unwrap());
    let health: serde_json::Value = master
        .http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    // The collect loop runs on its own; its snapshots and heartbeats reach the master.
    assert!(
        eventually(Duration::from_secs(15), async || {
            let s = status(&master).await;
            s["last_seq"].as_u64().unwrap_or(0) >= 2 && !s["last_heartbeat"].is_null()
        })
        .await,
        "{}",
        status(&master).await
    );
    let text = master
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = atlhyper_promtext::parse(&text).expect("the agent's /metrics is valid Prometheus text");
    let value = |name: &str| scrape.samples.iter().find(|s| s.name == name).map(|s| s.value);
    assert!(value("atlhyper_agent_cycles_total").unwrap() >= 2.0, "{text}");
    assert!(
        value("atlhyper_agent_snapshots_pushed_total").unwrap() >= 2.0,
        "{text}"
    );

    stop.cancel();
    running.await.unwrap().unwrap();
}
