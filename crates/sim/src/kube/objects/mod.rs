//! The cluster model rendered as Kubernetes objects (k8s-openapi types, serialized to the
//! JSON a real API server returns): [`sync`] renders them all into the store; one submodule per
//! family of kinds builds them.

mod events;
mod namespaces;
mod network;
mod nodes;
mod pods;
mod workloads;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use self::events::event;
use self::namespaces::{namespace, root_ca, service_account};
use self::network::{endpoints, ingress, kubernetes_service, service};
use self::nodes::node;
use self::pods::pod;
use self::workloads::{daemon_set, deployment, replica_set, stateful_set};
use super::kinds::Kind;
use crate::cluster::SimCluster;
use crate::model::WorkloadKind;

type Labels = BTreeMap<String, String>;
/// Objects of one kind as (namespace, name, JSON).
type Rendered = Vec<(String, String, Value)>;

/// Renders every object of the cluster into the store.
pub fn sync(sim: &mut SimCluster) {
    let rendered = render_all(sim);
    for (kind, objects) in rendered {
        sim.store.sync_kind(kind, objects);
    }
}

fn render_all(sim: &SimCluster) -> Vec<(Kind, Rendered)> {
    let mut out: BTreeMap<Kind, Rendered> = Kind::ALL.iter().map(|k| (*k, Vec::new())).collect();
    let mut put = |kind: Kind, ns: &str, name: &str, v: Value| {
        out.entry(kind)
            .or_default()
            .push((ns.to_owned(), name.to_owned(), v));
    };
    for (name, uid) in &sim.namespaces {
        put(Kind::Namespaces, "", name, json(&namespace(sim, name, uid)));
        put(
            Kind::ServiceAccounts,
            name,
            "default",
            json(&service_account(sim, name, "default")),
        );
        put(
            Kind::ConfigMaps,
            name,
            "kube-root-ca.crt",
            json(&root_ca(sim, name)),
        );
    }
    for n in &sim.nodes {
        put(Kind::Nodes, "", &n.name, json(&node(sim, n)));
    }
    for w in &sim.workloads {
        put(
            Kind::ServiceAccounts,
            &w.namespace,
            &w.name,
            json(&service_account(sim, &w.namespace, &w.name)),
        );
        match w.kind {
            WorkloadKind::Deployment => {
                put(
                    Kind::Deployments,
                    &w.namespace,
                    &w.name,
                    json(&deployment(sim, w)),
                );
                for r in &w.revisions {
                    let rs = replica_set(sim, w, r);
                    put(
                        Kind::ReplicaSets,
                        &w.namespace,
                        &format!("{}-{}", w.name, r.hash),
                        json(&rs),
                    );
                }
            }
            WorkloadKind::DaemonSet => {
                put(Kind::DaemonSets, &w.namespace, &w.name, json(&daemon_set(sim, w)))
            }
            WorkloadKind::StatefulSet => put(
                Kind::StatefulSets,
                &w.namespace,
                &w.name,
                json(&stateful_set(sim, w)),
            ),
        }
    }
    for i in 0..sim.pods.len() {
        let p = &sim.pods[i];
        put(Kind::Pods, &p.namespace, &p.name, json(&pod(sim, i)));
    }
    for s in &sim.services {
        put(Kind::Services, &s.namespace, &s.name, json(&service(sim, s)));
        put(Kind::Endpoints, &s.namespace, &s.name, json(&endpoints(sim, s)));
    }
    put(
        Kind::Services,
        "default",
        "kubernetes",
        json(&kubernetes_service(sim)),
    );
    for g in &sim.ingresses {
        put(Kind::Ingresses, &g.namespace, &g.name, json(&ingress(sim, g)));
    }
    for e in &sim.events {
        put(Kind::Events, &e.namespace, &e.name, json(&event(e)));
    }
    out.into_iter().collect()
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub fn time(ms: i64) -> Time {
    Time(Timestamp::from_second(ms.div_euclid(1000)).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn micro_time(ms: i64) -> MicroTime {
    MicroTime(Timestamp::from_microsecond(ms * 1000).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn meta(namespace: Option<&str>, name: &str, uid: &str, created_ms: i64) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        uid: Some(uid.to_owned()),
        creation_timestamp: Some(time(created_ms)),
        ..ObjectMeta::default()
    }
}

/// A stable UUID-shaped id for objects that are not part of the random model.
fn sim_uid(key: &str) -> String {
    let mut rng = crate::rng::Rng::new(crate::rng::fnv(key));
    rng.uuid()
}

/// The ownerReference a controller puts on what it creates.
fn owner(api_version: &str, kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}
