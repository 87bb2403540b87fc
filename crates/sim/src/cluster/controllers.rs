//! The controllers: Deployments (ReplicaSet revisions, rollouts), StatefulSets and DaemonSets
//! reconciled into pods, and the creation and removal of pods.

use super::{STARTUP_MS, SimCluster};
use crate::model::{
    EndpointKind, MetricsPort, Pod, ProxyCounters, Revision, Role, TraefikCounters, WorkloadKind,
};
use crate::rng::{Rng, fnv};

/// Old ReplicaSets kept per Deployment (`revisionHistoryLimit`).
const REVISION_HISTORY: usize = 10;

impl SimCluster {
    /// Brings pods in line with every workload: rollouts, scaling, DaemonSet pods per node,
    /// scheduling of pending pods.
    pub(super) fn reconcile(&mut self) {
        for w in 0..self.workloads.len() {
            match self.workloads[w].kind {
                WorkloadKind::Deployment => self.reconcile_deployment(w),
                WorkloadKind::StatefulSet => self.reconcile_statefulset(w),
                WorkloadKind::DaemonSet => self.reconcile_daemonset(w),
            }
        }
        self.schedule_pending();
    }

    /// The hash of the workload's current template, creating its revision (`bad`: a bad
    /// rollout's) when there is none yet.
    fn ensure_revision(&mut self, w: usize, bad: bool) -> String {
        let (image, restarted) = (
            self.workloads[w].image.clone(),
            self.workloads[w].restarted_at.clone(),
        );
        if let Some(r) = self.workloads[w].current() {
            return r.hash.clone();
        }
        let wl = &self.workloads[w];
        let hash = template_hash(&format!("{}/{}/{}/{:?}", wl.namespace, wl.name, image, restarted));
        let revision = wl.revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
        let uid = self.rng.uuid();
        self.workloads[w].revisions.push(Revision {
            hash: hash.clone(),
            uid,
            revision,
            image,
            restarted_at: restarted,
            created_ms: self.now_ms,
            bad,
        });
        // revisionHistoryLimit: 10 old ReplicaSets are kept, the oldest unused ones go.
        while self.workloads[w].revisions.len() > REVISION_HISTORY + 1 {
            let used = |r: &Revision| {
                r.hash == hash
                    || self
                        .pods
                        .iter()
                        .any(|p| p.workload == w && p.revision_hash == r.hash)
            };
            let Some(i) = self.workloads[w].revisions.iter().position(|r| !used(r)) else {
                break;
            };
            self.workloads[w].revisions.remove(i);
        }
        self.dirty = true;
        hash
    }

    fn reconcile_deployment(&mut self, w: usize) {
        let hash = self.ensure_revision(w, false);
        let desired = self.workloads[w].replicas as usize;
        let current: Vec<usize> = (0..self.pods.len())
            .filter(|&i| self.pods[i].workload == w && self.pods[i].revision_hash == hash)
            .collect();
        if current.len() < desired {
            let rs = format!("{}-{hash}", self.workloads[w].name);
            self.deployment_event(
                w,
                format!("Scaled up replica set {rs} from {} to {desired}", current.len()),
            );
            for _ in current.len()..desired {
                self.create_pod(w, &hash, None, None);
            }
        } else if current.len() > desired {
            let rs = format!("{}-{hash}", self.workloads[w].name);
            self.deployment_event(
                w,
                format!("Scaled down replica set {rs} from {} to {desired}", current.len()),
            );
            let extra: Vec<String> = current[desired..]
                .iter()
                .map(|&i| self.pods[i].uid.clone())
                .collect();
            for uid in extra {
                self.remove_pod(&uid);
            }
        }
        // Old revisions go once the new one is fully ready (maxSurge 100%).
        let now = self.now_ms;
        let ready = self
            .pods
            .iter()
            .filter(|p| p.workload == w && p.revision_hash == hash && p.is_ready(now))
            .count();
        let old: Vec<(String, String)> = self
            .pods
            .iter()
            .filter(|p| p.workload == w && p.revision_hash != hash)
            .map(|p| (p.uid.clone(), p.revision_hash.clone()))
            .collect();
        if ready >= desired && !old.is_empty() {
            let mut hashes: Vec<&String> = old.iter().map(|(_, h)| h).collect();
            hashes.dedup();
            for h in hashes {
                let rs = format!("{}-{h}", self.workloads[w].name);
                self.deployment_event(w, format!("Scaled down replica set {rs} to 0"));
            }
            for (uid, _) in old {
                self.remove_pod(&uid);
            }
        }
    }

    fn reconcile_statefulset(&mut self, w: usize) {
        let hash = self.ensure_revision(w, false);
        for ordinal in 0..self.workloads[w].replicas {
            if !self
                .pods
                .iter()
                .any(|p| p.workload == w && p.ordinal == Some(ordinal))
            {
                self.create_pod(w, &hash, None, Some(ordinal));
            }
        }
        let extra: Vec<String> = self
            .pods
            .iter()
            .filter(|p| p.workload == w && p.ordinal.is_some_and(|o| o >= self.workloads[w].replicas))
            .map(|p| p.uid.clone())
            .collect();
        for uid in extra {
            self.remove_pod(&uid);
        }
    }

    fn reconcile_daemonset(&mut self, w: usize) {
        let hash = self.ensure_revision(w, false);
        self.workloads[w].replicas = self.nodes.len() as u32;
        let nodes: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for node in nodes {
            if !self
                .pods
                .iter()
                .any(|p| p.workload == w && p.node.as_deref() == Some(&node))
            {
                self.create_pod(w, &hash, Some(node), None);
            }
        }
    }

