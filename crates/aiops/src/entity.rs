//! Entities of a cluster and their keys.
//!
//! Every entity has one key, `namespace/kind/name`, built by [`EntityRef::key`] and nowhere
//! else, so that an entity named by a Kubernetes object, by a mesh edge or by a trace gets the
//! same key (the original built service keys from APM topology ids and produced
//! `ns/service/ns/name`). Nodes are cluster-scoped: their namespace is always [`CLUSTER_SCOPE`],
//! whatever the caller passed, giving `_cluster/node/NAME`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::AiopsError;

/// The namespace part of the key of a cluster-scoped entity (a node).
pub const CLUSTER_SCOPE: &str = "_cluster";

/// The kinds of the dependency graph, in causal layer order: a node's trouble reaches its
/// pods, a pod's its workload (Deployment, StatefulSet, DaemonSet), a workload's the services
/// that select it, a service's its ingresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Node,
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    Service,
    Ingress,
}

impl EntityKind {
    /// The word used in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Node => "node",
            Self::Pod => "pod",
            Self::Deployment => "deployment",
            Self::StatefulSet => "statefulset",
            Self::DaemonSet => "daemonset",
            Self::Service => "service",
            Self::Ingress => "ingress",
        }
    }

    /// The causal layer: 0 for nodes, 1 pods, 2 workloads, 3 services, 4 ingresses.
    pub fn layer(self) -> u8 {
        match self {
            Self::Node => 0,
            Self::Pod => 1,
            Self::Deployment | Self::StatefulSet | Self::DaemonSet => 2,
            Self::Service => 3,
            Self::Ingress => 4,
        }
    }

    /// A controller of pods: Deployment, StatefulSet or DaemonSet.
    pub fn is_workload(self) -> bool {
        self.layer() == 2
    }

    fn parse(word: &str) -> Option<Self> {
        match word {
            "node" => Some(Self::Node),
            "pod" => Some(Self::Pod),
            "deployment" => Some(Self::Deployment),
            "statefulset" => Some(Self::StatefulSet),
            "daemonset" => Some(Self::DaemonSet),
            "service" => Some(Self::Service),
            "ingress" => Some(Self::Ingress),
            _ => None,
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entity as the caller names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntityRef {
    pub kind: EntityKind,
    /// Ignored for nodes (cluster-scoped).
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

impl EntityRef {
    pub fn new(kind: EntityKind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// A node: cluster-scoped, so no namespace.
    pub fn node(name: impl Into<String>) -> Self {
        Self::new(EntityKind::Node, CLUSTER_SCOPE, name)
    }

    /// The namespace that goes into the key: [`CLUSTER_SCOPE`] for nodes.
    pub fn scope(&self) -> &str {
        match self.kind {
            EntityKind::Node => CLUSTER_SCOPE,
            _ => &self.namespace,
        }
    }

    /// `namespace/kind/name`, checked: names must be non-empty and free of `/`, and
    /// namespaced kinds need a namespace.
    pub fn key(&self) -> Result<String, AiopsError> {
        let bad = |reason: &'static str| AiopsError::InvalidEntity {
            entity: format!("{}/{}/{}", self.namespace, self.kind, self.name),
            reason,
        };
        if self.name.is_empty() {
            return Err(bad("empty name"));
        }
        if self.name.contains('/') || self.namespace.contains('/') {
            return Err(bad("'/' in namespace or name"));
        }
        if self.kind != EntityKind::Node && self.namespace.is_empty() {
            return Err(bad("namespaced kind without namespace"));
        }
        Ok(format!("{}/{}/{}", self.scope(), self.kind, self.name))
    }

    /// The inverse of [`EntityRef::key`].
    pub fn parse_key(key: &str) -> Result<Self, AiopsError> {
        let bad = |reason: &'static str| AiopsError::InvalidKey {
            key: key.to_owned(),
            reason,
        };
        let mut parts = key.split('/');
        let (Some(namespace), Some(kind), Some(name), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected namespace/kind/name"));
        };
        let kind = EntityKind::parse(kind).ok_or_else(|| bad("unknown kind"))?;
        let entity = Self::new(kind, namespace, name);
        let canonical = entity.key().map_err(|_| bad("empty or misplaced part"))?;
        if canonical != key {
            return Err(bad("nodes live in the _cluster scope"));
        }
        Ok(entity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespace_kind_name_and_nodes_are_cluster_scoped() {
        let svc = EntityRef::new(EntityKind::Service, "shop", "cart");
        assert_eq!(svc.key().unwrap(), "shop/service/cart");
        let node = EntityRef::new(EntityKind::Node, "whatever", "worker-1");
        assert_eq!(node.key().unwrap(), "_cluster/node/worker-1");
        assert_eq!(
            EntityRef::node("worker-1").key().unwrap(),
            "_cluster/node/worker-1"
        );
    }

    #[test]
    fn malformed_entities_are_rejected() {
        assert!(EntityRef::new(EntityKind::Service, "shop", "").key().is_err());
        assert!(EntityRef::new(EntityKind::Service, "", "cart").key().is_err());
        // The original's APM keys `ns/service/ns/name` cannot be built.
        assert!(
            EntityRef::new(EntityKind::Service, "shop", "shop/cart")
                .key()
                .is_err()
        );
    }

    #[test]
    fn keys_parse_back() {
        for key in [
            "shop/pod/cart-1",
            "_cluster/node/n1",
            "web/ingress/front",
            "shop/deployment/cart",
            "shop/statefulset/redis",
            "monitoring/daemonset/node-exporter",
        ] {
            assert_eq!(EntityRef::parse_key(key).unwrap().key().unwrap(), key);
        }
        assert!(EntityRef::parse_key("shop/service/shop/cart").is_err());
        assert!(EntityRef::parse_key("shop/replicaset/cart-7f").is_err());
        assert!(EntityRef::parse_key("default/node/n1").is_err());
    }

    proptest::proptest! {
        #[test]
        fn valid_keys_round_trip(ns in "[a-z0-9-]{1,12}", name in "[a-z0-9.-]{1,20}", kind in 0usize..7) {
            let kind = [
                EntityKind::Node, EntityKind::Pod, EntityKind::Deployment, EntityKind::StatefulSet,
                EntityKind::DaemonSet, EntityKind::Service, EntityKind::Ingress,
            ][kind];
            let key = EntityRef::new(kind, ns, name).key().unwrap();
            proptest::prop_assert_eq!(EntityRef::parse_key(&key).unwrap().key().unwrap(), key);
        }

        #[test]
        fn parse_key_never_panics(key in "\\PC{0,40}") {
            let _ = EntityRef::parse_key(&key);
        }
    }
}
