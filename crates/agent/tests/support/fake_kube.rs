//! A loopback fake of the Kubernetes API subset the agent's discovery uses: pod lists (all
//! namespaces or one, with label selectors) and ingress lists, in real Kubernetes JSON
//! (`PodList`, `IngressList`, with `resourceVersion`). The pods come from the test.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Clone, Default)]
pub struct FakeKube {
    pods: Arc<Mutex<Vec<Value>>>,
    ingresses: Arc<Mutex<Vec<Value>>>,
}

#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(rename = "labelSelector")]
    label_selector: Option<String>,
}

impl FakeKube {
    pub fn set_pods(&self, pods: Vec<Value>) {
        *self.pods.lock().unwrap() = pods;
    }

    pub fn set_ingresses(&self, ingresses: Vec<Value>) {
        *self.ingresses.lock().unwrap() = ingresses;
    }

    /// Serves on 127.0.0.1 (any port) and returns a kube client for it.
    pub async fn start(&self) -> kube::Client {
        let router = Router::new()
            .route("/api/v1/pods", get(all_pods))
            .route("/api/v1/namespaces/{ns}/pods", get(namespace_pods))
            .route("/apis/networking.k8s.io/v1/ingresses", get(ingresses))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }
}

async fn all_pods(State(kube): State<FakeKube>, Query(q): Query<ListQuery>) -> Json<Value> {
    Json(pod_list(&kube, None, q.label_selector.as_deref()))
}

async fn namespace_pods(
    State(kube): State<FakeKube>,
    Path(ns): Path<String>,
    Query(q): Query<ListQuery>,
) -> Json<Value> {
    Json(pod_list(&kube, Some(&ns), q.label_selector.as_deref()))
}

async fn ingresses(State(kube): State<FakeKube>) -> Json<Value> {
    let items = kube.ingresses.lock().unwrap().clone();
    Json(
        json!({"kind": "IngressList", "apiVersion": "networking.k8s.io/v1",
        "metadata": {"resourceVersion": "7"}, "items": items}),
    )
}

fn pod_list(kube: &FakeKube, ns: Option<&str>, selector: Option<&str>) -> Value {
    let items: Vec<Value> = kube
        .pods
        .lock()
        .unwrap()
        .iter()
        .filter(|pod| ns.is_none_or(|ns| pod["metadata"]["namespace"] == ns))
        .filter(|pod| selector.is_none_or(|s| matches_selector(pod, s)))
        .cloned()
        .collect();
    json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "42"}, "items": items})
}

/// Equality (`k=v`) and existence (`k`) requirements, comma-separated.
fn matches_selector(pod: &Value, selector: &str) -> bool {
    let labels = &pod["metadata"]["labels"];
    selector
        .split(',')
        .filter(|r| !r.is_empty())
        .all(|requirement| match requirement.split_once('=') {
            Some((key, value)) => labels[key.trim()] == value.trim(),
            None => !labels[requirement.trim()].is_null(),
        })
}

/// A meshed pod of `deployment` in `ns` whose proxy admin port is `port` on 127.0.0.1.
pub fn meshed_pod(ns: &str, name: &str, deployment: &str, port: u16) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
            "resourceVersion": "40", "creationTimestamp": "2026-11-30T10:00:00Z",
            "labels": {"app": deployment, "pod-template-hash": "5b7f5657f6",
                "linkerd.io/control-plane-ns": "linkerd",
                "linkerd.io/proxy-deployment": deployment,
                "linkerd.io/workload-ns": ns}},
        "spec": {"nodeName": "node-1", "containers": [
            {"name": deployment, "image": format!("{deployment}:1"), "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]},
            {"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:edge-25.11.1",
             "ports": [{"name": "linkerd-proxy", "containerPort": 4143, "protocol": "TCP"},
                       {"name": "linkerd-admin", "containerPort": port, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

/// A pod exposing a port named `metrics` (Traefik, node_exporter).
pub fn metrics_pod(ns: &str, name: &str, app: &str, node: &str, port: u16) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
            "labels": {"app.kubernetes.io/name": app}},
        "spec": {"nodeName": node, "containers": [
            {"name": app, "image": format!("{app}:1"), "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1"}
    })
}
