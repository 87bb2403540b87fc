//! The real kubectl against the simulated API server.

use std::process::Command;

use serde_json::Value;

use crate::support::TestSim;

/// Runs kubectl off the async runtime; `None` when kubectl is not installed.
async fn kubectl(
    kubeconfig: &std::path::Path,
    cache: &std::path::Path,
    args: &[&str],
) -> Option<(bool, String, String)> {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--request-timeout=20s")
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_and_changes_the_simulated_cluster() {
    let installed = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok();
    if !installed {
        // A missing prerequisite fails the test; only an explicit variable naming it skips.
        if std::env::var_os("ATLHYPER_SKIP_KUBECTL_TEST").is_some() {
            eprintln!(
                "SKIPPED kubectl_reads_and_changes_the_simulated_cluster: ATLHYPER_SKIP_KUBECTL_TEST is set"
            );
            return;
        }
        panic!(
            "kubectl is not installed: scripts/test installs it (Debian's kubernetes-client); \
             set ATLHYPER_SKIP_KUBECTL_TEST=1 to skip this test knowingly"
        );
    }
    let t = TestSim::default().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    t.server.write_kubeconfig(&kubeconfig).unwrap();
    let cache = dir.path().join("cache");
    let run = |args: &'static [&'static str]| {
        let (k, c) = (kubeconfig.clone(), cache.clone());
        async move {
            let (ok, out, err) = kubectl(&k, &c, args).await.expect("kubectl runs");
            assert!(ok, "kubectl {args:?} failed: {err}");
            out
        }
    };
    let json: Value = serde_json::from_str(&run(&["get", "pods", "-A", "-o", "json"]).await).unwrap();
    let items = json["items"].as_array().unwrap();
    assert!(items.len() > 25);
    assert!(
        items
            .iter()
            .any(|p| p["metadata"]["namespace"] == "shop" && p["metadata"]["labels"]["app"] == "web")
    );
    let table = run(&["get", "pods", "-A"]).await;
    assert!(
        table.contains("NAMESPACE") && table.contains("Running") && table.contains("node-exporter-"),
        "{table}"
    );
    let nodes = run(&["get", "nodes"]).await;
    assert!(nodes.contains("node-1") && nodes.contains("Ready"), "{nodes}");

    run(&["scale", "deployment", "web", "-n", "shop", "--replicas=5"]).await;
    assert_eq!(t.sim.lock().unwrap().pod_names("shop", "web").len(), 5);
    run(&["cordon", "node-2"]).await;
    let nodes = run(&["get", "nodes"]).await;
    assert!(
        nodes
            .lines()
            .any(|l| l.starts_with("node-2") && l.contains("SchedulingDisabled")),
        "{nodes}"
    );
    let victim = t.sim.lock().unwrap().pod_names("shop", "payments")[0].clone();
    let (ok, _, err) = kubectl(&kubeconfig, &cache, &["delete", "pod", "-n", "shop", &victim])
        .await
        .unwrap();
    assert!(ok, "delete: {err}");
    let now = t.sim.lock().unwrap().pod_names("shop", "payments");
    assert_eq!(now.len(), 2);
    assert!(!now.contains(&victim));
    let pod = now[0].clone();
    let (ok, out, err) = kubectl(&kubeconfig, &cache, &["describe", "pod", "-n", "shop", &pod])
        .await
        .unwrap();
    assert!(ok, "describe: {err}");
    assert!(
        out.contains(&pod) && out.contains("linkerd-proxy") && out.contains("Events:"),
        "{out}"
    );
    t.advance(std::time::Duration::from_secs(10));
    let deployments = run(&["get", "deployments", "-n", "shop"]).await;
    assert!(
        deployments
            .lines()
            .any(|l| l.starts_with("web ") && l.contains("5/5")),
        "{deployments}"
    );
    run(&["rollout", "restart", "deployment/api", "-n", "shop"]).await;
    let sets = run(&["get", "replicasets", "-n", "shop", "-l", "app=api", "-o", "name"]).await;
    assert_eq!(sets.lines().count(), 2, "{sets}");
    run(&["uncordon", "node-2"]).await;
    let (ok, out, _) = kubectl(&kubeconfig, &cache, &["logs", "-n", "shop", &pod, "--tail=3"])
        .await
        .unwrap();
    assert!(ok && out.lines().count() == 3, "{out}");
    t.stop().await;
}
