//! The kube-rs client (what the agent uses) against the simulated API server: kubeconfig,
//! discovery, list with selectors, get, scale, cordon, delete and logs.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use crate::support::TestSim;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_reads_and_writes_the_simulated_cluster() {
    let t = TestSim::default().await;
    let kubeconfig = Kubeconfig::from_yaml(&t.server.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();

    let discovery = kube::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    assert!(discovery.groups().any(|g| g.name() == "apps"));

    let pods: Api<Pod> = Api::all(client.clone());
    let meshed = pods
        .list(&ListParams::default().labels("linkerd.io/control-plane-ns=linkerd"))
        .await
        .unwrap();
    assert_eq!(meshed.items.len(), 18);
    assert!(meshed.metadata.resource_version.is_some());
    let on_node = pods
        .list(&ListParams::default().fields("spec.nodeName=node-1"))
        .await
        .unwrap();
    assert!(
        on_node
            .items
            .iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some("node-1"))
    );

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let scale = deployments
        .patch_scale(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(4));
    let api = deployments.get("api").await.unwrap();
    assert_eq!(api.spec.unwrap().replicas, Some(4));

    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.cordon("node-3").await.unwrap();
    assert_eq!(node.spec.unwrap().unschedulable, Some(true));

    let shop: Api<Pod> = Api::namespaced(client.clone(), "shop");
    let victim = t.sim.lock().unwrap().pod_names("shop", "reviews")[0].clone();
    shop.delete(&victim, &DeleteParams::default()).await.unwrap();
    assert!(shop.get(&victim).await.is_err());
    let other = t.sim.lock().unwrap().pod_names("shop", "reviews")[0].clone();
    let log = shop
        .logs(
            &other,
            &LogParams {
                tail_lines: Some(2),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(log.lines().count(), 2);
    t.stop().await;
}
