//! The Kubernetes API subset over HTTP: discovery, list with selectors, get, watch (events,
//! bookmarks, 410 Gone), writes and their errors.

use std::time::Duration;

use atlhyper_sim::SimConfig;
use serde_json::Value;

use crate::support::{TestSim, WatchReader, pod_names};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_documents_are_real_kubernetes_json() {
    let t = TestSim::default().await;
    let (code, v) = t.get("/version").await;
    assert_eq!((code, v["major"].as_str()), (200, Some("1")));
    let (_, api) = t.get("/api").await;
    assert_eq!(api["kind"], "APIVersions");
    let (_, core) = t.get("/api/v1").await;
    assert_eq!(core["kind"], "APIResourceList");
    let find = |list: &Value, name: &str| {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap()
    };
    let pods = find(&core, "pods");
    assert_eq!(pods["kind"], "Pod");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["shortNames"][0], "po");
    assert!(pods["verbs"].as_array().unwrap().iter().any(|v| v == "watch"));
    assert_eq!(find(&core, "nodes")["namespaced"], false);
    find(&core, "pods/log");
    let (_, groups) = t.get("/apis").await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"apps") && names.contains(&"networking.k8s.io"),
        "{names:?}"
    );
    let (_, apps) = t.get("/apis/apps/v1").await;
    let scale = find(&apps, "deployments/scale");
    assert_eq!(
        (scale["kind"].as_str(), scale["group"].as_str()),
        (Some("Scale"), Some("autoscaling"))
    );
    let (code, status) = t.get("/apis/apps/v1/namespaces/shop/widgets").await;
    assert_eq!(
        (code, status["kind"].as_str(), status["reason"].as_str()),
        (404, Some("Status"), Some("NotFound"))
    );
    let (code, _) = t.get("/openapi/v2").await;
    assert_eq!(code, 404);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_gets_and_selectors() {
    let t = TestSim::default().await;
    let (code, all) = t.get("/api/v1/pods").await;
    assert_eq!((code, all["kind"].as_str()), (200, Some("PodList")));
    let n = pod_names(&all).len();
    assert!(n > 25, "{n}");
    let (_, shop) = t.get("/api/v1/namespaces/shop/pods").await;
    assert!(pod_names(&shop).len() < n);
    let (_, web) = t
        .get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb")
        .await;
    assert_eq!(pod_names(&web).len(), 3);
    let one = &pod_names(&web)[0];
    let (_, by_name) = t
        .get(&format!("/api/v1/pods?fieldSelector=metadata.name%3D{one}"))
        .await;
    assert_eq!(pod_names(&by_name), std::slice::from_ref(one));
    let (_, on_node) = t.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-2").await;
    let items = on_node["items"].as_array().unwrap();
    assert!(!items.is_empty() && items.iter().all(|p| p["spec"]["nodeName"] == "node-2"));
    let (code, pod) = t.get(&format!("/api/v1/namespaces/shop/pods/{one}")).await;
    assert_eq!(code, 200);
    assert_eq!(pod["status"]["podIP"], "127.0.0.1");
    assert_eq!(pod["metadata"]["labels"]["linkerd.io/proxy-deployment"], "web");
    assert!(pod["metadata"]["labels"]["pod-template-hash"].is_string());
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    let (code, _) = t.get("/api/v1/namespaces/shop/pods/nope").await;
    assert_eq!(code, 404);
    let (code, status) = t.get("/api/v1/pods?labelSelector=app%20in%20web").await;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    for path in [
        "/api/v1/nodes",
        "/api/v1/namespaces",
        "/api/v1/services",
        "/api/v1/endpoints",
        "/api/v1/events",
        "/apis/apps/v1/deployments",
        "/apis/apps/v1/replicasets",
        "/apis/apps/v1/daemonsets",
        "/apis/apps/v1/statefulsets",
        "/apis/networking.k8s.io/v1/ingresses",
        "/apis/batch/v1/jobs",
        "/api/v1/configmaps",
    ] {
        let (code, list) = t.get(path).await;
        assert_eq!(code, 200, "{path}");
        assert!(list["metadata"]["resourceVersion"].is_string(), "{path}");
    }
    let (_, ds) = t
        .get("/apis/apps/v1/namespaces/monitoring/daemonsets/node-exporter")
        .await;
    assert_eq!(ds["status"]["numberReady"], 3);
    // Tables for kubectl.
    let r = t
        .http
        .get(t.url("/api/v1/nodes"))
        .header(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )
        .send()
        .await
        .unwrap();
    let table: Value = r.json().await.unwrap();
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["rows"].as_array().unwrap().len(), 3);
    assert_eq!(table["rows"][0]["cells"][1], "Ready");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_changes_bookmarks_and_gone() {
    let t = TestSim::start(SimConfig {
        watch_history: 50,
        ..SimConfig::default()
    })
    .await;
    let (_, list) = t.get("/api/v1/namespaces/shop/pods").await;
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_owned();
    let mut w = WatchReader::open(
        &t,
        &format!("/api/v1/namespaces/shop/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"),
    )
    .await;
    t.sim.lock().unwrap().scale("shop", "cart", 3).unwrap();
    let added = w.until(|e| e["type"] == "ADDED").await;
    assert_eq!(added["object"]["metadata"]["labels"]["app"], "cart");
    let added_rv: u64 = added["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(added_rv > rv.parse().unwrap());
    // A change elsewhere (a node) gives this pod watch a bookmark with the new version.
    t.sim.lock().unwrap().cordon("node-3", true).unwrap();
    let bookmark = w.until(|e| e["type"] == "BOOKMARK").await;
    assert_eq!(bookmark["object"]["kind"], "Pod");
    let latest = t.sim.lock().unwrap().store().rv();
    assert_eq!(
        bookmark["object"]["metadata"]["resourceVersion"],
        latest.to_string()
    );
    drop(w);

    // Without a resourceVersion: every current object as ADDED, then the bookmark.
    let mut w = WatchReader::open(
        &t,
        "/api/v1/nodes?watch=true&allowWatchBookmarks=true&sendInitialEvents=true",
    )
    .await;
    for _ in 0..3 {
        assert_eq!(w.next().await.unwrap()["type"], "ADDED");
    }
    let b = w.next().await.unwrap();
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(
        b["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    drop(w);

    // Enough churn to push the old resourceVersion out of the kept history: 410 Gone.
    for i in 0..10 {
        t.sim
            .lock()
            .unwrap()
            .scale("shop", "reviews", 2 + i % 2 * 3)
            .unwrap();
    }
    let mut w = WatchReader::open(&t, &format!("/api/v1/pods?watch=1&resourceVersion={rv}")).await;
    let e = w.next().await.unwrap();
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    assert!(w.next().await.is_none(), "the stream ends after 410");
    let mut w = WatchReader::open(&t, "/api/v1/pods?watch=1&timeoutSeconds=0").await;
    while w.next().await.is_some() {}
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_cordon_delete_and_rollouts_change_state() {
    let t = TestSim::default().await;
    let scale_path = "/apis/apps/v1/namespaces/shop/deployments/web/scale";
    let (code, scale) = t.get(scale_path).await;
    assert_eq!(
        (code, scale["kind"].as_str(), scale["spec"]["replicas"].as_i64()),
        (200, Some("Scale"), Some(3))
    );
    let (code, scale) = t
        .patch(
            scale_path,
            "application/merge-patch+json",
            r#"{"spec":{"replicas":5}}"#,
        )
        .await;
    assert_eq!((code, scale["spec"]["replicas"].as_i64()), (200, Some(5)));
    assert_eq!(t.sim.lock().unwrap().pod_names("shop", "web").len(), 5);
    let put = r#"{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"web","namespace":"shop"},"spec":{"replicas":2}}"#;
    let r = t
        .http
        .put(t.url(scale_path))
        .header("content-type", "application/json")
        .body(put)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(t.sim.lock().unwrap().pod_names("shop", "web").len(), 2);
    // Deployment patch: replicas and a restart (new ReplicaSet).
    let (code, d) = t
        .patch(
            "/apis/apps/v1/namespaces/shop/deployments/api",
            "application/strategic-merge-patch+json",
            r#"{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-01-05T00:01:00Z"}}}}}"#,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    let (_, rs) = t
        .get("/apis/apps/v1/namespaces/shop/replicasets?labelSelector=app%3Dapi")
        .await;
    assert_eq!(rs["items"].as_array().unwrap().len(), 2);
    t.advance(Duration::from_secs(10));
    let (_, pods) = t
        .get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dapi")
        .await;
    assert_eq!(
        pod_names(&pods).len(),
        3,
        "old pods are gone once the new ones are ready"
    );
    // Image change through a JSON patch.
    let (code, _) = t
        .patch(
            "/apis/apps/v1/namespaces/shop/deployments/cart",
            "application/json-patch+json",
            r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.example.com/shop/cart:1.3.0"}]"#,
        )
        .await;
    assert_eq!(code, 200);
    let (_, cart) = t
        .get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dcart")
        .await;
    assert!(
        cart["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["spec"]["containers"][0]["image"] == "registry.example.com/shop/cart:1.3.0")
    );
    // Cordon: spec.unschedulable and the taint.
    let (code, node) = t
        .patch(
            "/api/v1/nodes/node-1",
            "application/strategic-merge-patch+json",
            r#"{"spec":{"unschedulable":true}}"#,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(node["spec"]["unschedulable"], true);
    assert_eq!(
        node["spec"]["taints"][0]["key"],
        "node.kubernetes.io/unschedulable"
    );
    // Delete: the Deployment's pod comes back under a new name.
    let before = t.sim.lock().unwrap().pod_names("shop", "catalog");
    let r = t
        .http
        .delete(t.url(&format!("/api/v1/namespaces/shop/pods/{}", before[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let after = t.sim.lock().unwrap().pod_names("shop", "catalog");
    assert_eq!(after.len(), 2);
    assert!(!after.contains(&before[0]));
    let (code, _) = t
        .get(&format!("/api/v1/namespaces/shop/pods/{}", before[0]))
        .await;
    assert_eq!(code, 404);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_writes_get_status_errors() {
    let t = TestSim::default().await;
    let (code, s) = t
        .patch(
            "/apis/apps/v1/namespaces/shop/deployments/web/scale",
            "application/merge-patch+json",
            "{not json",
        )
        .await;
    assert_eq!(
        (code, s["kind"].as_str(), s["reason"].as_str()),
        (400, Some("Status"), Some("BadRequest"))
    );
    let (code, s) = t
        .patch(
            "/apis/apps/v1/namespaces/shop/deployments/web",
            "text/plain",
            "{}",
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (415, Some("UnsupportedMediaType")));
    let (code, s) = t
        .patch(
            "/apis/apps/v1/namespaces/shop/deployments/web",
            "application/merge-patch+json",
            r#"{"spec":{"replicas":-1}}"#,
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")));
    let (code, s) = t
        .patch(
            "/apis/apps/v1/namespaces/shop/deployments/web",
            "application/merge-patch+json",
            r#"{"spec":{"replicas":"many"}}"#,
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (422, Some("Invalid")));
    let (code, _) = t
        .patch(
            "/apis/apps/v1/namespaces/shop/deployments/ghost/scale",
            "application/merge-patch+json",
            r#"{"spec":{"replicas":1}}"#,
        )
        .await;
    assert_eq!(code, 404);
    let (code, s) = t
        .patch(
            "/api/v1/namespaces/shop/services/web",
            "application/merge-patch+json",
            "{}",
        )
        .await;
    assert_eq!((code, s["reason"].as_str()), (405, Some("MethodNotAllowed")));
    let r = t.http.delete(t.url("/api/v1/nodes/node-1")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let r = t
        .http
        .post(t.url("/api/v1/namespaces/shop/pods"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let (code, _) = t.get("/api/v1/namespaces/shop/pods/x/log?tailLines=5").await;
    assert_eq!(code, 404, "unknown pod");
    let pod = t.sim.lock().unwrap().pod_names("shop", "web")[0].clone();
    let (code, _) = t
        .get(&format!("/api/v1/namespaces/shop/pods/{pod}/log?tailLines=abc"))
        .await;
    assert_eq!(code, 400);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_routes_advance_time_and_list_endpoints() {
    let t = TestSim::default().await;
    let (_, before) = t.get("/sim/status").await;
    let start = before["now_ms"].as_i64().unwrap();
    assert_eq!(before["metrics_endpoints"].as_array().unwrap().len(), 18 + 2 + 3);
    let r = t
        .http
        .post(t.url("/sim/advance?seconds=90"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, after) = t.get("/sim/status").await;
    assert_eq!(after["now_ms"].as_i64().unwrap() - start, 90_000);
    let r = t
        .http
        .post(t.url("/sim/advance?seconds=-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = t.http.post(t.url("/sim/advance")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (code, window) = t
        .get(&format!("/sim/truth?from_ms={start}&to_ms={}", start + 60_000))
        .await;
    assert_eq!(code, 200);
    let (_, whole) = t.get(&format!("/sim/truth?from_ms={start}")).await;
    let total = |v: &Value| {
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["total_requests"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(total(&window) > 0 && total(&window) < total(&whole));
    let (code, _) = t.get("/sim/truth?from_ms=yesterday").await;
    assert_eq!(code, 400);
    let (code, _) = t.get(&format!("/sim/truth?to_ms={}", start - 1)).await;
    assert_eq!(code, 410);
    let (_, truth) = t.get("/sim/truth").await;
    let g = &truth["groups"].as_array().unwrap()[0];
    assert_eq!(g["latency_buckets"].as_array().unwrap().len(), 26);
    assert_eq!(g["latency_buckets"][25], g["total_requests"]);
    t.stop().await;
}

/// The driver maps tokio time × speed onto simulated time; with tokio's paused clock the test
/// takes no wall-clock time.
#[tokio::test(start_paused = true)]
async fn the_driver_maps_elapsed_time_times_speed() {
    let mut t = TestSim::default().await;
    let start = t.sim.lock().unwrap().now_ms();
    t.server.drive(60.0);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let moved = t.sim.lock().unwrap().now_ms() - start;
    assert!((588_000..=600_000).contains(&moved), "{moved}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_logs_with_tail_and_previous() {
    let t = TestSim::default().await;
    let pod = t.sim.lock().unwrap().pod_names("shop", "web")[0].clone();
    let base = t.url(&format!("/api/v1/namespaces/shop/pods/{pod}/log"));
    let text = t.text(&format!("{base}?tailLines=5")).await;
    assert_eq!(text.lines().count(), 5);
    assert!(text.contains("msg=\"request\""));
    let r = t.http.get(format!("{base}?previous=true")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400, "no previous container yet");
    let proxy = t.text(&format!("{base}?container=linkerd-proxy")).await;
    assert!(proxy.contains("linkerd2_proxy"));
    let r = t.http.get(format!("{base}?container=nope")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    t.stop().await;
}

/// Every object and watch event deserializes into the k8s-openapi types clients use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_and_watch_events_fit_the_typed_client_structs() {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
    use k8s_openapi::api::core::v1::{
        ConfigMap, Endpoints, Event, Namespace, Node, Pod, Service, ServiceAccount,
    };
    use k8s_openapi::api::networking::v1::Ingress;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResourceList, WatchEvent};

    fn each<T: serde::de::DeserializeOwned>(list: &Value) -> Vec<T> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| serde_json::from_value(i.clone()).expect("typed object"))
            .collect()
    }
    let t = TestSim::default().await;
    t.sim.lock().unwrap().scale("shop", "cart", 3).unwrap();
    let mut n = 0;
    n += each::<Pod>(&t.get("/api/v1/pods").await.1).len();
    n += each::<Node>(&t.get("/api/v1/nodes").await.1).len();
    n += each::<Namespace>(&t.get("/api/v1/namespaces").await.1).len();
    n += each::<Service>(&t.get("/api/v1/services").await.1).len();
    n += each::<Endpoints>(&t.get("/api/v1/endpoints").await.1).len();
    n += each::<Event>(&t.get("/api/v1/events").await.1).len();
    n += each::<ConfigMap>(&t.get("/api/v1/configmaps").await.1).len();
    n += each::<ServiceAccount>(&t.get("/api/v1/serviceaccounts").await.1).len();
    n += each::<Deployment>(&t.get("/apis/apps/v1/deployments").await.1).len();
    n += each::<ReplicaSet>(&t.get("/apis/apps/v1/replicasets").await.1).len();
    n += each::<DaemonSet>(&t.get("/apis/apps/v1/daemonsets").await.1).len();
    n += each::<StatefulSet>(&t.get("/apis/apps/v1/statefulsets").await.1).len();
    n += each::<Ingress>(&t.get("/apis/networking.k8s.io/v1/ingresses").await.1).len();
    assert!(n > 100, "{n}");
    let _: APIResourceList = serde_json::from_value(t.get("/api/v1").await.1).unwrap();
    let _: APIResourceList = serde_json::from_value(t.get("/apis/apps/v1").await.1).unwrap();
    let _: k8s_openapi::api::autoscaling::v1::Scale = serde_json::from_value(
        t.get("/apis/apps/v1/namespaces/shop/deployments/web/scale")
            .await
            .1,
    )
    .unwrap();
    let mut w = WatchReader::open(
        &t,
        "/api/v1/namespaces/shop/pods?watch=1&allowWatchBookmarks=true",
    )
    .await;
    let mut kinds = Vec::new();
    while kinds.last() != Some(&"BOOKMARK") {
        let e: WatchEvent<Pod> = serde_json::from_value(w.next().await.unwrap()).expect("typed watch event");
        kinds.push(match e {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Bookmark { .. } => "BOOKMARK",
            _ => "OTHER",
        });
    }
    assert!(kinds.len() > 10 && kinds[..kinds.len() - 1].iter().all(|k| *k == "ADDED"));
    t.stop().await;
}
