//! Fault scenarios: scheduled over HTTP and through the library, visible in pod and node
//! state, events, node_exporter and the ground truth.

use std::time::Duration;

use atlhyper_sim::{EndpointKind, Fault, Scenario, ScenarioState};
use serde_json::Value;

use crate::support::TestSim;

fn pods_of(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_over_http_restarts_pods_and_records_backoff_events() {
    let t = TestSim::default().await;
    let body = r#"{"fault":{"kind":"crash_loop","namespace":"shop","deployment":"cart"},"start_in_secs":30,"duration_secs":600}"#;
    let r = t
        .http
        .post(t.url("/sim/scenarios"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let s: Value = r.json().await.unwrap();
    assert_eq!(
        (s["name"].as_str(), s["entity"].as_str(), s["state"].as_str()),
        (Some("crash_loop"), Some("shop/deployment/cart"), Some("pending"))
    );
    t.advance(Duration::from_secs(300));
    let (_, pods) = t
        .get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dcart")
        .await;
    for p in pods_of(&pods) {
        let app = &p["status"]["containerStatuses"][0];
        assert_eq!(app["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert!(
            app["restartCount"].as_i64().unwrap() >= 3,
            "{}",
            app["restartCount"]
        );
        assert_eq!(app["lastState"]["terminated"]["reason"], "Error");
        assert_eq!(app["ready"], false);
    }
    let name = pods_of(&pods)[0]["metadata"]["name"].as_str().unwrap().to_owned();
    let (_, events) = t
        .get(&format!(
            "/api/v1/namespaces/shop/events?fieldSelector=involvedObject.name%3D{name},reason%3DBackOff"
        ))
        .await;
    let e = &pods_of(&events)[0];
    assert_eq!(e["type"], "Warning");
    assert!(e["count"].as_i64().unwrap() >= 3);
    // Without ready endpoints the callers of cart fail fast with 503.
    let truth = t.sim.lock().unwrap().truth();
    let edge = truth.service("shop", "api", "shop", "cart").unwrap();
    assert!(edge.failure > 0 && edge.codes.get(&503).copied().unwrap_or(0) > 0);
    let previous = t
        .text(&t.url(&format!("/api/v1/namespaces/shop/pods/{name}/log?previous=true")))
        .await;
    assert!(previous.contains("level=fatal"));
    let r = t
        .http
        .post(t.url("/sim/scenarios"))
        .body(r#"{"fault":{"kind":"crash_loop","namespace":"shop","deployment":"ghost"},"duration_secs":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = t
        .http
        .post(t.url("/sim/scenarios"))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // After the scenario the pods run again.
    t.advance(Duration::from_secs(360));
    let (_, list) = t.get("/sim/scenarios").await;
    assert_eq!(list["scenarios"][0]["state"], "done");
    let (_, pods) = t
        .get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dcart")
        .await;
    assert!(
        pods_of(&pods)
            .iter()
            .all(|p| p["status"]["containerStatuses"][0]["ready"] == true)
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_spike_and_latency_regression_show_in_the_truth() {
    let t = TestSim::default().await;
    let before = t.sim.lock().unwrap().truth();
    {
        let mut sim = t.sim.lock().unwrap();
        let spike = Fault::ErrorSpike {
            namespace: "shop".into(),
            service: "payments".into(),
            error_ratio: 0.5,
        };
        sim.schedule(Scenario {
            fault: spike,
            start_in_secs: 0,
            duration_secs: 600,
        })
        .unwrap();
        let slow = Fault::LatencyRegression {
            namespace: "shop".into(),
            service: "catalog".into(),
            factor: 20.0,
        };
        sim.schedule(Scenario {
            fault: slow,
            start_in_secs: 0,
            duration_secs: 600,
        })
        .unwrap();
        assert!(sim.scenarios().iter().all(|s| s.state == ScenarioState::Active));
        assert_eq!(sim.scenarios()[1].entity, "shop/service/catalog");
    }
    t.advance(Duration::from_secs(300));
    let delta = t.sim.lock().unwrap().truth().since(&before);
    let pay = delta.service("shop", "api", "shop", "payments").unwrap();
    let ratio = pay.failure as f64 / pay.total as f64;
    assert!((0.35..0.65).contains(&ratio), "{ratio}");
    let cat = delta.service("shop", "api", "shop", "catalog").unwrap();
    let b = cat.linkerd_buckets();
    // 12 ms × 20: most requests are now slower than 100 ms (index 10 is le=100).
    assert!((b[10] as f64) < 0.3 * cat.total as f64, "{b:?}");
    // Callers wait: api's callers see it slower too (median 25 ms + 30/48 · 228 ms) …
    let api = delta.service("shop", "web", "shop", "api").unwrap();
    let b = api.linkerd_buckets();
    assert!((b[10] as f64) < 0.3 * api.total as f64, "{b:?}");
    // … but a service that does not call catalog is as fast as ever (median 5 ms).
    let inv = delta.service("shop", "cart", "shop", "inventory").unwrap();
    let b = inv.linkerd_buckets();
    assert!((b[10] as f64) > 0.99 * inv.total as f64, "{b:?}");
    let (_, truth) = t.get("/sim/truth").await;
    assert!(
        truth["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["type"] == "ingress" && g["domain"] == "shop.example.com")
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_kill_node_pressure_and_bad_rollout() {
    let t = TestSim::default().await;
    {
        let mut sim = t.sim.lock().unwrap();
        let node = Fault::NodeMemoryPressure {
            node: "node-2".into(),
        };
        sim.schedule(Scenario {
            fault: node,
            start_in_secs: 0,
            duration_secs: 1200,
        })
        .unwrap();
        let oom = Fault::OomKill {
            namespace: "shop".into(),
            deployment: "reviews".into(),
        };
        sim.schedule(Scenario {
            fault: oom,
            start_in_secs: 0,
            duration_secs: 1200,
        })
        .unwrap();
        let bad = Fault::BadRollout {
            namespace: "shop".into(),
            deployment: "inventory".into(),
            error_ratio: 0.4,
        };
        sim.schedule(Scenario {
            fault: bad,
            start_in_secs: 60,
            duration_secs: 900,
        })
        .unwrap();
        assert_eq!(sim.scenarios()[0].entity, "_cluster/node/node-2");
    }
    let exporter_pod = {
        let sim = t.sim.lock().unwrap();
        sim.pod_names("monitoring", "node-exporter")
    };
    t.advance(Duration::from_secs(900));
    let (_, node) = t.get("/api/v1/nodes/node-2").await;
    let cond = node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "MemoryPressure")
        .unwrap()
        .clone();
    assert_eq!(cond["status"], "True");
    assert!(
        node["spec"]["taints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["key"] == "node.kubernetes.io/memory-pressure")
    );
    let body = {
        let sim = t.sim.lock().unwrap();
        let on_node2 = exporter_pod
            .iter()
            .find(|p| {
                sim.render_pod_metrics("monitoring", p, EndpointKind::NodeExporter)
                    .is_some_and(|b| b.contains("nodename=\"node-2\""))
            })
            .unwrap();
        sim.render_pod_metrics("monitoring", on_node2, EndpointKind::NodeExporter)
            .unwrap()
    };
    let s = atlhyper_promtext::parse(&body).unwrap();
    let v = |n: &str| s.samples.iter().find(|x| x.name == n).unwrap().value;
    assert!(v("node_memory_MemAvailable_bytes") / v("node_memory_MemTotal_bytes") < 0.1);
    assert!(v("node_pressure_memory_waiting_seconds_total") > 100.0);
    let (_, pods) = t
        .get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dreviews")
        .await;
    let killed: Vec<Value> = pods_of(&pods)
        .into_iter()
        .filter(|p| p["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] == "OOMKilled")
        .collect();
    assert!(!killed.is_empty());
    assert_eq!(
        killed[0]["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
        137
    );
    let (_, events) = t.get("/api/v1/events?fieldSelector=reason%3DOOMKilling").await;
    assert!(!pods_of(&events).is_empty());
    // The bad rollout: a second ReplicaSet with a new image whose pods fail.
    let (_, rs) = t
        .get("/apis/apps/v1/namespaces/shop/replicasets?labelSelector=app%3Dinventory")
        .await;
    assert_eq!(pods_of(&rs).len(), 2);
    let (_, dep) = t.get("/apis/apps/v1/namespaces/shop/deployments/inventory").await;
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/shop/inventory:0.9.0"
    );
    let truth = t.sim.lock().unwrap().truth();
    let inv = truth.service("shop", "catalog", "shop", "inventory").unwrap();
    assert!(inv.failure as f64 > 0.1 * inv.total as f64);
    // The rollout ends in a rollback to the old image.
    t.advance(Duration::from_secs(120));
    let (_, dep) = t.get("/apis/apps/v1/namespaces/shop/deployments/inventory").await;
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/shop/inventory:0.8.5"
    );
    assert_eq!(
        dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    t.stop().await;
}
