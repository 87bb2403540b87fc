//! What the Kubernetes API's write verbs (and kubectl, and the agent through them) do to the
//! cluster: scale, cordon, delete a pod, restart or re-image a Deployment.

use super::SimCluster;
use crate::error::SimError;
use crate::model::WorkloadKind;

impl SimCluster {
    /// Sets a Deployment's or StatefulSet's replicas; pods (and their traffic and metrics
    /// listeners) follow at once.
    pub fn scale(&mut self, namespace: &str, name: &str, replicas: u32) -> Result<(), SimError> {
        if replicas > 50 {
            return Err(SimError::Invalid(format!(
                "replicas {replicas} is more than the simulator's limit of 50"
            )));
        }
        let w = self.workload_index(namespace, name)?;
        if self.workloads[w].kind == WorkloadKind::DaemonSet {
            return Err(SimError::Invalid(format!(
                "daemonset {namespace}/{name} cannot be scaled"
            )));
        }
        if self.workloads[w].replicas != replicas {
            self.workloads[w].replicas = replicas;
            self.workloads[w].generation += 1;
            self.dirty = true;
            self.reconcile();
            self.sync_store();
        }
        Ok(())
    }

    /// Cordons (`true`) or uncordons a node.
    pub fn cordon(&mut self, node: &str, unschedulable: bool) -> Result<(), SimError> {
        let n = self
            .nodes
            .iter_mut()
            .find(|n| n.name == node)
            .ok_or_else(|| SimError::NotFound {
                kind: "nodes",
                namespace: String::new(),
                name: node.into(),
            })?;
        if n.unschedulable != unschedulable {
            n.unschedulable = unschedulable;
            let (name, uid) = (n.name.clone(), n.uid.clone());
            let reason = if unschedulable {
                "NodeNotSchedulable"
            } else {
                "NodeSchedulable"
            };
            self.node_event(
                &name,
                &uid,
                "Normal",
                reason,
                format!("Node {name} status is now: {reason}"),
            );
            self.dirty = true;
            self.reconcile();
            self.sync_store();
        }
        Ok(())
    }

    /// Deletes a pod; its controller creates a replacement (under a new name, except for
    /// StatefulSets).
    pub fn delete_pod(&mut self, namespace: &str, name: &str) -> Result<(), SimError> {
        let uid = self
            .pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
            .map(|p| p.uid.clone())
            .ok_or_else(|| SimError::NotFound {
                kind: "pods",
                namespace: namespace.into(),
                name: name.into(),
            })?;
        self.remove_pod(&uid);
        self.reconcile();
        self.sync_store();
        Ok(())
    }

    /// `kubectl rollout restart`: a new `restartedAt` annotation, hence a new ReplicaSet.
    pub fn restart(&mut self, namespace: &str, name: &str, restarted_at: &str) -> Result<(), SimError> {
        let w = self.deployment_index(namespace, name)?;
        let image = self.workloads[w].image.clone();
        self.set_template(w, image, Some(restarted_at.to_owned()), false);
        self.sync_store();
        Ok(())
    }

    /// Sets a Deployment's container image: a rollout.
    pub fn set_image(&mut self, namespace: &str, name: &str, image: &str) -> Result<(), SimError> {
        if image.is_empty() {
            return Err(SimError::Invalid("image must not be empty".into()));
        }
        let w = self.deployment_index(namespace, name)?;
        let restarted = self.workloads[w].restarted_at.clone();
        self.set_template(w, image.to_owned(), restarted, false);
        self.sync_store();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_sim as sim;

    #[test]
    fn scale_cordon_delete_change_pods() {
        let mut s = sim();
        s.scale("shop", "cart", 4).unwrap();
        assert_eq!(s.pod_names("shop", "cart").len(), 4);
        s.scale("shop", "cart", 1).unwrap();
        assert_eq!(s.pod_names("shop", "cart").len(), 1);
        let before = s.pod_names("shop", "api");
        s.delete_pod("shop", &before[0]).unwrap();
        let after = s.pod_names("shop", "api");
        assert_eq!(after.len(), 3);
        assert!(!after.contains(&before[0]));
        for n in ["node-1", "node-2", "node-3"] {
            s.cordon(n, true).unwrap();
        }
        s.scale("shop", "cart", 2).unwrap();
        let new = s.pods.iter().find(|p| p.node.is_none()).expect("a pending pod");
        assert_eq!(s.workloads[new.workload].name, "cart");
        assert!(s.scale("shop", "nope", 1).is_err());
    }
}
