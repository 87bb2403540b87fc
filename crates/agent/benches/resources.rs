//! Measures the resource snapshot on 5,000 pods: its size as full state and as a delta, and
//! what the watchers cost the agent in memory. Not a timing benchmark: it prints figures for
//! `docs/resources.md`.
//!
//! The simulated API server runs in a child process (this binary again, with
//! `ATLHYPER_BENCH_SERVE=1`), so the memory figures are the agent's alone.
//!
//! `cargo bench -p atlhyper-agent --bench resources`

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlhyper_agent::resources::{ResourceWatcher, WatchSettings};
use atlhyper_sim::kube::kinds::Kind;
use atlhyper_sim::{SimCluster, SimConfig, SimServer};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const PODS: usize = 5000;

/// A pod as a real API server returns it: labels, owner, two containers (app and a Linkerd
/// proxy) with resources, statuses and conditions.
fn pod(i: usize) -> serde_json::Value {
    let ns = format!("team-{}", i % 50);
    let app = format!("svc-{}", i % 400);
    let name = format!("{app}-7d9f8c6b5-{i:05}");
    let node = format!("node-{}", i % 3 + 1);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{i}"),
            "creationTimestamp": "2026-01-05T00:00:00Z", "generateName": format!("{app}-7d9f8c6b5-"),
            "labels": {"app": app, "pod-template-hash": "7d9f8c6b5", "linkerd.io/control-plane-ns": "linkerd",
                "linkerd.io/proxy-deployment": app, "linkerd.io/workload-ns": ns},
            "annotations": {"linkerd.io/created-by": "linkerd/proxy-injector stable-2.17.0", "linkerd.io/proxy-version": "stable-2.17.0"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d9f8c6b5"), "uid": "rs", "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"nodeName": node, "serviceAccountName": app, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "containers": [
                {"name": "app", "image": format!("registry.example.com/{app}:1.4.2"), "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                 "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "PORT", "value": "8080"}],
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
                 "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10},
                 "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]},
                {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:stable-2.17.0",
                 "ports": [{"name": "linkerd-proxy", "containerPort": 4143}, {"name": "linkerd-admin", "containerPort": 4191}],
                 "resources": {"requests": {"cpu": "10m", "memory": "20Mi"}, "limits": {"memory": "250Mi"}}}
            ],
            "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}}]},
        "status": {"phase": "Running", "podIP": format!("10.42.{}.{}", i / 250, i % 250), "hostIP": "10.0.0.11", "qosClass": "Burstable",
            "startTime": "2026-01-05T00:00:01Z",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"},
                {"type": "ContainersReady", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [
                {"name": "app", "image": format!("registry.example.com/{app}:1.4.2"), "imageID": "sha256:0123456789abcdef", "containerID": "containerd://abc",
                 "ready": true, "started": true, "restartCount": i % 3, "state": {"running": {"startedAt": "2026-01-05T00:00:03Z"}}},
                {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:stable-2.17.0", "imageID": "sha256:fedcba9876543210", "containerID": "containerd://def",
                 "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": "2026-01-05T00:00:02Z"}}}
            ]}
    })
}

/// A `/proc/self/status` figure in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn gzip_len(data: &[u8]) -> usize {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip in memory");
    e.finish().expect("gzip in memory").len()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var_os("ATLHYPER_BENCH_SERVE").is_some() {
        runtime.block_on(serve());
    } else {
        runtime.block_on(measure());
    }
}

/// The child: the simulated cluster with 5,000 extra pods; prints its kubeconfig path and
/// serves until killed.
async fn serve() {
    let mut sim = SimCluster::new(SimConfig {
        bind_listeners: false,
        ..SimConfig::default()
    })
    .expect("sim");
    for i in 0..PODS {
        sim.put_object(Kind::Pods, pod(i)).expect("pod");
    }
    let shared = Arc::new(Mutex::new(sim));
    let server = SimServer::start(shared, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("server");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path).expect("kubeconfig");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", path.display()).expect("stdout");
    out.flush().expect("stdout");
    drop(out);
    std::future::pending::<()>().await;
}

async fn measure() {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("ATLHYPER_BENCH_SERVE", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the simulator process");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the simulator prints its kubeconfig");
    let path = std::path::PathBuf::from(line.trim());
    let object_bytes: usize = (0..PODS).map(|i| pod(i).to_string().len()).sum();
    let client = atlhyper_agent::discovery::client(Some(&path))
        .await
        .expect("client");
    let shared_now = || {
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(0)
    };

    let before = status_kib("VmRSS:");
    let watcher = Arc::new(ResourceWatcher::new(client, WatchSettings::default()));
    let stop = CancellationToken::new();
    let run = tokio::spawn({
        let (w, s) = (Arc::clone(&watcher), stop.clone());
        async move { w.run(s).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !watcher.settled() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let snap = watcher.snapshot(shared_now()).await;
    let after = status_kib("VmRSS:");
    let peak = status_kib("VmHWM:");
    let full = serde_json::to_vec(&snap).expect("json");
    // A delta for one collect interval where 1 % of the pods changed (a restart count, a
    // rollout): the changed summaries plus the keys of deleted ones.
    let changed: Vec<_> = snap.pods.iter().step_by(100).collect();
    let delta = serde_json::to_vec(&json!({"upserted": {"pods": changed}, "deleted": [], "summary": snap.summary, "anomalies": snap.anomalies}))
        .expect("json");
    eprintln!(
        "pods in the snapshot: {} (kinds: {})",
        snap.pods.len(),
        snap.kinds.len()
    );
    eprintln!(
        "full objects as the API serves them: {:.1} MB",
        object_bytes as f64 / 1e6
    );
    eprintln!(
        "full resource state: {:.2} MB JSON, {:.0} KB gzip",
        full.len() as f64 / 1e6,
        gzip_len(&full) as f64 / 1e3
    );
    eprintln!(
        "delta with 1 % of pods changed: {:.0} KB JSON, {:.0} KB gzip",
        delta.len() as f64 / 1e3,
        gzip_len(&delta) as f64 / 1e3
    );
    eprintln!(
        "agent RSS: {:.1} MiB before the watchers, {:.1} MiB synced ({:.1} MiB growth), peak {:.1} MiB",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    stop.cancel();
    let _ = run.await;
    let _ = child.kill();
    let _ = child.wait();
}
