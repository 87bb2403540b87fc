//! Kubernetes Events as the simulator records them: one writer per kind of object (pod, node,
//! Deployment, a pod's controller), aggregated like the kubelet's recorder.

use super::SimCluster;
use crate::model::WorkloadKind;

/// A Kubernetes Event as the simulator keeps it (aggregated by object, reason and message).
#[derive(Debug, Clone)]
pub(crate) struct EventRec {
    pub name: String,
    pub namespace: String,
    pub kind: &'static str,
    pub api_version: &'static str,
    pub object_name: String,
    pub object_uid: String,
    pub event_type: &'static str,
    pub reason: &'static str,
    pub message: String,
    pub component: &'static str,
    pub host: Option<String>,
    pub count: i32,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// Events kept (the API server's TTL is an hour; a count is enough here).
const EVENTS_KEPT: usize = 400;

impl SimCluster {
    /// An event about pod `i`.
    pub(crate) fn pod_event(
        &mut self,
        i: usize,
        kind: &'static str,
        reason: &'static str,
        message: String,
        component: &'static str,
    ) {
        let p = &self.pods[i];
        let (ns, name, uid, host) = (p.namespace.clone(), p.name.clone(), p.uid.clone(), p.node.clone());
        self.event(ns, "Pod", "v1", name, uid, kind, reason, message, component, host);
    }

    /// An event about a node, from its kubelet.
    pub(super) fn node_event(
        &mut self,
        node: &str,
        uid: &str,
        kind: &'static str,
        reason: &'static str,
        message: String,
    ) {
        let host = Some(node.to_owned());
        self.event(
            "default".into(),
            "Node",
            "v1",
            node.to_owned(),
            uid.to_owned(),
            kind,
            reason,
            message,
            "kubelet",
            host,
        );
    }

    /// A `ScalingReplicaSet` event from the deployment controller.
    pub(super) fn deployment_event(&mut self, w: usize, message: String) {
        let wl = &self.workloads[w];
        let (ns, name, uid) = (wl.namespace.clone(), wl.name.clone(), wl.uid.clone());
        self.event(
            ns,
            "Deployment",
            "apps/v1",
            name,
            uid,
            "Normal",
            "ScalingReplicaSet",
            message,
            "deployment-controller",
            None,
        );
    }

    /// A `SuccessfulCreate` event from the controller that owns a new pod.
    pub(super) fn owner_event(&mut self, w: usize, owner: (&'static str, String, String), message: String) {
        let (kind, name, uid) = owner;
        let controller = match self.workloads[w].kind {
            WorkloadKind::Deployment => "replicaset-controller",
            WorkloadKind::StatefulSet => "statefulset-controller",
            WorkloadKind::DaemonSet => "daemonset-controller",
        };
        let ns = self.workloads[w].namespace.clone();
        self.event(
            ns,
            kind,
            "apps/v1",
            name,
            uid,
            "Normal",
            "SuccessfulCreate",
            message,
            controller,
            None,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        namespace: String,
        kind: &'static str,
        api_version: &'static str,
        object_name: String,
        object_uid: String,
        event_type: &'static str,
        reason: &'static str,
        message: String,
        component: &'static str,
        host: Option<String>,
    ) {
        let now = self.now_ms;
        // Repeats of one event are aggregated into its count, as the kubelet's recorder does;
        // a crash loop's BackOff message carries the same text every time.
        if let Some(e) = self
            .events
            .iter_mut()
            .find(|e| e.object_uid == object_uid && e.reason == reason && e.message == message)
        {
            e.count += 1;
            e.last_ms = now;
        } else {
            let name = format!(
                "{object_name}.{:016x}",
                (now as u64).wrapping_mul(1_000_003) ^ self.rng.next_u64() >> 20
            );
            self.events.push(EventRec {
                name,
                namespace,
                kind,
                api_version,
                object_name,
                object_uid,
                event_type,
                reason,
                message,
                component,
                host,
                count: 1,
                first_ms: now,
                last_ms: now,
            });
            if self.events.len() > EVENTS_KEPT {
                self.events.remove(0);
            }
        }
        self.dirty = true;
    }
}