    /// A new pod of workload `w` at revision `hash`: `node` is set for DaemonSet pods (they skip
    /// the scheduler), `ordinal` for StatefulSet pods.
    fn create_pod(&mut self, w: usize, hash: &str, node: Option<String>, ordinal: Option<u32>) {
        let wl = &self.workloads[w];
        let name = match (wl.kind, ordinal) {
            (_, Some(o)) => format!("{}-{o}", wl.name),
            (WorkloadKind::DaemonSet, _) => format!("{}-{}", wl.name, self.rng.word(5)),
            _ => format!("{}-{hash}-{}", wl.name, self.rng.word(5)),
        };
        let (role, meshed, namespace) = (wl.role, wl.meshed, wl.namespace.clone());
        let mut kinds = Vec::new();
        if meshed {
            kinds.push(EndpointKind::LinkerdProxy);
        }
        match role {
            Role::Traefik => kinds.push(EndpointKind::Traefik),
            Role::NodeExporter => kinds.push(EndpointKind::NodeExporter),
            Role::Mesh | Role::Plain => {}
        }
        let metrics = kinds
            .into_iter()
            .filter_map(|kind| self.allocate_port().map(|port| MetricsPort { kind, port }))
            .collect();
        let n = self.pods.len() as u64 + self.rng.below(1000);
        let now = self.now_ms;
        let pod = Pod {
            uid: self.rng.uuid(),
            name,
            namespace,
            workload: w,
            revision_hash: hash.to_owned(),
            node: None,
            created_ms: now,
            started_ms: now + 2_000,
            ready_at_ms: now + STARTUP_MS,
            restarts: 0,
            last_terminated: None,
            crashing: None,
            mesh_ip: format!("10.42.{}.{}", 1 + n % 9, 2 + (n * 7) % 250),
            ordinal,
            metrics,
            proxy: meshed.then(|| ProxyCounters {
                start_ms: now + 1_000,
                ..ProxyCounters::default()
            }),
            traefik: (role == Role::Traefik).then(|| TraefikCounters {
                start_ms: now + 1_000,
                ..TraefikCounters::default()
            }),
        };
        self.pods.push(pod);
        let i = self.pods.len() - 1;
        let owner = self.owner_of(i);
        self.owner_event(w, owner, format!("Created pod: {}", self.pods[i].name));
        if let Some(node) = node {
            let message = format!(
                "Successfully assigned {}/{} to {node}",
                self.pods[i].namespace, self.pods[i].name
            );
            self.pods[i].node = Some(node);
            self.pod_event(i, "Normal", "Scheduled", message, "default-scheduler");
        }
        if self.crash_looping(w) {
            self.pods[i].started_ms = now;
            self.crash(i);
        }
        self.dirty = true;
    }

    /// (kind, name, uid) of the controller that owns pod `i`.
    pub(crate) fn owner_of(&self, i: usize) -> (&'static str, String, String) {
        let p = &self.pods[i];
        let w = &self.workloads[p.workload];
        match w.kind {
            WorkloadKind::Deployment => {
                let uid = w
                    .revisions
                    .iter()
                    .find(|r| r.hash == p.revision_hash)
                    .map(|r| r.uid.clone())
                    .unwrap_or_default();
                ("ReplicaSet", format!("{}-{}", w.name, p.revision_hash), uid)
            }
            kind => (kind.as_str(), w.name.clone(), w.uid.clone()),
        }
    }

    /// Deletes a pod at once; its metrics listeners are closed by the server.
    pub(super) fn remove_pod(&mut self, uid: &str) {
        let Some(i) = self.pods.iter().position(|p| p.uid == uid) else {
            return;
        };
        self.pod_event(
            i,
            "Normal",
            "Killing",
            "Stopping container app".to_owned(),
            "kubelet",
        );
        let pod = self.pods.remove(i);
        for m in pod.metrics {
            self.closed_ports.push(m.port);
        }
        self.listeners_changed.notify_one();
        self.dirty = true;
    }

    /// Changes a workload's pod template (image, restart annotation) and rolls it out: a new
    /// revision, or an older one made newest again (a rollback).
    pub(super) fn set_template(&mut self, w: usize, image: String, restarted_at: Option<String>, bad: bool) {
        let wl = &mut self.workloads[w];
        if wl.image == image && wl.restarted_at == restarted_at {
            return;
        }
        wl.image = image;
        wl.restarted_at = restarted_at;
        wl.generation += 1;
        if wl.current().is_some() {
            // Rolling back to an older template: its ReplicaSet becomes the newest revision.
            let next = wl.revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
            let (image, restarted) = (wl.image.clone(), wl.restarted_at.clone());
            if let Some(r) = wl
                .revisions
                .iter_mut()
                .find(|r| r.image == image && r.restarted_at == restarted)
            {
                r.revision = next;
            }
        } else {
            self.ensure_revision(w, bad);
        }
        self.dirty = true;
        self.reconcile();
    }
}

/// A pod-template-hash: 10 characters of the Kubernetes name alphabet, from the template.
fn template_hash(template: &str) -> String {
    let mut rng = Rng::new(fnv(template));
    rng.word(10)
}

#[cfg(test)]
mod tests {
    use super::super::test_sim as sim;

    use std::time::Duration;

    #[test]
    fn rollout_replaces_pods_once_ready() {
        let mut s = sim();
        let old = s.pod_names("shop", "web");
        s.set_image("shop", "web", "registry.example.com/shop/web:2.5.0")
            .unwrap();
        assert_eq!(s.pod_names("shop", "web").len(), 6);
        s.advance(Duration::from_secs(10));
        let now = s.pod_names("shop", "web");
        assert_eq!(now.len(), 3);
        assert!(now.iter().all(|n| !old.contains(n)));
    }
}
