//! Pod and node usage from `metrics.k8s.io/v1beta1`. It cannot be watched, so it is listed
//! once per snapshot (when the cluster serves it) and merged into the pods and nodes.

use std::collections::BTreeMap;

use atlhyper_model::resources::{CpuMem, ResourceSnapshot};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};

use super::store::{Key, key_of};
use super::{millicores, quantity};

/// Usage per pod (`namespace`, `name`) and per node, from `metrics.k8s.io/v1beta1`.
#[derive(Debug, Default, Clone)]
pub struct Usage {
    pub pods: BTreeMap<Key, CpuMem>,
    pub nodes: BTreeMap<String, CpuMem>,
}

fn metrics_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "metrics.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "metrics.k8s.io/v1beta1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn usage_of(v: &serde_json::Value) -> CpuMem {
    let get = |k: &str| v.get(k).and_then(|q| q.as_str());
    CpuMem {
        cpu_millis: get("cpu").and_then(millicores),
        memory_bytes: get("memory").and_then(quantity),
    }
}

/// Lists pod and node metrics once; an error says the API is not served (404) or not
/// readable.
pub async fn fetch_usage(client: &kube::Client) -> Result<Usage, kube::Error> {
    let pods: Api<DynamicObject> = Api::all_with(client.clone(), &metrics_resource("PodMetrics", "pods"));
    let nodes: Api<DynamicObject> = Api::all_with(client.clone(), &metrics_resource("NodeMetrics", "nodes"));
    let mut usage = Usage::default();
    for p in pods.list(&ListParams::default()).await? {
        let mut total = CpuMem::default();
        for c in p
            .data
            .get("containers")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(u) = c.get("usage") {
                total.add(&usage_of(u));
            }
        }
        usage.pods.insert(key_of(&p.metadata), total);
    }
    for n in nodes.list(&ListParams::default()).await? {
        if let Some(u) = n.data.get("usage") {
            usage
                .nodes
                .insert(n.metadata.name.clone().unwrap_or_default(), usage_of(u));
        }
    }
    Ok(usage)
}

/// Puts usage figures into a snapshot's pods and nodes.
pub fn merge_usage(snap: &mut ResourceSnapshot, usage: &Usage) {
    for p in &mut snap.pods {
        p.usage = usage
            .pods
            .get(&(p.meta.namespace.clone(), p.meta.name.clone()))
            .copied();
    }
    for n in &mut snap.nodes {
        n.usage = usage.nodes.get(&n.meta.name).copied();
    }
    snap.metrics_available = true;
}
